"""Generated rule docs: a page per rule naming its citations, dates, tables and test cases; an index."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from click.testing import CliRunner

from claimscrub.authoring.ruledocs import index_markdown, rule_cases, rule_markdown, rule_summary
from claimscrub.authoring.ruletest import load_cases
from claimscrub.authoring.ruletest import test_files as rule_test_files
from claimscrub.cli.main import main
from claimscrub.compile.rules import Reference, load_rulebook
from claimscrub.resources import rules_dir

RULE = """# yaml-language-server: $schema=../../schemas/rule.schema.json
rules:
  - id: LOCAL-DOC-001
    title: A local rule for the docs test
    description: Why it exists.
    category: modifier
    severity: warning
    scope: line
    when: '"RT" in line.modifiers and "LT" in line.modifiers'
    message: "Line {line.sequence} has RT and LT."
    fix: Bill one line per side.
    references:
      - source: "Local policy 7"
        edition: "2025"
    effective: {from: "2025-01-01", to: "2025-12-31"}
    status: draft
    tags: [local]
"""
CASES = """tests:
  - ruleid: both sides
    patch: {lines: [{sequence: 1, code: "20610", units: 1, charge: "10.00", from_date: "2025-03-01", modifiers: [RT, LT], diagnosis_pointers: [1]}]}
    lines: [1]
  - ok: one side
    patch: {lines: [{sequence: 1, code: "20610", units: 1, charge: "10.00", from_date: "2025-03-01", modifiers: [RT], diagnosis_pointers: [1]}]}
"""


@pytest.fixture(scope="module")
def book():
    rulebook, issues = load_rulebook()
    assert not [i for i in issues if i.severity == "error"]
    return rulebook


@pytest.fixture()
def local_pack(tmp_path: Path) -> Path:
    pack = tmp_path / "localpack"
    pack.mkdir()
    (pack / "pack.yaml").write_text('name: localpack\nversion: "1.2"\ntitle: Local rules\n')
    (pack / "LOCAL-DOC-001.yaml").write_text(RULE)
    (pack / "LOCAL-DOC-001.test.yaml").write_text(CASES)
    return pack


def test_docs_command_writes_a_page_per_bundled_rule_and_an_index(tmp_path: Path, book):
    out = tmp_path / "docs"
    result = CliRunner().invoke(main, ["rules", "docs", "-o", str(out)])
    assert result.exit_code == 0, result.output
    pages = {p.stem for p in out.glob("*.md")} - {"README"}
    assert pages == {r.id for r in book.rules}
    index = (out / "README.md").read_text()
    for rule in book.rules:
        assert f"[{rule.id}]({rule.id}.md)" in index
    for pack in book.packs.values():
        assert f"## {pack.name} {pack.version}" in index


def test_every_bundled_case_appears_on_its_rules_page(tmp_path: Path, book):
    CliRunner().invoke(main, ["rules", "docs", "-o", str(tmp_path)])
    for test_file in rule_test_files([rules_dir()]):
        cases, _ = load_cases(test_file)
        for case in cases:
            page = (tmp_path / f"{case.rule_id}.md").read_text()
            assert " ".join(case.name.split()) in page, (case.rule_id, case.name)


def test_page_names_citation_edition_dates_tables_and_cases(book):
    rule = book.by_id("CS-PTP-001")
    page = rule_markdown(rule)
    assert page.startswith("# CS-PTP-001: ")
    assert "CMS NCCI Policy Manual for Medicare Services, Chapter I, Sections D-E, edition 2024" in page
    assert "| Tables | ncci_ptp_practitioner |" in page
    assert "| Scope | line_pair |" in page
    assert "- 80048 with 80053, indicator 0, on line(s) 2 (rules/packs/ncci/CS-PTP-ptp-edits.test.yaml:" in page
    assert "- different dates of service (rules/packs/ncci/" in page
    assert "the reverse order is not an edit" not in page  # a CS-PTP-002 case, on that rule's page only
    assert "the reverse order is not an edit" in rule_markdown(book.by_id("CS-PTP-002"))


def test_local_pack_page_shows_dates_status_unless_and_cases(local_pack: Path, tmp_path: Path):
    out = tmp_path / "docs"
    result = CliRunner().invoke(main, ["rules", "docs", str(local_pack), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["LOCAL-DOC-001.md", "README.md"]
    page = (out / "LOCAL-DOC-001.md").read_text()
    assert "| Effective | dates of service 2025-01-01 .. 2025-12-31 |" in page
    assert "| Status | draft |" in page
    assert "| Pack | localpack 1.2 |" in page
    assert "- Local policy 7, edition 2025" in page
    assert "- both sides, on line(s) 1 (LOCAL-DOC-001.test.yaml:2)" in page
    assert "- one side (LOCAL-DOC-001.test.yaml:5)" in page
    assert "unless:" not in page
    index = (out / "README.md").read_text()
    assert "## localpack 1.2: Local rules" in index and "### modifier" in index


def test_docs_refuses_broken_rules(local_pack: Path, tmp_path: Path):
    (local_pack / "LOCAL-DOC-001.yaml").write_text(RULE.replace("line.modifiers and", "line.modifierz and"))
    result = CliRunner().invoke(main, ["rules", "docs", str(local_pack), "-o", str(tmp_path / "d")])
    assert result.exit_code == 2
    assert not (tmp_path / "d").exists()


def test_rule_without_cases_says_so(book):
    rule = dataclasses.replace(book.by_id("CS-MOD-001"), file="/nowhere/x.yaml")
    assert rule_cases(rule) == []
    assert "No test cases" in rule_markdown(rule)


def test_summary_is_json_ready_and_complete(book):
    import orjson

    rule = book.by_id("CS-PTP-002")
    summary = orjson.loads(orjson.dumps(rule_summary(rule)))
    assert summary["unless"] and summary["when"].startswith("claim.type")
    assert summary["references"][0] == {
        "source": "CMS NCCI Policy Manual for Medicare Services, Chapter I, Sections D-E",
        "edition": "2024",
    }
    assert summary["effective"] == {"from": None, "to": None}
    assert summary["pack"] == "ncci" and summary["tables"] == ["ncci_ptp_practitioner"]


def test_markdown_survives_pipes_and_backticks(book):
    rule = dataclasses.replace(
        book.by_id("CS-MOD-001"), title="A | B", fix="use ``` fences", references=(Reference("Manual | 2"),)
    )
    page = rule_markdown(rule, cases=[])
    assert "# CS-MOD-001: A | B" in page
    assert "````text\nuse ``` fences\n````" in page
    index = index_markdown(dataclasses.replace(book, rules=[rule]))
    assert "A \\| B" in index
