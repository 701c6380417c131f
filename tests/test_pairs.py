"""Issue #12 item 4: line pairs are screened by signature, and a claim's work is budgeted.

The fact builder runs a pair group's cheap tests once per distinct (line, other) signature
instead of once per pair; the reference evaluator still walks every pair, so agreement on
long claims with repeated codes, modifiers and dates shows the screen loses no finding.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import claimscrub.compile.facts as facts_module
from claimscrub import Scrubber
from claimscrub.backends.durable import DurableBackend
from claimscrub.backends.reference import ReferenceBackend
from claimscrub.compile.budget import OverBudget, claim_budget, tick
from claimscrub.compile.facts import build_facts
from claimscrub.compile.views import claim_view
from claimscrub.model.normalize import claim_from_dict

# E/M, minor and major procedures, labs, an add-on: PTP pairs, global periods, E/M-with-procedure rules
CODES = [
    "99213",
    "99214",
    "99215",
    "20610",
    "80053",
    "80048",
    "11042",
    "11045",
    "97597",
    "27447",
    "36415",
    "93000",
    "93010",
    "69210",
    "J1100",
    "11721",
]
MODIFIERS = ["25", "59", "XS", "57", "24", "RT", "LT", "91"]
DATES = ["2024-08-01", "2024-08-02", "2024-05-01"]


def long_claim(lines: list[dict]) -> dict:
    return {
        "claim_id": "PAIRS",
        "type": "professional",
        "payer": {"type": "medicare"},
        "billing_provider": {"npi": "1234567893"},
        "patient": {"id": "P", "sex": "F", "birth_date": "1960-01-01"},
        "diagnoses": [{"code": "M17.11"}],
        "lines": [
            dict(line, sequence=i, units=1, charge="10.00", diagnosis_pointers=[1]) for i, line in enumerate(lines, 1)
        ],
    }


@pytest.fixture(scope="module")
def scrubber() -> Scrubber:
    return Scrubber(samples=True, include_draft=True)


line_st = st.fixed_dictionaries(
    {
        "code": st.sampled_from(CODES),
        "modifiers": st.lists(st.sampled_from(MODIFIERS), max_size=2, unique=True),
        "from_date": st.sampled_from(DATES),
        "rendering_npi": st.sampled_from(["1234567893", "1245319599"]),
    }
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(line_st, min_size=8, max_size=40))
def test_screened_pairs_find_what_every_pair_finds(scrubber, lines):
    view = claim_view(claim_from_dict(long_claim(lines)))
    program = scrubber.program
    assert DurableBackend(program).run(view) == ReferenceBackend(program).run(view)


def test_the_screen_runs_once_per_signature_pair_not_per_pair(scrubber, monkeypatch):
    calls = []
    real = facts_module._screened

    def counting(group, ctx, dos):
        calls.append(1)
        return real(group, ctx, dos)

    monkeypatch.setattr(facts_module, "_screened", counting)
    lines = [{"code": CODES[i % 4], "from_date": "2024-08-01"} for i in range(400)]  # 4 codes, one date
    by_scope, _ = build_facts(scrubber.program, claim_view(claim_from_dict(long_claim(lines))))
    assert 0 < len(calls) <= 2 * 4 * 4  # per screened group: 4 x 4 signatures, against 159,600 pairs
    assert len(by_scope["line_pair"]) > 0  # 99213 with 20610 (and its duplicates) still pair


def test_a_claim_over_its_budget_is_rejected_and_the_next_is_scrubbed():
    tight = Scrubber(samples=True, claim_facts=50)
    lines = [{"code": code, "from_date": "2024-08-01"} for code in ["99213", "20610"] * 20]
    big, small = long_claim(lines), long_claim(lines[:2])
    results = list(tight.scrub_many([big, dict(small, claim_id="SMALL")]))
    assert [(r.claim_id, r.status) for r in results] == [("PAIRS", "rejected"), ("SMALL", "scrubbed")]
    assert results[0].field == "lines"
    assert results[0].reason == (
        "lines: the claim needs more than 50 facts of rule work, over the per-claim "
        "budget; split it into smaller claims"
    )


def test_the_time_budget_stops_the_reference_evaluator_too():
    slow = Scrubber(samples=True, backend="reference", claim_seconds=0.0)
    result = slow.scrub(long_claim([{"code": "99213", "from_date": "2024-08-01"}] * 3))
    assert result.status == "rejected" and "more than 0 s" in result.reason


def test_max_lines_rejects_before_any_work():
    capped = Scrubber(samples=True, max_lines=3)
    result = capped.scrub(long_claim([{"code": "99213", "from_date": "2024-08-01"}] * 4))
    assert (result.status, result.field) == ("rejected", "lines")
    assert result.reason == "lines: 4 service lines, over the limit of 3 per claim (--max-lines)"


def test_budget_outside_a_claim_is_unlimited_and_inside_counts():
    tick(10**9)  # no budget set: nothing to exceed
    with claim_budget(None, 2), pytest.raises(OverBudget, match="more than 2 facts"):
        tick(1)
        tick(2)


def test_findings_on_a_long_claim_name_the_same_lines_as_on_a_short_one(scrubber):
    """Rendering finds a finding's lines through an index on long claims (a loop per finding was quadratic)."""
    pair = [{"code": "99213", "from_date": "2024-08-01"}, {"code": "20610", "from_date": "2024-08-01"}]
    filler = [{"code": "36415", "from_date": "2024-05-01"}] * 18
    short = scrubber.scrub(long_claim(pair))
    long = scrubber.scrub(long_claim(filler + pair))

    def where(r, shift):
        return sorted(
            (f.rule_id, f.line - shift, tuple(n - shift for n in f.related_lines))
            for f in r.findings
            if f.line is not None and f.line > shift
        )

    assert where(short, 0) and where(long, 18) == where(short, 0)
