"""The cross-claim edits: one claim's lines against the patient's other claims (pure functions).

Each edit is a function of the claim, what the patient's history holds before and after it
(:class:`PatientHistory`) and the :class:`EditContext` (tables, value sets, frequency limits),
returning findings that name the other claim and line. They are Python rather than YAML rules
because they compare a line with a variable-length set of lines from other claims, which the
rule language's per-claim scopes cannot bind; each still carries its citations (:data:`RULES`),
reads table-driven values from the edition in force on the date of service, and is reported
"not checked" when its table is not loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from claimscrub.compile.findings import Finding
from claimscrub.history.limits import FrequencyLimit
from claimscrub.history.records import HistoryLine
from claimscrub.model.claim import Claim, Line

PACK = "history"
PACK_VERSION = "1"
GLOBAL_DAYS = {"010": 10, "090": 90}
NEW_PATIENT_YEARS = 3
MPFS = "mpfs_indicators"


@dataclass(frozen=True, slots=True)
class CrossRule:
    id: str
    title: str
    category: str
    severity: str
    references: tuple[str, ...]
    table: str | None = None

    @property
    def citation(self) -> str:
        return self.references[0]


_GLOBAL_REFS = (
    (
        "CMS IOM 100-04 Medicare Claims Processing Manual, Chapter 12, Sections 40.1-40.2 (global surgery: "
        "components of the package, pre- and postoperative visits, modifiers 24, 25 and 57)"
    ),
    "CMS PFS Relative Value File record layout (PPRRVU), GLOB DAYS field",
)
RULES: dict[str, CrossRule] = {
    r.id: r
    for r in (
        CrossRule(
            "CS-HIS-001",
            "E/M in the postoperative period of a procedure on another claim without modifier 24",
            "global_surgery",
            "error",
            _GLOBAL_REFS,
            "mpfs_indicators",
        ),
        CrossRule(
            "CS-HIS-002",
            "E/M on the day of, or the day before a 090-day, procedure on another claim without 25/57",
            "global_surgery",
            "error",
            _GLOBAL_REFS,
            "mpfs_indicators",
        ),
        CrossRule(
            "CS-HIS-003",
            "Procedure whose global period holds an E/M already billed on another claim",
            "global_surgery",
            "warning",
            _GLOBAL_REFS,
            "mpfs_indicators",
        ),
        CrossRule(
            "CS-HIS-004",
            "Exact duplicate of a line on another claim",
            "duplicate",
            "error",
            (
                "CMS Medicare Claims Processing Manual, Chapter 1, Section 120 (detection of duplicate claims)",
                "CMS Medicare Claims Processing Manual, Chapter 12, Section 30.6 (modifiers 76/77 for repeat services)",
            ),
        ),
        CrossRule(
            "CS-HIS-005",
            "Suspect duplicate: same code and date on another claim",
            "duplicate",
            "warning",
            ("CMS Medicare Claims Processing Manual, Chapter 1, Section 120.2 (suspect duplicates)",),
        ),
        CrossRule(
            "CS-HIS-006",
            "Units per day over the MUE counting other claims (MAI 2/3)",
            "mue",
            "error",
            (
                (
                    "CMS NCCI Policy Manual for Medicare Services, Chapter I, Section V (MUE adjudication "
                    "indicators 2 and 3: units per date of service across claims)"
                ),
                "CMS Medically Unlikely Edits page, MAI definitions",
            ),
            "mue",
        ),
        CrossRule(
            "CS-HIS-007",
            "Service over its frequency limit",
            "medical_necessity",
            "error",
            ("claimscrub frequency-limit table (each entry cites its regulation)",),
        ),
        CrossRule(
            "CS-HIS-008",
            "New-patient E/M for a patient seen within three years",
            "upcoding",
            "error",
            (
                (
                    "CMS Medicare Claims Processing Manual (IOM 100-04), Chapter 12, Section 30.6.7.A (new patient: no "
                    "professional service from the physician or another of the same specialty in the group in 3 years)"
                ),
                "AMA CPT Evaluation and Management Services Guidelines, new and established patients",
            ),
        ),
    )
}


@dataclass(frozen=True, slots=True)
class PatientHistory:
    """What the patient's other claims hold, as this claim sees them."""

    earlier: list[HistoryLine]  # recorded history, and this batch's claims ordered before this one
    later: list[HistoryLine] = field(default_factory=list)  # this batch's claims ordered after it
    stored_claims: frozenset[str] = frozenset()  # claim ids that came from the store (an earlier run)

    @property
    def every(self) -> list[HistoryLine]:
        return self.earlier + self.later


@dataclass(frozen=True, slots=True)
class EditContext:
    tables: object  # claimscrub.refdata.tables.TableSet
    em_codes: frozenset[str]
    new_patient_codes: frozenset[str]
    repeat_modifiers: frozenset[str]
    limits: tuple[FrequencyLimit, ...] = ()
    _rows: dict[tuple[str, str, str], dict | None] = field(default_factory=dict)  # one batch's lookups
    _by_code: dict[str, list[FrequencyLimit]] = field(default_factory=dict)

    @property
    def limits_by_code(self) -> dict[str, list[FrequencyLimit]]:
        if not self._by_code and self.limits:
            for limit in self.limits:
                for code in limit.codes:
                    self._by_code.setdefault(code, []).append(limit)
        return self._by_code

    def lookup(self, table: str, code: str, dos: str) -> dict | None:
        key = (table, code, dos)
        if key not in self._rows:
            self._rows[key] = self.tables.lookup(table, (code,), dos)  # type: ignore[attr-defined]
        return self._rows[key]

    def edition(self, table: str, dos: str) -> str | None:
        return self.tables.edition(table, dos)  # type: ignore[attr-defined]


def _days(a: str, b: str) -> int:
    return (date.fromisoformat(b) - date.fromisoformat(a)).days


def _finding(
    rule_id: str,
    claim: Claim,
    line: Line,
    message: str,
    fix: str,
    ctx: EditContext,
    row: dict | None = None,
    table: str = "",
    dos: str = "",
) -> Finding:
    """A finding; ``row`` is the table row that fired, read from ``table`` on ``dos`` (its edition is named)."""
    rule = RULES[rule_id]
    return Finding(
        rule_id=rule.id,
        category=rule.category,
        severity=rule.severity,
        claim_id=claim.claim_id,
        line=line.sequence,
        message=message,
        fix=fix,
        title=rule.title,
        citation=rule.citation,
        references=[{"source": s} for s in rule.references],
        rule_pack=PACK,
        pack_version=PACK_VERSION,
        data_edition=ctx.edition(table, dos) if row else None,
        table_row=row,
    )


def _npi(claim: Claim, line: Line) -> str:
    return line.rendering_npi or (claim.rendering_provider or claim.billing_provider).npi


def _specialty(claim: Claim) -> str | None:
    r, b = claim.rendering_provider, claim.billing_provider
    return (r.specialty or r.taxonomy if r else None) or b.specialty or b.taxonomy


def _same_physician(claim: Claim, line: Line, other: HistoryLine) -> bool:
    """Same physician, or the same group (billing NPI) and the same specialty (IOM 100-04, 12, 30.6.7)."""
    if other.provider_npi == _npi(claim, line):
        return True
    specialty = _specialty(claim)
    return (
        specialty is not None
        and other.billing_npi == claim.billing_provider.npi
        and (other.specialty or other.taxonomy) == specialty
    )


def _where(h: HistoryLine) -> str:
    return f"claim {h.claim_id} line {h.sequence}"


def _global_days(ctx: EditContext, code: str, dos: str) -> tuple[str | None, dict | None]:
    row = ctx.lookup(MPFS, code, dos)
    return (str(row.get("global_days")) if row else None), row


def global_surgery(claim: Claim, history: PatientHistory, ctx: EditContext) -> list[Finding]:
    """CS-HIS-001/002: an E/M inside the global period of a procedure billed on another claim."""
    if claim.type != "professional":
        return []
    out = []
    for line in claim.lines:
        if line.code not in ctx.em_codes:
            continue
        mods = set(line.modifiers)
        for proc in sorted(history.every, key=lambda h: (h.from_date, h.claim_id, h.sequence)):
            if proc.code in ctx.em_codes or proc.claim_type != "professional" or not _same_physician(claim, line, proc):
                continue
            gap = _days(proc.from_date, line.from_date)
            if not -1 <= gap <= 90:
                continue
            days, row = _global_days(ctx, proc.code, proc.from_date)
            if gap >= 1 and days in GLOBAL_DAYS and gap <= GLOBAL_DAYS[days] and "24" not in mods:
                out.append(
                    _finding(
                        "CS-HIS-001",
                        claim,
                        line,
                        f"Line {line.sequence}: E/M {line.code} on {line.from_date} is {gap} day(s) after {proc.code} "
                        f"({_where(proc)}, global period {days} days) by the same physician, without modifier 24.",
                        f"If the visit was unrelated to {proc.code}, add modifier 24 with a diagnosis that shows it; "
                        "routine postoperative care is part of the surgical package.",
                        ctx,
                        row,
                        MPFS,
                        proc.from_date,
                    )
                )
                break
            same_day_bad = (
                gap == 0
                and days in ("000", "010", "090")
                and not (mods & {"25", "57"} if days == "090" else mods & {"25"})
            )
            day_before_bad = gap == -1 and days == "090" and "57" not in mods
            if same_day_bad or day_before_bad:
                need = "57" if gap == -1 else ("25 or 57" if days == "090" else "25")
                out.append(
                    _finding(
                        "CS-HIS-002",
                        claim,
                        line,
                        f"Line {line.sequence}: E/M {line.code} on {line.from_date} is "
                        f"{'the day before' if gap == -1 else 'on the day of'} {proc.code} ({_where(proc)}, "
                        f"global period {days} days) by the same physician, without modifier {need}.",
                        f"If this visit was the decision to operate (57) or a significant, separately identifiable "
                        f"service (25, same day), add the modifier; otherwise it is part of the package of {proc.code}.",
                        ctx,
                        row,
                        MPFS,
                        proc.from_date,
                    )
                )
                break
    return out


def global_surgery_reverse(claim: Claim, history: PatientHistory, ctx: EditContext) -> list[Finding]:
    """CS-HIS-003: a procedure arriving after E/M claims (from an earlier run) that fall in its global period."""
    visits = [h for h in history.every if h.claim_id in history.stored_claims and h.code in ctx.em_codes]
    if claim.type != "professional" or not visits:
        return []
    out = []
    for line in claim.lines:
        if line.code in ctx.em_codes:
            continue
        days, row = _global_days(ctx, line.code, line.from_date)
        if days not in GLOBAL_DAYS:
            continue
        for em in visits:
            gap = _days(line.from_date, em.from_date)
            mods = set(em.modifiers)
            inside = (1 <= gap <= GLOBAL_DAYS[days] and "24" not in mods) or (
                gap == -1 and days == "090" and "57" not in mods
            )
            if inside and _same_physician(claim, line, em):
                out.append(
                    _finding(
                        "CS-HIS-003",
                        claim,
                        line,
                        f"Line {line.sequence}: {line.code} on {line.from_date} (global period {days} days) has E/M "
                        f"{em.code} on {em.from_date} ({_where(em)}) by the same physician inside its global period.",
                        f"Review {_where(em)}: a visit in the package of {line.code} is not paid separately "
                        "(refund or correct it) unless 24/57 applies.",
                        ctx,
                        row,
                        MPFS,
                        line.from_date,
                    )
                )
                break
    return out


def duplicates(claim: Claim, history: PatientHistory, ctx: EditContext) -> list[Finding]:
    """CS-HIS-004 (exact) / CS-HIS-005 (suspect): the same code on the same date on an earlier claim."""
    out = []
    for line in claim.lines:
        if set(line.modifiers) & ctx.repeat_modifiers:
            continue
        exact = suspect = None
        for h in history.earlier:
            if h.code != line.code or h.from_date != line.from_date:
                continue
            if h.ndc and line.ndc and h.ndc != line.ndc:
                continue  # the same drug code for different drugs
            if (
                h.provider_npi == _npi(claim, line)
                and h.modifier_set == frozenset(line.modifiers)
                and h.units == Decimal(line.units)
                and h.to_date == line.to_date
            ):
                exact = h
                break
            suspect = suspect or h
        if exact:
            out.append(
                _finding(
                    "CS-HIS-004",
                    claim,
                    line,
                    f"Line {line.sequence}: {line.code} on {line.from_date} duplicates {_where(exact)} (same provider, "
                    "modifiers and units).",
                    "Do not resubmit a claim already sent: send a replacement (frequency 7) naming it, or add 76/77/91 "
                    "when the service really was repeated.",
                    ctx,
                )
            )
        elif suspect:
            out.append(
                _finding(
                    "CS-HIS-005",
                    claim,
                    line,
                    f"Line {line.sequence}: {line.code} on {line.from_date} was also billed on {_where(suspect)} "
                    f"(provider, modifiers or units differ).",
                    "Confirm the service was furnished twice (then add 76/77/91 or a distinguishing modifier); "
                    "otherwise remove one.",
                    ctx,
                )
            )
    return out


def mue_per_day(claim: Claim, history: PatientHistory, ctx: EditContext) -> list[Finding]:
    """CS-HIS-006: MAI 2/3 units on the date summed with earlier claims (this claim alone within the MUE)."""
    table = "mue_practitioner" if claim.type == "professional" else "mue_hospital"
    out = []
    seen: set[tuple[str, str]] = set()
    for line in claim.lines:
        key = (line.code, line.from_date)
        if key in seen:
            continue
        seen.add(key)
        prior = [
            h
            for h in history.earlier
            if (h.code, h.from_date) == key
            and h.claim_type == claim.type
            and (h.billing_npi == claim.billing_provider.npi or h.provider_npi == _npi(claim, line))
        ]
        row = ctx.lookup(table, line.code, line.from_date) if prior else None
        if not row or int(row.get("mai") or 0) not in (2, 3):
            continue
        limit = Decimal(str(row["mue_units"]))
        own = sum((Decimal(x.units) for x in claim.lines if (x.code, x.from_date) == key), Decimal(0))
        total = own + sum((h.units for h in prior), Decimal(0))
        if own <= limit < total:
            others = ", ".join(f"{_where(h)} ({h.units})" for h in prior)
            out.append(
                _finding(
                    "CS-HIS-006",
                    claim,
                    line,
                    f"{line.code} on {line.from_date}: {own} unit(s) here and {total - own} on {others}: {total} in the "
                    f"day; the MUE is {limit} per day (MAI {row['mai']}).",
                    f"Bill no more than {limit} units of {line.code} for the date across claims; an MAI 3 denial can be "
                    "appealed with documentation of medical necessity.",
                    ctx,
                    row,
                    table,
                    line.from_date,
                )
            )
    return out


def frequency_limits(claim: Claim, history: PatientHistory, ctx: EditContext) -> list[Finding]:
    """CS-HIS-007: a service over the number its limit allows (earlier services in the period)."""
    out = []
    for line in claim.lines:
        for limit in ctx.limits_by_code.get(line.code, ()):
            if not limit.applies(line.code, claim.payer.type):
                continue
            prior: list[HistoryLine | Line] = [
                h for h in history.earlier if h.code in limit.codes and limit.counts(h.from_date, line.from_date)
            ]
            prior += [x for x in claim.lines if x.sequence < line.sequence and x.code in limit.codes]  # same claim
            if len(prior) >= limit.limit:
                last = prior[0]
                where = _where(last) if isinstance(last, HistoryLine) else f"line {last.sequence} of this claim"
                out.append(
                    _finding(
                        "CS-HIS-007",
                        claim,
                        line,
                        f"Line {line.sequence}: {line.code} on {line.from_date} is over its limit ({limit.describe()}); "
                        f"already billed on {where} ({last.from_date}).",
                        f"Confirm the earlier service; the limit comes from {limit.source}.",
                        ctx,
                    )
                )
                break
    return out


def new_patient(claim: Claim, history: PatientHistory, ctx: EditContext) -> list[Finding]:
    """CS-HIS-008: a new-patient E/M when a professional service by the same physician/group+specialty is in 3 years."""
    out = []
    for line in claim.lines:
        if line.code not in ctx.new_patient_codes:
            continue
        start = line.from_date
        floor = f"{int(start[:4]) - NEW_PATIENT_YEARS}{start[4:]}"
        for h in sorted(history.earlier, key=lambda h: h.from_date, reverse=True):
            if floor < h.from_date < start and h.claim_type == "professional" and _same_physician(claim, line, h):
                out.append(
                    _finding(
                        "CS-HIS-008",
                        claim,
                        line,
                        f"Line {line.sequence}: new-patient {line.code}, but {_where(h)} shows {h.code} on {h.from_date} "
                        "by the same physician or group and specialty, within three years.",
                        "Bill the established-patient code of the level the record supports.",
                        ctx,
                    )
                )
                break
    return out


EDITS: tuple[Callable[[Claim, PatientHistory, EditContext], list[Finding]], ...] = (
    global_surgery,
    global_surgery_reverse,
    duplicates,
    mue_per_day,
    frequency_limits,
    new_patient,
)


def not_checked(ctx: EditContext) -> list[dict]:
    """Cross-claim rules whose table is not loaded: reported "not checked", never passed."""
    loaded = getattr(ctx.tables, "loaded", lambda _t: True)
    out = []
    for rule in RULES.values():
        if rule.table == "mpfs_indicators" and not loaded("mpfs_indicators"):
            out.append({"rule_id": rule.id, "reason": "table mpfs_indicators is not loaded"})
        elif rule.table == "mue" and not (loaded("mue_practitioner") or loaded("mue_hospital")):
            out.append({"rule_id": rule.id, "reason": "no MUE table is loaded"})
    return out
