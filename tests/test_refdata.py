"""Importing the real CMS files (../shared/refdata) and checking values CMS published.

The files are imported once per session into the store every refdata test
shares (``refdata_store`` in conftest.py, cached between runs); skipped with a
reason when the data is absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import STORE_FILES

from claimscrub.refdata.importers import ImportContext, import_paths, read_file
from claimscrub.refdata.layouts import edition_from_name, recognise
from claimscrub.refdata.store import StoreTableSet, open_tables
from claimscrub.refdata.tables import default_registry


@pytest.fixture(scope="session")
def store(refdata_store: Path) -> StoreTableSet:
    """The session's shared store of real CMS tables (tests/conftest.py: imported once, cached between runs)."""
    ts = StoreTableSet(refdata_store / "tables.sqlite")
    ts.data_dir = refdata_store  # type: ignore[attr-defined]
    return ts


def test_every_refdata_table_file_is_recognised(refdata: Path):
    reg = default_registry()
    for rel in STORE_FILES + [
        "ncci/ptp_outpatient_hospital_2024-07-01.csv.gz",
        "ncci/mue_outpatient_hospital_2024-07-01.csv",
        "pfs/pprrvu_2024_releases_A-B-C.csv.gz",
        "hcpcs/level2_2024-07_attributes.csv",
        "hcpcs/ioce_hcpcs_versioned_2019q3-2026q2.csv.gz",
        "codes/pos_codes_2024.csv",
        "icd10cm/ioce_dx10_versioned_2019q3-2026q2.csv.gz",
        "mce/mce_v43.1_age_ranges.csv",
        "codes/carc_rarc_2024-06.csv",
    ]:
        matches, reason = recognise(refdata / rel, reg)
        assert matches, f"{rel}: {reason}"
    matches, reason = recognise(refdata / "codes/ioce_edit_descriptions.csv", reg)
    assert not matches and reason


def test_ptp_values(store):
    assert store.lookup("ncci_ptp_practitioner", ("80053", "80048"), "2024-08-01")["modifier_indicator"] == 0
    row = store.lookup("ncci_ptp_practitioner", ("11042", "97597"), "2024-08-01")
    assert row["modifier_indicator"] == 1
    assert row["_edition"] == "NCCI PTP practitioner 2024-07-01"


def test_27280_27278_changes_indicator_on_2024_07_01(store):
    key = ("27280", "27278")
    # flattened practitioner file: deleted row (0, to 2024-06-30) and active row (1)
    assert store.lookup("ncci_ptp_practitioner", key, "2024-06-30")["modifier_indicator"] == 0
    assert store.lookup("ncci_ptp_practitioner", key, "2024-07-01")["modifier_indicator"] == 1
    # I/OCE carries the real window: the indicator-0 edit was in force 2024-04-01 .. 2024-06-30
    assert store.lookup("ncci_ptp_ioce", key, "2024-03-31") is None
    row = store.lookup("ncci_ptp_ioce", key, "2024-05-15")
    assert row["modifier_indicator"] == 0 and (row["valid_from"], row["valid_to"]) == ("2024-04-01", "2024-06-30")
    assert store.lookup("ncci_ptp_ioce", key, "2024-07-01") is None


def test_mue_values(store):
    row = store.lookup("mue_practitioner", ("20610",), "2024-08-01")
    assert (row["mue_units"], row["mai"]) == (2, 3)
    assert store.lookup("mue_dme", ("E0100",), "2024-08-01")["mue_units"] == 1


def test_add_on_11045_needs_11042(store):
    rows = store.lookup_all("aoc", ("11045",), "2024-08-01")
    assert [(r["primary_code"], r["aoc_edit_type"]) for r in rows] == [("11042", 1)]
    assert {r["primary_code"] for r in store.lookup_all("aoc", ("99417",), "2024-08-01")} == {"99205", "99215"}
    type2 = store.lookup("aoc_ioce", ("0054T",), "2024-08-01")
    assert type2["primary_code"] == "CCCCC" and type2["aoc_edit_type"] == 2


def test_mpfs_indicators_reject_modifiers(store):
    # 93010: PC/TC indicator 2, a professional-component-only code: 26 not allowed
    assert store.lookup("mpfs_indicators", ("93010",), "2024-08-01")["pctc"] == 2
    # 69210: bilateral indicator 2, the code is already bilateral: 50 not allowed
    assert store.lookup("mpfs_indicators", ("69210",), "2024-08-01")["bilateral"] == 2
    row = store.lookup("mpfs_indicators", ("27447", ""), "2024-08-01")
    assert row["global_days"] == "090"
    assert store.lookup("mpfs_indicators", ("11042",), "2024-08-01")["global_days"] == "000"
    assert store.lookup("mpfs_indicators", ("71046", "26"), "2024-08-01")["modifier"] == "26"


def test_hcpcs_fixed_width_layout(refdata: Path, tmp_path: Path):
    """The raw CMS 2019 fixed-width file on its own (in the shared store the July 2024 file, which dates
    every row it lists, answers for 2017 too: issue 13 item 1; it lists no modifiers)."""
    import_paths([refdata / "hcpcs" / "HCPC2019_CONTR_ANWEB.txt"], tmp_path)
    store = StoreTableSet(tmp_path / "tables.sqlite")
    row = store.lookup("hcpcs", ("G0202",), "2017-06-01")
    assert row["termination_date"] == "2017-12-31" and row["add_date"] == "2001-04-01"
    assert row["_edition"] == "HCPCS 2019"
    assert store.lookup("hcpcs", ("G0202",), "2018-01-01") is None
    mod = store.lookup("hcpcs", ("AD",), "2019-06-01")  # modifier with a continuation record
    assert mod["kind"] == "modifier" and mod["long_description"].endswith("procedures")


def test_mce_flags_by_date(store):
    assert store.lookup("mce_dx_flags", ("N400",), "2024-09-30")["male"] == 1
    assert store.lookup("mce_dx_flags", ("N400",), "2024-10-01")["male"] == 0


def test_status_reports_editions_and_missing_effective_dates(store):
    st = {s.name: s for s in store.status()}
    ptp = st["ncci_ptp_practitioner"]
    assert ptp.loaded and ptp.rows > 2_500_000
    assert any("no effective dates" in n for n in ptp.notes)
    assert st["ncci_ptp_ioce"].coverage[0] == "2019-07-01"
    assert not st["mue_hospital"].loaded  # not among the shared store's files


def test_open_tables_uses_the_store_and_samples_only_when_asked(store):
    ts = open_tables(store.data_dir)
    assert ts.edition("ncci_ptp_practitioner", "2024-08-01") == "NCCI PTP practitioner 2024-07-01"
    assert not ts.loaded("mue_hospital")  # not among the shared store's files
    with_samples = open_tables(store.data_dir, samples=True)
    assert with_samples.edition("mue_hospital", "2024-08-01") == "MUE hospital sample"


def test_reimport_replaces_the_edition(refdata: Path, tmp_path: Path):
    f = refdata / "ncci/mue_dme_2024-07-01.csv"
    import_paths([f], tmp_path)
    import_paths([f], tmp_path)
    ts = StoreTableSet(tmp_path / "tables.sqlite")
    assert [e.rows for e in ts.editions["mue_dme"]] == [2928]


def test_cms_ptp_text_layout(tmp_path: Path):
    """The quarterly CMS download: tab-separated, copyright lines, YYYYMMDD dates, * = none."""
    f = tmp_path / "ccipra-v302r0-f1.txt"
    f.write_text(
        "CPT codes, descriptions and other data only are copyright 2023 American Medical Association.\n"
        "Column 1\tColumn 2\t*=in existence prior to 1996\tEffective Date\tDeletion Date *=no data\t"
        "Modifier 0=not allowed 1=allowed 9=not applicable\tPTP Edit Rationale\n"
        "\t\t\t\t\t\t\n"
        "27280\t27278\t\t20240101\t20240630\t0\tMutually exclusive procedures\n"
        "27280\t27278\t\t20240701\t*\t1\tMisuse of Column Two code with Column One code\n"
        "80053\t80048\t*\t19960101\t*\t0\tCPT Manual or CMS manual coding instruction\n"
    )
    done, skipped = import_paths([f], tmp_path / "d")
    assert [(d.table, d.edition, d.rows) for d in done] == [
        ("ncci_ptp_practitioner", "NCCI PTP practitioner 2024-07-01 (v302r0)", 3)
    ]
    ts = StoreTableSet(tmp_path / "d" / "tables.sqlite")
    assert ts.lookup("ncci_ptp_practitioner", ("27280", "27278"), "2023-12-31") is None
    assert ts.lookup("ncci_ptp_practitioner", ("27280", "27278"), "2024-02-01")["modifier_indicator"] == 0
    assert ts.lookup("ncci_ptp_practitioner", ("27280", "27278"), "2024-07-02")["modifier_indicator"] == 1
    assert ts.lookup("ncci_ptp_practitioner", ("80053", "80048"), "2024-07-02")["pre_1996"] == 1


def test_cms_mue_layout(tmp_path: Path):
    f = tmp_path / "MCR_MUE_PractitionerServices_Eff_07-01-2024.csv"
    f.write_text(
        '"CPT codes, descriptions and other data only are copyright 2023 AMA."\n\n'
        '"HCPCS/CPT Code","Practitioner Services MUE Values","MUE Adjudication Indicator","MUE Rationale"\n'
        '"20610","2","3 Date of Service Edit: Clinical","Clinical: Data"\n'
    )
    done, _ = import_paths([f], tmp_path / "d")
    assert done[0].table == "mue_practitioner" and done[0].edition == "MUE practitioner 2024-07-01"
    row = StoreTableSet(tmp_path / "d" / "tables.sqlite").lookup("mue_practitioner", ("20610",), "2024-08-01")
    assert (row["mue_units"], row["mai"]) == (2, 3)


def test_edition_names():
    assert edition_from_name("ptp_practitioner_2024-07-01.csv.gz").date == "2024-07-01"
    assert edition_from_name("PPRRVU24_JUL.csv").date == "2024-07-01"
    assert edition_from_name("AOC_V2024Q3-MCR.txt").date == "2024-07-01"
    assert edition_from_name("ptp_ioce_versioned_2019q3-2026q2.csv.gz").label == "2019Q3-2026Q2"


def test_ioce_versions_map_to_dates(refdata: Path):
    reg = default_registry()
    f = refdata / "ncci/aoc_ioce_type2_versioned.csv"
    (m,), _ = recognise(f, reg)
    rows = list(read_file(f, m.defn, m.layout, ImportContext()))
    assert rows[0].valid_from == "2019-07-01"


def test_data_commands(refdata: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from claimscrub.cli.data import data

    monkeypatch.setenv("CLAIMSCRUB_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    result = runner.invoke(data, ["import", str(refdata / "ncci/mue_dme_2024-07-01.csv"), str(refdata / "README.md")])
    assert result.exit_code == 0, result.output
    assert "imported mue_dme" in result.output and "skipped" in result.output
    result = runner.invoke(data, ["status", "--format", "json"])
    status = {t["name"]: t for t in json.loads(result.output)["tables"]}
    assert status["mue_dme"]["rows"] == 2928 and not status["aoc"]["loaded"]
    other = tmp_path / "other"
    result = runner.invoke(data, ["status", "--data-dir", str(other)])
    assert "not found" in result.output


_MUE_CSV = (
    '"HCPCS/CPT Code","Practitioner Services MUE Values","MUE Adjudication Indicator","MUE Rationale"\n'
    '"20610","2","3 Date of Service Edit: Clinical","Clinical: Data"\n'
)


def test_import_of_a_relative_dotted_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`data import ../refdata` from a sibling folder, inside a dot folder: only names below it count as hidden."""
    from claimscrub.cli.data import data

    top = tmp_path / ".work"
    (top / "refdata" / ".cache").mkdir(parents=True)
    (top / "refdata" / "MCR_MUE_PractitionerServices_Eff_07-01-2024.csv").write_text(_MUE_CSV)
    (top / "refdata" / ".cache" / "MCR_MUE_DME_Eff_07-01-2024.csv").write_text(_MUE_CSV)
    (top / "project").mkdir()
    monkeypatch.chdir(top / "project")
    result = CliRunner().invoke(data, ["import", "../refdata", "--data-dir", str(tmp_path / "store")])
    assert result.exit_code == 0, result.output
    assert "imported mue_practitioner" in result.output
    assert "1 file(s) imported, 1 skipped" in result.output
    assert "skipped ../refdata/.cache/MCR_MUE_DME_Eff_07-01-2024.csv: hidden" in result.output


def test_import_of_nothing_recognised_lists_what_it_saw(tmp_path: Path):
    from claimscrub.cli.data import data

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "notes.txt").write_text("hello\n")
    (tmp_path / "in" / ".DS_Store").write_text("x")
    result = CliRunner().invoke(data, ["import", str(tmp_path / "in"), "--quiet", "--data-dir", str(tmp_path / "s")])
    assert result.exit_code == 1
    assert f"skipped {tmp_path / 'in' / 'notes.txt'}: no table layout recognises this file name" in result.output
    assert f"skipped {tmp_path / 'in' / '.DS_Store'}: hidden" in result.output
    assert "0 file(s) imported, 2 skipped" in result.output
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(data, ["import", str(tmp_path / "empty"), "--data-dir", str(tmp_path / "s")])
    assert result.exit_code == 1 and f"no files found in {tmp_path / 'empty'}" in result.output
