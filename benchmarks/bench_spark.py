"""Benchmark (not a test): claims/s of the Spark scrub on local[N] next to the single-process CLI, one run.

    python benchmarks/bench_spark.py [--claims 20000] [--master local[2]] [--check] [--data-dir DIR]
    python benchmarks/bench_spark.py --claims 1000000        # the issue's figure (hours on a shared machine)

The same generated claims (bench_scrub's generator, two claims per patient so the cross-claim edits
run; the sample tables unless --data-dir) in one JSON Lines file, wall-clock time:

* ``cli --workers 0``: ``claimscrub scrub FILE --format jsonl --workers 0`` in a fresh process (start-up,
  reading, scrubbing, the cross-claim phase, writing), the baseline;
* the Spark scrub in this process's session (``local[N,4]``) writing Parquet as ``claimscrub spark
  scrub`` does: first on 100 claims (the fixed cost: Python workers start and build their scrubbers),
  then on all claims, with isolated engine processes (the default), then the same two with
  ``isolate=False`` (each configuration builds its own scrubbers: the 100-claim run warms them).

Also printed: the session's start-up (the JVM), and the per-claim overhead Spark adds, in core time
beyond the CLI's: ``(spark seconds * N cores - cli seconds) / claims``. That assumes Spark kept its N
cores busy, so on a shared machine it is an upper bound. ``--check`` compares every finding with the
CLI's (the issue's 10,000-claim equality check). Peak RSS: the largest single process among the
children that have exited (the CLI) and this one (the driver); Spark's Python workers are not waited
for by this process, so their RSS is sampled from /proc while the job runs.
"""

from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson
from bench_scrub import generate

from claimscrub.spark.frames import read_claims, scrub_dataframe
from claimscrub.spark.partition import JSON_FIELDS


def write_claims(path: Path, n: int) -> None:
    with open(path, "wb") as out:
        for start in range(0, n, 50_000):  # in slices: a million claims never sit in memory at once
            docs = [orjson.loads(line) for line in generate(min(50_000, n - start), seed=7 + start).splitlines()]
            for i, doc in enumerate(docs, start):
                doc["claim_id"], doc["patient"]["id"] = f"B{i}", f"P{i // 2}"
                out.write(orjson.dumps(doc) + b"\n")


def canonical(findings) -> list[bytes]:
    out = []
    for f in findings:
        for name in JSON_FIELDS:
            if isinstance(f.get(name), str):
                f[name] = orjson.loads(f[name])
        out.append(orjson.dumps(f, option=orjson.OPT_SORT_KEYS))
    return sorted(out)


class WorkerRss:
    """Peak RSS of the Spark Python workers (pyspark.daemon and its children), sampled every half second."""

    def __init__(self) -> None:
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            for proc in Path("/proc").glob("[0-9]*"):
                try:
                    if b"pyspark.daemon" not in (proc / "cmdline").read_bytes():
                        continue
                    status = (proc / "status").read_text()
                except OSError:
                    continue
                found = re.search(r"VmRSS:\s+(\d+)", status)
                if found:
                    self.peak_kib = max(self.peak_kib, int(found.group(1)))

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak_kib


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--claims", type=int, default=20_000)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--data-dir", help="a table store (default: the bundled sample tables)")
    parser.add_argument("--check", action="store_true", help="compare every finding with the CLI's")
    args = parser.parse_args()
    from pyspark.sql import SparkSession

    cores = int(m.group(1)) if (m := re.fullmatch(r"local\[(\d+)\]", args.master)) else 1
    tables = {"data_dir": args.data_dir} if args.data_dir else {"samples": True}
    with tempfile.TemporaryDirectory(prefix="bench-spark-") as tmp:
        work = Path(tmp)
        write_claims(work / "claims.jsonl", args.claims)
        write_claims(work / "small.jsonl", 100)
        cli = [sys.executable, "-m", "claimscrub.cli.main", "scrub", str(work / "claims.jsonl"), "--format", "jsonl"]
        cli += ["--no-progress", "--workers", "0", "-o", str(work / "cli.jsonl")]
        cli += ["--data-dir", args.data_dir] if args.data_dir else ["--samples"]
        runs: dict[str, float] = {}
        started = time.perf_counter()
        done = subprocess.run(cli, capture_output=True)
        runs["cli --workers 0"] = time.perf_counter() - started
        if done.returncode not in (0, 1):
            sys.exit(f"the CLI failed ({done.returncode}): {done.stderr.decode()[-2000:]}")

        started = time.perf_counter()
        master = re.sub(r"local\[(\d+|\*)\]", r"local[\1,4]", args.master)
        spark = (
            SparkSession.builder.master(master)
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", str(2 * cores))  # two tasks a core: see the README's sizing
            .getOrCreate()
        )
        spark.sparkContext.setLogLevel("ERROR")
        session_seconds = time.perf_counter() - started
        rss = WorkerRss()

        def scrub(label: str, source: str, out: str, **options) -> None:
            begin = time.perf_counter()
            results, findings = scrub_dataframe(read_claims(spark, [str(work / source)]), **tables, **options)
            results.write.mode("overwrite").parquet(str(work / out / "claims"))
            findings.write.mode("overwrite").parquet(str(work / out / "findings"))
            runs[label] = time.perf_counter() - begin
            spark.catalog.clearCache()  # the scrubbed frame scrub_dataframe persisted

        scrub("spark, 100 claims (fixed cost)", "small.jsonl", "s0")
        scrub(f"spark {args.master}", "claims.jsonl", "s1")
        scrub("spark, 100 claims, isolate=False", "small.jsonl", "s0", isolate=False)
        scrub(f"spark {args.master} isolate=False", "claims.jsonl", "s2", isolate=False)
        worker_peak = rss.stop()

        base = runs["cli --workers 0"]
        source = f"tables {args.data_dir}" if args.data_dir else "sample tables"
        print(f"{args.claims:,} generated claims (two per patient), {source}; session start-up {session_seconds:.1f} s")
        print(f"{'contender':<36} {'seconds':>9} {'claims/s':>10} {'ratio to cli':>13}")
        for label, seconds in runs.items():
            n = 100 if "100 claims" in label else args.claims
            ratio = f"{base / seconds:13.2f}" if n == args.claims else f"{'-':>13}"
            print(f"{label:<36} {seconds:9.1f} {n / seconds:10,.0f} {ratio}")
        for label in (f"spark {args.master}", f"spark {args.master} isolate=False"):
            overhead = (runs[label] * cores - base) / args.claims * 1e6
            print(f"per-claim overhead, {label}: {overhead:,.0f} µs of core time beyond the CLI's")
        cli_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        driver = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"peak RSS: CLI {cli_peak:,.0f} MiB, driver (Python) {driver:,.0f} MiB, Python worker {worker_peak / 1024:,.0f} MiB"
        )
        if args.check:
            want = canonical(
                f
                for line in (work / "cli.jsonl").read_bytes().splitlines()
                for f in orjson.loads(line).get("findings", ())
            )
            got = canonical(
                r.asDict(recursive=True) for r in spark.read.parquet(str(work / "s1" / "findings")).collect()
            )
            print(f"findings equal the CLI's: {got == want} ({len(got):,} findings)")
            if got != want:
                sys.exit(1)
        spark.stop()


if __name__ == "__main__":
    main()
