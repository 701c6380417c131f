"""Frequency limits: how often a service may be paid for one patient, read from a YAML table.

The bundled ``rules/tables/history/frequency_limits.yaml`` is a small sample citing its sources;
a payer loads its own in the same shape. A bad table is refused naming the entry and the field.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from claimscrub.resources import rules_dir
from claimscrub.yamlio import safe_load


@dataclass(frozen=True, slots=True)
class FrequencyLimit:
    id: str
    codes: frozenset[str]
    limit: int
    source: str
    months: int | None = None  # repeat payable from the Nth calendar month after the last one's month
    lifetime: bool = False
    payer_types: frozenset[str] = frozenset()  # empty: every payer
    per_provider: bool = False  # the limit binds each provider (NPI) apart: others' services do not count

    def applies(self, code: str, payer_type: str) -> bool:
        return code in self.codes and (not self.payer_types or payer_type in self.payer_types)

    def counts(self, prior_date: str, date: str) -> bool:
        """Does a service on ``prior_date`` count against one on ``date``?"""
        if prior_date > date:
            return False
        if self.lifetime:
            return True
        assert self.months is not None
        months = (int(date[:4]) - int(prior_date[:4])) * 12 + int(date[5:7]) - int(prior_date[5:7])
        return months < self.months

    def describe(self) -> str:
        text = (
            "once per lifetime"
            if self.lifetime and self.limit == 1
            else (f"{self.limit} per lifetime" if self.lifetime else f"{self.limit} per {self.months} months")
        )
        return text + (" per provider" if self.per_provider else "")


def default_limits_path() -> Path:
    return rules_dir() / "tables" / "history" / "frequency_limits.yaml"


def load_limits(path: str | Path | None = None) -> tuple[FrequencyLimit, ...]:
    """The frequency-limit table (the bundled sample by default); ValueError names a bad entry's field."""
    return _read(Path(path)) if path else _bundled()


@functools.cache
def _bundled() -> tuple[FrequencyLimit, ...]:
    """The bundled sample, read once per process (every batch builds its edit context from it)."""
    return _read(default_limits_path())


def _read(source: Path) -> tuple[FrequencyLimit, ...]:
    raw = safe_load(source.read_text(encoding="utf-8"))
    entries = raw.get("limits") if isinstance(raw, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"{source}: 'limits' must be a list")
    out = []
    for n, entry in enumerate(entries):
        where = f"{source}: limits[{n}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: not a mapping")
        codes, limit = entry.get("codes"), entry.get("limit")
        months, lifetime = entry.get("months"), bool(entry.get("lifetime", False))
        if not isinstance(codes, list) or not codes or not all(isinstance(c, str) for c in codes):
            raise ValueError(f"{where}.codes: a non-empty list of code strings is needed")
        if not isinstance(limit, int) or limit < 1:
            raise ValueError(f"{where}.limit: a positive integer is needed")
        if lifetime == (months is not None) or (months is not None and (not isinstance(months, int) or months < 1)):
            raise ValueError(f"{where}: give either 'lifetime: true' or 'months' (a positive integer)")
        if not isinstance(entry.get("per_provider", False), bool):
            raise ValueError(f"{where}.per_provider: true or false")
        if not entry.get("source"):
            raise ValueError(f"{where}.source: every limit cites where it comes from")
        out.append(
            FrequencyLimit(
                id=str(entry.get("id") or f"limit-{n}"),
                codes=frozenset(codes),
                limit=limit,
                source=str(entry["source"]),
                months=months,
                lifetime=lifetime,
                payer_types=frozenset(entry.get("payer_types") or ()),
                per_provider=entry.get("per_provider", False),
            )
        )
    return tuple(out)
