"""The HL hierarchy above a claim: 2000A billing provider, 2000B subscriber and payer, 2000C patient.

What these loops say (and what is wrong in them) belongs to every claim below
them, so it is kept here until a CLM opens a claim: :meth:`Hierarchy.start_claim`
copies it into the claim. A problem in a party (a billing provider without an
NPI, an unreadable birth date) rejects each claim below it; a defect read past
(a malformed taxonomy, a sex code) rides on each of them as a note.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from claimscrub.inputs.base import Note
from claimscrub.inputs.x12notes import DROPPED, make_note
from claimscrub.inputs.x12seg import Bad, d8, el

# SBR09 claim filing indicator -> native payer type. 12-17 are the managed-care
# plan kinds (PPO, POS, EPO, indemnity, Medicare-risk HMO, DMO): private plans.
_PAYER_TYPES = {"MA": "medicare", "MB": "medicare", "MC": "medicaid"}
_COMMERCIAL = {"CI", "BL", "HM", "12", "13", "14", "15", "16", "17"}
_NPI = re.compile(r"[0-9]{10}")
PARTY_LOOPS = ("2000A", "2000B", "2000C")


@dataclass(slots=True)
class Party:
    """What 2000A/2000B/2000C say about one provider or person, errors included."""

    data: dict[str, Any] = field(default_factory=dict)
    problems: list[tuple[str | None, str]] = field(default_factory=list)
    demographics: list[tuple[str | None, str]] = field(default_factory=list)  # DMG: only when this is the patient
    notes: list[Note] = field(default_factory=list)  # read past; copied into each claim below this party
    demographic_notes: list[Note] = field(default_factory=list)


class Hierarchy:
    """The parties of the HL loops read so far, and whom the next DMG describes."""

    __slots__ = ("billing", "subscriber", "patient", "payer", "person")

    def __init__(self) -> None:
        self.billing = Party()
        self.subscriber = Party()
        self.patient: Party | None = None
        self.payer: dict[str, Any] = {"type": "other"}
        self.person: Party | None = None  # whom a DMG describes

    def new_transaction(self) -> None:
        """An ST opened: no provider or person of the last transaction set applies (the payer is reset by HL 22)."""
        self.billing, self.subscriber, self.patient = Party(), Party(), None

    def enter(self, level: str) -> str | None:
        """HL03 level code -> the loop it opens (None when it is not 20, 22 or 23), resetting the loops below."""
        if level == "20":
            self.billing, self.subscriber, self.patient = Party(), Party(), None
        elif level == "22":
            self.subscriber, self.patient = Party(), None
            self.payer = {"type": "other"}
        elif level == "23":
            self.patient = Party()
        else:
            return None
        self.person = None
        return {"20": "2000A", "22": "2000B", "23": "2000C"}[level]

    def party(self, loop: str) -> Party:
        """The party a problem or note found in a 2000A/B/C ``loop`` belongs to."""
        if loop == "2000A":
            return self.billing
        if loop == "2000B" or self.patient is None:
            return self.subscriber
        return self.patient

    # ------------------------------------------------------------ segments
    def nm1(self, loop: str, n: int, seg: list[str]) -> None:
        """NM1*85 billing provider (2010AA), NM1*IL subscriber and NM1*PR payer (2010BA/BB), NM1*QC patient."""
        entity = el(seg, 1)
        if loop == "2000A" and entity == "85":
            npi = provider_npi(seg, n, "billing_provider.npi")
            if npi:
                self.billing.data.update(provider(npi, seg))
            else:
                self.billing.problems.append(
                    ("billing_provider.npi", f"segment {n} (NM1*85): billing provider has no NPI (NM108 XX, NM109)")
                )
        elif loop == "2000B":
            if entity == "IL":
                self.person = self.subscriber
                if el(seg, 9):
                    self.subscriber.data["id"] = el(seg, 9)
            elif entity == "PR":
                self.person = None
                name, payer_id = el(seg, 3), el(seg, 9)
                if name:
                    self.payer["name"] = name
                if payer_id:
                    self.payer["id"] = payer_id
        elif loop == "2000C" and entity == "QC" and self.patient is not None:
            self.person = self.patient
            if el(seg, 9):
                self.patient.data["id"] = el(seg, 9)

    def sbr(self, seg: list[str]) -> None:
        """2000B SBR09 claim filing indicator: the payer type."""
        filing = el(seg, 9)
        self.payer["type"] = _PAYER_TYPES.get(filing) or ("commercial" if filing in _COMMERCIAL else "other")

    def dmg(self, n: int, seg: list[str]) -> None:
        """Birth date and sex of the person the last NM1 named (subscriber or patient)."""
        person = self.person
        if person is None:
            return
        field_prefix = "patient"
        if el(seg, 1) == "D8" and el(seg, 2):
            try:
                person.data["birth_date"] = d8(
                    el(seg, 2), f"segment {n} (DMG): DMG02 birth date", f"{field_prefix}.birth_date"
                )
            except Bad as bad:
                person.demographics.append((bad.field, bad.message))
        elif el(seg, 2):
            person.demographics.append(
                (f"{field_prefix}.birth_date", f"segment {n} (DMG): DMG01 date format must be D8")
            )
        sex = el(seg, 3)
        if sex in ("M", "F", "U"):
            person.data["sex"] = sex
        elif sex:
            person.demographic_notes.append(
                make_note(
                    DROPPED, f"segment {n} (DMG): DMG03 sex code is not M, F or U; it is dropped from the claim",
                    field=f"{field_prefix}.sex",
                )
            )  # fmt: skip

    # ------------------------------------------------------------ into a claim
    def problems(self) -> list[tuple[str | None, str]]:
        """What rejects each claim below these parties (the patient's demographics: the subscriber's when
        the subscriber is the patient)."""
        person = self.patient if self.patient is not None else self.subscriber
        found = [*self.billing.problems, *self.subscriber.problems]
        if self.patient is not None:
            found.extend(self.patient.problems)
        found.extend(person.demographics)
        return found

    def notes(self) -> list[Note]:
        """What rides on each claim below these parties as notes."""
        person = self.patient if self.patient is not None else self.subscriber
        found = [*self.billing.notes, *self.subscriber.notes]
        if self.patient is not None:
            found.extend(self.patient.notes)
        found.extend(person.demographic_notes)
        return found

    def start_claim(self, n: int, data: dict[str, Any], problems: list[tuple[str | None, str]]) -> None:
        """The payer, billing provider and patient of a claim opening at segment ``n``, or why it has none."""
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


# ---------------------------------------------------------------- NM1 element readers
def provider_npi(seg: list[str], n: int, field_name: str) -> str | None:
    """NM109 when NM108 is XX (NPI); None when the NM1 carries no NPI."""
    if el(seg, 8) != "XX":
        return None
    npi = el(seg, 9)
    if not _NPI.fullmatch(npi):
        raise Bad(field_name, f"segment {n} (NM1*{seg[1]}): NM109 NPI must be 10 digits")
    return npi


def provider(npi: str, seg: list[str]) -> dict[str, Any]:
    """A native provider: the NPI and, when NM1 names one, "last, first" (a person) or the organisation."""
    found: dict[str, Any] = {"npi": npi}
    last, first = el(seg, 3), el(seg, 4)
    name = f"{last}, {first}" if last and first and el(seg, 2) == "1" else last
    if name:
        found["name"] = name
    return found
