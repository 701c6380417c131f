"""A finding cites the references that apply to it: a rule covering several services names each
service's source with a ``when`` on the reference, and a finding keeps only those that hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from claimscrub.api.scrubber import Scrubber
from claimscrub.authoring.lint import lint
from claimscrub.authoring.ruletest import base_claim, merge_patch, with_encounter

PSYCHOTHERAPY = "AMA CPT Psychiatry guidelines, psychotherapy time"
CRITICAL_CARE = "Section 30.6.12 (critical care"


@pytest.fixture(scope="module")
def scrubber() -> Scrubber:
    return Scrubber()


def _untimed(code: str) -> dict:
    line = {
        "sequence": 1,
        "code": code,
        "units": 1,
        "charge": "150.00",
        "from_date": "2024-08-01",
        "diagnosis_pointers": [1],
    }
    claim = merge_patch(base_claim(), {"diagnoses": [{"code": "F33.1"}], "lines": [line]})
    return with_encounter(claim, {"em": None, "mdm": None, "total_time_minutes": None})


@pytest.mark.parametrize(
    ("code", "cited", "not_cited"),
    [
        ("90837", PSYCHOTHERAPY, CRITICAL_CARE),
        ("99291", CRITICAL_CARE, PSYCHOTHERAPY),
    ],
)
def test_timed_service_finding_cites_its_own_source(scrubber: Scrubber, code: str, cited: str, not_cited: str):
    result = scrubber.scrub(_untimed(code))
    (finding,) = [f for f in result.findings if f.rule_id == "CS-DOC-007"]
    assert cited in finding.citation and not_cited not in finding.citation
    assert len(finding.references) == 1 and cited in finding.references[0]["source"]
    assert set(finding.references[0]) == {"source", "edition"}  # the condition is not part of the citation


def test_references_without_a_condition_are_always_cited(scrubber: Scrubber):
    claim = merge_patch(
        base_claim(),
        {
            "lines": [
                {
                    "sequence": 1,
                    "code": "20610",
                    "units": 1,
                    "charge": "100.00",
                    "from_date": "2024-08-01",
                    "diagnosis_pointers": [1],
                    "modifiers": ["RT", "LT"],
                }
            ]
        },
    )
    (finding,) = [f for f in scrubber.scrub(claim).findings if f.rule_id == "CS-MOD-001"]
    assert finding.citation and len(finding.references) >= 1


def test_a_reference_condition_is_type_checked(tmp_path: Path):
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "pack.yaml").write_text("name: p\nversion: '1'\n")
    (pack / "TST-REF-001.yaml").write_text("""# yaml-language-server: $schema=../schemas/rule.schema.json
rules:
  - id: TST-REF-001
    title: A reference with a bad condition
    category: modifier
    severity: error
    scope: line
    when: line.code == "99213"
    message: "Line {line.sequence}"
    fix: Fix it.
    references:
      - source: test
        when: line.cod == "99213"
    status: active
""")
    (issue,) = [i for i in lint([pack]) if i.code == "type"]
    assert issue.line == 13 and issue.message.startswith("when: ") and "cod" in issue.message
