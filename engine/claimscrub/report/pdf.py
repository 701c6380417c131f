"""HTML to PDF with WeasyPrint: the same page, printed with the stylesheet's print rules.

WeasyPrint needs Pango (Debian: libpango-1.0-0, libpangoft2-1.0-0); without it, or without the
package, the error says what to install. The HTML report never needs it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from claimscrub.report import ReportError


def write_pdf(html: str, path: str | Path) -> None:
    try:
        from weasyprint import HTML
    except ImportError:
        raise ReportError("PDF needs WeasyPrint: pip install 'claimscrub[report]'") from None
    except OSError as exc:  # the Python package is there, Pango is not
        raise ReportError(
            f"PDF needs Pango for WeasyPrint (Debian: apt-get install libpango-1.0-0 libpangoft2-1.0-0): {exc}"
        ) from None
    # base_url None and a fetcher that refuses everything: the report fetches nothing, ever. WeasyPrint's
    # HTML stylesheet parser warns about each SVG presentation property (fill, stroke, text-anchor) in
    # the charts' style attributes, which its SVG renderer then applies: those warnings are muted.
    logger = logging.getLogger("weasyprint")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        HTML(string=html, base_url=None, url_fetcher=_no_fetch).write_pdf(str(path))
    finally:
        logger.setLevel(level)


def _no_fetch(url: str, *args, **kwargs):
    raise ValueError(f"the report fetches nothing (asked for {url[:60]})")
