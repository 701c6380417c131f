"""Schema validation of input claims: fast on the hot path, precise on failure.

jsonschema-rs decides valid / invalid (tens of thousands of claims a second);
only for an invalid claim does the pure-Python jsonschema explain which field
failed and why, since that message is what the biller reads.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import jsonschema_rs
import orjson

from claimscrub.resources import schema_path

if TYPE_CHECKING:
    import jsonschema


@functools.cache
def _schema(name: str) -> dict:
    return orjson.loads(schema_path(name).read_bytes())


@functools.cache
def _fast(name: str):
    return jsonschema_rs.Draft7Validator(_schema(name))


@functools.cache
def _precise(name: str) -> jsonschema.Draft7Validator:
    import jsonschema  # 0.1 s to import: only once a claim is invalid

    return jsonschema.Draft7Validator(_schema(name))


def field_path(path) -> str:
    """JSON path in the form a biller reads: ``lines[2].modifiers[0]``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(claim)"


# Fields whose values are codes (procedure, modifier, place of service ...): a bad one is shown, as the
# biller needs it to find the line. Any other value (a birth date, a patient id, an array) never is.
CODE_FIELDS = frozenset(
    {
        "code",
        "modifiers",
        "place_of_service",
        "revenue_code",
        "bill_type",
        "type",
        "frequency",
        "sex",
        "poa",
        "group",
        "reason",
        "remark_codes",
        "taxonomy",
    }
)
_SHOWN_CODE = 48  # longest code shown (the schema's procedure code bound)


def _value(error: jsonschema.ValidationError) -> str:
    """The failing value, only when it is a short code in a code field; else nothing."""
    path = [p for p in error.absolute_path if not isinstance(p, int)]
    value = error.instance
    if (
        path
        and path[-1] in CODE_FIELDS
        and isinstance(value, str)
        and len(value) <= _SHOWN_CODE
        and value.isascii()
        and value.isprintable()
    ):
        return f"{value!r} "
    return ""


def _names(keys) -> str:
    """Unexpected property names, each cut short (keys are input too)."""
    shown = [repr(k if len(k) <= 40 else k[:40] + "...") for k in list(keys)[:5]]
    return ", ".join(shown) + (" ..." if len(keys) > 5 else "")


def _describe(error: jsonschema.ValidationError) -> str:
    """The problem in words built from the schema, never from jsonschema's message (which embeds the
    whole instance: a birth date, a patient id, a 5,000-item array or a 10 MB string)."""
    kind = error.validator
    rule: Any = error.validator_value  # jsonschema types these as possibly unset: read as the schema gives them
    schema: Any = error.schema
    if kind == "required":
        missing = [k for k in rule if isinstance(error.instance, dict) and k not in error.instance]
        return f"{missing[0] if missing else 'a property'!r} is required"
    if kind == "additionalProperties":
        extra = (
            [k for k in error.instance if k not in schema.get("properties", {})]
            if isinstance(error.instance, dict)
            else []
        )
        return f"unexpected properties: {_names(extra)}" if extra else "unexpected properties"
    shown = _value(error)
    if kind == "type":
        return f"{shown}is not of type {rule if isinstance(rule, str) else ' or '.join(rule)}"
    if kind == "enum":
        return f"{shown}is not one of " + ", ".join(repr(v) for v in rule)
    if kind == "const":
        return f"{shown}is not {rule!r}"
    if kind == "pattern":
        return f"{shown}does not match the pattern {rule!r}"
    simple = {
        "minLength": "is shorter than {} characters",
        "maxLength": "is longer than {} characters",
        "minItems": "has fewer than {} items",
        "maxItems": "has more than {} items",
        "minimum": "is less than the minimum of {}",
        "maximum": "is greater than the maximum of {}",
        "exclusiveMinimum": "is not above {}",
        "exclusiveMaximum": "is not below {}",
        "multipleOf": "is not a multiple of {}",
    }
    if kind in simple:
        return f"{shown}{simple[kind].format(rule)}"
    if kind in ("oneOf", "anyOf") and "money" in str(error.schema_path) + str(schema.get("$ref", "")):
        return "is not an amount (a number or decimal string, at most two decimals, at most 999999999.99)"
    return f"{shown}does not match the claim schema ({kind})"


def problems(document: Any, schema: str = "claim.schema.json") -> list[tuple[str, str]]:
    """Every (field, problem) of an invalid document; [] when it is valid."""
    if _fast(schema).is_valid(document):
        return []
    from jsonschema.exceptions import best_match

    found = []
    for error in sorted(_precise(schema).iter_errors(document), key=lambda e: list(map(str, e.absolute_path))):
        best = best_match([error])
        found.append((field_path(best.absolute_path), _describe(best)))
    return found or [("(claim)", "does not match the claim schema")]
