"""The cross-claim phase: after each claim was scrubbed alone, edit the batch against itself and the store.

The claims of one run are each other's history; the store (when given) adds earlier runs. Per
patient, claims are ordered by date of service (then claim id), so which of two claims is "the
second" does not depend on the order of the input files. A claim's history leaves out its own
claim id (a claim scrubbed again is not its own duplicate), what it replaces or voids, every claim
a replacement or void in the batch supersedes, and void claims.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date, timedelta

from claimscrub.compile.findings import Finding, sort_key
from claimscrub.history.edits import (
    EDITS,
    NEW_PATIENT_YEARS,
    EditContext,
    PatientHistory,
    frequency_limits,
    not_checked,
)
from claimscrub.history.limits import FrequencyLimit, load_limits
from claimscrub.history.records import HistoryLine, history_lines, superseded_ids
from claimscrub.history.store import HistoryStore
from claimscrub.inputs.base import InputItem, ResultPairing
from claimscrub.model.claim import Claim
from claimscrub.model.normalize import ClaimRejected, claim_from_dict


def edit_context(
    tables: object, value_codes: dict[str, frozenset], limits: Sequence[FrequencyLimit] | None = None
) -> EditContext:
    """The tables, value sets and frequency limits the cross-claim edits read (the bundled limits by default)."""
    return EditContext(
        tables=tables,
        em_codes=frozenset(value_codes.get("em_codes", ())),
        new_patient_codes=frozenset(value_codes.get("em_new_patient", ())),
        repeat_modifiers=frozenset(value_codes.get("repeat_service_modifiers", ("76", "77", "91"))),
        limits=tuple(load_limits() if limits is None else limits),
    )


def _order(claim: Claim) -> tuple[str, str, str]:
    return (min(x.from_date for x in claim.lines), claim.claim_date or "", claim.claim_id)


def _since(claims: Iterable[Claim]) -> str:
    """How far back the store is read: the new-patient look-back (the longest dated one) from the earliest date."""
    first = min(min(x.from_date for x in c.lines) for c in claims)
    return (date.fromisoformat(first) - timedelta(days=366 * NEW_PATIENT_YEARS + 1)).isoformat()


def cross_claim_findings(
    claims: Sequence[Claim], ctx: EditContext, store: HistoryStore | None = None
) -> list[list[Finding]]:
    """Findings of the cross-claim edits for each claim (same order as ``claims``)."""
    out: list[list[Finding]] = [[] for _ in claims]
    if not claims:
        return out
    by_patient: dict[str, list[int]] = defaultdict(list)
    for index, claim in enumerate(claims):
        by_patient[claim.patient.id].append(index)
    stored: dict[str, list[HistoryLine]] = {}
    if store is not None:
        any_date = {code for limit in ctx.limits for code in limit.codes}
        stored = store.lines(sorted(by_patient), _since(claims), any_date)
    for pid, indices in by_patient.items():
        indices.sort(key=lambda i: _order(claims[i]))
        batch = [claims[i] for i in indices]
        replaced = {cid for c in batch for cid in superseded_ids(c) - {c.claim_id}}
        gone = replaced | {c.claim_id for c in batch}  # the batch's copy of a claim replaces the stored one
        past = [h for h in stored.get(pid, ()) if h.claim_id not in gone]
        stored_ids = frozenset(h.claim_id for h in past)
        alone = len(batch) == 1
        lines = [[] if alone or c.frequency == "void" or c.claim_id in replaced else history_lines(c) for c in batch]
        for position, (index, claim) in enumerate(zip(indices, batch)):
            if claim.frequency == "void":
                continue
            own = superseded_ids(claim)
            earlier = past + [h for ls in lines[:position] for h in ls if h.claim_id not in own]
            later = [h for ls in lines[position + 1 :] for h in ls if h.claim_id not in own]
            history = PatientHistory(earlier, later, stored_ids)
            # with no other claim only the limits can fire (a service repeated on the claim itself)
            for edit in EDITS if earlier or later else (frequency_limits,):
                out[index].extend(edit(claim, history, ctx))
    return out


class ClaimCollector(ResultPairing):
    """Keeps the normalised claim of each scrubbed result as results stream past (results come in input order)."""

    def __init__(self) -> None:
        super().__init__()
        self.claims: list[Claim | None] = []  # one per result; None when not scrubbed

    def take(self, result) -> None:
        item = self.item_of(result)
        claim = None
        if result.status == "scrubbed" and item.data is not None:
            try:
                claim = claim_from_dict(item.data, item.source)
            except ClaimRejected:  # pragma: no cover - a scrubbed claim normalised once already
                claim = None
        self.claims.append(claim)


def cross_claim_extra(
    claims: Sequence[Claim | None], ctx: EditContext, store: HistoryStore | None = None
) -> dict[int, list[Finding]]:
    """The cross-claim findings by position in ``claims`` (None: a claim not scrubbed), where there are any."""
    kept = [(i, c) for i, c in enumerate(claims) if c is not None]
    found = cross_claim_findings([c for _, c in kept], ctx, store)
    return {i: f for (i, _), f in zip(kept, found) if f}


def attach(results: list, claims: Sequence[Claim | None], ctx: EditContext, store: HistoryStore | None = None) -> list:
    """The results with the cross-claim findings added (new result objects where any were found)."""
    extra = cross_claim_extra(claims, ctx, store)
    return [
        replace(r, findings=sorted([*r.findings, *extra[i]], key=sort_key)) if i in extra else r
        for i, r in enumerate(results)
    ]


def scrub_batch(
    scrubber, claims: Iterable[dict | InputItem], store: HistoryStore | None = None, record: bool = False
) -> list:
    """``Scrubber.scrub_many`` with the cross-claim phase: every claim scrubbed alone, then edited as a batch."""
    collector = ClaimCollector()
    items = (
        c if isinstance(c, InputItem) else InputItem("", c.get("claim_id") if isinstance(c, dict) else None, c)
        for c in claims
    )
    results = []
    for item in collector.watch(items):
        result = scrubber.scrub_item(item)
        collector.take(result)
        results.append(result)
    return finish_batch(results, collector, scrubber, store, record)


def finish_batch(
    results: list,
    collector: ClaimCollector,
    scrubber,
    store: HistoryStore | None = None,
    record: bool = False,
    limits: Sequence[FrequencyLimit] | None = None,
) -> list:
    """The results with the cross-claim findings added; with ``record``, the batch's claims go into the store.

    ``limits``: a frequency-limit table (:func:`load_limits`) instead of the bundled sample."""
    ctx = edit_context(scrubber.tables, scrubber.rulebook.value_codes, limits)
    results = attach(results, collector.claims, ctx, store)
    if store is not None and record:
        store.record(c for c in collector.claims if c is not None)
    return results


def history_not_checked(scrubber) -> list[dict]:
    """Cross-claim rules this scrubber's tables cannot run (reported "not checked", never passed)."""
    return not_checked(edit_context(scrubber.tables, scrubber.rulebook.value_codes))
