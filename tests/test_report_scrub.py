"""``claimscrub scrub --format html``: the billing manager's page agrees with the JSON of the same run."""

from __future__ import annotations

import importlib.util
import json
import re
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("matplotlib", reason="the report charts need the report extra (matplotlib)")

from claimscrub.cli.main import main
from claimscrub.inputs import read_path

REPO = Path(__file__).resolve().parents[1]
# examples/audit repeats the demo claims' ids with payments: left out, so a claim id names one claim here
EXAMPLES = [
    str(p)
    for p in sorted((REPO / "examples").rglob("*"))
    if p.is_file() and p.suffix in (".json", ".x12") and "encounters" not in p.parts and "audit" not in p.parts
]


def scrub(fmt: str, out: Path) -> int:
    result = CliRunner().invoke(
        main, ["scrub", *EXAMPLES, "--workers", "0", "--no-progress", "--format", fmt, "-o", str(out)]
    )
    assert result.exit_code in (0, 1), result.output
    return result.exit_code


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[dict, str, int, int]:
    tmp = tmp_path_factory.mktemp("scrub")
    json_code = scrub("json", tmp / "scrub.json")
    html_code = scrub("html", tmp / "scrub.html")
    return json.loads((tmp / "scrub.json").read_text()), (tmp / "scrub.html").read_text(), json_code, html_code


def figures(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-figure="([^"]+)" data-value="([^"]*)"', html))


def test_counts_equal_the_json_summary(runs):
    doc, html, json_code, html_code = runs
    s = doc["summary"]
    shown = figures(html)
    assert shown["scrubbed"] == str(s["scrubbed"]) and shown["rejected"] == str(s["rejected"])
    assert shown["findings"] == str(s["findings"]) and shown["claims_with_findings"] == str(s["claims_with_findings"])
    clean = sum(c["status"] == "scrubbed" and c["finding_count"] == 0 for c in doc["claims"])
    assert shown["clean"] == str(clean) and clean > 0
    assert json_code == html_code == 1  # the exit code does not depend on the format


def test_dollars_at_risk_are_the_charges_of_lines_with_errors(runs):
    """Recomputed from the claims as the readers give them and the JSON findings."""
    doc, html, _, _ = runs
    charges = {}
    for path in EXAMPLES:
        for item in read_path(path):
            if item.data:
                for line in item.data["lines"]:
                    charges[(item.source, line["sequence"])] = Decimal(str(line["charge"]))
    source = {c["claim_id"]: c["source"] for c in doc["claims"]}
    flagged = {
        (source[f["claim_id"]], f["line"])
        for f in doc["findings"]
        if f["severity"] == "error" and f["line"] is not None
    }
    expected = sum((charges[k] for k in flagged if k in charges), Decimal(0))
    assert expected > 0
    assert Decimal(figures(html)["at_risk"]) == expected
    by_category: dict[str, set] = defaultdict(set)
    for f in doc["findings"]:
        if f["severity"] == "error" and f["line"] is not None:
            by_category[f["category"]].add((source[f["claim_id"]], f["line"]))
    top = max(by_category, key=lambda c: sum(charges.get(k, 0) for k in by_category[c]))
    dollars = sum(charges.get(k, Decimal(0)) for k in by_category[top])
    assert f"${dollars:,.0f}" in html  # the category chart labels its bars


def test_findings_are_grouped_by_claim(runs):
    doc, html, _, _ = runs
    for claim in doc["claims"]:
        marker = f'data-claim="{claim["claim_id"]}"'
        if claim["finding_count"] == 0 and claim["status"] == "scrubbed":
            assert marker not in html
            continue
        block = html[html.index(marker) :]
        block = block[: block.index("</article>")]
        mine = [f for f in doc["findings"] if f["claim_id"] == claim["claim_id"]]
        assert block.count("<tr><td>") == len(mine)
        for f in mine:
            assert f["rule_id"] in block
        if claim["status"] == "rejected":
            assert "rejected:" in block


def test_charts_have_marks(runs):
    _, html, _, _ = runs
    charts = re.findall(r'data-chart="([^"]+)" data-marks="(\d+)"', html)
    assert [name for name, _ in charts] == ["scrub-category", "scrub-severity", "scrub-rules"]
    for name, marks in charts:
        assert int(marks) > 0 and len(re.findall(rf'id="{name}-mark-\d+"', html)) == int(marks)


def test_without_the_report_extra_html_is_a_usage_error(monkeypatch, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    result = CliRunner().invoke(
        main, ["scrub", EXAMPLES[0], "--workers", "0", "--format", "html", "-o", str(tmp_path / "x.html")]
    )
    assert result.exit_code == 2 and "claimscrub[report]" in result.output
