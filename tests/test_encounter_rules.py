"""Rules that compare claims with their encounter records: the encounter scopes end to end.

The example set (examples/encounters/claims.json) must give exactly the E/M and
documentation findings recorded in tests/fixtures/encounters/expected.json; the
issue's acceptance case (low MDM, 22 minutes, billed 99214) must name 99213 with
the MDM elements and time; both backends must agree on every rule-test case
that carries a record; claims without records must build no encounter facts.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from rulepacks import write_pack

from claimscrub.authoring import ruletest
from claimscrub.authoring.lint import lint
from claimscrub.authoring.ruletest import load_cases, scrubber_for
from claimscrub.backends.durable import DurableBackend
from claimscrub.backends.reference import ReferenceBackend
from claimscrub.compile.facts import build_facts
from claimscrub.compile.views import claim_view
from claimscrub.model.normalize import claim_from_dict
from claimscrub.resources import rules_dir

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = json.loads((REPO / "examples/encounters/claims.json").read_text())
EXPECTED = json.loads((REPO / "tests/fixtures/encounters/expected.json").read_text())["findings"]
OURS = ("CS-EM-", "CS-DOC-")


@pytest.fixture(scope="module")
def scrubber():
    return scrubber_for()


def _ours(result) -> list[str]:
    return sorted(
        f"{f.rule_id}@{'-' if f.line is None else f.line} {f.encounter or '-'}"
        for f in result.findings
        if f.rule_id.startswith(OURS)
    )


@pytest.mark.parametrize("claim", EXAMPLES, ids=[c["claim_id"] for c in EXAMPLES])
def test_examples_give_the_expected_findings(scrubber, claim):
    result = scrubber.scrub(claim)
    assert result.status == "scrubbed"
    assert _ours(result) == sorted(EXPECTED[claim["claim_id"]])


def test_upcoding_names_the_supported_code_with_mdm_and_time(scrubber):
    claim = next(c for c in EXAMPLES if c["claim_id"] == "EX-EM-001")
    [finding] = [f for f in scrubber.scrub(claim).findings if f.rule_id == "CS-EM-001"]
    assert finding.category == "upcoding" and finding.severity == "error"
    assert finding.encounter == "ENC-001" and finding.line == 1
    assert "supports 99213" in finding.message
    assert "MDM low (problems low: 1 stable chronic illness; data minimal" in finding.message
    assert "time 22 min (99213 needs 20 from 2024)" in finding.message
    assert "99214 needs moderate MDM or 30 min from 2024" in finding.message
    assert finding.fix.startswith("Bill 99213.")
    same_note_as_99213 = copy.deepcopy(claim)
    same_note_as_99213["lines"][0]["code"] = "99213"
    assert _ours(scrubber.scrub(same_note_as_99213)) == []


def test_an_unreadable_record_is_reported_without_its_values(scrubber):
    claim = copy.deepcopy(next(c for c in EXAMPLES if c["claim_id"] == "EX-EM-001"))
    claim["encounters"][0]["total_time_minutes"] = "twenty-two (PHI-LIKE TEXT)"
    result = scrubber.scrub(claim)
    [finding] = [f for f in result.findings if f.rule_id == "CS-DOC-006"]
    assert "ENC-001: total_time_minutes: must be of type integer" in finding.message
    assert "PHI-LIKE" not in finding.message
    assert not [f for f in result.findings if f.rule_id == "CS-EM-001"]  # the record was not compared


def _encounter_cases():
    for path in ruletest.test_files([rules_dir() / "packs"]):
        cases, _ = load_cases(path)
        for case in cases:
            if case.claim and case.claim.get("encounters"):
                yield case


def test_backends_agree_on_every_case_with_a_record(scrubber):
    program = scrubber.program
    reference, durable = ReferenceBackend(program), DurableBackend(program)
    cases = list(_encounter_cases())
    assert len(cases) >= 60
    fired = set()
    for case in cases:
        view = claim_view(claim_from_dict(case.claim))
        ref = reference.run(view)
        assert ref == durable.run(view), case.label
        fired |= {program.rules[i].rule.id for i, key in ref if key.encounter is not None}
    scoped = {r.rule.id for r in program.rules if r.rule.scope.startswith("encounter")}
    assert scoped <= fired, f"encounter rules never fired: {sorted(scoped - fired)}"


def test_claims_without_records_build_no_encounter_facts(scrubber):
    claim = {k: v for k, v in EXAMPLES[0].items() if k != "encounters"}
    view = claim_view(claim_from_dict(claim))
    facts, _ = build_facts(scrubber.program, view)
    assert "encounter" not in facts and "encounter_line" not in facts
    with_record = build_facts(scrubber.program, claim_view(claim_from_dict(EXAMPLES[0])))[0]
    assert "encounter_line" in with_record


def test_lint_checks_encounter_paths_with_did_you_mean(tmp_path):
    pack = write_pack(
        tmp_path / "testpack",
        [
            "  - id: TST-ENC-001\n    title: A rule with a misspelled encounter field\n"
            "    category: upcoding\n    severity: error\n    scope: encounter_line\n"
            '    when: line.code != enc.em.suported_code and doc.em_statu == "over"\n'
            '    message: "{enc.em.explanation}"\n    fix: Fix it.\n    references: [{source: test}]\n'
            "    status: active\n"
        ],
    )
    messages = [i.message for i in lint([pack]) if i.code == "type"]
    assert any("'em' has no field 'suported_code'; did you mean 'supported_code'?" in m for m in messages)
    assert any("'doc' has no field 'em_statu'; did you mean 'em_status'?" in m for m in messages)


def test_line_scope_cannot_see_the_record(tmp_path):
    pack = write_pack(
        tmp_path / "testpack",
        [
            "  - id: TST-ENC-002\n    title: A line rule reaching for a record\n"
            "    category: upcoding\n    severity: error\n    scope: line\n"
            '    when: enc.em.supported_code == "99213"\n'
            "    message: m\n    fix: Fix it.\n    references: [{source: test}]\n    status: active\n"
        ],
    )
    assert any("unknown name 'enc'" in i.message for i in lint([pack]) if i.code == "type")
