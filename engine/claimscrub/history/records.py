"""A claim line as history keeps it: enough to run the cross-claim edits, no patient demographics.

Only the patient id (the key the store is read by) is kept of the patient; names and birth dates
never reach the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from claimscrub.model.claim import Claim


@dataclass(frozen=True, slots=True)
class HistoryLine:
    patient_id: str
    claim_id: str
    frequency: str  # original | replacement | void (as recorded; voided claims are never kept)
    sequence: int
    code: str
    modifiers: tuple[str, ...]
    units: Decimal
    from_date: str
    to_date: str
    claim_type: str = "professional"
    rendering_npi: str | None = None  # the line's, else the claim's rendering NPI
    billing_npi: str | None = None
    specialty: str | None = None  # rendering provider's specialty, else billing's
    taxonomy: str | None = None
    ndc: str | None = None
    paid_cents: int | None = None  # None: not known whether the payer paid it

    @property
    def provider_npi(self) -> str | None:
        """Who performed the service: the rendering NPI, else the billing NPI (as rules' line.provider_npi)."""
        return self.rendering_npi or self.billing_npi

    @property
    def modifier_set(self) -> frozenset[str]:
        """Modifiers without their order: 25-59 and 59-25 are the same billing."""
        return frozenset(self.modifiers)


def history_lines(claim: Claim) -> list[HistoryLine]:
    """The claim's lines as history lines (pure)."""
    rendering = claim.rendering_provider
    billing = claim.billing_provider
    specialty = (rendering.specialty if rendering else None) or billing.specialty
    taxonomy = (rendering.taxonomy if rendering else None) or billing.taxonomy
    claim_npi = rendering.npi if rendering else None
    return [
        HistoryLine(
            patient_id=claim.patient.id,
            claim_id=claim.claim_id,
            frequency=claim.frequency,
            sequence=line.sequence,
            code=line.code,
            modifiers=tuple(line.modifiers),
            units=Decimal(line.units),
            from_date=line.from_date,
            to_date=line.to_date,
            claim_type=claim.type,
            rendering_npi=line.rendering_npi or claim_npi,
            billing_npi=billing.npi,
            specialty=specialty,
            taxonomy=taxonomy,
            ndc=line.ndc,
            paid_cents=line.paid_cents,
        )
        for line in claim.lines
    ]


def superseded_ids(claim: Claim) -> set[str]:
    """Claim ids whose lines this claim takes out of history: itself (recorded again) and what it replaces or voids.

    Normalisation guarantees a replacement or void (X12 frequency 7 / 8) names that claim in ``replaces_claim_id``.
    """
    ids = {claim.claim_id}
    if claim.replaces_claim_id and claim.frequency in ("replacement", "void"):
        ids.add(claim.replaces_claim_id)
    return ids
