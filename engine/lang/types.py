"""Types of the rule language, derived from the claim JSON Schema.

The record types that rules see (claim, line, dx, patient, ...) are read from
``schemas/claim.schema.json`` so that the schema stays the one place a field is
declared; the few computed fields (a patient's age, a line's provider NPI) are
listed here with what they mean.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import orjson

from ..resources import schema_path

STRING, INTEGER, NUMBER, MONEY, DATE, BOOL, ANY = "string", "integer", "number", "money", "date", "bool", "any"
NUMERIC = {INTEGER, NUMBER, MONEY}
SCALARS = {STRING, INTEGER, NUMBER, MONEY, DATE, BOOL}


@dataclass(frozen=True)
class ListT:
    item: "Type"

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
    return {"string": STRING, "integer": INTEGER, "number": NUMBER, "boolean": BOOL}.get(kind, ANY)


# Computed fields: not in the input, derived by the fact builder from it.
COMPUTED = {
    "claim": {
        "first_service_date": (DATE, "earliest line from_date"),
        "last_service_date": (DATE, "latest line to_date"),
        "total_charge": (MONEY, "sum of line charges"),
        "line_count": (INTEGER, "number of service lines"),
        "diagnosis_codes": (ListT(STRING), "diagnosis codes in order, without dots"),
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
    docs = dict(claim.doc)
    fields.pop("encounters", None)
    for key, (t, d) in COMPUTED["claim"].items():
        fields[key], docs[key] = t, d
    patient = fields["patient"]
    fields["patient"] = _extend(patient, "patient")
    fields["lines"] = ListT(_extend(fields["lines"].item, "line"))
    fields["diagnoses"] = ListT(_extend(fields["diagnoses"].item, "diagnosis"))
    fields["rendering_provider"] = fields["billing_provider"]
    return RecordT("claim", fields, docs)


def _extend(record: RecordT, key: str) -> RecordT:
    fields, docs = dict(record.fields), dict(record.doc)
    for name, (t, d) in COMPUTED[key].items():
        fields[name], docs[name] = t, d
    return RecordT(key, fields, docs)


def line_type() -> RecordT:
    return claim_type().fields["lines"].item


def diagnosis_type() -> RecordT:
    return claim_type().fields["diagnoses"].item


SCOPES = ("claim", "line", "line_pair", "diagnosis")


def scope_vars(scope: str) -> dict[str, Type]:
    """The names a rule of this scope can use, and their types."""
    env: dict[str, Type] = {"claim": claim_type()}
    if scope in ("line", "line_pair"):
        env["line"] = line_type()
    if scope == "line_pair":
        env["other"] = line_type()
    if scope == "diagnosis":
        env["dx"] = diagnosis_type()
    return env
