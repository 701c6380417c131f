"""Benchmark (not a test): single-claim POST /v1/scrub latency over loopback with the full tables.

    python benchmarks/bench_http.py [--data-dir DIR] [--requests 2000] [--lines 6] [--workers 1]

Starts ``claimscrub serve`` on 127.0.0.1 with the tables in --data-dir (when
not given, imports ../shared/refdata into a temporary store first, which takes
a minute or two), posts N single claims of --lines lines one after another on
one keep-alive connection, and prints p50/p90/p99/max latency, requests/s, the
server's own time per request (Server-Timing), its CPU per request and its peak RSS. The claims use
real codes: a PTP pair and units over the MUE found in the loaded tables, so
findings are rendered too. Target: p99 under 10 ms for a 6-line claim.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CODES = [
    "99213",
    "99214",
    "80053",
    "80048",
    "36415",
    "85025",
    "93000",
    "20610",
    "11042",
    "97597",
    "97110",
    "71046",
    "81001",
    "87086",
    "96372",
    "J1100",
    "G0008",
    "90686",
    "73030",
    "99203",
]
DIAGNOSES = ["E11.9", "I10", "J06.9", "M17.11", "Z00.00", "R51.9", "M54.50"]
MODIFIERS = [[], [], [], ["25"], ["59"], ["RT"], ["XS"]]
DOS = "2024-08-01"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def import_refdata(refdata: Path) -> Path:
    target = Path(tempfile.mkdtemp(prefix="claimscrub-bench-"))
    print(f"importing {refdata} into {target} (one-off; pass --data-dir to reuse a store) ...", flush=True)
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "claimscrub.cli.main",
            "data",
            "import",
            str(refdata),
            "--data-dir",
            str(target),
            "--quiet",
        ],
        cwd=REPO,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print(f"imported in {time.perf_counter() - started:.0f}s", flush=True)
    return target


def table_facts(data_dir: Path) -> tuple[list[tuple[str, str]], dict[str, int]]:
    """PTP pairs among CODES and their MUE limits, from the loaded tables (so findings fire)."""
    from claimscrub.refdata.store import open_tables

    tables = open_tables(data_dir, samples=False)
    if not tables.loaded("ncci_ptp_practitioner"):
        raise SystemExit(f"no NCCI PTP table in {data_dir}: import the CMS tables first (claimscrub data import)")
    pairs = [
        (a, b)
        for a in CODES
        for b in CODES
        if a != b and tables.lookup("ncci_ptp_practitioner", (a, b), DOS) is not None
    ]
    mue = {}
    for code in CODES:
        row = tables.lookup("mue_practitioner", (code,), DOS)
        if row is not None and row.get("mue_units") is not None:
            mue[code] = int(row["mue_units"])
    return pairs, mue


def claim(n: int, lines: int, rnd: random.Random, pairs, mue) -> dict:
    codes = rnd.sample(CODES, lines)
    if pairs and rnd.random() < 0.3:  # an unbundled pair on the same date
        codes[:2] = list(rnd.choice(pairs))
    out = []
    for i, code in enumerate(codes, 1):
        units = 1
        if code in mue and rnd.random() < 0.1:
            units = mue[code] + 1
        out.append(
            {
                "sequence": i,
                "code": code,
                "units": units,
                "charge": f"{rnd.randint(20, 400)}.00",
                "from_date": DOS,
                "place_of_service": "11",
                "diagnosis_pointers": [1],
                "modifiers": rnd.choice(MODIFIERS),
            }
        )
    return {
        "claim_id": f"BENCH-{n}",
        "type": "professional",
        "frequency": "original",
        "claim_date": "2024-08-15",
        "payer": {"name": "Medicare Part B", "type": "medicare"},
        "billing_provider": {"npi": "1234567893", "taxonomy": "207Q00000X"},
        "patient": {"id": f"P{n}", "sex": rnd.choice("MF"), "birth_date": "1958-05-01"},
        "place_of_service": "11",
        "diagnoses": [{"code": d} for d in rnd.sample(DIAGNOSES, 2)],
        "lines": out,
    }


def family(pid: int) -> list[int]:
    """The server and its descendants: scrub workers are children of its fork server."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            todo += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except OSError:
            pass
    return out


def peak_rss_mb(pid: int) -> float:
    """VmHWM of the server and its worker processes (the largest)."""
    pids = family(pid)
    peak = 0.0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
        except OSError:
            pass
    return peak


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the server process and its workers so far (independent of machine load)."""
    total = 0.0
    pids = family(pid)
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            pass
    return total


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, help="A store made by 'claimscrub data import' (default: import refdata)")
    ap.add_argument("--refdata", type=Path, default=REPO.parent / "shared" / "refdata")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--lines", type=int, default=6)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    data_dir = args.data_dir or import_refdata(args.refdata)
    try:
        run(args, data_dir)
    finally:
        if args.data_dir is None:  # the store this run imported
            shutil.rmtree(data_dir, ignore_errors=True)


def run(args: argparse.Namespace, data_dir: Path) -> None:
    pairs, mue = table_facts(data_dir)
    rnd = random.Random(args.seed)
    bodies = [orjson.dumps(claim(i, args.lines, rnd, pairs, mue)) for i in range(args.requests + args.warmup)]

    port = free_port()
    started = time.perf_counter()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "claimscrub.cli.main",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            "--workers",
            str(args.workers),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=REPO,
        env={**os.environ},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            if server.poll() is not None:
                raise SystemExit("the server exited during startup")
            try:
                health = httpx.get(url + "/healthz", timeout=1).json()
                break
            except httpx.TransportError:
                time.sleep(0.1)
        startup = time.perf_counter() - started
        latencies, server_side, findings, rejected = [], [], 0, 0
        with httpx.Client(base_url=url, headers={"Content-Type": "application/json"}, timeout=30) as http:
            for body in bodies[: args.warmup]:
                http.post("/v1/scrub", content=body).raise_for_status()
            cpu_before = cpu_seconds(server.pid)
            for body in bodies[args.warmup :]:
                t0 = time.perf_counter()
                r = http.post("/v1/scrub", content=body)
                elapsed = time.perf_counter() - t0
                r.raise_for_status()
                answer = r.json()
                latencies.append(elapsed * 1000)
                server_side.append(float(r.headers["server-timing"].split("dur=")[1]))
                findings += answer["summary"]["findings"]
                rejected += answer["summary"]["rejected"]
        total = sum(latencies) / 1000
        server_cpu_ms = (cpu_seconds(server.pid) - cpu_before) * 1000 / len(latencies)
        rss = peak_rss_mb(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
    result = {
        "requests": len(latencies),
        "lines_per_claim": args.lines,
        "workers": args.workers,
        "rules": health["rules"],
        "not_checked": health["not_checked"],
        "ptp_pairs_used": len(pairs),
        "findings": findings,
        "rejected": rejected,
        "p50_ms": round(statistics.median(latencies), 2),
        "p90_ms": round(percentile(latencies, 90), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "max_ms": round(max(latencies), 2),
        "requests_per_s": round(len(latencies) / total, 1),
        "server_scrub_p50_ms": round(statistics.median(server_side), 2),
        "server_scrub_p99_ms": round(percentile(server_side, 99), 2),
        "server_cpu_ms_per_request": round(server_cpu_ms, 2),
        "server_startup_s": round(startup, 2),
        "server_peak_rss_mb": round(rss, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),  # other work on the machine skews the tail
    }
    print(
        f"{result['requests']} POST /v1/scrub of {args.lines}-line claims over loopback, "
        f"{result['rules']} rules, tables from {data_dir}"
    )
    print(
        f"  latency ms: p50 {result['p50_ms']}  p90 {result['p90_ms']}  p99 {result['p99_ms']}  "
        f"max {result['max_ms']}   ({result['requests_per_s']} requests/s, one connection)"
    )
    print(
        f"  server-side scrub ms (Server-Timing): p50 {result['server_scrub_p50_ms']}  "
        f"p99 {result['server_scrub_p99_ms']}; server CPU {result['server_cpu_ms_per_request']} ms per request; "
        f"{findings} findings, {rejected} rejected"
    )
    print(
        f"  server: ready in {result['server_startup_s']}s, peak RSS {result['server_peak_rss_mb']} MB; "
        f"machine load average {result['load_average_1m']} on {os.cpu_count()} cores"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
