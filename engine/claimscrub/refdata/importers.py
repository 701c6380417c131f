"""Reading reference files into table rows, and importing them into the store.

Readers are generators of :class:`claimscrub.refdata.tables.RawRow` driven by a layout from
the table's YAML: a delimited reader (CSV, tab text, .gz; header by name, or by
position after copyright lines) and the HCPCS fixed-width reader. Only the
I/OCE version map needs outside data: it comes from the store, or from an
``ioce_version_range.csv`` next to the file.
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claimscrub.refdata.layouts import Match, edition_for, find_header, head_lines, norm_header, recognise
from claimscrub.refdata.store import Store
from claimscrub.refdata.tables import (
    Layout,
    RawRow,
    Registry,
    TableDef,
    TableError,
    coerce,
    default_registry,
    normalise_code,
    open_text,
    parse_date,
    row_window,
)

MAX_BAD_LINES = 100  # more malformed lines than this fail the file

Getter = Callable[[list[str]], Any]


@dataclass
class ImportContext:
    """What a reader may need besides its file: the I/OCE version -> dates map."""

    store: Store | None = None
    ioce_versions: dict[int, tuple[str, str]] = field(default_factory=dict)

    def version_dates(self, near: Path) -> dict[int, tuple[str, str]]:
        if self.ioce_versions:
            return self.ioce_versions
        if self.store is not None:
            try:  # columns: version, version_id (v0), valid_from (v1), valid_to (v2)
                rows = self.store.db.execute('SELECT k0, v1, v2 FROM "t_ioce_versions"').fetchall()
            except sqlite3.OperationalError:  # not imported yet
                rows = []
            if rows:
                self.ioce_versions = {int(k): (a, b) for k, a, b in rows}
                return self.ioce_versions
        for candidate in (near.parent / "ioce_version_range.csv", *near.parent.parent.glob("*/ioce_version_range.csv")):
            if candidate.is_file():
                with open_text(candidate) as fh:
                    for rec in csv.DictReader(fh):
                        self.ioce_versions[int(rec["version"])] = (
                            parse_date(rec["date_started"]) or "",
                            parse_date(rec["date_ended"]) or "",
                        )
                return self.ioce_versions
        raise TableError(f"{near}: I/OCE versions need ioce_version_range.csv (import it first or put it alongside)")


@dataclass
class ReadStats:
    bad_lines: int = 0
    first_errors: list[str] = field(default_factory=list)

    def bad(self, where: str, exc: Exception) -> None:
        self.bad_lines += 1
        if len(self.first_errors) < 3:
            self.first_errors.append(f"{where}: {exc}")
        if self.bad_lines > MAX_BAD_LINES:
            raise TableError(f"too many malformed lines ({self.bad_lines}); first: {self.first_errors}")


# --------------------------------------------------------------------------- column specs


def _spec(raw: Any) -> dict[str, Any]:
    return {"column": raw} if isinstance(raw, str) else dict(raw)


def _parser(parse: str | None, path: Path, ctx: ImportContext) -> Callable[[str], Any] | None:
    if parse is None:
        return None
    if parse == "leading_int":
        return lambda s: m[0] if (m := re.match(r"\s*(\d+)", s or "")) else None
    if parse.startswith("flag:"):
        flag = parse[5:]
        if flag == "*":
            return lambda s: 1 if (s or "").strip() == "*" else 0
        return lambda s: 1 if flag in (s or "").strip().split("|") else 0
    if parse in ("ioce_start", "ioce_end"):
        versions = ctx.version_dates(path)
        pos = 0 if parse == "ioce_start" else 1

        def version_date(s: str) -> str | None:
            if not (s or "").strip():
                return None
            try:
                return versions[int(s)][pos] or None
            except KeyError:
                raise TableError(f"unknown I/OCE version {s!r}") from None

        return version_date
    raise TableError(f"unknown parse {parse!r}")


def _none(cells: list[str]) -> None:
    return None


def _constant(value: str) -> Getter:
    return lambda cells: value


def _getters(defn: TableDef, layout: Layout, header: list[str] | None, path: Path, ctx: ImportContext) -> list[Getter]:
    """One function per table column (key, then values) taking the split line."""
    index = {norm_header(h): i for i, h in enumerate(header or [])}
    getters: list[Getter] = []
    for name in defn.columns:
        raw = layout.columns.get(name)
        if raw is None:
            getters.append(_none)
            continue
        spec = _spec(raw)
        parse = _parser(spec.get("parse"), path, ctx)
        if "value" in spec:
            const = str(spec["value"])
            getters.append(_constant(const))
            continue
        if "position" in spec:
            i = int(spec["position"]) - 1
        else:
            names = spec["column"] if isinstance(spec["column"], list) else [spec["column"]]
            found = [index[norm_header(n)] for n in names if norm_header(n) in index]
            if not found:
                if spec.get("optional"):
                    getters.append(_none)
                    continue
                raise TableError(f"{path}: layout {layout.name}: no column {names} in header {header}")
            i = found[0]

        def get(cells: list[str], i: int = i, parse: Callable | None = parse) -> Any:
            v = cells[i] if i < len(cells) else None
            return parse(v) if parse else v

        getters.append(get)
    return getters


def _converter(ctype: str) -> Callable[[Any], Any]:
    """A cell -> typed value function (blank -> None), specialised per type for import speed."""
    if ctype == "integer":
        return lambda v: int(v) if v.__class__ is str and v.strip() else (v if v.__class__ is int else None)
    if ctype == "string":
        return lambda v: (v.strip() or None) if v.__class__ is str else v
    return lambda v: coerce(v, ctype)


def _row_builder(defn: TableDef, getters: list[Getter]) -> Callable[[list[str], int], RawRow]:
    nk = len(defn.key)
    key_get = getters[:nk]
    val_get = list(zip(getters[nk:], (_converter(c.type) for c in defn.values)))
    names = [c.name for c in defn.values]
    eff = defn.effective
    fi = names.index(eff.from_column) if eff.mode == "columns" and eff.from_column else None
    ti = names.index(eff.to_column) if eff.mode == "columns" and eff.to_column else None
    fixed = (eff.valid_from, eff.valid_to) if eff.mode == "edition" else (None, None)

    def build(cells: list[str], seq: int) -> RawRow:
        key = tuple((g(cells) or "").strip().upper() for g in key_get)
        if not key[0]:
            raise TableError("blank key")
        values = tuple(conv(g(cells)) for g, conv in val_get)
        vf = values[fi] if fi is not None else fixed[0]
        vt = values[ti] if ti is not None else fixed[1]
        return RawRow(key, values, vf, vt, seq)

    return build


# --------------------------------------------------------------------------- readers


def read_delimited(
    path: Path, defn: TableDef, layout: Layout, ctx: ImportContext, stats: ReadStats
) -> Iterator[RawRow]:
    """CSV / tab / pipe text, plain or gzip; header found by name or lines skipped to the data."""
    encoding = layout.options.get("encoding", "utf-8-sig")
    data_pattern = layout.options.get("data_pattern")
    header: list[str] | None = None
    skip = 0
    delim = layout.delimiter
    if layout.header:
        found = find_header(head_lines(path, encoding), layout.header, delim)
        if found is None:
            raise TableError(f"{path}: no header with {layout.header}")
        skip, header, delim = found
        skip += 1
    elif not data_pattern:
        first = head_lines(path, encoding, 1)
        delim = delim or sniff(first[0] if first else "")
        header = next(csv.reader(first[:1], delimiter=delim), [])
        skip = 1
    build = _row_builder(defn, _getters(defn, layout, header, path, ctx))
    pattern = re.compile(data_pattern) if data_pattern else None
    with _open(path, encoding) as fh:
        for _ in range(skip):
            fh.readline()
        if pattern is not None:
            # copyright and header lines end where the first data line starts
            lines: Iterable[str] = _from_first_match(fh, pattern)
        else:
            lines = fh
        reader = csv.reader(lines, delimiter=delim or ",")
        for seq, cells in enumerate(reader):
            if not cells or not any(c.strip() for c in cells):
                continue
            try:
                yield build(cells, seq)
            except (TableError, ValueError, IndexError) as exc:
                stats.bad(f"{path.name}:{skip + seq + 1}", exc)


def sniff(line: str) -> str:
    from claimscrub.refdata.layouts import sniff_delimiter

    return sniff_delimiter(line)


def _open(path: Path, encoding: str) -> io.TextIOBase:
    if encoding.lower().replace("_", "-") in ("utf-8-sig", "utf-8"):
        return open_text(path)
    import gzip

    raw = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")  # noqa: SIM115
    return io.TextIOWrapper(raw, encoding=encoding, newline="")


def _from_first_match(fh: Iterable[str], pattern: re.Pattern[str]) -> Iterator[str]:
    it = iter(fh)
    for line in it:
        if pattern.search(line):
            yield line
            break
    yield from it


def read_hcpcs_fixed_width(
    path: Path, defn: TableDef, layout: Layout, ctx: ImportContext, stats: ReadStats
) -> Iterator[RawRow]:
    """The CMS HCPCS record layout: one record per line; record id (position 11)
    3 = procedure, 7 = modifier, 4 / 8 = continuation of the long description."""
    encoding = layout.options.get("encoding", "latin-1")
    names = list(defn.columns)
    spans = {n: (int(s["start"]) - 1, int(s["end"])) for n, s in layout.columns.items()}
    types = [c.type for c in defn.values]
    current: dict[str, Any] | None = None
    seq = 0

    def emit(rec: dict[str, Any]) -> RawRow:
        key = (normalise_code(rec["code"]),)
        values = tuple(coerce(rec.get(c.name), t) for c, t in zip(defn.values, types))
        return RawRow(key, values, *row_window(defn, values), rec["_seq"])

    with open(path, encoding=encoding, newline="") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.rstrip("\r\n")
            if len(line) < 11 or line[10] not in "3478" or not line[:5].strip():
                continue
            rid = line[10]
            code = line[:5].strip()
            if rid in "48":
                if current is not None and current["code"] == code:
                    s, e = spans.get("long_description", (11, 91))
                    current["long_description"] = (current["long_description"] + " " + line[s:e].strip()).strip()
                continue
            if current is not None:
                try:
                    yield emit(current)
                except (TableError, ValueError) as exc:
                    stats.bad(f"{path.name}:{current['_line']}", exc)
            line = line.ljust(320)
            current = {n: line[s:e].strip() for n, (s, e) in spans.items() if n in names}
            current.update(code=code, kind="procedure" if rid == "3" else "modifier", _seq=seq, _line=lineno)
            seq += 1
    if current is not None:
        yield emit(current)


READERS = {"csv": read_delimited, "hcpcs_fixed_width": read_hcpcs_fixed_width}


def read_file(
    path: Path, defn: TableDef, layout: Layout, ctx: ImportContext | None = None, stats: ReadStats | None = None
) -> Iterator[RawRow]:
    reader = READERS.get(layout.format)
    if reader is None:
        raise TableError(f"{defn.name}/{layout.name}: unknown format {layout.format!r}")
    return reader(Path(path), defn, layout, ctx or ImportContext(), stats or ReadStats())


# --------------------------------------------------------------------------- import


@dataclass(frozen=True, slots=True)
class Imported:
    path: str
    table: str
    edition: str
    rows: int
    seconds: float
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Skipped:
    path: str
    reason: str


def scan(paths: Iterable[Path | str]) -> tuple[list[Path], list[Skipped]]:
    """Files named, and every file under directories named (sorted); hidden entries below a directory are skipped.

    Hidden means a dot name *below* the directory given: the directory itself may
    be reached through ``..`` or sit in a dot folder (``../shared/refdata``).
    """
    out: list[Path] = []
    hidden: list[Skipped] = []
    for p in map(Path, paths):
        if not p.is_dir():
            out.append(p)
            continue
        for f in sorted(p.rglob("*")):
            if not f.is_file():
                continue
            if any(part.startswith(".") for part in f.relative_to(p).parts):
                hidden.append(Skipped(str(f), "hidden (a name below the directory starts with '.')"))
            else:
                out.append(f)
    return out, hidden


def plan(files: Iterable[Path], registry: Registry) -> tuple[list[tuple[Path, Match]], list[Skipped]]:
    """Which files import into which tables (I/OCE version ranges first), and which are skipped."""
    todo: list[tuple[Path, Match]] = []
    skipped: list[Skipped] = []
    seen: set[tuple[str, str]] = set()
    for f in files:
        matches, reason = recognise(f, registry)
        if not matches:
            skipped.append(Skipped(str(f), reason or "not recognised"))
        for m in matches:
            todo.append((f, m))
    todo.sort(key=lambda fm: fm[1].layout.priority)
    # One layout per file and table (the first declared is the most specific), and
    # the same file name once (ioce_version_range.csv sits in two folders).
    unique = []
    for f, m in todo:
        ident = (m.defn.name, f.name)
        if ident not in seen:
            seen.add(ident)
            unique.append((f, m))
    return unique, skipped


def import_paths(
    paths: Iterable[Path | str],
    data_dir: Path | str | None = None,
    registry: Registry | None = None,
    *,
    tables: set[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[Imported], list[Skipped]]:
    """Import every recognised file under ``paths`` into the store; the rest is skipped with the reason."""
    registry = registry or default_registry()
    files, hidden = scan(paths)
    todo, skipped = plan(files, registry)
    skipped = hidden + skipped
    store = Store(data_dir)
    ctx = ImportContext(store=store)
    done: list[Imported] = []
    try:
        for path, m in todo:
            if tables is not None and m.defn.name not in tables:
                continue
            if progress:
                progress(f"{path.name} -> {m.defn.name}")
            if m.defn.name == "ioce_versions":
                ctx.ioce_versions = {}
            stats = ReadStats()
            ed = edition_for(path, m.layout)
            notes = [m.layout.notes] if m.layout.notes else []
            if m.defn.effective.mode == "none":
                notes.append("no effective dates: rows apply to every date of service")
            started = time.perf_counter()
            written = store.write_part(
                m.defn,
                read_file(path, m.defn, m.layout, ctx, stats),
                edition=ed.label,
                edition_date=ed.date,
                source=path.name,
                layout=m.layout.name,
                notes=notes,
            )
            extra = (
                (f"skipped {stats.bad_lines} malformed lines, e.g. {stats.first_errors[0]}",) if stats.bad_lines else ()
            )
            done.append(
                Imported(str(path), m.defn.name, written.edition, written.rows, time.perf_counter() - started, extra)
            )
        store.analyze()
        store.build_compact()
    finally:
        store.close()
    return done, skipped


def import_table_csv(
    defn: TableDef, csv_path: Path, data_dir: Path | str | None = None, edition: str | None = None
) -> Imported:
    """A payer's own table (definition + CSV in the table's columns) into the store."""
    from claimscrub.refdata.tables import read_table_csv

    store = Store(data_dir)
    try:
        started = time.perf_counter()
        ed = edition or csv_path.stem
        written = store.write_part(
            defn, read_table_csv(defn, csv_path), edition=ed, edition_date=None, source=csv_path.name, layout="csv"
        )
        store.build_compact()
        return Imported(str(csv_path), defn.name, written.edition, written.rows, time.perf_counter() - started)
    finally:
        store.close()
