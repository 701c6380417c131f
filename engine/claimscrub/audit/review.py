"""The review step: scrub the sampled claims with their documentation and propose determinations.

Input items come from the same readers and encounter linking as ``claimscrub scrub``; only the
claims in the sample are scrubbed. Each sampled line gets a worksheet row with its findings and a
proposal (:mod:`.proposals`); review.json keeps the claims, lines, findings (exactly as
``claimscrub scrub --format json`` writes them) and the E/M levels, with the rule packs and data
editions used, so the folder shows what the proposals rested on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from claimscrub.audit.fees import ASSUMPTION, fee_for
from claimscrub.audit.money import dollars
from claimscrub.audit.proposals import LineFacts, Proposal, load_mappings, mapping_path, propose
from claimscrub.compile.views import claim_view
from claimscrub.inputs.base import InputItem
from claimscrub.model.claim import Claim
from claimscrub.model.normalize import ClaimRejected, claim_from_dict

WORKSHEET_COLUMNS = [
    "sample_no",
    "stratum",
    "unit_id",
    "claim_id",
    "line",
    "code",
    "modifiers",
    "units",
    "paid_amount",
    "rule_ids",
    "findings",
    "citations",
    "data_editions",
    "proposed_determination",
    "proposed_category",
    "proposed_amount",
    "determination",
    "error_category",
    "amount",
    "reason",
    "reviewer",
    "proposed_basis",
    "qa_verdict",
    "qa_note",
]


@dataclass(frozen=True, slots=True)
class SampledUnit:
    sample_no: int
    stratum: int
    unit_id: str
    claim_ids: tuple[str, ...]  # a beneficiary unit holds several claims
    line: int | None  # the sampled line of a line unit
    paid_cents: int


@dataclass(slots=True)
class Review:
    claims: list[dict[str, Any]] = field(default_factory=list)
    rows: list[dict[str, str]] = field(default_factory=list)
    em_levels: list[dict[str, Any]] = field(default_factory=list)

    def document(self, scrubber: Any, records_given: bool) -> dict[str, Any]:
        return {
            "claims": self.claims,
            "rule_packs": {p.name: p.version for p in scrubber.rulebook.packs.values()},
            "data_editions": _editions(scrubber),
            "em_levels": self.em_levels,
            "documentation_reviewed": records_given,
            "assumptions": [
                ASSUMPTION,
                ("A line without its own paid amount is given the claim's paid amount in proportion to its charge."),
                f"Finding-to-category mapping: {mapping_path().name}.",
            ],
        }


def _editions(scrubber: Any) -> dict[str, dict[str, Any]]:
    """Each table the rules (and the E/M fees) read: where its rows came from and the edition labels."""
    used = {e["name"] for e in scrubber.editions()} | {"mpfs_rvu"}
    return {
        s.name: {"origin": s.origin, "editions": [e.label for e in s.editions]}
        for s in scrubber.tables.status()
        if s.name in used and s.loaded
    }


def line_payments(claim: Claim) -> dict[int, int]:
    """Each line's paid cents: its own, else the claim's paid amount shared by charge (remainder to the last)."""
    paid = {ln.sequence: ln.paid_cents for ln in claim.lines if ln.paid_cents is not None}
    rest = [ln for ln in claim.lines if ln.paid_cents is None]
    if not rest:
        return paid
    left = max((claim.paid_cents or 0) - sum(paid.values()), 0)
    charges = sum(max(ln.charge_cents, 0) for ln in rest)
    for i, ln in enumerate(rest):
        if i == len(rest) - 1:
            paid[ln.sequence] = left - sum(paid.get(r.sequence, 0) for r in rest[:-1])
        else:
            share = max(ln.charge_cents, 0) / charges if charges else 1 / len(rest)
            paid[ln.sequence] = round(left * share)
    return paid


def _em_levels(claim: Claim) -> dict[int, tuple[str, str]]:
    """Line -> (status, supported code) for E/M lines a record supports at another level."""
    out: dict[int, tuple[str, str]] = {}
    for enc in claim_view(claim)["encounters"]:
        for seq, doc in enc["_docs"].items():
            if doc.get("em_status") in ("over", "under") and doc.get("em_supported_code"):
                out[seq] = (doc["em_status"], doc["em_supported_code"])
    return out


def _join(values: Iterable[str]) -> str:
    return " | ".join(dict.fromkeys(v for v in values if v))


def review_claims(units: list[SampledUnit], items: Iterable[InputItem], scrubber: Any, records_given: bool) -> Review:
    """Scrub each sampled claim once and write a proposal for every sampled line."""
    wanted = {cid for u in units for cid in u.claim_ids}
    found: dict[str, InputItem] = {}
    for item in items:
        if item.claim_id in wanted and item.claim_id not in found:
            found[item.claim_id] = item
    results = _scrub(found, scrubber)
    review = Review()
    tables = scrubber.tables
    maps = load_mappings()

    def fee(code: str, dos: str, pos: str | None):
        return fee_for(tables, code, dos, pos)

    for unit in units:
        for cid in unit.claim_ids:
            _review_claim(review, unit, cid, found.get(cid), results.get(cid), records_given, fee, maps)
    return review


def _scrub(found: dict[str, InputItem], scrubber: Any) -> dict[str, Any]:
    """Each claim's scrub result, with the cloned-note findings across the sampled records added
    (the batch phase of ``claimscrub scrub``, over the sample: the records a reviewer reads side by side)."""
    from claimscrub.api.batch import attach, claim_facts, run_batch
    from claimscrub.documentation.cloned import load_cloned_config

    results = {cid: scrubber.scrub_item(item) for cid, item in found.items()}
    facts = [
        f
        for cid, item in found.items()
        if results[cid].status == "scrubbed" and item.data is not None
        for f in [claim_facts(item.data, item.source)]
        if f is not None
    ]
    report = run_batch(facts, load_cloned_config(), None)
    return {r.claim_id: r for r in attach(list(results.values()), report)}


def _review_claim(
    review: Review,
    unit: SampledUnit,
    cid: str,
    item: InputItem | None,
    result: Any,
    records_given: bool,
    fee: Any,
    maps: dict[str, Any],
) -> None:
    head = {"claim_id": cid, "unit_id": unit.unit_id, "sample_no": unit.sample_no, "stratum": unit.stratum}
    base_row = {
        "sample_no": str(unit.sample_no),
        "stratum": str(unit.stratum),
        "unit_id": unit.unit_id,
        "claim_id": cid,
    }
    whole = {**base_row, "paid_amount": dollars(unit.paid_cents) if len(unit.claim_ids) == 1 else ""}
    if item is None or result is None:
        review.claims.append(
            {
                **head,
                "status": "rejected",
                "reason": "claim not found in the review inputs",
                "lines": [],
                "findings": [],
            }
        )
        review.rows.append(
            _row(whole, Proposal("not_reviewed", "no_documentation", 0, "claim not found in the review inputs"), [])
        )
        return
    claim: Claim | None = None
    if result.status == "scrubbed":
        try:
            claim = claim_from_dict(item.data or {}, item.source)
        except ClaimRejected:  # pragma: no cover - the scrub already accepted it
            claim = None
    findings = [f.as_dict() for f in result.findings]
    if claim is None:
        review.claims.append({**head, "status": "rejected", "reason": result.reason, "lines": [], "findings": findings})
        review.rows.append(
            _row(whole, Proposal("not_reviewed", "other", 0, f"claim could not be read: {result.reason}"), findings)
        )
        return
    paid = line_payments(claim)
    levels = _em_levels(claim)
    no_record = records_given and not claim.encounters
    review.claims.append(
        {
            **head,
            "status": "scrubbed",
            "payer": claim.payer.type,
            "provider_npi": claim.billing_provider.npi,
            "from_date": min((ln.from_date for ln in claim.lines), default=None),
            "paid_amount": None if claim.paid_cents is None else dollars(claim.paid_cents),
            "lines": [
                {
                    "sequence": ln.sequence,
                    "code": ln.code,
                    "modifiers": list(ln.modifiers),
                    "units": str(ln.units),
                    "charge": dollars(ln.charge_cents),
                    "paid_amount": dollars(paid[ln.sequence]),
                    "allowed_amount": None if ln.allowed_cents is None else dollars(ln.allowed_cents),
                }
                for ln in claim.lines
            ],
            "findings": findings,
        }
    )
    for seq, (status, supported) in sorted(levels.items()):
        billed = next(ln.code for ln in claim.lines if ln.sequence == seq)
        level = {
            "claim_id": cid,
            "line": seq,
            "provider_npi": claim.billing_provider.npi,
            "billed_code": billed,
            "supported_code": supported,
            "status": status,
        }
        if level not in review.em_levels:  # line units: a claim is reviewed once per sampled line
            review.em_levels.append(level)
    claim_level = [f for f in findings if f["line"] is None]
    for ln in claim.lines:
        if unit.line is not None and ln.sequence != unit.line:
            continue
        on_line = [f for f in findings if f["line"] == ln.sequence]
        same = sum(
            (Decimal(str(o.units)) for o in claim.lines if o.code == ln.code and o.from_date == ln.from_date),
            Decimal(0),
        )
        facts = LineFacts(
            cid,
            ln.sequence,
            ln.code,
            Decimal(str(ln.units)),
            paid[ln.sequence],
            ln.allowed_cents,
            ln.from_date,
            ln.place_of_service or claim.place_of_service,
            on_line + claim_level,
            same,
            levels.get(ln.sequence, (None, None))[1],
            no_record,
        )
        proposal = propose(facts, fee, maps)
        review.rows.append(
            _row(
                {
                    **base_row,
                    "line": str(ln.sequence),
                    "code": ln.code,
                    "modifiers": " ".join(ln.modifiers),
                    "units": str(ln.units),
                    "paid_amount": dollars(paid[ln.sequence]),
                },
                proposal,
                on_line + claim_level,
            )
        )


def _row(base: dict[str, str], p: Proposal, findings: list[dict[str, Any]]) -> dict[str, str]:
    row = {c: "" for c in WORKSHEET_COLUMNS}
    row.update(base)
    row.update(
        {
            "rule_ids": _join(f["rule_id"] for f in findings),
            "findings": _join(f"{f['rule_id']}: {f['message']}" for f in findings),
            "citations": _join(f["citation"] for f in findings),
            "data_editions": _join(f.get("data_edition") or "" for f in findings),
            "proposed_determination": p.determination,
            "proposed_category": p.category,
            "proposed_amount": dollars(p.amount_cents),
            "proposed_basis": _join(p.basis) or p.reason,
        }
    )
    return row
