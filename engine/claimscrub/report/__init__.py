"""Reports a person reads: the audit report (HTML and PDF) and the scrub summary for a billing manager.

``audit_data`` loads an audit folder (the contract of issue #11), ``charts`` draws the figures as
inline SVG with matplotlib, ``html`` renders the Jinja2 templates (autoescaped), ``pdf`` prints the
HTML with WeasyPrint, and ``scrub_report`` turns a scrub run into the same kind of page.
"""

from __future__ import annotations


class ReportError(Exception):
    """A report that cannot be written: names the file or the missing dependency, never claim data."""
