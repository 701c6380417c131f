"""The cross-claim phase: after each claim was scrubbed alone, edit the batch against itself and the store.

The claims of one run are each other's history; the store (when given) adds earlier runs. Per
patient, claims are ordered by date of service (then claim id), so which of two claims is "the
second" does not depend on the order of the input files. A claim's history leaves out its own
claim id (a claim scrubbed again is not its own duplicate), what it replaces or voids, every claim
a replacement or void in the batch supersedes, and void claims.

The edits are the ``history``-scope rules of the rule packs (rules/packs/history/), compiled and
run like any other rule: each claim's view gets its history window
(:class:`~claimscrub.compile.history_facts.HistoryWindow`), the fact builder pairs its lines with
the history lines, and a backend matches them. The parent processes of the CLI and the HTTP service
scrub nothing themselves (``backend=None``; the service may call from several threads), so there
the fact builder's own tests decide the rules (:mod:`claimscrub.history.decide`, held to the Rete
and reference backends' results), rather than put the durable-rules C core (one per process, not
thread-safe, a crash there would end the run) in the process that guards the batch; a scrubber
with a backend (``scrub_many`` in one process, rule tests) uses its own.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from claimscrub.backends import make_backend
from claimscrub.backends.durable import EngineError
from claimscrub.compile.budget import DEFAULT_FACTS, DEFAULT_SECONDS, OverBudget, claim_budget
from claimscrub.compile.findings import Finding, Renderer, one_finding_per_problem, sort_key
from claimscrub.compile.history_facts import MAX_HISTORY_LINES, HistoryWindow
from claimscrub.compile.program import Program, build_program
from claimscrub.compile.views import claim_view
from claimscrub.history.decide import DecidedBackend
from claimscrub.history.limits import FrequencyLimit, load_limits
from claimscrub.history.records import HistoryLine, history_lines, superseded_ids
from claimscrub.history.spill import PatientSpill
from claimscrub.history.store import HistoryStore
from claimscrub.inputs.base import InputItem, ResultPairing
from claimscrub.model.claim import Claim
from claimscrub.model.normalize import ClaimRejected, claim_from_dict

NEW_PATIENT_YEARS = 3  # the longest dated look-back of the history rules (new vs established patient)
LOOK_AHEAD_DAYS = 91  # later claims matter up to a 090 global period after a procedure (and the day before)
LIMITED_CODES = "frequency_limit_codes"  # value set of the codes the frequency-limit table in use names
GIVES_WAY = "gives-way-to-history"  # tag of a rule the history rules replace on a claim with history (CS-EM-008)


@dataclass(eq=False)
class EditContext:
    """The history rules compiled for a batch, what runs them, and the frequency limits they read."""

    program: Program
    backend: Any
    renderer: Renderer
    limits: tuple[FrequencyLimit, ...]
    gives_way: frozenset[str] = frozenset()
    settle: bool = True  # one finding per problem (rule test cases see every hit)
    limits_by_code: dict[str, list[FrequencyLimit]] = field(default_factory=dict)
    suppressed_by: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.suppressed_by = {i.rule.id: i.rule.suppressed_by for i in self.program.rules if i.rule.suppressed_by}
        for limit in self.limits:
            for code in limit.codes:
                self.limits_by_code.setdefault(code, []).append(limit)


def edit_context(
    tables: object, rulebook, limits: Sequence[FrequencyLimit] | None = None, backend: str = "decided"
) -> EditContext:
    """The history-scope rules of ``rulebook`` over ``tables``, with a frequency-limit table (the bundled one
    by default). ``backend``: durable, reference, or decided (the fact builder's tests, no engine:
    :mod:`claimscrub.history.decide`)."""
    limits = tuple(load_limits() if limits is None else limits)
    valuesets = {**rulebook.value_codes, LIMITED_CODES: frozenset(c for limit in limits for c in limit.codes)}
    program = build_program(rulebook.active(), tables, valuesets, history=True)
    return EditContext(
        program,
        DecidedBackend(program) if backend == "decided" else make_backend(backend, program),
        Renderer(program),
        limits,
        frozenset(r.id for r in rulebook.rules if GIVES_WAY in r.tags),
    )


def context_for(scrubber, limits: Sequence[FrequencyLimit] | None = None) -> EditContext:
    """The scrubber's edit context, built once per scrubber and limit table (a durable ruleset is
    registered once per process: a service must not build one per request)."""
    kept = scrubber.__dict__.setdefault("_history_contexts", {})
    key = None if limits is None else tuple(limits)
    if key not in kept:
        backend = scrubber.backend.name if getattr(scrubber, "backend", None) is not None else "decided"
        kept[key] = edit_context(scrubber.tables, scrubber.rulebook, limits, backend)
        kept[key].settle = getattr(scrubber, "settle", True)
    return kept[key]


@dataclass
class Outcome:
    """What the phase found for one claim."""

    findings: list[Finding] = field(default_factory=list)
    not_checked: list[dict] = field(default_factory=list)
    has_history: bool = False  # a store, or other claims of the patient in the batch


def _order(claim: Claim) -> tuple[str, str, str]:
    return (min(x.from_date for x in claim.lines), claim.claim_date or "", claim.claim_id)


def _shift(day: str, days: int) -> str:
    try:
        return (date.fromisoformat(day) + timedelta(days=days)).isoformat()
    except OverflowError:
        return "0001-01-01" if days < 0 else "9999-12-31"


def _since(claims: Iterable[Claim]) -> str:
    """How far back the store is read: the new-patient look-back (the longest dated one) from the earliest date."""
    first = min(min(x.from_date for x in c.lines) for c in claims)
    return _shift(first, -(366 * NEW_PATIENT_YEARS + 1))


def _as_dict(h: HistoryLine, stored: bool) -> dict:
    """A history line as rules read it (``hist``): built once per batch, shared by every claim that sees it."""
    units = h.units
    return {
        "claim_id": h.claim_id,
        "sequence": h.sequence,
        "code": h.code,
        "modifiers": list(h.modifiers),
        "units": int(units) if units == units.to_integral_value() else units,
        "from_date": h.from_date,
        "to_date": h.to_date,
        "claim_type": h.claim_type,
        "frequency": h.frequency,
        "rendering_npi": h.rendering_npi,
        "billing_npi": h.billing_npi,
        "provider_npi": h.provider_npi,
        "specialty": h.specialty,
        "taxonomy": h.taxonomy,
        "ndc": h.ndc,
        "paid": None if h.paid_cents is None else h.paid_cents > 0,
        "paid_amount": None if h.paid_cents is None else Decimal(h.paid_cents) / 100,
        "stored": stored,
    }


@dataclass
class _Pool:
    """A patient's history lines, ordered by date of service, with where each came from."""

    lines: list[dict]  # ordered by (from_date, claim_id, sequence)
    owner: list[int]  # per line: the batch position of its claim; -1 for the store's
    dates: list[str]
    any_date: list[int]  # indices of lines of codes whose limits look back without end
    screens: dict = field(default_factory=dict)  # hash-join indexes and lines' own tests, built once (HistoryWindow)


def _pool(past: list[HistoryLine], batch_lines: list[list[HistoryLine]], any_date_codes: frozenset[str]) -> _Pool:
    entries = [(h, -1) for h in past] + [(h, p) for p, ls in enumerate(batch_lines) for h in ls]
    entries.sort(key=lambda e: (e[0].from_date, e[0].claim_id, e[0].sequence))
    lines = [_as_dict(h, owner < 0) for h, owner in entries]
    return _Pool(
        lines,
        [owner for _, owner in entries],
        [h.from_date for h, _ in entries],
        [i for i, (h, _) in enumerate(entries) if h.code in any_date_codes],
    )


def _window(pool: _Pool, position: int, claim: Claim, ctx: EditContext) -> HistoryWindow:
    """The history lines this claim is compared with: within the look-back and look-ahead of its
    dates (and any earlier line of a lifetime-limited code), the nearest :data:`MAX_HISTORY_LINES`."""
    own = superseded_ids(claim)
    first = min(x.from_date for x in claim.lines)
    last = max(x.to_date for x in claim.lines)
    lo = bisect.bisect_left(pool.dates, _shift(first, -(366 * NEW_PATIENT_YEARS + 1)))
    hi = bisect.bisect_right(pool.dates, _shift(last, LOOK_AHEAD_DAYS))
    cut = 0
    if hi - lo > MAX_HISTORY_LINES:  # keep the nearest: centred on the claim's first date
        middle = bisect.bisect_left(pool.dates, first, lo, hi)
        start = max(lo, min(middle - MAX_HISTORY_LINES // 2, hi - MAX_HISTORY_LINES))
        cut = hi - lo - MAX_HISTORY_LINES
        lo, hi = start, start + MAX_HISTORY_LINES
    before = bisect.bisect_left(pool.any_date, lo)  # lifetime-limited codes from before the window
    chosen = pool.any_date[max(0, before - MAX_HISTORY_LINES // 4) : before] + list(range(lo, hi))
    lines, earlier = [], []
    for i in chosen:
        h = pool.lines[i]
        if h["claim_id"] in own:
            continue
        lines.append(h)
        earlier.append(pool.owner[i] < position)
    rendering, billing = claim.rendering_provider, claim.billing_provider
    # as history_lines records it: the rendering provider's specialty, else the billing one's (else taxonomy)
    specialty = ((rendering.specialty if rendering else None) or billing.specialty) or (
        (rendering.taxonomy if rendering else None) or billing.taxonomy
    )
    return HistoryWindow(
        lines,
        earlier,
        billing.npi,
        specialty,
        claim.payer.type,
        claim.type,
        ctx.limits_by_code,
        cut,
        pool.screens,
        pool.lines,
    )


def _run(claim: Claim, window: HistoryWindow, ctx: EditContext) -> Outcome:
    """The history rules on one claim: one finding per rule and line, naming the first other line."""
    outcome = Outcome(has_history=True)
    if not window.lines:
        return outcome
    view = claim_view(claim)
    view["_history"] = window
    rule_ids = [item.rule.id for item in ctx.program.rules]
    try:
        with claim_budget(DEFAULT_SECONDS, DEFAULT_FACTS):
            hits = ctx.backend.run(view)
    except (OverBudget, EngineError) as exc:
        reason = f"the cross-claim rules could not run on this claim: {exc}"
        outcome.not_checked = [{"rule_id": r, "reason": reason} for r in rule_ids]
        return outcome
    first: dict[tuple[int, int | None], Any] = {}
    for index, key in hits:
        spot = (index, key.line)
        if spot not in first or key.history < first[spot].history:
            first[spot] = key
    rules = ctx.program.rules
    findings = [ctx.renderer.render(rules[index], view, key) for (index, _), key in sorted(first.items())]
    # As the Python edits did: a table with no edition covering a date gives no row there, so the rule
    # does not fire; "not checked" is reported per run for a table not loaded (history_not_checked), not
    # per claim, so a claim's result with history matches the same claim scrubbed alone.
    outcome.findings = one_finding_per_problem(findings, ctx.suppressed_by) if ctx.settle else findings
    if window.cut:
        reason = (
            f"the patient's history holds {window.cut + len(window.lines):,} lines near this claim's dates; "
            f"only the {MAX_HISTORY_LINES} nearest were compared"
        )
        outcome.not_checked += [{"rule_id": r, "reason": reason} for r in rule_ids]
    return outcome


def cross_claim_outcomes(claims: Sequence[Claim], ctx: EditContext, store: HistoryStore | None = None) -> list[Outcome]:
    """What the history rules found for each claim (same order as ``claims``)."""
    out = [Outcome() for _ in claims]
    if not claims or not ctx.program.rules:
        return out
    by_patient: dict[str, list[int]] = defaultdict(list)
    for index, claim in enumerate(claims):
        by_patient[claim.patient.id].append(index)
    any_date = frozenset(code for limit in ctx.limits if limit.lifetime for code in limit.codes)
    stored: dict[str, list[HistoryLine]] = {}
    if store is not None:
        stored = store.lines(sorted(by_patient), _since(claims), any_date)
    for pid, indices in by_patient.items():
        indices.sort(key=lambda i: _order(claims[i]))
        batch = [claims[i] for i in indices]
        replaced = {cid for c in batch for cid in superseded_ids(c) - {c.claim_id}}
        gone = replaced | {c.claim_id for c in batch}  # the batch's copy of a claim replaces the stored one
        past = [h for h in stored.get(pid, ()) if h.claim_id not in gone]
        if not past and len(batch) == 1 and store is None:
            continue  # no history at all: nothing to compare
        lines = [[] if c.frequency == "void" or c.claim_id in replaced else history_lines(c) for c in batch]
        pool = _pool(past, lines, any_date)
        for position, (index, claim) in enumerate(zip(indices, batch)):
            if claim.frequency == "void":
                continue
            out[index] = _run(claim, _window(pool, position, claim, ctx), ctx)
    return out


def cross_claim_findings(
    claims: Sequence[Claim], ctx: EditContext, store: HistoryStore | None = None
) -> list[list[Finding]]:
    """Findings of the cross-claim rules for each claim (same order as ``claims``)."""
    return [o.findings for o in cross_claim_outcomes(claims, ctx, store)]


class ClaimCollector(ResultPairing):
    """Keeps the normalised claim of each scrubbed result as results stream past (results come in input order)."""

    def __init__(self) -> None:
        super().__init__()
        self.claims: list[Claim | None] = []  # one per result; None when not scrubbed

    def take(self, result, normalised: Claim | None = None) -> None:
        """Keep the claim of ``result``: ``normalised`` when the scrubber handed it over, else normalised again."""
        item = self.item_of(result)
        claim = None
        if result.status == "scrubbed" and normalised is not None:
            claim = normalised
        elif result.status == "scrubbed" and item.data is not None:
            try:
                claim = claim_from_dict(item.data, item.source)
            except ClaimRejected:  # pragma: no cover - a scrubbed claim normalised once already
                claim = None
        self.claims.append(claim)


def cross_claim_extra(
    claims: Sequence[Claim | None], ctx: EditContext, store: HistoryStore | None = None
) -> dict[int, Outcome]:
    """What the history rules found, by position in ``claims`` (None: a claim not scrubbed), where they found
    anything or a rule gives way (for writers that add it to results already written)."""
    kept = [(i, c) for i, c in enumerate(claims) if c is not None]
    found = zip((i for i, _ in kept), cross_claim_outcomes([c for _, c in kept], ctx, store))
    return {i: o for i, o in found if o.findings or o.not_checked or (o.has_history and ctx.gives_way)}


def spilled_extra(
    spill: PatientSpill, ctx: EditContext, store: HistoryStore | None = None, record: bool = False
) -> dict[int, Outcome]:
    """:func:`cross_claim_extra` on a streamed run's spilled claims, one bucket of patients at a time (the
    memory of one bucket's claims), by position in the run. With ``record``, each bucket's claims go into the
    store once edited: buckets share no patient, so a later bucket never reads what an earlier one recorded."""
    out: dict[int, Outcome] = {}
    for positions, claims in spill.buckets():
        out.update((positions[i], o) for i, o in cross_claim_extra(claims, ctx, store).items())
        if record and store is not None:
            store.record(claims)
    return out


def with_outcome(result, outcome: Outcome, ctx: EditContext):
    """A result with what the history rules found on its claim; rules that give way to history dropped."""
    own = [f for f in result.findings if not (outcome.has_history and f.rule_id in ctx.gives_way)]
    return replace(
        result,
        findings=sorted([*own, *outcome.findings], key=sort_key),
        not_checked=[*result.not_checked, *outcome.not_checked],
    )


def attach(results: list, claims: Sequence[Claim | None], ctx: EditContext, store: HistoryStore | None = None) -> list:
    """The results with the cross-claim findings and not-checked entries added (new result objects where
    anything changed). On a claim with history, rules that give way to history (CS-EM-008) are dropped."""
    extra = cross_claim_extra(claims, ctx, store)
    return [with_outcome(r, extra[i], ctx) if i in extra else r for i, r in enumerate(results)]


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
        normalised: list[Claim] = []
        result = scrubber.scrub_item(item, normalised)
        collector.take(result, normalised[0] if normalised else None)
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
    results = attach(results, collector.claims, context_for(scrubber, limits), store)
    if store is not None and record:
        store.record(c for c in collector.claims if c is not None)
    return results


def history_not_checked(scrubber) -> list[dict]:
    """Cross-claim rules this scrubber's tables cannot run (reported "not checked", never passed)."""
    return [{"rule_id": r.id, "reason": why} for r, why in context_for(scrubber).program.not_checked]
