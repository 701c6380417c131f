"""What every input reader yields: one item per claim found, readable or not.

A reader never raises for one bad claim: it yields an :class:`InputItem` with
``error`` set (and the claim id when it could be found), so the batch goes on
and every claim is accounted for in the output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class InputItem:
    source: str  # where it came from: "claims.json#3", "batch.837:seg 120"
    claim_id: str | None  # None only when not even the id could be read
    data: dict[str, Any] | None  # native-claim-shaped dict (schemas/claim.schema.json)
    error: str | None = None  # why it could not be read; data is None then
    field: str | None = None  # the field the error is about, when known

    @classmethod
    def failed(cls, source: str, claim_id: str | None, error: str, field: str | None = None) -> "InputItem":
        return cls(source=source, claim_id=claim_id, data=None, error=error, field=field)


class InputFormatError(Exception):
    """A whole file or stream could not be read (named in the error output)."""
