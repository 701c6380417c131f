"""The pytest plugin collects claimscrub rule tests only, under node ids the command line accepts."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from claimscrub.authoring.pytest_plugin import _unique, is_rule_test_file
from claimscrub.resources import rules_dir

MODELINE = "# yaml-language-server: $schema=../../../schemas/rule-test.schema.json\n"
STEM = "CS-MOD-001-rt-lt-same-line"


def test_only_files_with_the_rule_test_modeline(tmp_path: Path):
    cases = {
        "a.test.yaml": MODELINE + "tests: []\n",
        "b.test.yaml": "# a comment first\n" + MODELINE,
        "c.test.yaml": "# yaml-language-server: $schema=https://example.org/schemas/rule-test.schema.json\n",
        "deploy.test.yaml": "tests:\n  - name: smoke\n",
        "d.test.yaml": "tests: []\n" + MODELINE,  # the modeline must lead the file
        "e.test.yaml": "# yaml-language-server: $schema=../schemas/rule.schema.json\n",
        "f.yaml": MODELINE,
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
    assert sorted(n for n in cases if is_rule_test_file(tmp_path / n)) == ["a.test.yaml", "b.test.yaml", "c.test.yaml"]
    assert all(is_rule_test_file(p) for p in rules_dir().rglob("*.test.yaml"))


def test_names_have_no_separator_and_are_unique():
    assert _unique(["A ok: x", "A ok: x", "A ok: a::b", "A ok: x"]) == [
        "A ok: x",
        "A ok: x #2",
        "A ok: a:b",
        "A ok: x #3",
    ]


def test_collection_in_another_project(tmp_path: Path):
    """An unrelated deploy.test.yaml is left alone; a case's node id runs that case from the command line."""
    pack = tmp_path / "mypack"
    pack.mkdir()
    (pack / "pack.yaml").write_text("name: mypack\nversion: '1'\n")
    shutil.copy(rules_dir() / "packs" / "modifiers" / f"{STEM}.yaml", pack)
    bundled = (rules_dir() / "packs" / "modifiers" / f"{STEM}.test.yaml").read_text()
    cases = bundled.split("tests:\n", 1)[1]
    wrong = (
        '  - ruleid: one side is not both sides\n    patch: {lines: [{sequence: 1, code: "20610", units: 1, '
        'charge: "100.00", from_date: "2024-08-01", diagnosis_pointers: [1], modifiers: ["RT"]}]}\n'
    )
    (pack / f"{STEM}.test.yaml").write_text(MODELINE + "tests:\n" + cases + cases + wrong)  # every case twice
    (tmp_path / "deploy.test.yaml").write_text("steps: [build, ship]\n")

    def pytest(*args: str, status: int = 0) -> str:
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == status, run.stdout + run.stderr
        return run.stdout

    ids = [line for line in pytest("--collect-only").splitlines() if "::" in line]
    assert ids == [
        f"mypack/{STEM}.test.yaml::CS-MOD-001 ruleid: both sides on one line",
        f"mypack/{STEM}.test.yaml::CS-MOD-001 ok: one side per line",
        f"mypack/{STEM}.test.yaml::CS-MOD-001 ruleid: both sides on one line #2",
        f"mypack/{STEM}.test.yaml::CS-MOD-001 ok: one side per line #2",
        f"mypack/{STEM}.test.yaml::CS-MOD-001 ruleid: one side is not both sides",
    ]
    assert "1 passed" in pytest(ids[2])
    failed = pytest(ids[4], status=1)
    assert f"{STEM}.test.yaml:" in failed and "CS-MOD-001::ruleid: one side is not both sides: did not fire" in failed
