"""``claimscrub audit report``: an audit folder to report.html (and report.pdf) in the same folder."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from claimscrub.report.audit_data import Audit, load_audit
from claimscrub.report.audit_view import audit_charts, stratum_range, summary_figures
from claimscrub.report.html import render

CHART_NAMES = {
    "error-category": "by error category",
    "rule-category": "by rule category",
    "stratum-rate": "error rate by stratum",
    "em-levels": "E/M levels billed and supported",
    "em-peers": "E/M levels against peers",
    "overpayment-claims": "overpayment per sampled claim",
}


@dataclass(frozen=True, slots=True)
class Reviewed:
    total: int  # sampled lines
    lines: int  # lines with a determination other than not_reviewed
    qa: int  # lines with a QA verdict
    disagree: int


def reviewed(audit: Audit) -> Reviewed:
    lines = [ln.determination for c in audit.claims for ln in c.lines]
    return Reviewed(
        total=len(lines),
        lines=sum(d.determination != "not_reviewed" for d in lines),
        qa=sum(bool(d.qa_verdict) for d in lines),
        disagree=sum(d.qa_verdict == "disagree" for d in lines),
    )


def audit_html(audit: Audit, benchmarks=None, today: dt.date | None = None) -> str:
    """The whole report as one self-contained HTML page (peers from the bundled benchmark table by default)."""
    if benchmarks is None:
        from claimscrub.documentation.emstats import load_benchmarks

        benchmarks = load_benchmarks()
    charts = audit_charts(audit, benchmarks)
    drawn = {c.name for c in charts}
    return render(
        "audit.html",
        audit=audit,
        figures=summary_figures(audit),
        charts=charts,
        missing_charts=[text for name, text in CHART_NAMES.items() if name not in drawn],
        reviewed=reviewed(audit),
        stratum_ranges={str(s.get("id")): stratum_range(s) for s in audit.sample.get("strata") or []},
        generated=(today or dt.datetime.now(dt.UTC).date()).isoformat(),
    )


def write_audit_report(folder: str | Path, formats: tuple[str, ...] = ("html",), benchmarks=None) -> list[Path]:
    """Write report.html and/or report.pdf into the audit folder; returns the paths written."""
    audit = load_audit(folder)
    page = audit_html(audit, benchmarks)
    written = []
    if "html" in formats:
        path = audit.folder / "report.html"
        path.write_text(page, encoding="utf-8")
        written.append(path)
    if "pdf" in formats:
        from claimscrub.report.pdf import write_pdf

        path = audit.folder / "report.pdf"
        write_pdf(page, path)
        written.append(path)
    return written
