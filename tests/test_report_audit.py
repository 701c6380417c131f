"""The audit report from the demo audit folder (tests/fixtures/audit_demo, the issue-11 contract).

Figures are checked against appraisal.json read here independently, formatted by hand; chart
marks are counted in the SVG; the browser and PDF checks are in test_report_render.py.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner
from markupsafe import escape

pytest.importorskip("matplotlib", reason="the report charts need the report extra (matplotlib)")

from claimscrub.cli.main import main
from claimscrub.documentation.emstats import load_benchmarks
from claimscrub.report import ReportError
from claimscrub.report.audit_data import load_audit
from claimscrub.report.audit_report import audit_html
from claimscrub.report.text import label, money_text, num_text, pct_text

DEMO = Path(__file__).resolve().parent / "fixtures" / "audit_demo"


@pytest.fixture()
def audit_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "audit_demo"
    shutil.copytree(DEMO, folder, ignore=shutil.ignore_patterns("*.py", "report.*"))
    return folder


@pytest.fixture(scope="module")
def page() -> str:
    return audit_html(load_audit(DEMO), load_benchmarks())


@pytest.fixture(scope="module")
def appraisal() -> dict:
    return json.loads((DEMO / "appraisal.json").read_text())


class Figures(HTMLParser):
    """data-figure -> (data-value, text) of every summary figure; data-chart -> its SVG's mark ids."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[str, tuple[str, str]] = {}
        self.marks: dict[str, int] = {}
        self.declared: dict[str, int] = {}
        self._open: str | None = None
        self._chart: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-figure" in a:
            self._open = a["data-figure"]
            self.figures[self._open] = (a.get("data-value") or "", "")
        if tag == "figure" and "data-chart" in a:
            self._chart = a["data-chart"]
            self.declared[self._chart] = int(a["data-marks"])
            self.marks[self._chart] = 0
        if self._chart and re.fullmatch(rf"{re.escape(self._chart)}-mark-\d+", a.get("id") or ""):
            self.marks[self._chart] += 1

    def handle_endtag(self, tag):
        if tag == "figure":
            self._chart = None
        if tag in ("td", "dd"):
            self._open = None

    def handle_data(self, data):
        if self._open:
            value, text = self.figures[self._open]
            self.figures[self._open] = (value, text + data)


def parsed(html: str) -> Figures:
    p = Figures()
    p.feed(html)
    return p


def test_summary_figures_are_the_appraisal_figures(page, appraisal):
    figures = parsed(page).figures
    rates, over = appraisal["rates"], appraisal["overpayment"]
    expected = {
        "rates.claim_error_rate": rates["claim_error_rate"],
        "rates.line_error_rate": rates["line_error_rate"],
        "rates.payment_error_rate_gross": rates["payment_error_rate_gross"],
        "rates.payment_error_rate_net": rates["payment_error_rate_net"],
        "overpayment.point_estimate": over["point_estimate"],
        "overpayment.lower_limit_90_one_sided": over["lower_limit_90_one_sided"],
        "overpayment.precision_90": over["precision_90"],
    }
    for key, value in expected.items():
        shown_value, text = figures[key]
        assert shown_value == str(value), key
        if isinstance(value, float):  # a rate: percent with one decimal
            assert text.strip() == f"{value * 100:.1f}%", key
        else:  # money: dollars, thousands separators, cents
            assert text.strip() == "$" + f"{Decimal(value):,.2f}", key
    assert figures["universe.units"][0] == str(appraisal["universe"]["units"])


def test_every_chart_has_marks_and_every_chart_is_drawn(page):
    p = parsed(page)
    assert set(p.marks) == {
        "error-category",
        "rule-category",
        "stratum-rate",
        "em-levels",
        "em-peers",
        "overpayment-claims",
    }
    for name, count in p.marks.items():
        assert count == p.declared[name] > 0, name
    assert "No data for the chart" not in page


def test_charts_carry_the_numbers_they_draw(page, appraisal):
    """Bars are labelled with their values: the by-category dollars and every claim's overpayment."""
    for row in appraisal["by_category"]:
        assert money_text(row["amount"]) in page
    overpaid = [u for u in appraisal["units"] if Decimal(u["overpayment"]) > 0]
    chart = page[page.index('data-chart="overpayment-claims"') :]
    chart = chart[: chart.index("</figure>")]
    for u in overpaid:
        assert money_text(u["overpayment"]) in chart
        assert f"#{u['sample_no']} {u['claim_id']}" in chart


def test_every_sampled_claim_is_detailed_with_its_determinations(page):
    with (DEMO / "determinations.csv").open() as f:
        rows = list(csv.DictReader(f))
    claims = {r["claim_id"] for r in rows}
    assert len(claims) == 30
    for claim_id in claims:
        assert f'data-claim="{claim_id}"' in page
    reasons = {r["reason"] for r in rows}
    for reason in reasons:
        assert str(escape(reason)) in page
    disagree = next(r for r in rows if r["qa_verdict"] == "disagree")
    assert str(escape(disagree["qa_note"])) in page
    assert page.count("QA disagree") == sum(r["qa_verdict"] == "disagree" for r in rows)


def test_claims_without_findings_read_reviewed_and_correct(page):
    review = json.loads((DEMO / "review.json").read_text())
    clean = [c["claim_id"] for c in review["claims"] if not c["findings"]]
    assert clean
    for claim_id in clean:
        block = page[page.index(f'data-claim="{claim_id}"') :]
        block = block[: block.index("</article>")]
        assert "No findings" in block


def test_findings_show_message_citation_and_edition(page):
    review = json.loads((DEMO / "review.json").read_text())
    edited = [f for c in review["claims"] for f in c["findings"] if f["data_edition"]]
    assert edited, "the demo has table-driven findings"
    for f in edited:
        assert f["data_edition"] in page
    for f in (f for c in review["claims"] for f in c["findings"]):
        assert f["rule_id"] in page


def test_methodology_names_seed_hash_formulas_packs_and_verifies_the_frame(page, appraisal):
    design = (DEMO / "design.yaml").read_text()
    seed = re.search(r"seed: (\d+)", design).group(1)
    sha = re.search(r"sha256: ([0-9a-f]{64})", design).group(1)
    methodology = page[page.index('id="methodology"') :]
    assert f"seed {seed}" in methodology
    assert sha in methodology and "(verified when this report was written)" in methodology
    for formula in appraisal["formulas"]:
        assert str(escape(formula)) in methodology
    for pack, version in appraisal["rule_packs"].items():
        assert f"<td>{pack}</td><td>{version}</td>" in methodology


def test_a_changed_frame_is_said_in_the_report(audit_dir):
    with (audit_dir / "frame.csv").open("a") as f:
        f.write("601,X,X,,P,1356308324,2024-01-01,2024-01-01,1.00\n")
    assert "does not match frame.csv as it is now" in audit_html(load_audit(audit_dir), load_benchmarks())


def test_claim_values_are_escaped(audit_dir):
    review = json.loads((audit_dir / "review.json").read_text())
    review["claims"][0]["findings"].append(
        {
            "rule_id": "CS-X",
            "category": "modifier",
            "severity": "error",
            "line": None,
            "message": "<script>alert(1)</script>",
            "citation": "c",
        }
    )
    review["claims"][0]["payer"] = '<img src=x onerror="alert(2)">'
    (audit_dir / "review.json").write_text(json.dumps(review))
    appraisal = json.loads((audit_dir / "appraisal.json").read_text())
    appraisal["units"][0]["claim_id"] = "<b>x</b>"  # a chart label
    (audit_dir / "appraisal.json").write_text(json.dumps(appraisal))
    html = audit_html(load_audit(audit_dir), load_benchmarks())
    assert "<script>" not in html and "<img" not in html and "<b>" not in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_page_is_self_contained(page):
    assert not re.search(r"""(src|href)\s*=\s*["'](https?:)?//""", page)
    assert "<link" not in page and "@import" not in page and "url(http" not in page
    assert page.count("<svg") == 6


def test_missing_appraisal_is_an_error_naming_the_file(audit_dir):
    (audit_dir / "appraisal.json").unlink()
    with pytest.raises(ReportError, match="appraisal.json"):
        load_audit(audit_dir)


def test_missing_determinations_show_lines_not_reviewed(audit_dir):
    (audit_dir / "determinations.csv").unlink()
    audit = load_audit(audit_dir)
    assert audit.notes and all(ln.determination.determination == "not_reviewed" for c in audit.claims for ln in c.lines)
    assert "every line is shown as not reviewed" in audit_html(audit, load_benchmarks())


def test_cli_audit_report_writes_html(audit_dir):
    result = CliRunner().invoke(main, ["audit", "report", str(audit_dir)])
    assert result.exit_code == 0, result.output
    html = (audit_dir / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and 'data-chart="em-peers"' in html
    assert not (audit_dir / "report.pdf").exists()


def test_cli_audit_report_on_a_folder_that_is_not_an_audit(tmp_path):
    result = CliRunner().invoke(main, ["audit", "report", str(tmp_path)])
    assert result.exit_code == 2
    assert "missing design.yaml, review.json, appraisal.json" in result.output


def test_text_formats():
    assert money_text("25735.3") == "$25,735.30" and money_text("-4.5") == "-$4.50" and money_text(None) == "–"
    assert pct_text(0.434) == "43.4%" and pct_text(None) == "–"
    assert num_text(1234) == "1,234" and num_text(None) == "–"
    assert label("insufficient_documentation") == "Insufficient documentation" and label("mue") == "MUE"


def test_summary_names_providers_period_and_design(page):
    with (DEMO / "frame.csv").open() as f:
        frame = list(csv.DictReader(f))
    first, last = min(r["from_date"] for r in frame), max(r["to_date"] for r in frame)
    review = json.loads((DEMO / "review.json").read_text())
    summary = page[page.index('id="summary"') : page.index('id="charts"')]
    assert f"{first} to {last} (frame)" in summary
    for npi in {c["provider_npi"] for c in review["claims"]}:
        assert f"NPI {npi}" in summary
    assert "Stratified sample, 2 strata (proportional allocation); sample size 30; seed 20261130" in summary
    with (DEMO / "determinations.csv").open() as f:
        rows = list(csv.DictReader(f))
    qa = sum(bool(r["qa_verdict"]) for r in rows)
    disagree = sum(r["qa_verdict"] == "disagree" for r in rows)
    assert f"{len(rows)} of {len(rows)} lines determined, {qa} checked by QA ({disagree} disagreements)" in summary
