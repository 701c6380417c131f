"""Charts as inline SVG, drawn with matplotlib (no browser, no network, no system library).

matplotlib was chosen over Vega-Lite/vl-convert: it installs from wheels everywhere, its SVG
keeps text as text (searchable, selectable, and read by ``pdftotext``), and WeasyPrint renders
it. Each bar or dot is a *mark*: its SVG group id is ``<chart>-mark-<n>``, so a test (or a
reader's tooling) can count what a chart draws. Ids are prefixed with the chart's name because
several SVGs share one HTML document. Output is deterministic (fixed hash salt, no date).
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass

from claimscrub.report import ReportError

PALETTE = ("#1f5f8b", "#e07b39", "#5a9e6f", "#b8405e", "#7d6bb3", "#8c8c8c")
FONT = "DejaVu Sans"


@dataclass(frozen=True, slots=True)
class Chart:
    name: str  # unique in the document: ids and the figure's data-chart attribute
    title: str
    svg: str
    marks: int
    caption: str = ""


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    values: Sequence[float]


def _matplotlib():
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError:
        raise ReportError("charts need matplotlib: pip install 'claimscrub[report]'") from None
    matplotlib.rcParams.update(
        {
            "svg.fonttype": "none",
            "svg.hashsalt": "claimscrub",
            "text.parse_math": False,
            "font.family": FONT,
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.titlesize": 10,
            "axes.titleweight": "bold",
        }
    )
    return Figure


def _svg(fig, name: str) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    text = buf.getvalue()
    text = text[text.index("<svg") :]  # no XML prolog or DOCTYPE inside HTML
    text = re.sub(r'\bid="([^"]+)"', rf'id="{name}-\1"', text)
    text = re.sub(r"url\(#([^)]+)\)", rf"url(#{name}-\1)", text)
    text = re.sub(r'xlink:href="#([^"]+)"', rf'xlink:href="#{name}-\1"', text)
    return text.replace("<svg ", f'<svg role="img" aria-label="{name}" ', 1)


def bars(
    name: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    axis: str = "",
    value_format: str = "{:,.0f}",
    caption: str = "",
    horizontal: bool = True,
) -> Chart | None:
    """Grouped bars, one group per label and one bar per series; None when there is nothing to draw."""
    return panels(name, title, labels, [(axis, series, value_format)], caption=caption, horizontal=horizontal)


def panels(
    name: str,
    title: str,
    labels: Sequence[str],
    panel_specs: Sequence[tuple[str, Sequence[Series], str]],
    *,
    caption: str = "",
    horizontal: bool = True,
) -> Chart | None:
    """Side-by-side bar panels over the same labels (e.g. lines in error and dollars, per category)."""
    if not labels or not any(any(v for v in s.values) for _, series, _ in panel_specs for s in series):
        return None
    Figure = _matplotlib()
    n = len(labels)
    width = 3.6 * len(panel_specs) + 1.2 if horizontal else 7.0
    height = max(1.6, 0.32 * n * max(1, len(panel_specs[0][1])) + 0.9) if horizontal else 2.8
    fig = Figure(figsize=(min(width, 7.6), height))
    axes = fig.subplots(1, len(panel_specs), sharey=horizontal, squeeze=False)[0]
    marks = 0
    for ax, (axis, series, fmt) in zip(axes, panel_specs):
        k = len(series)
        step = 0.8 / k
        for i, s in enumerate(series):
            offsets = [j - 0.4 + step * (i + 0.5) for j in range(n)]
            color = PALETTE[i % len(PALETTE)] if k > 1 else PALETTE[list(axes).index(ax) % len(PALETTE)]
            draw = ax.barh if horizontal else ax.bar
            container = draw(offsets, list(s.values), step * 0.92, color=color, label=s.label)
            for patch in container.patches:
                patch.set_gid(f"mark-{marks}")
                marks += 1
            ax.bar_label(container, labels=[fmt.format(v) if v else "" for v in s.values], padding=2, fontsize=7)
        if horizontal:
            ax.set_yticks(range(n), labels)
            if ax is axes[0]:  # the panels share the y axis: inverting each would undo it
                ax.invert_yaxis()
            ax.set_xlabel(axis)
            ax.margins(x=0.18)
        else:
            ax.set_xticks(range(n), labels)
            ax.set_ylabel(axis)
            ax.margins(y=0.15)
        if k > 1:
            ax.legend(frameon=False, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    fig.suptitle(title, fontsize=10, fontweight="bold", x=0.01, ha="left")
    return Chart(name, title, _svg(fig, name), marks, caption)


def sorted_bars(
    name: str,
    title: str,
    items: Sequence[tuple[str, float]],
    *,
    axis: str,
    value_format: str = "{:,.2f}",
    caption: str = "",
) -> Chart | None:
    """One bar per item, largest first (e.g. overpayment per sampled claim); zero items are drawn as dots."""
    if not items:
        return None
    Figure = _matplotlib()
    items = sorted(items, key=lambda kv: (-kv[1], kv[0]))
    fig = Figure(figsize=(7.2, max(1.8, 0.2 * len(items) + 0.9)))
    ax = fig.subplots()
    values = [v for _, v in items]
    ys = list(range(len(items)))
    container = ax.barh(ys, values, 0.7, color=[PALETTE[0] if v > 0 else PALETTE[5] for v in values])
    marks = 0
    for patch in container.patches:
        patch.set_gid(f"mark-{marks}")
        marks += 1
    zero = [y for y, v in zip(ys, values) if v == 0]
    if zero:
        dots = ax.scatter([0] * len(zero), zero, s=10, color=PALETTE[5], zorder=3)
        dots.set_gid(f"mark-{marks}")
        marks += 1
    ax.bar_label(container, labels=[value_format.format(v) if v else "" for v in values], padding=2, fontsize=7)
    ax.set_yticks(ys, [k for k, _ in items], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(axis)
    ax.margins(x=0.15, y=0.01)
    fig.suptitle(title, fontsize=10, fontweight="bold", x=0.01, ha="left")
    return Chart(name, title, _svg(fig, name), marks, caption)
