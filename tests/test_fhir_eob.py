"""FHIR ExplanationOfBenefit: a Claim's payment fields filled from the EOB beside it in the Bundle."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from claimscrub.inputs.fhir import read_fhir
from claimscrub.inputs.payments import read_paid_claims
from claimscrub.model.normalize import claim_from_dict
from claimscrub.model.validate import problems

BUNDLE = json.loads((Path(__file__).resolve().parents[1] / "examples" / "fhir" / "demo_bundle.json").read_text())
CLAIM_URL = "urn:uuid:7d1f2a3c-0000-4000-8000-000000000501"  # DEMO-FHIR-001: 99214 (line 1), 20610 (line 2)
ADJ = "http://terminology.hl7.org/CodeSystem/adjudication"
CARIN = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBAdjudication"


def adjudication(system: str, code: str, value: float) -> dict:
    return {"category": {"coding": [{"system": system, "code": code}]}, "amount": {"value": value, "currency": "USD"}}


EOB = {
    "resourceType": "ExplanationOfBenefit",
    "id": "eob-1",
    "claim": {"reference": CLAIM_URL},
    "payment": {"amount": {"value": 221.6, "currency": "USD"}, "date": "2024-06-04"},
    "total": [adjudication(ADJ, "submitted", 327.5), adjudication(ADJ, "eligible", 277.0)],
    "item": [
        {
            "sequence": 1,
            "adjudication": [
                adjudication(ADJ, "eligible", 131.0),
                adjudication(ADJ, "benefit", 104.8),
                adjudication(CARIN, "coinsurance", 26.2),
            ],
        },
        {
            "sequence": 2,
            "adjudication": [
                adjudication(ADJ, "eligible", 146.0),
                adjudication(ADJ, "benefit", 116.8),
                adjudication(CARIN, "deductible", 0),
            ],
        },
        {"sequence": 9, "adjudication": [adjudication(ADJ, "benefit", 1.0)]},  # no such line: not read
    ],
}


def read(bundle: dict) -> dict[str, dict]:
    items = list(read_fhir(bundle, "bundle.json"))
    for item in items:
        assert item.data is not None and problems(item.data) == [], item
        claim_from_dict(item.data, item.source)
    return {item.claim_id: item.data for item in items}


def with_eob(eob: dict) -> dict:
    bundle = copy.deepcopy(BUNDLE)
    bundle["entry"].append({"fullUrl": "urn:uuid:eob-1", "resource": eob})
    return bundle


def test_eob_fills_the_payment_of_its_claim_only():
    claims = read(with_eob(EOB))
    claim = claims["DEMO-FHIR-001"]
    assert (claim["paid_amount"], claim["allowed_amount"], claim["paid_date"]) == ("221.60", "277.00", "2024-06-04")
    first, second = claim["lines"]
    assert (first["paid_amount"], first["allowed_amount"], first["paid_date"]) == ("104.80", "131.00", "2024-06-04")
    assert first["adjustments"] == [{"group": "PR", "reason": "2", "amount": "26.20"}]
    assert (second["paid_amount"], second["allowed_amount"]) == ("116.80", "146.00")
    assert "adjustments" not in second  # a zero deductible is no adjustment
    assert "paid_amount" not in claims["DEMO-FHIR-002"]


def test_without_eob_nothing_is_invented():
    claims = read(copy.deepcopy(BUNDLE))
    assert all(
        "paid_amount" not in c and all("paid_amount" not in line for line in c["lines"]) for c in claims.values()
    )


def test_blue_button_variables_and_float_noise_of_a_synthea_eob(refdata):
    """The first EOB of a Synthea sample, pointed at the demo claim: Blue Button line variables, float amounts."""
    path = min((refdata / "samples" / "fhir").glob("*.json"))
    synthea = json.loads(path.read_text())
    eob = next(
        e["resource"]
        for e in synthea["entry"]
        if e["resource"]["resourceType"] == "ExplanationOfBenefit"
        and e["resource"].get("item")
        and any(it.get("adjudication") for it in e["resource"]["item"])
    )
    eob = copy.deepcopy(eob)
    eob["claim"] = {"reference": CLAIM_URL}
    paid_item = next(it for it in eob["item"] if it.get("adjudication"))
    paid_item["sequence"] = 2
    eob["item"] = [paid_item]
    line = read(with_eob(eob))["DEMO-FHIR-001"]["lines"][1]
    values = {
        a["category"]["coding"][0]["code"].rsplit("/", 1)[-1]: a["amount"]["value"]
        for a in paid_item["adjudication"]
        if "amount" in a
    }
    assert line["paid_amount"] == f"{values['line_prvdr_pmt_amt']:.2f}"
    assert line["allowed_amount"] == f"{values['line_alowd_chrg_amt']:.2f}"


def test_an_eob_file_on_its_own_is_a_remittance_for_its_clm_id(tmp_path):
    eob = {
        **copy.deepcopy(EOB),
        "claim": {"display": "not in this file"},
        "identifier": [{"system": "https://bluebutton.cms.gov/resources/variables/clm_id", "value": "DEMO-FHIR-002"}],
    }
    path = tmp_path / "eob.json"
    path.write_text(json.dumps(eob))
    paid = read_paid_claims([path, Path(__file__).resolve().parents[1] / "examples" / "fhir" / "demo_bundle.json"])
    claims = {i.claim_id: i.data for i in paid.items}
    assert claims["DEMO-FHIR-002"]["paid_amount"] == "221.60"
    assert [line.get("paid_amount") for line in claims["DEMO-FHIR-002"]["lines"]] == ["104.80", "116.80"]
    assert "paid_amount" not in claims["DEMO-FHIR-001"] and paid.unlinked_remittances == []
