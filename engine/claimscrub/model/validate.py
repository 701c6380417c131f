"""Schema validation of input claims: fast on the hot path, precise on failure.

jsonschema-rs decides valid / invalid (tens of thousands of claims a second);
only for an invalid claim does the pure-Python jsonschema explain which field
failed and why, since that message is what the biller reads.
"""

from __future__ import annotations

import functools
from typing import Any

import jsonschema
import jsonschema_rs
import orjson

from claimscrub.resources import schema_path


@functools.cache
def _schema(name: str) -> dict:
    return orjson.loads(schema_path(name).read_bytes())


@functools.cache
def _fast(name: str):
    return jsonschema_rs.Draft7Validator(_schema(name))


@functools.cache
def _precise(name: str) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(_schema(name))


def field_path(path) -> str:
    """JSON path in the form a biller reads: ``lines[2].modifiers[0]``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(claim)"


def _describe(error: jsonschema.ValidationError) -> str:
    if error.validator == "required":
        return error.message.replace("is a required property", "is required")
    if error.validator == "additionalProperties":
        return error.message
    if error.validator in ("enum", "pattern", "type", "const"):
        return f"{error.instance!r} {error.message.split(' ', 1)[1] if error.message.startswith(repr(error.instance)) else error.message}"
    return error.message


def problems(document: Any, schema: str = "claim.schema.json") -> list[tuple[str, str]]:
    """Every (field, problem) of an invalid document; [] when it is valid."""
    if _fast(schema).is_valid(document):
        return []
    found = []
    for error in sorted(_precise(schema).iter_errors(document), key=lambda e: list(map(str, e.absolute_path))):
        best = jsonschema.exceptions.best_match([error])
        found.append((field_path(best.absolute_path), _describe(best)))
    return found or [("(claim)", "does not match the claim schema")]
