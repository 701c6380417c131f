"""The E/M data tables (rules/tables/em/): time ranges and minimums, MDM thresholds, prolonged services,
psychotherapy, critical care, anesthesia and infusion rows, each with its source and effective dates.

Loading and validating them is all this module does; the levels are in :mod:`.levels`.
"""

from __future__ import annotations

import datetime as _dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

from claimscrub import yamlio
from claimscrub.resources import rules_dir

ELEMENTS = ("problems", "data", "risk")


class Level(IntEnum):
    """MDM level, element level. NONE = not documented (problems only)."""

    NONE = 0
    STRAIGHTFORWARD = 1
    LOW = 2
    MODERATE = 3
    HIGH = 4

    @property
    def key(self) -> str:
        return self.name.lower()

    @classmethod
    def from_key(cls, key: str) -> Level:
        return cls[key.upper()]


LEVEL_KEYS = tuple(level.key for level in Level if level)


class EmTableError(Exception):
    """A data table that cannot be used: names the file and the place."""

    def __init__(self, file: str, where: str, problem: str):
        super().__init__(f"{file}: {where}: {problem}")
        self.file, self.where, self.problem = file, where, problem


# --------------------------------------------------------------------------- tables


@dataclass(frozen=True, slots=True)
class EffectivePeriod:
    effective_from: str
    effective_to: str | None
    source: str

    def covers(self, dos: str) -> bool:
        return self.effective_from <= dos and (self.effective_to is None or dos <= self.effective_to)

    @property
    def since(self) -> str:
        return self.effective_from[:4]

    @property
    def span(self) -> str:
        return f"{self.since}-{self.effective_to[:4]}" if self.effective_to else f"from {self.since}"


@dataclass(frozen=True, slots=True)
class TimeRow:
    code: str
    min: int
    max: int | None = None
    patient_status: str | None = None
    visit_kind: str | None = None


@dataclass(frozen=True, slots=True)
class TimeTable:
    id: str
    family: str
    method: str  # range / minimum
    effective: EffectivePeriod
    rows: tuple[TimeRow, ...]


@dataclass(frozen=True, slots=True)
class ProblemRule:
    level: Level
    type: str
    statuses: tuple[str, ...]
    min_count: int
    say: str


@dataclass(frozen=True, slots=True)
class DataThresholds:
    low_category_1_items: int
    low_historian_alone: bool
    moderate_min_categories: int
    high_min_categories: int
    category_1_items_with_historian: int


@dataclass(frozen=True, slots=True)
class LevelCodes:
    family: str
    patient_status: str | None
    visit_kind: str | None
    effective: EffectivePeriod
    codes: Mapping[Level, str]

    @property
    def ordered(self) -> tuple[str, ...]:
        """Codes lowest to highest, each once."""
        out: list[str] = []
        for level in sorted(self.codes):
            if self.codes[level] not in out:
                out.append(self.codes[level])
        return tuple(out)


@dataclass(frozen=True, slots=True)
class MdmTable:
    effective: EffectivePeriod
    labels: Mapping[str, Mapping[Level, str]]
    problem_rules: tuple[ProblemRule, ...]  # highest level first
    default_status: Mapping[str, str]
    data: DataThresholds
    risk: Mapping[str, Level]
    level_codes: tuple[LevelCodes, ...]
    families: Mapping[str, str]  # setting -> code family


@dataclass(frozen=True, slots=True)
class ProlongedTable:
    id: str
    code: str
    payers: tuple[str, ...]
    effective: EffectivePeriod
    unit_minutes: int
    first_unit_at: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class PsychotherapyTable:
    id: str
    family: str  # standalone / with_em
    effective: EffectivePeriod
    rows: tuple[TimeRow, ...]


@dataclass(frozen=True, slots=True)
class CriticalCareTable:
    id: str
    basis: str
    payers: tuple[str, ...]
    effective: EffectivePeriod
    first_code: str
    first_min: int
    first_max: int
    additional_code: str
    additional_first_at: int
    additional_unit_minutes: int


@dataclass(frozen=True, slots=True)
class AnesthesiaTable:
    id: str
    effective: EffectivePeriod
    unit_minutes: int
    decimals: int


@dataclass(frozen=True, slots=True)
class InfusionTable:
    id: str
    effective: EffectivePeriod
    push_max_minutes: int
    secondary_source: bool


@dataclass(frozen=True, slots=True)
class EmTables:
    time: tuple[TimeTable, ...]
    mdm: MdmTable
    prolonged: tuple[ProlongedTable, ...]
    not_for_payer: Mapping[str, frozenset[str]]
    psychotherapy: tuple[PsychotherapyTable, ...]
    critical_care: tuple[CriticalCareTable, ...]
    anesthesia: tuple[AnesthesiaTable, ...]
    infusion: tuple[InfusionTable, ...]


FILES = {
    "time": "em_time_thresholds.yaml",
    "mdm": "em_mdm_levels.yaml",
    "prolonged": "prolonged_services.yaml",
    "psychotherapy": "psychotherapy_time.yaml",
    "critical_care": "critical_care_time.yaml",
    "anesthesia": "anesthesia_time.yaml",
    "infusion": "infusion_time.yaml",
}


class _Doc:
    """A loaded YAML file with typed accessors that name the place on error."""

    def __init__(self, path: Path):
        self.file = path.name
        try:
            self.data = yamlio.safe_load(path.read_text(encoding="utf-8"))
        except yamlio.YamlError as exc:
            raise EmTableError(self.file, "(file)", f"not valid YAML: {exc}") from None
        if not isinstance(self.data, dict):
            raise EmTableError(self.file, "(file)", "must be a mapping")

    def err(self, where: str, problem: str) -> EmTableError:
        return EmTableError(self.file, where, problem)

    def get(self, obj: Mapping, key: str, where: str, required: bool = True) -> Any:
        if not isinstance(obj, Mapping):
            raise self.err(where, "must be a mapping")
        if key not in obj:
            if required:
                raise self.err(where, f"{key} is required")
            return None
        return obj[key]

    def code(self, value: Any, where: str) -> str:
        if not isinstance(value, str):
            raise self.err(where, f"code {value!r} must be a quoted string")
        return value.upper()

    def int_(self, value: Any, where: str) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise self.err(where, f"{value!r} must be a non-negative whole number")
        return value

    def optional_int(self, value: Any, where: str) -> int | None:
        return None if value is None else self.int_(value, where)

    def date(self, value: Any, where: str) -> str:
        if isinstance(value, _dt.date):
            return value.isoformat()
        try:
            return _dt.date.fromisoformat(value).isoformat()
        except (TypeError, ValueError):
            raise self.err(where, f"{value!r} is not a date (YYYY-MM-DD)") from None

    def optional_date(self, value: Any, where: str) -> str | None:
        return None if value is None else self.date(value, where)

    def effective(self, obj: Mapping, where: str, default_source: str | None = None) -> EffectivePeriod:
        source = obj.get("source", default_source)
        if not source:
            raise self.err(where, "source is required (cite where the figures come from)")
        return EffectivePeriod(
            effective_from=self.date(self.get(obj, "effective_from", where), f"{where}.effective_from"),
            effective_to=self.optional_date(obj.get("effective_to"), f"{where}.effective_to"),
            source=str(source),
        )

    def level(self, value: Any, where: str) -> Level:
        if value not in LEVEL_KEYS:
            raise self.err(where, f"{value!r} is not one of {', '.join(LEVEL_KEYS)}")
        return Level.from_key(value)

    def rows(self, rows: Any, where: str) -> tuple[TimeRow, ...]:
        if not isinstance(rows, list) or not rows:
            raise self.err(where, "rows must be a non-empty list")
        out = []
        for i, r in enumerate(rows):
            w = f"{where}[{i}]"
            row = TimeRow(
                code=self.code(self.get(r, "code", w), f"{w}.code"),
                min=self.int_(self.get(r, "min", w), f"{w}.min"),
                max=self.optional_int(r.get("max"), f"{w}.max"),
                patient_status=r.get("patient_status"),
                visit_kind=r.get("visit_kind"),
            )
            if row.max is not None and row.max < row.min:
                raise self.err(w, "max is below min")
            out.append(row)
        return tuple(out)

    def tables(self) -> list[tuple[str, Mapping]]:
        tables = self.get(self.data, "tables", "(file)")
        if not isinstance(tables, list) or not tables:
            raise self.err("tables", "must be a non-empty list")
        return [(f"tables[{i}]", t) for i, t in enumerate(tables)]


def _load_time(doc: _Doc) -> tuple[TimeTable, ...]:
    out = []
    for w, t in doc.tables():
        method = doc.get(t, "method", w)
        if method not in ("range", "minimum"):
            raise doc.err(f"{w}.method", "must be range or minimum")
        out.append(
            TimeTable(
                id=str(doc.get(t, "id", w)),
                family=str(doc.get(t, "family", w)),
                method=method,
                effective=doc.effective(t, w),
                rows=doc.rows(doc.get(t, "rows", w), f"{w}.rows"),
            )
        )
    return tuple(out)


def _load_mdm(doc: _Doc) -> MdmTable:
    d = doc.data
    labels = (
        {
            element: {
                doc.level(k, f"labels.{element}"): str(v) for k, v in doc.get(d["labels"], element, "labels").items()
            }
            for element in ELEMENTS
        }
        if "labels" in d
        else {e: {lv: lv.key for lv in Level if lv} for e in ELEMENTS}
    )
    rules = []
    problems = doc.get(d, "problems", "(file)")
    for key in reversed(LEVEL_KEYS):  # highest first
        for i, r in enumerate(problems.get(key, ()) or ()):
            w = f"problems.{key}[{i}]"
            statuses = r.get("status") or []
            statuses = [statuses] if isinstance(statuses, str) else statuses
            rules.append(
                ProblemRule(
                    level=Level.from_key(key),
                    type=str(doc.get(r, "type", w)),
                    statuses=tuple(str(x) for x in statuses),
                    min_count=doc.int_(r.get("min_count", 1), f"{w}.min_count"),
                    say=str(r.get("say") or r["type"]),
                )
            )
    dd = doc.get(d, "data", "(file)")
    data = DataThresholds(
        low_category_1_items=doc.int_(
            doc.get(doc.get(dd, "low", "data"), "category_1_min_items", "data.low"),
            "data.low",
        ),
        low_historian_alone=bool(dd["low"].get("historian_alone_suffices", True)),
        moderate_min_categories=doc.int_(
            doc.get(doc.get(dd, "moderate", "data"), "min_categories", "data.moderate"),
            "data.moderate",
        ),
        high_min_categories=doc.int_(
            doc.get(doc.get(dd, "high", "data"), "min_categories", "data.high"),
            "data.high",
        ),
        category_1_items_with_historian=doc.int_(
            doc.get(dd, "category_1_min_items_with_historian", "data"),
            "data.category_1_min_items_with_historian",
        ),
    )
    risk = {str(k): doc.level(v, f"risk.{k}") for k, v in doc.get(d, "risk", "(file)").items()}
    level_codes = []
    for i, lc in enumerate(doc.get(d, "level_codes", "(file)")):
        w = f"level_codes[{i}]"
        level_codes.append(
            LevelCodes(
                family=str(doc.get(lc, "family", w)),
                patient_status=lc.get("patient_status"),
                visit_kind=lc.get("visit_kind"),
                effective=doc.effective(lc, w),
                codes={doc.level(k, f"{w}.codes"): doc.code(v, f"{w}.codes.{k}") for k, v in lc["codes"].items()},
            )
        )
    return MdmTable(
        effective=doc.effective(d, "(file)"),
        labels=labels,
        problem_rules=tuple(rules),
        default_status={str(k): str(v) for k, v in (d.get("problem_default_status") or {}).items()},
        data=data,
        risk=risk,
        level_codes=tuple(level_codes),
        families={str(k): str(v) for k, v in doc.get(d, "families", "(file)").items()},
    )


def _load_prolonged(
    doc: _Doc,
) -> tuple[tuple[ProlongedTable, ...], dict[str, frozenset[str]]]:
    out = []
    for w, t in doc.tables():
        out.append(
            ProlongedTable(
                id=str(doc.get(t, "id", w)),
                code=doc.code(doc.get(t, "code", w), f"{w}.code"),
                payers=tuple(doc.get(t, "payers", w)),
                effective=doc.effective(t, w),
                unit_minutes=doc.int_(doc.get(t, "unit_minutes", w), f"{w}.unit_minutes"),
                first_unit_at={
                    doc.code(k, f"{w}.first_unit_at"): doc.int_(v, f"{w}.first_unit_at.{k}")
                    for k, v in doc.get(t, "first_unit_at", w).items()
                },
            )
        )
    banned = {
        str(payer): frozenset(doc.code(c, f"not_for_payer.{payer}") for c in codes)
        for payer, codes in (doc.data.get("not_for_payer") or {}).items()
    }
    return tuple(out), banned


def _load_psychotherapy(doc: _Doc) -> tuple[PsychotherapyTable, ...]:
    return tuple(
        PsychotherapyTable(
            id=str(doc.get(t, "id", w)),
            family=str(doc.get(t, "family", w)),
            effective=doc.effective(t, w),
            rows=doc.rows(doc.get(t, "rows", w), f"{w}.rows"),
        )
        for w, t in doc.tables()
    )


def _load_critical_care(doc: _Doc) -> tuple[CriticalCareTable, ...]:
    return tuple(
        CriticalCareTable(
            id=str(doc.get(t, "id", w)),
            basis=str(doc.get(t, "basis", w)),
            payers=tuple(doc.get(t, "payers", w)),
            effective=doc.effective(t, w),
            first_code=doc.code(doc.get(t, "first_code", w), f"{w}.first_code"),
            first_min=doc.int_(doc.get(t, "first_min", w), f"{w}.first_min"),
            first_max=doc.int_(doc.get(t, "first_max", w), f"{w}.first_max"),
            additional_code=doc.code(doc.get(t, "additional_code", w), f"{w}.additional_code"),
            additional_first_at=doc.int_(doc.get(t, "additional_first_at", w), f"{w}.additional_first_at"),
            additional_unit_minutes=doc.int_(doc.get(t, "additional_unit_minutes", w), f"{w}.additional_unit_minutes"),
        )
        for w, t in doc.tables()
    )


def _load_anesthesia(doc: _Doc) -> tuple[AnesthesiaTable, ...]:
    return tuple(
        AnesthesiaTable(
            id=str(doc.get(t, "id", w)),
            effective=doc.effective(t, w),
            unit_minutes=doc.int_(doc.get(t, "unit_minutes", w), f"{w}.unit_minutes"),
            decimals=doc.int_(t.get("decimals", 1), f"{w}.decimals"),
        )
        for w, t in doc.tables()
    )


def _load_infusion(doc: _Doc) -> tuple[InfusionTable, ...]:
    return tuple(
        InfusionTable(
            id=str(doc.get(t, "id", w)),
            effective=doc.effective(t, w),
            push_max_minutes=doc.int_(doc.get(t, "push_max_minutes", w), f"{w}.push_max_minutes"),
            secondary_source=bool(t.get("secondary_source", False)),
        )
        for w, t in doc.tables()
    )


def bundled_tables_dir() -> Path:
    return rules_dir() / "tables" / "em"


def load_em_tables(directory: str | Path | None = None) -> EmTables:
    """Load the E/M tables. Files present in ``directory`` replace the bundled ones, file by file."""
    base = bundled_tables_dir()

    def doc(kind: str) -> _Doc:
        name = FILES[kind]
        if directory is not None and (Path(directory) / name).is_file():
            return _Doc(Path(directory) / name)
        return _Doc(base / name)

    prolonged, banned = _load_prolonged(doc("prolonged"))
    return EmTables(
        time=_load_time(doc("time")),
        mdm=_load_mdm(doc("mdm")),
        prolonged=prolonged,
        not_for_payer=banned,
        psychotherapy=_load_psychotherapy(doc("psychotherapy")),
        critical_care=_load_critical_care(doc("critical_care")),
        anesthesia=_load_anesthesia(doc("anesthesia")),
        infusion=_load_infusion(doc("infusion")),
    )


@functools.cache
def bundled_em_tables() -> EmTables:
    """The bundled tables, loaded once."""
    return load_em_tables()


def tables_or_default(tables: EmTables | None) -> EmTables:
    return tables if tables is not None else bundled_em_tables()
