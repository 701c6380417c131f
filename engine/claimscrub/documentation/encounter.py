"""The encounter record: what the medical record documents, typed.

An encounter (schemas/encounter.schema.json) is the auditor's abstract of one
note. Rules compare the claim with it: the E/M level the documentation
supports, signatures, time, laterality, distinct-service evidence and so on.

:func:`encounter_from_dict` turns a schema-valid dict into an
:class:`Encounter`; :func:`encounter_from_document` validates first. Problems
raise :class:`EncounterRejected`, naming the encounter id and the field, never
a value (free text and identifiers in a note are PHI).
"""

from __future__ import annotations

import datetime as _dt
import functools
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, cast

import jsonschema_rs
import orjson

from claimscrub.resources import schema_path

if TYPE_CHECKING:
    import jsonschema

SCHEMA = "encounter.schema.json"

SETTINGS = (
    "office",
    "outpatient_hospital",
    "inpatient",
    "observation",
    "emergency_department",
    "nursing_facility",
    "home_or_residence",
    "other",
)
SECTIONS = ("chief_complaint", "hpi", "ros", "exam", "assessment", "plan")
# Time that never counts towards E/M total time (CPT 2021 E/M guidelines).
UNCOUNTED_ACTIVITIES = frozenset({"separately_reported_service", "travel"})
UNCOUNTED_PERFORMERS = frozenset({"clinical_staff"})


class EncounterRejected(Exception):
    """An encounter record that cannot be used: names the encounter and the field, never a value."""

    def __init__(self, encounter_id: str | None, field: str, problem: str):
        super().__init__(f"encounter {encounter_id or '(no id)'}: {field}: {problem}")
        self.encounter_id = encounter_id
        self.field = field
        self.problem = problem

    @property
    def reason(self) -> str:
        return f"{self.field}: {self.problem}"


# --------------------------------------------------------------------------- types


@dataclass(frozen=True, slots=True)
class ClaimLink:
    """Which claim lines the record documents (by claim id, or patient + provider + date)."""

    claim_id: str | None = None
    line_sequences: tuple[int, ...] = ()  # empty with a claim_id = every line
    patient_id: str | None = None
    provider_npi: str | None = None


@dataclass(frozen=True, slots=True)
class Author:
    npi: str
    credentials: str | None = None
    role: str | None = None


@dataclass(frozen=True, slots=True)
class Signature:
    present: bool
    signer_npi: str | None = None
    signer_credentials: str | None = None
    signed_at: str | None = None
    method: str | None = None  # electronic / handwritten / stamped

    @property
    def acceptable(self) -> bool:
        """Medicare accepts handwritten or electronic signatures, never a stamp."""
        return self.present and self.method != "stamped"


@dataclass(frozen=True, slots=True)
class Attestation:
    present: bool
    signer_npi: str | None = None
    signed_at: str | None = None


@dataclass(frozen=True, slots=True)
class EmFacts:
    basis: str | None = None  # mdm / time
    patient_status: str | None = None  # new / established
    setting: str | None = None
    visit_kind: str | None = None  # initial / subsequent / discharge (inpatient, observation)


@dataclass(frozen=True, slots=True)
class TimeActivity:
    activity: str
    minutes: int
    performed_by: str = "billing_practitioner"

    @property
    def counts_for_em(self) -> bool:
        return self.activity not in UNCOUNTED_ACTIVITIES and self.performed_by not in UNCOUNTED_PERFORMERS


@dataclass(frozen=True, slots=True)
class TimedService:
    service: str
    code: str | None = None
    line_sequence: int | None = None
    start: str | None = None  # ISO date-time
    stop: str | None = None
    minutes: int | None = None  # documented duration; start/stop wins when both exist

    @property
    def duration_minutes(self) -> int | None:
        """Whole minutes between start and stop, else the documented minutes, else None."""
        if self.start and self.stop:
            delta = _parse_datetime(self.stop) - _parse_datetime(self.start)
            return int(delta.total_seconds() // 60)
        return self.minutes

    @property
    def has_start_stop(self) -> bool:
        return bool(self.start and self.stop)


@dataclass(frozen=True, slots=True)
class Problem:
    type: str
    status: str | None = None
    diagnosis_code: str | None = None


@dataclass(frozen=True, slots=True)
class DataItem:
    category: str  # external_note / test_result / test_ordered
    source: str | None = None
    test: str | None = None
    separately_reported: bool = False


@dataclass(frozen=True, slots=True)
class Interpretation:
    test: str
    separately_reported: bool = False


@dataclass(frozen=True, slots=True)
class Discussion:
    with_: str
    separately_reported: bool = False


@dataclass(frozen=True, slots=True)
class MdmData:
    items: tuple[DataItem, ...] = ()
    independent_historian: bool = False
    independent_interpretations: tuple[Interpretation, ...] = ()
    external_discussions: tuple[Discussion, ...] = ()


@dataclass(frozen=True, slots=True)
class RiskItem:
    type: str
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class Mdm:
    problems: tuple[Problem, ...] = ()
    data: MdmData = field(default_factory=MdmData)
    risk: tuple[RiskItem, ...] = ()


@dataclass(frozen=True, slots=True)
class Lesion:
    size_cm: float | None = None
    count: int | None = None
    nature: str | None = None


@dataclass(frozen=True, slots=True)
class Procedure:
    code: str
    line_sequence: int | None = None
    laterality: str | None = None
    site: str | None = None
    lesion: Lesion | None = None


@dataclass(frozen=True, slots=True)
class DistinctService:
    evidence: str
    line_sequence: int | None = None
    code: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class TeachingPhysician:
    resident_involved: bool | None = None
    present_key_portion: bool | None = None
    primary_care_exception: bool | None = None


@dataclass(frozen=True, slots=True)
class IncidentTo:
    billed_incident_to: bool | None = None
    supervising_npi: str | None = None
    supervision: str | None = None
    established_plan_of_care: bool | None = None


@dataclass(frozen=True, slots=True)
class Telehealth:
    modality: str  # audio_video / audio_only
    patient_location: str | None = None
    provider_location: str | None = None
    consent_documented: bool | None = None


@dataclass(frozen=True, slots=True)
class Abn:
    on_file: bool
    signed_date: str | None = None
    option: str | None = None
    codes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Order:
    signed: bool
    code: str | None = None
    kind: str | None = None
    signer_npi: str | None = None
    signed_at: str | None = None


@dataclass(frozen=True, slots=True)
class Encounter:
    encounter_id: str
    date_of_service: str
    link: ClaimLink
    note_date: str | None = None
    author: Author | None = None
    signature: Signature | None = None
    attestation: Attestation | None = None
    em: EmFacts | None = None
    total_time_minutes: int | None = None
    time_activities: tuple[TimeActivity, ...] = ()
    timed_services: tuple[TimedService, ...] = ()
    mdm: Mdm | None = None
    procedures: tuple[Procedure, ...] = ()
    distinct_service: tuple[DistinctService, ...] = ()
    teaching_physician: TeachingPhysician | None = None
    incident_to: IncidentTo | None = None
    telehealth: Telehealth | None = None
    abn: Abn | None = None
    orders: tuple[Order, ...] = ()
    sections: dict[str, str] = field(default_factory=dict)

    @property
    def patient_id(self) -> str | None:
        return self.link.patient_id

    @property
    def provider_npi(self) -> str | None:
        """The link's provider, else the note author."""
        return self.link.provider_npi or (self.author.npi if self.author else None)

    def timed(self, service: str) -> tuple[TimedService, ...]:
        return tuple(t for t in self.timed_services if t.service == service)

    def documents_line(self, claim_id: str, sequence: int) -> bool:
        """True when the link names this claim and line (no sequences = all lines)."""
        if self.link.claim_id != claim_id:
            return False
        return not self.link.line_sequences or sequence in self.link.line_sequences


# --------------------------------------------------------------------------- parsing


def _parse_datetime(value: str) -> _dt.datetime:
    text = value.replace(" ", "T", 1)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = _dt.datetime.fromisoformat(text)
    # Start and stop are compared with each other only: drop the offset after
    # normalising to UTC, so a naive and an aware stamp never meet.
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(_dt.UTC).replace(tzinfo=None)
    return parsed


class _Reader:
    """Field-by-field conversion, remembering where it is for error messages."""

    def __init__(self, encounter_id: str | None):
        self.eid = encounter_id

    def fail(self, where: str, problem: str) -> EncounterRejected:
        return EncounterRejected(self.eid, where, problem)

    def date(self, value: Any, where: str) -> str | None:
        if value is None:
            return None
        try:
            if len(value) != 10 or value[4] != "-" or value[7] != "-":  # no 20240801, no week dates
                raise ValueError(value)
            return _dt.date.fromisoformat(value).isoformat()
        except (TypeError, ValueError):
            raise self.fail(where, "is not a calendar date (YYYY-MM-DD)") from None

    def datetime(self, value: Any, where: str) -> str | None:
        if value is None:
            return None
        if isinstance(value, str) and len(value) == 10:
            return self.date(value, where)
        try:
            _parse_datetime(value)
        except (TypeError, ValueError):
            raise self.fail(where, "is not a date-time (YYYY-MM-DDTHH:MM)") from None
        return value


def _code(value: str | None) -> str | None:
    return value.upper() if isinstance(value, str) else None


def encounter_from_dict(data: dict[str, Any]) -> Encounter:
    """Build an Encounter from a schema-valid dict; checks what the schema cannot (calendar dates, stop after start)."""
    eid = data.get("encounter_id")
    r = _Reader(eid)
    link_d = data.get("link") or {}
    link = ClaimLink(
        claim_id=link_d.get("claim_id"),
        line_sequences=tuple(link_d.get("line_sequences", ())),
        patient_id=link_d.get("patient_id"),
        provider_npi=link_d.get("provider_npi"),
    )
    if not link.claim_id and not (link.patient_id and link.provider_npi):
        raise r.fail("link", "needs a claim_id, or a patient_id and a provider_npi")

    author = None
    if (a := data.get("author")) is not None:
        author = Author(npi=a["npi"], credentials=a.get("credentials"), role=a.get("role"))
    signature = None
    if (s := data.get("signature")) is not None:
        signature = Signature(
            present=s["present"],
            signer_npi=s.get("signer_npi"),
            signer_credentials=s.get("signer_credentials"),
            signed_at=r.datetime(s.get("signed_at"), "signature.signed_at"),
            method=s.get("method"),
        )
    attestation = None
    if (at := data.get("attestation")) is not None:
        attestation = Attestation(
            present=at["present"],
            signer_npi=at.get("signer_npi"),
            signed_at=r.datetime(at.get("signed_at"), "attestation.signed_at"),
        )
    em = None
    if (e := data.get("em")) is not None:
        em = EmFacts(
            basis=e.get("basis"),
            patient_status=e.get("patient_status"),
            setting=e.get("setting"),
            visit_kind=e.get("visit_kind"),
        )

    timed = []
    for i, t in enumerate(data.get("timed_services", ())):
        where = f"timed_services[{i}]"
        start = r.datetime(t.get("start"), f"{where}.start")
        stop = r.datetime(t.get("stop"), f"{where}.stop")
        if (start is None) != (stop is None):
            raise r.fail(where, "has a start without a stop or a stop without a start")
        if start and stop and _parse_datetime(stop) < _parse_datetime(start):
            raise r.fail(f"{where}.stop", "is before the start")
        timed.append(
            TimedService(
                service=t["service"],
                code=_code(t.get("code")),
                line_sequence=t.get("line_sequence"),
                start=start,
                stop=stop,
                minutes=t.get("minutes"),
            )
        )

    mdm = None
    if (m := data.get("mdm")) is not None:
        d = m.get("data") or {}
        mdm = Mdm(
            problems=tuple(
                Problem(
                    type=p["type"],
                    status=p.get("status"),
                    diagnosis_code=p.get("diagnosis_code"),
                )
                for p in m.get("problems", ())
            ),
            data=MdmData(
                items=tuple(
                    DataItem(
                        category=it["category"],
                        source=it.get("source"),
                        test=it.get("test"),
                        separately_reported=it.get("separately_reported", False),
                    )
                    for it in d.get("items", ())
                ),
                independent_historian=d.get("independent_historian", False),
                independent_interpretations=tuple(
                    Interpretation(
                        test=x["test"],
                        separately_reported=x.get("separately_reported", False),
                    )
                    for x in d.get("independent_interpretations", ())
                ),
                external_discussions=tuple(
                    Discussion(
                        with_=x["with"],
                        separately_reported=x.get("separately_reported", False),
                    )
                    for x in d.get("external_discussions", ())
                ),
            ),
            risk=tuple(RiskItem(type=k["type"], detail=k.get("detail")) for k in m.get("risk", ())),
        )

    procedures = tuple(
        Procedure(
            code=p["code"].upper(),
            line_sequence=p.get("line_sequence"),
            laterality=p.get("laterality"),
            site=p.get("site"),
            lesion=Lesion(**p["lesion"]) if p.get("lesion") is not None else None,
        )
        for p in data.get("procedures", ())
    )
    distinct = tuple(
        DistinctService(
            evidence=x["evidence"],
            line_sequence=x.get("line_sequence"),
            code=_code(x.get("code")),
            detail=x.get("detail"),
        )
        for x in data.get("distinct_service", ())
    )
    tp = data.get("teaching_physician")
    inc = data.get("incident_to")
    tele = data.get("telehealth")
    abn_d = data.get("abn")
    orders = []
    for i, o in enumerate(data.get("orders", ())):
        orders.append(
            Order(
                signed=o["signed"],
                code=_code(o.get("code")),
                kind=o.get("kind"),
                signer_npi=o.get("signer_npi"),
                signed_at=r.datetime(o.get("signed_at"), f"orders[{i}].signed_at"),
            )
        )

    date_of_service = r.date(data.get("date_of_service"), "date_of_service")
    if not isinstance(eid, str) or date_of_service is None:
        raise r.fail("encounter_id" if not isinstance(eid, str) else "date_of_service", "is required")
    return Encounter(
        encounter_id=eid,
        date_of_service=date_of_service,
        note_date=r.date(data.get("note_date"), "note_date"),
        link=link,
        author=author,
        signature=signature,
        attestation=attestation,
        em=em,
        total_time_minutes=data.get("total_time_minutes"),
        time_activities=tuple(
            TimeActivity(
                activity=x["activity"],
                minutes=x["minutes"],
                performed_by=x.get("performed_by", "billing_practitioner"),
            )
            for x in data.get("time_activities", ())
        ),
        timed_services=tuple(timed),
        mdm=mdm,
        procedures=procedures,
        distinct_service=distinct,
        teaching_physician=TeachingPhysician(**tp) if tp is not None else None,
        incident_to=IncidentTo(**inc) if inc is not None else None,
        telehealth=Telehealth(**tele) if tele is not None else None,
        abn=(
            Abn(
                on_file=abn_d["on_file"],
                signed_date=r.date(abn_d.get("signed_date"), "abn.signed_date"),
                option=abn_d.get("option"),
                codes=tuple(c.upper() for c in abn_d.get("codes", ())),
            )
            if abn_d is not None
            else None
        ),
        orders=tuple(orders),
        sections=dict(data.get("sections") or {}),
    )


# --------------------------------------------------------------------------- validation


@functools.cache
def _schema() -> dict:
    return orjson.loads(schema_path(SCHEMA).read_bytes())


@functools.cache
def _fast() -> jsonschema_rs.Draft7Validator:
    return jsonschema_rs.Draft7Validator(_schema())


def _where(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(encounter)"


def _describe(error: jsonschema.ValidationError) -> str:
    """The problem without the offending value (it may be note text or an identifier)."""
    v = error.validator
    if v == "required":
        return error.message.replace("is a required property", "is required")
    if v == "additionalProperties":
        return error.message
    if v == "enum":
        return "must be one of " + ", ".join(map(str, cast(list, error.validator_value)))
    if v == "type":
        return f"must be of type {error.validator_value}"
    if v == "pattern":
        return "does not have the expected format"
    if v == "oneOf" and list(error.absolute_path)[-1:] == ["link"]:
        return "must be either {claim_id[, line_sequences]} or {patient_id, provider_npi}"
    if v in ("minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems"):
        return f"violates {v} {error.validator_value}"
    return f"fails the {v} constraint"


def encounter_problems(document: Any) -> list[tuple[str, str]]:
    """Every (field, problem) of an invalid encounter document; [] when valid."""
    if _fast().is_valid(document):
        return []
    import jsonschema  # 0.1 s to import: only once a record is invalid

    validator = jsonschema.Draft7Validator(_schema())
    found = []
    for error in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path))):
        found.append((_where(error.absolute_path), _describe(error)))
    return found or [("(encounter)", "does not match the encounter schema")]


def encounter_from_document(document: Any) -> Encounter:
    """Validate against the encounter schema, then build; raises EncounterRejected on the first problem."""
    eid = document.get("encounter_id") if isinstance(document, dict) else None
    eid = eid if isinstance(eid, str) else None
    found = encounter_problems(document)
    if found:
        where, problem = found[0]
        raise EncounterRejected(eid, where, problem)
    return encounter_from_dict(document)


def encounter_of_claim(claim: Any, doc: Any) -> Encounter:
    """One record a native claim carries: linked to the claim when it has no link, patient and provider filled in."""
    if isinstance(doc, dict) and "link" not in doc:
        doc = {**doc, "link": {"claim_id": claim.claim_id}}
    enc = encounter_from_document(doc)
    if enc.link.patient_id is None and enc.link.claim_id == claim.claim_id:
        npi = enc.link.provider_npi or (
            claim.rendering_provider.npi if claim.rendering_provider else claim.billing_provider.npi
        )
        link = ClaimLink(enc.link.claim_id, enc.link.line_sequences, claim.patient.id, npi)
        enc = replace(enc, link=link)
    return enc


def encounters_of_claim(claim: Any) -> list[Encounter]:
    """The typed encounters a native claim carries (Claim.encounters); raises on the first unusable record."""
    return [encounter_of_claim(claim, doc) for doc in getattr(claim, "encounters", ()) or ()]
