"""``claimscrub audit report``: the auditor's report of an appraised audit folder (issue #11).

The command is attached to the ``audit`` group wherever that group is defined (engine/claimscrub/cli/main.py
attaches it); it reads only the folder and writes report.html / report.pdf into it.
"""

from __future__ import annotations

import sys

import click


@click.command("report")
@click.argument("audit_dir", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "pdf", "both"]),
    default="html",
    show_default=True,
    help="report.html, report.pdf, or both (PDF needs claimscrub[report] and Pango).",
)
def report(audit_dir: str, fmt: str) -> None:
    """Write the audit report (summary, charts, per-claim detail, methodology) into AUDIT_DIR."""
    from claimscrub.report import ReportError
    from claimscrub.report.audit_report import write_audit_report

    formats = ("html", "pdf") if fmt == "both" else (fmt,)
    try:
        written = write_audit_report(audit_dir, formats)
    except ReportError as exc:
        click.echo(f"audit report: {exc}", err=True)
        sys.exit(2)
    for path in written:
        click.echo(f"wrote {path}", err=True)
