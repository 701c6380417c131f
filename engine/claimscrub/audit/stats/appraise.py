"""Variable appraisal: the total of a sampled quantity (overpaid dollars) projected to the universe.

Formulas (Cochran, *Sampling Techniques*, 3rd ed., 1977, chapters 2 and 5; the same ones
the appraisal tables of RAT-STATS and the CMS Program Integrity Manual ch. 8 rely on):

* stratum h with N_h units, n_h sampled, values y_hi: mean ybar_h, variance s_h^2 (n_h - 1 divisor);
* point estimate T = sum_h N_h * ybar_h (SRS is one stratum: the mean-per-unit estimator N * ybar);
  a certainty stratum (n_h = N_h) adds its actual total and no variance;
* variance V = sum_h N_h^2 (1 - n_h/N_h) s_h^2 / n_h (the finite population correction), SE = sqrt V;
* degrees of freedom: one stratum n - 1; several: Satterthwaite's
  df = (sum g_h s_h^2)^2 / sum (g_h s_h^2)^2 / (n_h - 1), g_h = N_h (N_h - n_h) / n_h
  (Cochran, section 5.4). RAT-STATS's stratified appraisal follows its own df convention (see its user
  guide), so stratified limits can differ slightly from RAT-STATS; the df used is printed;
* two-sided 80/90/95% intervals T -/+ t_(1 - a/2, df) SE; the one-sided 90% limits T -/+ t_(0.90, df) SE
  (the lower one is what CMS bases an extrapolated overpayment on); precision = t_(0.95, df) SE / T.

The edge cases are named in the result, not hidden: a stratum with one sampled unit (its variance
cannot be estimated and counts as 0), zero variance (no interval width; df falls back to
sum(n_h - 1)), no errors, every unit in error. Scipy gives the t quantiles; everything else is
plain arithmetic on float64, rounded to cents only when written.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

CONFIDENCE_LEVELS = (80, 90, 95)


@dataclass(frozen=True, slots=True)
class StratumSample:
    id: int
    units: int  # N_h
    values: tuple[float, ...]  # the sampled units' values (dollars)
    certainty: bool = False

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return math.fsum(self.values) / self.n if self.values else 0.0

    @property
    def variance(self) -> float:
        if self.n < 2:
            return 0.0
        m = self.mean
        return math.fsum((v - m) ** 2 for v in self.values) / (self.n - 1)


@dataclass(slots=True)
class Estimate:
    point: float
    standard_error: float
    df: float
    t_90_one_sided: float
    intervals: dict[int, tuple[float, float]]
    lower_90_one_sided: float
    upper_90_one_sided: float
    precision_90: float | None
    stratum_estimates: dict[int, float] = field(default_factory=dict)
    edge_cases: list[str] = field(default_factory=list)


def t_quantile(p: float, df: float) -> float:
    from scipy import stats

    return float(stats.t.ppf(p, df))


def estimate_total(strata: Sequence[StratumSample], what: str = "overpayment") -> Estimate:
    """The projected total, its SE, df, intervals and precision (module docstring), with edge cases named."""
    edge: list[str] = []
    point = 0.0
    variance_terms: list[tuple[float, int]] = []  # (g_h s_h^2, n_h) of strata with sampling variance
    per_stratum: dict[int, float] = {}
    for s in strata:
        if s.n == 0:
            raise ValueError(f"stratum {s.id} has no sampled units")
        if s.certainty or s.n >= s.units:
            per_stratum[s.id] = math.fsum(s.values)
            point += per_stratum[s.id]
            if s.certainty:
                edge.append(f"stratum {s.id} is a certainty stratum: its {what} is added at its actual value")
            continue
        per_stratum[s.id] = s.units * s.mean
        point += per_stratum[s.id]
        if s.n == 1:
            edge.append(
                f"stratum {s.id} has one sampled unit: its variance cannot be estimated and counts as 0 "
                "(the standard error is understated)"
            )
            continue
        g = s.units * (s.units - s.n) / s.n
        variance_terms.append((g * s.variance, s.n))
    variance = math.fsum(term for term, _ in variance_terms)
    se = math.sqrt(variance)
    sampled = [s for s in strata if not (s.certainty or s.n >= s.units)]
    if variance > 0:
        df = variance**2 / math.fsum(term**2 / (n - 1) for term, n in variance_terms if term > 0)
        if len(sampled) == 1:
            df = float(round(df))  # exactly n - 1 for one stratum; round away float noise
    else:
        df = float(max(sum(s.n - 1 for s in sampled), 1))
        edge.append(
            f"zero variance in the sampled {what}s: the standard error is 0 and every interval is the "
            "point estimate; df is taken as sum(n_h - 1)"
        )
    values = [v for s in strata for v in s.values]
    if not any(values):
        edge.append(f"no {what} in the sample: the point estimate is 0")
    elif all(v > 0 for v in values):
        edge.append(f"every sampled unit has an {what}")
    t90 = t_quantile(0.90, df)
    intervals = {}
    for level in CONFIDENCE_LEVELS:
        half = t_quantile(1 - (1 - level / 100) / 2, df) * se
        intervals[level] = (point - half, point + half)
    lower = point - t90 * se
    if lower < 0 < point:
        edge.append(f"the one-sided 90% lower limit of the {what} is below zero")
    precision = (t_quantile(0.95, df) * se / point) if point else None
    return Estimate(point, se, df, t90, intervals, lower, point + t90 * se, precision, per_stratum, edge)
