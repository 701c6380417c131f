"""Compact, memory-mapped copies of the hot tables: code and pair lookups without a query.

Why: through SQLite a PTP pair lookup costs microseconds and a query, and nine in
ten pairs a claim asks about are not in the table at all. ``claimscrub data
import`` therefore also writes each hot table's editions beside the store as
numpy arrays: the integer-packed keys in sorted order, the row order (``seq``),
the validity dates and the value columns, plus, for tables keyed by a pair, a
Bloom filter of the pairs that exist. Scrubbing processes map the files
read-only (``np.load(mmap_mode="r")``), so nothing is parsed at start-up and
forked workers share the pages. A lookup packs its key, asks the filter (an
absent pair ends there), then bisects the sorted keys; the rows come back in
the shape of the SQLite query, so everything after it is the same code.

Key packing: a key column holds alphanumeric upper-case codes of at most 7
characters, packed as ``int(code, 36) * 8 + len(code)`` (injective: ``0123`` and
``123`` differ by length), each column in a fixed number of bits. A table whose
keys do not fit 63 bits, or whose values are not of the type their column
says, is not compacted: it stays on SQLite. The Bloom filter (two
multiplicative hashes over a bit array) is hand-written because it is a dozen
lines and has to be probed from Python with no per-call numpy overhead.
"""

from __future__ import annotations

import bisect
import json
import logging
import math
import mmap
import os
import re
import shutil
import sqlite3
import sys
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

COMPACT_DIR = "compact"
INDEX_FILE = "index.json"
FORMAT = 1
HOT_PREFIXES = ("ncci_ptp", "mue_", "aoc")
HOT_TABLES = frozenset({"mpfs_indicators", "hcpcs", "ioce_hcpcs", "ioce_dx", "mce_dx_flags"})
MAX_CODE = 7
BLOOM_BITS_PER_KEY = 16
INT_NONE = -(2**63)  # None in an integer or string-id column
_H1 = 0x9E3779B97F4A7C15  # odd 64-bit multipliers (golden ratio; murmur3 finaliser)
_H2 = 0xC2B2AE3D27D4EB4F
_M64 = (1 << 64) - 1
_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_log = logging.getLogger(__name__)
_CODE_CACHE_SIZE = 200_000


def is_hot(table: str) -> bool:
    """Tables most lookups go to: compacted at import."""
    return table.startswith(HOT_PREFIXES) or table in HOT_TABLES


class NotCompact(ValueError):
    """A table that cannot be packed (long or odd keys, unexpected value types): it stays on SQLite."""


_codes: dict[str, int | None] = {}


def pack_code(code: str) -> int | None:
    """The packed form of a key code; None when no stored code can equal it."""
    found = _codes.get(code, -1)
    if found != -1:
        return found
    packed: int | None
    if code == "":
        packed = 0
    elif len(code) > MAX_CODE or not (code.isascii() and code.isalnum()) or code != code.upper():
        packed = None
    else:
        packed = int(code, 36) * 8 + len(code)
    if len(_codes) >= _CODE_CACHE_SIZE:
        _codes.clear()
    _codes[code] = packed
    return packed


def unpack_code(packed: int) -> str:
    length, n = packed & 7, packed >> 3
    out = []
    for _ in range(length):
        n, d = divmod(n, 36)
        out.append(_DIGITS[d])
    return "".join(reversed(out))


def bloom_positions(packed: int, bits: int) -> tuple[int, int]:
    shift = 64 - bits
    return ((packed * _H1) & _M64) >> shift, ((packed * _H2) & _M64) >> shift


# --------------------------------------------------------------------------- building


@dataclass(frozen=True, slots=True)
class TableSpec:
    """What the builder needs of a stored table: its key width and its stored value columns' types."""

    name: str
    nkeys: int
    value_types: tuple[str, ...]  # per stored value column v0..: string/integer/number/date


def _column_sql(db: sqlite3.Connection, table: str, ed: int, col: str, ctype: str) -> str:
    """The SELECT expression giving ``col`` as a number numpy reads directly (None as its marker), after
    checking in SQL that every value is of the column's type (else the table is not compacted)."""
    if ctype == "number":
        wrong, expr = "typeof({c}) NOT IN ('real', 'null')", "{c}"
    elif ctype == "date":
        wrong = "{c} IS NOT NULL AND ({c} NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]' OR length({c}) != 10)"
        expr = "coalesce(CAST(replace({c}, '-', '') AS INTEGER), 0)"
    else:  # integers, string ids, seq, validity dates
        wrong, expr = (
            "typeof({c}) NOT IN ('integer', 'null')",
            f"coalesce({{c}}, {0 if col in ('vf', 'vt') else INT_NONE})",
        )
    sql = f'SELECT 1 FROM "t_{table}" WHERE ed=? AND {wrong.format(c=col)} LIMIT 1'
    if db.execute(sql, (ed,)).fetchone():
        raise NotCompact(f"{table}.{col}: values that are not {ctype}")
    return expr.format(c=col)


def _key_codes(db: sqlite3.Connection, table: str, ed: int, col: str) -> dict[str, int]:
    """Each distinct code of a key column, packed."""
    packed = {}
    for (code,) in db.execute(f'SELECT DISTINCT {col} FROM "t_{table}" WHERE ed=?', (ed,)):
        p = pack_code(code) if type(code) is str else None
        if p is None:
            raise NotCompact(f"{table}.{col}: key codes that cannot be packed")
        packed[code] = p
    return packed


def _narrow(values: Any) -> tuple[Any, int]:
    """An int64 column (None as INT_NONE) in the smallest integer type that holds it, with its None marker."""
    import numpy as np

    real = values[values != INT_NONE]
    lo, hi = (int(real.min()), int(real.max())) if len(real) else (0, 0)
    for dtype in (np.int8, np.int16, np.int32):
        info = np.iinfo(dtype)
        if info.min < lo and hi <= info.max:
            return np.where(values == INT_NONE, info.min, values).astype(dtype), int(info.min)
    return values, INT_NONE


def _edition_arrays(db: sqlite3.Connection, spec: TableSpec, ed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The columns of one edition as numpy arrays, rows ordered by packed key then file order, and what the
    reader needs to know of them (key widths, None markers)."""
    import numpy as np

    nk = spec.nkeys
    # stored value columns are named by their index in the definition (from/to dates are vf/vt)
    names = [d[0] for d in db.execute(f'SELECT * FROM "t_{spec.name}" LIMIT 0').description]
    vcols = [n for n in names if n.startswith("v") and n not in ("vf", "vt")]
    cols = [f"k{i}" for i in range(nk)] + ["seq", "vf", "vt"] + vcols
    types = ["integer"] * 3 + list(spec.value_types)
    codes = [_key_codes(db, spec.name, ed, f"k{i}") for i in range(nk)]
    exprs = cols[:nk] + [_column_sql(db, spec.name, ed, c, t) for c, t in zip(cols[nk:], types)]
    dtypes = [np.float64 if t == "number" else np.int64 for t in types]
    cur = db.execute(f'SELECT {", ".join(exprs)} FROM "t_{spec.name}" WHERE ed=?', (ed,))
    chunks: dict[str, list[Any]] = {c: [] for c in cols}
    while chunk := cur.fetchmany(100_000):
        columns = list(zip(*chunk))
        for i in range(nk):
            chunks[cols[i]].append(np.asarray(list(map(codes[i].__getitem__, columns[i])), dtype=np.int64))
        for name, col, dtype in zip(cols[nk:], columns[nk:], dtypes):
            chunks[name].append(np.asarray(col, dtype=dtype))
    full = {c: np.concatenate(parts) if parts else np.zeros(0, np.int64) for c, parts in chunks.items()}
    keyparts = [full.pop(f"k{i}") for i in range(nk)]
    bits = [max(int(k.max(initial=0)).bit_length(), 1) for k in keyparts]
    if sum(bits) > 63:
        raise NotCompact(f"{spec.name}: keys need {sum(bits)} bits")
    packed = np.zeros(len(full["seq"]), dtype=np.int64)
    for width, k in zip(bits, keyparts):
        packed = (packed << np.int64(width)) | k
    order = np.lexsort((full["seq"], packed))
    arrays: dict[str, Any] = {"keys": packed[order]}
    nulls: dict[str, int] = {}
    kinds = dict(zip(cols[nk:], types))
    for name, values in full.items():
        values = values[order]
        if name in ("vf", "vt") or kinds[name] == "date":  # YYYYMMDD, 0 = open
            values = values.astype(np.int32)
        elif kinds[name] != "number":
            values, nulls[name] = _narrow(values)
        arrays[name] = values
    return arrays, {"rows": len(packed), "key_bits": bits, "nulls": nulls, "values": vcols}


def _bloom(keys: Any) -> tuple[Any, int]:
    import numpy as np

    uniq = np.unique(keys).astype(np.uint64)
    bits = max(10, math.ceil(math.log2(max(len(uniq), 1) * BLOOM_BITS_PER_KEY)))
    shift = np.uint64(64 - bits)
    table = np.zeros(1 << bits, dtype=bool)
    with np.errstate(over="ignore"):
        table[(uniq * np.uint64(_H1)) >> shift] = True
        table[(uniq * np.uint64(_H2)) >> shift] = True
    return np.packbits(table, bitorder="little"), bits


def read_index(root: Path) -> dict[str, Any]:
    try:
        index = json.loads((root / INDEX_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return index if isinstance(index, dict) and index.get("format") == FORMAT else {}


def build(db: sqlite3.Connection, root: Path, specs: Iterable[TableSpec], generations: dict[str, str]) -> list[str]:
    """(Re)write the compact files of the tables in ``specs`` whose store generation changed since the last
    build; returns the tables written. Each table goes to a new folder and the index is replaced atomically,
    so a process reading the old files keeps a consistent view."""
    import numpy as np

    root.mkdir(parents=True, exist_ok=True)
    index = read_index(root) or {"format": FORMAT, "tables": {}}
    tables: dict[str, Any] = index["tables"]
    written, retired = [], []
    for spec in specs:
        gen = generations.get(spec.name)
        entry = tables.get(spec.name)
        if entry and entry.get("generation") == gen:
            continue
        if entry:
            retired.append(entry["dir"])
            del tables[spec.name]
        folder = f"{spec.name}.{uuid.uuid4().hex[:8]}"
        eds: dict[str, Any] = {}
        try:
            for (ed,) in db.execute("SELECT id FROM editions WHERE tbl=? AND rows > 0", (spec.name,)).fetchall():
                arrays, meta = _edition_arrays(db, spec, ed)
                meta["bloom_bits"] = None
                if spec.nkeys >= 2:
                    arrays["bloom"], meta["bloom_bits"] = _bloom(arrays["keys"])
                target = root / folder / str(ed)
                target.mkdir(parents=True)
                for name, arr in arrays.items():
                    np.save(target / f"{name}.npy", arr)
                eds[str(ed)] = meta
        except NotCompact:
            shutil.rmtree(root / folder, ignore_errors=True)
            continue
        tables[spec.name] = {"dir": folder, "generation": gen, "editions": eds, "value_types": list(spec.value_types)}
        written.append(spec.name)
    tmp = root / f"{INDEX_FILE}.{os.getpid()}"
    tmp.write_text(json.dumps(index, indent=1), encoding="utf-8")
    os.replace(tmp, root / INDEX_FILE)
    for folder in retired:
        shutil.rmtree(root / folder, ignore_errors=True)
    return written


# --------------------------------------------------------------------------- reading


_NPY_FORMATS = {"<i8": "q", "<i4": "i", "<i2": "h", "|i1": "b", "<f8": "d", "|u1": "B"}
_NPY_HEADER = re.compile(r"'descr':\s*'([<|]\w\d)'.*'shape':\s*\((\d+),\)")


def map_npy(path: Path) -> memoryview:
    """A 1-D ``.npy`` file mapped read-only, as a memoryview of its values (what ``np.load(mmap_mode="r")``
    gives, without importing numpy into every scrubbing process: that import is most of a start-up's
    table time). The pages are the page cache's, shared by every process that maps the file."""
    with open(path, "rb") as fh:
        mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    if mm[:6] != b"\x93NUMPY" or sys.byteorder != "little":
        raise NotCompact(f"{path}: not a little-endian .npy file")
    start = 10 if mm[6] == 1 else 12
    size = int.from_bytes(mm[8:start], "little")
    found = _NPY_HEADER.search(mm[start : start + size].decode("latin-1"))
    if not found or found[1] not in _NPY_FORMATS:
        raise NotCompact(f"{path}: not a 1-D array of a known type")
    view = memoryview(mm)[start + size :].cast(_NPY_FORMATS[found[1]])  # type: ignore[call-overload]
    if len(view) != int(found[2]):
        raise NotCompact(f"{path}: {len(view)} values where the header says {found[2]}")
    return view


class CompactEdition:
    """One edition's arrays, mapped read-only; read through memoryviews (plain Python ints, no numpy scalars)."""

    __slots__ = (
        "bits",
        "shifts",
        "keys",
        "seq",
        "vf",
        "vt",
        "values",
        "kinds",
        "nulls",
        "bloom",
        "bloom_bits",
        "columns",
    )

    def __init__(self, folder: Path, meta: dict[str, Any], value_types: Sequence[str]) -> None:
        self.bits: list[int] = meta["key_bits"]
        self.shifts = [sum(self.bits[i + 1 :]) for i in range(len(self.bits))]
        names: list[str] = meta["values"]
        self.nulls = tuple(meta["nulls"].get(n) for n in names)  # None markers of the integer columns
        self.keys, self.seq, self.vf, self.vt, *self.values = (
            map_npy(folder / f"{name}.npy") for name in ("keys", "seq", "vf", "vt", *names)
        )
        self.kinds = tuple(value_types)
        self.bloom_bits: int | None = meta.get("bloom_bits")
        self.bloom = map_npy(folder / "bloom.npy") if self.bloom_bits else None
        self.columns = tuple(zip(self.values, [_KINDS.get(k, _INT) for k in self.kinds], self.nulls))

    def pack(self, key: Sequence[str]) -> int | None:
        """The packed (prefix of the) key; None when no stored key can match it."""
        packed = 0
        for code, bits, shift in zip(key, self.bits, self.shifts):
            p = pack_code(code)
            if p is None or p >> bits:
                return None
            packed |= p << shift
        return packed

    def absent(self, key: Sequence[str]) -> bool:
        """True when the full key is surely not in the edition (the filter's answer; no false absences)."""
        if len(key) != len(self.bits):
            return False
        packed = self.pack(key)
        if packed is None:
            return True
        if self.bloom is None:
            return False
        bloom, (p1, p2) = self.bloom, bloom_positions(packed, self.bloom_bits)  # type: ignore[arg-type]
        return not (bloom[p1 >> 3] >> (p1 & 7) & 1 and bloom[p2 >> 3] >> (p2 & 7) & 1)

    def records(self, key: Sequence[str]) -> list[tuple]:
        """Rows whose leading key columns equal ``key``, as the store's SQL query returns them
        (key columns, seq, vf, vt, stored values), in packed-key then file order."""
        packed = self.pack(key)
        if packed is None:
            return []
        keys, n = self.keys, len(key)
        full = n == len(self.bits)
        lo = hi = bisect.bisect_left(keys, packed)
        if full:  # a key has a row or two: step over them rather than search again
            end = len(keys)
            while hi < end and keys[hi] == packed:
                hi += 1
        else:
            hi = bisect.bisect_left(keys, packed + (1 << self.shifts[n - 1]), lo)
        if lo == hi:
            return []
        head = tuple(key)
        tail = [(shift, (1 << bits) - 1) for bits, shift in zip(self.bits[n:], self.shifts[n:])]
        seq, vf, vt, columns = self.seq, self.vf, self.vt, self.columns
        out = []
        for i in range(lo, hi):
            codes = head
            if tail:
                k = keys[i]
                codes = head + tuple([_unpacked(k >> shift & mask) for shift, mask in tail])
            vals: list[Any] = []
            for col, kind, null in columns:
                v = col[i]
                if kind == _INT:
                    vals.append(None if v == null else v)
                elif kind == _NUMBER:
                    vals.append(None if v != v else v)
                else:
                    vals.append(None if v == 0 else _iso_date(v))
            out.append((*codes, seq[i], vf[i] or None, vt[i] or None, *vals))
        return out


_INT, _NUMBER, _DATE = 0, 1, 2
_KINDS = {"number": _NUMBER, "date": _DATE}
_unpacked_codes: dict[int, str] = {}
_dates: dict[int, str] = {}


def _unpacked(packed: int) -> str:
    """:func:`unpack_code`, remembered (the trailing key columns of a prefix lookup are a few modifiers)."""
    code = _unpacked_codes.get(packed)
    if code is None:
        if len(_unpacked_codes) >= _CODE_CACHE_SIZE:
            _unpacked_codes.clear()
        code = _unpacked_codes[packed] = unpack_code(packed)
    return code


def _iso_date(v: int) -> str:
    """YYYYMMDD as ISO, remembered (a table has a few hundred distinct dates)."""
    text = _dates.get(v)
    if text is None:
        if len(_dates) >= _CODE_CACHE_SIZE:
            _dates.clear()
        text = _dates[v] = f"{v // 10000:04d}-{v // 100 % 100:02d}-{v % 100:02d}"
    return text


class CompactTable:
    """A hot table's compacted editions, each mapped on first use."""

    def __init__(self, root: Path, entry: dict[str, Any]) -> None:
        self.folder = root / entry["dir"]
        self.meta: dict[str, Any] = entry["editions"]
        self.value_types: list[str] = entry["value_types"]
        self._editions: dict[int, CompactEdition | None] = {}

    def edition(self, ed: int) -> CompactEdition | None:
        try:
            return self._editions[ed]
        except KeyError:
            meta = self.meta.get(str(ed))
            found = None
            try:
                found = CompactEdition(self.folder / str(ed), meta, self.value_types) if meta else None
            except (OSError, NotCompact) as exc:  # a damaged or removed file: that edition is read from SQLite
                _log.warning("%s: %s; lookups in it use SQLite (re-import to rebuild)", self.folder, exc)
            self._editions[ed] = found
            return found


def open_compact(root: Path, generations: dict[str, str]) -> dict[str, CompactTable]:
    """The compacted tables whose files were built from the store's current rows (same generation)."""
    tables = read_index(root).get("tables", {})
    return {
        name: CompactTable(root, entry)
        for name, entry in tables.items()
        if generations.get(name) is not None and entry.get("generation") == generations[name]
    }
