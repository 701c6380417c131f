"""Encounter records given beside their claims: recognise, index and attach.

``claimscrub scrub claims.json encounters.json`` (or one file holding both, or
a directory) gives encounter documents (``schemas/encounter.schema.json``)
next to the claims they document. They are attached to their claims *before*
the claims are scrubbed, so per-claim rules see them exactly as if they had
been embedded in the claim's ``encounters``.

A record is attached by its link: the claim id (and lines), else the patient
id + provider NPI + date of service, matched against the claim's patient, its
rendering/billing/line NPIs and its lines' dates. An encounter that is invalid
or that links to no claim is reported (:class:`EncounterReport`), never
dropped; a claim is never rejected because of an encounter (only valid
records are attached).

Pure functions: the reader (``engine/claimscrub/inputs/__init__.py``) hands over
:class:`EncounterDoc`; the CLI builds the :class:`EncounterIndex` and links
each claim dict as it streams past. Messages name encounter ids and fields,
never values (notes are PHI).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from claimscrub.documentation.encounter import EncounterRejected, encounter_from_document
from claimscrub.inputs.base import InputFormatError, InputItem


@dataclass(frozen=True, slots=True)
class EncounterDoc:
    """One encounter document as read from an input file, not yet validated."""

    source: str  # "encounters.json#2"
    data: Any

    @property
    def encounter_id(self) -> str | None:
        eid = self.data.get("encounter_id") if isinstance(self.data, dict) else None
        return eid if isinstance(eid, str) else None


def is_encounter_document(doc: Any) -> bool:
    """An encounter record, not a claim: it has an ``encounter_id`` and no claim ``lines``."""
    return isinstance(doc, dict) and "encounter_id" in doc and "lines" not in doc and "resourceType" not in doc


def is_container(doc: Any) -> bool:
    """``{"claims": [...], "encounters": [...]}``: claims and their records in one JSON object."""
    return (
        isinstance(doc, dict)
        and "lines" not in doc
        and "claim_id" not in doc
        and ("claims" in doc or "encounters" in doc)
        and set(doc) <= {"claims", "encounters"}
    )


def container_documents(doc: dict, source: str) -> Iterator[tuple[Any, str]]:
    """The documents of a container, each with where it came from; a non-array member fails the file."""
    for key in ("claims", "encounters"):
        if not isinstance(doc.get(key, []), list):
            raise InputFormatError(f"{source}: {key} must be an array")
    for key in ("claims", "encounters"):
        for i, item in enumerate(doc.get(key) or ()):
            yield item, f"{source}:{key}[{i}]"


# --------------------------------------------------------------------------- index


@dataclass(frozen=True, slots=True)
class Indexed:
    """A valid side-by-side encounter and how it links."""

    encounter_id: str
    source: str
    data: dict[str, Any]
    claim_id: str | None
    line_sequences: tuple[int, ...]
    patient_id: str | None
    provider_npi: str | None
    date_of_service: str


@dataclass(frozen=True, slots=True)
class EncounterProblem:
    """An encounter that could not be used, with why (field and problem, never a value)."""

    encounter_id: str | None
    source: str
    field: str
    problem: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "encounter_id": self.encounter_id,
            "source": self.source,
            "status": "invalid",
            "field": self.field,
            "reason": f"{self.field}: {self.problem}",
        }


@dataclass(frozen=True, slots=True)
class EncounterIndex:
    by_claim: dict[str, tuple[Indexed, ...]] = field(default_factory=dict)
    by_patient: dict[str, tuple[Indexed, ...]] = field(default_factory=dict)  # records linked by patient + NPI
    problems: tuple[EncounterProblem, ...] = ()

    @property
    def encounters(self) -> Iterator[Indexed]:
        for group in (*self.by_claim.values(), *self.by_patient.values()):
            yield from group

    @property
    def count(self) -> int:
        """Valid encounters indexed."""
        return sum(len(g) for g in (*self.by_claim.values(), *self.by_patient.values()))


def index_encounters(docs: Iterable[EncounterDoc]) -> EncounterIndex:
    """Validate every document and index the valid ones by claim id, else by patient id."""
    by_claim: dict[str, list[Indexed]] = {}
    by_patient: dict[str, list[Indexed]] = {}
    problems: list[EncounterProblem] = []
    seen: dict[str, str] = {}
    for doc in docs:
        eid = doc.encounter_id
        try:
            enc = encounter_from_document(doc.data)
        except EncounterRejected as exc:
            problems.append(EncounterProblem(eid, doc.source, exc.field, exc.problem))
            continue
        if enc.encounter_id in seen:
            problems.append(
                EncounterProblem(
                    eid,
                    doc.source,
                    "encounter_id",
                    f"is used twice (first in {seen[enc.encounter_id]}); this one is ignored",
                )
            )
            continue
        seen[enc.encounter_id] = doc.source
        item = Indexed(
            enc.encounter_id,
            doc.source,
            doc.data,
            enc.link.claim_id,
            enc.link.line_sequences,
            enc.link.patient_id,
            enc.link.provider_npi,
            enc.date_of_service,
        )
        if item.claim_id:
            by_claim.setdefault(item.claim_id, []).append(item)
        else:  # the schema requires patient_id and provider_npi when there is no claim_id
            by_patient.setdefault(item.patient_id or "", []).append(item)
    return EncounterIndex(
        {k: tuple(v) for k, v in by_claim.items()}, {k: tuple(v) for k, v in by_patient.items()}, tuple(problems)
    )


# --------------------------------------------------------------------------- linking


def _get(d: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(d, dict):
            return None
        d = d.get(key)
    return d


def _lines_on(claim: dict, date: str, npi: str | None) -> tuple[int, ...]:
    """Sequences of the claim's lines whose service dates include ``date`` and whose provider is ``npi``.

    A line's provider is its rendering NPI, else the claim's rendering NPI, else the billing NPI; the
    billing NPI itself also matches (the schema's link names the rendering, else billing, provider).
    """
    billing = _get(claim, "billing_provider", "npi")
    default = _get(claim, "rendering_provider", "npi") or billing
    out = []
    for line in claim.get("lines") or ():
        if not isinstance(line, dict) or not isinstance(line.get("sequence"), int):
            continue
        start = line.get("from_date")
        end = line.get("to_date") or start
        if not (isinstance(start, str) and isinstance(end, str) and start <= date <= end):
            continue
        if npi in (line.get("rendering_npi") or default, billing):
            out.append(line["sequence"])
    return tuple(out)


def _resolved(item: Indexed, claim_id: str, lines: tuple[int, ...]) -> dict[str, Any]:
    """The record as embedded in its claim: the link now names the claim and lines (patient and NPI kept)."""
    link: dict[str, Any] = {"claim_id": claim_id}
    if lines:
        link["line_sequences"] = list(lines)
    if item.patient_id:
        link["patient_id"] = item.patient_id
    if item.provider_npi:
        link["provider_npi"] = item.provider_npi
    return {**item.data, "link": link}


@dataclass(frozen=True, slots=True)
class Linked:
    """One encounter attached to one claim, and by what."""

    encounter_id: str
    source: str
    claim_id: str
    by: str  # claim_id / patient_date_provider
    lines: tuple[int, ...]


def link_claim(claim: Any, index: EncounterIndex) -> tuple[Any, tuple[Linked, ...]]:
    """The claim dict with its side-by-side encounters appended to ``encounters``, and what was attached.

    The input dict is not modified. A claim already embedding a record with the same id keeps its own.
    A claim whose ``encounters`` is not an array is returned as it is (its own validation names the field).
    """
    if not isinstance(claim, dict) or not isinstance(claim.get("claim_id"), str):
        return claim, ()
    cid = claim["claim_id"]
    found = [(i, "claim_id", i.line_sequences) for i in index.by_claim.get(cid, ())]
    patient = _get(claim, "patient", "id")
    for item in index.by_patient.get(patient, ()) if isinstance(patient, str) else ():
        lines = _lines_on(claim, item.date_of_service, item.provider_npi)
        if lines:
            found.append((item, "patient_date_provider", lines))
    existing = claim.get("encounters")
    if not found or not isinstance(existing, (list, type(None))):
        return claim, ()
    embedded = list(existing or ())
    have = {e.get("encounter_id") for e in embedded if isinstance(e, dict)}
    linked = []
    for item, by, lines in sorted(found, key=lambda f: f[0].encounter_id):
        linked.append(Linked(item.encounter_id, item.source, cid, by, lines))
        if item.encounter_id not in have:
            have.add(item.encounter_id)
            embedded.append(_resolved(item, cid, lines))
    return {**claim, "encounters": embedded}, tuple(linked)


def link_items(items: Iterable[InputItem], index: EncounterIndex | None, links: list) -> Iterator[InputItem]:
    """The input items with their side-by-side encounters attached (see :func:`link_claim`); what was
    attached is appended to ``links``. The CLI and the HTTP service both stream claims through this."""
    for item in items:
        if index is not None and item.data is not None:
            data, linked = link_claim(item.data, index)
            if linked:
                item = replace(item, data=data)
                links.extend(linked)
        yield item


# --------------------------------------------------------------------------- report


@dataclass(frozen=True, slots=True)
class EncounterReport:
    """Every side-by-side encounter accounted for: linked (to which claims), unlinked, or invalid."""

    linked: dict[str, tuple[Linked, ...]]
    unlinked: tuple[Indexed, ...]
    problems: tuple[EncounterProblem, ...]

    @property
    def total(self) -> int:
        return len(self.linked) + len(self.unlinked) + len(self.problems)

    def entries(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for eid, links in sorted(self.linked.items()):
            out.append(
                {
                    "encounter_id": eid,
                    "source": links[0].source,
                    "status": "linked",
                    "claims": [{"claim_id": li.claim_id, "lines": list(li.lines), "by": li.by} for li in links],
                }
            )
        for item in self.unlinked:
            how = f"claim id {item.claim_id}" if item.claim_id else "patient id + provider NPI + date of service"
            out.append(
                {
                    "encounter_id": item.encounter_id,
                    "source": item.source,
                    "status": "unlinked",
                    "reason": f"link: no claim in the input matches its {how}",
                }
            )
        out.extend(p.as_dict() for p in self.problems)
        return out

    def summary(self) -> dict[str, int]:
        return {
            "encounters": self.total,
            "linked": len(self.linked),
            "unlinked": len(self.unlinked),
            "invalid": len(self.problems),
        }


def encounter_report(index: EncounterIndex, links: Iterable[Linked]) -> EncounterReport:
    """What became of each indexed encounter, given every link made while the claims streamed past."""
    linked: dict[str, list[Linked]] = {}
    for li in links:
        linked.setdefault(li.encounter_id, []).append(li)
    unlinked = tuple(sorted((i for i in index.encounters if i.encounter_id not in linked), key=lambda i: i.source))
    return EncounterReport({k: tuple(v) for k, v in linked.items()}, unlinked, index.problems)
