"""The normalised claim: what every input format becomes and every rule reads.

Codes are strings, money is integer cents, dates are ISO ``YYYY-MM-DD`` strings
(they order correctly as strings, in Python and in the Rete engine alike).
ICD-10-CM codes are held without the dot, as CMS tables and X12 carry them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

CLAIM_TYPES = ("professional", "institutional")
FREQUENCIES = ("original", "replacement", "void")
PAYER_TYPES = ("medicare", "medicaid", "commercial", "other")


@dataclass(slots=True)
class Provider:
    npi: str
    name: str | None = None
    taxonomy: str | None = None
    specialty: str | None = None


@dataclass(slots=True)
class Payer:
    type: str = "other"
    name: str | None = None
    id: str | None = None


@dataclass(slots=True)
class Patient:
    id: str
    sex: str | None = None
    birth_date: str | None = None


@dataclass(slots=True)
class Diagnosis:
    code: str  # no dot, upper case
    position: int  # 1-based; 1 is the principal / first-listed diagnosis
    poa: str | None = None


@dataclass(frozen=True, slots=True)
class Adjustment:
    """A payer's claim adjustment (X12 835 CAS): group code, CARC reason and amount."""

    group: str  # CO, PR, OA, PI, CR
    reason: str  # claim adjustment reason code (CARC)
    amount_cents: int
    quantity: int | Decimal | None = None


@dataclass(slots=True)
class Line:
    sequence: int
    code: str
    units: int | Decimal  # an int when given as one, else the exact Decimal
    charge_cents: int
    from_date: str
    to_date: str
    modifiers: tuple[str, ...] = ()
    place_of_service: str | None = None
    diagnosis_pointers: tuple[int, ...] = ()
    rendering_npi: str | None = None
    revenue_code: str | None = None
    ndc: str | None = None
    # What the payer did with the line (835 SVC / RIF / EOB); None when not known.
    allowed_cents: int | None = None
    paid_cents: int | None = None
    paid_date: str | None = None
    adjustments: tuple[Adjustment, ...] = ()
    remark_codes: tuple[str, ...] = ()  # RARC


@dataclass(slots=True)
class Claim:
    claim_id: str
    type: str
    patient: Patient
    billing_provider: Provider
    lines: list[Line]
    diagnoses: list[Diagnosis] = field(default_factory=list)
    frequency: str = "original"
    replaces_claim_id: str | None = None
    claim_date: str | None = None
    payer: Payer = field(default_factory=Payer)
    rendering_provider: Provider | None = None
    place_of_service: str | None = None
    bill_type: str | None = None
    admission_date: str | None = None
    discharge_date: str | None = None
    encounters: list[dict[str, Any]] = field(default_factory=list)
    source: str | None = None  # where the claim came from: "file.json#3"
    # What the payer did with the claim (835 CLP / RIF / EOB); None when not known.
    allowed_cents: int | None = None
    paid_cents: int | None = None
    paid_date: str | None = None
    adjustments: tuple[Adjustment, ...] = ()
    remark_codes: tuple[str, ...] = ()  # RARC
