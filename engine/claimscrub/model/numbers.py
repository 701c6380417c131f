"""Numbers from input text and JSON, with bounded digits and exponents: the one parser every reader uses.

``Decimal("1E99999999")`` is cheap, but ``int()`` of it, or quantizing it,
never returns in practice (or raises ``InvalidOperation`` past the context's
precision), so a ten-byte amount could hang a reader. Every number read from
a claim goes through :func:`exact_number`, which refuses a text longer than
any real amount, an exponent past a few digits, and a magnitude past what
the caller allows, before any arithmetic is done on it. Python's ``Decimal``
does the parsing; only the bounds are ours (no library bounds them).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

# Money bound (documented in the claim schema): at most 999,999,999.99 either way, so cents fit the
# rule engine's 64-bit integers with room for sums.
MAX_MONEY = Decimal("999999999.99")
MAX_QUANTITY = 99999  # service units (the claim schema's bound)
MAX_TEXT = 40  # characters: "-999999999.99" is 13; X12 R elements are at most 18 digits
MAX_EXPONENT = 40  # largest power of ten of a value (1E30 reads as a number, and is then too large)
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?")


class NumberError(ValueError):
    """A value that is not a bounded number; ``problem`` says why, never echoing the value."""

    def __init__(self, problem: str):
        super().__init__(problem)
        self.problem = problem


def exact_number(value: Any, limit: Decimal | int | None = None) -> Decimal:
    """A JSON number or decimal text as an exact, finite Decimal within ``limit`` (its absolute value).

    Floats go through their shortest repr, so 140.52 stays 140.52. Raises :class:`NumberError`.
    """
    kind = type(value)
    if kind is bool or not isinstance(value, (int, float, Decimal, str)):
        raise NumberError("is not a number")
    if isinstance(value, int):  # bool was refused above
        if abs(value) >= 10**MAX_EXPONENT or (limit is not None and abs(value) > limit):
            raise NumberError("is too large" if value > 0 else "is too small")
        return Decimal(value)
    if isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_TEXT or not _NUMBER.fullmatch(text):
            raise NumberError("is not a number")
    else:
        text = repr(value) if isinstance(value, float) else str(value)
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise NumberError("is not a number") from None
    if not amount.is_finite():
        raise NumberError("is not a finite number")
    if amount.adjusted() > MAX_EXPONENT:  # tiny ones are harmless: Decimal arithmetic on them is exact and quick
        raise NumberError("is too large" if amount > 0 else "is too small")
    if limit is not None and abs(amount) > limit:
        raise NumberError("is too large" if amount > 0 else "is too small")
    return amount


def decimals(amount: Decimal) -> int:
    """How many decimal places a bounded Decimal needs (1.50 needs 1, 1E+2 needs 0)."""
    exponent = amount.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def cents_text(amount: Decimal) -> str:
    """A bounded amount as exact money text with two decimals; raises when it needs more or is out of range."""
    if abs(amount) > MAX_MONEY:
        raise NumberError("is too large" if amount > 0 else "is too small")
    if decimals(amount) > 2:
        raise NumberError("has more than two decimals")
    return f"{amount.quantize(Decimal('0.01')):f}"
