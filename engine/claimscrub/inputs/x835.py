"""X12 835 5010 remittance reader (005010X221A1): what the payer did with each claim.

One :class:`Remittance` per CLP (loop 2100), with its service lines (SVC,
loop 2110). Elements read, in native payment fields:

| 835 | remittance field |
|---|---|
| CLP01 | ``claim_id`` (the provider's patient control number = 837 CLM01) |
| CLP02 | ``status`` (1-3 processed, 4 denied, 19-21 processed and forwarded, 22 reversal, 23 not our claim) |
| CLP03 / CLP04 / CLP05 | ``charge`` / ``paid_amount`` / ``patient_responsibility`` |
| CLP07 | ``payer_claim_id`` (payer claim control number) |
| CAS (2100, 2110) | ``adjustments`` [{group, reason (CARC), amount, quantity}], up to six triplets a segment |
| MOA03-07, MIA05/20-23, LQ*HE | ``remark_codes`` (RARC) of the claim, of the line (LQ) |
| AMT*AU (2100) | claim ``allowed_amount``; else the sum of the lines' AMT*B6 when every line has one |
| BPR16, else DTM*405 | ``paid_date`` (check or EFT effective date; else production date) |
| DTM*232/233, DTM*472/150/151 | ``from_date`` / ``to_date`` of the claim and of a line |
| SVC01 (SVC06 when the payer changed the code) | line ``code``, ``modifiers`` (the code as billed) |
| SVC02 / SVC03 / SVC04 / SVC05 | line ``charge`` / ``paid_amount`` / ``revenue_code`` / ``units`` |
| REF*6R (2110) | line ``control_number`` (the 837's line item control number) |
| AMT*B6 (2110) | line ``allowed_amount`` |
| N1*PE N104 (XX) / NM1*82 NM109 (XX) | ``payee_npi`` / ``rendering_npi`` |

Errors are handled as the 837 reader handles them: a CLP whose id or paid
amount cannot be read becomes a failed remittance naming the segment and
element (the others are still read); a value the reader can read past (a bad
CAS group, an unreadable service line, a date) is left out and rides along as
a :class:`Note` (CS-835-001 envelope, CS-835-002 value dropped); envelope
checks are the shared ones of :mod:`claimscrub.inputs.x12seg`. PLB provider-level
adjustments belong to no claim: they are reported, never spread over claims.
Messages name segments and elements, never patient names or member ids.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from claimscrub.inputs.base import Note
from claimscrub.inputs.x12seg import Bad, Delimiters, EnvelopeWalker, d8, el, money, quantity, shown, tokenize

_TR3 = "ASC X12 005010X221A1 (835) TR3"
ENVELOPE = "CS-835-001"
DROPPED = "CS-835-002"
_NOTE_RULES: dict[str, tuple[str, str]] = {
    ENVELOPE: ("X12 835 envelope does not match its contents", f"{_TR3}: SE, GE and IEA trailers"),
    DROPPED: ("Invalid X12 835 element value dropped", f"{_TR3}: segment and element notes"),
}
# CLP02 claim status codes (005010X221A1).
STATUS = {
    "1": "processed as primary", "2": "processed as secondary", "3": "processed as tertiary", "4": "denied",
    "19": "processed as primary, forwarded", "20": "processed as secondary, forwarded",
    "21": "processed as tertiary, forwarded", "22": "reversal of previous payment",
    "23": "not our claim, forwarded",
}  # fmt: skip
GROUPS = frozenset({"CO", "PR", "OA", "PI", "CR"})
_CODE = re.compile(r"[0-9A-Z]{1,5}")
_NPI = re.compile(r"[0-9]{10}")
_MOD = re.compile(r"[0-9A-Za-z]{2}")
_PROC = re.compile(r"[0-9A-Za-z]{1,48}")
_REVENUE = re.compile(r"[0-9]{4}")
_LINE_DATES = ("472", "150", "151")  # service date, service period start, end
_QUALIFIERS = frozenset({"HC", "AD", "ER", "HP", "IV", "N4", "WK"})  # SVC01-1 besides NU (revenue code)
_KNOWN_IDS = frozenset(
    [
        "ISA",
        "IEA",
        "GS",
        "GE",
        "ST",
        "SE",
        "BPR",
        "TRN",
        "CUR",
        "REF",
        "DTM",
        "N1",
        "N3",
        "N4",
        "PER",
        "LX",
        "TS3",
        "TS2",
        "CLP",
        "CAS",
        "NM1",
        "MIA",
        "MOA",
        "AMT",
        "QTY",
        "SVC",
        "LQ",
        "PLB",
    ]
)


def make_note(rule_id: str, message: str, field: str | None = None) -> Note:
    title, citation = _NOTE_RULES[rule_id]
    fix = "Ask the payer or clearinghouse for a corrected 835; until then the value is left out."
    return Note(rule_id, "claim_integrity", "warning", title, message, fix, citation, None, field)


@dataclass(slots=True)
class Remittance:
    """One CLP: the payer's decision on one claim, or why it could not be read (``data`` None, ``error``)."""

    source: str  # "era.835:seg 12"
    claim_id: str | None  # CLP01; None only when it could not be read
    data: dict[str, Any] | None  # the fields of the module docstring's table, native money and dates
    error: str | None = None
    field: str | None = None
    notes: tuple[Note, ...] = ()

    @classmethod
    def failed(cls, source: str, claim_id: str | None, error: str, field: str | None = None) -> Remittance:
        return cls(source, claim_id, None, error, field)


@dataclass(slots=True)
class _Draft:
    seg_no: int
    claim_id: str | None
    data: dict[str, Any]
    problems: list[tuple[str | None, str]] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    line: dict[str, Any] | None = None  # the SVC being read


def is_835(data: bytes) -> bool:
    """True when an X12 file's first transaction set is an 835 (ST*835 near the start)."""
    head = data[:4096]
    if len(head) < 110:
        return False
    sep = head.lstrip(b"\xef\xbb\xbf \t\r\n")[3:4]
    return bool(sep) and (b"ST" + sep + b"835") in head


class _Walker(EnvelopeWalker):
    """835 loops (header, 2000 LX, 2100 CLP, 2110 SVC, PLB) over the shared envelope walker."""

    def __init__(self, source: str, delims: Delimiters):
        super().__init__(source, delims)
        self.claim: _Draft | None = None
        self.paid_date: str | None = None
        self.production_date: str | None = None
        self.payer: dict[str, str] = {}
        self.payee_npi: str | None = None

    def envelope_defect(self, message: str) -> Note:
        return make_note(ENVELOPE, message)

    def failed(self, source: str, message: str) -> Remittance:
        return Remittance.failed(source, None, message)

    def segment_handlers(self) -> dict[str, Callable[[int, list[str]], None]]:
        return {
            "BPR": self.bpr, "DTM": self.dtm, "N1": self.n1, "LX": self.lx, "CLP": self.clp, "CAS": self.cas,
            "NM1": self.nm1, "MOA": self.moa, "MIA": self.mia, "AMT": self.amt, "SVC": self.svc, "REF": self.ref,
            "LQ": self.lq, "PLB": self.plb,
        }  # fmt: skip

    # ------------------------------------------------------------ envelope and problems
    def transaction(self, n: int, seg: list[str], version: str) -> None:
        self.paid_date = self.production_date = self.payee_npi = None
        self.payer = {}
        self.st_ok = el(seg, 1) == "835"
        if not self.st_ok:
            self.envelope_error(n, f"segment {n} (ST): transaction set {shown(el(seg, 1))} is not an 835; skipped")
        elif version and not version.startswith("005010X221"):
            self.st_notes.append(
                make_note(ENVELOPE, f"segment {n} (ST): implementation is not 005010X221; read as 835")
            )

    def problem(self, n: int, bad: Bad) -> None:
        if self.claim is not None:
            self.claim.problems.append((bad.field, bad.message))
        else:
            self.envelope_error(n, bad.message)

    def note(self, message: str, field: str | None = None) -> None:
        """A value read past: on the remittance being read, or on every one of the transaction set."""
        target = self.claim.notes if self.claim is not None else self.st_notes
        target.append(make_note(DROPPED, message, field))

    def unreadable(self, n: int, text: str) -> None:
        looks_like = text[:3] if text[:3] in _KNOWN_IDS else text[:2] if text[:2] in _KNOWN_IDS else None
        message = (
            f"segment {n}: cannot read the segment id{f' (looks like {looks_like})' if looks_like else ''}; "
            f"is the element separator {self.elem!r} from the ISA used throughout?"
        )
        if looks_like == "CLP" and self.st_ok:
            self.close_claim()
            claim_id = text[4:].split(text[3])[0] if len(text) > 4 and not text[3].isalnum() else ""
            self.claim = _Draft(n, claim_id or None, {}, [(None, message)])
            self.loop = "skip"
            return
        self.problem(n, Bad(None, message))

    def close_claim(self) -> None:
        draft = self.claim
        if draft is None:
            return
        self.claim = None
        source = f"{self.source}:seg {draft.seg_no}"
        if draft.problems:
            messages = [m for _, m in draft.problems]
            text = "; ".join(messages[:5]) + (f"; and {len(messages) - 5} more" if len(messages) > 5 else "")
            first_field = next((f for f, _ in draft.problems if f), None)
            self.hold(Remittance.failed(source, draft.claim_id, text, first_field))
            return
        data = draft.data
        paid_date = self.paid_date or self.production_date
        if paid_date:
            data["paid_date"] = paid_date
        if self.payer:
            data["payer"] = dict(self.payer)
        if self.payee_npi:
            data["payee_npi"] = self.payee_npi
        lines = data["lines"]
        if "allowed_amount" not in data and lines and all("allowed_amount" in line for line in lines):
            data["allowed_amount"] = _sum(line["allowed_amount"] for line in lines)
        self.hold(Remittance(source, draft.claim_id, data, notes=tuple(self.isa_notes + self.st_notes + draft.notes)))

    # ------------------------------------------------------------ header
    def bpr(self, n: int, seg: list[str]) -> None:
        raw = el(seg, 16)
        if not raw:
            return
        try:
            self.paid_date = d8(raw, f"segment {n} (BPR): BPR16 payment date", "paid_date")
        except Bad as bad:
            self.note(f"{bad.message}; the remittances are read without it", "paid_date")

    def dtm(self, n: int, seg: list[str]) -> None:
        qualifier, raw = el(seg, 1), el(seg, 2)
        draft = self.claim
        try:
            if qualifier == "405" and draft is None:
                self.production_date = d8(raw, f"segment {n} (DTM*405): DTM02", "paid_date")
            elif draft is not None and draft.line is not None and self.loop == "2110" and qualifier in _LINE_DATES:
                day = d8(raw, f"segment {n} (DTM*{qualifier}): DTM02", "lines[].from_date")
                if qualifier != "151":
                    draft.line["from_date"] = day
                if qualifier != "150":
                    draft.line["to_date"] = day
            elif draft is not None and self.loop == "2100" and qualifier in ("232", "233"):
                key = "from_date" if qualifier == "232" else "to_date"
                draft.data[key] = d8(raw, f"segment {n} (DTM*{qualifier}): DTM02", key)
        except Bad as bad:
            self.note(f"{bad.message}; the date is left out", bad.field)

    def n1(self, n: int, seg: list[str]) -> None:
        if self.claim is not None:
            return
        entity = el(seg, 1)
        if entity == "PR":
            name, payer_id = el(seg, 2), el(seg, 4)
            self.payer = {k: v for k, v in (("name", name), ("id", payer_id)) if v}
        elif entity == "PE" and el(seg, 3) == "XX":
            if _NPI.fullmatch(el(seg, 4)):
                self.payee_npi = el(seg, 4)
            else:
                self.note(f"segment {n} (N1*PE): N104 NPI must be 10 digits; the payee NPI is left out", "payee_npi")

    def lx(self, n: int, seg: list[str]) -> None:
        self.close_claim()
        self.loop = "2000"

    # ------------------------------------------------------------ 2100
    def clp(self, n: int, seg: list[str]) -> None:
        self.close_claim()
        claim_id = el(seg, 1) or None
        draft = _Draft(n, claim_id, {})
        self.claim = draft
        if not self.st_ok:
            draft.problems.append(
                (None, f"segment {n} (CLP): claim payment is not inside a readable 835 transaction set")
            )
            self.loop = "skip"
            return
        self.loop = "2100"
        if claim_id is None:
            draft.problems.append(("claim_id", f"segment {n} (CLP): CLP01 patient control number is missing"))
        elif len(claim_id) > 64:
            draft.problems.append(
                ("claim_id", f"segment {n} (CLP): CLP01 patient control number is longer than 64 characters")
            )
        status = el(seg, 2)
        if status not in STATUS:
            message = f"segment {n} (CLP): CLP02 claim status {shown(status)} is not a 5010 code"
            draft.notes.append(make_note(DROPPED, message, "status"))
        data: dict[str, Any] = {
            "claim_id": claim_id or "",
            "status": status,
            "adjustments": [],
            "remark_codes": [],
            "lines": [],
        }
        draft.data = data
        for i, key in ((3, "charge"), (4, "paid_amount"), (5, "patient_responsibility")):
            raw = el(seg, i)
            if not raw and key != "paid_amount":
                continue
            try:
                data[key] = money(raw, f"segment {n} (CLP): CLP{i:02d}", key)
            except Bad as bad:
                if key == "paid_amount":
                    missing = f"segment {n} (CLP): CLP04 claim payment amount is missing"
                    draft.problems.append((bad.field, bad.message if raw else missing))
                else:
                    draft.notes.append(make_note(DROPPED, f"{bad.message}; it is left out", key))
        if el(seg, 7):
            data["payer_claim_id"] = el(seg, 7)

    def cas(self, n: int, seg: list[str]) -> None:
        draft = self.claim
        if draft is None:
            raise Bad(None, f"segment {n} (CAS): adjustment outside a claim payment; the CLP segment is missing")
        if self.loop == "skip" or (self.loop == "2110" and draft.line is None):
            return  # a claim or service payment that was not read: its adjustments go with it
        target = draft.line if self.loop == "2110" and draft.line is not None else draft.data
        prefix = "lines[]." if target is not draft.data else ""
        group = el(seg, 1)
        if group not in GROUPS:
            self.note(
                f"segment {n} (CAS): CAS01 group code {shown(group)} is not CO, PR, OA, PI or CR; "
                "its adjustments are left out",
                f"{prefix}adjustments",
            )
            return
        for k in range(2, min(len(seg), 20), 3):
            reason = seg[k]
            if not reason:
                continue
            where = f"segment {n} (CAS): CAS{k:02d}"
            try:
                if not _CODE.fullmatch(reason):
                    raise Bad(None, f"{where} reason code must be 1-5 letters or digits")
                adjustment: dict[str, Any] = {
                    "group": group, "reason": reason,
                    "amount": money(el(seg, k + 1), f"segment {n} (CAS): CAS{k + 1:02d}", "amount"),
                }  # fmt: skip
                if el(seg, k + 2):
                    adjustment["quantity"] = quantity(el(seg, k + 2), f"segment {n} (CAS): CAS{k + 2:02d}", "quantity")
            except Bad as bad:
                self.note(f"{bad.message}; this adjustment is left out", f"{prefix}adjustments")
                continue
            target.setdefault("adjustments", []).append(adjustment)

    def nm1(self, n: int, seg: list[str]) -> None:
        draft = self.claim
        if draft is None or self.loop != "2100" or el(seg, 1) != "82" or el(seg, 8) != "XX":
            return
        if _NPI.fullmatch(el(seg, 9)):
            draft.data["rendering_npi"] = el(seg, 9)
        else:
            self.note(
                f"segment {n} (NM1*82): NM109 NPI must be 10 digits; the rendering NPI is left out", "rendering_npi"
            )

    def remarks(self, n: int, name: str, seg: list[str], positions: range | tuple[int, ...]) -> None:
        draft = self.claim
        if draft is None or self.loop != "2100":
            return
        for i in positions:
            code = el(seg, i)
            if not code:
                continue
            if _CODE.fullmatch(code):
                draft.data["remark_codes"].append(code)
            else:
                self.note(
                    f"segment {n} ({name}): {name}{i:02d} remark code must be 1-5 letters or digits; it is left out",
                    "remark_codes",
                )

    def moa(self, n: int, seg: list[str]) -> None:
        self.remarks(n, "MOA", seg, range(3, 8))

    def mia(self, n: int, seg: list[str]) -> None:
        self.remarks(n, "MIA", seg, (5, 20, 21, 22, 23))

    def amt(self, n: int, seg: list[str]) -> None:
        draft = self.claim
        if draft is None:
            return
        qualifier = el(seg, 1)
        if self.loop == "2110" and qualifier == "B6":
            target, key = draft.line, "lines[].allowed_amount"
        elif self.loop == "2100" and qualifier == "AU":
            target, key = draft.data, "allowed_amount"
        else:
            return
        if target is None:
            return
        try:
            target["allowed_amount"] = money(el(seg, 2), f"segment {n} (AMT*{qualifier}): AMT02", key)
        except Bad as bad:
            self.note(f"{bad.message}; the allowed amount is left out", key)

    # ------------------------------------------------------------ 2110
    def svc(self, n: int, seg: list[str]) -> None:
        draft = self.claim
        if self.loop == "skip":
            return
        if draft is None:
            raise Bad(None, f"segment {n} (SVC): service payment outside a claim payment; the CLP segment is missing")
        self.loop = "2110"
        draft.line = None
        index = len(draft.data["lines"])
        try:
            line = self.procedure(n, el(seg, 6) or el(seg, 1), "SVC06" if el(seg, 6) else "SVC01")
            line["charge"] = money(el(seg, 2), f"segment {n} (SVC): SVC02", f"lines[{index}].charge")
            line["paid_amount"] = money(el(seg, 3), f"segment {n} (SVC): SVC03", f"lines[{index}].paid_amount")
            revenue = el(seg, 4)
            if revenue:
                if not _REVENUE.fullmatch(revenue):
                    raise Bad(f"lines[{index}].revenue_code", f"segment {n} (SVC): SVC04 revenue code must be 4 digits")
                line["revenue_code"] = revenue
            units = el(seg, 7) or el(seg, 5)
            if units:
                element = "SVC07" if el(seg, 7) else "SVC05"
                line["units"] = quantity(units, f"segment {n} (SVC): {element}", f"lines[{index}].units")
        except Bad as bad:
            self.note(f"{bad.message}; service payment {index + 1} of the claim is left out", bad.field)
            return
        draft.line = line
        draft.data["lines"].append(line)

    def procedure(self, n: int, composite: str, name: str) -> dict[str, Any]:
        """SVC01 / SVC06: qualifier (HC, NU for a revenue code alone, ...), code, modifiers."""
        parts = composite.split(self.comp)
        where = f"segment {n} (SVC): {name}"
        qualifier = parts[0]
        code = parts[1] if len(parts) > 1 else ""
        if qualifier == "NU" and _REVENUE.fullmatch(code):
            return {"revenue_code": code}
        if qualifier not in _QUALIFIERS:
            raise Bad(
                "lines[].code",
                f"{where}-1: product/service qualifier {shown(qualifier)} is not HC, NU or "
                "another 835 product/service qualifier",
            )
        if not _PROC.fullmatch(code):
            raise Bad("lines[].code", f"{where}-2: procedure code must be 1-48 letters or digits")
        line: dict[str, Any] = {"code": code}
        modifiers = [m for m in parts[2:6] if m]
        if any(not _MOD.fullmatch(m) for m in modifiers):
            raise Bad("lines[].modifiers", f"{where}: a modifier is not 2 letters or digits")
        if modifiers:
            line["modifiers"] = modifiers
        return line

    def ref(self, n: int, seg: list[str]) -> None:
        draft = self.claim
        if draft is not None and self.loop == "2110" and draft.line is not None and el(seg, 1) == "6R" and el(seg, 2):
            draft.line["control_number"] = el(seg, 2)

    def lq(self, n: int, seg: list[str]) -> None:
        draft = self.claim
        if draft is None or self.loop != "2110" or draft.line is None or el(seg, 1) != "HE":
            return
        code = el(seg, 2)
        if _CODE.fullmatch(code):
            draft.line.setdefault("remark_codes", []).append(code)
        else:
            self.note(
                f"segment {n} (LQ): LQ02 remark code must be 1-5 letters or digits; it is left out",
                "lines[].remark_codes",
            )

    def plb(self, n: int, seg: list[str]) -> None:
        """Provider-level adjustments (interest, offsets, ...): reported on their own, never spread over claims."""
        self.close_claim()
        self.loop = "plb"
        amounts = [seg[k] for k in range(4, len(seg), 2) if seg[k]]
        try:
            total = _sum(money(a, f"segment {n} (PLB): PLB amount", "paid_amount") for a in amounts)
        except Bad as bad:
            total = f"an unreadable amount ({bad.message})"
        self.envelope_error(
            n,
            f"segment {n} (PLB): provider-level adjustments of {total} belong to no claim; "
            "they are not in any claim's paid amount",
        )


def _sum(amounts: Iterable[str]) -> str:
    return f"{sum((Decimal(a) for a in amounts), Decimal(0)):.2f}"


def read_835(data: bytes, source: str) -> Iterator[Remittance]:
    """One remittance per CLP in an 835 5010 file (plus failed ones for envelope problems).

    Raises InputFormatError only when the whole file is unusable: not X12,
    unreadable delimiters, a 4010 file, or no 835 transaction set at all.
    """
    delims, segs, terminated = tokenize(data, source, "835", "remittance")
    yield from _Walker(source, delims).walk(segs, terminated)
