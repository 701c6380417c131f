"""A crash in a worker (as a segfault in the C core would be) loses no claim.

The workers are forked, so a patch made here before the pool starts is in
them too: a claim id makes the worker process die with ``os._exit``, the way
a segfault ends it, without a Python exception to catch.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from claimscrub.api.scrubber import Scrubber
from claimscrub.api.workers import Prebuilt, WorkerPool
from claimscrub.inputs.base import InputItem

CONFIG = {"data_dir": "/nonexistent-data-dir", "backend": "durable"}
NPI_FINDINGS = ["CS-INT-001"]  # the billing NPI, once: lines that repeat it are not reported again (issue #13)


def claim(cid: str, code: str = "99213") -> InputItem:
    data = {
        "claim_id": cid,
        "type": "professional",
        "claim_date": "2024-08-20",
        "payer": {"type": "medicare"},
        "billing_provider": {"npi": "1234567890"},  # bad check digit: every claim has the two NPI findings
        "patient": {"id": "P1", "sex": "F", "birth_date": "1960-01-01"},
        "diagnoses": [{"code": "E11.9"}],
        "lines": [
            {
                "sequence": 1,
                "code": code,
                "units": 1,
                "charge": "50.00",
                "from_date": "2024-08-01",
                "diagnosis_pointers": [1],
            }
        ],
    }
    return InputItem("test", cid, data)


@pytest.fixture
def crashing(monkeypatch, tmp_path: Path):
    """Claims named CRASH* kill their worker; CRASH-ONCE only the first time (a marker file remembers)."""
    marker = tmp_path / "crashed-once"
    real = Scrubber.scrub_item

    def scrub_item(self, item, normalised=None):
        if item.claim_id == "CRASH-ALWAYS" or (item.claim_id == "CRASH-ONCE" and not marker.exists()):
            marker.touch()
            os._exit(139)
        return real(self, item, normalised)

    monkeypatch.setattr(Scrubber, "scrub_item", scrub_item)


def test_a_claim_that_kills_its_worker_twice_is_rejected_and_the_batch_goes_on(crashing):
    items = [claim(f"OK-{i}") for i in range(5)] + [claim("CRASH-ALWAYS")] + [claim(f"OK-{i}") for i in range(5, 9)]
    with WorkerPool(CONFIG, workers=2, chunk_size=3) as pool:
        results = list(pool.scrub(items))
    assert [r.claim_id for r in results] == [i.claim_id for i in items]  # input order, nothing lost
    crashed = results[5]
    assert crashed.status == "rejected" and crashed.reason.startswith("engine error")
    assert [f.rule_id for f in crashed.findings] == ["CS-ENGINE-001"]
    assert all(
        r.status == "scrubbed" and [f.rule_id for f in r.findings] == NPI_FINDINGS for r in results if r is not crashed
    )


def test_workers_forked_from_a_built_scrubber_lose_no_claim_when_one_dies(crashing):
    """The CLI's pool: workers inherit the parent's scrubber (no engine) and add their own engine; a pool
    rebuilt after a death forks from the same parent."""
    items = [claim("OK-1"), claim("CRASH-ALWAYS"), claim("OK-2"), claim("CRASH-ONCE"), claim("OK-3")]
    with WorkerPool(Prebuilt(Scrubber(**{**CONFIG, "backend": None}), "durable"), workers=2, chunk_size=2) as pool:
        results = list(pool.scrub(items))
    assert [(r.claim_id, r.status) for r in results] == [
        ("OK-1", "scrubbed"),
        ("CRASH-ALWAYS", "rejected"),
        ("OK-2", "scrubbed"),
        ("CRASH-ONCE", "scrubbed"),
        ("OK-3", "scrubbed"),
    ]
    assert [f.rule_id for f in results[1].findings] == ["CS-ENGINE-001"]
    assert all([f.rule_id for f in r.findings] == NPI_FINDINGS for r in results if r.status == "scrubbed")


def test_a_claim_that_kills_its_worker_once_is_retried_and_scrubbed(crashing):
    items = [claim("OK-1"), claim("CRASH-ONCE"), claim("OK-2")]
    with WorkerPool(CONFIG, workers=1, chunk_size=8) as pool:
        results = list(pool.scrub(items))
    assert [(r.claim_id, r.status) for r in results] == [
        ("OK-1", "scrubbed"),
        ("CRASH-ONCE", "scrubbed"),
        ("OK-2", "scrubbed"),
    ]
    assert [f.rule_id for f in results[1].findings] == NPI_FINDINGS


def test_workers_find_what_one_process_finds():
    items = [claim(f"C{i}", code) for i, code in enumerate(["99213", "80053", "A6460", "20610"])]
    local = Scrubber(**CONFIG)
    with WorkerPool(CONFIG, workers=2, chunk_size=1) as pool:
        pooled = list(pool.scrub(items))
    assert [(r.claim_id, [f.as_dict() for f in r.findings]) for r in pooled] == [
        (i.claim_id, [f.as_dict() for f in local.scrub_item(i).findings]) for i in items
    ]


def test_several_deaths_with_chunks_queued_lose_nothing(crashing):
    """A second death while chunks were queued raised CancelledError and lost the batch (issue #12)."""
    items = [claim(f"OK-{i}") if i % 7 else claim("CRASH-ALWAYS") for i in range(1, 40)]
    with WorkerPool(CONFIG, workers=1, chunk_size=2) as pool:
        results = list(pool.scrub(items))
        deaths = pool.deaths
    assert [r.claim_id for r in results] == [i.claim_id for i in items]
    assert [r.status for r in results] == ["rejected" if i.claim_id == "CRASH-ALWAYS" else "scrubbed" for i in items]
    assert deaths >= 5


def test_workers_killed_three_times_during_a_batch_count_every_claim_once():
    import signal
    import threading
    import time

    items = [claim(f"K-{i}") for i in range(6000)]
    pool = WorkerPool(CONFIG, workers=2, chunk_size=64)
    kills: list[int] = []

    def killer():
        while len(kills) < 3:
            time.sleep(0.4)
            procs = [p for p in (pool._pool._processes or {}).values() if p.is_alive()]
            if procs:
                os.kill(procs[0].pid, signal.SIGKILL)
                kills.append(procs[0].pid)

    thread = threading.Thread(target=killer, daemon=True)
    with pool:
        stream = pool.scrub(items)
        results = [next(stream)]  # the workers are up
        thread.start()
        results.extend(stream)
    thread.join(10)
    assert len(kills) == 3
    assert [r.claim_id for r in results] == [i.claim_id for i in items]  # each exactly once, in order
    rejected = [r for r in results if r.status == "rejected"]
    assert all(r.reason.startswith("engine error") for r in rejected) and len(rejected) <= 3
    assert pool.deaths >= 3
