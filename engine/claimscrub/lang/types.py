"""Types of the rule language, derived from the claim JSON Schema.

The record types that rules see (claim, line, dx, patient, ...) are read from
``schemas/claim.schema.json`` so that the schema stays the one place a field is
declared; the few computed fields (a patient's age, a line's provider NPI) are
listed here with what they mean.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import orjson

from claimscrub.resources import schema_path

STRING, INTEGER, NUMBER, MONEY, DATE, BOOL, ANY = "string", "integer", "number", "money", "date", "bool", "any"
NUMERIC = {INTEGER, NUMBER, MONEY}
SCALARS = {STRING, INTEGER, NUMBER, MONEY, DATE, BOOL}


@dataclass(frozen=True)
class ListT:
    item: Type

    def __str__(self) -> str:
        return f"list of {self.item}"


@dataclass(frozen=True)
class RecordT:
    name: str
    fields: dict = field(hash=False, compare=False)
    doc: dict = field(default_factory=dict, hash=False, compare=False)

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class RowT:
    """A table row: its columns are known only from the table definition."""

    table: str | None = None
    columns: dict | None = field(default=None, hash=False, compare=False)

    def __str__(self) -> str:
        return f"{self.table or 'table'} row"


@dataclass(frozen=True)
class SetT:
    """A named value set (``@name``): membership only."""

    def __str__(self) -> str:
        return "value set"


Type = str | ListT | RecordT | RowT | SetT


def compatible(a: Type, b: Type) -> bool:
    """Can values of types a and b be compared with each other?"""
    if a == ANY or b == ANY:
        return True
    if a in NUMERIC and b in NUMERIC:
        return True
    return a == b


_REF_TYPES = {"date": DATE, "money": MONEY, "npi": STRING, "pos": STRING}


def _from_schema(node: dict, root: dict, name: str) -> Type:
    ref = node.get("$ref")
    if ref:
        key = ref.rsplit("/", 1)[-1]
        if key in _REF_TYPES:
            return _REF_TYPES[key]
        return _from_schema(root["definitions"][key], root, key)
    if "enum" in node:
        return STRING
    kind = node.get("type")
    if isinstance(kind, list):
        kind = next(k for k in kind if k != "null")
    if kind == "object":
        props = node.get("properties", {})
        fields = {k: _from_schema(v, root, k) for k, v in props.items()}
        docs = {k: v.get("description", "") for k, v in props.items()}
        return RecordT(name, fields, docs)
    if kind == "array":
        return ListT(_from_schema(node.get("items", {}), root, name.rstrip("s")))
    return {"string": STRING, "integer": INTEGER, "number": NUMBER, "boolean": BOOL}.get(str(kind), ANY)


# Computed fields: not in the input, derived by the fact builder from it.
COMPUTED: dict[str, dict[str, Any]] = {
    "claim": {
        "first_service_date": (DATE, "earliest line from_date"),
        "last_service_date": (DATE, "latest line to_date"),
        "total_charge": (MONEY, "sum of line charges"),
        "line_count": (INTEGER, "number of service lines"),
        "diagnosis_codes": (ListT(STRING), "diagnosis codes in order, without dots"),
        "encounter_count": (INTEGER, "number of readable encounter records attached to the claim"),
        "encounter_problems": (ListT(STRING), "encounter records that could not be read: record id, field and problem"),
        "encounter_problem_count": (INTEGER, "number of encounter records that could not be read"),
    },
    "patient": {"age": (INTEGER, "age in whole years on the claim's first date of service")},
    "line": {
        "provider_npi": (STRING, "the line's rendering NPI, else the claim's rendering, else billing NPI"),
        "diagnosis_codes": (ListT(STRING), "codes of the diagnoses this line points to"),
        "patient_age": (INTEGER, "patient age in whole years on this line's from_date"),
        "claim_type": (STRING, "the claim's type (professional / institutional)"),
    },
    "diagnosis": {
        "position": (INTEGER, "1-based order on the claim; 1 is principal / first-listed"),
        "is_principal": (BOOL, "position == 1"),
    },
}


@functools.cache
def claim_type() -> RecordT:
    root = orjson.loads(schema_path("claim.schema.json").read_bytes())
    claim = _from_schema(root, root, "claim")
    assert isinstance(claim, RecordT)
    fields = dict(claim.fields)
    fields.pop("encounters", None)
    fields["patient"] = _extend(fields["patient"], COMPUTED["patient"], "patient")
    fields["lines"] = ListT(_extend(fields["lines"].item, COMPUTED["line"], "line"))
    fields["diagnoses"] = ListT(_extend(fields["diagnoses"].item, COMPUTED["diagnosis"], "diagnosis"))
    fields["rendering_provider"] = fields["billing_provider"]
    return _extend(RecordT("claim", fields, claim.doc), COMPUTED["claim"])


def _extend(record: RecordT, computed: dict, name: str | None = None) -> RecordT:
    """The record with computed fields added (their types and docs), optionally renamed."""
    fields, docs = dict(record.fields), dict(record.doc)
    for field_name, (t, d) in computed.items():
        fields[field_name], docs[field_name] = t, d
    return RecordT(name or record.name, fields, docs)


def line_type() -> RecordT:
    return claim_type().fields["lines"].item


def diagnosis_type() -> RecordT:
    return claim_type().fields["diagnoses"].item


# Encounter records (schemas/encounter.schema.json) as rules see them: computed
# by engine/claimscrub/documentation/encounter_view.py with the E/M library, once per record and line.
ENCOUNTER_COMPUTED: dict[str, dict[str, Any]] = {
    "encounter": {
        "provider_npi": (STRING, "the link's provider NPI, else the note author's"),
        "patient_id": (STRING, "the patient the record is about (from the link, else the claim)"),
        "line_sequences": (ListT(INTEGER), "claim lines this record documents"),
        "signature_status": (
            STRING,
            "signed / attested (unsigned or stamped, cured by attestation) / stamped / unsigned",
        ),
        "unsigned_orders": (ListT(STRING), "code (else kind) of each order in the record that is not signed"),
    },
    "signature": {"acceptable": (BOOL, "present and not a stamp (Medicare accepts handwritten or electronic)")},
    "timed_service": {
        "duration_minutes": (INTEGER, "minutes between start and stop, else the documented minutes"),
        "has_start_stop": (BOOL, "both start and stop times are documented"),
    },
    "em": {
        "family": (STRING, "E/M code family of the setting: office_outpatient / inpatient_observation"),
        "supported_code": (STRING, "the E/M code the documentation supports (higher of MDM and time)"),
        "supported_basis": (STRING, "mdm / time: which one gave the supported code"),
        "mdm_level": (STRING, "straightforward / low / moderate / high: the level 2 of 3 elements meet"),
        "mdm_code": (STRING, "the code the MDM level selects"),
        "problems_level": (STRING, "the problems element's level"),
        "data_level": (STRING, "the data element's level"),
        "risk_level": (STRING, "the risk element's level"),
        "time_minutes": (INTEGER, "total practitioner time that counts for E/M on the date"),
        "time_how": (STRING, "documented total / sum of counted activities / not documented"),
        "time_code": (STRING, "the code total time supports on the date of service"),
        "explanation": (STRING, "why: MDM elements and time against the thresholds in force"),
        "note": (STRING, "why no level could be derived (no table, no E/M documented)"),
        "prolonged_code": (STRING, "the prolonged-service code this payer type uses on the date (99417 or G2212)"),
        "prolonged_units": (INTEGER, "prolonged-service units the documented time supports (0 when none)"),
        "prolonged_reason": (STRING, "how the prolonged units were counted"),
    },
}
DOC_FIELDS = {
    "em_status": (
        STRING,
        (
            "billed E/M against the supported code: supported / over / under / unsupported / "
            "mismatch / not_comparable; missing when the line is not an E/M"
        ),
    ),
    "em_message": (STRING, "the comparison, naming the MDM elements and time that led to the supported code"),
    "em_supported_code": (STRING, "the E/M code the record supports"),
    "procedure_documented": (BOOL, "the record documents a procedure for this line"),
    "laterality": (STRING, "side the record documents for this line's procedure"),
    "distinct_evidence": (ListT(STRING), "distinct-service evidence the record gives for this line"),
    "separate_problems": (INTEGER, "MDM problems whose diagnosis is not one the same-day procedures were billed for"),
    "place_of_service": (STRING, "the line's place of service, else the claim's"),
    "timed_service": (STRING, "kind of the timed-service blocks documented for this line"),
    "timed_minutes": (INTEGER, "documented minutes of those blocks (blocks add up)"),
    "timed_start_stop": (BOOL, "every such block has start and stop times"),
    "timed_status": (STRING, "over / under / supported: billed code or units against the documented time"),
    "timed_supports": (STRING, "what the documented time supports, and why"),
    "infusion_kind": (STRING, "push / infusion by documented infusion time"),
}


@functools.cache
def encounter_type() -> RecordT:
    """The ``enc`` record: encounter schema fields (note text excluded: PHI) plus computed fields."""
    root = orjson.loads(schema_path("encounter.schema.json").read_bytes())
    enc = _from_schema(root, root, "encounter")
    assert isinstance(enc, RecordT)
    fields = dict(enc.fields)
    fields.pop("sections", None)
    fields["link"] = RecordT(
        "link", {"claim_id": STRING, "line_sequences": ListT(INTEGER), "patient_id": STRING, "provider_npi": STRING}
    )
    for key in ("signature", "em"):
        fields[key] = _extend(fields[key], ENCOUNTER_COMPUTED[key])
    fields["timed_services"] = ListT(_extend(fields["timed_services"].item, ENCOUNTER_COMPUTED["timed_service"]))
    return _extend(RecordT("encounter", fields, enc.doc), ENCOUNTER_COMPUTED["encounter"])


@functools.cache
def doc_type() -> RecordT:
    """The ``doc`` record: what one encounter record says about one claim line."""
    return RecordT("doc", {k: t for k, (t, _) in DOC_FIELDS.items()}, {k: d for k, (_, d) in DOC_FIELDS.items()})


# A line of the patient's other claims, as a ``history`` rule sees it beside one line of this claim
# (``hist``): what the history keeps of the line, and how it relates to ``line``. Built by
# engine/claimscrub/compile/history_facts.py; the relations are computed only when a rule reads them.
HISTORY_FIELDS: dict[str, tuple[Type, str]] = {
    "claim_id": (STRING, "the other claim's id"),
    "sequence": (INTEGER, "the other claim's line number"),
    "code": (STRING, "procedure code"),
    "modifiers": (ListT(STRING), "modifiers, in billed order"),
    "units": (NUMBER, "units of service"),
    "from_date": (DATE, "first date of service"),
    "to_date": (DATE, "last date of service"),
    "claim_type": (STRING, "professional / institutional"),
    "frequency": (STRING, "original / replacement (void claims are never history)"),
    "rendering_npi": (STRING, "the line's rendering NPI, else the claim's rendering NPI"),
    "billing_npi": (STRING, "billing provider (group) NPI"),
    "provider_npi": (STRING, "who performed it: rendering NPI, else billing NPI"),
    "specialty": (STRING, "rendering provider's specialty, else billing's"),
    "taxonomy": (STRING, "rendering provider's taxonomy, else billing's"),
    "ndc": (STRING, "NDC of a drug line"),
    "paid": (BOOL, "the payer paid the line (missing when not known)"),
    "paid_amount": (MONEY, "amount paid, when known"),
    "stored": (BOOL, "from the history store (an earlier run), not this batch"),
    "earlier": (BOOL, "ordered before this claim (the store's, and this batch's of earlier date of service)"),
    "days_after": (INTEGER, "days from hist.from_date to line.from_date (negative: hist is later)"),
    "same_provider": (BOOL, "performed by the line's provider (same NPI)"),
    "same_group_specialty": (BOOL, "same billing group and same specialty (else taxonomy) as this claim"),
    "same_physician": (BOOL, "same_provider, or same group and specialty (IOM 100-04, 12, 30.6.7)"),
    "same_modifiers": (BOOL, "the same modifiers as the line, in any order"),
    "day_units": (
        NUMBER,
        "units of line.code on line.from_date on the patient's earlier claims of this type by this "
        "billing group or provider",
    ),
    "limit_id": (STRING, "the frequency limit (rules/tables/history/frequency_limits.yaml) hist counts against"),
    "limit": (INTEGER, "how many services that limit allows in its period"),
    "limit_text": (STRING, "the limit in words ('1 per 12 months', 'once per lifetime')"),
    "limit_source": (STRING, "the regulation or manual that limit cites"),
    "limit_count": (INTEGER, "earlier services counting against that limit before line.from_date"),
}


@functools.cache
def history_line_type() -> RecordT:
    """The ``hist`` record of the history scope."""
    return RecordT(
        "history_line", {k: t for k, (t, _) in HISTORY_FIELDS.items()}, {k: d for k, (_, d) in HISTORY_FIELDS.items()}
    )


SCOPES = ("claim", "line", "line_pair", "diagnosis", "encounter", "encounter_line", "history")


def scope_vars(scope: str) -> dict[str, Type]:
    """The names a rule of this scope can use, and their types."""
    env: dict[str, Type] = {"claim": claim_type()}
    if scope in ("line", "line_pair", "encounter_line", "history"):
        env["line"] = line_type()
    if scope == "history":
        env["hist"] = history_line_type()
    if scope == "line_pair":
        env["other"] = line_type()
    if scope == "diagnosis":
        env["dx"] = diagnosis_type()
    if scope in ("encounter", "encounter_line"):
        env["enc"] = encounter_type()
    if scope == "encounter_line":
        env["doc"] = doc_type()
    return env
