"""Claims with what was paid: the universe an audit samples from.

:func:`read_paid_claims` reads claim files of every format the scrubber reads
(native JSON, FHIR, X12 837, CMS RIF extracts) and X12 835 remittances, in any
order (an 835 is known by content: ST*835), and links each remittance to its
claim by CLP01 = CLM01 (the provider's patient control number). A FHIR
ExplanationOfBenefit with no Claim beside it (Blue Button EOB files) is a
remittance too, for the claim its ``.../clm_id`` identifier names (status
``EOB``; its items link by sequence).

Linking, claim level: a claim's ``paid_amount`` is the sum of CLP04 over all its
remittances, so a reversal (CLP02 22, negative amounts) cancels the payment it
reverses and a corrected payment counts once; ``paid_date`` is the latest one;
adjustments and remark codes are those of every remittance, in paid-date order;
``allowed_amount`` is summed when every remittance states one. Remittances
replace the payment fields the claim's own file carried (an 837's prior-payer
amounts, a RIF or EOB payment), but for a paid date or allowed amount none of
them states.

Linking, line level, within one remittance: a service payment goes to the
claim line whose sequence is its REF*6R line control number when the codes
agree; else to the first line not yet matched with the same code and
modifiers, then the same code (the k-th SVC for a code is the k-th line with
it). A service payment that matches no line is noted, never guessed.

A claim id that appears twice among the claims gets its remittances on the
first one read (noted). Remittances with no claim are listed in
``unlinked_remittances`` (their amounts still count in the paid total the files
state); claims with no payment at all (no remittance, none in their own file)
in ``unpaid_claims``. With ``tables``, each CARC and RARC is checked against the
``carc_rarc`` table on the paid date; without, the notes say they were not checked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from claimscrub.inputs import read_bytes, read_file
from claimscrub.inputs.base import InputFormatError, InputItem
from claimscrub.inputs.fhir_eob import claim_id_of, remittance_data, standalone
from claimscrub.inputs.x12seg import is_x12
from claimscrub.inputs.x835 import Remittance, is_835, read_835

if TYPE_CHECKING:
    from claimscrub.refdata.tables import TableSet

# Files a directory argument contributes: claim files, remittances and claim extracts.
SUFFIXES = (".json", ".jsonl", ".ndjson", ".x12", ".837", ".837p", ".837i", ".edi", ".txt", ".835", ".era",
            ".csv", ".dat")  # fmt: skip
CARC_TABLE = "carc_rarc"


@dataclass(frozen=True, slots=True)
class UnlinkedRemittance:
    """A remittance (CLP) for a claim none of the claim files holds."""

    claim_id: str  # CLP01
    source: str  # "era.835:seg 40"
    status: str  # CLP02
    charge: str | None  # CLP03
    paid_amount: str  # CLP04
    payer_claim_id: str | None  # CLP07
    paid_date: str | None = None  # BPR16 (or DTM*405), payment.date of an EOB


@dataclass(slots=True)
class PaidClaims:
    """Every claim read (native dicts, payment fields filled where known) and what did not link."""

    items: list[InputItem] = field(default_factory=list)
    unlinked_remittances: list[UnlinkedRemittance] = field(default_factory=list)
    unpaid_claims: list[str] = field(default_factory=list)  # claim ids with no payment known
    notes: list[str] = field(default_factory=list)  # file and remittance problems, unknown codes; no PHI
    unreadable: list[str] = field(default_factory=list)  # files that could not be read (also in notes)

    def paid_cents(self) -> int:
        """Paid total of the claims read plus the unlinked remittances: what the files state."""
        total = sum(_cents(i.data.get("paid_amount")) for i in self.items if i.data is not None)
        return total + sum(_cents(r.paid_amount) for r in self.unlinked_remittances)


def _cents(amount: Any) -> int:
    return 0 if amount is None else int(Decimal(str(amount)) * 100)


def _money(cents: int) -> str:
    return f"{Decimal(cents) / 100:.2f}"


def expand(paths: Sequence[Path | str]) -> list[Path]:
    """Files of the arguments: a directory gives its claim, remittance and extract files, sorted."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES))
        else:
            files.append(path)
    return files


def read_paid_claims(paths: Sequence[Path | str], tables: TableSet | None = None) -> PaidClaims:
    """Claims and remittances from ``paths`` (files or directories, any order), linked.

    A file that cannot be read is named in the notes and skipped; encounter
    records are not claims and are left out here."""
    out = PaidClaims()
    remittances: list[Remittance] = []
    for path in expand(paths):
        try:
            data = read_file(path)
            if is_x12(data[:512].lstrip(b"\xef\xbb\xbf \t\r\n")) and is_835(data):
                remittances.extend(read_835(data, str(path)))
                continue
            eobs = _eob_remittances(data, str(path)) if b"ExplanationOfBenefit" in data else None
            if eobs is not None:
                remittances.extend(eobs[0])
                if not eobs[1]:
                    continue  # EOBs only: nothing for the claim reader
            out.items.extend(read_bytes(data, str(path), encounters=[]))
        except InputFormatError as exc:
            out.notes.append(f"{exc}; the file is skipped")
            out.unreadable.append(str(exc))
    link(out, remittances)
    check_codes(out, remittances, tables)
    return out


def _eob_remittances(data: bytes, name: str) -> tuple[list[Remittance], bool] | None:
    """Remittances of the ExplanationOfBenefits with no Claim beside them, and whether the file holds
    claims too; None when the file is not one FHIR JSON document."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    remits = []
    for eob, source in standalone(doc, name):
        claim_id = claim_id_of(eob)
        remit = remittance_data(eob)
        if claim_id is None or "paid_amount" not in remit:
            missing = "no payment amount" if claim_id else "no claim id (identifier .../clm_id or claim Claim/<id>)"
            remits.append(Remittance.failed(source, claim_id, f"ExplanationOfBenefit: {missing}"))
        else:
            remits.append(Remittance(source, claim_id, {"claim_id": claim_id, **remit}))
    return remits, isinstance(doc, dict) and doc.get("resourceType") == "Bundle" and b'"Claim"' in data


def link(out: PaidClaims, remittances: Iterable[Remittance]) -> None:
    """Fill the claims' payment fields from their remittances; list what does not link."""
    claims: dict[str, InputItem] = {}
    for item in out.items:
        if item.data is None or item.claim_id is None:
            continue
        if item.claim_id in claims:
            out.notes.append(
                f"{item.source}: claim {item.claim_id} was read before from "
                f"{claims[item.claim_id].source}; its remittances are linked to that one"
            )
        else:
            claims[item.claim_id] = item
    by_claim: dict[str, list[Remittance]] = {}
    for remit in _last_eob_per_claim(list(remittances), out.notes):
        file_name = remit.source.rsplit(":seg ", 1)[0]  # a note names its own segment
        out.notes.extend(f"{file_name}: {note.message}" for note in remit.notes)
        if remit.data is None:
            out.notes.append(
                f"{remit.source}: remittance{f' for claim {remit.claim_id}' if remit.claim_id else ''} "
                f"not read: {remit.error}"
            )
            continue
        assert remit.claim_id is not None  # a readable remittance has its CLP01
        if remit.claim_id not in claims:
            data = remit.data
            out.unlinked_remittances.append(
                UnlinkedRemittance(
                    remit.claim_id,
                    remit.source,
                    data["status"],
                    data.get("charge"),
                    data["paid_amount"],
                    data.get("payer_claim_id"),
                    data.get("paid_date"),
                )
            )
        else:
            by_claim.setdefault(remit.claim_id, []).append(remit)
    for claim_id, remits in by_claim.items():
        remits.sort(key=lambda r: (r.data or {}).get("paid_date", ""))  # stable: file order within a day
        out.notes.extend(_apply(claims[claim_id], remits))
    out.unpaid_claims = [
        i.claim_id for i in out.items if i.data is not None and i.claim_id is not None and "paid_amount" not in i.data
    ]
    out.notes = list(dict.fromkeys(out.notes))  # an envelope note rides on every remittance of its envelope


def _last_eob_per_claim(remittances: list[Remittance], notes: list[str]) -> list[Remittance]:
    """An EOB states a claim's whole adjudication (an 835 CLP is one payment event, reversals explicit):
    of several EOBs for one claim (the same EOB in two files, a later update), the last one read counts."""
    last: dict[str, int] = {}
    for at, remit in enumerate(remittances):
        if remit.data is not None and remit.data["status"] == "EOB" and remit.claim_id is not None:
            if remit.claim_id in last:
                notes.append(
                    f"{remittances[last[remit.claim_id]].source}: ExplanationOfBenefit for claim "
                    f"{remit.claim_id} read again from {remit.source}; the last one read counts"
                )
            last[remit.claim_id] = at
    kept = set(last.values())
    return [
        r
        for at, r in enumerate(remittances)
        if r.data is None or r.data["status"] != "EOB" or r.claim_id is None or at in kept
    ]


_PAYMENT = ("allowed_amount", "paid_amount", "paid_date", "adjustments", "remark_codes")


def _apply(item: InputItem, remits: list[Remittance]) -> list[str]:
    """The remittances' payments onto one claim and its lines; notes for what does not match."""
    claim = item.data
    assert claim is not None
    notes = []
    if "paid_amount" in claim:
        notes.append(
            f"{item.source}: claim {item.claim_id} carried its own paid amount; its remittances replace "
            "the payment fields of the claim and its lines"
        )
    lines: list[dict[str, Any]] = claim.get("lines", [])
    own = {key: claim[key] for key in ("paid_date", "allowed_amount") if key in claim}
    for part in (claim, *lines):
        for key in _PAYMENT:
            part.pop(key, None)
    _merge(claim, [r.data for r in remits if r.data is not None])
    for key, value in own.items():
        claim.setdefault(key, value)  # a date or allowed amount no remittance states stays the claim's own
    paid_lines: dict[int, list[dict[str, Any]]] = {}
    for remit in remits:
        assert remit.data is not None
        taken: set[int] = set()
        for k, svc in enumerate(remit.data["lines"]):
            at = _match(svc, lines, taken)
            if at is None:
                code = svc.get("code") or svc.get("revenue_code") or "no code"
                notes.append(
                    f"{remit.source}: service payment {k + 1} ({code}) of claim {item.claim_id} matches "
                    "no line of the claim; it counts in the claim's paid amount only"
                )
                continue
            taken.add(at)
            paid_lines.setdefault(at, []).append({**svc, "paid_date": remit.data.get("paid_date")})
    for at, svcs in paid_lines.items():
        _merge(lines[at], svcs)
    return notes


def _merge(target: dict[str, Any], payments: list[dict[str, Any]]) -> None:
    """Sum of paid (and of allowed when every payment states it), latest date, every adjustment and remark."""
    target["paid_amount"] = _money(sum(_cents(p["paid_amount"]) for p in payments))
    if all("allowed_amount" in p for p in payments):
        target["allowed_amount"] = _money(sum(_cents(p["allowed_amount"]) for p in payments))
    dates = [p["paid_date"] for p in payments if p.get("paid_date")]
    if dates:
        target["paid_date"] = max(dates)
    adjustments = [a for p in payments for a in p.get("adjustments", ())]
    if adjustments:
        target["adjustments"] = adjustments
    remarks = list(dict.fromkeys(c for p in payments for c in p.get("remark_codes", ())))
    if remarks:
        target["remark_codes"] = remarks


def _match(svc: dict[str, Any], lines: list[dict[str, Any]], taken: set[int]) -> int | None:
    code = svc.get("code")
    control = svc.get("control_number", "")
    if control.isdigit():
        for at, line in enumerate(lines):
            if at not in taken and line.get("sequence") == int(control) and (code is None or line.get("code") == code):
                return at
    if code is None:  # a revenue-code-only payment (SVC01 NU); with no code at all, only the sequence links
        revenue = svc.get("revenue_code")
        return next(
            (
                at
                for at, line in enumerate(lines)
                if revenue is not None and at not in taken and line.get("revenue_code") == revenue
            ),
            None,
        )
    modifiers = svc.get("modifiers", [])
    for same_modifiers in (True, False):
        for at, line in enumerate(lines):
            if at in taken or line.get("code") != code:
                continue
            if not same_modifiers or line.get("modifiers", []) == modifiers:
                return at
    return None


def check_codes(out: PaidClaims, remittances: Iterable[Remittance], tables: TableSet | None) -> None:
    """Note each CARC and RARC the ``carc_rarc`` table does not list on the remittance's paid date."""
    used: dict[tuple[str, str, str], str] = {}  # (kind, code, paid date) -> where first seen
    for remit in remittances:
        data = remit.data
        if data is None:
            continue
        when = data.get("paid_date", "")
        for part in (data, *data["lines"]):
            for adjustment in part.get("adjustments", ()):
                used.setdefault(("CARC", adjustment["reason"], when), remit.source)
            for code in part.get("remark_codes", ()):
                used.setdefault(("RARC", code, when), remit.source)
    if not used:
        return
    if tables is None or not tables.loaded(CARC_TABLE):
        codes = {(kind, code) for kind, code, _ in used}
        out.notes.append(f"{len(codes)} CARC/RARC code(s) not checked: the {CARC_TABLE} table is not loaded")
        return
    for (kind, code, when), source in sorted(used.items()):
        if not when or not tables.covers(CARC_TABLE, when):
            out.notes.append(
                f"{source}: {kind} {code} not checked: no {CARC_TABLE} edition covers {when or 'an unknown paid date'}"
            )
        elif tables.lookup(CARC_TABLE, (kind, code), when) is None and tables.lists_all(CARC_TABLE, when):
            out.notes.append(
                f"{source}: {kind} {code} is not a {kind} code in force on {when} ({tables.edition(CARC_TABLE, when)})"
            )
