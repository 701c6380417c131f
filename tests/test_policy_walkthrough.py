"""The README's walk-through ("Payer policies, payer tables and accepted findings"), step by step,
with the commands it shows, on examples/payer-pack/acme and the bundled sample tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from claimscrub.cli.main import main

REPO = Path(__file__).resolve().parents[1]
ACME = str(REPO / "examples" / "payer-pack" / "acme")
NO_STORE = ["--data-dir", "/nonexistent-data-dir"]


def claim(claim_id: str = "ACME-1", payer: str = "Acme Health PPO", lines=None) -> dict:
    return {
        "claim_id": claim_id,
        "type": "professional",
        "claim_date": "2024-08-15",
        "payer": {"name": payer, "type": "commercial"},
        "billing_provider": {"npi": "1234567893", "taxonomy": "207Q00000X"},
        "patient": {"id": "P-1", "sex": "F", "birth_date": "1980-05-01"},
        "place_of_service": "11",
        "diagnoses": [{"code": "E11.9"}],
        "lines": lines
        or [
            {
                "sequence": 1,
                "code": "99213",
                "units": 1,
                "charge": "100.00",
                "from_date": "2024-08-01",
                "diagnosis_pointers": [1],
            },
            {
                "sequence": 2,
                "code": "36415",
                "units": 1,
                "charge": "10.00",
                "from_date": "2024-08-01",
                "diagnosis_pointers": [1],
            },
        ],
    }


def run(*args: str, env: dict | None = None):
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def scrub_json(tmp_path: Path, doc, *args: str) -> tuple[int, dict]:
    path = tmp_path / "acme_claim.json"
    path.write_text(json.dumps(doc))
    code, out, err = run("scrub", "--no-progress", *NO_STORE, str(path), "--rules", ACME, "--format", "json", *args)
    assert code in (0, 1), err
    return code, json.loads(out)


def test_step1_data_status_and_scrub_agree_that_the_payer_table_is_loaded(tmp_path):
    code, out, _ = run("data", "status", "--rules", ACME, *NO_STORE)
    assert code == 0 and any(
        ln.startswith("acme_bundling") and "3 rows" in ln and "[csv]" in ln for ln in out.splitlines()
    )
    _, doc = scrub_json(tmp_path, claim())
    (edition,) = [e for e in doc["data_editions"] if e["name"] == "acme_bundling"]
    assert edition["loaded"] and edition["rows"] == 3 and edition["origin"] == "csv"


def test_step2_the_rule_lints_clean_and_its_cases_run_with_their_own_rows():
    code, _, err = run("rules", "lint", ACME)
    assert code == 0 and "0 error(s), 0 warning(s)" in err
    code, _, err = run("rules", "test", ACME)
    assert code == 0 and "2 passed, 0 failed" in err


def test_step3_explain_names_the_policy_entries(tmp_path):
    code, out, _ = run(
        "rules",
        "explain",
        "CS-MUE-002",
        "--rules",
        ACME,
        "--payer",
        "commercial",
        "--payer-name",
        "Acme Health",
        "--date",
        "2024-08-01",
    )
    assert code == 0 and "under commercial, acme: in effect" in out
    assert "acme.yaml:16): carve-out until 2025-12-31" in out and "commercial.yaml" in out
    code, out, _ = run(
        "rules",
        "explain",
        "ACME-BND-001",
        "--rules",
        ACME,
        "--payer",
        "commercial",
        "--payer-name",
        "Blue Plan",
        "--date",
        "2024-08-01",
    )
    assert "OFF" in out  # a draft: on only where the Acme policy says so
    code, out, _ = run("rules", "list", "--payer", "medicaid", "--date", "2024-08-01")
    assert "CS-MUE-002" in out and "CS-PFS-011" not in out
    code, out, _ = run("rules", "docs", "-o", str(tmp_path / "docs"), "--payer", "medicaid")
    assert (tmp_path / "docs" / "CS-MUE-002.md").exists() and not (tmp_path / "docs" / "CS-PFS-011.md").exists()


def test_step4_the_payer_rule_fires_for_acme_only_with_its_edit_code(tmp_path):
    code, doc = scrub_json(tmp_path, claim())
    (finding,) = doc["findings"]
    assert code == 1 and finding["rule_id"] == "ACME-BND-001" and finding["line"] == 2
    assert finding["payer_edit"] == {"policy": "acme", "edit_code": "ACB", "carc": "97", "rarc": ["M15"]}
    assert finding["table_row"]["acme_edit"] == "ACB-12"
    assert doc["claims"][0]["policies"] == ["commercial", "acme"]
    code, doc = scrub_json(tmp_path, claim(payer="Blue Plan"))
    assert code == 0 and doc["findings"] == []


@pytest.mark.parametrize("defaults", [[], ["--no-default-policies"]])
def test_step4_mue_policy_rows_off_and_one_provider_carved_out(tmp_path, defaults):
    line = {"sequence": 1, "units": 2, "charge": "100.00", "from_date": "2024-08-01", "diagnosis_pointers": [1]}
    _, doc = scrub_json(tmp_path, claim(lines=[{**line, "code": "27280"}]), *defaults)  # MUE 1, 'CMS Policy'
    assert not [f for f in doc["findings"] if f["rule_id"].startswith("CS-MUE")]
    _, doc = scrub_json(tmp_path, claim(lines=[{**line, "code": "20610", "units": 3}]), *defaults)  # clinical
    assert [f["rule_id"] for f in doc["findings"]] == ["CS-MUE-002"]
    carved = [{**line, "code": "20610", "units": 3, "rendering_npi": "1245319599"}]
    code, doc = scrub_json(tmp_path, claim(lines=carved), *defaults)
    assert code == 0 and doc["findings"] == []
    (held,) = doc["suppressed"]
    assert held["rule_id"] == "CS-MUE-002" and held["suppression"]["by"] == "policy acme"
    assert doc["summary"]["suppressed"] == 1


def test_step5_an_accepted_finding_is_reported_as_suppressed(tmp_path):
    accepted = str(tmp_path / "accepted.jsonl")
    code, _, err = run(
        "suppress",
        "add",
        "--file",
        accepted,
        "--claim-id",
        "ACME-1",
        "--line",
        "2",
        "--rule",
        "ACME-BND-001",
        "--reason",
        "drawn for an outside lab, billed per contract",
        "--by",
        "J. Biller",
        "--date",
        "2024-08-20",
    )
    assert code == 0 and "suppressed ACME-BND-001 on ACME-1 line 2" in err
    code, out, _ = run("suppress", "list", "--file", accepted)
    assert "2024-08-20  ACME-1 line 2 ACME-BND-001  by J. Biller" in out
    code, doc = scrub_json(tmp_path, claim(), "--suppressions", accepted)
    assert code == 0 and doc["findings"] == [] and doc["summary"]["suppressed"] == 1
    assert doc["suppressed"][0]["suppression"]["reason"] == "drawn for an outside lab, billed per contract"
    assert doc["claims"][0]["suppressed_count"] == 1
    path = tmp_path / "acme_claim.json"
    code, out, _ = run(
        "scrub",
        "--no-progress",
        *NO_STORE,
        str(path),
        "--rules",
        ACME,
        "--show-suppressed",
        env={"CLAIMSCRUB_SUPPRESSIONS": accepted},
    )
    assert code == 0 and "1 suppressed" in out and "accepted by J. Biller" in out
