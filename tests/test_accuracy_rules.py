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

from claimscrub.api.scrubber import Scrubber
from claimscrub.refdata.store import open_tables
from claimscrub.resources import rules_dir

PACKS = ["ncci", "mpfs", "codes", "diagnosis", "age_sex", "integrity", "duplicates", "modifiers"]
PTP = "NCCI PTP practitioner 2024-07-01"
MPFS = "MPFS indicators 2024-07"


@pytest.fixture(scope="session")
def scrubber(refdata_store: Path) -> Scrubber:
    packs = [rules_dir() / "packs" / p for p in PACKS]
    return Scrubber(packs, replace_bundled=True, tables=open_tables(refdata_store, samples=False), backend="durable")


def line(seq: int, code: str, mods=(), date: str = "2024-08-01", units: int = 1, **extra) -> dict:
    out = {
        "sequence": seq,
        "code": code,
        "units": units,
        "charge": "100.00",
        "from_date": date,
        "diagnosis_pointers": [1],
        **extra,
    }
    if mods:
        out["modifiers"] = list(mods)
    return out


BASE = {
    "claim_id": "ACC-1",
    "type": "professional",
    "claim_date": "2024-12-31",
    "payer": {"name": "Medicare Part B", "type": "medicare"},
    "billing_provider": {"npi": "1234567893"},
    "patient": {"id": "P1", "sex": "F", "birth_date": "1955-04-02"},
    "place_of_service": "11",
    "diagnoses": [{"code": "M17.11"}],
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
    for rule in (
        "CS-PTP-001",
        "CS-PTP-002",
        "CS-MUE-002",
        "CS-AOC-001",
        "CS-PFS-001",
        "CS-PFS-008",
        "CS-CODE-001",
        "CS-CODE-005",
        "CS-DX-001",
        "CS-DX-007",
        "CS-AGE-001",
        "CS-AGE-007",
    ):
        assert rule not in not_checked
    labels = {e["name"]: [ed["label"] for ed in e["editions"]] for e in scrubber.editions()}
    assert labels["ncci_ptp_practitioner"] == [PTP]
    assert "I/OCE diagnoses 2019Q3-2026Q2" in labels["ioce_dx"]


def test_clean_claim_with_real_codes_has_no_findings(scrubber):
    findings = scrub(
        scrubber,
        [line(1, "99213", ["25"]), line(2, "20610", ["RT"])],
        diagnoses=[{"code": "M17.11"}, {"code": "E11.9"}],
    )
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
    assert "CS-AGE-001" not in ids(
        scrub(scrubber, [line(1, "99213", date="2024-10-01")], diagnoses=[{"code": "N40.0"}])
    )


def test_procedure_age_range_from_ioce(scrubber):
    f = only(scrub(scrubber, [line(1, "99391")], diagnoses=[{"code": "Z00.129"}]), "CS-AGE-007")
    assert f.table_row["hi_age"] == 0
    infant = {"id": "P2", "sex": "M", "birth_date": "2024-03-01"}
    assert "CS-AGE-007" not in ids(scrub(scrubber, [line(1, "99391")], diagnoses=[{"code": "Z00.129"}], patient=infant))


# --------------------------------------------------------------------------- issue #13: a payer's editor


def test_hcpcs_validity_from_the_code_s_own_dates_not_the_2019_file(scrubber):
    # the 2019 file is the newest dated on or before these dates, but the July 2024 file dates every code
    for code, dos, rule, when in (
        ("E2300", "2024-05-01", "CS-CODE-001", "2024-03-31"),
        ("G2170", "2023-05-01", "CS-CODE-001", "2022-12-31"),
        ("G2211", "2020-06-01", "CS-CODE-002", "2021-01-01"),
    ):
        f = only(scrub(scrubber, [line(1, code, date=dos)]), rule)
        assert when in f.message and f.data_edition == "HCPCS 2024-07", f.message
    for code, dos in (("E2300", "2024-03-01"), ("G2170", "2021-05-01"), ("G2211", "2021-06-01")):
        assert not {"CS-CODE-001", "CS-CODE-002"} & ids(scrub(scrubber, [line(1, code, date=dos)]))


def test_ptp_edit_before_it_took_effect_is_dated_by_the_ioce(scrubber):
    pair = [line(1, "43611", date="2023-06-01"), line(2, "43235", date="2023-06-01")]
    assert not {"CS-PTP-001", "CS-PTP-002"} & ids(scrub(scrubber, pair))  # the I/OCE: in force from 2024-01-01
    f = only(scrub(scrubber, [line(1, "43611", date="2024-02-01"), line(2, "43235", date="2024-02-01")]), "CS-PTP-001")
    assert f.severity == "error" and "Not certain" not in f.message
    # 80053/80048 is in the I/OCE from its first quarter (2019Q3): an error in 2022, with no caveat
    f = only(scrub(scrubber, [line(1, "80053", date="2022-06-01"), line(2, "80048", date="2022-06-01")]), "CS-PTP-001")
    assert f.severity == "error" and "Not certain" not in f.message


def test_ptp_edition_that_does_not_cover_the_date_says_so_one_severity_lower(scrubber):
    # before the I/OCE's first quarter nothing dates the undated 2024 row: applied, but not silently
    f = only(scrub(scrubber, [line(1, "80053", date="2018-06-01"), line(2, "80048", date="2018-06-01")]), "CS-PTP-001")
    assert f.severity == "warning"
    assert f"{PTP} was released after the date of service 2018-06-01" in f.message and "does not cover" in f.message


def test_mue_and_mpfs_outside_their_editions_are_not_checked(scrubber):
    claim = copy.deepcopy(BASE)
    claim["lines"] = [line(1, "20610", date="2005-06-01", units=5), line(2, "93010", ["26"], date="2005-06-01")]
    result = scrubber.scrub(claim)
    assert not {"CS-MUE-001", "CS-MUE-002", "CS-PFS-001"} & ids(result.findings)
    reasons = {n["rule_id"]: n["reason"] for n in result.not_checked}
    assert reasons["CS-MUE-002"] == "no loaded edition of mue_practitioner covers 2005-06-01"  # MUEs began 2007
    assert reasons["CS-PFS-001"] == "no loaded edition of mpfs_indicators covers 2005-06-01"
    assert "CS-MUE-005" not in reasons  # the DME table is not for this claim
    # the same lines inside the editions are checked
    inside = scrub(scrubber, [line(1, "20610", units=5), line(2, "93010", ["26"])])
    assert {"CS-MUE-002", "CS-PFS-001"} <= ids(inside)
    # MPFS indicators (one release, 2024-07) do not answer for 2022
    claim["lines"] = [line(1, "93010", ["26"], date="2022-06-01")]
    result = scrubber.scrub(claim)
    assert "CS-PFS-001" not in ids(result.findings)
    assert any(n["rule_id"] == "CS-PFS-001" for n in result.not_checked)


def test_not_checked_is_in_the_json_and_the_text_output(scrubber):
    import io

    from rich.console import Console

    from claimscrub.output.writers import document, write_text

    claim = copy.deepcopy(BASE)
    claim["lines"] = [line(1, "20610", date="2005-06-01", units=5)]
    result = scrubber.scrub(claim)
    doc = document([result], {"not_checked": []})
    assert {
        "claim_id": "ACC-1",
        "rule_id": "CS-MUE-002",
        "dates": ["2005-06-01"],
        "reason": "no loaded edition of mue_practitioner covers 2005-06-01",
    } in doc["not_checked"]
    assert doc["claims"][0]["not_checked"]
    out = io.StringIO()
    write_text([result], Console(file=out, width=200), [], [])
    assert "not checked ACC-1: no loaded edition of mue_practitioner covers 2005-06-01 (" in out.getvalue()


def test_same_anatomic_modifier_on_both_lines_is_no_bypass(scrubber):
    f = only(scrub(scrubber, [line(1, "29881", ["RT"]), line(2, "20610", ["RT"])]), "CS-PTP-002")
    assert (f.line, f.related_lines) == (2, [1])
    assert "CS-PTP-002" not in ids(scrub(scrubber, [line(1, "29881", ["RT"]), line(2, "20610", ["LT"])]))
    assert only(scrub(scrubber, [line(1, "11750", ["TA"]), line(2, "11730", ["TA"])]), "CS-PTP-002").line == 2
    assert "CS-PTP-002" not in ids(scrub(scrubber, [line(1, "11750", ["TA"]), line(2, "11730", ["T1"])]))


def test_59_on_an_em_does_not_bypass_and_the_fix_says_25(scrubber):
    # 77427 (global XXX) with 99213: only the PTP edit speaks, and its fix names 25, not 59/X
    f = only(scrub(scrubber, [line(1, "77427"), line(2, "99213", ["59"])]), "CS-PTP-005")
    assert f.line == 2 and "append 25" in f.fix and f.table_row["modifier_indicator"] == 1
    assert "CS-PTP-005" not in ids(scrub(scrubber, [line(1, "77427"), line(2, "99213", ["25"])]))
    # 99213-59 + 20610 (a 000-day procedure): one finding, the global-surgery rule naming the PTP rule
    findings = scrub(scrubber, [line(1, "99213", ["59"]), line(2, "20610")])
    f = only(findings, "CS-PFS-008")
    assert "CS-PTP-005" not in ids(findings) and "this also stands for CS-PTP-005" in f.message
    assert not {"CS-PFS-008", "CS-PTP-005"} & ids(scrub(scrubber, [line(1, "99213", ["25"]), line(2, "20610")]))


def test_bilateral_and_pctc_modifiers(scrubber):
    assert "CS-PFS-003" not in ids(scrub(scrubber, [line(1, "73560", ["50"])]))  # indicator 3: paid per side
    f = only(scrub(scrubber, [line(1, "20610", ["50"], units=2)]), "CS-PFS-014")
    assert f.table_row["bilateral"] == 1 and f.data_edition == MPFS
    assert "CS-PFS-014" not in ids(scrub(scrubber, [line(1, "20610", ["50"])]))
    assert only(scrub(scrubber, [line(1, "71046", ["26", "TC"])]), "CS-PFS-015").line == 1
    assert "CS-PFS-015" not in ids(scrub(scrubber, [line(1, "71046", ["26"])]))


def test_26_on_a_global_test_only_code_points_to_the_professional_only_code(scrubber):
    findings = scrub(scrubber, [line(1, "93000", ["26"])])
    f = only(findings, "CS-PFS-016")
    assert f.table_row["pctc"] == 4 and "professional-component-only code" in f.fix
    assert "CS-PFS-001" not in ids(findings)
    assert "CS-PFS-016" not in ids(scrub(scrubber, [line(1, "93010")]))


def test_duplicates_compare_ndcs_and_modifiers_in_any_order_once_per_line(scrubber):
    two_drugs = [line(1, "J3490", ndc="00409490234"), line(2, "J3490", ndc="63323026201")]
    assert "CS-DUP-001" not in ids(scrub(scrubber, two_drugs))
    f = only(scrub(scrubber, [line(1, "73560", ["26", "RT"]), line(2, "73560", ["RT", "26"])]), "CS-DUP-001")
    assert (f.line, f.related_lines) == (2, [1])
    three = scrub(scrubber, [line(1, "80053"), line(2, "80053"), line(3, "80053")])
    assert sorted((f.line, f.related_lines[0]) for f in three if f.rule_id == "CS-DUP-001") == [(2, 1), (3, 1)]


def test_hospital_ptp_only_on_outpatient_bill_types(scrubber):
    lines = [line(1, "80053", revenue_code="0300"), line(2, "80048", revenue_code="0300")]
    f = only(scrub(scrubber, lines, type="institutional", bill_type="0131"), "CS-PTP-003")
    assert f.data_edition == "NCCI PTP hospital 2024-07-01"
    assert "CS-PTP-003" not in ids(scrub(scrubber, lines, type="institutional", bill_type="0111"))


def test_mue_0_fix_says_remove_the_line(scrubber):
    f = only(scrub(scrubber, [line(1, "E0601")]), "CS-MUE-002")
    assert f.table_row["mue_units"] == 0 and "remove the lines when that is 0" in f.fix


def test_excludes1_on_blocks_and_mce_edit_numbers(scrubber):
    for codes in (("J06.9", "J44.0"), ("I61.9", "S06.360A")):
        f = only(scrub(scrubber, [line(1, "99213")], diagnoses=[{"code": c} for c in codes]), "CS-DX-006")
        assert f.diagnosis is not None
    sex = only(scrub(scrubber, [line(1, "99213", date="2024-09-30")], diagnoses=[{"code": "N40.0"}]), "CS-AGE-001")
    assert "MCE), edit 5 (sex conflict)" in sex.citation
    mani = only(scrub(scrubber, [line(1, "99213")], diagnoses=[{"code": "F02.80"}, {"code": "G30.9"}]), "CS-DX-007")
    assert "edit 6 (manifestation code as principal diagnosis)" in mani.citation


def test_one_problem_one_finding(scrubber):
    from claimscrub.inputs.base import InputItem, Note

    # an invalid billing NPI that the lines repeat: one finding
    findings = scrub(
        scrubber,
        [line(1, "99213", rendering_npi="1234567890"), line(2, "36415", rendering_npi="1234567890")],
        billing_provider={"npi": "1234567890"},
    )
    assert ids(findings) & {"CS-INT-001", "CS-INT-002"} == {"CS-INT-001"}
    # a different invalid rendering NPI is its own problem
    findings = scrub(scrubber, [line(1, "99213", rendering_npi="1111111111")], billing_provider={"npi": "1234567890"})
    assert {"CS-INT-001", "CS-INT-002"} <= ids(findings)
    # the X12 reader dropped the ICD-9 diagnoses (and the pointers with them): the pointer finding is not repeated
    claim = copy.deepcopy(BASE)
    claim.update(diagnoses=[], lines=[line(1, "99213", diagnosis_pointers=[])])
    icd9 = Note(
        "CS-X12-003",
        "code_validity",
        "error",
        "ICD-9-CM diagnosis",
        "seg 12 HI01: ICD-9-CM qualifier BK",
        "Code the diagnoses in ICD-10-CM.",
        "ASC X12 005010X222A1 HI",
    )
    result = scrubber.scrub_item(InputItem("t.837", "ACC-1", claim, notes=(icd9,)))
    assert result.status == "scrubbed", result.reason
    assert "CS-INT-007" not in ids(result.findings)
    assert "this also stands for CS-INT-007" in only(result.findings, "CS-X12-003").message
    without_note = scrubber.scrub_item(InputItem("t.837", "ACC-1", claim))
    assert "CS-INT-007" in ids(without_note.findings)
    # 25 on a line whose code is not a CPT/HCPCS code: the code is the one problem
    f = only(scrub(scrubber, [line(1, "478331", ["25"])]), "CS-CODE-006")
    assert "this also stands for CS-MOD-003" in f.message
    assert "CS-MOD-003" in ids(scrub(scrubber, [line(1, "36415", ["25"])]))
