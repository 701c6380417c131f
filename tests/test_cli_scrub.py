"""`claimscrub scrub` as a biller's pipeline uses it: exit codes, formats, and every claim accounted for."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from claimscrub.cli.main import main

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "examples" / "native" / "demo_claims.json"

CLEAN = {
    "claim_id": "CLEAN-1",
    "type": "professional",
    "claim_date": "2024-08-20",
    "payer": {"type": "medicare"},
    "billing_provider": {"npi": "1234567893"},
    "patient": {"id": "P1", "sex": "F", "birth_date": "1960-01-01"},
    "diagnoses": [{"code": "E11.9"}],
    "lines": [
        {
            "sequence": 1,
            "code": "99213",
            "units": 1,
            "charge": "100.00",
            "from_date": "2024-08-01",
            "diagnosis_pointers": [1],
        }
    ],
}


def scrub(*args: str, stdin: str | None = None):
    result = CliRunner().invoke(
        main, ["scrub", "--no-progress", "--data-dir", "/nonexistent-data-dir", *args], input=stdin
    )
    return result.exit_code, result.stdout, result.stderr


def write(tmp_path: Path, name: str, doc) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def test_a_clean_claim_exits_0_and_findings_exit_1(tmp_path):
    code, out, _ = scrub(str(write(tmp_path, "clean.json", CLEAN)), "--format", "json")
    assert code == 0 and json.loads(out)["findings"] == []
    both_sides = dict(CLEAN, lines=[dict(CLEAN["lines"][0], modifiers=["RT", "LT"])])  # CS-MOD-001, an error
    code, out, _ = scrub(str(write(tmp_path, "rtlt.json", both_sides)), "--format", "json")
    assert code == 1 and {f["rule_id"] for f in json.loads(out)["findings"]} == {"CS-MOD-001"}


@pytest.mark.parametrize(("fail_on", "expected"), [("error", 0), ("warning", 1), ("info", 1)])
def test_fail_on_sets_the_threshold(tmp_path, fail_on, expected):
    # Type 3 add-on 20701 without a CMS-listed primary: a warning (CS-AOC-002), nothing else.
    lines = [dict(CLEAN["lines"][0], code="20610"), dict(CLEAN["lines"][0], sequence=2, code="20701")]
    path = write(tmp_path, "c.json", dict(CLEAN, claim_id="WARN-1", lines=lines))
    code, out, _ = scrub(str(path), "--format", "json", "--fail-on", fail_on)
    assert [(f["rule_id"], f["severity"]) for f in json.loads(out)["findings"]] == [("CS-AOC-002", "warning")]
    assert code == expected


def test_every_claim_is_accounted_for_and_a_rejection_names_field_and_problem(tmp_path):
    bad = dict(CLEAN, claim_id="BAD-1", patient={"id": "P2", "sex": "F", "birth_date": "1990-02-30"})
    path = write(tmp_path, "batch.json", [CLEAN, bad])
    code, out, _ = scrub(str(path), "--format", "json")
    doc = json.loads(out)
    status = {c["claim_id"]: c for c in doc["claims"]}
    assert status["CLEAN-1"]["status"] == "scrubbed"
    assert status["BAD-1"]["status"] == "rejected"
    assert status["BAD-1"]["reason"] == "patient.birth_date: is not a calendar date (YYYY-MM-DD)"  # never the date
    assert code == 1  # a rejected claim is never a clean run


def test_an_unreadable_file_is_named_and_the_others_are_scrubbed(tmp_path):
    good = write(tmp_path, "good.json", CLEAN)
    (tmp_path / "broken.json").write_text('{"claim_id": "X", ')
    code, out, err = scrub(str(good), str(tmp_path / "missing.json"), "--format", "json")
    assert code == 2 and "missing.json" in err
    doc = json.loads(out)
    assert [c["claim_id"] for c in doc["claims"]] == ["CLEAN-1"]
    assert any("missing.json" in e for e in doc["input_errors"])


def test_json_lines_from_stdin_stream_one_record_per_claim():
    lines = "\n".join(json.dumps(dict(CLEAN, claim_id=f"S{i}")) for i in range(3))
    # the same visit on three claims: duplicates of each other unless cross-claim edits are off (streaming needs them off)
    code, out, _ = scrub("-", "--format", "jsonl", "--no-cross-claim", stdin=lines)
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["claim_id"] for r in records] == ["S0", "S1", "S2"]
    assert all(r["status"] == "scrubbed" and r["findings"] == [] for r in records)


def test_csv_has_a_row_per_finding_and_per_clean_or_rejected_claim():
    code, out, _ = scrub(str(DEMO), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 1
    assert {"claim_id", "status", "line", "rule_id", "severity", "message", "fix", "citation"} <= set(rows[0])
    ptp = [r for r in rows if r["rule_id"] == "CS-PTP-001"]
    assert ptp and ptp[0]["claim_id"] == "DEMO-UNBUNDLE-2" and ptp[0]["line"] == "2"
    assert any(r["status"] == "rejected" and r["reason"] for r in rows)


def test_text_groups_findings_by_claim_with_the_fix():
    code, out, _ = scrub(str(DEMO), "--format", "text")
    assert code == 1
    assert "DEMO-UNBUNDLE-2" in out and "CS-PTP-001" in out and "Remove 80048" in out


def test_json_names_packs_and_data_editions():
    _, out, _ = scrub(str(DEMO), "--format", "json")
    doc = json.loads(out)
    assert {"ncci", "integrity", "modifiers", "duplicates"} <= set(doc["packs"])
    editions = {e["name"]: e for e in doc["data_editions"]}
    assert editions["ncci_ptp_practitioner"]["origin"] == "sample"
    finding = next(f for f in doc["findings"] if f["rule_id"] == "CS-PTP-001")
    assert finding["data_edition"] == "NCCI PTP practitioner sample"
    assert finding["table_row"]["modifier_indicator"] == 0


def test_workers_give_the_same_document_as_one_process():
    _, one, _ = scrub(str(DEMO), "--format", "json", "--workers", "0")
    _, two, _ = scrub(str(DEMO), "--format", "json", "--workers", "2")
    strip = lambda doc: {k: v for k, v in json.loads(doc).items() if k != "seconds"}  # noqa: E731
    assert strip(one) == strip(two)
