"""One 837 claim while it is read, and its assembly into a native claim when it closes.

The walker (:mod:`claimscrub.inputs.x12`) fills a :class:`ClaimDraft` and its
:class:`LineDraft`\\ s as the 2300 and 2400 segments come. A claim's checks that
need all of it (service dates from the statement period, diagnosis pointers
renumbered after a dropped diagnosis, whether ICD-10-CM was required) can only
be made when it closes: :func:`claim_item` makes them, and every check the
claim schema and normaliser would make, and yields the native claim with its
notes or a rejection naming the segment and element.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from claimscrub.inputs.base import InputItem, Note
from claimscrub.inputs.x12notes import COMPOSITE, DROPPED, ICD9, ICD10_FROM, KEPT_AS_GIVEN, make_note
from claimscrub.inputs.x12seg import Bad, el, period, seems_to_use, shown

PROFESSIONAL = "professional"
INSTITUTIONAL = "institutional"

# CLM05-3 claim frequency type code. Institutional interim / late-charge bills
# (0, 2-6, ...) are first submissions for scrubbing purposes: "original".
_FREQUENCIES = {"1": "original", "7": "replacement", "8": "void"}
POS = re.compile(r"[0-9]{2}")


@dataclass(slots=True)
class LineDraft:
    """One 2400 service line as read so far."""

    seg_no: int
    sequence: int
    index: int  # position in the claim's lines as read (the native field names use it)
    data: dict[str, Any] = field(default_factory=dict)
    has_service: bool = False
    has_date: bool = False
    dropped: str | None = None  # why the line cannot be scrubbed (a value it cannot stand without)
    pointers: list[int] = field(default_factory=list)  # SV107 as written: HI slots, mapped at finish


@dataclass(slots=True)
class ClaimDraft:
    """One 2300 claim as read so far: its native fields, problems (fatal) and notes (read past)."""

    seg_no: int
    claim_id: str | None
    data: dict[str, Any]
    problems: list[tuple[str | None, str]] = field(default_factory=list)
    lines: list[LineDraft] = field(default_factory=list)
    statement: tuple[str, str] | None = None
    discharged: bool = False
    frequency_code: str = ""
    frequency_seg: int = 0
    notes: list[Note] = field(default_factory=list)
    slots: list[int | None] = field(default_factory=list)  # HI diagnosis slot -> index in diagnoses, None = dropped
    first_seg: int = 0  # segment of the first HI diagnosis, for the principal-dropped note


def read_clm05(n: int, raw: str, comp: str, draft: ClaimDraft) -> None:
    """CLM05 facility / place-of-service code : qualifier : frequency; what is unreadable is dropped."""
    data = draft.data
    professional = data["type"] == PROFESSIONAL
    facility_field = "place_of_service" if professional else "bill_type"
    parts = raw.split(comp)
    if len(parts) < 3:
        draft.notes.append(
            make_note(
                COMPOSITE,
                f"segment {n} (CLM): CLM05 needs facility code, qualifier and frequency separated by "
                f"{comp!r} (ISA16){seems_to_use(raw, comp)}; the claim is read without "
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
                f"segment {n} (CLM): CLM05-3 claim frequency code {shown(frequency)} is not 1, 7 or 8; "
                "the claim is read as an original claim",
                field="frequency",
            )
        )
    if professional:
        if POS.fullmatch(facility):
            data["place_of_service"] = facility
        else:
            draft.notes.append(
                make_note(
                    DROPPED,
                    f"segment {n} (CLM): CLM05-1 place of service must be 2 digits; the claim is read without it",
                    field="place_of_service",
                )
            )
    elif POS.fullmatch(facility) and len(frequency) == 1:
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


def read_claim_dates(n: int, seg: list[str], draft: ClaimDraft) -> None:
    """2300 DTP: statement period (434, the service dates of lines without their own), admission (435) and
    discharge (096)."""
    qualifier = el(seg, 1)
    if qualifier == "434":
        draft.statement = period(el(seg, 2), el(seg, 3), f"segment {n} (DTP*434): DTP03", "lines[].from_date")
    elif qualifier == "435":
        draft.data["admission_date"] = period(
            el(seg, 2), el(seg, 3), f"segment {n} (DTP*435): DTP03", "admission_date"
        )[0]
    elif qualifier == "096":
        if el(seg, 2) == "TM":
            draft.discharged = True
        else:
            draft.data["discharge_date"] = period(
                el(seg, 2), el(seg, 3), f"segment {n} (DTP*096): DTP03", "discharge_date"
            )[1]


# ---------------------------------------------------------------- assembly
def claim_item(draft: ClaimDraft, source: str) -> InputItem:
    """The item a closed claim becomes: the native claim with its notes, or why it cannot be read."""
    where = f"{source}:seg {draft.seg_no}"
    data: dict[str, Any] | None = None
    if not draft.problems:
        try:
            data = finish(draft)
        except Bad as bad:
            draft.problems.append((bad.field, bad.message))
    if data is None:
        messages = [m for _, m in draft.problems]
        first_field = next((f for f, _ in draft.problems if f), None)
        text = "; ".join(messages[:5]) + (f"; and {len(messages) - 5} more" if len(messages) > 5 else "")
        return InputItem.failed(where, draft.claim_id, text, first_field)
    return InputItem(source=where, claim_id=draft.claim_id, data=data, notes=tuple(draft.notes))


def finish(draft: ClaimDraft) -> dict[str, Any]:
    """Close the claim: every check the claim schema and normaliser would make."""
    data = draft.data
    if not draft.lines:
        raise Bad("lines", f"segment {draft.seg_no} (CLM): claim has no service lines (2400 LX with SV1/SV2)")
    if draft.slots and draft.slots[0] is None and data["diagnoses"]:
        _drop_the_others(draft)
    renumbered = any(slot != i for i, slot in enumerate(draft.slots))
    lines = []
    dropped = []
    for i, line in enumerate(draft.lines):
        where = f"segment {line.seg_no} (LX)"
        if not line.has_service:
            service = "SV2" if data["type"] == INSTITUTIONAL else "SV1"
            raise Bad(f"lines[{i}]", f"{where}: service line {line.sequence} has no {service} segment")
        if line.dropped is not None:
            dropped.append(line.dropped)
            continue
        if not line.has_date:
            if draft.statement is None:
                raise Bad(
                    f"lines[{i}].from_date",
                    f"{where}: service line {line.sequence} has no service date (DTP*472)",
                )
            line.data["from_date"], line.data["to_date"] = draft.statement
        if line.pointers:
            pointers = mapped(line.pointers, draft.slots) if renumbered else line.pointers
            if pointers:
                line.data["diagnosis_pointers"] = pointers
        lines.append(line.data)
    if not lines:
        more = f"; and {len(dropped) - 1} more" if len(dropped) > 1 else ""
        raise Bad("lines", f"segment {draft.seg_no} (CLM): no service line can be read: {dropped[0]}{more}")
    seqs = [line.sequence for line in draft.lines]
    if len(set(seqs)) != len(seqs):
        dup = next(s for s in seqs if seqs.count(s) > 1)
        raise Bad("lines[].sequence", f"segment {draft.seg_no} (CLM): LX01 line number {dup} appears twice")
    if len(lines) > 999:
        raise Bad("lines", f"segment {draft.seg_no} (CLM): more than 999 service lines")
    data["lines"] = lines
    if len(data["diagnoses"]) > 25:
        raise Bad("diagnoses", f"segment {draft.seg_no} (CLM): more than 25 diagnosis codes")
    if data["frequency"] != "original" and not data.get("replaces_claim_id"):
        raise Bad(
            "replaces_claim_id",
            f"segment {draft.frequency_seg} (CLM): CLM05-3 frequency {draft.frequency_code} "
            f"({data['frequency']}) needs REF*F8 with the payer claim control number it replaces",
        )
    if draft.discharged and draft.statement is not None and "discharge_date" not in data:
        # DTP*096 carries only the discharge hour; the day is the statement-through date.
        data["discharge_date"] = draft.statement[1]
    date_icd9(draft, lines)
    return data


def _drop_the_others(draft: ClaimDraft) -> None:
    """The principal diagnosis was dropped: the others go too (the first of them would be read as principal)."""
    kept = len(draft.data["diagnoses"])
    draft.data["diagnoses"] = []
    draft.slots = [None] * len(draft.slots)
    draft.notes = [
        make_note(ICD9, note.message.replace(KEPT_AS_GIVEN, "it is dropped with the principal one"),
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


def date_icd9(draft: ClaimDraft, lines: list[dict[str, Any]]) -> None:
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


def mapped(pointers: list[int], slots: list[int | None]) -> list[int]:
    """SV107 pointers (HI slots as written) -> positions in the diagnoses kept.

    A pointer to a dropped diagnosis is removed (the finding about the drop says
    why); one past every slot is kept, so the pointer edit still reports it.
    """
    out = []
    for p in pointers:
        if p > len(slots):
            out.append(p)
        else:
            slot = slots[p - 1]
            if slot is not None:
                out.append(slot + 1)
    return out
