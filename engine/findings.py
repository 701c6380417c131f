"""Findings: what a rule hit becomes for the biller and the auditor.

A finding is rendered from a hit with the reference evaluator (only hits are
rendered, so this is off the hot path): the message and fix with their
``{expression}`` parts filled in, the citation, the pack version, and for
table-driven edits the table row that fired and its edition.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any, Callable, Iterator

from .lang import ast as A
from .lang.evaluate import compile_expr
from .lang.functions import FUNCTIONS
from .program import CompiledRule, Program
from .views import Key, bind


@dataclass(slots=True)
class Finding:
    rule_id: str
    category: str
    severity: str
    claim_id: str
    line: int | None  # line sequence; None for a claim- or diagnosis-level finding
    message: str
    fix: str
    title: str = ""
    related_lines: list[int] = field(default_factory=list)
    diagnosis: int | None = None  # diagnosis position, for diagnosis-scope rules
    encounter: str | None = None  # encounter record id, for encounter-scope rules
    citation: str = ""
    references: list[dict] = field(default_factory=list)
    rule_pack: str = ""
    pack_version: str = ""
    data_edition: str | None = None
    table_row: dict | None = None

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


ENGINE_ERROR_RULE = "CS-ENGINE-001"


def engine_error(claim_id: str, problem: str) -> Finding:
    """The claim could not be run through the rules: say so, never report it clean."""
    return Finding(
        rule_id=ENGINE_ERROR_RULE, category="claim_integrity", severity="error", claim_id=claim_id, line=None,
        title="Rule engine failed on this claim",
        message=f"The rule engine failed on this claim, so it was not checked: {problem}",
        fix="Re-run the scrub; if it fails again, report the claim id to the claimscrub maintainers.",
    )


def _text(value: Any) -> str:
    if value is None:
        return "(missing)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return f"{value:.2f}" if value.as_tuple().exponent < 0 else str(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return ", ".join(_text(v) for v in value) or "(none)"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_text(v)}" for k, v in value.items() if not str(k).startswith("_"))
    return str(value)


@dataclass(frozen=True)
class _RuleParts:
    """What rendering needs of a rule, compiled once: templates, citation, the row lookups."""

    message: list
    fix: list
    citation: str
    references: list[dict]
    cite_lookup: Callable | None  # the first lookup of the cited table, when it surely ran for a hit
    rerun: bool  # when that finds no row, re-run the whole condition to record the rows it read


def _cite_lookups(node: A.Node, table: str, conditional: bool = False) -> Iterator[tuple[A.Call, bool]]:
    """Lookups of the cited table in evaluation order, and whether each may not run when the rule
    fires (under a quantifier, an ``or`` or a ``not``)."""
    if isinstance(node, A.Call) and node.name == "lookup" and node.args and node.args[0] == A.Const(table):
        yield node, conditional
    inner = conditional or isinstance(node, (A.Quant, A.Or, A.Not))
    for child in A.children(node):
        yield from _cite_lookups(child, table, inner)


def _parts(rule) -> _RuleParts:
    def comp(parts):
        return [p if isinstance(p, str) else compile_expr(p) for p in parts]

    cite_lookup, rerun = None, False
    if rule.cite_table:
        found = list(_cite_lookups(rule.condition, rule.cite_table))
        # The first lookup of the cited table, when it surely ran for a hit (a top-level conjunct), read
        # the row a re-run would record first: evaluate just that.
        if found and not found[0][1]:
            cite_lookup = compile_expr(found[0][0])
        # Otherwise (or when it found nothing) re-run the condition: other lookups, or other table
        # functions (a code's history, say), record the rows they read too.
        others = any(isinstance(n, A.Call) and n.name != "lookup" and FUNCTIONS[n.name].needs_context
                     for n in A.walk(rule.condition))
        rerun = others or len({A.to_text(call) for call, _ in found}) > 1 or (bool(found) and cite_lookup is None)
    return _RuleParts(
        comp(rule.message_parts), comp(rule.fix_parts), "; ".join(str(r) for r in rule.references),
        [{k: v for k, v in asdict(r).items() if v is not None} for r in rule.references], cite_lookup, rerun)


class Renderer:
    """Renders hits of one program into findings; templates and citations compiled once per rule."""

    def __init__(self, program: Program):
        self.program = program
        self._parts: dict[int, _RuleParts] = {}

    def render(self, item: CompiledRule, view: dict, key: Key) -> Finding:
        rule = item.rule
        parts = self._parts.get(item.index)
        if parts is None:
            parts = self._parts[item.index] = _parts(rule)
        names, dos = bind(view, key)
        ctx = self.program.ctx(names, dos)
        row = parts.cite_lookup(ctx) if parts.cite_lookup is not None else None
        if row is None and parts.rerun:
            ctx.rows = []
            item.test(ctx)  # the cited row was read elsewhere in the condition: record what the hit read
            row = next((r for r in ctx.rows if r.get("_table") == rule.cite_table), None)
            ctx.rows = None
        message = "".join(p if isinstance(p, str) else _text(p(ctx)) for p in parts.message)
        fix = "".join(p if isinstance(p, str) else _text(p(ctx)) for p in parts.fix)
        edition = row.get("_edition") if row else None
        if edition is None and rule.cite_table and self.program.tables is not None:
            edition = self.program.tables.edition(rule.cite_table, dos)
        return Finding(
            rule_id=rule.id, category=rule.category, severity=rule.severity, claim_id=view["claim_id"],
            line=key.line, message=message, fix=fix, title=rule.title,
            related_lines=[key.other] if key.other is not None else [], diagnosis=key.dx, encounter=key.encounter,
            citation=parts.citation, references=[dict(r) for r in parts.references],
            rule_pack=rule.pack.name, pack_version=rule.pack.version, data_edition=edition,
            table_row={k: v for k, v in row.items() if not k.startswith("_")} if row else None,
        )


SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def sort_key(f: Finding):
    return (SEVERITY_ORDER[f.severity], f.line if f.line is not None else -1, f.rule_id, f.related_lines)

