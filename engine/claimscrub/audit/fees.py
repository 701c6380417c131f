"""What Medicare's physician fee schedule pays for a code on a date, for the E/M level difference.

Fee = total RVUs x conversion factor, both from the ``mpfs_rvu`` table edition in force on the date
of service (CMS PPRRVU files). It is the *national* amount: no GPCI is applied, because the claim
does not say the locality; the review states this assumption. The facility total applies when the
place of service is a facility (CMS MPFS facility settings, Medicare Claims Processing Manual ch. 12
s. 20.4.2), else the non-facility total.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from claimscrub.audit.money import round_cents

TABLE = "mpfs_rvu"
FACILITY_POS = frozenset(
    {"02", "19", "21", "22", "23", "24", "26", "31", "34", "41", "42", "51", "52", "53", "56", "61"}
)
ASSUMPTION = (
    "E/M fees are the national MPFS amounts (total RVUs x conversion factor of the date of service, "
    "no GPCI / locality adjustment)."
)


@dataclass(frozen=True, slots=True)
class Fee:
    code: str
    cents: int
    total_rvu: float
    conversion_factor: float
    setting: str  # facility | non_facility
    edition: str


def fee_for(tables: Any, code: str, dos: str, place_of_service: str | None) -> Fee | None:
    """The national fee for ``code`` on ``dos``; None when no edition of the table covers it ("not checked")."""
    row = tables.lookup(TABLE, (code, ""), dos) if tables.loaded(TABLE) else None
    if row is None:
        return None
    setting = "facility" if place_of_service in FACILITY_POS else "non_facility"
    total = row.get(f"{setting}_total")
    factor = row.get("conversion_factor")
    if total is None or factor is None:
        return None
    return Fee(
        code,
        round_cents(float(total) * float(factor)),
        float(total),
        float(factor),
        setting,
        str(row.get("_edition") or ""),
    )


def em_difference(paid_cents: int, allowed_cents: int | None, billed: Fee, supported: Fee) -> int:
    """Cents paid for the billed level beyond what the supported level would have been paid.

    The supported level's fee is scaled by the share of the allowed amount the payer paid
    (coinsurance, deductible, sequestration), so a line paid at 80% of its allowance is recouped at
    80%: paid - supported_fee x paid / allowed. Without an allowed amount the billed level's fee stands
    in for it. Negative: the supported level pays more (an undercoded line's underpayment).
    """
    basis = allowed_cents if allowed_cents else billed.cents
    if not basis:
        return 0
    return paid_cents - round_cents(supported.cents * paid_cents / basis / 100)
