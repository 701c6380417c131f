"""The appraisal's estimators against a hand-worked textbook example and independent numpy/scipy computations.

Nothing here calls the formulas under test to get the expected figures: the expected values are
the book's, or computed in the test from the raw sample with numpy and scipy.stats.t.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from claimscrub.audit.appraisal import build, estimate_dict
from claimscrub.audit.stats.appraise import StratumSample, estimate_total

# Cochran, W. G. (1977), Sampling Techniques, 3rd ed., Wiley, chapter 2 (simple random sampling),
# the worked example of signatures to a petition: 676 sheets, a simple random sample of 50 sheets,
# signatures counted per sheet (frequency table below). The book gives sum y = 1471,
# sum y^2 = 54,497, s^2 = 229.0, the estimated total 19,888 and its standard error 1,392
# (with the finite population correction), from which it sets 80% limits with the normal deviate 1.28.
PETITION = {
    42: 23,
    41: 4,
    36: 1,
    32: 1,
    29: 1,
    27: 2,
    23: 1,
    19: 1,
    16: 2,
    15: 2,
    14: 1,
    11: 1,
    10: 1,
    9: 1,
    7: 1,
    6: 3,
    5: 2,
    4: 1,
    3: 1,
}


def test_cochran_petition_example_reproduced():
    values = tuple(float(v) for v, f in PETITION.items() for _ in range(f))
    assert len(values) == 50 and sum(values) == 1471 and sum(v * v for v in values) == 54497
    e = estimate_total([StratumSample(1, 676, values)], "signature")
    s = StratumSample(1, 676, values)
    assert round(s.variance, 1) == 229.0
    assert round(e.point) == 19888
    assert round(e.standard_error) == 1392
    assert e.df == 49
    # the book's 80% limits use the normal deviate 1.28 on its rounded figures: 19,888 -/+ 1,782
    assert (round(19888 - 1.28 * 1392), round(19888 + 1.28 * 1392)) == (18106, 21670)
    assert abs(e.point - 1.28 * e.standard_error - 18106) < 1


def _money(x: float) -> str:
    return f"{math.floor(x * 100 + 0.5) / 100:.2f}" if x >= 0 else f"-{math.floor(-x * 100 + 0.5) / 100:.2f}"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_srs_matches_scipy_to_the_cent(seed):
    rng = np.random.default_rng(seed)
    population = 5000
    n = 120
    # a generated universe: 30% of claims overpaid by a lognormal amount
    over = np.where(rng.random(n) < 0.3, np.round(rng.lognormal(4, 1, n), 2), 0.0)
    e = estimate_dict(estimate_total([StratumSample(1, population, tuple(over.tolist()))]))
    point = population * over.mean()
    se = population * math.sqrt((1 - n / population) * over.var(ddof=1) / n)
    df = n - 1
    assert e["point_estimate"] == _money(point)
    assert e["standard_error"] == _money(se)
    assert e["df"] == df
    lo90, hi90 = stats.t.interval(0.90, df, loc=point, scale=se)
    lo95, hi95 = stats.t.interval(0.95, df, loc=point, scale=se)
    assert e["intervals"]["90"] == [_money(lo90), _money(hi90)]
    assert e["intervals"]["95"] == [_money(lo95), _money(hi95)]
    lower = point + stats.t.ppf(0.10, df) * se  # one-sided 90% lower limit
    assert e["lower_limit_90_one_sided"] == _money(lower)
    assert e["precision_90"] == pytest.approx((hi90 - point) / point, rel=1e-6)


def test_stratified_with_certainty_matches_an_independent_computation():
    rng = np.random.default_rng(7)
    sizes = {1: (2000, 40), 2: (600, 30), 3: (80, 15)}
    samples = {h: np.round(rng.gamma(2, 20 * h, n) * (rng.random(n) < 0.4), 2) for h, (_, n) in sizes.items()}
    certainty = np.array([512.30, 0.0, 1204.99])
    strata = [StratumSample(h, N, tuple(samples[h].tolist())) for h, (N, _) in sizes.items()]
    strata.append(StratumSample(4, 3, tuple(certainty.tolist()), certainty=True))
    e = estimate_total(strata)
    point = sum(N * samples[h].mean() for h, (N, _) in sizes.items()) + certainty.sum()
    terms = [N * (N - n) / n * samples[h].var(ddof=1) for h, (N, n) in sizes.items()]
    se = math.sqrt(sum(terms))
    df = sum(terms) ** 2 / sum(t * t / (sizes[h][1] - 1) for h, t in zip(sizes, terms))  # Satterthwaite
    assert _money(e.point) == _money(point)
    assert _money(e.standard_error) == _money(se)
    assert e.df == pytest.approx(df, rel=1e-12)
    assert _money(e.lower_90_one_sided) == _money(point - stats.t.ppf(0.90, df) * se)
    assert any("certainty stratum" in note for note in e.edge_cases)


def test_edge_cases_are_named():
    none = estimate_total([StratumSample(1, 100, (0.0,) * 10)])
    assert none.point == 0 and none.standard_error == 0 and none.precision_90 is None
    assert any("no overpayment" in n for n in none.edge_cases) and any("zero variance" in n for n in none.edge_cases)
    every = estimate_total([StratumSample(1, 100, (5.0, 7.0, 9.0))])
    assert any("every sampled unit" in n for n in every.edge_cases)
    one = estimate_total([StratumSample(1, 50, (10.0,)), StratumSample(2, 50, (1.0, 3.0))])
    assert any("stratum 1 has one sampled unit" in n for n in one.edge_cases)
    assert one.point == 50 * 10 + 50 * 2
    flat = estimate_total([StratumSample(1, 100, (4.0, 4.0, 4.0))])
    assert flat.standard_error == 0 and flat.intervals[95] == (400.0, 400.0)


def _design(strata):
    return {
        "frame": {"units": sum(s["units"] for s in strata), "paid_total": "0.00"},
        "sample": {"method": "srs", "seed": 1, "size": 4, "rng": "x", "allocation": None, "strata": strata},
    }


def _state(sample_no, line, determination, amount="", category=""):
    return {
        "sample_no": str(sample_no),
        "stratum": "1",
        "unit_id": f"C{sample_no}",
        "claim_id": f"C{sample_no}",
        "line": str(line),
        "code": "99213",
        "paid_amount": "100.00",
        "determination": determination,
        "error_category": category,
        "amount": amount,
        "reason": "",
        "reviewer": "r",
        "qa_verdict": "",
        "qa_reviewer": "",
        "qa_note": "",
    }


def test_rates_and_units_from_determinations():
    strata = [{"id": 1, "units": 40, "paid_total": "4000.00", "certainty": False}]
    sample = [
        {"sample_no": str(i), "stratum": "1", "unit_id": f"C{i}", "claim_id": f"C{i}", "paid_amount": "200.00"}
        for i in range(1, 5)
    ]
    state = [
        _state(1, 1, "overpaid", "100.00", "incorrect_coding"),
        _state(1, 2, "correct"),
        _state(2, 1, "underpaid", "20.00", "incorrect_coding"),
        _state(3, 1, "correct"),
        _state(4, 1, "correct"),
    ]
    doc = build(_design(strata), sample, state, None)
    assert doc["rates"] == {
        "claim_error_rate": 0.5,
        "line_error_rate": 0.4,
        "payment_error_rate_gross": 100 / 800,
        "payment_error_rate_net": 80 / 800,
    }
    assert doc["overpayment"]["point_estimate"] == "1000.00"  # 40 x mean(100, 0, 0, 0)
    assert doc["underpayment"]["point_estimate"] == "200.00"
    assert doc["units"][0]["overpayment"] == "100.00" and doc["units"][1]["underpayment"] == "20.00"
    assert doc["by_category"] == [{"error_category": "incorrect_coding", "lines": 2, "amount": "120.00"}]


def test_unreviewed_lines_block_the_appraisal():
    from claimscrub.audit.design import AuditError

    strata = [{"id": 1, "units": 10, "paid_total": "1.00", "certainty": False}]
    sample = [{"sample_no": "1", "stratum": "1", "unit_id": "C1", "claim_id": "C1", "paid_amount": "1.00"}]
    with pytest.raises(AuditError, match="no determination"):
        build(_design(strata), sample, [_state(1, 1, "not_reviewed")], None)
