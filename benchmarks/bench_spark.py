"""Benchmark (not a test): claims/s and CPU per claim of the Spark scrub on local[N] next to the
single-process CLI, in one run.

    python benchmarks/bench_spark.py [--claims 20000] [--master local[2]] [--configs isolated,shared] [--check]
    nice -n 19 python benchmarks/bench_spark.py --claims 20000,100000,1000000 --configs isolated  # the issue's figure

``--claims`` takes ascending sizes: each size is generated, run and printed (flushed) before the next
starts, so a long run that is stopped still leaves every completed size in its log. The claims
(bench_scrub's generator, two claims per patient so the cross-claim edits run; the sample tables
unless --data-dir) are written to one JSON Lines file as they are generated (never all in memory):

* ``cli --workers 0``: ``claimscrub scrub FILE --format jsonl --workers 0`` in a fresh process (start-up,
  reading, scrubbing, the cross-claim phase, writing), the baseline;
* the Spark scrub in this process's session (``local[N,4]``, driver heap ``--driver-memory``) writing
  Parquet as ``claimscrub spark scrub`` does, for each of ``--configs``: ``isolated`` (engine processes,
  the default) and ``shared`` (``isolate=False``); before the first size, each configuration scrubs 100
  claims once (the fixed cost: Python workers start and build their scrubbers).

Wall-clock ratios mislead on a machine whose cores other people use, so each contender's CPU time is
measured too: the CLI's from ``wait4`` (the process and its children), Spark's as the CPU the whole
process tree spent during the job (this driver, the JVM, the Python workers and their engine processes),
sampled from /proc every half second (a process that exits between samples loses under half a second).
Spark's per-claim overhead is ``(spark CPU - CLI CPU) / claims``. Peak RSS: each process's high-water
mark (VmHWM), the largest per kind. ``--check`` compares every finding with the CLI's (collects both
to this process: for 10,000-claim runs, not a million).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from bench_scrub import generate

from claimscrub.spark.errors import SparkJobError
from claimscrub.spark.frames import read_claims, scrub_dataframe
from claimscrub.spark.partition import JSON_FIELDS

TICK = os.sysconf("SC_CLK_TCK")
CONFIGS = {"isolated": {}, "shared": {"isolate": False}}
SLICE = 10_000  # claims generated at a time


def write_claims(path: Path, n: int) -> None:
    with open(path, "wb") as out:
        for start in range(0, n, SLICE):
            for i, line in enumerate(generate(min(SLICE, n - start), seed=7 + start).splitlines(), start):
                doc = orjson.loads(line)
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


def kind_of(cmdline: bytes) -> str:
    if b"java" in cmdline.split(b"\0", 1)[0]:
        return "JVM"
    if b"claimscrub.cli.main" in cmdline:
        return "CLI"
    return "Python worker or engine process" if b"pyspark.daemon" in cmdline else "other"


@dataclass
class ProcessTree:
    """CPU seconds and peak RSS of this process and all its descendants, sampled from /proc."""

    cpu: dict[tuple[int, int], float] = field(default_factory=dict)  # (pid, start) -> last utime + stime (s)
    peak_kib: dict[str, int] = field(default_factory=dict)  # kind -> largest VmHWM
    lock: threading.Lock = field(default_factory=threading.Lock)

    def sample(self) -> float:
        """Read every process of the tree now; the CPU seconds of every process ever seen."""
        parents: dict[int, int] = {}
        stats: dict[int, list[bytes]] = {}
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                raw = (proc / "stat").read_bytes()
            except OSError:
                continue
            fields = raw[raw.rindex(b")") + 2 :].split()
            stats[int(proc.name)] = fields
            parents[int(proc.name)] = int(fields[1])
        me = os.getpid()
        tree = {me}
        grown = True  # a child's pid can be lower than its parent's: repeat until nothing is added
        while grown:
            grown = False
            for pid, parent in parents.items():
                if parent in tree and pid not in tree:
                    tree.add(pid)
                    grown = True
        with self.lock:
            for pid in tree:
                fields = stats[pid]
                self.cpu[pid, int(fields[19])] = (int(fields[11]) + int(fields[12])) / TICK
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                    kind = "driver (Python)" if pid == me else kind_of(Path(f"/proc/{pid}/cmdline").read_bytes())
                except OSError:
                    continue
                found = re.search(r"VmHWM:\s+(\d+)", status)
                if found:
                    self.peak_kib[kind] = max(self.peak_kib.get(kind, 0), int(found.group(1)))
            return sum(self.cpu.values())


class Sampler:
    """Samples a :class:`ProcessTree` every half second in a thread, so short-lived processes are seen."""

    def __init__(self, tree: ProcessTree) -> None:
        self.tree = tree
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.tree.sample()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def run_cli(cli: list[str], work: Path) -> tuple[float, float, int | None]:
    """Wall seconds, CPU seconds (the process and its children) and peak RSS (KiB) of one CLI run. The RSS
    comes from GNU time, not from this process's wait4: Linux carries the forking parent's peak into the
    child's ru_maxrss, and this parent holds a JVM client and pyarrow."""
    gnu_time = shutil.which("time")
    if gnu_time:
        cli = [gnu_time, "-f", "%M", "-o", str(work / "cli.rss"), *cli]
    started = time.perf_counter()
    proc = subprocess.Popen(cli, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = proc.stderr.read() if proc.stderr else b""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        sys.exit(f"the CLI failed ({proc.returncode}): {stderr.decode()[-2000:]}")
    rss = int((work / "cli.rss").read_text().split()[-1]) if gnu_time else None
    return wall, usage.ru_utime + usage.ru_stime, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--claims", default="20000", help="claims, or ascending sizes separated by commas")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--configs", default="isolated,shared", help="Spark configurations: isolated, shared")
    parser.add_argument("--driver-memory", default="1g", help="the driver JVM's heap")
    parser.add_argument("--data-dir", help="a table store (default: the bundled sample tables)")
    parser.add_argument("--check", action="store_true", help="compare every finding with the CLI's")
    args = parser.parse_args()
    sizes = [int(s) for s in args.claims.split(",")]
    configs = args.configs.split(",")
    if unknown := set(configs) - set(CONFIGS):
        parser.error(f"unknown --configs {', '.join(sorted(unknown))}: isolated, shared")
    from pyspark.sql import SparkSession

    cores = int(m.group(1)) if (m := re.fullmatch(r"local\[(\d+)\]", args.master)) else 1
    tables = {"data_dir": args.data_dir} if args.data_dir else {"samples": True}
    source = f"tables {args.data_dir}" if args.data_dir else "sample tables"
    tree = ProcessTree()
    sampler = Sampler(tree)
    with tempfile.TemporaryDirectory(prefix="bench-spark-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        master = re.sub(r"local\[(\d+|\*)\]", r"local[\1,4]", args.master)
        spark = (
            SparkSession.builder.master(master)
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.driver.memory", args.driver_memory)
            .config("spark.sql.shuffle.partitions", str(2 * cores))  # two tasks a core: see the README's sizing
            .getOrCreate()
        )
        spark.sparkContext.setLogLevel("ERROR")
        print(f"{args.master}, {source}; session start-up {time.perf_counter() - started:.1f} s", flush=True)

        def scrub(source_file: str, out: str, options: dict) -> tuple[float, float]:
            cpu_before, begin = tree.sample(), time.perf_counter()
            results, findings = scrub_dataframe(read_claims(spark, [str(work / source_file)]), **tables, **options)
            results.write.mode("overwrite").parquet(str(work / out / "claims"))
            findings.write.mode("overwrite").parquet(str(work / out / "findings"))
            wall, cpu = time.perf_counter() - begin, tree.sample() - cpu_before
            spark.catalog.clearCache()  # the scrubbed frame scrub_dataframe persisted
            return wall, cpu

        write_claims(work / "small.jsonl", 100)
        for name in configs:
            wall, cpu = scrub("small.jsonl", "warm", CONFIGS[name])
            print(f"fixed cost, spark {name}, first job on 100 claims: {wall:.1f} s, {cpu:.1f} CPU s", flush=True)
        for n in sizes:
            write_claims(work / "claims.jsonl", n)
            cli = [sys.executable, "-m", "claimscrub.cli.main", "scrub", str(work / "claims.jsonl")]
            cli += ["--format", "jsonl", "--no-progress", "--workers", "0", "-o", str(work / "cli.jsonl")]
            cli += ["--data-dir", args.data_dir] if args.data_dir else ["--samples"]
            cli_wall, cli_cpu, cli_rss = run_cli(cli, work)
            if cli_rss is not None:
                tree.peak_kib["CLI"] = max(tree.peak_kib.get("CLI", 0), cli_rss)
            runs = {"cli --workers 0": (cli_wall, cli_cpu)}
            print(f"\n{n:,} generated claims (two per patient), {source}", flush=True)
            print(
                f"cli --workers 0: {cli_wall:.1f} s, {cli_cpu:.1f} CPU s, peak RSS {(cli_rss or 0) / 1024:,.0f} MiB",
                flush=True,
            )
            for name in configs:
                try:
                    runs[f"spark {args.master} {name}"] = scrub("claims.jsonl", name, CONFIGS[name])
                except SparkJobError as exc:  # the CLI's figures above stay; say why this one has none
                    print(f"spark {args.master} {name}: FAILED: {exc}", flush=True)
                    sys.exit(1)
            print(
                f"{'contender':<28} {'seconds':>9} {'claims/s':>9} {'ratio':>6} {'CPU s':>9} {'ms CPU/claim':>13} {'ratio':>6}"
            )
            for label, (wall, cpu) in runs.items():
                print(
                    f"{label:<28} {wall:9.1f} {n / wall:9,.0f} {cli_wall / wall:6.2f} "
                    f"{cpu:9.1f} {cpu / n * 1e3:13.2f} {cli_cpu / cpu:6.2f}"
                )
            for label, (_, cpu) in list(runs.items())[1:]:
                print(f"per-claim overhead, {label}: {(cpu - cli_cpu) / n * 1e3:.2f} ms CPU beyond the CLI's")
            tree.sample()
            peaks = ", ".join(f"{k} {v / 1024:,.0f} MiB" for k, v in sorted(tree.peak_kib.items()) if k != "other")
            print(f"peak RSS (largest process of each kind, so far): {peaks}", flush=True)
            if args.check:
                check(spark, work, configs[0])
            (work / "cli.jsonl").unlink()
        sampler.stop()
        spark.stop()


def check(spark, work: Path, config: str) -> None:
    want = canonical(
        f for line in (work / "cli.jsonl").read_bytes().splitlines() for f in orjson.loads(line).get("findings", ())
    )
    got = canonical(r.asDict(recursive=True) for r in spark.read.parquet(str(work / config / "findings")).collect())
    print(f"findings equal the CLI's: {got == want} ({len(got):,} findings)", flush=True)
    if got != want:
        sys.exit(1)


if __name__ == "__main__":
    main()
