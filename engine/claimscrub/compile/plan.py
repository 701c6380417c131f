"""How each rule's condition is split between the Rete network and the fact builder.

The durable-rules C core compares constants well and everything else badly
(see shared/notes/durable-rules.md), so a condition is put in negation normal
form and each leaf becomes either

- a *native* test the network runs: ``path op constant``, ``path in [..]``
  (a few values), ``path is missing`` on a scalar field; or
- a native test on a *computed value* ``vN``: an expression that is not a
  path (a table column, ``len(...)``) compared for equality with numbers or
  with strings. The fact builder computes the value once per context, and
  every rule comparing it (add-on type 1, 2 or 3; MAI 1 or 2-3) is matched by
  the network; or
- a *derived* boolean the fact builder precomputes with the reference
  evaluator (function calls, table lookups, value sets, quantifiers, regex,
  arithmetic, path-to-path comparisons) and stores in the fact as ``dN``.

Negation is pushed down with the evaluator's missing-value semantics: since a
comparison with a missing value is false, ``not (x == 1)`` becomes
``x is missing or x != 1``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from claimscrub.lang import ast as A
from claimscrub.lang.types import BOOL, DATE, INTEGER, MONEY, NUMBER, STRING, RecordT, Type, scope_vars

MAX_NATIVE_IN = 8  # `x in [..]` with more values becomes derived (alpha fan-out)
SCOPE_VARS = {
    "claim": ("claim",),
    "line": ("claim", "line"),
    "line_pair": ("claim", "line", "other"),
    "diagnosis": ("claim", "dx"),
    "encounter": ("claim", "enc"),
    "encounter_line": ("claim", "enc", "line", "doc"),
    "history": ("claim", "line", "hist"),
}


@dataclass(frozen=True)
class Native:
    prop: str  # fact property, e.g. "line__code"
    path: tuple[str, ...]
    op: str  # == != < <= > >= missing present
    value: object = None


@dataclass(frozen=True)
class Derived:
    prop: str  # "d3"
    node: A.Node = field(compare=False)
    want: bool = True


@dataclass(frozen=True)
class Conj:
    items: tuple


@dataclass(frozen=True)
class Disj:
    items: tuple


Cond = Native | Derived | Conj | Disj


def prop_name(path: tuple[str, ...]) -> str:
    return "__".join(path)


def path_type(path: tuple[str, ...], scope: str) -> Type | None:
    env = scope_vars(scope)
    t = env.get(path[0])
    for name in path[1:]:
        if not isinstance(t, RecordT) or name not in t.fields:
            return None
        t = t.fields[name]
    return t


def fact_value(value, t: Type):
    """A value as the fact stores it: money in cents, whole numbers as int."""
    if value is None:
        return None
    if t == MONEY:
        return int(Decimal(value) * 100)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _const_for(value, t: Type):
    """A rule constant converted for a native test on a path of type t; None if not exact."""
    if isinstance(value, bool) != (t == BOOL):
        return None
    if t == MONEY:
        cents = Decimal(value) * 100
        return int(cents) if cents == cents.to_integral_value() else None
    if t in (INTEGER, NUMBER) and isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return fact_value(value, t)
    if t in (STRING, DATE) and isinstance(value, str):
        return value
    if t == BOOL:
        return value
    return None


def _constant_kind(values: list) -> str | None:
    """INTEGER when every constant is a whole number, STRING when every one is a string."""
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return INTEGER
    if values and all(isinstance(v, str) for v in values):
        return STRING
    return None


class Planner:
    """Plans the rules of one scope; derived atoms and computed values are shared across its rules by
    their text."""

    def __init__(self, scope: str):
        self.scope = scope
        self.derived: dict[str, Derived] = {}  # text -> atom (want=True)
        self.native_paths: dict[str, tuple[tuple[str, ...], Type]] = {}
        self.values: dict[str, tuple[A.Node, str]] = {}  # prop -> (expression, INTEGER or STRING)
        self._value_props: dict[tuple[str, str], str] = {}  # (text, kind) -> prop

    def _derived(self, node: A.Node, want: bool) -> Derived:
        text = A.to_text(node)
        atom = self.derived.get(text)
        if atom is None:
            atom = Derived(f"d{len(self.derived)}", node, True)
            self.derived[text] = atom
        return Derived(atom.prop, atom.node, want)

    def _scalar_path(self, node: A.Node):
        path = A.path_of(node)
        if path is None or path[0] not in SCOPE_VARS[self.scope]:
            return None
        t = path_type(path, self.scope)
        if t in (STRING, INTEGER, NUMBER, MONEY, DATE, BOOL):
            return path, t
        return None

    def _native(self, path, t, op, value=None) -> Native:
        prop = prop_name(path)
        self.native_paths[prop] = (path, t)
        return Native(prop, path, op, value)

    def _value(self, node: A.Node, kind: str) -> str:
        key = (A.to_text(node), kind)
        prop = self._value_props.get(key)
        if prop is None:
            prop = self._value_props[key] = f"v{len(self._value_props)}"
            self.values[prop] = (node, kind)
        return prop

    def _computed(self, node: A.Node, consts: list) -> str | None:
        """The computed-value prop for an expression compared with these constants, or None when it
        stays a derived test (a path, a constant, or constants of mixed or other types)."""
        if A.path_of(node) is not None or isinstance(node, (A.Const, A.ListExpr, A.ValueSet)):
            return None
        if any(isinstance(n, A.Var) and n.name not in SCOPE_VARS[self.scope] for n in A.walk(node)):
            return None  # a quantifier (its variable is no scope name): kept whole as a derived test
        kind = _constant_kind(consts)
        return self._value(node, kind) if kind else None

    def _equality(self, prop: str, op: str, consts: list, negate: bool) -> Cond:
        """``x == c`` / ``x in [..]`` (op "==") or ``x != c`` / ``x not in [..]`` (op "!=") on a fact
        property, negated with missing-value semantics: any comparison with a missing x is false."""
        equal = tuple(Native(prop, (), "==", c) for c in consts)
        differ = tuple(Native(prop, (), "!=", c) for c in consts)
        anyof = equal[0] if len(equal) == 1 else Disj(equal)
        noneof = differ[0] if len(differ) == 1 else Conj(differ)
        if not negate:
            return anyof if op == "==" else noneof
        return Disj((Native(prop, (), "missing"), noneof if op == "==" else anyof))

    def plan(self, node: A.Node, negate: bool = False) -> Cond:
        match node:
            case A.Not(operand=o):
                return self.plan(o, not negate)
            case A.And(items=items) | A.Or(items=items):
                parts = tuple(self.plan(i, negate) for i in items)
                conj = isinstance(node, A.And) != negate
                return Conj(parts) if conj else Disj(parts)
            case A.Compare(op=op, left=left, right=A.Const(value=v)):
                target = self._scalar_path(left)
                if target is not None:
                    path, t = target
                    const = _const_for(v, t)
                    if const is not None:
                        if not negate:
                            return self._native(path, t, op, const)
                        return Disj((self._native(path, t, "missing"), self._native(path, t, A.NEGATED_OP[op], const)))
                if op in ("==", "!="):
                    prop = self._computed(left, [v])
                    if prop is not None:
                        return self._equality(prop, op, [v], negate)
            case A.In(item=item, container=A.ListExpr(items=values), negated=neg) if 0 < len(values) <= MAX_NATIVE_IN:
                target = self._scalar_path(item)
                consts = [v.value for v in values if isinstance(v, A.Const)]
                if target is not None and len(consts) == len(values):
                    path, t = target
                    converted = [_const_for(c, t) for c in consts]
                    if None not in converted:
                        if neg == negate:  # plain membership
                            return Disj(tuple(self._native(path, t, "==", c) for c in converted))
                        diffs = tuple(self._native(path, t, "!=", c) for c in converted)
                        if neg:  # `x not in L`: false when x is missing
                            return Conj(diffs)
                        return Disj((self._native(path, t, "missing"), Conj(diffs)))  # not (x in L)
                elif len(consts) == len(values):
                    prop = self._computed(item, consts)
                    if prop is not None:
                        return self._equality(prop, "!=" if neg else "==", consts, negate)
            case A.Missing(subject=s, negated=neg):
                target = self._scalar_path(s)
                if target is not None:
                    path, t = target
                    return self._native(path, t, "present" if neg != negate else "missing")
            case A.Field() | A.Var():
                target = self._scalar_path(node)
                if target is not None and target[1] == BOOL:
                    path, t = target
                    if not negate:
                        return self._native(path, t, "==", True)
                    return Disj((self._native(path, t, "missing"), self._native(path, t, "==", False)))
        return self._derived(node, not negate)


def required_derived(cond: Cond) -> list[Derived]:
    """Derived atoms that must hold for the condition to hold (top-level conjuncts)."""
    if isinstance(cond, Derived):
        return [cond]
    if isinstance(cond, Conj):
        out = []
        for item in cond.items:
            out.extend(required_derived(item))
        return out
    return []


def required_native(cond: Cond) -> list[Native]:
    """Native equality tests that must hold (top-level conjuncts): cheap to check before derivations."""
    if isinstance(cond, Native):
        return [cond] if cond.op == "==" else []
    if isinstance(cond, Conj):
        return [n for item in cond.items for n in required_native(item)]
    return []


def all_derived(cond: Cond) -> list[Derived]:
    if isinstance(cond, Derived):
        return [cond]
    if isinstance(cond, (Conj, Disj)):
        return [d for item in cond.items for d in all_derived(item)]
    return []


def natives(cond: Cond) -> list[Native]:
    if isinstance(cond, Native):
        return [cond]
    if isinstance(cond, (Conj, Disj)):
        return [n for item in cond.items for n in natives(item)]
    return []


def or_branches(cond: Cond) -> int:
    """How many alternatives the condition has once expanded (for engine-limit checks)."""
    if isinstance(cond, Disj):
        return sum(or_branches(i) for i in cond.items)
    if isinstance(cond, Conj):
        total = 1
        for i in cond.items:
            total *= or_branches(i)
        return total
    return 1
