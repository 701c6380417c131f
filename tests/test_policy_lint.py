"""Lint for what policies touch: a pack redefining a bundled rule, a pack's own tables, rule tests
that bring (or never load) table rows, and policy files in a pack."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

from click.testing import CliRunner

from claimscrub.cli.main import main

REPO = Path(__file__).resolve().parents[1]
ACME = REPO / "examples" / "payer-pack" / "acme"

RULE = """\
# yaml-language-server: $schema=../../schemas/rule.schema.json
rules:
  - id: {id}
    title: Bundled pair from the payer's list
    category: unbundling
    severity: error
    scope: line_pair
    when: 'line.from_date == other.from_date and lookup("{table}", other.code, line.code) is not missing'
    message: "Line {{line.sequence}} is bundled into line {{other.sequence}}."
    fix: Remove it.
    references: [{{source: test}}]
    status: active
"""

TABLE = """\
name: {table}
title: A payer's bundling list
key: [primary_code, bundled_code]
values: {{note: string}}
csv: {csv}
"""


def lint(*paths: Path):
    result = CliRunner().invoke(main, ["rules", "lint", *map(str, paths)])
    return result.exit_code, result.stdout


def make_pack(
    tmp_path: Path,
    rule_id: str = "PAY-001",
    table: str = "pay_bundling",
    csv: str = "pay.csv",
    tests: str | None = None,
) -> Path:
    pack = tmp_path / "pay"
    (pack / "tables").mkdir(parents=True)
    (pack / "pack.yaml").write_text("name: pay\nversion: '1'\n")
    (pack / "tables" / f"{table}.yaml").write_text(TABLE.format(table=table, csv=csv))
    (pack / "tables" / "pay.csv").write_text("primary_code,bundled_code,note\n99213,36415,bundled\n")
    (pack / "PAY-001.yaml").write_text(RULE.format(id=rule_id, table=table))
    if tests is not None:
        (pack / "PAY-001.test.yaml").write_text(textwrap.dedent(tests))
    return pack


CASES = """\
    # yaml-language-server: $schema=../../schemas/rule-test.schema.json
    {tables}
    tests:
      - ruleid: bundled pair
        patch: {{lines: [{{sequence: 1, code: "99213", units: 1, charge: "1.00", from_date: "2024-08-01", diagnosis_pointers: [1]}}, {{sequence: 2, code: "36415", units: 1, charge: "1.00", from_date: "2024-08-01", diagnosis_pointers: [1]}}]}}
        lines: [2]
      - ok: another date
        patch: {{lines: [{{sequence: 1, code: "99213", units: 1, charge: "1.00", from_date: "2024-08-01", diagnosis_pointers: [1]}}, {{sequence: 2, code: "36415", units: 1, charge: "1.00", from_date: "2024-08-02", diagnosis_pointers: [1]}}]}}
    """


def test_a_pack_redefining_a_bundled_rule_id_is_refused_naming_the_policy_way(tmp_path):
    pack = make_pack(tmp_path, rule_id="CS-PTP-001")
    code, out = lint(pack)
    assert code == 1
    assert "CS-PTP-001 is a bundled rule" in out and "replaced_by" in out and "policies/" in out
    scrub = CliRunner().invoke(
        main,
        [
            "scrub",
            "--no-progress",
            "--data-dir",
            "/nonexistent",
            "--rules",
            str(pack),
            str(REPO / "rules" / "base_claim.json"),
        ],
    )
    assert scrub.exit_code == 2  # what lint refused, scrub refuses too


def test_a_pack_named_like_a_bundled_pack_replaces_it_and_may_keep_its_ids(tmp_path):
    pack = tmp_path / "ncci"
    shutil.copytree(REPO / "rules" / "packs" / "ncci", pack)
    code, out = lint(pack)
    assert code == 0 and "is a bundled rule" not in out


def test_a_rule_on_a_pack_table_needs_tests_that_load_it(tmp_path):
    pack = make_pack(tmp_path, tests=CASES.format(tables=""))
    _, out = lint(pack)
    assert "PAY-001: its tests never load pay_bundling" not in out  # the pack's own CSV rows load in tests
    (pack / "tables" / "pay_bundling.yaml").write_text(TABLE.format(table="pay_bundling", csv="[]"))
    code, out = lint(pack)
    assert code == 0 and "PAY-001: its tests never load pay_bundling" in out and "[test-tables]" in out
    failed = CliRunner().invoke(main, ["rules", "test", str(pack)])
    assert (
        failed.exit_code == 1 and "cannot run here" in failed.stdout and "supply rows under 'tables:'" in failed.stdout
    )


def test_rows_in_the_test_file_make_ruleid_cases_fire(tmp_path):
    inline = 'tables:\n      pay_bundling: [{primary_code: "99213", bundled_code: "36415", note: x}]'
    pack = make_pack(tmp_path, tests=CASES.format(tables=inline))
    (pack / "tables" / "pay_bundling.yaml").write_text(TABLE.format(table="pay_bundling", csv="[]"))
    _, out = lint(pack)
    assert "never load" not in out
    run = CliRunner().invoke(main, ["rules", "test", str(pack)])
    assert run.exit_code == 0 and "2 passed" in run.stderr
    (pack / "rows.csv").write_text("primary_code,bundled_code,note\n99213,36415,x\n")
    (pack / "PAY-001.test.yaml").write_text(textwrap.dedent(CASES.format(tables="tables: {pay_bundling: rows.csv}")))
    assert CliRunner().invoke(main, ["rules", "test", str(pack)]).exit_code == 0
    (pack / "PAY-001.test.yaml").write_text(textwrap.dedent(CASES.format(tables="tables: {pay_bundlin: rows.csv}")))
    run = CliRunner().invoke(main, ["rules", "test", str(pack)])
    assert run.exit_code == 1 and "tables: unknown table 'pay_bundlin'" in run.stdout


def test_unknown_table_names_where_tables_are_looked_for(tmp_path):
    pack = make_pack(tmp_path)
    (pack / "PAY-001.yaml").write_text(RULE.format(id="PAY-001", table="pay_bundlin"))
    code, out = lint(pack)
    assert code == 1 and "unknown table 'pay_bundlin'" in out
    assert "table definitions are looked for in:" in out and str(pack / "tables") in out


def test_a_pack_table_file_outside_the_pack_is_refused(tmp_path):
    outside = tmp_path / "elsewhere.csv"
    outside.write_text("primary_code,bundled_code,note\n")
    pack = make_pack(tmp_path, csv="../../elsewhere.csv")
    code, out = lint(pack)
    assert code == 1 and "leaves the folder of the definition" in out


def test_policies_in_a_pack_are_linted_at_file_line_col(tmp_path):
    pack = make_pack(tmp_path)
    (pack / "policies").mkdir()
    (pack / "policies" / "pay.yaml").write_text(
        textwrap.dedent("""\
        # yaml-language-server: $schema=../../../schemas/policy.schema.json
        id: pay
        title: pay
        applies_to: {payer_types: [commercial]}
        references: [{source: test}]
        rules:
          - {rule: PAY-01, enabled: true, reason: typo}
        """)
    )
    code, out = lint(pack)
    assert code == 1 and "pay.yaml:7:" in out and "did you mean 'PAY-001'?" in out


def test_the_walkthrough_pack_lints_clean():
    code, out = lint(ACME)
    assert code == 0, out


def test_a_policy_file_or_folder_alone_lints_against_its_pack_and_the_bundled_rules():
    assert lint(ACME / "policies" / "acme.yaml") == (0, "")
    assert lint(REPO / "rules" / "policies") == (0, "")


def test_scrub_with_only_the_pack_does_not_refuse_its_policy_that_lint_passed(tmp_path):
    claim = tmp_path / "c.json"
    claim.write_text((REPO / "rules" / "base_claim.json").read_text())
    result = CliRunner().invoke(
        main, ["scrub", "--no-progress", "--data-dir", "/nonexistent", "--only-rules", "--rules", str(ACME), str(claim)]
    )
    assert result.exit_code in (0, 1), result.output
