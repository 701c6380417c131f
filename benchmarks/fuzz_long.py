"""A long fuzzing run (not a test): mutated native, FHIR and X12 claims through the readers and the scrubber.

    python benchmarks/fuzz_long.py [--seconds 300] [--seed 1] [--save DIR]

The mutations are those of ``tests/test_fuzz.py`` (``tests/fuzzclaims.py``). Prints the
iterations, the claims read, and two counts that must be zero: problems (a reader raised
something other than "this file cannot be read", or a claim ended neither scrubbed nor
rejected) and guarded engine errors (an unexpected exception inside the scrubber, turned
into a rejection by its guard: a bug the guard hid). Inputs behind either are written to
``--save`` to reproduce them. A crash of the C core would end this process: run it under
``catchsegv`` or look at the exit status.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))
from fuzzclaims import check, mutant, seeds  # noqa: E402

from claimscrub.api.scrubber import Scrubber  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--save", type=Path, default=Path("fuzz-findings"))
    args = ap.parse_args()
    rng = random.Random(args.seed)
    scrubber = Scrubber(samples=True)
    pool = seeds()
    kinds = sorted(pool)
    iterations, claims, slowest = 0, 0, 0.0
    problems: Counter = Counter()
    guarded = 0
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        kind = kinds[iterations % len(kinds)]
        data = mutant(kind, rng.choice(pool[kind]), rng)
        started = time.monotonic()
        found, n, hidden = check(scrubber, data)
        slowest = max(slowest, time.monotonic() - started)
        iterations += 1
        claims += n
        guarded += hidden
        if found or hidden:
            args.save.mkdir(parents=True, exist_ok=True)
            (args.save / f"{kind}-{iterations}.{'x12' if kind == 'x12' else 'json'}").write_bytes(data)
            problems.update(p.split(":")[0] for p in found)
    print(
        f"iterations {iterations:,} ({iterations / args.seconds:,.0f}/s), claims read {claims:,}, "
        f"slowest input {slowest:.3f} s"
    )
    print(f"problems {sum(problems.values())} {dict(problems) or ''}, guarded engine errors {guarded}")
    sys.exit(1 if problems or guarded else 0)


if __name__ == "__main__":
    main()
