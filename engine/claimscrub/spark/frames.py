"""``scrub_dataframe``: claims in a Spark DataFrame scrubbed on the executors, results and findings as frames.

The claims go through ``mapInArrow`` into :func:`claimscrub.spark.partition.scrub_rows`, which keeps one
scrubber per Python worker process. The frame that comes back has one row per input claim with its
findings nested; it is persisted, and the two frames returned are views of it (so writing both scrubs
once). With cross-claim edits on (the default, as in the CLI), claims are first repartitioned by patient
id and sorted by first date of service within each partition: a patient's claims meet in one partition.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claimscrub.spark.config import SHIPPED, ScrubConfig, check, is_url, pin_tables
from claimscrub.spark.errors import explained
from claimscrub.spark.partition import item_row, scrub_rows

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

FINDING_FIELDS = [
    ("rule_id", "string"),
    ("category", "string"),
    ("severity", "string"),
    ("claim_id", "string"),
    ("line", "int"),
    ("message", "string"),
    ("fix", "string"),
    ("title", "string"),
    ("related_lines", "array<int>"),
    ("diagnosis", "int"),
    ("encounter", "string"),
    ("citation", "string"),
    ("references", "string"),  # JSON text, as are the object fields below
    ("rule_pack", "string"),
    ("pack_version", "string"),
    ("data_edition", "string"),
    ("table_row", "string"),
    ("payer_edit", "string"),
    ("suppression", "string"),
    ("related", "string"),  # a cross-claim finding's other claim and line: {claim_id, line}
]
RESULT_FIELDS = [
    ("claim_id", "string"),
    ("status", "string"),
    ("reason", "string"),
    ("field", "string"),
    ("source", "string"),
    ("finding_count", "int"),
    ("suppressed_count", "int"),
    ("policies", "array<string>"),
    ("not_checked", "string"),
    ("suppressed", "string"),
]
ITEM_FIELDS = [("claim", "string"), ("source", "string"), ("claim_id", "string"), ("error", "string")]
ITEM_FIELDS += [("field", "string"), ("notes", "string")]
# Files a folder contributes in the files format: the CLI's list (cli/main.py INPUT_SUFFIXES; the CLI is a
# layer above this one, so it is restated here).
SUFFIXES = (".json", ".jsonl", ".ndjson", ".x12", ".837", ".837p", ".837i", ".edi", ".txt")
# What the executors read of each claim to group it: the patient and the first date of service.
_KEYS = "struct<patient:struct<id:string>,lines:array<struct<from_date:string>>>"


def ddl(fields: list[tuple[str, str]]) -> str:
    return ", ".join(f"`{name}` {kind}" for name, kind in fields)


def scrubbed_ddl() -> str:
    finding = ",".join(f"`{name}`:{kind}" for name, kind in FINDING_FIELDS)
    return ddl([*RESULT_FIELDS, ("findings", f"array<struct<{finding}>>")])


def _arrow_type(kind: str) -> pa.DataType:
    import pyarrow as pa

    if kind.startswith("array<"):
        return pa.list_(_arrow_type(kind[6:-1]))
    return pa.int32() if kind == "int" else pa.string()


def arrow_schema() -> pa.Schema:
    """The Arrow schema of the scrubbed rows (the Spark schema of :func:`scrubbed_ddl`)."""
    import pyarrow as pa

    finding = pa.struct([pa.field(n, _arrow_type(k)) for n, k in FINDING_FIELDS])
    return pa.schema(
        [*(pa.field(n, _arrow_type(k)) for n, k in RESULT_FIELDS), pa.field("findings", pa.list_(finding))]
    )


def _scrub_batches(config: ScrubConfig, batches: Iterable[pa.RecordBatch], size: int = 1000) -> Iterator[Any]:
    """mapInArrow's function: Arrow batches of input rows in, Arrow batches of scrubbed rows out."""
    import pyarrow as pa

    schema = arrow_schema()
    rows = (row for batch in batches for row in batch.to_pylist())
    out: list[dict[str, Any]] = []
    for row in scrub_rows(config, rows):
        out.append(row)
        if len(out) >= size:
            yield pa.RecordBatch.from_pylist(out, schema=schema)
            out = []
    if out:
        yield pa.RecordBatch.from_pylist(out, schema=schema)


def ship(spark: SparkSession, config: ScrubConfig) -> ScrubConfig:
    """Copy the config's files and folders to every executor (``SparkContext.addFile``); the config names them
    ``sparkfiles:NAME`` from then on. Names must differ (two rule packs both called ``packs`` cannot ship)."""
    shipped: dict[str, str] = {}

    def one(path: str | None) -> str | None:
        if path is None or path.startswith(SHIPPED):
            return path
        local = Path(path).resolve()
        if shipped.get(local.name, str(local)) != str(local):
            raise ValueError(f"two shipped paths are both named {local.name}: rename one")
        if local.name not in shipped:
            spark.sparkContext.addFile(str(local), recursive=local.is_dir())
            shipped[local.name] = str(local)
        return SHIPPED + local.name

    return dataclasses.replace(
        config,
        rules=tuple(one(p) or p for p in config.rules),
        policies=tuple(one(p) or p for p in config.policies),
        data_dir=one(config.data_dir),
        suppressions=one(config.suppressions),
        frequency_limits=one(config.frequency_limits),
        history=config.history if config.history is None or is_url(config.history) else one(config.history),
    )


def as_items(claims_df: DataFrame, claim_col: str = "claim", source_col: str | None = None) -> DataFrame:
    """The input rows the executors read: ``claim`` as native JSON text (a struct column is written as JSON;
    no column named ``claim_col``: each row is a claim), ``source``, and the reader's item columns."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType, BinaryType, MapType, StringType, StructType

    if claim_col in claims_df.columns:
        column = claims_df[claim_col]
        held = claims_df.schema[claim_col].dataType
        if isinstance(held, BinaryType):  # JSON text as bytes: bytes that are not UTF-8 become U+FFFD, and
            column = F.make_valid_utf8(column.cast("string"))  # the claim is rejected as not JSON
        elif isinstance(held, StructType | MapType | ArrayType):
            column = F.to_json(column)
        elif not isinstance(held, StringType):
            raise ValueError(
                f"the claim column `{claim_col}` holds {held.simpleString()}: it must hold native-JSON text "
                "(string or binary) or structs following schemas/claim.schema.json (claim_col= names another column)"
            )
    else:  # the row is the claim: its columns follow schemas/claim.schema.json
        column = F.to_json(F.struct(*[claims_df[c] for c in claims_df.columns]))
    present = set(claims_df.columns)
    columns = [column.alias("claim")]
    for name, kind in ITEM_FIELDS[1:]:
        if name == "source" and source_col:
            columns.append(claims_df[source_col].cast("string").alias("source"))
        elif name in present and name != claim_col:
            columns.append(claims_df[name].cast(kind).alias(name))
        else:
            columns.append(F.lit(None).cast(kind).alias(name))
    return claims_df.select(*columns)


def scrub_dataframe(
    claims_df: DataFrame,
    rules: Iterable[str | Path] = (),
    data_dir: str | Path | None = None,
    *,
    claim_col: str = "claim",
    source_col: str | None = None,
    partitions: int | None = None,
    ship_files: bool = False,
    config: ScrubConfig | None = None,
    **options: Any,
) -> tuple[DataFrame, DataFrame]:
    """Scrub every claim of ``claims_df``: (results, findings).

    ``claims_df``: a column ``claim_col`` of native-JSON strings or of structs following
    ``schemas/claim.schema.json`` (or no such column: each row is a claim). ``options``: the other
    :class:`ScrubConfig` fields (``samples``, ``policies``, ``cross_claim``, ``isolate``, ...).
    ``ship_files``: copy the rule packs and the table store to the executors instead of reading them
    from a path they all mount. Results: one row per input claim, ``scrubbed`` or ``rejected`` with the
    reason; findings: the fields of ``--format jsonl`` findings (objects as JSON text). ``config``: a
    whole :class:`ScrubConfig` instead of ``rules``, ``data_dir`` and ``options``. ``history`` (an option):
    a SQLite history file every executor reads (or ships) or a ``postgresql://`` URL; each batch of patients
    reads its patients' earlier claims from it (indexed queries of 500 patients; nothing is recorded).

    The scrub runs here, once: both frames read one persisted frame (memory, then disk), and
    ``spark.catalog.clearCache()`` releases it once they are written. A job that fails raises
    :class:`claimscrub.spark.errors.SparkJobError` saying what went wrong in one line.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    if config is None:
        if options.get("history") is not None:
            options["history"] = str(options["history"])
        config = ScrubConfig(
            rules=tuple(str(r) for r in rules), data_dir=str(data_dir) if data_dir else None, **options
        )
    if config.history and not config.cross_claim:
        raise ValueError("a history store is read by the cross-claim edits: it needs cross_claim=True")
    config = pin_tables(config)
    check(config, "driver")
    spark = claims_df.sparkSession
    if ship_files:
        config = ship(spark, config)
    items = as_items(claims_df, claim_col, source_col)
    if config.cross_claim:
        keys = F.from_json(items["claim"], _KEYS)
        items = items.withColumn("patient_key", keys["patient"]["id"])
        items = items.withColumn("first_date", F.array_min(keys["lines"]["from_date"]))
        by = F.col("patient_key")
        items = items.repartition(partitions, by) if partitions else items.repartition(by)
        items = items.sortWithinPartitions("patient_key", "first_date")
    elif partitions:
        items = items.repartition(partitions)
    scrubbed = items.mapInArrow(lambda batches: _scrub_batches(config, batches), scrubbed_ddl())
    scrubbed = scrubbed.persist(StorageLevel.MEMORY_AND_DISK)
    with explained():  # the scrub itself: what fails on an executor is said here, in one line
        scrubbed.count()
    results = scrubbed.drop("findings")
    findings = scrubbed.select(F.explode("findings").alias("f")).select("f.*")
    return results, findings


def read_claims(spark: SparkSession, paths: list[str], fmt: str = "auto") -> DataFrame:
    """Claims from Parquet (a ``claim`` column, or one claim per row), JSON Lines (one claim per line,
    read in splits) or claim files of any format the CLI reads (``x12`` or ``files``: X12 837, FHIR,
    JSON; one file per task)."""
    from pyspark.sql import functions as F

    if fmt == "auto":
        fmt = _guess_format(paths)
    if fmt not in ("parquet", "jsonl", "x12", "files"):
        raise ValueError(f"unknown input format {fmt}: parquet, jsonl, x12 or files")
    if fmt == "parquet":
        return as_items(spark.read.parquet(*paths))
    if fmt == "jsonl":
        text = spark.read.text(paths).where(F.trim("value") != "")
        return as_items(text.select(F.col("value").alias("claim"), F.input_file_name().alias("source")))
    files = spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(paths)
    wanted = files.where(F.lower("path").rlike("(" + "|".join(map(re.escape, SUFFIXES)) + ")$"))
    rows = wanted.select("path", "content").rdd.flatMap(lambda row: _file_rows(row.path, row.content))
    return spark.createDataFrame(rows, ddl(ITEM_FIELDS))


def _guess_format(paths: list[str]) -> str:
    names = [p.rstrip("/") for p in paths]
    if all(n.endswith(".parquet") or (Path(n).is_dir() and any(Path(n).glob("*.parquet"))) for n in names):
        return "parquet"
    if all(n.endswith((".jsonl", ".ndjson")) for n in names):
        return "jsonl"
    return "files"


def _file_rows(name: str, data: bytes) -> Iterator[dict[str, Any]]:
    """The claims of one file (any format ``read_bytes`` detects); a file that cannot be read at all is one
    rejected row with ``field`` "file" (the CLI names it on stderr and exits 2: here it stays in the output)."""
    from claimscrub.inputs import InputFormatError, read_bytes

    name = name.removeprefix("file:")
    try:
        for item in read_bytes(data, name):
            yield item_row(item)
    except InputFormatError as exc:
        yield {"claim": None, "source": name, "claim_id": None, "error": str(exc), "field": "file", "notes": None}
