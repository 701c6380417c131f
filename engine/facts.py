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
from typing import Any

from .plan import fact_value
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


def build_facts(program: Program, view: dict) -> tuple[dict[str, list[dict]], dict[str, Key]]:
    """Facts per scope for one claim, and fact id -> the Key it stands for."""
    by_scope: dict[str, list[dict]] = {}
    keys: dict[str, Key] = {}
    for scope, plan in program.scopes.items():
        facts = []
        paths = plan.planner.native_paths
        fns = plan.derived_fns
        for key, names, dos in contexts(scope, view):
            ctx = program.ctx(names, dos)
            derived: dict[str, bool] = {}
            live = False
            for item in plan.rules:
                if not item.rule.applies_on(dos):
                    continue
                alive = True
                for native in item.required_native:  # cheap tests first: skip costly derivations
                    if fact_value(resolve(names, native.path), paths[native.prop][1]) != native.value:
                        alive = False
                        break
                if not alive:
                    continue
                for atom in item.required:
                    value = derived.get(atom.prop)
                    if value is None:
                        value = derived[atom.prop] = fns[atom.prop](ctx) is True
                    if value != atom.want:
                        alive = False
                        break
                if not alive:
                    continue
                live = True
                for atom in item.derived:
                    if atom.prop not in derived:
                        derived[atom.prop] = fns[atom.prop](ctx) is True
            if not live:
                continue
            fid = f"f{next(_ids)}"
            fact: dict[str, Any] = {"id": fid, "t": scope, "dos": dos}
            for prop, (path, t) in paths.items():
                value = resolve(names, path)
                if value is not None:
                    fact[prop] = fact_value(value, t)
            fact.update(derived)
            facts.append(fact)
            keys[fid] = key
        if facts:
            by_scope[scope] = facts
    return by_scope, keys
