"""Proposed determinations: what each sampled line's findings say was overpaid, in dollars and why.

Pure functions over one line, its findings and its E/M level; the mapping from findings to CERT
categories and dollar actions is data (rules/audit/cert_categories.yaml), so an audit team can
change it and the audit folder records which mapping was used. Proposals are only proposals: the
worksheet carries them beside the columns the auditor fills in.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from claimscrub.audit.fees import Fee, em_difference
from claimscrub.resources import rules_dir

CERT_CATEGORIES = ("no_documentation", "insufficient_documentation", "medical_necessity", "incorrect_coding", "other")
ACTIONS = ("deny_line", "units_over_limit", "em_level", "em_under", "flag")
DETERMINATIONS = ("correct", "overpaid", "underpaid", "not_reviewed")


@dataclass(frozen=True, slots=True)
class Mapping:
    category: str
    action: str
    reason: str


def mapping_path() -> Path:
    return rules_dir() / "audit" / "cert_categories.yaml"


@functools.cache
def load_mappings(path: Path | None = None) -> dict[str, Any]:
    raw = yaml.safe_load((path or mapping_path()).read_text())

    def entry(value: dict[str, str], where: str) -> Mapping:
        m = Mapping(str(value["category"]), str(value["action"]), str(value.get("reason", "")))
        if m.category not in CERT_CATEGORIES or m.action not in ACTIONS:
            raise ValueError(f"cert_categories.yaml {where}: unknown category or action")
        return m

    return {
        "rules": {k: entry(v, k) for k, v in (raw.get("rules") or {}).items()},
        "categories": {k: entry(v, k) for k, v in (raw.get("categories") or {}).items()},
        "default": entry(raw["default"], "default"),
        "no_record": entry(raw["no_record"], "no_record"),
    }


def mapping_for(finding: dict[str, Any], maps: dict[str, Any]) -> Mapping:
    m = maps["rules"].get(finding["rule_id"]) or maps["categories"].get(finding["category"]) or maps["default"]
    if finding.get("line") is None or (finding.get("severity") != "error" and m.action != "em_under"):
        return Mapping(m.category, "flag", m.reason)  # claim-level or not an error: the auditor decides
    return m


@dataclass(slots=True)
class LineFacts:
    """What a proposal for one sampled line needs (already read from the claim and the scrub)."""

    claim_id: str
    sequence: int
    code: str
    units: Decimal
    paid_cents: int
    allowed_cents: int | None
    from_date: str
    place_of_service: str | None
    findings: list[dict[str, Any]] = field(default_factory=list)  # on this line, and the claim's own
    units_of_code_on_date: Decimal = Decimal(0)  # across the claim, for MUE per-day limits
    em_supported_code: str | None = None
    no_record: bool = False  # records were given for the review and none documents this claim


@dataclass(slots=True)
class Proposal:
    determination: str
    category: str
    amount_cents: int
    reason: str
    basis: list[str] = field(default_factory=list)  # how each figure was computed


def _mue_share(facts: LineFacts, finding: dict[str, Any]) -> tuple[int, str]:
    row = finding.get("table_row") or {}
    limit = row.get("mue_units")
    if limit is None or not facts.units:
        return facts.paid_cents, "MUE limit not known: the whole line"
    total = max(facts.units_of_code_on_date, facts.units)
    over = min(max(total - Decimal(str(limit)), Decimal(0)), facts.units)
    cents = int((facts.paid_cents * over / facts.units).to_integral_value())
    return cents, f"{over} of {facts.units} unit(s) over the MUE of {limit} ({total} on the date)"


def propose(facts: LineFacts, fee: Any, maps: dict[str, Any] | None = None) -> Proposal:
    """The line's proposed determination; ``fee(code, dos, pos) -> Fee | None`` prices E/M levels."""
    maps = maps or load_mappings()
    candidates: list[tuple[int, Mapping, str]] = []
    under: list[tuple[int, Mapping, str]] = []
    flags: list[Mapping] = []
    for f in facts.findings:
        m = mapping_for(f, maps)
        if m.action == "deny_line":
            candidates.append((facts.paid_cents, m, f"{f['rule_id']}: the line's paid amount"))
        elif m.action == "units_over_limit":
            cents, why = _mue_share(facts, f)
            candidates.append((cents, m, f"{f['rule_id']}: {why}"))
        elif m.action in ("em_level", "em_under") and facts.em_supported_code:
            billed: Fee | None = fee(facts.code, facts.from_date, facts.place_of_service)
            supported: Fee | None = fee(facts.em_supported_code, facts.from_date, facts.place_of_service)
            if billed is None or supported is None:
                flags.append(
                    Mapping(m.category, "flag", m.reason + " (fee not checked: no MPFS RVU edition covers the date)")
                )
                continue
            diff = em_difference(facts.paid_cents, facts.allowed_cents, billed, supported)
            scale = "paid/allowed" if facts.allowed_cents else f"paid/{facts.code}'s fee (no allowed amount)"
            why = (
                f"{f['rule_id']}: paid {facts.paid_cents / 100:.2f} for {facts.code} less {facts.em_supported_code} "
                f"at {supported.total_rvu} RVU x {supported.conversion_factor} ({supported.setting}, "
                f"{supported.edition}) scaled by {scale}"
            )
            if diff:
                (candidates if diff > 0 else under).append((abs(diff), m, why))
            else:
                flags.append(Mapping(m.category, "flag", m.reason + " (no difference in payment)"))
        else:
            flags.append(m)
    if facts.no_record:  # last: on a tie, the finding's own category is the more specific one
        candidates.append((facts.paid_cents, maps["no_record"], "no record: the line's paid amount"))
    if candidates:
        cents, m, _ = max(candidates, key=lambda c: c[0])
        return Proposal("overpaid", m.category, min(cents, facts.paid_cents), m.reason, [c[2] for c in candidates])
    if under:
        cents, m, why = under[0]
        return Proposal("underpaid", m.category, cents, m.reason, [why])
    if flags:
        return Proposal("not_reviewed", flags[0].category, 0, flags[0].reason)
    return Proposal("correct", "", 0, "no finding")
