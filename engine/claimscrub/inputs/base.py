"""What every input reader yields: one item per claim found, readable or not.

A reader never raises for one bad claim: it yields an :class:`InputItem` with
``error`` set (and the claim id when it could be found), so the batch goes on
and every claim is accounted for in the output. A defect the reader could read
past (a wrong envelope count, a malformed taxonomy it dropped) does not cost the
claim: the claim is read and the defect rides along as a :class:`Note`, which
the scrubber turns into a finding.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Note:
    """A conformance problem in the input that did not stop the claim from being read.

    Carries everything a finding needs, so the scrubber stays format-agnostic
    and the finding is the same whichever process or front end scrubs the item.
    """

    rule_id: str  # stable id, e.g. CS-X12-001
    category: str  # a finding category (claim_integrity, code_validity, ...)
    severity: str  # error | warning | info
    title: str
    message: str  # names the segment number and element, never PHI
    fix: str
    citation: str
    line: int | None = None  # service line sequence, when the problem is about one line
    field: str | None = None  # native claim field, when there is one


@dataclass(slots=True)
class InputItem:
    source: str  # where it came from: "claims.json#3", "batch.837:seg 120"
    claim_id: str | None  # None only when not even the id could be read
    data: dict[str, Any] | None  # native-claim-shaped dict (schemas/claim.schema.json)
    error: str | None = None  # why it could not be read; data is None then
    field: str | None = None  # the field the error is about, when known
    notes: tuple[Note, ...] = ()  # problems read past; only on items with data

    @classmethod
    def failed(cls, source: str, claim_id: str | None, error: str, field: str | None = None) -> InputItem:
        return cls(source=source, claim_id=claim_id, data=None, error=error, field=field)


class ResultPairing:
    """Pairs each input item with its result as results stream past (one result per item, in input order).

    The phases that run after scrubbing (the batch phase, the cross-claim edits) watch the items on
    their way to the scrubber and take each result as it comes back."""

    def __init__(self) -> None:
        self._pending: deque[InputItem] = deque()

    def watch(self, items: Iterable[InputItem]) -> Iterator[InputItem]:
        for item in items:
            self._pending.append(item)
            yield item

    def item_of(self, result: Any) -> InputItem:
        """The item ``result`` came from: the oldest one not yet paired."""
        return self._pending.popleft()


class InputFormatError(Exception):
    """A whole file or stream could not be read (named in the error output)."""
