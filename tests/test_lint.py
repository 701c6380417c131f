"""Lint reports problems at the right file position; YAML keeps codes as strings."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from claimscrub.authoring.lint import lint
from claimscrub.cli.main import main
from claimscrub.yamlio import safe_load

RULE = """# yaml-language-server: $schema=../schemas/rule.schema.json
rules:
  - id: TST-LINT-001
    title: A rule with a misspelled field
    category: modifier
    severity: error
    scope: line
    when: line.cod == "99213"
    message: "Line {line.sequence}"
    fix: Fix it.
    references: [{source: test}]
    status: active
"""


def _write(tmp_path: Path, text: str) -> Path:
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "pack.yaml").write_text("name: testpack\nversion: '1'\n")
    path = pack / "TST-LINT-001.yaml"
    path.write_text(text)
    return path


def test_misspelled_field_at_file_line_col_with_suggestion(tmp_path):
    path = _write(tmp_path, RULE)
    issues = [i for i in lint([path.parent]) if i.code == "type"]
    assert len(issues) == 1
    issue = issues[0]
    assert (issue.file, issue.line, issue.column) == (str(path), 8, 16)
    assert "'line' has no field 'cod'; did you mean 'code'?" in issue.message


def test_block_scalar_position(tmp_path):
    path = _write(
        tmp_path,
        RULE.replace(
            '    when: line.cod == "99213"\n', "    when: >-\n      line.units > 0 and\n      line.modifers == []\n"
        ),
    )
    issue = next(i for i in lint([path.parent]) if i.code == "type")
    assert (issue.line, issue.column) == (10, 12)
    assert "did you mean 'modifiers'" in issue.message


def test_syntax_error_and_duplicate_key(tmp_path):
    path = _write(
        tmp_path,
        RULE.replace('line.cod == "99213"', "line.code == ").replace(
            "    status: active\n", "    status: active\n    status: draft\n"
        ),
    )
    issues = lint([path.parent])
    codes = {i.code for i in issues}
    assert {"syntax", "duplicate-key"} <= codes
    syntax = next(i for i in issues if i.code == "syntax")
    assert syntax.line == 8 and "ends too early" in syntax.message


def test_cli_lint_exit_code_and_sarif(tmp_path):
    path = _write(tmp_path, RULE)
    result = CliRunner().invoke(main, ["rules", "lint", str(path.parent)])
    assert result.exit_code == 1
    assert f"{path}:8:16: error:" in result.output
    sarif = CliRunner().invoke(main, ["rules", "lint", "--format", "sarif", str(path.parent)])
    assert '"startLine": 8' in sarif.output


def test_bundled_rules_lint_clean():
    assert [str(i) for i in lint([]) if i.severity == "error"] == []


def test_yaml_12_core_types_keep_codes_as_strings():
    assert safe_load("a: 0450\nb: no\nc: on\nd: 010\ne: 12\nf: 1.5\ng: true") == {
        "a": "0450",
        "b": "no",
        "c": "on",
        "d": "010",
        "e": 12,
        "f": 1.5,
        "g": True,
    }
