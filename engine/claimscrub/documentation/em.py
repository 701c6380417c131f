"""E/M level the documentation supports, and the other time-based code rules.

Pure functions over an :class:`~claimscrub.documentation.encounter.Encounter` and the data
tables in ``rules/tables/em/`` (every threshold is data, with its source and
effective dates; a user can load their own directory). Results explain *why*,
so a finding can say "documentation supports 99213: MDM low (problems low:
1 stable chronic illness; data minimal; risk low), time 22 min (99213 needs
20 from 2024)".

The 2021 AMA framework: MDM is the level met by 2 of the 3 elements (problems,
data, risk), i.e. their median; time is total practitioner time on the date;
the supported level is the higher of the two (office/outpatient from 2021,
hospital inpatient/observation from 2023, when CPT extended the same choice). A table that does not cover the
date of service yields "no table", never a pass.
"""

from __future__ import annotations

import datetime as _dt
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import IntEnum
from pathlib import Path
from typing import Any

from claimscrub import yamlio
from claimscrub.documentation.encounter import Encounter, Mdm, MdmData, Problem, RiskItem
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


class TableError(Exception):
    """A data table that cannot be used: names the file and the place."""

    def __init__(self, file: str, where: str, problem: str):
        super().__init__(f"{file}: {where}: {problem}")
        self.file, self.where, self.problem = file, where, problem


# --------------------------------------------------------------------------- tables


@dataclass(frozen=True, slots=True)
class Effective:
    effective_from: str
    effective_to: str | None
    source: str

    def covers(self, dos: str) -> bool:
        return self.effective_from <= dos and (
            self.effective_to is None or dos <= self.effective_to
        )

    @property
    def since(self) -> str:
        return self.effective_from[:4]

    @property
    def span(self) -> str:
        return (
            f"{self.since}-{self.effective_to[:4]}"
            if self.effective_to
            else f"from {self.since}"
        )


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
    effective: Effective
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
    effective: Effective
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
    effective: Effective
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
    effective: Effective
    unit_minutes: int
    first_unit_at: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class PsychotherapyTable:
    id: str
    family: str  # standalone / with_em
    effective: Effective
    rows: tuple[TimeRow, ...]


@dataclass(frozen=True, slots=True)
class CriticalCareTable:
    id: str
    basis: str
    payers: tuple[str, ...]
    effective: Effective
    first_code: str
    first_min: int
    first_max: int
    additional_code: str
    additional_first_at: int
    additional_unit_minutes: int


@dataclass(frozen=True, slots=True)
class AnesthesiaTable:
    id: str
    effective: Effective
    unit_minutes: int
    decimals: int


@dataclass(frozen=True, slots=True)
class InfusionTable:
    id: str
    effective: Effective
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
            raise TableError(self.file, "(file)", f"not valid YAML: {exc}") from None
        if not isinstance(self.data, dict):
            raise TableError(self.file, "(file)", "must be a mapping")

    def err(self, where: str, problem: str) -> TableError:
        return TableError(self.file, where, problem)

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

    def int_(self, value: Any, where: str, optional: bool = False) -> int | None:
        if value is None and optional:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise self.err(where, f"{value!r} must be a non-negative whole number")
        return value

    def date(self, value: Any, where: str, optional: bool = False) -> str | None:
        if value is None and optional:
            return None
        if isinstance(value, _dt.date):
            return value.isoformat()
        try:
            return _dt.date.fromisoformat(value).isoformat()
        except (TypeError, ValueError):
            raise self.err(where, f"{value!r} is not a date (YYYY-MM-DD)") from None

    def effective(
        self, obj: Mapping, where: str, default_source: str | None = None
    ) -> Effective:
        source = obj.get("source", default_source)
        if not source:
            raise self.err(
                where, "source is required (cite where the figures come from)"
            )
        return Effective(
            effective_from=self.date(
                self.get(obj, "effective_from", where), f"{where}.effective_from"
            ),
            effective_to=self.date(
                obj.get("effective_to"), f"{where}.effective_to", optional=True
            ),
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
                max=self.int_(r.get("max"), f"{w}.max", optional=True),
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
                doc.level(k, f"labels.{element}"): str(v)
                for k, v in doc.get(d["labels"], element, "labels").items()
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
    risk = {
        str(k): doc.level(v, f"risk.{k}")
        for k, v in doc.get(d, "risk", "(file)").items()
    }
    level_codes = []
    for i, lc in enumerate(doc.get(d, "level_codes", "(file)")):
        w = f"level_codes[{i}]"
        level_codes.append(
            LevelCodes(
                family=str(doc.get(lc, "family", w)),
                patient_status=lc.get("patient_status"),
                visit_kind=lc.get("visit_kind"),
                effective=doc.effective(lc, w),
                codes={
                    doc.level(k, f"{w}.codes"): doc.code(v, f"{w}.codes.{k}")
                    for k, v in lc["codes"].items()
                },
            )
        )
    return MdmTable(
        effective=doc.effective(d, "(file)"),
        labels=labels,
        problem_rules=tuple(rules),
        default_status={
            str(k): str(v) for k, v in (d.get("problem_default_status") or {}).items()
        },
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
                unit_minutes=doc.int_(
                    doc.get(t, "unit_minutes", w), f"{w}.unit_minutes"
                ),
                first_unit_at={
                    doc.code(k, f"{w}.first_unit_at"): doc.int_(
                        v, f"{w}.first_unit_at.{k}"
                    )
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
            additional_code=doc.code(
                doc.get(t, "additional_code", w), f"{w}.additional_code"
            ),
            additional_first_at=doc.int_(
                doc.get(t, "additional_first_at", w), f"{w}.additional_first_at"
            ),
            additional_unit_minutes=doc.int_(
                doc.get(t, "additional_unit_minutes", w), f"{w}.additional_unit_minutes"
            ),
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
            push_max_minutes=doc.int_(
                doc.get(t, "push_max_minutes", w), f"{w}.push_max_minutes"
            ),
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
def default_tables() -> EmTables:
    """The bundled tables, loaded once."""
    return load_em_tables()


def _tables(tables: EmTables | None) -> EmTables:
    return tables if tables is not None else default_tables()


# --------------------------------------------------------------------------- MDM


@dataclass(frozen=True, slots=True)
class ElementScore:
    """One MDM element: its level and the recorded items that led there."""

    element: str  # problems / data / risk
    level: Level
    label: str  # the element's own word for the level: "limited", "extensive"
    reasons: tuple[str, ...] = ()

    def explain(self) -> str:
        head = f"{self.element} {self.label}"
        return f"{head}: {', '.join(self.reasons)}" if self.reasons else head


@dataclass(frozen=True, slots=True)
class MdmResult:
    level: Level
    problems: ElementScore
    data: ElementScore
    risk: ElementScore
    documented: bool = True

    @property
    def elements(self) -> tuple[ElementScore, ElementScore, ElementScore]:
        return (self.problems, self.data, self.risk)

    def explain(self) -> str:
        if not self.documented:
            return "MDM not documented"
        parts = "; ".join(e.explain() for e in self.elements)
        return f"MDM {self.level.key} ({parts})"


def _label(table: MdmTable, element: str, level: Level) -> str:
    return (
        "none documented"
        if level == Level.NONE
        else table.labels[element].get(level, level.key)
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}"


def score_problems(
    problems: Iterable[Problem], tables: EmTables | None = None
) -> ElementScore:
    """Highest level any problem rule reaches; reasons name the rule(s) met at that level."""
    t = _tables(tables).mdm
    items = [
        (p.type, p.status if p.status is not None else t.default_status.get(p.type))
        for p in problems
    ]
    best, reasons = Level.NONE, []
    for rule in t.problem_rules:  # highest level first
        if rule.level < best:
            break
        n = sum(
            1
            for typ, status in items
            if typ == rule.type and (not rule.statuses or status in rule.statuses)
        )
        if n >= rule.min_count:
            best = rule.level
            reasons.append(_count(n, rule.say))
    unscored = sorted(
        {
            typ
            for typ, status in items
            if not any(
                r.type == typ and (not r.statuses or status in r.statuses)
                for r in t.problem_rules
            )
        }
    )
    for typ in unscored:
        reasons.append(
            f"{typ.replace('_', ' ')} without a scorable status (not counted)"
        )
    label = _label(t, "problems", best) if best or not items else "none scorable"
    return ElementScore("problems", best, label, tuple(reasons))


def score_data(data: MdmData, tables: EmTables | None = None) -> ElementScore:
    """Data per the AMA categories; unique notes per source and unique tests (ordered + reviewed = one)."""
    th = _tables(tables).mdm.data
    t = _tables(tables).mdm
    sources: set[str] = set()
    tests: set[str] = set()
    for i, item in enumerate(data.items):
        if item.separately_reported:
            continue
        if item.category == "external_note":
            sources.add((item.source or f"#{i}").strip().lower())
        else:
            tests.add((item.test or f"#{i}").strip().upper())
    cat1 = len(sources) + len(tests)
    historian = data.independent_historian
    interpretation = any(
        not x.separately_reported for x in data.independent_interpretations
    )
    discussion = any(not x.separately_reported for x in data.external_discussions)

    reasons = []
    if sources:
        reasons.append(
            _count(
                len(sources), "external note source" + ("s" if len(sources) > 1 else "")
            )
        )
    if tests:
        reasons.append(
            _count(len(tests), "unique test" + ("s" if len(tests) > 1 else ""))
        )
    if historian:
        reasons.append("independent historian")
    if interpretation:
        reasons.append("independent interpretation")
    if discussion:
        reasons.append("discussion with an external source")

    categories = (
        int(cat1 + int(historian) >= th.category_1_items_with_historian)
        + int(interpretation)
        + int(discussion)
    )
    if categories >= th.high_min_categories:
        level = Level.HIGH
    elif categories >= th.moderate_min_categories:
        level = Level.MODERATE
    elif cat1 >= th.low_category_1_items or (historian and th.low_historian_alone):
        level = Level.LOW
    else:
        level = Level.STRAIGHTFORWARD  # "minimal or none"
    return ElementScore("data", level, _label(t, "data", level), tuple(reasons))


def score_risk(
    risk: Iterable[RiskItem], tables: EmTables | None = None
) -> ElementScore:
    """Highest risk of the management items; nothing documented is minimal risk."""
    t = _tables(tables).mdm
    best, reasons = Level.STRAIGHTFORWARD, []
    scored = [(t.risk.get(item.type), item.type) for item in risk]
    unknown = [typ for lv, typ in scored if lv is None]
    if unknown:
        raise TableError(
            FILES["mdm"], "risk", f"no level for risk item type {unknown[0]!r}"
        )
    if scored:
        best = max(lv for lv, _ in scored)
        reasons = sorted({typ.replace("_", " ") for lv, typ in scored if lv == best})
    return ElementScore("risk", best, _label(t, "risk", best), tuple(reasons))


def mdm_level(mdm: Mdm | None, tables: EmTables | None = None) -> MdmResult:
    """MDM = the level met by 2 of the 3 elements: the median of problems, data and risk."""
    if mdm is None:
        t = _tables(tables).mdm
        none = {
            e: ElementScore(e, Level.NONE, _label(t, e, Level.NONE)) for e in ELEMENTS
        }
        return MdmResult(
            Level.NONE, none["problems"], none["data"], none["risk"], documented=False
        )
    problems = score_problems(mdm.problems, tables)
    data = score_data(mdm.data, tables)
    risk = score_risk(mdm.risk, tables)
    median = sorted((problems.level, data.level, risk.level))[1]
    return MdmResult(Level(median), problems, data, risk)


# --------------------------------------------------------------------------- time


@dataclass(frozen=True, slots=True)
class TimeResult:
    """The level total time supports, and the threshold that decided it."""

    minutes: int | None
    code: str | None
    how: str  # "documented total" (less what does not count) / "sum of counted activities" / "not documented"
    row: TimeRow | None = None
    table: TimeTable | None = None
    note: str | None = None  # why there is no code

    def requirement(self, row: TimeRow | None = None) -> str:
        """'99213 needs 20 from 2024' or '99213 needs 20-29 in 2021-2023'."""
        row = row or self.row
        if row is None or self.table is None:
            return ""
        return f"{row.code} needs {time_need(row, self.table)}"

    def explain(self) -> str:
        if self.minutes is None:
            return "time not documented"
        if self.code is None:
            return (
                f"time {self.minutes} min ({self.note})"
                if self.note
                else f"time {self.minutes} min"
            )
        beyond = (
            "; beyond the top range"
            if self.row and self.row.max is not None and self.minutes > self.row.max
            else ""
        )
        return f"time {self.minutes} min ({self.requirement()}{beyond})"


def time_need(row: TimeRow, table: TimeTable, unit: str = "") -> str:
    """The minutes a row asks for, with the years: '20 from 2024', '20-29 in 2021-2023' (unit ' min' inserts it)."""
    if table.method == "minimum" or row.max is None:
        return f"{row.min}{unit} from {table.effective.since}"
    return f"{row.min}-{row.max}{unit} in {table.effective.span}"


def em_time_minutes(encounter: Encounter) -> tuple[int | None, str]:
    """Minutes that count for E/M: the documented total, else the counted activities (no clinical staff, travel or separately reported services).

    When the activities break the documented total down (they add up to no more than it), minutes the
    breakdown puts on what does not count (an ECG interpretation billed on its own line, travel, clinical
    staff) come off the total: 30 documented as 15 + 5 + 10 on a separately billed ECG is 20 E/M minutes
    (CPT E/M guidelines, time: do not count time spent on separately reported services). Activities that
    add up to more than the total show the total already leaves them out."""
    if encounter.total_time_minutes is not None:
        total = encounter.total_time_minutes
        counted = sum(a.minutes for a in encounter.time_activities if a.counts_for_em)
        excluded = sum(a.minutes for a in encounter.time_activities if not a.counts_for_em)
        if excluded and counted + excluded <= total:
            return total - excluded, f"documented total {total} less {excluded} not counted"
        return total, "documented total"
    counted = [a.minutes for a in encounter.time_activities if a.counts_for_em]
    if counted:
        return sum(counted), "sum of counted activities"
    return None, "not documented"


def _time_table(family: str, dos: str, tables: EmTables) -> TimeTable | None:
    return next(
        (t for t in tables.time if t.family == family and t.effective.covers(dos)), None
    )


def _rows_for(
    rows: Iterable[TimeRow], patient_status: str | None, visit_kind: str | None
) -> list[TimeRow]:
    return [
        r
        for r in rows
        if (r.patient_status is None or r.patient_status == patient_status)
        and (r.visit_kind is None or r.visit_kind == visit_kind)
    ]


def _row_for_minutes(rows: list[TimeRow], minutes: int, method: str) -> TimeRow | None:
    """The row the minutes reach: in range (or at/over the minimum); over the top range still the top row."""
    ordered = sorted(rows, key=lambda r: r.min)
    if not ordered or minutes < ordered[0].min:
        return None
    if method == "range":
        for row in ordered:
            if row.min <= minutes and (row.max is None or minutes <= row.max):
                return row
        top = ordered[-1]
        return (
            top if minutes > (top.max or 0) else None
        )  # a gap between ranges reaches nothing
    return max((r for r in ordered if r.min <= minutes), key=lambda r: r.min)


def time_level(
    minutes: int | None,
    family: str,
    dos: str,
    patient_status: str | None = None,
    visit_kind: str | None = None,
    tables: EmTables | None = None,
    how: str = "documented total",
) -> TimeResult:
    """The code total time supports on this date of service (None when below the lowest threshold)."""
    t = _tables(tables)
    if minutes is None:
        return TimeResult(None, None, "not documented")
    table = _time_table(family, dos, t)
    if table is None:
        return TimeResult(
            minutes, None, how, note=f"no {family} time table in force on {dos}"
        )
    rows = _rows_for(table.rows, patient_status, visit_kind)
    if not rows:
        return TimeResult(
            minutes,
            None,
            how,
            table=table,
            note="no time rows for this patient status / visit kind",
        )
    row = _row_for_minutes(rows, minutes, table.method)
    if row is None:
        lowest = min(rows, key=lambda r: r.min)
        return TimeResult(
            minutes,
            None,
            how,
            table=table,
            note=f"below the {lowest.min} min {lowest.code} needs ({table.effective.span})",
        )
    return TimeResult(minutes, row.code, how, row=row, table=table)


def time_requirement(code: str, dos: str, tables: EmTables | None = None) -> str | None:
    """The minutes a code needs on a date ('30 min from 2024'); None when no time table in force has the code."""
    for table in _tables(tables).time:
        if table.effective.covers(dos):
            for row in table.rows:
                if row.code == code:
                    return time_need(row, table, " min")
    return None


# --------------------------------------------------------------------------- level -> code


def em_family(setting: str | None, tables: EmTables | None = None) -> str | None:
    """Code family of an encounter setting (office_outpatient, inpatient_observation), None when not tabled."""
    return _tables(tables).mdm.families.get(setting) if setting else None


def level_codes(
    family: str,
    dos: str,
    patient_status: str | None,
    visit_kind: str | None,
    tables: EmTables | None = None,
) -> LevelCodes | None:
    for lc in _tables(tables).mdm.level_codes:
        if (
            lc.family == family
            and lc.effective.covers(dos)
            and (lc.patient_status is None or lc.patient_status == patient_status)
            and (lc.visit_kind is None or lc.visit_kind == visit_kind)
        ):
            return lc
    return None


def code_for_level(
    level: Level,
    family: str,
    dos: str,
    patient_status: str | None = None,
    visit_kind: str | None = None,
    tables: EmTables | None = None,
) -> str | None:
    """The code an MDM level selects (new vs established, initial vs subsequent); None below straightforward."""
    lc = level_codes(family, dos, patient_status, visit_kind, tables)
    return lc.codes.get(level) if lc and level else None


# --------------------------------------------------------------------------- the level


@dataclass(frozen=True, slots=True)
class EmLevelResult:
    """What the documentation supports, with the reasons."""

    encounter_id: str
    date_of_service: str
    family: str | None
    patient_status: str | None
    visit_kind: str | None
    mdm: MdmResult
    mdm_code: str | None
    time: TimeResult
    supported_code: str | None
    basis: str | None  # mdm / time: which one gave the supported code
    documented_basis: str | None
    ladder: tuple[str, ...] = ()  # the family's codes, lowest to highest
    note: str | None = None  # why nothing could be derived

    def rank(self, code: str | None) -> int | None:
        return self.ladder.index(code) if code in self.ladder else None

    def explain(self) -> str:
        if self.note:
            return self.note
        head = (
            f"documentation supports {self.supported_code}"
            if self.supported_code
            else "documentation supports no level of this family"
        )
        return f"{head}: {self.mdm.explain()}, {self.time.explain()}"

    def summary(self) -> dict[str, Any]:
        """Plain JSON-ready facts for a finding's evidence (no note text)."""
        return {
            "encounter_id": self.encounter_id,
            "date_of_service": self.date_of_service,
            "family": self.family,
            "supported_code": self.supported_code,
            "basis": self.basis,
            "documented_basis": self.documented_basis,
            "mdm_level": self.mdm.level.key if self.mdm.level else None,
            "mdm_code": self.mdm_code,
            "elements": {
                e.element: {"level": e.label, "reasons": list(e.reasons)}
                for e in self.mdm.elements
            },
            "time_minutes": self.time.minutes,
            "time_how": self.time.how,
            "time_code": self.time.code,
            "time_table": self.time.table.id if self.time.table else None,
            "time_source": self.time.table.effective.source
            if self.time.table
            else None,
            "note": self.note,
            "explanation": self.explain(),
        }


def derive_em_level(
    encounter: Encounter, tables: EmTables | None = None
) -> EmLevelResult:
    """Supported E/M code = the higher of the MDM level's code and the time level's code."""
    t = _tables(tables)
    em = encounter.em
    dos = encounter.date_of_service
    mdm = mdm_level(encounter.mdm, t)
    minutes, how = em_time_minutes(encounter)
    setting = em.setting if em else None
    status = em.patient_status if em else None
    kind = em.visit_kind if em else None
    family = em_family(setting, t)

    def empty(note: str) -> EmLevelResult:
        return EmLevelResult(
            encounter.encounter_id,
            dos,
            family,
            status,
            kind,
            mdm,
            None,
            TimeResult(minutes, None, how),
            None,
            None,
            em.basis if em else None,
            note=note,
        )

    if em is None:
        return empty("no E/M documented on this encounter")
    if family is None:
        return empty(f"no E/M level table for setting {setting or '(not documented)'}")
    lc = level_codes(family, dos, status, kind, t)
    if lc is None:
        what = (
            f"patient status {status}"
            if family == "office_outpatient"
            else f"visit kind {kind}"
        )
        return empty(
            f"no {family} level codes in force on {dos} for {what or 'an undocumented status'}"
        )

    mdm_code = lc.codes.get(mdm.level) if mdm.level else None
    time = time_level(minutes, family, dos, status, kind, t, how)
    ladder = lc.ordered
    time_code = time.code if time.code in ladder else None

    candidates = [(c, b) for c, b in ((mdm_code, "mdm"), (time_code, "time")) if c]
    supported, basis = None, None
    if candidates:
        top = max(ladder.index(c) for c, _ in candidates)
        tied = [b for c, b in candidates if ladder.index(c) == top]
        basis = em.basis if em.basis in tied else tied[0]
        supported = ladder[top]
    return EmLevelResult(
        encounter.encounter_id,
        dos,
        family,
        status,
        kind,
        mdm,
        mdm_code,
        time,
        supported,
        basis,
        em.basis,
        ladder,
    )


# --------------------------------------------------------------------------- billed vs supported


@dataclass(frozen=True, slots=True)
class EmCheck:
    """Billed E/M code against the supported one.

    status: supported / over (billed above: upcoding) / under (billed below:
    possible undercoding) / unsupported (no level documented) / mismatch
    (billed code is another family or patient status) / not_comparable.
    """

    status: str
    billed_code: str
    supported_code: str | None
    message: str
    result: EmLevelResult


def check_billed_em(
    result: EmLevelResult, billed_code: str, tables: EmTables | None = None
) -> EmCheck:
    """Compare a billed E/M code with what the documentation supports, saying why."""
    billed = billed_code.upper()

    def out(status: str, message: str) -> EmCheck:
        return EmCheck(status, billed, result.supported_code, message, result)

    if result.note:
        return out("not_comparable", f"billed {billed}; {result.note}")
    if (
        billed == "99211"
        and result.family == "office_outpatient"
        and result.patient_status == "established"
    ):
        return out(
            "supported", "billed 99211, which needs neither an MDM level nor a time"
        )
    if billed not in result.ladder:
        other = _other_ladder(billed, result, _tables(tables))
        if other:
            return out(
                "mismatch",
                f"billed {billed} is a {other} code; the record documents {_who(result)}",
            )
        return out(
            "not_comparable",
            f"billed {billed} is not a {result.family} code for {_who(result)}",
        )
    why = result.explain()
    if result.supported_code is None:
        return out("unsupported", f"billed {billed}; {why}")
    b, s = result.ladder.index(billed), result.ladder.index(result.supported_code)
    if b == s:
        return out("supported", f"billed {billed}; {why}")
    need = _what_billed_needs(billed, result, _tables(tables))
    if b > s:
        return out("over", f"billed {billed}, but {why}{need}")
    return out("under", f"billed {billed}, below what the record supports: {why}")


def _who(result: EmLevelResult) -> str:
    if result.family == "office_outpatient":
        return (
            f"an {result.patient_status} patient"
            if result.patient_status == "established"
            else f"a {result.patient_status} patient"
        )
    return f"a {result.visit_kind} {result.family.replace('_', '/')} visit"


def _other_ladder(code: str, result: EmLevelResult, t: EmTables) -> str | None:
    for lc in t.mdm.level_codes:
        if lc.effective.covers(result.date_of_service) and code in lc.codes.values():
            detail = lc.patient_status or lc.visit_kind
            return (
                f"{lc.family} {detail}-patient"
                if lc.patient_status
                else f"{lc.family} {detail}"
            )
    return None


def _what_billed_needs(billed: str, result: EmLevelResult, t: EmTables) -> str:
    """'; 99214 needs moderate MDM or 30 min from 2024'."""
    lc = level_codes(
        result.family,
        result.date_of_service,
        result.patient_status,
        result.visit_kind,
        t,
    )
    levels = sorted(lv for lv, c in lc.codes.items() if c == billed) if lc else []
    parts = []
    if levels:
        parts.append(f"{levels[0].key} MDM")
    req = time_requirement(billed, result.date_of_service, t)
    if req:
        parts.append(req)
    return f"; {billed} needs {' or '.join(parts)}" if parts else ""


# --------------------------------------------------------------------------- prolonged services


@dataclass(frozen=True, slots=True)
class ProlongedResult:
    code: str | None  # 99417 / G2212 / None
    units: int
    reason: str
    first_unit_at: int | None = None
    unit_minutes: int | None = None
    source: str | None = None


def prolonged_code_for_payer(
    payer_type: str, dos: str, tables: EmTables | None = None
) -> ProlongedTable | None:
    """The prolonged-service table (99417 or G2212) that applies to a payer type on a date."""
    return next(
        (
            p
            for p in _tables(tables).prolonged
            if payer_type in p.payers and p.effective.covers(dos)
        ),
        None,
    )


def code_not_for_payer(
    code: str, payer_type: str, tables: EmTables | None = None
) -> bool:
    """True when the payer type does not accept the code (99417 billed to Medicare)."""
    return code.upper() in _tables(tables).not_for_payer.get(payer_type, frozenset())


def prolonged_units(
    primary_code: str,
    minutes: int | None,
    payer_type: str,
    dos: str,
    tables: EmTables | None = None,
    time_based: bool = True,
) -> ProlongedResult:
    """Units of prolonged service beyond a time-based 99205/99215: 1 at the first threshold, +1 each unit_minutes."""
    table = prolonged_code_for_payer(payer_type, dos, tables)
    if table is None:
        return ProlongedResult(
            None, 0, f"no prolonged-service table for payer type {payer_type} on {dos}"
        )
    first = table.first_unit_at.get(primary_code)
    cite: dict[str, Any] = {"unit_minutes": table.unit_minutes, "source": table.effective.source}
    if first is None:
        return ProlongedResult(
            None,
            0,
            f"{table.code} goes only with {'/'.join(table.first_unit_at)}, not {primary_code}",
        )
    if not time_based:
        return ProlongedResult(
            None,
            0,
            f"{table.code} needs {primary_code} chosen by time, not MDM",
            first,
            **cite,
        )
    if minutes is None:
        return ProlongedResult(None, 0, "time not documented", first, **cite)
    if minutes < first:
        return ProlongedResult(
            None,
            0,
            f"{minutes} min is below the {first} min the first {table.code} unit needs with {primary_code}",
            first,
            **cite,
        )
    units = 1 + (minutes - first) // table.unit_minutes
    return ProlongedResult(
        table.code,
        units,
        f"{minutes} min with {primary_code}: {units} x {table.code} (first unit at {first}, then each {table.unit_minutes})",
        first,
        **cite,
    )


def prolonged_for(
    result: EmLevelResult, payer_type: str, tables: EmTables | None = None
) -> ProlongedResult:
    """Prolonged units the documentation supports for an E/M result (only when time alone supports level 5)."""
    time_code = result.time.code
    t = _tables(tables)
    table = prolonged_code_for_payer(payer_type, result.date_of_service, t)
    if time_code is None or table is None or time_code not in table.first_unit_at:
        reason = (
            f"no prolonged service: time supports {time_code or 'no level'}, not a level-5 visit"
            if table
            else f"no prolonged-service table for payer type {payer_type} on {result.date_of_service}"
        )
        return ProlongedResult(None, 0, reason)
    return prolonged_units(
        time_code, result.time.minutes, payer_type, result.date_of_service, t
    )


# --------------------------------------------------------------------------- other timed services


@dataclass(frozen=True, slots=True)
class TimedCodeResult:
    code: str | None
    minutes: int | None
    reason: str
    source: str | None = None


def psychotherapy_code(
    minutes: int | None, dos: str, with_em: bool = False, tables: EmTables | None = None
) -> TimedCodeResult:
    """Psychotherapy code by time (90832/90834/90837, or 90833/90836/90838 with an E/M); under 16 min none."""
    family = "with_em" if with_em else "standalone"
    table = next(
        (
            p
            for p in _tables(tables).psychotherapy
            if p.family == family and p.effective.covers(dos)
        ),
        None,
    )
    if table is None:
        return TimedCodeResult(
            None, minutes, f"no {family} psychotherapy table in force on {dos}"
        )
    if minutes is None:
        return TimedCodeResult(
            None, None, "psychotherapy time not documented", table.effective.source
        )
    row = _row_for_minutes(list(table.rows), minutes, "range")
    if row is None:
        lowest = min(table.rows, key=lambda r: r.min)
        return TimedCodeResult(
            None,
            minutes,
            f"{minutes} min is under the {lowest.min} min needed: not reportable",
            table.effective.source,
        )
    span = f"{row.min}-{row.max}" if row.max is not None else f"{row.min}+"
    return TimedCodeResult(
        row.code,
        minutes,
        f"{minutes} min: {row.code} ({span} min)",
        table.effective.source,
    )


@dataclass(frozen=True, slots=True)
class CriticalCareResult:
    first_code: str | None  # 99291 or None (under 30 min)
    additional_code: str | None
    additional_units: int
    minutes: int | None
    basis: str | None  # cpt / cms
    reason: str
    source: str | None = None


def critical_care_units(
    minutes: int | None, payer_type: str, dos: str, tables: EmTables | None = None
) -> CriticalCareResult:
    """99291 once for 30-74 min, then 99292 units counted the CPT way or the CMS way (first at 104 min)."""
    table = next(
        (
            c
            for c in _tables(tables).critical_care
            if payer_type in c.payers and c.effective.covers(dos)
        ),
        None,
    )
    if table is None:
        return CriticalCareResult(
            None,
            None,
            0,
            minutes,
            None,
            f"no critical care table for payer type {payer_type} on {dos}",
        )
    src = table.effective.source
    if minutes is None:
        return CriticalCareResult(
            None, None, 0, None, table.basis, "critical care time not documented", src
        )
    if minutes < table.first_min:
        return CriticalCareResult(
            None,
            None,
            0,
            minutes,
            table.basis,
            f"{minutes} min is under the {table.first_min} min critical care needs: report another E/M",
            src,
        )
    extra = (
        0
        if minutes < table.additional_first_at
        else 1 + (minutes - table.additional_first_at) // table.additional_unit_minutes
    )
    return CriticalCareResult(
        table.first_code,
        table.additional_code if extra else None,
        extra,
        minutes,
        table.basis,
        f"{minutes} min ({table.basis.upper()}): {table.first_code}"
        + (
            f" + {extra} x {table.additional_code} (first at {table.additional_first_at}, then each {table.additional_unit_minutes})"
            if extra
            else ""
        ),
        src,
    )


def anesthesia_time_units(
    minutes: int, dos: str, tables: EmTables | None = None
) -> Decimal:
    """Anesthesia time units = minutes / 15, rounded per the table (one decimal for Medicare)."""
    table = next(
        (a for a in _tables(tables).anesthesia if a.effective.covers(dos)), None
    )
    if table is None:
        raise LookupError(f"no anesthesia time table in force on {dos}")
    exponent = Decimal(1).scaleb(-table.decimals)
    return (Decimal(minutes) / Decimal(table.unit_minutes)).quantize(
        exponent, rounding=ROUND_HALF_UP
    )


def infusion_or_push(minutes: int, dos: str, tables: EmTables | None = None) -> str:
    """'push' when the documented infusion time is at or under the push maximum, else 'infusion' (secondary-source figure)."""
    table = next((a for a in _tables(tables).infusion if a.effective.covers(dos)), None)
    if table is None:
        raise LookupError(f"no infusion time table in force on {dos}")
    return "push" if minutes <= table.push_max_minutes else "infusion"


# --------------------------------------------------------------------------- encounter-level wrappers


def timed_minutes(encounter: Encounter, *services: str) -> int | None:
    """Total documented minutes of the timed services of these kinds (blocks add up); None when none is documented."""
    durations = [
        t.duration_minutes
        for t in encounter.timed_services
        if t.service in services and t.duration_minutes is not None
    ]
    return sum(durations) if durations else None


def psychotherapy_for(
    encounter: Encounter, tables: EmTables | None = None
) -> TimedCodeResult:
    """Psychotherapy code the record's psychotherapy time supports (add-on family when documented with an E/M)."""
    with_em = any(
        t.service == "psychotherapy_with_em" for t in encounter.timed_services
    )
    service = "psychotherapy_with_em" if with_em else "psychotherapy"
    return psychotherapy_code(
        timed_minutes(encounter, service), encounter.date_of_service, with_em, tables
    )


def critical_care_for(
    encounter: Encounter, payer_type: str, tables: EmTables | None = None
) -> CriticalCareResult:
    """Critical care codes the record's critical care time supports for the payer type."""
    return critical_care_units(
        timed_minutes(encounter, "critical_care"),
        payer_type,
        encounter.date_of_service,
        tables,
    )


def anesthesia_units_for(
    encounter: Encounter, tables: EmTables | None = None
) -> Decimal | None:
    """Anesthesia time units from the record's start/stop blocks; None when no anesthesia time is documented."""
    minutes = timed_minutes(encounter, "anesthesia")
    if minutes is None:
        return None
    return anesthesia_time_units(minutes, encounter.date_of_service, tables)
