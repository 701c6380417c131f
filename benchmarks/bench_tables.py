"""Benchmark the reference-data store (a script, not a test).

    python benchmarks/bench_tables.py [REFDATA_DIR] [--data-dir DIR] [--skip-import]

Measures: importing all of refdata, reopening the store in a fresh process
(ready for the first lookup), lookups per second (cold keys and cached keys),
and peak RSS of the importing and the looking-up processes.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from claimscrub.refdata.importers import import_paths  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


READER = r"""
import json, random, resource, sys, time
t0 = time.perf_counter()

def hwm_mb():
    # ru_maxrss of a child spawned from a large parent reports the parent's peak
    # (kept across fork/exec on Linux); VmHWM belongs to this process's own memory.
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

sys.path.insert(0, sys.argv[2])
from claimscrub.refdata.store import StoreTableSet
ts = StoreTableSet(sys.argv[1])
ts.lookup("ncci_ptp_practitioner", ("80053", "80048"), "2024-08-01")
ready = time.perf_counter() - t0
db = ts._conn()
pairs = db.execute('SELECT k0, k1 FROM "t_ncci_ptp_practitioner" ORDER BY random() LIMIT 50000').fetchall()
codes = [k for (k,) in db.execute('SELECT k0 FROM "t_mue_practitioner" ORDER BY random() LIMIT 5000')]
dates = ["2023-03-15", "2024-05-01", "2024-08-01", "2024-11-20"]
rnd = random.Random(7)
t = time.perf_counter()
for a, b in pairs:
    ts.lookup("ncci_ptp_practitioner", (a, b), rnd.choice(dates))
cold = len(pairs) / (time.perf_counter() - t)
n = 200_000
t = time.perf_counter()
for i in range(n):
    a, b = pairs[i % 2000]
    ts.lookup("ncci_ptp_practitioner", (a, b), dates[i & 3])
hot = n / (time.perf_counter() - t)
t = time.perf_counter()
for i in range(n):
    ts.lookup("mue_practitioner", (codes[i % len(codes)],), "2024-08-01")
mue = n / (time.perf_counter() - t)
print(json.dumps({"reopen_ready_s": ready, "ptp_lookups_per_s_cold": cold, "ptp_lookups_per_s_cached": hot,
                  "mue_lookups_per_s": mue, "reader_peak_rss_mb": hwm_mb()}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("refdata", nargs="?", default=str(REPO.parent / "shared" / "refdata"))
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--skip-import", action="store_true")
    args = ap.parse_args()
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="claimscrub-bench-"))
    results: dict[str, float | int | str] = {"data_dir": str(data_dir)}
    if not args.skip_import:
        t = time.perf_counter()
        done, skipped = import_paths([args.refdata], data_dir)
        results["import_s"] = time.perf_counter() - t
        results["import_files"] = len(done)
        results["import_rows"] = sum(d.rows for d in done)
        results["import_peak_rss_mb"] = peak_rss_mb()
    store = data_dir / "tables.sqlite"
    results["store_mb"] = store.stat().st_size / 1e6
    out = subprocess.run(
        [sys.executable, "-c", READER, str(store), str(REPO)], capture_output=True, text=True, check=True
    )
    results.update(json.loads(out.stdout))
    for k, v in results.items():
        print(f"{k:<28} {v:,.2f}" if isinstance(v, float) else f"{k:<28} {v}")


if __name__ == "__main__":
    main()
