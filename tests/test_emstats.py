"""E/M distribution against a peer benchmark: the statistics and the wording of the finding."""

from __future__ import annotations

import math

import pytest

from claimscrub.documentation import emstats
from claimscrub.documentation.emstats import (
    BenchmarkError,
    chi2_sf,
    compare_distribution,
    compare_providers,
    load_benchmarks,
)
from claimscrub.model.normalize import claim_from_dict

NPI = "1234567893"


@pytest.fixture(scope="module")
def fp():
    return load_benchmarks().find("family_practice", "office_outpatient", "established")


@pytest.mark.parametrize(
    "x,df,p",
    [
        (3.841458820694124, 1, 0.05),
        (6.634896601021214, 1, 0.01),
        (9.487729036781154, 4, 0.05),
        (13.276704135987622, 4, 0.01),
        (18.307038053275146, 10, 0.05),
        (0.5, 4, math.exp(-0.25) * 1.25),  # closed form for df = 4: e^(-x/2) (1 + x/2)
        (2.0, 2, math.exp(-1.0)),  # df = 2: e^(-x/2)
    ],
)
def test_chi2_survival_function(x, df, p):
    assert chi2_sf(x, df) == pytest.approx(p, rel=1e-9)


def test_chi2_sf_edges():
    assert chi2_sf(0, 3) == 1.0
    assert chi2_sf(500, 4) < 1e-100
    with pytest.raises(ValueError):
        chi2_sf(1.0, 0)


def test_binomial_cdf():
    assert emstats.binomial_cdf(5, 10, 0.5) == pytest.approx(638 / 1024)
    assert emstats.binomial_cdf(10, 10, 0.3) == 1.0
    assert emstats.binomial_cdf(-1, 10, 0.3) == 0.0
    assert emstats.binomial_cdf(0, 3, 0.5) == pytest.approx(0.125)


def test_percentile_rank_and_wording():
    assert emstats.percentile_rank(3, [1, 2, 3, 4]) == 62.5
    assert emstats.ordinal_percentile(51.2) == "the 51st percentile"
    assert emstats.ordinal_percentile(12) == "the 12th percentile"
    assert emstats.ordinal_percentile(99.95) == "above the 99.9th percentile"


def test_bundled_benchmark_is_sourced_and_flagged(fp):
    assert fp.secondary_source and "secondary" in fp.source.lower()
    assert fp.shares["99214"] == pytest.approx(48.40)
    assert fp.mean_level == pytest.approx((1 * 2.64 + 2 * 2.84 + 3 * 43.18 + 4 * 48.40 + 5 * 2.94) / 100)
    assert fp.share_at_or_above(4) == pytest.approx(51.34)


def test_provider_like_peers_is_info(fp):
    r = compare_distribution(NPI, {"99211": 3, "99212": 3, "99213": 43, "99214": 48, "99215": 3}, fp)
    assert r.severity == "info"
    assert r.p_value > 0.9
    assert "in line with" in r.message


def test_upcoding_shift_is_a_warning_not_an_error(fp):
    r = compare_distribution(NPI, {"99211": 2, "99212": 3, "99213": 20, "99214": 60, "99215": 15}, fp)
    assert r.severity == "warning"
    assert r.p_value < 1e-4 and r.g_p_value < 1e-4
    assert r.mean_level == pytest.approx(3.83)
    assert r.share_high == pytest.approx(75.0)
    assert r.high_percentile > 99.9
    assert "reason to look" in r.message and "not an error" in r.message
    assert "levels 4-5 75.0% vs 51.3%" in r.message
    assert "secondary source" in r.message


def test_chi_square_by_hand(fp):
    counts = {"99211": 2, "99212": 3, "99213": 20, "99214": 60, "99215": 15}
    expected = {c: 100 * fp.shares[c] / 100 for c in counts}
    chi = sum((counts[c] - expected[c]) ** 2 / expected[c] for c in counts)
    g = 2 * sum(counts[c] * math.log(counts[c] / expected[c]) for c in counts)
    r = compare_distribution(NPI, counts, fp)
    assert r.chi_square == pytest.approx(chi, abs=1e-3)
    assert r.g_statistic == pytest.approx(g, abs=1e-3)
    assert r.df == 4
    assert r.small_expected  # 99211 expects 2.64 visits


def test_downward_shift_is_info(fp):
    r = compare_distribution(NPI, {"99211": 10, "99212": 30, "99213": 55, "99214": 5, "99215": 0}, fp)
    assert r.p_value < 0.01
    assert r.severity == "info"
    assert "lower levels" in r.message


def test_too_few_visits_are_not_tested(fp):
    r = compare_distribution(NPI, {"99215": 10}, fp, min_services=30)
    assert r.severity == "info" and "too few to test" in r.message


def test_no_visits(fp):
    r = compare_distribution(NPI, {}, fp)
    assert r.services == 0 and r.mean_level is None and r.severity == "info"


def test_codes_outside_the_benchmark_are_reported_not_compared(fp):
    r = compare_distribution(NPI, {"99213": 40, "99214": 40, "99204": 7}, fp)
    assert r.excluded == {"99204": 7}
    assert r.services == 80
    assert "7 visits of other codes not compared" in r.message


def test_compare_providers_ranks_within_the_batch(fp):
    batch = {
        "1111111111": {"99213": 60, "99214": 40},
        "2222222222": {"99213": 40, "99214": 60},
        "3333333333": {"99214": 50, "99215": 50},
    }
    results = compare_providers(batch, fp)
    pct = {r.provider_npi: r.peer_percentile for r in results}
    assert pct["1111111111"] < pct["2222222222"] < pct["3333333333"]
    assert results[-1].severity == "warning"


def test_counts_from_claims():
    def claim(cid, npi, codes):
        return claim_from_dict(
            {
                "claim_id": cid,
                "type": "professional",
                "patient": {"id": "P"},
                "billing_provider": {"npi": "1245319599"},
                "rendering_provider": {"npi": npi},
                "diagnoses": [{"code": "I10"}],
                "lines": [
                    {
                        "sequence": i + 1,
                        "code": c,
                        "units": 1,
                        "charge": "100.00",
                        "from_date": "2024-01-02",
                    }
                    for i, c in enumerate(codes)
                ],
            }
        )

    counts = emstats.em_counts_by_provider(
        [
            claim("C1", NPI, ["99214", "93000"]),
            claim("C2", NPI, ["99213"]),
            claim("C3", "1003000126", ["99215"]),
        ],
        ["99211", "99212", "99213", "99214", "99215"],
    )
    assert counts == {NPI: {"99214": 1, "99213": 1}, "1003000126": {"99215": 1}}


def test_user_benchmark_file(tmp_path):
    path = tmp_path / "bench.yaml"
    path.write_text(
        """
alpha: 0.05
min_services: 10
benchmarks:
  - id: internal
    specialty: internal_medicine
    family: office_outpatient
    patient_status: established
    year: 2023
    source: "our own claims, CY2023"
    shares: {"99212": 10, "99213": 40, "99214": 45, "99215": 5}
"""
    )
    bs = load_benchmarks(path)
    assert (bs.alpha, bs.min_services) == (0.05, 10)
    b = bs.find("internal_medicine")
    assert b.year == 2023 and not b.secondary_source
    assert "internal medicine established peers (2023)" in compare_distribution(NPI, {"99213": 20}, b).message


@pytest.mark.parametrize(
    "shares,problem",
    [
        ('{"99213": 50, "99214": 40}', "sum to"),
        ('{"99213": 0, "99214": 100}', "positive"),
        ("{99213: 50, 99214: 50}", "quoted"),
    ],
)
def test_bad_benchmark_is_rejected(tmp_path, shares, problem):
    path = tmp_path / "bench.yaml"
    path.write_text(f'benchmarks:\n  - {{id: x, specialty: s, source: "s", shares: {shares}}}\n')
    with pytest.raises(BenchmarkError, match=problem):
        load_benchmarks(path)
