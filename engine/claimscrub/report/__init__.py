"""Reports a person reads: the audit report (HTML and PDF) and the scrub summary for a billing manager.

``audit_data`` loads an audit folder (the contract of issue #11), ``audit_view`` derives the
summary figures and charts from it, ``audit_report`` writes report.html / report.pdf;
``scrub_report`` turns a scrub run into the same kind of page. Shared: ``charts`` (inline SVG
drawn by matplotlib), ``html`` (Jinja2 templates, autoescaped), ``pdf`` (WeasyPrint) and
``text`` (how money, rates and counts read).
"""

from __future__ import annotations


class ReportError(Exception):
    """A report that cannot be written: names the file or the missing dependency, never claim data."""
