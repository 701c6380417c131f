"""Benchmark (not a test): ``claimscrub scrub`` as a user runs it, by number of workers and of claims.

    python benchmarks/bench_workers.py [--claims 10000 100000] [--workers 1 2] [--data-dir DIR] [--no-cross-claim]

Generates claims with :func:`bench_scrub.generate` (``--wide``: every code of the sample tables, which are
real CPT/HCPCS codes, over every day of 2024; ``--narrow``: 11 codes on 3 dates), writes them as JSON Lines and runs the CLI on them as a
subprocess (``--format jsonl -o FILE``), once per (claims, workers) pair, all in one run so the ratios
compare like with like on a shared machine. For each run: wall seconds, claims/s, the ratio to one
worker on the same claims, and peak RSS: of the parent alone, and of the whole process tree (the
parent plus its workers, summed, sampled every 0.1 s from /proc), and CPU seconds of the tree and of
the parent (on a machine others share, wall-clock scaling is capped by the cores left over; CPU per
claim shows what the workers cost). Also prints the SHA-256 of the output, which must be the same
for every number of workers.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scrub import generate  # noqa: E402


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _children(pid: int) -> list[int]:
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out.extend(int(c) for c in f.read().split())
    except OSError:
        pass
    return out


def _tree(pid: int) -> list[int]:
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        seen.append(p)
        todo.extend(_children(p))
    return seen


class Sampler(threading.Thread):
    """Peak RSS of a process and of its whole tree, sampled."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.parent_kb, self.tree_kb, self.done = pid, 0, 0, False
        self.parent_cpu = 0.0

    def run(self) -> None:
        while not self.done:
            pids = _tree(self.pid)
            self.parent_kb = max(self.parent_kb, _rss_kb(self.pid))
            self.parent_cpu = max(self.parent_cpu, _cpu_seconds(self.pid))
            self.tree_kb = max(self.tree_kb, sum(_rss_kb(p) for p in pids))
            time.sleep(0.1)


def run(path: Path, workers: int, data_dir: str | None, extra: list[str]) -> dict:
    out = path.with_suffix(f".w{workers}.out")
    cmd = [sys.executable, "-m", "claimscrub.cli.main", "scrub", str(path), "--format", "jsonl", "-o", str(out)]
    cmd += ["--workers", str(workers), "--no-progress", *extra]
    if data_dir:
        cmd += ["--data-dir", data_dir]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE)
    sampler = Sampler(proc.pid)
    sampler.start()
    _, stderr = proc.communicate()
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    sampler.done = True
    sampler.join()
    if proc.returncode not in (0, 1):
        raise SystemExit(f"scrub exited {proc.returncode}: {stderr.decode(errors='replace')[-500:]}")
    digest = hashlib.sha256(out.read_bytes()).hexdigest()[:16]
    out.unlink()
    return {
        "seconds": seconds,
        "cpu": cpu,
        "parent_cpu": sampler.parent_cpu,
        "parent_mb": sampler.parent_kb / 1024,
        "tree_mb": sampler.tree_kb / 1024,
        "sha": digest,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--claims", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--data-dir", help="imported tables (e.g. /work/fullstore); default: the sample tables")
    parser.add_argument("--no-cross-claim", action="store_true")
    parser.add_argument("--narrow", action="store_true", help="11 codes on 3 dates (faster: memo hits), not --wide")
    args = parser.parse_args()
    extra = ["--no-cross-claim"] if args.no_cross_claim else []
    print(f"cores available: {len(os.sched_getaffinity(0))}; load average {os.getloadavg()[0]:.1f} at start")
    print(
        f"{'claims':>8} {'workers':>7} {'seconds':>8} {'claims/s':>9} {'vs 1':>5} {'CPU s':>7} {'parent CPU':>10} "
        f"{'parent MB':>9} {'tree MB':>8}  sha256"
    )
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
        for n in args.claims:
            path = Path(tmp) / f"claims{n}.jsonl"
            path.write_bytes(generate(n, wide=not args.narrow))
            one = None
            for w in args.workers:
                r = run(path, w, args.data_dir, extra)
                rate = n / r["seconds"]
                one = one or rate
                print(
                    f"{n:>8} {w:>7} {r['seconds']:>8.1f} {rate:>9.0f} {rate / one:>5.2f} {r['cpu']:>7.1f} "
                    f"{r['parent_cpu']:>10.1f} {r['parent_mb']:>9.0f} {r['tree_mb']:>8.0f}  {r['sha']}",
                    flush=True,
                )
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
