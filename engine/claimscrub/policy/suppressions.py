"""Findings a biller or reviewer accepted, kept in an append-only JSON Lines file.

Each record says who accepted which finding (claim id, line, rule id) and why,
on which date, and optionally until when. Records are only ever appended:
the file is the audit trail. A later scrub reports a matching finding under
``suppressed`` (counted, listed on request), never drops it.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson


class SuppressionError(ValueError):
    """A suppression record or file is wrong; the message names the file, the record and the field."""


@dataclass(frozen=True, slots=True)
class Suppression:
    claim_id: str
    line: int | None  # None: a claim-level finding
    rule_id: str
    reason: str
    by: str
    date: str
    expires: str | None = None

    def active_on(self, today: str) -> bool:
        return self.date <= today and (self.expires is None or today <= self.expires)

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None or k == "line"}


def _iso(value: object, field: str, where: str) -> str:
    try:
        return _dt.date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise SuppressionError(f"{where}: {field} is not a date YYYY-MM-DD") from None


def from_dict(raw: object, where: str) -> Suppression:
    if not isinstance(raw, dict):
        raise SuppressionError(f"{where}: expected an object")
    for name in ("claim_id", "rule_id", "reason", "by", "date"):
        if not isinstance(raw.get(name), str) or not raw[name].strip():
            raise SuppressionError(f"{where}: '{name}' is required (non-empty text)")
    line = raw.get("line")
    if line is not None and (not isinstance(line, int) or isinstance(line, bool) or line < 1):
        raise SuppressionError(f"{where}: 'line' must be a line sequence (1 or more) or null")
    expires = _iso(raw["expires"], "expires", where) if raw.get("expires") else None
    date = _iso(raw["date"], "date", where)
    if expires is not None and expires < date:
        raise SuppressionError(f"{where}: 'expires' is before 'date'")
    return Suppression(raw["claim_id"], line, raw["rule_id"], raw["reason"], raw["by"], date, expires)


def load(path: Path | str) -> list[Suppression]:
    """Every record of the file (none when it does not exist yet)."""
    path = Path(path)
    if not path.is_file():
        return []
    out = []
    for n, text in enumerate(path.read_bytes().splitlines(), 1):
        if text.strip():
            try:
                raw = orjson.loads(text)
            except orjson.JSONDecodeError:
                raise SuppressionError(f"{path}:{n}: not a JSON object") from None
            out.append(from_dict(raw, f"{path}:{n}"))
    return out


def append(path: Path | str, record: Suppression) -> None:
    """Append one record (one write of one line, flushed to disk: the file is never rewritten)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as fh:
        fh.write(orjson.dumps(record.as_dict()) + b"\n")
        fh.flush()
        os.fsync(fh.fileno())


class SuppressionIndex:
    """The records in force on a date, by (claim id, rule id, line)."""

    def __init__(self, records: Iterable[Suppression], today: str):
        self._by_key: dict[tuple[str, str, int | None], Suppression] = {}
        for rec in records:
            if rec.active_on(today):
                self._by_key[(rec.claim_id, rec.rule_id, rec.line)] = rec  # the latest record wins

    def __len__(self) -> int:
        return len(self._by_key)

    def find(self, claim_id: str | None, rule_id: str, line: int | None) -> Suppression | None:
        if claim_id is None:
            return None
        return self._by_key.get((claim_id, rule_id, line))
