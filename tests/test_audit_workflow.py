"""The record review end to end through the CLI on the demo audit (examples/audit/)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from claimscrub.cli.main import main

REPO = Path(__file__).resolve().parents[1]
CLAIMS = str(REPO / "examples" / "audit" / "claims.json")


def run(*args: str):
    result = CliRunner().invoke(main, ["audit", *args])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("audit") / "demo"
    assert run("universe", CLAIMS, "-o", str(folder))[0] == 0
    assert run("sample", str(folder), "--size", "8", "--seed", "20261203")[0] == 0
    code, out = run("review", str(folder), CLAIMS)
    assert code == 0, out
    return folder


def copy(folder: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(folder, target)
    return target


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_universe_counts_and_design(reviewed):
    design = yaml.safe_load((reviewed / "design.yaml").read_text())
    assert design["frame"]["units"] == 19 and design["frame"]["paid_total"] == "2918.17"
    assert design["frame"]["excluded"] == {"units": 1, "paid_total": "0.00", "file": "excluded.csv"}
    assert design["sample"]["method"] == "srs" and design["sample"]["strata"][0]["sample_size"] == 8
    assert "AUD-DEMO-INTEGRITY-5" in (reviewed / "excluded.csv").read_text()


def test_every_line_with_a_finding_has_a_proposed_amount_and_category(reviewed):
    sheet = rows(reviewed / "worksheet.csv")
    assert len(sheet) == 17
    with_findings = [r for r in sheet if r["rule_ids"]]
    assert with_findings and all(r["proposed_amount"] and r["proposed_category"] for r in with_findings)
    by_key = {(r["claim_id"], r["line"]): r for r in sheet}
    assert by_key[("AUD-DEMO-UNBUNDLE-2", "2")]["proposed_amount"] == "8.46"  # PTP column 2: its paid amount
    assert by_key[("AUD-EX-EM-001", "1")]["proposed_determination"] == "overpaid"
    review = json.loads((reviewed / "review.json").read_text())
    assert {e["claim_id"] for e in review["em_levels"]} == {"AUD-EX-EM-001", "AUD-EX-EM-011"}
    assert review["rule_packs"] and "mpfs_rvu" in review["data_editions"]


def test_edited_xlsx_round_trips_into_the_log(reviewed, tmp_path):
    from openpyxl import load_workbook

    folder = copy(reviewed, tmp_path)
    book = load_workbook(folder / "worksheet.xlsx")
    sheet = book["worksheet"]
    header = [c.value for c in sheet[1]]
    col = {name: header.index(name) + 1 for name in header}
    row = next(r for r in range(2, sheet.max_row + 1) if sheet.cell(r, col["claim_id"]).value == "AUD-EX-EM-008")
    sheet.cell(row, col["determination"]).value = "overpaid"
    sheet.cell(row, col["error_category"]).value = "incorrect_coding"
    sheet.cell(row, col["amount"]).value = 38.79
    sheet.cell(row, col["reason"]).value = "time supports 90834"
    book.save(tmp_path / "edited.xlsx")
    code, out = run("review", str(folder), "--import", str(tmp_path / "edited.xlsx"), "--reviewer", "A. Auditor")
    assert code == 0, out
    log = [json.loads(line) for line in (folder / "determinations.jsonl").read_text().splitlines()]
    edits = [e for e in log if e["kind"] == "review"]
    assert {(e["field"], e["before"], e["after"]) for e in edits} == {
        ("determination", "not_reviewed", "overpaid"),
        ("error_category", None, "incorrect_coding"),
        ("amount", None, "38.79"),
        ("reason", None, "time supports 90834"),
        ("reviewer", None, "A. Auditor"),
    }
    assert all(e["by"] == "A. Auditor" and e["claim_id"] == "AUD-EX-EM-008" and e["at"] for e in edits)
    state = {r["claim_id"]: r for r in rows(folder / "determinations.csv") if r["line"] == "1"}
    assert state["AUD-EX-EM-008"]["amount"] == "38.79"


def test_bad_cells_are_named_and_nothing_is_imported(reviewed, tmp_path):
    folder = copy(reviewed, tmp_path)
    before = (folder / "determinations.csv").read_text()
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "sample_no,claim_id,line,determination,error_category,amount,reason\n"
        "6,AUD-EX-EM-008,1,overpaid,incorrect_coding,38.79,fine\n"
        "4,AUD-EX-EM-001,1,overpaid,upcoding,12.5x,\n"
        "8,AUD-EX-EM-013,1,overpaid,incorrect_coding,999.00,\n"
    )
    code, out = run("review", str(folder), "--import", str(bad), "--reviewer", "A. Auditor")
    assert code == 2
    assert "bad.csv, row 3, column error_category (E): 'upcoding' is not one of" in out
    assert "bad.csv, row 3, column amount (F): '12.5x' is not a dollar amount" in out
    assert "bad.csv, row 4, column amount (F): 999.00 is more than the line's paid amount" in out
    assert (folder / "determinations.csv").read_text() == before
    assert not any(
        json.loads(line)["kind"] == "review" for line in (folder / "determinations.jsonl").read_text().splitlines()
    )


def test_accept_qa_and_appraise(reviewed, tmp_path):
    folder = copy(reviewed, tmp_path)
    assert run("review", str(folder), "--accept-proposed", "--reviewer", "A. Auditor")[0] == 0
    code, out = run("appraise", str(folder))
    assert code == 2 and "AUD-EX-EM-008" in out  # its line was only flagged: no determination yet
    edits = str(REPO / "examples" / "audit" / "reviewer_edits.csv")
    assert run("review", str(folder), "--import", edits, "--reviewer", "A. Auditor")[0] == 0
    qa = str(REPO / "examples" / "audit" / "qa_review.csv")
    code, out = run("review", str(folder), "--import", qa, "--qa", "--reviewer", "A. Auditor")
    assert code == 2 and "second reviewer" in out
    code, out = run("review", str(folder), "--import", qa, "--qa", "--reviewer", "B. Peer")
    assert code == 0 and "disagree: claim AUD-EX-EM-013 line 1" in out
    code, out = run("appraise", str(folder))
    assert code == 0, out
    doc = json.loads((folder / "appraisal.json").read_text())
    assert doc["universe"] == {"units": 19, "paid_total": "2918.17"}
    assert doc["sample"]["units"] == 8 and doc["overpayment"]["df"] == 7
    assert set(doc["overpayment"]["intervals"]) == {"80", "90", "95"}
    assert "lower limit" in (folder / "appraisal.txt").read_text()


def test_a_changed_frame_is_refused(reviewed, tmp_path):
    folder = copy(reviewed, tmp_path)
    frame = folder / "frame.csv"
    frame.write_text(frame.read_text().replace("112.00", "112.01"))
    code, out = run("appraise", str(folder))
    assert code == 2 and "frame.csv has changed since the universe was written" in out
    code, out = run("sample", str(folder), "--size", "3", "--seed", "1", "--force")
    assert code == 2 and "has changed" in out


def test_the_same_frame_and_seed_give_the_same_sample(reviewed, tmp_path):
    other = tmp_path / "again"
    assert run("universe", CLAIMS, "-o", str(other))[0] == 0
    assert run("sample", str(other), "--size", "8", "--seed", "20261203")[0] == 0
    assert (other / "frame.csv").read_bytes() == (reviewed / "frame.csv").read_bytes()
    assert (other / "sample.csv").read_bytes() == (reviewed / "sample.csv").read_bytes()


def test_stratified_sample_and_line_units_through_the_cli(tmp_path):
    folder = tmp_path / "lines"
    code, out = run("universe", CLAIMS, "-o", str(folder), "--unit", "line", "--from", "2024-01-01")
    assert code == 0 and "line unit(s)" in out
    design = yaml.safe_load((folder / "design.yaml").read_text())
    assert design["unit"] == "line" and design["frame"]["out_of_scope"] == 2  # the 2022 and 2023 lines
    code, out = run(
        "sample",
        str(folder),
        "--size",
        "6",
        "--seed",
        "7",
        "--method",
        "stratified",
        "--strata-count",
        "2",
        "--boundaries",
        "equal-dollar",
        "--certainty-threshold",
        "300",
    )
    assert code == 0, out
    design = yaml.safe_load((folder / "design.yaml").read_text())
    strata = design["sample"]["strata"]
    assert strata[-1]["certainty"] and strata[-1]["lower"] == "300.00" and strata[-1]["units"] == 1
    assert sum(s["sample_size"] for s in strata if not s["certainty"]) == 6
    sample = rows(folder / "sample.csv")
    assert all(":" in r["unit_id"] for r in sample) and sample[-1]["random_number"] == ""
    code, out = run("sample", str(folder), "--size", "6", "--seed", "7")
    assert code == 2 and "already drawn" in out


def test_sample_size_from_a_reviewed_probe(reviewed, tmp_path):
    probe = copy(reviewed, tmp_path)
    assert run("review", str(probe), "--accept-proposed", "--reviewer", "A")[0] == 0
    edits = str(REPO / "examples" / "audit" / "reviewer_edits.csv")
    assert run("review", str(probe), "--import", edits, "--reviewer", "A")[0] == 0
    code, out = run("sample-size", str(reviewed), "--probe", str(probe), "--precision", "0.25")
    assert code == 0 and out.startswith("n = ") and "of 19 units" in out
    other = tmp_path / "other"
    assert run("universe", CLAIMS, "-o", str(other), "--unit", "line")[0] == 0
    code, out = run("sample-size", str(other), "--probe", str(probe))
    assert code == 2 and "another frame" in out


def test_unreadable_input_writes_no_frame(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    code, out = run("universe", CLAIMS, str(bad), "-o", str(tmp_path / "x"))
    assert code == 2 and "no frame written" in out and not (tmp_path / "x").exists()


def _close_open_lines(folder: Path, tmp_path: Path) -> None:
    """Import 'correct' for every line the proposals left without a determination."""
    open_rows = [r for r in rows(folder / "determinations.csv") if r["determination"] == "not_reviewed"]
    edits = tmp_path / "close.csv"
    with open(edits, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["sample_no", "claim_id", "line", "determination", "error_category", "amount", "reason"])
        writer.writerows([r["sample_no"], r["claim_id"], r["line"], "correct", "", "", "reviewed"] for r in open_rows)
    code, out = run("review", str(folder), "--import", str(edits), "--reviewer", "A")
    assert code == 0, out


def test_every_claim_reviewed_including_a_rejected_one(tmp_path):
    folder = tmp_path / "all"
    assert run("universe", CLAIMS, "-o", str(folder))[0] == 0
    assert run("sample", str(folder), "--size", "19", "--seed", "3")[0] == 0
    code, out = run("review", str(folder), CLAIMS)
    assert code == 0 and "19 claim(s) (1 rejected)" in out
    sheet = {(r["claim_id"], r["line"]): r for r in rows(folder / "worksheet.csv")}
    rejected = sheet[("AUD-DEMO-REJECTED-7", "")]
    assert rejected["proposed_determination"] == "not_reviewed" and rejected["paid_amount"] == "72.70"
    # AUD-DEMO-HOSPITAL-6 is paid 14.90 on the claim only: shared by charge (88.00 and 60.00)
    assert (sheet[("AUD-DEMO-HOSPITAL-6", "1")]["paid_amount"], sheet[("AUD-DEMO-HOSPITAL-6", "2")]["paid_amount"]) == (
        "8.86",
        "6.04",
    )
    assert run("review", str(folder), "--accept-proposed", "--reviewer", "A")[0] == 0
    _close_open_lines(folder, tmp_path)
    code, out = run("appraise", str(folder))
    assert code == 0, out
    doc = json.loads((folder / "appraisal.json").read_text())
    # every unit reviewed: the estimate is the sample's actual total and has no sampling error
    total = sum(float(u["overpayment"]) for u in doc["units"])
    assert doc["overpayment"]["point_estimate"] == f"{total:.2f}" and doc["overpayment"]["standard_error"] == "0.00"


def test_stratified_line_audit_appraises(tmp_path):
    folder = tmp_path / "strat"
    assert run("universe", CLAIMS, "-o", str(folder), "--unit", "line")[0] == 0
    assert (
        run(
            "sample",
            str(folder),
            "--size",
            "8",
            "--seed",
            "11",
            "--method",
            "stratified",
            "--strata",
            "80",
            "--allocation",
            "neyman",
            "--certainty-threshold",
            "300",
        )[0]
        == 0
    )
    assert run("review", str(folder), CLAIMS)[0] == 0
    assert run("review", str(folder), "--accept-proposed", "--reviewer", "A")[0] == 0
    _close_open_lines(folder, tmp_path)
    code, out = run("appraise", str(folder))
    assert code == 0, out
    doc = json.loads((folder / "appraisal.json").read_text())
    assert [s["id"] for s in doc["strata"]] == [1, 2, 3]
    assert doc["strata"][2]["units"] == doc["strata"][2]["sample_size"]  # the certainty stratum, in full
    assert any("certainty stratum" in e for e in doc["edge_cases"])
    assert sum(float(s["estimate"]) for s in doc["strata"]) == pytest.approx(
        float(doc["overpayment"]["point_estimate"]), abs=0.011
    )


def test_cloned_notes_across_the_sampled_records_are_flagged():
    from claimscrub.api.scrubber import Scrubber
    from claimscrub.audit.review import SampledUnit, review_claims
    from claimscrub.cli.scrubbing import read_inputs

    paths = (
        str(REPO / "examples" / "encounters" / "claims_side_by_side.json"),
        str(REPO / "tests" / "fixtures" / "encounters" / "encounters.json"),
    )
    items, _, side = read_inputs(paths)
    items = list(items)
    units = [SampledUnit(n, 1, i.claim_id, (i.claim_id,), None, 0) for n, i in enumerate(items, 1)]
    result = review_claims(units, items, Scrubber(), bool(side.mentions_encounters))
    cloned = [r for r in result.rows if "CS-AUD-001" in r["rule_ids"]]
    assert cloned and all(r["proposed_category"] for r in cloned)


def test_beneficiary_units_review_all_their_claims(tmp_path):
    folder = tmp_path / "people"
    assert run("universe", CLAIMS, "-o", str(folder), "--unit", "beneficiary")[0] == 0
    frame = rows(folder / "frame.csv")
    assert len({r["unit_id"] for r in frame}) == len(frame) and any(";" in r["claim_id"] for r in frame)
    assert run("sample", str(folder), "--size", str(len(frame)), "--seed", "5")[0] == 0
    assert run("review", str(folder), CLAIMS)[0] == 0
    sheet = rows(folder / "worksheet.csv")
    by_unit: dict[str, set[str]] = {}
    for r in sheet:
        by_unit.setdefault(r["unit_id"], set()).add(r["claim_id"])
    assert {u: ";".join(sorted(c)) for u, c in by_unit.items()} == {r["unit_id"]: r["claim_id"] for r in frame}
    assert run("review", str(folder), "--accept-proposed", "--reviewer", "A")[0] == 0
    _close_open_lines(folder, tmp_path)
    assert run("appraise", str(folder))[0] == 0


def test_universe_from_837_and_835_states_the_remittance_totals_and_what_did_not_link(tmp_path):
    """The universe of an 837 and its 835s: paid as the CLP04s say (223.72 reversed, 248.00 paid again,
    a denial at 0.00 excluded, 80.00 paid for a claim the 837 does not hold), unlinked listed."""
    eras = REPO / "tests" / "fixtures" / "x835"
    folder = tmp_path / "paid"
    code, out = run(
        "universe",
        str(REPO / "examples" / "x12" / "demo_837p.x12"),
        str(eras / "paid.835"),
        str(eras / "reversal.835"),
        "-o",
        str(folder),
    )
    assert code == 0, out
    assert "1 remittance(s) with no claim, 1 claim(s) with no payment" in out
    links = json.loads((folder / "links.json").read_text())
    assert [r["claim_id"] for r in links["unlinked_remittances"]] == ["DEMO-P999"]
    assert links["unpaid_claims"] == ["DEMO-P002"]
    frame = rows(folder / "frame.csv")
    assert {r["claim_id"]: r["paid_amount"] for r in frame} == {"DEMO-P001": "248.00"}
    excluded = {r["claim_id"] for r in rows(folder / "excluded.csv")}
    assert excluded == {"DEMO-P002", "DEMO-P003"}
