"""The lookup memo: rows per (table, edition, key), answers per stretch of dates.

Claims ask the same codes on many dates of service. A memo keyed by the date
misses whenever the date changes, though the answer only changes where a row's
validity window starts or ends. So the memo is keyed by edition and key (the
edition for a date is resolved once per table and date) and holds the key's
rows and the dates where its answer can change; the finished rows for each
stretch between those dates are kept as they were first settled. Dates before
an edition's release are settled every time (their rows may carry a caveat
naming the date, or be dated by another table). Size-capped: the oldest
quarter is dropped when full, so memory stays flat on any number of claims.
"""

from __future__ import annotations

import itertools
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from claimscrub.refdata.tables import Edition, RawRow, TableDef

_AFTER = "~"  # sorts after every digit: "2024-06-30~" lies between 2024-06-30 and 2024-07-01


def change_dates(rows: Sequence[RawRow]) -> tuple[str, ...]:
    """Where the rows in force can change: each window's start, and just after each window's end."""
    found = {r.valid_from for r in rows if r.valid_from} | {r.valid_to + _AFTER for r in rows if r.valid_to}
    return tuple(sorted(found))


@dataclass(slots=True)
class KeyRows:
    """One key's rows in one edition, with the answers already settled for each stretch of dates."""

    rows: tuple[RawRow, ...]
    bounds: tuple[str, ...]
    answers: dict[int, tuple[dict[str, Any], ...]] = field(default_factory=dict)
    history: tuple[dict[str, Any], ...] | None = None

    @classmethod
    def of(cls, rows: Sequence[RawRow]) -> KeyRows:
        return cls(tuple(rows), change_dates(rows))

    def answer(
        self,
        defn: TableDef,
        ed: Edition,
        dos: str,
        settle: Callable[[TableDef, Edition, Sequence[RawRow], str], list[dict[str, Any]]],
    ) -> Sequence[dict[str, Any]]:
        """The settled rows for ``dos`` (shared: copy before handing out); ``settle`` computes them."""
        if len(dos) == 10 and (ed.date is None or dos >= ed.date or defn.effective.mode == "none"):
            stretch = bisect_right(self.bounds, dos)
            found = self.answers.get(stretch)
            if found is None:
                found = self.answers[stretch] = tuple(settle(defn, ed, self.rows, dos))
            return found
        return settle(defn, ed, self.rows, dos)


NO_ROWS = KeyRows((), ())


def remember(memo: dict, key: Any, value: Any, cap: int) -> None:
    """Store ``value``; when the memo is full, drop its oldest quarter first."""
    if len(memo) >= cap:
        for old in list(itertools.islice(memo, max(cap // 4, 1))):
            del memo[old]
    memo[key] = value
