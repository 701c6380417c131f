"""The demo audit report as a reader gets it: opened in headless Chromium, and printed to PDF.

Chromium (Debian's ``chromium``) is driven over the DevTools protocol (tests/chromium.py); the
PDF (WeasyPrint) is turned into pages with poppler's pdftoppm and pdftotext. Each part skips,
saying what is missing, where the tool is not installed (``.ci/run`` installs them).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("matplotlib", reason="the report charts need the report extra (matplotlib)")
np = pytest.importorskip("numpy", reason="matplotlib brings numpy")

from chromium import Browser, chromium_path  # noqa: E402 - after the skip: the report extra may be absent
from click.testing import CliRunner  # noqa: E402

from claimscrub.cli.main import main  # noqa: E402
from claimscrub.report.audit_data import load_audit  # noqa: E402
from claimscrub.report.audit_view import summary_figures  # noqa: E402

DEMO = Path(__file__).resolve().parent / "fixtures" / "audit_demo"
CHARTS = ("error-category", "rule-category", "stratum-rate", "em-levels", "em-peers", "overpayment-claims")
CHART_TITLES = (
    "by error category",
    "by rule category",
    "by stratum",
    "supported by the documentation",
    "against the peer benchmark",
    "Overpayment per sampled claim",
)
BAR_COLOURS = ((0x1F, 0x5F, 0x8B), (0xE0, 0x7B, 0x39))  # the first two of charts.PALETTE


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("audit") / "audit_demo"
    shutil.copytree(DEMO, folder, ignore=shutil.ignore_patterns("*.py", "report.*"))
    result = CliRunner().invoke(main, ["audit", "report", str(folder)])
    assert result.exit_code == 0, result.output
    return folder


@pytest.fixture(scope="module")
def appraisal() -> dict:
    return json.loads((DEMO / "appraisal.json").read_text())


def expected_figures(appraisal: dict) -> dict[str, tuple[str, str]]:
    """key -> (raw value as the JSON has it, the text a reader sees), written out here, not by the report."""
    rates, over = appraisal["rates"], appraisal["overpayment"]
    out = {f"rates.{k}": (str(v), f"{v * 100:.1f}%") for k, v in rates.items()}
    for k in ("point_estimate", "lower_limit_90_one_sided"):
        out[f"overpayment.{k}"] = (over[k], f"${float(over[k]):,.2f}")
    out["overpayment.precision_90"] = (str(over["precision_90"]), f"{over['precision_90'] * 100:.1f}%")
    return out


# --------------------------------------------------------------------------- the browser


@pytest.fixture(scope="module")
def browser(report):
    if chromium_path() is None:
        pytest.skip("chromium not installed (Debian package 'chromium'; .ci/run installs it)")
    b = Browser()
    try:
        b.open(report / "report.html")
        yield b
    finally:
        b.close()


def test_opens_without_console_errors_or_network_requests(browser, report):
    assert browser.console_problems() == []
    assert browser.requests() == [(report / "report.html").resolve().as_uri()]  # the page itself, nothing else


def test_each_chart_has_marks_in_the_dom(browser):
    charts = browser.evaluate("""[...document.querySelectorAll('figure.chart')].map(f => ({
        name: f.dataset.chart, declared: +f.dataset.marks,
        marks: f.querySelectorAll('svg [id^="' + f.dataset.chart + '-mark-"]').length,
        drawn: [...f.querySelectorAll('svg [id^="' + f.dataset.chart + '-mark-"] path')]
                 .filter(p => p.getBoundingClientRect().width > 0 || p.getBoundingClientRect().height > 0).length,
        width: f.querySelector('svg').getBoundingClientRect().width}))""")
    assert [c["name"] for c in charts] == list(CHARTS)
    for c in charts:
        assert c["marks"] == c["declared"] > 0, c
        assert c["drawn"] > 0 and c["width"] > 300, c


def test_summary_figures_in_the_dom_equal_the_appraisal(browser, appraisal):
    shown = browser.evaluate("""Object.fromEntries([...document.querySelectorAll('[data-figure]')].map(
        e => [e.dataset.figure, [e.dataset.value, e.textContent.trim()]]))""")
    for key, (value, text) in expected_figures(appraisal).items():
        assert shown[key] == [value, text], key
    assert shown["universe.units"][0] == str(appraisal["universe"]["units"])


def test_screenshots_of_the_first_page_and_of_a_chart(browser, report):
    first = browser.screenshot(report / "first_page.png")
    box = browser.evaluate("""(() => { const r = document.querySelector('#chart-em-levels').getBoundingClientRect();
        return {x: r.x + scrollX, y: r.y + scrollY, width: r.width, height: r.height}; })()""")
    chart = browser.screenshot(report / "chart_em_levels.png", box)
    for png in (first, chart):
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert int.from_bytes(first[16:20], "big") == 1200  # the viewport's width, from the IHDR chunk
    assert box["height"] > 200


# --------------------------------------------------------------------------- the PDF


@pytest.fixture(scope="module")
def pdf_pages(report, tmp_path_factory) -> list[tuple[str, bytes]]:
    """(text, PPM image) of every page of report.pdf."""
    pytest.importorskip("weasyprint", reason="PDF needs WeasyPrint (claimscrub[report]) and Pango")
    for tool in ("pdftoppm", "pdftotext"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed (Debian package 'poppler-utils'; .ci/run installs it)")
    result = CliRunner().invoke(main, ["audit", "report", str(report), "--format", "pdf"])
    assert result.exit_code == 0, result.output
    pdf = report / "report.pdf"
    out = tmp_path_factory.mktemp("pages")
    subprocess.run(["pdftoppm", "-r", "40", str(pdf), str(out / "page")], check=True, timeout=300)
    pages = []
    for n, image in enumerate(sorted(out.glob("page-*.ppm")), start=1):
        text = subprocess.run(
            ["pdftotext", "-layout", "-f", str(n), "-l", str(n), str(pdf), "-"],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
        pages.append((text, image.read_bytes()))
    return pages


def bar_pixels(ppm: bytes) -> int:
    """Pixels of the charts' bar colours in a binary PPM (P6) page."""
    magic, width, height, maxval, pixels = ppm.split(maxsplit=4)
    assert magic == b"P6" and maxval == b"255"
    rgb = np.frombuffer(pixels, dtype=np.uint8)[: int(width) * int(height) * 3].reshape(-1, 3).astype(int)
    return int(sum((np.abs(rgb - colour).max(axis=1) < 12).sum() for colour in BAR_COLOURS))


def test_every_pdf_page_has_text_and_chart_pages_have_charts(pdf_pages):
    assert len(pdf_pages) >= 4
    for n, (text, _image) in enumerate(pdf_pages, start=1):
        assert len(text.split()) > 10, f"page {n} has no text"
    for title in CHART_TITLES:
        pages = [(n, img) for n, (text, img) in enumerate(pdf_pages, start=1) if title in " ".join(text.split())]
        assert pages, f"no page holds the chart '{title}'"
        assert bar_pixels(pages[0][1]) > 400, f"page {pages[0][0]} names '{title}' but shows no bars"
    last_image = pdf_pages[-1][1]
    assert "Methodology" in " ".join(t for t, _ in pdf_pages[-3:]) and bar_pixels(last_image) < 400


def test_pdf_shows_the_same_figures_as_the_html(pdf_pages, report, appraisal):
    first = " ".join(pdf_pages[0][0].split())
    for key, (_value, text) in expected_figures(appraisal).items():
        assert text in first, key
    shown = {f.key: f.text for f in summary_figures(load_audit(report))}
    assert all(shown[k] in first for k in shown)
