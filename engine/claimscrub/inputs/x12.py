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

This module is the loop state machine: which loop a segment is in and what it
is about. The rest is in modules by concern: :mod:`.x12seg` (delimiters,
tokenizer, element readers, the envelope shared with the 835 reader),
:mod:`.x12hierarchy` (the 2000A/B/C parties above a claim), :mod:`.x12claim`
(the claim draft, CLM05, claim dates, and the claim's assembly when it closes),
:mod:`.x12diagnoses` (HI), :mod:`.x12lines` (SV1/SV2 and the line dates) and
:mod:`.x12notes` (the CS-X12 notes).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from claimscrub.inputs.base import InputItem, Note
from claimscrub.inputs.x12claim import (
    INSTITUTIONAL,
    PROFESSIONAL,
    ClaimDraft,
    LineDraft,
    claim_item,
    read_claim_dates,
    read_clm05,
)
from claimscrub.inputs.x12diagnoses import read_hi
from claimscrub.inputs.x12hierarchy import PARTY_LOOPS, Hierarchy, provider, provider_npi
from claimscrub.inputs.x12lines import read_service_date, read_sv1, read_sv2
from claimscrub.inputs.x12notes import DROPPED, ENVELOPE, make_note
from claimscrub.inputs.x12seg import (
    Bad,
    Delimiters,
    EnvelopeWalker,
    d8,
    el,
    is_x12,
    money,
    read_delimiters,
    shown,
    tokenize,
)

__all__ = ["Delimiters", "is_x12", "read_delimiters", "read_x12"]

# Segment ids of 837 5010, to name the one a segment seems to be when its id cannot be read.
_KNOWN_IDS = frozenset([
    "ISA", "IEA", "GS", "GE", "ST", "SE", "BHT", "HL", "PRV", "NM1", "N3", "N4", "REF", "PER", "SBR", "PAT", "DMG",
    "CLM", "DTP", "CL1", "PWK", "CN1", "AMT", "K3", "NTE", "CR1", "CR2", "CRC", "HI", "HCP", "OI", "MOA", "CAS", "LX",
    "SV1", "SV2", "SV5", "LIN", "CTP", "QTY", "MEA", "PS1", "SVD", "LQ", "FRM",
])  # fmt: skip
_TAXONOMY = re.compile(r"[0-9A-Z]{9}X")


def _claim_type(version: str) -> str | None:
    if version.startswith("005010X222"):
        return PROFESSIONAL
    if version.startswith("005010X223"):
        return INSTITUTIONAL
    return None


class _Walker(EnvelopeWalker):
    """837 loops over the shared envelope walker: which loop a segment is in, and the claim, line or party
    it is about; the segment readers it calls are functions of the other x12 modules. Yields items as
    claims close."""

    def __init__(self, source: str, delims: Delimiters):
        super().__init__(source, delims)
        self.claim_type: str | None = None
        self.claim_date: str | None = None
        self.parties = Hierarchy()  # 2000A/B/C
        self.last_nm1 = ""
        self.claim: ClaimDraft | None = None
        self.line: LineDraft | None = None

    def envelope_defect(self, message: str) -> Note:
        return make_note(ENVELOPE, message)

    def note(self, note: Note) -> None:
        """A conformance problem read past: on the claim, its party, or the transaction set."""
        if self.claim is not None:
            self.claim.notes.append(note)
        elif self.loop in PARTY_LOOPS:
            self.parties.party(self.loop).notes.append(note)
        else:
            self.st_notes.append(note)

    def close_claim(self) -> None:
        draft = self.claim
        if draft is None:
            return
        self.claim = None
        self.line = None
        self.hold(claim_item(draft, self.source))

    # ------------------------------------------------------------ driver
    def segment_handlers(self) -> dict[str, Callable[[int, list[str]], None]]:
        return {
            "BHT": self.bht, "HL": self.hl, "PRV": self.prv, "NM1": self.nm1, "SBR": self.sbr, "DMG": self.dmg,
            "CLM": self.clm, "DTP": self.dtp, "REF": self.ref, "HI": self.hi, "LX": self.lx, "SV1": self.sv1,
            "SV2": self.sv2, "LIN": self.lin, "AMT": self.amt, "SVD": self.svd,
        }  # fmt: skip

    def problem(self, n: int, bad: Bad) -> None:
        """Attach a problem to the claim it belongs to, or report it on its own."""
        if self.claim is not None:
            self.claim.problems.append((bad.field, bad.message))
        elif self.loop in PARTY_LOOPS:
            self.parties.party(self.loop).problems.append((bad.field, bad.message))
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
            self.claim = ClaimDraft(seg_no=n, claim_id=claim_id or None, data={}, problems=[(None, message)])
            self.loop = "skip"
            return
        if self.claim is None and self.loop in ("2000B", "2000C") and looks_like in ("LX", "SV1", "SV2", "HI"):
            self.orphan(n, message)
            return
        self.problem(n, Bad(None, message))

    def orphan(self, n: int, message: str) -> None:
        """Claim segments with no CLM before them: reported once, as a claim without an id."""
        self.claim = ClaimDraft(seg_no=n, claim_id=None, data={}, problems=[(None, message)])
        self.line = None
        self.loop = "skip"

    # ------------------------------------------------------------ envelope
    def transaction(self, n: int, seg: list[str], version: str) -> None:
        self.parties.new_transaction()
        self.claim_date = None
        self.claim_type = _claim_type(version)
        self.st_ok = el(seg, 1) == "837" and self.claim_type is not None
        if el(seg, 1) != "837":
            self.envelope_error(
                n, f"segment {n} (ST): transaction set {shown(el(seg, 1))} is not an 837 claim; skipped"
            )
        elif self.claim_type is None:
            self.envelope_error(
                n,
                f"segment {n} (ST): implementation {version!r} is not 005010X222 (professional) "
                "or 005010X223 (institutional); its claims are not read",
            )

    def bht(self, n: int, seg: list[str]) -> None:
        raw = el(seg, 4)
        self.claim_date = None
        if raw:
            try:
                self.claim_date = d8(raw, f"segment {n} (BHT): BHT04", "claim_date")
            except Bad as bad:
                self.st_notes.append(
                    make_note(DROPPED, f"{bad.message}; the claims are read without a claim date", field="claim_date")
                )

    # ------------------------------------------------------------ 2000A/B/C
    def hl(self, n: int, seg: list[str]) -> None:
        self.close_claim()
        level = el(seg, 3)
        self.last_nm1 = ""
        loop = self.parties.enter(level)
        if loop is None:
            self.loop = "unknown"
            raise Bad(None, f"segment {n} (HL): HL03 level code {shown(level)} is not 20, 22 or 23")
        self.loop = loop

    def prv(self, n: int, seg: list[str]) -> None:
        target: dict[str, Any] | None = None
        if self.loop == "2000A" and el(seg, 1) == "BI":
            target, field_name = self.parties.billing.data, "billing_provider.taxonomy"
        elif self.loop == "2300" and self.last_nm1 == "82" and self.claim is not None:
            target, field_name = self.claim.data.get("rendering_provider"), "rendering_provider.taxonomy"
        if target is None:  # not a billing or rendering provider's PRV, or no rendering NPI read before it
            return
        taxonomy = el(seg, 3)
        if _TAXONOMY.fullmatch(taxonomy):
            target["taxonomy"] = taxonomy
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
        entity = el(seg, 1)
        self.last_nm1 = entity
        loop = self.loop
        if loop == "2400":
            line = self.line
            if entity == "82" and line is not None:
                npi = self.rendering_npi(n, seg, f"lines[{line.index}].rendering_npi", line)
                if npi:
                    line.data["rendering_npi"] = npi
            return
        if loop == "2300":
            claim = self.claim
            if entity == "82" and claim is not None:
                npi = self.rendering_npi(n, seg, "rendering_provider.npi", None)
                if npi:
                    claim.data["rendering_provider"] = provider(npi, seg)
            return
        self.parties.nm1(loop, n, seg)

    def rendering_npi(self, n: int, seg: list[str], field_name: str, line: LineDraft | None) -> str | None:
        """A rendering NPI, or None with a note: the claim can be scrubbed without it."""
        try:
            return provider_npi(seg, n, field_name)
        except Bad as bad:
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
            self.parties.sbr(seg)
        elif self.loop == "2300":
            self.loop = "2320"  # other subscriber information: nothing the native claim holds

    def dmg(self, n: int, seg: list[str]) -> None:
        if self.loop in ("2000B", "2000C"):
            self.parties.dmg(n, seg)

    # ------------------------------------------------------------ 2300
    def clm(self, n: int, seg: list[str]) -> None:
        self.close_claim()
        claim_id = el(seg, 1) or None
        problems: list[tuple[str | None, str]] = []
        draft = ClaimDraft(seg_no=n, claim_id=claim_id, data={}, problems=problems)
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
        problems.extend(self.parties.problems())
        draft.notes.extend(self.isa_notes)
        draft.notes.extend(self.st_notes)
        draft.notes.extend(self.parties.notes())
        data: dict[str, Any] = {"claim_id": claim_id or "", "type": self.claim_type, "diagnoses": []}
        draft.data = data
        if self.claim_date:
            data["claim_date"] = self.claim_date
        self.parties.start_claim(n, data, problems)
        read_clm05(n, el(seg, 5), self.comp, draft)

    def dtp(self, n: int, seg: list[str]) -> None:
        if self.loop == "2400":
            if el(seg, 1) == "472" and self.line is not None:
                read_service_date(n, seg, self.line)
        elif self.loop == "2300" and self.claim is not None:
            read_claim_dates(n, seg, self.claim)

    def ref(self, n: int, seg: list[str]) -> None:
        if self.loop == "2300" and self.claim is not None and el(seg, 1) == "F8" and el(seg, 2):
            self.claim.data["replaces_claim_id"] = el(seg, 2)

    def hi(self, n: int, seg: list[str]) -> None:
        if self.loop == "2400":
            raise Bad(
                "diagnoses",
                f"segment {n} (HI): claim-level HI after the service lines; is the CLM of a new claim missing?",
            )
        if self.loop in ("2000B", "2000C"):
            self.orphan(n, f"segment {n} (HI): diagnoses outside a claim; the CLM segment is missing")
            return
        if self.loop == "2300" and self.claim is not None:
            read_hi(n, seg, self.comp, self.claim)

    # ------------------------------------------------------------ 2400
    def lx(self, n: int, seg: list[str]) -> None:
        draft = self.claim
        if self.loop == "skip":
            return
        if draft is None or self.loop not in ("2300", "2320", "2400"):
            self.orphan(n, f"segment {n} (LX): service line outside a claim; the CLM segment is missing")
            return
        raw = el(seg, 1)
        index = len(draft.lines)
        if not raw.isdigit() or not 1 <= int(raw) <= 999:
            raise Bad(f"lines[{index}].sequence", f"segment {n} (LX): LX01 line number must be 1-999")
        sequence = int(raw)
        if draft.lines and sequence <= draft.lines[-1].sequence:
            self.loop = "skip"
            if sequence == 1:
                raise Bad(
                    f"lines[{index}].sequence",
                    f"segment {n} (LX): line numbers restart at 1; is the CLM of a new claim missing?",
                )
            raise Bad(f"lines[{index}].sequence", f"segment {n} (LX): LX01 line numbers must increase")
        self.loop = "2400"
        self.line = LineDraft(seg_no=n, sequence=sequence, index=index, data={"sequence": sequence})
        draft.lines.append(self.line)

    def _service(self, n: int, name: str) -> tuple[ClaimDraft, LineDraft] | None:
        """The claim and line an SV1/SV2 belongs to; None when it is skipped or reported as an orphan."""
        claim, line = self.claim, self.line
        if self.loop == "skip":
            return None
        if claim is None and self.loop in ("2000B", "2000C"):
            self.orphan(n, f"segment {n} ({name}): service line outside a claim; the CLM segment is missing")
            return None
        if self.loop != "2400" or line is None or claim is None:
            raise Bad(None, f"segment {n} ({name}): service line without an LX; is a segment missing?")
        if line.has_service:
            raise Bad(None, f"segment {n} ({name}): second service segment under one LX")
        line.has_service = True
        return claim, line

    def sv1(self, n: int, seg: list[str]) -> None:
        found = self._service(n, "SV1")
        if found is not None:
            read_sv1(n, seg, self.comp, *found)

    def sv2(self, n: int, seg: list[str]) -> None:
        found = self._service(n, "SV2")
        if found is not None:
            read_sv2(n, seg, self.comp, *found)

    # ------------------------------------------------------------ 2320 / 2430: what prior payers paid
    def amt(self, n: int, seg: list[str]) -> None:
        """2320 AMT*D payer paid amount: the claim's ``paid_amount``, summed over the other payers' loops."""
        if self.loop == "2320" and self.claim is not None and el(seg, 1) == "D":
            self._add_paid(self.claim.data, n, "AMT*D", "AMT02", el(seg, 2), "paid_amount")

    def svd(self, n: int, seg: list[str]) -> None:
        """2430 SVD02 service line paid amount (by the payer SVD01 names): the line's ``paid_amount``, summed."""
        if self.loop == "2400" and self.line is not None:
            self._add_paid(self.line.data, n, "SVD", "SVD02", el(seg, 2), f"lines[{self.line.index}].paid_amount")

    def _add_paid(self, target: dict[str, Any], n: int, name: str, element: str, raw: str, field_name: str) -> None:
        try:
            amount = Decimal(money(raw, f"segment {n} ({name}): {element}", field_name))
        except Bad as bad:
            self.note(make_note(DROPPED, f"{bad.message}; the paid amount is left out", field=field_name))
            return
        target["paid_amount"] = f"{Decimal(target.get('paid_amount', 0)) + amount:.2f}"

    def lin(self, n: int, seg: list[str]) -> None:
        if self.loop == "2400" and self.line is not None and el(seg, 2) == "N4" and el(seg, 3):
            self.line.data["ndc"] = el(seg, 3)


# ---------------------------------------------------------------- entry points
def read_x12(data: bytes, source: str) -> Iterator[InputItem]:
    """Yield one item per CLM in an 837 5010 file (plus items for envelope problems).

    Raises InputFormatError only when the whole file is unusable: not X12,
    unreadable delimiters, a 4010 file, or no 837 transaction set at all.
    """
    delims, segs, terminated = tokenize(data, source, "837", "claim")
    yield from _Walker(source, delims).walk(segs, terminated)
