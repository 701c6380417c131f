"""Rule files that are not UTF-8 text are lint errors with a position, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from claimscrub.authoring.lint import lint
from claimscrub.cli.main import main

RULE = """# yaml-language-server: $schema=../schemas/rule.schema.json
rules:
  - id: TST-ENC-001
    title: TITLE
    category: modifier
    severity: error
    scope: line
    when: line.code == "99213"
    message: "Line {line.sequence}"
    fix: Fix it.
    references: [{source: test}]
    status: active
"""


def _rule_file(tmp_path: Path, title: bytes) -> Path:
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "pack.yaml").write_text("name: testpack\nversion: '1'\n")
    path = pack / "TST-ENC-001.yaml"
    path.write_bytes(RULE.encode().replace(b"TITLE", title))
    return path


@pytest.mark.parametrize(
    ("title", "column", "problem"),
    [
        (b"Caf\xe9 visit", 15, "not UTF-8: byte 0xE9"),  # Latin-1 e-acute
        (b"A\x00B", 13, "character U+0000 is not allowed"),  # NUL
        (b"A\x1bB", 13, "character U+001B is not allowed"),  # ESC
    ],
)
def test_bad_bytes_are_reported_at_their_position(tmp_path: Path, title: bytes, column: int, problem: str):
    path = _rule_file(tmp_path, title)
    (issue,) = [i for i in lint([path.parent]) if i.severity == "error"]
    assert (issue.file, issue.line, issue.column, issue.code) == (str(path), 4, column, "yaml")
    assert problem in issue.message
    result = CliRunner().invoke(main, ["rules", "lint", str(path.parent)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)  # an exit, not a crash
    assert f"{path}:4:{column}: error: {problem}" in result.output


def test_utf8_text_is_read(tmp_path: Path):
    path = _rule_file(tmp_path, "Café visit".encode())
    assert not [i for i in lint([path.parent]) if i.severity == "error"]


def test_bad_bytes_in_a_test_file_are_a_test_error(tmp_path: Path):
    path = _rule_file(tmp_path, b"Fine")
    (path.parent / "TST-ENC-001.test.yaml").write_bytes(b"tests:\n  - ruleid: \xff\n")
    result = CliRunner().invoke(main, ["rules", "test", str(path.parent)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "not UTF-8: byte 0xFF" in result.output
