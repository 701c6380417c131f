"""``claimscrub scrub``: read, dispatch to workers, write as results arrive (the command's options are in main).

Memory stays flat in the number of claims (issue #18): the parent reads JSON Lines line by line and
hands raw lines to the workers, which parse, scrub and render each claim; the parent writes the bytes
it gets back and counts the summary and exit code as they stream (:mod:`claimscrub.output.stream`).
What grows with the batch:

* the cross-claim phase (the default): each scrubbed claim's normalised form, pickled; with ``jsonl``
  and ``csv`` on disk in buckets by patient, the phase then holding one bucket (a 64th of the claims)
  at a time (:mod:`claimscrub.history.spill`); with the other formats in memory (about 1.1 KB a
  claim, 4.5 KB at the phase's peak). The rendered records wait in a temporary file, not in memory,
  until the phase is done;
* the batch phase (encounters, ``--audit``): encounter notes and per-provider E/M counters;
* ``--format json``, ``html`` and ``text`` hold every result (one document, or a summary printed
  first); ``jsonl`` and ``csv`` do not;
* the claim ids, to name ids that repeat (a warning).
"""

from __future__ import annotations

import functools
import io
import pickle
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from claimscrub.cli.run import (
    EXIT_CLEAN,
    EXIT_FINDINGS,
    EXIT_USAGE,
    Interrupted,
    StderrConsole,
    Tally,
    count_rest,
    escape,
    interruptible,
    quiet_signals,
)
from claimscrub.inputs import InputFormatError, read_bytes, read_file

if TYPE_CHECKING:
    from claimscrub.history.phase import EditContext

err = StderrConsole(highlight=False, soft_wrap=True)  # a message stays one line, whatever the path

# Files a directory argument contributes (anything else there, a README or a licence, is skipped).
INPUT_SUFFIXES = (".json", ".jsonl", ".ndjson", ".x12", ".837", ".837p", ".837i", ".edi", ".txt")


def _sources(paths: tuple[str, ...], errors: list[str]):
    """(name, path or None, loader) of every input file (directories recursively, - for stdin, read once and
    kept); what a directory holds that cannot be read (a subdirectory, a symlink loop) goes to ``errors``."""
    from claimscrub.cli.run import walk

    for raw in paths:
        if raw == "-":
            data = sys.stdin.buffer.read()
            yield "<stdin>", None, lambda data=data: data
            continue
        path = Path(raw)
        files = walk(path, INPUT_SUFFIXES, errors) if path.is_dir() else [path]
        for file in files:
            yield str(file), file, functools.partial(read_file, file)


@dataclass
class _Side:
    """Encounter records found beside the claims, and the links made as the claims streamed past."""

    index: object | None = None  # EncounterIndex, when any encounter document was found
    links: list = field(default_factory=list)
    mentions_encounters: bool = False  # some input names an encounter (side by side or embedded)


def read_inputs(paths: tuple[str, ...], raw: bool = False):
    """Every claim in every path; unreadable files reported, not fatal; side-by-side encounters attached.

    Encounter records must be indexed before the first claim is scrubbed, so files are first sniffed for
    ``"encounter_id"``: only files holding encounter documents are kept parsed in memory; the others are
    read again when their turn comes, so claims-only input still streams. With ``raw`` (and no encounter
    anywhere), JSON Lines files give :class:`~claimscrub.inputs.lines.RawLine` units, read line by line,
    for the workers to parse.
    """
    from claimscrub.inputs.encounters import index_encounters, link_items
    from claimscrub.inputs.lines import ENCOUNTER_MARK, is_json_lines, mentions, raw_lines

    errors: list[str] = []
    side = _Side()
    docs: list = []
    plan: list[tuple[str, Path | None, Any, list | None]] = []
    for name, path, load in _sources(paths, errors):
        try:
            if path is not None and raw and path.is_file() and not mentions(path):
                plan.append((name, path, load, None))  # never read whole: decided again below
                continue
            data = load()
            kept = None
            if ENCOUNTER_MARK in data:
                side.mentions_encounters = True
                found: list = []
                items = list(read_bytes(data, name, found))
                if found:
                    docs.extend(found)
                    kept = items
        except (InputFormatError, OSError) as exc:
            errors.append(_read_error(name, exc))
            continue
        plan.append((name, path, load, kept))
    if docs:
        side.index = index_encounters(docs)
    lines_ok = raw and not side.mentions_encounters

    def gen():
        for name, path, load, kept in plan:
            count = 0
            try:
                if kept is None and lines_ok and path is not None and is_json_lines(path):
                    units = raw_lines(path, name)
                else:
                    units = link_items(
                        kept if kept is not None else read_bytes(load(), name, []), side.index, side.links
                    )
                for unit in units:
                    count += 1
                    yield unit
            except (InputFormatError, OSError) as exc:
                errors.append(_read_error(name, exc))
                continue
            if not count and kept is None:  # (a file kept for its encounter records needs no claim)
                errors.append(f"{name}: no claims found")

    return gen(), errors, side


def _read_error(name: str, exc: InputFormatError | OSError) -> str:
    if isinstance(exc, InputFormatError):
        return str(exc)
    return f"{name}: cannot read ({exc.strerror or type(exc).__name__})"


@dataclass
class Kept:
    """What the parent keeps of the claims streaming past, for the phases after scrubbing."""

    claims: list[bytes | None] | None = None  # pickled normalised claims (cross-claim phase), one per result
    facts: Any = None  # BatchFacts (batch phase)
    spill: Any = None  # PatientSpill: the cross-claim phase's claims of a streamed run, on disk by patient


def run_scrub(
    paths,
    fmt,
    rules,
    only_rules,
    fail_on,
    data_dir,
    samples,
    backend,
    workers,
    include_draft,
    output,
    progress,
    audit,
    peer_benchmarks,
    cross_claim,
    history_spec,
    record,
    frequency_limits,
    max_lines,
    policy_paths,
    default_policies,
    suppressions,
    show_suppressed,
    compact=False,
    claim_timeout=None,
    progress_bar=None,
):
    """The scrub command (see ``claimscrub scrub --help``); exits with its exit code."""
    from claimscrub.api import batch
    from claimscrub.api.scrubber import RulesError, Scrubber, batch_gc
    from claimscrub.api.workers import Prebuilt, WorkerPool, default_workers, scrub_unit
    from claimscrub.cli.history import load_limits_or_exit, open_store_or_exit
    from claimscrub.compile.rules import SEVERITY_RANK
    from claimscrub.history.phase import Outcome, context_for, history_not_checked, spilled_extra
    from claimscrub.history.phase import attach as cross_attach
    from claimscrub.history.spill import PatientSpill
    from claimscrub.output.compact import rule_dictionary
    from claimscrub.output.stream import Packing, Spool, Totals, merge
    from claimscrub.output.writers import (
        CSV_COLUMNS,
        csv_more,
        csv_record_rows,
        csv_rows,
        encounter_entries,
        json_sections,
        jsonl_records,
        scrub_meta,
        text_console,
        text_lines,
        to_json,
        write,
        write_text,
    )

    config = dict(
        rules=list(rules),
        replace_bundled=only_rules,
        data_dir=data_dir,
        samples=samples,
        include_draft=include_draft,
        max_lines=max_lines,
        policies=list(policy_paths),
        default_policies=default_policies,
        suppressions=suppressions,
    )
    started = time.perf_counter()
    try:
        parent = Scrubber(**config, backend=None)
    except RulesError as exc:
        for issue in exc.issues:
            err.print(str(issue), markup=False)
        err.print("[red]rules have errors: fix them ('claimscrub rules lint') before scrubbing[/]")
        sys.exit(2)
    except ValueError as exc:  # a pack's table or the suppressions file is unreadable: named, not a traceback
        err.print(str(exc), style="red", markup=False, soft_wrap=True)
        sys.exit(2)
    try:
        benchmarks = _audit_tables(audit, peer_benchmarks)
    except ValueError as exc:
        err.print(f"[red]--peer-benchmarks:[/] {escape(str(exc))}")
        sys.exit(2)
    if compact and fmt != "jsonl":
        err.print("[red]--compact is for --format jsonl[/]")
        sys.exit(EXIT_USAGE)
    batch_gc()
    streamed = fmt in ("jsonl", "csv")  # written claim by claim; the other formats need every result
    units, read_errors, side = read_inputs(paths, raw=fmt != "html")
    tally = Tally()
    units = tally.watch(units)
    run_audit = audit if audit is not None else (side.mentions_encounters or peer_benchmarks is not None)
    line_index = None
    if fmt == "html":  # codes and charges of the lines findings point at (engine/claimscrub/report/scrub_report.py)
        from claimscrub.report.scrub_report import LineIndex, require_charts

        require_charts()  # before scrubbing: a missing extra is a usage error, not a lost run
        line_index = LineIndex()
        units = line_index.watch(units)
    if record and history_spec is None:
        history_spec = ""  # --record alone: the default store
    limits = load_limits_or_exit(frequency_limits)
    dictionary = rule_dictionary(parent.rulebook.rules) if compact else None
    packing = Packing(lines=streamed, cross_claim=cross_claim, audit=bool(run_audit), dictionary=dictionary)
    kept = Kept(
        [] if cross_claim and not streamed else None,
        batch.BatchFacts() if run_audit else None,
        PatientSpill() if cross_claim and streamed else None,
    )
    workers = default_workers() if workers is None else workers
    if workers > 0:
        # Workers are forked after the parent built everything but the engine: they share its rules, tables
        # and policies (copy-on-write) instead of loading them again. (The store reopens its SQLite connection
        # in each process: a connection must not cross a fork.)
        pool = WorkerPool(Prebuilt(parent, backend), workers, finish=packing, claim_timeout=claim_timeout)
        stream = pool.scrub(units)
    else:
        pool = None
        runner = parent.with_backend(backend)
        stream = (p for unit in units for p in scrub_unit(runner, unit, packing))
    totals = Totals()
    results: list = []  # json, html, text: every result
    out = open(output, "wb") if output else sys.stdout.buffer  # noqa: SIM115 - closed after the report is written
    spool = Spool() if streamed and (cross_claim or run_audit) else None
    if fmt == "csv":
        write(out, ",".join(CSV_COLUMNS) + "\r\n")
    elif dictionary is not None:
        write(out, orjson.dumps({"record": "rules", "rules": dictionary}) + b"\n")

    def emit(line: bytes) -> None:
        write(out, line + b"\n" if fmt == "jsonl" else csv_record_rows(orjson.loads(line)))

    interrupted = None
    try:
        with (
            interruptible(safe=(WorkerPool.scrub,)) as stop,
            progress_bar(err.is_terminal if progress is None else progress) as advance,
        ):
            for position, p in enumerate(stream):
                advance()
                tally.count_id(p.claim_id)
                totals.add(p.status, p.severities, p.suppressed)
                if kept.claims is not None:
                    kept.claims.append(p.claim)
                elif kept.spill is not None and p.claim is not None and p.patient is not None:
                    kept.spill.add(position, p.patient, p.claim)
                if kept.facts is not None and p.facts is not None:
                    kept.facts.add(p.facts)
                if not streamed:
                    results.append(p.result)
                elif spool is not None:
                    spool.add(p.line)
                else:
                    emit(p.line)
                stop.check()  # a signal that came while the input was being read
            stop.check()
    except Interrupted as exc:  # stop here, and still end the output well-formed
        interrupted = exc
        quiet_signals()
        if pool:
            pool.terminate()
    finally:
        if pool:
            pool.close()
    cross: dict[int, Outcome] = {}
    ctx: EditContext | None = None
    report = None
    if not interrupted:  # stop means stop: the cross-claim and batch phases need every claim
        if kept.spill is not None:  # the store is opened only now: a connection must not cross the workers' fork
            store = open_store_or_exit(history_spec, data_dir)
            ctx = context_for(parent, limits)
            cross = spilled_extra(kept.spill, ctx, store, record=record)
            if store is not None:
                store.close()
        elif kept.claims is not None:
            store = open_store_or_exit(history_spec, data_dir)
            claims = _unpickled(kept.claims)
            kept.claims = None
            ctx = context_for(parent, limits)
            results = cross_attach(results, claims, ctx, store)
            if store is not None:
                if record:
                    store.record(c for c in claims if c is not None)
                store.close()
            del claims
        if kept.facts is not None:
            from claimscrub.documentation.cloned import load_cloned_config

            report = batch.run_batch(kept.facts, load_cloned_config(), benchmarks or _audit_tables(True, None))
            if not streamed:
                results = batch.attach(results, report)
    if kept.spill is not None:
        kept.spill.close()  # read and closed by the phase; an interrupted run drops it here
    if spool is not None:  # the records, with what the phases found added where they found anything
        by_claim = report.claim_findings if report is not None else {}
        for i, line in enumerate(spool.read()):
            outcome = cross.get(i)
            extra = list(outcome.findings) if outcome is not None else []
            drop = ctx.gives_way if ctx is not None and outcome is not None and outcome.has_history else frozenset()
            if by_claim:
                head = orjson.loads(line)
                if head["status"] == "scrubbed":
                    extra += by_claim.get(head["claim_id"], ())
            if extra or drop or (outcome is not None and outcome.not_checked):
                line, before, after = merge(
                    line, extra, dictionary, drop, outcome.not_checked if outcome is not None else None
                )
                totals.change(before, after)
            emit(line)
    encounters = None
    if side.index is not None:
        from claimscrub.inputs.encounters import encounter_report

        encounters = encounter_report(side.index, side.links)
    meta = {**scrub_meta(parent, read_errors, time.perf_counter() - started), **json_sections(encounters, report)}
    if cross_claim and not interrupted:
        meta["not_checked"] = [*meta["not_checked"], *history_not_checked(parent)]
    if interrupted:
        not_finished = max(0, tally.seen - totals.claims)
        rest, complete = count_rest(units)
        meta["interrupted"] = {
            "signal": str(interrupted),
            "not_finished": not_finished,
            "not_reached": rest,
            "counted_all": complete and tally.finished,
        }
    if fmt == "json":
        write(out, to_json(results, meta))
    elif fmt == "jsonl":
        write(out, b"".join(orjson.dumps(rec) + b"\n" for rec in jsonl_records(encounters, report)))
    elif fmt == "csv":
        write(out, csv_more(csv_rows(encounters, report)))
    elif fmt == "html":
        from claimscrub.report.scrub_report import scrub_html

        write(out, scrub_html(results, meta, line_index))
    elif fmt == "text":
        text_out = io.TextIOWrapper(out, encoding="utf-8", write_through=True) if output else sys.stdout
        console = text_console(text_out, to_file=bool(output))
        write_text(results, console, meta["not_checked"], parent.editions(), show_suppressed=show_suppressed)
        for style, text in text_lines(encounters, report):
            console.print(f"[{style}]{escape(text)}[/]" if style else escape(text))
        if output:
            text_out.detach()  # -o's file was opened once, above, and is closed below
    if output:
        out.close()
    for message in read_errors:
        err.print(f"[red]input error:[/] {escape(message)}")
    duplicates = tally.duplicates()
    for cid, n in duplicates[:10]:
        err.print(f"[yellow]warning:[/] claim id {escape(cid)} appears {n} times in this run")
    if len(duplicates) > 10:
        err.print(f"[yellow]warning:[/] {len(duplicates) - 10} more claim id(s) appear more than once")
    if interrupted:
        info = meta["interrupted"]
        err.print(
            f"[red]interrupted ({interrupted}):[/] {totals.claims} claim(s) done; {info['not_finished']} "
            f"in progress not finished; {'' if info['counted_all'] else 'at least '}{info['not_reached']} "
            "more in the input not reached"
        )
        sys.exit(interrupted.exit_code)
    threshold = SEVERITY_RANK[fail_on]
    if not tally.seen and not read_errors:
        err.print("[red]input error:[/] no claims found in the input")
        sys.exit(EXIT_USAGE)
    if read_errors:
        sys.exit(EXIT_USAGE)
    batch_findings = report.batch_findings if report else []
    invalid_encounters = any(e["status"] == "invalid" for e in encounter_entries(encounters, report))
    if not streamed:  # the phases may have added findings to the results kept
        totals = Totals()
        for r in results:
            totals.add(r.status, _severities(r.findings), len(r.suppressed))
    failing = (
        totals.fails(threshold)
        or invalid_encounters
        or any(SEVERITY_RANK[f.severity] >= threshold for f in batch_findings)
    )
    sys.exit(EXIT_FINDINGS if failing else EXIT_CLEAN)


def _unpickled(pickled: list[bytes | None]) -> list:
    """The claims, each pickled copy dropped as its claim is made (so both are never all in memory)."""
    out = []
    for i, c in enumerate(pickled):
        out.append(pickle.loads(c) if c is not None else None)
        pickled[i] = None
    return out


def _severities(findings) -> tuple[int, int, int]:
    from claimscrub.compile.findings import SEVERITY_ORDER

    by = [0, 0, 0]
    for f in findings:
        by[SEVERITY_ORDER[f.severity]] += 1
    return by[0], by[1], by[2]


def _audit_tables(audit: bool | None, peer_benchmarks: str | None):
    """The peer benchmark table for the batch phase (None when the phase is off); a bad table is a usage error.

    The bundled table is read only when the phase is asked for here: with neither ``--audit`` nor
    ``--peer-benchmarks``, the phase runs only if the input holds encounters, and the table is read then."""
    from claimscrub.documentation.emstats import BenchmarkError, load_benchmarks

    if not audit and peer_benchmarks is None:
        return None
    try:
        return load_benchmarks(peer_benchmarks)
    except BenchmarkError as exc:
        raise ValueError(str(exc)) from None
