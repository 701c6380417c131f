"""E/M level distribution of a provider against a peer benchmark.

An outlying distribution ("bell curve" shifted to levels 4-5) is a reason to
look at the records, never an error by itself: results carry severity
``info`` or ``warning`` only.

Statistics (pure Python, no SciPy): Pearson chi-square and G-test goodness
of fit of the provider's counts per level against the benchmark shares, with
the chi-square survival function from the regularised upper incomplete gamma
function Q(df/2, x/2); mean level (the level is the code's last digit: 99213
-> 3); share of levels 4-5; the percentile of the provider's level 4-5 count
under the benchmark (binomial: how unusual that many high visits would be
for a peer with the same number of visits); and, across a batch of providers,
each one's percentile rank of mean level.

Benchmarks are data (``rules/tables/em/peer_benchmarks.yaml``, with source
and year); load your own with :func:`load_benchmarks`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from claimscrub import yamlio
from claimscrub.resources import rules_dir

BENCHMARK_FILE = "peer_benchmarks.yaml"


# --------------------------------------------------------------------------- distributions


def chi2_sf(x: float, df: int) -> float:
    """P(X >= x) for a chi-square variable with df degrees of freedom."""
    if df <= 0:
        raise ValueError("df must be positive")
    if x <= 0:
        return 1.0
    return gamma_q(df / 2.0, x / 2.0)


def gamma_q(a: float, x: float) -> float:
    """Regularised upper incomplete gamma Q(a, x): series below a+1, Lentz continued fraction above."""
    if x < 0 or a <= 0:
        raise ValueError("gamma_q needs x >= 0 and a > 0")
    if x == 0:
        return 1.0
    log_prefix = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        n = a
        for _ in range(10_000):
            n += 1
            term *= x / n
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(log_prefix))
    tiny = 1e-300
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return min(1.0, math.exp(log_prefix) * h)


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed in log space (n up to tens of thousands)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    if p <= 0:
        return 1.0
    if p >= 1:
        return 0.0
    lp, lq = math.log(p), math.log1p(-p)
    logs = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp + (n - i) * lq for i in range(k + 1)
    ]
    top = max(logs)
    return min(1.0, math.exp(top) * math.fsum(math.exp(v - top) for v in logs))


def level_number(code: str) -> int:
    """E/M level number: the code's last digit (99213 -> 3, 99205 -> 5)."""
    return int(code[-1])


def percentile_rank(value: float, population: Iterable[float]) -> float:
    """Percent of the population below the value, ties counting half (0-100)."""
    pop = list(population)
    if not pop:
        raise ValueError("empty population")
    below = sum(1 for v in pop if v < value)
    equal = sum(1 for v in pop if v == value)
    return 100.0 * (below + 0.5 * equal) / len(pop)


# --------------------------------------------------------------------------- benchmarks


@dataclass(frozen=True, slots=True)
class Benchmark:
    id: str
    specialty: str
    family: str
    patient_status: str | None
    year: int | None
    secondary_source: bool
    source: str
    shares: Mapping[str, float]  # code -> percent, summing to 100
    taxonomies: tuple[str, ...] = ()  # NUCC taxonomy codes of this specialty (claims carry these, e.g. X12 PRV)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(sorted(self.shares))

    @property
    def mean_level(self) -> float:
        return sum(level_number(c) * s for c, s in self.shares.items()) / 100.0

    def share_at_or_above(self, level: int) -> float:
        return sum(s for c, s in self.shares.items() if level_number(c) >= level)

    def describe(self) -> str:
        year = self.year if self.year is not None else "year not stated"
        flag = ", secondary source" if self.secondary_source else ""
        return f"{self.specialty.replace('_', ' ')} {self.patient_status or ''} peers ({year}{flag})".replace("  ", " ")

    def edition(self) -> str:
        """Source and year in one line, for a finding's data edition and citation."""
        year = self.year if self.year is not None else "year not stated"
        return f"peer benchmark {self.id} ({year}): {self.source}"


@dataclass(frozen=True, slots=True)
class BenchmarkSet:
    alpha: float
    min_services: int
    high_level: int  # levels at or above this count as "high" (4 -> levels 4-5)
    benchmarks: tuple[Benchmark, ...]
    default_specialty: str | None = None  # peers for providers whose claims name no specialty
    path: str = ""

    def find(
        self,
        specialty: str,
        family: str = "office_outpatient",
        patient_status: str | None = "established",
    ) -> Benchmark | None:
        return next(
            (
                b
                for b in self.benchmarks
                if b.specialty == specialty and b.family == family and b.patient_status == patient_status
            ),
            None,
        )

    def for_provider(self, specialty: str | None, taxonomy: str | None) -> tuple[tuple[Benchmark, ...], str]:
        """The benchmarks a provider is compared with, and how they were chosen (said in the finding).

        A benchmark whose specialty or taxonomy matches the claims' provider wins; a provider whose
        claims name neither gets the table's ``default_specialty`` (when it has one); otherwise none.
        """
        if specialty or taxonomy:
            found = tuple(
                b
                for b in self.benchmarks
                if (specialty and b.specialty == specialty) or (taxonomy and taxonomy in b.taxonomies)
            )
            return found, "specialty" if found else f"no benchmark for specialty {specialty or taxonomy}"
        if self.default_specialty:
            found = tuple(b for b in self.benchmarks if b.specialty == self.default_specialty)
            return found, "default_specialty"
        return (), "the claims name no specialty and the benchmark table has no default_specialty"


class BenchmarkError(Exception):
    """A benchmark table that cannot be used (names the file, the entry and the field)."""


_REQUIRED = ("id", "specialty", "source", "shares")


def _benchmark(b: object, where: str, total_tolerance: float = 0.5) -> Benchmark:
    if not isinstance(b, dict):
        raise BenchmarkError(f"{where}: must be a mapping with {', '.join(_REQUIRED)}")
    for key in _REQUIRED:
        if b.get(key) in (None, "", {}):
            raise BenchmarkError(f"{where}: {key} is required")
    shares = b["shares"]
    if not isinstance(shares, dict):
        raise BenchmarkError(f"{where}: shares must be a mapping of quoted code to percent")
    if any(not isinstance(c, str) for c in shares):
        raise BenchmarkError(f"{where}: codes must be quoted strings")
    if any(not (c[-1:].isdigit()) for c in shares):
        raise BenchmarkError(f"{where}: shares: every code must end in its level digit (99213 -> 3)")
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0 for v in shares.values()):
        raise BenchmarkError(f"{where}: every share must be a positive percent (a zero share makes any use an outlier)")
    if len(shares) < 2:
        raise BenchmarkError(f"{where}: shares need at least two codes to compare a distribution")
    total = sum(shares.values())
    if abs(total - 100.0) > total_tolerance:
        raise BenchmarkError(f"{where}: shares sum to {total:.2f}, not 100")
    year = b.get("year")
    if year is not None and (isinstance(year, bool) or not isinstance(year, int)):
        raise BenchmarkError(f"{where}: year must be a whole year (e.g. 2023) or null")
    taxonomies = b.get("taxonomies") or []
    if not isinstance(taxonomies, list) or any(not isinstance(t, str) for t in taxonomies):
        raise BenchmarkError(f"{where}: taxonomies must be a list of quoted NUCC codes")
    return Benchmark(
        id=str(b["id"]),
        specialty=str(b["specialty"]),
        family=str(b.get("family", "office_outpatient")),
        patient_status=b.get("patient_status"),
        year=year,
        secondary_source=bool(b.get("secondary_source", False)),
        source=str(b["source"]),
        shares={c: float(v) * 100.0 / total for c, v in shares.items()},
        taxonomies=tuple(taxonomies),
    )


def _number(data: dict, key: str, default, kind, low, high, name: str):
    value = data.get(key, default)
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not low <= value <= high
        or (kind is int and value != int(value))
    ):
        raise BenchmarkError(f"{name}: {key} must be a {'whole ' if kind is int else ''}number from {low} to {high}")
    return kind(value)


def load_benchmarks(path: str | Path | None = None) -> BenchmarkSet:
    """Peer benchmarks from YAML (the bundled table when no path is given).

    Every problem raises :class:`BenchmarkError` naming the file, the entry and the field: shares must be
    positive, quoted codes summing to 100, each benchmark has an id, specialty and source.
    """
    path = Path(path) if path else rules_dir() / "tables" / "em" / BENCHMARK_FILE
    try:
        data = yamlio.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BenchmarkError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (yamlio.YamlError, UnicodeDecodeError) as exc:
        raise BenchmarkError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list) or not data["benchmarks"]:
        raise BenchmarkError(f"{path.name}: expected a mapping with a non-empty 'benchmarks' list")
    out = [_benchmark(b, f"{path.name}: benchmarks[{i}]") for i, b in enumerate(data["benchmarks"])]
    ids = [b.id for b in out]
    if len(set(ids)) != len(ids):
        raise BenchmarkError(f"{path.name}: benchmark ids must be unique")
    default = data.get("default_specialty")
    if default is not None and not any(b.specialty == default for b in out):
        raise BenchmarkError(f"{path.name}: default_specialty {default!r} is not the specialty of any benchmark")
    return BenchmarkSet(
        alpha=_number(data, "alpha", 0.01, float, 1e-9, 0.5, path.name),
        min_services=_number(data, "min_services", 30, int, 1, 10**9, path.name),
        high_level=_number(data, "high_level", 4, int, 1, 9, path.name),
        benchmarks=tuple(out),
        default_specialty=default,
        path=str(path),
    )


# --------------------------------------------------------------------------- comparison


@dataclass(frozen=True, slots=True)
class DistributionResult:
    """One provider's E/M mix against a benchmark: statistics, severity and the sentence for a finding."""

    provider_npi: str
    benchmark_id: str
    services: int  # visits of the benchmark's codes
    counts: Mapping[str, int]
    shares: Mapping[str, float]  # percent
    expected_shares: Mapping[str, float]  # percent
    excluded: Mapping[str, int]  # billed codes the benchmark does not cover
    chi_square: float | None
    g_statistic: float | None
    df: int
    p_value: float | None  # chi-square
    g_p_value: float | None
    small_expected: bool  # some expected count under 5: the approximation is rough
    mean_level: float | None
    benchmark_mean_level: float
    share_high: float | None
    benchmark_share_high: float
    high_percentile: float | None  # percentile of the high-level count under the benchmark (binomial)
    peer_percentile: float | None  # percentile rank of mean level among the providers compared together
    severity: str  # info / warning
    message: str


def ordinal_percentile(pct: float) -> str:
    """'51st percentile', '99.5th percentile', 'above the 99.9th percentile'."""
    if pct >= 99.9:
        return "above the 99.9th percentile"
    if pct >= 99:
        return f"the {math.floor(pct * 10) / 10:.1f}th percentile"
    v = round(pct)
    suffix = "th" if 10 <= v % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(v % 10, "th")
    return f"the {v}{suffix} percentile"


def _p_text(p: float) -> str:
    return "p < 0.0001" if p < 1e-4 else f"p = {p:.4f}"


def compare_distribution(
    provider_npi: str,
    counts: Mapping[str, int],
    benchmark: Benchmark,
    alpha: float = 0.01,
    min_services: int = 30,
    high_level: int = 4,
) -> DistributionResult:
    """Goodness of fit of one provider's level counts to the benchmark, with mean level and share of high levels."""
    codes = benchmark.codes
    used = {c: int(counts.get(c, 0)) for c in codes}
    excluded = {c: int(n) for c, n in counts.items() if c not in benchmark.shares and n}
    n = sum(used.values())
    bench_high = benchmark.share_at_or_above(high_level)
    bench_mean = benchmark.mean_level
    df = len(codes) - 1
    top = max(level_number(c) for c in codes)
    high_label = f"levels {high_level}-{top}" if top > high_level else f"level {high_level}"
    common: dict[str, Any] = {
        "provider_npi": provider_npi,
        "benchmark_id": benchmark.id,
        "services": n,
        "counts": used,
        "expected_shares": dict(benchmark.shares),
        "excluded": excluded,
        "df": df,
        "benchmark_mean_level": round(bench_mean, 4),
        "benchmark_share_high": round(bench_high, 4),
        "peer_percentile": None,
    }
    if n == 0:
        return DistributionResult(
            shares={c: 0.0 for c in codes},
            chi_square=None,
            g_statistic=None,
            p_value=None,
            g_p_value=None,
            small_expected=True,
            mean_level=None,
            share_high=None,
            high_percentile=None,
            severity="info",
            message=f"provider {provider_npi}: no {benchmark.family} {benchmark.patient_status or ''} visits to compare".replace(
                "  ", " "
            ),
            **common,
        )
    shares = {c: 100.0 * used[c] / n for c in codes}
    expected = {c: n * benchmark.shares[c] / 100.0 for c in codes}
    chi = sum((used[c] - expected[c]) ** 2 / expected[c] for c in codes)
    g = 2.0 * sum(used[c] * math.log(used[c] / expected[c]) for c in codes if used[c])
    p, gp = chi2_sf(chi, df), chi2_sf(g, df)
    mean = sum(level_number(c) * used[c] for c in codes) / n
    high_n = sum(used[c] for c in codes if level_number(c) >= high_level)
    share_high = 100.0 * high_n / n
    high_pct = 100.0 * binomial_cdf(high_n, n, bench_high / 100.0)

    tested = n >= min_services
    upward = mean > bench_mean
    severity = "warning" if tested and p < alpha and upward else "info"
    stats = (
        f"mean level {mean:.2f} vs {bench_mean:.2f}; {high_label} {share_high:.1f}% vs {bench_high:.1f}% "
        f"({ordinal_percentile(high_pct)} for {n} visits at peer rates)"
    )
    peers = benchmark.describe()
    if not tested:
        msg = f"provider {provider_npi}: {n} visits, too few to test against {peers} (needs {min_services}); {stats}"
    elif p < alpha:
        direction = "higher" if upward else "lower"
        msg = (
            f"provider {provider_npi}: E/M level mix differs from {peers} (chi-square {chi:.1f}, df {df}, {_p_text(p)}), "
            f"{direction} levels: {stats}; a reason to look at the records, not an error"
        )
    else:
        msg = f"provider {provider_npi}: E/M level mix is in line with {peers} (chi-square {chi:.1f}, df {df}, {_p_text(p)}); {stats}"
    if tested and any(e < 5 for e in expected.values()):
        msg += "; some levels expect under 5 visits, so the p-value is approximate"
    if excluded:
        msg += f"; {sum(excluded.values())} visits of other codes not compared"
    return DistributionResult(
        shares=shares,
        chi_square=round(chi, 4),
        g_statistic=round(g, 4),
        p_value=p,
        g_p_value=gp,
        small_expected=any(e < 5 for e in expected.values()),
        mean_level=round(mean, 4),
        share_high=round(share_high, 4),
        high_percentile=round(high_pct, 2),
        severity=severity,
        message=msg,
        **common,
    )


def compare_providers(
    counts_by_provider: Mapping[str, Mapping[str, int]],
    benchmark: Benchmark,
    alpha: float = 0.01,
    min_services: int = 30,
    high_level: int = 4,
) -> list[DistributionResult]:
    """Every provider against the benchmark, plus each one's percentile rank of mean level within the batch."""
    results = [
        compare_distribution(npi, counts, benchmark, alpha, min_services, high_level)
        for npi, counts in sorted(counts_by_provider.items())
    ]
    means = [r.mean_level for r in results if r.mean_level is not None]
    return [
        replace(r, peer_percentile=round(percentile_rank(r.mean_level, means), 2)) if r.mean_level is not None else r
        for r in results
    ]


def em_counts_by_provider(claims: Iterable, codes: Iterable[str]) -> dict[str, Counter]:
    """Lines per E/M code per rendering provider (line NPI, else claim rendering, else billing), from typed Claims."""
    wanted = set(codes)
    out: dict[str, Counter] = {}
    for claim in claims:
        default = claim.rendering_provider.npi if claim.rendering_provider else claim.billing_provider.npi
        for line in claim.lines:
            if line.code in wanted:
                out.setdefault(line.rendering_npi or default, Counter())[line.code] += 1
    return out
