"""Findings: what a rule hit becomes for the biller and the auditor.

A finding is rendered from a hit with the reference evaluator: the message and
fix with their ``{expression}`` parts filled in, the citation, the pack version,
and for table-driven edits the table row that fired and its edition. Claims
average several findings, so rendering is on the per-claim path: everything of a
finding that does not depend on the hit is prepared once per rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from claimscrub.compile.program import CompiledRule, Program
from claimscrub.compile.views import Key, bind
from claimscrub.lang import ast as A
from claimscrub.lang.evaluate import Ctx, compile_expr
from claimscrub.lang.functions import FUNCTIONS

if TYPE_CHECKING:
    from claimscrub.compile.rules import Rule


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
    related: dict | None = None  # the other claim's line a cross-claim finding is about: {claim_id, line}

    def as_dict(self) -> dict[str, Any]:
        """Every field, in declaration order (the CLI, CSV and service output). Spelled out rather than
        looped over the fields: it runs for every finding written, and a dict display is several times
        cheaper. orjson serialises a Finding itself to the same JSON (its dataclass fields, in order)."""
        return {
            "rule_id": self.rule_id,
            "category": self.category,
            "severity": self.severity,
            "claim_id": self.claim_id,
            "line": self.line,
            "message": self.message,
            "fix": self.fix,
            "title": self.title,
            "related_lines": self.related_lines,
            "diagnosis": self.diagnosis,
            "encounter": self.encounter,
            "citation": self.citation,
            "references": self.references,
            "rule_pack": self.rule_pack,
            "pack_version": self.pack_version,
            "data_edition": self.data_edition,
            "table_row": self.table_row,
            "payer_edit": self.payer_edit,
            "suppression": self.suppression,
            "related": self.related,
        }


ENGINE_ERROR_RULE = "CS-ENGINE-001"
NOT_CHECKED_TAG = "not-checked"  # a rule whose hit says a check could not be made on this claim


def engine_error(claim_id: str, problem: str) -> Finding:
    """The claim could not be run through the rules: say so, never report it clean."""
    return Finding(
        rule_id=ENGINE_ERROR_RULE,
        category="claim_integrity",
        severity="error",
        claim_id=claim_id,
        line=None,
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
        exponent = value.as_tuple().exponent  # 'n'/'N'/'F' for NaN and infinity
        return f"{value:.2f}" if isinstance(exponent, int) and exponent < 0 else str(value)
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
        return lambda ctx: (
            lead
            + (x if type(x := a(ctx)) is str else _text(x))
            + a_tail
            + (y if type(y := b(ctx)) is str else _text(y))
            + b_tail
        )

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
    cited: tuple[Callable | None, ...]  # per reference, its condition (None: always cited); () when none has one
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
        others = any(
            isinstance(n, A.Call) and n.name != "lookup" and FUNCTIONS[n.name].needs_context
            for n in A.walk(rule.condition)
        )
        rerun = others or len({A.to_text(call) for call, _ in found}) > 1 or (bool(found) and cite_lookup is None)
    conditions = tuple(compile_expr(r.condition) if r.condition is not None else None for r in rule.references)
    return _RuleParts(
        rule.id,
        rule.category,
        rule.severity,
        rule.title,
        _template(rule.message_parts),
        _template(rule.fix_parts),
        "; ".join(str(r) for r in rule.references),
        [_reference(r) for r in rule.references],
        conditions if any(conditions) else (),
        rule.pack.name,
        rule.pack.version,
        rule.cite_table or None,
        cite_lookup,
        rerun,
    )


def _reference(ref) -> dict:
    """A reference as a finding carries it: what it cites (its condition has done its work by then)."""
    return {k: v for k, v in asdict(ref).items() if v is not None and k not in ("when", "condition")}


def _citations(parts: _RuleParts, ctx: Ctx) -> tuple[str, list[dict]]:
    """The references that apply to this finding: those without a condition, and those whose condition holds."""
    keep = [i for i, cond in enumerate(parts.cited) if cond is None or cond(ctx) is True]
    refs = [parts.references[i] for i in keep]
    return "; ".join(r["source"] + (f" ({r['edition']})" if r.get("edition") else "") for r in refs), list(
        map(_copy, refs)
    )


_copy = dict.copy


class Renderer:
    """Renders hits of one program into findings; templates and citations compiled once per rule."""

    def __init__(self, program: Program):
        self.program = program
        self._parts: dict[int, _RuleParts] = {}
        rules = [item.rule for item in program.rules]
        self._suppressed_by = {r.id: r.suppressed_by for r in rules if r.suppressed_by}
        self._not_checked = frozenset(r.id for r in rules if NOT_CHECKED_TAG in r.tags)
        tables = program.tables
        self._tables_of: list[tuple[Rule, tuple[str, ...]]] = [(r, r.tables) for r in rules if r.tables]
        self._claim_types: dict[str, tuple[str, ...]] = (
            {  # every table a rule reads, and its claim types
                t: (d.claim_types if (d := tables.definition(t)) is not None else ())
                for _, used in self._tables_of
                for t in used
            }
            if tables is not None
            else {}
        )

    def settle(self, findings: list[Finding], view: dict) -> tuple[list[Finding], list[dict]]:
        """A claim's findings after matching, and what was not checked on it.

        One finding per problem (see :func:`one_finding_per_problem`); the hits of rules tagged
        ``not-checked`` (a check the claim alone cannot make) and the rules no loaded edition covers
        on the claim's dates (see :meth:`not_covered`) are the claim's *not checked* entries."""
        unchecked = [
            {"rule_id": f.rule_id, "line": f.line, "reason": f.message}
            for f in findings
            if f.rule_id in self._not_checked
        ]
        if unchecked:
            findings = [f for f in findings if f.rule_id not in self._not_checked]
        if self._suppressed_by:
            findings = one_finding_per_problem(findings, self._suppressed_by)
        return findings, self.not_covered(view) + unchecked

    def not_covered(self, view: dict) -> list[dict]:
        """Rules that could not check this claim because no loaded edition of a table they read covers a
        line's date of service (MUEs before 2007, fee-schedule indicators before their release, the I/OCE
        before 2019-07-01): *not checked*, with the reason, rather than silently passed. A table defined
        for other claim types (the hospital PTP table on a professional claim) is not the claim's concern."""
        tables = self.program.tables
        dates = sorted({line["from_date"] for line in view["lines"] if line.get("from_date")})
        claim_type = view["type"]
        uncovered: dict[str, list[str]] = {}
        for table, claim_types in self._claim_types.items():
            if (not claim_types or claim_type in claim_types) and (
                missed := [d for d in dates if not tables.covers(table, d)]
            ):
                uncovered[table] = missed
        if not uncovered:  # the usual case: every table covers the claim's dates
            return []
        out: list[dict] = []
        for rule, used in self._tables_of:
            for table in used:
                missed = [d for d in uncovered.get(table, ()) if rule.applies_on(d)]
                if missed:
                    out.append(
                        {
                            "rule_id": rule.id,
                            "dates": missed,
                            "reason": f"no loaded edition of {table} covers {', '.join(missed)}",
                        }
                    )
                    break
        return out

    def render(self, item: CompiledRule, view: dict, key: Key) -> Finding:
        parts = self._parts.get(item.index)
        if parts is None:
            parts = self._parts[item.index] = _parts(item.rule)
        names, dos = bind(view, key)
        ctx = self.program.ctx(names, dos)
        edition = table_row = caveat = None
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
                caveat = row.get("_caveat")
                table_row = {k: v for k, v in row.items() if not k.startswith("_")}
            if edition is None and self.program.tables is not None:
                edition = self.program.tables.edition(table, dos)
        message, fix = parts.message, parts.fix
        if not isinstance(message, str):
            message = message(ctx)
        if not isinstance(fix, str):
            fix = fix(ctx)
        severity = parts.severity
        if caveat is not None:  # the edition does not cover the date: say so, one severity lower
            message = f"{message} Not certain: {caveat}."
            severity = LOWER_SEVERITY[severity]
        line, other, dx, encounter, history = key
        if parts.cited:
            citation, references = _citations(parts, ctx)
        else:
            citation, references = parts.citation, list(map(_copy, parts.references))
        # positional, in field order: a keyword call of the dataclass __init__ costs more
        return Finding(
            parts.rule_id,
            parts.category,
            severity,
            view["claim_id"],
            line,
            message,
            fix,
            parts.title,
            [other] if other is not None else [],
            dx,
            encounter,
            citation,
            references,
            parts.rule_pack,
            parts.pack_version,
            edition,
            table_row,
            None,
            None,
            {"claim_id": names["hist"].claim_id, "line": names["hist"].sequence} if history is not None else None,
        )


SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
LOWER_SEVERITY = {"error": "warning", "warning": "info", "info": "info"}


def sort_key(f: Finding):
    """Severity, line, rule, then whatever else tells two findings apart: a total order, so that findings
    the engine returns in a different order (set iteration varies between runs) are written the same."""
    return (
        SEVERITY_ORDER[f.severity],
        f.line if f.line is not None else -1,
        f.rule_id,
        f.related_lines,
        f.diagnosis if f.diagnosis is not None else -1,
        f.encounter or "",
        f.message,
    )


def _same_place(cover: Finding, f: Finding) -> bool:
    """Does ``cover`` speak of where ``f`` is: the whole claim, or a line either one names?"""
    if cover.line is None or f.line is None:
        return True
    return cover.line == f.line or f.line in cover.related_lines or cover.line in f.related_lines


def one_finding_per_problem(findings: list[Finding], suppressed_by: dict[str, tuple[str, ...]]) -> list[Finding]:
    """Drop a finding whose rule says another describes the same problem (``suppressed_by``) when that
    other one fired on the same claim and place; the finding kept names the rule it stands for, once.

    Resolved after matching, over the rendered findings (reader checks such as CS-X12-003 included),
    so no rule condition has to know about another rule's.
    """
    by_rule: dict[str, list[Finding]] = {}
    for f in findings:
        by_rule.setdefault(f.rule_id, []).append(f)
    kept: list[Finding] = []
    for f in findings:
        cover = next(
            (
                g
                for rid in suppressed_by.get(f.rule_id, ())
                for g in by_rule.get(rid, ())
                if g is not f and _same_place(g, f)
            ),
            None,
        )
        if cover is None:
            kept.append(f)
            continue
        note = f"One problem, one finding: this also stands for {f.rule_id} ({f.title})."
        if note not in cover.message:
            cover.message += (" " if cover.message.endswith(".") else ". ") + note
    return kept
