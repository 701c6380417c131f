"""``claimscrub rules explain``: the facts, the compiled condition and the value of each part, per evaluation."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from claimscrub.cli.main import main

REPO = Path(__file__).resolve().parents[1]


def _explain(*args: str) -> str:
    result = CliRunner().invoke(main, ["rules", "explain", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_line_pair_hit_shows_its_fact_condition_and_parts():
    out = _explain(
        "CS-PTP-001", "--claim", str(REPO / "examples/native/demo_claims.json"), "--claim-id", "DEMO-UNBUNDLE-2"
    )
    assert '{"t": "line_pair"}' in out  # the condition as the Rete engine gets it
    assert "facts built (" in out and '"claim__type": "professional"' in out
    assert "line 2 with line 1 (date of service 2024-08-13): FIRES" in out
    assert "line 1 with line 2 (date of service 2024-08-13): does not fire" in out
    assert 'lookup("ncci_ptp_practitioner", other.code, line.code).modifier_indicator == 0 = true' in out


def test_an_encounter_line_evaluation_names_its_record():
    out = _explain("CS-EM-001", "--claim", str(REPO / "examples/encounters/claims.json"), "--claim-id", "EX-EM-001")
    assert "record ENC-001, line 1 (date of service 2024-03-05): FIRES" in out


def test_an_unknown_rule_is_a_usage_error():
    result = CliRunner().invoke(
        main, ["rules", "explain", "CS-NOPE-999", "--claim", str(REPO / "examples/native/demo_claims.json")]
    )
    assert result.exit_code == 2 and "CS-NOPE-999" in result.output
