"""The batch phase: audit checks that look across claims, run after per-claim scrubbing.

Per-claim rules see one claim at a time. Two audit checks need the whole batch:

* ``CS-AUD-001`` cloned notes (:mod:`claimscrub.documentation.cloned`): near-identical note
  sections across one patient's visits, or across patients of one provider on
  one day. One finding per cluster of matching encounters, on every claim
  whose encounter is in the cluster (category ``documentation``, warning).
* ``CS-AUD-002`` E/M level mix (:mod:`claimscrub.documentation.emstats`): each provider's E/M
  level distribution against a peer benchmark. A provider-level finding
  (``batch_findings``, not on a claim): ``warning`` when the mix is
  significantly shifted up, ``info`` when significantly different otherwise.
  It is a reason to look at the records, never an error. Providers in line
  with their peers, or with too few visits to test, get no finding but are
  listed in the audit table.

The phase only reads what :class:`BatchFacts` kept of the scrubbed claims: the
note sections of claims that carry encounters, the encounters that could not be
read, and E/M line counts per provider and code (counters, not lines), so memory
grows with encounters and providers, not with the number or size of claims.
Everything here is pure except the Collector's queue.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from typing import Any

from claimscrub.compile.findings import Finding, sort_key
from claimscrub.documentation.cloned import ClonedConfig, ClonedMatch, NoteText, clone_clusters, find_cloned_sections
from claimscrub.documentation.emstats import Benchmark, BenchmarkSet, DistributionResult, compare_providers
from claimscrub.documentation.encounter import EncounterRejected, encounter_of_claim
from claimscrub.inputs.base import ResultPairing
from claimscrub.model.normalize import ClaimRejected, claim_from_dict

CLONED_RULE = "CS-AUD-001"
STATS_RULE = "CS-AUD-002"
AUDIT_PACK = "audit"
AUDIT_VERSION = "1"

STATS_REFERENCES = (
    (
        "CMS Medicare Claims Processing Manual (Pub. 100-04), Chapter 12, Section 30.6.1: medical necessity is the "
        "overarching criterion for the level of E/M service"
    ),
    "HHS OIG, Coding Trends of Medicare Evaluation and Management Services (OEI-04-10-00180, 2012)",
)


@dataclass(slots=True)
class AuditFinding(Finding):
    """A finding of the batch phase: a Finding plus the encounters or provider it is about, and its numbers."""

    encounters: list[str] = field(
        default_factory=list
    )  # every encounter id the finding names (``encounter``: this claim's)
    provider_npi: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


# --------------------------------------------------------------------------- what is kept per claim


@dataclass(frozen=True, slots=True)
class NoteRef:
    """An encounter's note sections and the claim lines it documents."""

    note: NoteText
    claim_id: str
    lines: tuple[int, ...]  # () = the whole claim


@dataclass(frozen=True, slots=True)
class EmLine:
    provider_npi: str
    code: str
    specialty: str | None
    taxonomy: str | None


@dataclass(frozen=True, slots=True)
class EncounterIssue:
    """An embedded encounter that could not be read (its claim is still scrubbed)."""

    encounter_id: str | None
    claim_id: str
    source: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "encounter_id": self.encounter_id,
            "source": self.source,
            "status": "invalid",
            "claim_id": self.claim_id,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class ClaimFacts:
    claim_id: str
    notes: tuple[NoteRef, ...] = ()
    em_lines: tuple[EmLine, ...] = ()
    issues: tuple[EncounterIssue, ...] = ()


def claim_facts(data: dict[str, Any], source: str = "") -> ClaimFacts | None:
    """What the batch phase needs from one scrubbed claim; None when the claim cannot be normalised."""
    try:
        claim = claim_from_dict(data, source)
    except (ClaimRejected, KeyError, TypeError, ValueError):
        return None
    notes: list[NoteRef] = []
    issues: list[EncounterIssue] = []
    for i, doc in enumerate(claim.encounters):
        try:
            enc = encounter_of_claim(claim, doc)
        except EncounterRejected as exc:
            issues.append(EncounterIssue(exc.encounter_id, claim.claim_id, f"{source}:encounters[{i}]", exc.reason))
            continue
        if enc.sections:
            lines = enc.link.line_sequences if enc.link.claim_id == claim.claim_id else ()
            notes.append(NoteRef(NoteText.of(enc), claim.claim_id, lines))
    rendering, billing = claim.rendering_provider, claim.billing_provider
    default = rendering or billing
    em = []
    for line in claim.lines:
        npi = line.rendering_npi or default.npi
        who = rendering if rendering and npi == rendering.npi else billing if npi == billing.npi else None
        em.append(EmLine(npi, line.code, who.specialty if who else None, who.taxonomy if who else None))
    return ClaimFacts(claim.claim_id, tuple(notes), tuple(em), tuple(issues))


@dataclass
class BatchFacts:
    """What the batch phase keeps of a whole batch: notes and unreadable encounters as they are, and the
    E/M lines folded into counters as claims stream past (a claim's facts are not kept once added)."""

    notes: list[NoteRef] = field(default_factory=list)
    issues: list[EncounterIssue] = field(default_factory=list)
    counts: dict[str, Counter] = field(default_factory=dict)  # provider NPI -> procedure code -> lines
    who: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)  # NPI -> (specialty, taxonomy)
    claims: Counter = field(default_factory=Counter)  # provider NPI -> claims with a line of theirs

    @classmethod
    def of(cls, facts: Iterable[ClaimFacts]) -> BatchFacts:
        out = cls()
        for f in facts:
            out.add(f)
        return out

    def add(self, facts: ClaimFacts) -> None:
        self.notes.extend(facts.notes)
        self.issues.extend(facts.issues)
        seen = set()
        for line in facts.em_lines:
            self.counts.setdefault(line.provider_npi, Counter())[line.code] += 1
            spec, tax = self.who.get(line.provider_npi, (None, None))
            self.who[line.provider_npi] = (spec or line.specialty, tax or line.taxonomy)
            seen.add(line.provider_npi)
        self.claims.update(seen)


class Collector(ResultPairing):
    """Folds the batch facts of each scrubbed claim in as results stream past (results come in input order)."""

    def __init__(self) -> None:
        super().__init__()
        self.facts = BatchFacts()

    def take(self, result) -> None:
        """Add the facts of a scrubbed claim."""
        item = self.item_of(result)
        if result.status == "scrubbed" and item.data is not None:
            facts = claim_facts(item.data, item.source)
            if facts is not None:
                self.facts.add(facts)


# --------------------------------------------------------------------------- the checks


@dataclass(frozen=True, slots=True)
class BatchReport:
    claim_findings: dict[str, list[AuditFinding]]  # claim id -> findings to add to that claim
    batch_findings: list[AuditFinding]  # provider-level findings
    providers: list[dict[str, Any]]  # every provider comparison, flagged or not
    not_compared: list[dict[str, Any]]  # providers with no benchmark, and why
    issues: list[EncounterIssue]  # embedded encounters that could not be read
    cloned: dict[str, Any]  # what the cloned-note check did
    benchmark_file: str | None
    seconds: float

    def audit_section(self) -> dict[str, Any]:
        return {
            "cloned_notes": self.cloned,
            "peer_benchmarks": self.benchmark_file,
            "providers": self.providers,
            "not_compared": self.not_compared,
            "seconds": round(self.seconds, 3),
        }


def _range(values: list[float]) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:.2f}" if lo == hi else f"{lo:.2f}-{hi:.2f}"


SCOPE_TEXT = {"same_patient": "the same patient's visits", "same_provider_day": "patients of one provider on one day"}


def cloned_findings(refs: list[NoteRef], config: ClonedConfig) -> tuple[dict[str, list[AuditFinding]], dict]:
    """CS-AUD-001: one finding per cluster of near-identical sections, on each claim documented by the cluster."""
    where: dict[str, list[NoteRef]] = {}
    notes: list[NoteText] = []
    for ref in refs:
        if ref.note.encounter_id not in where:
            notes.append(ref.note)
        where.setdefault(ref.note.encounter_id, []).append(ref)
    matches = find_cloned_sections(notes, config)
    by_section: dict[str, list[ClonedMatch]] = {}
    for m in matches:
        by_section.setdefault(m.section, []).append(m)
    out: dict[str, list[AuditFinding]] = {}
    clusters = clone_clusters(matches)
    for section, ids in clusters:
        members = set(ids)
        pairs = [m for m in by_section[section] if m.encounter_ids[0] in members]
        sims = [m.similarity for m in pairs]
        scopes = sorted({m.scope for m in pairs}, key=list(SCOPE_TEXT).index)
        named = ", ".join(f"{eid} (claim {', '.join(sorted({r.claim_id for r in where[eid]}))})" for eid in ids)
        message = (
            f"The {section} section is near-identical across encounters {named}: Jaccard similarity "
            f"{_range(sims)} of {config.k}-word shingles, at or above the threshold {config.threshold:.2f} "
            f"({'; '.join(SCOPE_TEXT[s] for s in scopes)}). Cloned documentation may not support "
            f"the service billed for each visit."
        )
        evidence = {
            "section": section,
            "encounters": list(ids),
            "threshold": config.threshold,
            "k": config.k,
            "scopes": scopes,
            "pairs": [
                {"encounters": list(m.encounter_ids), "similarity": m.similarity, "scope": m.scope} for m in pairs
            ],
            "threshold_source": config.source,
        }
        done: set[str] = set()  # a claim documented by two encounters of one cluster gets its finding once
        for eid in ids:
            for ref in where[eid]:
                if ref.claim_id in done:
                    continue
                done.add(ref.claim_id)
                line = ref.lines[0] if ref.lines else None
                out.setdefault(ref.claim_id, []).append(
                    AuditFinding(
                        rule_id=CLONED_RULE,
                        category="documentation",
                        severity="warning",
                        claim_id=ref.claim_id,
                        line=line,
                        related_lines=list(ref.lines[1:]),
                        title="Cloned note sections across encounters",
                        message=message,
                        fix=(
                            f"Review encounter {eid} against the others named: the {section} must describe this visit. "
                            "Have the author amend carried-forward text that does not apply (a dated addendum), and "
                            "bill only what the visit's own documentation supports."
                        ),
                        citation="; ".join(config.references),
                        references=[{"source": r} for r in config.references],
                        rule_pack=AUDIT_PACK,
                        pack_version=AUDIT_VERSION,
                        data_edition=f"cloned_notes.yaml: threshold {config.threshold:.2f}",
                        encounter=eid,
                        encounters=list(ids),
                        evidence=evidence,
                    )
                )
    summary = {
        "notes": len(notes),
        "matching_pairs": len(matches),
        "clusters": len(clusters),
        "threshold": config.threshold,
        "k": config.k,
        "threshold_source": config.source,
    }
    return out, summary


def _stats_finding(r: DistributionResult, bench: Benchmark, chosen_by: str, default: str | None) -> AuditFinding:
    note = (
        f" The claims name no specialty: compared with the table's default peers ({default.replace('_', ' ')})."
        if chosen_by == "default_specialty" and default
        else ""
    )
    evidence = {
        k: getattr(r, k)
        for k in (
            "provider_npi",
            "benchmark_id",
            "services",
            "counts",
            "shares",
            "expected_shares",
            "excluded",
            "chi_square",
            "df",
            "p_value",
            "g_statistic",
            "g_p_value",
            "small_expected",
            "mean_level",
            "benchmark_mean_level",
            "share_high",
            "benchmark_share_high",
            "high_percentile",
            "peer_percentile",
        )
    }
    evidence["chosen_by"] = chosen_by
    peer = (
        f"; mean level at the {r.peer_percentile:.0f}th percentile of providers in this batch"
        if r.peer_percentile is not None
        else ""
    )
    references = [bench.edition(), *STATS_REFERENCES]
    return AuditFinding(
        rule_id=STATS_RULE,
        category="upcoding",
        severity=r.severity,
        claim_id="",
        line=None,
        title="E/M level mix against peers",
        message=(
            f"{r.message[0].upper()}{r.message[1:]} (G-test {r.g_statistic:.1f}){peer}.{note}"
            " Reason to look, not an error."
        ),
        fix=(
            "Pull a sample of this provider's E/M visits and check each level against its documentation (MDM or "
            "time); a high mix can be right for a sicker panel, so look before concluding."
        ),
        citation="; ".join(references),
        references=[{"source": s} for s in references],
        rule_pack=AUDIT_PACK,
        pack_version=AUDIT_VERSION,
        data_edition=bench.edition(),
        table_row={"benchmark_id": bench.id, **{c: round(s, 2) for c, s in sorted(bench.shares.items())}},
        provider_npi=r.provider_npi,
        evidence=evidence,
    )


def stats_findings(facts: BatchFacts, benchmarks: BenchmarkSet) -> tuple[list[AuditFinding], list[dict], list[dict]]:
    """CS-AUD-002: every provider with E/M visits against its peers; a finding only where the test is significant."""
    counts, who, claims = facts.counts, facts.who, facts.claims
    groups: dict[str, tuple[Benchmark, dict[str, dict[str, int]]]] = {}
    chosen_why: dict[str, str] = {}  # provider -> why its benchmarks were chosen
    not_compared = []
    all_codes = {c for b in benchmarks.benchmarks for c in b.shares}
    for npi in sorted(counts):
        if not set(counts[npi]) & all_codes:
            continue  # no E/M visit of any benchmark's codes: nothing to compare
        chosen, why = benchmarks.for_provider(*who[npi])
        if not chosen:
            not_compared.append({"provider_npi": npi, "reason": why})
            continue
        chosen_why[npi] = why
        for bench in chosen:
            mine = {c: n for c, n in counts[npi].items() if c in bench.shares}
            if mine:
                groups.setdefault(bench.id, (bench, {}))[1][npi] = mine
    findings, table = [], []
    for bench, by_provider in groups.values():
        results = compare_providers(
            by_provider, bench, benchmarks.alpha, benchmarks.min_services, benchmarks.high_level
        )
        for r in results:
            chosen_by = chosen_why[r.provider_npi]
            tested = r.services >= benchmarks.min_services
            flagged = tested and r.p_value is not None and r.p_value < benchmarks.alpha
            table.append(
                {
                    "provider_npi": r.provider_npi,
                    "benchmark_id": bench.id,
                    "claims": claims[r.provider_npi],
                    "services": r.services,
                    "tested": tested,
                    "finding": r.severity if flagged else None,
                    "chi_square": r.chi_square,
                    "df": r.df,
                    "p_value": r.p_value,
                    "g_statistic": r.g_statistic,
                    "mean_level": r.mean_level,
                    "benchmark_mean_level": r.benchmark_mean_level,
                    "share_high": r.share_high,
                    "benchmark_share_high": r.benchmark_share_high,
                    "high_percentile": r.high_percentile,
                    "peer_percentile": r.peer_percentile,
                    "message": r.message,
                }
            )
            if flagged:
                findings.append(_stats_finding(r, bench, chosen_by, benchmarks.default_specialty))
    findings.sort(key=lambda f: (f.severity != "warning", f.provider_npi))
    return findings, table, not_compared


def run_batch(
    facts: BatchFacts | Iterable[ClaimFacts], cloned: ClonedConfig | None, benchmarks: BenchmarkSet | None
) -> BatchReport:
    """Both checks over the collected facts (either may be off: None)."""
    started = time.perf_counter()
    if not isinstance(facts, BatchFacts):
        facts = BatchFacts.of(facts)
    claim_findings: dict[str, list[AuditFinding]] = {}
    cloned_summary: dict[str, Any] = {"run": False}
    if cloned is not None:
        claim_findings, cloned_summary = cloned_findings(facts.notes, cloned)
        cloned_summary = {"run": True, **cloned_summary}
    batch: list[AuditFinding] = []
    table: list[dict] = []
    not_compared: list[dict] = []
    if benchmarks is not None:
        batch, table, not_compared = stats_findings(facts, benchmarks)
    return BatchReport(
        claim_findings,
        batch,
        table,
        not_compared,
        list(facts.issues),
        cloned_summary,
        benchmarks.path if benchmarks else None,
        time.perf_counter() - started,
    )


def attach(results: list, report: BatchReport) -> list:
    """The claim results with their batch findings added (new ClaimResult objects; others unchanged)."""
    out = []
    for r in results:
        extra = report.claim_findings.get(r.claim_id) if r.status == "scrubbed" else None
        out.append(replace(r, findings=sorted([*r.findings, *extra], key=sort_key)) if extra else r)
    return out
