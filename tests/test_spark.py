"""claimscrub on Apache Spark in local mode: the findings equal the CLI's, every claim comes out exactly once,
and the audit sample equals the single-machine one. Skipped, saying why, without pyspark or Java.

One SparkSession (``local[2,4]``: two cores, a failed task tried up to four times as on a cluster) serves
the module; the whole file takes about a minute.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

pytest.importorskip("pyspark", reason="pyspark is not installed: pip install -e '.[spark]'")
if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
    pytest.skip(
        "no Java runtime (java on PATH or JAVA_HOME): apt-get install default-jre-headless", allow_module_level=True
    )

from claimscrub.audit.frame import build_frame  # noqa: E402
from claimscrub.audit.sample import draw_sample  # noqa: E402
from claimscrub.cli.main import main  # noqa: E402
from claimscrub.inputs import read_path  # noqa: E402
from claimscrub.spark import frames  # noqa: E402
from claimscrub.spark.audit import sample_from_dataframe  # noqa: E402
from claimscrub.spark.config import ShippingError  # noqa: E402
from claimscrub.spark.errors import SparkJobError  # noqa: E402
from claimscrub.spark.frames import read_claims, scrub_dataframe  # noqa: E402
from claimscrub.spark.partition import FAULTS_ENV, JSON_FIELDS  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from bench_scrub import generate  # noqa: E402
from pgserver import pg_url  # noqa: E402, F401 - the fixture


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2,4]")
        .appName("claimscrub-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "1g")
        .config("spark.ui.showConsoleProgress", "false")
        # short jobs on a busy machine: the JVM's quick compiler only (halves start-up here)
        .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
        .getOrCreate()
    )
    yield session
    session.stop()


def cli_jsonl(*args: str) -> list[dict]:
    """The CLI's JSON Lines records of the claims (the batch-phase records aside)."""
    result = CliRunner().invoke(main, ["scrub", *args, "--format", "jsonl", "--no-progress", "--samples"])
    assert result.exit_code in (0, 1, 2), result.output  # 2: a file that is not a claim file (a licence)
    return [r for r in map(orjson.loads, result.stdout_bytes.splitlines()) if "status" in r]


def canonical(claims: list[dict], findings: list[dict]) -> tuple[list, list]:
    """Claims as (id, status, reason, count) and findings as sorted JSON: comparable between the two runs."""
    status = sorted((c["claim_id"] or "", c["status"], c.get("reason") or "", c["finding_count"]) for c in claims)
    return status, sorted(orjson.dumps(f, option=orjson.OPT_SORT_KEYS) for f in findings)


def from_cli(*paths: str) -> tuple[list, list]:
    records = cli_jsonl(*paths)
    return canonical(records, [f for r in records for f in r["findings"]])


def from_spark(results, findings) -> tuple[list, list]:
    """Rows of files that could not be read at all aside (the CLI reports those on stderr)."""
    found = [r.asDict(recursive=True) for r in findings.collect()]
    for f in found:
        for name in JSON_FIELDS:
            if f[name] is not None:
                f[name] = orjson.loads(f[name])
    return canonical([r.asDict() for r in results.where("field is null or field != 'file'").collect()], found)


def test_demo_claims_equal_the_cli(spark):
    folders = [str(REPO / "examples" / d) for d in ("native", "fhir", "x12")]
    want = from_cli(*folders)
    results, findings = scrub_dataframe(read_claims(spark, folders), samples=True)
    assert from_spark(results, findings) == want
    assert len(want[1]) > 10


def test_x12_samples_equal_the_cli(spark, x12_samples):
    want = from_cli(str(x12_samples))
    results, findings = scrub_dataframe(read_claims(spark, [str(x12_samples)]), samples=True)
    got = from_spark(results, findings)
    assert len(got[0]) == len(want[0]) >= 800
    assert got == want
    assert results.where("field = 'file'").count() == 13  # 4010 files and licences, named in the reason


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    """1,000 generated claims, two per patient (bench_spark.py --check runs 10,000 the same way)."""
    docs = [orjson.loads(line) for line in generate(1000).splitlines()]
    for i, doc in enumerate(docs):
        doc["patient"]["id"] = f"P{i // 2}"
    path = tmp_path_factory.mktemp("gen") / "claims.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(d) for d in docs) + b"\n")
    return path


def test_generated_claims_equal_the_cli_as_json_and_as_structs(spark, generated):
    want = from_cli(str(generated))
    assert any(b"CS-HIS-" in f for f in want[1]), "two claims a patient: the cross-claim edits fire"
    as_text = read_claims(spark, [str(generated)])  # JSON Lines: one claim per line, in splits
    assert from_spark(*scrub_dataframe(as_text, samples=True, partitions=3, isolate=False)) == want
    as_structs = spark.read.json(str(generated))  # one claim per row, nested columns
    assert from_spark(*scrub_dataframe(as_structs, samples=True, isolate=False)) == want


def test_a_dead_python_worker_loses_and_duplicates_nothing(spark, generated, tmp_path):
    """The worker ends itself (os._exit) on claim B777 the first time: Spark runs the task again."""
    marker = tmp_path / "exited"
    spark.sparkContext.environment[FAULTS_ENV] = f"exit-worker:B777:{marker}"
    try:
        results, findings = scrub_dataframe(read_claims(spark, [str(generated)]), samples=True, partitions=2)
        ids = [r.claim_id for r in results.select("claim_id").collect()]
    finally:
        del spark.sparkContext.environment[FAULTS_ENV]
    assert marker.exists(), "the worker did exit mid-job"
    assert len(ids) == len(set(ids)) == 1000
    assert findings.where("claim_id = 'B777'").count() == results.where("claim_id = 'B777'").first().finding_count


def test_a_claim_that_crashes_the_engine_is_rejected(spark):
    spark.sparkContext.environment[FAULTS_ENV] = "crash-engine:DEMO-UNBUNDLE-2"
    try:
        results, _ = scrub_dataframe(read_claims(spark, [str(REPO / "examples" / "native")]), samples=True)
        rows = {r.claim_id: r for r in results.collect()}
    finally:
        del spark.sparkContext.environment[FAULTS_ENV]
    assert rows["DEMO-UNBUNDLE-2"].status == "rejected"
    assert rows["DEMO-UNBUNDLE-2"].reason == "engine error: the rule engine process died twice on this claim"
    assert rows["DEMO-REJECTED-7"].status == "rejected"  # as the demo intends
    assert all(r.status == "scrubbed" for cid, r in rows.items() if cid not in ("DEMO-UNBUNDLE-2", "DEMO-REJECTED-7"))


def test_shipped_files_reach_the_executors(spark, tmp_path):
    limits = tmp_path / "limits.yaml"  # a copy of the bundled table, shipped with addFile
    shutil.copy(REPO / "rules" / "tables" / "history" / "frequency_limits.yaml", limits)
    native = [str(REPO / "examples" / "native")]
    got = scrub_dataframe(
        read_claims(spark, native), samples=True, isolate=False, frequency_limits=str(limits), ship_files=True
    )
    assert from_spark(*got) == from_cli(*native)


def test_missing_tables_stop_the_job_before_it_starts(spark, tmp_path):
    with pytest.raises(ShippingError, match="on the driver: data_dir: .* holds no table store"):
        scrub_dataframe(read_claims(spark, [str(REPO / "examples" / "native")]), data_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown input format csv"):
        read_claims(spark, [str(tmp_path)], "csv")


def test_audit_sample_equals_the_single_machine_one(spark):
    path = REPO / "examples" / "audit" / "claims.json"
    items = [i for i in read_path(path) if i.data is not None]
    frame = build_frame(items, "line")
    want = draw_sample([u.paid_cents or 0 for u in frame.units], method="srs", size=5, seed=2026)
    claims = spark.createDataFrame([(orjson.dumps(i.data).decode(),) for i in items], "claim string").repartition(3)
    got_frame, spec, selected = sample_from_dataframe(claims, size=5, seed=2026, unit="line")
    assert got_frame.units == frame.units and got_frame.excluded == frame.excluded
    assert (spec, selected) == want[:2]


def test_cli_writes_parquet_and_run_json(spark, tmp_path):
    out = tmp_path / "out"
    args = ["spark", "scrub", str(REPO / "examples" / "native"), "-o", str(out), "--master", "local[2]", "--samples"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    claims = spark.read.parquet(str(out / "claims"))
    findings = spark.read.parquet(str(out / "findings"))
    run = orjson.loads((out / "run.json").read_bytes())
    assert run["summary"]["claims"] == claims.count() > 0 and run["summary"]["findings"] == findings.count() > 0
    assert {"rule_id", "severity", "citation", "table_row"} <= set(findings.columns)
    universe = CliRunner().invoke(
        main, ["spark", "universe", str(REPO / "examples" / "audit"), "-o", str(tmp_path / "a")]
    )
    assert universe.exit_code == 0, universe.output
    sample = CliRunner().invoke(main, ["audit", "sample", str(tmp_path / "a"), "--size", "3", "--seed", "7"])
    assert sample.exit_code == 0, sample.output


# Executor-side failures: one line saying which check, which path or field, what to do.


def test_a_store_missing_on_an_executor_is_named_in_one_line(spark, tmp_path, monkeypatch):
    """The driver sees the tables (its check passes here); the executor does not."""
    monkeypatch.setattr(frames, "check", lambda config, where: None)
    native = read_claims(spark, [str(REPO / "examples" / "native")])
    with pytest.raises(SparkJobError) as missing:
        scrub_dataframe(native, data_dir=tmp_path, isolate=False)
    assert str(missing.value).startswith(f"on the executor {os.uname().nodename}: data_dir: {tmp_path} holds no table")
    assert "ship=True (--ship)" in str(missing.value) and "\n" not in str(missing.value)
    (tmp_path / "tables.sqlite").write_bytes(b"not a database" * 100)
    with pytest.raises(
        SparkJobError,
        match=r"^on the executor .*: cannot build the scrubber from the table store .* "
        r"\(DatabaseError: file is not a database\); check it .*'claimscrub data status",
    ):
        scrub_dataframe(native, data_dir=tmp_path, isolate=False)


def test_an_unreadable_claim_column_is_named(spark):
    numbers = spark.createDataFrame([(1,), (2,)], "claim int")
    with pytest.raises(ValueError, match=r"^the claim column `claim` holds int: it must hold native-JSON text"):
        scrub_dataframe(numbers, samples=True)
    as_bytes = spark.createDataFrame([(b'{"claim_id": "C1"}',), (b"\xff\xfe",)], "claim binary")
    results, _ = scrub_dataframe(as_bytes, samples=True, isolate=False, cross_claim=False)
    rows = sorted((r.claim_id or "", r.status, r.reason.split(" (")[0]) for r in results.collect())
    assert rows[0] == ("", "rejected", "claim: not valid JSON") and rows[1][:2] == ("C1", "rejected")


def test_a_worker_that_dies_on_every_attempt_is_one_line(spark, generated):
    spark.sparkContext.environment[FAULTS_ENV] = "exit-worker-always:B777"
    try:
        with pytest.raises(SparkJobError) as died:
            scrub_dataframe(read_claims(spark, [str(generated)]), samples=True, isolate=False, partitions=2)
    finally:
        del spark.sparkContext.environment[FAULTS_ENV]
    assert str(died.value).startswith("a Spark task failed 4 times: its Python worker died")
    assert "spark.executor.memoryOverhead" in str(died.value)


def test_the_command_says_what_failed_in_one_line(spark, tmp_path):
    args = ["spark", "scrub", "-o", str(tmp_path / "out"), "--master", "local[2]", "--samples"]
    missing = CliRunner().invoke(main, [*args[:2], str(tmp_path / "nowhere.jsonl"), *args[2:]])
    assert missing.exit_code == 2
    assert missing.output.startswith("the scrub failed: Spark cannot read the input: [PATH_NOT_FOUND] Path does not")
    assert str(tmp_path / "nowhere.jsonl") in missing.output and missing.output.count("\n") == 1
    universe = CliRunner().invoke(main, ["spark", "universe", str(tmp_path / "none.parquet"), "-o", str(tmp_path)])
    assert universe.exit_code == 2
    assert universe.output.startswith("cannot build the frame: Spark cannot read the input: [PATH_NOT_FOUND]")
    record = CliRunner().invoke(main, [*args, str(REPO / "examples" / "native"), "--record"])
    assert record.exit_code == 2 and record.output.startswith("--record is not supported on Spark")


# The history store on Spark: each batch of patients reads their earlier claims from it.


@pytest.fixture(scope="module")
def history_split(generated, tmp_path_factory) -> tuple[Path, Path]:
    """The first claim of each generated patient recorded in a SQLite store; the second claims to scrub."""
    folder = tmp_path_factory.mktemp("history")
    lines = generated.read_bytes().splitlines()
    (folder / "past.jsonl").write_bytes(b"\n".join(lines[0::2]) + b"\n")
    (folder / "new.jsonl").write_bytes(b"\n".join(lines[1::2]) + b"\n")
    store = folder / "history.sqlite"
    done = CliRunner().invoke(main, ["history", "import", str(folder / "past.jsonl"), "--history-db", str(store)])
    assert done.exit_code == 0, done.output
    return store, folder / "new.jsonl"


def test_history_store_gives_the_cli_findings(spark, history_split):
    store, new = history_split
    want = from_cli(str(new), "--history-db", str(store))
    got = from_spark(*scrub_dataframe(read_claims(spark, [str(new)]), samples=True, history=store, partitions=3))
    assert got == want
    stored = [f for f in want[1] if b'"related":{"claim_id":"B' in f]
    assert stored and all(int(orjson.loads(f)["related"]["claim_id"][1:]) % 2 == 0 for f in stored)
    alone = from_spark(*scrub_dataframe(read_claims(spark, [str(new)]), samples=True, isolate=False))
    assert alone != got, "without the store, the edits against the earlier claims do not fire"
    with pytest.raises(ValueError, match="history store is read by the cross-claim edits"):
        scrub_dataframe(read_claims(spark, [str(new)]), samples=True, history=store, cross_claim=False)


def test_the_command_reads_the_history_store_and_refuses_what_it_cannot_do(spark, history_split, tmp_path):
    store, new = history_split
    args = ["spark", "scrub", str(new), "-o", str(tmp_path / "out"), "--master", "local[2]", "--samples"]
    done = CliRunner().invoke(main, [*args, "--history-db", str(store), "--ship"])  # a copy on each executor
    assert done.exit_code == 0, done.output
    findings = spark.read.parquet(str(tmp_path / "out" / "findings"))
    assert findings.count() == len(from_cli(str(new), "--history-db", str(store))[1])
    missing = CliRunner().invoke(main, [*args, "--history-db", str(tmp_path / "none.sqlite")])
    assert missing.exit_code == 2 and f"history: {tmp_path / 'none.sqlite'} not found" in missing.output
    assert not (tmp_path / "none.sqlite").exists()
    apart = CliRunner().invoke(main, [*args, "--history-db", str(store), "--no-cross-claim"])
    assert apart.exit_code == 2 and "drop --no-cross-claim" in apart.output


def test_a_postgres_history_gives_the_cli_findings(spark, history_split, pg_url):  # noqa: F811 - the fixture
    """As on a cluster: every Python worker connects to the one PostgreSQL store."""
    store, new = history_split
    past = new.with_name("past.jsonl")
    done = CliRunner().invoke(main, ["history", "import", str(past), "--history-db", pg_url])
    assert done.exit_code == 0, done.output
    want = from_cli(str(new), "--history-db", str(store))  # the same claims in SQLite
    got = from_spark(*scrub_dataframe(read_claims(spark, [str(new)]), samples=True, history=pg_url, partitions=3))
    assert got == want
