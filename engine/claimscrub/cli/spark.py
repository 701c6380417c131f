"""``claimscrub spark ...``: scrub claims and build audit universes inside Apache Spark.

Needs the ``spark`` extra (PySpark) and Java. Runs under ``spark-submit`` (this file is the script:
``spark-submit .../claimscrub/cli/spark.py scrub ...``, or ``python -m claimscrub.cli.spark``), or
on one machine with ``--master local[N]``. In local mode Spark runs a failed task once only, so
``local[N]`` is read as ``local[N,4]``: a Python worker that dies is retried, as on a cluster.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import click
import orjson

from claimscrub.cli.run import EXIT_USAGE, exits_cleanly

LOCAL = re.compile(r"local\[(\d+|\*)\]")
TASK_ATTEMPTS = 4  # Spark's default spark.task.maxFailures on a cluster


@click.group("spark")
def spark() -> None:
    """Scrub and audit claims inside Apache Spark (pip install 'claimscrub[spark]'; needs Java 17)."""


def _session(master: str | None, app: str):
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        click.echo("pyspark is not installed: pip install 'claimscrub[spark]' (and Java 17)", err=True)
        sys.exit(EXIT_USAGE)
    builder = SparkSession.builder.appName(app)
    if master:
        builder = builder.master(
            LOCAL.sub(rf"local[\1,{TASK_ATTEMPTS}]", master) if LOCAL.fullmatch(master) else master
        )
    return builder.getOrCreate()


master_option = click.option("--master", help="Spark master, e.g. local[2] (default: spark-submit's, else local[*]).")
format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "parquet", "jsonl", "x12", "files"]),
    default="auto",
    show_default=True,
    help="Input: parquet (a claim column, or one claim per row), jsonl (one claim per line), x12 or files "
    "(claim files of any format the CLI reads: X12 837, FHIR, JSON).",
)


@spark.command("scrub")
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", required=True, help="Output folder: claims/ and findings/ (Parquet), run.json.")
@master_option
@format_option
@click.option("--rules", multiple=True, help="Extra rule pack directory (repeatable).")
@click.option("--only-rules", is_flag=True, help="Use only the --rules packs, not the bundled ones.")
@click.option("--data-dir", envvar="CLAIMSCRUB_DATA_DIR", help="Imported CMS tables (a path every executor sees).")
@click.option("--samples/--no-samples", default=None, help="Use the bundled sample tables.")
@click.option("--include-draft", is_flag=True, help="Also run rules whose status is draft.")
@click.option("--max-lines", type=click.IntRange(min=1), default=200, show_default=True)
@click.option("--policies", multiple=True, help="Payer policy file or folder (repeatable).")
@click.option("--default-policies/--no-default-policies", default=True, show_default=True)
@click.option("--cross-claim/--no-cross-claim", default=True, show_default=True, help="Edit claims against each other.")
@click.option("--frequency-limits", help="Your own frequency-limit table (YAML).")
@click.option(
    "--isolate/--no-isolate",
    default=True,
    show_default=True,
    help="Scrub in a child process of each Python worker, so a claim that crashes the engine is rejected.",
)
@click.option(
    "--history-db",
    "history",
    metavar="FILE|URL",
    help="History store the cross-claim edits read earlier claims from: a SQLite file every executor sees "
    "(or --ship) or a postgresql:// URL. Read only.",
)
@click.option("--record", is_flag=True, help="Not on Spark: refused (record with 'claimscrub history import').")
@click.option("--ship", is_flag=True, help="Copy rule packs, tables, policies and a history file to the executors.")
@click.option(
    "--partitions",
    type=click.IntRange(min=1),
    help="Partitions to scrub in (default: two per core with --master local[N], else spark.sql.shuffle.partitions).",
)
@exits_cleanly
def scrub_cmd(inputs, output, master, fmt, ship, partitions, record, **options) -> None:
    """Scrub the claims in INPUTS (Parquet, JSON Lines, or claim files) into Parquet under OUTPUT."""
    from claimscrub.api.scrubber import RulesError, Scrubber
    from claimscrub.history.phase import history_not_checked
    from claimscrub.output.writers import scrub_meta
    from claimscrub.spark.config import ScrubConfig, ShippingError, pin_tables
    from claimscrub.spark.errors import SparkJobError, explained
    from claimscrub.spark.frames import read_claims, scrub_dataframe

    if record:  # many executors writing one store at once: not built; refused rather than ignored
        click.echo(
            "--record is not supported on Spark: the claims would not be recorded. Scrub with --history-db to read "
            "the store, then load the claims with 'claimscrub history import' (or claimscrub scrub --record)",
            err=True,
        )
        sys.exit(EXIT_USAGE)
    if options["history"] and not options["cross_claim"]:
        click.echo("--history-db is read by the cross-claim edits: drop --no-cross-claim", err=True)
        sys.exit(EXIT_USAGE)
    started = time.perf_counter()
    options["rules"] = tuple(options["rules"])
    options["policies"] = tuple(options["policies"])
    config = pin_tables(ScrubConfig(**options))
    try:  # the rules are checked here, before any executor starts: broken rules are a usage error
        parent = Scrubber(**config.scrubber_kwargs(), backend=None)
    except (RulesError, ValueError) as exc:
        click.echo(f"cannot scrub: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    session = _session(master, "claimscrub scrub")
    local = LOCAL.fullmatch(master or "")
    if partitions is None and local:  # two tasks a core, not Spark's 200 (each task costs a fraction of a second)
        partitions = 2 * ((os.cpu_count() or 1) if local.group(1) == "*" else int(local.group(1)))
    base = output.rstrip("/")  # a local folder or a URL (s3://..., abfss://...): not a Path, which folds "//"
    try:
        with explained():
            claims = read_claims(session, list(inputs), fmt)
            results, findings = scrub_dataframe(claims, config=config, partitions=partitions, ship_files=ship)
            results.write.mode("overwrite").parquet(f"{base}/claims")
            findings.write.mode("overwrite").parquet(f"{base}/findings")
            counts = {row["status"]: row["count"] for row in results.groupBy("status").count().collect()}
    except (ShippingError, ValueError) as exc:
        click.echo(f"cannot scrub: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    except SparkJobError as exc:
        click.echo(f"the scrub failed: {exc}", err=True)
        sys.exit(EXIT_USAGE)  # the environment, not the claims: a store, a path, a worker
    meta = scrub_meta(parent, [], time.perf_counter() - started)
    if config.cross_claim:
        meta["not_checked"] = [*meta["not_checked"], *history_not_checked(parent)]
    meta["summary"] = {"claims": sum(counts.values()), **counts, "findings": findings.count()}
    document = orjson.dumps(meta, option=orjson.OPT_INDENT_2) + b"\n"
    if "://" in base:  # the run's context beside the frames, as a one-file text dataset
        session.createDataFrame([(document.decode(),)], "value string").coalesce(1).write.mode("overwrite").text(
            f"{base}/run.json"
        )
    else:
        (Path(base) / "run.json").write_bytes(document)
    s = meta["summary"]
    click.echo(
        f"{s['claims']} claim(s): {s.get('scrubbed', 0)} scrubbed, {s.get('rejected', 0)} rejected; "
        f"{s['findings']} finding(s); wrote {base}/claims, {base}/findings, {base}/run.json",
        err=True,
    )


@spark.command("universe")
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", "out", required=True, type=click.Path(file_okay=False), help="The audit folder.")
@master_option
@format_option
@click.option("--unit", type=click.Choice(["claim", "line", "beneficiary"]), default="claim", show_default=True)
@click.option("--provider", help="Only claims of this billing provider NPI.")
@click.option("--from", "date_from", help="Only claims whose first service date is on or after (YYYY-MM-DD).")
@click.option("--to", "date_to", help="Only claims whose first service date is on or before (YYYY-MM-DD).")
@click.option("--name", help="The audit's name (default: the folder's name).")
@exits_cleanly
def universe_cmd(inputs, out, master, fmt, unit, provider, date_from, date_to, name) -> None:
    """The sampling frame of the paid claims in INPUTS, as 'claimscrub audit universe' writes it; then
    'claimscrub audit sample OUT --size N --seed S' draws the sample on one machine."""
    from claimscrub.audit.design import log_command, new_design, write_design
    from claimscrub.audit.frame import Scope, write_frame
    from claimscrub.spark.audit import frame_from_dataframe
    from claimscrub.spark.errors import SparkJobError, explained
    from claimscrub.spark.frames import read_claims

    folder = Path(out)
    if (folder / "sample.csv").exists():
        click.echo(f"{folder} already holds a sample: a new universe needs a new audit folder", err=True)
        sys.exit(EXIT_USAGE)
    session = _session(master, "claimscrub universe")
    try:
        with explained():
            frame = frame_from_dataframe(
                read_claims(session, list(inputs), fmt), unit, Scope(provider, date_from, date_to)
            )
    except (ValueError, SparkJobError) as exc:
        click.echo(f"cannot build the frame: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    folder.mkdir(parents=True, exist_ok=True)
    digest = write_frame(folder, frame)
    write_design(folder, new_design(name or folder.name, list(inputs), frame, digest))
    log_command(folder, ["claimscrub spark universe", *inputs])
    click.echo(
        f"frame: {len(frame.units)} {unit} unit(s); excluded {len(frame.excluded)} (see excluded.csv); "
        f"outside the scope {frame.out_of_scope}; sha256 {digest}"
    )


if __name__ == "__main__":  # pragma: no cover - spark-submit runs this file
    spark()
