"""Recognising a reference file: which table and layout read it, and which edition it is.

A layout (declared in the table's YAML) names the file-name pattern and the
header columns it expects; a file is recognised when both match. The edition
comes from the file name (``_2024-07-01``, ``Eff_07-01-2024``, ``2024Q3``,
``PPRRVU24_JUL``, NCCI ``v302r0``) unless the layout fixes it.
"""

from __future__ import annotations

import calendar
import csv
import gzip
import io
import re
from dataclasses import dataclass
from pathlib import Path

from claimscrub.refdata.tables import Layout, Registry, TableDef

HEADER_SCAN_LINES = 60


@dataclass(frozen=True, slots=True)
class Match:
    defn: TableDef
    layout: Layout


@dataclass(frozen=True, slots=True)
class EditionInfo:
    label: str  # "2024-07-01", "2019Q3-2026Q2", "v43.1"
    date: str | None  # the release date the label stands for (ISO), if any


def norm_header(name: str) -> str:
    """Header names compare without case, blanks or punctuation: "HCPCS/CPT Code" = "hcpcscptcode"."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def head_lines(path: Path, encoding: str = "utf-8-sig", n: int = HEADER_SCAN_LINES) -> list[str]:
    """The first lines of a plain or gzip text file, read leniently (for recognition only)."""
    raw = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")  # noqa: SIM115
    with raw:
        text = io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline="")
        out = []
        for line in text:
            out.append(line.rstrip("\r\n"))
            if len(out) >= n:
                break
        return out


def sniff_delimiter(line: str) -> str:
    counts = {d: line.count(d) for d in (",", "\t", "|", ";")}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


def find_header(
    lines: list[str], required: tuple[str, ...], delimiter: str | None
) -> tuple[int, list[str], str] | None:
    """(line index, cells, delimiter) of the first line holding every required column."""
    want = {norm_header(h) for h in required}
    for i, line in enumerate(lines):
        delim = delimiter or sniff_delimiter(line)
        cells = next(csv.reader([line], delimiter=delim), [])
        if want <= {norm_header(c) for c in cells}:
            return i, cells, delim
    return None


def layout_matches(path: Path, layout: Layout, lines: list[str] | None) -> str | None:
    """None when the layout reads this file, else the reason it does not."""
    if layout.filename is None and not layout.header:
        return "layout has no recognition rule"
    if layout.filename and not re.search(layout.filename, path.name):
        return f"file name does not match {layout.filename}"
    if layout.header and (lines is None or find_header(lines, layout.header, layout.delimiter) is None):
        return f"no header with {', '.join(layout.header)}"
    return None


def recognise(path: Path, registry: Registry) -> tuple[list[Match], str | None]:
    """Every (table, layout) that reads ``path``, or no match and the reason."""
    try:
        lines: list[str] | None = head_lines(path)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        return [], f"cannot read: {exc}"
    found: list[Match] = []
    near: list[str] = []
    for defn in registry:
        for layout in defn.layouts:
            reason = layout_matches(path, layout, lines)
            if reason is None:
                found.append(Match(defn, layout))
            elif layout.filename and re.search(layout.filename, path.name):
                near.append(f"{defn.name}/{layout.name}: {reason}")
    if found:
        return found, None
    return [], ("; ".join(near) if near else "no table layout recognises this file name")


_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_abbr) if m}
NCCI_BASE_VERSION = 302  # NCCI v302r0 took effect 2024-07-01; versions are quarterly


def _quarter_start(year: int, quarter: int) -> str:
    return f"{year:04d}-{3 * (quarter - 1) + 1:02d}-01"


def ncci_version_date(name: str) -> EditionInfo | None:
    """NCCI release v302r0 -> 2024-07-01 (one version per quarter)."""
    m = re.search(r"(?i)v(\d{3})r(\d+)", name)
    if not m:
        return None
    offset = int(m[1]) - NCCI_BASE_VERSION
    q = (2024 * 4 + 2) + offset  # 2024Q3, zero-based quarter index
    start = _quarter_start(q // 4, q % 4 + 1)
    return EditionInfo(f"{start} (v{m[1]}r{m[2]})", start)


def edition_from_name(name: str) -> EditionInfo:
    """The edition a file name announces; the file stem when it announces none."""
    stem = re.sub(r"(?i)\.(csv|txt|gz|zip)$", "", re.sub(r"(?i)\.(csv|txt)\.gz$", "", name))
    m = re.search(r"(?i)(\d{4})q([1-4])-(\d{4})q([1-4])", stem)
    if m:
        return EditionInfo(f"{m[1]}Q{m[2]}-{m[3]}Q{m[4]}", _quarter_start(int(m[1]), int(m[2])))
    m = re.search(r"(\d{4})-(\d{2})-(\d{2})", stem)
    if m:
        return EditionInfo(m[0], m[0])
    m = re.search(r"(\d{2})-(\d{2})-(\d{4})", stem)
    if m:
        iso = f"{m[3]}-{m[1]}-{m[2]}"
        return EditionInfo(iso, iso)
    m = re.search(r"(?i)(\d{4})q([1-4])", stem)
    if m:
        return EditionInfo(f"{m[1]}Q{m[2]}", _quarter_start(int(m[1]), int(m[2])))
    m = re.search(r"(?i)pprrvu(\d{2})_?([a-z]{3})", stem)
    if m and m[2].lower() in _MONTHS:
        iso = f"20{m[1]}-{_MONTHS[m[2].lower()]:02d}-01"
        return EditionInfo(iso, iso)
    m = re.search(r"(\d{4})-(\d{2})(?!\d)", stem)
    if m:
        return EditionInfo(m[0], f"{m[0]}-01")
    m = re.search(r"(?i)hcpc(\d{4})", stem)
    if m:
        return EditionInfo(m[1], f"{m[1]}-01-01")
    v = ncci_version_date(stem)
    if v:
        return v
    m = re.search(r"(?<![0-9])((?:19|20)\d{2})(?![0-9])", stem)
    if m:
        return EditionInfo(m[1], f"{m[1]}-01-01")
    m = re.search(r"(?i)v(\d+(?:\.\d+)+)", stem)
    if m:
        return EditionInfo(f"v{m[1]}", None)
    return EditionInfo(stem, None)


def edition_for(path: Path, layout: Layout) -> EditionInfo:
    if layout.edition:
        return EditionInfo(str(layout.edition), None)
    if layout.options.get("edition_from") == "ncci_version":
        v = ncci_version_date(path.name)
        if v:
            return v
    return edition_from_name(path.name)
