"""Benchmark (not a test): framing and sampling a universe of generated paid claims.

    python benchmarks/bench_audit_sample.py [--claims 1000000] [--files 10]

Generated (untimed, numpy, seed 5): native claims with 1-4 lines, 50,000 patients, 40 providers,
service dates over 2024, line paid amounts lognormal (about 1% of lines paid 0, so some claims
are paid 0 and excluded), written as JSON Lines split over ``--files`` files, as monthly extracts
would come. Timed phases, one process:

* ``baseline``: read every file and parse every claim with orjson (the least any framing must do);
* ``readers``: the project's readers alone (``audit universe``'s input path, items consumed);
* ``frame``: ``claimscrub audit universe``'s path: the project's readers (InputItems), the frame
  built, sorted and written (frame.csv, its SHA-256, excluded.csv);
* ``read``: frame.csv read back, as ``audit sample`` does;
* ``srs``: 1,000 units drawn and sample.csv written; ``stratified``: 6 Dalenius-Hodges strata,
  Neyman allocation, a certainty stratum over $2,000; ``permute``: a numpy permutation of the N
  positions, cut to 1,000 (a draw that also touches every unit), as the draw's baseline.

Figures are CPU seconds of the process (wall time printed beside: it drifts with the other load on
a shared machine); ratios to the baselines of the same run are quoted. Peak RSS
from getrusage covers the whole run (the readers hold one file's bytes at a time).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson

from claimscrub.api.scrubber import batch_gc
from claimscrub.audit.frame import build_frame, read_frame, write_frame
from claimscrub.audit.sample import draw_sample, sample_csv

CODES = ["99213", "99214", "36415", "80053", "93000", "20610", "97110", "99232"]


def write_claims(folder: Path, n: int, files: int, seed: int = 5) -> list[Path]:
    rng = np.random.default_rng(seed)
    paths = []
    per_file = -(-n // files)
    for f in range(files):
        count = min(per_file, n - f * per_file)
        months, days = rng.integers(1, 13, count), rng.integers(1, 29, count)
        patients, npis, nlines = rng.integers(0, 50000, count), rng.integers(0, 40, count), rng.integers(1, 5, count)
        paid = np.round(rng.lognormal(4, 1, (count, 4)), 2) * (rng.random((count, 4)) > 0.01)
        codes = rng.integers(0, len(CODES), (count, 4))
        path = folder / f"claims_{f:02d}.jsonl"
        with open(path, "wb") as fh:
            for i in range(count):
                day = f"2024-{months[i]:02d}-{days[i]:02d}"
                lines = [
                    {
                        "sequence": s + 1,
                        "code": CODES[codes[i, s]],
                        "units": 1,
                        "charge": "150.00",
                        "from_date": day,
                        "paid_amount": f"{paid[i, s]:.2f}",
                    }
                    for s in range(nlines[i])
                ]
                claim = {
                    "claim_id": f"CLM{f * per_file + i:08d}",
                    "type": "professional",
                    "patient": {"id": f"P{patients[i]:06d}"},
                    "billing_provider": {"npi": str(1000000000 + int(npis[i]) * 7919)},
                    "lines": lines,
                    "paid_amount": f"{paid[i, : nlines[i]].sum():.2f}",
                }
                fh.write(orjson.dumps(claim) + b"\n")
        paths.append(path)
    return paths


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(label: str, fn, results: dict):
    """Run a phase; keep its CPU seconds (the machine is shared: wall time is printed but drifts)."""
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    results[label] = time.process_time() - cpu
    print(
        f"{label:<12} {results[label]:8.2f} s CPU {time.perf_counter() - start:8.2f} s wall   "
        f"peak RSS {peak_mib():7.0f} MiB",
        flush=True,
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--claims", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=10)
    args = parser.parse_args()
    results: dict[str, float] = {}
    batch_gc()  # as claimscrub audit universe does
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = timed("generate", lambda: write_claims(folder, args.claims, args.files), results)
        size = sum(p.stat().st_size for p in paths) / 2**20
        print(f"{args.claims:,} claims in {len(paths)} file(s), {size:.0f} MiB (generation untimed below)")

        def baseline() -> int:
            count = 0
            for p in paths:
                for line in p.read_bytes().splitlines():
                    count += len(orjson.loads(line)["lines"])
            return count

        timed("baseline", baseline, results)

        def readers_only() -> int:
            from claimscrub.cli.audit import _read_universe

            return sum(1 for _ in _read_universe(tuple(str(p) for p in paths))[0])

        timed("readers", readers_only, results)

        def frame_step():
            from claimscrub.cli.audit import _read_universe

            items, errors = _read_universe(tuple(str(p) for p in paths))
            frame = build_frame(items)
            assert not errors
            write_frame(folder, frame)
            return len(frame.units), len(frame.excluded)

        units, excluded = timed("frame", frame_step, results)
        table = timed("read", lambda: read_frame(folder / "frame.csv"), results)

        def srs():
            selected = draw_sample(table.paid_cents, method="srs", size=1000, seed=1)[1]
            (folder / "sample.csv").write_bytes(sample_csv(selected, table))

        def stratified():
            selected = draw_sample(
                table.paid_cents,
                method="stratified",
                size=1000,
                seed=1,
                strata_count=6,
                allocation="neyman",
                certainty_cents=200000,
            )[1]
            (folder / "sample.csv").write_bytes(sample_csv(selected, table))

        timed("permute", lambda: np.random.default_rng(1).permutation(len(table.paid_cents))[:1000], results)
        timed("srs", srs, results)
        timed("stratified", stratified, results)
    print(f"\n{units:,} units in the frame, {excluded:,} excluded")
    own = results["frame"] - results["readers"]
    print(
        f"framing {results['frame']:.2f} s = {results['frame'] / results['baseline']:.2f} x the baseline "
        f"({results['baseline']:.2f} s to read and parse the claims); of it the project's readers "
        f"{results['readers']:.2f} s, the frame itself {own:.2f} s = {own / results['baseline']:.2f} x the baseline"
    )
    print(
        f"sampling (read frame + SRS) {results['read'] + results['srs']:.2f} s; stratified {results['stratified']:.2f} s;"
        f" the SRS draw alone {results['srs'] / results['permute']:.1f} x a numpy permutation of the frame"
    )
    print(f"peak RSS {peak_mib():.0f} MiB")


if __name__ == "__main__":
    main()
