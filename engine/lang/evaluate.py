"""The reference evaluator: the AST compiled into nested Python closures.

Semantics (the Rete backend is held to the same by the differential test):
- a missing value (absent field, failed lookup) is ``None``;
- any comparison, ``in``, ``not in`` or ``matches`` with a missing operand is
  false; ``not`` of false is true; only ``is missing`` tests for absence;
- arithmetic with a missing operand, or division by zero, is missing;
- quantifiers over a missing list: any -> false, all -> true, count/sum -> 0.

Closures rather than a tree walk per claim: the AST is compiled once per rule,
and evaluating is then a few Python calls per node. With ``trace`` set, every
node's value is recorded for ``claimscrub rules explain``.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable

from . import ast as A
from .functions import FUNCTIONS

Fn = Callable[["Ctx"], Any]


@dataclass(slots=True)
class Ctx:
    """What an expression is evaluated against: bound names and the services it may use."""

    vars: dict[str, Any]
    dos: str | None = None  # date of service that picks table editions
    tables: Any = None  # engine.tables.TableSet or None
    valuesets: dict[str, frozenset] = field(default_factory=dict)
    rows: list | None = None  # table rows read, when a finding wants to cite them
    trace: list | None = None  # (node, value) pairs, for explain

    def lookup(self, table: str, key: tuple) -> dict | None:
        if self.tables is None or not self.tables.loaded(table):
            return None
        row = self.tables.lookup(table, tuple(key), self.dos)
        if row is not None and self.rows is not None:
            self.rows.append(row)
        return row

    def bind(self, name: str, value: Any) -> "Ctx":
        new = Ctx({**self.vars, name: value}, self.dos, self.tables, self.valuesets, self.rows, self.trace)
        return new


_CMP = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def _get(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def _arith(op: str, a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if b == 0:
        return None
    result = Decimal(a) / Decimal(b)
    return int(result) if result == result.to_integral_value() else result


def compile_expr(node: A.Node, trace: bool = False) -> Fn:
    fn = _compile(node, trace)
    if not trace:
        return fn

    def traced(ctx: Ctx, _fn=fn, _node=node):
        value = _fn(ctx)
        if ctx.trace is not None:
            ctx.trace.append((_node, value))
        return value

    return traced


def _compile(node: A.Node, trace: bool) -> Fn:
    sub = lambda n: compile_expr(n, trace)  # noqa: E731
    match node:
        case A.Const(value=v):
            return lambda ctx: v
        case A.Var(name=n):
            return lambda ctx: ctx.vars.get(n)
        case A.Field(target=t, name=n):
            get = sub(t)
            return lambda ctx: _get(get(ctx), n)
        case A.ValueSet(name=n):
            return lambda ctx: ctx.valuesets.get(n, frozenset())
        case A.ListExpr(items=items):
            fns = [sub(i) for i in items]
            return lambda ctx: [f(ctx) for f in fns]
        case A.Call(name=n, args=args):
            function = FUNCTIONS[n]
            fns = [sub(a) for a in args]
            impl = function.impl
            if function.needs_context:
                return lambda ctx: impl(ctx, *[f(ctx) for f in fns])
            return lambda ctx: impl(*[f(ctx) for f in fns])
        case A.Quant():
            return _quant(node, trace)
        case A.Compare(op=op, left=a, right=b):
            fa, fb, cmp = sub(a), sub(b), _CMP[op]

            def compare(ctx):
                x, y = fa(ctx), fb(ctx)
                if x is None or y is None:
                    return False
                try:
                    return cmp(x, y)
                except TypeError:
                    return False

            return compare
        case A.In(item=a, container=c, negated=neg):
            fa, fc = sub(a), sub(c)

            def member(ctx):
                x, box = fa(ctx), fc(ctx)
                if x is None or box is None:
                    return False
                return (x not in box) if neg else (x in box)

            return member
        case A.Matches(subject=s, pattern=p):
            fs, rx = sub(s), re.compile(p)
            return lambda ctx: (lambda v: v is not None and rx.search(str(v)) is not None)(fs(ctx))
        case A.Missing(subject=s, negated=neg):
            fs = sub(s)
            if neg:
                return lambda ctx: fs(ctx) is not None
            return lambda ctx: fs(ctx) is None
        case A.Arith(op=op, left=a, right=b):
            fa, fb = sub(a), sub(b)
            return lambda ctx: _arith(op, fa(ctx), fb(ctx))
        case A.Neg(operand=o):
            fo = sub(o)
            return lambda ctx: (lambda v: None if v is None else -v)(fo(ctx))
        case A.And(items=items):
            fns = [sub(i) for i in items]

            def conj(ctx):
                for f in fns:
                    if f(ctx) is not True:
                        return False
                return True

            return conj
        case A.Or(items=items):
            fns = [sub(i) for i in items]

            def disj(ctx):
                for f in fns:
                    if f(ctx) is True:
                        return True
                return False

            return disj
        case A.Not(operand=o):
            fo = sub(o)
            return lambda ctx: fo(ctx) is not True
    raise TypeError(node)  # pragma: no cover


def _quant(node: A.Quant, trace: bool) -> Fn:
    source = compile_expr(node.source, trace)
    where = compile_expr(node.where, trace) if node.where is not None else None
    body = compile_expr(node.body, trace) if node.body is not None else None
    var, kind = node.var, node.kind

    def items(ctx):
        for item in source(ctx) or ():
            inner = ctx.bind(var, item)
            if where is None or where(inner) is True:
                yield inner

    if kind == "any":
        return lambda ctx: any((body is None or body(i) is True) for i in items(ctx))
    if kind == "all":
        return lambda ctx: all((body is None or body(i) is True) for i in items(ctx))
    if kind == "count":
        return lambda ctx: sum(1 for i in items(ctx) if body is None or body(i) is True)

    def values(ctx):
        return [v for v in (body(i) for i in items(ctx)) if v is not None]

    if kind == "sum":
        return lambda ctx: sum(values(ctx))
    if kind == "min":
        return lambda ctx: min(values(ctx), default=None)
    return lambda ctx: max(values(ctx), default=None)


def truth(value: Any) -> bool:
    return value is True
