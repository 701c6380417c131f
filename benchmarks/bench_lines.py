"""Benchmark (not a test): time per claim as a claim's line count grows (issue #12, item 4).

    python benchmarks/bench_lines.py [--lines 5,50,200,500,999] [--dates 1] [--repeat 3] [--data-dir DIR]

Each claim has all its lines on ``--dates`` dates of service (default one: the worst case for
line-pair rules, which pair lines of the same date and provider) with procedure codes drawn
from the bundled sample NCCI/MUE tables, so PTP pairs really hit. Printed per size: the best
of ``--repeat`` CPU times (the machine is shared: wall time drifts) of ``Scrubber.scrub`` (validate, normalise, facts, Rete, render),
the line-pair facts asserted, the findings, and the ratio to the 5-line claim of the same run
(the baseline: a claim's fixed cost). Peak RSS from getrusage at the end.
"""

from __future__ import annotations

import argparse
import inspect
import random
import resource
import sys
import time
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent))
from bench_scrub import sample_codes  # noqa: E402

from claimscrub.api.scrubber import Scrubber  # noqa: E402
from claimscrub.compile.facts import build_facts  # noqa: E402
from claimscrub.compile.views import claim_view  # noqa: E402
from claimscrub.model.normalize import claim_from_dict  # noqa: E402


def claim(n: int, dates: int, seed: int = 12) -> dict:
    rng = random.Random(seed)
    codes = sample_codes()
    return {
        "claim_id": f"LINES-{n}",
        "type": "professional",
        "payer": {"type": "medicare"},
        "billing_provider": {"npi": "1234567893"},
        "patient": {"id": "P1", "sex": "F", "birth_date": "1958-03-14"},
        "place_of_service": "11",
        "diagnoses": [{"code": "M17.11"}, {"code": "E11.9"}],
        "lines": [
            {
                "sequence": i,
                "code": rng.choice(codes),
                "units": 1,
                "charge": "10.00",
                "from_date": f"2024-08-{1 + i % dates:02d}",
                "diagnosis_pointers": [1 + i % 2],
            }
            for i in range(1, n + 1)
        ],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", default="5,50,200,500,999")
    ap.add_argument("--dates", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--data-dir")
    args = ap.parse_args()
    # no line cap and no per-claim budget; the keywords are left out for a checkout that predates them
    # (``PYTHONPATH=<old checkout> python benchmarks/bench_lines.py`` gives the "before" figures)
    limits = {"max_lines": None, "claim_seconds": None, "claim_facts": None}
    known = inspect.signature(Scrubber).parameters
    scrubber = Scrubber(
        data_dir=args.data_dir,
        samples=None if args.data_dir else True,
        **{k: v for k, v in limits.items() if k in known},
    )
    scrubber.scrub(claim(5, args.dates))  # warm caches
    base = None
    print(f"{'lines':>5} {'CPU s':>9} {'pair facts':>10} {'findings':>8} {'ratio to 5 lines':>16}")
    for n in (int(x) for x in args.lines.split(",")):
        data = claim(n, args.dates)
        facts, _ = build_facts(scrubber.program, claim_view(claim_from_dict(data)))
        best = float("inf")
        for _ in range(args.repeat):
            started = time.process_time()
            result = scrubber.scrub(data)
            best = min(best, time.process_time() - started)
        base = base or best
        print(
            f"{n:>5} {best:>9.4f} {len(facts.get('line_pair', [])):>10} {len(result.findings):>8}"
            f" {best / base:>16.1f}  {result.status}{': ' + result.reason if result.reason else ''}"
        )
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
