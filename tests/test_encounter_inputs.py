"""Encounter records beside their claims: recognised by content, validated, attached by their link."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import orjson
import pytest

from claimscrub.documentation.encounter import encounter_problems
from claimscrub.inputs import InputFormatError, read_bytes, read_path
from claimscrub.inputs.encounters import (
    EncounterDoc,
    encounter_report,
    index_encounters,
    is_encounter_document,
    link_claim,
)

REPO = Path(__file__).resolve().parents[1]
SIDE_CLAIMS = REPO / "examples" / "encounters" / "claims_side_by_side.json"
SIDE_ENCOUNTERS = REPO / "tests" / "fixtures" / "encounters" / "encounters.json"
EMBEDDED = REPO / "examples" / "encounters" / "claims.json"


def claims() -> list[dict]:
    return json.loads(SIDE_CLAIMS.read_text())


def records() -> list[dict]:
    return json.loads(SIDE_ENCOUNTERS.read_text())


def docs(*recs: dict) -> list[EncounterDoc]:
    return [EncounterDoc(f"enc.json#{i}", r) for i, r in enumerate(recs)]


def link_all(claim_list, index):
    out, links = [], []
    for c in claim_list:
        linked_claim, linked = link_claim(c, index)
        out.append(linked_claim)
        links.extend(linked)
    return out, links


def test_encounter_documents_are_recognised_by_content():
    assert is_encounter_document(records()[0])
    assert not is_encounter_document(claims()[0])  # a claim has lines
    assert not is_encounter_document({"resourceType": "Claim", "encounter_id": "x"})
    found: list[EncounterDoc] = []
    items = list(read_path(SIDE_ENCOUNTERS, found))
    assert items == [] and [d.encounter_id for d in found] == ["ENC-101", "ENC-102", "ENC-201"]
    assert found[1].source.endswith("encounters.json#1")


def test_without_a_collector_an_encounter_is_reported_not_taken_for_a_claim():
    (item,) = read_bytes(orjson.dumps(records()[0]), "enc.json")
    assert item.data is None and item.field == "encounter_id" and "ENC-101" in item.error
    assert "not a claim" in item.error


def test_one_file_holding_claims_and_encounters():
    found: list[EncounterDoc] = []
    mixed = orjson.dumps([*claims(), *records()])
    assert [i.claim_id for i in read_bytes(mixed, "mixed.json", found)] == ["EX-EM-101", "EX-EM-102", "EX-EM-201"]
    assert len(found) == 3
    found = []
    container = orjson.dumps({"claims": claims(), "encounters": records()})
    items = list(read_bytes(container, "both.json", found))
    assert items[0].source == "both.json:claims[0]" and found[0].source == "both.json:encounters[0]"
    jsonl = b"\n".join(orjson.dumps(d) for d in [*claims(), *records()])
    found = []
    assert len(list(read_bytes(jsonl, "both.jsonl", found))) == 3 and len(found) == 3
    with pytest.raises(InputFormatError, match="encounters must be an array"):
        list(read_bytes(b'{"claims": [], "encounters": {}}', "bad.json", []))


def test_join_by_patient_date_and_provider():
    index = index_encounters(docs(*records()))
    linked, links = link_all(claims(), index)
    assert {(li.encounter_id, li.claim_id, li.by, li.lines) for li in links} == {
        ("ENC-101", "EX-EM-101", "patient_date_provider", (1,)),
        ("ENC-102", "EX-EM-102", "patient_date_provider", (1,)),
        ("ENC-201", "EX-EM-201", "patient_date_provider", (1,)),
    }
    (enc,) = linked[0]["encounters"]
    assert enc["encounter_id"] == "ENC-101"
    assert enc["link"] == {
        "claim_id": "EX-EM-101",
        "line_sequences": [1],
        "patient_id": "PAT-001",
        "provider_npi": "1234567893",
    }
    assert encounter_problems(enc) == []  # the resolved link is still schema-valid
    assert "encounters" not in claims()[0]  # input dicts are not modified
    report = encounter_report(index, links)
    assert report.summary() == {"encounters": 3, "linked": 3, "unlinked": 0, "invalid": 0}


def test_patient_link_needs_the_same_date_and_provider():
    rec = records()[0]
    other_day = {**copy.deepcopy(rec), "encounter_id": "E-DAY", "date_of_service": "2024-01-17"}
    other_npi = {**copy.deepcopy(rec), "encounter_id": "E-NPI"}
    other_npi["link"]["provider_npi"] = "1114025228"
    other_patient = {**copy.deepcopy(rec), "encounter_id": "E-PAT"}
    other_patient["link"]["patient_id"] = "PAT-999"
    index = index_encounters(docs(other_day, other_npi, other_patient))
    _, links = link_all(claims(), index)
    assert links == []
    report = encounter_report(index, links)
    assert {e["encounter_id"] for e in report.entries() if e["status"] == "unlinked"} == {"E-DAY", "E-NPI", "E-PAT"}
    assert all("no claim in the input matches" in e["reason"] for e in report.entries())


def test_billing_npi_and_multi_day_lines_link():
    claim = claims()[0]
    claim["rendering_provider"] = {"npi": "1114025228"}
    claim["lines"][0]["to_date"] = "2024-01-18"
    rec = {**records()[0], "date_of_service": "2024-01-17"}
    rec["link"] = {"patient_id": "PAT-001", "provider_npi": claim["billing_provider"]["npi"]}
    _, links = link_claim(claim, index_encounters(docs(rec)))
    assert [(li.claim_id, li.lines) for li in links] == [("EX-EM-101", (1,))]


def test_join_by_claim_id_and_lines():
    rec = {
        "encounter_id": "E-CID",
        "date_of_service": "2024-02-13",
        "link": {"claim_id": "EX-EM-102", "line_sequences": [1]},
    }
    index = index_encounters(docs(rec))
    linked, links = link_all(claims(), index)
    assert [(li.claim_id, li.by) for li in links] == [("EX-EM-102", "claim_id")]
    assert linked[1]["encounters"][0]["link"] == {"claim_id": "EX-EM-102", "line_sequences": [1]}
    assert "encounters" not in linked[0]


def test_invalid_and_duplicate_encounters_are_reported_with_field():
    bad_date = {"encounter_id": "E-BAD", "date_of_service": "2024-02-30", "link": {"claim_id": "EX-EM-101"}}
    no_link = {"encounter_id": "E-NOLINK", "date_of_service": "2024-01-16"}
    dup = records()[0]
    index = index_encounters(docs(bad_date, no_link, records()[0], dup))
    problems = {p.encounter_id: (p.field, p.problem) for p in index.problems}
    assert problems["E-BAD"] == ("date_of_service", "is not a calendar date (YYYY-MM-DD)")
    assert problems["E-NOLINK"][0] == "(encounter)" and "link" in problems["E-NOLINK"][1]
    assert problems["ENC-101"][0] == "encounter_id" and "twice" in problems["ENC-101"][1]
    assert index.count == 1
    _, links = link_all(claims(), index)
    assert [li.encounter_id for li in links] == ["ENC-101"]  # the invalid record is never attached
    entries = encounter_report(index, links).entries()
    assert {(e["encounter_id"], e["status"]) for e in entries} == {
        ("ENC-101", "linked"),
        ("E-BAD", "invalid"),
        ("E-NOLINK", "invalid"),
        ("ENC-101", "invalid"),
    }
    assert all("2024-02-30" not in json.dumps(e) for e in entries)  # never a value in a reason


def test_embedded_encounters_are_kept_and_not_duplicated():
    embedded = json.loads(EMBEDDED.read_text())[0]
    own = embedded["encounters"][0]
    same_id = {**own, "link": {"claim_id": embedded["claim_id"]}}
    extra = {
        "encounter_id": "E-SIDE",
        "date_of_service": own["date_of_service"],
        "link": {"claim_id": embedded["claim_id"]},
    }
    linked, links = link_claim(embedded, index_encounters(docs(same_id, extra)))
    assert [e["encounter_id"] for e in linked["encounters"]] == [own["encounter_id"], "E-SIDE"]
    assert linked["encounters"][0] is own
    assert {li.encounter_id for li in links} == {own["encounter_id"], "E-SIDE"}


def test_a_claim_with_a_broken_encounters_field_is_left_to_its_own_validation():
    claim = {**claims()[0], "encounters": "not a list"}
    out, links = link_claim(claim, index_encounters(docs(records()[0])))
    assert out is claim and links == ()
