"""Static checks of an expression against the claim types: lint's type errors.

Catches what would otherwise fail silently at run time: a misspelled field (a
missing value makes every comparison false), comparing a date with a number,
an unknown function, table or value set.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from claimscrub.lang import ast as A
from claimscrub.lang.functions import FUNCTIONS, VARIADIC
from claimscrub.lang.types import (
    ANY,
    BOOL,
    DATE,
    INTEGER,
    MONEY,
    NUMBER,
    NUMERIC,
    STRING,
    ListT,
    RecordT,
    RowT,
    SetT,
    Type,
    compatible,
)

DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class TypeIssue:
    message: str
    pos: A.Pos


def _suggest(name: str, options) -> str:
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


class Checker:
    def __init__(self, env: dict[str, Type], valuesets=frozenset(), tables: dict | None = None):
        self.env = dict(env)
        self.valuesets = set(valuesets)
        self.tables = tables  # {table name: {column: type}} or None when unknown
        self.issues: list[TypeIssue] = []

    def error(self, message: str, pos: A.Pos) -> Type:
        self.issues.append(TypeIssue(message, pos))
        return ANY

    def check(self, node: A.Node) -> Type:
        match node:
            case A.Const(value=v):
                if isinstance(v, bool):
                    return BOOL
                if isinstance(v, str):
                    return STRING
                return INTEGER if isinstance(v, int) else NUMBER
            case A.Var(name=n, pos=pos):
                if n not in self.env:
                    return self.error(
                        f"unknown name '{n}' (this rule can use: {', '.join(sorted(self.env))})"
                        + _suggest(n, self.env),
                        pos,
                    )
                return self.env[n]
            case A.Field(target=t, name=n, pos=pos):
                base = self.check(t)
                if isinstance(base, RecordT):
                    if n not in base.fields:
                        return self.error(f"'{base.name}' has no field '{n}'" + _suggest(n, base.fields), pos)
                    return base.fields[n]
                if isinstance(base, RowT):
                    if base.columns is not None and n not in base.columns:
                        return self.error(f"table '{base.table}' has no column '{n}'" + _suggest(n, base.columns), pos)
                    return (base.columns or {}).get(n, ANY)
                if base == ANY:
                    return ANY
                return self.error(f"a {base} has no fields ('.{n}')", pos)
            case A.ValueSet(name=n, pos=pos):
                if n not in self.valuesets:
                    self.error(f"unknown value set '@{n}'" + _suggest(n, self.valuesets), pos)
                return SetT()
            case A.ListExpr(items=items):
                types = {self.check(i) for i in items}
                types.discard(ANY)
                if len(types) > 1 and not all(t in NUMERIC for t in types):
                    self.error("list mixes types: " + ", ".join(sorted(map(str, types))), node.pos)
                return ListT(next(iter(types)) if len(types) == 1 else ANY)
            case A.Call():
                return self._call(node)
            case A.Quant(kind=k, var=v, source=s, where=w, body=b, pos=pos):
                src = self.check(s)
                item = src.item if isinstance(src, ListT) else ANY
                if not isinstance(src, ListT) and src != ANY:
                    self.error(f"{k}() needs a list, got {src}", s.pos)
                if v in self.env:
                    self.error(f"'{v}' is already a name in this rule; pick another loop variable", pos)
                saved = self.env.get(v)
                self.env[v] = item
                try:
                    if w is not None:
                        self._cond(w)
                    body = self.check(b) if b is not None else None
                finally:
                    if saved is None:
                        self.env.pop(v, None)
                    else:
                        self.env[v] = saved
                body_pos = b.pos if b is not None else pos
                if k in ("any", "all"):
                    if body is not None and body not in (BOOL, ANY):
                        self.error(f"{k}() body must be a condition, got {body}", body_pos)
                    return BOOL
                if k == "count":
                    if body is not None and body not in (BOOL, ANY):
                        self.error(f"count() body must be a condition, got {body}", body_pos)
                    return INTEGER
                if body is None:
                    return self.error(f"{k}() needs a value after ':'", pos)
                if k == "sum" and body not in NUMERIC and body != ANY:
                    self.error(f"sum() adds numbers, got {body}", body_pos)
                return body
            case A.Compare(op=op, left=a, right=b, pos=pos):
                ta, tb = self.check(a), self.check(b)
                if {ta, tb} == {DATE, STRING}:
                    literal = b if tb == STRING else a
                    if not (isinstance(literal, A.Const) and DATE_RE.match(str(literal.value))):
                        self.error('compare a date with a date or an ISO date literal "YYYY-MM-DD"', pos)
                    return BOOL
                if not compatible(ta, tb):
                    self.error(f"cannot compare {ta} with {tb}", pos)
                elif op not in ("==", "!=") and ta in (BOOL,):
                    self.error(f"'{op}' does not apply to a condition", pos)
                for side, operand_node in ((ta, a), (tb, b)):
                    if isinstance(side, (RecordT, SetT)) or (
                        isinstance(side, (ListT, RowT)) and op not in ("==", "!=")
                    ):
                        self.error(f"cannot compare a {side} with '{op}'", operand_node.pos)
                return BOOL
            case A.In(item=a, container=c, pos=pos):
                ti, tc = self.check(a), self.check(c)
                if isinstance(tc, ListT):
                    if not compatible(ti, tc.item):
                        self.error(f"a {ti} is never in a {tc}", pos)
                elif not isinstance(tc, SetT) and tc != ANY:
                    self.error(f"'in' needs a list or a value set, got {tc}", c.pos)
                return BOOL
            case A.Matches(subject=s):
                subject = self.check(s)
                if subject not in (STRING, ANY):
                    self.error(f"'matches' applies to a string, got {subject}", s.pos)
                return BOOL
            case A.Missing(subject=s):
                self.check(s)
                return BOOL
            case A.Arith(op=op, left=a, right=b, pos=pos):
                ta, tb = self.check(a), self.check(b)
                for side, operand_node in ((ta, a), (tb, b)):
                    if side not in NUMERIC and side != ANY:
                        self.error(f"'{op}' needs numbers, got {side}", operand_node.pos)
                return (
                    MONEY
                    if MONEY in (ta, tb) and op in "+-"
                    else (INTEGER if ta == tb == INTEGER and op != "/" else NUMBER)
                )
            case A.Neg(operand=o):
                operand = self.check(o)
                if operand not in NUMERIC and operand != ANY:
                    self.error(f"'-' needs a number, got {operand}", o.pos)
                return operand
            case A.And(items=items) | A.Or(items=items):
                for i in items:
                    self._cond(i)
                return BOOL
            case A.Not(operand=o):
                self._cond(o)
                return BOOL
        raise TypeError(node)  # pragma: no cover

    def _cond(self, node: A.Node) -> None:
        t = self.check(node)
        if t not in (BOOL, ANY):
            self.error(f"expected a condition, got a {t}", node.pos)

    def _call(self, node: A.Call) -> Type:
        fn = FUNCTIONS.get(node.name)
        if fn is None:
            self.error(f"unknown function '{node.name}'" + _suggest(node.name, FUNCTIONS), node.pos)
            for a in node.args:
                self.check(a)
            return ANY
        if not fn.arity_ok(len(node.args)):
            wanted = len(fn.params) - (1 if VARIADIC in fn.params else 0)
            self.error(
                f"{node.name}() takes {'at least ' if VARIADIC in fn.params else ''}{wanted} "
                f"argument(s), got {len(node.args)}",
                node.pos,
            )
        types = [self.check(a) for a in node.args]
        for position, (arg, got) in enumerate(zip(node.args, types)):
            if position >= len(fn.params) and VARIADIC not in fn.params:
                break
            want = fn.param_type(position)
            if want == ANY or got == ANY:
                continue
            if (
                want == DATE
                and got == STRING
                and isinstance(arg, A.Const)
                and isinstance(arg.value, str)
                and DATE_RE.match(arg.value)
            ):
                continue
            if isinstance(want, ListT) and isinstance(got, ListT) and compatible(want.item, got.item):
                continue
            if not compatible(want, got):
                self.error(f"{node.name}() argument {position + 1} must be a {want}, got {got}", arg.pos)
        if node.name in ("lookup", "lookup_on", "has_table") and node.args:
            return self._table_type(node)
        return fn.returns

    def _table_type(self, node: A.Call) -> Type:
        first = node.args[0]
        if not isinstance(first, A.Const) or not isinstance(first.value, str):
            self.error(f"{node.name}() needs the table name as a string literal", first.pos)
            return RowT() if node.name != "has_table" else BOOL
        name = first.value
        columns = None
        if self.tables is not None:
            if name not in self.tables:
                self.error(f"unknown table '{name}'" + _suggest(name, self.tables), first.pos)
            else:
                columns = self.tables[name]
        return RowT(name, columns) if node.name != "has_table" else BOOL


def check(
    node: A.Node, env: dict[str, Type], valuesets=frozenset(), tables: dict | None = None, want_condition: bool = True
) -> list[TypeIssue]:
    checker = Checker(env, valuesets, tables)
    if want_condition:
        checker._cond(node)
    else:
        checker.check(node)
    return checker.issues
