"""Where history lives: one interface, kept in memory (one batch) or in SQLite (across batches).

A store records claims (a replacement supersedes the claim it replaces, a void removes it, and
recording a claim id again replaces its lines, so scrubbing a claim twice never makes it its own
duplicate) and answers one query per batch of patients: their lines from a date on, plus every
line of the codes whose limits look back without end (once-per-lifetime services).

The SQLite file sits in the data directory (``history.sqlite``) and is created on first use; a
``postgresql://`` URL holds the same schema in a server database for a team or several machines.
The schema is versioned: :data:`MIGRATIONS` are applied in order and the version kept in
``schema_version``, so an older store is upgraded in place when opened.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from claimscrub.history.records import HistoryLine, history_lines, superseded_ids
from claimscrub.model.claim import Claim

HISTORY_FILE = "history.sqlite"
PATIENTS_PER_QUERY = 500  # far below SQLite's bound-parameter limit (32,766)

# Each entry: (version, statements). Append, never edit, once released.
MIGRATIONS: list[tuple[int, list[str]]] = [
    (
        1,
        [
            """CREATE TABLE history_line (
            patient_id TEXT NOT NULL, claim_id TEXT NOT NULL, sequence INTEGER NOT NULL,
            frequency TEXT NOT NULL, code TEXT NOT NULL, modifiers TEXT NOT NULL, units TEXT NOT NULL,
            from_date TEXT NOT NULL, to_date TEXT NOT NULL, claim_type TEXT NOT NULL,
            rendering_npi TEXT, billing_npi TEXT, specialty TEXT, taxonomy TEXT, ndc TEXT, paid_cents INTEGER,
            PRIMARY KEY (patient_id, claim_id, sequence))""",
            "CREATE INDEX history_line_patient_date ON history_line (patient_id, from_date)",
            "CREATE INDEX history_line_patient_code ON history_line (patient_id, code)",
        ],
    ),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]
_COLUMNS = (
    "patient_id",
    "claim_id",
    "sequence",
    "frequency",
    "code",
    "modifiers",
    "units",
    "from_date",
    "to_date",
    "claim_type",
    "rendering_npi",
    "billing_npi",
    "specialty",
    "taxonomy",
    "ndc",
    "paid_cents",
)


class HistoryStore(Protocol):
    """What the cross-claim phase needs of a history."""

    def record(self, claims: Iterable[Claim]) -> int:
        """Record claims (in order); returns how many lines were written."""
        ...

    def lines(
        self, patient_ids: Sequence[str], since: str, any_date_codes: Iterable[str] = ()
    ) -> dict[str, list[HistoryLine]]:
        """Each patient's lines from ``since`` on, and their lines of ``any_date_codes`` of any date."""
        ...

    def close(self) -> None: ...


class MemoryHistory:
    """History held in memory: the default for one run, and the reference the SQLite store is tested against."""

    def __init__(self) -> None:
        self._claims: dict[str, dict[str, list[HistoryLine]]] = defaultdict(dict)

    def record(self, claims: Iterable[Claim]) -> int:
        written = 0
        for claim in claims:
            kept = self._claims[claim.patient.id]
            for cid in superseded_ids(claim):
                kept.pop(cid, None)
            if claim.frequency != "void":
                kept[claim.claim_id] = history_lines(claim)
                written += len(claim.lines)
        return written

    def lines(
        self, patient_ids: Sequence[str], since: str, any_date_codes: Iterable[str] = ()
    ) -> dict[str, list[HistoryLine]]:
        codes = set(any_date_codes)
        return {
            pid: [
                h
                for lines in self._claims.get(pid, {}).values()
                for h in lines
                if h.from_date >= since or h.code in codes
            ]
            for pid in patient_ids
        }

    def close(self) -> None:
        self._claims.clear()


def _row(h: HistoryLine) -> tuple:
    return (
        h.patient_id,
        h.claim_id,
        h.sequence,
        h.frequency,
        h.code,
        " ".join(h.modifiers),
        str(h.units),
        h.from_date,
        h.to_date,
        h.claim_type,
        h.rendering_npi,
        h.billing_npi,
        h.specialty,
        h.taxonomy,
        h.ndc,
        h.paid_cents,
    )


def _line(r: Sequence) -> HistoryLine:
    return HistoryLine(
        patient_id=r[0],
        claim_id=r[1],
        sequence=r[2],
        frequency=r[3],
        code=r[4],
        modifiers=tuple(r[5].split()),
        units=Decimal(r[6]),
        from_date=r[7],
        to_date=r[8],
        claim_type=r[9],
        rendering_npi=r[10],
        billing_npi=r[11],
        specialty=r[12],
        taxonomy=r[13],
        ndc=r[14],
        paid_cents=r[15],
    )


class _SqlHistory:
    """The store over a DB-API connection: SQLite and PostgreSQL share the schema, the SQL and the behaviour.

    ``mark`` is the driver's parameter marker (``?`` for sqlite3, ``%s`` for psycopg).
    """

    mark = "?"

    def __init__(self, db: Any) -> None:
        self._db = db
        self.migrate()

    def _marks(self, n: int) -> str:
        return ",".join([self.mark] * n)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Any]:
        cur = self._db.cursor()
        try:
            yield cur
            self._db.commit()
        except BaseException:
            self._db.rollback()
            raise
        finally:
            cur.close()

    def _lock(self, cur: Any) -> None:
        """Serialise migrations between processes (SQLite's write lock already does)."""

    def migrate(self) -> int:
        """Bring the schema to :data:`SCHEMA_VERSION`; returns the version it was at (0 for a new store)."""
        with self._transaction() as cur:
            self._lock(cur)
            cur.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            cur.execute("SELECT version FROM schema_version")
            row = cur.fetchone()
            if row is None:
                cur.execute("INSERT INTO schema_version VALUES (0)")
            found = int(row[0]) if row else 0
            if found > SCHEMA_VERSION:
                raise ValueError(f"history schema version {found} is newer than this claimscrub ({SCHEMA_VERSION})")
            for version, statements in MIGRATIONS:
                if version > found:
                    for statement in statements:
                        cur.execute(statement)
                    cur.execute(f"UPDATE schema_version SET version = {self.mark}", (version,))
        return found

    @property
    def version(self) -> int:
        with self._transaction() as cur:
            cur.execute("SELECT version FROM schema_version")
            return int(cur.fetchone()[0])

    def record(self, claims: Iterable[Claim]) -> int:
        written = 0
        insert = f"INSERT INTO history_line ({','.join(_COLUMNS)}) VALUES ({self._marks(len(_COLUMNS))})"
        with self._transaction() as cur:  # one transaction: a batch is recorded whole or not at all
            for claim in claims:
                ids = sorted(superseded_ids(claim))
                cur.execute(
                    f"DELETE FROM history_line WHERE patient_id = {self.mark} AND claim_id IN "
                    f"({self._marks(len(ids))})",
                    (claim.patient.id, *ids),
                )
                if claim.frequency != "void":
                    rows = [_row(h) for h in history_lines(claim)]
                    cur.executemany(insert, rows)
                    written += len(rows)
        return written

    def lines(
        self, patient_ids: Sequence[str], since: str, any_date_codes: Iterable[str] = ()
    ) -> dict[str, list[HistoryLine]]:
        codes = sorted(set(any_date_codes))
        out: dict[str, list[HistoryLine]] = {pid: [] for pid in patient_ids}
        code_test = f" OR code IN ({self._marks(len(codes))})" if codes else ""
        with self._transaction() as cur:
            for start in range(0, len(patient_ids), PATIENTS_PER_QUERY):
                chunk = list(patient_ids[start : start + PATIENTS_PER_QUERY])
                cur.execute(
                    f"SELECT {','.join(_COLUMNS)} FROM history_line WHERE patient_id IN "
                    f"({self._marks(len(chunk))}) AND (from_date >= {self.mark}{code_test})",
                    (*chunk, since, *codes),
                )
                for r in cur.fetchall():
                    out[r[0]].append(_line(r))
        return out

    def close(self) -> None:
        self._db.close()


class SqliteHistory(_SqlHistory):
    """History in one SQLite file (created and migrated on open)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        super().__init__(db)


class PostgresHistory(_SqlHistory):
    """History in a PostgreSQL database (``postgresql://`` URL; psycopg 3, the ``claimscrub[postgres]`` extra)."""

    mark = "%s"

    def __init__(self, url: str) -> None:
        try:
            import psycopg
        except ImportError:
            raise ValueError("a postgresql:// history needs psycopg: pip install 'claimscrub[postgres]'") from None
        try:
            db = psycopg.connect(url)
        except psycopg.Error as exc:  # not the driver's message: it may quote the URL
            raise ValueError(f"cannot connect to the PostgreSQL history ({type(exc).__name__})") from None
        super().__init__(db)

    def _lock(self, cur: Any) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(7316016)")  # a fixed key: one migrating process at a time


def open_history(spec: str | Path | None, data_dir: str | Path | None = None) -> HistoryStore:
    """The store ``--history`` names: empty or None = ``history.sqlite`` in the data directory; a path = that file.

    a ``postgresql://`` URL = that PostgreSQL database.
    """
    if spec and str(spec).startswith(("postgresql://", "postgres://")):
        return PostgresHistory(str(spec))
    if not spec:
        from claimscrub.refdata.store import resolve_data_dir

        return SqliteHistory(resolve_data_dir(data_dir) / HISTORY_FILE)
    return SqliteHistory(spec)
