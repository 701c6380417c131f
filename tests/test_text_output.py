"""The text report: wrapped to a terminal's width, not wrapped when piped or written with -o; -o opens its file once."""

from __future__ import annotations

import builtins
import io
from pathlib import Path

import pytest
from click.testing import CliRunner

from claimscrub.cli.main import main
from claimscrub.output.writers import text_console

REPO = Path(__file__).resolve().parents[1]
DEMO = str(REPO / "examples" / "encounters" / "claims.json")
LONG = "billed 99214, but documentation supports 99213: MDM low (problems low: 1 stable chronic illness;"


def test_piped_text_is_not_wrapped():
    result = CliRunner().invoke(main, ["scrub", DEMO, "--no-progress"])
    assert result.exit_code == 1, result.output
    (line,) = [x for x in result.output.splitlines() if LONG in x]
    assert len(line) > 200 and line.startswith("  error   CS-EM-001")


def test_output_file_matches_stdout_and_is_opened_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    piped = CliRunner().invoke(main, ["scrub", DEMO, "--no-progress"]).output
    target = tmp_path / "report.txt"
    opened: list[str] = []
    real_open = builtins.open

    def counting_open(file, *args, **kwargs):
        if str(file) == str(target):
            opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting_open)
    result = CliRunner().invoke(main, ["scrub", DEMO, "--no-progress", "-o", str(target)])
    assert result.exit_code == 1 and result.output == ""
    assert opened == [str(target)]
    assert target.read_text(encoding="utf-8") == piped


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_text_wraps_to_its_width(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("COLUMNS", "60")
    monkeypatch.delenv("TERM", raising=False)
    terminal = _Terminal()
    console = text_console(terminal)
    assert console.is_terminal and not console.soft_wrap and console.width == 60
    console.print("word " * 40)
    lines = terminal.getvalue().splitlines()
    assert len(lines) > 1 and all(len(x) <= 60 for x in lines)


def test_a_file_is_never_treated_as_a_terminal():
    console = text_console(_Terminal(), to_file=True)
    assert not console.is_terminal and console.soft_wrap
