"""Facts for the Rete engine: one flat dict per claim / line / line pair / diagnosis.

A fact holds only what the network tests: the scalar paths the scope's rules
compare (``line__code``, ``claim__payer__type``; money in cents), the date of
service, and the derived booleans ``dN`` precomputed here with the reference
evaluator, so the network only ever sees constants.

A fact is not asserted when every rule of its scope is already refuted by a
derived atom it requires (a PTP rule whose table lookup found no pair, a
duplicate rule whose lines differ): the network would drop it anyway, and
line-pair facts grow with the square of the line count.
"""

from __future__ import annotations

import itertools
import weakref
from dataclasses import dataclass
from typing import Any

from .lang import ast as A
from .lang.types import SCALARS
from .plan import fact_value, path_type
from .program import Program
from .views import Key, contexts

_ids = itertools.count()


def resolve(names: dict, path: tuple[str, ...]) -> Any:
    """The value at a path like ("claim", "payer", "type") in the bound names; None when absent."""
    value = names.get(path[0])
    for part in path[1:]:
        if value is None:
            return None
        value = value.get(part)
    return value


@dataclass(frozen=True)
class _RuleGroup:
    """Rules of one scope evaluated on the same contexts, and what decides whether a fact is worth asserting."""

    rules: list[tuple]  # (rule, dated, required natives, required derived, all derived props)
    pair_keys: tuple[str, ...]  # line fields every rule of the group requires equal (line pairs)
    known: dict[str, bool]  # derived props true on every context the pair keys let through


def _equal_line_fields(node: A.Node) -> str | None:
    """``line.f == other.f`` (either way round) -> "f"."""
    if isinstance(node, A.Compare) and node.op == "==":
        a, b = A.path_of(node.left), A.path_of(node.right)
        if a and b and len(a) == len(b) == 2 and a[1] == b[1] and {a[0], b[0]} == {"line", "other"}:
            return a[1]
    return None


def _scope_checks(plan) -> list[_RuleGroup]:
    """The scope's rules in groups. Line-pair rules are grouped by the line fields they require equal
    (date and provider for PTP, provider only for a global period), so each group's pairs are formed
    only within lines equal on its fields: a hash join instead of every ordered pair of lines."""
    by_keys: dict[tuple[str, ...], list] = {}
    for item in plan.rules:
        fields = ()
        if plan.scope == "line_pair":
            fields = tuple(sorted({f for a in item.required if a.want for f in [_equal_line_fields(a.node)]
                                   if f and path_type(("line", f), "line_pair") in SCALARS}))  # hashable ones
        by_keys.setdefault(fields, []).append(item)
    groups = []
    for pair_keys, items in sorted(by_keys.items(), key=lambda kv: (-len(kv[0]), kv[0])):
        rules = [
            (item.rule, item.rule.effective_from is not None or item.rule.effective_to is not None,
             tuple((n.prop, n.value) for n in item.required_native),
             tuple((a.prop, a.want) for a in item.required),
             tuple(a.prop for a in item.derived))
            for item in items
        ]
        known = {a.prop: True for a in plan.planner.derived.values() if _equal_line_fields(a.node) in pair_keys}
        groups.append(_RuleGroup(rules, pair_keys, known))
    return groups


# Per scope plan, built on first use; weak, so a program dropped on reload takes its groups with it.
_GROUPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_UNSET = object()


def _checks_for(plan) -> list[_RuleGroup]:
    groups = _GROUPS.get(plan)
    if groups is None:
        groups = _GROUPS[plan] = _scope_checks(plan)
    return groups


def build_facts(program: Program, view: dict) -> tuple[dict[str, list[dict]], dict[str, Key]]:
    """Facts per scope for one claim, and fact id -> the Key it stands for."""
    by_scope: dict[str, list[dict]] = {}
    keys: dict[str, Key] = {}
    for scope, plan in program.scopes.items():
        facts = []
        paths = plan.planner.native_paths
        fns = plan.derived_fns
        ctx = program.ctx({}, None)  # one context, re-pointed at each binding: nothing keeps it
        for group in _checks_for(plan):
            for key, names, dos in contexts(scope, view, group.pair_keys):
                ctx.vars, ctx.dos = names, dos
                native: dict[str, Any] = {}  # prop -> fact value, resolved once per context
                derived: dict[str, bool] = dict(group.known)  # line.date == other.date holds within a pair group
                live = False
                for rule, dated, natives, required, props in group.rules:
                    if dated and not rule.applies_on(dos):
                        continue
                    alive = True
                    for prop, want in natives:  # cheap tests first: skip costly derivations
                        value = native.get(prop, _UNSET)
                        if value is _UNSET:
                            path, t = paths[prop]
                            value = native[prop] = fact_value(resolve(names, path), t)
                        if value != want:
                            alive = False
                            break
                    if not alive:
                        continue
                    for prop, want in required:
                        value = derived.get(prop)
                        if value is None:
                            value = derived[prop] = fns[prop](ctx) is True
                        if value != want:
                            alive = False
                            break
                    if not alive:
                        continue
                    live = True
                    for prop in props:
                        if prop not in derived:
                            derived[prop] = fns[prop](ctx) is True
                if not live:
                    continue
                fid = f"f{next(_ids)}"
                fact: dict[str, Any] = {"id": fid, "t": scope, "dos": dos}
                for prop, (path, t) in paths.items():
                    value = native[prop] if prop in native else fact_value(resolve(names, path), t)
                    if value is not None:
                        fact[prop] = value
                fact.update(derived)
                facts.append(fact)
                keys[fid] = key
        if facts:
            by_scope[scope] = facts
    return by_scope, keys
