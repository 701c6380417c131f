"""Issue #12: one bad claim costs that claim alone, numbers are bounded, and messages carry no PHI.

Each reproducer from the issue is a test here: the claim ends ``rejected`` with a field and a
reason (or ``scrubbed``), the claims beside it are scrubbed, and nothing raises.
"""

from __future__ import annotations

import copy
import json
import logging
import time

import pytest

from claimscrub import Scrubber
from claimscrub.inputs import read_bytes
from claimscrub.lang.functions import add_days
from claimscrub.model.numbers import NumberError, cents_text, exact_number
from claimscrub.model.validate import problems

CLAIM = {
    "claim_id": "ISO-1",
    "type": "professional",
    "payer": {"type": "medicare"},
    "billing_provider": {"npi": "1234567893"},
    "patient": {"id": "PATIENT-7731", "sex": "F", "birth_date": "1958-03-14"},
    "place_of_service": "11",
    "diagnoses": [{"code": "M17.11"}],
    "lines": [
        {
            "sequence": 1,
            "code": "99213",
            "units": 1,
            "charge": "125.00",
            "from_date": "2024-08-12",
            "diagnosis_pointers": [1],
        },
        {
            "sequence": 2,
            "code": "20610",
            "units": 1,
            "charge": "180.00",
            "from_date": "2024-08-12",
            "diagnosis_pointers": [1],
        },
    ],
}

FHIR_CLAIM = {
    "resourceType": "Claim",
    "id": "FHIR-ISO-1",
    "status": "active",
    "use": "claim",
    "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]},
    "patient": {"identifier": {"value": "PATIENT-7731"}},
    "provider": {"identifier": {"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}},
    "created": "2024-08-20",
    "diagnosis": [
        {
            "sequence": 1,
            "diagnosisCodeableConcept": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M17.11"}]},
        }
    ],
    "item": [
        {
            "sequence": 1,
            "diagnosisSequence": [1],
            "servicedDate": "2024-08-12",
            "productOrService": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "99213"}]},
            "unitPrice": {"value": 120.0, "currency": "USD"},
            "quantity": {"value": 1},
        }
    ],
}


@pytest.fixture(scope="module")
def scrubber() -> Scrubber:
    return Scrubber(samples=True)


def claim(**line_changes) -> dict:
    c = copy.deepcopy(CLAIM)
    c["lines"][0].update(line_changes)
    return c


def one(scrubber: Scrubber, data: dict):
    result = scrubber.scrub(data)
    assert result.status in ("scrubbed", "rejected")
    return result


# --- the reproducers: each ends rejected with a reason, or scrubbed, and never raises ---------------------------


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        ({"charge": 1e18}, "lines[0].charge", "is greater than the maximum of 999999999.99"),
        ({"charge": 10**17}, "lines[0].charge", "is greater than the maximum of 999999999.99"),
        ({"charge": "-1000000000.00"}, "lines[0].charge", "does not match the pattern"),
        ({"units": 1e-6}, "lines[0].units", "has more than three decimals"),  # 1e-6 crashed the C core (exponent form)
        ({"units": 0.0005}, "lines[0].units", "has more than three decimals"),
        ({"units": -1e300}, "lines[0].units", "is less than the minimum of -99999"),
        ({"from_date": "9999-12-31"}, "lines[0].from_date", "does not match the pattern"),
        ({"diagnosis_pointers": [10**30]}, "lines[0].diagnosis_pointers[0]", "is greater than the maximum of 25"),
    ],
)
def test_out_of_range_numbers_and_dates_are_rejected_with_field_and_reason(scrubber, change, field, problem):
    result = one(scrubber, claim(**change))
    assert result.status == "rejected" and result.field == field
    assert result.reason.startswith(f"{field}: {problem}")


def test_an_integer_valued_float_pointer_is_an_int_in_the_model(scrubber):
    as_int = one(scrubber, claim(diagnosis_pointers=[1]))
    as_float = one(scrubber, claim(diagnosis_pointers=[1.0]))  # 1.0 is an integer to JSON Schema
    assert as_float.status == "scrubbed"
    assert [f.rule_id for f in as_float.findings] == [f.rule_id for f in as_int.findings]
    assert [f.rule_id for f in one(scrubber, claim(sequence=1.0)).findings] == [f.rule_id for f in as_int.findings]


def test_add_days_stays_on_the_calendar():
    assert add_days("2024-02-28", 2) == "2024-03-01"
    assert add_days("9999-12-31", 90) == "9999-12-31"  # OverflowError before
    assert add_days("0001-01-01", -1) == "0001-01-01"
    assert add_days("2024-01-01", 10**12) == "9999-12-31"


def test_a_90_day_procedure_at_the_last_accepted_date_is_scrubbed(scrubber):
    # an E/M the day after a 90-day global procedure (27447): add_days runs at the schema's last year
    c = copy.deepcopy(CLAIM)
    c["lines"] = [
        dict(CLAIM["lines"][1], sequence=1, code="27447", from_date="2199-12-30"),
        dict(CLAIM["lines"][0], sequence=2, from_date="2199-12-31"),
    ]
    assert one(scrubber, c).status == "scrubbed"


def test_an_unexpected_exception_rejects_that_claim_only_and_is_logged_without_phi(scrubber, monkeypatch, caplog):
    import claimscrub.api.scrubber as module

    real = module.claim_view

    def flaky(c):
        if c.claim_id == "ISO-BOOM":
            raise ValueError(f"cannot handle patient {c.patient.id} born {c.patient.birth_date}")
        return real(c)

    monkeypatch.setattr(module, "claim_view", flaky)
    claims = [CLAIM, dict(CLAIM, claim_id="ISO-BOOM"), dict(CLAIM, claim_id="ISO-3")]
    with caplog.at_level(logging.ERROR, logger="claimscrub.scrub"):
        results = list(scrubber.scrub_many(claims))
    assert [(r.claim_id, r.status) for r in results] == [
        ("ISO-1", "scrubbed"),
        ("ISO-BOOM", "rejected"),
        ("ISO-3", "scrubbed"),
    ]
    boom = results[1]
    assert boom.reason == "engine error: unexpected ValueError while building the claim's view"
    assert [f.rule_id for f in boom.findings] == ["CS-ENGINE-001"]
    logged = caplog.text
    assert "ISO-BOOM" in logged and "ValueError" in logged
    assert "PATIENT-7731" not in logged and "1958-03-14" not in logged


def test_the_engine_stage_is_guarded_too(scrubber, monkeypatch):
    def boom(view):
        raise OverflowError("date value out of range")

    monkeypatch.setattr(scrubber.backend, "run", boom)
    result = scrubber.scrub(CLAIM)
    assert result.status == "rejected"
    assert result.reason == "engine error: unexpected OverflowError while building facts and running the rules"


# --- readers: bounded numbers ---------------------------------------------------------------------------------


def fhir(**item_changes) -> bytes:
    doc = copy.deepcopy(FHIR_CLAIM)
    doc["item"][0].update(item_changes)
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"unitPrice": {"value": 1e26, "currency": "USD"}}, "item[0].unitPrice.value: is too large"),
        ({"unitPrice": {"value": "1E99999999", "currency": "USD"}}, "item[0].unitPrice.value: is not a number"),
        ({"quantity": {"value": 1e-7}}, "item[0].quantity.value: has more than three decimals"),
        ({"quantity": {"value": 1e300}}, "item[0].quantity.value: is too large"),
        ({"quantity": {"value": 2.0005}}, "item[0].quantity.value: has more than three decimals"),
    ],
)
def test_fhir_numbers_are_bounded(change, problem):
    started = time.perf_counter()
    (item,) = read_bytes(fhir(**change), "f.json")
    assert item.error == problem
    assert time.perf_counter() - started < 1


def test_a_non_string_fhir_bundle_type_rejects_its_claims():
    bundle = {"resourceType": "Bundle", "type": {"coding": "batch"}, "entry": [{"resource": FHIR_CLAIM}]}
    (item,) = read_bytes(json.dumps(bundle).encode(), "b.json")
    assert item.claim_id == "FHIR-ISO-1" and item.field == "Bundle.type"
    assert item.error.startswith("Bundle.type a dict is not supported")


def test_fhir_messages_show_codes_but_not_long_values():
    doc = json.loads(fhir())
    doc["item"][0]["productOrService"]["coding"][0]["code"] = "Jane Roe " * 1000
    (item,) = read_bytes(json.dumps(doc).encode(), "f.json")
    assert (
        item.error == "item[0].productOrService: CPT/HCPCS code a value of 9,000 characters is not letters and digits"
    )
    doc["item"][0]["productOrService"]["coding"][0]["code"] = "992-13"
    (item,) = read_bytes(json.dumps(doc).encode(), "f.json")
    assert item.error == "item[0].productOrService: CPT/HCPCS code '992-13' is not letters and digits"


def x12_with(charge: str, units: str) -> bytes:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "examples" / "x12" / "demo_837p.x12").read_text()
    return text.replace("SV1*HC:99213:25*125.00*UN*1*", f"SV1*HC:99213:25*{charge}*UN*{units}*", 1).encode()


@pytest.mark.parametrize(
    ("charge", "units", "problem"),
    [
        ("1E30", "1", "amount is too large"),
        ("125.00", "1E99999999", "quantity is not a number"),
        ("125.00", "1E30", "quantity is too large"),
        ("125.001", "1", "amount has more than two decimals"),
    ],
)
def test_x12_numbers_are_bounded_and_the_line_is_dropped_with_a_note(scrubber, charge, units, problem):
    started = time.perf_counter()
    items = list(read_bytes(x12_with(charge, units), "demo.837"))
    assert time.perf_counter() - started < 1  # int(Decimal("1E99999999")) never returned
    first = items[0]
    noted = [n.message for n in first.notes] + [first.error or ""]
    assert any(problem in text for text in noted), noted
    assert all(scrubber.scrub(item).status in ("scrubbed", "rejected") for item in items)


def test_the_shared_number_parser():
    assert exact_number("140.52") == exact_number(140.52) and str(exact_number(140.52)) == "140.52"
    assert cents_text(exact_number("1E2")) == "100.00"
    for bad, why in [
        ("1E99999999", "is not a number"),
        ("1e41", "is too large"),
        (True, "is not a number"),
        ("nan", "is not a number"),
        ("1" * 41, "is not a number"),
        (float("inf"), "is not a finite number"),
    ]:
        with pytest.raises(NumberError, match=why):
            exact_number(bad)
    with pytest.raises(NumberError, match="is too large"):
        exact_number(10**6, 99999)


# --- messages: field and problem, a value only when it is a code ------------------------------------------------


@pytest.mark.parametrize(
    ("patient", "field"),
    [
        ({"id": "PATIENT-7731", "birth_date": "1958-02-30"}, "patient.birth_date"),
        ({"id": "PATIENT-7731", "birth_date": "1958/03/14"}, "patient.birth_date"),
        ({"id": 7731, "birth_date": "1958-03-14"}, "patient.id"),
        ({"id": "PATIENT-7731", "birth_date": "1958-03-14", "name": "Jane Roe"}, "patient"),
    ],
)
def test_rejections_never_echo_patient_values(scrubber, patient, field):
    result = one(scrubber, dict(CLAIM, patient=patient))
    assert result.status == "rejected" and result.field == field
    for secret in ("7731", "1958", "Jane Roe"[:4]):
        assert secret not in result.reason


def test_a_huge_value_is_named_not_echoed(scrubber):
    big = claim(modifiers=["x" * 10_000_000])
    result = one(scrubber, big)
    assert result.reason == "lines[0].modifiers[0]: does not match the pattern '^[0-9A-Za-z]{2}$'"
    many = claim(modifiers=list(range(5000)))
    result = one(scrubber, many)
    assert result.reason.startswith("lines[0].modifiers: has more than 4 items") and len(result.reason) < 200


def test_a_bad_code_is_shown_because_the_biller_needs_it():
    (found,) = problems(claim(modifiers=["R!"]))
    assert found == ("lines[0].modifiers[0]", "'R!' does not match the pattern '^[0-9A-Za-z]{2}$'")


def test_an_integer_the_rule_engine_cannot_hold_is_an_engine_error_with_a_reason(scrubber):
    from claimscrub.backends.durable import DurableBackend, EngineError
    from claimscrub.compile.views import claim_view
    from claimscrub.model.normalize import claim_from_dict

    claim_model = claim_from_dict(copy.deepcopy(CLAIM))
    claim_model.lines[0].units = -(2**70)  # past every bound the readers and the schema keep (and not positive)
    network = DurableBackend(scrubber.program, prove=False)  # facts asserted: the C core's 64-bit integers
    with pytest.raises(EngineError, match=r"too large for the rule engine \(64-bit\)"):
        network.run(claim_view(claim_model))
    proved = DurableBackend(scrubber.program, prove=True)
    hits = proved.run(claim_view(claim_model))  # decided by the fact builder: no fact to hold it
    assert "CS-INT-005" in {proved.program.rules[index].rule.id for index, _ in hits}
