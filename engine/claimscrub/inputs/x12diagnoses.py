"""2300 HI: the claim's diagnoses, read into its draft with the slot each HI composite takes.

Every diagnosis composite takes a slot, kept or dropped, because SV107 points at
slots as written; :func:`claimscrub.inputs.x12claim.mapped` renumbers the
pointers when the claim closes. ABJ (admitting) and APR (patient reason for
visit) are not claim diagnoses (UB-04 FL 69/70, outside FL 67) and have no
place in the native list.
"""

from __future__ import annotations

import re
from typing import Any

from claimscrub.inputs.x12claim import INSTITUTIONAL, ClaimDraft
from claimscrub.inputs.x12notes import COMPOSITE, DROPPED, ICD9, KEPT_AS_GIVEN, make_note
from claimscrub.inputs.x12seg import Bad, other_separator, read_with_other, seems_to_use

# HI qualifiers that carry diagnoses, and whether they hold the principal one.
_PRINCIPAL = {"ABK", "BK"}
_OTHER = {"ABF", "BF", "ABN", "BN"}
_ICD9 = {"BK", "BF", "BN"}
_NOT_DIAGNOSES = {"ABJ", "BJ", "APR", "PR"}
_POA = {"Y", "N", "U", "W", "1"}
_ICD10 = re.compile(r"[A-Z][0-9][0-9A-Z][0-9A-Z]{0,4}")


def _a_diagnosis(parts: list[str]) -> bool:
    """Qualifier and code of a diagnosis composite (HInn-1 a diagnosis qualifier, HInn-2 the code)."""
    return len(parts) == 2 and (parts[0] in _PRINCIPAL or parts[0] in _OTHER)


def read_hi(n: int, seg: list[str], comp: str, draft: ClaimDraft) -> None:
    """One HI segment: each composite a diagnosis (or not one), and one note for those ISA16 cannot split."""
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
            found = read_with_other(element, comp, _a_diagnosis)
            if found is not None:  # "ABK>J209": read it and say so
                misread.append((f"HI{k:02d}", found[1]))
                read_diagnosis(n, k, found[0], draft)
                continue
            other = other_separator(element, comp)
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
        read_diagnosis(n, k, parts, draft)
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
                f"{comp!r} (ISA16) between qualifier and code{seems_to_use(seg[int(unreadable[0][2:])], comp)}"
                f"{hint}; {'its diagnosis is' if len(unreadable) == 1 else 'their diagnoses are'} dropped",
                field="diagnoses",
            ),
        )


def read_diagnosis(n: int, k: int, parts: list[str], draft: ClaimDraft) -> None:
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
        raise Bad(field_name, f"{where}-1: principal diagnosis ({qualifier}) after other diagnoses")
    if not principal and not draft.slots and qualifier in ("ABF", "BF"):
        raise Bad(field_name, f"{where}-1: other diagnosis ({qualifier}) before the principal one (ABK)")
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
        kept = KEPT_AS_GIVEN if fits else "its code cannot be an ICD-10-CM code, so it is dropped"
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
            make_note(DROPPED, f"{where}-2: diagnosis code is not an ICD-10-CM code; it is dropped", field="diagnoses")
        )
    if not fits:
        return
    diagnosis: dict[str, Any] = {"code": code}
    if draft.data["type"] == INSTITUTIONAL and len(parts) > 8 and parts[8]:
        if parts[8] not in _POA:
            raise Bad(f"diagnoses[{position}].poa", f"{where}-9: present-on-admission indicator is not Y, N, U, W or 1")
        diagnosis["poa"] = parts[8]
    draft.slots[-1] = position
    diagnoses.append(diagnosis)
