"""The fixed set of functions rule expressions may call.

Each has a typed signature (lint checks calls against it) and a pure
implementation. A function receives ``None`` for a missing argument and
returns ``None`` (missing) unless its definition says otherwise.
Table lookups get the evaluation context's date of service, so a rule always
reads the edition in force on the date the service was rendered. The domain
functions (code sets, E/M tables) live in their own modules and are listed here
explicitly: nothing is registered as a side effect of an import.
"""

from __future__ import annotations

import datetime as _dt
import functools

from claimscrub.lang import fn_codes, fn_encounter
from claimscrub.lang.signature import VARIADIC, Function
from claimscrub.lang.types import ANY, BOOL, DATE, INTEGER, STRING, ListT, RowT


@functools.lru_cache(maxsize=1 << 16)
def npi_valid(npi: str | None) -> bool | None:
    """NPI check digit: Luhn over the prefix 80840 and the first nine digits (memoised: a batch
    repeats a few billing and rendering NPIs on every claim and line)."""
    if npi is None:
        return None
    if len(npi) != 10 or not npi.isdigit():
        return False
    digits = "80840" + npi[:9]
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10 == int(npi[9])


def _date(s: str) -> _dt.date:
    return _dt.date.fromisoformat(s)


@functools.lru_cache(maxsize=1 << 16)
def age_on(birth: str | None, on: str | None) -> int | None:
    """Whole years from birth to a date (memoised: every line of every claim asks)."""
    if birth is None or on is None:
        return None
    b, d = _date(birth), _date(on)
    return d.year - b.year - ((d.month, d.day) < (b.month, b.day))


@functools.lru_cache(maxsize=1 << 16)
def days_between(a: str | None, b: str | None) -> int | None:
    """Days from a to b (memoised, as are the other date functions: global-period rules ask for
    every pair of lines, and a batch has a few hundred dates of service)."""
    if a is None or b is None:
        return None
    return (_date(b) - _date(a)).days


@functools.lru_cache(maxsize=1 << 16)
def add_days(d: str | None, n: int | None) -> str | None:
    """The date n days on; past the calendar's ends (year 1 / 9999) it stays at the end, so a
    comparison with it keeps its sense instead of raising on a far date of service."""
    if d is None or n is None:
        return None
    try:
        return (_date(d) + _dt.timedelta(days=int(n))).isoformat()
    except OverflowError:
        return (_dt.date.max if n > 0 else _dt.date.min).isoformat()


def year(d: str | None) -> int | None:
    return None if d is None else int(d[:4])


def length(x) -> int | None:
    return None if x is None else len(x)


def intersects(a, b) -> bool | None:
    if a is None or b is None:
        return None
    if isinstance(b, (set, frozenset)):  # a value set: one C-level call
        return not b.isdisjoint(a)
    return any(x in b for x in a)


def starts_with(s: str | None, prefix: str | None) -> bool | None:
    if s is None or prefix is None:
        return None
    return s.startswith(prefix)


def lookup(ctx, table: str, *key: str) -> dict | None:
    if any(k is None for k in key):
        return None
    return ctx.lookup(table, key)


def lookup_on(ctx, table: str, on: str | None, *key: str) -> dict | None:
    """``lookup`` in the edition in force on another date: a history line's service is edited by the
    table of its own date of service, not the date of the line it is compared with."""
    if on is None or any(k is None for k in key):
        return None
    return ctx.lookup(table, key, on)


def has_table(ctx, table: str) -> bool:
    return ctx.tables is not None and ctx.tables.loaded(table)


FUNCTIONS: dict[str, Function] = {
    f.name: f
    for f in [
        Function("npi_valid", (STRING,), BOOL, npi_valid, "True when the NPI has 10 digits and a valid check digit."),
        Function("age", (DATE, DATE), INTEGER, age_on, "Whole years from a birth date to a date."),
        Function("days_between", (DATE, DATE), INTEGER, days_between, "Days from the first date to the second."),
        Function("add_days", (DATE, INTEGER), DATE, add_days, "The date n days after (or before, n < 0) a date."),
        Function("year", (DATE,), INTEGER, year, "Calendar year of a date."),
        Function("len", (ANY,), INTEGER, length, "Length of a list or string."),
        Function(
            "intersects",
            (ListT(STRING), ANY),
            BOOL,
            intersects,
            "True when any item of the list is in the second list or value set.",
        ),
        Function("starts_with", (STRING, STRING), BOOL, starts_with, "True when the string starts with the prefix."),
        Function(
            "lookup",
            (STRING, STRING, VARIADIC),
            RowT(),
            lookup,
            "The row of a table in force on the date of service for these key values (a key prefix is "
            "allowed), or missing.",
            needs_context=True,
            min_args=2,
        ),
        Function(
            "lookup_on",
            (STRING, DATE, STRING, VARIADIC),
            RowT(),
            lookup_on,
            "The row of a table in force on the given date (a history line's from_date) for these key values, "
            "or missing.",
            needs_context=True,
            min_args=3,
        ),
        Function(
            "has_table", (STRING,), BOOL, has_table, "True when any edition of the table is loaded.", needs_context=True
        ),
        *fn_codes.FUNCTIONS,
        *fn_encounter.FUNCTIONS,
    ]
}

__all__ = ["FUNCTIONS", "Function", "VARIADIC", "npi_valid"]
