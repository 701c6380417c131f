"""The E/M level the documentation supports: MDM (2 of 3 elements), total time, the level's code, the
billed code against it, and prolonged services.

The 2021 AMA framework: MDM is the level met by 2 of the 3 elements (problems,
data, risk), i.e. their median; time is total practitioner time on the date;
the supported level is the higher of the two (office/outpatient from 2021,
hospital inpatient/observation from 2023, when CPT extended the same choice). A table that does not cover the
date of service yields "no table", never a pass.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from claimscrub.documentation.em.tables import (
    ELEMENTS,
    FILES,
    EmTableError,
    EmTables,
    Level,
    LevelCodes,
    MdmTable,
    ProlongedTable,
    TimeRow,
    TimeTable,
    tables_or_default,
)
from claimscrub.documentation.encounter import Encounter, Mdm, MdmData, Problem, RiskItem

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
    return "none documented" if level == Level.NONE else table.labels[element].get(level, level.key)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}"


def score_problems(problems: Iterable[Problem], tables: EmTables | None = None) -> ElementScore:
    """Highest level any problem rule reaches; reasons name the rule(s) met at that level."""
    t = tables_or_default(tables).mdm
    items = [(p.type, p.status if p.status is not None else t.default_status.get(p.type)) for p in problems]
    best, reasons = Level.NONE, []
    for rule in t.problem_rules:  # highest level first
        if rule.level < best:
            break
        n = sum(1 for typ, status in items if typ == rule.type and (not rule.statuses or status in rule.statuses))
        if n >= rule.min_count:
            best = rule.level
            reasons.append(_count(n, rule.say))
    unscored = sorted(
        {
            typ
            for typ, status in items
            if not any(r.type == typ and (not r.statuses or status in r.statuses) for r in t.problem_rules)
        }
    )
    for typ in unscored:
        reasons.append(f"{typ.replace('_', ' ')} without a scorable status (not counted)")
    label = _label(t, "problems", best) if best or not items else "none scorable"
    return ElementScore("problems", best, label, tuple(reasons))


def score_data(data: MdmData, tables: EmTables | None = None) -> ElementScore:
    """Data per the AMA categories; unique notes per source and unique tests (ordered + reviewed = one)."""
    th = tables_or_default(tables).mdm.data
    t = tables_or_default(tables).mdm
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
    interpretation = any(not x.separately_reported for x in data.independent_interpretations)
    discussion = any(not x.separately_reported for x in data.external_discussions)

    reasons = []
    if sources:
        reasons.append(_count(len(sources), "external note source" + ("s" if len(sources) > 1 else "")))
    if tests:
        reasons.append(_count(len(tests), "unique test" + ("s" if len(tests) > 1 else "")))
    if historian:
        reasons.append("independent historian")
    if interpretation:
        reasons.append("independent interpretation")
    if discussion:
        reasons.append("discussion with an external source")

    categories = (
        int(cat1 + int(historian) >= th.category_1_items_with_historian) + int(interpretation) + int(discussion)
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


def score_risk(risk: Iterable[RiskItem], tables: EmTables | None = None) -> ElementScore:
    """Highest risk of the management items; nothing documented is minimal risk."""
    t = tables_or_default(tables).mdm
    best, reasons = Level.STRAIGHTFORWARD, []
    scored: list[tuple[Level, str]] = []
    for item in risk:
        level = t.risk.get(item.type)
        if level is None:
            raise EmTableError(FILES["mdm"], "risk", f"no level for risk item type {item.type!r}")
        scored.append((level, item.type))
    if scored:
        best = max(lv for lv, _ in scored)
        reasons = sorted({typ.replace("_", " ") for lv, typ in scored if lv == best})
    return ElementScore("risk", best, _label(t, "risk", best), tuple(reasons))


def mdm_level(mdm: Mdm | None, tables: EmTables | None = None) -> MdmResult:
    """MDM = the level met by 2 of the 3 elements: the median of problems, data and risk."""
    if mdm is None:
        t = tables_or_default(tables).mdm
        none = {e: ElementScore(e, Level.NONE, _label(t, e, Level.NONE)) for e in ELEMENTS}
        return MdmResult(Level.NONE, none["problems"], none["data"], none["risk"], documented=False)
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
            return f"time {self.minutes} min ({self.note})" if self.note else f"time {self.minutes} min"
        beyond = (
            "; beyond the top range" if self.row and self.row.max is not None and self.minutes > self.row.max else ""
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
    activities = [a.minutes for a in encounter.time_activities if a.counts_for_em]
    if activities:
        return sum(activities), "sum of counted activities"
    return None, "not documented"


def _time_table(family: str, dos: str, tables: EmTables) -> TimeTable | None:
    return next((t for t in tables.time if t.family == family and t.effective.covers(dos)), None)


def _rows_for(rows: Iterable[TimeRow], patient_status: str | None, visit_kind: str | None) -> list[TimeRow]:
    return [
        r
        for r in rows
        if (r.patient_status is None or r.patient_status == patient_status)
        and (r.visit_kind is None or r.visit_kind == visit_kind)
    ]


def row_for_minutes(rows: list[TimeRow], minutes: int, method: str) -> TimeRow | None:
    """The row the minutes reach: in range (or at/over the minimum); over the top range still the top row."""
    ordered = sorted(rows, key=lambda r: r.min)
    if not ordered or minutes < ordered[0].min:
        return None
    if method == "range":
        for row in ordered:
            if row.min <= minutes and (row.max is None or minutes <= row.max):
                return row
        top = ordered[-1]
        return top if minutes > (top.max or 0) else None  # a gap between ranges reaches nothing
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
    t = tables_or_default(tables)
    if minutes is None:
        return TimeResult(None, None, "not documented")
    table = _time_table(family, dos, t)
    if table is None:
        return TimeResult(minutes, None, how, note=f"no {family} time table in force on {dos}")
    rows = _rows_for(table.rows, patient_status, visit_kind)
    if not rows:
        return TimeResult(
            minutes,
            None,
            how,
            table=table,
            note="no time rows for this patient status / visit kind",
        )
    row = row_for_minutes(rows, minutes, table.method)
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
    for table in tables_or_default(tables).time:
        if table.effective.covers(dos):
            for row in table.rows:
                if row.code == code:
                    return time_need(row, table, " min")
    return None


# --------------------------------------------------------------------------- level -> code


def em_family(setting: str | None, tables: EmTables | None = None) -> str | None:
    """Code family of an encounter setting (office_outpatient, inpatient_observation), None when not tabled."""
    return tables_or_default(tables).mdm.families.get(setting) if setting else None


def level_codes(
    family: str,
    dos: str,
    patient_status: str | None,
    visit_kind: str | None,
    tables: EmTables | None = None,
) -> LevelCodes | None:
    for lc in tables_or_default(tables).mdm.level_codes:
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
            "elements": {e.element: {"level": e.label, "reasons": list(e.reasons)} for e in self.mdm.elements},
            "time_minutes": self.time.minutes,
            "time_how": self.time.how,
            "time_code": self.time.code,
            "time_table": self.time.table.id if self.time.table else None,
            "time_source": self.time.table.effective.source if self.time.table else None,
            "note": self.note,
            "explanation": self.explain(),
        }


def derive_em_level(encounter: Encounter, tables: EmTables | None = None) -> EmLevelResult:
    """Supported E/M code = the higher of the MDM level's code and the time level's code."""
    t = tables_or_default(tables)
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
        what = f"patient status {status}" if family == "office_outpatient" else f"visit kind {kind}"
        return empty(f"no {family} level codes in force on {dos} for {what or 'an undocumented status'}")

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


def check_billed_em(result: EmLevelResult, billed_code: str, tables: EmTables | None = None) -> EmCheck:
    """Compare a billed E/M code with what the documentation supports, saying why."""
    billed = billed_code.upper()

    def out(status: str, message: str) -> EmCheck:
        return EmCheck(status, billed, result.supported_code, message, result)

    family = result.family
    if result.note or family is None:  # no family: derive_em_level says why in the note
        return out("not_comparable", f"billed {billed}; {result.note or 'no E/M level table for this encounter'}")
    if billed == "99211" and family == "office_outpatient" and result.patient_status == "established":
        return out("supported", "billed 99211, which needs neither an MDM level nor a time")
    if billed not in result.ladder:
        other = _other_ladder(billed, result, tables_or_default(tables))
        if other:
            return out(
                "mismatch",
                f"billed {billed} is a {other} code; the record documents {_who(result, family)}",
            )
        return out(
            "not_comparable",
            f"billed {billed} is not a {family} code for {_who(result, family)}",
        )
    why = result.explain()
    if result.supported_code is None:
        return out("unsupported", f"billed {billed}; {why}")
    b, s = result.ladder.index(billed), result.ladder.index(result.supported_code)
    if b == s:
        return out("supported", f"billed {billed}; {why}")
    need = _what_billed_needs(billed, family, result, tables_or_default(tables))
    if b > s:
        return out("over", f"billed {billed}, but {why}{need}")
    return out("under", f"billed {billed}, below what the record supports: {why}")


def _who(result: EmLevelResult, family: str) -> str:
    if family == "office_outpatient":
        return (
            f"an {result.patient_status} patient"
            if result.patient_status == "established"
            else f"a {result.patient_status} patient"
        )
    return f"a {result.visit_kind} {family.replace('_', '/')} visit"


def _other_ladder(code: str, result: EmLevelResult, t: EmTables) -> str | None:
    for lc in t.mdm.level_codes:
        if lc.effective.covers(result.date_of_service) and code in lc.codes.values():
            detail = lc.patient_status or lc.visit_kind
            return f"{lc.family} {detail}-patient" if lc.patient_status else f"{lc.family} {detail}"
    return None


def _what_billed_needs(billed: str, family: str, result: EmLevelResult, t: EmTables) -> str:
    """'; 99214 needs moderate MDM or 30 min from 2024'."""
    lc = level_codes(
        family,
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


def prolonged_code_for_payer(payer_type: str, dos: str, tables: EmTables | None = None) -> ProlongedTable | None:
    """The prolonged-service table (99417 or G2212) that applies to a payer type on a date."""
    return next(
        (p for p in tables_or_default(tables).prolonged if payer_type in p.payers and p.effective.covers(dos)),
        None,
    )


def code_not_for_payer(code: str, payer_type: str, tables: EmTables | None = None) -> bool:
    """True when the payer type does not accept the code (99417 billed to Medicare)."""
    return code.upper() in tables_or_default(tables).not_for_payer.get(payer_type, frozenset())


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
        return ProlongedResult(None, 0, f"no prolonged-service table for payer type {payer_type} on {dos}")
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


def prolonged_for(result: EmLevelResult, payer_type: str, tables: EmTables | None = None) -> ProlongedResult:
    """Prolonged units the documentation supports for an E/M result (only when time alone supports level 5)."""
    time_code = result.time.code
    t = tables_or_default(tables)
    table = prolonged_code_for_payer(payer_type, result.date_of_service, t)
    if time_code is None or table is None or time_code not in table.first_unit_at:
        reason = (
            f"no prolonged service: time supports {time_code or 'no level'}, not a level-5 visit"
            if table
            else f"no prolonged-service table for payer type {payer_type} on {result.date_of_service}"
        )
        return ProlongedResult(None, 0, reason)
    return prolonged_units(time_code, result.time.minutes, payer_type, result.date_of_service, t)
