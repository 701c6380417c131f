"""End to end through the CLI: side-by-side encounters, the batch phase, every output format, the exit code."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from claimscrub.cli.main import main

REPO = Path(__file__).resolve().parents[1]
SIDE_CLAIMS = str(REPO / "examples" / "encounters" / "claims_side_by_side.json")
SIDE_ENCOUNTERS = str(REPO / "tests" / "fixtures" / "encounters" / "encounters.json")


def scrub(*args: str, stdin: bytes | None = None):
    result = CliRunner().invoke(main, ["scrub", "--workers", "0", "--no-progress", *args], input=stdin)
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def side_by_side_json():
    return scrub(SIDE_CLAIMS, SIDE_ENCOUNTERS, "--format", "json")


def test_side_by_side_end_to_end(side_by_side_json):
    code, out = side_by_side_json
    doc = json.loads(out)
    assert code == (1 if doc["summary"]["by_severity"]["error"] else 0)  # warnings are below --fail-on error
    assert [c["claim_id"] for c in doc["claims"]] == ["EX-EM-101", "EX-EM-102", "EX-EM-201"]
    assert all(c["status"] == "scrubbed" for c in doc["claims"])
    assert doc["encounters"]["summary"] == {
        "encounters": 3,
        "linked": 3,
        "unlinked": 0,
        "invalid": 0,
        "invalid_embedded": 0,
    }
    cloned = [f for f in doc["findings"] if f["rule_id"] == "CS-AUD-001"]
    assert {f["claim_id"] for f in cloned} == {"EX-EM-101", "EX-EM-102", "EX-EM-201"}
    assert all(f["encounters"] and f["citation"] for f in cloned)
    assert doc["summary"]["by_severity"]["warning"] >= len(cloned)
    assert doc["audit"]["cloned_notes"]["threshold"] == 0.8 and doc["batch_findings"] == []


def test_unlinked_and_invalid_encounters_are_reported_and_claims_still_scrubbed(tmp_path):
    extra = tmp_path / "more.json"
    extra.write_text(
        json.dumps(
            [
                {
                    "encounter_id": "E-ORPHAN",
                    "date_of_service": "2024-05-01",
                    "link": {"patient_id": "PAT-404", "provider_npi": "1234567893"},
                },
                {
                    "encounter_id": "E-BAD",
                    "date_of_service": "2024-02-13",
                    "link": {"claim_id": "EX-EM-102"},
                    "total_time_minutes": -5,
                },
            ]
        )
    )
    code, out = scrub(SIDE_CLAIMS, str(extra), "--format", "json", "--no-audit")
    doc = json.loads(out)
    assert code == 1  # an invalid encounter record counts like a rejected claim
    assert [c["status"] for c in doc["claims"]] == ["scrubbed"] * 3
    records = {r["encounter_id"]: r for r in doc["encounters"]["records"]}
    assert records["E-ORPHAN"]["status"] == "unlinked" and "no claim" in records["E-ORPHAN"]["reason"]
    assert records["E-BAD"]["status"] == "invalid" and records["E-BAD"]["field"] == "total_time_minutes"
    assert "audit" not in doc
    code, text = scrub(SIDE_CLAIMS, str(extra), "--no-audit")
    assert "encounter E-ORPHAN unlinked" in text and "encounter E-BAD invalid" in text
    assert "2 encounter record(s) beside the claims: 0 linked, 1 unlinked, 1 invalid" in text


def test_one_file_holding_both_and_a_directory(tmp_path):
    both = tmp_path / "both.json"
    both.write_text(
        json.dumps(
            {
                "claims": json.loads(Path(SIDE_CLAIMS).read_text()),
                "encounters": json.loads(Path(SIDE_ENCOUNTERS).read_text()),
            }
        )
    )
    _, out = scrub(str(both), "--format", "json")
    doc = json.loads(out)
    assert doc["encounters"]["summary"]["linked"] == 3
    assert any(f["rule_id"] == "CS-AUD-001" for f in doc["findings"])
    folder = tmp_path / "dir"
    folder.mkdir()
    (folder / "a_encounters.json").write_text(Path(SIDE_ENCOUNTERS).read_text())  # read before the claims
    (folder / "b_claims.json").write_text(Path(SIDE_CLAIMS).read_text())
    _, out = scrub(str(folder), "--format", "json")
    assert json.loads(out)["encounters"]["summary"]["linked"] == 3


def test_claims_only_input_has_no_batch_phase_unless_asked():
    _, out = scrub(SIDE_CLAIMS, "--format", "json")
    doc = json.loads(out)
    assert "audit" not in doc and "encounters" not in doc
    _, out = scrub(SIDE_CLAIMS, "--format", "json", "--audit")
    doc = json.loads(out)
    assert doc["audit"]["providers"][0]["provider_npi"] == "1234567893" and doc["batch_findings"] == []


def em_batch(tmp_path) -> Path:
    counts = json.loads((REPO / "tests" / "fixtures" / "encounters" / "em_counts.json").read_text())
    claims = []
    for npi, by_code in counts.items():
        for code, n in by_code.items():
            for i in range(n):
                claims.append(
                    {
                        "claim_id": f"{npi}-{code}-{i}",
                        "type": "professional",
                        "payer": {"type": "commercial"},
                        "patient": {"id": f"P{len(claims)}", "sex": "M", "birth_date": "1970-05-05"},
                        "billing_provider": {"npi": "1356308324"},
                        "rendering_provider": {"npi": npi},
                        "place_of_service": "11",
                        "diagnoses": [{"code": "I10"}],
                        "lines": [
                            {
                                "sequence": 1,
                                "code": code,
                                "units": 1,
                                "charge": "100.00",
                                "from_date": "2024-03-01",
                                "diagnosis_pointers": [1],
                            }
                        ],
                    }
                )
    path = tmp_path / "em.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(c) for c in claims))
    return path


def test_statistics_in_every_format_and_the_exit_code(tmp_path):
    path = str(em_batch(tmp_path))
    code, out = scrub(path, "--format", "json", "--audit")
    doc = json.loads(out)
    (finding,) = doc["batch_findings"]
    assert finding["rule_id"] == "CS-AUD-002" and finding["provider_npi"] == "1234567893"
    assert finding["severity"] == "warning" and "Reason to look, not an error" in finding["message"]
    assert len(doc["claims"]) == 200 and doc["summary"]["claims"] == 200
    base = code
    assert scrub(path, "--audit", "--fail-on", "warning")[0] == 1  # the provider warning alone fails
    assert scrub(path, "--no-audit", "--fail-on", "warning")[0] == base
    code, out = scrub(path, "--format", "jsonl", "--audit")
    lines = [json.loads(x) for x in out.splitlines()]
    assert len([x for x in lines if "record" not in x]) == 200
    assert [x["record"] for x in lines if "record" in x] == ["batch_finding", "audit"]
    code, out = scrub(path, "--format", "csv", "--audit")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["rule_id"] for r in rows if r["status"] == "batch"] == ["CS-AUD-002"]
    code, out = scrub(path, "--audit")
    assert "Across claims (batch phase):" in out and "provider 1234567893" in out


def test_user_benchmark_file_and_a_bad_one(tmp_path):
    path = str(em_batch(tmp_path))
    good = tmp_path / "peers.yaml"
    good.write_text("""default_specialty: mine
benchmarks:
  - {id: mine_2024, specialty: mine, year: 2024, source: "our claims 2024",
     shares: {"99211": 2, "99212": 3, "99213": 20, "99214": 60, "99215": 15}}
""")
    _, out = scrub(path, "--format", "json", "--peer-benchmarks", str(good))  # implies the batch phase
    doc = json.loads(out)
    assert doc["audit"]["peer_benchmarks"] == str(good)
    (finding,) = doc["batch_findings"]  # against these peers the other provider is the outlier, shifted down
    assert finding["provider_npi"] == "1114025228" and finding["severity"] == "info"
    assert "mine_2024 (2024)" in finding["citation"]
    bad = tmp_path / "bad.yaml"
    bad.write_text('benchmarks:\n  - {id: x, specialty: s, source: y, shares: {"99213": 50, "99214": 40}}\n')
    result = CliRunner().invoke(main, ["scrub", "--workers", "0", path, "--peer-benchmarks", str(bad)])
    assert result.exit_code == 2
    assert "bad.yaml: benchmarks[0]: shares sum to 90.00, not 100" in result.stderr


def test_embedded_encounters_still_work():
    _, out = scrub(str(REPO / "examples" / "encounters" / "claims.json"), "--format", "json")
    doc = json.loads(out)
    assert len(doc["claims"]) == 13 and "audit" in doc  # embedded records switch the batch phase on
    assert "records" not in doc.get("encounters", {}) or doc["encounters"]["summary"]["invalid_embedded"] == 0
