"""Drawing the sample: simple random, stratified by paid amount (with a certainty stratum), probe.

The random-number method is fixed forever, so anyone can re-draw a sample from the frame and the
seed: PCG64 (O'Neill 2014, numpy's ``PCG64(seed)`` with numpy's SeedSequence seeding) gives one
64-bit output per frame position (position 1 gets the first), turned into a uniform number in
[0, 1) as ``(x >> 11) * 2**-53``; within each stratum the ``n_h`` units with the smallest numbers
are selected (ties, practically impossible, go to the lower position). The number that chose each
unit is written to sample.csv. The numbers are computed from the bit generator's raw outputs, a
published algorithm (PCG64 XSL-RR seeded through numpy's SeedSequence), rather than from a
Generator method, which numpy's compatibility policy (NEP 19) lets change between versions; the
result equals ``Generator(PCG64(seed)).random(N)`` today, and the golden test in
tests/test_audit_sample.py fails if a numpy version ever changes the stream. RAT-STATS draws with Wichmann-Hill and a different selection rule, so its selections for
the same seed differ; the method here is documented instead of copied.

Strata are half-open paid-amount intervals ``lower <= paid < upper`` (cents); the certainty stratum
holds every unit paid at least the threshold and is reviewed in full. Allocation gives every
sampled stratum at least two units (one unit's variance cannot be estimated).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from claimscrub.audit.money import dollars

RNG_NAME = "PCG64(seed): u = (x >> 11) * 2**-53 per frame position; the n_h smallest u per stratum"
METHODS = ("srs", "stratified", "probe")
BOUNDARY_RULES = ("equal-dollar", "cum-sqrt-f")
ALLOCATIONS = ("proportional", "neyman")
SAMPLE_COLUMNS = ["sample_no", "stratum", "frame_position", "unit_id", "claim_id", "random_number", "paid_amount"]


class DesignError(ValueError):
    """A sample design that cannot be drawn from this frame (said why)."""


@dataclass(slots=True)
class Stratum:
    id: int
    lower: int | None  # cents; None = open
    upper: int | None
    positions: np.ndarray  # 0-based frame indices of the stratum's units (int64)
    paid_total: int
    sample_size: int = 0
    certainty: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "lower": None if self.lower is None else dollars(self.lower),
            "upper": None if self.upper is None else dollars(self.upper),
            "units": len(self.positions),
            "paid_total": dollars(self.paid_total),
            "sample_size": self.sample_size,
            "certainty": self.certainty,
        }


@dataclass(frozen=True, slots=True)
class Selected:
    sample_no: int
    stratum: int
    position: int  # 1-based frame position
    random_number: float | None  # None in the certainty stratum (every unit taken)


def random_numbers(seed: int, count: int) -> np.ndarray:
    """One uniform [0, 1) number per frame position from PCG64's raw 64-bit outputs (module docstring)."""
    raw = np.random.PCG64(seed).random_raw(count)
    return (raw >> np.uint64(11)).astype(np.float64) * (2.0**-53)


def equal_dollar_cuts(paid: Sequence[int], strata: int) -> list[int]:
    """Cuts so that each stratum holds about the same paid dollars (units sorted by paid amount)."""
    values = np.sort(np.asarray(paid, dtype=np.int64))
    cum = np.cumsum(values)
    cuts = []
    for k in range(1, strata):
        idx = int(np.searchsorted(cum, cum[-1] * k / strata))
        if idx + 1 < len(values):
            cuts.append(int(values[idx + 1]))
    return sorted(set(cuts))


def cum_sqrt_f_cuts(paid: Sequence[int], strata: int, classes: int | None = None) -> list[int]:
    """Dalenius-Hodges: equal-width classes, boundaries where cumulative sqrt(frequency) is split evenly.

    ``classes`` defaults to 20 per stratum (Cochran 1977, section 5A.7, uses many narrow classes).
    A cut is the upper edge of the class whose cumulative sqrt(f) is nearest each k/K share.
    """
    values = np.asarray(paid, dtype=np.int64)
    lo, hi = int(values.min()), int(values.max())
    if lo == hi:
        return []
    classes = classes or 20 * strata
    counts, edges = np.histogram(values, bins=classes, range=(lo, hi))
    cum = np.cumsum(np.sqrt(counts))
    cuts = []
    for k in range(1, strata):
        j = int(np.argmin(np.abs(cum - cum[-1] * k / strata)))
        cuts.append(math.ceil(edges[j + 1]))
    return sorted({c for c in cuts if lo < c <= hi})


def make_strata(paid: Sequence[int], cuts: Sequence[int], certainty_cents: int | None) -> list[Stratum]:
    """Strata 1..K from the cuts (ascending cents), then the certainty stratum K+1 when a threshold is set."""
    bounds = [None, *sorted(cuts), certainty_cents]
    none = np.empty(0, dtype=np.int64)
    strata = [Stratum(h, bounds[h - 1], bounds[h], none, 0) for h in range(1, len(bounds))]
    certain = Stratum(len(strata) + 1, certainty_cents, None, none, 0, certainty=True)
    arr = np.asarray(paid, dtype=np.int64)
    index = np.searchsorted(np.asarray(sorted(cuts), dtype=np.int64), arr, side="right")
    if certainty_cents is not None:
        index = np.where(arr >= certainty_cents, len(strata), index)
    everyone = [*strata, certain]
    for h, s in enumerate(everyone):
        members = np.flatnonzero(index == h)
        s.positions = members
        s.paid_total = int(arr[members].sum())
    return [s for s in everyone if not s.certainty or certainty_cents is not None]


def allocate(strata: list[Stratum], size: int, allocation: str, paid: Sequence[int]) -> None:
    """Set each sampled stratum's sample size: at least min(2, N_h), then by proportional or Neyman targets.

    Neyman weights are N_h * S_h of the paid amounts (the overpayments are not known before review);
    when every S_h is 0 the allocation falls back to proportional. Units are handed out one at a time
    to the stratum furthest below its target, so the sizes add up to ``size`` exactly.
    """
    sampled = [s for s in strata if not s.certainty and len(s.positions)]
    for s in strata:
        s.sample_size = len(s.positions) if s.certainty else 0
    room = sum(len(s.positions) for s in sampled)
    if size > room:
        raise DesignError(f"sample size {size} exceeds the {room} units outside the certainty stratum")
    floor = sum(min(2, len(s.positions)) for s in sampled)
    if size < floor:
        raise DesignError(f"sample size {size} is below {floor}: every stratum needs at least 2 sampled units")
    arr = np.asarray(paid, dtype=np.int64)
    weights = [float(len(s.positions)) for s in sampled]
    if allocation == "neyman":
        sds = [float(np.std(arr[s.positions], ddof=1)) if len(s.positions) > 1 else 0.0 for s in sampled]
        if any(sds):
            weights = [w * sd for w, sd in zip(weights, sds)]
    total = sum(weights)
    targets = [size * w / total for w in weights]
    for s in sampled:
        s.sample_size = min(2, len(s.positions))
    for _ in range(size - floor):
        open_ = [i for i, s in enumerate(sampled) if s.sample_size < len(s.positions)]
        best = max(open_, key=lambda i: (targets[i] - sampled[i].sample_size, -i))
        sampled[best].sample_size += 1


def select(strata: list[Stratum], seed: int, frame_size: int) -> list[Selected]:
    """The units chosen in each stratum by the fixed method (module docstring), numbered by stratum, position."""
    u = random_numbers(seed, frame_size)
    chosen: list[tuple[int, int, float | None]] = []
    for s in strata:
        if s.certainty:
            chosen.extend((s.id, int(p), None) for p in s.positions)
            continue
        members = s.positions
        order = np.lexsort((members, u[members]))[: s.sample_size]
        chosen.extend((s.id, int(members[i]), float(u[members[i]])) for i in order)
    chosen.sort(key=lambda c: (c[0], c[1]))
    return [Selected(n, h, p + 1, r) for n, (h, p, r) in enumerate(chosen, 1)]


def srs_sample_size(values: Sequence[float], population: int, precision: float, confidence: float = 0.90) -> dict:
    """Units needed so that the two-sided ``confidence`` half-width of the total is ``precision`` x the total.

    From a probe: n0 = (t * s / (precision * mean))^2, n = n0 / (1 + n0 / N), with Student's t at
    n - 1 degrees of freedom iterated from the normal value until n stops changing (Cochran 1977,
    section 4.4, eq. 4.1 with the fpc).
    """
    from scipy import stats

    arr = np.asarray(values, dtype=float)
    if len(arr) < 2:
        raise DesignError("the probe needs at least 2 reviewed units to estimate a variance")
    mean, sd = float(arr.mean()), float(arr.std(ddof=1))
    if mean <= 0:
        raise DesignError("the probe found no overpayment: its mean is 0, so no precision relative to it can be set")
    if sd == 0:
        return {"n": len(arr), "mean": mean, "sd": 0.0, "t": None, "note": "zero variance in the probe"}
    quantile = 1 - (1 - confidence) / 2
    n, t = 0, float(stats.norm.ppf(quantile))
    for _ in range(50):
        n0 = (t * sd / (precision * mean)) ** 2
        new_n = min(population, math.ceil(n0 / (1 + n0 / population)))
        if new_n == n:
            break
        n = new_n
        t = float(stats.t.ppf(quantile, max(n - 1, 1)))
    return {"n": n, "mean": mean, "sd": sd, "t": t, "note": ""}


def draw_sample(
    paid: Sequence[int],
    *,
    method: str,
    size: int,
    seed: int,
    cuts: Sequence[int] | None = None,
    strata_count: int | None = None,
    boundary_rule: str = "cum-sqrt-f",
    allocation: str = "proportional",
    certainty_cents: int | None = None,
) -> tuple[dict[str, Any], list[Selected], list[Stratum]]:
    """Strata, allocation and selection for one design; the design's ``sample`` section for design.yaml."""
    if method not in METHODS:
        raise DesignError(f"method must be one of {', '.join(METHODS)}")
    if not paid:
        raise DesignError("the frame is empty")
    if size < 1:
        raise DesignError("the sample size must be at least 1")
    if method != "stratified":
        if cuts or strata_count or certainty_cents is not None:
            raise DesignError("strata and a certainty threshold need --method stratified")
        strata = make_strata(paid, [], None)
        if size > len(paid):
            raise DesignError(f"sample size {size} exceeds the {len(paid)} units of the frame")
        strata[0].sample_size = size
        allocation_used: str | None = None
        computed = False
    else:
        rest = [p for p in paid if certainty_cents is None or p < certainty_cents]
        computed = cuts is None
        if cuts is None:
            if not strata_count or strata_count < 1:
                raise DesignError("give --strata boundaries or --strata-count K")
            if not rest:
                raise DesignError("every unit is at or above the certainty threshold")
            rule = equal_dollar_cuts if boundary_rule == "equal-dollar" else cum_sqrt_f_cuts
            cuts = rule(rest, strata_count)
        if sorted(set(cuts)) != list(cuts):
            raise DesignError("stratum boundaries must be strictly ascending")
        if certainty_cents is not None and cuts and cuts[-1] >= certainty_cents:
            raise DesignError("stratum boundaries must lie below the certainty threshold")
        strata = [s for s in make_strata(paid, cuts, certainty_cents) if len(s.positions)]
        allocate(strata, size, allocation, paid)
        allocation_used = allocation
    selected = select(strata, seed, len(paid))
    spec = {
        "method": method,
        "seed": seed,
        "size": size,
        "rng": RNG_NAME,
        "allocation": allocation_used,
        "boundaries": boundary_rule if method == "stratified" and computed else None,
        "certainty_threshold": None if certainty_cents is None else dollars(certainty_cents),
        "strata": [s.as_dict() for s in strata],
        "units_selected": len(selected),
    }
    return spec, selected, strata


def sample_csv(selected: list[Selected], frame: Any) -> bytes:
    """sample.csv: each selected unit with its frame position and the random number that chose it."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(SAMPLE_COLUMNS)
    for s in selected:
        i = s.position - 1
        writer.writerow(
            [
                s.sample_no,
                s.stratum,
                s.position,
                frame.unit_ids[i],
                frame.claim_ids[i],
                "" if s.random_number is None else repr(s.random_number),
                dollars(frame.paid_cents[i]),
            ]
        )
    return buf.getvalue().encode()
