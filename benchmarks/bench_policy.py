"""Benchmark (not a test): what payer policies cost per claim, against no policies, in one run.

    python benchmarks/bench_policy.py [--claims 5000] [--repeat 3] [--packs all]

The claims of bench_scrub.py, their payers rotated over Medicare, Medicaid,
commercial and Acme Health (commercial, with the walk-through pack's policy),
each scrubbed end to end (parse, validate, normalise, rules, render, JSON)
three ways by the durable backend on the sample tables: no policies (the
baseline), the bundled default policies, and those plus
examples/payer-pack/acme (a draft rule switched on, a carve-out, payer edit
codes). The three are timed in turn, round after round (--repeat rounds), so
a machine whose speed drifts slows all of them alike; quoted as claims per
CPU second, best round each, and the ratio to the baseline; peak RSS from
getrusage.

On a loaded machine the times drift more than the policies cost; count
instructions instead (per claim: the difference of --repeat 2 and 1, over the claims):

    for c in none defaults acme; do for r in 1 2; do valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        python benchmarks/bench_policy.py --claims 500 --only $c --repeat $r 2>&1 | grep Collected; done; done
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import orjson
from bench_scrub import FIRST_PACKS, generate, run_engine, timed

from claimscrub.api.scrubber import Scrubber, batch_gc
from claimscrub.refdata.store import open_tables
from claimscrub.refdata.tables import registry_for
from claimscrub.resources import rules_dir

ACME = Path(__file__).resolve().parents[1] / "examples" / "payer-pack" / "acme"
PAYERS = [
    {"type": "medicare", "name": "Medicare Part B"},
    {"type": "medicaid", "name": "State Medicaid"},
    {"type": "commercial", "name": "Blue Plan"},
    {"type": "commercial", "name": "Acme Health PPO"},
]


def with_payers(data: bytes) -> bytes:
    claims = [orjson.loads(line) for line in data.splitlines()]
    for i, claim in enumerate(claims):
        claim["payer"] = PAYERS[i % len(PAYERS)]
    return b"\n".join(orjson.dumps(c) for c in claims)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--claims", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--packs", default=",".join(FIRST_PACKS), help="bundled packs to run, or 'all'")
    parser.add_argument("--only", choices=("none", "defaults", "acme"), help="one contender (for valgrind)")
    args = parser.parse_args()
    data = with_payers(generate(args.claims))
    # the samples plus the acme pack's own table, for all three (no store: the same tables everywhere)
    tables = open_tables("/nonexistent-claimscrub-store", samples=True, registry=registry_for([ACME]))
    packs = None if args.packs == "all" else [rules_dir() / "packs" / p for p in args.packs.split(",")]
    common = {"tables": tables, "backend": "durable"}
    if packs is None:
        none = Scrubber(**common, default_policies=False)
        defaults = Scrubber(**common)
        acme = Scrubber([ACME], **common)
    else:
        none = Scrubber(packs, replace_bundled=True, **common, default_policies=False)
        defaults = Scrubber(packs, replace_bundled=True, **common)
        acme = Scrubber([*packs, ACME], replace_bundled=True, **common)
    batch_gc()
    print(f"{args.claims} generated claims, payers rotated over {len(PAYERS)}, packs {args.packs}, sample tables")
    contenders = {
        "none": ("no policies (baseline)", none),
        "defaults": ("default policies", defaults),
        "acme": ("defaults + acme pack/policy", acme),
    }
    if args.only:
        label, scrubber = contenders[args.only]
        timed(label, lambda: run_engine(data, scrubber), args.repeat)
        return
    best: dict[str, float] = {}
    counts: dict[str, tuple[int, int]] = {}
    for _ in range(args.repeat):  # interleaved rounds: drift hits every contender alike
        for name, (_label, scrubber) in contenders.items():
            cpu = time.process_time()
            counts[name] = run_engine(data, scrubber)
            cpu = time.process_time() - cpu
            best[name] = min(best.get(name, cpu), cpu)
    for name, (label, _) in contenders.items():
        claims, findings = counts[name]
        print(
            f"{label:<28} {claims / best[name]:>9,.0f} claims/s CPU  ({claims} claims, {findings} findings, "
            f"best of {args.repeat} interleaved rounds)"
        )
    base, dflt, more = (counts[n][0] / best[n] for n in contenders)
    print(f"ratios to the baseline: default policies {dflt / base:.2f}, with the acme policy {more / base:.2f}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
