"""One partition's work on an executor: rows of claims in, one result row per claim out (no pyspark here).

Each Python worker process keeps one :class:`Engine` per :class:`ScrubConfig` in a module-level cache,
built on the first partition and reused by every later one (Spark reuses Python workers, so rules are
compiled once per worker, not once per task). Scrubbing goes through the public pipeline: the
``Scrubber`` guard turns an exception on one claim into an engine-error rejection; with ``isolate``
the claims run in a :class:`~claimscrub.api.workers.WorkerPool` child, as in the CLI, so a claim that
kills the C core twice is rejected and the task goes on; a Python worker that dies for another reason
(a killed executor) fails the task and Spark runs it again (``spark.task.maxFailures``).

Cross-claim edits: rows come grouped by patient (:func:`claimscrub.spark.frames.scrub_dataframe`
repartitions by patient and sorts by date of service), and batches are cut only between patients, so
``history.phase.finish_batch`` on each batch sees every claim of its patients, as the single-machine
run does.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from claimscrub.api.scrubber import ClaimResult, Scrubber
from claimscrub.api.workers import WorkerPool
from claimscrub.compile.findings import Finding
from claimscrub.history.limits import FrequencyLimit, load_limits
from claimscrub.history.phase import ClaimCollector, finish_batch
from claimscrub.history.store import HistoryStore, open_history
from claimscrub.inputs.base import InputItem, Note
from claimscrub.spark.config import ScrubConfig, is_url, missing, resolve, where_to_put
from claimscrub.spark.errors import ExecutorError

# Finding fields holding objects or lists of objects: JSON text in the frame (one schema, any content).
JSON_FIELDS = ("references", "table_row", "payer_edit", "suppression", "related")
# A test-only fault hook (tests/test_spark.py): "exit-worker:<claim id>:<marker file>" ends this
# Python worker on that claim the first time (the marker records it); "exit-worker-always:<claim id>" ends
# it on every attempt; "crash-engine:<claim id>" kills the isolated engine process whenever it receives
# that claim.
FAULTS_ENV = "CLAIMSCRUB_SPARK_FAULTS"


@dataclass
class Engine:
    """A worker process's scrubber: rules and tables (``parent``), and where claims run."""

    parent: Scrubber
    pool: WorkerPool | None
    limits: tuple[FrequencyLimit, ...] | None
    history: str | None = None  # the store's local path or URL

    def scrub(self, items: list[InputItem]) -> list[ClaimResult]:
        if self.pool is not None:
            return list(self.pool.scrub(items))
        return [self.parent.scrub_item(item) for item in items]


_engines: dict[ScrubConfig, Engine] = {}


def engine_for(config: ScrubConfig) -> Engine:
    """This process's engine for ``config``: built once (checking that what it needs is here), then reused.

    What fails here fails on every executor alike, so it is raised as an :class:`ExecutorError` naming the
    executor, the option and the path (the driver shows that line, not the task's stack)."""
    engine = _engines.get(config)
    if engine is None:
        host = f"executor {os.uname().nodename}"
        problems = missing(config)
        if problems:
            raise ExecutorError(f"on the {host}: {'; '.join(problems)}. {where_to_put()}")
        engine = _engines[config] = _build(config, host)
    return engine


def _build(config: ScrubConfig, host: str) -> Engine:
    kwargs = config.scrubber_kwargs()
    what = f"the table store {config.data_dir}" if config.data_dir else "the rule packs"
    try:
        if config.isolate:
            parent = Scrubber(**kwargs, backend=None)
            pool: WorkerPool | None = WorkerPool({**kwargs, "backend": config.backend, "rulebook": parent.rulebook})
        else:
            parent, pool = Scrubber(**kwargs, backend=config.backend), None
        limits = load_limits(resolve(config.frequency_limits)) if config.frequency_limits else None
    except Exception as exc:  # noqa: BLE001 - whatever it is, it stops every task: say where, once
        raise ExecutorError(
            f"on the {host}: cannot build the scrubber from {what} ({type(exc).__name__}: {_first_line(exc)}); "
            "check it on that machine with 'claimscrub data status --data-dir DIR' or 'claimscrub rules lint'"
        ) from None
    history = None
    if config.history:
        history = config.history if is_url(config.history) else resolve(config.history)
        shown = "the PostgreSQL history" if is_url(config.history) else f"the history store {config.history}"
        try:  # opened here once to fail early and clearly; then per batch (see open_store)
            open_history(history).close()
        except Exception as exc:  # noqa: BLE001 - a URL is never quoted: the store's own errors leave it out
            raise ExecutorError(
                f"on the {host}: cannot open {shown} ({type(exc).__name__}: {_first_line(exc)})"
            ) from None
    return Engine(parent, pool, limits, history)


def open_store(engine: Engine) -> HistoryStore | None:
    """The history store for one batch's cross-claim phase. Opened per batch and closed after it, never held:
    the engine pool forks its processes lazily (again after a crash), and a database connection must not
    cross a fork. (A connection costs milliseconds; a batch, seconds.)"""
    return open_history(engine.history) if engine.history else None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:300]


def item_of(row: dict[str, Any]) -> InputItem:
    """The InputItem of one input row: ``claim`` (native JSON text), or an item a reader already made."""
    source = row.get("source") or ""
    if row.get("error"):
        return InputItem.failed(source, row.get("claim_id"), row["error"], row.get("field"))
    text = row.get("claim")
    if text is None:
        return InputItem.failed(source, None, "claim: no claim data (null)", "claim")
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return InputItem.failed(source, None, f"claim: not valid JSON ({exc})", "claim")
    if not isinstance(data, dict):
        return InputItem.failed(source, None, f"claim: expected a claim object, got {type(data).__name__}", "claim")
    cid = data.get("claim_id")
    notes = tuple(Note(**n) for n in orjson.loads(row["notes"])) if row.get("notes") else ()
    return InputItem(source, cid if isinstance(cid, str) else None, data, notes=notes)


def item_row(item: InputItem) -> dict[str, Any]:
    """An InputItem as an input row (for readers that run on executors, e.g. X12 files)."""
    return {
        "claim": orjson.dumps(item.data).decode() if item.data is not None else None,
        "source": item.source,
        "claim_id": item.claim_id,
        "error": item.error,
        "field": item.field,
        "notes": orjson.dumps(item.notes).decode() if item.notes else None,
    }


def finding_row(f: Finding) -> dict[str, Any]:
    row = f.as_dict()
    for name in JSON_FIELDS:
        if row[name] is not None:
            row[name] = orjson.dumps(row[name]).decode()
    return row


def result_row(r: ClaimResult) -> dict[str, Any]:
    """One claim's output row: status, reason and its findings (the fields of ``--format jsonl``)."""
    return {
        "claim_id": r.claim_id,
        "status": r.status,
        "reason": r.reason,
        "field": r.field,
        "source": r.source,
        "finding_count": len(r.findings),
        "suppressed_count": len(r.suppressed),
        "policies": list(r.policies),
        "not_checked": orjson.dumps(r.not_checked).decode() if r.not_checked else None,
        "suppressed": orjson.dumps([f.as_dict() for f in r.suppressed]).decode() if r.suppressed else None,
        "findings": [finding_row(f) for f in r.findings],
    }


@dataclass
class _Faults:
    """The test-only fault hook, parsed once per process."""

    exit_on: str | None = None
    marker: Path | None = None
    exit_always: set[str] = field(default_factory=set)
    crash_on: set[str] = field(default_factory=set)

    @classmethod
    def from_env(cls) -> _Faults:
        faults = cls()
        for spec in filter(None, os.environ.get(FAULTS_ENV, "").split(",")):
            kind, _, rest = spec.partition(":")
            if kind == "exit-worker":
                faults.exit_on, _, marker = rest.partition(":")
                faults.marker = Path(marker)
            elif kind == "exit-worker-always":
                faults.exit_always.add(rest)
            elif kind == "crash-engine":
                faults.crash_on.add(rest)
        return faults

    def apply(self, item: InputItem) -> InputItem:
        if item.claim_id in self.exit_always:
            os._exit(86)
        if item.claim_id == self.exit_on and self.marker is not None and not self.marker.exists():
            self.marker.write_text("the Python worker exited here once\n")
            os._exit(86)
        if item.claim_id in self.crash_on and item.data is not None:
            item.data = _Poison(item.data)
        return item


class _Poison(dict):
    """Claim data that ends the process unpickling it: the isolated engine process dies on this claim."""

    def __reduce__(self):
        return (os._exit, (87,))


def _batches(rows: Iterable[dict[str, Any]], size: int, grouped: bool) -> Iterator[list[dict[str, Any]]]:
    """Rows in batches of about ``size``; with ``grouped``, cut only where the patient key changes."""
    batch: list[dict[str, Any]] = []
    for row in rows:
        if len(batch) >= size and (not grouped or row.get("patient_key") != batch[-1].get("patient_key")):
            yield batch
            batch = []
        batch.append(row)
    if batch:
        yield batch


def scrub_rows(config: ScrubConfig, rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """A result row for every input row, in input order; with ``cross_claim`` the rows must come grouped
    by ``patient_key`` (every claim of a patient in this partition, next to each other)."""
    engine = engine_for(config)
    faults = _Faults.from_env() if os.environ.get(FAULTS_ENV) else None
    for batch in _batches(rows, config.batch_claims, config.cross_claim):
        items = [item_of(row) for row in batch]
        if faults is not None:
            items = [faults.apply(item) for item in items]
        if config.cross_claim:
            collector = ClaimCollector()
            results = []
            for result in engine.scrub(list(collector.watch(items))):
                collector.take(result)
                results.append(result)
            store = open_store(engine)
            try:
                results = finish_batch(results, collector, engine.parent, store, limits=engine.limits)
            finally:
                if store is not None:
                    store.close()
        else:
            results = engine.scrub(items)
        yield from (result_row(r) for r in results)
