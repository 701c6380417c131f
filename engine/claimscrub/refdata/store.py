"""The compiled store: every imported table in one SQLite file, ready in milliseconds.

``claimscrub data import`` parses the CMS files once and writes them here;
scrubbing processes open the file read-only and never re-parse a CSV. Each
table is a ``WITHOUT ROWID`` SQLite table clustered on (edition, key columns,
file order), so a lookup is one index range scan; an in-process LRU cache
keeps the hot keys. String values are interned (an NCCI rationale is stored
once, not 2.5 million times) and row validity dates are YYYYMMDD integers.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from claimscrub.refdata import compact
from claimscrub.refdata.compact import is_hot, open_compact
from claimscrub.refdata.memo import NO_ROWS, KeyRows, remember
from claimscrub.refdata.tables import (
    Edition,
    LayeredTableSet,
    RawRow,
    Registry,
    TableDef,
    TableSet,
    TableStatus,
    _no_row,
    coverage,
    csv_tables,
    dated_row,
    default_registry,
    parse_table_def,
    pick_edition,
    resolve,
    row_dict,
    row_key,
    sample_tables,
)

STORE_FILE = "tables.sqlite"
FORMAT_VERSION = "1"
CACHE_SIZE = 65_536  # (table, edition, key) entries kept in memory per process
ABSENT_SIZE = 131_072  # pairs the compact filter said are absent, kept apart so they never push out rows
_log = logging.getLogger(__name__)
_warned: set[str] = set()


def default_data_dir() -> Path:
    """The per-user data directory, as platformdirs would choose it (no dependency)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "claimscrub"


def resolve_data_dir(data_dir: Path | str | None = None) -> Path:
    """``--data-dir``, else ``$CLAIMSCRUB_DATA_DIR``, else the user data directory."""
    if data_dir:
        return Path(data_dir)
    env = os.environ.get("CLAIMSCRUB_DATA_DIR")
    return Path(env) if env else default_data_dir()


def _date_int(iso: str | None) -> int | None:
    return int(iso[:4] + iso[5:7] + iso[8:10]) if iso else None


@functools.lru_cache(maxsize=65_536)
def _int_date(n: int | None) -> str | None:
    if n is None:
        return None
    s = str(n)
    return f"{s[:4]}-{s[4:6]}-{s[6:8]}"


def _sql_table(name: str) -> str:
    return f'"t_{name}"'


@dataclass(frozen=True, slots=True)
class _Shape:
    """How a TableDef maps onto its SQLite columns."""

    defn: TableDef
    stored: tuple[int, ...]  # indexes of value columns stored (effective date columns are derived)
    from_idx: int | None
    to_idx: int | None
    string_idx: frozenset[int]

    @classmethod
    def of(cls, defn: TableDef) -> _Shape:
        names = [c.name for c in defn.values]
        eff = defn.effective
        from_idx = names.index(eff.from_column) if eff.mode == "columns" and eff.from_column else None
        to_idx = names.index(eff.to_column) if eff.mode == "columns" and eff.to_column else None
        stored = tuple(i for i in range(len(names)) if i not in (from_idx, to_idx))
        strings = frozenset(i for i, c in enumerate(defn.values) if c.type == "string")
        return cls(defn, stored, from_idx, to_idx, strings)

    def ddl(self) -> str:
        keys = [f"k{i} TEXT NOT NULL" for i in range(len(self.defn.key))]
        sqltype = {"string": "INTEGER", "integer": "INTEGER", "number": "REAL", "date": "TEXT"}
        vals = [f"v{i} {sqltype[self.defn.values[i].type]}" for i in self.stored]
        pk = ", ".join(["ed"] + [f"k{i}" for i in range(len(self.defn.key))] + ["seq"])
        cols = ", ".join(
            [
                "ed INTEGER NOT NULL",
                *keys,
                "seq INTEGER NOT NULL",
                "part INTEGER NOT NULL",
                "vf INTEGER",
                "vt INTEGER",
                *vals,
            ]
        )
        return f"CREATE TABLE IF NOT EXISTS {_sql_table(self.defn.name)} ({cols}, PRIMARY KEY ({pk})) WITHOUT ROWID"

    @property
    def signature(self) -> str:
        return json.dumps(
            [
                list(self.defn.key),
                [(c.name, c.type) for c in self.defn.values],
                self.defn.effective.from_column,
                self.defn.effective.to_column,
            ]
        )


def _table_raw(defn: TableDef) -> dict[str, Any]:
    """The definition as stored with the data: enough to read and resolve rows."""
    eff = defn.effective
    return {
        "name": defn.name,
        "title": defn.title,
        "key": list(defn.key),
        "values": {c.name: c.type for c in defn.values},
        "source": {"publisher": defn.source.publisher, "url": defn.source.url, "label": defn.source.label},
        "effective": {
            k: v
            for k, v in {
                "mode": eff.mode,
                "from": eff.from_column,
                "to": eff.to_column,
                "valid_from": eff.valid_from,
                "valid_to": eff.valid_to,
            }.items()
            if v
        },
        "conflict": {
            k: v
            for k, v in {
                "policy": defn.conflict.policy,
                "column": defn.conflict.column,
                "prefer": defn.conflict.prefer,
            }.items()
            if v
        },
        "claim_types": list(defn.claim_types),
    }


@dataclass(frozen=True, slots=True)
class PartWritten:
    table: str
    edition: str
    source: str
    rows: int
    seconds: float


class Store:
    """Writer side of the compiled store (one importer at a time)."""

    def __init__(self, data_dir: Path | str | None = None) -> None:
        self.dir = resolve_data_dir(data_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.path_in(self.dir)
        self.db = sqlite3.connect(self.path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA cache_size=-200000")
        self.db.executescript(
            """
            CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT);
            CREATE TABLE IF NOT EXISTS tables (name TEXT PRIMARY KEY, definition TEXT NOT NULL, signature TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS editions (id INTEGER PRIMARY KEY, tbl TEXT NOT NULL, label TEXT NOT NULL,
                date TEXT, valid_from TEXT, valid_to TEXT, rows INTEGER NOT NULL DEFAULT 0, notes TEXT,
                imported_at TEXT, UNIQUE (tbl, label));
            CREATE TABLE IF NOT EXISTS parts (id INTEGER PRIMARY KEY, edition INTEGER NOT NULL, source TEXT NOT NULL,
                layout TEXT, rows INTEGER, open_from INTEGER, open_to INTEGER, min_from TEXT, max_to TEXT,
                notes TEXT, UNIQUE (edition, source));
            CREATE TABLE IF NOT EXISTS strings (id INTEGER PRIMARY KEY, s TEXT NOT NULL UNIQUE);
            """
        )
        self.db.execute("INSERT OR REPLACE INTO meta VALUES ('format', ?)", (FORMAT_VERSION,))
        # a table's generation changes whenever its rows do: the compact files built from it say which one they hold
        self.db.execute("INSERT OR IGNORE INTO meta SELECT 'gen:' || name, lower(hex(randomblob(8))) FROM tables")
        self._strings: dict[str, int] = dict(self.db.execute("SELECT s, id FROM strings"))

    @staticmethod
    def path_in(data_dir: Path) -> Path:
        return Path(data_dir) / STORE_FILE

    def close(self) -> None:
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.db.close()

    def _ensure_table(self, defn: TableDef) -> _Shape:
        shape = _Shape.of(defn)
        row = self.db.execute("SELECT signature FROM tables WHERE name=?", (defn.name,)).fetchone()
        if row and row[0] != shape.signature:
            # The definition's columns changed: the old rows cannot be read any more.
            self.db.execute(f"DROP TABLE IF EXISTS {_sql_table(defn.name)}")
            self.db.execute("DELETE FROM parts WHERE edition IN (SELECT id FROM editions WHERE tbl=?)", (defn.name,))
            self.db.execute("DELETE FROM editions WHERE tbl=?", (defn.name,))
        self.db.execute(shape.ddl())
        self.db.execute(
            "INSERT OR REPLACE INTO tables VALUES (?, ?, ?)",
            (defn.name, json.dumps(_table_raw(defn)), shape.signature),
        )
        return shape

    def _string_id(self, s: str) -> int:
        sid = self._strings.get(s)
        if sid is None:
            sid = self.db.execute("INSERT INTO strings (s) VALUES (?)", (s,)).lastrowid
            self._strings[s] = sid  # type: ignore[assignment]
        return sid  # type: ignore[return-value]

    def write_part(
        self,
        defn: TableDef,
        rows: Iterable[RawRow],
        *,
        edition: str,
        edition_date: str | None,
        source: str,
        layout: str,
        notes: Sequence[str] = (),
        batch: int = 50_000,
    ) -> PartWritten:
        """Replace the rows one source file contributes to one edition, in one transaction."""
        started = time.perf_counter()
        label = defn.edition_label(edition)
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            shape = self._ensure_table(defn)
            db.execute(
                "INSERT INTO editions (tbl, label, date) VALUES (?, ?, ?) ON CONFLICT (tbl, label) DO UPDATE SET date=excluded.date",
                (defn.name, label, edition_date),
            )
            ed = db.execute("SELECT id FROM editions WHERE tbl=? AND label=?", (defn.name, label)).fetchone()[0]
            old = db.execute("SELECT id FROM parts WHERE edition=? AND source=?", (ed, source)).fetchone()
            tbl = _sql_table(defn.name)
            if old:
                db.execute(f"DELETE FROM {tbl} WHERE ed=? AND part=?", (ed, old[0]))
                db.execute("DELETE FROM parts WHERE id=?", (old[0],))
            part = db.execute(
                "INSERT INTO parts (edition, source, layout, notes) VALUES (?, ?, ?, ?)",
                (ed, source, layout, json.dumps(list(notes))),
            ).lastrowid
            seq0 = (db.execute(f"SELECT max(seq) FROM {tbl}").fetchone()[0] or 0) + 1
            nkeys = len(defn.key)
            ncols = 5 + nkeys + len(shape.stored)
            sql = f"INSERT INTO {tbl} VALUES ({', '.join('?' * ncols)})"
            stored, strings = shape.stored, shape.string_idx
            sid = self._string_id
            count = 0
            open_from = open_to = 0
            min_from: str | None = None
            max_to: str | None = None
            buf: list[tuple] = []
            for row in rows:
                vals = row.values
                rec = [ed, *row.key, seq0 + count, part, _date_int(row.valid_from), _date_int(row.valid_to)]
                for i in stored:
                    v = vals[i]
                    rec.append(sid(v) if (i in strings and v is not None) else v)
                buf.append(tuple(rec))
                count += 1
                if row.valid_from is None:
                    open_from = 1
                elif min_from is None or row.valid_from < min_from:
                    min_from = row.valid_from
                if row.valid_to is None:
                    open_to = 1
                elif max_to is None or row.valid_to > max_to:
                    max_to = row.valid_to
                if len(buf) >= batch:
                    db.executemany(sql, buf)
                    buf.clear()
            if buf:
                db.executemany(sql, buf)
            db.execute(
                "UPDATE parts SET rows=?, open_from=?, open_to=?, min_from=?, max_to=? WHERE id=?",
                (count, open_from, open_to, min_from, max_to, part),
            )
            self._refresh_edition(ed)
            db.execute("INSERT OR REPLACE INTO meta VALUES ('gen:' || ?, lower(hex(randomblob(8))))", (defn.name,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return PartWritten(defn.name, label, source, count, time.perf_counter() - started)

    def _refresh_edition(self, ed: int) -> None:
        parts = self.db.execute(
            "SELECT rows, open_from, open_to, min_from, max_to, notes FROM parts WHERE edition=?", (ed,)
        ).fetchall()
        rows = sum(p[0] or 0 for p in parts)
        starts = [None if p[1] else p[3] for p in parts if p[0]]
        ends = [None if p[2] else p[4] for p in parts if p[0]]
        valid_from = None if not starts or None in starts else min(starts)  # type: ignore[type-var]
        valid_to = None if not ends or None in ends else max(ends)  # type: ignore[type-var]
        notes = list(dict.fromkeys(n for p in parts for n in json.loads(p[5] or "[]")))
        self.db.execute(
            "UPDATE editions SET rows=?, valid_from=?, valid_to=?, notes=?, imported_at=? WHERE id=?",
            (rows, valid_from, valid_to, json.dumps(notes), time.strftime("%Y-%m-%dT%H:%M:%S"), ed),
        )

    def analyze(self) -> None:
        self.db.execute("ANALYZE")

    def build_compact(self) -> list[str]:
        """Write the memory-mapped copies of the hot tables whose rows changed (see refdata.compact)."""
        specs = []
        for name, raw in self.db.execute("SELECT name, definition FROM tables").fetchall():
            if compact.is_hot(name):
                shape = _Shape.of(parse_table_def(json.loads(raw)))
                types = tuple(shape.defn.values[i].type for i in shape.stored)
                specs.append(compact.TableSpec(name, len(shape.defn.key), types))
        return compact.build(self.db, compact_dir(self.dir), specs, generations(self.db))


def compact_dir(data_dir: Path) -> Path:
    return Path(data_dir) / compact.COMPACT_DIR


def generations(db: sqlite3.Connection) -> dict[str, str]:
    return {k[4:]: v for k, v in db.execute("SELECT k, v FROM meta WHERE k LIKE 'gen:%'")}


class StoreTableSet(TableSet):
    """Lookups over the compiled store (read-only; safe to open in many processes)."""

    def __init__(
        self, path: Path | str, registry: Registry | None = None, cache_size: int = CACHE_SIZE, *, compact: bool = True
    ) -> None:
        self.path = Path(path)
        self.registry = registry
        self._lock = threading.Lock()
        self._pid = -1
        self._db: sqlite3.Connection | None = None
        db = self._conn()
        self.defs: dict[str, TableDef] = {}
        self._shapes: dict[str, _Shape] = {}
        self._sql: dict[tuple[str, int], str] = {}
        for name, raw in db.execute("SELECT name, definition FROM tables"):
            defn = parse_table_def(json.loads(raw))
            current = registry.get(name) if registry is not None else None
            if current is not None:  # edition policy (before_edition, dated_by) as the definition says today
                eff = replace(
                    defn.effective, before_edition=current.effective.before_edition, dated_by=current.effective.dated_by
                )
                defn = replace(defn, effective=eff)
            self.defs[name] = defn
            self._shapes[name] = _Shape.of(defn)
        self.editions: dict[str, list[Edition]] = {}
        for ed_id, tbl, label, date, vf, vt, rows, notes in db.execute(
            "SELECT id, tbl, label, date, valid_from, valid_to, rows, notes FROM editions WHERE rows > 0 ORDER BY id"
        ):
            sources = tuple(s for (s,) in db.execute("SELECT source FROM parts WHERE edition=? ORDER BY id", (ed_id,)))
            self.editions.setdefault(tbl, []).append(
                Edition(ed_id, tbl, label, date, vf, vt, rows, sources, tuple(json.loads(notes or "[]")))
            )
        self._strings: dict[int, str] = {}
        self._edition_cache: dict[tuple[str, str], Edition | None] = {}
        self._memo: dict[tuple[str, int, tuple[str, ...]], KeyRows] = {}
        self._memo_size = cache_size
        self._absent: dict[tuple[str, int, tuple[str, ...]], KeyRows] = {}
        gens = generations(db)
        self.compact = open_compact(compact_dir(self.path.parent), gens) if compact else {}
        slow = sorted(t for t in self.editions if is_hot(t) and t not in self.compact)
        if compact and slow and str(self.path) not in _warned:
            _warned.add(str(self.path))
            _log.warning(
                "%s: no compact lookup files for %s (imported by an older claimscrub, or changed since): "
                "lookups in them use SQLite and are slower; re-import the tables with `claimscrub data import` "
                "to build them",
                self.path,
                ", ".join(slow),
            )

    def _conn(self) -> sqlite3.Connection:
        # A connection must not cross a fork: reopen in a child process.
        if self._db is None or self._pid != os.getpid():
            self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            self._db.execute("PRAGMA query_only=1")
            self._pid = os.getpid()
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _string(self, sid: int) -> str:
        s = self._strings.get(sid)
        if s is None:
            s = self._conn().execute("SELECT s FROM strings WHERE id=?", (sid,)).fetchone()[0]
            self._strings[sid] = s
        return s

    def _query(self, table: str, nkeys: int) -> str:
        sql = self._sql.get((table, nkeys))
        if sql is None:
            shape = self._shapes[table]
            keys = [f"k{i}" for i in range(len(shape.defn.key))]
            vals = [f"v{i}" for i in shape.stored]
            where = " AND ".join(["ed=?"] + [f"k{i}=?" for i in range(nkeys)])
            sql = (
                f"SELECT {', '.join(keys + ['seq', 'vf', 'vt'] + vals)} FROM {_sql_table(table)} "
                f"WHERE {where} ORDER BY {', '.join(keys + ['seq'])}"
            )
            self._sql[(table, nkeys)] = sql
        return sql

    def _records(self, table: str, ed: int, key: tuple[str, ...]) -> list[tuple]:
        """The stored rows of a key (prefix), as the SQL query returns them: from the compact files when the
        table has them, else from SQLite."""
        packed = self.compact.get(table)
        edition = packed.edition(ed) if packed is not None else None
        if edition is not None:
            return edition.records(key)
        with self._lock:
            return self._conn().execute(self._query(table, len(key)), (ed, *key)).fetchall()

    def _fetch_rows(self, table: str, ed: int, key: tuple[str, ...]) -> tuple[RawRow, ...]:
        shape = self._shapes[table]
        nk = len(shape.defn.key)
        nv = len(shape.defn.values)
        recs = self._records(table, ed, key)
        if not recs:
            return ()
        # (record index, value index, a string id?) of each stored column, worked out once per call, not per value
        columns = [(nk + 3 + j, i, i in shape.string_idx) for j, i in enumerate(shape.stored)]
        strings, from_idx, to_idx = self._strings, shape.from_idx, shape.to_idx
        out = []
        for rec in recs:
            vf, vt = _int_date(rec[nk + 1]), _int_date(rec[nk + 2])
            values: list[Any] = [None] * nv
            for j, i, is_string in columns:
                v = rec[j]
                if is_string and v is not None:
                    v = strings.get(v) or self._string(v)
                values[i] = v
            if from_idx is not None:
                values[from_idx] = vf
            if to_idx is not None:
                values[to_idx] = vt
            out.append(RawRow(rec[:nk], tuple(values), vf, vt, rec[nk]))
        return tuple(out)

    def _edition(self, table: str, dos: str) -> Edition | None:
        ck = (table, dos)
        try:
            return self._edition_cache[ck]
        except KeyError:
            eds = self.editions.get(table)
            ed = pick_edition(eds, dos, self.defs[table].effective) if eds else None
            if len(self._edition_cache) > 100_000:
                self._edition_cache.clear()
            self._edition_cache[ck] = ed
            return ed

    def _key_rows(self, table: str, ed: Edition, key: tuple[str, ...], probed: bool = False) -> KeyRows:
        """A key's rows in an edition: from the memo; an absent pair from the compact filter, without a search.
        Absent keys are remembered too (the memos are bounded), so asking again is a dict probe. The pairs
        the filter rules out (most pairs a claim asks about) have a memo of their own: rows found by a search
        cost far more to find again, and are not pushed out by them."""
        mk = (table, ed.id, key)
        found = None if probed else self._memo.get(mk) or self._absent.get(mk)
        if found is None:
            packed = self.compact.get(table)
            edition = packed.edition(ed.id) if packed is not None else None
            if edition is not None and edition.absent(key):
                remember(self._absent, mk, NO_ROWS, ABSENT_SIZE)
                return NO_ROWS
            found = KeyRows.of(self._fetch_rows(table, ed.id, key))
            remember(self._memo, mk, found, self._memo_size)
        return found

    def _answer(self, table: str, key: tuple, dos: str) -> Sequence[dict]:
        """The settled rows in force on ``dos`` (shared with the memo: callers copy them)."""
        ed = self._edition(table, dos)
        defn = self.defs.get(table)
        if ed is None or defn is None:
            return ()
        # keys usually arrive normalised (claims are): then the memo answers before any key work
        mk = (table, ed.id, key)
        found = self._memo.get(mk) or self._absent.get(mk) if type(key) is tuple else None
        if found is None:
            key = row_key(key)
            if len(key) > len(defn.key) or not key:
                return ()
            found = self._key_rows(table, ed, key)
        if not found.rows:
            return ()
        return found.answer(defn, ed, dos, self._settled)

    def _settled(self, defn: TableDef, ed: Edition, rows: Sequence[RawRow], dos: str) -> list[dict]:
        return self._settle(defn, ed, resolve(defn, rows, dos), dos)

    def lookup(self, table: str, key: tuple[str, ...], dos: str) -> dict | None:
        settled = self._answer(table, key, dos)
        return dict(settled[0]) if settled else None

    def reader(self, table: str) -> Callable[[tuple, str], dict | None]:
        """:meth:`_answer` for one table in one closure: the edition for a date from the table's own dict,
        then the memo by edition and key; the settled row is handed out shared (see ``TableSet.reader``)."""
        defn = self.defs.get(table)
        if defn is None or not self.editions.get(table):
            return _no_row
        memo, absent, nkeys, settle = self._memo, self._absent, len(defn.key), self._settled
        editions: dict[str, Edition | None] = {}

        def read(key: tuple, dos: str) -> dict | None:
            try:
                ed = editions[dos]
            except KeyError:
                if len(editions) > 10_000:
                    editions.clear()
                ed = editions[dos] = self._edition(table, dos)
            if ed is None:
                return None
            probed = type(key) is tuple
            found = memo.get(mk := (table, ed.id, key)) or absent.get(mk) if probed else None
            if found is None:
                norm = row_key(key)
                if len(norm) > nkeys or not norm:
                    return None
                found = self._key_rows(table, ed, norm, probed and norm == key)  # claims' codes are normalised
            if not found.rows:
                return None
            settled = found.answer(defn, ed, dos, settle)
            return settled[0] if settled else None

        return read

    def lookup_all(self, table: str, key: tuple[str, ...], dos: str) -> list[dict]:
        return [dict(row) for row in self._answer(table, key, dos)]

    def loaded(self, table: str) -> bool:
        return bool(self.editions.get(table))

    def edition_for(self, table: str, dos: str) -> Edition | None:
        return self._edition(table, dos)

    def history(self, table: str, key: tuple[str, ...], dos: str) -> list[dict]:
        defn, ed, key = self.defs.get(table), self._edition(table, dos), row_key(key)
        if defn is None or ed is None or not key or len(key) > len(defn.key):
            return []
        found = self._key_rows(table, ed, key)
        if found.history is None:
            rows = sorted(found.rows, key=lambda r: (r.valid_from or "", r.seq))
            found.history = tuple(dated_row(row_dict(defn, r, ed.label), r) for r in rows)
        return [dict(row) for row in found.history]

    def known(self, table: str) -> bool:
        return table in self.defs or (self.registry is not None and table in self.registry)

    def status(self) -> list[TableStatus]:
        names = set(self.defs) | {d.name for d in (self.registry or default_registry())}
        out = []
        for name in sorted(names):
            defn = self.defs.get(name) or (self.registry or default_registry()).get(name)
            eds = tuple(self.editions.get(name, ()))
            notes = list(dict.fromkeys(n for e in eds for n in e.notes))
            if eds and len(eds) > 0:
                first = min((e.date for e in eds if e.date), default=None)
                if first and defn and defn.effective.mode != "columns":
                    notes.append(f"dates of service before {first} use the earliest edition")
            out.append(
                TableStatus(
                    name,
                    defn.title if defn else name,
                    bool(eds),
                    eds,
                    sum(e.rows for e in eds),
                    coverage(eds),
                    "store" if eds else "-",
                    tuple(notes),
                )
            )
        return out


def status_document(store_path: Path, tables: TableSet) -> dict:
    """`data status --format json`, also served at GET /v1/data/status: one shape for both."""
    return {"store": str(store_path), "exists": store_path.is_file(), "tables": [s.as_dict() for s in tables.status()]}


def open_tables(
    data_dir: Path | str | None = None,
    *,
    samples: bool | None = None,
    registry: Registry | None = None,
) -> TableSet:
    """The tables a scrub uses: the compiled store, then payer CSV tables, then
    (``samples=True``, or ``None`` and no store exists) the illustrative samples."""
    registry = registry or default_registry()
    layers: list[TableSet] = []
    path = Store.path_in(resolve_data_dir(data_dir))
    if path.is_file():
        layers.append(StoreTableSet(path, registry))
    if any(d.csv for d in registry):
        layers.append(csv_tables(registry))
    if samples or (samples is None and not path.is_file()):
        layers.append(sample_tables(registry))
    return LayeredTableSet(layers, registry)
