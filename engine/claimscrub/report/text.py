"""How numbers and names read in a report: one place, so the HTML, the PDF and the tests agree."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any


def money_text(value: Any) -> str:
    """Dollars with cents and thousands separators (``$25,735.33``); a dash when absent."""
    if value is None or str(value) == "":
        return "–"
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except InvalidOperation:
        return str(value)
    return f"-${-amount:,}" if amount < 0 else f"${amount:,}"


def pct_text(value: Any) -> str:
    """A rate (a fraction, as the appraisal writes it) as a percent with one decimal."""
    if value is None or str(value) == "":
        return "–"
    try:
        return f"{float(value) * 100:.1f}%"
    except (TypeError, ValueError):
        return str(value)


def num_text(value: Any) -> str:
    """A count with thousands separators; a dash when absent."""
    if value is None or str(value) == "" or isinstance(value, bool):
        return "–"
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


ACRONYMS = {"mue": "MUE", "add_on": "Add-on", "em": "E/M", "srs": "Simple random", "probe": "Probe"}


def label(name: str) -> str:
    """A snake_case category as a reader reads it: ``insufficient_documentation`` -> ``Insufficient documentation``."""
    if str(name) in ACRONYMS:
        return ACRONYMS[str(name)]
    text = str(name).replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else "(none)"
