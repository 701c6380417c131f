"""Dollars as the audit files write them: exact decimal strings over integer cents (never floats)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")


class MoneyError(ValueError):
    """A value that is not a dollar amount with at most two decimals."""


def cents_of(value: object) -> int:
    """Cents of a dollar amount given as a string, int or Decimal (``"12.5"`` -> 1250)."""
    if type(value) is str:  # the common case, a plain "123.45", without Decimal: frames hold millions
        whole, dot, frac = value.partition(".")
        digits = whole[1:] if whole[:1] == "-" else whole
        if (
            digits.isdigit()
            and digits.isascii()
            and len(frac) <= 2
            and (not dot or (frac.isdigit() and frac.isascii()))
        ):
            cents = int(digits) * 100 + (int(frac.ljust(2, "0")) if frac else 0)
            return -cents if whole[:1] == "-" else cents
    if isinstance(value, bool) or value is None:
        raise MoneyError("not a dollar amount")
    if isinstance(value, float):  # JSON numbers: their shortest repr is the written value
        value = repr(value)
    text = str(value).strip().replace(",", "").lstrip("$")
    if not text.isascii():
        raise MoneyError("not a dollar amount")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise MoneyError("not a dollar amount") from None
    if not amount.is_finite():
        raise MoneyError("not a dollar amount")
    scaled = amount * 100
    if scaled != scaled.to_integral_value():
        raise MoneyError("more than two decimals")
    return int(scaled)


def dollars(cents: int) -> str:
    """``12345`` -> ``"123.45"``; ``-5`` -> ``"-0.05"``."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole}.{frac:02d}"


def round_cents(value: float | Decimal) -> int:
    """A computed dollar figure (an estimate, a fee) rounded half up to whole cents."""
    return int((Decimal(str(value)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
