"""The 837 reader's parts on their own: segment readers on a claim draft, the HL hierarchy, the assembler.

The end-to-end behaviour is in test_x12.py (hand-broken files) and
test_x12_samples.py (every sample claim); here each reader gets one segment,
split the way the walker splits it, and the test reads what it wrote into the
draft. Codes are real: CPT 99213, revenue code 0450 (emergency room), ICD-10-CM
J06.9 (acute upper respiratory infection) and R50.9 (fever).
"""

from __future__ import annotations

import pytest

from claimscrub.inputs.x12claim import (
    INSTITUTIONAL,
    PROFESSIONAL,
    ClaimDraft,
    LineDraft,
    claim_item,
    mapped,
    read_claim_dates,
    read_clm05,
)
from claimscrub.inputs.x12diagnoses import read_hi
from claimscrub.inputs.x12hierarchy import Hierarchy, provider, provider_npi
from claimscrub.inputs.x12lines import read_service_date, read_sv1, read_sv2
from claimscrub.inputs.x12notes import COMPOSITE, DROPPED, ICD9, NOTE_RULES, make_note
from claimscrub.inputs.x12seg import Bad

COMP = ":"


def seg(text: str) -> list[str]:
    return text.split("*")


def draft(kind: str = PROFESSIONAL) -> ClaimDraft:
    return ClaimDraft(seg_no=10, claim_id="C1", data={"claim_id": "C1", "type": kind, "diagnoses": []})


def with_line(claim: ClaimDraft) -> LineDraft:
    """A line as LX opens it and the walker hands it to SV1/SV2 (it has its service segment)."""
    line = LineDraft(seg_no=20, sequence=1, index=len(claim.lines), data={"sequence": 1}, has_service=True)
    claim.lines.append(line)
    return line


def rule_ids(claim: ClaimDraft) -> list[str]:
    return [note.rule_id for note in claim.notes]


# ---------------------------------------------------------------- CLM05
def test_clm05_professional_place_of_service_and_frequency():
    claim = draft()
    read_clm05(10, "11:B:7", COMP, claim)
    assert claim.data == {**claim.data, "place_of_service": "11", "frequency": "replacement"}
    assert (claim.frequency_code, claim.frequency_seg, claim.notes) == ("7", 10, [])


def test_clm05_unknown_frequency_is_read_as_original_with_a_note():
    claim = draft()
    read_clm05(10, "11:B:9", COMP, claim)
    assert claim.data["frequency"] == "original"
    assert rule_ids(claim) == [DROPPED]
    assert claim.notes[0].message == (
        "segment 10 (CLM): CLM05-3 claim frequency code '9' is not 1, 7 or 8; the claim is read as an original claim"
    )


def test_clm05_institutional_bill_type_and_interim_frequency():
    claim = draft(INSTITUTIONAL)
    read_clm05(10, "13:A:2", COMP, claim)  # 0132: hospital outpatient, interim first claim
    assert (claim.data["bill_type"], claim.data["frequency"], claim.notes) == ("0132", "original", [])


def test_clm05_institutional_without_a_facility_code_has_no_bill_type():
    claim = draft(INSTITUTIONAL)
    read_clm05(10, "X:A:1", COMP, claim)
    assert "bill_type" not in claim.data and rule_ids(claim) == [DROPPED]
    assert claim.notes[0].field == "bill_type"


def test_clm05_under_another_separator_names_it():
    claim = draft()
    read_clm05(10, "11>B>1", COMP, claim)
    assert rule_ids(claim) == [COMPOSITE] and "(it seems to use '>')" in claim.notes[0].message
    assert claim.data["frequency"] == "original" and "place_of_service" not in claim.data


# ---------------------------------------------------------------- 2300 dates
def test_claim_dates_statement_admission_and_discharge_hour():
    claim = draft(INSTITUTIONAL)
    read_claim_dates(11, seg("DTP*434*RD8*20240601-20240603"), claim)
    read_claim_dates(12, seg("DTP*435*D8*20240601"), claim)
    read_claim_dates(13, seg("DTP*096*TM*1130"), claim)
    assert claim.statement == ("2024-06-01", "2024-06-03")
    assert claim.data["admission_date"] == "2024-06-01" and claim.discharged


def test_claim_discharge_date_and_a_bad_range():
    claim = draft(INSTITUTIONAL)
    read_claim_dates(13, seg("DTP*096*D8*20240603"), claim)
    assert claim.data["discharge_date"] == "2024-06-03" and not claim.discharged
    with pytest.raises(Bad, match=r"segment 14 \(DTP\*434\): DTP03: RD8 range ends before it starts"):
        read_claim_dates(14, seg("DTP*434*RD8*20240603-20240601"), claim)


# ---------------------------------------------------------------- HI
def test_hi_reads_principal_and_other_diagnoses_into_slots():
    claim = draft()
    read_hi(12, seg("HI*ABK:J06.9*ABF:R509"), COMP, claim)
    assert claim.data["diagnoses"] == [{"code": "J069"}, {"code": "R509"}]
    assert (claim.slots, claim.first_seg, claim.notes) == ([0, 1], 12, [])


def test_hi_other_before_principal_and_principal_after_others_reject():
    with pytest.raises(Bad, match=r"HI01-1: other diagnosis \(ABF\) before the principal one"):
        read_hi(12, seg("HI*ABF:R509"), COMP, draft())
    claim = draft()
    read_hi(12, seg("HI*ABK:J069"), COMP, claim)
    with pytest.raises(Bad, match=r"segment 13 \(HI\): HI01-1: principal diagnosis \(ABK\) after other diagnoses"):
        read_hi(13, seg("HI*ABK:R509"), COMP, claim)


def test_hi_qualifier_without_code_keeps_its_slot_and_says_so():
    claim = draft()
    read_hi(12, seg("HI*ABK:J069*ABF:"), COMP, claim)
    assert claim.slots == [0, None] and claim.data["diagnoses"] == [{"code": "J069"}]
    assert claim.notes[0].message == "segment 12 (HI): HI02-2: diagnosis qualifier ABF has no code; it is dropped"


def test_hi_icd9_qualifier_waits_for_the_dates_and_admitting_diagnosis_is_not_read():
    claim = draft(INSTITUTIONAL)
    read_hi(12, seg("HI*BK:J069*ABJ:R509"), COMP, claim)
    assert claim.data["diagnoses"] == [{"code": "J069"}]
    assert rule_ids(claim) == [ICD9] and "{when}" in claim.notes[0].message


def test_hi_present_on_admission_indicator():
    claim = draft(INSTITUTIONAL)
    read_hi(12, seg("HI*ABK:J069:::::::Y"), COMP, claim)
    assert claim.data["diagnoses"] == [{"code": "J069", "poa": "Y"}]
    with pytest.raises(Bad, match=r"HI01-9: present-on-admission indicator is not Y, N, U, W or 1"):
        read_hi(13, seg("HI*ABF:R509:::::::X"), COMP, claim)


# ---------------------------------------------------------------- 2400
def test_sv1_reads_code_modifiers_charge_units_pointers_and_place_of_service():
    claim = draft()
    line = with_line(claim)
    read_sv1(21, seg("SV1*HC:99213:25*100.00*UN*1***1:2"), COMP, claim, line)
    assert line.data == {"sequence": 1, "code": "99213", "modifiers": ["25"], "charge": "100.00", "units": 1}
    assert line.pointers == [1, 2] and line.dropped is None
    read_sv1(22, seg("SV1*HC:99213*100*UN*2*22"), COMP, claim, other := with_line(claim))
    assert other.data["place_of_service"] == "22" and other.data["units"] == 2


def test_sv1_bad_place_of_service_keeps_the_line_with_a_note():
    claim = draft()
    line = with_line(claim)
    read_sv1(21, seg("SV1*HC:99213*100*UN*1*2X"), COMP, claim, line)
    assert "place_of_service" not in line.data and line.dropped is None
    assert (claim.notes[0].rule_id, claim.notes[0].line, claim.notes[0].field) == (
        DROPPED,
        1,
        "lines[0].place_of_service",
    )


def test_sv1_unreadable_units_drop_the_line_and_sv1_in_an_institutional_claim_rejects():
    claim = draft()
    line = with_line(claim)
    read_sv1(21, seg("SV1*HC:99213*100*UN*0"), COMP, claim, line)
    assert line.dropped == "segment 21 (SV1): SV104: units must be above 0 and at most 99999"
    assert claim.notes[0].message.endswith("service line 1 is left out, so it was not checked")
    institutional = draft(INSTITUTIONAL)
    with pytest.raises(Bad, match="professional service line in an institutional claim"):
        read_sv1(21, seg("SV1*HC:99213*100*UN*1"), COMP, institutional, with_line(institutional))


def test_sv2_reads_revenue_code_and_drops_a_revenue_only_line_with_a_warning():
    claim = draft(INSTITUTIONAL)
    line = with_line(claim)
    read_sv2(21, seg("SV2*0450*HC:99283*500*UN*1"), COMP, claim, line)
    assert line.data == {"sequence": 1, "revenue_code": "0450", "code": "99283", "charge": "500", "units": 1}
    revenue_only = with_line(claim)
    read_sv2(22, seg("SV2*0450**500*UN*1"), COMP, claim, revenue_only)
    assert revenue_only.dropped is not None and line.dropped is None
    assert (claim.notes[0].severity, claim.notes[0].field) == ("warning", "lines[1].code")


def test_sv2_bad_revenue_code_drops_the_line_and_sv2_in_a_professional_claim_rejects():
    claim = draft(INSTITUTIONAL)
    line = with_line(claim)
    read_sv2(21, seg("SV2*45*HC:99283*500*UN*1"), COMP, claim, line)
    assert line.dropped == "segment 21 (SV2): SV201 revenue code must be 4 digits"
    professional = draft()
    with pytest.raises(Bad, match="institutional service line in a professional claim"):
        read_sv2(21, seg("SV2*0450*HC:99283*500*UN*1"), COMP, professional, with_line(professional))


def test_service_date_names_the_line():
    line = with_line(draft())
    read_service_date(23, seg("DTP*472*D8*20240601"), line)
    assert (line.data["from_date"], line.data["to_date"], line.has_date) == ("2024-06-01", "2024-06-01", True)
    with pytest.raises(Bad) as bad:
        read_service_date(24, seg("DTP*472*D8*20240631"), line)
    assert (bad.value.field, bad.value.message) == (
        "lines[0].from_date",
        "segment 24 (DTP*472): DTP03: not a calendar date",
    )


# ---------------------------------------------------------------- HL hierarchy
def test_hl_levels_reset_the_loops_below_them():
    parties = Hierarchy()
    assert parties.enter("20") == "2000A"
    parties.nm1("2000A", 3, seg("NM1*85*2*CLINIC*****XX*1234567893"))
    assert parties.enter("22") == "2000B"
    parties.nm1("2000B", 5, seg("NM1*IL*1*DOE*JANE****MI*M1"))
    parties.sbr(seg("SBR*P*18*******MB"))
    assert parties.enter("23") == "2000C" and parties.patient is not None
    assert parties.enter("21") is None  # not a level the 837 has: the loops stay as they were
    assert parties.billing.data == {"npi": "1234567893", "name": "CLINIC"}
    assert parties.subscriber.data == {"id": "M1"} and parties.payer == {"type": "medicare"}
    assert parties.enter("22") == "2000B" and parties.patient is None and parties.payer == {"type": "other"}
    assert parties.billing.data["npi"] == "1234567893"  # a new subscriber keeps the billing provider


def test_problems_and_notes_go_to_the_party_of_their_loop():
    parties = Hierarchy()
    parties.enter("20")
    parties.enter("22")
    assert parties.party("2000A") is parties.billing and parties.party("2000B") is parties.subscriber
    assert parties.party("2000C") is parties.subscriber  # no patient loop: the subscriber is the patient
    parties.enter("23")
    assert parties.party("2000C") is parties.patient


def test_demographics_of_the_patient_reach_the_claim():
    parties = Hierarchy()
    parties.enter("20")
    parties.nm1("2000A", 3, seg("NM1*85*2*CLINIC*****XX*1234567893"))
    parties.enter("22")
    parties.nm1("2000B", 5, seg("NM1*IL*1*DOE*JANE****MI*M1"))
    parties.dmg(6, seg("DMG*D8*19800230*F"))  # the subscriber's: not the patient's when there is a 2000C
    parties.enter("23")
    parties.nm1("2000C", 8, seg("NM1*QC*1*DOE*JIM"))
    parties.dmg(9, seg("DMG*D8*20100115*Q"))
    data: dict = {}
    problems: list = []
    parties.start_claim(10, data, problems)
    assert data["patient"] == {"id": "M1", "birth_date": "2010-01-15"}
    assert data["billing_provider"] == {"npi": "1234567893", "name": "CLINIC"} and problems == []
    assert parties.problems() == []  # the subscriber's unreadable birth date does not concern this patient
    assert [note.message for note in parties.notes()] == [
        "segment 9 (DMG): DMG03 sex code is not M, F or U; it is dropped from the claim"
    ]


def test_a_claim_without_billing_provider_or_patient_id_says_so():
    data: dict = {}
    problems: list = []
    Hierarchy().start_claim(10, data, problems)
    assert [field for field, _ in problems] == ["billing_provider.npi", "patient.id"]
    assert data["patient"] == {"id": ""}


def test_provider_npi_and_name():
    assert provider_npi(seg("NM1*82*1*DOE*JANE****XX*1234567893"), 4, "rendering_provider.npi") == "1234567893"
    assert provider_npi(seg("NM1*82*1*DOE*JANE"), 4, "rendering_provider.npi") is None
    with pytest.raises(Bad, match=r"segment 4 \(NM1\*82\): NM109 NPI must be 10 digits"):
        provider_npi(seg("NM1*82*1*DOE*JANE****XX*12345"), 4, "rendering_provider.npi")
    assert provider("1234567893", seg("NM1*82*1*DOE*JANE")) == {"npi": "1234567893", "name": "DOE, JANE"}


# ---------------------------------------------------------------- assembly
def test_claim_item_maps_pointers_after_a_dropped_diagnosis():
    claim = draft()
    claim.data["frequency"] = "original"
    read_hi(12, seg("HI*ABK:J069*ABF:123*ABF:R509"), COMP, claim)  # 123 is no ICD-10-CM code: dropped
    line = with_line(claim)
    read_sv1(21, seg("SV1*HC:99213*100*UN*1***1:2:3"), COMP, claim, line)
    read_service_date(22, seg("DTP*472*D8*20240601"), line)
    item = claim_item(claim, "t.x12")
    assert item.error is None and item.data is not None
    assert item.data["lines"][0]["diagnosis_pointers"] == [1, 2]
    assert item.source == "t.x12:seg 10" and [n.rule_id for n in item.notes] == [DROPPED]


def test_claim_item_rejection_lists_five_problems_and_counts_the_rest():
    claim = draft()
    claim.problems = [(f"f{i}", f"problem {i}") for i in range(7)]
    item = claim_item(claim, "t.x12")
    assert item.data is None and item.field == "f0"
    assert item.error == "problem 0; problem 1; problem 2; problem 3; problem 4; and 2 more"


def test_claim_item_rejects_a_replacement_without_the_claim_it_replaces():
    claim = draft()
    read_clm05(10, "11:B:7", COMP, claim)
    line = with_line(claim)
    read_sv1(21, seg("SV1*HC:99213*100*UN*1"), COMP, claim, line)
    read_service_date(22, seg("DTP*472*D8*20240601"), line)
    item = claim_item(claim, "t.x12")
    assert item.field == "replaces_claim_id" and item.error is not None and "needs REF*F8" in item.error
    claim.problems.clear()
    claim.data["replaces_claim_id"] = "PAYER123"
    assert claim_item(claim, "t.x12").data is not None


def test_mapped_pointers():
    assert mapped([1, 2, 3, 5], [0, None, 1]) == [1, 2, 5]  # 2 pointed at the dropped one; 5 is past every slot


def test_every_rule_has_its_catalogue_entry():
    note = make_note(COMPOSITE, "m", line=2, field="lines[1].code")
    assert (note.category, note.title, note.citation) == (
        NOTE_RULES[COMPOSITE][0],
        "Composite unreadable with the ISA16 component separator",
        NOTE_RULES[COMPOSITE][3],
    )
    assert make_note(DROPPED, "m", fix="do this").fix == "do this"
