"""Accuracy through the rules: claims with real codes scrubbed against the real CMS tables.

The refdata files these edits need are in the store the refdata tests share
(``refdata_store`` in conftest.py: imported once, cached between runs); every test
then scrubs a claim with ``Scrubber`` and checks what a payer's editor would
say: the rule, the line, the edition named and the table row that fired.
Skipped, saying why, when ../shared/refdata is absent.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from claimscrub.resources import rules_dir
from claimscrub.api.scrubber import Scrubber
from claimscrub.refdata.tables import open_tables

PACKS = ["ncci", "mpfs", "codes", "diagnosis", "age_sex"]
PTP = "NCCI PTP practitioner 2024-07-01"
MPFS = "MPFS indicators 2024-07"


@pytest.fixture(scope="session")
def scrubber(refdata_store: Path) -> Scrubber:
    packs = [rules_dir() / "packs" / p for p in PACKS]
    return Scrubber(packs, replace_bundled=True, tables=open_tables(refdata_store, samples=False), backend="durable")


def line(seq: int, code: str, mods=(), date: str = "2024-08-01", units: int = 1, **extra) -> dict:
    out = {"sequence": seq, "code": code, "units": units, "charge": "100.00", "from_date": date,
           "diagnosis_pointers": [1], **extra}
    if mods:
        out["modifiers"] = list(mods)
    return out


BASE = {
    "claim_id": "ACC-1", "type": "professional", "claim_date": "2024-12-31",
    "payer": {"name": "Medicare Part B", "type": "medicare"},
    "billing_provider": {"npi": "1234567893"},
    "patient": {"id": "P1", "sex": "F", "birth_date": "1955-04-02"},
    "place_of_service": "11", "diagnoses": [{"code": "M17.11"}],
}


def scrub(scrubber: Scrubber, lines: list[dict], **changes):
    claim = copy.deepcopy(BASE)
    claim.update(changes)
    claim["lines"] = lines
    result = scrubber.scrub(claim)
    assert result.status == "scrubbed", result.reason
    return result.findings


def only(findings, rule_id: str):
    hits = [f for f in findings if f.rule_id == rule_id]
    assert len(hits) == 1, [(f.rule_id, f.line, f.message) for f in findings]
    return hits[0]


def ids(findings) -> set[str]:
    return {f.rule_id for f in findings}


def test_every_table_the_rules_use_is_checked(scrubber):
    not_checked = {n["rule_id"] for n in scrubber.not_checked}
    for rule in ("CS-PTP-001", "CS-PTP-002", "CS-MUE-002", "CS-AOC-001", "CS-PFS-001", "CS-PFS-008",
                 "CS-CODE-001", "CS-CODE-005", "CS-DX-001", "CS-DX-007", "CS-AGE-001", "CS-AGE-007"):
        assert rule not in not_checked
    labels = {e["name"]: [ed["label"] for ed in e["editions"]] for e in scrubber.editions()}
    assert labels["ncci_ptp_practitioner"] == [PTP]
    assert "I/OCE diagnoses 2019Q3-2026Q2" in labels["ioce_dx"]


def test_clean_claim_with_real_codes_has_no_findings(scrubber):
    findings = scrub(scrubber, [line(1, "99213", ["25"]), line(2, "20610", ["RT"])],
                     diagnoses=[{"code": "M17.11"}, {"code": "E11.9"}])
    assert findings == [], [(f.rule_id, f.message) for f in findings]


def test_80053_80048_indicator_0_is_not_bypassed(scrubber):
    for mods in ((), ("59",)):
        f = only(scrub(scrubber, [line(1, "80053"), line(2, "80048", mods)]), "CS-PTP-001")
        assert (f.line, f.related_lines, f.data_edition) == (2, [1], PTP)
        assert f.table_row["column1"] == "80053" and f.table_row["modifier_indicator"] == 0


def test_11042_97597_indicator_1_and_its_bypasses(scrubber):
    f = only(scrub(scrubber, [line(1, "11042"), line(2, "97597")]), "CS-PTP-002")
    assert (f.line, f.data_edition, f.table_row["modifier_indicator"]) == (2, PTP, 1)
    assert "CS-PTP-002" not in ids(scrub(scrubber, [line(1, "11042", ["59"]), line(2, "97597")]))
    assert "CS-PTP-002" not in ids(scrub(scrubber, [line(1, "11042"), line(2, "97597", ["XS"])]))
    # 25 bypasses only when the column-2 code is an E/M
    assert "CS-PTP-002" in ids(scrub(scrubber, [line(1, "11042"), line(2, "97597", ["25"])]))


def test_27280_27278_indicator_changes_on_2024_07_01(scrubber):
    before = scrub(scrubber, [line(1, "27280", date="2024-06-30"), line(2, "27278", ["59"], date="2024-06-30")])
    f = only(before, "CS-PTP-001")
    assert f.line == 2 and f.table_row["deletion_date"] == "2024-06-30"
    after = scrub(scrubber, [line(1, "27280", date="2024-07-01"), line(2, "27278", date="2024-07-01")])
    assert "CS-PTP-001" not in ids(after)
    assert only(after, "CS-PTP-002").table_row["modifier_indicator"] == 1
    bypassed = scrub(scrubber, [line(1, "27280", date="2024-07-01"), line(2, "27278", ["59"], date="2024-07-01")])
    assert not {"CS-PTP-001", "CS-PTP-002"} & ids(bypassed)


def test_20610_mue_2_mai_3_summed_across_lines(scrubber):
    findings = scrub(scrubber, [line(1, "20610", ["RT"], units=2), line(2, "20610", ["LT"])])
    f = only(findings, "CS-MUE-002")
    assert f.line == 1 and "3 units" in f.message and "MUE is 2" in f.message and "MAI 3" in f.message
    assert f.data_edition == "MUE practitioner 2024-07-01" and f.table_row["mue_units"] == 2
    assert "CS-MUE-002" not in ids(scrub(scrubber, [line(1, "20610", ["RT"]), line(2, "20610", ["LT"])]))


def test_dme_supplier_claims_use_the_dme_mue_table(scrubber):
    supplier = {"npi": "1234567893", "taxonomy": "332B00000X"}
    f = only(scrub(scrubber, [line(1, "A6460", units=2)], billing_provider=supplier), "CS-MUE-005")
    assert f.data_edition == "MUE DME 2024-07-01" and f.table_row["mue_units"] == 1 and f.table_row["mai"] == 1
    assert "CS-MUE-005" not in ids(scrub(scrubber, [line(1, "A6460", units=1)], billing_provider=supplier))
    # the same code from a practitioner is checked against the practitioner table, not the DME one
    assert "CS-MUE-005" not in ids(scrub(scrubber, [line(1, "A6460", units=2)]))


def test_11045_needs_11042(scrubber):
    f = only(scrub(scrubber, [line(1, "11045")]), "CS-AOC-001")
    assert f.line == 1 and f.data_edition == "NCCI add-on codes 2024-06-03"
    assert "CS-AOC-001" not in ids(scrub(scrubber, [line(1, "11042"), line(2, "11045")]))


def test_93010_rejects_26(scrubber):
    f = only(scrub(scrubber, [line(1, "93010", ["26"])]), "CS-PFS-001")
    assert f.data_edition == MPFS and f.table_row["pctc"] == 2 and "professional-component-only" in f.message
    assert "CS-PFS-001" not in ids(scrub(scrubber, [line(1, "71046", ["26"])]))


def test_69210_rejects_50(scrubber):
    f = only(scrub(scrubber, [line(1, "69210", ["50"])]), "CS-PFS-003")
    assert f.data_edition == MPFS and f.table_row["bilateral"] == 2
    assert "CS-PFS-003" not in ids(scrub(scrubber, [line(1, "20610", ["50"])]))


def test_em_with_minor_procedure_needs_25(scrubber):
    f = only(scrub(scrubber, [line(1, "99213"), line(2, "11042")]), "CS-PFS-008")
    assert f.line == 1 and f.table_row["global_days"] == "000" and f.data_edition == MPFS


def test_status_b_code(scrubber):
    f = only(scrub(scrubber, [line(1, "0537T")]), "CS-PFS-011")
    assert f.table_row["status"] == "B"


def test_terminated_hcpcs_named_with_its_end_date(scrubber):
    f = only(scrub(scrubber, [line(1, "G0202")]), "CS-CODE-001")
    assert "2017-12-31" in f.message and f.data_edition == "HCPCS 2024-07"
    assert f.table_row["termination_date"] == "2017-12-31"  # the ended row the finding rests on
    assert "CS-CODE-005" not in ids(scrub(scrubber, [line(1, "G0202")]))
    assert "CS-CODE-005" in ids(scrub(scrubber, [line(1, "9999Z")]))


def test_icd10_validity_on_the_date_of_service(scrubber):
    deleted = only(scrub(scrubber, [line(1, "99213", date="2024-10-15")], diagnoses=[{"code": "C86.0"}]), "CS-DX-001")
    assert "2024-09-30" in deleted.message and deleted.data_edition == "I/OCE diagnoses 2019Q3-2026Q2"
    assert not {"CS-DX-001", "CS-DX-003"} & ids(scrub(scrubber, [line(1, "99213")], diagnoses=[{"code": "C86.0"}]))
    header = only(scrub(scrubber, [line(1, "99213")], diagnoses=[{"code": "E11"}]), "CS-DX-003")
    assert header.diagnosis == 1
    assert "CS-DX-004" in ids(scrub(scrubber, [line(1, "99213")], diagnoses=[{"code": "E11.99"}]))


def test_excludes1_and_manifestation(scrubber):
    assert "CS-DX-006" in ids(scrub(scrubber, [line(1, "99213")], diagnoses=[{"code": "E11.9"}, {"code": "E10.9"}]))
    f = only(scrub(scrubber, [line(1, "99213")], diagnoses=[{"code": "F02.80"}, {"code": "G30.9"}]), "CS-DX-007")
    assert f.table_row["manifestation"] == 1 and f.data_edition == "MCE diagnosis flags v43.1"


def test_n400_male_flag_ends_2024_09_30(scrubber):
    f = only(scrub(scrubber, [line(1, "99213", date="2024-09-30")], diagnoses=[{"code": "N40.0"}]), "CS-AGE-001")
    assert f.table_row["valid_to"] == "2024-09-30"
    assert "CS-AGE-001" not in ids(scrub(scrubber, [line(1, "99213", date="2024-10-01")], diagnoses=[{"code": "N40.0"}]))


def test_procedure_age_range_from_ioce(scrubber):
    f = only(scrub(scrubber, [line(1, "99391")], diagnoses=[{"code": "Z00.129"}]), "CS-AGE-007")
    assert f.table_row["hi_age"] == 0
    infant = {"id": "P2", "sex": "M", "birth_date": "2024-03-01"}
    assert "CS-AGE-007" not in ids(scrub(scrubber, [line(1, "99391")], diagnoses=[{"code": "Z00.129"}], patient=infant))
