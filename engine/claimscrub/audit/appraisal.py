"""The appraisal document: rates, the projected overpayment (and underpayment) and a text summary.

Builds appraisal.json (the folder contract) from design.yaml, sample.csv and determinations.csv;
the statistics themselves are in :mod:`.stats.appraise`. Every sampled line must carry a
determination: an appraisal over lines nobody reviewed would count them as correct silently.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path
from typing import Any

from claimscrub import __version__
from claimscrub.audit.design import AuditError
from claimscrub.audit.money import cents_of, dollars, round_cents
from claimscrub.audit.stats.appraise import Estimate, StratumSample, estimate_total

FORMULAS = [
    "point estimate = sum over strata of N_h x mean_h (SRS: N x mean); a certainty stratum adds its actual total",
    "SE = sqrt(sum N_h^2 (1 - n_h/N_h) s_h^2 / n_h) (finite population correction; s_h^2 with n_h - 1)",
    "df = n - 1 for one stratum; Satterthwaite's df for several (Cochran 1977, section 5.4)",
    "two-sided c% interval = estimate -/+ t(1 - (1 - c)/2, df) x SE; one-sided 90% limits = estimate -/+ t(0.90, df) x SE",
    "precision_90 = t(0.95, df) x SE / estimate (half-width of the two-sided 90% interval, as a fraction)",
    "payment error rate gross = overpaid / paid in the sample; net = (overpaid - underpaid) / paid",
]


def read_sample(folder: Path) -> list[dict[str, str]]:
    path = folder / "sample.csv"
    if not path.is_file():
        raise AuditError("no sample.csv: run 'claimscrub audit sample' first")
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _money(value: float) -> str:
    return dollars(round_cents(value))


def estimate_dict(e: Estimate) -> dict[str, Any]:
    return {
        "point_estimate": _money(e.point),
        "standard_error": _money(e.standard_error),
        "df": round(e.df, 4),
        "t_90_one_sided": round(e.t_90_one_sided, 6),
        "lower_limit_90_one_sided": _money(e.lower_90_one_sided),
        "upper_limit_90_one_sided": _money(e.upper_90_one_sided),
        "precision_90": None if e.precision_90 is None else round(e.precision_90, 6),
        "intervals": {str(level): [_money(lo), _money(hi)] for level, (lo, hi) in e.intervals.items()},
    }


def build(
    design: dict[str, Any], sample: list[dict[str, str]], state: list[dict[str, str]], review: dict[str, Any] | None
) -> dict[str, Any]:
    open_lines = [r for r in state if r["determination"] == "not_reviewed"]
    if open_lines:
        raise AuditError(
            f"{len(open_lines)} sampled line(s) have no determination yet (e.g. claim "
            f"{open_lines[0]['claim_id']} line {open_lines[0]['line'] or '-'}): import the worksheet first"
        )
    over: dict[str, int] = defaultdict(int)
    under: dict[str, int] = defaultdict(int)
    categories: dict[str, list[str]] = defaultdict(list)
    for r in state:
        cents = cents_of(r["amount"]) if r["amount"] else 0
        if r["determination"] == "overpaid":
            over[r["sample_no"]] += cents
        elif r["determination"] == "underpaid":
            under[r["sample_no"]] += cents
        if r["determination"] in ("overpaid", "underpaid"):
            categories[r["sample_no"]].append(r["error_category"])
    spec = design["sample"]
    units_by_stratum: dict[int, list[dict[str, str]]] = defaultdict(list)
    for s in sample:
        units_by_stratum[int(s["stratum"])].append(s)
    strata_design = {int(s["id"]): s for s in spec["strata"]}

    def strata_of(values: dict[str, int]) -> list[StratumSample]:
        return [
            StratumSample(
                h,
                int(strata_design[h]["units"]),
                tuple(values.get(u["sample_no"], 0) / 100 for u in units_by_stratum[h]),
                bool(strata_design[h]["certainty"]),
            )
            for h in sorted(units_by_stratum)
        ]

    overpayment = estimate_total(strata_of(over), "overpayment")
    underpayment = estimate_total(strata_of(under), "underpayment") if any(under.values()) else None
    paid = sum(cents_of(s["paid_amount"]) for s in sample)
    claims = {r["claim_id"] for r in state}
    claims_in_error = {r["claim_id"] for r in state if r["determination"] in ("overpaid", "underpaid")}
    lines = [r for r in state if r["line"]]
    over_total, under_total = sum(over.values()), sum(under.values())
    by_category: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in state:
        if r["determination"] in ("overpaid", "underpaid"):
            by_category[r["error_category"]][0] += 1
            by_category[r["error_category"]][1] += cents_of(r["amount"])
    strata_out = []
    for h, members in sorted(units_by_stratum.items()):
        values = [over.get(u["sample_no"], 0) / 100 for u in members]
        stratum = StratumSample(h, int(strata_design[h]["units"]), tuple(values), bool(strata_design[h]["certainty"]))
        strata_out.append(
            {
                "id": h,
                "units": stratum.units,
                "sample_size": stratum.n,
                "errors": sum(1 for u in members if over.get(u["sample_no"]) or under.get(u["sample_no"])),
                "mean_overpayment": _money(stratum.mean),
                "sd_overpayment": _money(stratum.variance**0.5),
                "paid_total": strata_design[h]["paid_total"],
                "estimate": _money(overpayment.stratum_estimates[h]),
            }
        )
    edge = list(overpayment.edge_cases) + (underpayment.edge_cases if underpayment else [])
    checked = [r for r in state if r.get("qa_verdict")]
    disagreed = [r for r in checked if r["qa_verdict"] == "disagree"]
    if disagreed:
        edge.append(
            f"{len(disagreed)} line(s) with a QA disagreement not yet resolved: the reviewer's determination is used"
        )
    return {
        "design": spec,
        "universe": {"units": design["frame"]["units"], "paid_total": design["frame"]["paid_total"]},
        "sample": {"units": len(sample), "lines": len(lines), "paid_total": dollars(paid)},
        "rates": {
            "claim_error_rate": len(claims_in_error) / len(claims) if claims else 0.0,
            "line_error_rate": sum(r["determination"] in ("overpaid", "underpaid") for r in lines) / len(lines)
            if lines
            else 0.0,
            "payment_error_rate_gross": over_total / paid if paid else 0.0,
            "payment_error_rate_net": (over_total - under_total) / paid if paid else 0.0,
        },
        "overpayment": estimate_dict(overpayment),
        "underpayment": estimate_dict(underpayment) if underpayment else None,
        "strata": strata_out,
        "units": [
            {
                "sample_no": int(u["sample_no"]),
                "unit_id": u["unit_id"],
                "claim_id": u["claim_id"],
                "stratum": int(u["stratum"]),
                "paid_amount": u["paid_amount"],
                "overpayment": dollars(over.get(u["sample_no"], 0)),
                "underpayment": dollars(under.get(u["sample_no"], 0)),
                "error_category": " ".join(dict.fromkeys(categories.get(u["sample_no"], []))),
            }
            for u in sample
        ],
        "by_category": [
            {"error_category": c, "lines": n, "amount": dollars(a)} for c, (n, a) in sorted(by_category.items())
        ],
        "qa": {
            "lines_checked": len(checked),
            "agreed": len(checked) - len(disagreed),
            "disagreed": len(disagreed),
            "disagreements": [
                {"claim_id": r["claim_id"], "line": r["line"], "qa_reviewer": r["qa_reviewer"], "qa_note": r["qa_note"]}
                for r in disagreed
            ],
        },
        "edge_cases": edge,
        "formulas": FORMULAS,
        "software_version": __version__,
        "rule_packs": (review or {}).get("rule_packs", {}),
        "data_editions": (review or {}).get("data_editions", {}),
    }


def text(doc: dict[str, Any], name: str) -> str:
    """appraisal.txt: the figures an auditor quotes, laid out like a sampling package's appraisal table."""
    o, rates = doc["overpayment"], doc["rates"]
    design = doc["design"]
    precision = "n/a" if o["precision_90"] is None else f"{o['precision_90']:.2%}"
    out = [
        f"Appraisal of audit {name} (claimscrub {doc['software_version']})",
        (
            f"Design: {design['method']}, seed {design['seed']}, {doc['sample']['units']} sampled unit(s), "
            f"{len(design['strata'])} stratum/strata; generator {design['rng']}"
        ),
        (
            f"Estimator: {'stratified, sum of N_h x mean_h' if len(design['strata']) > 1 else 'mean per unit, N x mean'}"
            f"; finite population correction; Student's t at {o['df']} df"
        ),
        f"Universe: {doc['universe']['units']} unit(s), paid {doc['universe']['paid_total']}",
        f"Sample:   {doc['sample']['units']} unit(s), {doc['sample']['lines']} line(s), paid {doc['sample']['paid_total']}",
        "",
        f"Claim error rate          {rates['claim_error_rate']:.2%}",
        f"Line error rate           {rates['line_error_rate']:.2%}",
        f"Payment error rate gross  {rates['payment_error_rate_gross']:.2%}",
        f"Payment error rate net    {rates['payment_error_rate_net']:.2%}",
        "",
        "Overpayment projected to the universe",
        f"  point estimate            {o['point_estimate']:>14}",
        f"  standard error            {o['standard_error']:>14}",
        f"  degrees of freedom        {o['df']:>14}",
        f"  t (one-sided 90%)         {o['t_90_one_sided']:>14}",
        f"  90% one-sided lower limit {o['lower_limit_90_one_sided']:>14}   (CMS PIM ch. 8 basis)",
        f"  90% one-sided upper limit {o['upper_limit_90_one_sided']:>14}",
        f"  precision (90%, 2-sided)  {precision:>14}",
    ]
    for level, (lo, hi) in o["intervals"].items():
        out.append(f"  {level}% two-sided interval   {lo:>14} to {hi}")
    if doc["underpayment"]:
        u = doc["underpayment"]
        out += [
            "",
            "Underpayment projected to the universe (reported separately)",
            (
                f"  point estimate {u['point_estimate']}, SE {u['standard_error']}, 90% one-sided lower limit "
                f"{u['lower_limit_90_one_sided']}"
            ),
        ]
    out += ["", "Strata:"]
    for s in doc["strata"]:
        out.append(
            f"  {s['id']}: N={s['units']} n={s['sample_size']} errors={s['errors']} mean={s['mean_overpayment']} "
            f"sd={s['sd_overpayment']} estimate={s['estimate']}"
        )
    if doc["by_category"]:
        out += ["", "By error category:"]
        out += [f"  {c['error_category'] or '(none)'}: {c['lines']} line(s), {c['amount']}" for c in doc["by_category"]]
    qa = doc["qa"]
    if qa["lines_checked"]:
        out += [
            "",
            (
                f"QA peer review: {qa['lines_checked']} line(s) checked, {qa['agreed']} agreed, "
                f"{qa['disagreed']} disagreed"
            ),
        ]
        out += [
            f"  disagree: claim {d['claim_id']} line {d['line'] or '-'} ({d['qa_reviewer']}): {d['qa_note']}"
            for d in qa["disagreements"]
        ]
    if doc["edge_cases"]:
        out += ["", "Notes:"] + [f"  - {e}" for e in doc["edge_cases"]]
    return "\n".join(out) + "\n"
