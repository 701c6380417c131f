"""Benchmark (not a test): scrub throughput with a 1,000,000-line SQLite history against none, in one run.

    python benchmarks/bench_history.py [--claims 5000] [--history-lines 1000000] [--store PATH]
                                       [--one-patient 500,2000] [--cases store,one-patient,phase]

Three contenders scrub the same generated claims (bench_scrub's generator, two claims per patient,
the first bundled packs plus the history pack, sample tables) through ``Scrubber.scrub_many``:

* ``alone``: each claim on its own (``cross_claim=False``), the baseline;
* ``batch``: the cross-claim edits within the batch, no store;
* ``history``: the same plus the SQLite store holding ``--history-lines`` lines (10 a patient, over
  2021-2024, including every patient of the batch): one indexed query per 500 patients.

Throughput is claims per second, best of ``--repeat`` runs (CPU and wall: the store's reads are
partly I/O), and the ratio to ``alone``. The store is built once (about a minute) and reused when
``--store`` names an existing file. Peak RSS from getrusage.

``one-patient``: every claim of the batch belongs to one patient (``--one-patient`` sizes; claims over
all of 2024 from every code of the sample tables), scrubbed alone and with the cross-claim rules. Each
claim is compared with at most ``MAX_HISTORY_LINES`` history lines (the nearest), so the phase's cost
per claim must not grow with the batch: the microseconds it adds per claim are printed for each size.

``phase``: the cross-claim phase alone with the store, run by the durable backend, by the fact builder's
decisions (what the CLI's and the service's parent processes use) and by the reference evaluator.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import random
import resource
import tempfile
import time
from pathlib import Path

import orjson
from bench_scrub import CODES, FIRST_PACKS, best_of, generate

from claimscrub.api.scrubber import Scrubber, batch_gc
from claimscrub.compile.history_facts import MAX_HISTORY_LINES
from claimscrub.history.store import SqliteHistory
from claimscrub.inputs import read_bytes
from claimscrub.model.claim import Claim, Line, Patient, Provider
from claimscrub.refdata.tables import sample_tables
from claimscrub.resources import rules_dir

LINES_PER_PATIENT = 10
PACKS = (*FIRST_PACKS, "history")
NPIS = ["1234567893", "1234567890"]


def history_claims(lines: int, seed: int = 11):
    """Past claims of ``lines // 10`` patients (P0, P1, ...), 2 lines a claim, 2021-2024."""
    rng = random.Random(seed)
    start = datetime.date(2021, 1, 1)
    patients = lines // LINES_PER_PATIENT
    for p in range(patients):
        for c in range(LINES_PER_PATIENT // 2):
            day = (start + datetime.timedelta(days=rng.randrange(1400))).isoformat()
            claim_lines = [
                Line(sequence=s, code=rng.choice(CODES), units=1, charge_cents=10000, from_date=day, to_date=day)
                for s in (1, 2)
            ]
            yield Claim(
                claim_id=f"H{p}-{c}",
                type="professional",
                patient=Patient(id=f"P{p}"),
                billing_provider=Provider(npi=rng.choice(NPIS)),
                lines=claim_lines,
            )


def build_store(path: Path, lines: int) -> None:
    store = SqliteHistory(path)
    batch: list[Claim] = []
    for claim in history_claims(lines):
        batch.append(claim)
        if len(batch) == 20_000:
            store.record(batch)
            batch = []
    store.record(batch)
    store.close()


def batch_items(claims: int, one_patient: bool = False) -> list:
    """bench_scrub's claims, two per patient (so the batch is its own history too); or all of one patient's."""
    docs = [orjson.loads(line) for line in generate(claims, wide=one_patient).splitlines()]
    for i, doc in enumerate(docs):
        doc["patient"]["id"] = "ONE" if one_patient else f"P{i // 2}"
    return list(read_bytes(b"\n".join(orjson.dumps(d) for d in docs), "bench.jsonl"))


def findings_hash(results) -> str:
    """A digest of every finding of every result (rule, claim, line, message, related line), so two runs or
    two versions of the engine can be shown to find exactly the same."""
    digest = hashlib.sha256()
    for r in results:
        for f in sorted(r.findings, key=lambda f: (f.rule_id, f.line or 0, f.message)):
            digest.update(orjson.dumps([r.claim_id, f.rule_id, f.line, f.message, f.related, f.severity]))
        digest.update(orjson.dumps([r.claim_id, r.status, sorted(str(n) for n in r.not_checked)]))
    return digest.hexdigest()[:16]


def timed(label: str, fn, repeat: int, best=None) -> tuple[float, float]:
    """Claims per CPU second and per wall second of the best of ``repeat`` runs (bench_scrub's :func:`best_of`,
    or ``best`` when already run); ``fn`` answers (claims, (findings, hash))."""
    claims, (findings, digest), wall, cpu = best or best_of(fn, repeat)
    print(
        f"{label:<34} {claims / cpu:>8,.0f} claims/s CPU  {claims / wall:>8,.0f} claims/s wall  "
        f"({claims} claims, {findings} findings, hash {digest}, best of {repeat})"
    )
    return claims / cpu, claims / wall


def store_case(args, scrubber: Scrubber, run) -> None:
    tmp = tempfile.TemporaryDirectory()
    path = args.store or Path(tmp.name) / "history.sqlite"
    if not path.exists():
        started = time.perf_counter()
        build_store(path, args.history_lines)
        print(
            f"built {path} ({args.history_lines:,} lines, {path.stat().st_size / 2**20:.0f} MiB) "
            f"in {time.perf_counter() - started:.0f} s"
        )
    items = batch_items(args.claims)
    store = SqliteHistory(path)
    print(
        f"{args.claims} generated claims ({args.claims // 2} patients), {len(scrubber.program.rules)} rules, "
        f"history {args.history_lines:,} lines"
    )
    contenders = {
        "alone (no cross-claim edits)": lambda: run(items, cross_claim=False),
        "batch (cross-claim, no store)": lambda: run(items),
        "history (cross-claim + SQLite)": lambda: run(items, history=store),
    }
    # In turns (alone, batch, history, alone, ...): on a shared machine a busy minute then slows every
    # contender alike instead of all the runs of one, and the ratios hold better.
    best: dict[str, tuple] = {}
    for _ in range(args.repeat):
        for label, fn in contenders.items():
            got = best_of(fn, 1)
            if label not in best or got[3] < best[label][3]:
                best[label] = got
    alone, batch, history = (timed(label, fn, args.repeat, best[label]) for label, fn in contenders.items())
    for i, kind in enumerate(("CPU", "wall-clock")):
        print(
            f"{kind} ratios to alone: batch {batch[i] / alone[i]:.2f}, history {history[i] / alone[i]:.2f} "
            f"(target: history >= 0.70)"
        )
    store.close()
    tmp.cleanup()


def one_patient_case(args, run) -> None:
    for size in args.one_patient:
        items = batch_items(size, one_patient=True)
        print(f"one patient, {size} claims over 2024 (history window capped at {MAX_HISTORY_LINES} lines)")
        alone = timed(f"  alone ({size})", lambda items=items: run(items, cross_claim=False), args.repeat)
        batch = timed(f"  cross-claim ({size})", lambda items=items: run(items), args.repeat)
        added = 1e6 / batch[0] - 1e6 / alone[0]
        print(f"  CPU ratio to alone {batch[0] / alone[0]:.2f}; the cross-claim phase adds {added:,.0f} us a claim")


def phase_case(args, scrubber: Scrubber) -> None:
    """The cross-claim phase alone (with the store) on each way of running it: the durable backend (a
    ``Scrubber`` of its own), the fact builder's decisions (the CLI's and the service's parents) and
    the reference evaluator (what those parents ran before); milliseconds a claim, best of ``--repeat``."""
    from claimscrub.history.phase import ClaimCollector, cross_claim_outcomes, edit_context

    items = batch_items(args.claims)
    collector = ClaimCollector()
    for item in collector.watch(iter(items)):
        collector.take(scrubber.scrub_item(item))
    claims = [c for c in collector.claims if c is not None]
    store = SqliteHistory(args.store or Path(tempfile.gettempdir()) / "history.sqlite")
    for backend in ("durable", "decided", "reference"):
        try:
            ctx = edit_context(scrubber.tables, scrubber.rulebook, backend=backend)
        except ValueError:
            print(f"phase, {backend:<9} not in this version")
            continue

        def phase(ctx=ctx):
            outcomes = cross_claim_outcomes(claims, ctx, store)
            digest = hashlib.sha256(orjson.dumps([[f.as_dict() for f in o.findings] for o in outcomes]))
            return len(claims), (sum(len(o.findings) for o in outcomes), digest.hexdigest()[:16])

        n, (found, digest), _, cpu = best_of(phase, args.repeat)
        print(f"phase, {backend:<9} {1000 * cpu / n:6.3f} ms a claim CPU ({found} findings, hash {digest})")
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--claims", type=int, default=5000)
    parser.add_argument("--history-lines", type=int, default=1_000_000)
    parser.add_argument("--store", type=Path, help="history file to build (or reuse when it exists)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--one-patient", type=lambda s: [int(n) for n in s.split(",")], default=[500, 2000])
    parser.add_argument("--cases", default="store,one-patient", help="store, one-patient, phase (comma-separated)")
    args = parser.parse_args()
    scrubber = Scrubber(
        [rules_dir() / "packs" / name for name in PACKS],
        replace_bundled=True,
        tables=sample_tables(),
        backend="durable",
    )
    batch_gc()

    def run(items, **kw):
        results = list(scrubber.scrub_many(items, **kw))
        return len(results), (sum(len(r.findings) for r in results), findings_hash(results))

    cases = args.cases.split(",")
    if "store" in cases:
        store_case(args, scrubber, run)
    if "one-patient" in cases:
        one_patient_case(args, run)
    if "phase" in cases:
        phase_case(args, scrubber)
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
