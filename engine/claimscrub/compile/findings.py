"""Findings: what a rule hit becomes for the biller and the auditor.

A finding is rendered from a hit with the reference evaluator: the message and
fix with their ``{expression}`` parts filled in, the citation, the pack version,
and for table-driven edits the table row that fired and its edition. Claims
average several findings, so rendering is on the per-claim path: everything of a
finding that does not depend on the hit is prepared once per rule.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any, Callable, Iterator

from claimscrub.lang import ast as A
from claimscrub.lang.evaluate import Ctx, compile_expr
from claimscrub.lang.functions import FUNCTIONS
from claimscrub.compile.program import CompiledRule, Program
from claimscrub.compile.views import Key, bind


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
    payer_edit: dict | None = None  # the payer's edit code / CARC / RARC for this rule (from a policy)
    suppression: dict | None = None  # who accepted this finding and why (a suppression or a policy carve-out)

    def as_dict(self) -> dict[str, Any]:
        """Every field, in declaration order (the CLI, CSV and service output). Spelled out rather than
        looped over the fields: it runs for every finding written, and a dict display is several times
        cheaper. orjson serialises a Finding itself to the same JSON (its dataclass fields, in order)."""
        return {
            "rule_id": self.rule_id, "category": self.category, "severity": self.severity,
            "claim_id": self.claim_id, "line": self.line, "message": self.message, "fix": self.fix,
            "title": self.title, "related_lines": self.related_lines, "diagnosis": self.diagnosis,
            "encounter": self.encounter, "citation": self.citation, "references": self.references,
            "rule_pack": self.rule_pack, "pack_version": self.pack_version, "data_edition": self.data_edition,
            "table_row": self.table_row, "payer_edit": self.payer_edit, "suppression": self.suppression,
        }


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
    """A template value as the biller reads it. Most values are strings or line numbers: tested first."""
    kind = type(value)
    if kind is str:
        return value
    if kind is int:
        return str(value)
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


Fill = Callable[[Ctx], str]


def _template(parts: list) -> str | Fill:
    """A message or fix template: its text when it has no ``{expression}`` part (many fixes), else one
    function of the bound names.

    Constant text is joined once; one or two expressions (the usual shapes) get a function without a
    loop, and string values skip ``_text``: every finding fills two templates.
    """
    head: list[str] = []
    pairs: list[tuple[Callable[[Ctx], Any], str]] = []  # (expression, the constant text after it)
    for part in parts:
        if isinstance(part, str):
            if pairs:
                pairs[-1] = (pairs[-1][0], pairs[-1][1] + part)
            else:
                head.append(part)
        else:
            pairs.append((compile_expr(part), ""))
    lead = "".join(head)
    if not pairs:
        return lead
    if len(pairs) == 1:
        ((a, a_tail),) = pairs
        return lambda ctx: lead + (x if type(x := a(ctx)) is str else _text(x)) + a_tail
    if len(pairs) == 2:
        (a, a_tail), (b, b_tail) = pairs
        return lambda ctx: (lead + (x if type(x := a(ctx)) is str else _text(x)) + a_tail
                            + (y if type(y := b(ctx)) is str else _text(y)) + b_tail)

    def fill(ctx: Ctx) -> str:
        text = lead
        for expr, tail in pairs:
            text += _text(expr(ctx)) + tail
        return text

    return fill


@dataclass(slots=True, frozen=True)
class _RuleParts:
    """What rendering needs of a rule, compiled once: everything of a finding that does not depend on
    the hit (ids, title, citation, pack), the templates, and the row lookups."""

    rule_id: str
    category: str
    severity: str
    title: str
    message: str | Fill  # the text itself when constant
    fix: str | Fill
    citation: str
    references: list[dict]  # copied per finding (a caller may edit a finding's references)
    rule_pack: str
    pack_version: str
    cite_table: str | None
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
        rule.id, rule.category, rule.severity, rule.title, _template(rule.message_parts),
        _template(rule.fix_parts), "; ".join(str(r) for r in rule.references),
        [{k: v for k, v in asdict(r).items() if v is not None} for r in rule.references],
        rule.pack.name, rule.pack.version, rule.cite_table or None, cite_lookup, rerun)


_copy = dict.copy


class Renderer:
    """Renders hits of one program into findings; templates and citations compiled once per rule."""

    def __init__(self, program: Program):
        self.program = program
        self._parts: dict[int, _RuleParts] = {}

    def render(self, item: CompiledRule, view: dict, key: Key) -> Finding:
        parts = self._parts.get(item.index)
        if parts is None:
            parts = self._parts[item.index] = _parts(item.rule)
        names, dos = bind(view, key)
        ctx = self.program.ctx(names, dos)
        edition = table_row = None
        table = parts.cite_table
        if table is not None:
            row = parts.cite_lookup(ctx) if parts.cite_lookup is not None else None
            if row is None and parts.rerun:
                ctx.rows = []
                item.test(ctx)  # the cited row was read elsewhere in the condition: record what the hit read
                row = next((r for r in ctx.rows if r.get("_table") == table), None)
                ctx.rows = None
            if row:
                edition = row.get("_edition")
                table_row = {k: v for k, v in row.items() if not k.startswith("_")}
            if edition is None and self.program.tables is not None:
                edition = self.program.tables.edition(table, dos)
        message, fix = parts.message, parts.fix
        if type(message) is not str:
            message = message(ctx)
        if type(fix) is not str:
            fix = fix(ctx)
        line, other, dx, encounter = key
        # positional, in field order: a keyword call of the dataclass __init__ costs more
        return Finding(
            parts.rule_id, parts.category, parts.severity, view["claim_id"], line, message, fix, parts.title,
            [other] if other is not None else [], dx, encounter, parts.citation,
            list(map(_copy, parts.references)), parts.rule_pack, parts.pack_version, edition, table_row,
        )


SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def sort_key(f: Finding):
    return (SEVERITY_ORDER[f.severity], f.line if f.line is not None else -1, f.rule_id, f.related_lines)

