"""The compact lookup path (refdata/compact.py) and the edition-keyed memo (refdata/memo.py).

Every answer must be the one the SQLite path gives: the tests compare both on
many keys and dates, on a store built from the bundled sample rows (fast, real
codes) and on the session's store of real CMS tables (skipped when absent).
"""

from __future__ import annotations

import itertools
import logging
import random
from pathlib import Path

import pytest

from claimscrub.refdata import compact
from claimscrub.refdata.memo import change_dates
from claimscrub.refdata.store import Store, StoreTableSet, compact_dir
from claimscrub.refdata.tables import RawRow, default_registry, make_row, read_table_csv

DATES = ["2015-06-01", "2019-12-31", "2023-03-15", "2024-01-01", "2024-06-30", "2024-07-01", "2024-09-30", "2025-01-01"]
SAMPLE_TABLES = ["ncci_ptp_practitioner", "ncci_ptp_hospital", "mue_practitioner", "aoc", "mpfs_indicators", "hcpcs"]


def _write_samples(data_dir: Path, names=SAMPLE_TABLES, *, date: str | None = "2024-01-01") -> None:
    registry = default_registry()
    store = Store(data_dir)
    try:
        for name in names:
            defn = registry[name]
            rows = read_table_csv(defn, defn.sample)  # type: ignore[arg-type]
            store.write_part(defn, rows, edition="sample", edition_date=date, source=f"{name}.csv", layout="csv")
        store.build_compact()
    finally:
        store.close()


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("compact")
    _write_samples(data_dir)
    return data_dir


def _keys(ts: StoreTableSet, table: str) -> list[tuple[str, ...]]:
    nk = len(ts.defs[table].key)
    cols = ", ".join(f"k{i}" for i in range(nk))
    return list(ts._conn().execute(f'SELECT DISTINCT {cols} FROM "t_{table}" ORDER BY {cols}'))


def _same_answers(path: Path, tables, keys_of, dates) -> int:
    fast, slow = StoreTableSet(path), StoreTableSet(path, compact=False)
    assert not slow.compact
    compared = 0
    for table in tables:
        assert table in fast.compact, table
        for key in keys_of(fast, table):
            for dos in dates:
                for how in ("lookup", "lookup_all", "history", "lookup"):  # twice: the second answer is memoised
                    assert getattr(fast, how)(table, key, dos) == getattr(slow, how)(table, key, dos), (table, key, dos)
                assert fast.reader(table)(key, dos) == slow.lookup(table, key, dos), (table, key, dos)
                compared += 1
    return compared


def test_compact_answers_equal_sqlite_on_sample_rows(sample_store: Path):
    def keys_of(ts, table):
        keys = _keys(ts, table)
        codes = sorted({k[0] for k in keys})
        extra = [k[:1] for k in keys] + [("ZZZZZ",) * len(keys[0]), ("",) * len(keys[0]), ("A-1",) * len(keys[0])]
        if len(keys[0]) == 2:  # pairs of codes the table knows, mostly not a pair in it
            extra += list(itertools.product(codes[:12], codes[-12:]))
        return keys + extra

    assert _same_answers(sample_store / "tables.sqlite", SAMPLE_TABLES, keys_of, DATES) > 1000


def test_absent_pairs_are_answered_by_the_filter(sample_store: Path, monkeypatch):
    ts = StoreTableSet(sample_store / "tables.sqlite")
    assert ts.lookup("ncci_ptp_practitioner", ("27280", "27278"), "2024-08-01") is not None
    queried = []
    monkeypatch.setattr(ts, "_fetch_rows", lambda *a: queried.append(a) or ())
    edition = ts.compact["ncci_ptp_practitioner"].edition(ts.edition_for("ncci_ptp_practitioner", "2024-08-01").id)
    absent = [p for p in itertools.product(["99213", "99214", "G0439", "J1100"], ["36415", "81002"])]
    assert all(edition.absent(p) for p in absent[:2])  # real codes, no such edit
    for pair in absent:
        assert ts.lookup("ncci_ptp_practitioner", pair, "2024-08-01") is None
    assert len(queried) <= 1  # a false positive of the filter at most; 16 bits a pair make it 1.4%


def test_present_pairs_are_never_filtered_out(sample_store: Path):
    ts = StoreTableSet(sample_store / "tables.sqlite")
    for table in ("ncci_ptp_practitioner", "ncci_ptp_hospital", "aoc"):
        for ed in ts.editions[table]:
            edition = ts.compact[table].edition(ed.id)
            assert not any(edition.absent(key) for key in _keys(ts, table))


def test_codes_pack_without_collisions():
    codes = ["0", "00", "0123", "123", "99213", "G0439", "J1100", "Z", "A0", "", "0001A", "N400", "S72001A"]
    packed = [compact.pack_code(c) for c in codes]
    assert len(set(packed)) == len(codes)
    assert [compact.unpack_code(p) for p in packed] == codes  # type: ignore[arg-type]
    # what no stored code can equal: lower case, punctuation, too long
    assert compact.pack_code("g0439") is None
    assert compact.pack_code("1_2") is None and compact.pack_code(" 12") is None
    assert compact.pack_code("S72001AB") is None


def test_a_store_without_compact_files_says_so_once_and_answers_from_sqlite(tmp_path: Path, caplog):
    _write_samples(tmp_path, ["mue_practitioner"])
    fast = StoreTableSet(tmp_path / "tables.sqlite").lookup("mue_practitioner", ("97110",), "2024-08-01")
    for folder in compact_dir(tmp_path).iterdir():
        if folder.is_dir():
            for f in folder.rglob("*.npy"):
                f.unlink()
    (compact_dir(tmp_path) / compact.INDEX_FILE).unlink()
    with caplog.at_level(logging.WARNING, logger="claimscrub.refdata.store"):
        ts = StoreTableSet(tmp_path / "tables.sqlite")
        StoreTableSet(tmp_path / "tables.sqlite")
    assert not ts.compact
    warned = [r.getMessage() for r in caplog.records if "compact" in r.getMessage()]
    assert len(warned) == 1 and "mue_practitioner" in warned[0] and "claimscrub data import" in warned[0]
    assert ts.lookup("mue_practitioner", ("97110",), "2024-08-01") == fast is not None


def test_compact_files_of_changed_rows_are_not_used(tmp_path: Path):
    _write_samples(tmp_path, ["mue_practitioner"])
    defn = default_registry()["mue_practitioner"]
    store = Store(tmp_path)  # a later import of the table, without rebuilding the compact files
    row = make_row(defn, {"hcpcs_code": "97110", "mue_units": "9", "mai": "3", "rationale": "test"}, 0)
    store.write_part(
        defn, [row], edition="sample", edition_date="2024-01-01", source="mue_practitioner.csv", layout="csv"
    )
    store.close()
    ts = StoreTableSet(tmp_path / "tables.sqlite")
    assert "mue_practitioner" not in ts.compact
    assert ts.lookup("mue_practitioner", ("97110",), "2024-08-01")["mue_units"] == 9
    store = Store(tmp_path)
    assert store.build_compact() == ["mue_practitioner"]
    assert store.build_compact() == []  # nothing changed since
    store.close()
    ts = StoreTableSet(tmp_path / "tables.sqlite")
    assert "mue_practitioner" in ts.compact
    assert ts.lookup("mue_practitioner", ("97110",), "2024-08-01")["mue_units"] == 9


def test_a_table_whose_keys_cannot_be_packed_stays_on_sqlite(tmp_path: Path):
    defn = default_registry()["mue_practitioner"]
    store = Store(tmp_path)
    row = make_row(defn, {"hcpcs_code": "A-1", "mue_units": "2", "mai": "1"}, 0)
    store.write_part(defn, [row], edition="odd", edition_date=None, source="odd.csv", layout="csv")
    assert store.build_compact() == []
    store.close()
    ts = StoreTableSet(tmp_path / "tables.sqlite")
    assert not ts.compact and ts.lookup("mue_practitioner", ("a-1",), "2024-08-01")["mue_units"] == 2


def test_the_memo_is_keyed_by_edition_and_bounded(sample_store: Path, monkeypatch):
    ts = StoreTableSet(sample_store / "tables.sqlite", cache_size=8)
    fetched = []
    real = ts._fetch_rows
    monkeypatch.setattr(ts, "_fetch_rows", lambda *a: fetched.append(a) or real(*a))
    for dos in ("2024-02-01", "2024-03-15", "2024-08-01", "2025-01-01"):  # one edition answers them all
        assert ts.lookup("mue_practitioner", ("97110",), dos) is not None
    assert len(fetched) == 1
    for key in _keys(ts, "mue_practitioner"):
        ts.lookup("mue_practitioner", key, "2024-08-01")
    assert len(ts._memo) <= 8


def test_pairs_the_filter_rules_out_do_not_push_rows_out_of_the_memo(sample_store: Path, monkeypatch):
    ts = StoreTableSet(sample_store / "tables.sqlite", cache_size=8)
    read = ts.reader("ncci_ptp_practitioner")
    assert read(("27280", "27278"), "2024-08-01")["modifier_indicator"] == 1
    fetched = []
    real = ts._fetch_rows
    monkeypatch.setattr(ts, "_fetch_rows", lambda *a: fetched.append(a) or real(*a))
    absent = [p for p in itertools.product(["99213", "99214", "G0439", "J1100"], ["36415", "81002", "97110"])]
    for pair in absent:
        assert read(pair, "2024-08-01") is None
    assert read(("27280", "27278"), "2024-09-01")["modifier_indicator"] == 1
    assert len(fetched) <= 1 and len(ts._memo) <= 2  # a false positive of the filter at most
    assert ts.reader("no_such_table")(("27280",), "2024-08-01") is None


def test_answers_change_where_a_window_starts_or_ends(sample_store: Path):
    ts = StoreTableSet(sample_store / "tables.sqlite")
    # the sample PTP edit 27280/27278 changes its modifier indicator on 2024-07-01
    assert ts.lookup("ncci_ptp_practitioner", ("27280", "27278"), "2024-06-30")["modifier_indicator"] == 0
    assert ts.lookup("ncci_ptp_practitioner", ("27280", "27278"), "2024-07-01")["modifier_indicator"] == 1
    assert ts.lookup("ncci_ptp_practitioner", ("27280", "27278"), "2024-06-30")["modifier_indicator"] == 0
    rows = [RawRow(("A",), (), "2024-01-01", "2024-06-30", 0), RawRow(("A",), (), "2024-07-01", None, 1)]
    assert change_dates(rows) == ("2024-01-01", "2024-06-30~", "2024-07-01")
    assert "2024-06-30" < "2024-06-30~" < "2024-07-01"


def test_caveats_name_their_own_date_and_answers_are_fresh(sample_store: Path):
    ts = StoreTableSet(sample_store / "tables.sqlite")
    early = [ts.lookup("mue_practitioner", ("97110",), d) for d in ("2023-03-15", "2023-04-01")]
    assert "2023-03-15" in early[0]["_caveat"] and "2023-04-01" in early[1]["_caveat"]
    row = ts.lookup("mue_practitioner", ("97110",), "2024-08-01")
    row["mue_units"] = -1  # callers may mutate their copy
    assert ts.lookup("mue_practitioner", ("97110",), "2024-08-01")["mue_units"] != -1
    assert "_caveat" not in row


def test_compact_answers_equal_sqlite_on_real_cms_tables(refdata_store: Path):
    path = refdata_store / "tables.sqlite"
    rnd = random.Random(18)
    tables = sorted(StoreTableSet(path).compact)
    assert {"ncci_ptp_practitioner", "mue_practitioner", "aoc", "hcpcs", "ioce_dx"} <= set(tables)

    def keys_of(ts, table):
        nk = len(ts.defs[table].key)
        cols = ", ".join(f"k{i}" for i in range(nk))
        keys = list(ts._conn().execute(f'SELECT {cols} FROM "t_{table}" ORDER BY random() LIMIT 40'))
        if nk == 2:
            codes = [k[0] for k in keys] + [k[1] for k in keys]
            keys += [(rnd.choice(codes), rnd.choice(codes)) for _ in range(40)] + [k[:1] for k in keys[:5]]
        return keys

    dates = ["2019-10-01", "2021-03-31", "2023-07-01", "2024-06-30", "2024-07-01", "2025-10-01"]
    assert _same_answers(path, tables, keys_of, dates) > 3000


def test_keys_as_claims_spell_them_find_the_memoised_rows(sample_store: Path):
    ts = StoreTableSet(sample_store / "tables.sqlite")
    row = ts.lookup("ncci_ptp_practitioner", ("27280", "27278"), "2024-08-01")
    assert row is not None
    assert ts.lookup("ncci_ptp_practitioner", [" 27280", "27278 "], "2024-08-01") == row
    assert ts.lookup("mue_practitioner", ("g2212",), "2024-08-01") == ts.lookup(
        "mue_practitioner", ("G2212",), "2024-08-01"
    )
    assert ts.lookup("mue_practitioner", ("G2212",), "2024-08-01")["mue_units"] == 6
    assert ts.lookup("ncci_ptp_practitioner", ("27280", "27278", "X"), "2024-08-01") is None  # longer than the key
    assert ts.lookup("no_such_table", ("27280",), "2024-08-01") is None
