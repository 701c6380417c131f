"""``claimscrub rules explain``: why a rule did or did not fire on a claim.

Shows the facts built for the rule's scope, the condition compiled for the
Rete engine, and each part of the condition with its value, evaluated by the
reference evaluator with tracing on.
"""

from __future__ import annotations

import json

from claimscrub.backends.durable import rule_expression
from claimscrub.compile.facts import build_facts
from claimscrub.compile.program import build_program
from claimscrub.compile.rules import Rule
from claimscrub.compile.views import claim_view, contexts, key_of
from claimscrub.lang import ast as A
from claimscrub.lang.evaluate import compile_expr


def explain(rule: Rule, claim, tables, valuesets: dict) -> str:
    program = build_program([rule], tables, valuesets, history=rule.scope == "history")  # alone: no history
    out = [f"rule {rule.id} ({rule.scope} scope): {rule.title}", f"  when:   {rule.when.strip()}"]
    if rule.unless:
        out.append(f"  unless: {rule.unless.strip()}")
    if program.not_checked:
        out.append(f"  NOT CHECKED: {program.not_checked[0][1]}")
        return "\n".join(out)
    item = program.rules[0]
    out.append("\ncompiled for the Rete engine (one fact, single-fact rule):")
    out.append("  " + json.dumps(rule_expression(item, rule.scope)))
    view = claim_view(claim)
    facts, keys = build_facts(program, view)
    out.append(
        f"\nfacts built ({sum(len(f) for f in facts.values())} asserted; contexts whose required "
        "tests are false are not asserted):"
    )
    for scope_facts in facts.values():
        for fact in scope_facts:
            out.append("  " + json.dumps({k: v for k, v in fact.items()}, default=str))
    planner = program.scopes[rule.scope].planner
    derived = {a.prop: A.to_text(a.node) for a in planner.derived.values()}
    derived.update((prop, A.to_text(node)) for prop, (node, _) in planner.values.items())
    if derived:
        out.append("  where: " + "; ".join(f"{k} = {v}" for k, v in derived.items()))
    traced = compile_expr(rule.condition, trace=True)
    for names, dos in contexts(rule.scope, view):
        key = key_of(names)
        ctx = program.ctx(names, dos)
        ctx.trace = []
        applies = rule.applies_on(dos)
        value = traced(ctx) if applies else False
        label = _label(key)
        verdict = "FIRES" if value is True else "does not fire"
        out.append(f"\n{label} (date of service {dos}): {verdict}")
        if not applies:
            out.append(f"  rule not in effect on {dos} (effective {rule.effective_from} to {rule.effective_to})")
            continue
        seen = set()
        for node, val in ctx.trace:
            if isinstance(node, (A.Const, A.Var, A.ValueSet)):
                continue
            text = A.to_text(node)
            if text in seen:
                continue
            seen.add(text)
            out.append(f"  {text} = {_show(val)}")
    return "\n".join(out)


def _show(value) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {v}" for k, v in value.items()) + "}"
    if isinstance(value, (frozenset, set)):
        return f"<value set of {len(value)}>"
    return repr(value) if not isinstance(value, bool) else str(value).lower()


def _label(key) -> str:
    """What one evaluation was about, in words: "line 2 with line 1", "record ENC-1, line 1"."""
    parts = []
    if key.encounter is not None:
        parts.append(f"record {key.encounter}")
    if key.dx is not None:
        parts.append(f"diagnosis {key.dx}")
    if key.line is not None:
        parts.append(f"line {key.line}" + (f" with line {key.other}" if key.other is not None else ""))
    return ", ".join(parts) or "claim"
