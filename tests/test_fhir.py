"""FHIR R4 Claim input: hand-written fixtures for each mapping rule, the demo files and the Synthea samples."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from claimscrub.inputs.base import InputFormatError, InputItem
from claimscrub.inputs.fhir import is_fhir, read_fhir
from claimscrub.model.normalize import claim_from_dict, to_cents
from claimscrub.model.validate import problems

REPO = Path(__file__).resolve().parents[1]
CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
NPI = "http://hl7.org/fhir/sid/us-npi"
POS = "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set"
CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"


def coding(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def item(seq: int = 1, code: str = "99213", **extra: Any) -> dict[str, Any]:
    it: dict[str, Any] = {
        "sequence": seq,
        "productOrService": coding(CPT, code),
        "servicedDate": "2024-07-15",
        "net": {"value": 100.00, "currency": "USD"},
    }
    it.update(extra)
    return it


def bare_claim(**extra: Any) -> dict[str, Any]:
    """A minimal professional Claim with its Patient and billing Organization contained."""
    claim: dict[str, Any] = {
        "resourceType": "Claim",
        "id": "C-1",
        "contained": [
            {"resourceType": "Patient", "id": "p", "gender": "female", "birthDate": "1970-01-31"},
            {
                "resourceType": "Organization",
                "id": "org",
                "name": "Clinic",
                "identifier": [{"system": NPI, "value": "1234567893"}],
            },
        ],
        "type": coding(CLAIM_TYPE, "professional"),
        "use": "claim",
        "patient": {"reference": "#p"},
        "created": "2024-07-16T09:30:00-05:00",
        "provider": {"reference": "#org"},
        "diagnosis": [{"sequence": 1, "diagnosisCodeableConcept": coding(ICD, "E11.9")}],
        "item": [item(diagnosisSequence=[1])],
    }
    claim.update(extra)
    return claim


def one(doc: dict[str, Any]) -> InputItem:
    items = list(read_fhir(doc, "test.json"))
    assert len(items) == 1
    return items[0]


def ok(doc: dict[str, Any]) -> dict[str, Any]:
    """The mapped dict of a single good claim, checked against the schema and the normaliser."""
    got = one(doc)
    assert got.error is None, got.error
    assert problems(got.data) == []
    claim_from_dict(got.data)
    return got.data


def failed(doc: dict[str, Any]) -> InputItem:
    got = one(doc)
    assert got.data is None and got.error and got.field
    return got


# --- detection and bare claims --------------------------------------------------------


def test_is_fhir() -> None:
    assert is_fhir({"resourceType": "Claim"}) and is_fhir({"resourceType": "Bundle"})
    assert not is_fhir({"resourceType": "Patient"}) and not is_fhir({"claim_id": "x"}) and not is_fhir([])


def test_not_fhir_is_a_whole_file_error() -> None:
    with pytest.raises(InputFormatError):
        list(read_fhir({"resourceType": "Patient"}, "p.json"))


def test_bare_claim_with_contained_patient() -> None:
    got = one(bare_claim())
    assert got.claim_id == "C-1" and got.source == "test.json"
    data = ok(bare_claim())
    assert data["claim_id"] == "C-1" and data["type"] == "professional"
    assert data["patient"] == {"id": "p", "sex": "F", "birth_date": "1970-01-31"}
    assert data["billing_provider"] == {"npi": "1234567893", "name": "Clinic"}
    assert data["claim_date"] == "2024-07-16"
    assert data["diagnoses"] == [{"code": "E11.9"}]
    assert data["lines"] == [
        {
            "sequence": 1,
            "code": "99213",
            "units": 1,
            "charge": "100.00",
            "from_date": "2024-07-15",
            "diagnosis_pointers": [1],
        }
    ]
    assert "payer" not in data and "frequency" not in data


@pytest.mark.parametrize(
    ("gender", "sex"), [("male", "M"), ("female", "F"), ("other", "U"), ("unknown", "U"), (None, None)]
)
def test_gender(gender: str | None, sex: str | None) -> None:
    claim = bare_claim()
    claim["contained"][0]["gender"] = gender
    assert ok(claim)["patient"].get("sex") == sex


def test_partial_birth_date_left_out() -> None:
    claim = bare_claim()
    claim["contained"][0]["birthDate"] = "1970"
    assert "birth_date" not in ok(claim)["patient"]


# --- bundles and references -----------------------------------------------------------


def _bundle(kind: str, by_uuid: bool) -> dict[str, Any]:
    """Two claims for two patients, referenced by urn:uuid fullUrl or by Patient/<id>."""
    entries: list[dict[str, Any]] = []

    def ref(rtype: str, rid: str) -> str:
        return f"urn:uuid:00000000-0000-4000-8000-{rid.zfill(12)}" if by_uuid else f"{rtype}/{rid}"

    def add(resource: dict[str, Any], rid: str) -> None:
        entry: dict[str, Any] = {"resource": resource}
        entry["fullUrl"] = (
            ref(resource["resourceType"], rid)
            if by_uuid
            else f"http://example.org/fhir/{resource['resourceType']}/{rid}"
        )
        if kind == "transaction":
            entry["request"] = {"method": "POST", "url": resource["resourceType"]}
        entries.append(entry)

    add({"resourceType": "Patient", "id": "101", "gender": "male", "birthDate": "1950-06-01"}, "101")
    add({"resourceType": "Patient", "id": "102", "gender": "female", "birthDate": "1980-02-29"}, "102")
    add({"resourceType": "Practitioner", "id": "201", "identifier": [{"system": NPI, "value": "1987654328"}]}, "201")
    add({"resourceType": "Organization", "id": "401", "name": "State Medicaid Agency"}, "401")
    for n, pid in (("1", "101"), ("2", "102")):
        claim = bare_claim(id=f"B-{n}", patient={"reference": ref("Patient", pid)}, provider={"reference": ref("Practitioner", "201")},
                           insurer={"reference": ref("Organization", "401")})  # fmt: skip
        del claim["contained"]
        add(claim, f"50{n}")
    add({"resourceType": "ExplanationOfBenefit", "id": "601"}, "601")
    return {"resourceType": "Bundle", "type": kind, "entry": entries}


@pytest.mark.parametrize(
    ("kind", "by_uuid"), [("collection", True), ("transaction", False), ("batch", False), ("searchset", True)]
)
def test_bundle_references(kind: str, by_uuid: bool) -> None:
    items = list(read_fhir(_bundle(kind, by_uuid), "b.json"))
    assert [i.claim_id for i in items] == ["B-1", "B-2"]
    assert [i.source for i in items] == ["b.json#entry[4]", "b.json#entry[5]"]
    for got in items:
        assert got.error is None, got.error
        assert problems(got.data) == []
        claim_from_dict(got.data)
    first, second = (i.data for i in items)
    assert first["patient"] == {"id": "101", "sex": "M", "birth_date": "1950-06-01"}
    assert second["patient"] == {"id": "102", "sex": "F", "birth_date": "1980-02-29"}
    assert first["billing_provider"] == {"npi": "1987654328"}
    assert first["payer"] == {"type": "medicaid", "name": "State Medicaid Agency"}


def test_versioned_and_absolute_references_resolve() -> None:
    bundle = _bundle("transaction", False)
    bundle["entry"][4]["resource"]["patient"] = {"reference": "http://example.org/fhir/Patient/101/_history/3"}
    assert list(read_fhir(bundle, "b.json"))[0].data["patient"]["id"] == "101"


def test_unsupported_bundle_type_accounts_for_each_claim() -> None:
    bundle = _bundle("collection", True)
    bundle["type"] = "document"
    items = list(read_fhir(bundle, "b.json"))
    assert [(i.claim_id, i.field) for i in items] == [("B-1", "Bundle.type"), ("B-2", "Bundle.type")]


def test_one_bad_claim_does_not_stop_the_bundle() -> None:
    bundle = _bundle("collection", True)
    bundle["entry"][4]["resource"]["item"] = "not a list of items"
    first, second = read_fhir(bundle, "b.json")
    assert first.claim_id == "B-1" and first.error and first.field == "(claim)"
    assert second.error is None


# --- items ----------------------------------------------------------------------------


def test_serviced_period_and_datetime_truncated() -> None:
    it = item(servicedPeriod={"start": "2024-07-01T08:00:00Z", "end": "2024-07-03T17:00:00-04:00"})
    del it["servicedDate"]
    line = ok(bare_claim(item=[it]))["lines"][0]
    assert (line["from_date"], line["to_date"]) == ("2024-07-01", "2024-07-03")


def test_billable_period_is_the_fallback_date() -> None:
    it = item()
    del it["servicedDate"]
    line = ok(bare_claim(item=[it], billablePeriod={"start": "2024-05-02", "end": "2024-05-02"}))["lines"][0]
    assert line["from_date"] == "2024-05-02" and "to_date" not in line


def test_no_service_date_names_the_item() -> None:
    it = item()
    del it["servicedDate"]
    assert failed(bare_claim(item=[it])).field == "item[0].servicedDate"


def test_modifiers_up_to_four() -> None:
    mods = [coding(CPT, m) for m in ("25", "rt")]
    assert ok(bare_claim(item=[item(modifier=mods)]))["lines"][0]["modifiers"] == ["25", "RT"]
    too_many = [coding(CPT, m) for m in ("25", "59", "RT", "LT", "XS")]
    got = failed(bare_claim(item=[item(modifier=too_many)]))
    assert got.field == "item[0].modifier" and "at most 4" in got.error


def test_net_is_taken_as_is() -> None:
    line = ok(bare_claim(item=[item(net={"value": 140.52}, unitPrice={"value": 1.0}, quantity={"value": 3})]))["lines"][
        0
    ]
    assert line["charge"] == "140.52" and line["units"] == 3


def test_unit_price_times_quantity_is_exact() -> None:
    it = item(unitPrice={"value": 0.1, "currency": "USD"}, quantity={"value": 3})
    del it["net"]
    line = ok(bare_claim(item=[it]))["lines"][0]
    assert line["charge"] == "0.30"  # 0.1 * 3 in float arithmetic is 0.30000000000000004
    assert to_cents(line["charge"]) == 30


def test_unit_price_with_factor_and_fractional_units() -> None:
    it = item(unitPrice={"value": 19.99}, quantity={"value": 1.5}, factor=2)
    del it["net"]
    line = ok(bare_claim(item=[it]))["lines"][0]
    assert Decimal(line["charge"]) == Decimal("59.97") and line["units"] == 1.5


def test_charge_with_sub_cent_remainder_is_refused() -> None:
    it = item(unitPrice={"value": 10.333}, quantity={"value": 3})
    del it["net"]
    got = failed(bare_claim(item=[it]))
    assert got.field == "item[0].unitPrice.value" and "two decimals" in got.error


def test_no_amount_and_foreign_currency_are_errors() -> None:
    it = item()
    del it["net"]
    assert failed(bare_claim(item=[it])).field == "item[0].net"
    assert failed(bare_claim(item=[item(net={"value": 5, "currency": "EUR"})])).field == "item[0].net.currency"


def test_quantity_defaults_to_one() -> None:
    assert ok(bare_claim())["lines"][0]["units"] == 1


def test_diagnosis_sequence_maps_to_positions_in_sequence_order() -> None:
    diagnoses = [
        {"sequence": 5, "diagnosisCodeableConcept": coding(ICD, "I10")},
        {"sequence": 2, "diagnosisCodeableConcept": coding(ICD, "M17.11")},
    ]
    data = ok(bare_claim(diagnosis=diagnoses, item=[item(diagnosisSequence=[5, 2])]))
    assert data["diagnoses"] == [{"code": "M17.11"}, {"code": "I10"}]
    assert data["lines"][0]["diagnosis_pointers"] == [2, 1]


def test_unknown_diagnosis_sequence_is_an_error() -> None:
    got = failed(bare_claim(item=[item(diagnosisSequence=[3])]))
    assert got.field == "item[0].diagnosisSequence"


def test_hcpcs_and_oid_systems_accepted() -> None:
    items = [
        item(1, productOrService=coding(HCPCS, "J1100")),
        item(2, productOrService=coding("urn:oid:2.16.840.1.113883.6.12", "20610")),
        item(3, productOrService=coding("urn:oid:2.16.840.1.113883.6.285", "G0439")),
    ]
    assert [line["code"] for line in ok(bare_claim(item=items))["lines"]] == ["J1100", "20610", "G0439"]


def test_non_cpt_item_names_the_element_and_system() -> None:
    items = [item(1), item(2), item(3, productOrService=coding("http://snomed.info/sct", "410620009"))]
    got = failed(bare_claim(item=items))
    assert got.claim_id == "C-1"
    assert got.error == "item[2].productOrService: no CPT/HCPCS coding (found http://snomed.info/sct)"
    assert got.field == "item[2].productOrService"


def test_place_of_service() -> None:
    line = ok(bare_claim(item=[item(locationCodeableConcept=coding(POS, "11"))]))["lines"][0]
    assert line["place_of_service"] == "11"
    got = failed(bare_claim(item=[item(locationCodeableConcept=coding("http://example.org/loc", "office"))]))
    assert got.field == "item[0].locationCodeableConcept"


def test_care_team_gives_rendering_npi() -> None:
    team = [
        {
            "sequence": 1,
            "provider": {"identifier": {"system": NPI, "value": "1111111112"}},
            "role": coding("x", "primary"),
        }
    ]
    data = ok(bare_claim(careTeam=team, item=[item(careTeamSequence=[1])]))
    assert data["rendering_provider"] == {"npi": "1111111112"}
    assert data["lines"][0]["rendering_npi"] == "1111111112"


# --- claim level ----------------------------------------------------------------------


def test_missing_patient_reference_names_the_field() -> None:
    claim = bare_claim()
    del claim["patient"]
    got = failed(claim)
    assert got.field == "patient" and got.claim_id == "C-1"
    claim["patient"] = {"reference": "#nobody"}
    assert failed(claim).field == "patient.reference"


def test_errors_carry_no_patient_details() -> None:
    claim = bare_claim(patient={"reference": "Patient/SMITH-JOHN-1970-01-31"})
    got = failed(claim)
    assert "SMITH" not in got.error and "1970" not in got.error


@pytest.mark.parametrize("kind", ["oral", "vision", "pharmacy"])
def test_other_claim_types_rejected(kind: str) -> None:
    got = failed(bare_claim(type=coding(CLAIM_TYPE, kind)))
    assert got.field == "type" and kind in got.error and "not supported" in got.error


def test_missing_claim_id() -> None:
    claim = bare_claim()
    del claim["id"]
    got = one(claim)
    assert got.claim_id is None and got.field == "id"


def test_provider_without_npi_and_npi_on_the_reference() -> None:
    claim = bare_claim(provider={"reference": "#org"})
    claim["contained"][1]["identifier"] = [{"system": "https://github.com/synthetichealth/synthea", "value": "x"}]
    got = failed(claim)
    assert got.field == "provider" and "NPI" in got.error
    claim["provider"] = {"identifier": {"system": NPI, "value": "1234567893"}}
    assert ok(claim)["billing_provider"] == {"npi": "1234567893"}


def test_replacement_via_related() -> None:
    related = [{"claim": {"identifier": {"value": "PAYER-ICN-77"}}, "relationship": coding("x", "replaces")}]
    data = ok(bare_claim(related=related))
    assert (data["frequency"], data["replaces_claim_id"]) == ("replacement", "PAYER-ICN-77")
    related = [
        {
            "claim": {"reference": "Claim/OLD-1"},
            "relationship": coding("http://terminology.hl7.org/CodeSystem/ex-relatedclaimrelationship", "prior"),
        }
    ]
    assert ok(bare_claim(related=related))["replaces_claim_id"] == "OLD-1"


def test_void_via_extension() -> None:
    ext = [{"url": "http://example.org/fhir/StructureDefinition/claim-frequency", "valueCode": "8"}]
    data = ok(bare_claim(extension=ext, related=[{"reference": {"value": "ICN-9"}}]))
    assert (data["frequency"], data["replaces_claim_id"]) == ("void", "ICN-9")
    assert failed(bare_claim(extension=ext)).field == "related"


@pytest.mark.parametrize(
    ("insurer", "coverage_type", "expected"),
    [
        ({"display": "Medicare Part B"}, None, "medicare"),
        ({"display": "Anthem"}, None, "commercial"),
        ({"display": "NO_INSURANCE"}, None, "other"),
        ({"display": "Acme Health"}, coding("https://nahdo.org/sopt", "2"), "medicaid"),
    ],
)
def test_payer_type(insurer: dict[str, Any], coverage_type: dict[str, Any] | None, expected: str) -> None:
    claim = bare_claim(insurer=insurer)
    if coverage_type:
        claim["contained"].append({"resourceType": "Coverage", "id": "cov", "type": coverage_type})
        claim["insurance"] = [{"sequence": 1, "focal": True, "coverage": {"reference": "#cov"}}]
    payer = ok(claim)["payer"]
    assert payer == {"type": expected, "name": insurer["display"]}


def test_institutional_claim() -> None:
    claim = bare_claim(type=coding(CLAIM_TYPE, "institutional"))
    claim["diagnosis"][0]["onAdmission"] = coding(
        "http://terminology.hl7.org/CodeSystem/ex-diagnosis-on-admission", "y"
    )
    claim["item"] = [item(revenue=coding("https://www.nubc.org/CodeSystem/RevenueCodes", "0450"))]
    claim["supportingInfo"] = [
        {"sequence": 1, "category": coding("http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBSupportingInfoType", "typeofbill"),
         "code": coding("https://www.nubc.org/CodeSystem/TypeOfBill", "0131")},
        {"sequence": 2, "category": coding("http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBSupportingInfoType", "admissionperiod"),
         "timingPeriod": {"start": "2024-07-14T22:00:00Z", "end": "2024-07-15"}},
    ]  # fmt: skip
    data = ok(claim)
    assert data["type"] == "institutional" and data["bill_type"] == "0131"
    assert data["diagnoses"] == [{"code": "E11.9", "poa": "Y"}]
    assert data["lines"][0]["revenue_code"] == "0450"
    assert (data["admission_date"], data["discharge_date"]) == ("2024-07-14", "2024-07-15")


def test_icd10_who_is_not_icd10cm() -> None:
    got = failed(
        bare_claim(
            diagnosis=[{"sequence": 1, "diagnosisCodeableConcept": coding("http://hl7.org/fhir/sid/icd-10", "E11.9")}]
        )
    )
    assert got.field == "diagnosis[0].diagnosisCodeableConcept" and "ICD-10-CM" in got.error


def test_diagnosis_reference_to_condition() -> None:
    claim = bare_claim(diagnosis=[{"sequence": 1, "diagnosisReference": {"reference": "#cond"}}])
    claim["contained"].append({"resourceType": "Condition", "id": "cond", "code": coding(ICD, "I10")})
    assert ok(claim)["diagnoses"] == [{"code": "I10"}]


def test_input_is_not_modified() -> None:
    claim = bare_claim()
    before = copy.deepcopy(claim)
    ok(claim)
    assert claim == before


# --- demo files and real samples ------------------------------------------------------


@pytest.mark.parametrize(("name", "count"), [("demo_bundle.json", 3), ("demo_claim.json", 1)])
def test_demo_inputs_map_cleanly(name: str, count: int) -> None:
    path = REPO / "examples" / "fhir" / name
    items = list(read_fhir(json.loads(path.read_text()), str(path)))
    assert len(items) == count
    for got in items:
        assert got.error is None, got.error
        assert problems(got.data) == []
        claim_from_dict(got.data)


def test_synthea_bundles_every_claim_accounted_for(refdata: Path) -> None:
    paths = sorted((refdata / "samples" / "fhir").glob("*.json"))
    if not paths:
        pytest.skip(f"no Synthea bundles in {refdata / 'samples' / 'fhir'}")
    for path in paths:
        doc = json.loads(path.read_text())
        claim_ids = [e["resource"]["id"] for e in doc["entry"] if e["resource"]["resourceType"] == "Claim"]
        items = list(read_fhir(doc, path.name))
        assert [i.claim_id for i in items] == claim_ids and claim_ids
        for got in items:
            assert got.data is None
            assert got.field and got.field.endswith(".productOrService")
            assert "no CPT/HCPCS coding (found http://snomed.info/sct" in got.error
