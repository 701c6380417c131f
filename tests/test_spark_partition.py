"""The executors' side of the Spark scrub, without Spark: rows in, result rows out (claimscrub.spark.partition).

These run everywhere (no Java, no pyspark): the same function runs inside mapInArrow in tests/test_spark.py.
"""

from __future__ import annotations

import multiprocessing as mp
import random
import sys
from pathlib import Path

import orjson
import pytest

from claimscrub.api.scrubber import Scrubber
from claimscrub.audit.frame import build_frame
from claimscrub.inputs import read_path
from claimscrub.spark import partition
from claimscrub.spark.config import ScrubConfig, ShippingError, check, missing, pin_tables, resolve
from claimscrub.spark.partition import FAULTS_ENV, item_of, item_row, result_row, scrub_rows

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from bench_scrub import generate  # noqa: E402 - the benchmarks' claim generator

FAST = ScrubConfig(samples=True, isolate=False)


def two_per_patient(n: int) -> list[dict]:
    """bench_scrub's claims, two per patient, so the cross-claim edits (duplicates, MUE per day) fire."""
    docs = [orjson.loads(line) for line in generate(n).splitlines()]
    for i, doc in enumerate(docs):
        doc["patient"]["id"] = f"P{i // 2}"
    return docs


def rows_of(docs: list[dict]) -> list[dict]:
    return [
        {"claim": orjson.dumps(d).decode(), "source": f"gen#{i}", "patient_key": d["patient"]["id"]}
        for i, d in enumerate(docs)
    ]


def single_machine(docs: list[dict], cross_claim: bool = True) -> list[dict]:
    scrubber = Scrubber(samples=True, max_lines=200)
    return [result_row(r) for r in scrubber.scrub_many(docs, cross_claim=cross_claim)]


def key(row: dict) -> tuple:
    return row["claim_id"], row["status"], row["reason"], orjson.dumps(row["findings"], option=orjson.OPT_SORT_KEYS)


def test_grouped_batches_give_the_single_machine_findings():
    docs = two_per_patient(300)
    got = list(scrub_rows(ScrubConfig(samples=True, isolate=False, batch_claims=7), rows_of(docs)))
    want = single_machine(docs)
    assert sorted(map(key, got)) == sorted(map(key, want))
    cross = [f["rule_id"] for r in got for f in r["findings"] if f["rule_id"].startswith("CS-HIS-")]
    assert cross, "the generated pairs trigger cross-claim edits"


def test_without_cross_claim_no_history_finding():
    docs = two_per_patient(60)
    got = list(scrub_rows(ScrubConfig(samples=True, isolate=False, cross_claim=False), rows_of(docs)))
    assert not [f for r in got for f in r["findings"] if f["rule_id"].startswith("CS-HIS-")]
    assert sorted(map(key, got)) == sorted(map(key, single_machine(docs, cross_claim=False)))


def test_every_bad_row_is_rejected_with_a_reason():
    rows = [
        {"claim": "{not json", "source": "a"},
        {"claim": None, "source": "b"},
        {"claim": "[1, 2]", "source": "c"},
        {"claim": None, "source": "d.x12", "claim_id": "X1", "error": "CLM: missing", "field": "CLM"},
        {"claim": orjson.dumps({"claim_id": "V1", "patient": {"id": "P"}}).decode(), "source": "e"},
    ]
    got = list(scrub_rows(FAST, rows))
    assert [r["status"] for r in got] == ["rejected"] * 5
    assert got[0]["reason"].startswith("claim: not valid JSON")
    assert got[1]["reason"] == "claim: no claim data (null)"
    assert got[2]["reason"] == "claim: expected a claim object, got list"
    assert (got[3]["claim_id"], got[3]["reason"], got[3]["field"]) == ("X1", "CLM: missing", "CLM")
    assert got[4]["claim_id"] == "V1" and got[4]["reason"]


def test_reader_items_round_trip_with_their_notes():
    items = list(read_path(REPO / "examples" / "x12" / "demo_837p.x12"))
    back = [item_of(item_row(i)) for i in items]
    assert [(b.claim_id, b.data, b.notes, b.source) for b in back] == [
        (i.claim_id, i.data, i.notes, i.source) for i in items
    ]


def test_one_scrubber_per_process_and_config():
    partition._engines.clear()
    list(scrub_rows(FAST, rows_of(two_per_patient(2))))
    first = partition._engines[FAST]
    list(scrub_rows(FAST, rows_of(two_per_patient(2))))
    assert partition._engines[FAST] is first and len(partition._engines) == 1


def test_a_claim_that_kills_the_engine_twice_is_rejected(monkeypatch):
    docs = two_per_patient(6)
    monkeypatch.setenv(FAULTS_ENV, "crash-engine:B3")
    config = ScrubConfig(samples=True, isolate=True)
    try:
        got = {r["claim_id"]: r for r in scrub_rows(config, rows_of(docs))}
    finally:
        engine = partition._engines.pop(config)
        assert engine.pool is not None
        engine.pool.close()
    assert got["B3"]["status"] == "rejected"
    assert got["B3"]["reason"] == "engine error: the rule engine process died twice on this claim"
    assert got["B3"]["findings"][0]["rule_id"] == "CS-ENGINE-001"
    assert all(r["status"] == "scrubbed" for cid, r in got.items() if cid != "B3")


def _run(rows: list[dict]) -> None:
    list(scrub_rows(FAST, rows))


def test_worker_exit_hook_fires_once(tmp_path, monkeypatch):
    marker = tmp_path / "died"
    monkeypatch.setenv(FAULTS_ENV, f"exit-worker:B1:{marker}")
    rows = rows_of(two_per_patient(3))
    child = mp.get_context("fork").Process(target=_run, args=(rows,))
    child.start()
    child.join(60)
    assert child.exitcode == 86 and marker.exists()
    assert [r["status"] for r in scrub_rows(FAST, rows)] == ["scrubbed"] * 3  # the marker says: not again


def test_missing_paths_are_named(tmp_path):
    config = ScrubConfig(rules=(str(tmp_path / "packs"),), data_dir=str(tmp_path), frequency_limits="nope.yaml")
    assert missing(config) == [
        f"rules: {tmp_path / 'packs'} not found",
        f"data_dir: {tmp_path} holds no table store (tables.sqlite)",
        "frequency_limits: nope.yaml not found",
    ]
    with pytest.raises(ShippingError, match="on the executor x: rules: .* ship=True"):
        check(config, "executor x")
    check(FAST, "driver")


def test_tables_are_pinned_on_the_driver(tmp_path, monkeypatch):
    monkeypatch.setenv("CLAIMSCRUB_DATA_DIR", str(tmp_path))
    assert pin_tables(ScrubConfig()).samples is True  # no store there: the samples, said explicitly
    (tmp_path / "tables.sqlite").write_bytes(b"")
    assert pin_tables(ScrubConfig()).data_dir == str(tmp_path)
    assert pin_tables(FAST) is FAST
    assert resolve("/a/b") == "/a/b"


def test_frame_fields_keep_the_frame_identical():
    from claimscrub.spark.audit import frame_fields

    items = list(read_path(REPO / "examples" / "audit" / "claims.json"))
    random.Random(3).shuffle(items)
    slim = [type(i)(i.source, i.claim_id, frame_fields(i.data)) if i.data is not None else i for i in items]
    for unit in ("claim", "line", "beneficiary"):
        assert build_frame(slim, unit) == build_frame(items, unit)


def test_the_findings_frame_has_every_field_of_a_finding_and_objects_as_json_text():
    """A field added to findings (e.g. ``related``) must reach the Spark frame, or the frames differ from the CLI."""
    from claimscrub.compile.findings import Finding
    from claimscrub.spark.frames import FINDING_FIELDS

    f = Finding("CS-HIS-002", "duplicate", "error", "X", 1, "m", "fix", related={"claim_id": "Y", "line": 2})
    row = partition.finding_row(f)
    assert [n for n, _ in FINDING_FIELDS] == list(f.as_dict())
    assert orjson.loads(row["related"]) == {"claim_id": "Y", "line": 2}
    assert all(isinstance(row[n], str | None) for n, kind in FINDING_FIELDS if kind == "string")


def test_executor_checks_raise_one_line_naming_the_executor_and_path(tmp_path):
    from claimscrub.spark.errors import ExecutorError, explain

    config = ScrubConfig(data_dir=str(tmp_path), isolate=False)
    with pytest.raises(ExecutorError) as missing_store:
        partition.engine_for(config)
    (tmp_path / "tables.sqlite").write_bytes(b"not a database" * 100)
    with pytest.raises(ExecutorError) as bad_store:
        partition.engine_for(config)
    with pytest.raises(ExecutorError) as no_history:
        partition.engine_for(ScrubConfig(samples=True, isolate=False, history=str(tmp_path / "h.sqlite")))
    assert config not in partition._engines and not (tmp_path / "h.sqlite").exists()  # never created empty
    lines = [explain(e.value) for e in (missing_store, bad_store, no_history)]
    assert all("\n" not in line and line.startswith("on the executor ") for line in lines)
    assert f"data_dir: {tmp_path} holds no table store (tables.sqlite)" in lines[0] and "--ship" in lines[0]
    assert f"cannot build the scrubber from the table store {tmp_path} (DatabaseError: file is not" in lines[1]
    assert f"history: {tmp_path / 'h.sqlite'} not found" in lines[2]


class _Wrapped(Exception):
    """What Spark raises on the driver: our executor's line buried in a task's traceback and a Java stack."""


def test_explain_finds_our_line_in_a_wrapped_stack_and_names_known_failures():
    from claimscrub.spark.errors import MARK, explain

    ours = (
        f"Traceback (most recent call last):\n  File ...\nExecutorError: {MARK}on the executor x: rules: /p not found\n"
    )
    assert explain(_Wrapped("An exception was thrown from the Python worker.\n" + ours + "\tat org.apache...")) == (
        "on the executor x: rules: /p not found"
    )
    died = _Wrapped(
        "Job aborted due to stage failure: Task 0 in stage 3.0 failed 4 times, most recent failure: Lost task "
        "0.3: org.apache.spark.SparkException: Python worker exited unexpectedly (crashed)\n\tat org.apache..."
    )
    assert explain(died).startswith("a Spark task failed 4 times: its Python worker died, e.g. killed for memory")
    no_module = _Wrapped("PythonException: ...\nModuleNotFoundError: No module named 'claimscrub'\n\tat org...")
    assert explain(no_module).startswith("the executors' Python cannot import claimscrub: install claimscrub[spark]")
    heap = _Wrapped("Job aborted: Task 1 failed: java.lang.OutOfMemoryError: Java heap space\n\tat java.nio...")
    assert explain(heap).startswith("a Spark JVM ran out of heap (java.lang.OutOfMemoryError). Give the JVM more heap")
    stopped = _Wrapped(  # local mode: the one JVM's heap ran out, the context stopped, the workers died with it
        "An error occurred while calling o123.count.\n: org.apache.spark.SparkException: Job 14 cancelled because "
        "SparkContext was shut down\n\tat org.apache... Python worker exited unexpectedly (crashed)"
    )
    assert explain(stopped).startswith("the SparkContext was shut down during the job, most often because the JVM")
    assert "spark.driver.memory" in explain(stopped) and "--partitions" in explain(stopped)
    secret = _Wrapped("ValueError: invalid literal for int(): 'JANE DOE 1961-02-03'\n\tat org.apache...")
    assert explain(secret) == (
        "the Spark job failed (_Wrapped); the cause is in the executors' logs (not repeated here: it may quote claim data)"
    )


def test_batches_read_the_history_store_as_the_single_machine_run_does(tmp_path):
    from claimscrub.history.phase import scrub_batch
    from claimscrub.history.store import SqliteHistory
    from claimscrub.model.normalize import claim_from_dict

    docs = two_per_patient(120)
    past, new = docs[0::2], docs[1::2]
    store = SqliteHistory(tmp_path / "history.sqlite")
    store.record(claim_from_dict(d, "past") for d in past)
    want = [result_row(r) for r in scrub_batch(Scrubber(samples=True, max_lines=200), new, store=store)]
    store.close()
    config = ScrubConfig(samples=True, isolate=False, batch_claims=7, history=str(tmp_path / "history.sqlite"))
    got = list(scrub_rows(config, rows_of(new)))
    assert sorted(map(key, got)) == sorted(map(key, want))
    related = [f["related"] for r in got for f in r["findings"] if f["related"]]
    assert related and all(int(orjson.loads(x)["claim_id"][1:]) % 2 == 0 for x in related)  # the stored claims
