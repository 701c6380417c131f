"""The history scope: each line of a claim beside each line of the patient's other claims.

The cross-claim phase (engine/claimscrub/history/phase.py) gives a claim's view a
:class:`HistoryWindow` under ``view["_history"]`` (a name no rule can read): the other claims' lines
near the claim's dates in date order, at most :data:`MAX_HISTORY_LINES` (the nearest), so the work per claim stays
bounded however long the patient's history is; when the cap cuts, every history rule is reported
"not checked" on that claim rather than passed.

A rule's ``hist`` is a :class:`HistPair`: the stored fields of the other line, and its relations to
``line`` (days between, same physician or same group and specialty, units billed that day, the
frequency limit it counts against), each computed only when a rule reads it.

Facts stay flat and few. Per rule group (:class:`HistoryGroup`) the tests that read only the claim
and the line run once per line; those that read only the history line run once per history line
and batch (the windows of a patient's claims share their lines); the rest run per pair. Lines pair
with history lines only within groups equal on the fields every rule of a group requires equal
(``hist.code == line.code``: a hash join), and a required day window (``hist.days_after >= 1 and
hist.days_after <= 90``) is both a test and, when every rule still alive on a line states one, a
bisection of the date-ordered window. A rule without such a key or window (frequency limits, new
patient) is paired with the whole window, which the cap bounds.
"""

from __future__ import annotations

import bisect
import itertools
import operator
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from claimscrub.compile.budget import tick

MAX_HISTORY_LINES = 1000  # history lines one claim is compared with (the nearest by date of service)
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
    screens: dict = field(default_factory=dict)  # per pool: hash-join indexes over ``pool``, lines' own tests
    pool: list[dict] | None = None  # every history line of the patient this window draws from (default: ``lines``)
    where: dict[int, int] | None = None  # id of a history line -> its index here (built for hash joins)
    dates: list[str] | None = None  # from_date of each line (built for day windows)
    _day_units: dict = field(default_factory=dict)


class HistPair:
    """``hist`` of the history scope: a history line, seen from one line of this claim."""

    __slots__ = ("_h", "_line", "_window", "_index", "earlier", "_limit", "_days")

    def __init__(self, h: dict, line: dict, window: HistoryWindow, index: int):
        self._h, self._line, self._window, self._index = h, line, window, index
        self.earlier = window.earlier[index]
        self._limit: Any = False  # not looked up yet
        self._days: int | None = None

    def __getattr__(self, name: str) -> Any:  # the stored fields
        return self._h.get(name)

    @property
    def days_after(self) -> int:
        """Read by several tests of a pair (each rule's day range): the dates are parsed once."""
        if self._days is None:
            self._days = (date.fromisoformat(self._line["from_date"]) - date.fromisoformat(self._h["from_date"])).days
        return self._days

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


def history_contexts(view: dict) -> Iterator[tuple[dict, str]]:
    """Every (names, date of service) of the history scope: each line with each history line (the
    reference evaluator's contexts)."""
    window = window_of(view)
    if window is None:
        return
    for line in view["lines"]:
        for i in range(len(window.lines)):
            yield {"claim": view, "line": line, "hist": HistPair(window.lines[i], line, window, i)}, line["from_date"]


def _index(window: HistoryWindow, pair_keys: tuple[str, ...]) -> tuple[dict, HistoryWindow] | None:
    """The patient's history lines by their ``pair_keys`` values: built once per pool (the windows of a
    patient's claims draw from the same lines), not once per claim."""
    if not pair_keys:
        return None
    shared = window.screens.get(pair_keys)
    if shared is None:
        shared = window.screens[pair_keys] = {}
        for h in window.lines if window.pool is None else window.pool:
            value = tuple(map(h.get, pair_keys))  # scalars: pair keys are fields of a scalar type
            if None not in value:
                shared.setdefault(value, []).append(h)
    return shared, window


def _partners(index: tuple[dict, HistoryWindow] | None, window: HistoryWindow, line: dict, pair_keys: tuple[str, ...]):
    """Indices in the window of the history lines equal to ``line`` on the pair keys (all, without keys)."""
    if index is None:
        return range(len(window.lines))
    value = tuple(map(line.get, pair_keys))
    if None in value:
        return ()
    found = index[0].get(value)
    if not found:
        return ()
    where = window.where
    if where is None:  # only for a claim with a partner somewhere in the pool
        where = window.where = {id(h): i for i, h in enumerate(window.lines)}
    return [where[id(h)] for h in found if id(h) in where]


def _hashable(value: Any) -> Any:
    return tuple(value) if type(value) is list else value


# hist fields that relate the history line to ``line``: a test reading one is a pair test
RELATIONS = frozenset(
    {"days_after", "same_provider", "same_group_specialty", "same_physician", "same_modifiers", "day_units"}
    | {"limit_id", "limit", "limit_text", "limit_source", "limit_count"}
)


@dataclass(frozen=True, eq=False)
class HistoryGroup:
    """A rule group of the history scope, its tests ordered: those reading only the claim and the line
    (run once per line), those reading only the history line (once per history line and batch), then
    the pair tests."""

    group: Any  # the fact builder's _RuleGroup, tests in that order, ``screen`` = line + hist tests
    line_tests: int
    hist_tests: int
    days: dict[int, tuple[int, int]] = field(default_factory=dict)  # rule bit -> required hist.days_after range
    hist_reads: tuple[str, ...] | None = None  # the history-line fields its hist tests read (None: not only fields)
    hist_memo: dict = field(default_factory=dict, compare=False)  # (earlier, *hist_reads values) -> screened
    relations: tuple = ()  # the pair tests of one relation (``hist.same_physician``, a day range), tried first
    spans: dict = field(default_factory=dict, compare=False)  # (date of service, rules alive) -> _span
    line_reads: tuple | None = None  # readers of the claim and line paths its line tests read (None: not only paths)
    line_dated: bool = False  # a line test reads the date of service (a table lookup): it is part of the signature
    line_memo: dict = field(default_factory=dict, compare=False)  # (alive, date?, *line_reads values) -> tests' result


MEMO_LIMIT = 50_000  # signatures of history lines remembered per rule group (cleared past it)


_RANGE_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def _range_tests(planner, items: list, bounds: dict) -> list[tuple]:
    """Tests for the range comparisons a rule requires (``hist.days_after >= 1`` as a top-level conjunct).

    The fact builder screens contexts on required equalities and derived atoms only; a history rule's
    day window would then let every pair of an E/M line and an earlier procedure through to a fact.
    Each becomes a boolean test killing the rules that require it, never a fact property."""
    from claimscrub.compile.plan import Conj, Native, fact_value
    from claimscrub.lang import ast as A
    from claimscrub.lang.evaluate import compile_expr

    def conjuncts(cond):
        if isinstance(cond, Conj):
            for c in cond.items:
                yield from conjuncts(c)
        else:
            yield cond

    need: dict[tuple, int] = {}
    for i, item in enumerate(items):
        for n in conjuncts(item.cond):
            if isinstance(n, Native) and n.op in _RANGE_OPS:
                need[(n.prop, n.op, n.value)] = need.get((n.prop, n.op, n.value), 0) | 1 << i
            if isinstance(n, Native) and n.prop == "hist__days_after" and n.op in ("<=", ">="):
                bounds.setdefault(1 << i, {})[n.op] = n.value

    def test(prop: str, op: str, value, mask: int) -> tuple:
        path, t = planner.native_paths[prop]
        node: A.Node = A.Var(path[0])
        for name in path[1:]:
            node = A.Field(node, name)
        get, compare = compile_expr(node), _RANGE_OPS[op]

        def holds(ctx) -> bool:
            have = fact_value(get(ctx), t)
            return have is not None and compare(have, value)

        return (f"~{prop}{op}{value}", holds, mask, ~mask, {True: mask}, True)

    return [test(prop, op, value, mask) for (prop, op, value), mask in need.items()]


def split_tests(group, planner, items: list) -> HistoryGroup:
    """Order a group's tests for :func:`history_facts` (see :class:`HistoryGroup`); ``items``: the group's
    compiled rules, in bit order."""
    from claimscrub.lang import ast as A
    from claimscrub.lang.functions import FUNCTIONS

    def kind(prop: str) -> str:
        prop = prop.removeprefix("~").split("<")[0].split(">")[0]  # a range test: its property
        if prop in planner.native_paths:
            path = planner.native_paths[prop][0]
            return "line" if path[0] != "hist" else ("pair" if path[1] in RELATIONS else "hist")
        node = (
            planner.values[prop][0]
            if prop in planner.values
            else next((a.node for a in planner.derived.values() if a.prop == prop), None)
        )
        if node is None:
            return "pair"
        names = {n.name for n in A.walk(node) if isinstance(n, A.Var)}
        if "hist" not in names:
            return "line"
        relation = any(
            isinstance(n, A.Field) and isinstance(n.target, A.Var) and n.target.name == "hist" and n.name in RELATIONS
            for n in A.walk(node)
        )
        dated = any(  # reads the date of service: the line's
            isinstance(n, A.Call) and n.name != "lookup_on" and FUNCTIONS[n.name].needs_context for n in A.walk(node)
        )
        return "pair" if relation or dated or names & {"line", "claim"} else "hist"

    def relation(prop: str) -> bool:  # a test of one hist relation alone: decided on a bare pair
        path = planner.native_paths.get(prop.removeprefix("~").split("<")[0].split(">")[0], ((),))[0]
        return len(path) == 2 and path[0] == "hist" and path[1] in RELATIONS

    by_kind: dict[str, list] = {"line": [], "hist": [], "pair": []}
    bounds: dict[int, dict[str, int]] = {}
    for test in (*_range_tests(planner, items, bounds), *group.tests):
        by_kind[kind(test[0])].append(test)
    tests = (*by_kind["line"], *by_kind["hist"], *by_kind["pair"])
    screen = len(by_kind["line"]) + len(by_kind["hist"])
    days = {bit: (b[">="], b["<="]) for bit, b in bounds.items() if len(b) == 2}
    return HistoryGroup(
        replace(group, tests=tests, screen=screen, reads=()),
        len(by_kind["line"]),
        len(by_kind["hist"]),
        days,
        _hist_reads(planner, [t[0] for t in by_kind["hist"]]),
        relations=tuple(t for t in by_kind["pair"] if relation(t[0])),
        **_line_reads(planner, [t[0] for t in by_kind["line"]]),
    )


def _line_reads(planner, props: list[str]) -> dict[str, Any]:
    """Readers of the claim and line paths that the tests reading only the claim and the line read, and
    whether one reads the date of service; no readers when a test reads them otherwise (a whole line).
    Lines equal on these paths (and the rules alive) pass or fail the tests alike: a batch's lines
    repeat a few hundred codes, so the tests run once per signature, not once per line and claim."""
    from claimscrub.lang import ast as A
    from claimscrub.lang.evaluate import compile_expr
    from claimscrub.lang.functions import FUNCTIONS

    paths: set[tuple[str, ...]] = set()
    dated = False
    for prop in props:
        base = prop.removeprefix("~").split("<")[0].split(">")[0]
        if base in planner.native_paths:
            paths.add(planner.native_paths[base][0])
            continue
        node = (
            planner.values[base][0]
            if base in planner.values
            else next((a.node for a in planner.derived.values() if a.prop == base), None)
        )
        if node is None:
            return {}
        nodes = list(A.walk(node))
        targets = {id(n.target) for n in nodes if isinstance(n, A.Field)}
        for n in nodes:
            if isinstance(n, A.Quant) and n.var in ("claim", "line"):
                return {}
            if isinstance(n, A.Var) and n.name in ("claim", "line") and id(n) not in targets:
                return {}  # the claim or a line itself, not one of its fields
            if isinstance(n, A.Call) and FUNCTIONS[n.name].needs_context:
                dated = True
            if isinstance(n, A.Field) and id(n) not in targets:
                path = A.path_of(n)
                if path is not None and path[0] in ("claim", "line"):
                    paths.add(path)
    readers = []
    for path in sorted(paths):
        expr: A.Node = A.Var(path[0])
        for name in path[1:]:
            expr = A.Field(expr, name)
        readers.append(compile_expr(expr))
    return {"line_reads": tuple(readers), "line_dated": dated}


def _hist_reads(planner, props: list[str]) -> tuple[str, ...] | None:
    """The fields of ``hist`` that tests reading only the history line read, or None when one reads
    it otherwise (passed whole to a function, a name rebound). History lines equal on these fields
    (and on ``earlier``) pass or fail the tests alike: a batch has many lines and few such signatures."""
    from claimscrub.lang import ast as A

    fields = {"earlier"}
    for prop in props:
        if prop in planner.native_paths:
            fields.add(planner.native_paths[prop][0][1])
            continue
        node = (
            planner.values[prop][0]
            if prop in planner.values
            else next((a.node for a in planner.derived.values() if a.prop == prop), None)
        )
        if node is None:
            return None
        targets = set()
        for n in A.walk(node):
            if isinstance(n, A.Quant) and n.var == "hist":
                return None
            if isinstance(n, A.Field) and isinstance(n.target, A.Var) and n.target.name == "hist":
                fields.add(n.name)
                targets.add(id(n.target))
        if any(isinstance(n, A.Var) and n.name == "hist" and id(n) not in targets for n in A.walk(node)):
            return None
    fields.discard("earlier")  # not a stored field: the window's, always part of the signature
    return tuple(sorted(fields))


def _dated_partners(hg: HistoryGroup, window: HistoryWindow, dos: str, alive: int) -> range | None:
    """The history lines within the day window every rule still alive requires (lines are ordered by
    date), or None when one of them has no such window."""
    span = hg.spans.get((dos, alive), False)  # a batch has a few hundred dates and a few rule sets alive
    if span is False:
        span = _span(hg, dos, alive)
        if len(hg.spans) > MEMO_LIMIT:
            hg.spans.clear()
        hg.spans[(dos, alive)] = span
    if span is None:
        return None
    if window.dates is None:
        window.dates = [h["from_date"] for h in window.lines]
    return range(bisect.bisect_left(window.dates, span[0]), bisect.bisect_right(window.dates, span[1]))


def _span(hg: HistoryGroup, dos: str, alive: int) -> tuple[str, str] | None:
    """The first and last dates of the history lines the rules alive may pair ``dos`` with (see above)."""
    lo, hi = 1 << 30, -(1 << 30)
    while alive:
        bit = alive & -alive
        if bit not in hg.days:
            return None
        lo, hi = min(lo, hg.days[bit][0]), max(hi, hg.days[bit][1])
        alive ^= bit
    day = date.fromisoformat(dos)
    return (day - timedelta(days=hi)).isoformat(), (day - timedelta(days=lo)).isoformat()


def _line_screen(hg: HistoryGroup, ctx, alive: int, dos: str, line_tests: tuple, run_tests) -> tuple[int, dict]:
    """The rules the line's own tests leave alive and the values they read, once per signature (see
    :func:`_line_reads`); a signature that cannot be hashed (a path holding lines) is not remembered."""
    key = None
    if hg.line_reads is not None:
        key = (alive, dos if hg.line_dated else None, *[_hashable(read(ctx)) for read in hg.line_reads])
        try:
            known = hg.line_memo.get(key)
        except TypeError:
            key = known = None
        if known is not None:
            return known
    values: dict[str, Any] = dict(hg.group.known)
    screened = run_tests(line_tests, ctx, alive, values, None, None), values
    if key is not None:
        if len(hg.line_memo) > MEMO_LIMIT:
            hg.line_memo.clear()
        hg.line_memo[key] = screened
    return screened


def history_facts(hg: HistoryGroup, ctx, view: dict, facts: list, keys: dict, run_tests, fact_props, key_of) -> None:
    """The history scope's facts for one rule group (see the module docstring). ``run_tests`` and
    ``fact_props`` are the fact builder's: some of the group's tests, then the rest and the fact."""
    window = window_of(view)
    if window is None or not window.lines:
        return
    group = hg.group
    line_tests = group.tests[: hg.line_tests]
    hist_tests = group.tests[hg.line_tests : group.screen]
    reads, memo, relations = hg.hist_reads, hg.hist_memo, hg.relations
    by_line = window.screens.setdefault(id(hg), {})  # per pool: (id of a line, earlier) -> screened

    def screen(i: int) -> tuple[int, dict]:
        """The history line's own tests, decided once per signature (see :func:`_hist_reads`) and found
        again by line for the other claims of the patient (a long history is seen by every claim)."""
        h, earlier = window.lines[i], window.earlier[i]
        screened = by_line.get((id(h), earlier))
        if screened is not None:
            return screened
        key = (earlier, *[_hashable(h.get(f)) for f in reads]) if reads is not None else None
        screened = memo.get(key) if key is not None else None
        if screened is None:
            ctx.vars = {"hist": HistPair(h, view["lines"][0], window, i)}
            values: dict[str, Any] = {}
            screened = (run_tests(hist_tests, ctx, group.start, values, None, None), values)
            if key is not None:
                if len(memo) > MEMO_LIMIT:
                    memo.clear()
                memo[key] = screened
        by_line[(id(h), earlier)] = screened
        return screened

    index = _index(window, group.pair_keys)
    any_alive = -1  # the rules some history line leaves alive: the others need no line test
    if index is None:  # every line pairs with every history line: screen them all first
        screens = [screen(i) for i in range(len(window.lines))]
        any_alive = 0
        for alive_h, _ in screens:
            any_alive |= alive_h
        if not any_alive:
            return
    for line in view["lines"]:
        dos = line["from_date"]
        partners = _partners(index, window, line, group.pair_keys)
        if not partners:
            continue
        alive = group.in_effect_on.get(dos)
        if alive is None:
            alive = group.in_effect(dos)
        alive &= any_alive
        if not alive:
            continue
        ctx.vars, ctx.dos = {"claim": view, "line": line}, dos
        tick()
        alive, line_values = _line_screen(hg, ctx, alive, dos, line_tests, run_tests)
        if not alive:
            continue  # every rule refuted by what the line alone shows
        if index is None and hg.days:
            dated = _dated_partners(hg, window, dos, alive)
            partners = partners if dated is None else dated
        names = ctx.vars
        for i in partners:
            screened = screens[i] if index is None else screen(i)
            both = alive & screened[0]
            if not both:
                continue
            names["hist"] = HistPair(window.lines[i], line, window, i)
            ctx.vars = names  # screen() may have pointed it at a bare history line
            if relations:  # most pairs fail a relation (another physician, outside the days): no context for them
                both = run_tests(relations, ctx, both, {}, None, None)
                if not both:
                    continue
            props = fact_props(group, ctx, "history", dos, None, (both, {**line_values, **screened[1]}))
            tick(0 if props is None else 1)
            if props:  # empty: the rules alive went to the caller's proved hits (history/decide.py)
                fid = f"h{next(_ids)}"
                facts.append({"id": fid, **props})
                keys[fid] = key_of(names)
