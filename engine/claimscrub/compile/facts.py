"""Facts for the Rete engine: one flat dict per claim / line / line pair / diagnosis.

A fact holds only what the network tests: the scalar paths the rules compare
(``line__code``, ``claim__payer__type``; money in cents), the date of service,
the values ``vN`` of expressions rules compare with constants (a table
column), and the derived booleans ``dN`` precomputed here with the reference
evaluator, so the network only ever sees constants.

Only the paths and booleans of rules not already refuted here are put in a
fact: in the network a comparison with an absent property never matches, so
a refuted rule still fails there, and the C core's cost grows with the
properties of each fact. A fact is not asserted at all when every rule of its
scope is refuted (a PTP rule whose table lookup found no pair, a duplicate
rule whose lines differ): line-pair facts grow with the square of the line
count.

Every conjunct of every rule is one of the builder's tests, so a rule alive
after them holds: given a ``proved`` set, :func:`build_facts` answers those
hits and builds no fact at all (the durable backend's default; without it,
every fact is built for the network, as ``explain`` shows them).
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from claimscrub.compile.budget import tick
from claimscrub.compile.history_facts import history_facts, split_tests
from claimscrub.compile.plan import Cond, Conj, Derived, Disj, Native, fact_value, path_type
from claimscrub.compile.plan import natives as natives_of
from claimscrub.compile.program import Program
from claimscrub.compile.views import Key, _pair_groups, contexts, key_of
from claimscrub.lang import ast as A
from claimscrub.lang.evaluate import compile_expr
from claimscrub.lang.types import INTEGER, MONEY, NUMBER, SCALARS, STRING

_ids = itertools.count()


@dataclass(frozen=True)
class _RuleGroup:
    """Rules of one scope evaluated on the same contexts, compiled to tests over a bit set of rules.

    Bit i stands for the group's i-th rule (in the scope plan's order). A context starts with every rule in effect on its date
    alive; each test is run only while a rule that needs it is alive, and kills the rules it
    refutes. Shared tests run once per context, and a context pays per test, not per rule.
    """

    pair_keys: tuple[str, ...]  # line fields every rule of the group requires equal (line pairs)
    known: dict[str, bool]  # derived props true on every context the pair keys let through
    start: int  # rules alive before any test (not refuted by a known prop)
    dated: tuple[tuple[int, Any], ...]  # (bit, rule) of rules with effective dates
    tests: tuple  # required tests, cheapest first: (prop, read, need, kept-if-not-needed, wants, derived)
    extra: tuple  # (prop, closure, need): other derived props a live rule tests
    tested: dict[int, tuple]  # rule bit -> (prop, read) of every property the rule tests
    # line pairs: the line fields the group's first ``screen`` tests read (None: no test qualifies). Pairs
    # equal on these fields (and the date of service) pass or fail those tests alike, so they run once
    # per distinct (line, other) signature, and a refuted signature pair skips all its pairs.
    reads: tuple[str, ...] | None = None
    screen: int = 0  # how many of ``tests`` (the first ones) read only the ``reads`` fields
    remember: dict = field(default_factory=dict)  # prop -> (line fields, other fields): see _remembered
    index_of: dict = field(default_factory=dict)  # rule bit -> the rule's index in the program
    missing: tuple = ()  # (prop, read) of the properties a rule tests with `is missing`, for every fact
    in_effect_on: dict = field(default_factory=dict, compare=False)  # date of service -> rules in effect
    screen_tests: tuple = field(init=False, compare=False)  # tests[:screen] and tests[screen:], sliced once
    rest_tests: tuple = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "screen_tests", self.tests[: self.screen])
        object.__setattr__(self, "rest_tests", self.tests[self.screen :])

    def in_effect(self, dos: str) -> int:
        """The rules in effect on a date (remembered: a batch has a few hundred dates of service)."""
        alive = self.start
        for bit, rule in self.dated:
            if not rule.applies_on(dos):
                alive &= ~bit
        if len(self.in_effect_on) > 10_000:
            self.in_effect_on.clear()
        self.in_effect_on[dos] = alive
        return alive


def _equal_line_fields(node: A.Node, other: str = "other") -> str | None:
    """``line.f == other.f`` (either way round; ``hist.f`` in the history scope) -> "f"."""
    if isinstance(node, A.Compare) and node.op == "==":
        a, b = A.path_of(node.left), A.path_of(node.right)
        if a and b and len(a) == len(b) == 2 and a[1] == b[1] and {a[0], b[0]} == {"line", other}:
            return a[1]
    return None


def _cost(node: A.Node) -> int:
    """A rough price of evaluating an expression: quantifiers loop, lookups and calls cost more."""
    price = 0
    for n in A.walk(node):
        price += 20 if isinstance(n, A.Quant) else 4 if isinstance(n, A.Call) else 1
    return price


def _compile_group(plan, items: list, pair_keys: tuple[str, ...]) -> _RuleGroup:
    """The group's required tests, cheapest first (a path compared with a constant before a table
    lookup, a lookup before a quantifier), then the remaining atoms of rules still alive.

    Every conjunct of a rule's condition is a test: an equality or a derived atom by the value it
    must have, any other comparison or a disjunction by a closure deciding it as the network
    would (:func:`_cond_check`). So a rule still alive after its tests holds (see ``proved`` in
    :func:`build_facts`)."""
    known = {a.prop: True for a in plan.planner.derived.values() if _equal_line_fields(a.node) in pair_keys}
    start, dated = 0, []
    wanted: dict[str, dict] = {}  # prop -> {value it must have: rules requiring it}
    extra: dict[str, int] = {}
    checks: dict[str, Cond] = {}  # test name -> a conjunct that is not one property's value
    for i, item in enumerate(items):
        bit = 1 << i
        if any(known.get(a.prop) is not None and known[a.prop] != a.want for a in item.required):
            continue  # refuted on every context of the group
        start |= bit
        if item.rule.effective_from is not None or item.rule.effective_to is not None:
            dated.append((bit, item.rule))
        required = [(n.prop, n.value) for n in item.required_native]
        required += [(a.prop, a.want) for a in item.required if a.prop not in known]
        for leaf in _leaves(item.cond):
            if not isinstance(leaf, Derived) and not (isinstance(leaf, Native) and leaf.op == "=="):
                name = _cond_text(leaf)
                checks[name] = leaf
                required.append((name, True))
        for prop, value in required:
            wants = wanted.setdefault(prop, {})
            wants[value] = wants.get(value, 0) | bit
        for a in item.derived:
            if a.prop not in known:
                extra[a.prop] = extra.get(a.prop, 0) | bit
    fns, planner = plan.derived_fns, plan.planner
    read = {prop: _reader(path, t) for prop, (path, t) in planner.native_paths.items()}
    read.update((prop, _value_reader(node, kind)) for prop, (node, kind) in planner.values.items())
    cost = {prop: 1 for prop in planner.native_paths}
    cost.update((prop, _cost(node)) for prop, (node, _) in planner.values.items())
    cost.update((a.prop, _cost(a.node)) for a in planner.derived.values())
    parts = {name: tuple(dict.fromkeys(_cond_props(leaf))) for name, leaf in checks.items()}
    for name, leaf in checks.items():
        read[name] = _cond_check(leaf, read, fns)
        cost[name] = sum(cost[p] for p in parts[name])
    tests = []
    for prop in sorted(wanted, key=lambda p: cost[p]):  # stable: rules' own order among equals
        wants = wanted[prop]
        need = 0
        for mask in wants.values():
            need |= mask
        derived = prop in fns or prop in checks
        tests.append((prop, fns[prop] if prop in fns else read[prop], need, ~need, wants, derived))
    for prop, fn in fns.items():
        read.setdefault(prop, fn)
    tested = {
        1 << i: tuple(
            (prop, read[prop])
            for prop in dict.fromkeys([n.prop for n in natives_of(item.cond)] + [a.prop for a in item.derived])
        )
        for i, item in enumerate(items)
    }
    pairs = plan.scope == "line_pair"
    screen, reads = _screen(planner, tests, parts) if pairs else (0, None)
    return _RuleGroup(
        pair_keys,
        known,
        start,
        tuple(dated),
        tuple(tests),
        tuple((prop, fns[prop], need) for prop, need in extra.items()),
        tested,
        reads,
        screen,
        _remembered(planner, tests) if pairs else {},
        {1 << i: item.index for i, item in enumerate(items)},
        tuple(
            (prop, read[prop])
            for prop in dict.fromkeys(n.prop for item in items for n in natives_of(item.cond) if n.op == "missing")
        ),
    )


def _leaves(cond: Cond) -> list[Cond]:
    """The conjuncts of a planned condition, nested conjunctions flattened (a disjunction is one)."""
    if isinstance(cond, Conj):
        return [leaf for item in cond.items for leaf in _leaves(item)]
    return [cond]


def _cond_text(cond: Cond) -> str:
    """A conjunct's name as a test (fact properties are bare names: these have spaces)."""
    if isinstance(cond, Native):
        return f"{cond.prop} {cond.op} {cond.value!r}"
    if isinstance(cond, Derived):
        return f"{cond.prop} is {cond.want}"
    joiner = " and " if isinstance(cond, Conj) else " or "
    return "(" + joiner.join(_cond_text(c) for c in cond.items) + ")"


def _cond_props(cond: Cond) -> list[str]:
    if isinstance(cond, (Native, Derived)):
        return [cond.prop]
    return [p for c in cond.items for p in _cond_props(c)]


_NATIVE_CMP: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _cond_check(cond: Cond, read: dict[str, Callable], fns: dict[str, Callable]) -> Callable:
    """A planned (sub)condition decided in a context as the network decides it on the fact: a derived
    atom by whether its closure is true; a native test on the property's fact value, where an absent
    property matches no comparison (not even ``!=``) and values of unlike types compare false;
    ``and`` / ``or`` short-circuit, so an alternative's costly atoms run only when needed."""
    if isinstance(cond, Derived):
        fn, want = fns[cond.prop], cond.want
        return lambda ctx: (fn(ctx) is True) is want
    if isinstance(cond, Native):
        get = read[cond.prop]
        if cond.op == "missing":
            return lambda ctx: get(ctx) is None
        if cond.op == "present":
            return lambda ctx: get(ctx) is not None
        cmp, const = _NATIVE_CMP[cond.op], cond.value

        def compare(ctx) -> bool:
            value = get(ctx)
            if value is None:
                return False
            try:
                return cmp(value, const) is True
            except TypeError:
                return False

        return compare
    members = _equal_to_any(cond, read)
    if members is not None:
        return members
    checks = tuple(_cond_check(c, read, fns) for c in cond.items)
    if isinstance(cond, Conj):

        def every(ctx) -> bool:
            for check in checks:
                if not check(ctx):
                    return False
            return True

        return every

    def some(ctx) -> bool:
        for check in checks:
            if check(ctx):
                return True
        return False

    return some


def _equal_to_any(cond: Cond, read: dict[str, Callable]) -> Callable | None:
    """``p == a or p == b ...`` (what ``x in [a, b]`` plans to) as one read and one set probe, deciding it
    as the alternatives would: an absent value equals nothing, nor does one that cannot be hashed, and a set
    finds what ``==`` finds (True is 1, 1.0 is 1). None when the condition is not of that shape, or a
    constant is not a string or a whole number."""
    if not isinstance(cond, Disj) or len(cond.items) < 2:
        return None
    items = cond.items
    if not all(isinstance(c, Native) and c.op == "==" and c.prop == items[0].prop for c in items):
        return None
    consts = [c.value for c in items]
    if not all(type(v) in (str, int) for v in consts):
        return None
    get, box = read[items[0].prop], frozenset(consts)

    def equal_to_any(ctx) -> bool:
        value = get(ctx)
        if value is None:
            return False
        try:
            return value in box
        except TypeError:
            return False

    return equal_to_any


def _screen(planner, tests: list, parts: dict[str, tuple[str, ...]]) -> tuple[int, tuple[str, ...] | None]:
    """How many of the (cheapest-first) tests screen line pairs by signature, and the line fields
    they read: the tests before the first that reads a line's sequence (unique per line, so no two
    pairs would share a signature) or a whole line. (0, None) when none does."""
    fields: set[str] = set()
    count = 0
    for test in tests:
        reads = _test_reads(planner, parts.get(test[0], (test[0],)))
        if reads is None or "sequence" in reads[0] + reads[1]:
            break
        fields.update(reads[0] + reads[1])
        count += 1
    return (count, tuple(sorted(fields))) if count else (0, None)


def _remembered(planner, tests: list) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """The costly pair tests (a quantifier over the claim's lines) whose value is remembered per claim,
    keyed by what they read of ``line`` and ``other``: an E/M-with-procedure rule that looks at the
    lines before ``other`` reads other's sequence but only line's date and provider, so it is
    computed once per (date, provider, other) instead of once per pair."""
    out = {}
    for test in tests:
        prop = test[0]
        node = (
            planner.values[prop][0]
            if prop in planner.values
            else next((a.node for a in planner.derived.values() if a.prop == prop), None)
        )
        reads = _pair_reads(planner, prop)
        if node is not None and reads is not None and any(isinstance(n, A.Quant) for n in A.walk(node)):
            out[prop] = reads
    return out


def _test_reads(planner, props: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """What a test over these properties reads of ``line`` and of ``other`` (see :func:`_pair_reads`)."""
    line: set[str] = set()
    other: set[str] = set()
    for prop in props:
        reads = _pair_reads(planner, prop)
        if reads is None:
            return None
        line.update(reads[0])
        other.update(reads[1])
    return tuple(sorted(line)), tuple(sorted(other))


def _pair_reads(planner, prop: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """The fields of ``line`` and of ``other`` that computing a property reads; None when its
    expression uses a whole line (``o is line``, a line passed to a function)."""
    if prop in planner.native_paths:
        path = planner.native_paths[prop][0]
        return ((path[1],), ()) if path[0] == "line" else ((), (path[1],)) if path[0] == "other" else ((), ())
    if prop in planner.values:
        root = planner.values[prop][0]
    else:
        root = next((a.node for a in planner.derived.values() if a.prop == prop), None)
        if root is None:
            return None
    fields: dict[str, set[str]] = {"line": set(), "other": set()}
    as_target: set[int] = set()
    for n in A.walk(root):
        if isinstance(n, A.Field) and isinstance(n.target, A.Var) and n.target.name in fields:
            fields[n.target.name].add(n.name)
            as_target.add(id(n.target))
        elif isinstance(n, A.Quant) and n.var in fields:
            return None  # a quantifier rebinding the name: not worth proving anything about
    if any(isinstance(n, A.Var) and n.name in fields and id(n) not in as_target for n in A.walk(root)):
        return None
    return tuple(sorted(fields["line"])), tuple(sorted(fields["other"]))


def _reader(path: tuple[str, ...], t) -> Callable:
    """A scalar path's fact value in a context: the evaluator's fused path read, converted only
    for the types the fact stores differently (money in cents, whole numbers as int)."""
    node: A.Node = A.Var(path[0])
    for name in path[1:]:
        node = A.Field(node, name)
    get = compile_expr(node)
    if t in (MONEY, INTEGER, NUMBER):
        return lambda ctx: fact_value(get(ctx), t)
    return get


NOT_COMPARABLE = "~not comparable~"  # a computed value of another type than the constants it is compared with


def _value_reader(node: A.Node, kind: str) -> Callable:
    """A computed value (``lookup(...).mai``) as the fact stores it for comparison with constants of
    one kind. The network compares a number with a string by coercing one of them, where the
    evaluator finds them unequal, so a value of the other kind becomes a string equal to no
    constant (and unequal to all of them)."""
    get = compile_expr(node)
    if kind == STRING:

        def read_string(ctx):
            value = get(ctx)
            return value if value is None or type(value) is str else NOT_COMPARABLE

        return read_string

    def read_number(ctx):
        value = get(ctx)
        if value is None or type(value) is int:
            return value
        if isinstance(value, (bool, int)):
            return int(value)  # True == 1, as in the evaluator
        if isinstance(value, (Decimal, float)) and math.isfinite(value):
            return int(value) if value == int(value) else float(value)
        return NOT_COMPARABLE  # a string, a list, NaN: equal to no whole number

    return read_number


def _scope_checks(plan) -> list:
    """The scope's rules in groups. Line-pair rules are grouped by the line fields they require equal
    (date and provider for PTP, provider only for a global period), so each group's pairs are formed
    only within lines equal on its fields: a hash join instead of every ordered pair of lines. History
    rules likewise, by the fields they require equal to the history line's (as :class:`HistoryGroup`)."""
    by_keys: dict[tuple[str, ...], list] = {}
    other = "hist" if plan.scope == "history" else "other"
    for item in plan.rules:
        fields: tuple[str, ...] = ()
        if plan.scope in ("line_pair", "history"):
            fields = tuple(
                sorted(
                    {
                        f
                        for a in item.required
                        if a.want
                        for f in [_equal_line_fields(a.node, other)]
                        if f and path_type(("line", f), plan.scope) in SCALARS
                    }
                )
            )  # hashable ones
        by_keys.setdefault(fields, []).append(item)
    ordered = sorted(by_keys.items(), key=lambda kv: (-len(kv[0]), kv[0]))
    groups = [_compile_group(plan, items, pair_keys) for pair_keys, items in ordered]
    if plan.scope == "history":
        return [split_tests(g, plan.planner, items) for g, (_, items) in zip(groups, ordered)]
    return groups


def _checks_for(plan) -> list:
    groups = plan.fact_groups
    if groups is None:
        groups = plan.fact_groups = _scope_checks(plan)
    return groups


def build_facts(
    program: Program, view: dict, proved: set | None = None
) -> tuple[dict[str, list[dict]], dict[str, Key]]:
    """Facts per scope for one claim, and fact id -> the Key it stands for.

    With ``proved`` (a set), no fact is built: the builder's tests decide every conjunct of every
    rule (see :func:`_compile_group`), so the rules alive after them are hits, added to the set as
    (rule index, Key) with no second evaluation of their properties in the network."""
    by_scope: dict[str, list[dict]] = {}
    keys: dict[str, Key] = {}
    for scope, plan in program.scopes.items():
        facts: list[dict] = []
        ctx = program.ctx({}, None)  # one context, re-pointed at each binding: nothing keeps it
        for group in _checks_for(plan):
            if scope == "line_pair" and group.reads is not None:
                _pair_facts(group, ctx, view, facts, keys, proved)
                continue
            if scope == "history":
                history_facts(group, ctx, view, facts, keys, _run_tests, _fact_props, key_of)
                continue
            for names, dos in contexts(scope, view, group.pair_keys):
                ctx.vars, ctx.dos = names, dos
                props = _fact_props(group, ctx, scope, dos, proved=proved)
                if props is not None:
                    tick(1)
                    if props is not _PROVED:
                        fid = f"f{next(_ids)}"
                        facts.append({"id": fid, **props})
                        keys[fid] = key_of(names)
        if facts:
            by_scope[scope] = facts
    return by_scope, keys


def _screened(group: _RuleGroup, ctx, dos: str) -> tuple[int, dict[str, Any]] | None:
    """The rules alive after the group's screening tests, and the values they read; None when
    those tests refute every rule. A pair of the same signatures carries both on into
    :func:`_fact_props`, which runs the remaining tests."""
    alive = group.in_effect_on.get(dos)
    if alive is None:
        alive = group.in_effect(dos)
    values: dict[str, Any] = dict(group.known)
    alive = _run_tests(group.screen_tests, ctx, alive, values, None, None)
    return (alive, values) if alive else None


def _run_tests(tests, ctx, alive: int, values: dict[str, Any], remember: dict | None, memo: dict | None) -> int:
    """Run tests while a rule needing them is alive; the rules still alive (0 once all are refuted)."""
    for prop, read, need, others, wants, derived in tests:
        if alive & need:
            if remember and prop in remember:
                value = _recall(memo, prop, remember[prop], ctx, read)  # type: ignore[arg-type]  # memo is set with remember
            else:
                value = read(ctx)
            if derived:
                value = value is True
            values[prop] = value
            alive &= others | wants.get(value, 0)
            if not alive:
                return 0
    return alive


_PROVED: dict[str, Any] = {}  # what _fact_props answers when the alive rules went to ``proved``: no fact


def _fact_props(
    group: _RuleGroup,
    ctx,
    scope: str,
    dos: str,
    memo: dict | None = None,
    screened: tuple[int, dict[str, Any]] | None = None,
    proved: set | None = None,
) -> dict[str, Any] | None:
    """The fact of one context without its id, or None when every rule of the group is refuted.
    Line pairs: ``memo`` holds the claim's remembered values of the group's costly tests, and
    ``screened`` what the screening tests left (only the other tests are run). With ``proved``,
    the rules alive after the tests go there as hits and ``_PROVED`` is answered instead of a fact."""
    if screened is not None:
        alive, values = screened[0], dict(screened[1])
        tests = group.rest_tests
    else:
        known = group.in_effect_on.get(dos)
        alive = known if known is not None else group.in_effect(dos)
        values = dict(group.known)  # line.date == other.date holds within a pair group
        tests = group.tests
    alive = _run_tests(tests, ctx, alive, values, group.remember if memo is not None else None, memo)
    if not alive:
        return None
    if proved is not None:
        key = key_of(ctx.vars)
        while alive:
            bit = alive & -alive
            proved.add((group.index_of[bit], key))
            alive ^= bit
        return _PROVED
    for prop, fn, need in group.extra:
        if alive & need and prop not in values:
            values[prop] = fn(ctx) is True
    fact: dict[str, Any] = {"t": scope, "dos": dos}
    tested = group.tested
    while alive:  # only what live rules test: every comparison with an absent property fails...
        bit = alive & -alive
        for prop, read in tested[bit]:
            value = values[prop] if prop in values else read(ctx)
            if value is not None:  # absent: what `is missing` tests
                fact[prop] = value
        alive ^= bit
    for prop, read in group.missing:  # ...but `is missing` matches one: what a refuted rule tests too
        if prop not in fact:
            value = values[prop] if prop in values else read(ctx)
            if value is not None:
                fact[prop] = value
    return fact


def _recall(memo: dict, prop: str, reads: tuple[tuple[str, ...], tuple[str, ...]], ctx, read) -> Any:
    """A remembered test's value for this pair, computed on first use."""
    names = ctx.vars
    key = (prop, ctx.dos, _signature(names["line"], reads[0]), _signature(names["other"], reads[1]))
    if key in memo:
        return memo[key]
    value = memo[key] = read(ctx)
    return value


def _signature(line: dict, reads: tuple[str, ...]) -> tuple:
    """What the group's expressions read of a line, hashable (lists as tuples)."""
    out = []
    for name in reads:
        value = line.get(name)
        out.append(tuple(value) if type(value) is list else value)
    return tuple(out)


def _pair_facts(group: _RuleGroup, ctx, view: dict, facts: list, keys: dict, proved: set | None) -> None:
    """Line-pair facts, the required tests run once per distinct (line signature, other signature):
    lines are indexed by signature within each pair group, so a claim of 999 lines drawn from a few
    dozen codes costs its distinct code pairs plus the pairs that pass, not a million pairs."""
    reads = group.reads
    assert reads is not None
    memo: dict = {}
    for lines in _pair_groups(view["lines"], group.pair_keys):
        if len(lines) < 2:
            continue
        by_sig: dict[tuple, list[dict]] = {}
        for line in lines:
            by_sig.setdefault((line["from_date"], _signature(line, reads)), []).append(line)
        for (dos, _), firsts in by_sig.items():
            for seconds in by_sig.values():
                a = firsts[0]
                b = seconds[0] if seconds[0] is not a else (seconds[1] if len(seconds) > 1 else None)
                if b is None:
                    continue  # one line alone with its own signature: it does not pair with itself
                ctx.vars, ctx.dos = {"claim": view, "line": a, "other": b}, dos
                tick()
                screened = _screened(group, ctx, dos)
                if screened is None:
                    continue
                for line in firsts:
                    for other in seconds:
                        if line is other:
                            continue
                        ctx.vars = names = {"claim": view, "line": line, "other": other}
                        props = _fact_props(group, ctx, "line_pair", dos, memo, screened, proved)
                        tick(0 if props is None else 1)
                        if props is not None and props is not _PROVED:
                            fid = f"f{next(_ids)}"
                            facts.append({"id": fid, **props})
                            keys[fid] = key_of(names)
