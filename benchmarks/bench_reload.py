"""Memory over service reloads (a script, not a test): worker replacement against in-process reloads.

    python benchmarks/bench_reload.py [--reloads 20] [--workers 1]

Baseline (in a fresh process): what a reload did before issue #12, build a new
Scrubber with its durable-rules engine beside the old one and drop the old one;
durable-rules cannot unregister a ruleset, so memory grows. Measured: that
process's RSS after the first build and after ``--reloads`` more.

Now: ``create_app`` with ``--workers`` scrub worker processes; ``POST
/v1/admin/reload`` replaces every worker. Measured: the RSS of the serving
process plus its live workers (VmRSS from /proc), before and after the reloads.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

BASELINE = r"""
import sys, gc
sys.path.insert(0, sys.argv[1])
from claimscrub.api.scrubber import Scrubber
from claimscrub.authoring.ruletest import base_claim
def rss():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS:")) / 1024
current = Scrubber(data_dir=sys.argv[2]); current.scrub(base_claim())
before = rss()
for _ in range(int(sys.argv[3])):
    fresh = Scrubber(data_dir=sys.argv[2]); fresh.scrub(base_claim())
    current = fresh
    gc.collect()
print(f"{before:.1f} {rss():.1f}")
"""


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:")) / 1024
    except (OSError, StopIteration):
        return 0.0


def service_rss(app) -> tuple[float, int]:
    import os

    pool = app.state.holder.current.pool
    pids = pool.pids()
    return rss_mb(os.getpid()) + sum(rss_mb(p) for p in pids), len(pids)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reloads", type=int, default=20)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    from fastapi.testclient import TestClient

    from claimscrub.service.app import ServiceConfig, create_app

    with tempfile.TemporaryDirectory() as data_dir:
        out = subprocess.run(
            [sys.executable, "-c", BASELINE, str(REPO), data_dir, str(args.reloads)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        base_before, base_after = float(out[0]), float(out[1])
        print(
            f"baseline, in-process reloads: {base_before:.1f} MB -> {base_after:.1f} MB after {args.reloads} "
            f"(+{base_after - base_before:.1f} MB)"
        )

        app = create_app(ServiceConfig(data_dir=data_dir, token="bench", workers=args.workers))
        with TestClient(app) as client:
            before, count = service_rss(app)
            started = time.perf_counter()
            for n in range(1, args.reloads + 1):
                r = client.post("/v1/admin/reload", headers={"Authorization": "Bearer bench"})
                r.raise_for_status()
                if n % 10 == 0:
                    print(f"  after {n} reloads: {service_rss(app)[0]:.1f} MB")
            took = time.perf_counter() - started
            time.sleep(2)  # the retired workers end in the background
            after, count = service_rss(app)
        print(
            f"worker replacement ({count} worker(s)): {before:.1f} MB -> {after:.1f} MB after {args.reloads} "
            f"(+{after - before:.1f} MB), {took / args.reloads:.1f} s per reload"
        )
        if base_after - base_before > 0:
            print(f"growth ratio now/baseline: {(after - before) / (base_after - base_before):.2f}")


if __name__ == "__main__":
    main()
