"""Rendering findings and writing them as JSON: the fast paths must say exactly what a plain rendering says.

``reference_render`` is the straightforward rendering (compile the templates, bind, read the cited row,
copy everything per finding); the Renderer precomputes per rule and shares what no one mutates, so every
finding of the demo claims and of generated claims is compared with it, field by field and as JSON bytes.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, fields
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from claimscrub.api.scrubber import ClaimResult, Scrubber
from claimscrub.compile.findings import Finding, _template, _text
from claimscrub.compile.views import bind, claim_view
from claimscrub.inputs import read_bytes, read_path
from claimscrub.lang import ast as A
from claimscrub.lang.evaluate import compile_expr
from claimscrub.lang.functions import FUNCTIONS
from claimscrub.output.writers import jsonl_lines, to_csv, to_json

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from bench_scrub import FIRST_PACKS, generate  # noqa: E402

FIELDS = [
    "rule_id",
    "category",
    "severity",
    "claim_id",
    "line",
    "message",
    "fix",
    "title",
    "related_lines",
    "diagnosis",
    "encounter",
    "citation",
    "references",
    "rule_pack",
    "pack_version",
    "data_edition",
    "table_row",
    "payer_edit",
    "suppression",
    "related",
]


def _plain_text(value: Any) -> str:
    if value is None:
        return "(missing)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return f"{value:.2f}" if value.as_tuple().exponent < 0 else str(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return ", ".join(_plain_text(v) for v in value) or "(none)"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_plain_text(v)}" for k, v in value.items() if not str(k).startswith("_"))
    return str(value)


def _cite_lookups(node, table, conditional=False):
    if isinstance(node, A.Call) and node.name == "lookup" and node.args and node.args[0] == A.Const(table):
        yield node, conditional
    inner = conditional or isinstance(node, (A.Quant, A.Or, A.Not))
    for child in A.children(node):
        yield from _cite_lookups(child, table, inner)


def reference_render(program, item, view: dict, key) -> dict[str, Any]:
    """The finding of one hit, rendered the plain way, as the dict ``Finding.as_dict`` must give."""
    rule = item.rule
    names, dos = bind(view, key)
    ctx = program.ctx(names, dos)
    row = None
    found = list(_cite_lookups(rule.condition, rule.cite_table)) if rule.cite_table else []
    if found and not found[0][1]:
        row = compile_expr(found[0][0])(ctx)
    others = any(
        isinstance(n, A.Call) and n.name != "lookup" and FUNCTIONS[n.name].needs_context for n in A.walk(rule.condition)
    )
    rerun = bool(rule.cite_table) and (
        others or len({A.to_text(c) for c, _ in found}) > 1 or (bool(found) and found[0][1])
    )
    if row is None and rerun:
        ctx.rows = []
        item.test(ctx)
        row = next((r for r in ctx.rows if r.get("_table") == rule.cite_table), None)
        ctx.rows = None

    def fill(parts):
        return "".join(p if isinstance(p, str) else _plain_text(compile_expr(p)(ctx)) for p in parts)

    edition = row.get("_edition") if row else None
    if edition is None and rule.cite_table and program.tables is not None:
        edition = program.tables.edition(rule.cite_table, dos)
    cited = [r for r in rule.references if r.condition is None or compile_expr(r.condition)(ctx) is True]
    return {
        "rule_id": rule.id,
        "category": rule.category,
        "severity": rule.severity,
        "claim_id": view["claim_id"],
        "line": key.line,
        "message": fill(rule.message_parts),
        "fix": fill(rule.fix_parts),
        "title": rule.title,
        "related_lines": [key.other] if key.other is not None else [],
        "diagnosis": key.dx,
        "encounter": key.encounter,
        "citation": "; ".join(str(r) for r in cited),
        "references": [
            {k: v for k, v in asdict(r).items() if v is not None and k not in ("when", "condition")} for r in cited
        ],
        "rule_pack": rule.pack.name,
        "pack_version": rule.pack.version,
        "data_edition": edition,
        "table_row": {k: v for k, v in row.items() if not k.startswith("_")} if row else None,
        "payer_edit": None,
        "suppression": None,
        "related": None,  # the history scope's other claim and line (tests/test_history_rules.py)
    }


def _hits(scrubber: Scrubber, items) -> list[tuple[dict, list]]:
    from claimscrub.model.normalize import ClaimRejected, claim_from_dict
    from claimscrub.model.validate import problems

    out = []
    for item in items:
        if item.error is not None or problems(item.data):
            continue
        try:
            view = claim_view(claim_from_dict(item.data, item.source))
        except ClaimRejected:
            continue
        out.append((view, scrubber.backend.run(view)))
    return out


def _check(scrubber: Scrubber, hits) -> int:
    rules = scrubber.program.rules
    count = 0
    for _ in range(2):  # the second pass renders from the per-rule cache
        for view, found in hits:
            for index, key in found:
                finding = scrubber.renderer.render(rules[index], view, key)
                expected = reference_render(scrubber.program, rules[index], view, key)
                got = finding.as_dict()
                assert list(got) == FIELDS
                assert got == expected
                assert orjson.dumps(got) == orjson.dumps(expected) == orjson.dumps(finding)
                count += 1
    return count


@pytest.fixture(scope="module")
def demo_scrubber() -> Scrubber:
    return Scrubber(samples=True)


@pytest.fixture(scope="module")
def bench_scrubber() -> Scrubber:
    from claimscrub.refdata.tables import sample_tables
    from claimscrub.resources import rules_dir

    return Scrubber([rules_dir() / "packs" / n for n in FIRST_PACKS], replace_bundled=True, tables=sample_tables())


def _demo_items():
    for path in sorted((REPO / "examples").rglob("*")):
        if path.suffix in (".json", ".x12") and path.is_file():
            yield from read_path(path)


def test_demo_claims_render_as_the_plain_rendering(demo_scrubber):
    hits = _hits(demo_scrubber, list(_demo_items()))
    assert _check(demo_scrubber, hits) > 20


def test_generated_claims_render_as_the_plain_rendering(bench_scrubber):
    hits = _hits(bench_scrubber, list(read_bytes(generate(400, seed=11), "gen.jsonl")))
    assert _check(bench_scrubber, hits) > 400


def test_findings_do_not_share_what_a_caller_may_change(bench_scrubber):
    hits = _hits(bench_scrubber, list(read_bytes(generate(50, seed=3), "gen.jsonl")))
    rules = bench_scrubber.program.rules
    by_rule: dict[int, list[tuple[dict, Any]]] = {}
    for view, found in hits:
        for index, key in found:
            by_rule.setdefault(index, []).append((view, key))
    index, both = next((i, vk) for i, vk in by_rule.items() if len(vk) > 1 and rules[i].rule.references)
    first, second = (bench_scrubber.renderer.render(rules[index], view, key) for view, key in both[:2])
    before = orjson.dumps(second.as_dict())
    first.references[0]["source"] = "changed"
    first.references.append({"source": "more"})
    first.related_lines.append(99)
    if first.table_row is not None:
        first.table_row["extra"] = 1
    assert orjson.dumps(second.as_dict()) == before
    view, key = both[0]
    again = bench_scrubber.renderer.render(rules[index], view, key)
    assert again.as_dict() == reference_render(bench_scrubber.program, rules[index], view, key)


def test_as_dict_is_every_field_in_order():
    f = Finding(
        rule_id="R",
        category="c",
        severity="error",
        claim_id="C1",
        line=2,
        message="m",
        fix="x",
        references=[{"source": "s"}],
        table_row={"a": 1},
    )
    assert list(f.as_dict()) == [fl.name for fl in fields(Finding)] == FIELDS
    assert f.as_dict() == {fl.name: getattr(f, fl.name) for fl in fields(Finding)}


def test_writers_say_the_same_as_the_plain_dicts(bench_scrubber):
    items = list(read_bytes(generate(60, seed=5), "gen.jsonl"))
    results = [bench_scrubber.scrub_item(i) for i in items]
    assert sum(len(r.findings) for r in results) > 50
    lines = list(jsonl_lines(results))
    assert lines == [
        orjson.dumps({**r.as_dict(), "findings": [asdict(f) for f in r.findings]}) + b"\n" for r in results
    ]
    doc = orjson.loads(to_json(results, {"meta": 1}))
    assert doc["findings"] == [asdict(f) for r in results for f in r.findings]
    assert to_csv(results).count("\n") == 1 + sum(len(r.findings) for r in results)


def test_text_of_template_values():
    assert _text(None) == "(missing)"
    assert _text(True) == "yes" and _text(False) == "no"
    assert _text(Decimal("12.5")) == "12.50" and _text(Decimal("12")) == "12"
    assert _text(["a", 1, None]) == "a, 1, (missing)" and _text([]) == "(none)" and _text(()) == "(none)"
    assert _text({"a": 1, "_t": 2, "b": [True]}) == "a=1, b=yes"
    assert _text(3) == "3" and _text(2.5) == "2.5" and _text("x") == "x"
    assert _text(frozenset()) == "(none)"


def test_rejected_and_engine_error_results_still_write(bench_scrubber):
    rejected = ClaimResult("C9", "rejected", reason="bad", field="x", source="s")
    line = list(jsonl_lines([rejected]))[0]
    assert orjson.loads(line) == {
        "claim_id": "C9",
        "status": "rejected",
        "source": "s",
        "finding_count": 0,
        "reason": "bad",
        "field": "x",
        "findings": [],
    }


def test_batch_findings_among_a_claims_findings_write_through_their_as_dict():
    from claimscrub.api.batch import AuditFinding

    plain = Finding(rule_id="R", category="c", severity="error", claim_id="C1", line=1, message="m", fix="x")
    audit = AuditFinding(
        rule_id="A",
        category="audit",
        severity="warning",
        claim_id="C1",
        line=None,
        message="m",
        fix="x",
        encounters=["E1"],
        provider_npi="1234567893",
        evidence={"n": 2},
    )
    result = ClaimResult("C1", "scrubbed", [plain, audit], source="s")
    line = list(jsonl_lines([result]))[0]
    assert line == orjson.dumps({**result.as_dict(), "findings": [plain.as_dict(), audit.as_dict()]}) + b"\n"
    assert orjson.loads(line)["findings"][1]["evidence"] == {"n": 2}


@pytest.mark.parametrize(
    "parts",
    [
        [],
        ["Fix it."],
        ["a", "b"],
        [A.Var("v", (1, 1))],
        ["Line ", A.Var("v", (1, 1)), "."],
        [A.Var("v", (1, 1)), " and ", A.Var("w", (1, 1))],
        ["x", A.Var("v", (1, 1)), "y", "z", A.Var("w", (1, 1))],
        [A.Var("v", (1, 1)), A.Var("w", (1, 1)), "-", A.Var("v", (1, 1)), "!", A.Var("u", (1, 1))],
    ],
)
def test_templates_fill_as_the_plain_join(parts, bench_scrubber):
    for v, w in [("s", 2), (None, True), (Decimal("1.5"), ["a", None]), (3, {"k": 1, "_p": 2})]:
        ctx = bench_scrubber.program.ctx({"v": v, "w": w}, "2024-08-01")
        fill = _template(parts)
        got = fill if isinstance(fill, str) else fill(ctx)
        assert got == "".join(p if isinstance(p, str) else _plain_text(compile_expr(p)(ctx)) for p in parts)
