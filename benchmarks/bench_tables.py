"""Benchmark the reference-data store (a script, not a test).

    python benchmarks/bench_tables.py [REFDATA_DIR] [--data-dir DIR] [--skip-import] [--baseline-dir DIR]

Measures, with a store of the full CMS tables:

* importing all of refdata (skipped with ``--skip-import``: then ``--data-dir``
  names a store already imported), and its peak RSS;
* start-up: opening the tables in a fresh process (ready for the first lookup),
  and ``claimscrub scrub`` of one claim end to end; with ``--baseline-dir`` (a
  store without compact files, e.g. one imported by an older claimscrub) the
  same for it, so the two can be compared in one run;
* the cost of one lookup, in microseconds, in one fresh process: PTP pairs
  that are in the table (hit) and pairs of real codes that are not (miss, nine
  in ten pairs a claim asks about), MUE codes; each through the compact path
  and the SQLite path of the same store, cold (first time a key is asked) and
  warm (asked before), next to a plain Python dict/set of every PTP pair;
* memory: RSS, PSS and USS (``/proc/PID/smaps_rollup``) of a process with the
  full tables open after a lookup workload, and of two workers forked from it
  running the same workload (their shared pages show as PSS below RSS).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "engine"))

from claimscrub.refdata.importers import import_paths  # noqa: E402
from claimscrub.refdata.store import StoreTableSet  # noqa: E402

PTP = "ncci_ptp_practitioner"
DATES = ["2024-07-15", "2024-08-01", "2024-09-30", "2024-11-20"]  # one edition answers them all
CLAIM = {
    "claim_id": "BENCH-1",
    "type": "professional",
    "claim_date": "2024-08-20",
    "payer": {"name": "Medicare Part B", "type": "medicare"},
    "billing_provider": {"npi": "1234567893", "taxonomy": "207Q00000X"},
    "patient": {"id": "P1", "sex": "F", "birth_date": "1958-03-14"},
    "place_of_service": "11",
    "diagnoses": [{"code": "M17.11"}],
    "lines": [
        {"sequence": 1, "code": "99213", "units": 1, "charge": "125.00", "from_date": "2024-08-12"},
        {"sequence": 2, "code": "20610", "units": 1, "charge": "90.00", "from_date": "2024-08-12"},
    ],
}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def memory(pid: int | str = "self") -> dict[str, float]:
    """RSS, PSS and USS in MB from smaps_rollup (USS = private pages)."""
    fields: dict[str, float] = {}
    with open(f"/proc/{pid}/smaps_rollup") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                fields[parts[0].rstrip(":")] = int(parts[1]) / 1024
    return {
        "rss_mb": fields.get("Rss", 0.0),
        "pss_mb": fields.get("Pss", 0.0),
        "uss_mb": fields.get("Private_Clean", 0.0) + fields.get("Private_Dirty", 0.0),
    }


def per_call_us(fn, items) -> float:
    """CPU microseconds per call (process time: the cores are shared, so waiting for one is not counted)."""
    t = time.process_time()
    for item in items:
        fn(item)
    return (time.process_time() - t) / len(items) * 1e6


def sample_keys(store: Path, n: int) -> dict[str, list]:
    """PTP pairs in the table, pairs of its codes that are not, MUE codes: in random order."""
    ts = StoreTableSet(store, compact=False)
    db = ts._conn()
    rnd = random.Random(18)
    hits = [tuple(r) for r in db.execute(f'SELECT k0, k1 FROM "t_{PTP}" ORDER BY random() LIMIT ?', (n,))]
    codes = sorted({c for pair in hits for c in pair})
    every = {tuple(r) for r in db.execute(f'SELECT k0, k1 FROM "t_{PTP}"')}
    misses: list[tuple[str, str]] = []
    while len(misses) < n:
        pair = (rnd.choice(codes), rnd.choice(codes))
        if pair not in every:
            misses.append(pair)
    mue = [r[0] for r in db.execute('SELECT k0 FROM "t_mue_practitioner" ORDER BY random() LIMIT ?', (n,))]
    ts.close()
    return {"hit": hits, "miss": misses, "mue": mue}


def cold_and_warm(store: Path, compact: bool, table: str, items: list, repeat: int = 3) -> tuple[float, float]:
    """Best of ``repeat`` fresh processes' worth of tables: the first pass over the keys (cold), then again (warm)."""
    cold = warm = float("inf")
    for _ in range(repeat):
        ts = StoreTableSet(store, compact=compact)
        lookup = functools.partial(ts.lookup, table)
        cold = min(cold, per_call_us(lambda it, lookup=lookup: lookup(*it), items))
        warm = min(warm, per_call_us(lambda it, lookup=lookup: lookup(*it), items))
        ts.close()
    return cold, warm


def lookups(store: Path, keys: dict[str, list]) -> dict[str, float]:
    """Per-lookup microseconds, every path in this one process."""
    out: dict[str, float] = {}
    t = time.perf_counter()
    ts = StoreTableSet(store, compact=False)
    every = {(a, b): rest for a, b, *rest in ts._conn().execute(f'SELECT k0, k1, seq, v0 FROM "t_{PTP}"')}
    out["dict_load_all_ptp_s"] = time.perf_counter() - t
    for kind in ("hit", "miss"):
        items = [(k, DATES[i & 3]) for i, k in enumerate(keys[kind])]
        out[f"dict_{kind}_us"] = min(per_call_us(lambda it: every.get(it[0]), items) for _ in range(3))
        for path, compact in (("compact", True), ("sqlite", False)):
            cold, warm = cold_and_warm(store, compact, PTP, items)
            out[f"{path}_{kind}_cold_us"], out[f"{path}_{kind}_warm_us"] = cold, warm
    items = [((c,), DATES[i & 3]) for i, c in enumerate(keys["mue"])]
    mue = {c: 1 for c in keys["mue"]}
    out["dict_mue_us"] = min(per_call_us(lambda it: mue.get(it[0][0]), items) for _ in range(3))
    for path, compact in (("compact", True), ("sqlite", False)):
        out[f"{path}_mue_cold_us"], out[f"{path}_mue_warm_us"] = cold_and_warm(
            store, compact, "mue_practitioner", items
        )
    return out


def workload(ts: StoreTableSet, keys: dict[str, list]) -> None:
    """Nine misses to a hit, as claims ask, plus MUE codes."""
    for i, pair in enumerate(keys["miss"]):
        ts.lookup(PTP, pair, DATES[i & 3])
        if i % 9 == 0:
            ts.lookup(PTP, keys["hit"][(i // 9) % len(keys["hit"])], DATES[i & 3])
            ts.lookup("mue_practitioner", (keys["mue"][(i // 9) % len(keys["mue"])],), DATES[i & 3])


def workers(store: Path, compact: bool, keys: dict[str, list]) -> dict[str, float]:
    """Memory of a process with the tables open after a workload, and of two workers forked from it."""
    ts = StoreTableSet(store, compact=compact)
    workload(ts, keys)
    out = {f"parent_{k}": v for k, v in memory().items()}
    ready, pids = os.pipe(), []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:
            rnd = random.Random(os.getpid())
            mine = {k: rnd.sample(v, len(v)) for k, v in keys.items()}
            workload(ts, mine)
            os.write(ready[1], b"x")
            time.sleep(30)
            os._exit(0)
        pids.append(pid)
    os.read(ready[0], 1)
    os.read(ready[0], 1)
    mems = [memory(pid) for pid in pids]
    for pid in pids:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    for k in mems[0]:
        out[f"worker_{k}"] = sum(m[k] for m in mems) / 2
    return out


def open_time(store: Path) -> float:
    t = time.perf_counter()
    ts = StoreTableSet(store)
    ts.lookup(PTP, ("80053", "80048"), "2024-08-01")
    ts.lookup("mue_practitioner", ("97110",), "2024-08-01")
    return time.perf_counter() - t


def child(mode: str, store: str, keys_file: str) -> None:
    """Run one measurement in this (fresh) process and print it as JSON."""
    if mode == "open":
        print(json.dumps({"open_s": open_time(Path(store))}))
        return
    keys = {
        k: [tuple(x) if isinstance(x, list) else x for x in v]
        for k, v in json.loads(Path(keys_file).read_text()).items()
    }
    if mode == "lookups":
        print(json.dumps(lookups(Path(store), keys)))
    else:
        print(json.dumps(workers(Path(store), mode == "workers-compact", keys)))


def run_child(mode: str, store: Path, keys_file: Path | str = "") -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", mode, "--store", str(store), "--keys", str(keys_file)]
    return json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)


def scrub_time(data_dir: Path, repeat: int = 3) -> tuple[float, float]:
    """Best wall time and best CPU time (user + system) of ``claimscrub scrub`` of one claim against
    ``data_dir``: on shared cores the CPU time is the steadier figure."""
    claimscrub = Path(sys.executable).with_name("claimscrub")
    with tempfile.TemporaryDirectory() as tmp:
        claim = Path(tmp) / "one.json"
        claim.write_text(json.dumps(CLAIM))
        wall = cpu = float("inf")
        for _ in range(repeat):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            subprocess.run([str(claimscrub), "scrub", str(claim), "--data-dir", str(data_dir)], capture_output=True)
            wall = min(wall, time.perf_counter() - t)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = min(cpu, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("refdata", nargs="?", default=str(REPO.parent / "shared" / "refdata"))
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--skip-import", action="store_true")
    ap.add_argument("--baseline-dir", default=None, help="a store without compact files, for start-up figures")
    ap.add_argument("-n", type=int, default=20_000, help="keys per kind (hit, miss, MUE)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--store", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--keys", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.store, args.keys)
        return
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
    results["compact_mb"] = sum(f.stat().st_size for f in (data_dir / "compact").rglob("*") if f.is_file()) / 1e6
    results["open_s"] = min(run_child("open", store)["open_s"] for _ in range(3))
    results["scrub_one_claim_s"], results["scrub_one_claim_cpu_s"] = scrub_time(data_dir)
    if args.baseline_dir:
        base = Path(args.baseline_dir) / "tables.sqlite"
        results["baseline_open_s"] = min(run_child("open", base)["open_s"] for _ in range(3))
        wall, cpu = scrub_time(Path(args.baseline_dir))
        results["baseline_scrub_one_claim_s"], results["baseline_scrub_one_claim_cpu_s"] = wall, cpu
    keys_file = Path(tempfile.mkdtemp(prefix="claimscrub-bench-keys-")) / "keys.json"
    keys_file.write_text(json.dumps(sample_keys(store, args.n)))
    got = run_child("lookups", store, keys_file)
    results.update(got)
    for kind in ("hit", "miss", "mue"):
        for warmth in ("cold", "warm"):
            results[f"ratio_sqlite/compact_{kind}_{warmth}"] = (
                got[f"sqlite_{kind}_{warmth}_us"] / got[f"compact_{kind}_{warmth}_us"]
            )
            results[f"ratio_compact/dict_{kind}_{warmth}"] = got[f"compact_{kind}_{warmth}_us"] / got[f"dict_{kind}_us"]
    for label, mode in (("compact", "workers-compact"), ("sqlite", "workers-sqlite")):
        results.update({f"{label}_{k}": v for k, v in run_child(mode, store, keys_file).items()})
    keys_file.unlink()
    keys_file.parent.rmdir()
    for k, v in results.items():
        print(f"{k:<40} {v:,.3f}" if isinstance(v, float) else f"{k:<40} {v}")


if __name__ == "__main__":
    main()
