"""Benchmark (not a test): the real path, as a user runs it, against a plain-Python baseline.

    python benchmarks/bench_real.py [--claims 20000] [--data-dir DIR] [--runs w1,w0,ref]
        [--before DIR]   # DIR: another checkout with its own virtualenv in DIR/.venv, run in the same run

Generates professional claims from the codes of the full imported CMS tables
(3-8 lines on a date of service in 2024Q3; real CPT/HCPCS codes valid on the
date and real ICD-10-CM codes; about 35% carry a real NCCI PTP pair, 8% an
add-on code with or without its primary, some MUE excesses, MPFS indicator
hits, the rest clean; seeded), then runs

    claimscrub scrub FILE --format jsonl --data-dir DIR -o OUT [--workers N] [--backend B]

as a subprocess (read, validate, facts, engine, render, JSON Lines out,
workers, all bundled packs), and, in the same run, a plain-Python loop doing
comparable checks (code validity, PTP pair, MUE per day, add-on primary, MPFS
indicators) against the same tables preloaded into dicts and sets. Printed per
run: claims/s by wall clock and per CPU second of the process tree, peak RSS of
the largest process in the tree (``getrusage(RUSAGE_CHILDREN)`` of a fresh
runner process) and the summed RSS of the tree (sampled from /proc), the ratio to the baseline, and a hash of the findings (one line per
claim, sorted) so runs before and after a change can be compared. Start-up is the best of ``--startup``
runs scrubbing one claim alone (``--workers 1``), after an untimed run that compiles the bytecode and
warms the rulebook, table-definition and policy caches, as a user's second run finds them.

The tables are read straight from the store's SQLite file (its ``tables`` and
``editions`` catalogue), read-only: the benchmark needs every row, which the
lookup API does not enumerate.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import validator_baseline  # the sibling module: benchmarks/ is on sys.path when run as a script

from claimscrub.refdata.store import resolve_data_dir

DOS_FIRST, DOS_LAST = 20240701, 20240930  # 2024Q3: every table has an edition in force
EM_CODES = [f"992{n:02d}" for n in (2, 3, 4, 5, 11, 12, 13, 14, 15)]
NPIS = ["1234567893", "1245319599", "1003000126"]  # valid check digits
BYPASS = {"59", "XE", "XS", "XP", "XU", "24", "25", "57", "E1", "E2", "E3", "E4", "F1", "F2", "F3", "F4", "F5"}
BYPASS |= {"F6", "F7", "F8", "F9", "FA", "LC", "LD", "LM", "RC", "RI", "LT", "RT", "T1", "T2", "T3", "T4", "T5"}
BYPASS |= {"T6", "T7", "T8", "T9", "TA", "27", "91"}

RUNNER = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
wall = time.perf_counter() - t
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": rc, "wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "maxrss_kb": ru.ru_maxrss}))
"""


# ---------------------------------------------------------------- the tables, from the store


@dataclass
class Tables:
    """The hot tables for 2024Q3, in dicts and sets (what the baseline checks against)."""

    hcpcs: set[str] = field(default_factory=set)  # CPT/HCPCS valid all through the quarter
    dx: set[str] = field(default_factory=set)  # ICD-10-CM valid all through the quarter (no dot)
    ptp: dict[tuple[str, str], int] = field(default_factory=dict)  # (column1, column2) -> modifier indicator
    mue: dict[str, tuple[int, int]] = field(default_factory=dict)  # code -> (units, MAI)
    aoc: dict[str, tuple[int, frozenset[str]]] = field(default_factory=dict)  # add-on -> (type, primaries)
    mpfs: dict[str, tuple[str, int, str, int]] = field(default_factory=dict)  # code -> (status, pctc, global, bilat)


class StoreReader:
    """Rows of one edition of a table in the store, with interned strings resolved."""

    def __init__(self, path: Path):
        self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        self.defs = {name: json.loads(d) for name, d in self.db.execute("SELECT name, definition FROM tables")}
        self._strings: dict[int, str] = {}

    def edition(self, table: str) -> int:
        """The latest edition whose validity covers the whole quarter."""
        best = None
        for ed, date, vf, vt in self.db.execute(
            "SELECT id, date, valid_from, valid_to FROM editions WHERE tbl=? AND rows > 0 ORDER BY id", (table,)
        ):
            if (vf or "0000") <= "2024-07-01" and (vt or "9999") >= "2024-09-30" and (date or "") <= "2024-07-01":
                best = ed
        if best is None:
            raise SystemExit(f"the store has no edition of {table} covering 2024Q3: import ../shared/refdata")
        return best

    def string(self, sid: int | None) -> str | None:
        if sid is None:
            return None
        s = self._strings.get(sid)
        if s is None:
            s = self._strings[sid] = self.db.execute("SELECT s FROM strings WHERE id=?", (sid,)).fetchone()[0]
        return s

    def rows(self, table: str, columns: list[str]):
        """(keys, vf, vt, values) per row of the table's quarter edition; dates as YYYYMMDD ints."""
        d = self.defs[table]
        names = list(d["values"])
        eff = d["effective"]
        stored = [i for i, n in enumerate(names) if n not in (eff.get("from"), eff.get("to"))]
        keys = [f"k{i}" for i in range(len(d["key"]))]
        cols = [f"v{names.index(c)}" for c in columns]
        assert all(names.index(c) in stored for c in columns), columns
        strings = [d["values"][c] == "string" for c in columns]
        sql = f'SELECT {", ".join(keys + ["vf", "vt"] + cols)} FROM "t_{table}" WHERE ed=?'
        nk = len(keys)
        for rec in self.db.execute(sql, (self.edition(table),)):
            values = [self.string(v) if s else v for v, s in zip(rec[nk + 2 :], strings)]
            yield rec[:nk], rec[nk], rec[nk + 1], values


def _whole_quarter(vf: int | None, vt: int | None) -> bool:
    return (vf or 0) <= DOS_FIRST and (vt or 99999999) >= DOS_LAST


def _touches_quarter(vf: int | None, vt: int | None) -> bool:
    return (vf or 0) <= DOS_LAST and (vt or 99999999) >= DOS_FIRST


def load_tables(store: Path) -> Tables:
    r = StoreReader(store)
    t = Tables()
    intern = sys.intern
    t.hcpcs = {k[0] for k, vf, vt, _ in r.rows("ioce_hcpcs", []) if _whole_quarter(vf, vt)}
    t.dx = {k[0] for k, vf, vt, _ in r.rows("ioce_dx", []) if _whole_quarter(vf, vt)}
    for (c1, c2), vf, vt, (mi,) in r.rows("ncci_ptp_practitioner", ["modifier_indicator"]):
        if _touches_quarter(vf, vt):
            t.ptp[(intern(c1), intern(c2))] = mi
    for (code,), _, _, (units, mai) in r.rows("mue_practitioner", ["mue_units", "mai"]):
        old = t.mue.get(code)
        if old is None or units < old[0]:  # the table's conflict policy: the lowest
            t.mue[code] = (units, mai)
    primaries: dict[str, set[str]] = {}
    for (addon, primary), vf, vt, (kind,) in r.rows("aoc", ["aoc_edit_type"]):
        if _touches_quarter(vf, vt):
            primaries.setdefault(addon, set()).add(primary)
            t.aoc[addon] = (kind, frozenset())
    t.aoc = {a: (kind, frozenset(primaries[a])) for a, (kind, _) in t.aoc.items()}
    for (code, mod), vf, vt, (status, pctc, glob, bilat) in r.rows(
        "mpfs_indicators", ["status", "pctc", "global_days", "bilateral"]
    ):
        if not mod and _whole_quarter(vf, vt):
            t.mpfs[code] = (status, pctc, glob, bilat)
    return t


# ---------------------------------------------------------------- claims


@dataclass
class Pools:
    clean: list[str]
    ptp: list[tuple[str, str, int]]
    addon1: list[tuple[str, str]]  # (add-on, a primary)
    mue: list[tuple[str, int]]
    pctc0: list[str]
    bilat0: list[str]
    glob090: list[str]
    dx: list[str]
    pairs: dict[tuple[str, str], int]  # every PTP pair, so clean lines are drawn clear of them


def pools(t: Tables, rng: random.Random) -> Pools:
    """Codes to draw from: valid on every date of the quarter and priced under the MPFS (status A)."""
    priced = sorted(c for c in t.hcpcs if t.mpfs.get(c, ("",))[0] == "A" and c in t.mue and c not in t.aoc)
    ok = set(priced)
    ptp = sorted((a, b, mi) for (a, b), mi in t.ptp.items() if a in ok and b in ok and mi in (0, 1))
    addon1 = sorted(
        (a, rng.choice(sorted(p & ok)))
        for a, (kind, p) in t.aoc.items()
        if kind == 1 and a in t.hcpcs and p & ok and a in t.mpfs
    )
    return Pools(
        clean=[c for c in priced if t.mpfs[c][2] == "XXX"],  # visits, tests, imaging: no global period
        ptp=rng.sample(ptp, min(len(ptp), 20_000)),
        addon1=addon1,
        mue=[(c, t.mue[c][0]) for c in priced if t.mue[c][0] > 0 and t.mue[c][1] in (2, 3)],
        pctc0=[c for c in priced if t.mpfs[c][1] == 0],
        bilat0=[c for c in priced if t.mpfs[c][3] == 0],
        glob090=[c for c in priced if t.mpfs[c][2] == "090"],
        dx=sorted(c for c in t.dx if len(c) >= 4 and c[0] in "EIJKMNRZ")[::5],  # common outpatient chapters
        pairs=t.ptp,
    )


def _date(day: int) -> str:
    """The day-th date of 2024Q3 (0 = 2024-07-01)."""
    return (datetime.date(2024, 7, 1) + datetime.timedelta(days=day)).isoformat()


def _add_line(rng: random.Random, lines: list[dict], code: str, units: int, modifiers: tuple, date: str) -> None:
    lines.append(
        {
            "sequence": len(lines) + 1,
            "code": code,
            "units": units,
            "charge": f"{rng.randint(20, 900)}.00",
            "from_date": date,
            "modifiers": list(modifiers),
            "diagnosis_pointers": [1],
        }
    )


def generate(n: int, p: Pools, seed: int = 18) -> bytes:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        day = rng.randrange(91)  # the last day of the quarter is left for a procedure the day after a visit
        dos = _date(day)
        npi = rng.choice(NPIS)
        lines: list[dict] = []

        def add(code: str, units: int = 1, modifiers: tuple[str, ...] = (), date: str = dos) -> None:
            _add_line(rng, lines, code, units, modifiers, date)  # noqa: B023 - called within the iteration

        roll = rng.random()
        if roll < 0.35:  # a real PTP pair, sometimes with a modifier that may bypass it
            c1, c2, mi = rng.choice(p.ptp)
            add(c1)
            add(c2, modifiers=("59",) if mi == 1 and rng.random() < 0.3 else ())
        elif roll < 0.43:  # an add-on code, with its primary half of the time
            addon, primary = rng.choice(p.addon1)
            if rng.random() < 0.5:
                add(primary)
            add(addon)
        elif roll < 0.48:  # units over the MUE (per day)
            code, units = rng.choice(p.mue)
            add(code, units=units + 1)
        elif roll < 0.54:  # MPFS indicators: 26 on a code without a professional component, 50, global 090
            kind = rng.randrange(3)
            if kind == 0:
                add(rng.choice(p.pctc0), modifiers=("26",))
            elif kind == 1:
                add(rng.choice(p.bilat0), modifiers=("50",))
            else:
                add(rng.choice(EM_CODES[:5]))  # the visit the day before a major procedure
                add(rng.choice(p.glob090), date=_date(day + 1))
        if rng.random() < 0.4:
            add(rng.choice(EM_CODES), modifiers=("25",) if rng.random() < 0.5 else ())
        size = rng.randint(3, 8)
        while len(lines) < size:  # clean lines: no PTP pair with the lines already there
            code = rng.choice(p.clean)
            if not any((code, o["code"]) in p.pairs or (o["code"], code) in p.pairs for o in lines):
                add(code)
        dxs = rng.sample(p.dx, rng.randint(1, 4))
        out.append(
            {
                "claim_id": f"R{i}",
                "type": "professional",
                "claim_date": "2024-10-15",
                "payer": {"type": "medicare", "name": "Medicare Part B"},
                "billing_provider": {"npi": npi, "taxonomy": "207Q00000X"},
                "patient": {
                    "id": f"P{rng.randrange(n)}",
                    "sex": rng.choice("FM"),
                    "birth_date": f"{rng.randint(1935, 1990)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                },
                "place_of_service": "11",
                "diagnoses": [{"code": f"{c[:3]}.{c[3:]}"} for c in dxs],
                "lines": lines,
            }
        )
    return b"\n".join(orjson.dumps(c) for c in out) + b"\n"


# ---------------------------------------------------------------- the plain-Python baseline


def baseline(data: bytes, t: Tables) -> tuple[int, int, bytes]:
    """Comparable checks by hand, findings written as JSON Lines: claims, findings, output."""
    out = []
    total = 0
    em = set(EM_CODES)
    for raw in data.splitlines():
        claim = orjson.loads(raw)
        found = []
        for dx in claim["diagnoses"]:
            if dx["code"].replace(".", "") not in t.dx:
                found.append({"rule": "DX-VALID", "code": dx["code"]})
        lines = claim["lines"]
        day_units: dict[tuple[str, str], int] = {}
        for line in lines:
            key = (line["code"], line["from_date"])
            day_units[key] = day_units.get(key, 0) + line["units"]
        for line in lines:
            code, seq, dos, mods = line["code"], line["sequence"], line["from_date"], set(line["modifiers"])
            if code not in t.hcpcs:
                found.append({"rule": "CODE-VALID", "line": seq})
            mue = t.mue.get(code)
            if mue is not None and (line["units"] if mue[1] == 1 else day_units[(code, dos)]) > mue[0]:
                found.append({"rule": "MUE", "line": seq, "limit": mue[0]})
            aoc = t.aoc.get(code)
            if (
                aoc is not None
                and aoc[0] == 1
                and not any(o is not line and o["from_date"] == dos and o["code"] in aoc[1] for o in lines)
            ):
                found.append({"rule": "AOC", "line": seq})
            ind = t.mpfs.get(code)
            if ind is not None:
                status, pctc, glob, bilat = ind
                if "26" in mods and pctc not in (1, 4, 6):
                    found.append({"rule": "PFS-26", "line": seq})
                if "TC" in mods and pctc != 1:
                    found.append({"rule": "PFS-TC", "line": seq})
                if "50" in mods and bilat in (0, 2, 9):
                    found.append({"rule": "PFS-50", "line": seq})
                if status == "B":
                    found.append({"rule": "PFS-B", "line": seq})
            for other in lines:
                if other is line:
                    continue
                if other["from_date"] == dos:
                    mi = t.ptp.get((other["code"], code))
                    if mi is not None and (mi == 0 or not mods & BYPASS):
                        found.append({"rule": "PTP", "line": seq, "other": other["sequence"], "mi": mi})
                if code in em and "57" not in mods and other["code"] not in em:
                    o = t.mpfs.get(other["code"])
                    if o is not None and o[2] == "090" and other["from_date"] >= dos:
                        found.append({"rule": "PFS-GLOBAL", "line": seq, "other": other["sequence"]})
        total += len(found)
        out.append(orjson.dumps({"claim_id": claim["claim_id"], "status": "scrubbed", "findings": found}))
    return len(out), total, b"\n".join(out)


# ---------------------------------------------------------------- runs


def findings_hash(path: Path) -> tuple[str, int, int]:
    """sha256 of the output's claim lines (keys sorted; lines and each claim's findings sorted, since
    findings that tie in the output's order may come in either order), the claims and findings counted."""
    lines, findings = [], 0
    for raw in path.read_bytes().splitlines():
        rec = orjson.loads(raw)
        rec.pop("source", None)  # the input file's path: a new temporary folder in every run
        for name in ("findings", "suppressed"):
            if name in rec:
                rec[name] = sorted(rec[name], key=lambda f: orjson.dumps(f, option=orjson.OPT_SORT_KEYS))
        findings += len(rec.get("findings", ()))
        lines.append(orjson.dumps(rec, option=orjson.OPT_SORT_KEYS))
    lines.sort()
    return hashlib.sha256(b"\n".join(lines)).hexdigest()[:16], len(lines), findings


def _tree(pid: int) -> list[int]:
    """A process and its descendants, from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, ()))
    return out


def tree_rss(pid: int, stop: threading.Event, peak: list[int]) -> None:
    """Peak of the summed RSS of a process and its descendants, sampled every 0.2 s from /proc."""
    page = os.sysconf("SC_PAGE_SIZE")
    while not stop.wait(0.2):
        total = 0
        for p in _tree(pid):
            try:
                with open(f"/proc/{p}/statm") as f:
                    total += int(f.read().split()[1]) * page
            except (OSError, IndexError, ValueError):
                continue
        peak[0] = max(peak[0], total)


def run_cli(label: str, cmd: list[str]) -> dict:
    runner = subprocess.Popen([sys.executable, "-c", RUNNER, *cmd], stdout=subprocess.PIPE, text=True)
    stop, peak = threading.Event(), [0]
    watcher = threading.Thread(target=tree_rss, args=(runner.pid, stop, peak), daemon=True)
    watcher.start()
    stdout, _ = runner.communicate()
    stop.set()
    watcher.join()
    result = json.loads(stdout.strip().splitlines()[-1])
    if result["rc"] not in (0, 1):
        raise SystemExit(f"{label}: claimscrub exited {result['rc']}")
    result["tree_rss_mb"] = peak[0] / 2**20 if peak[0] else None
    return result


RUNS = {
    "w1": ("durable, --workers 1 (default)", ["--workers", "1"]),
    "w0": ("durable, --workers 0", ["--workers", "0"]),
    "ref": ("reference, --workers 1", ["--workers", "1", "--backend", "reference"]),
    "w2": ("durable, --workers 2", ["--workers", "2"]),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--claims", type=int, default=20_000)
    ap.add_argument(
        "--data-dir", help="the imported store (default: $CLAIMSCRUB_DATA_DIR, else the user data directory)"
    )
    ap.add_argument("--runs", default="w1,w0,ref", help="comma-separated: " + ", ".join(RUNS))
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("--startup", type=int, default=3, help="times to scrub one claim alone, for start-up (0: skip)")
    ap.add_argument("--keep", help="keep the generated claims and outputs in this folder")
    ap.add_argument(
        "--before",
        help="also run these configurations with another checkout's engine, installed in its own DIR/.venv "
        "(git archive REV | tar -x -C DIR; python -m venv DIR/.venv; DIR/.venv/bin/pip install -e DIR): "
        "before/after figures and hashes from one run. Its own virtualenv, because an editable install maps "
        "the bundled rules to its own checkout: a PYTHONPATH alone would run the old engine on these rules",
    )
    args = ap.parse_args()
    args.data_dir = str(resolve_data_dir(args.data_dir))
    store = Path(args.data_dir) / "tables.sqlite"
    if not store.exists():
        raise SystemExit(f"no store at {store}: claimscrub data import ../shared/refdata --data-dir {args.data_dir}")
    t0 = time.perf_counter()
    tables = load_tables(store)
    load_s = time.perf_counter() - t0
    print(
        f"tables preloaded into dicts in {load_s:.1f} s: {len(tables.ptp):,} PTP pairs, {len(tables.mue):,} MUE, "
        f"{len(tables.aoc):,} add-on codes, {len(tables.mpfs):,} MPFS, {len(tables.hcpcs):,} CPT/HCPCS, "
        f"{len(tables.dx):,} ICD-10-CM"
    )
    data = generate(args.claims, pools(tables, random.Random(args.seed)), args.seed)
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_real_"))
    work.mkdir(parents=True, exist_ok=True)
    claims_file = work / "claims.jsonl"
    claims_file.write_bytes(data)
    print(f"{args.claims:,} claims, {len(data) / 2**20:.1f} MiB, in {claims_file}")

    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    n, base_findings, _ = baseline(data, tables)
    base_wall, base_cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    base_rate = n / base_cpu
    print(
        f"{'plain-Python baseline (dicts)':46} {n / base_wall:8,.0f} claims/s wall {base_rate:8,.0f} per CPU s"
        f"   ratio 1     ({base_findings:,} findings; peak RSS of this process "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB with the tables)"
    )
    del tables
    validator = validator_baseline.available()
    vrate = 0.0
    if validator:
        vn, vfindings, vwall, vcpu = validator_baseline.run(data)
        vrate = vn / vcpu
        print(
            f"{'claim-validator ' + validator + ' (reused pipeline)':46} {vn / vwall:8,.0f} claims/s wall "
            f"{vrate:8,.0f} per CPU s   ratio {vrate / base_rate:.3f} ({vfindings:,} findings, no tables)"
        )
    else:
        print("claim-validator: not installed (pip install -e '.[bench]'), not compared")
    exe = [str(Path(sys.executable).with_name("claimscrub"))]
    engines = [("", exe)]
    if args.before:
        before = Path(args.before).resolve() / ".venv" / "bin" / "claimscrub"
        if not before.exists():
            raise SystemExit(f"--before: no {before} (install that checkout into DIR/.venv first)")
        engines.insert(0, ("before: ", [str(before)]))
    one = work / "one_claim.json"
    one.write_bytes(data.split(b"\n", 1)[0])
    # The engines run as an installed package runs: from compiled bytecode (pip compiles it at install; with
    # PYTHONDONTWRITEBYTECODE set, as on the project's machines, every start-up compiled every module), kept
    # in a folder of this run's own so that neither checkout is written to.
    pycache = tempfile.mkdtemp(prefix="bench_real_pycache_")
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = pycache
    for prefix, engine in engines if args.startup else ():
        cmd = [*engine, "scrub", str(one), "--format", "json", "--data-dir", args.data_dir, "-o", os.devnull]
        cmd += ["--workers", "1"]
        run_cli("start-up", cmd)  # not timed: compiles the bytecode, warms the rulebook, table and policy caches
        runs = [run_cli("start-up", cmd) for _ in range(args.startup)]
        print(
            f"{prefix + 'start-up: one claim, --workers 1':46} best of {args.startup}: wall "
            f"{min(r['wall'] for r in runs):.2f} s, CPU {min(r['cpu'] for r in runs):.2f} s (the process tree's)"
        )
    hashes = {}
    for (prefix, engine), key in ((e, k) for e in engines for k in args.runs.split(",")):
        label, extra = RUNS[key]
        label = prefix + label
        out = work / f"out_{key}.jsonl"
        cmd = [*engine, "scrub", str(claims_file), "--format", "jsonl", "--data-dir", args.data_dir, "-o", str(out)]
        r = run_cli(label, cmd + extra)
        digest, claims, findings = findings_hash(out)
        hashes[label] = digest
        tree = f", tree {r['tree_rss_mb']:,.0f} MiB" if r["tree_rss_mb"] else ""
        print(
            f"{label:46} {claims / r['wall']:8,.0f} claims/s wall {claims / r['cpu']:8,.0f} per CPU s"
            f"   ratio {claims / r['cpu'] / base_rate:.3f}"
            + (f", {claims / r['cpu'] / vrate:.3f} of claim-validator" if vrate else "")
            + f" (wall {r['wall']:.1f} s, peak RSS "
            f"{r['maxrss_kb'] / 1024:,.0f} MiB largest process{tree}; {findings:,} findings, hash {digest})"
        )
    if len(set(hashes.values())) > 1:
        print("FINDINGS DIFFER between runs:", hashes)
    elif hashes:
        print(f"findings identical across runs: {next(iter(hashes.values()))}")
    shutil.rmtree(pycache, ignore_errors=True)
    if not args.keep:
        for f in work.iterdir():
            f.unlink()
        work.rmdir()


if __name__ == "__main__":
    main()
