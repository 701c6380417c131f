"""The history scope: each line of a claim beside each line of the patient's other claims.

The cross-claim phase (engine/claimscrub/history/phase.py) gives a claim's view a
:class:`HistoryWindow` under ``view["_history"]`` (a name no rule can read): the other claims' lines
near the claim's dates, nearest first up to :data:`MAX_HISTORY_LINES`, so the work per claim stays
bounded however long the patient's history is; when the cap cuts, every history rule is reported
"not checked" on that claim rather than passed.

A rule's ``hist`` is a :class:`HistPair`: the stored fields of the other line, and its relations to
``line`` (days between, same physician or same group and specialty, units billed that day, the
frequency limit it counts against), each computed only when a rule reads it. The fact builder pairs
lines with history lines only within groups equal on the fields every rule of a group requires equal
(``hist.code == line.code``: a hash join), and runs the tests that read only the claim and the line
once per line, so a line no rule can fire on costs nothing per history line.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any

from claimscrub.compile.budget import tick

MAX_HISTORY_LINES = 400  # history lines one claim is compared with (the nearest by date of service)
_ids = itertools.count()


@dataclass(eq=False)
class HistoryWindow:
    """What the patient's other claims hold, as one claim sees them."""

    lines: list[dict]  # history lines as dicts (HISTORY_FIELDS' stored fields), ordered by date of service
    earlier: list[bool]  # per line: ordered before this claim
    billing_npi: str | None = None
    specialty: str | None = None  # this claim's rendering specialty (else taxonomy), else the billing one's
    payer_type: str | None = None
    claim_type: str | None = None
    limits_by_code: dict[str, list] = field(default_factory=dict)  # code -> FrequencyLimit-like entries
    cut: int = 0  # lines left out by MAX_HISTORY_LINES
    _day_units: dict = field(default_factory=dict)


class HistPair:
    """``hist`` of the history scope: a history line, seen from one line of this claim."""

    __slots__ = ("_h", "_line", "_window", "_index", "earlier", "_limit")

    def __init__(self, h: dict, line: dict, window: HistoryWindow, index: int):
        self._h, self._line, self._window, self._index = h, line, window, index
        self.earlier = window.earlier[index]
        self._limit: Any = False  # not looked up yet

    def __getattr__(self, name: str) -> Any:  # the stored fields
        return self._h.get(name)

    @property
    def days_after(self) -> int:
        return (date.fromisoformat(self._line["from_date"]) - date.fromisoformat(self._h["from_date"])).days

    @property
    def same_provider(self) -> bool:
        return self._h.get("provider_npi") is not None and self._h["provider_npi"] == self._line["provider_npi"]

    @property
    def same_group_specialty(self) -> bool:
        w = self._window
        own = self._h.get("specialty") or self._h.get("taxonomy")
        return w.specialty is not None and self._h.get("billing_npi") == w.billing_npi and own == w.specialty

    @property
    def same_physician(self) -> bool:
        return self.same_provider or self.same_group_specialty

    @property
    def same_modifiers(self) -> bool:
        return frozenset(self._h.get("modifiers") or ()) == frozenset(self._line.get("modifiers") or ())

    @property
    def day_units(self) -> Decimal:
        line, w = self._line, self._window
        key = (line["code"], line["from_date"], line["provider_npi"])
        if key not in w._day_units:
            w._day_units[key] = sum(
                (
                    Decimal(h["units"])
                    for h, earlier in zip(w.lines, w.earlier)
                    if earlier
                    and h["code"] == key[0]
                    and h["from_date"] == key[1]
                    and h["claim_type"] == w.claim_type
                    and (h.get("billing_npi") == w.billing_npi or h.get("provider_npi") == key[2])
                ),
                Decimal(0),
            )
        return w._day_units[key]

    def _frequency(self) -> tuple | None:
        """(limit, services counting against it) for the first limit of line.code this line counts against."""
        if self._limit is not False:
            return self._limit
        self._limit = None
        line, w, h = self._line, self._window, self._h
        if not self.earlier:
            return None
        for limit in w.limits_by_code.get(line["code"], ()):
            if not limit.applies(line["code"], w.payer_type) or h["code"] not in limit.codes:
                continue
            if not limit.counts(h["from_date"], line["from_date"]) or (limit.per_provider and not self.same_provider):
                continue
            count = sum(
                1
                for other, earlier in zip(w.lines, w.earlier)
                if earlier
                and other["code"] in limit.codes
                and limit.counts(other["from_date"], line["from_date"])
                and (not limit.per_provider or other.get("provider_npi") == line["provider_npi"])
            )
            self._limit = (limit, count)
            break
        return self._limit

    @property
    def limit_id(self) -> str | None:
        found = self._frequency()
        return found[0].id if found else None

    @property
    def limit(self) -> int | None:
        found = self._frequency()
        return found[0].limit if found else None

    @property
    def limit_text(self) -> str | None:
        found = self._frequency()
        return found[0].describe() if found else None

    @property
    def limit_source(self) -> str | None:
        found = self._frequency()
        return found[0].source if found else None

    @property
    def limit_count(self) -> int | None:
        found = self._frequency()
        return found[1] if found else None


def window_of(view: dict) -> HistoryWindow | None:
    return view.get("_history")


def history_contexts(view: dict, pair_keys: tuple[str, ...] = ()) -> Iterator[tuple[dict, str]]:
    """Every (names, date of service) of the history scope: each line with each history line
    (only those equal on ``pair_keys``, a hash join)."""
    window = window_of(view)
    if window is None or not window.lines:
        return
    index = _index(window, pair_keys)
    for line in view["lines"]:
        for i in _partners(index, window, line, pair_keys):
            yield {"claim": view, "line": line, "hist": HistPair(window.lines[i], line, window, i)}, line["from_date"]


def _index(window: HistoryWindow, pair_keys: tuple[str, ...]) -> dict | None:
    if not pair_keys:
        return None
    index: dict[tuple, list[int]] = {}
    for i, h in enumerate(window.lines):
        value = tuple(_hashable(h.get(k)) for k in pair_keys)
        if None not in value:
            index.setdefault(value, []).append(i)
    return index


def _partners(index: dict | None, window: HistoryWindow, line: dict, pair_keys: tuple[str, ...]):
    if index is None:
        return range(len(window.lines))
    value = tuple(_hashable(line.get(k)) for k in pair_keys)
    return () if None in value else index.get(value, ())


def _hashable(value: Any) -> Any:
    return tuple(value) if type(value) is list else value


def line_only_first(group, planner):
    """The group with the tests that read only ``claim`` and ``line`` moved first and counted as its
    screen: they are run once per line, not once per history line."""
    from claimscrub.lang import ast as A

    def reads_hist(prop: str) -> bool:
        if prop in planner.native_paths:
            return planner.native_paths[prop][0][0] == "hist"
        node = (
            planner.values[prop][0]
            if prop in planner.values
            else next((a.node for a in planner.derived.values() if a.prop == prop), None)
        )
        return node is None or any(isinstance(n, A.Var) and n.name == "hist" for n in A.walk(node))

    first = [t for t in group.tests if not reads_hist(t[0])]
    rest = [t for t in group.tests if reads_hist(t[0])]
    return replace(group, tests=tuple(first + rest), screen=len(first), reads=())


def history_facts(group, ctx, view: dict, facts: list, keys: dict, screened, fact_props, key_of) -> None:
    """The history scope's facts for one rule group (see the module docstring). ``screened`` and
    ``fact_props`` are the fact builder's: the group's first tests, then the rest and the fact."""
    window = window_of(view)
    if window is None or not window.lines:
        return
    index = _index(window, group.pair_keys)
    for line in view["lines"]:
        dos = line["from_date"]
        partners = _partners(index, window, line, group.pair_keys)
        if not partners:
            continue
        ctx.vars, ctx.dos = {"claim": view, "line": line}, dos
        tick()
        state = screened(group, ctx, dos)
        if state is None:
            continue  # every rule refuted by what the line alone shows
        for i in partners:
            ctx.vars = names = {"claim": view, "line": line, "hist": HistPair(window.lines[i], line, window, i)}
            props = fact_props(group, ctx, "history", dos, None, state)
            tick(0 if props is None else 1)
            if props is not None:
                fid = f"h{next(_ids)}"
                facts.append({"id": fid, **props})
                keys[fid] = key_of(names)
