"""JSON Lines read as raw lines, so that the process that reads a file is not the one that parses it.

The CLI's parent process only dispatches: for a JSON Lines file it hands each line's bytes
(:class:`RawLine`) to a worker, which parses and validates it (:func:`items_of`), instead of parsing
every claim into a dict and pickling it across (10% of the parent's time in issue #18). The file is
read line by line, never whole, so a file of any size is read in the same memory.

A file takes this path only when reading it line by line gives exactly what :func:`read_bytes`
gives: it starts with a JSON object, its first line is a whole JSON document and another line
follows (so it cannot be one JSON document), and it names no encounter (those are indexed and linked
to claims before scrubbing, in the parent). Lines are numbered as ``bytes.splitlines`` numbers them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import orjson

from claimscrub.inputs import documents, json_line
from claimscrub.inputs.base import InputFormatError, InputItem

ENCOUNTER_MARK = b'"encounter_id"'
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class RawLine:
    """One non-blank line of a JSON Lines file, not yet parsed."""

    name: str  # the file, as sources name it
    number: int  # 1-based, as bytes.splitlines counts
    data: bytes

    @property
    def source(self) -> str:
        return f"{self.name}:{self.number}"


def items_of(raw: RawLine) -> list[InputItem]:
    """The claims of one line, as :func:`claimscrub.inputs.read_bytes` reads them from the whole file."""
    doc, source = json_line(raw.data, raw.name, raw.number)
    return list(documents(doc, source))


def mentions(path: Path, mark: bytes = ENCOUNTER_MARK) -> bool:
    """Does the file hold ``mark`` anywhere (read in chunks, never whole)?"""
    tail = b""
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            if mark in tail + chunk[: len(mark)] or mark in chunk:
                return True
            tail = chunk[-len(mark) :]
    return False


def _lines(stream: IO[bytes]) -> Iterator[bytes]:
    """The lines ``bytes.splitlines`` would give, without reading the whole stream."""
    for piece in stream:  # split at b"\n" only; splitlines also splits at a lone b"\r"
        yield from piece.splitlines() if b"\r" in piece else (piece.rstrip(b"\n"),)


def is_json_lines(path: Path) -> bool:
    """Would :func:`read_bytes` read this file as JSON Lines (and not as one document, X12 or RIF)?"""
    with path.open("rb") as f:
        lines = (line for line in _lines(f) if line.strip())
        first = next(lines, None)
        if first is None or not first.lstrip(b" \t").startswith(b"{"):
            return False
        try:
            orjson.loads(first)
        except orjson.JSONDecodeError:
            return False
        return next(lines, None) is not None


def raw_lines(path: Path, name: str) -> Iterator[RawLine]:
    """Every non-blank line of a JSON Lines file; a file that cannot be read is an input error naming it."""
    try:
        with path.open("rb") as f:
            for number, line in enumerate(_lines(f), 1):
                if line.strip():
                    yield RawLine(name, number, line)
    except OSError as exc:
        raise InputFormatError(f"{path}: cannot read ({exc.strerror or exc})") from None
