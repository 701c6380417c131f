"""2400 SV1 / SV2: a service line's procedure, modifiers, charge, units, pointers and place of service.

A line that cannot stand without a value it lacks (an unreadable code, modifier,
charge or units) is left out with a note, and the claim is scrubbed with the
others; :func:`claimscrub.inputs.x12claim.finish` rejects the claim only when
no line is left.
"""

from __future__ import annotations

import re
from typing import Any

from claimscrub.inputs.x12claim import INSTITUTIONAL, POS, PROFESSIONAL, ClaimDraft, LineDraft
from claimscrub.inputs.x12notes import COMPOSITE, DROPPED, make_note
from claimscrub.inputs.x12seg import Bad, el, money, period, quantity, read_with_other, seems_to_use, shown

_PROC = re.compile(r"[0-9A-Za-z]{1,48}")  # SV101-2 / SV202-2: a 5-character code is checked by CS-CODE-006
_MOD = re.compile(r"[0-9A-Za-z]{2}")
_REVENUE = re.compile(r"[0-9]{4}")


def read_sv1(n: int, seg: list[str], comp: str, claim: ClaimDraft, line: LineDraft) -> None:
    """A professional service line (SV1) into ``line``, the last line of ``claim``."""
    index = line.index
    if claim.data["type"] != PROFESSIONAL:
        raise Bad(f"lines[{index}]", f"segment {n} (SV1): professional service line in an institutional claim")
    try:
        _procedure(n, "SV101", el(seg, 1), comp, claim, line, index)
        data = line.data
        _amounts(data, seg, n, "SV1", 2, ("UN", "MJ"), index)
        pointers = el(seg, 7)
        if pointers:
            line.pointers = _pointers(pointers.split(comp), n, index)
    except Bad as bad:
        drop_line(claim, line, bad)
        return
    pos = el(seg, 5)
    if pos:
        if POS.fullmatch(pos):
            data["place_of_service"] = pos
        else:
            claim.notes.append(
                make_note(
                    DROPPED,
                    f"segment {n} (SV1): SV105 place of service must be 2 digits; service line "
                    f"{line.sequence} is read with the claim's place of service",
                    line=line.sequence, field=f"lines[{index}].place_of_service",
                )
            )  # fmt: skip


def read_sv2(n: int, seg: list[str], comp: str, claim: ClaimDraft, line: LineDraft) -> None:
    """An institutional service line (SV2) into ``line``, the last line of ``claim``."""
    index = line.index
    if claim.data["type"] != INSTITUTIONAL:
        raise Bad(f"lines[{index}]", f"segment {n} (SV2): institutional service line in a professional claim")
    data = line.data
    try:
        revenue = el(seg, 1)
        if not _REVENUE.fullmatch(revenue):
            raise Bad(f"lines[{index}].revenue_code", f"segment {n} (SV2): SV201 revenue code must be 4 digits")
        data["revenue_code"] = revenue
        if not el(seg, 2):
            drop_line(
                claim,
                line,
                Bad(f"lines[{index}].code", f"segment {n} (SV2): SV202 has no HCPCS code (a revenue-code-only line)"),
                "warning",
            )
            return
        _procedure(n, "SV202", el(seg, 2), comp, claim, line, index)
        _amounts(data, seg, n, "SV2", 3, ("UN", "DA"), index)
    except Bad as bad:
        drop_line(claim, line, bad)


def read_service_date(n: int, seg: list[str], line: LineDraft) -> None:
    """2400 DTP*472: the line's dates of service."""
    first, last = period(el(seg, 2), el(seg, 3), f"segment {n} (DTP*472): DTP03", f"lines[{line.index}].from_date")
    line.data["from_date"] = first
    line.data["to_date"] = last
    line.has_date = True


def drop_line(claim: ClaimDraft, line: LineDraft, bad: Bad, severity: str = "error") -> None:
    """A service line that cannot stand without the value it lacks: left out, with a note."""
    line.dropped = bad.message
    claim.notes.append(
        make_note(
            bad.rule_id, f"{bad.message}; service line {line.sequence} is left out, so it was not checked",
            severity=severity, field=bad.field,
        )
    )  # fmt: skip


def _procedure(n: int, name: str, composite: str, comp: str, claim: ClaimDraft, line: LineDraft, index: int) -> None:
    """HC:code:mod1..mod4 composite (SV101 / SV202) into the line."""
    parts = composite.split(comp)
    where = f"segment {n} ({name[:3]}): {name}"
    qualifier = parts[0]
    found = read_with_other(composite, comp, lambda p: p[0] == "HC")
    if found is not None:  # read it and report the defect rather than leave the claim unscrubbed
        parts, other = found
        qualifier = "HC"
        claim.notes.append(
            make_note(
                COMPOSITE,
                f"{where}: composite uses {other!r} where ISA16 declares {comp!r}; read with "
                f"{other!r} (HC qualifier first), but a payer's translator may reject it",
                field=f"lines[{index}].code",
            )
        )
    if qualifier != "HC":
        if len(parts) == 1 and len(qualifier) > 2:
            raise Bad(
                f"lines[{index}].code",
                f"{where}-1: no component separator {comp!r} (ISA16) in the procedure composite"
                f"{seems_to_use(composite, comp) or '; wrong delimiter?'}",
                COMPOSITE,
            )
        raise Bad(
            f"lines[{index}].code",
            f"{where}-1: product/service qualifier {shown(qualifier)} is not HC (CPT/HCPCS)",
        )
    code = parts[1] if len(parts) > 1 else ""
    if not _PROC.fullmatch(code):
        raise Bad(f"lines[{index}].code", f"{where}-2: procedure code must be 1-48 letters or digits")
    data = line.data
    data["code"] = code
    modifiers = [m for m in parts[2:6] if m]
    for m, modifier in enumerate(modifiers):
        if not _MOD.fullmatch(modifier):
            raise Bad(f"lines[{index}].modifiers[{m}]", f"{where}-{m + 3}: modifier must be 2 letters or digits")
    if modifiers:
        data["modifiers"] = modifiers


def _amounts(
    line: dict[str, Any], seg: list[str], n: int, tag: str, at: int, bases: tuple[str, str], index: int
) -> None:
    """A service line's charge, unit basis and units: elements ``at`` to ``at + 2`` of SV1 or SV2."""
    e1, e2, e3 = (f"{tag}{at + i:02d}" for i in range(3))
    line["charge"] = money(el(seg, at), f"segment {n} ({tag}): {e1}", f"lines[{index}].charge")
    basis = el(seg, at + 1)
    if basis not in bases:
        raise Bad(
            f"lines[{index}].units",
            f"segment {n} ({tag}): {e2} unit basis {shown(basis)} is not {bases[0]} or {bases[1]}",
        )
    line["units"] = _units(el(seg, at + 2), f"segment {n} ({tag}): {e3}", f"lines[{index}].units")


def _units(raw: str, where: str, field_name: str) -> int | float:
    if not raw:
        raise Bad(field_name, f"{where}: units are missing")
    units = quantity(raw, where, field_name)
    if not 0 < units <= 99999:
        raise Bad(field_name, f"{where}: units must be above 0 and at most 99999")
    return units


def _pointers(raw: list[str], n: int, index: int) -> list[int]:
    pointers = []
    for p, value in enumerate(raw[:4]):
        if not value:
            continue
        where = f"segment {n} (SV1): SV107-{p + 1}"
        number = quantity(value, where, f"lines[{index}].diagnosis_pointers")
        if not isinstance(number, int) or not 1 <= number <= 12:
            raise Bad(f"lines[{index}].diagnosis_pointers", f"{where}: diagnosis pointer must be 1-12")
        pointers.append(number)
    return pointers
