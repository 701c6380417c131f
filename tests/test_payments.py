"""Paid-claim universes: 837 + 835 linking, RIF extracts, and what does not link.

Paid totals are checked against an independent reading of the files: the CLP04
elements of the 835s, split by hand, and the CLM_PMT_AMT of each distinct
CLM_ID read with the csv module.
"""

from __future__ import annotations

import csv
import shutil
from decimal import Decimal
from pathlib import Path

from claimscrub.inputs import read_bytes, read_path
from claimscrub.inputs.payments import read_paid_claims
from claimscrub.refdata.tables import sample_tables

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "x835"
DEMO_837P = REPO / "examples" / "x12" / "demo_837p.x12"
ERAS = [FIXTURES / "paid.835", FIXTURES / "reversal.835"]


def clp04_cents(paths: list[Path]) -> int:
    total = Decimal(0)
    for path in paths:
        for segment in path.read_text().split("~"):
            elements = segment.strip().split("*")
            if elements[0] == "CLP":
                total += Decimal(elements[4])
    return int(total * 100)


def rif_paid_cents(path: Path) -> int:
    with path.open(newline="") as handle:
        claims = {row["CLM_ID"]: Decimal(row["CLM_PMT_AMT"]) for row in csv.DictReader(handle, delimiter="|")}
    return int(sum(claims.values()) * 100)


def claims_by_id(paid):
    return {item.claim_id: item.data for item in paid.items if item.data is not None}


def test_837_and_835_universe_matches_the_remittance_totals():
    paid = read_paid_claims([*ERAS, DEMO_837P])
    assert paid.paid_cents() == clp04_cents(ERAS) == 32800
    claims = claims_by_id(paid)
    assert claims["DEMO-P001"]["paid_amount"] == "248.00"  # 223.72 - 223.72 (reversal) + 248.00
    assert claims["DEMO-P001"]["paid_date"] == "2024-06-18"
    assert claims["DEMO-P003"]["paid_amount"] == "0.00"  # denied
    assert paid.unpaid_claims == ["DEMO-P002"]
    (unlinked,) = paid.unlinked_remittances
    assert (unlinked.claim_id, unlinked.paid_amount, unlinked.status, unlinked.payer_claim_id, unlinked.paid_date) == (
        "DEMO-P999",
        "80",
        "1",
        "PAYERICN1999",
        "2024-06-04",
    )
    assert unlinked.source.endswith("paid.835:seg 40")
    assert any("CARC/RARC code(s) not checked" in note for note in paid.notes)


def test_lines_link_by_control_number_and_code():
    claims = claims_by_id(read_paid_claims([DEMO_837P, *ERAS]))
    em, injection = claims["DEMO-P001"]["lines"]
    assert (em["code"], em["paid_amount"], injection["paid_amount"]) == ("99213", "80.00", "168.00")
    assert em["adjustments"] == [  # original first (paid 2024-06-04), then the corrected payment
        {"group": "CO", "reason": "45", "amount": "34.78"},
        {"group": "PR", "reason": "2", "amount": "18.04"},
        {"group": "CO", "reason": "45", "amount": "25.00"},
        {"group": "CO", "reason": "253", "amount": "0"},
        {"group": "PR", "reason": "2", "amount": "20.00"},
    ]
    assert em["remark_codes"] == ["N130"]
    assert "allowed_amount" not in em  # the reversal does not state one: unknown, not guessed
    denied = claims["DEMO-P003"]["lines"]
    assert [line["paid_amount"] for line in denied] == ["0.00", "0.00"]
    assert claims["DEMO-P002"]["lines"][0].get("paid_amount") is None


def test_order_of_the_files_does_not_matter():
    one = read_paid_claims([DEMO_837P, *ERAS])
    other = read_paid_claims([ERAS[1], DEMO_837P, ERAS[0]])
    assert claims_by_id(one) == claims_by_id(other)


def test_service_payment_that_matches_no_line_is_noted(tmp_path):
    era = tmp_path / "era.835"
    era.write_text((FIXTURES / "paid.835").read_text().replace("SVC*HC:11045*160*0**2", "SVC*HC:11046*160*0**2"))
    paid = read_paid_claims([DEMO_837P, era])
    assert any("service payment 2 (11046) of claim DEMO-P003 matches no line" in note for note in paid.notes)
    assert claims_by_id(paid)["DEMO-P003"]["lines"][1].get("paid_amount") is None


def test_unknown_carc_is_noted_against_the_table(tmp_path):
    era = tmp_path / "era.835"
    era.write_text((FIXTURES / "paid.835").read_text().replace("CAS*CO*50*160", "CAS*CO*Z99*160"))
    complete = read_paid_claims([DEMO_837P, era], tables=sample_tables(complete=True))
    assert [n for n in complete.notes if "CARC" in n] == [
        f"{era}:seg 31: CARC Z99 is not a CARC code in force on 2024-06-04 (CARC/RARC sample)"
    ]
    partial = read_paid_claims([DEMO_837P, era], tables=sample_tables())
    assert not any("Z99" in note for note in partial.notes)  # a sample lists a few codes: absence proves nothing


def test_ended_carc_is_noted(tmp_path):
    era = tmp_path / "era.835"
    era.write_text((FIXTURES / "paid.835").read_text().replace("CAS*CO*50*160", "CAS*CO*15*160"))
    paid = read_paid_claims([era], tables=sample_tables(complete=True))
    assert any("CARC 15 is not a CARC code in force on 2024-06-04" in note for note in paid.notes)


def test_directories_duplicates_and_unreadable_files(tmp_path):
    folder = tmp_path / "universe"
    folder.mkdir()
    shutil.copy(DEMO_837P, folder / "claims.837")
    shutil.copy(DEMO_837P, folder / "again.x12")
    shutil.copy(ERAS[0], folder / "paid.835")
    (folder / "broken.json").write_text("{not json")
    paid = read_paid_claims([folder])
    assert any("broken.json: not valid JSON" in note and "skipped" in note for note in paid.notes)
    assert any("claim DEMO-P001 was read before" in note for note in paid.notes)
    linked = [i for i in paid.items if i.claim_id == "DEMO-P001" and "paid_amount" in i.data]
    assert len(linked) == 1 and linked[0].source.startswith(str(folder / "again.x12"))
    assert paid.paid_cents() == clp04_cents([ERAS[0]])


def test_bad_remittance_is_noted_and_its_claim_stays_unpaid(tmp_path):
    era = tmp_path / "era.835"
    era.write_text((FIXTURES / "paid.835").read_text().replace("CLP*DEMO-P003*4*460*0*", "CLP*DEMO-P003*4*460*x*"))
    paid = read_paid_claims([DEMO_837P, era])
    assert (
        f"{era}:seg 31: remittance for claim DEMO-P003 not read: segment 31 (CLP): CLP04: amount is not a number"
        in paid.notes
    )
    assert "DEMO-P003" in paid.unpaid_claims


def test_rif_carrier_universe_matches_the_extract(refdata):
    path = refdata / "samples" / "bluebutton" / "rif_synthea_carrier.csv"
    paid = read_paid_claims([path])
    assert paid.paid_cents() == rif_paid_cents(path) == 11216591
    assert len(paid.items) == 37 and all(item.data is not None for item in paid.items)
    assert paid.unpaid_claims == [] and paid.unlinked_remittances == []


def test_rif_outpatient_and_static_carrier_universes(refdata):
    folder = refdata / "samples" / "bluebutton"
    paths = [folder / "rif_synthea_outpatient.csv", folder / "rif_static_sample-a-bcarrier-multiple-lines.txt"]
    paid = read_paid_claims(paths)
    assert paid.paid_cents() == sum(rif_paid_cents(p) for p in paths) == 13205609 + 19999


# ---------------------------------------------------------------- 837: what prior payers paid
COB_2320 = "SBR*S*18*******CI~\nAMT*D*100.00~\nOI***Y***Y~\nNM1*IL*1*PATIENT*ALPHA****MI*1EG4TE5MK72~\nNM1*PR*2*PRIMARY PAYER*****PI*11111~\n"
SVD_2430 = "SVD*11111*{paid}*HC:99213:25**1~\nDTP*573*D8*20240601~\n"


def cob_837(claim_paid: str = "100.00", line_paid: str = "60.00") -> bytes:
    text = DEMO_837P.read_text()
    text = text.replace(
        "HI*ABK:M1711*ABF:I10~\n", "HI*ABK:M1711*ABF:I10~\n" + COB_2320.replace("100.00", claim_paid), 1
    )
    first_line = "SV1*HC:99213:25*125.00*UN*1*11**1:2~\nDTP*472*D8*20240514~\n"
    text = text.replace(first_line, first_line + SVD_2430.format(paid=line_paid), 1)
    return text.encode()


def test_837_paid_amounts_are_the_prior_payers():
    items = {i.claim_id: i for i in read_bytes(cob_837(), "cob.837")}
    p001 = items["DEMO-P001"].data
    assert p001["paid_amount"] == "100.00"  # 2320 AMT*D
    assert p001["lines"][0]["paid_amount"] == "60.00" and "paid_amount" not in p001["lines"][1]  # 2430 SVD02
    assert "paid_amount" not in items["DEMO-P002"].data  # no prior payer: nothing invented


def test_837_unreadable_prior_payer_amount_is_left_out_with_a_note():
    item = next(i for i in read_bytes(cob_837(claim_paid="1O0.00"), "cob.837") if i.claim_id == "DEMO-P001")
    assert "paid_amount" not in item.data
    assert any(
        n.message.endswith("(AMT*D): AMT02: amount is not a number; the paid amount is left out") for n in item.notes
    )


def test_837_cob_sample(refdata):
    path = refdata / "samples" / "x12" / "linuxforhealth" / "837_005010X222A2" / "demo.cob.example4.837"
    (item,) = [i for i in read_path(path) if i.claim_id == "101KEN6055"]
    assert item.data["paid_amount"] == "80.00" and item.data["lines"][0]["paid_amount"] == "80.00"


def test_remittances_replace_what_the_837_said_prior_payers_paid(tmp_path):
    claims_file = tmp_path / "cob.837"
    claims_file.write_bytes(cob_837())
    paid = read_paid_claims([claims_file, ERAS[0]])
    p001 = claims_by_id(paid)["DEMO-P001"]
    assert p001["paid_amount"] == "223.72" and p001["lines"][0]["paid_amount"] == "72.18"
    assert any("claim DEMO-P001 carried its own paid amount" in note for note in paid.notes)


def test_envelope_note_of_a_remittance_file_is_listed_once(tmp_path):
    era = tmp_path / "era.835"
    era.write_text((FIXTURES / "paid.835").read_text().replace("SE*41*0001", "SE*40*0001"))
    paid = read_paid_claims([DEMO_837P, era])
    assert [n for n in paid.notes if "SE01" in n] == [
        f"{era}: segment 43 (SE): SE01 says 40 segments but the transaction set (segments 3-43) has 41"
    ]


def test_blue_button_eobs_are_remittances_by_clm_id(refdata):
    folder = refdata / "samples" / "bluebutton"
    paid = read_paid_claims(
        [
            folder / "rif_static_sample-a-bcarrier-multiple-lines.txt",
            folder / "eobByPatientIdAll.json",
            folder / "eobReadCarrierWithMultipleLines.json",
        ]
    )
    (claim,) = [i.data for i in paid.items]
    # the same carrier EOB is in both files: counted once, the last one read (7 items) links to the RIF lines
    assert (claim["claim_id"], claim["paid_amount"]) == ("9991831999", "199.99")
    assert claim["paid_date"] == "1999-11-06" and claim["allowed_amount"] == "166.23"  # the EOB states neither
    assert [line["paid_amount"] for line in claim["lines"]] == ["37.50"] * 7
    assert any("ExplanationOfBenefit for claim 9991831999 read again" in note for note in paid.notes)
    assert any("#entry[5]: remittance not read: ExplanationOfBenefit: no claim id" in note for note in paid.notes)
    assert sorted(r.claim_id for r in paid.unlinked_remittances) == [
        "1234567890",
        "2188888888",
        "2925555555",
        "333333222222",
        "777777777",
        "9992223422",
    ]
    assert all(r.status == "EOB" for r in paid.unlinked_remittances)
