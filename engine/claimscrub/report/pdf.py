"""HTML to PDF with WeasyPrint: the same page, printed with the stylesheet's print rules.

WeasyPrint needs Pango (Debian: libpango-1.0-0, libpangoft2-1.0-0); without it, or without the
package, the error says what to install. The HTML report never needs it.
"""

from __future__ import annotations

from pathlib import Path

from claimscrub.report import ReportError


def write_pdf(html: str, path: str | Path) -> None:
    try:
        from weasyprint import HTML
    except ImportError:
        raise ReportError("PDF needs WeasyPrint: pip install 'claimscrub[report]'") from None
    except OSError as exc:  # the Python package is there, Pango is not
        raise ReportError(f"PDF needs Pango for WeasyPrint (Debian: apt-get install libpango-1.0-0 "
                          f"libpangoft2-1.0-0): {exc}") from None
    # base_url None and a fetcher that refuses everything: the report fetches nothing, ever
    HTML(string=html, base_url=None, url_fetcher=_no_fetch).write_pdf(str(path))


def _no_fetch(url: str, *args, **kwargs):
    raise ValueError(f"the report fetches nothing (asked for {url[:60]})")
