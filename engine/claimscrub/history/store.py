"""Where history lives: one interface, kept in memory (one batch) or in SQLite (across batches).

A store records claims (a replacement supersedes the claim it replaces, a void removes it, and
recording a claim id again replaces its lines, so scrubbing a claim twice never makes it its own
duplicate) and answers one query per batch of patients: their lines from a date on, plus every
line of the codes whose limits look back without end (once-per-lifetime services).

The SQLite file sits in the data directory (``history.sqlite``), is created on first use, and its
schema is versioned: :data:`MIGRATIONS` are applied in order and the version kept in
``schema_version``, so an older file is upgraded in place when opened.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Iterable, Protocol, Sequence

from claimscrub.history.records import HistoryLine, history_lines, superseded_ids
from claimscrub.model.claim import Claim

HISTORY_FILE = "history.sqlite"
PATIENTS_PER_QUERY = 500  # far below SQLite's bound-parameter limit (32,766)

# Each entry: (version, statements). Append, never edit, once released.
MIGRATIONS: list[tuple[int, list[str]]] = [
    (1, [
        """CREATE TABLE history_line (
            patient_id TEXT NOT NULL, claim_id TEXT NOT NULL, sequence INTEGER NOT NULL,
            frequency TEXT NOT NULL, code TEXT NOT NULL, modifiers TEXT NOT NULL, units TEXT NOT NULL,
            from_date TEXT NOT NULL, to_date TEXT NOT NULL, claim_type TEXT NOT NULL,
            rendering_npi TEXT, billing_npi TEXT, specialty TEXT, taxonomy TEXT, ndc TEXT, paid_cents INTEGER,
            PRIMARY KEY (patient_id, claim_id, sequence))""",
        "CREATE INDEX history_line_patient_date ON history_line (patient_id, from_date)",
        "CREATE INDEX history_line_patient_code ON history_line (patient_id, code)",
    ]),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]
_COLUMNS = ("patient_id", "claim_id", "sequence", "frequency", "code", "modifiers", "units", "from_date",
            "to_date", "claim_type", "rendering_npi", "billing_npi", "specialty", "taxonomy", "ndc", "paid_cents")


class HistoryStore(Protocol):
    """What the cross-claim phase needs of a history."""

    def record(self, claims: Iterable[Claim]) -> int:
        """Record claims (in order); returns how many lines were written."""
        ...

    def lines(self, patient_ids: Sequence[str], since: str, any_date_codes: Iterable[str] = ()) -> dict[str, list[HistoryLine]]:
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

    def lines(self, patient_ids: Sequence[str], since: str, any_date_codes: Iterable[str] = ()) -> dict[str, list[HistoryLine]]:
        codes = set(any_date_codes)
        return {pid: [h for lines in self._claims.get(pid, {}).values() for h in lines
                      if h.from_date >= since or h.code in codes] for pid in patient_ids}

    def close(self) -> None:
        self._claims.clear()


def _row(h: HistoryLine) -> tuple:
    return (h.patient_id, h.claim_id, h.sequence, h.frequency, h.code, " ".join(h.modifiers), str(h.units),
            h.from_date, h.to_date, h.claim_type, h.rendering_npi, h.billing_npi, h.specialty, h.taxonomy, h.ndc,
            h.paid_cents)


def _line(r: Sequence) -> HistoryLine:
    return HistoryLine(patient_id=r[0], claim_id=r[1], sequence=r[2], frequency=r[3], code=r[4],
                       modifiers=tuple(r[5].split()), units=Decimal(r[6]), from_date=r[7], to_date=r[8],
                       claim_type=r[9], rendering_npi=r[10], billing_npi=r[11], specialty=r[12], taxonomy=r[13],
                       ndc=r[14], paid_cents=r[15])


class SqliteHistory:
    """History in one SQLite file (created and migrated on open)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        migrate(self._db)

    @property
    def version(self) -> int:
        return int(self._db.execute("SELECT version FROM schema_version").fetchone()[0])

    def record(self, claims: Iterable[Claim]) -> int:
        written = 0
        marks = ",".join("?" * len(_COLUMNS))
        with self._db:  # one transaction: a batch is recorded whole or not at all
            for claim in claims:
                ids = sorted(superseded_ids(claim))
                self._db.execute(
                    f"DELETE FROM history_line WHERE patient_id = ? AND claim_id IN ({','.join('?' * len(ids))})",
                    (claim.patient.id, *ids))
                if claim.frequency != "void":
                    rows = [_row(h) for h in history_lines(claim)]
                    self._db.executemany(f"INSERT OR REPLACE INTO history_line VALUES ({marks})", rows)
                    written += len(rows)
        return written

    def lines(self, patient_ids: Sequence[str], since: str, any_date_codes: Iterable[str] = ()) -> dict[str, list[HistoryLine]]:
        codes = sorted(set(any_date_codes))
        out: dict[str, list[HistoryLine]] = {pid: [] for pid in patient_ids}
        code_test = f" OR code IN ({','.join('?' * len(codes))})" if codes else ""
        for start in range(0, len(patient_ids), PATIENTS_PER_QUERY):
            chunk = list(patient_ids[start:start + PATIENTS_PER_QUERY])
            sql = (f"SELECT {','.join(_COLUMNS)} FROM history_line WHERE patient_id IN "
                   f"({','.join('?' * len(chunk))}) AND (from_date >= ?{code_test})")
            for r in self._db.execute(sql, (*chunk, since, *codes)):
                out[r[0]].append(_line(r))
        return out

    def close(self) -> None:
        self._db.close()


def migrate(db: sqlite3.Connection) -> int:
    """Bring the schema to :data:`SCHEMA_VERSION`; returns the version it was at (0 for a new file)."""
    with db:
        db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = db.execute("SELECT version FROM schema_version").fetchone()
        if row is None:
            db.execute("INSERT INTO schema_version VALUES (0)")
        found = int(row[0]) if row else 0
        if found > SCHEMA_VERSION:
            raise ValueError(f"history schema version {found} is newer than this claimscrub ({SCHEMA_VERSION})")
        for version, statements in MIGRATIONS:
            if version > found:
                for statement in statements:
                    db.execute(statement)
                db.execute("UPDATE schema_version SET version = ?", (version,))
    return found


def open_history(spec: str | Path | None, data_dir: str | Path | None = None) -> HistoryStore:
    """The store ``--history`` names: empty or None = ``history.sqlite`` in the data directory; a path = that file.

    PostgreSQL URLs are refused with a message: the server store is not built yet.
    """
    if spec and str(spec).startswith(("postgresql://", "postgres://")):
        raise ValueError("a PostgreSQL history store is not available yet; use a SQLite file path")
    if not spec:
        from claimscrub.refdata.store import resolve_data_dir

        return SqliteHistory(resolve_data_dir(data_dir) / HISTORY_FILE)
    return SqliteHistory(spec)
