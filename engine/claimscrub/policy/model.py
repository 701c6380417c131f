"""Payer policies: what an overlay says, as typed values (loading is in :mod:`.loader`).

A policy selects claims by payer and date of service and changes rules for them
without touching the packs: off or on, severity, an extra ``unless``, carve-outs,
the payer's own edit code and CARC/RARC, and which table a rule reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from claimscrub.lang import ast as A


@dataclass(frozen=True, slots=True)
class Selector:
    """Which claims a policy applies to; every given part must match (none given: every claim)."""

    payer_types: frozenset[str] = frozenset()
    payer_ids: frozenset[str] = frozenset()
    payer_names: tuple[re.Pattern[str], ...] = ()
    date_from: str | None = None
    date_to: str | None = None

    def matches(self, payer_type: str | None, payer_id: str | None, payer_name: str | None, dos: str) -> bool:
        if self.payer_types and payer_type not in self.payer_types:
            return False
        if self.payer_ids and payer_id not in self.payer_ids:
            return False
        if self.payer_names and not (payer_name and any(p.search(payer_name) for p in self.payer_names)):
            return False
        if self.date_from is not None and dos < self.date_from:
            return False
        return self.date_to is None or dos <= self.date_to

    @property
    def boundaries(self) -> tuple[str, ...]:
        """Dates where the answer can change (the start, and the day after the end, as ISO text)."""
        out = []
        if self.date_from:
            out.append(self.date_from)
        if self.date_to:
            out.append(self.date_to + "~")  # sorts after the date itself, before the next day
        return tuple(out)


@dataclass(frozen=True, slots=True)
class CarveOut:
    """Lines a rule leaves alone for a while: by provider and/or code; every given part must match."""

    reason: str
    until: str  # last date of service covered
    providers: frozenset[str] = frozenset()
    codes: frozenset[str] = frozenset()
    code_ranges: tuple[tuple[str, str], ...] = ()

    def covers(self, npi: str | None, code: str | None, dos: str) -> bool:
        if dos > self.until:
            return False
        if self.providers and npi not in self.providers:
            return False
        if self.codes or self.code_ranges:
            if code is None:
                return False
            in_range = any(len(code) == len(lo) and lo <= code <= hi for lo, hi in self.code_ranges)
            return code in self.codes or in_range
        return True


@dataclass(frozen=True, slots=True)
class PayerEdit:
    """The payer's own name for a rule's finding: its edit code and the CARC/RARC it expects to send."""

    edit_code: str | None = None
    carc: str | None = None
    rarc: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        out: dict = {}
        if self.edit_code:
            out["edit_code"] = self.edit_code
        if self.carc:
            out["carc"] = self.carc
        if self.rarc:
            out["rarc"] = list(self.rarc)
        return out


@dataclass(frozen=True, slots=True)
class RuleChange:
    """One entry of a policy's ``rules``: what it does to the rules (or pack) it names."""

    rule_ids: tuple[str, ...]
    pack: str | None
    reason: str
    line: int
    enabled: bool | None = None
    severity: str | None = None
    unless: A.Node | None = None
    unless_text: str | None = None
    replaced_by: str | None = None
    carve_outs: tuple[CarveOut, ...] = ()
    payer_edit: PayerEdit | None = None
    source: str | None = None


@dataclass(frozen=True, slots=True)
class TableChoice:
    """Rules naming ``table`` read the first loaded table of ``use`` instead (none loaded: not checked)."""

    table: str
    use: tuple[str, ...]
    reason: str
    line: int


@dataclass(frozen=True, slots=True)
class Policy:
    id: str
    title: str
    file: str
    selector: Selector
    changes: tuple[RuleChange, ...] = ()
    tables: tuple[TableChoice, ...] = ()
    priority: int = 100
    references: tuple[str, ...] = ()
    description: str = ""

    def where(self, line: int) -> str:
        return f"policy '{self.id}' ({self.file}:{line})"
