"""The Rete backend: the one module that talks to durable-rules.

It follows shared/notes/durable-rules.md:
- its own ``Host`` subclass with the timer threads disabled (one per process);
- rule definitions deep-copied before ``set_rulesets`` (it mutates them);
- single-fact rules only (line pairs are facts of their own), so no
  non-equality joins; a never-completing join per ruleset as the catch-all,
  so no fact raises ``MessageNotHandledException`` and no action fires for it;
- every fact with a unique id; facts retracted after each claim, never
  ``delete_state``; ``state['exception']`` checked after every assert;
- rules sharded so no ruleset nears the C core's alpha fan-out and
  sibling-test limits;
- hits de-duplicated (``$or`` may fire an action twice for one fact).
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass

import durable_rules_engine as dre
import orjson
from durable.engine import Host

from claimscrub.backends import Hit
from claimscrub.compile.facts import build_facts
from claimscrub.compile.plan import Conj, Derived, Disj, Native, all_derived, natives, or_branches
from claimscrub.compile.program import CompiledRule, Program

# Margins well inside the C core's limits (see the notes for the limits themselves).
MAX_RULES_PER_RULESET = 200  # rules per ruleset: 4096; identical condition chains: 256
MAX_NATIVE_TESTS_PER_RULESET = 200  # children of one alpha node: 511 (the 513th hangs set_rulesets)
MAX_MISSING_TESTS_PER_RULESET = 100  # `$nex` children of one node: 128 (error 107)
MAX_BRANCHES_PER_SCOPE = 48  # sibling tests one fact may satisfy at once: 64 (error 303 at assert);
# a fact only reaches the rules of its own scope (every rule tests its type `t` first), so the
# budget is per scope within a ruleset
MAX_FACT_PROPERTIES = 200  # properties per fact, id/sid/t/dos included: 255 (error 302)
FIXED_PROPERTIES = ("id", "t", "dos")
_OPS = {"!=": "$neq", "<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte"}
_hosts = itertools.count()


class EngineError(Exception):
    """The rule engine failed on a claim (an action raised, or the C core returned an error)."""


class _Host(Host):
    """A durable Host without its dispatch threads: the engine is driven synchronously, and its
    matches are collected by :class:`DurableBackend` (no action is ever dispatched)."""

    def get_action(self, action_name):
        return _unused

    def _run(self):  # the base class starts timer/dispatch threads here
        pass


def to_durable(cond) -> dict:
    """A planned condition as a durable-rules expression on one fact."""
    if isinstance(cond, Native):
        if cond.op == "missing":
            return {"$nex": {cond.prop: 1}}
        if cond.op == "present":
            return {"$ex": {cond.prop: 1}}
        if cond.op == "==":
            return {cond.prop: cond.value}
        return {_OPS[cond.op]: {cond.prop: cond.value}}
    if isinstance(cond, Derived):
        return {cond.prop: cond.want}
    if isinstance(cond, Conj):
        return {"$and": [to_durable(c) for c in cond.items]}
    if isinstance(cond, Disj):
        return {"$or": [to_durable(c) for c in cond.items]}
    raise TypeError(cond)  # pragma: no cover


def rule_expression(item: CompiledRule, scope: str) -> dict:
    parts = [{"t": scope}, to_durable(item.cond)]
    if item.rule.effective_from:
        parts.append({"$gte": {"dos": item.rule.effective_from}})
    if item.rule.effective_to:
        parts.append({"$lte": {"dos": item.rule.effective_to}})
    return {"$and": parts}


@dataclass
class Shard:
    name: str
    scopes: tuple[str, ...]
    rules: list[CompiledRule]
    props: frozenset[str]  # the fact properties its rules test


@dataclass(frozen=True)
class Load:
    """What one rule (or a ruleset of them) puts on the C core, against the limits above."""

    tests: frozenset  # distinct native tests: alpha-node children
    missing: int  # `$nex` tests
    branches: tuple[tuple[str, int], ...]  # per scope: alternatives once ORs are expanded
    props: frozenset  # fact properties tested

    def __or__(self, other: Load) -> Load:
        branches = dict(self.branches)
        for scope, n in other.branches:
            branches[scope] = branches.get(scope, 0) + n
        return Load(
            self.tests | other.tests,
            self.missing + other.missing,
            tuple(sorted(branches.items())),
            self.props | other.props,
        )

    def over(self) -> list[str]:
        """The limits this load breaks, as text (empty when it fits one ruleset)."""
        out = []
        if len(self.tests) > MAX_NATIVE_TESTS_PER_RULESET:
            out.append(f"{len(self.tests)} distinct native tests (limit {MAX_NATIVE_TESTS_PER_RULESET})")
        if self.missing > MAX_MISSING_TESTS_PER_RULESET:
            out.append(f"{self.missing} 'is missing' tests (limit {MAX_MISSING_TESTS_PER_RULESET})")
        for scope, n in self.branches:
            if n > MAX_BRANCHES_PER_SCOPE:
                out.append(f"{n} alternatives once expanded for {scope} facts (limit {MAX_BRANCHES_PER_SCOPE})")
        if len(self.props) + len(FIXED_PROPERTIES) > MAX_FACT_PROPERTIES:
            out.append(f"{len(self.props) + len(FIXED_PROPERTIES)} fact properties (limit {MAX_FACT_PROPERTIES})")
        return out


def condition_load(scope: str, cond) -> Load:
    """The load of one planned condition (``rules lint`` checks each rule with it)."""
    ns = natives(cond)
    return Load(
        frozenset((scope, n.prop, n.op, repr(n.value)) for n in ns),
        sum(1 for n in ns if n.op == "missing"),
        ((scope, or_branches(cond)),),
        frozenset(n.prop for n in ns) | frozenset(a.prop for a in all_derived(cond)),
    )


def rule_load(item: CompiledRule) -> Load:
    return condition_load(item.rule.scope, item.cond)


def shard(rules: list[CompiledRule], prefix: str) -> list[Shard]:
    """Split rules into rulesets that stay inside the engine's margins.

    Rules of every scope share a ruleset (each tests its fact type ``t``), so
    a claim costs one assert and one retract per shard rather than per scope.
    A rule too big for a ruleset of its own is refused by ``rules lint`` and
    by :class:`DurableBackend` (see :func:`too_big`).
    """
    shards: list[Shard] = []
    current: list[CompiledRule] = []
    load = Load(frozenset(), 0, (), frozenset())

    def close():
        scopes = tuple(dict.fromkeys(item.rule.scope for item in current))
        shards.append(Shard(f"{prefix}_{len(shards)}", scopes, current, load.props))

    for item in rules:
        own = rule_load(item)
        merged = load | own
        if current and (len(current) >= MAX_RULES_PER_RULESET or merged.over()):
            close()
            current, merged = [], own
        current.append(item)
        load = merged
    if current:
        close()
    return shards


def too_big(item: CompiledRule) -> list[str]:
    """Why this rule cannot run in durable-rules even in a ruleset of its own (empty when it can)."""
    return rule_load(item).over()


def rulesets(program: Program, prefix: str) -> tuple[dict[str, dict], list[Shard]]:
    """durable-rules ruleset definitions for a program (pure: also used by lint and explain)."""
    definitions: dict[str, dict] = {}
    ordered = [item for plan in program.scopes.values() for item in plan.rules]
    shards = shard(ordered, prefix)
    for s in shards:
        rules = {
            f"r{item.index}": {"all": [{"m": rule_expression(item, item.rule.scope)}], "run": f"a{item.index}"}
            for item in s.rules
        }
        # Catch-alls that never complete: every fact matches something, no action runs.
        for scope in s.scopes:
            rules[f"_catch_all_{scope}"] = {"all": [{"m": {"t": scope}}, {"n": {"t": "__never__"}}], "run": "_never"}
        definitions[s.name] = rules
    return definitions, shards


class DurableBackend:
    """Runs a Program's rules in durable-rules, driving the C core directly.

    The rulesets are registered through a ``Host`` (so they are validated and
    compiled the documented way), but a claim's facts are asserted, its
    actions collected and its facts retracted with the engine's own calls:
    durable's Python action machinery (a closure, a JSON state round trip and
    a promise chain per hit) cost more than the Rete network itself. An action
    here only records (rule, fact id); nothing is ever written to the state.
    """

    name = "durable"

    def __init__(self, program: Program, prove: bool = False):
        """``prove``: take the rules the fact builder's tests already decided as hits and assert no fact.
        Off by default: the Rete network is the engine users chose, and it decides every rule; on, it
        decides only rules the builder cannot (joins; none in the bundled packs today), which
        ``tests/test_differential.py`` holds equal to the network on every generated claim."""
        self.program = program
        self.prove = prove
        prefix = f"cs{next(_hosts)}"
        for item in program.rules:
            problems = too_big(item)
            if problems:
                raise EngineError(
                    f"{item.rule.id} ({item.rule.location}) is too big for the rule engine: " + "; ".join(problems)
                )
        definitions, self.shards = rulesets(program, prefix)
        self.host = _Host()
        if definitions:
            self.host.set_rulesets(copy.deepcopy(definitions))
        # A shard whose rules test only some of a scope's fact properties gets facts cut down to
        # those when the whole fact would pass the engine's property limit.
        scope_props = {
            scope: len(plan.planner.native_paths) + len(plan.planner.values) + len(plan.planner.derived)
            for scope, plan in program.scopes.items()
        }
        self._handles = []
        for s in self.shards:
            project = any(scope_props[scope] + len(FIXED_PROPERTIES) > MAX_FACT_PROPERTIES for scope in s.scopes)
            keep = frozenset(FIXED_PROPERTIES) | s.props if project else None
            self._handles.append((self.host.get_ruleset(s.name)._handle, s.name, frozenset(s.scopes), keep))
        self._rule_index = {f"r{item.index}": item.index for item in program.rules}

    def run(self, view: dict) -> set[Hit]:
        proved: set[Hit] | None = set() if self.prove else None  # hits the fact builder decided
        facts_by_scope, keys = build_facts(self.program, view, proved)
        hits = proved if proved is not None else set()
        if not facts_by_scope:
            return hits
        fired: set[tuple[int, str]] = set()
        for handle, name, scopes, keep in self._handles:
            facts = [f for scope, fs in facts_by_scope.items() if scope in scopes for f in fs]
            if not facts:
                continue
            if keep is not None:
                facts = [{k: v for k, v in f.items() if k in keep} for f in facts]
            try:
                payload = orjson.dumps(facts).decode()
            except orjson.JSONEncodeError:  # an int past 64 bits: the C core cannot hold it
                raise EngineError("a number in the claim is too large for the rule engine (64-bit)") from None
            try:
                self._assert(handle, name, payload, fired)
            finally:  # keep the session empty for the next claim
                _check(dre.retract_facts(handle, payload), name, "retract")
        hits.update((index, keys[fid]) for index, fid in fired)
        return hits

    def _assert(self, handle: int, name: str, payload: str, fired: set) -> None:
        state_handle = _check(dre.assert_facts(handle, payload), name, "assert")
        result = dre.start_action_for_state(handle, state_handle)
        if not result:
            return
        message = result[1]
        rule_index = self._rule_index
        while message:
            for rule, match in orjson.loads(message).items():
                index = rule_index.get(rule)
                if index is None:
                    raise EngineError(f"{name}: unexpected action for {rule!r}")
                fired.add((index, match["m"]["id"]))
            message = dre.complete_and_start_action(handle, state_handle)


def _unused(c):  # pragma: no cover - actions are collected by DurableBackend._assert, never dispatched
    raise EngineError("durable-rules dispatched an action through the Host")


def _check(result, name: str, what: str) -> int:
    """The C core's (code, state handle) answer; any code but 0 is an engine failure."""
    code = result[0]
    if code == 0:
        return result[1]
    if code == 3:  # queued for another session: never happens with a single session
        return 0
    raise EngineError(f"{what} in {name} failed: engine code {code}")
