"""Parse rule expressions (lark LALR) into the AST of :mod:`claimscrub.lang.ast`.

Rule text is data: it is parsed, type-checked and interpreted, never eval'd.
"""

from __future__ import annotations

import functools
import re
from decimal import Decimal
from pathlib import Path

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from claimscrub.lang import ast as A
from claimscrub.lang.regex import PatternError, compile_pattern


class ExprSyntaxError(Exception):
    """A parse error at (line, column) inside the expression text, 1-based."""

    def __init__(self, message: str, line: int, column: int):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


@functools.cache
def _parser() -> Lark:
    grammar = (Path(__file__).parent / "grammar.lark").read_text()
    return Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=True)


def _pos(meta_or_token) -> A.Pos:
    line = getattr(meta_or_token, "line", None)
    column = getattr(meta_or_token, "column", None)
    return (line or 1, column or 1)


_ESCAPE = re.compile(r"\\(.)")


def _unquote(token: str) -> str:
    return _ESCAPE.sub(lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), token[1:-1])


def _flatten(cls, items, pos):
    out = []
    for item in items:
        out.extend(item.items if isinstance(item, cls) else (item,))
    return cls(tuple(out), pos)


@v_args(meta=True)
class _ToAst(Transformer):
    def number(self, meta, children):
        text = str(children[0])
        value = Decimal(text) if "." in text else int(text)
        return A.Const(value, _pos(meta))

    def string(self, meta, children):
        return A.Const(_unquote(str(children[0])), _pos(meta))

    def true(self, meta, _):
        return A.Const(True, _pos(meta))

    def false(self, meta, _):
        return A.Const(False, _pos(meta))

    def var(self, meta, children):
        return A.Var(str(children[0]), _pos(meta))

    def field(self, meta, children):
        target, name = children
        return A.Field(target, str(name), _pos(name))

    def valueset(self, meta, children):
        return A.ValueSet(str(children[0]), _pos(meta))

    def list_(self, meta, children):
        return A.ListExpr(tuple(c for c in children if c is not None), _pos(meta))

    def call(self, meta, children):
        name, *args = children
        return A.Call(str(name), tuple(a for a in args if a is not None), _pos(meta))

    def quant(self, meta, children):
        kind, var, source, where, body = children
        return A.Quant(str(kind), str(var), source, where, body, _pos(meta))

    def compare(self, meta, children):
        left, op, right = children
        return A.Compare(str(op), left, right, _pos(op))

    def in_(self, meta, children):
        return A.In(children[0], children[1], False, _pos(meta))

    def not_in(self, meta, children):
        return A.In(children[0], children[1], True, _pos(meta))

    def matches(self, meta, children):
        pattern = _unquote(str(children[1]))
        try:
            compile_pattern(pattern)
        except PatternError as exc:
            line, col = _pos(children[1])
            raise ExprSyntaxError(f"invalid regular expression: {exc}", line, col) from None
        return A.Matches(children[0], pattern, _pos(meta))

    def missing(self, meta, children):
        return A.Missing(children[0], False, _pos(meta))

    def present(self, meta, children):
        return A.Missing(children[0], True, _pos(meta))

    def arith(self, meta, children):
        left, op, right = children
        return A.Arith(str(op), left, right, _pos(op))

    def neg(self, meta, children):
        operand = children[0]
        if isinstance(operand, A.Const) and type(operand.value) in (int, Decimal):
            return A.Const(-operand.value, _pos(meta))  # a negative literal: a constant, as the planner tests them
        return A.Neg(operand, _pos(meta))

    def and_(self, meta, children):
        return _flatten(A.And, children, _pos(meta))

    def or_(self, meta, children):
        return _flatten(A.Or, children, _pos(meta))

    def not_(self, meta, children):
        return A.Not(children[0], _pos(meta))


_TOKEN_NAMES = {
    "RPAR": "')'",
    "LPAR": "'('",
    "RSQB": "']'",
    "LSQB": "'['",
    "COMMA": "','",
    "DOT": "'.'",
    "COLON": "':'",
    "NAME": "a name",
    "STRING": "a string",
    "NUMBER": "a number",
    "COMPARE": "a comparison",
    "$END": "end of expression",
    "AT": "'@'",
}


def _expected(tokens) -> str:
    names = sorted({_TOKEN_NAMES.get(t, t.lower() if t.isupper() and not t.startswith("__") else t) for t in tokens})
    names = [n for n in names if not n.startswith("__")]
    return ", ".join(names[:8])


MAX_DEPTH = 300  # levels of the expression tree; deeper ones overflowed the stack in the walkers after parsing


def _check_depth(tree: Tree) -> None:
    """Refuse an expression whose tree is too deep to walk (3,000 ``or`` terms gave a RecursionError): lark's
    LALR parser builds the tree without recursion; its transformer and the checkers after it recurse."""
    stack: list[tuple[Tree, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            line, column = _pos(node.meta)
            raise ExprSyntaxError(
                f"expression nested more than {MAX_DEPTH} levels deep (each 'or', 'and', 'not' "
                "and arithmetic operator is a level); move long lists of codes into a value set "
                "(@name) or a list ('x in [...]')",
                line,
                column,
            )
        stack.extend((child, depth + 1) for child in node.children if isinstance(child, Tree))


@functools.lru_cache(maxsize=4096)
def parse(text: str) -> A.Node:
    """Parse one expression; raise ExprSyntaxError with a position on failure."""
    try:
        tree = _parser().parse(text)
    except UnexpectedEOF as exc:
        lines = text.splitlines() or [""]
        raise ExprSyntaxError(
            f"expression ends too early; expected {_expected(exc.expected)}", len(lines), len(lines[-1]) + 1
        ) from None
    except UnexpectedToken as exc:
        if exc.token.type == "$END":
            lines = text.splitlines() or [""]
            raise ExprSyntaxError(
                f"expression ends too early; expected {_expected(exc.expected)}", len(lines), len(lines[-1]) + 1
            ) from None
        raise ExprSyntaxError(
            f"unexpected {exc.token!s:.20}; expected {_expected(exc.expected)}", exc.line, exc.column
        ) from None
    except UnexpectedCharacters as exc:
        raise ExprSyntaxError(f"unexpected character {exc.char!r}", exc.line, exc.column) from None
    except UnexpectedInput as exc:  # pragma: no cover - other lark errors
        raise ExprSyntaxError(str(exc).splitlines()[0], exc.line, exc.column) from None
    _check_depth(tree)
    try:
        return _ToAst().transform(tree)
    except Exception as exc:  # lark wraps transformer errors
        inner = getattr(exc, "orig_exc", exc)
        if isinstance(inner, ExprSyntaxError):
            raise inner from None
        raise


def parse_template(text: str) -> list[str | A.Node]:
    """Split a message template: literal text and ``{expression}`` parts (``{{`` is a brace)."""
    parts: list[str | A.Node] = []
    i = 0
    literal = ""
    while i < len(text):
        ch = text[i]
        if ch == "{" and text.startswith("{{", i):
            literal += "{"
            i += 2
        elif ch == "}" and text.startswith("}}", i):
            literal += "}"
            i += 2
        elif ch == "{":
            end = text.find("}", i)
            if end < 0:
                raise ExprSyntaxError("unclosed '{' in message", 1, i + 1)
            if literal:
                parts.append(literal)
                literal = ""
            try:
                parts.append(parse(text[i + 1 : end]))
            except ExprSyntaxError as exc:
                raise ExprSyntaxError(exc.message, exc.line, i + 1 + exc.column) from None
            i = end + 1
        else:
            literal += ch
            i += 1
    if literal:
        parts.append(literal)
    return parts


__all__ = ["parse", "parse_template", "ExprSyntaxError", "Token"]
