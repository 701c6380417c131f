"""X12 835 remittance reader: the hand-made fixtures in tests/fixtures/x835/ and hand-broken copies.

The fixtures pay the demo 837P claims (examples/x12/demo_837p.x12): paid.835
pays DEMO-P001 (adjusted lines, a CAS with two triplets, MOA and LQ remarks),
denies DEMO-P003 (CLP02 4) and pays DEMO-P999, which no claim file holds;
reversal.835 reverses DEMO-P001 (CLP02 22) and pays it again. Expected values
were read off the files by hand.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claimscrub.inputs import read_bytes
from claimscrub.inputs.base import InputFormatError
from claimscrub.inputs.x835 import Remittance, is_835, read_835

FIXTURES = Path(__file__).parent / "fixtures" / "x835"
PAID = (FIXTURES / "paid.835").read_text()
REVERSAL = (FIXTURES / "reversal.835").read_text()
DEMO_837P = Path(__file__).resolve().parents[1] / "examples" / "x12" / "demo_837p.x12"


def read(text: str, source: str = "era.835") -> list[Remittance]:
    remits = list(read_835(text.encode(), source))
    for remit in remits:
        assert (remit.data is None) != (remit.error is None), remit
    return remits


def by_id(remits: list[Remittance]) -> dict[str, Remittance]:
    return {r.claim_id: r for r in remits if r.data is not None and r.claim_id is not None}


def test_paid_claim_with_adjusted_lines_and_several_cas_triplets():
    remits = read(PAID)
    assert [r.claim_id for r in remits] == ["DEMO-P001", "DEMO-P003", "DEMO-P999"]
    assert all(r.notes == () for r in remits)
    p001 = by_id(remits)["DEMO-P001"]
    assert p001.source == "era.835:seg 12"
    data = p001.data
    assert (data["status"], data["charge"], data["paid_amount"], data["patient_responsibility"]) == (
        "1",
        "335",
        "223.72",
        "55.92",
    )
    assert data["payer_claim_id"] == "PAYERICN1001"
    assert data["paid_date"] == "2024-06-04"  # BPR16
    assert data["remark_codes"] == ["MA01"]  # MOA03
    assert data["rendering_npi"] == data["payee_npi"] == "1234567893"
    assert data["allowed_amount"] == "279.64"  # no AMT*AU: the lines' AMT*B6, 90.22 + 189.42
    first, second = data["lines"]
    assert first == {
        "code": "99213",
        "modifiers": ["25"],
        "charge": "125",
        "paid_amount": "72.18",
        "units": 1,
        "from_date": "2024-05-14",
        "to_date": "2024-05-14",
        "control_number": "1",
        "allowed_amount": "90.22",
        "adjustments": [
            {"group": "CO", "reason": "45", "amount": "34.78"},
            {"group": "PR", "reason": "2", "amount": "18.04"},
        ],
        "remark_codes": ["N130"],
    }
    # CAS*PR*1*10.00**2*27.88: two triplets in one segment
    assert second["adjustments"] == [
        {"group": "CO", "reason": "45", "amount": "20.58"},
        {"group": "PR", "reason": "1", "amount": "10.00"},
        {"group": "PR", "reason": "2", "amount": "27.88"},
    ]


def test_denied_claim():
    data = by_id(read(PAID))["DEMO-P003"].data
    assert (data["status"], data["paid_amount"], data["charge"]) == ("4", "0", "460")
    assert [line["adjustments"] for line in data["lines"]] == [
        [{"group": "CO", "reason": "50", "amount": "300"}],
        [{"group": "CO", "reason": "50", "amount": "160"}],
    ]
    assert data["lines"][0]["remark_codes"] == ["N386"]
    assert data["lines"][1]["units"] == 2


def test_reversal_then_corrected_payment():
    reversal, corrected = read(REVERSAL)
    assert reversal.claim_id == corrected.claim_id == "DEMO-P001"
    assert (reversal.data["status"], reversal.data["paid_amount"], reversal.data["charge"]) == ("22", "-223.72", "-335")
    assert reversal.data["adjustments"] == [
        {"group": "CO", "reason": "45", "amount": "-55.36"},
        {"group": "PR", "reason": "1", "amount": "-10.00"},
        {"group": "PR", "reason": "2", "amount": "-45.92"},
    ]
    assert [line["paid_amount"] for line in reversal.data["lines"]] == ["-72.18", "-151.54"]
    assert corrected.data["paid_amount"] == "248.00"
    assert corrected.data["remark_codes"] == ["MA01", "N432"]
    assert corrected.data["paid_date"] == "2024-06-18"
    assert {"group": "CO", "reason": "253", "amount": "0"} in corrected.data["lines"][0]["adjustments"]


def test_one_bad_clp_does_not_lose_the_others():
    broken = PAID.replace("CLP*DEMO-P003*4*460*0*0*", "CLP*DEMO-P003*4*460*abc*0*")
    remits = read(broken)
    assert [r.claim_id for r in remits] == ["DEMO-P001", "DEMO-P003", "DEMO-P999"]
    bad = remits[1]
    assert bad.data is None and bad.field == "paid_amount"
    assert bad.error == "segment 31 (CLP): CLP04: amount is not a number"
    assert remits[0].data is not None and remits[2].data is not None


def test_missing_claim_id_and_missing_paid_amount_are_rejected():
    broken = PAID.replace("CLP*DEMO-P999*1*100*80*", "CLP**1*100**")
    bad = read(broken)[2]
    assert bad.claim_id is None and bad.data is None
    assert "CLP01 patient control number is missing" in bad.error
    assert "CLP04 claim payment amount is missing" in bad.error


def test_values_read_past_are_left_out_with_notes():
    broken = (
        PAID.replace("CAS*CO*45*34.78", "CAS*XX*45*34.78")
        .replace("SVC*HC:20610:RT*210*151.54", "SVC*ZZ:20610:RT*210*151.54")
        .replace("CLP*DEMO-P001*1*", "CLP*DEMO-P001*9*")
    )
    p001 = read(broken)[0]
    assert p001.data is not None and p001.data["paid_amount"] == "223.72"
    messages = [n.message for n in p001.notes]
    assert messages == [
        "segment 12 (CLP): CLP02 claim status '9' is not a 5010 code",
        "segment 20 (CAS): CAS01 group code 'XX' is not CO, PR, OA, PI or CR; its adjustments are left out",
        (
            "segment 25 (SVC): SVC01-1: product/service qualifier 'ZZ' is not HC, NU or another 835 product/service "
            "qualifier; service payment 2 of the claim is left out"
        ),
    ]
    assert p001.data["lines"][0]["adjustments"] == [{"group": "PR", "reason": "2", "amount": "18.04"}]
    assert len(p001.data["lines"]) == 1 and p001.data["adjustments"] == []  # the dropped line's CAS go with it
    assert {n.rule_id for n in p001.notes} == {"CS-835-002"}


def test_envelope_problems_are_noted_on_every_remittance_of_the_envelope():
    broken = PAID.replace("SE*41*0001", "SE*40*0001")
    assert broken != PAID
    remits = read(broken)
    assert len(remits) == 3
    for remit in remits:
        assert [n.rule_id for n in remit.notes] == ["CS-835-001"]
        assert remit.notes[0].message.startswith("segment 43 (SE): SE01 says 40 segments")


def test_truncated_file_rejects_the_open_claim_only():
    cut = PAID[: PAID.index("CLP*DEMO-P999") + 40]
    remits = read(cut)
    assert [r.claim_id for r in remits] == ["DEMO-P001", "DEMO-P003", "DEMO-P999"]
    assert remits[2].data is None and "the file ends" in remits[2].error
    assert "incomplete" in remits[0].notes[-1].message


def test_provider_level_adjustments_are_reported_not_spread():
    with_plb = PAID.replace("SE*41*0001", "PLB*1234567893*20241231*L6:INTEREST*-1.25*WO:OFFSET*10.00~\nSE*42*0001")
    remits = read(with_plb)
    plb = remits[-1]
    assert plb.claim_id is None and plb.data is None
    assert plb.error == (
        "segment 43 (PLB): provider-level adjustments of 8.75 belong to no claim; "
        "they are not in any claim's paid amount"
    )
    assert by_id(remits)["DEMO-P001"].data["paid_amount"] == "223.72"


def test_detection_and_refusal_by_the_claim_reader():
    assert is_835(PAID.encode())
    assert not is_835(DEMO_837P.read_bytes())
    with pytest.raises(InputFormatError, match="an X12 835 remittance, not claims"):
        list(read_bytes(PAID.encode(), "era.835"))
    with pytest.raises(InputFormatError, match=r"no 835 transaction set \(ST\*835\) found; not a remittance file"):
        read(DEMO_837P.read_text())


def test_messages_carry_no_patient_ids():
    broken = PAID.replace("CLP*DEMO-P001*1*335*223.72", "CLP*DEMO-P001*1*335*x")
    text = " ".join(r.error or "" for r in read(broken))
    assert "1EG4TE5MK72" not in text and "ALPHA" not in text


# ---------------------------------------------------------------- fuzz
_SEGMENTS = PAID.split("~\n")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(1, len(_SEGMENTS) - 2),
            st.integers(1, 12),
            st.text(alphabet=st.characters(blacklist_characters="*~:^\r\n", blacklist_categories=("Cs",)), max_size=12),
        ),
        max_size=6,
    )
)
def test_fuzzed_elements_every_clp_is_read_or_rejected(edits):
    """Any element of any segment but the ISA replaced: never an exception, one record per CLP."""
    segments = [s.split("*") for s in _SEGMENTS]
    for at, element, value in edits:
        if segments[at][0] in ("", "ISA"):
            continue
        seg = segments[at]
        seg.extend([""] * (element + 1 - len(seg)))
        seg[element] = value
    text = "~\n".join("*".join(s) for s in segments)
    try:
        remits = read(text)
    except InputFormatError:
        return  # the ST*835 itself was edited away: the whole file is refused, and says so
    clps = [n for n, s in enumerate(text.split("~\n"), 1) if s.startswith("CLP*")]
    for n in clps:
        assert sum(1 for r in remits if r.source == f"era.835:seg {n}") == 1


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=40), st.integers(0, len(PAID)))
def test_fuzzed_bytes_never_raise(junk, at):
    data = PAID.encode()[:at] + junk + PAID.encode()[at:]
    try:
        for remit in read_835(data, "era.835"):
            assert (remit.data is None) != (remit.error is None)
    except InputFormatError:
        pass
