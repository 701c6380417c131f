"""Benchmark (not a test): claims/s of ``claimscrub spark scrub`` on local[N] next to the single-process CLI.

    python benchmarks/bench_spark.py [--claims 20000] [--master local[2]] [--check] [--data-dir DIR]
    python benchmarks/bench_spark.py --claims 1000000        # the issue's figure (about an hour here)

Every contender is a fresh process scrubbing the same generated claims (bench_scrub's generator, two
claims per patient so the cross-claim edits run; sample tables unless --data-dir) from one JSON Lines
file, wall-clock time including start-up:

* ``cli``: ``claimscrub scrub FILE --format jsonl --workers 0`` (one process), the baseline;
* ``spark``: ``python -m claimscrub.cli.spark scrub FILE -o DIR --master local[N]`` (isolated engine
  processes, the default), and ``spark --no-isolate`` (engine inside the Python worker);
* ``spark (100 claims)``: the same on 100 claims, i.e. the fixed cost: JVM, session, building the
  scrubber in each Python worker.

The per-claim overhead Spark adds is the core time per claim beyond the CLI's:
``((spark - fixed) * cores - cli) / claims``, which assumes Spark kept its cores busy (so it is an upper
bound on a shared machine). ``--check`` also compares every finding with the CLI's (the issue's
10,000-claim equality check). Peak RSS is the largest of any one child process (getrusage).
"""

from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
from bench_scrub import generate

JSON_FIELDS = ("references", "table_row", "payer_edit", "suppression")


def write_claims(path: Path, n: int) -> None:
    with open(path, "wb") as out:
        for start in range(0, n, 50_000):  # in slices: a million claims never sit in memory at once
            docs = [orjson.loads(line) for line in generate(min(50_000, n - start), seed=7 + start).splitlines()]
            for i, doc in enumerate(docs, start):
                doc["claim_id"], doc["patient"]["id"] = f"B{i}", f"P{i // 2}"
                out.write(orjson.dumps(doc) + b"\n")


def timed(label: str, argv: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):
        sys.exit(f"{label} failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    return seconds


def canonical_cli(path: Path) -> list[bytes]:
    out = []
    for line in path.read_bytes().splitlines():
        record = orjson.loads(line)
        out.extend(orjson.dumps(f, option=orjson.OPT_SORT_KEYS) for f in record.get("findings", ()))
    return sorted(out)


def canonical_spark(folder: Path) -> list[bytes]:
    import pyarrow.parquet as pq

    out = []
    for f in pq.read_table(folder / "findings").to_pylist():
        for name in JSON_FIELDS:
            if f[name] is not None:
                f[name] = orjson.loads(f[name])
        out.append(orjson.dumps(f, option=orjson.OPT_SORT_KEYS))
    return sorted(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--claims", type=int, default=20_000)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--data-dir", help="a table store (default: the bundled sample tables)")
    parser.add_argument("--check", action="store_true", help="compare every finding with the CLI's")
    args = parser.parse_args()
    cores = int(m.group(1)) if (m := re.fullmatch(r"local\[(\d+)\]", args.master)) else 1
    tables = ["--data-dir", args.data_dir] if args.data_dir else ["--samples"]
    with tempfile.TemporaryDirectory(prefix="bench-spark-") as tmp:
        work = Path(tmp)
        write_claims(work / "claims.jsonl", args.claims)
        write_claims(work / "small.jsonl", 100)
        cli = [sys.executable, "-m", "claimscrub.cli.main", "scrub", "--format", "jsonl", "--no-progress"]
        spark = [sys.executable, "-m", "claimscrub.cli.spark", "scrub", "--master", args.master]
        runs = {
            "cli --workers 0": timed(
                "cli", [*cli, str(work / "claims.jsonl"), "--workers", "0", "-o", str(work / "cli.jsonl"), *tables]
            ),
            "spark (100 claims)": timed("spark", [*spark, str(work / "small.jsonl"), "-o", str(work / "s0"), *tables]),
            f"spark {args.master}": timed(
                "spark", [*spark, str(work / "claims.jsonl"), "-o", str(work / "s1"), *tables]
            ),
            f"spark {args.master} --no-isolate": timed(
                "spark", [*spark, str(work / "claims.jsonl"), "-o", str(work / "s2"), "--no-isolate", *tables]
            ),
        }
        base = runs["cli --workers 0"]
        fixed = runs["spark (100 claims)"]
        print(
            f"{args.claims:,} generated claims (two per patient), {'tables ' + args.data_dir if args.data_dir else 'sample tables'}"
        )
        print(f"{'contender':<36} {'seconds':>9} {'claims/s':>10} {'ratio to cli':>13}")
        for label, seconds in runs.items():
            n = 100 if "100 claims" in label else args.claims
            ratio = f"{base / seconds:13.2f}" if n == args.claims else f"{'-':>13}"
            print(f"{label:<36} {seconds:9.1f} {n / seconds:10,.0f} {ratio}")
        for label in (f"spark {args.master}", f"spark {args.master} --no-isolate"):
            overhead = ((runs[label] - fixed) * cores - base) / args.claims * 1e6
            print(f"per-claim overhead, {label}: {overhead:,.0f} µs of core time (fixed cost {fixed:.1f} s)")
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"peak RSS of one child process: {peak:,.0f} MiB")
        if args.check:
            same = canonical_cli(work / "cli.jsonl") == canonical_spark(work / "s1")
            print(f"findings equal the CLI's: {same}")
            if not same:
                sys.exit(1)


if __name__ == "__main__":
    main()
