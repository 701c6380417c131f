"""Code-set functions for the code-validity, diagnosis and MPFS rules.

ICD-10-CM structure (valid, billable, Excludes1, manifestation) comes from the
``simple-icd-10-cm`` tabular list through :mod:`claimscrub.refdata.codesets`, cached there
per code. Dates a code started or ended come from the loaded tables'
history (the edition answering for the date of service), so a finding can say
*when* a deleted code stopped being valid rather than only that it is not.
Everything here is pure: same arguments (and date of service), same answer.
"""

from __future__ import annotations

import functools

from claimscrub.lang.signature import VARIADIC, Function
from claimscrub.lang.types import ANY, BOOL, DATE, INTEGER, STRING, ListT
from claimscrub.refdata import codesets
from claimscrub.refdata.tables import within

# MPFS indicator values in our own words, after the PPRRVU file layout
# (CMS, "RVU24C ... record layout", fields PCTC IND, BILAT SURG, ASST SURG,
# CO SURG, TEAM SURG, STATUS CODE). Shown in messages so a biller sees what
# the number means without the layout at hand.
PFS_MEANINGS: dict[str, dict[str, str]] = {
    "pctc": {
        "0": "a physician service: the PC/TC split does not apply, so 26 and TC are not used",
        "1": "a diagnostic test with professional and technical components: 26 and TC apply",
        "2": "a professional-component-only code: the code is the interpretation, so neither 26 nor TC applies",
        "3": "a technical-component-only code: neither 26 nor TC applies",
        "4": "a global-test-only code: separate codes exist for the components, so 26 and TC are not used",
        "5": "an incident-to service: 26 and TC do not apply",
        "6": "a laboratory physician interpretation code: TC does not apply",
        "7": "a physical therapy service paid only in private practice: 26 and TC do not apply",
        "8": "a physician interpretation code: the technical part is not billable, TC does not apply",
        "9": "a code to which the PC/TC concept does not apply",
    },
    "bilateral": {
        "0": "150% payment adjustment for bilateral procedures does not apply: modifier 50 is not allowed",
        "1": "150% payment adjustment applies: bill one line with modifier 50 and one unit",
        "2": "the code is already bilateral (or paid as such): modifier 50 is not allowed",
        "3": "each side is paid as a separate procedure: report RT/LT or two units, not modifier 50",
        "9": "the bilateral concept does not apply: modifier 50 is not allowed",
    },
    "assistant": {
        "0": "assistant at surgery paid only with documentation of medical necessity",
        "1": "statutory payment restriction: an assistant at surgery is not paid",
        "2": "no restriction: an assistant at surgery may be paid",
        "9": "the assistant-at-surgery concept does not apply",
    },
    "co_surgery": {
        "0": "co-surgeons not permitted for this procedure",
        "1": "co-surgeons paid only with supporting documentation",
        "2": "co-surgeons permitted, no documentation required",
        "9": "the co-surgeon concept does not apply",
    },
    "team": {
        "0": "team surgeons not permitted for this procedure",
        "1": "team surgeons paid only with supporting documentation (by report)",
        "2": "team surgeons permitted, paid by report",
        "9": "the team-surgeon concept does not apply",
    },
    "status": {
        "A": "active: paid under the fee schedule",
        "B": "bundled: payment is always included in another service, never paid separately",
        "C": "carrier priced",
        "E": "excluded from the fee schedule by regulation",
        "I": "not valid for Medicare purposes: Medicare uses another code for this service",
        "M": "measurement code, for reporting only",
        "N": "non-covered service: Medicare does not pay for it",
        "P": "bundled or excluded: no separate payment under the fee schedule",
        "R": "restricted coverage: paid only in special circumstances",
        "T": "injection: paid only when no other service is billed that day",
        "X": "statutory exclusion: not a physician service for fee schedule payment",
    },
}


def pfs_meaning(indicator: str | None, value) -> str | None:
    """What an MPFS indicator value means (missing for an unknown indicator/value)."""
    if indicator is None or value is None:
        return None
    return PFS_MEANINGS.get(indicator, {}).get(str(value).strip().upper())


def icd_valid(code: str | None) -> bool | None:
    """An ICD-10-CM category, subcategory or code (chapters and blocks are not)."""
    return None if code is None else codesets.icd_exists(code)


def icd_billable(code: str | None) -> bool | None:
    """Reportable: a leaf of the tabular list, not a chapter or block."""
    return None if code is None else codesets.icd_billable(code)


def icd_manifestation(code: str | None) -> bool | None:
    """A manifestation code (code-first note and an 'in diseases classified elsewhere' title)."""
    return None if code is None else codesets.icd_is_manifestation(code)


def icd_title(code: str | None) -> str | None:
    """The ICD-10-CM title (public CDC/NCHS text), for messages."""
    return None if code is None else codesets.icd_description(code)


def icd_side(code: str | None) -> str | None:
    """The side the ICD-10-CM code states: right / left / bilateral / unspecified, or missing."""
    return None if code is None else codesets.icd_side(code)


@functools.lru_cache(maxsize=262_144)
def _excl1(a: str, b: str) -> bool:
    na, nb = codesets.normalise(a), codesets.normalise(b)
    if not na or not nb or na == nb:
        return False
    return any(r.covers(nb) for r in codesets.icd_excludes1(na)) or any(
        r.covers(na) for r in codesets.icd_excludes1(nb)
    )


def icd_excludes1(a: str | None, b: str | None) -> bool | None:
    """True when an Excludes1 note on either code or one of its ancestors names the other."""
    if a is None or b is None:
        return None
    return _excl1(a, b)


def icd_excludes1_codes(code: str | None, codes: list | None) -> list[str] | None:
    """The codes of the list that may not be coded with this one (Excludes1, either way)."""
    if code is None or codes is None:
        return None
    return [c for c in codes if c is not None and _excl1(code, c)]


def _history(ctx, table: str, key: tuple) -> list[dict]:
    if ctx.tables is None or ctx.dos is None or any(k is None for k in key) or not ctx.tables.loaded(table):
        return []
    return ctx.tables.history(table, tuple(key), ctx.dos)


def _cite(ctx, row: dict) -> None:
    if ctx.rows is not None:
        ctx.rows.append(row)


def ended_on(ctx, table: str, *key: str) -> str | None:
    """The last date of service a key's rows covered, when none is in force on the date
    of service and the latest ended before it (a deleted or terminated code); else missing."""
    rows = _history(ctx, table, key)
    if not rows or any(within(r["_from"], r["_to"], ctx.dos) for r in rows):
        return None
    ended = [r for r in rows if r["_to"] is not None and r["_to"] < ctx.dos]
    if not ended or any(r["_from"] is not None and r["_from"] > ctx.dos for r in rows):
        return None
    last = max(ended, key=lambda r: r["_to"])
    _cite(ctx, last)
    return last["_to"]


def starts_on(ctx, table: str, *key: str) -> str | None:
    """The first date a key's rows cover, when that is after the date of service and no
    row is in force on it (a code billed before it became valid); else missing."""
    rows = _history(ctx, table, key)
    if not rows or any(within(r["_from"], r["_to"], ctx.dos) for r in rows):
        return None
    later = [r for r in rows if r["_from"] is not None and r["_from"] > ctx.dos]
    if not later:
        return None
    first = min(later, key=lambda r: r["_from"])
    _cite(ctx, first)
    return first["_from"]


def covers(ctx, table: str) -> bool:
    """True when a loaded edition of the table reaches the date of service: outside
    that range a missing row says nothing about a code."""
    return ctx.tables is not None and ctx.dos is not None and bool(ctx.tables.covers(table, ctx.dos))


def lists_all(ctx, table: str) -> bool:
    """True when the edition in force on the date of service lists every code (not a bundled
    sample of a few): only then does a code's absence mean it does not exist."""
    return ctx.tables is not None and ctx.dos is not None and bool(ctx.tables.lists_all(table, ctx.dos))


def age_in_range(age: int | None, low: int | None, high: int | None) -> bool | None:
    """low <= age <= high (missing when any is missing)."""
    if age is None or low is None or high is None:
        return None
    return low <= age <= high


FUNCTIONS = (
    Function(
        "icd_valid",
        (STRING,),
        BOOL,
        icd_valid,
        "True when the code is an ICD-10-CM category, subcategory or code (simple-icd-10-cm tabular list).",
    ),
    Function(
        "icd_billable",
        (STRING,),
        BOOL,
        icd_billable,
        "True when the ICD-10-CM code is billable: a leaf of the tabular list, not a chapter or block.",
    ),
    Function(
        "icd_manifestation",
        (STRING,),
        BOOL,
        icd_manifestation,
        "True for a manifestation code (code-first note, 'in diseases classified elsewhere'): never first-listed.",
    ),
    Function("icd_title", (STRING,), STRING, icd_title, "The ICD-10-CM title of a code (public text), for messages."),
    Function(
        "icd_side",
        (STRING,),
        STRING,
        icd_side,
        "The side an ICD-10-CM code states (right, left, bilateral, or unspecified when its siblings name "
        "a side), from the tabular list; missing for a code without laterality.",
    ),
    Function(
        "icd_excludes1",
        (STRING, STRING),
        BOOL,
        icd_excludes1,
        "True when an Excludes1 note on either code or an ancestor names the other: never coded together.",
    ),
    Function(
        "icd_excludes1_codes",
        (STRING, ListT(STRING)),
        ListT(STRING),
        icd_excludes1_codes,
        "The codes of the list that an Excludes1 note (on either code or an ancestor) bars with this code.",
    ),
    Function(
        "ended_on",
        (STRING, STRING, VARIADIC),
        DATE,
        ended_on,
        "The last valid date of a key (a code) that is no longer in force on the date of service, else "
        "missing; the row is cited.",
        needs_context=True,
        min_args=2,
    ),
    Function(
        "starts_on",
        (STRING, STRING, VARIADIC),
        DATE,
        starts_on,
        "The first valid date of a key (a code) that is not yet in force on the date of service, else "
        "missing; the row is cited.",
        needs_context=True,
        min_args=2,
    ),
    Function(
        "covers",
        (STRING,),
        BOOL,
        covers,
        "True when a loaded edition of the table covers the date of service.",
        needs_context=True,
    ),
    Function(
        "lists_all",
        (STRING,),
        BOOL,
        lists_all,
        "True when the table's edition in force lists every code (not a sample): a code's absence then "
        "means it does not exist.",
        needs_context=True,
    ),
    Function(
        "pfs_meaning",
        (STRING, ANY),
        STRING,
        pfs_meaning,
        "What an MPFS indicator value means (pctc, bilateral, assistant, co_surgery, team, status).",
    ),
    Function("age_in_range", (INTEGER, INTEGER, INTEGER), BOOL, age_in_range, "True when low <= age <= high."),
)
