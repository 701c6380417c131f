"""Writing scrub results: json, jsonl, csv and a terminal-friendly text report."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import IO, TYPE_CHECKING, Any

import orjson

from claimscrub.api.scrubber import ClaimResult

if TYPE_CHECKING:
    from rich.console import Console

    from claimscrub.api.batch import BatchReport

CSV_COLUMNS = [
    "claim_id",
    "status",
    "line",
    "related_lines",
    "rule_id",
    "category",
    "severity",
    "message",
    "fix",
    "citation",
    "data_edition",
    "reason",
]


def summary(results: list[ClaimResult]) -> dict:
    findings = [f for r in results for f in r.findings]
    return {
        "claims": len(results),
        "scrubbed": sum(r.status == "scrubbed" for r in results),
        "rejected": sum(r.status == "rejected" for r in results),
        "claims_with_findings": sum(bool(r.findings) for r in results),
        "findings": len(findings),
        "by_severity": {s: sum(f.severity == s for f in findings) for s in ("error", "warning", "info")},
        "suppressed": sum(len(r.suppressed) for r in results),
    }


def scrub_meta(scrubber, input_errors: list[str], seconds: float) -> dict:
    """The run's context (versions, editions, rules not checked): one builder for the CLI and the service."""
    from claimscrub import __version__

    return {
        "claimscrub": __version__,
        "packs": {p.name: p.version for p in scrubber.rulebook.packs.values()},
        "data_editions": scrubber.editions(),
        "not_checked": scrubber.not_checked,
        "input_errors": list(input_errors),
        "seconds": round(seconds, 3),
    }


def document(results: list[ClaimResult], meta: dict) -> dict:
    """The JSON answer: meta, summary, every claim's status and every finding."""
    not_checked = list(meta.get("not_checked", ()))
    not_checked += [{"claim_id": r.claim_id, **n} for r in results for n in r.not_checked]
    return {
        **meta,
        "not_checked": not_checked,
        "summary": summary(results),
        "claims": [r.as_dict() for r in results],
        "findings": [f.as_dict() for r in results for f in r.findings],
        "suppressed": [f.as_dict() for r in results for f in r.suppressed],
    }


def to_json(results: list[ClaimResult], meta: dict) -> bytes:
    return orjson.dumps(document(results, meta), option=orjson.OPT_INDENT_2) + b"\n"


def jsonl_lines(results: Iterable[ClaimResult]) -> Iterable[bytes]:
    """One line per claim: the claim's status and its findings (streams well)."""
    for r in results:
        line = {**r.as_dict(), "findings": [f.as_dict() for f in r.findings]}
        if r.suppressed:
            line["suppressed"] = [f.as_dict() for f in r.suppressed]
        yield orjson.dumps(line) + b"\n"


def to_csv(results: list[ClaimResult]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for r in results:
        _csv_record(writer, {**r.as_dict(), "findings": [f.as_dict() for f in r.findings]})
    return buf.getvalue()


def csv_record_rows(record: dict) -> str:
    """The CSV rows (no header) of one claim's JSON Lines record: the claim written as it streams past."""
    buf = io.StringIO()
    _csv_record(csv.DictWriter(buf, CSV_COLUMNS, extrasaction="ignore"), record)
    return buf.getvalue()


def _csv_record(writer: csv.DictWriter, record: dict) -> None:
    status = record["status"]
    if status == "rejected":
        writer.writerow({"claim_id": record["claim_id"], "status": status, "reason": record.get("reason")})
    for f in record["findings"]:
        writer.writerow({**f, "status": status, "related_lines": " ".join(map(str, f["related_lines"]))})


SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def text_console(file: IO[str], *, to_file: bool = False) -> Console:
    """The text report's console: wrapped to the terminal's width when there is one; piped or written
    with -o, lines are not wrapped at all (a fixed 80 columns broke messages mid-word for grep and diff)."""
    from rich.console import Console

    console = Console(file=file, highlight=False, force_terminal=False if to_file else None)
    console.soft_wrap = not console.is_terminal
    return console


def write_text(
    results: list[ClaimResult], console, not_checked: list[dict], editions: list[dict], show_suppressed: bool = False
) -> None:
    """Grouped by claim: each finding with its line, message, fix and citation."""
    from rich.markup import escape

    for r in results:
        if r.status == "rejected":
            console.print(
                f"[bold red]✗ {escape(str(r.claim_id))}[/] rejected: {escape(r.reason or '')}"
                f"  [dim]({escape(r.source or '')})[/]"
            )
            continue
        held = f", {len(r.suppressed)} suppressed" if r.suppressed else ""
        if not r.findings:
            console.print(f"[green]✓ {escape(r.claim_id or '')}[/] no findings{held}")
        else:
            console.print(
                f"[bold]● {escape(r.claim_id or '')}[/] {len(r.findings)} finding(s){held}  "
                f"[dim]({escape(r.source or '')})[/]"
            )
        if show_suppressed:
            for f in r.suppressed:
                why = f.suppression or {}
                where = "claim" if f.line is None else f"line {f.line}"
                console.print(f"  [dim]suppressed {f.rule_id:<12} {where:<22} {escape(f.message)}[/]")
                console.print(
                    f"  [dim]{'':<20} accepted by {escape(str(why.get('by')))}: {escape(str(why.get('reason')))}[/]"
                )
        for f in r.findings:
            where = "claim" if f.line is None else f"line {f.line}"
            if f.related_lines:
                where += " (with line " + ", ".join(map(str, f.related_lines)) + ")"
            if f.diagnosis is not None:
                where = f"diagnosis {f.diagnosis}"
            style = SEVERITY_STYLE[f.severity]
            console.print(f"  [{style}]{f.severity:<7}[/] {f.rule_id:<12} {where:<22} {escape(f.message)}")
            console.print(f"  [dim]{'':<20} fix: {escape(f.fix)}[/]")
            cite = f.citation + (f" · data: {f.data_edition}" if f.data_edition else "")
            console.print(f"  [dim]{'':<20} ref: {escape(cite)}[/]")
    for r in results:
        by_reason: dict[str, list[str]] = {}
        for n in r.not_checked:
            by_reason.setdefault(n["reason"], []).append(n["rule_id"])
        for reason, rule_ids in by_reason.items():
            console.print(f"[yellow]not checked[/] {escape(str(r.claim_id))}: {escape(reason)} ({', '.join(rule_ids)})")
    s = summary(results)
    console.print(
        f"\n{s['claims']} claim(s): {s['scrubbed']} scrubbed, {s['rejected']} rejected, "
        f"{s['claims_with_findings']} with findings; findings: {s['by_severity']['error']} error, "
        f"{s['by_severity']['warning']} warning, {s['by_severity']['info']} info"
        + (
            f"; {s['suppressed']} suppressed" + ("" if show_suppressed else " (--show-suppressed lists them)")
            if s["suppressed"]
            else ""
        )
    )
    if editions:
        console.print("[dim]data: " + "; ".join(escape(_edition_text(e)) for e in editions) + "[/]")
    if not_checked:
        console.print(
            f"[yellow]not checked: {len(not_checked)} rule(s) need tables that are not loaded "
            f"("
            + ", ".join(n["rule_id"] for n in not_checked[:8])
            + (" ..." if len(not_checked) > 8 else "")
            + "); run 'claimscrub data status'[/]"
        )


def _edition_text(status: dict) -> str:
    editions = status.get("editions") or []
    labels = [e.get("label", "") if isinstance(e, dict) else str(e) for e in editions]
    return f"{status.get('name')}: {', '.join(labels) or 'not loaded'}"


def write(stream: IO[bytes], data: bytes | str) -> None:
    stream.write(data.encode() if isinstance(data, str) else data)


# --------------------------------------------------------------------------- encounter and batch-phase sections


def encounter_entries(encounters, report: BatchReport | None) -> list[dict[str, Any]]:
    """Every side-by-side encounter (linked, unlinked, invalid) and every embedded one that could not be read."""
    out = encounters.entries() if encounters is not None else []
    if report is not None:
        out.extend(i.as_dict() for i in report.issues)
    return out


def json_sections(encounters, report: BatchReport | None) -> dict[str, Any]:
    """What the JSON document adds: ``encounters``, ``audit`` and ``batch_findings``."""
    out: dict[str, Any] = {}
    entries = encounter_entries(encounters, report)
    if encounters is not None or entries:
        summary = encounters.summary() if encounters is not None else {}
        out["encounters"] = {
            "summary": {**summary, "invalid_embedded": len(report.issues) if report else 0},
            "records": entries,
        }
    if report is not None:
        out["audit"] = report.audit_section()
        out["batch_findings"] = [f.as_dict() for f in report.batch_findings]
    return out


def jsonl_records(encounters, report: BatchReport | None) -> Iterator[dict[str, Any]]:
    """Lines after the claims' lines, each with a ``record`` kind: encounter, batch_finding, audit."""
    for entry in encounter_entries(encounters, report):
        yield {"record": "encounter", **entry}
    if report is not None:
        for f in report.batch_findings:
            yield {"record": "batch_finding", **f.as_dict()}
        yield {"record": "audit", **report.audit_section()}


def csv_rows(encounters, report: BatchReport | None) -> Iterator[dict[str, Any]]:
    """CSV rows after the claims' rows: provider findings (status ``batch``) and encounters not used."""
    if report is not None:
        for f in report.batch_findings:
            yield {**f.as_dict(), "claim_id": "", "status": "batch", "related_lines": ""}
    for entry in encounter_entries(encounters, report):
        if entry["status"] != "linked":
            yield {
                "claim_id": entry.get("claim_id") or "",
                "status": f"encounter {entry['status']}",
                "reason": f"encounter {entry['encounter_id'] or '(no id)'} ({entry['source']}): {entry['reason']}",
            }


def text_lines(encounters, report: BatchReport | None) -> Iterator[tuple[str, str]]:
    """(style, text) lines for the terminal report: provider findings, then encounters not used, then a summary."""
    if report is not None and report.batch_findings:
        yield "bold", "\nAcross claims (batch phase):"
        for f in report.batch_findings:
            yield (
                {"warning": "yellow", "info": "cyan"}.get(f.severity, ""),
                f"  {f.severity:<7} {f.rule_id:<12} provider {f.provider_npi}: {f.message}",
            )
            yield "dim", f"  {'':<20} fix: {f.fix}"
            yield "dim", f"  {'':<20} ref: {f.citation}"
    entries = encounter_entries(encounters, report)
    for entry in entries:
        if entry["status"] != "linked":
            yield (
                "red",
                (
                    f"✗ encounter {entry['encounter_id'] or '(no id)'} {entry['status']}: {entry['reason']}"
                    f"  ({entry['source']})"
                ),
            )
    if encounters is not None:
        s = encounters.summary()
        yield (
            "",
            (
                f"{s['encounters']} encounter record(s) beside the claims: {s['linked']} linked, "
                f"{s['unlinked']} unlinked, {s['invalid']} invalid"
            ),
        )
    if report is not None:
        c = report.cloned
        tested = sum(p["tested"] for p in report.providers)
        yield (
            "dim",
            (
                f"audit: {c.get('notes', 0)} notes compared for cloning (threshold {c.get('threshold', '-')}), "
                f"{c.get('clusters', 0)} cluster(s); {len(report.providers)} provider E/M mix(es) compared, "
                f"{tested} tested, {len(report.batch_findings)} flagged"
                + (f"; {len(report.not_compared)} provider(s) without a benchmark" if report.not_compared else "")
            ),
        )


def csv_more(rows: Iterable[dict]) -> str:
    """CSV rows (no header) in the scrub report's columns: the batch phase's rows after the claims'."""
    buf = io.StringIO()
    csv.DictWriter(buf, CSV_COLUMNS, extrasaction="ignore").writerows(rows)
    return buf.getvalue()
