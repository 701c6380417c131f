"""Dates are ``YYYY-MM-DD`` in every reader.

Python's ``date.fromisoformat`` also reads basic (``20240801``) and ISO week
(``2024-W31-4``, a Thursday: 2024-08-01) forms; a claim that writes one of
those is rejected naming the field, as any other unreadable date.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from claimscrub.api.scrubber import Scrubber
from claimscrub.documentation.encounter import EncounterRejected, encounter_from_dict
from claimscrub.inputs.fhir import read_fhir
from claimscrub.model.normalize import ClaimRejected, claim_from_dict

NOT_ISO = ["2024-W31-4", "2024W314", "20240801", "2024-08-1", "2024-214"]

FHIR_CLAIM: dict[str, Any] = {
    "resourceType": "Claim",
    "id": "C-1",
    "contained": [
        {"resourceType": "Patient", "id": "p", "gender": "female", "birthDate": "1970-01-31"},
        {
            "resourceType": "Organization",
            "id": "org",
            "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}],
        },
    ],
    "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]},
    "use": "claim",
    "patient": {"reference": "#p"},
    "provider": {"reference": "#org"},
    "diagnosis": [
        {
            "sequence": 1,
            "diagnosisCodeableConcept": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "E11.9"}]},
        }
    ],
    "item": [
        {
            "sequence": 1,
            "diagnosisSequence": [1],
            "servicedDate": "2024-08-01",
            "productOrService": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "99213"}]},
            "net": {"value": 100.0, "currency": "USD"},
        }
    ],
}


def _fhir(served: str):
    doc = copy.deepcopy(FHIR_CLAIM)
    doc["item"][0]["servicedDate"] = served
    (item,) = read_fhir(doc, "t.json")
    return item


@pytest.mark.parametrize("served", ["2024-08-01", "2024-08-01T10:30:00-05:00"])
def test_fhir_reads_calendar_dates_and_date_times(served: str):
    assert _fhir(served).data["lines"][0]["from_date"] == "2024-08-01"


@pytest.mark.parametrize("served", NOT_ISO + ["2024-08-01 10:30", "2024-02-30"])
def test_fhir_rejects_other_date_forms_naming_the_field(served: str):
    item = _fhir(served)
    assert item.data is None and item.field == "item[0].servicedDate"
    assert "YYYY-MM-DD" in item.error and served not in item.error


NATIVE = {
    "claim_id": "D-1",
    "type": "professional",
    "billing_provider": {"npi": "1234567893"},
    "patient": {"id": "P1", "sex": "F", "birth_date": "1970-01-31"},
    "diagnoses": [{"code": "E11.9"}],
    "lines": [
        {
            "sequence": 1,
            "code": "99213",
            "units": 1,
            "charge": "100.00",
            "from_date": "2024-08-01",
            "diagnosis_pointers": [1],
        }
    ],
}


@pytest.mark.parametrize("when", NOT_ISO)
def test_native_claims_reject_other_date_forms(when: str):
    claim = copy.deepcopy(NATIVE)
    claim["lines"][0]["from_date"] = when
    with pytest.raises(ClaimRejected, match=r"lines\[0\]\.from_date"):
        claim_from_dict(claim)
    result = Scrubber().scrub(claim)
    assert result.status == "rejected" and "from_date" in result.reason


def test_native_claim_with_a_calendar_date_is_read():
    assert claim_from_dict(copy.deepcopy(NATIVE)).lines[0].from_date == "2024-08-01"


@pytest.mark.parametrize("when", NOT_ISO)
def test_encounter_records_reject_other_date_forms(when: str):
    record = {"encounter_id": "E-1", "link": {"claim_id": "D-1"}, "date_of_service": when}
    with pytest.raises(EncounterRejected, match="date_of_service"):
        encounter_from_dict(record)
