"""What the audit report shows, derived from a loaded audit: the summary figures and the charts.

Pure functions of :class:`~.audit_data.Audit` (and the peer benchmark table): no I/O. Figures are
taken from ``appraisal.json`` as written; only counts and sums for the charts are made here.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from claimscrub.report.audit_data import Audit, money
from claimscrub.report.charts import Chart, Series, bars, panels, sorted_bars
from claimscrub.report.text import label, money_text, pct_text

CERT_ORDER = ("no_documentation", "insufficient_documentation", "medical_necessity", "incorrect_coding", "other")


@dataclass(frozen=True, slots=True)
class Figure:
    """One result of the summary table: its appraisal key, its raw value (as in the JSON) and its text."""

    key: str
    label: str
    value: Any
    text: str


def summary_figures(audit: Audit) -> list[Figure]:
    a = audit.appraisal
    rates = a.get("rates") or {}
    over = a.get("overpayment") or {}
    rows = [
        ("rates.claim_error_rate", "Claim error rate", rates.get("claim_error_rate"), pct_text),
        ("rates.line_error_rate", "Line error rate", rates.get("line_error_rate"), pct_text),
        (
            "rates.payment_error_rate_gross",
            "Payment error rate (gross)",
            rates.get("payment_error_rate_gross"),
            pct_text,
        ),
        (
            "rates.payment_error_rate_net",
            "Payment error rate (net of underpayments)",
            rates.get("payment_error_rate_net"),
            pct_text,
        ),
        (
            "overpayment.point_estimate",
            "Estimated overpayment (point estimate)",
            over.get("point_estimate"),
            money_text,
        ),
        (
            "overpayment.lower_limit_90_one_sided",
            "Lower limit, one-sided 90% confidence",
            over.get("lower_limit_90_one_sided"),
            money_text,
        ),
        ("overpayment.precision_90", "Precision (90% half-width / point estimate)", over.get("precision_90"), pct_text),
    ]
    under = a.get("underpayment")
    if isinstance(under, dict) and under.get("point_estimate") is not None:
        rows.append(
            (
                "underpayment.point_estimate",
                "Estimated underpayment (point estimate)",
                under.get("point_estimate"),
                money_text,
            )
        )
    return [Figure(key, text, value, fmt(value)) for key, text, value, fmt in rows]


def audit_charts(audit: Audit, benchmarks: Any = None) -> list[Chart]:
    """Every chart of the report, in reading order; a chart with no data is left out (and said)."""
    charts = [
        by_error_category(audit),
        by_rule_category(audit),
        error_rate_by_stratum(audit),
        em_billed_vs_supported(audit),
        em_against_peers(audit, benchmarks),
        overpayment_per_claim(audit),
    ]
    return [c for c in charts if c is not None]


def by_error_category(audit: Audit) -> Chart | None:
    rows = {r.get("error_category") or "other": r for r in audit.appraisal.get("by_category") or []}
    cats = [c for c in CERT_ORDER if c in rows] + sorted(set(rows) - set(CERT_ORDER))
    return panels(
        "error-category",
        "Lines in error and dollars overpaid, by error category",
        [label(c) for c in cats],
        [
            ("lines in error", [Series("lines", [int(rows[c].get("lines") or 0) for c in cats])], "{:,.0f}"),
            (
                "dollars overpaid",
                [Series("dollars", [float(money(rows[c].get("amount")) or 0) for c in cats])],
                "${:,.2f}",
            ),
        ],
        caption="From appraisal.json (by_category): CERT error categories of the sampled lines in error.",
    )


def by_rule_category(audit: Audit) -> Chart | None:
    """Findings per rule category, and the dollars overpaid on the lines those findings name."""
    findings: Counter[str] = Counter()
    dollars: defaultdict[str, Decimal] = defaultdict(Decimal)
    for claim in audit.claims:
        for f in claim.claim_findings:
            findings[str(f.get("category") or "other")] += 1
        for line in claim.lines:
            flagged = {str(f.get("category") or "other") for f in line.findings}
            for f in line.findings:
                findings[str(f.get("category") or "other")] += 1
            if line.determination.determination == "overpaid":
                for c in flagged:
                    dollars[c] += line.determination.amount or Decimal(0)
    cats = sorted(findings, key=lambda c: (-findings[c], c))
    return panels(
        "rule-category",
        "Findings and dollars overpaid, by rule category",
        [label(c) for c in cats],
        [
            ("findings", [Series("findings", [findings[c] for c in cats])], "{:,.0f}"),
            ("dollars overpaid on flagged lines", [Series("dollars", [float(dollars[c]) for c in cats])], "${:,.2f}"),
        ],
        caption="Findings of the scrubber on the sampled claims; a line flagged in two categories counts in both.",
    )


def error_rate_by_stratum(audit: Audit) -> Chart | None:
    bounds = {str(s.get("id")): s for s in audit.sample.get("strata") or []}
    names, rates = [], []
    for s in audit.appraisal.get("strata") or []:
        n = int(s.get("sample_size") or 0)
        errors = int(s.get("errors") or 0)
        b = bounds.get(str(s.get("id")), {})
        names.append(f"Stratum {s.get('id')} ({stratum_range(b)}): {errors}/{n}")
        rates.append(100.0 * errors / n if n else 0.0)
    return bars(
        "stratum-rate",
        "Sampled claims in error, by stratum",
        names,
        [Series("claims in error", rates)],
        axis="percent of sampled claims",
        value_format="{:.1f}%",
        caption="Claims with at least one line overpaid or underpaid, out of the claims sampled in the stratum.",
    )


def stratum_range(s: dict[str, Any]) -> str:
    lower, upper = money(s.get("lower")), money(s.get("upper"))
    if s.get("certainty"):
        return "certainty"
    if lower is None and upper is None:
        return "all paid amounts"
    if upper is None:
        return f"paid ≥ {money_text(lower)}"
    return f"paid {money_text(lower or 0)} to < {money_text(upper)}"


def em_billed_vs_supported(audit: Audit) -> Chart | None:
    billed = Counter(str(e.get("billed_code")) for e in audit.em_levels if e.get("billed_code"))
    supported = Counter(str(e.get("supported_code")) for e in audit.em_levels if e.get("supported_code"))
    codes = sorted(set(billed) | set(supported))
    return bars(
        "em-levels",
        "E/M levels billed and supported by the documentation",
        codes,
        [Series("billed", [billed[c] for c in codes]), Series("supported", [supported[c] for c in codes])],
        axis="E/M services in the sample",
        horizontal=False,
        caption=f"{sum(billed.values())} E/M services reviewed; each counted at the level billed and at the "
        f"level the reviewer found supported.",
    )


def em_against_peers(audit: Audit, benchmarks: Any) -> Chart | None:
    """Each provider's billed E/M mix in the sample next to the peer benchmark that covers those codes."""
    if benchmarks is None or not audit.em_levels:
        return None
    per_provider: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for e in audit.em_levels:
        per_provider[str(e.get("provider_npi") or "unknown")][str(e.get("billed_code"))] += 1
    everything = sum(per_provider.values(), Counter())
    bench = max(
        benchmarks.benchmarks,
        default=None,
        key=lambda b: (sum(everything[c] for c in b.codes), b.specialty == benchmarks.default_specialty),
    )
    if bench is None or not any(everything[c] for c in bench.codes):
        return None
    codes = list(bench.codes)
    series = []
    for npi, counts in sorted(per_provider.items()):
        n = sum(counts[c] for c in codes)
        if n:
            series.append(Series(f"NPI {npi} (n={n})", [100.0 * counts[c] / n for c in codes]))
    series.append(Series(f"peers: {bench.describe()}", [float(bench.shares[c]) for c in codes]))
    return bars(
        "em-peers",
        "E/M level distribution against the peer benchmark",
        codes,
        series,
        axis="percent of visits",
        value_format="{:.0f}%",
        horizontal=False,
        caption=f"Shares of the sampled visits billed with each code, against {bench.edition()}. "
        f"A sample of a few visits describes; the statistical test is the scrub's batch phase.",
    )


def overpayment_per_claim(audit: Audit) -> Chart | None:
    items = [
        (f"#{u.get('sample_no')} {u.get('claim_id')}", float(money(u.get("overpayment")) or 0))
        for u in audit.appraisal.get("units") or []
    ]
    return sorted_bars(
        "overpayment-claims",
        "Overpayment per sampled claim",
        items,
        axis="dollars overpaid",
        value_format="${:,.2f}",
        caption="Every sampled claim, largest overpayment first; grey dots are claims found correct.",
    )
