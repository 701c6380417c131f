"""The Python API: build a Scrubber once, then scrub claims.

    from claimscrub import Scrubber
    scrubber = Scrubber()                       # bundled packs, tables found on this machine
    result = scrubber.scrub(claim_dict)         # -> ClaimResult with typed findings
    for result in scrubber.scrub_many(claims):  # any iterable of dicts / InputItems
        ...

Every input claim gives exactly one :class:`ClaimResult`: ``scrubbed`` with its
findings, or ``rejected`` with the field and the problem.
"""

from __future__ import annotations

import copy
import dataclasses
import gc
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claimscrub.backends import make_backend
from claimscrub.backends.durable import EngineError
from claimscrub.compile.budget import DEFAULT_FACTS, DEFAULT_SECONDS, OverBudget, claim_budget
from claimscrub.compile.cache import cached_rulebook
from claimscrub.compile.findings import Finding, Renderer, engine_error, sort_key
from claimscrub.compile.program import Program, build_program
from claimscrub.compile.rules import Issue, RuleBook
from claimscrub.compile.views import claim_view
from claimscrub.inputs.base import InputItem
from claimscrub.model.normalize import ClaimRejected, claim_from_dict
from claimscrub.model.validate import problems

log = logging.getLogger("claimscrub.scrub")


class RulesError(Exception):
    """The rules have errors (lint them); the scrubber will not run broken rules."""

    def __init__(self, issues: list[Issue]):
        self.issues = issues
        super().__init__("; ".join(str(i) for i in issues[:5]) + (" ..." if len(issues) > 5 else ""))


@dataclass(slots=True)
class ClaimResult:
    claim_id: str | None
    status: str  # scrubbed | rejected
    findings: list[Finding] = field(default_factory=list)
    reason: str | None = None
    field: str | None = None
    source: str | None = None
    suppressed: list[Finding] = dataclasses.field(
        default_factory=list
    )  # accepted findings: reported, not counted as open
    policies: tuple[str, ...] = ()  # the payer policies that applied to the claim
    not_checked: list[dict] = dataclasses.field(default_factory=list)  # rules no edition or table choice let run

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "claim_id": self.claim_id,
            "status": self.status,
            "source": self.source,
            "finding_count": len(self.findings),
        }
        if self.not_checked:
            out["not_checked"] = self.not_checked
        if self.status == "rejected":
            out["reason"] = self.reason
            out["field"] = self.field
        if self.suppressed:
            out["suppressed_count"] = len(self.suppressed)
        if self.policies:
            out["policies"] = list(self.policies)
        if self.not_checked:
            out["not_checked"] = self.not_checked
        return out


def table_columns(tables) -> dict[str, dict[str, str]] | None:
    """Column types of every known table, for type-checking lookups; None when unknown."""
    registry = getattr(tables, "registry", None)
    if registry is None:
        try:
            from claimscrub.refdata.tables import default_registry

            registry = default_registry()
        except Exception:  # pragma: no cover - no registry available
            return None
    return {d.name: {c: d.column_type(c) for c in d.columns} for d in registry}


def default_tables(
    data_dir: str | Path | None = None, samples: bool | None = None, rule_roots: list[Path] | None = None
):
    """The tables a scrub reads; a rule pack's own ``tables/`` join the registry."""
    from claimscrub.refdata.store import open_tables
    from claimscrub.refdata.tables import registry_for

    return open_tables(data_dir, samples=samples, registry=registry_for(rule_roots or []))


def _policy_set(
    rulebook: RuleBook, roots: list[Path], extra, default: bool, include_draft: bool, columns, tables, partial: bool
):
    """The payer policies for a scrubber (None when there are none); policies with errors stop it, as rules do.

    With only some packs loaded (``partial``), entries for rules of the others are skipped, not errors:
    lint checks policies against every pack, and scrub must not refuse what lint passed."""
    from claimscrub.policy import PolicySet, bundled_policies_dir, load_policies, pack_policy_dirs

    paths = ([bundled_policies_dir()] if default else []) + pack_policy_dirs(roots) + [Path(p) for p in extra or ()]
    paths = [p for p in paths if p.exists()]
    if not paths:
        return None
    policies, issues = load_policies(
        paths, rulebook, columns, lenient=tuple(paths) if partial else (bundled_policies_dir(),)
    )
    errors = [i for i in issues if i.severity == "error"]
    if errors:
        raise RulesError(errors)
    if not policies:
        return None
    return PolicySet(
        policies, rulebook, include_draft=include_draft, loaded=tables.loaded if tables is not None else None
    )


class Scrubber:
    """Rules and tables loaded once; claims scrubbed one at a time or as a stream."""

    def __init__(
        self,
        rules: Iterable[str | Path] | None = None,
        *,
        replace_bundled: bool = False,
        tables=None,
        data_dir: str | Path | None = None,
        samples: bool | None = None,
        backend: str | None = "durable",
        include_draft: bool = False,
        rulebook: RuleBook | None = None,
        max_lines: int | None = None,
        claim_seconds: float | None = DEFAULT_SECONDS,
        claim_facts: int | None = DEFAULT_FACTS,
        policies: Iterable[str | Path] | None = None,
        default_policies: bool = True,
        suppressions: str | Path | None = None,
        today: str | None = None,
    ):
        """``backend=None`` builds everything but the rule engine (a parent process that only dispatches).

        ``max_lines``: a claim with more service lines is rejected before any work (the CLI and the
        service set one; the schema's own bound is 999). ``claim_seconds`` / ``claim_facts``: the
        per-claim budget (:mod:`claimscrub.compile.budget`); a claim over it is rejected and the batch goes on.
        Payer policies: the bundled ``rules/policies`` (unless ``default_policies`` is false), the
        ``policies/`` folders of the extra rule roots, and ``policies`` (files or folders).
        ``suppressions``: the append-only file of accepted findings, in force on ``today``.
        """
        self.max_lines = max_lines
        self.claim_seconds, self.claim_facts = claim_seconds, claim_facts
        roots = [Path(r) for r in rules or ()]
        self.tables = tables if tables is not None else default_tables(data_dir, samples, roots)
        columns = table_columns(self.tables)
        if rulebook is None:
            rulebook, issues = cached_rulebook(roots, tables=columns, replace_bundled=replace_bundled)
            errors = [i for i in issues if i.severity == "error"]
            if errors:
                raise RulesError(errors)
        self.rulebook = rulebook
        self.policies = _policy_set(
            rulebook, roots, policies, default_policies, include_draft, columns, self.tables, partial=replace_bundled
        )
        wanted = rulebook.active(include_draft)
        if self.policies is not None:  # a draft rule a policy turns on for some payer must be compiled
            on = self.policies.enabled_anywhere()
            wanted += [r for r in rulebook.rules if r.id in on and r not in wanted and r.status != "deprecated"]
        self.program: Program = build_program(wanted, self.tables, rulebook.value_codes)
        self._tables_as_named = self._tables_routed = self.program.tables
        if self.policies is not None and self.program.tables is not None:
            from claimscrub.policy.routing import RoutedTables

            self._tables_routed = RoutedTables(self.program.tables)
        self.backend = make_backend(backend, self.program) if backend else None
        self.renderer = Renderer(self.program)
        self.settle = True  # one finding per problem, not-checked hits aside; rule test cases see every hit
        self.suppressions = None
        if suppressions is not None:
            import datetime as _dt

            from claimscrub.policy import suppressions as sup

            self.suppressions = sup.SuppressionIndex(sup.load(suppressions), today or _dt.date.today().isoformat())

    def with_backend(self, backend: str) -> Scrubber:
        """This scrubber with a rule engine of its own: the rules, tables and policies are the ones loaded
        here, not loaded again. A forked worker calls it (the engine's C state must not cross a fork, so the
        parent builds everything but the engine), and so does a run in the parent process. The copy gets its
        own view of the program, since a claim's payer policy reroutes its tables for that claim."""
        twin = copy.copy(self)
        twin.program = copy.copy(self.program)
        if self.policies is not None and self._tables_as_named is not None:
            from claimscrub.policy.routing import RoutedTables

            twin._tables_routed = RoutedTables(self._tables_as_named)
        twin.renderer = Renderer(twin.program)
        twin.backend = make_backend(backend, twin.program)
        return twin

    @property
    def not_checked(self) -> list[dict]:
        """Rules that could not run in this configuration, and why ("not checked", never "passed")."""
        return [{"rule_id": r.id, "reason": why} for r, why in self.program.not_checked]

    def editions(self) -> list[dict]:
        """The data editions this scrubber reads (the tables its rules use, and those policies choose instead)."""
        used = {t for item in self.program.rules for t in item.rule.tables}
        if self.policies is not None:
            used |= {
                t for p in self.policies.policies for choice in p.tables if choice.table in used for t in choice.use
            }
        out = []
        for status in self.tables.status():
            if status.name in used:
                out.append(status.as_dict())
        return out

    def scrub(self, claim: dict | InputItem, source: str | None = None) -> ClaimResult:
        item = (
            claim
            if isinstance(claim, InputItem)
            else InputItem(source or "", claim.get("claim_id") if isinstance(claim, dict) else None, claim)
        )
        return self.scrub_item(item)

    def scrub_many(
        self, claims: Iterable[dict | InputItem], *, cross_claim: bool = True, history=None, record: bool = False
    ) -> Iterator[ClaimResult]:
        """Scrub a batch. With ``cross_claim`` the claims are also edited against each other (and against the
        ``history`` store, which ``record`` adds them to), so results come once every claim is scrubbed."""
        if cross_claim:
            from claimscrub.history.phase import scrub_batch

            yield from scrub_batch(self, claims, history, record)
            return
        for claim in claims:
            yield self.scrub(claim)

    def scrub_item(self, item: InputItem, normalised: list | None = None) -> ClaimResult:
        """One claim, whatever happens inside: an unexpected exception becomes an engine-error
        rejection of this claim alone (the stage and the exception type, never a value), so a
        batch, a worker or a request goes on. Every front end scrubs through here. ``normalised``:
        the normalised claim is appended to it (the cross-claim phase keeps it, not normalising twice)."""
        stage = ["read"]
        try:
            return self._scrub_item(item, stage, normalised)
        except Exception as exc:  # noqa: BLE001 - the guard: any defect costs one claim, not the batch
            return self._crashed(item, stage[0], exc)

    def _crashed(self, item: InputItem, stage: str, exc: BaseException) -> ClaimResult:
        cid = item.claim_id if isinstance(item.claim_id, str) else None
        problem = f"unexpected {type(exc).__name__} while {STAGES.get(stage, stage)}"
        # the exception's text may hold values from the claim: only its type and where it was raised
        where = exc.__traceback__
        while where is not None and where.tb_next is not None:
            where = where.tb_next
        at = f"{Path(where.tb_frame.f_code.co_filename).name}:{where.tb_lineno}" if where is not None else "?"
        log.error("claim %s from %s: %s (at %s)", cid or "(no id)", item.source or "(no source)", problem, at)
        return ClaimResult(
            cid, "rejected", [engine_error(cid or "?", problem)], reason=f"engine error: {problem}", source=item.source
        )

    def _scrub_item(self, item: InputItem, stage: list[str], normalised: list | None = None) -> ClaimResult:
        cid = item.claim_id
        if item.error is not None:
            return ClaimResult(cid, "rejected", reason=item.error, field=item.field, source=item.source)
        data = item.data
        if data is None:
            return ClaimResult(cid, "rejected", reason="no claim data", source=item.source)
        lines = data.get("lines") if isinstance(data, dict) else None
        if self.max_lines is not None and isinstance(lines, list) and len(lines) > self.max_lines:
            return ClaimResult(
                cid,
                "rejected",
                reason=f"lines: {len(lines):,} service lines, over the limit of "
                f"{self.max_lines:,} per claim (--max-lines)",
                field="lines",
                source=item.source,
            )
        stage[0] = "validate"
        found = problems(data)
        if found:
            field_name, problem = found[0]
            more = f" (and {len(found) - 1} more problem(s))" if len(found) > 1 else ""
            return ClaimResult(
                cid, "rejected", reason=f"{field_name}: {problem}{more}", field=field_name, source=item.source
            )
        stage[0] = "normalise"
        try:
            claim = claim_from_dict(data, item.source)
        except ClaimRejected as exc:
            return ClaimResult(cid, "rejected", reason=exc.reason, field=exc.field, source=item.source)
        if normalised is not None:
            normalised.append(claim)
        if self.backend is None:
            raise RuntimeError("this Scrubber was built without a backend (backend=None): it cannot scrub")
        if cid is None:
            cid = claim.claim_id
        stage[0] = "view"
        view = claim_view(claim)
        resolution = None
        if self.policies is not None:
            resolution = self.policies.resolve(view["payer"], view["first_service_date"])
            if resolution.route:  # the payer reads other tables than the rules name: route every lookup
                self._tables_routed.route = resolution.route
                self.program.tables = self._tables_routed
            else:
                self.program.tables = self._tables_as_named
        stage[0] = "engine"
        try:
            with claim_budget(self.claim_seconds, self.claim_facts):
                hits = self.backend.run(view)
        except OverBudget as exc:
            return ClaimResult(
                cid,
                "rejected",
                reason=f"lines: the claim needs {exc.problem} of rule work, over the "
                "per-claim budget; split it into smaller claims",
                field="lines",
                source=item.source,
            )
        except EngineError as exc:
            return ClaimResult(
                cid, "rejected", [engine_error(cid, str(exc))], reason=f"engine error: {exc}", source=item.source
            )
        stage[0] = "render"
        rules = self.program.rules
        suppressed: list[Finding] = []
        if resolution is None:
            findings = [self.renderer.render(rules[index], view, key) for index, key in hits]
        else:
            findings = self._apply_policies(resolution, view, hits, suppressed)
        if self.suppressions is not None and len(self.suppressions):
            kept = []
            for f in findings:
                rec = self.suppressions.find(cid, f.rule_id, f.line)
                if rec is None:
                    kept.append(f)
                else:
                    f.suppression = {"by": rec.by, "reason": rec.reason, "date": rec.date, "expires": rec.expires}
                    suppressed.append(f)
            findings = kept
        # conformance problems the reader read past (X12 envelope counts, dropped values): findings too
        findings.extend(
            Finding(
                rule_id=n.rule_id,
                category=n.category,
                severity=n.severity,
                claim_id=cid,
                line=n.line,
                message=n.message,
                fix=n.fix,
                title=n.title,
                citation=n.citation,
                references=[{"source": n.citation}],
            )
            for n in item.notes
        )
        unchecked: list[dict] = []
        if self.settle:
            findings, unchecked = self.renderer.settle(findings, view)
        if resolution is not None:
            unchecked = [*unchecked, *resolution.not_checked()]
        return ClaimResult(
            cid,
            "scrubbed",
            sorted(findings, key=sort_key),
            source=item.source,
            suppressed=sorted(suppressed, key=sort_key),
            policies=resolution.policies if resolution else (),
            not_checked=unchecked,
        )

    def _apply_policies(self, resolution, view: dict, hits, suppressed: list[Finding]) -> list[Finding]:
        """Findings under the claim's policies: rules off dropped, ``unless`` applied, carve-outs reported as
        suppressed (with the policy and reason), severity and the payer's edit code set."""
        from claimscrub.compile.views import bind
        from claimscrub.policy.resolve import waived

        rules, states, findings = self.program.rules, resolution.rules, []
        for index, key in hits:
            item = rules[index]
            state = states[item.rule.id]
            if not state.enabled:
                continue
            waiver = None
            if state.waivers:
                waiver = waived(state, view, key.line, lambda key=key: self.program.ctx(*bind(view, key)))  # type: ignore[misc]
                if waiver is not None and waiver.unless is not None:
                    continue  # the policy's exception holds: the rule does not fire
            finding = self.renderer.render(item, view, key)
            if state.severity != item.rule.severity:  # the policy's own severity; else the rendered one stands
                finding.severity = state.severity
            if state.payer_edit is not None:
                finding.payer_edit = {"policy": state.payer_edit_policy, **state.payer_edit.as_dict()}
            if waiver is not None and waiver.carve_out is not None:
                finding.suppression = {
                    "by": f"policy {waiver.policy}",
                    "reason": waiver.carve_out.reason,
                    "until": waiver.carve_out.until,
                    "where": waiver.where,
                }
                suppressed.append(finding)
                continue
            findings.append(finding)
        return findings


# What the claim was going through when an unexpected exception stopped it (in rejection reasons).
STAGES = {
    "read": "reading the claim",
    "validate": "validating the claim",
    "normalise": "normalising the claim",
    "view": "building the claim's view",
    "engine": "building facts and running the rules",
    "render": "rendering the findings",
}


def batch_gc() -> None:
    """Tune Python's cyclic garbage collector for a batch run (the CLI, its workers, the benchmark).

    A batch keeps every result until it writes them, and the collector's full passes over that
    growing heap cost up to a fifth of a 20,000-claim run. Claims, facts and findings hold no
    reference cycles (reference counting frees them), so young objects are collected far less
    often, and what exists before the batch (rules, tables, compiled conditions) is frozen out of
    the passes. Not for long-running hosts such as the HTTP service, which keep Python's defaults.
    """
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
