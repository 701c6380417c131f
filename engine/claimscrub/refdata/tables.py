"""Reference tables: rows, editions by date of service, and the lookup API rules use.

Rules never read files: they ask a :class:`TableSet` for the row of a table in
force on a date of service. Definitions (:mod:`claimscrub.refdata.definitions`,
re-exported here) live in YAML under ``rules/tables/``; the rows come from the
compiled store that ``claimscrub data import`` writes
(:mod:`claimscrub.refdata.store`), from CSV files that ship with a definition
(a payer's own table), or from the bundled illustrative samples.

Dates are ISO ``YYYY-MM-DD`` strings; row validity windows are inclusive at
both ends (an NCCI deletion date is the last day the edit applies).
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claimscrub.refdata.definitions import (  # noqa: F401 - the definitions' API, as importers of this module know it
    BEFORE_EDITION,
    CLAIM_TYPES,
    COLUMN_TYPES,
    CONFLICT_POLICIES,
    EFFECTIVE_MODES,
    SAMPLE_EDITION,
    Column,
    Conflict,
    Effective,
    Layout,
    Registry,
    Source,
    TableDef,
    TableError,
    check_schema,
    default_registry,
    load_registry,
    load_yaml,
    pack_table_dirs,
    parse_table_def,
    registry_for,
    table_search_path,
    tables_dir,
)

# --------------------------------------------------------------------------- values


def parse_date(text: str | None) -> str | None:
    """ISO date from the spellings CMS files use: YYYY-MM-DD, YYYYMMDD, MM/DD/YYYY.
    Blank, ``*``, ``0`` and 9999-12-31 mean open (None)."""
    if text is None:
        return None
    s = text.strip()
    if s in ("", "*", "0", "00000000") or s.startswith("9999"):
        return None
    if len(s) == 10 and s[4] == "-" and s[7] == "-":
        return s
    if len(s) == 8 and s.isdigit():
        return f"{s[:4]}-{s[4:6]}-{s[6:]}"
    m = re.match(r"^(\d{1,2})/(\d{1,2})/(\d{4})$", s)
    if m:
        return f"{m[3]}-{int(m[1]):02d}-{int(m[2]):02d}"
    raise TableError(f"not a date: {text!r}")


def coerce(value: Any, ctype: str) -> Any:
    """Typed value of a cell; blank is None."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        if value == "":
            return None
    if ctype == "string":
        return str(value)
    if ctype == "integer":
        return int(value)
    if ctype == "number":
        return float(value)
    if ctype == "date":
        return parse_date(str(value))
    raise TableError(f"unknown column type {ctype!r}")


def normalise_code(code: str) -> str:
    """Key values compare upper-case and without surrounding blanks (and without
    dots: ICD-10-CM codes are held undotted, as CMS tables carry them)."""
    return code.strip().upper()


# --------------------------------------------------------------------------- rows


@dataclass(frozen=True, slots=True)
class Edition:
    """One imported release of a table: the date of service picks one."""

    id: int
    table: str
    label: str  # "NCCI PTP practitioner 2024-07-01"
    date: str | None  # the release date (from the file name); None = undated
    valid_from: str | None  # earliest row date (None = open or undated)
    valid_to: str | None  # latest row end (None = open)
    rows: int
    sources: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    partial: bool = False  # a sample holding some keys only: a key's absence proves nothing


@dataclass(frozen=True, slots=True)
class TableStatus:
    name: str
    title: str
    loaded: bool
    editions: tuple[Edition, ...]
    rows: int
    coverage: tuple[str | None, str | None]  # earliest / latest date covered (None = open)
    origin: str  # "store", "csv", "sample" or "-"
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "loaded": self.loaded,
            "origin": self.origin,
            "rows": self.rows,
            "coverage": {"from": self.coverage[0], "to": self.coverage[1]},
            "editions": [
                {
                    "label": e.label,
                    "date": e.date,
                    "valid_from": e.valid_from,
                    "valid_to": e.valid_to,
                    "rows": e.rows,
                    "sources": list(e.sources),
                    "notes": list(e.notes),
                }
                for e in self.editions
            ],
            "notes": list(self.notes),
        }


@dataclass(frozen=True, slots=True)
class RawRow:
    """A stored row before it becomes the dict rules see."""

    key: tuple[str, ...]
    values: tuple[Any, ...]  # in TableDef.values order
    valid_from: str | None
    valid_to: str | None
    seq: int  # file order


def within(start: str | None, end: str | None, dos: str) -> bool:
    """Is ``dos`` inside the window from ``start`` to ``end`` (either open when None)?"""
    return (start is None or start <= dos) and (end is None or dos <= end)


def in_force(row: RawRow, dos: str) -> bool:
    return within(row.valid_from, row.valid_to, dos)


def resolve(defn: TableDef, rows: Sequence[RawRow], dos: str) -> list[RawRow]:
    """Rows in force on ``dos``, one per full key (conflict policy applied), in key order."""
    by_key: dict[tuple[str, ...], list[RawRow]] = {}
    for row in rows:
        if in_force(row, dos):
            by_key.setdefault(row.key, []).append(row)
    return [pick(defn, group) for _, group in sorted(by_key.items())]


def pick(defn: TableDef, group: Sequence[RawRow]) -> RawRow:
    """The one row of a same-key group that applies, by the table's conflict policy."""
    if len(group) == 1:
        return group[0]
    policy = defn.conflict
    if policy.policy == "most_restrictive":
        idx = [c.name for c in defn.values].index(policy.column)  # type: ignore[arg-type]
        sign = 1 if policy.prefer == "lowest" else -1

        def rank(r: RawRow) -> tuple:
            v = r.values[idx]
            return (v is None, sign * v if isinstance(v, (int, float)) else 0, str(v) if v is not None else "", r.seq)

        return min(group, key=rank)
    if policy.policy == "latest":
        return max(group, key=lambda r: (r.valid_from or "", r.seq))
    return min(group, key=lambda r: r.seq)


def row_dict(defn: TableDef, row: RawRow, edition_label: str) -> dict[str, Any]:
    out: dict[str, Any] = dict(zip(defn.key, row.key))
    for col, value in zip(defn.values, row.values):
        out[col.name] = value
    out["_table"] = defn.name
    out["_edition"] = edition_label
    return out


def dated_row(out: dict[str, Any], row: RawRow) -> dict[str, Any]:
    """A row dict with its validity window (``_from`` / ``_to``), for history()."""
    out["_from"], out["_to"] = row.valid_from, row.valid_to
    return out


def pick_edition(editions: Sequence[Edition], dos: str, effective: Effective | None = None) -> Edition | None:
    """The edition that answers for ``dos``.

    Where rows carry their own start dates (``effective.mode`` columns, every
    row dated), the latest release whose rows reach ``dos`` answers: a later
    file restates old codes with their add and end dates and adds what came
    later, so it is right for every date it covers (the 2024 HCPCS file knows
    G2211 began 2021-01-01; the 2019 file does not list it). Otherwise the
    latest release dated on or before ``dos`` answers; a date before every
    release uses the earliest, unless the table's ``before_edition`` is
    ``not_checked`` (then nothing answers before its first release).
    """
    candidates = [e for e in editions if e.valid_to is None or dos <= e.valid_to]
    if not candidates:
        return None
    if effective is not None and effective.mode == "columns":
        dated = [e for e in candidates if e.valid_from is not None and e.valid_from <= dos]
        if dated:
            return max(dated, key=lambda e: (e.date or "", e.id))
    started = [e for e in candidates if e.date is None or e.date <= dos]
    if started:
        return max(started, key=lambda e: (e.date or "", e.id))
    if effective is not None and effective.before_edition == "not_checked":
        return None
    return min(candidates, key=lambda e: (e.date or "", e.id))


def undated_on(defn: TableDef, ed: Edition, row: RawRow, dos: str) -> bool:
    """Is ``row`` read for a date before its edition's release, without a start date of its own?
    (A flattened PTP file carries deletion dates only; an MUE file none.) Then nothing in the
    edition says the row was in force on ``dos``."""
    if ed.date is None or dos >= ed.date or defn.effective.mode == "none":
        return False
    return defn.effective.mode != "columns" or row.valid_from is None


def caveat_text(ed: Edition, dos: str) -> str:
    return (
        f"{ed.label} was released after the date of service {dos} and its rows carry no start dates, "
        "so it does not cover that date: the edit may not have been in force then"
    )


def coverage(editions: Sequence[Edition]) -> tuple[str | None, str | None]:
    if not editions:
        return (None, None)
    starts = [e.valid_from or e.date for e in editions]
    start = None if any(s is None for s in starts) else min(starts)  # type: ignore[type-var]
    ends = [e.valid_to for e in editions]
    end = None if any(x is None for x in ends) else max(ends)  # type: ignore[type-var]
    return (start, end)


def row_key(key: Sequence[str]) -> tuple[str, ...]:
    return tuple(
        [k.strip().upper() if type(k) is str else normalise_code(k) if isinstance(k, str) else str(k) for k in key]
    )


# --------------------------------------------------------------------------- the API


class TableSet(ABC):
    """What the rule language calls. Lookups are pure: same arguments, same answer."""

    @abstractmethod
    def lookup(self, table: str, key: tuple[str, ...], dos: str) -> dict | None:
        """The row in force on ``dos`` whose leading key columns equal ``key`` (a
        prefix of the key columns gives the first matching row in key order), as
        {column: typed value, "_table": ..., "_edition": ...}; None when no row
        applies or the table is not loaded."""

    @abstractmethod
    def lookup_all(self, table: str, key: tuple[str, ...], dos: str) -> list[dict]:
        """Every row in force on ``dos`` matching the key prefix, one per full key."""

    def reader(self, table: str) -> Callable[[tuple, str], dict | None]:
        """``lookup`` bound to one table, for a caller that asks it many times (the rule program). Its rows
        may be shared with the set's own caches: the caller reads them and never changes them. Sets with a
        shorter path than ``lookup`` override it."""
        return functools.partial(self.lookup, table)

    @abstractmethod
    def loaded(self, table: str) -> bool:
        """Is any edition of this table available? (No data is not a pass.)"""

    def edition(self, table: str, dos: str) -> str | None:
        """The label of the edition that answers for ``dos``."""
        ed = self.edition_for(table, dos)
        return ed.label if ed else None

    @abstractmethod
    def status(self) -> list[TableStatus]:
        """Every known table: editions, date coverage, rows, notes."""

    def known(self, table: str) -> bool:
        """Is the table defined at all (for rule compilers catching typos)?"""
        return any(s.name == table for s in self.status())

    def edition_for(self, table: str, dos: str) -> Edition | None:  # noqa: ARG002 - overridden
        """The edition that answers for ``dos`` (None when none does)."""
        return None

    def history(self, table: str, key: tuple[str, ...], dos: str) -> list[dict]:  # noqa: ARG002 - overridden
        """Every row of the key in the edition answering for ``dos``, whatever its
        validity window, oldest first: to say when a code ended or starts."""
        return []

    def covers(self, table: str, dos: str) -> bool:
        """Does a loaded edition's date range reach ``dos``? Outside it, a missing
        row says nothing about the code (a versioned table before its first quarter)."""
        ed = self.edition_for(table, dos)
        return ed is not None and within(ed.valid_from, ed.valid_to, dos)

    def lists_all(self, table: str, dos: str) -> bool:
        """Does the edition answering for ``dos`` list every key (not a sample of a few)? Only
        then does a key's absence mean the code does not exist."""
        ed = self.edition_for(table, dos)
        return ed is not None and not ed.partial

    def close(self) -> None:  # noqa: B027 - optional
        """Release files; a no-op for in-memory sets."""

    def definition(self, table: str) -> TableDef | None:
        """The table's definition (claim types, edition policy), from this set's registry."""
        registry = getattr(self, "registry", None) or default_registry()
        return registry.get(table)

    def dated_by(self, table: str, key: tuple[str, ...], dos: str) -> bool | None:
        """Was ``key`` in force on ``dos`` by the windows of the versioned ``table``? None when that
        table is not loaded, does not cover the date, or does not list the key (it cannot say)."""
        if not self.loaded(table) or not self.covers(table, dos):
            return None
        rows = self.history(table, key, dos)
        if not rows:
            return None
        return any(within(r["_from"], r["_to"], dos) for r in rows)

    def _settle(self, defn: TableDef, ed: Edition, rows: Sequence[RawRow], dos: str) -> list[dict]:
        """Rows in force on ``dos`` as rule rows. An undated row read before its edition's release is
        dated by the table's ``dated_by`` table where that one can say (and dropped when it was not in
        force); otherwise it carries a ``_caveat`` that the edition does not cover the date."""
        out = []
        for row in rows:
            found = row_dict(defn, row, ed.label)
            if undated_on(defn, ed, row, dos):
                verdict = self.dated_by(defn.effective.dated_by, row.key, dos) if defn.effective.dated_by else None
                if verdict is False:
                    continue
                if verdict is None:
                    found["_caveat"] = caveat_text(ed, dos)
            out.append(found)
        return out


@dataclass
class _MemTable:
    defn: TableDef
    editions: list[Edition] = field(default_factory=list)
    rows: dict[int, dict[tuple[str, ...], list[RawRow]]] = field(default_factory=dict)
    prefix: dict[tuple[int, int], dict[tuple[str, ...], list[tuple[str, ...]]]] = field(default_factory=dict)
    origin: str = "csv"
    notes: tuple[str, ...] = ()


class MemoryTableSet(TableSet):
    """Tables held in dicts: the bundled samples and payer CSVs (small by design)."""

    def __init__(self, registry: Registry | None = None) -> None:
        self.registry = registry or default_registry()
        self._tables: dict[str, _MemTable] = {}
        self._next_edition = 1

    # -- loading
    def add_rows(
        self,
        defn: TableDef,
        rows: Iterable[RawRow],
        edition: str,
        *,
        date: str | None = None,
        source: str | None = None,
        origin: str = "csv",
        notes: Sequence[str] = (),
        partial: bool = False,
    ) -> Edition:
        rows = list(rows)
        for row in rows:
            if row.valid_from is not None and row.valid_to is not None and row.valid_from > row.valid_to:
                raise TableError(
                    f"{source or defn.name}: data row {row.seq + 1} ({', '.join(row.key)}) is valid from "
                    f"{row.valid_from} to {row.valid_to}: the range ends before it starts"
                )
        index: dict[tuple[str, ...], list[RawRow]] = {}
        for row in rows:
            index.setdefault(row.key, []).append(row)
        starts = [r.valid_from for r in rows]
        ends = [r.valid_to for r in rows]
        ed = Edition(
            id=self._next_edition,
            table=defn.name,
            label=defn.edition_label(edition),
            date=date,
            valid_from=None if not rows or any(s is None for s in starts) else min(starts),  # type: ignore[type-var]
            valid_to=None if not rows or any(e is None for e in ends) else max(ends),  # type: ignore[type-var]
            rows=len(rows),
            sources=(source,) if source else (),
            notes=tuple(notes),
            partial=partial,
        )
        self._next_edition += 1
        mt = self._tables.setdefault(defn.name, _MemTable(defn, origin=origin))
        mt.editions.append(ed)
        mt.rows[ed.id] = index
        mt.prefix.clear()
        return ed

    def add_csv(
        self, defn: TableDef, path: Path, *, edition: str | None = None, origin: str = "csv", partial: bool = False
    ) -> Edition:
        """Rows from a CSV whose header names the table's columns (a payer's own table)."""
        rows = list(read_table_csv(defn, path))
        return self.add_rows(
            defn,
            rows,
            edition or path.stem,
            source=str(path),
            origin=origin,
            notes=_effective_notes(defn),
            partial=partial,
        )

    # -- API
    def _candidates(self, table: str, key: tuple[str, ...], dos: str) -> tuple[_MemTable, Edition, list[RawRow]] | None:
        mt = self._tables.get(table)
        if mt is None or not mt.editions or len(key) > len(mt.defn.key):
            return None
        ed = pick_edition(mt.editions, dos, mt.defn.effective)
        if ed is None:
            return None
        index = mt.rows[ed.id]
        if len(key) == len(mt.defn.key):
            return mt, ed, index.get(key, [])
        pidx = mt.prefix.get((ed.id, len(key)))
        if pidx is None:
            pidx = {}
            for full in sorted(index):
                pidx.setdefault(full[: len(key)], []).append(full)
            mt.prefix[(ed.id, len(key))] = pidx
        return mt, ed, [r for full in pidx.get(key, ()) for r in index[full]]

    def lookup(self, table: str, key: tuple[str, ...], dos: str) -> dict | None:
        found = self._candidates(table, row_key(key), dos)
        if found is None:
            return None
        mt, ed, rows = found
        settled = self._settle(mt.defn, ed, resolve(mt.defn, rows, dos), dos)
        return settled[0] if settled else None

    def lookup_all(self, table: str, key: tuple[str, ...], dos: str) -> list[dict]:
        found = self._candidates(table, row_key(key), dos)
        if found is None:
            return []
        mt, ed, rows = found
        return self._settle(mt.defn, ed, resolve(mt.defn, rows, dos), dos)

    def loaded(self, table: str) -> bool:
        mt = self._tables.get(table)
        return bool(mt and mt.editions)

    def edition_for(self, table: str, dos: str) -> Edition | None:
        mt = self._tables.get(table)
        return pick_edition(mt.editions, dos, mt.defn.effective) if mt else None

    def history(self, table: str, key: tuple[str, ...], dos: str) -> list[dict]:
        found = self._candidates(table, row_key(key), dos)
        if found is None:
            return []
        mt, ed, rows = found
        return [
            dated_row(row_dict(mt.defn, r, ed.label), r)
            for r in sorted(rows, key=lambda r: (r.valid_from or "", r.seq))
        ]

    def known(self, table: str) -> bool:
        return table in self._tables or table in self.registry

    def status(self) -> list[TableStatus]:
        out = []
        for defn in sorted(self.registry, key=lambda d: d.name):
            mt = self._tables.get(defn.name)
            eds = tuple(mt.editions) if mt else ()
            notes = tuple(dict.fromkeys(n for e in eds for n in e.notes))
            out.append(
                TableStatus(
                    defn.name,
                    defn.title,
                    bool(eds),
                    eds,
                    sum(e.rows for e in eds),
                    coverage(eds),
                    mt.origin if mt else "-",
                    notes,
                )
            )
        return out


def _effective_notes(defn: TableDef) -> tuple[str, ...]:
    if defn.effective.mode == "none":
        return ("no effective dates: rows apply to every date of service",)
    return ()


def open_text(path: Path) -> io.TextIOBase:
    """A text stream over a plain or gzip file (UTF-8 with BOM tolerated)."""
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115


def read_table_csv(defn: TableDef, path: Path) -> Iterator[RawRow]:
    """Rows of a CSV whose header row names the table's columns (extra columns ignored)."""
    with open_text(path) as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in defn.key if c not in (reader.fieldnames or ())]
        if missing:
            raise TableError(f"{path}: the header row has no column {', '.join(missing)} (a key column)")
        for seq, rec in enumerate(reader):
            try:
                yield make_row(defn, rec, seq)
            except (TableError, ValueError) as exc:
                raise TableError(f"{path}:{seq + 2}: {exc}") from None


def make_row(defn: TableDef, rec: Mapping[str, Any], seq: int) -> RawRow:
    """A RawRow from a {column: text} record in table columns."""
    key = tuple(normalise_code(str(rec.get(k) or "")) for k in defn.key)
    values = tuple(coerce(rec.get(c.name), c.type) for c in defn.values)
    return RawRow(key, values, *row_window(defn, values), seq)


def row_window(defn: TableDef, values: Sequence[Any]) -> tuple[str | None, str | None]:
    eff = defn.effective
    if eff.mode == "columns":
        names = [c.name for c in defn.values]
        start = values[names.index(eff.from_column)] if eff.from_column else None
        end = values[names.index(eff.to_column)] if eff.to_column else None
        return start, end
    if eff.mode == "edition":
        return eff.valid_from, eff.valid_to
    return None, None


def sample_tables(registry: Registry | None = None, *, complete: bool = False) -> MemoryTableSet:
    """The bundled illustrative samples (not CMS data), for the demo and tests.

    A sample holds a few codes, so by default it is *partial*
    (:meth:`TableSet.lists_all` is false): edits that conclude from a code's
    absence ("unknown code") do not fire on it. Rule test cases are written
    against the sample rows, so they load it as ``complete``.
    """
    registry = registry or default_registry()
    ts = MemoryTableSet(registry)
    for defn in registry:
        if defn.sample is not None and defn.sample.is_file():
            ts.add_csv(defn, defn.sample, edition=SAMPLE_EDITION, origin="sample", partial=not complete)
    return ts


def csv_tables(registry: Registry | None = None) -> MemoryTableSet:
    """Tables whose rows ship with their definition (``csv:``): a payer's own tables."""
    registry = registry or default_registry()
    ts = MemoryTableSet(registry)
    for defn in registry:
        for path in defn.csv:
            ts.add_csv(defn, path, origin="csv")
    return ts


def _no_row(key: tuple, dos: str) -> None:  # noqa: ARG001 - a reader's signature
    """The reader of a table no layer has loaded."""
    return None


class LayeredTableSet(TableSet):
    """Several sets in order: for each table the first layer that has it loaded answers."""

    def __init__(self, layers: Sequence[TableSet], registry: Registry | None = None) -> None:
        self.layers = list(layers)
        self.registry = registry  # the definitions the layers were opened with (None: the default)
        self._route: dict[str, TableSet | None] = {}

    def _layer(self, table: str) -> TableSet | None:
        try:
            return self._route[table]
        except KeyError:
            layer = next((ly for ly in self.layers if ly.loaded(table)), None)
            self._route[table] = layer
            return layer

    def lookup(self, table: str, key: tuple[str, ...], dos: str) -> dict | None:
        layer = self._layer(table)
        return layer.lookup(table, key, dos) if layer else None

    def lookup_all(self, table: str, key: tuple[str, ...], dos: str) -> list[dict]:
        layer = self._layer(table)
        return layer.lookup_all(table, key, dos) if layer else []

    def reader(self, table: str) -> Callable[[tuple, str], dict | None]:
        layer = self._layer(table)
        return layer.reader(table) if layer else _no_row

    def loaded(self, table: str) -> bool:
        return self._layer(table) is not None

    def edition_for(self, table: str, dos: str) -> Edition | None:
        layer = self._layer(table)
        return layer.edition_for(table, dos) if layer else None

    def history(self, table: str, key: tuple[str, ...], dos: str) -> list[dict]:
        layer = self._layer(table)
        return layer.history(table, key, dos) if layer else []

    def known(self, table: str) -> bool:
        return any(ly.known(table) for ly in self.layers)

    def status(self) -> list[TableStatus]:
        merged: dict[str, TableStatus] = {}
        for layer in self.layers:
            for st in layer.status():
                if st.name not in merged or (st.loaded and not merged[st.name].loaded):
                    merged[st.name] = st
        return [merged[n] for n in sorted(merged)]

    def close(self) -> None:
        for layer in self.layers:
            layer.close()
