"""X12 837 5010 reader: professional (005010X222A1) and institutional (005010X223A2/A3).

A single pass over the segments with a small loop-aware state machine (2000A
billing provider, 2000B subscriber, 2000C patient, 2300 claim, 2320 other
subscriber, 2400 service line). Payments are read only where the 837 states
them: what prior payers paid (2320 AMT*D, 2430 SVD02, each summed over the
other payers) becomes ``paid_amount`` of the claim and of the line. It is ~30x faster than a generic X12 parser
because it only looks at the segments the native claim needs, and it reads
each claim on its own.

Problems are graded. A *fatal* one means the claim cannot be built (no CLM, no
readable service line, an unreadable date, no billing NPI): the claim becomes an
:class:`InputItem` with the segment number and element of the problem, and the
file goes on. A *conformance* problem is one the reader can read past (a wrong
SE01 count, a malformed taxonomy, an ICD-9 qualifier, a composite the ISA16
separator cannot split): the claim is read without the bad value and the
problem rides on the item as a :class:`Note` (rule ids CS-X12-001..004), which
the scrubber reports as a finding. Envelope problems are only known at the
trailer, so items are held until their interchange closes.

Error text never carries PHI: it names segments, elements, qualifiers and
claim ids (CLM01), never names, member ids or birth dates.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from claimscrub.inputs.base import InputItem, Note
from claimscrub.inputs.x12seg import DROPPED, Delimiters, EnvelopeWalker, is_x12, read_delimiters, tokenize
from claimscrub.inputs.x12seg import Bad as _Bad
from claimscrub.inputs.x12seg import d8 as _d8
from claimscrub.inputs.x12seg import el as _el
from claimscrub.inputs.x12seg import money as _money
from claimscrub.inputs.x12seg import period as _period
from claimscrub.inputs.x12seg import quantity as _quantity
from claimscrub.inputs.x12seg import shown as _shown

__all__ = ["Delimiters", "is_x12", "read_delimiters", "read_x12"]

PROFESSIONAL = "professional"
INSTITUTIONAL = "institutional"

# SBR09 claim filing indicator -> native payer type. 12-17 are the managed-care
# plan kinds (PPO, POS, EPO, indemnity, Medicare-risk HMO, DMO): private plans.
_PAYER_TYPES = {"MA": "medicare", "MB": "medicare", "MC": "medicaid"}
_COMMERCIAL = {"CI", "BL", "HM", "12", "13", "14", "15", "16", "17"}

# CLM05-3 claim frequency type code. Institutional interim / late-charge bills
# (0, 2-6, ...) are first submissions for scrubbing purposes: "original".
_FREQUENCIES = {"1": "original", "7": "replacement", "8": "void"}

# HI qualifiers that carry diagnoses, and whether they hold the principal one.
# ABJ (admitting) and APR (patient reason for visit) are not claim diagnoses
# (UB-04 FL 69/70, outside FL 67) and have no place in the native list.
_PRINCIPAL = {"ABK", "BK"}
_OTHER = {"ABF", "BF", "ABN", "BN"}
_ICD9 = {"BK", "BF", "BN"}
_NOT_DIAGNOSES = {"ABJ", "BJ", "APR", "PR"}
_POA = {"Y", "N", "U", "W", "1"}

_ICD10 = re.compile(r"[A-Z][0-9][0-9A-Z][0-9A-Z]{0,4}")
_PROC = re.compile(r"[0-9A-Za-z]{1,48}")  # SV101-2 / SV202-2: a 5-character code is checked by CS-CODE-006
_MOD = re.compile(r"[0-9A-Za-z]{2}")
_NPI = re.compile(r"[0-9]{10}")
_TAXONOMY = re.compile(r"[0-9A-Z]{9}X")
_POS = re.compile(r"[0-9]{2}")
_REVENUE = re.compile(r"[0-9]{4}")
_KNOWN_IDS = frozenset(
    [
        "ISA",
        "IEA",
        "GS",
        "GE",
        "ST",
        "SE",
        "BHT",
        "HL",
        "PRV",
        "NM1",
        "N3",
        "N4",
        "REF",
        "PER",
        "SBR",
        "PAT",
        "DMG",
        "CLM",
        "DTP",
        "CL1",
        "PWK",
        "CN1",
        "AMT",
        "K3",
        "NTE",
        "CR1",
        "CR2",
        "CRC",
        "HI",
        "HCP",
        "OI",
        "MOA",
        "CAS",
        "LX",
        "SV1",
        "SV2",
        "SV5",
        "LIN",
        "CTP",
        "QTY",
        "MEA",
        "PS1",
        "SVD",
        "LQ",
        "FRM",
    ]
)
# Likely component separators, to name the one a file really uses when it is not ISA16's.
_SEPARATOR_CHARS = frozenset(">:^|\\!<{}+~`")

# ICD-10-CM replaced ICD-9-CM for dates of service from this day (45 CFR 162.1002).
ICD10_FROM = "2015-10-01"

_KEPT_AS_GIVEN = "its code is kept as given"
_TR3 = "ASC X12 005010X222A1 (837P) / 005010X223A2 (837I) TR3"
ENVELOPE = "CS-X12-001"
ICD9 = "CS-X12-003"
COMPOSITE = "CS-X12-004"
# rule id -> (category, title, fix, citation): stable, documented in the README's X12 section.
NOTE_RULES: dict[str, tuple[str, str, str, str]] = {
    ENVELOPE: (
        "claim_integrity",
        "X12 envelope does not match its contents",
        (
            "Have the software that writes the file recount the segments (SE01), transaction sets (GE01) and "
            "functional groups (IEA01), repeat the control numbers in the trailers, and close every envelope; "
            "a clearinghouse rejects the whole transaction set otherwise."
        ),
        f"{_TR3}: SE Transaction Set Trailer (SE01, SE02); Appendix B EDI Control Directory (GE, IEA)",
    ),
    DROPPED: (
        "claim_integrity",
        "Invalid X12 element value dropped",
        "Correct the element named in the message; until then the claim was scrubbed without it.",
        f"{_TR3}: segment and element notes",
    ),
    ICD9: (
        "code_validity",
        "ICD-9-CM diagnosis qualifier",
        "Code the diagnoses in ICD-10-CM with qualifiers ABK (principal) and ABF (other).",
        f"{_TR3}: 2300 HI Health Care Diagnosis Code (ABK/ABF); 45 CFR 162.1002 (ICD-10-CM from 2015-10-01)",
    ),
    COMPOSITE: (
        "claim_integrity",
        "Composite unreadable with the ISA16 component separator",
        (
            "Separate the components of composite elements with the character ISA16 declares (or declare the "
            "one the file uses in ISA16)."
        ),
        f"{_TR3}: Appendix A ASC X12 Nomenclature, Delimiters; ISA16 Component Element Separator",
    ),
}


def make_note(
    rule_id: str,
    message: str,
    *,
    severity: str = "error",
    line: int | None = None,
    field: str | None = None,
    fix: str | None = None,
) -> Note:
    """A conformance note with its rule's category, title, fix and citation."""
    category, title, default_fix, citation = NOTE_RULES[rule_id]
    return Note(rule_id, category, severity, title, message, fix or default_fix, citation, line, field)


def _other_separator(value: str, comp: str) -> str | None:
    """The separator-like character a composite holds instead of ISA16's, if any."""
    return next((c for c in value if c in _SEPARATOR_CHARS and c != comp), None)


def _a_diagnosis(parts: list[str]) -> bool:
    """Qualifier and code of a diagnosis composite (HInn-1 a diagnosis qualifier, HInn-2 the code)."""
    return len(parts) == 2 and (parts[0] in _PRINCIPAL or parts[0] in _OTHER)


def _read_with_other(value: str, comp: str, expected: Callable[[list[str]], bool]) -> tuple[list[str], str] | None:
    """A composite ISA16 cannot split ("HC>98940" under ':') whose other separator-like character gives
    the parts expected there (a known qualifier first): unambiguous, so it is read, and reported by the
    caller. None when ISA16 splits it or the other reading is not what the element holds."""
    if comp in value:
        return None
    other = _other_separator(value, comp)
    if other is None:
        return None
    parts = value.split(other)
    return (parts, other) if expected(parts) else None


def _seems_to_use(value: str, comp: str) -> str:
    """' (it seems to use '>')' when a composite holds another separator-like character."""
    other = _other_separator(value, comp)
    return f" (it seems to use {other!r})" if other else ""


# ---------------------------------------------------------------- drafts
@dataclass(slots=True)
class _Party:
    """What 2000A/2000B/2000C say about one provider or person, errors included."""

    data: dict[str, Any] = field(default_factory=dict)
    problems: list[tuple[str | None, str]] = field(default_factory=list)
    demographics: list[tuple[str | None, str]] = field(default_factory=list)  # DMG: only when this is the patient
    notes: list[Note] = field(default_factory=list)  # read past; copied into each claim below this party
    demographic_notes: list[Note] = field(default_factory=list)


@dataclass(slots=True)
class _LineDraft:
    seg_no: int
    sequence: int
    data: dict[str, Any] = field(default_factory=dict)
    has_service: bool = False
    has_date: bool = False
    dropped: str | None = None  # why the line cannot be scrubbed (a value it cannot stand without)
    pointers: list[int] = field(default_factory=list)  # SV107 as written: HI slots, mapped at finish


@dataclass(slots=True)
class _ClaimDraft:
    seg_no: int
    claim_id: str | None
    data: dict[str, Any]
    problems: list[tuple[str | None, str]] = field(default_factory=list)
    lines: list[_LineDraft] = field(default_factory=list)
    statement: tuple[str, str] | None = None
    discharged: bool = False
    frequency_code: str = ""
    frequency_seg: int = 0
    rendering_seen: bool = False
    notes: list[Note] = field(default_factory=list)
    slots: list[int | None] = field(default_factory=list)  # HI diagnosis slot -> index in diagnoses, None = dropped
    first_seg: int = 0  # segment of the first HI diagnosis, for the principal-dropped note


def _amounts(line: dict, seg: list[str], n: int, tag: str, at: int, bases: tuple[str, str], index: int) -> None:
    """A service line's charge, unit basis and units: elements ``at`` to ``at + 2`` of SV1 or SV2."""
    e1, e2, e3 = (f"{tag}{at + i:02d}" for i in range(3))
    line["charge"] = _money(_el(seg, at), f"segment {n} ({tag}): {e1}", f"lines[{index}].charge")
    basis = _el(seg, at + 1)
    if basis not in bases:
        raise _Bad(
            f"lines[{index}].units",
            f"segment {n} ({tag}): {e2} unit basis {_shown(basis)} is not {bases[0]} or {bases[1]}",
        )
    line["units"] = _units(_el(seg, at + 2), f"segment {n} ({tag}): {e3}", f"lines[{index}].units")


class _Walker(EnvelopeWalker):
    """837 loops over the shared envelope walker; yields items as claims close."""

    def __init__(self, source: str, delims: Delimiters):
        super().__init__(source, delims)
        self.claim_type: str | None = None
        self.claim_date: str | None = None
        # loops
        self.billing = _Party()
        self.subscriber = _Party()
        self.patient: _Party | None = None
        self.payer: dict[str, Any] = {"type": "other"}
        self.person: _Party | None = None  # whom a DMG describes
        self.last_nm1 = ""
        self.claim: _ClaimDraft | None = None
        self.line: _LineDraft | None = None

    def envelope_defect(self, message: str) -> Note:
        return make_note(ENVELOPE, message)

    def note(self, note: Note) -> None:
        """A conformance problem read past: on the claim, its party, or the transaction set."""
        if self.claim is not None:
            self.claim.notes.append(note)
        elif self.loop in ("2000A", "2000B", "2000C"):
            party = {"2000A": self.billing, "2000B": self.subscriber}.get(self.loop) or self.patient
            (party or self.subscriber).notes.append(note)
        else:
            self.st_notes.append(note)

    def close_claim(self) -> None:
        draft = self.claim
        if draft is None:
            return
        self.claim = None
        self.line = None
        source = f"{self.source}:seg {draft.seg_no}"
        if not draft.problems:
            try:
                data = self.finish(draft)
            except _Bad as bad:
                draft.problems.append((bad.field, bad.message))
        if draft.problems:
            messages = [m for _, m in draft.problems]
            first_field = next((f for f, _ in draft.problems if f), None)
            text = "; ".join(messages[:5]) + (f"; and {len(messages) - 5} more" if len(messages) > 5 else "")
            self.hold(InputItem.failed(source, draft.claim_id, text, first_field))
        else:
            self.hold(InputItem(source=source, claim_id=draft.claim_id, data=data, notes=tuple(draft.notes)))

    def finish(self, draft: _ClaimDraft) -> dict[str, Any]:
        """Close the claim: every check the claim schema and normaliser would make."""
        data = draft.data
        if not draft.lines:
            raise _Bad("lines", f"segment {draft.seg_no} (CLM): claim has no service lines (2400 LX with SV1/SV2)")
        if draft.slots and draft.slots[0] is None and data["diagnoses"]:
            kept = len(data["diagnoses"])
            data["diagnoses"] = []
            draft.slots = [None] * len(draft.slots)
            draft.notes = [
                make_note(ICD9, note.message.replace(_KEPT_AS_GIVEN, "it is dropped with the principal one"),
                          field=note.field) if note.rule_id == ICD9 else note
                for note in draft.notes
            ]  # fmt: skip
            draft.notes.append(
                make_note(
                    DROPPED,
                    f"segment {draft.first_seg} (HI): the principal diagnosis is dropped, so the {kept} other "
                    f"diagnosis code(s) are dropped too (the first of them would be read as the principal one)",
                    field="diagnoses",
                )
            )
        renumbered = any(slot != i for i, slot in enumerate(draft.slots))
        lines = []
        dropped = []
        for i, line in enumerate(draft.lines):
            where = f"segment {line.seg_no} (LX)"
            if not line.has_service:
                service = "SV2" if data["type"] == INSTITUTIONAL else "SV1"
                raise _Bad(f"lines[{i}]", f"{where}: service line {line.sequence} has no {service} segment")
            if line.dropped is not None:
                dropped.append(line.dropped)
                continue
            if not line.has_date:
                if draft.statement is None:
                    raise _Bad(
                        f"lines[{i}].from_date",
                        f"{where}: service line {line.sequence} has no service date (DTP*472)",
                    )
                line.data["from_date"], line.data["to_date"] = draft.statement
            if line.pointers:
                pointers = _mapped(line.pointers, draft.slots) if renumbered else line.pointers
                if pointers:
                    line.data["diagnosis_pointers"] = pointers
            lines.append(line.data)
        if not lines:
            more = f"; and {len(dropped) - 1} more" if len(dropped) > 1 else ""
            raise _Bad("lines", f"segment {draft.seg_no} (CLM): no service line can be read: {dropped[0]}{more}")
        seqs = [line.sequence for line in draft.lines]
        if len(set(seqs)) != len(seqs):
            dup = next(s for s in seqs if seqs.count(s) > 1)
            raise _Bad("lines[].sequence", f"segment {draft.seg_no} (CLM): LX01 line number {dup} appears twice")
        if len(lines) > 999:
            raise _Bad("lines", f"segment {draft.seg_no} (CLM): more than 999 service lines")
        data["lines"] = lines
        if len(data["diagnoses"]) > 25:
            raise _Bad("diagnoses", f"segment {draft.seg_no} (CLM): more than 25 diagnosis codes")
        if data["frequency"] != "original" and not data.get("replaces_claim_id"):
            raise _Bad(
                "replaces_claim_id",
                f"segment {draft.frequency_seg} (CLM): CLM05-3 frequency {draft.frequency_code} "
                f"({data['frequency']}) needs REF*F8 with the payer claim control number it replaces",
            )
        if draft.discharged and draft.statement is not None and "discharge_date" not in data:
            # DTP*096 carries only the discharge hour; the day is the statement-through date.
            data["discharge_date"] = draft.statement[1]
        self.date_icd9(draft, lines)
        return data

    def date_icd9(self, draft: _ClaimDraft, lines: list[dict[str, Any]]) -> None:
        """ICD-9 notes say whether ICD-10-CM was required: only known once the service dates are."""
        if not any(note.rule_id == ICD9 for note in draft.notes):
            return
        latest = max(line["to_date"] for line in lines)
        after = latest >= ICD10_FROM
        for i, note in enumerate(draft.notes):
            if note.rule_id != ICD9:
                continue
            if after:
                text = note.message.replace("{when}", f"dates of service after {ICD10_FROM}: ICD-10-CM is required")
                draft.notes[i] = make_note(ICD9, text, field=note.field)
            else:
                text = note.message.replace(
                    "{when}", f"dates of service before {ICD10_FROM}: claimscrub checks ICD-10-CM codes only"
                )
                draft.notes[i] = make_note(
                    ICD9, text, severity="warning", field=note.field,
                    fix="Nothing to correct for these dates of service; check the ICD-9-CM codes by other means.",
                )  # fmt: skip

    # ------------------------------------------------------------ driver
    def segment_handlers(self) -> dict[str, Callable[[int, list[str]], None]]:
        return {
            "BHT": self.bht, "HL": self.hl, "PRV": self.prv, "NM1": self.nm1, "SBR": self.sbr, "DMG": self.dmg,
            "CLM": self.clm, "DTP": self.dtp, "REF": self.ref, "HI": self.hi, "LX": self.lx, "SV1": self.sv1,
            "SV2": self.sv2, "LIN": self.lin, "AMT": self.amt, "SVD": self.svd,
        }  # fmt: skip

    def problem(self, n: int, bad: _Bad) -> None:
        """Attach a problem to the claim it belongs to, or report it on its own."""
        if self.claim is not None:
            self.claim.problems.append((bad.field, bad.message))
        elif self.loop in ("2000A", "2000B", "2000C"):
            party = {"2000A": self.billing, "2000B": self.subscriber}.get(self.loop) or self.patient
            (party or self.subscriber).problems.append((bad.field, bad.message))
        else:
            self.envelope_error(n, bad.message)

    def unreadable(self, n: int, text: str) -> None:
        """A segment whose id is not an X12 id: usually a wrong element separator."""
        looks_like = text[:3] if text[:3] in _KNOWN_IDS else text[:2] if text[:2] in _KNOWN_IDS else None
        message = (
            f"segment {n}: cannot read the segment id{f' (looks like {looks_like})' if looks_like else ''}; "
            f"is the element separator {self.elem!r} from the ISA used throughout?"
        )
        if looks_like == "CLM" and self.st_ok:
            self.close_claim()
            # CLM01 still follows whatever separator was used, so the claim keeps its id
            claim_id = text[4:].split(text[3])[0] if len(text) > 4 and not text[3].isalnum() else ""
            self.claim = _ClaimDraft(seg_no=n, claim_id=claim_id or None, data={}, problems=[(None, message)])
            self.loop = "skip"
            return
        if self.claim is None and self.loop in ("2000B", "2000C") and looks_like in ("LX", "SV1", "SV2", "HI"):
            self.orphan(n, message)
            return
        self.problem(n, _Bad(None, message))

    def orphan(self, n: int, message: str) -> None:
        """Claim segments with no CLM before them: reported once, as a claim without an id."""
        self.claim = _ClaimDraft(seg_no=n, claim_id=None, data={}, problems=[(None, message)])
        self.line = None
        self.loop = "skip"

    # ------------------------------------------------------------ envelope
    def transaction(self, n: int, seg: list[str], version: str) -> None:
        self.billing, self.subscriber, self.patient = _Party(), _Party(), None
        self.claim_date = None
        self.claim_type = _claim_type(version)
        self.st_ok = _el(seg, 1) == "837" and self.claim_type is not None
        if _el(seg, 1) != "837":
            self.envelope_error(
                n, f"segment {n} (ST): transaction set {_shown(_el(seg, 1))} is not an 837 claim; skipped"
            )
        elif self.claim_type is None:
            self.envelope_error(
                n,
                f"segment {n} (ST): implementation {version!r} is not 005010X222 (professional) "
                "or 005010X223 (institutional); its claims are not read",
            )

    def bht(self, n: int, seg: list[str]) -> None:
        raw = _el(seg, 4)
        self.claim_date = None
        if raw:
            try:
                self.claim_date = _d8(raw, f"segment {n} (BHT): BHT04", "claim_date")
            except _Bad as bad:
                self.st_notes.append(
                    make_note(DROPPED, f"{bad.message}; the claims are read without a claim date", field="claim_date")
                )

    # ------------------------------------------------------------ 2000A/B/C
    def hl(self, n: int, seg: list[str]) -> None:
        self.close_claim()
        level = _el(seg, 3)
        self.last_nm1 = ""
        if level == "20":
            self.loop = "2000A"
            self.billing, self.subscriber, self.patient = _Party(), _Party(), None
            self.person = None
        elif level == "22":
            self.loop = "2000B"
            self.subscriber, self.patient = _Party(), None
            self.payer = {"type": "other"}
            self.person = None
        elif level == "23":
            self.loop = "2000C"
            self.patient = _Party()
            self.person = None
        else:
            self.loop = "unknown"
            raise _Bad(None, f"segment {n} (HL): HL03 level code {_shown(level)} is not 20, 22 or 23")

    def prv(self, n: int, seg: list[str]) -> None:
        if self.loop == "2000A" and _el(seg, 1) == "BI":
            provider, field_name = self.billing.data, "billing_provider.taxonomy"
        elif self.loop == "2300" and self.last_nm1 == "82" and self.claim is not None:
            provider, field_name = self.claim.data.get("rendering_provider"), "rendering_provider.taxonomy"
            if provider is None:
                return
        else:
            return
        taxonomy = _el(seg, 3)
        if _TAXONOMY.fullmatch(taxonomy):
            provider["taxonomy"] = taxonomy
        else:
            self.note(
                make_note(
                    DROPPED,
                    f"segment {n} (PRV): PRV03 taxonomy code must be 9 letters or digits then X "
                    "(NUCC Health Care Provider Taxonomy); it is dropped from the claim",
                    field=field_name,
                )
            )

    def nm1(self, n: int, seg: list[str]) -> None:
        entity = _el(seg, 1)
        self.last_nm1 = entity
        loop = self.loop
        if loop == "2400":
            if entity == "82" and self.line is not None:
                npi = self.rendering_npi(n, seg, f"lines[{len(self.claim.lines) - 1}].rendering_npi", self.line)
                if npi:
                    self.line.data["rendering_npi"] = npi
            return
        if loop == "2300":
            if entity == "82":
                npi = self.rendering_npi(n, seg, "rendering_provider.npi", None)
                if npi:
                    self.claim.data["rendering_provider"] = _provider(npi, seg)
            return
        if loop == "2000A" and entity == "85":
            npi = _npi(seg, n, "billing_provider.npi")
            if npi:
                self.billing.data.update(_provider(npi, seg))
            else:
                self.billing.problems.append(
                    ("billing_provider.npi", f"segment {n} (NM1*85): billing provider has no NPI (NM108 XX, NM109)")
                )
        elif loop == "2000B":
            if entity == "IL":
                self.person = self.subscriber
                if _el(seg, 9):
                    self.subscriber.data["id"] = _el(seg, 9)
            elif entity == "PR":
                self.person = None
                name, payer_id = _el(seg, 3), _el(seg, 9)
                if name:
                    self.payer["name"] = name
                if payer_id:
                    self.payer["id"] = payer_id
        elif loop == "2000C" and entity == "QC":
            self.person = self.patient
            if _el(seg, 9):
                self.patient.data["id"] = _el(seg, 9)

    def rendering_npi(self, n: int, seg: list[str], field_name: str, line: _LineDraft | None) -> str | None:
        """A rendering NPI, or None with a note: the claim can be scrubbed without it."""
        try:
            return _npi(seg, n, field_name)
        except _Bad as bad:
            self.note(
                make_note(
                    DROPPED, f"{bad.message}; the rendering provider is dropped from the "
                    + (f"service line {line.sequence}" if line else "claim"),
                    line=line.sequence if line else None, field=field_name,
                )
            )  # fmt: skip
            return None

    def sbr(self, n: int, seg: list[str]) -> None:
        if self.loop == "2000B":
            filing = _el(seg, 9)
            self.payer["type"] = _PAYER_TYPES.get(filing) or ("commercial" if filing in _COMMERCIAL else "other")
        elif self.loop == "2300":
            self.loop = "2320"  # other subscriber information: nothing the native claim holds

    def dmg(self, n: int, seg: list[str]) -> None:
        person = self.person
        if person is None or self.loop not in ("2000B", "2000C"):
            return
        field_prefix = "patient"
        if _el(seg, 1) == "D8" and _el(seg, 2):
            try:
                person.data["birth_date"] = _d8(
                    _el(seg, 2), f"segment {n} (DMG): DMG02 birth date", f"{field_prefix}.birth_date"
                )
            except _Bad as bad:
                person.demographics.append((bad.field, bad.message))
        elif _el(seg, 2):
            person.demographics.append(
                (f"{field_prefix}.birth_date", f"segment {n} (DMG): DMG01 date format must be D8")
            )
        sex = _el(seg, 3)
        if sex in ("M", "F", "U"):
            person.data["sex"] = sex
        elif sex:
            person.demographic_notes.append(
                make_note(
                    DROPPED, f"segment {n} (DMG): DMG03 sex code is not M, F or U; it is dropped from the claim",
                    field=f"{field_prefix}.sex",
                )
            )  # fmt: skip

    # ------------------------------------------------------------ 2300
    def clm(self, n: int, seg: list[str]) -> None:
        self.close_claim()
        claim_id = _el(seg, 1) or None
        problems: list[tuple[str | None, str]] = []
        draft = _ClaimDraft(seg_no=n, claim_id=claim_id, data={}, problems=problems)
        self.claim = draft
        self.last_nm1 = ""
        if not self.st_ok:
            problems.append((None, f"segment {n} (CLM): claim is not inside a readable 005010 837 transaction set"))
            self.loop = "skip"
            return
        if self.loop not in ("2000B", "2000C", "2300", "2320", "2400"):
            problems.append((None, f"segment {n} (CLM): claim is not under a subscriber HL (HL03 = 22)"))
        self.loop = "2300"
        if claim_id is None:
            problems.append(("claim_id", f"segment {n} (CLM): CLM01 claim id is missing"))
        elif len(claim_id) > 64:
            problems.append(("claim_id", f"segment {n} (CLM): CLM01 claim id is longer than 64 characters"))
        problems.extend(self.billing.problems)
        problems.extend(self.subscriber.problems)
        if self.patient is not None:
            problems.extend(self.patient.problems)
            problems.extend(self.patient.demographics)
        else:
            problems.extend(self.subscriber.demographics)
        draft.notes.extend(self.isa_notes)
        draft.notes.extend(self.st_notes)
        draft.notes.extend(self.billing.notes)
        draft.notes.extend(self.subscriber.notes)
        if self.patient is not None:
            draft.notes.extend(self.patient.notes)
            draft.notes.extend(self.patient.demographic_notes)
        else:
            draft.notes.extend(self.subscriber.demographic_notes)
        data: dict[str, Any] = {"claim_id": claim_id or "", "type": self.claim_type, "diagnoses": []}
        draft.data = data
        if self.claim_date:
            data["claim_date"] = self.claim_date
        data["payer"] = dict(self.payer)
        if "npi" in self.billing.data:
            data["billing_provider"] = dict(self.billing.data)
        elif not self.billing.problems:
            problems.append(
                (
                    "billing_provider.npi",
                    f"segment {n} (CLM): no billing provider (2010AA NM1*85 with an NPI) before this claim",
                )
            )
        patient = self.patient.data if self.patient is not None else {}
        subscriber = self.subscriber.data
        person = patient if self.patient is not None else subscriber
        patient_id = patient.get("id") or subscriber.get("id")
        if not patient_id:
            problems.append(("patient.id", f"segment {n} (CLM): no patient or subscriber id (NM109) before this claim"))
        data["patient"] = {"id": patient_id or ""}
        for key in ("sex", "birth_date"):
            if key in person:
                data["patient"][key] = person[key]
        self.clm05(n, _el(seg, 5), draft)

    def clm05(self, n: int, raw: str, draft: _ClaimDraft) -> None:
        """CLM05 facility / place-of-service code : qualifier : frequency; what is unreadable is dropped."""
        data = draft.data
        professional = data["type"] == PROFESSIONAL
        facility_field = "place_of_service" if professional else "bill_type"
        parts = raw.split(self.comp)
        if len(parts) < 3:
            draft.notes.append(
                make_note(
                    COMPOSITE,
                    f"segment {n} (CLM): CLM05 needs facility code, qualifier and frequency separated by "
                    f"{self.comp!r} (ISA16){_seems_to_use(raw, self.comp)}; the claim is read without "
                    f"{'its place of service' if professional else 'its bill type'} and as an original claim",
                    field=facility_field,
                )
            )
            data["frequency"] = "original"
            return
        facility, frequency = parts[0], parts[2]
        draft.frequency_code, draft.frequency_seg = frequency, n
        if frequency in _FREQUENCIES:
            data["frequency"] = _FREQUENCIES[frequency]
        elif not professional and len(frequency) == 1 and frequency.isalnum():
            data["frequency"] = "original"
        else:
            data["frequency"] = "original"
            draft.notes.append(
                make_note(
                    DROPPED,
                    f"segment {n} (CLM): CLM05-3 claim frequency code {_shown(frequency)} is not 1, 7 or 8; "
                    "the claim is read as an original claim",
                    field="frequency",
                )
            )
        if professional:
            if _POS.fullmatch(facility):
                data["place_of_service"] = facility
            else:
                draft.notes.append(
                    make_note(
                        DROPPED,
                        f"segment {n} (CLM): CLM05-1 place of service must be 2 digits; the claim is read without it",
                        field="place_of_service",
                    )
                )
        elif _POS.fullmatch(facility) and len(frequency) == 1:
            data["bill_type"] = f"0{facility}{frequency}"
        else:
            draft.notes.append(
                make_note(
                    DROPPED,
                    f"segment {n} (CLM): CLM05-1 facility code (2 digits) and CLM05-3 frequency make the bill type; "
                    "the claim is read without a bill type",
                    field="bill_type",
                )
            )

    def dtp(self, n: int, seg: list[str]) -> None:
        qualifier = _el(seg, 1)
        loop = self.loop
        if loop == "2400":
            if qualifier == "472" and self.line is not None:
                i = len(self.claim.lines) - 1
                first, last = _period(
                    _el(seg, 2), _el(seg, 3), f"segment {n} (DTP*472): DTP03", f"lines[{i}].from_date"
                )
                self.line.data["from_date"] = first
                self.line.data["to_date"] = last
                self.line.has_date = True
            return
        if loop != "2300":
            return
        draft = self.claim
        if qualifier == "434":
            draft.statement = _period(_el(seg, 2), _el(seg, 3), f"segment {n} (DTP*434): DTP03", "lines[].from_date")
        elif qualifier == "435":
            draft.data["admission_date"] = _period(
                _el(seg, 2), _el(seg, 3), f"segment {n} (DTP*435): DTP03", "admission_date"
            )[0]
        elif qualifier == "096":
            if _el(seg, 2) == "TM":
                draft.discharged = True
            else:
                draft.data["discharge_date"] = _period(
                    _el(seg, 2), _el(seg, 3), f"segment {n} (DTP*096): DTP03", "discharge_date"
                )[1]

    def ref(self, n: int, seg: list[str]) -> None:
        if self.loop == "2300" and _el(seg, 1) == "F8" and _el(seg, 2):
            self.claim.data["replaces_claim_id"] = _el(seg, 2)

    def hi(self, n: int, seg: list[str]) -> None:
        if self.loop == "2400":
            raise _Bad(
                "diagnoses",
                f"segment {n} (HI): claim-level HI after the service lines; is the CLM of a new claim missing?",
            )
        if self.loop in ("2000B", "2000C"):
            self.orphan(n, f"segment {n} (HI): diagnoses outside a claim; the CLM segment is missing")
            return
        if self.loop != "2300":
            return
        draft = self.claim
        comp = self.comp
        start = len(draft.notes)  # notes in element order: the unreadable ones come first
        unreadable: list[str] = []  # HInn whose composite ISA16 cannot split
        apart = False  # a lone diagnosis qualifier: qualifier and code in separate elements?
        misread: list[tuple[str, str]] = []  # HInn read with a separator other than ISA16's
        for k in range(1, len(seg)):
            element = seg[k]
            if not element:
                continue
            parts = element.split(comp)
            if len(parts) == 1:
                found = _read_with_other(element, comp, _a_diagnosis)
                if found is not None:  # "ABK>J209": read it and say so
                    misread.append((f"HI{k:02d}", found[1]))
                    self.diagnosis(n, k, found[0], draft)
                    continue
                other = _other_separator(element, comp)
                qualifier = element.split(other)[0] if other else element
                if qualifier in _PRINCIPAL or qualifier in _OTHER:
                    if not draft.slots:
                        draft.first_seg = n
                    draft.slots.append(None)
                    apart = apart or (not other and k + 1 < len(seg) and seg[k + 1][:1].isdigit())
                elif qualifier.isalpha() and 2 <= len(qualifier) <= 3:
                    continue  # value, occurrence, condition or procedure codes: not read
                unreadable.append(f"HI{k:02d}")
                continue
            self.diagnosis(n, k, parts, draft)
        if misread:
            names = ", ".join(name for name, _ in misread)
            other = misread[0][1]
            draft.notes.insert(
                start,
                make_note(
                    COMPOSITE,
                    f"segment {n} (HI): {names} {'uses' if len(misread) == 1 else 'use'} {other!r} where ISA16 declares {comp!r}; read with "
                    f"{other!r}, but a payer's translator may reject the claim",
                    field="diagnoses",
                ),
            )
        if unreadable:
            hint = "; qualifier and code seem to be in separate elements" if apart else ""
            names = ", ".join(unreadable)
            draft.notes.insert(
                start,
                make_note(
                    COMPOSITE,
                    f"segment {n} (HI): {names} {'has' if len(unreadable) == 1 else 'have'} no component separator "
                    f"{comp!r} (ISA16) between qualifier and code{_seems_to_use(seg[int(unreadable[0][2:])], comp)}"
                    f"{hint}; {'its diagnosis is' if len(unreadable) == 1 else 'their diagnoses are'} dropped",
                    field="diagnoses",
                ),
            )

    def diagnosis(self, n: int, k: int, parts: list[str], draft: _ClaimDraft) -> None:
        """One HI composite: kept, kept with a note, or dropped with a note (a slot either way)."""
        qualifier = parts[0]
        if qualifier in _NOT_DIAGNOSES:
            return
        principal = qualifier in _PRINCIPAL
        if not principal and qualifier not in _OTHER:
            return  # value / condition / occurrence / procedure codes: not diagnoses
        diagnoses = draft.data["diagnoses"]
        position = len(diagnoses)
        field_name = f"diagnoses[{position}].code"
        where = f"segment {n} (HI): HI{k:02d}"
        if principal and draft.slots:
            raise _Bad(field_name, f"{where}-1: principal diagnosis ({qualifier}) after other diagnoses")
        if not principal and not draft.slots and qualifier in ("ABF", "BF"):
            raise _Bad(field_name, f"{where}-1: other diagnosis ({qualifier}) before the principal one (ABK)")
        if not draft.slots:
            draft.first_seg = n
        draft.slots.append(None)
        if not parts[1]:
            draft.notes.append(
                make_note(
                    DROPPED, f"{where}-2: diagnosis qualifier {qualifier} has no code; it is dropped", field="diagnoses"
                )
            )
            return
        code = parts[1].replace(".", "").upper()
        fits = bool(_ICD10.fullmatch(code))
        if qualifier in _ICD9:
            kept = _KEPT_AS_GIVEN if fits else "its code cannot be an ICD-10-CM code, so it is dropped"
            # "{when}" is filled in when the claim closes and its dates of service are known
            draft.notes.append(
                make_note(
                    ICD9,
                    f"{where}-1: ICD-9-CM qualifier {qualifier} on a claim with {{when}}; {kept}",
                    field=field_name,
                )
            )
        elif not fits:
            draft.notes.append(
                make_note(
                    DROPPED, f"{where}-2: diagnosis code is not an ICD-10-CM code; it is dropped", field="diagnoses"
                )
            )
        if not fits:
            return
        diagnosis: dict[str, Any] = {"code": code}
        if draft.data["type"] == INSTITUTIONAL and len(parts) > 8 and parts[8]:
            if parts[8] not in _POA:
                raise _Bad(
                    f"diagnoses[{position}].poa", f"{where}-9: present-on-admission indicator is not Y, N, U, W or 1"
                )
            diagnosis["poa"] = parts[8]
        draft.slots[-1] = position
        diagnoses.append(diagnosis)

    # ------------------------------------------------------------ 2400
    def lx(self, n: int, seg: list[str]) -> None:
        draft = self.claim
        if self.loop == "skip":
            return
        if draft is None or self.loop not in ("2300", "2320", "2400"):
            self.orphan(n, f"segment {n} (LX): service line outside a claim; the CLM segment is missing")
            return
        raw = _el(seg, 1)
        index = len(draft.lines)
        if not raw.isdigit() or not 1 <= int(raw) <= 999:
            raise _Bad(f"lines[{index}].sequence", f"segment {n} (LX): LX01 line number must be 1-999")
        sequence = int(raw)
        if draft.lines and sequence <= draft.lines[-1].sequence:
            self.loop = "skip"
            if sequence == 1:
                raise _Bad(
                    f"lines[{index}].sequence",
                    f"segment {n} (LX): line numbers restart at 1; is the CLM of a new claim missing?",
                )
            raise _Bad(f"lines[{index}].sequence", f"segment {n} (LX): LX01 line numbers must increase")
        self.loop = "2400"
        self.line = _LineDraft(seg_no=n, sequence=sequence, data={"sequence": sequence})
        draft.lines.append(self.line)

    def _procedure(self, n: int, name: str, composite: str, index: int) -> None:
        """HC:code:mod1..mod4 composite (SV101 / SV202) into the line."""
        parts = composite.split(self.comp)
        where = f"segment {n} ({name[:3]}): {name}"
        qualifier = parts[0]
        found = _read_with_other(composite, self.comp, lambda p: p[0] == "HC")
        if found is not None:  # read it and report the defect rather than leave the claim unscrubbed
            parts, other = found
            qualifier = "HC"
            self.claim.notes.append(
                make_note(
                    COMPOSITE,
                    f"{where}: composite uses {other!r} where ISA16 declares {self.comp!r}; read with "
                    f"{other!r} (HC qualifier first), but a payer's translator may reject it",
                    field=f"lines[{index}].code",
                )
            )
        if qualifier != "HC":
            if len(parts) == 1 and len(qualifier) > 2:
                raise _Bad(
                    f"lines[{index}].code",
                    f"{where}-1: no component separator {self.comp!r} (ISA16) in the procedure composite"
                    f"{_seems_to_use(composite, self.comp) or '; wrong delimiter?'}",
                    COMPOSITE,
                )
            raise _Bad(
                f"lines[{index}].code",
                f"{where}-1: product/service qualifier {_shown(qualifier)} is not HC (CPT/HCPCS)",
            )
        code = parts[1] if len(parts) > 1 else ""
        if not _PROC.fullmatch(code):
            raise _Bad(f"lines[{index}].code", f"{where}-2: procedure code must be 1-48 letters or digits")
        line = self.line.data
        line["code"] = code
        modifiers = [m for m in parts[2:6] if m]
        for m, modifier in enumerate(modifiers):
            if not _MOD.fullmatch(modifier):
                raise _Bad(f"lines[{index}].modifiers[{m}]", f"{where}-{m + 3}: modifier must be 2 letters or digits")
        if modifiers:
            line["modifiers"] = modifiers

    def _service(self, n: int, name: str) -> int | None:
        if self.loop == "skip":
            return None
        if self.claim is None and self.loop in ("2000B", "2000C"):
            self.orphan(n, f"segment {n} ({name}): service line outside a claim; the CLM segment is missing")
            return None
        if self.loop != "2400" or self.line is None:
            raise _Bad(None, f"segment {n} ({name}): service line without an LX; is a segment missing?")
        if self.line.has_service:
            raise _Bad(None, f"segment {n} ({name}): second service segment under one LX")
        self.line.has_service = True
        return len(self.claim.lines) - 1

    def drop_line(self, bad: _Bad, severity: str = "error") -> None:
        """A service line that cannot stand without the value it lacks: left out, with a note."""
        line = self.line
        line.dropped = bad.message
        self.claim.notes.append(
            make_note(
                bad.rule_id, f"{bad.message}; service line {line.sequence} is left out, so it was not checked",
                severity=severity, field=bad.field,
            )
        )  # fmt: skip

    def sv1(self, n: int, seg: list[str]) -> None:
        index = self._service(n, "SV1")
        if index is None:
            return
        if self.claim.data["type"] != PROFESSIONAL:
            raise _Bad(f"lines[{index}]", f"segment {n} (SV1): professional service line in an institutional claim")
        try:
            self._procedure(n, "SV101", _el(seg, 1), index)
            line = self.line.data
            _amounts(line, seg, n, "SV1", 2, ("UN", "MJ"), index)
            pointers = _el(seg, 7)
            if pointers:
                self.line.pointers = _pointers(pointers.split(self.comp), n, index)
        except _Bad as bad:
            self.drop_line(bad)
            return
        pos = _el(seg, 5)
        if pos:
            if _POS.fullmatch(pos):
                line["place_of_service"] = pos
            else:
                self.claim.notes.append(
                    make_note(
                        DROPPED,
                        f"segment {n} (SV1): SV105 place of service must be 2 digits; service line "
                        f"{self.line.sequence} is read with the claim's place of service",
                        line=self.line.sequence, field=f"lines[{index}].place_of_service",
                    )
                )  # fmt: skip

    def sv2(self, n: int, seg: list[str]) -> None:
        index = self._service(n, "SV2")
        if index is None:
            return
        if self.claim.data["type"] != INSTITUTIONAL:
            raise _Bad(f"lines[{index}]", f"segment {n} (SV2): institutional service line in a professional claim")
        line = self.line.data
        try:
            revenue = _el(seg, 1)
            if not _REVENUE.fullmatch(revenue):
                raise _Bad(f"lines[{index}].revenue_code", f"segment {n} (SV2): SV201 revenue code must be 4 digits")
            line["revenue_code"] = revenue
            if not _el(seg, 2):
                self.drop_line(
                    _Bad(
                        f"lines[{index}].code", f"segment {n} (SV2): SV202 has no HCPCS code (a revenue-code-only line)"
                    ),
                    "warning",
                )
                return
            self._procedure(n, "SV202", _el(seg, 2), index)
            _amounts(line, seg, n, "SV2", 3, ("UN", "DA"), index)
        except _Bad as bad:
            self.drop_line(bad)

    # ------------------------------------------------------------ 2320 / 2430: what prior payers paid
    def amt(self, n: int, seg: list[str]) -> None:
        """2320 AMT*D payer paid amount: the claim's ``paid_amount``, summed over the other payers' loops."""
        if self.loop == "2320" and self.claim is not None and _el(seg, 1) == "D":
            self._add_paid(self.claim.data, n, "AMT*D", "AMT02", _el(seg, 2), "paid_amount")

    def svd(self, n: int, seg: list[str]) -> None:
        """2430 SVD02 service line paid amount (by the payer SVD01 names): the line's ``paid_amount``, summed."""
        if self.loop == "2400" and self.line is not None and self.claim is not None:
            index = len(self.claim.lines) - 1
            self._add_paid(self.line.data, n, "SVD", "SVD02", _el(seg, 2), f"lines[{index}].paid_amount")

    def _add_paid(self, target: dict[str, Any], n: int, name: str, element: str, raw: str, field_name: str) -> None:
        try:
            amount = Decimal(_money(raw, f"segment {n} ({name}): {element}", field_name))
        except _Bad as bad:
            self.note(make_note(DROPPED, f"{bad.message}; the paid amount is left out", field=field_name))
            return
        target["paid_amount"] = f"{Decimal(target.get('paid_amount', 0)) + amount:.2f}"

    def lin(self, n: int, seg: list[str]) -> None:
        if self.loop == "2400" and self.line is not None and _el(seg, 2) == "N4" and _el(seg, 3):
            self.line.data["ndc"] = _el(seg, 3)


# ---------------------------------------------------------------- element helpers
def _claim_type(version: str) -> str | None:
    if version.startswith("005010X222"):
        return PROFESSIONAL
    if version.startswith("005010X223"):
        return INSTITUTIONAL
    return None


def _npi(seg: list[str], n: int, field_name: str) -> str | None:
    """NM109 when NM108 is XX (NPI); None when the NM1 carries no NPI."""
    if _el(seg, 8) != "XX":
        return None
    npi = _el(seg, 9)
    if not _NPI.fullmatch(npi):
        raise _Bad(field_name, f"segment {n} (NM1*{seg[1]}): NM109 NPI must be 10 digits")
    return npi


def _provider(npi: str, seg: list[str]) -> dict[str, Any]:
    provider: dict[str, Any] = {"npi": npi}
    last, first = _el(seg, 3), _el(seg, 4)
    name = f"{last}, {first}" if last and first and _el(seg, 2) == "1" else last
    if name:
        provider["name"] = name
    return provider


def _mapped(pointers: list[int], slots: list[int | None]) -> list[int]:
    """SV107 pointers (HI slots as written) -> positions in the diagnoses kept.

    A pointer to a dropped diagnosis is removed (the finding about the drop says
    why); one past every slot is kept, so the pointer edit still reports it.
    """
    out = []
    for p in pointers:
        if p > len(slots):
            out.append(p)
        elif slots[p - 1] is not None:
            out.append(slots[p - 1] + 1)
    return out


def _units(raw: str, where: str, field_name: str) -> int | float:
    if not raw:
        raise _Bad(field_name, f"{where}: units are missing")
    units = _quantity(raw, where, field_name)
    if not 0 < units <= 99999:
        raise _Bad(field_name, f"{where}: units must be above 0 and at most 99999")
    return units


def _pointers(raw: list[str], n: int, index: int) -> list[int]:
    pointers = []
    for p, value in enumerate(raw[:4]):
        if not value:
            continue
        where = f"segment {n} (SV1): SV107-{p + 1}"
        number = _quantity(value, where, f"lines[{index}].diagnosis_pointers")
        if not isinstance(number, int) or not 1 <= number <= 12:
            raise _Bad(f"lines[{index}].diagnosis_pointers", f"{where}: diagnosis pointer must be 1-12")
        pointers.append(number)
    return pointers


# ---------------------------------------------------------------- entry points
def read_x12(data: bytes, source: str) -> Iterator[InputItem]:
    """Yield one item per CLM in an 837 5010 file (plus items for envelope problems).

    Raises InputFormatError only when the whole file is unusable: not X12,
    unreadable delimiters, a 4010 file, or no 837 transaction set at all.
    """
    delims, segs, terminated = tokenize(data, source, "837", "claim")
    yield from _Walker(source, delims).walk(segs, terminated)
