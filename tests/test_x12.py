"""X12 837 5010 reader: real sample files, the demo files, and hand-broken 837Ps.

Expected values were read off the files by hand. The sample files live in the
shared reference data (never copied here): tests that need them skip, saying
why, when it is absent. Where a sample is fine except for ICD-9 codes (or a
component separator its ISA16 does not declare), the test repairs exactly that
in memory and checks every other field against the file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from claimscrub.inputs.base import InputFormatError, InputItem
from claimscrub.inputs.x12 import is_x12, read_delimiters, read_x12
from claimscrub.model.normalize import claim_from_dict
from claimscrub.model.validate import problems

REPO = Path(__file__).resolve().parents[1]
DEMO_P = REPO / "examples" / "x12" / "demo_837p.x12"
DEMO_I = REPO / "examples" / "x12" / "demo_837i.x12"
REFUSED_4010 = "X12 004010 (4010) is not supported; convert to 005010"


# ---------------------------------------------------------------- helpers
def read(data: bytes | str, source: str = "test.x12") -> list[InputItem]:
    if isinstance(data, str):
        data = data.encode()
    items = list(read_x12(data, source))
    for item in items:
        assert (item.data is None) != (item.error is None), item
        if item.data is not None:
            assert problems(item.data) == [], (item.claim_id, problems(item.data))
            claim_from_dict(item.data, item.source)
    return items


def good(items: list[InputItem]) -> dict[str, dict]:
    return {item.claim_id: item.data for item in items if item.data is not None}


def errors(items: list[InputItem]) -> list[InputItem]:
    return [item for item in items if item.error is not None]


def notes(item: InputItem) -> list[tuple[str, str, str]]:
    """(rule id, severity, message) of each conformance note the reader read past."""
    return [(n.rule_id, n.severity, n.message) for n in item.notes]


def by_id(items: list[InputItem]) -> dict[str, InputItem]:
    return {item.claim_id: item for item in items}


def claim_items(items: list[InputItem]) -> list[InputItem]:
    """Items that stand for a CLM (read or not), not for an envelope problem."""
    return [item for item in items if item.claim_id is not None]


def sample(folder: Path, relative: str) -> bytes:
    path = folder / relative
    if not path.is_file():
        pytest.skip(f"X12 sample {relative} not found under {folder}")
    return path.read_bytes()


# ---------------------------------------------------------------- a small hand-written 837P
# Three claims, each under its own subscriber HL; PHI-looking values are
# fakes that the error messages must never repeat.
PHI = ("TESTPATIENT", "SECRETNAME", "MEMBERSECRET1", "MEMBERSECRET2", "MEMBERSECRET3", "19800102", "19751231")

HEADER = [
    "ISA*00*          *00*          *ZZ*TESTSUBMITTER  *ZZ*TESTRECEIVER   *240601*1200*^*00501*000000777*0*T*:",
    "GS*HC*TESTSUBMITTER*TESTRECEIVER*20240601*1200*77*X*005010X222A1",
]
TRANSACTION = [
    "BHT*0019*00*T0001*20240601*1200*CH",
    "NM1*41*2*TEST BILLING*****46*SUB01",
    "PER*IC*DESK*TE*5555550100",
    "NM1*40*2*TEST PAYER*****46*RCV01",
    "HL*1**20*1",
    "PRV*BI*PXC*207Q00000X",
    "NM1*85*2*TEST CLINIC*****XX*1234567893",
    "N3*1 TEST ST",
    "N4*TESTVILLE*IL*627010000",
    "REF*EI*990000009",
    # claim T-1
    "HL*2*1*22*0",
    "SBR*P*18*******MB",
    "NM1*IL*1*TESTPATIENT*SECRETNAME****MI*MEMBERSECRET1",
    "DMG*D8*19800102*F",
    "NM1*PR*2*TEST MEDICARE*****PI*00952",
    "CLM*T-1*165.00***11:B:1*Y*A*Y*Y",
    "HI*ABK:M1711*ABF:I10",
    "LX*1",
    "SV1*HC:99213:25*125.00*UN*1*11**1:2",
    "DTP*472*D8*20240514",
    "LX*2",
    "SV1*HC:20610*40.00*UN*1*11**1",
    "DTP*472*D8*20240514",
    # claim T-2
    "HL*3*1*22*0",
    "SBR*P*18*******CI",
    "NM1*IL*1*TESTPATIENT*SECRETNAME****MI*MEMBERSECRET2",
    "DMG*D8*19751231*M",
    "NM1*PR*2*TEST COMMERCIAL*****PI*60054",
    "CLM*T-2*95.00***11:B:1*Y*A*Y*Y",
    "HI*ABK:E119",
    "LX*1",
    "SV1*HC:80053*55.00*UN*1*11**1",
    "DTP*472*D8*20240510",
    "LX*2",
    "SV1*HC:80048*40.00*UN*1*11**1",
    "DTP*472*D8*20240510",
    # claim T-3
    "HL*4*1*22*0",
    "SBR*P*18*******MC",
    "NM1*IL*1*TESTPATIENT*SECRETNAME****MI*MEMBERSECRET3",
    "DMG*D8*19800102*U",
    "NM1*PR*2*TEST MEDICAID*****PI*77001",
    "CLM*T-3*460.00***11:B:1*Y*A*Y*Y",
    "HI*ABK:L97412*ABF:E11621",
    "LX*1",
    "SV1*HC:11042*300.00*UN*1*11**1:2",
    "DTP*472*D8*20240502",
    "LX*2",
    "SV1*HC:11045*160.00*UN*2*11**1:2",
    "DTP*472*D8*20240502",
]


def build(body: list[str] = TRANSACTION, *, se_count: int | None = None, header: list[str] = HEADER) -> str:
    """One interchange with one transaction set; SE01 is counted unless given."""
    count = len(body) + 2 if se_count is None else se_count
    segments = [*header, "ST*837*0001*005010X222A1", *body, f"SE*{count}*0001", "GE*1*77", "IEA*1*000000777"]
    return "~\n".join(segments) + "~\n"


def where(segment: str, body: list[str] = TRANSACTION) -> int:
    """File segment number of a body segment (ISA = 1, GS = 2, ST = 3)."""
    return body.index(segment) + 4


def without_phi(items: list[InputItem]) -> None:
    for item in errors(items):
        for secret in PHI:
            assert secret not in item.error, (secret, item.error)


# ---------------------------------------------------------------- detection and delimiters
def test_is_x12_by_content():
    assert is_x12(b"ISA*00*")
    assert is_x12(b"\xef\xbb\xbf \r\n ISA|00|")
    assert not is_x12(b'{"claim_id": "1"}')
    assert not is_x12(b"ISAAC NEWTON")
    assert is_x12(DEMO_P.read_bytes()[:200])


def test_delimiters_come_from_the_isa():
    delims = read_delimiters(HEADER[0] + "~")
    assert (delims.element, delims.repetition, delims.component, delims.segment) == ("*", "^", ":", "~")
    # ISA11 "U" (4010 style) is not a repetition separator
    assert read_delimiters(HEADER[0].replace("*^*", "*U*") + "~").repetition is None


def test_other_delimiters_and_crlf_read_the_same_claims():
    text = build()
    expected = good(read(text))
    assert len(expected) == 3
    # element |, component >, repetition ^ kept, newline as segment terminator
    other = text.replace("*", "|").replace(":", ">").replace("~\n", "\n")
    assert good(read(other)) == expected
    assert good(read(text.replace("~\n", "~\r\n"))) == expected
    assert good(read(text.replace("~\n", "~"))) == expected
    assert good(read(b"\xef\xbb\xbf" + text.encode())) == expected


# ---------------------------------------------------------------- the hand-written 837P
def test_small_837p_reads_every_field():
    items = read(build())
    assert errors(items) == []
    claims = good(items)
    assert list(claims) == ["T-1", "T-2", "T-3"]
    t1 = claims["T-1"]
    assert t1["type"] == "professional"
    assert t1["claim_date"] == "2024-06-01"
    assert t1["frequency"] == "original"
    assert t1["payer"] == {"type": "medicare", "name": "TEST MEDICARE", "id": "00952"}
    assert t1["billing_provider"] == {"npi": "1234567893", "name": "TEST CLINIC", "taxonomy": "207Q00000X"}
    assert t1["patient"] == {"id": "MEMBERSECRET1", "sex": "F", "birth_date": "1980-01-02"}
    assert t1["place_of_service"] == "11"
    assert t1["diagnoses"] == [{"code": "M1711"}, {"code": "I10"}]
    assert t1["lines"][0] == {
        "sequence": 1, "code": "99213", "modifiers": ["25"], "charge": "125.00", "units": 1,
        "place_of_service": "11", "diagnosis_pointers": [1, 2], "from_date": "2024-05-14", "to_date": "2024-05-14",
    }  # fmt: skip
    assert claims["T-2"]["payer"]["type"] == "commercial"
    assert claims["T-3"]["payer"]["type"] == "medicaid"
    assert [line["units"] for line in claims["T-3"]["lines"]] == [1, 2]
    assert items[0].source == f"test.x12:seg {where('CLM*T-1*165.00***11:B:1*Y*A*Y*Y')}"


def test_money_stays_exact_and_two_decimals_at_most():
    body = [s.replace("SV1*HC:20610*40.00*", "SV1*HC:20610*.5*") for s in TRANSACTION]
    assert good(read(build(body)))["T-1"]["lines"][1]["charge"] == "0.50"
    body = [s.replace("SV1*HC:20610*40.00*", "SV1*HC:20610*40.125*") for s in TRANSACTION]
    items = read(build(body))
    assert errors(items) == []
    # the line cannot stand without its charge: left out, the claim is read with its other line
    t1 = by_id(items)["T-1"]
    assert [line["code"] for line in t1.data["lines"]] == ["99213"]
    n = where("SV1*HC:20610*40.00*UN*1*11**1")
    assert notes(t1) == [
        ("CS-X12-002", "error", (f"segment {n} (SV1): SV102: amount has more than two decimals; "
         "service line 2 is left out, so it was not checked")),
    ]  # fmt: skip
    assert t1.notes[0].field == "lines[1].charge"


# ---------------------------------------------------------------- malformed files
def test_truncated_mid_segment_keeps_the_claims_before_it():
    text = build()
    cut = text.index("SV1*HC:11045") + len("SV1*HC:110")
    items = read(text[:cut])
    assert set(good(items)) == {"T-1", "T-2"}
    last = len(HEADER) + 1 + TRANSACTION.index("SV1*HC:11045*160.00*UN*2*11**1:2") + 1
    t3 = next(item for item in items if item.claim_id == "T-3")
    assert t3.data is None
    assert f"segment {last}: the file ends in the middle of this segment" in t3.error
    assert "not read" in t3.error
    # the claims before it are read, and say their interchange is incomplete; no item without a claim
    assert [item for item in items if item.claim_id is None] == []
    for cid in ("T-1", "T-2"):
        assert notes(by_id(items)[cid]) == [
            ("CS-X12-001", "error", (f"segment {last}: the file ends in the middle of this segment (no terminator); "
             "the interchange that holds this claim is incomplete")),
        ]  # fmt: skip
    without_phi(items)


def test_truncated_after_a_whole_segment_names_the_missing_trailer():
    text = build()
    cut = text.index("LX*2~\nSV1*HC:11045")
    items = read(text[:cut])
    assert set(good(items)) == {"T-1", "T-2"}
    (t3,) = [item for item in items if item.claim_id == "T-3"]
    assert "without closing SE/GE/IEA" in t3.error
    assert "the file ends without closing SE/GE/IEA (truncated file?)" in notes(by_id(items)["T-1"])[0][2]


def test_wrong_component_separator_in_one_claim():
    body = [s.replace("HI*ABK:E119", "HI*ABK>E119").replace("SV1*HC:80053", "SV1*HC>80053") for s in TRANSACTION]
    items = read(build(body))
    assert errors(items) == []
    t2 = by_id(items)["T-2"]
    # unambiguous ('>' only, qualifier first): read with '>', and each composite reported
    assert t2.data["diagnoses"] == [{"code": "E119"}]
    assert [(line["sequence"], line["code"]) for line in t2.data["lines"]] == [(1, "80053"), (2, "80048")]
    assert notes(t2) == [
        ("CS-X12-004", "error", (f"segment {where('HI*ABK>E119', body)} (HI): HI01 uses '>' where ISA16 declares "
         "':'; read with '>', but a payer's translator may reject the claim")),
        ("CS-X12-004", "error", (f"segment {where('SV1*HC>80053*55.00*UN*1*11**1', body)} (SV1): SV101: composite "
         "uses '>' where ISA16 declares ':'; read with '>' (HC qualifier first), but a payer's translator may "
         "reject it")),
    ]  # fmt: skip
    assert notes(by_id(items)["T-1"]) == notes(by_id(items)["T-3"]) == []


def test_wrong_element_separator_in_one_segment():
    body = [s.replace("SV1*HC:80048*40.00*UN*1*11**1", "SV1|HC:80048|40.00|UN|1|11||1") for s in TRANSACTION]
    items = read(build(body))
    assert set(good(items)) == {"T-1", "T-3"}
    (t2,) = errors(items)
    n = where("SV1|HC:80048|40.00|UN|1|11||1", body)
    assert t2.claim_id == "T-2"
    assert f"segment {n}: cannot read the segment id (looks like SV1); is the element separator '*'" in t2.error


def test_wrong_element_separator_in_a_clm_keeps_its_claim_id():
    body = [s.replace("CLM*T-2*95.00***11:B:1*Y*A*Y*Y", "CLM|T-2|95.00|||11:B:1|Y|A|Y|Y") for s in TRANSACTION]
    items = read(build(body))
    assert set(good(items)) == {"T-1", "T-3"}
    (t2,) = errors(items)
    assert (t2.claim_id, t2.source) == ("T-2", f"test.x12:seg {where('CLM|T-2|95.00|||11:B:1|Y|A|Y|Y', body)}")
    assert "cannot read the segment id (looks like CLM)" in t2.error


def test_wrong_segment_terminator_refuses_the_file():
    text = build().replace("~\n", "\n").replace("*0*T*:\n", "*0*T*:~", 1)
    with pytest.raises(InputFormatError, match="^test.x12: no 837 transaction set .* segment terminator '~'"):
        read(text)


def test_missing_clm_in_its_own_hl_is_reported_and_the_others_read():
    body = [s for s in TRANSACTION if not s.startswith("CLM*T-2")]
    items = read(build(body))
    assert set(good(items)) == {"T-1", "T-3"}
    (orphan,) = [item for item in items if item.claim_id is None]
    assert (
        orphan.error
        == f"segment {where('HI*ABK:E119', body)} (HI): diagnoses outside a claim; the CLM segment is missing"
    )
    assert len(claim_items(items)) == 2


def test_missing_clm_under_the_same_subscriber_is_caught_by_the_claim_segments_after_lines():
    # T-2's HL and subscriber removed: its HI and lines follow T-1's lines directly
    body = TRANSACTION[: TRANSACTION.index("HL*3*1*22*0")] + TRANSACTION[TRANSACTION.index("HI*ABK:E119") :]
    items = read(build(body))
    assert set(good(items)) == {"T-3"}
    (t1,) = errors(items)
    assert t1.claim_id == "T-1"
    assert t1.error.startswith(
        f"segment {where('HI*ABK:E119', body)} (HI): claim-level HI after the service lines; is the CLM of a new claim missing?"
    )


def test_bad_se_count_is_an_envelope_error_and_claims_still_read():
    items = read(build(se_count=12))
    assert set(good(items)) == {"T-1", "T-2", "T-3"}
    assert errors(items) == []  # a conformance problem, carried by each claim of the transaction set
    n = len(TRANSACTION) + 4
    for item in items:
        assert notes(item) == [
            ("CS-X12-001", "error", (f"segment {n} (SE): SE01 says 12 segments but the transaction set "
             f"(segments 3-{n}) has {n - 2}")),
        ]  # fmt: skip


def test_ge_and_iea_counts_and_control_numbers():
    text = build().replace("GE*1*77", "GE*2*78").replace("IEA*1*000000777", "IEA*3*000000777")
    items = read(text)
    assert errors(items) == [] and len(good(items)) == 3
    n = len(TRANSACTION) + 5
    for item in items:
        assert [message for _, _, message in notes(item)] == [
            f"segment {n} (GE): GE01 says 2 transaction sets, the group (segments 2-{n}) has 1",
            f"segment {n} (GE): GE02 control number does not match GS06",
            f"segment {n + 1} (IEA): IEA01 says 3 functional groups, the interchange (segments 1-{n + 1}) has 1",
        ]


def test_claim_without_service_lines():
    start = TRANSACTION.index("HI*ABK:E119") + 1
    body = TRANSACTION[:start] + TRANSACTION[TRANSACTION.index("HL*4*1*22*0") :]
    items = read(build(body))
    (t2,) = errors(items)
    assert t2.claim_id == "T-2" and t2.field == "lines"
    assert (
        t2.error
        == f"segment {where('CLM*T-2*95.00***11:B:1*Y*A*Y*Y', body)} (CLM): claim has no service lines (2400 LX with SV1/SV2)"
    )


def test_replacement_needs_ref_f8_and_void_reads_it():
    body = [s.replace("CLM*T-1*165.00***11:B:1", "CLM*T-1*165.00***11:B:7") for s in TRANSACTION]
    (t1,) = errors(read(build(body)))
    assert t1.field == "replaces_claim_id" and "CLM05-3 frequency 7 (replacement) needs REF*F8" in t1.error
    at = body.index("CLM*T-1*165.00***11:B:7*Y*A*Y*Y") + 1
    body = body[:at] + ["REF*F8*ICN0001"] + body[at:]
    body = [s.replace("11:B:7", "11:B:8") for s in body]
    t1 = good(read(build(body)))["T-1"]
    assert (t1["frequency"], t1["replaces_claim_id"]) == ("void", "ICN0001")


def test_demographic_errors_name_the_segment_never_the_patient():
    body = [s.replace("DMG*D8*19800102*F", "DMG*D8*19800231*X") for s in TRANSACTION]
    items = read(build(body))
    (t1,) = errors(items)
    n = where("DMG*D8*19800231*X", body)
    # an unreadable date is fatal; a bad sex code alone would only be dropped
    assert t1.error == f"segment {n} (DMG): DMG02 birth date: not a calendar date"
    assert "19800231" not in t1.error
    without_phi(items)
    body = [s.replace("DMG*D8*19800102*F", "DMG*D8*19800102*X") for s in TRANSACTION]
    t1 = by_id(read(build(body)))["T-1"]
    assert "sex" not in t1.data["patient"]
    assert notes(t1) == [
        ("CS-X12-002", "error", f"segment {n} (DMG): DMG03 sex code is not M, F or U; it is dropped from the claim")
    ]


def test_unknown_place_of_service_unit_basis_and_qualifiers():
    body = [
        s.replace("SV1*HC:20610*40.00*UN", "SV1*HC:20610*40.00*XX").replace("SV1*HC:80053", "SV1*ZZ:80053")
        for s in TRANSACTION
    ]
    items = read(build(body))
    claims = by_id(items)
    assert errors(items) == []
    assert "SV103 unit basis 'XX' is not UN or MJ; service line 2 is left out" in notes(claims["T-1"])[0][2]
    assert [line["code"] for line in claims["T-1"].data["lines"]] == ["99213"]
    assert "SV101-1: product/service qualifier 'ZZ' is not HC (CPT/HCPCS)" in notes(claims["T-2"])[0][2]
    assert [line["code"] for line in claims["T-2"].data["lines"]] == ["80048"]
    assert notes(claims["T-3"]) == []


def test_4010_is_refused():
    header = [HEADER[0], HEADER[1].replace("005010X222A1", "004010X098A1")]
    with pytest.raises(InputFormatError, match=r"X12 004010 \(4010\) is not supported; convert to 005010"):
        read(build(header=header))
    with pytest.raises(InputFormatError, match=r"X12 004010 \(4010\) is not supported"):
        read(build(header=[HEADER[0].replace("*00501*", "*00401*"), HEADER[1]]))


def test_not_x12_is_refused():
    with pytest.raises(InputFormatError, match="does not start with an ISA"):
        read(b'{"claim_id": "1"}')
    with pytest.raises(InputFormatError, match="fewer than 16 elements"):
        read(b"ISA*00*")


def test_other_implementation_is_not_read_but_accounted_for():
    header = [HEADER[0], HEADER[1].replace("005010X222A1", "005010X224A2")]
    text = build(header=header).replace("ST*837*0001*005010X222A1", "ST*837*0001*005010X224A2")
    items = read(text)
    assert [item.claim_id for item in claim_items(items)] == ["T-1", "T-2", "T-3"]
    assert all(item.data is None for item in items)
    assert "'005010X224A2' is not 005010X222 (professional) or 005010X223 (institutional)" in items[0].error


def test_icd9_qualifier_after_2015_is_an_error_and_a_code_in_icd10_form_is_kept_as_given():
    body = [s.replace("HI*ABK:M1711*ABF:I10", "HI*BK:V7231*BF:4019*ABF:I10") for s in TRANSACTION]
    t1 = by_id(read(build(body)))["T-1"]
    n = where("HI*BK:V7231*BF:4019*ABF:I10", body)
    # V7231 fits the claim schema's ICD pattern and stays; 4019 cannot, so it goes and pointer 2 with it
    assert t1.data["diagnoses"] == [{"code": "V7231"}, {"code": "I10"}]
    assert t1.data["lines"][0]["diagnosis_pointers"] == [1]
    assert [(note.rule_id, note.severity, note.category, note.message) for note in t1.notes] == [
        ("CS-X12-003", "error", "code_validity", (f"segment {n} (HI): HI01-1: ICD-9-CM qualifier BK on a claim with "
         "dates of service after 2015-10-01: ICD-10-CM is required; its code is kept as given")),
        ("CS-X12-003", "error", "code_validity", (f"segment {n} (HI): HI02-1: ICD-9-CM qualifier BF on a claim with "
         "dates of service after 2015-10-01: ICD-10-CM is required; its code cannot be an ICD-10-CM code, so it is "
         "dropped")),
    ]  # fmt: skip
    assert t1.notes[0].field == "diagnoses[0].code"


def test_isa_not_106_characters_is_read_and_reported():
    short = HEADER[0].replace("TESTSUBMITTER  ", "TESTSUBMITTER")
    items = read(build(header=[short, HEADER[1]]))
    assert errors(items) == [] and len(items) == 3
    for item in items:
        assert notes(item) == [
            ("CS-X12-001", "error", ("segment 1 (ISA): is 104 characters long with its terminator, not 106; ISA "
             "elements have fixed widths (pad with spaces), and a reader that takes the separators from fixed "
             "positions would misread this file")),
        ]  # fmt: skip


def test_taxonomy_and_rendering_npi_dropped_not_the_claim():
    body = [s.replace("PRV*BI*PXC*207Q00000X", "PRV*BI*PXC*207Q") for s in TRANSACTION]
    at = body.index("SV1*HC:80053*55.00*UN*1*11**1") + 2
    body = body[:at] + ["NM1*82*1*TESTDOC*SECRETNAME****XX*303304"] + body[at:]
    items = read(build(body))
    assert errors(items) == []
    for item in items:  # the billing provider's taxonomy: on every claim under it
        assert "taxonomy" not in item.data["billing_provider"]
        assert notes(item)[0] == ("CS-X12-002", "error", (f"segment {where('PRV*BI*PXC*207Q', body)} (PRV): PRV03 "
                                  "taxonomy code must be 9 letters or digits then X (NUCC Health Care Provider "
                                  "Taxonomy); it is dropped from the claim"))  # fmt: skip
    t2 = by_id(items)["T-2"]
    assert "rendering_npi" not in t2.data["lines"][0]
    (_, note) = t2.notes
    assert (note.line, note.field) == (1, "lines[0].rendering_npi")
    assert note.message == (
        f"segment {at + 4} (NM1*82): NM109 NPI must be 10 digits; the rendering provider is "
        "dropped from the service line 1"
    )
    without_phi(items)


# ---------------------------------------------------------------- demo files
def test_demo_837p():
    items = read(DEMO_P.read_bytes(), "demo_837p.x12")
    assert errors(items) == []
    claims = good(items)
    assert list(claims) == ["DEMO-P001", "DEMO-P002", "DEMO-P003"]
    codes = sorted(line["code"] for claim in claims.values() for line in claim["lines"])
    assert codes == ["11042", "11045", "20610", "80048", "80053", "99213", "99214"]
    p2 = claims["DEMO-P002"]
    # dependent in 2000C: DMG from the patient, id from the subscriber (5010 has no patient NM109)
    assert p2["patient"] == {"id": "XJH900112233", "sex": "M", "birth_date": "2008-09-05"}
    assert (p2["frequency"], p2["replaces_claim_id"]) == ("replacement", "PAYERICN20240001")
    assert p2["rendering_provider"] == {"npi": "1987654328", "name": "WELBY, MARCUS", "taxonomy": "207R00000X"}
    assert p2["payer"] == {"type": "commercial", "name": "DEMO COMMERCIAL HEALTH", "id": "60054"}
    p3 = claims["DEMO-P003"]
    assert p3["payer"]["type"] == "medicaid"
    assert p3["diagnoses"] == [{"code": "L97412"}, {"code": "E11621"}]
    assert p3["lines"][1] == {
        "sequence": 2, "code": "11045", "charge": "160.00", "units": 2, "place_of_service": "11",
        "diagnosis_pointers": [1, 2], "from_date": "2024-05-02", "to_date": "2024-05-02",
    }  # fmt: skip
    assert claim_from_dict(p3).lines[0].charge_cents == 30000


def test_demo_837i():
    (item,) = read(DEMO_I.read_bytes(), "demo_837i.x12")
    claim = item.data
    assert claim["type"] == "institutional"
    assert claim["bill_type"] == "0131"
    assert "place_of_service" not in claim
    assert claim["payer"]["type"] == "medicare"
    assert claim["diagnoses"] == [{"code": "R079"}, {"code": "I10"}, {"code": "E119"}]
    assert [(line["revenue_code"], line["code"], line["charge"], line["units"]) for line in claim["lines"]] == [
        ("0450", "99284", "850.00", 1),
        ("0301", "80053", "210.00", 1),
        ("0324", "71046", "160.00", 1),
        ("0636", "J1885", "16.00", 2),
    ]
    assert claim["lines"][0]["modifiers"] == ["25"]
    # line 4 has no DTP*472: the statement period (DTP*434) stands in
    assert claim["lines"][3]["from_date"] == claim["lines"][3]["to_date"] == "2024-05-15"


def test_institutional_poa_and_admission():
    text = DEMO_I.read_text()
    text = text.replace("CLM*DEMO-I001*1236.00***13:A:1", "CLM*DEMO-I001*1236.00***11:A:1")
    text = text.replace("HI*ABK:R079~", "HI*ABK:R079:::::::Y~").replace(
        "HI*ABF:I10*ABF:E119~", "HI*ABF:I10:::::::N*ABF:E119~"
    )
    text = text.replace(
        "DTP*434*RD8*20240515-20240515~", "DTP*434*RD8*20240515-20240517~\nDTP*435*DT*202405150830~\nDTP*096*TM*1130~"
    )
    text = text.replace("SE*36*0001", "SE*38*0001")
    items = read(text)
    claim = good(items)["DEMO-I001"]
    assert claim["bill_type"] == "0111"
    assert claim["diagnoses"] == [{"code": "R079", "poa": "Y"}, {"code": "I10", "poa": "N"}, {"code": "E119"}]
    assert (claim["admission_date"], claim["discharge_date"]) == ("2024-05-15", "2024-05-17")
    bad = text.replace("R079:::::::Y", "R079:::::::Q")
    (item,) = errors(read(bad))
    assert item.field == "diagnoses[0].poa" and "HI01-9: present-on-admission indicator" in item.error


# ---------------------------------------------------------------- real samples
def test_imsweb_many_claims_repaired_in_memory(x12_samples):
    data = sample(x12_samples, "imsweb/x12_many_claims.txt")
    data = data.replace(b"HI*BK*8901*BF*87200*BF:5559", b"HI*ABK:J069*ABF:R509")
    data = data.replace(b"HI*BK*1987*BF*4134*BF:5559", b"HI*ABK:J069*ABF:R509").replace(b"HC:478331:", b"HC:99212:")
    claims = good_list = [item for item in read(data) if item.data is not None]
    assert len(good_list) == 820
    first, second = claims[0].data, claims[1].data
    assert first["claim_date"] == "1996-09-18"
    assert first["billing_provider"] == {"npi": "1234567890", "name": "MEDICAL GROUP"}
    assert first["payer"] == {"type": "commercial", "name": "HEALTH INSURANCE COMPANY", "id": "11122333"}
    assert first["patient"] == {"id": "123456"}
    assert first["lines"] == [
        {"sequence": 1, "code": "99211", "modifiers": ["25"], "charge": "12.25", "units": 1, "place_of_service": "11",
         "diagnosis_pointers": [1], "from_date": "2005-03-14", "to_date": "2005-03-25"},
    ]  # fmt: skip
    assert second["payer"]["name"] == "HEALTH INSURANCE COMPANY TWO"
    assert second["lines"][0]["sequence"] == 2 and second["lines"][0]["diagnosis_pointers"] == [1, 2, 3]


# The samples as they are (claim counts, notes, pyx12's view): tests/test_x12_samples.py


def test_linuxforhealth_drug_claim_repaired_in_memory(x12_samples):
    data = sample(x12_samples, "linuxforhealth/837_005010X222A2/demo.drug.example10.3.837")
    claim = good(read(data.replace(b"HI*BK:4659", b"HI*ABK:J069")))["CLMNO12345"]
    assert claim["claim_date"] == "2004-03-01"
    assert claim["billing_provider"] == {"npi": "1234567893", "name": "Professional Home IV, LLC"}
    assert claim["payer"] == {"type": "commercial", "name": "R&R Health Plan", "id": "PLANID12345"}
    assert claim["patient"] == {"id": "MBRID01234", "sex": "M", "birth_date": "1943-05-01"}
    assert claim["place_of_service"] == "12"
    lines = [
        (line["sequence"], line["code"], line["charge"], line["units"], line.get("ndc")) for line in claim["lines"]
    ]
    assert lines == [
        (1, "S9500", "1400.00", 7, None),
        (2, "J0696", "682.50", 56, "00004196501"),
        (3, "J7051", "15.12", 28, "63323024910"),
        (4, "J3490", "67.69", 7, "00338004938"),  # SV101-7 description is not read
        (5, "J3490", "57.12", 14, "08290033010"),
        (6, "J3490", "10.50", 7, "08290038005"),
    ]
    assert {(line["from_date"], line["to_date"]) for line in claim["lines"]} == {("2004-02-01", "2004-02-07")}
    assert sum(claim_from_dict(claim).lines[i].charge_cents for i in range(6)) == 223293  # CLM02 2232.93


def test_linuxforhealth_anesthesia_claim_with_its_own_component_separator(x12_samples):
    data = sample(x12_samples, "linuxforhealth/837_005010X222A2/demo.example9.837")
    data = data.replace(b"*T*:~", b"*T*>~", 1).replace(b"HI*BK>36616", b"HI*ABK>H2511")
    claim = good(read(data))["153829140"]
    assert claim["payer"]["type"] == "medicare"
    assert claim["patient"] == {"id": "123456789A", "sex": "F", "birth_date": "1974-03-03"}
    assert claim["place_of_service"] == "22"
    assert claim["rendering_provider"] == {"npi": "5678912345", "name": "TOWNSEND, JACOB", "taxonomy": "207L00000X"}
    (line,) = claim["lines"]
    # SV103 MJ: 61 anesthesia minutes; SV107 written "1.00"
    assert (line["code"], line["modifiers"], line["units"], line["diagnosis_pointers"]) == (
        "00142",
        ["QK", "QS", "P1"],
        61,
        [1],
    )


def test_linuxforhealth_two_institutional_claims_repaired_in_memory(x12_samples):
    data = sample(x12_samples, "linuxforhealth/837_005010X223A3/two-claims-single-provider.837i")
    data = data.replace(b"HI*BK:3669", b"HI*ABK:H269").replace(b"HI*BF:4019*BF:79431", b"HI*ABF:I10*ABF:R9431")
    data = data.replace(b"HI*BK:30000", b"HI*ABK:F410")
    claims = good(read(data))
    first, second = claims["756048Q"], claims["756049Q"]
    assert first["bill_type"] == second["bill_type"] == "0131"
    assert first["payer"] == {"type": "other", "name": "TRICARE", "id": "99999"}  # SBR09 CH
    assert first["billing_provider"] == {"npi": "1234567890", "name": "JONES HOSPITAL", "taxonomy": "282N00000X"}
    assert first["diagnoses"] == [{"code": "H269"}, {"code": "I10"}, {"code": "R9431"}]
    assert [(line["revenue_code"], line["code"], line["charge"], line["units"]) for line in first["lines"]] == [
        ("0305", "85025", "13.39", 1),
        ("0730", "93005", "76.56", 3),
    ]
    assert second["patient"] == {"id": "123405074", "sex": "M", "birth_date": "1962-12-10"}
    assert second["lines"] == [
        {"sequence": 1, "revenue_code": "0300", "code": "85087", "charge": "50.00", "units": 1,
         "from_date": "2005-04-01", "to_date": "2005-04-01"},
    ]  # fmt: skip


# ---------------------------------------------------------------- pyx12 as the conformance oracle
def _first3(claims):
    """(claim id, [(line number, code, charge)]): what the demo and imsweb comparisons read."""
    return [(cid, [line[:3] for line in lines]) for cid, lines in claims]


@pytest.mark.parametrize("path", [DEMO_P, DEMO_I], ids=["837p", "837i"])
def test_demo_files_conform_per_pyx12(path, tmp_path, pyx12_claims):
    x12n_document = pytest.importorskip("pyx12.x12n_document")
    pyx12_params = pytest.importorskip("pyx12.params")
    import io

    ack = io.StringIO()
    assert x12n_document.x12n_document(pyx12_params.params(), str(path), ack, None, None), ack.getvalue()
    assert "IK5*A" in ack.getvalue()
    ours = [
        (d["claim_id"], [(str(line["sequence"]), line["code"], line["charge"]) for line in d["lines"]])
        for d in good(read(path.read_bytes())).values()
    ]
    assert ours == _first3(pyx12_claims(path))


def test_imsweb_agrees_with_pyx12(x12_samples, tmp_path, pyx12_claims):
    """Same claims, line numbers, codes and charges as pyx12 (05010X222A1 map), on the repaired copy."""
    data = sample(x12_samples, "imsweb/x12_many_claims.txt")
    data = data.replace(b"HI*BK*8901*BF*87200*BF:5559", b"HI*ABK:J069*ABF:R509")
    data = data.replace(b"HI*BK*1987*BF*4134*BF:5559", b"HI*ABK:J069*ABF:R509").replace(b"HC:478331:", b"HC:99212:")
    copy = tmp_path / "many.x12"
    copy.write_bytes(data)
    oracle = _first3(pyx12_claims(copy))
    ours = [
        (item.data["claim_id"], [(str(line["sequence"]), line["code"], line["charge"]) for line in item.data["lines"]])
        for item in read(data)
        if item.data is not None
    ]
    assert len(oracle) == 820
    assert ours == oracle


def test_composite_with_no_separator_at_all_is_still_dropped():
    body = [s.replace("SV1*HC:80053", "SV1*HC80053") for s in TRANSACTION]
    t2 = by_id(read(build(body)))["T-2"]
    assert [line["code"] for line in t2.data["lines"]] == ["80048"]
    ((rule, severity, message),) = notes(t2)
    assert (rule, severity) == ("CS-X12-004", "error")
    assert "SV101-1: no component separator ':' (ISA16) in the procedure composite; wrong delimiter?" in message
