"""The rule expression AST: small frozen dataclasses, one per construct.

Every node carries ``pos`` = (line, column) inside the expression text, both
1-based, so lint can point at the file position of a misspelled field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

Pos = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Const:
    value: str | int | Decimal | bool
    pos: Pos = field(default=(1, 1), compare=False)


@dataclass(frozen=True, slots=True)
class Var:
    name: str
    pos: Pos = field(default=(1, 1), compare=False)


@dataclass(frozen=True, slots=True)
class Field:
    target: Node
    name: str
    pos: Pos = field(default=(1, 1), compare=False)


@dataclass(frozen=True, slots=True)
class ValueSet:
    name: str
    pos: Pos = field(default=(1, 1), compare=False)


@dataclass(frozen=True, slots=True)
class ListExpr:
    items: tuple[Node, ...]
    pos: Pos = field(default=(1, 1), compare=False)


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[Node, ...]
    pos: Pos = field(default=(1, 1), compare=False)


@dataclass(frozen=True, slots=True)
class Quant:
    """``any(o in claim.lines where cond: body)`` and count / sum / all / min / max."""

    kind: str
    var: str
    source: Node
    where: Node | None
    body: Node | None
    pos: Pos = field(default=(1, 1), compare=False)


@dataclass(frozen=True, slots=True)
class Compare:
    op: str  # == != < <= > >=
    left: Node
    right: Node
    pos: Pos = field(default=(1, 1), compare=False)


@dataclass(frozen=True, slots=True)
class In:
    item: Node
    container: Node
    negated: bool = False
    pos: Pos = field(default=(1, 1), compare=False)


@dataclass(frozen=True, slots=True)
class Matches:
    subject: Node
    pattern: str
    pos: Pos = field(default=(1, 1), compare=False)


@dataclass(frozen=True, slots=True)
class Missing:
    subject: Node
    negated: bool = False  # True: "is not missing"
    pos: Pos = field(default=(1, 1), compare=False)


@dataclass(frozen=True, slots=True)
class Arith:
    op: str  # + - * /
    left: Node
    right: Node
    pos: Pos = field(default=(1, 1), compare=False)


@dataclass(frozen=True, slots=True)
class Neg:
    operand: Node
    pos: Pos = field(default=(1, 1), compare=False)


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Node, ...]
    pos: Pos = field(default=(1, 1), compare=False)


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Node, ...]
    pos: Pos = field(default=(1, 1), compare=False)


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node
    pos: Pos = field(default=(1, 1), compare=False)


Node = (
    Const
    | Var
    | Field
    | ValueSet
    | ListExpr
    | Call
    | Quant
    | Compare
    | In
    | Matches
    | Missing
    | Arith
    | Neg
    | And
    | Or
    | Not
)

NEGATED_OP = {"==": "!=", "!=": "==", "<": ">=", ">=": "<", ">": "<=", "<=": ">"}


def path_of(node: Node) -> tuple[str, ...] | None:
    """("line", "code") for ``line.code``; None when the node is not a plain path."""
    parts: list[str] = []
    while isinstance(node, Field):
        parts.append(node.name)
        node = node.target
    if isinstance(node, Var):
        parts.append(node.name)
        return tuple(reversed(parts))
    return None


def children(node: Node) -> tuple[Node, ...]:
    match node:
        case Field(target=t):
            return (t,)
        case ListExpr(items=items) | And(items=items) | Or(items=items):
            return items
        case Call(args=args):
            return args
        case Quant(source=s, where=w, body=b):
            return tuple(n for n in (s, w, b) if n is not None)
        case Compare(left=a, right=b) | Arith(left=a, right=b):
            return (a, b)
        case In(item=a, container=b):
            return (a, b)
        case Matches(subject=s) | Missing(subject=s):
            return (s,)
        case Neg(operand=o) | Not(operand=o):
            return (o,)
    return ()


def walk(node: Node):
    yield node
    for child in children(node):
        yield from walk(child)


def to_text(node: Node) -> str:
    """Canonical source text of a node (for explain output and derived-fact names)."""
    match node:
        case Const(value=v):
            if isinstance(v, bool):
                return "true" if v else "false"
            return f'"{v}"' if isinstance(v, str) else str(v)
        case Var(name=n):
            return n
        case Field(target=t, name=n):
            return f"{to_text(t)}.{n}"
        case ValueSet(name=n):
            return f"@{n}"
        case ListExpr(items=items):
            return "[" + ", ".join(map(to_text, items)) + "]"
        case Call(name=n, args=args):
            return f"{n}(" + ", ".join(map(to_text, args)) + ")"
        case Quant(kind=k, var=v, source=s, where=w, body=b):
            text = f"{k}({v} in {to_text(s)}"
            if w is not None:
                text += f" where {to_text(w)}"
            if b is not None:
                text += f": {to_text(b)}"
            return text + ")"
        case Compare(op=op, left=a, right=b):
            return f"{to_text(a)} {op} {to_text(b)}"
        case In(item=a, container=b, negated=neg):
            return f"{to_text(a)} {'not in' if neg else 'in'} {to_text(b)}"
        case Matches(subject=s, pattern=p):
            return f'{to_text(s)} matches "{p}"'
        case Missing(subject=s, negated=neg):
            return f"{to_text(s)} is {'not ' if neg else ''}missing"
        case Arith(op=op, left=a, right=b):
            return f"({to_text(a)} {op} {to_text(b)})"
        case Neg(operand=o):
            return f"-{to_text(o)}"
        case And(items=items):
            return "(" + " and ".join(map(to_text, items)) + ")"
        case Or(items=items):
            return "(" + " or ".join(map(to_text, items)) + ")"
        case Not(operand=o):
            return f"not {to_text(o)}"
    raise TypeError(node)
