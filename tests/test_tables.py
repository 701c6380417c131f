"""The table registry and the TableSet lookup API, on the bundled sample tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from claimscrub.refdata.tables import (
    LayeredTableSet,
    MemoryTableSet,
    TableError,
    check_schema,
    csv_tables,
    load_registry,
    load_yaml,
    parse_table_def,
    sample_tables,
    tables_dir,
)

REQUIRED = {
    "ncci_ptp_practitioner",
    "ncci_ptp_hospital",
    "mue_practitioner",
    "mue_hospital",
    "mue_dme",
    "aoc",
    "mpfs_indicators",
    "hcpcs",
}


@pytest.fixture(scope="module")
def samples() -> MemoryTableSet:
    return sample_tables()


def test_registry_defines_the_tables_rules_use():
    reg = load_registry()
    assert set(reg.tables) >= REQUIRED
    ptp = reg["ncci_ptp_practitioner"]
    assert ptp.key == ("column1", "column2")
    assert ptp.column_type("modifier_indicator") == "integer"
    assert ptp.conflict.policy == "most_restrictive" and ptp.conflict.prefer == "lowest"
    assert reg["mue_practitioner"].conflict.column == "mue_units"
    assert reg["mpfs_indicators"].key == ("hcpcs_code", "modifier")


def test_every_definition_has_the_schema_modeline():
    for path in tables_dir().glob("*.yaml"):
        assert path.read_text().startswith("# yaml-language-server: $schema=../../schemas/table.schema.json"), path


def test_yaml_12_keeps_codes_strings():
    data = load_yaml("a: 0450\nb: no\nc: 2024-07-01\nd: on\ne: 12\nf: 0\ng: true\nh: 1.5\ni: 010\n")
    assert data == {
        "a": "0450",
        "b": "no",
        "c": "2024-07-01",
        "d": "on",
        "e": 12,
        "f": 0,
        "g": True,
        "h": 1.5,
        "i": "010",
    }


def test_bad_definitions_say_where():
    with pytest.raises(TableError, match="type 'int'"):
        parse_table_def(load_yaml("name: x\nkey: [a]\nvalues: {b: int}"))
    with pytest.raises(TableError, match="values/b"):
        check_schema(load_yaml("name: x\nkey: [a]\nvalues: {b: int}"))
    with pytest.raises(TableError, match="conflict.column"):
        parse_table_def(load_yaml("name: x\nkey: [a]\nvalues: {b: integer}\nconflict: {policy: most_restrictive}"))
    with pytest.raises(TableError, match="effective column"):
        parse_table_def(load_yaml("name: x\nkey: [a]\nvalues: {b: string}\neffective: {mode: columns, from: b}"))


def test_sample_tables_are_labelled_as_samples(samples):
    statuses = {s.name: s for s in samples.status()}
    for name in REQUIRED:
        assert statuses[name].loaded and statuses[name].origin == "sample", name
    assert samples.edition("ncci_ptp_practitioner", "2024-07-01") == "NCCI PTP practitioner sample"


def test_ptp_pairs(samples):
    row = samples.lookup("ncci_ptp_practitioner", ("80053", "80048"), "2024-08-01")
    assert row["modifier_indicator"] == 0
    assert row["_table"] == "ncci_ptp_practitioner" and row["_edition"].endswith("sample")
    assert samples.lookup("ncci_ptp_practitioner", ("11042", "97597"), "2024-08-01")["modifier_indicator"] == 1
    assert samples.lookup("ncci_ptp_practitioner", ("80048", "80053"), "2024-08-01") is None


def test_date_of_service_picks_the_edit_in_force(samples):
    key = ("27280", "27278")
    assert samples.lookup("ncci_ptp_practitioner", key, "2023-12-31") is None
    assert samples.lookup("ncci_ptp_practitioner", key, "2024-01-01")["modifier_indicator"] == 0
    assert samples.lookup("ncci_ptp_practitioner", key, "2024-06-30")["modifier_indicator"] == 0
    assert samples.lookup("ncci_ptp_practitioner", key, "2024-07-01")["modifier_indicator"] == 1


def test_deleted_edit_stops_after_its_deletion_date(samples):
    assert samples.lookup("ncci_ptp_practitioner", ("97140", "97530"), "2019-12-31") is not None
    assert samples.lookup("ncci_ptp_practitioner", ("97140", "97530"), "2020-01-01") is None


def test_overlapping_rows_resolve_to_the_most_restrictive(samples):
    # 29880/29877: an active row with indicator 0 and a row (deleted 2002-01-01) with 9
    assert samples.lookup("ncci_ptp_practitioner", ("29880", "29877"), "2001-06-01")["modifier_indicator"] == 0
    assert samples.lookup("ncci_ptp_practitioner", ("29880", "29877"), "2024-06-01")["modifier_indicator"] == 0


def test_prefix_lookups(samples):
    first = samples.lookup("ncci_ptp_practitioner", ("80053",), "2024-08-01")
    assert first["column1"] == "80053" and first["column2"] == "80048"  # key order, deterministic
    pairs = samples.lookup_all("ncci_ptp_practitioner", ("80053",), "2024-08-01")
    assert [r["column2"] for r in pairs] == sorted(r["column2"] for r in pairs) and len(pairs) >= 3
    primaries = {r["primary_code"] for r in samples.lookup_all("aoc", ("99417",), "2024-08-01")}
    assert primaries == {"99205", "99215"}
    assert samples.lookup("aoc", ("11045", "11042"), "2024-08-01")["aoc_edit_type"] == 1
    glob = samples.lookup("mpfs_indicators", ("93010",), "2024-08-01")
    assert glob["modifier"] == "" and glob["pctc"] == 2


def test_values_are_typed(samples):
    mue = samples.lookup("mue_practitioner", ("20610",), "2024-08-01")
    assert (mue["mue_units"], mue["mai"]) == (2, 3)
    pfs = samples.lookup("mpfs_indicators", ("27447",), "2024-08-01")
    assert pfs["global_days"] == "090" and pfs["bilateral"] == 1
    assert samples.lookup("mpfs_indicators", ("69210",), "2024-08-01")["bilateral"] == 2
    assert samples.lookup("pos_codes", ("02",), "2024-08-01")["pos_type"] == "Facility"


def test_codes_are_compared_upper_case(samples):
    assert samples.lookup("hcpcs", ("g0463",), "2024-08-01")["code"] == "G0463"
    assert samples.lookup("hcpcs", ("G0202",), "2018-06-01") is None  # terminated 2017-12-31
    assert samples.lookup("hcpcs", ("G0202",), "2017-06-01") is not None


def test_unknown_tables_and_keys(samples):
    assert samples.lookup("no_such_table", ("1",), "2024-01-01") is None
    assert samples.lookup_all("no_such_table", ("1",), "2024-01-01") == []
    assert not samples.loaded("no_such_table") and not samples.known("no_such_table")
    assert samples.edition("no_such_table", "2024-01-01") is None
    assert samples.lookup("mue_practitioner", ("00000",), "2024-01-01") is None
    assert samples.lookup("mue_practitioner", ("20610", "extra"), "2024-01-01") is None
    assert samples.known("ncci_ptp_ioce") and not samples.loaded("ncci_ptp_ioce")


def test_lookups_are_deterministic_and_fresh(samples):
    a = samples.lookup("ncci_ptp_practitioner", ("27280", "27278"), "2024-05-01")
    a["modifier_indicator"] = 99  # callers may mutate their copy
    assert samples.lookup("ncci_ptp_practitioner", ("27280", "27278"), "2024-05-01")["modifier_indicator"] == 0


def test_mce_flags_change_with_the_date(samples):
    assert samples.lookup("mce_dx_flags", ("N400",), "2024-09-30")["male"] == 1
    assert samples.lookup("mce_dx_flags", ("N400",), "2024-10-01")["male"] == 0


def test_a_payer_table_needs_only_yaml_and_csv(tmp_path: Path):
    (tmp_path / "acme_fees.yaml").write_text(
        "# yaml-language-server: $schema=../../schemas/table.schema.json\n"
        "name: acme_fees\ntitle: ACME fee schedule\nkey: [code, revenue_code]\n"
        "values: {allowed_cents: integer, valid_from: date, valid_to: date}\n"
        "effective: {mode: columns, from: valid_from, to: valid_to}\n"
        "conflict: {policy: latest}\nclaim_types: [institutional]\ncsv: acme_fees.csv\n"
    )
    (tmp_path / "acme_fees.csv").write_text(
        "code,revenue_code,allowed_cents,valid_from,valid_to\n"
        "99213,0450,9000,2024-01-01,\n99213,0450,9500,2024-07-01,\n"
    )
    reg = load_registry(tmp_path)
    ts = csv_tables(reg)
    assert ts.lookup("acme_fees", ("99213", "0450"), "2024-03-01")["allowed_cents"] == 9000
    assert ts.lookup("acme_fees", ("99213", "0450"), "2024-08-01")["allowed_cents"] == 9500
    assert ts.lookup("acme_fees", ("99213", "450"), "2024-08-01") is None


def test_layers_answer_from_the_first_that_has_the_table(samples, tmp_path: Path):
    (tmp_path / "aoc.yaml").write_text(
        "name: aoc\ntitle: Payer add-on list\nsource: {label: 'payer AOC {edition}'}\n"
        "key: [add_on_code, primary_code]\nvalues: {aoc_edit_type: integer}\ncsv: aoc.csv\n"
    )
    (tmp_path / "aoc.csv").write_text("add_on_code,primary_code,aoc_edit_type\n99417,99204,1\n")
    payer = csv_tables(load_registry(tmp_path))
    layered = LayeredTableSet([payer, samples])
    assert layered.edition("aoc", "2024-08-01") == "payer AOC aoc"
    assert layered.lookup("aoc", ("99417",), "2024-08-01")["primary_code"] == "99204"
    assert layered.lookup("mue_practitioner", ("20610",), "2024-08-01")["mue_units"] == 2
    assert {s.name for s in layered.status()} >= REQUIRED


def test_a_row_that_ends_before_it_starts_is_refused(tmp_path: Path):
    (tmp_path / "acme_fees.yaml").write_text(
        "name: acme_fees\ntitle: ACME fee schedule\nkey: [code]\n"
        "values: {allowed_cents: integer, valid_from: date, valid_to: date}\n"
        "effective: {mode: columns, from: valid_from, to: valid_to}\ncsv: acme_fees.csv\n"
    )
    (tmp_path / "acme_fees.csv").write_text(
        "code,allowed_cents,valid_from,valid_to\n99213,9000,2024-01-01,\n99214,9500,2026-01-01,2025-12-31\n"
    )
    with pytest.raises(
        TableError,
        match=r"acme_fees.csv: data row 2 \(99214\) is valid from 2026-01-01 to "
        r"2025-12-31: the range ends before it starts",
    ):
        csv_tables(load_registry(tmp_path))


def test_a_sample_does_not_list_all_codes_unless_tests_say_so(samples):
    # An "unknown code" edit concludes from absence: it must not fire on a table of a few sample codes.
    assert samples.covers("ioce_hcpcs", "2024-08-01") and not samples.lists_all("ioce_hcpcs", "2024-08-01")
    assert sample_tables(complete=True).lists_all("ioce_hcpcs", "2024-08-01")


def test_unknown_code_edit_waits_for_a_complete_code_list(samples):
    from claimscrub.api.scrubber import Scrubber

    claim = {
        "claim_id": "U1",
        "type": "professional",
        "claim_date": "2024-08-20",
        "payer": {"type": "medicare"},
        "billing_provider": {"npi": "1234567893"},
        "patient": {"id": "P1", "sex": "F", "birth_date": "1960-01-01"},
        "diagnoses": [{"code": "I10"}],
        "lines": [
            {
                "sequence": 1,
                "code": "99284",
                "units": 1,
                "charge": "100.00",
                "from_date": "2024-08-01",
                "diagnosis_pointers": [1],
            }
        ],
    }
    ids = lambda tables: {f.rule_id for f in Scrubber(tables=tables).scrub(claim).findings}  # noqa: E731
    assert "CS-CODE-005" not in ids(samples)  # 99284 is real; the sample just does not hold it
    assert "CS-CODE-005" in ids(sample_tables(complete=True))  # the same absence in a complete list


# --------------------------------------------------------------------------- editions by date of service


def _row(defn, key, values, seq=0):
    from claimscrub.refdata.tables import make_row

    return make_row(defn, {**dict(zip(defn.key, key)), **values}, seq)


def test_a_later_file_with_dated_rows_answers_for_every_date_it_covers():
    reg = load_registry()
    hcpcs = reg["hcpcs"]
    ts = MemoryTableSet(reg)
    # the 2019 file lists E2300 as open; the 2024 file dates it (and knows G2211 began 2021-01-01)
    ts.add_rows(hcpcs, [_row(hcpcs, ("E2300",), {"add_date": "2004-01-01"})], "2019", date="2019-01-01")
    ts.add_rows(
        hcpcs,
        [
            _row(hcpcs, ("E2300",), {"add_date": "2004-01-01", "termination_date": "2024-03-31"}),
            _row(hcpcs, ("G2211",), {"add_date": "2021-01-01"}, 1),
        ],
        "2024-07",
        date="2024-07-01",
    )
    assert ts.edition("hcpcs", "2024-05-01") == "HCPCS 2024-07"
    assert ts.lookup("hcpcs", ("E2300",), "2024-05-01") is None
    assert ts.lookup("hcpcs", ("G2211",), "2021-06-01") is not None
    assert ts.lookup("hcpcs", ("G2211",), "2020-06-01") is None


def test_undated_rows_before_their_release_carry_a_caveat_or_are_dated_by_the_ioce():
    reg = load_registry()
    ptp, ioce = reg["ncci_ptp_practitioner"], reg["ncci_ptp_ioce"]
    ts = MemoryTableSet(reg)
    ts.add_rows(
        ptp,
        [
            _row(ptp, ("43611", "43235"), {"modifier_indicator": "0"}),
            _row(ptp, ("80053", "80048"), {"modifier_indicator": "0"}, 1),
        ],
        "2024-07-01",
        date="2024-07-01",
    )
    assert "_caveat" not in ts.lookup("ncci_ptp_practitioner", ("43611", "43235"), "2024-08-01")
    row = ts.lookup("ncci_ptp_practitioner", ("43611", "43235"), "2023-06-01")
    assert "does not cover that date" in row["_caveat"]  # no I/OCE loaded: nothing dates the row
    ts.add_rows(
        ioce,
        [
            _row(
                ioce,
                ("43611", "43235"),
                {"modifier_indicator": "0", "valid_from": "2024-01-01", "valid_to": "2036-03-31"},
            ),
            _row(
                ioce,
                ("11042", "97597"),
                {"modifier_indicator": "1", "valid_from": "2019-07-01", "valid_to": "2036-03-31"},
                1,
            ),
        ],
        "2019Q3-2026Q2",
    )
    assert ts.lookup("ncci_ptp_practitioner", ("43611", "43235"), "2023-06-01") is None  # not yet in force
    assert "_caveat" not in ts.lookup("ncci_ptp_practitioner", ("43611", "43235"), "2024-02-01")
    assert "_caveat" in ts.lookup("ncci_ptp_practitioner", ("80053", "80048"), "2023-06-01")  # the I/OCE lacks it


def test_an_edition_that_answers_only_from_its_release_is_not_checked_before():
    reg = load_registry()
    mpfs = reg["mpfs_indicators"]
    assert mpfs.effective.before_edition == "not_checked"
    ts = MemoryTableSet(reg)
    ts.add_rows(mpfs, [_row(mpfs, ("93010", ""), {"pctc": "2"})], "2024-07", date="2024-07-01")
    assert ts.lookup("mpfs_indicators", ("93010",), "2024-08-01")["pctc"] == 2
    assert ts.lookup("mpfs_indicators", ("93010",), "2022-06-01") is None
    assert not ts.covers("mpfs_indicators", "2022-06-01") and ts.covers("mpfs_indicators", "2024-08-01")
    with pytest.raises(TableError, match="before_edition"):
        parse_table_def(load_yaml("name: x\nkey: [a]\neffective: {mode: edition, before_edition: maybe}"))
