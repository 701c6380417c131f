"""Streaming a scrub: what a worker sends back for each claim, and what the parent keeps of it.

Peak memory must not grow with the number of claims (issue #18). So the worker, not the parent,
renders each claim's output record (its JSON Lines line: the bytes to write) and sends it with the
few numbers the parent counts (status, findings by severity); the parent writes the bytes as they
arrive and never holds a result. What the phases after scrubbing need comes along, compact:

* the cross-claim phase: the normalised claim, pickled in the worker (the parent does not normalise
  again, and keeps bytes, not objects, until the phase runs);
* the batch phase: the claim's :class:`~claimscrub.api.batch.ClaimFacts` (notes, E/M lines), which the
  parent folds into counters.

When either phase runs, a claim's findings are only final once the whole batch has been scrubbed:
the records are spooled to a temporary file and written when the phase is done, with the phase's
findings merged into the few records that get any (:class:`Spool`).
"""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from claimscrub.api.batch import ClaimFacts, claim_facts
from claimscrub.api.scrubber import ClaimResult
from claimscrub.compile.findings import SEVERITY_ORDER
from claimscrub.model.claim import Claim
from claimscrub.model.normalize import ClaimRejected, claim_from_dict
from claimscrub.output.compact import compact_finding, compact_record

SEVERITIES = ("error", "warning", "info")


def result_record(r: ClaimResult) -> dict[str, Any]:
    """A claim's output record: its status and its findings (one JSON Lines line)."""
    line = {**r.as_dict(), "findings": [f.as_dict() for f in r.findings]}
    if r.suppressed:
        line["suppressed"] = [f.as_dict() for f in r.suppressed]
    return line


@dataclass(slots=True)
class Packet:
    """One claim as a worker hands it back: the bytes to write (or the result, for formats that need every
    result at once) and what the parent counts and keeps."""

    claim_id: str | None
    status: str  # scrubbed | rejected
    severities: tuple[int, int, int]  # findings by severity: error, warning, info
    suppressed: int
    line: bytes | None = None  # the claim's JSON Lines record
    result: ClaimResult | None = None  # the result itself (json, html and text output)
    claim: bytes | None = None  # the normalised claim, pickled: for the cross-claim phase
    patient: str | None = None  # its patient id (the phase's claims are kept by patient)
    facts: ClaimFacts | None = None  # for the batch phase


@dataclass(frozen=True, slots=True)
class Packing:
    """How a worker turns a result into a :class:`Packet` (a plain value: it is handed to forked workers)."""

    lines: bool = True  # render the record; else send the ClaimResult
    cross_claim: bool = False
    audit: bool = False
    dictionary: dict[str, dict] | None = None  # --compact: the rules dictionary (output.compact)

    def __call__(self, item: Any, r: ClaimResult, claim: Claim | None = None) -> Packet:
        """``claim``: the claim as the scrub normalised it (``scrub_unit`` passes it), kept for the
        cross-claim phase instead of normalising the claim's data a second time."""
        by = [0, 0, 0]
        for f in r.findings:
            by[SEVERITY_ORDER[f.severity]] += 1
        packet = Packet(r.claim_id, r.status, (by[0], by[1], by[2]), len(r.suppressed))
        if self.lines:
            record = result_record(r)
            packet.line = orjson.dumps(record if self.dictionary is None else compact_record(record, self.dictionary))
        else:
            packet.result = r
        data = getattr(item, "data", None)
        if r.status == "scrubbed" and data is not None:
            if self.cross_claim:
                try:
                    kept = claim if claim is not None else claim_from_dict(data, item.source)
                    packet.claim = pickle.dumps(kept, pickle.HIGHEST_PROTOCOL)
                    packet.patient = kept.patient.id
                except ClaimRejected:  # pragma: no cover - a scrubbed claim normalised once already
                    pass
            if self.audit:
                packet.facts = claim_facts(data, item.source)
        return packet


def finding_order(f: dict[str, Any]) -> tuple:
    """:func:`claimscrub.compile.findings.sort_key` on a finding's record (a compact one too)."""
    line, dx = f.get("line"), f.get("diagnosis")
    return (
        SEVERITY_ORDER[f["severity"]],
        line if line is not None else -1,
        f["rule_id"],
        f.get("related_lines", []),
        dx if dx is not None else -1,
        f.get("encounter") or "",
        f["message"],
    )


def _by_severity(findings: list[dict[str, Any]]) -> tuple[int, int, int]:
    by = [0, 0, 0]
    for f in findings:
        by[SEVERITY_ORDER[f["severity"]]] += 1
    return by[0], by[1], by[2]


def merge(
    line: bytes,
    extra: list,
    dictionary: dict[str, dict] | None = None,
    drop: frozenset[str] = frozenset(),
    not_checked: list[dict] | None = None,
) -> tuple[bytes, tuple[int, int, int], tuple[int, int, int]]:
    """A claim's record with what the later phases found: their findings added in order, findings of the rules
    in ``drop`` removed (rules that give way to history), their not-checked entries added; and the claim's
    findings by severity before and after (for :meth:`Totals.change`)."""
    record = orjson.loads(line)
    before = _by_severity(record["findings"])
    added = [f.as_dict() for f in extra]
    if dictionary is not None:
        added = [compact_finding(f, dictionary, record["claim_id"]) for f in added]
    own = [f for f in record["findings"] if f["rule_id"] not in drop]
    record["findings"] = sorted([*own, *added], key=finding_order)
    record["finding_count"] = len(record["findings"])
    if not_checked:
        record["not_checked"] = [*record.get("not_checked", ()), *not_checked]
    return orjson.dumps(record), before, _by_severity(record["findings"])


@dataclass
class Totals:
    """The run's summary, counted as claims stream past (``output.writers.summary`` of every result)."""

    claims: int = 0
    scrubbed: int = 0
    rejected: int = 0
    claims_with_findings: int = 0
    by_severity: list[int] = field(default_factory=lambda: [0, 0, 0])
    suppressed: int = 0

    def add(self, status: str, severities: tuple[int, int, int], suppressed: int) -> None:
        self.claims += 1
        self.scrubbed += status == "scrubbed"
        self.rejected += status == "rejected"
        self.claims_with_findings += any(severities)
        for i, n in enumerate(severities):
            self.by_severity[i] += n
        self.suppressed += suppressed

    def change(self, before: tuple[int, int, int], after: tuple[int, int, int]) -> None:
        """A claim counted already whose findings a later phase changed (added to, or dropped from)."""
        self.claims_with_findings += bool(any(after)) - bool(any(before))
        for i, (old, new) in enumerate(zip(before, after)):
            self.by_severity[i] += new - old

    def fails(self, threshold: int) -> bool:
        """A rejected claim, or a finding at or above the threshold (a SEVERITY_RANK: info 0 .. error 2)."""
        return bool(self.rejected) or any(self.by_severity[: 3 - threshold])

    def as_dict(self) -> dict[str, Any]:
        return {
            "claims": self.claims,
            "scrubbed": self.scrubbed,
            "rejected": self.rejected,
            "claims_with_findings": self.claims_with_findings,
            "findings": sum(self.by_severity),
            "by_severity": dict(zip(SEVERITIES, self.by_severity)),
            "suppressed": self.suppressed,
        }


class Spool:
    """Claim records kept on disk until the phases after scrubbing are done (one record per line)."""

    def __init__(self) -> None:
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix="claimscrub-spool-")  # noqa: SIM115 - closed in read()
        self.count = 0

    def add(self, line: bytes) -> None:
        self._file.write(line)
        self._file.write(b"\n")
        self.count += 1

    def read(self) -> Iterator[bytes]:
        """Every record in the order added (the file is gone afterwards)."""
        self._file.flush()
        self._file.seek(0)
        try:
            for raw in self._file:
                yield raw[:-1]
        finally:
            self._file.close()

    def close(self) -> None:
        self._file.close()
