"""Which policies apply to a claim, and what they make of each rule.

:func:`resolve` is pure: payer and date in, a :class:`Resolution` out (every
rule's state, with the policy entries that set it). :class:`PolicySet`
remembers resolutions per payer and *date bucket* (the span between two
policy boundary dates), so a batch resolves a handful of times, not per claim.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from claimscrub.compile.rules import RuleBook
from claimscrub.lang.evaluate import Ctx, compile_expr
from claimscrub.policy.model import CarveOut, PayerEdit, Policy


@dataclass(frozen=True, slots=True)
class Waiver:
    """A carve-out or ``unless`` a policy adds to a rule."""

    policy: str
    where: str
    carve_out: CarveOut | None = None
    unless: Callable[[Ctx], Any] | None = None
    unless_text: str | None = None


@dataclass(slots=True)
class RuleState:
    """A rule under the policies of one payer and date: on or off, and what changed it (for explain)."""

    enabled: bool
    severity: str
    because: list[str] = field(default_factory=list)  # "policy 'x' (file:line): switched off: reason"
    waivers: list[Waiver] = field(default_factory=list)
    payer_edit: PayerEdit | None = None
    payer_edit_policy: str | None = None
    not_checked: str | None = None  # why the rule cannot run for this payer (its chosen tables are not loaded)


@dataclass(slots=True)
class Resolution:
    policies: tuple[str, ...]
    rules: dict[str, RuleState]
    route: dict[str, str]  # table a rule names -> the table read for this payer

    def not_checked(self) -> list[dict]:
        return [{"rule_id": rid, "reason": s.not_checked} for rid, s in self.rules.items() if s.not_checked]


def _unless_fn(node, cache: dict[int, Callable]) -> Callable[[Ctx], Any]:
    fn = cache.get(id(node))
    if fn is None:
        fn = cache[id(node)] = compile_expr(node)
    return fn


def resolve(
    policies: list[Policy],
    book: RuleBook,
    payer: dict,
    dos: str,
    *,
    include_draft: bool = False,
    loaded: Callable[[str], bool] | None = None,
    compiled: dict[int, Callable] | None = None,
) -> Resolution:
    """The policies selecting this payer on this date, applied in priority order to every rule."""
    allowed = {"active", "draft"} if include_draft else {"active"}
    states = {r.id: RuleState(r.status in allowed, r.severity) for r in book.rules}
    chosen = [p for p in policies if p.selector.matches(payer.get("type"), payer.get("id"), payer.get("name"), dos)]
    route: dict[str, str] = {}
    route_why: dict[str, str] = {}
    missing: dict[str, str] = {}
    compiled = compiled if compiled is not None else {}
    for policy in chosen:
        for change in policy.changes:
            where = policy.where(change.line)
            for rule_id in change.rule_ids:
                state = states[rule_id]
                if change.enabled is not None:
                    state.enabled = change.enabled
                    state.because.append(f"{where}: switched {'on' if change.enabled else 'off'}: {change.reason}")
                if change.replaced_by:
                    state.enabled = False
                    states[change.replaced_by].enabled = True
                    state.because.append(f"{where}: replaced by {change.replaced_by}: {change.reason}")
                    states[change.replaced_by].because.append(f"{where}: replaces {rule_id}: {change.reason}")
                if change.severity:
                    state.because.append(f"{where}: severity {state.severity} -> {change.severity}: {change.reason}")
                    state.severity = change.severity
                if change.unless is not None:
                    state.waivers.append(
                        Waiver(
                            policy.id, where, unless=_unless_fn(change.unless, compiled), unless_text=change.unless_text
                        )
                    )
                    state.because.append(f"{where}: unless {change.unless_text}: {change.reason}")
                for carve in change.carve_outs:
                    state.waivers.append(Waiver(policy.id, where, carve_out=carve))
                    state.because.append(f"{where}: carve-out until {carve.until}: {carve.reason}")
                if change.payer_edit is not None:
                    state.payer_edit, state.payer_edit_policy = change.payer_edit, policy.id
                    state.because.append(f"{where}: payer edit {change.payer_edit.as_dict()}")
        for choice in policy.tables:
            target = next((t for t in choice.use if loaded is None or loaded(t)), None)
            if target is None:
                route.pop(choice.table, None)
                missing[choice.table] = (
                    f"{policy.where(choice.line)} reads {' or '.join(choice.use)} for "
                    f"{choice.table}, and none is loaded: {choice.reason}"
                )
            else:
                route[choice.table] = target
                skipped = [t for t in choice.use[: choice.use.index(target)]]
                route_why[choice.table] = (
                    f"{policy.where(choice.line)}: reads {target} for {choice.table}"
                    + (f" ({', '.join(skipped)} not loaded)" if skipped else "")
                    + f": {choice.reason}"
                )
                missing.pop(choice.table, None)
    for rule in book.rules:
        state = states[rule.id]
        for table in rule.tables:
            if table in route:
                state.because.append(route_why[table])
            if table in missing:
                state.not_checked = "not checked: " + missing[table]
                state.enabled = False
    return Resolution(tuple(p.id for p in chosen), states, {t: u for t, u in route.items() if t != u})


class PolicySet:
    """Policies ready for scrubbing: resolutions remembered per payer and date bucket."""

    def __init__(
        self,
        policies: list[Policy],
        book: RuleBook,
        *,
        include_draft: bool = False,
        loaded: Callable[[str], bool] | None = None,
    ):
        self.policies = policies
        self.book = book
        self.include_draft = include_draft
        self.loaded = loaded
        self.bounds = sorted({b for p in policies for b in p.selector.boundaries})
        self._cache: dict[tuple, Resolution] = {}
        self._compiled: dict[int, Callable] = {}

    def enabled_anywhere(self) -> set[str]:
        """Rule ids some policy switches on (a draft rule on for one payer must be compiled)."""
        return {rid for p in self.policies for c in p.changes if c.enabled for rid in c.rule_ids} | {
            c.replaced_by for p in self.policies for c in p.changes if c.replaced_by
        }

    def resolve(self, payer: dict, dos: str) -> Resolution:
        key = (payer.get("type"), payer.get("id"), payer.get("name"), bisect.bisect_right(self.bounds, dos))
        found = self._cache.get(key)
        if found is None:
            if len(self._cache) > 4096:
                self._cache.clear()
            found = self._cache[key] = resolve(
                self.policies,
                self.book,
                payer,
                dos,
                include_draft=self.include_draft,
                loaded=self.loaded,
                compiled=self._compiled,
            )
        return found


def waived(state: RuleState, view: dict, line_seq: int | None, ctx_for: Callable[[], Ctx]) -> Waiver | None:
    """The waiver (carve-out or unless) that takes a hit away, if any."""
    line = None
    if line_seq is not None:
        line = next((ln for ln in view["lines"] if ln["sequence"] == line_seq), None)
    dos = line["from_date"] if line else view["first_service_date"]
    npi = line.get("provider_npi") if line else (view.get("billing_provider") or {}).get("npi")
    code = line.get("code") if line else None
    for w in state.waivers:
        if w.carve_out is not None and w.carve_out.covers(npi, code, dos):
            return w
        if w.unless is not None and w.unless(ctx_for()) is True:
            return w
    return None
