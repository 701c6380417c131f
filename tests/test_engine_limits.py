"""The durable adapter stays inside the C core's limits, and lint names rules that cannot.

Limits and margins: shared/notes/durable-rules.md and engine/claimscrub/backends/durable.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rulepacks import rule_yaml, write_pack

from claimscrub.api.scrubber import Scrubber
from claimscrub.authoring.lint import lint
from claimscrub.backends import make_backend
from claimscrub.backends.durable import MAX_BRANCHES_PER_SCOPE, MAX_FACT_PROPERTIES, MAX_RULES_PER_RULESET, EngineError
from claimscrub.compile.views import claim_view
from claimscrub.model.normalize import claim_from_dict


def _rule(rule_id: str, when: str, scope: str = "line") -> str:
    return rule_yaml(rule_id, when, scope, title="Limit test rule")


def _pack(tmp_path: Path, rules: list[str]) -> Path:
    return write_pack(tmp_path / "limits", rules)


def _claim(units: int = 3, modifiers: list[str] | None = None, code: str = "99213") -> dict:
    return {
        "claim_id": "LIM-1",
        "type": "professional",
        "claim_date": "2024-08-20",
        "payer": {"type": "medicare"},
        "billing_provider": {"npi": "1234567893"},
        "patient": {"id": "P1", "sex": "F", "birth_date": "1960-01-01"},
        "diagnoses": [{"code": "E11.9"}],
        "lines": [
            {
                "sequence": s,
                "code": code,
                "units": units,
                "charge": "10.00",
                "from_date": "2024-08-01",
                "modifiers": modifiers or [],
                "diagnosis_pointers": [1],
            }
            for s in (1, 2)
        ],
    }


def _hits(scrubber: Scrubber, claim: dict) -> set:
    return scrubber.backend.run(claim_view(claim_from_dict(claim)))


def test_many_rules_are_sharded_and_agree_with_the_reference(tmp_path):
    n = MAX_RULES_PER_RULESET * 2 + 5
    pack = _pack(tmp_path, [_rule(f"TST-LIM-{i:03d}", f"line.units == {i % 7}") for i in range(n)])
    durable = Scrubber([pack], replace_bundled=True, backend="durable")
    assert len(durable.backend.shards) >= 3
    assert all(len(s.rules) <= MAX_RULES_PER_RULESET for s in durable.backend.shards)
    reference = make_backend("reference", durable.program)
    claim = _claim(units=3)
    hits = _hits(durable, claim)
    assert hits == reference.run(claim_view(claim_from_dict(claim)))
    assert {durable.program.rules[i].rule.id for i, _ in hits} == {f"TST-LIM-{i:03d}" for i in range(n) if i % 7 == 3}


def test_alternatives_are_capped_per_ruleset(tmp_path):
    # Each rule: 4 alternatives; a ruleset may hold at most MAX_BRANCHES_PER_SCOPE of them per scope.
    when = 'line.units == 1 or line.units == 2 or line.code == "A" or line.code == "B"'
    n = MAX_BRANCHES_PER_SCOPE // 4 + 3
    pack = _pack(tmp_path, [_rule(f"TST-LIM-{i:03d}", when) for i in range(n)])
    durable = Scrubber([pack], replace_bundled=True, backend="durable")
    assert len(durable.backend.shards) == 2
    assert {durable.program.rules[i].rule.id for i, _ in _hits(durable, _claim(units=2))} == {
        f"TST-LIM-{i:03d}" for i in range(n)
    }


def test_facts_wider_than_the_property_limit_are_cut_per_ruleset(tmp_path):
    # 130 rules x 2 distinct derived tests = 260 properties on a line fact: more than one fact may carry.
    # (An OR requires neither test, so every rule stays live and every test is computed into the fact.)
    rules = [
        _rule(f"TST-LIM-{i:03d}", f'line.units == len(line.modifiers) + {i - 1} or starts_with(line.code, "9{i}")')
        for i in range(130)
    ]
    durable = Scrubber([_pack(tmp_path, rules)], replace_bundled=True, backend="durable")
    assert len(durable.program.scopes["line"].planner.derived) + 3 > MAX_FACT_PROPERTIES
    cut = [keep for *_, keep in durable.backend._handles if keep is not None]
    assert cut and all(len(keep) <= MAX_FACT_PROPERTIES for keep in cut)
    claim = _claim(units=1, modifiers=["RT"], code="91000")  # 1 unit, one modifier (rule 1); code starts 91, 910, 9100
    hits = _hits(durable, claim)  # without the cut the C core crashed the process here (limit 255)
    assert hits == make_backend("reference", durable.program).run(claim_view(claim_from_dict(claim)))
    assert {durable.program.rules[i].rule.id for i, _ in hits} == {"TST-LIM-001", "TST-LIM-010", "TST-LIM-100"}


def test_a_rule_too_big_for_any_ruleset_is_refused_by_lint_and_engine(tmp_path):
    when = " or ".join(f"line.units == len(line.modifiers) + {i}" for i in range(MAX_FACT_PROPERTIES))
    pack = _pack(tmp_path, [_rule("TST-LIM-BIG", when)])
    issues = [i for i in lint([pack]) if i.code == "engine-limit"]
    assert any("TST-LIM-BIG" in i.message and "fact properties" in i.message for i in issues)
    assert any("alternatives" in i.message for i in issues)
    assert all(i.line == 3 for i in issues)
    with pytest.raises(Exception) as raised:
        Scrubber([pack], replace_bundled=True, backend="durable")
    assert isinstance(raised.value, EngineError) and "TST-LIM-BIG" in str(raised.value)


def test_bundled_rules_fit(tmp_path):
    assert not [i for i in lint([]) if i.code == "engine-limit"]
