"""Native claim JSON (already schema-valid) -> the typed :class:`Claim`.

Checks here are the ones a JSON Schema cannot express: a real calendar date,
money that converts to cents exactly, a void that names what it voids.
Problems raise :class:`ClaimRejected`, naming the field, never the patient.
"""

from __future__ import annotations

import datetime as _dt
import functools
from decimal import Decimal, InvalidOperation
from typing import Any

from .model import Claim, Diagnosis, Line, Patient, Payer, Provider


class ClaimRejected(Exception):
    """A claim that cannot be scrubbed: names the claim, the field and the problem."""

    def __init__(self, claim_id: str | None, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.claim_id = claim_id
        self.field = field
        self.problem = problem

    @property
    def reason(self) -> str:
        return f"{self.field}: {self.problem}" if self.field else self.problem


@functools.lru_cache(maxsize=1 << 14)
def _calendar_date(value: str) -> str | None:
    """The ISO date, or None when it is not one (a batch repeats a few hundred dates)."""
    try:
        return _dt.date.fromisoformat(value).isoformat()
    except ValueError:
        return None


def _date(value: Any, claim_id: str, field: str) -> str:
    iso = _calendar_date(value) if isinstance(value, str) else None
    if iso is None:
        raise ClaimRejected(claim_id, field, f"{value!r} is not a calendar date (YYYY-MM-DD)")
    return iso


def _opt_date(value: Any, claim_id: str, field: str) -> str | None:
    return None if value is None else _date(value, claim_id, field)


def to_cents(value: Any, claim_id: str | None = None, field: str = "charge") -> int:
    """Money as integer cents; floats go through their shortest repr, so 0.1 stays 10 cents."""
    try:
        amount = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise ClaimRejected(claim_id, field, f"{value!r} is not an amount") from None
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise ClaimRejected(claim_id, field, f"{value!r} has more than two decimals")
    return int(cents)


def _units(value: Any) -> Decimal:
    return Decimal(str(value)) if isinstance(value, float) else Decimal(value)


def _provider(data: dict | None) -> Provider | None:
    if not data:
        return None
    return Provider(
        npi=data["npi"], name=data.get("name"), taxonomy=data.get("taxonomy"), specialty=data.get("specialty")
    )


def icd_key(code: str) -> str:
    return code.replace(".", "").upper()


def claim_from_dict(data: dict[str, Any], source: str | None = None) -> Claim:
    """Build a Claim from a schema-valid native dict."""
    cid = data["claim_id"]
    lines = []
    for i, ld in enumerate(data["lines"]):
        where = f"lines[{i}]"
        from_date = _date(ld["from_date"], cid, f"{where}.from_date")
        lines.append(
            Line(
                sequence=ld["sequence"],
                code=ld["code"].upper(),
                units=_units(ld["units"]),
                charge_cents=to_cents(ld["charge"], cid, f"{where}.charge"),
                from_date=from_date,
                to_date=_date(ld["to_date"], cid, f"{where}.to_date") if ld.get("to_date") else from_date,
                modifiers=tuple(m.upper() for m in ld.get("modifiers", ())),
                place_of_service=ld.get("place_of_service") or data.get("place_of_service"),
                diagnosis_pointers=tuple(ld.get("diagnosis_pointers", ())),
                rendering_npi=ld.get("rendering_npi"),
                revenue_code=ld.get("revenue_code"),
                ndc=ld.get("ndc"),
            )
        )
    seqs = [line.sequence for line in lines]
    if len(set(seqs)) != len(seqs):
        dup = next(s for s in seqs if seqs.count(s) > 1)
        raise ClaimRejected(cid, "lines[].sequence", f"line sequence {dup} appears more than once")
    frequency = data.get("frequency", "original")
    if frequency != "original" and not data.get("replaces_claim_id"):
        raise ClaimRejected(cid, "replaces_claim_id", f"a {frequency} claim must name the claim it replaces")
    patient = data["patient"]
    payer = data.get("payer") or {}
    return Claim(
        claim_id=cid,
        type=data["type"],
        frequency=frequency,
        replaces_claim_id=data.get("replaces_claim_id"),
        claim_date=_opt_date(data.get("claim_date"), cid, "claim_date"),
        payer=Payer(type=payer.get("type", "other"), name=payer.get("name"), id=payer.get("id")),
        billing_provider=_provider(data["billing_provider"]),
        rendering_provider=_provider(data.get("rendering_provider")),
        patient=Patient(
            id=patient["id"],
            sex=patient.get("sex"),
            birth_date=_opt_date(patient.get("birth_date"), cid, "patient.birth_date"),
        ),
        place_of_service=data.get("place_of_service"),
        bill_type=data.get("bill_type"),
        admission_date=_opt_date(data.get("admission_date"), cid, "admission_date"),
        discharge_date=_opt_date(data.get("discharge_date"), cid, "discharge_date"),
        diagnoses=[
            Diagnosis(code=icd_key(d["code"]), position=i + 1, poa=d.get("poa"))
            for i, d in enumerate(data.get("diagnoses", ()))
        ],
        lines=lines,
        encounters=list(data.get("encounters", ())),
        source=source,
    )
