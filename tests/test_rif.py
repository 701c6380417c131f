"""CMS RIF claim extracts: the Blue Button samples (when ../shared/refdata is there) and hand-made rows.

Expected values were read off the sample rows by hand.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claimscrub.inputs import read_bytes
from claimscrub.inputs.base import InputFormatError
from claimscrub.inputs.rif import is_rif, read_rif
from claimscrub.model.normalize import claim_from_dict
from claimscrub.model.validate import problems

COLUMNS = (
    "CLM_ID|BENE_ID|NCH_CLM_TYPE_CD|CLM_FROM_DT|CLM_THRU_DT|NCH_WKLY_PROC_DT|CARR_NUM|CLM_PMT_AMT|"
    "NCH_CARR_CLM_ALOWD_AMT|PRNCPAL_DGNS_CD|ICD_DGNS_CD1|CARR_CLM_BLG_NPI_NUM|LINE_NUM|PRF_PHYSN_NPI|"
    "ORG_NPI_NUM|LINE_SRVC_CNT|LINE_PLACE_OF_SRVC_CD|LINE_1ST_EXPNS_DT|LINE_LAST_EXPNS_DT|HCPCS_CD|"
    "HCPCS_1ST_MDFR_CD|HCPCS_2ND_MDFR_CD|LINE_NCH_PMT_AMT|LINE_BENE_PTB_DDCTBL_AMT|LINE_COINSRNC_AMT|"
    "LINE_SBMTD_CHRG_AMT|LINE_ALOWD_CHRG_AMT|LINE_ICD_DGNS_CD|LINE_NDC_CD"
)
ROWS = [
    # claim C1: an office visit and a joint injection, paid 80% of allowed
    (
        "C1|B1|71|14-May-2024|14-May-2024|24-May-2024|00952|149.09|186.36|M1711|M1711|1234567893|1|1234567893|"
        "|1|11|14-May-2024|14-May-2024|99213|25||72.18|0|18.04|125.00|90.22|M1711|"
    ),
    (
        "C1|B1|71|14-May-2024|14-May-2024|24-May-2024|00952|149.09|186.36|M1711|M1711|1234567893|2|1234567893|"
        "|1|11|14-May-2024|14-May-2024|20610|RT||76.91|0|19.23|210.00|96.14|M25561|"
    ),
    # claim C2: one line, deductible applied
    (
        "C2|B2|71|20240502|20240502|20240510|00952|40.00|90.00|I10||1234567893|1|1234567893|"
        "|2|11|20240502|20240502|93000|||40.00|50.00|0|110.00|90.00|I10|00000000000"
    ),
]


def rif(*rows: str) -> bytes:
    return ("\n".join((COLUMNS, *rows)) + "\n").encode()


def read(data: bytes) -> list:
    items = list(read_rif(data, "extract.txt"))
    for item in items:
        assert (item.data is None) != (item.error is None), item
        if item.data is not None and item.data["lines"]:
            assert problems(item.data) == [], problems(item.data)
            claim_from_dict(item.data, item.source)
    return items


def test_carrier_rows_become_professional_claims_with_payments():
    c1, c2 = read(rif(*ROWS))
    assert (c1.claim_id, c1.source, c1.notes) == ("C1", "extract.txt:row 2", ())
    data = c1.data
    assert data["type"] == "professional" and data["payer"] == {"type": "medicare", "id": "00952"}
    assert data["patient"] == {"id": "B1"} and data["billing_provider"] == {"npi": "1234567893"}
    assert (data["paid_amount"], data["allowed_amount"], data["paid_date"]) == ("149.09", "186.36", "2024-05-24")
    assert data["diagnoses"] == [{"code": "M1711"}, {"code": "M25561"}]  # the line's diagnosis is added
    assert data["place_of_service"] == "11"
    first, second = data["lines"]
    assert first == {
        "sequence": 1,
        "code": "99213",
        "modifiers": ["25"],
        "units": 1,
        "charge": "125.00",
        "from_date": "2024-05-14",
        "to_date": "2024-05-14",
        "place_of_service": "11",
        "rendering_npi": "1234567893",
        "diagnosis_pointers": [1],
        "paid_amount": "72.18",
        "allowed_amount": "90.22",
        "adjustments": [{"group": "PR", "reason": "2", "amount": "18.04"}],
    }
    assert second["diagnosis_pointers"] == [2]
    line = c2.data["lines"][0]
    assert (line["units"], line["from_date"]) == (2, "2024-05-02")  # YYYYMMDD dates
    assert line["adjustments"] == [{"group": "PR", "reason": "1", "amount": "50.00"}]
    assert "ndc" not in line  # all zeros: no NDC


def test_unreadable_claim_values_reject_the_claim_only():
    bad = ROWS[2].replace("|40.00|90.00|I10|", "|4O.00|90.00|I10|")
    c1, c2 = read(rif(ROWS[0], ROWS[1], bad))
    assert c1.data is not None
    assert (c2.claim_id, c2.data, c2.field) == ("C2", None, "paid_amount")
    assert c2.error == "row 4 CLM_PMT_AMT: not an amount with at most two decimals"


def test_unreadable_line_is_left_out_with_a_note_and_paid_stays_the_files():
    no_code = ROWS[1].replace("|20610|RT|", "||RT|")
    (c1,) = read(rif(ROWS[0], no_code))
    assert [line["sequence"] for line in c1.data["lines"]] == [1]
    assert c1.data["paid_amount"] == "149.09"
    (note,) = c1.notes
    assert note.rule_id == "CS-RIF-001"
    assert note.message == "row 3 HCPCS_CD: no HCPCS code; the line is left out (its payment stays in the claim's)"


def test_short_row_and_bad_date():
    short = "C3|B3|71"
    bad_date = ROWS[2].replace("C2|B2|71|20240502|", "C2|B2|71|20240231|")
    items = read(rif(short, bad_date))
    assert [(i.claim_id, i.error) for i in items] == [
        ("C3", "row 2: has 3 columns, the header 29; the row is not read"),
        ("C2", "row 3 CLM_FROM_DT: not a date (DD-MON-YYYY, YYYYMMDD or YYYY-MM-DD)"),
    ]
    assert "B3" not in items[0].error and "B2" not in items[1].error


def test_detected_by_content():
    assert is_rif(rif(*ROWS)) and not is_rif(b'{"claim_id": "x"}')
    assert [i.claim_id for i in read_bytes(rif(*ROWS), "no-suffix")] == ["C1", "C2"]
    with pytest.raises(InputFormatError, match="not a RIF"):
        list(read_rif(b"A|B\n1|2\n", "x.csv"))


def test_blue_button_static_carrier_sample(refdata):
    path = refdata / "samples" / "bluebutton" / "rif_static_sample-a-bcarrier-multiple-lines.txt"
    (item,) = read(path.read_bytes())
    data = item.data
    assert (item.claim_id, data["paid_amount"], data["allowed_amount"], data["paid_date"]) == (
        "9991831999",
        "199.99",
        "166.23",
        "1999-11-06",
    )
    assert data["billing_provider"] == {"npi": "1234567890"}
    assert [line["code"] for line in data["lines"]] == ["92999", "92998", "92997", "92996", "92995", "92994", "92993"]
    assert data["lines"][0]["modifiers"] == ["LT"]
    assert "rendering_npi" not in data["lines"][0]  # PRF_PHYSN_NPI 1923124 is not an NPI
    assert data["diagnoses"][-1] == {"code": "A52"}  # LINE_ICD_DGNS_CD


def test_blue_button_outpatient_sample(refdata):
    items = read((refdata / "samples" / "bluebutton" / "rif_synthea_outpatient.csv").read_bytes())
    first = items[0].data
    assert (first["type"], first["bill_type"], first["paid_amount"], first["paid_date"]) == (
        "institutional",
        "0131",
        "85.55",
        "2015-11-27",
    )
    assert first["lines"][0]["revenue_code"] == "0001" and first["lines"][0]["code"] == "99241"
    assert sum(Decimal(i.data["paid_amount"]) for i in items) == Decimal("132056.09")


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 2),
            st.integers(0, 28),
            st.text(alphabet=st.characters(blacklist_characters="|\r\n", blacklist_categories=("Cs",)), max_size=12),
        ),
        max_size=8,
    )
)
def test_fuzzed_cells_every_claim_is_read_or_rejected(edits):
    rows = [row.split("|") for row in ROWS]
    for at, column, value in edits:
        rows[at][column] = value
    items = list(read_rif(rif(*("|".join(r) for r in rows)), "extract.txt"))
    for item in items:
        assert (item.data is None) != (item.error is None)
    ids = {r[0].strip() for r in rows if r[0].strip()}
    assert ids <= {i.claim_id for i in items}
    assert all(i.claim_id is not None or i.error for i in items)


OUTPATIENT = (
    "CLM_ID|BENE_ID|CLM_FROM_DT|CLM_THRU_DT|NCH_WKLY_PROC_DT|FI_NUM|CLM_PMT_AMT|ORG_NPI_NUM|CLM_FAC_TYPE_CD|"
    "CLM_SRVC_CLSFCTN_TYPE_CD|CLM_FREQ_CD|PRNCPAL_DGNS_CD|CLM_LINE_NUM|REV_CNTR|REV_CNTR_DT|HCPCS_CD|"
    "REV_CNTR_UNIT_CNT|REV_CNTR_TOT_CHRG_AMT|REV_CNTR_PMT_AMT_AMT|REV_CNTR_CASH_DDCTBL_AMT"
)


def test_outpatient_rows_become_an_institutional_claim_without_the_total_line():
    claim = "O1|B9|2024-05-02|2024-05-02|2024-05-10|15004|310.20|1234567893|1|3|1|R079"
    data = (
        "\n".join(
            (
                OUTPATIENT,
                f"{claim}|1|0450|2024-05-02|99284|1|850.00|300.20|10.00",
                f"{claim}|2|0300||80053|1|40.00|10.00|0",
                f"{claim}|3|0001||G0001|1|890.00|310.20|0",
            )
        )
        + "\n"
    )
    (item,) = read(data.encode())
    claim_data = item.data
    assert (claim_data["type"], claim_data["bill_type"], claim_data["paid_amount"]) == (
        "institutional",
        "0131",
        "310.20",
    )
    assert [(line["revenue_code"], line["code"], line["from_date"]) for line in claim_data["lines"]] == [
        ("0450", "99284", "2024-05-02"),
        ("0300", "80053", "2024-05-02"),
    ]  # 0001 is the UB-04 total line
    assert claim_data["lines"][0]["adjustments"] == [{"group": "PR", "reason": "1", "amount": "10.00"}]
