"""Accepted findings: the append-only file, matching by claim/line/rule, expiry, and never a silent drop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from claimscrub.api.scrubber import Scrubber
from claimscrub.cli.main import main
from claimscrub.policy import suppressions as sup
from claimscrub.refdata.tables import sample_tables

CLAIM = {
    "claim_id": "SUP-1",
    "type": "professional",
    "claim_date": "2024-08-15",
    "payer": {"name": "Medicare Part B", "type": "medicare"},
    "billing_provider": {"npi": "1234567893"},
    "patient": {"id": "P-1", "sex": "F", "birth_date": "1960-05-01"},
    "diagnoses": [{"code": "M17.11"}],
    "lines": [  # 11042 + 97597: PTP indicator 1 (sample table), column 2 on line 2
        {
            "sequence": 1,
            "code": "11042",
            "units": 1,
            "charge": "100.00",
            "from_date": "2024-08-01",
            "diagnosis_pointers": [1],
        },
        {
            "sequence": 2,
            "code": "97597",
            "units": 1,
            "charge": "100.00",
            "from_date": "2024-08-01",
            "diagnosis_pointers": [1],
        },
    ],
}


def record(**changes) -> sup.Suppression:
    raw = {
        "claim_id": "SUP-1",
        "line": 2,
        "rule_id": "CS-PTP-002",
        "reason": "distinct site documented",
        "by": "R. Reviewer",
        "date": "2024-08-20",
        **changes,
    }
    return sup.from_dict(raw, "test")


def test_records_are_appended_never_rewritten(tmp_path):
    path = tmp_path / "accepted.jsonl"
    sup.append(path, record())
    first = path.read_bytes()
    sup.append(path, record(line=1, rule_id="CS-MUE-002", expires="2024-12-31"))
    assert path.read_bytes().startswith(first)
    assert [r.line for r in sup.load(path)] == [2, 1]


@pytest.mark.parametrize(
    "changes,problem",
    [
        ({"reason": ""}, "'reason' is required"),
        ({"by": None}, "'by' is required"),
        ({"line": 0}, "'line' must be"),
        ({"date": "2024-02-30"}, "date is not a date"),
        ({"expires": "2024-08-01"}, "'expires' is before 'date'"),
    ],
)
def test_a_bad_record_names_the_field(changes, problem):
    with pytest.raises(sup.SuppressionError, match=problem):
        record(**changes)


def test_active_between_its_date_and_expiry():
    rec = record(expires="2024-09-30")
    assert rec.active_on("2024-08-20") and rec.active_on("2024-09-30")
    assert not rec.active_on("2024-10-01") and not rec.active_on("2024-08-19")


@pytest.fixture(scope="module")
def tables():
    return sample_tables(complete=True)


def test_a_suppressed_finding_is_reported_apart_not_dropped(tmp_path, tables):
    path = tmp_path / "accepted.jsonl"
    sup.append(path, record())
    plain = Scrubber(tables=tables, backend="durable").scrub(CLAIM)
    assert [(f.rule_id, f.line) for f in plain.findings] == [("CS-PTP-002", 2)]
    held = Scrubber(tables=tables, backend="durable", suppressions=path, today="2024-09-01").scrub(CLAIM)
    assert held.findings == [] and [(f.rule_id, f.line) for f in held.suppressed] == [("CS-PTP-002", 2)]
    assert held.suppressed[0].suppression == {
        "by": "R. Reviewer",
        "reason": "distinct site documented",
        "date": "2024-08-20",
        "expires": None,
    }
    assert held.as_dict()["suppressed_count"] == 1


def test_another_line_rule_or_claim_is_not_suppressed_nor_an_expired_record(tmp_path, tables):
    path = tmp_path / "accepted.jsonl"
    for changes in ({"line": 1}, {"rule_id": "CS-PTP-001"}, {"claim_id": "SUP-2"}, {"expires": "2024-08-31"}):
        sup.append(path, record(**changes))
    result = Scrubber(tables=tables, backend="durable", suppressions=path, today="2024-09-01").scrub(CLAIM)
    assert [(f.rule_id, f.line) for f in result.findings] == [("CS-PTP-002", 2)] and not result.suppressed


def scrub_cli(*args: str):
    result = CliRunner().invoke(main, ["scrub", "--no-progress", "--data-dir", "/nonexistent-data-dir", *args])
    return result.exit_code, result.stdout, result.stderr


def test_cli_add_then_scrub_counts_lists_and_exits_0(tmp_path):
    claim = tmp_path / "claim.json"
    claim.write_text(json.dumps(CLAIM))
    accepted = tmp_path / "accepted.jsonl"
    added = CliRunner().invoke(
        main,
        [
            "suppress",
            "add",
            "--file",
            str(accepted),
            "--claim-id",
            "SUP-1",
            "--line",
            "2",
            "--rule",
            "CS-PTP-002",
            "--reason",
            "distinct site documented",
            "--by",
            "R. Reviewer",
        ],
    )
    assert added.exit_code == 0, added.output
    code, out, _ = scrub_cli(str(claim), "--suppressions", str(accepted), "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["summary"]["suppressed"] == 1 and doc["findings"] == []
    assert (
        doc["suppressed"][0]["rule_id"] == "CS-PTP-002" and doc["suppressed"][0]["suppression"]["by"] == "R. Reviewer"
    )
    code, out, _ = scrub_cli(str(claim), "--suppressions", str(accepted))
    assert "1 suppressed" in out and "--show-suppressed lists them" in out and "distinct site" not in out
    code, out, _ = scrub_cli(str(claim), "--suppressions", str(accepted), "--show-suppressed", "--format", "text")
    assert "suppressed CS-PTP-002" in out and "accepted by R. Reviewer: distinct site documented" in out
    listed = CliRunner().invoke(main, ["suppress", "list", "--file", str(accepted)])
    assert "SUP-1 line 2 CS-PTP-002  by R. Reviewer: distinct site documented" in listed.stdout


def test_cli_refuses_a_bad_record_and_a_broken_file(tmp_path):
    accepted = tmp_path / "accepted.jsonl"
    bad = CliRunner().invoke(
        main,
        [
            "suppress",
            "add",
            "--file",
            str(accepted),
            "--claim-id",
            "C",
            "--rule",
            "R",
            "--reason",
            "r",
            "--by",
            "b",
            "--expires",
            "someday",
        ],
    )
    assert bad.exit_code == 2 and "expires is not a date" in bad.output and not accepted.exists()
    accepted.write_text("not json\n")
    code, _, err = scrub_cli(str(Path(__file__).parent / "fixtures"), "--suppressions", str(accepted))
    assert code == 2 and "accepted.jsonl:1: not a JSON object" in err
