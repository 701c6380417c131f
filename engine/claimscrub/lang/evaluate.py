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
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from claimscrub.lang import ast as A
from claimscrub.lang.functions import FUNCTIONS
from claimscrub.lang.regex import compile_pattern

Fn = Callable[["Ctx"], Any]


@dataclass(slots=True)
class Ctx:
    """What an expression is evaluated against: bound names and the services it may use."""

    vars: dict[str, Any]
    dos: str | None = None  # date of service that picks table editions
    tables: Any = None  # claimscrub.refdata.tables.TableSet or None
    valuesets: dict[str, frozenset] = field(default_factory=dict)
    rows: list | None = None  # table rows read, when a finding wants to cite them
    trace: list | None = None  # (node, value) pairs, for explain

    def lookup(self, table: str, key: tuple, on: str | None = None) -> dict | None:
        """The row in force on the date of service (or on ``on``: a history line's own date)."""
        if self.tables is None:
            return None
        row = self.tables.lookup(table, tuple(key), on or self.dos)  # None for a table not loaded
        if row is not None and self.rows is not None:
            self.rows.append(row)
        return row


_EMPTY: frozenset = frozenset()
_CMP = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def _get(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if type(obj) is dict:
        return obj.get(name)
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def _compile_path(root: str, parts: tuple[str, ...]) -> Fn:
    if len(parts) == 1:
        (a,) = parts

        def get1(ctx):
            v = ctx.vars.get(root)
            return v.get(a) if type(v) is dict else _get(v, a)

        return get1
    if len(parts) == 2:
        a, b = parts

        def get2(ctx):
            v = ctx.vars.get(root)
            v = v.get(a) if type(v) is dict else _get(v, a)
            return v.get(b) if type(v) is dict else _get(v, b)

        return get2

    def get_n(ctx):
        v = ctx.vars.get(root)
        for part in parts:
            v = v.get(part) if type(v) is dict else _get(v, part)
        return v

    return get_n


def _field_path(node: A.Node) -> tuple[str, str] | None:
    """``name.field`` -> (name, field): the commonest operand, read inline by the closures that compare it."""
    path = A.path_of(node)
    return (path[0], path[1]) if path is not None and len(path) == 2 else None


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
        case A.Field(target=A.Call(name="lookup", args=[A.Const(value=str() as table), *keys]), name=n) if not trace:
            return _lookup(table, [sub(k) for k in keys], n)
        case A.Field(target=t, name=n):
            path = None if trace else A.path_of(node)
            if path is not None:
                return _compile_path(path[0], path[1:])
            get = sub(t)
            return lambda ctx: _get(get(ctx), n)
        case A.ValueSet(name=n):
            return lambda ctx: ctx.valuesets.get(n, frozenset())
        case A.ListExpr(items=items):
            if not trace and all(isinstance(i, A.Const) for i in items):
                constant = [i.value for i in items if isinstance(i, A.Const)]
                return lambda ctx: constant
            fns = [sub(i) for i in items]
            return lambda ctx: [f(ctx) for f in fns]
        case A.Call(name="lookup", args=[A.Const(value=str() as table), *keys]) if not trace:
            return _lookup(table, [sub(k) for k in keys])
        case A.Call(name=n, args=args):
            function = FUNCTIONS[n]
            fns = [sub(a) for a in args]
            impl = function.impl
            if function.needs_context:
                return lambda ctx: impl(ctx, *[f(ctx) for f in fns])
            if len(fns) == 1:
                (f1,) = fns
                return lambda ctx: impl(f1(ctx))
            if len(fns) == 2:
                f1, f2 = fns
                return lambda ctx: impl(f1(ctx), f2(ctx))
            return lambda ctx: impl(*[f(ctx) for f in fns])
        case A.Quant():
            return _quant(node, trace)
        case A.Compare(op=op, left=a, right=b) if isinstance(b, A.Const) and not trace:
            fa, y, cmp = sub(a), b.value, _CMP[op]
            if y is None:
                return lambda ctx: False
            field_of = _field_path(a)
            if field_of is not None:
                root, name = field_of

                def compare_field_const(ctx):  # line.units > 1: the path read inlined, one call fewer
                    v = ctx.vars.get(root)
                    x = v.get(name) if type(v) is dict else _get(v, name)
                    if x is None:
                        return False
                    try:
                        return cmp(x, y)
                    except TypeError:
                        return False

                return compare_field_const

            def compare_const(ctx):
                x = fa(ctx)
                if x is None:
                    return False
                try:
                    return cmp(x, y)
                except TypeError:
                    return False

            return compare_const
        case A.Compare(
            op=op, left=A.Field(target=A.Var(name=ra), name=fa_), right=A.Field(target=A.Var(name=rb), name=fb_)
        ) if not trace:
            cmp = _CMP[op]

            def compare_fields(ctx):  # line.from_date == other.from_date: the commonest derived test
                names = ctx.vars
                x, y = names.get(ra), names.get(rb)
                x = x.get(fa_) if type(x) is dict else _get(x, fa_)
                y = y.get(fb_) if type(y) is dict else _get(y, fb_)
                if x is None or y is None:
                    return False
                try:
                    return cmp(x, y)
                except TypeError:
                    return False

            return compare_fields
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
        case A.In(item=A.Const(value=v), container=c, negated=neg) if not trace and v is not None:
            fc = sub(c)

            def const_member(ctx):  # "RT" in line.modifiers
                box = fc(ctx)
                if box is None:
                    return False
                return (v not in box) if neg else (v in box)

            return const_member
        case A.In(item=a, container=A.ValueSet(name=n), negated=neg) if not trace:
            fa = sub(a)
            field_of = _field_path(a)
            if field_of is not None:
                root, name = field_of

                def field_in_set(ctx):  # line.code in @em_codes, the path read inlined
                    v = ctx.vars.get(root)
                    x = v.get(name) if type(v) is dict else _get(v, name)
                    if x is None:
                        return False
                    box = ctx.valuesets.get(n, _EMPTY)
                    return (x not in box) if neg else (x in box)

                return field_in_set

            def set_member(ctx):  # line.code in @em_codes
                x = fa(ctx)
                if x is None:
                    return False
                box = ctx.valuesets.get(n, _EMPTY)
                return (x not in box) if neg else (x in box)

            return set_member
        case A.In(item=a, container=A.ListExpr(items=items), negated=neg) if (
            not trace
            and items
            and all(
                isinstance(i, A.Const) and isinstance(i.value, (str, int)) and not isinstance(i.value, bool)
                for i in items
            )
        ):
            fa, box = sub(a), frozenset(i.value for i in items if isinstance(i, A.Const))

            def list_member(ctx):  # lookup(...).mai in [2, 3]
                x = fa(ctx)
                if x is None:
                    return False
                try:
                    return (x not in box) if neg else (x in box)
                except TypeError:  # an unhashable value is in no list of codes or numbers
                    return neg

            return list_member
        case A.In(item=a, container=c, negated=neg):
            fa, fc = sub(a), sub(c)

            def member(ctx):
                x, box = fa(ctx), fc(ctx)
                if x is None or box is None:
                    return False
                return (x not in box) if neg else (x in box)

            return member
        case A.Matches(subject=s, pattern=p):
            return _matches(sub(s), compile_pattern(p))
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


def _matches(subject: Fn, rx) -> Fn:
    """``x matches "..."``, remembered per pattern and text: a batch matches the same few thousand
    codes against a rule's pattern on every line, and a dict probe costs a tenth of an RE2 search."""
    seen: dict[str, bool] = {}

    def matches(ctx):
        value = subject(ctx)
        if value is None:
            return False
        text = str(value)
        hit = seen.get(text)
        if hit is None:
            if len(seen) >= 65_536:
                seen.clear()
            hit = seen[text] = rx.search(text) is not None
        return hit

    return matches


def _lookup(table: str, keys: list[Fn], column: str | None = None) -> Fn:
    """``lookup("table", ...)`` with a constant table name, the commonest call in table-driven rules,
    and ``lookup(...).column`` in the same closure. (What :meth:`Ctx.lookup` does is inlined: this
    runs for every line and line pair of every claim.)"""

    def read(ctx, key: tuple):
        tables = ctx.tables
        if tables is None:
            return None
        row = tables.lookup(table, key, ctx.dos)  # None for a table not loaded
        if row is None:
            return None
        if ctx.rows is not None:
            ctx.rows.append(row)
        return row if column is None else row.get(column)

    if len(keys) == 1:
        (k1,) = keys

        def lookup1(ctx):
            a = k1(ctx)
            return None if a is None else read(ctx, (a,))

        return lookup1
    if len(keys) == 2:
        k1, k2 = keys

        def lookup2(ctx):
            a, b = k1(ctx), k2(ctx)
            return None if a is None or b is None else read(ctx, (a, b))

        return lookup2

    def lookup_n(ctx):
        key = tuple(k(ctx) for k in keys)
        return None if None in key else read(ctx, key)

    return lookup_n


_UNBOUND = object()


def _restore(names: dict, var: str, saved: Any) -> None:
    if saved is _UNBOUND:
        names.pop(var, None)
    else:
        names[var] = saved


def _item_equal(node: A.Node, var: str) -> tuple[str, A.Node] | None:
    """``o.f == e`` (either way round), ``e`` a path not through ``o`` -> ("f", e)."""
    if not (isinstance(node, A.Compare) and node.op == "=="):
        return None
    for mine, theirs in ((node.left, node.right), (node.right, node.left)):
        path, other = A.path_of(mine), A.path_of(theirs)
        if path and len(path) == 2 and path[0] == var and other and other[0] != var:
            return path[1], theirs
    return None


def _equi_join(node: A.Quant) -> tuple[tuple[str, ...], list[A.Node], A.Node | None] | None:
    """A quantifier over a path whose ``where`` requires item fields equal to outside values
    (``o.code == line.code and o.from_date == line.from_date``): the fields, the outside
    values, and what is left of the ``where``. None when there is no such test."""
    if node.where is None or A.path_of(node.source) is None:
        return None
    conjuncts = node.where.items if isinstance(node.where, A.And) else (node.where,)
    fields, probes, rest = [], [], []
    for c in conjuncts:
        equal = _item_equal(c, node.var)
        if equal is None or equal[0] in fields:
            rest.append(c)
        else:
            fields.append(equal[0])
            probes.append(equal[1])
    if not fields:
        return None
    residue = None if not rest else rest[0] if len(rest) == 1 else A.And(tuple(rest), node.where.pos)
    return tuple(fields), probes, residue


def _hashable(value: Any) -> Any:
    return tuple(value) if type(value) is list else value


# The last list indexed on each set of fields, and its index: one tuple per entry, so a reader never
# sees half an update. Shared by every join on the same fields (the MUE sum and the first-line test
# both join a claim's lines on code and date), so a claim's lines are indexed once per field set.
_LAST_INDEX: dict[tuple[str, ...], tuple[Any, dict | None]] = {}
_NO_INDEX = (None, None)


def _candidates(source: Fn, fields: tuple[str, ...], probes: list[Fn]) -> Fn:
    """The items of ``source`` equal to the probes on ``fields``, through a hash index of the list.

    The index is built once per list and fields (a claim's lines serve every line and line pair),
    so ``sum(o in claim.lines where o.code == line.code ...)`` costs a dict probe per line instead of
    a pass over every line: a hash join. Semantics are the loop's: a missing value equals nothing,
    items stay in list order, and values that cannot be hashed are compared one by one.
    """
    single = probes[0] if len(probes) == 1 else None
    pair = tuple(probes) if len(probes) == 2 else None

    def build(items) -> dict | None:
        index: dict = {}
        try:
            for item in items:
                key = tuple(_hashable(_get(item, f)) for f in fields)
                if None not in key:
                    index.setdefault(key, []).append(item)
        except TypeError:  # an unhashable value: no index for this list
            return None
        return index

    def scan(items, probe) -> list:
        out = []
        for item in items:
            for f, want in zip(fields, probe):
                have = _hashable(_get(item, f))
                if have is None or have != want:
                    break
            else:
                out.append(item)
        return out

    def candidates(ctx):
        items = source(ctx)
        if not items:
            return items
        seen, index = _LAST_INDEX.get(fields, _NO_INDEX)
        if seen is not items:
            index = build(items)
            _LAST_INDEX[fields] = (items, index)
        if pair is not None:  # the commonest joins test one or two fields: no generator
            a, b = pair[0](ctx), pair[1](ctx)
            if a is None or b is None:
                return ()
            probe = (tuple(a) if type(a) is list else a, tuple(b) if type(b) is list else b)
        elif single is not None:
            a = single(ctx)
            if a is None:
                return ()
            probe = (tuple(a) if type(a) is list else a,)
        else:
            probe = tuple(_hashable(p(ctx)) for p in probes)
            if None in probe:
                return ()
        if index is not None:
            try:
                return index.get(probe, ())
            except TypeError:
                pass
        return scan(items, probe)

    return candidates


def _item_field(node: A.Node | None, var: str) -> str | None:
    """``o.f`` -> "f" for a quantifier over ``o``."""
    path = A.path_of(node) if node is not None else None
    return path[1] if path and len(path) == 2 and path[0] == var else None


def _quant(node: A.Quant, trace: bool) -> Fn:
    """any / all / count / sum / min / max over a list, binding ``var`` to each item.

    The item is bound by setting it in the context's names for the duration of
    the loop (and restoring what was there), not by copying the names per item:
    quantifiers over lines run for every line or line pair of every claim.
    Each kind is a plain loop (no generator): this is the innermost loop of
    the fact builder.
    """
    var, kind = node.var, node.kind
    join = None if trace else _equi_join(node)
    if join is not None:
        fields, probes, rest = join
        source = _candidates(compile_expr(node.source), fields, [compile_expr(p) for p in probes])
        where = compile_expr(rest) if rest is not None else None
    else:
        source = compile_expr(node.source, trace)
        where = compile_expr(node.where, trace) if node.where is not None else None
    body = compile_expr(node.body, trace) if node.body is not None else None

    if kind in ("any", "all", "count"):
        empty = {"any": False, "all": True, "count": 0}[kind]

        def quantify(ctx):
            items = source(ctx)
            if not items:
                return empty
            names = ctx.vars
            saved = names.get(var, _UNBOUND)
            count = 0
            try:
                for item in items:
                    names[var] = item
                    if where is not None and where(ctx) is not True:
                        continue
                    if body is None or body(ctx) is True:
                        if kind == "any":
                            return True
                        count += 1
                    elif kind == "all":
                        return False
            finally:
                _restore(names, var, saved)
            return count if kind == "count" else kind == "all"

        return quantify

    if body is None:  # sum/min/max need a value after ':'; the type checker reports it first
        raise ValueError("a quantifier that yields values needs a value after ':'")
    item_field = _item_field(node.body, var) if where is None and not trace else None

    def values(ctx) -> list:
        items = source(ctx)
        if not items:
            return []
        if item_field is not None:  # sum(o in ...: o.units): read the field, bind nothing
            out = []
            for item in items:
                value = item.get(item_field) if type(item) is dict else _get(item, item_field)
                if value is not None:
                    out.append(value)
            return out
        names = ctx.vars
        saved = names.get(var, _UNBOUND)
        out = []
        try:
            for item in items:
                names[var] = item
                if where is None or where(ctx) is True:
                    value = body(ctx)
                    if value is not None:
                        out.append(value)
        finally:
            _restore(names, var, saved)
        return out

    if kind == "sum":
        return lambda ctx: sum(values(ctx))
    if kind == "min":
        return lambda ctx: min(values(ctx), default=None)
    return lambda ctx: max(values(ctx), default=None)
