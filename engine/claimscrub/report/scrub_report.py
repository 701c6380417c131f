"""``claimscrub scrub --format html``: a scrub run as a page a billing manager reads.

Findings name a line by its number only, so the codes, charges and billing NPI of each claim are
kept while the claims stream past (:class:`LineIndex`, keyed by the item's source); nothing
about the patient is kept. Dollars at risk are the charges of lines with at least one
error-severity finding (a line counts once per category, and once in the total).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from claimscrub.report.charts import Chart, Series, bars, panels
from claimscrub.report.html import render
from claimscrub.report.text import label

TOP = 15


@dataclass(frozen=True, slots=True)
class ClaimLines:
    provider_npi: str
    lines: dict[int, tuple[str, Decimal]]  # sequence -> (code, charge)


@dataclass(slots=True)
class LineIndex:
    """Codes and charges of every claim read, by the item's source (what a finding's line number points at)."""

    claims: dict[str, ClaimLines] = field(default_factory=dict)

    def watch(self, items: Iterable[Any]) -> Iterator[Any]:
        for item in items:
            data = getattr(item, "data", None)
            if isinstance(data, dict):
                self.claims[item.source] = ClaimLines(
                    _npi(data),
                    {
                        int(ln.get("sequence") or 0): (str(ln.get("code") or ""), _charge(ln.get("charge")))
                        for ln in data.get("lines") or []
                        if isinstance(ln, dict)
                    },
                )
            yield item


def require_charts() -> None:
    """Fail fast (usage error) when the charting library of the ``report`` extra is not installed."""
    import importlib.util

    import click

    if importlib.util.find_spec("matplotlib") is None:
        raise click.UsageError("--format html needs the report extra: pip install 'claimscrub[report]'")


def _npi(data: dict[str, Any]) -> str:
    provider = data.get("billing_provider")
    return str(provider.get("npi") or "") if isinstance(provider, dict) else ""


def _charge(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return Decimal(0)


@dataclass(frozen=True, slots=True)
class Row:
    """One finding as the table shows it, with the line's code and charge."""

    finding: Any
    code: str
    charge: Decimal | None


@dataclass(frozen=True, slots=True)
class ClaimBlock:
    result: Any
    provider_npi: str
    rows: list[Row]
    at_risk: Decimal


@dataclass(slots=True)
class Tally:
    """What the summary counts: everything in one pass over the results."""

    categories: Counter[str] = field(default_factory=Counter)
    severities: Counter[str] = field(default_factory=Counter)
    rules: Counter[str] = field(default_factory=Counter)
    at_risk: defaultdict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    total_at_risk: Decimal = Decimal(0)
    codes: defaultdict[str, list] = field(default_factory=lambda: defaultdict(lambda: [0, Decimal(0)]))
    providers: defaultdict[str, list] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0, Decimal(0)]))


def blocks_and_tally(results: list[Any], index: LineIndex) -> tuple[list[ClaimBlock], Tally]:
    tally = Tally()
    blocks = []
    for r in results:
        claim = index.claims.get(r.source or "") or ClaimLines("", {})
        provider = tally.providers[claim.provider_npi or "(unknown)"]
        provider[0] += 1
        rows = []
        error_lines: dict[int, set[str]] = defaultdict(set)
        for f in r.findings:
            code, charge = claim.lines.get(f.line, ("", None)) if f.line is not None else ("", None)
            rows.append(Row(f, code, charge))
            tally.categories[f.category] += 1
            tally.severities[f.severity] += 1
            tally.rules[f.rule_id] += 1
            if code:
                tally.codes[code][0] += 1
            if f.severity == "error" and f.line in claim.lines:
                error_lines[f.line].add(f.category)
        at_risk = Decimal(0)
        for seq, cats in error_lines.items():
            code, charge = claim.lines[seq]
            at_risk += charge
            tally.codes[code][1] += charge
            for c in cats:
                tally.at_risk[c] += charge
        tally.total_at_risk += at_risk
        if r.findings:
            provider[1] += 1
            provider[2] += len(r.findings)
            provider[3] += at_risk
        if r.findings or r.status == "rejected":
            blocks.append(ClaimBlock(r, claim.provider_npi, rows, at_risk))
    return blocks, tally


def scrub_charts(tally: Tally) -> list[Chart]:
    cats = sorted(tally.categories, key=lambda c: (-tally.categories[c], c))
    severities = [s for s in ("error", "warning", "info") if tally.severities[s]]
    rules = sorted(tally.rules, key=lambda r: (-tally.rules[r], r))[:TOP]
    charts = [
        panels(
            "scrub-category",
            "Findings and dollars at risk, by category",
            [label(c) for c in cats],
            [
                ("findings", [Series("findings", [tally.categories[c] for c in cats])], "{:,.0f}"),
                (
                    "charges of lines with errors",
                    [Series("dollars", [float(tally.at_risk[c]) for c in cats])],
                    "${:,.0f}",
                ),
            ],
            caption="Dollars at risk: the charges of lines with at least one error finding of the category.",
        ),
        bars(
            "scrub-severity",
            "Findings by severity",
            severities,
            [Series("findings", [tally.severities[s] for s in severities])],
            axis="findings",
        ),
        bars(
            "scrub-rules",
            f"Rules that fired most (top {min(TOP, len(rules))})",
            rules,
            [Series("findings", [tally.rules[r] for r in rules])],
            axis="findings",
        ),
    ]
    return [c for c in charts if c is not None]


def scrub_html(results: list[Any], meta: dict[str, Any], index: LineIndex) -> str:
    """The whole page: summary, charts, top codes and providers, then the findings grouped by claim."""
    from claimscrub.output.writers import summary

    blocks, tally = blocks_and_tally(results, index)
    top_codes = sorted(tally.codes.items(), key=lambda kv: (-kv[1][1], -kv[1][0], kv[0]))[:TOP]
    top_providers = sorted(tally.providers.items(), key=lambda kv: (-kv[1][3], -kv[1][2], kv[0]))[:TOP]
    s = summary(results)
    return render(
        "scrub.html",
        s=s,
        clean=s["scrubbed"] - sum(bool(r.findings) for r in results if r.status == "scrubbed"),
        meta=meta,
        tally=tally,
        charts=scrub_charts(tally),
        blocks=blocks,
        top_codes=top_codes,
        top_providers=top_providers,
    )
