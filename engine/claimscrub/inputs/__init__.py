"""Reading claims from files and streams, whatever their format.

The format is detected by content, not by file name: X12 starts with ``ISA``
(an 835 remittance is refused here: :mod:`claimscrub.inputs.payments` reads it);
a ``|``-separated header with CLM_ID and CLM_PMT_AMT is a CMS RIF claim
extract (:mod:`claimscrub.inputs.rif`); JSON holding ``resourceType`` Claim or
Bundle is FHIR R4; other JSON is native claims (one object, an array, or JSON
Lines). Each claim becomes an
:class:`InputItem`. Encounter records (an ``encounter_id`` and no ``lines``,
also inside ``{"claims": [...], "encounters": [...]}``) are handed to the
caller's ``encounters`` list to be attached to their claims
(:mod:`claimscrub.inputs.encounters`); without a list they are reported as not
being claims. A file that cannot be read at all raises
:class:`InputFormatError` naming it, and the caller moves on to the next file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson

from claimscrub.inputs.base import InputFormatError, InputItem
from claimscrub.inputs.encounters import EncounterDoc, container_documents, is_container, is_encounter_document
from claimscrub.inputs.fhir import is_fhir, read_fhir
from claimscrub.inputs.rif import is_rif, read_rif
from claimscrub.inputs.x12 import is_x12, read_x12
from claimscrub.inputs.x835 import is_835


def _native(doc, source: str) -> Iterator[InputItem]:
    if isinstance(doc, dict):
        cid = doc.get("claim_id")
        yield InputItem(source, cid if isinstance(cid, str) else None, doc)
    else:
        yield InputItem.failed(source, None, f"expected a claim object, got {type(doc).__name__}")


def json_line(line: bytes, name: str, number: int) -> tuple[object, str]:
    """One line of a JSON Lines file: its document and source, or the item saying it is not JSON."""
    try:
        return orjson.loads(line), f"{name}:{number}"
    except orjson.JSONDecodeError as exc:
        return InputItem.failed(f"{name}:{number}", None, f"line {number} is not valid JSON ({exc})"), ""


def _json_documents(data: bytes, name: str) -> Iterator[tuple[object, str]]:
    """One JSON document, or JSON Lines (one document per line)."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as first_error:
        lines = data.splitlines()
        if len(lines) < 2:
            raise InputFormatError(f"{name}: not valid JSON ({first_error})") from None
        for number, line in enumerate(lines, 1):
            if line.strip():
                yield json_line(line, name, number)
        return
    if isinstance(doc, list):
        for i, item in enumerate(doc):
            yield item, f"{name}#{i}"
    else:
        yield doc, name


def read_bytes(data: bytes, name: str, encounters: list[EncounterDoc] | None = None) -> Iterator[InputItem]:
    """Every claim in one file's content; encounter records go to ``encounters`` when given."""
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    if is_x12(head):
        if is_835(data):
            raise InputFormatError(
                f"{name}: an X12 835 remittance, not claims; give it with its claims to 'claimscrub audit universe'"
            )
        yield from read_x12(data, name)
        return
    if is_rif(data):
        yield from read_rif(data, name)
        return
    if not head:
        raise InputFormatError(f"{name}: empty input")
    if head[:1] not in (b"{", b"["):
        raise InputFormatError(
            f"{name}: not JSON, X12 or a RIF extract (it starts with neither '{{', '[', 'ISA' nor a RIF header)"
        )  # no bytes: PHI
    for doc, source in _json_documents(data, name):
        yield from documents(doc, source, encounters)


def documents(doc, source: str, encounters: list[EncounterDoc] | None = None) -> Iterator[InputItem]:
    """Every claim in one parsed JSON document (a claim, a FHIR resource, a claims-and-encounters container)."""
    if isinstance(doc, InputItem):
        yield doc
    elif isinstance(doc, dict) and is_container(doc):
        for inner, where in container_documents(doc, source):
            yield from _document(inner, where, encounters)
    else:
        yield from _document(doc, source, encounters)


def _document(doc, source: str, encounters: list[EncounterDoc] | None) -> Iterator[InputItem]:
    if is_fhir(doc):
        yield from read_fhir(doc, source)
    elif is_encounter_document(doc):
        if encounters is not None:
            encounters.append(EncounterDoc(source, doc))
        else:
            eid = doc.get("encounter_id")
            yield InputItem.failed(
                source,
                None,
                f"an encounter record ({eid if isinstance(eid, str) else 'no id'}),"
                " not a claim: give it beside its claims to 'claimscrub scrub'",
                "encounter_id",
            )
    else:
        yield from _native(doc, source)


def read_file(path: str | Path) -> bytes:
    """A file's bytes; a file that cannot be read is an input error naming it."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputFormatError(f"{path}: cannot read ({exc.strerror or exc})") from None


def read_path(path: str | Path, encounters: list[EncounterDoc] | None = None) -> Iterator[InputItem]:
    yield from read_bytes(read_file(path), str(path), encounters)


__all__ = ["InputItem", "InputFormatError", "read_bytes", "read_file", "read_path"]
