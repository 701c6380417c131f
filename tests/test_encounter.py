"""Encounter records: schema, typed model, errors without PHI, and the bundled examples end to end."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from claimscrub.documentation import cloned, em, emstats
from claimscrub.documentation.encounter import (
    EncounterRejected,
    encounter_from_dict,
    encounter_from_document,
    encounter_problems,
    encounters_of_claim,
)
from claimscrub.model.normalize import claim_from_dict
from claimscrub.model.validate import problems as claim_problems

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "encounters"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "encounters"  # records and oracles, not claims


def load(name):
    folder = EXAMPLES if (EXAMPLES / name).is_file() else FIXTURES
    return json.loads((folder / name).read_text())


def minimal(**extra):
    doc = {
        "encounter_id": "ENC-X",
        "date_of_service": "2024-03-05",
        "link": {"claim_id": "CLM-X"},
    }
    doc.update(extra)
    return doc


# --------------------------------------------------------------------------- model


def test_minimal_record():
    e = encounter_from_document(minimal())
    assert e.encounter_id == "ENC-X" and e.link.claim_id == "CLM-X" and e.link.line_sequences == ()
    assert e.mdm is None and e.em is None and e.sections == {}


def test_full_record_maps_every_part():
    doc = next(c for c in load("claims.json") if c["claim_id"] == "EX-EM-012")["encounters"][0]
    e = encounter_from_document(doc)
    assert e.signature.present and e.signature.method == "stamped" and not e.signature.acceptable
    assert e.attestation.present is False
    assert e.em.setting == "office" and e.em.patient_status == "established"
    assert e.procedures[0].laterality == "left" and e.procedures[0].lesion.size_cm == 0.6
    assert e.distinct_service[0].evidence == "separate_site" and e.distinct_service[0].code == "11102"
    assert e.telehealth.modality == "audio_only" and e.telehealth.patient_location == "home"
    assert e.abn.on_file and e.abn.codes == ("17110",) and e.abn.option == "option_1"
    assert e.orders[0].signed is False and e.orders[0].code == "88305"
    assert e.teaching_physician.resident_involved is False
    assert e.incident_to.billed_incident_to is False
    assert e.mdm.problems[0].type == "acute_uncomplicated"


def test_timed_service_duration_start_stop_wins():
    e = encounter_from_document(
        minimal(
            timed_services=[
                {
                    "service": "psychotherapy",
                    "start": "2024-03-05T14:00",
                    "stop": "2024-03-05T14:50",
                    "minutes": 60,
                }
            ]
        )
    )
    t = e.timed("psychotherapy")[0]
    assert t.has_start_stop and t.duration_minutes == 50
    e = encounter_from_document(minimal(timed_services=[{"service": "critical_care", "minutes": 95}]))
    assert e.timed("critical_care")[0].duration_minutes == 95
    e = encounter_from_document(
        minimal(
            timed_services=[
                {
                    "service": "anesthesia",
                    "start": "2024-03-05T08:00:00Z",
                    "stop": "2024-03-05T09:07:00+00:00",
                }
            ]
        )
    )
    assert e.timed("anesthesia")[0].duration_minutes == 67


def test_time_activity_counting():
    e = encounter_from_document(
        minimal(
            time_activities=[
                {"activity": "documenting", "minutes": 5},
                {"activity": "travel", "minutes": 5},
                {
                    "activity": "history_exam",
                    "minutes": 5,
                    "performed_by": "clinical_staff",
                },
                {
                    "activity": "history_exam",
                    "minutes": 5,
                    "performed_by": "other_practitioner",
                },
            ]
        )
    )
    assert [a.counts_for_em for a in e.time_activities] == [True, False, False, True]


def test_documents_line():
    e = encounter_from_document(minimal(link={"claim_id": "C1", "line_sequences": [2]}))
    assert e.documents_line("C1", 2) and not e.documents_line("C1", 1) and not e.documents_line("C2", 2)
    e = encounter_from_document(minimal(link={"claim_id": "C1"}))
    assert e.documents_line("C1", 7)


def test_provider_falls_back_to_author():
    e = encounter_from_document(minimal(author={"npi": "1234567893", "credentials": "MD"}))
    assert e.provider_npi == "1234567893"


# --------------------------------------------------------------------------- errors


def test_calendar_date_error_names_encounter_and_field():
    with pytest.raises(EncounterRejected) as exc:
        encounter_from_document(minimal(date_of_service="2024-02-30"))
    assert exc.value.encounter_id == "ENC-X" and exc.value.field == "date_of_service"
    assert "2024-02-30" not in str(exc.value)


def test_stop_before_start():
    with pytest.raises(EncounterRejected, match=r"timed_services\[0\].stop: is before the start"):
        encounter_from_document(
            minimal(
                timed_services=[
                    {
                        "service": "infusion",
                        "start": "2024-03-05T10:00",
                        "stop": "2024-03-05T09:00",
                    }
                ]
            )
        )


def test_start_without_stop():
    with pytest.raises(EncounterRejected, match="start without a stop"):
        encounter_from_document(minimal(timed_services=[{"service": "infusion", "start": "2024-03-05T10:00"}]))


def test_link_needs_claim_or_patient_and_provider():
    assert (
        "link",
        "must be either {claim_id[, line_sequences]} or {patient_id, provider_npi}",
    ) in encounter_problems(minimal(link={"patient_id": "P1"}))
    with pytest.raises(EncounterRejected, match="link"):
        encounter_from_dict(minimal(link={"patient_id": "P1"}))


def test_schema_errors_never_echo_values():
    doc = minimal(
        em={"setting": "Jane Doe's house"},
        sections={"hpi": 12345},
        author={"npi": "Jane Doe"},
    )
    found = encounter_problems(doc)
    fields = {f for f, _ in found}
    assert {"em.setting", "sections.hpi", "author.npi"} <= fields
    text = " ".join(p for _, p in found)
    assert "Jane" not in text and "12345" not in text
    with pytest.raises(EncounterRejected) as exc:
        encounter_from_document(doc)
    assert "Jane" not in str(exc.value)


def test_unknown_field_is_rejected():
    assert encounter_problems(minimal(colour="blue"))[0][0] == "(encounter)"


def test_not_an_object():
    with pytest.raises(EncounterRejected) as exc:
        encounter_from_document(["not", "an", "encounter"])
    assert exc.value.encounter_id is None


# --------------------------------------------------------------------------- examples


@pytest.fixture(scope="module")
def example_claims():
    docs = load("claims.json") + load("claims_side_by_side.json")
    for doc in docs:
        assert claim_problems(doc) == [], doc["claim_id"]
    return {doc["claim_id"]: claim_from_dict(doc) for doc in docs}


@pytest.fixture(scope="module")
def example_encounters(example_claims):
    out = {}
    for claim in example_claims.values():
        for e in encounters_of_claim(claim):
            out[e.encounter_id] = e
    for doc in load("encounters.json"):
        e = encounter_from_document(doc)
        out[e.encounter_id] = e
    return out


def _billed(claims, encounter):
    """The claim line an encounter documents: by claim id, else by patient + NPI + date."""
    for claim in claims.values():
        npi = claim.rendering_provider.npi if claim.rendering_provider else claim.billing_provider.npi
        for line in claim.lines:
            if encounter.link.claim_id:
                if encounter.documents_line(claim.claim_id, line.sequence):
                    return claim, line
            elif (
                claim.patient.id == encounter.patient_id
                and npi == encounter.provider_npi
                and line.from_date == encounter.date_of_service
            ):
                return claim, line
    raise AssertionError(f"no line for {encounter.encounter_id}")


def test_embedded_encounters_get_patient_and_provider(example_encounters):
    e = example_encounters["ENC-001"]
    assert e.patient_id == "PAT-001" and e.provider_npi == "1234567893"


def test_examples_em_levels(example_claims, example_encounters):
    for eid, want in load("expected.json")["em"].items():
        e = example_encounters[eid]
        _claim, line = _billed(example_claims, e)
        assert line.code == want["billed"], eid
        check = em.check_billed_em(em.derive_em_level(e), line.code)
        assert (check.supported_code, check.status) == (
            want["supported"],
            want["status"],
        ), (eid, check.message)


def test_example_enc_001_reason(example_encounters):
    check = em.check_billed_em(em.derive_em_level(example_encounters["ENC-001"]), "99214")
    assert "documentation supports 99213: MDM low (problems low: 1 stable chronic illness" in check.message
    assert "time 22 min (99213 needs 20 from 2024)" in check.message


def test_examples_prolonged(example_claims, example_encounters):
    for eid, want in load("expected.json")["prolonged"].items():
        e = example_encounters[eid]
        claim, _ = _billed(example_claims, e)
        assert claim.payer.type == want["payer"]
        p = em.prolonged_for(em.derive_em_level(e), claim.payer.type)
        assert (p.code, p.units) == (want["code"], want["units"]), eid
        if "billed_code_not_for_payer" in want:
            billed = {line.code for line in claim.lines}
            assert want["billed_code_not_for_payer"] in billed
            assert em.code_not_for_payer(want["billed_code_not_for_payer"], claim.payer.type)


def test_examples_timed_services(example_claims, example_encounters):
    exp = load("expected.json")
    for eid, want in exp["psychotherapy"].items():
        e = example_encounters[eid]
        r = em.psychotherapy_code(e.timed("psychotherapy")[0].duration_minutes, e.date_of_service)
        assert r.code == want["supported"] != want["billed"]
    for eid, want in exp["critical_care"].items():
        e = example_encounters[eid]
        claim, _ = _billed(example_claims, e)
        r = em.critical_care_units(
            e.timed("critical_care")[0].duration_minutes,
            claim.payer.type,
            e.date_of_service,
        )
        assert (r.first_code, r.additional_units) == (
            want["first"],
            want["additional_units"],
        )
        assert "99292" in {line.code for line in claim.lines}  # billed, not supported
    for eid, want in exp["anesthesia"].items():
        e = example_encounters[eid]
        minutes = e.timed("anesthesia")[0].duration_minutes
        assert minutes == want["minutes"]
        assert em.anesthesia_time_units(minutes, e.date_of_service) == Decimal(want["time_units"])
        assert em.infusion_or_push(e.timed("infusion")[0].duration_minutes, e.date_of_service) == want["infusion"]


def test_examples_cloned(example_encounters):
    matches = cloned.find_cloned_sections(example_encounters.values())
    got = sorted((m.section, m.encounter_ids, m.scope) for m in matches)
    want = sorted((w["section"], tuple(w["encounter_ids"]), w["scope"]) for w in load("expected.json")["cloned"])
    assert got == want


def test_examples_emstats():
    bench = emstats.load_benchmarks()
    fp = bench.find("family_practice")
    results = emstats.compare_providers(load("em_counts.json"), fp, bench.alpha, bench.min_services)
    assert {r.provider_npi: r.severity for r in results} == load("expected.json")["emstats"]


def test_every_schema_field_is_documented():
    from claimscrub.resources import schema_path

    schema = json.loads(schema_path("encounter.schema.json").read_text())
    missing = []

    def walk(node, path):
        if isinstance(node, dict):
            for key, sub in node.get("properties", {}).items():
                if "description" not in sub:
                    missing.append(f"{path}.{key}")
                walk(sub, f"{path}.{key}")
            if "items" in node:
                walk(node["items"], path + "[]")
            for alt in node.get("oneOf", ()):
                walk(alt, path)

    walk(schema, "")
    assert missing == []
