"""Rules compiled for one run: the set of rules that can run, with their plans.

Both backends run a :class:`Program`: the reference evaluator uses each rule's
compiled closure; the Rete backend uses the plans and the fact builder. Rules
whose tables are not loaded are kept aside as *not checked*, never silently
passed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from claimscrub.compile.plan import Cond, Derived, Planner, all_derived, required_derived, required_native
from claimscrub.compile.rules import Rule
from claimscrub.lang.evaluate import Ctx, compile_expr

SCOPE_ORDER = ("claim", "line", "line_pair", "diagnosis", "encounter", "encounter_line", "history")


@dataclass(eq=False)
class CompiledRule:
    index: int
    rule: Rule
    test: Callable[[Ctx], Any]  # the whole condition, reference semantics
    cond: Cond  # the planned condition (native tests + derived atoms)
    required: list[Derived]  # derived atoms that must hold (for pruning facts)
    required_native: list  # (path, op, value) natives that must hold, checked before derived atoms
    derived: list[Derived]  # every derived atom in the condition


@dataclass(eq=False)
class ScopePlan:
    scope: str
    rules: list[CompiledRule]
    planner: Planner
    derived_fns: dict[str, Callable[[Ctx], Any]] = field(default_factory=dict)  # prop -> closure
    fact_groups: list | None = None  # the fact builder's compiled rule groups, built on first use


@dataclass
class Program:
    rules: list[CompiledRule]
    scopes: dict[str, ScopePlan]
    not_checked: list[tuple[Rule, str]]  # rule, reason
    tables: Any
    valuesets: dict[str, frozenset]

    def ctx(self, names: dict, dos: str | None) -> Ctx:
        return Ctx(names, dos, self.tables, self.valuesets)


class CachedTables:
    """Lookups memoised for the run: rules ask the same (table, key, date) many times per claim, and
    whether a table covers a date (or lists every code) on every line. A miss goes to the table's
    reader (``TableSet.reader``): rules only read rows, so they are shared, not copied."""

    def __init__(self, tables, size: int = 200_000):
        self.inner = tables
        self._cache: dict = {}
        self._size = size
        self._readers: dict[str, Callable[[tuple, str], Any]] = {}

    def lookup(self, table: str, key: tuple, dos: str):
        k = (table, key, dos)
        try:
            return self._cache[k]
        except KeyError:
            if len(self._cache) >= self._size:
                self._cache.clear()
            read = self._readers.get(table)
            if read is None:
                reader = getattr(self.inner, "reader", None)
                read = self._readers[table] = reader(table) if reader else functools.partial(self.inner.lookup, table)
            row = self._cache[k] = read(key, dos)
            return row

    def _dated(self, what: str, table: str, dos: str):
        k = (what, table, dos)
        try:
            return self._cache[k]
        except KeyError:
            value = self._cache[k] = getattr(self.inner, what)(table, dos)
            return value

    def covers(self, table: str, dos: str) -> bool:
        return self._dated("covers", table, dos)

    def lists_all(self, table: str, dos: str) -> bool:
        return self._dated("lists_all", table, dos)

    def edition(self, table: str, dos: str):
        return self._dated("edition", table, dos)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def build_program(rules: list[Rule], tables, valuesets: dict[str, frozenset], history: bool = False) -> Program:
    """Compile runnable rules; set aside those whose tables are not loaded.

    History-scope rules need the patient's other claims, which only the cross-claim phase has: a
    claim's own program leaves them out, and ``history=True`` compiles only them (for that phase)."""
    if tables is not None and not isinstance(tables, CachedTables):
        tables = CachedTables(tables)
    compiled: list[CompiledRule] = []
    not_checked: list[tuple[Rule, str]] = []
    scopes: dict[str, ScopePlan] = {}
    for rule in rules:
        if (rule.scope == "history") != history:
            continue
        missing = [t for t in rule.tables if tables is None or not tables.loaded(t)]
        if missing:
            not_checked.append((rule, "table not loaded: " + ", ".join(missing)))
            continue
        plan = scopes.get(rule.scope)
        if plan is None:
            plan = scopes[rule.scope] = ScopePlan(rule.scope, [], Planner(rule.scope))
        cond = plan.planner.plan(rule.condition)
        item = CompiledRule(
            len(compiled),
            rule,
            compile_expr(rule.condition),
            cond,
            required_derived(cond),
            required_native(cond),
            all_derived(cond),
        )
        compiled.append(item)
        plan.rules.append(item)
    for plan in scopes.values():
        plan.derived_fns = {atom.prop: compile_expr(atom.node) for atom in plan.planner.derived.values()}
    ordered = {s: scopes[s] for s in SCOPE_ORDER if s in scopes}
    return Program(compiled, ordered, not_checked, tables, valuesets)
