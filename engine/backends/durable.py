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

from durable.engine import Host

from ..facts import build_facts
from ..plan import Conj, Derived, Disj, Native, natives
from ..program import CompiledRule, Program
from . import Hit

# Margins well inside the C core's limits (see the notes for the limits themselves).
MAX_RULES_PER_RULESET = 40
MAX_NATIVE_TESTS_PER_RULESET = 200
_OPS = {"!=": "$neq", "<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte"}
_hosts = itertools.count()


class EngineError(Exception):
    """The rule engine failed on a claim (an action raised, or the C core returned an error)."""


class _Host(Host):
    """A durable Host without its dispatch threads: the engine is driven synchronously."""

    def __init__(self, actions: dict):
        self._claimscrub_actions = actions
        super().__init__()

    def get_action(self, action_name):
        return self._claimscrub_actions[action_name]

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
    scope: str
    rules: list[CompiledRule]


def shard(scope: str, rules: list[CompiledRule], prefix: str) -> list[Shard]:
    """Split a scope's rules into rulesets that stay inside the engine's margins."""
    shards: list[Shard] = []
    current: list[CompiledRule] = []
    tests: set = set()
    for item in rules:
        own = {(n.prop, n.op, repr(n.value)) for n in natives(item.cond)}
        if current and (len(current) >= MAX_RULES_PER_RULESET or len(tests | own) > MAX_NATIVE_TESTS_PER_RULESET):
            shards.append(Shard(f"{prefix}_{scope}_{len(shards)}", scope, current))
            current, tests = [], set()
        current.append(item)
        tests |= own
    if current:
        shards.append(Shard(f"{prefix}_{scope}_{len(shards)}", scope, current))
    return shards


def rulesets(program: Program, prefix: str) -> tuple[dict[str, dict], list[Shard]]:
    """durable-rules ruleset definitions for a program (pure: also used by lint and explain)."""
    definitions: dict[str, dict] = {}
    shards: list[Shard] = []
    for scope, plan in program.scopes.items():
        for s in shard(scope, plan.rules, prefix):
            rules = {
                f"r{item.index}": {"all": [{"m": rule_expression(item, scope)}], "run": f"a{item.index}"}
                for item in s.rules
            }
            # Catch-all that never completes: every fact matches something, no action runs.
            rules["_catch_all"] = {"all": [{"m": {"t": scope}}, {"n": {"t": "__never__"}}], "run": "_never"}
            definitions[s.name] = rules
            shards.append(s)
    return definitions, shards


class DurableBackend:
    name = "durable"

    def __init__(self, program: Program):
        self.program = program
        self._fired: list[tuple[int, str]] = []
        prefix = f"cs{next(_hosts)}"
        definitions, self.shards = rulesets(program, prefix)
        actions = {f"a{item.index}": self._action(item.index) for item in program.rules}
        actions["_never"] = lambda c: None
        self.host = _Host(actions)
        if definitions:
            self.host.set_rulesets(copy.deepcopy(definitions))
        self._by_scope: dict[str, list[str]] = {}
        for s in self.shards:
            self._by_scope.setdefault(s.scope, []).append(s.name)

    def _action(self, index: int):
        fired = self._fired

        def action(c):
            fired.append((index, c.m["id"]))

        return action

    def run(self, view: dict) -> set[Hit]:
        facts_by_scope, keys = build_facts(self.program, view)
        self._fired.clear()
        host = self.host
        asserted: list[tuple[str, list[dict]]] = []
        try:
            for scope, facts in facts_by_scope.items():
                for name in self._by_scope.get(scope, ()):
                    state = host.assert_facts(name, facts)
                    asserted.append((name, facts))
                    if state and state.get("exception"):
                        raise EngineError(f"rule action failed in {name}: {state['exception']}")
        finally:
            for name, facts in asserted:  # keep the session empty for the next claim
                host.retract_facts(name, facts)
        return {(index, keys[fid]) for index, fid in self._fired}
