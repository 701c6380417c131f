"""Dollars as the audit files write them: exact decimal strings over integer cents (never floats)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")


class MoneyError(ValueError):
    """A value that is not a dollar amount with at most two decimals."""


def cents_of(value: object) -> int:
    """Cents of a dollar amount given as a string, int or Decimal (``"12.5"`` -> 1250)."""
    if isinstance(value, bool) or value is None:
        raise MoneyError("not a dollar amount")
    if isinstance(value, float):  # JSON numbers: their shortest repr is the written value
        value = repr(value)
    try:
        amount = Decimal(str(value).strip().replace(",", "").lstrip("$"))
    except InvalidOperation:
        raise MoneyError("not a dollar amount") from None
    if not amount.is_finite():
        raise MoneyError("not a dollar amount")
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise MoneyError("more than two decimals")
    return int(cents)


def dollars(cents: int) -> str:
    """``12345`` -> ``"123.45"``; ``-5`` -> ``"-0.05"``."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole}.{frac:02d}"


def round_cents(value: float | Decimal) -> int:
    """A computed dollar figure (an estimate, a fee) rounded half up to whole cents."""
    return int((Decimal(str(value)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
