"""Claim history: the store (memory and SQLite behave alike) and the cross-claim edits, with real codes.

Global days come from the bundled sample MPFS indicators (27447 is 090, as in the CMS PPRRVU file);
the MUE of 11042 (1 per day, MAI 2) from the sample practitioner MUE table.
"""

from __future__ import annotations

import copy
import sqlite3
from pathlib import Path

import pytest
from pgserver import pg_url  # noqa: F401 - the fixture

from claimscrub.history.limits import load_limits
from claimscrub.history.phase import cross_claim_findings, edit_context
from claimscrub.history.store import (
    MemoryHistory,
    PostgresHistory,
    SqliteHistory,
    open_history,
)
from claimscrub.model.normalize import claim_from_dict
from claimscrub.refdata.store import open_tables

SURGEON, OTHER = "1234567893", "1245319599"
BASE = {
    "type": "professional",
    "frequency": "original",
    "payer": {"name": "Medicare Part B", "type": "medicare"},
    "billing_provider": {"npi": SURGEON, "taxonomy": "207X00000X"},
    "patient": {"id": "P-1", "sex": "F", "birth_date": "1950-05-01"},
    "diagnoses": [{"code": "M17.11"}],
}


def claim(cid: str, *lines: tuple, **extra):
    data = copy.deepcopy(BASE)
    data.update(claim_id=cid, **extra)
    data["lines"] = [
        {
            "sequence": n,
            "code": code,
            "units": units,
            "charge": "100.00",
            "from_date": dos,
            "modifiers": list(mods),
            "diagnosis_pointers": [1],
            **({"rendering_npi": npi} if npi else {}),
        }
        for n, (code, dos, mods, units, npi) in enumerate(((*ln, *((), 1, None)[len(ln) - 2 :]) for ln in lines), 1)
    ]
    return claim_from_dict(data)


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    tables = open_tables(tmp_path_factory.mktemp("data"), samples=True)
    from claimscrub.compile.rules import load_rulebook

    book, _ = load_rulebook([])
    return edit_context(tables, book)


def rule_ids(found, *only: str) -> list[list[str]]:
    """Rule ids per claim (only those named, when any are: other edits may rightly fire on the same lines)."""
    return [[f.rule_id for f in fs if not only or f.rule_id in only] for fs in found]


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request, tmp_path):
    """Every store-backed test runs on each store: the in-memory reference, SQLite and PostgreSQL."""
    if request.param == "memory":
        s = MemoryHistory()
    elif request.param == "sqlite":
        s = SqliteHistory(tmp_path / "history.sqlite")
    else:
        import psycopg

        url = request.getfixturevalue("pg_url")
        with psycopg.connect(url, autocommit=True) as db:  # a fresh schema for each test
            db.execute("DROP TABLE IF EXISTS history_line, schema_version")
        s = PostgresHistory(url)
    yield s
    s.close()


# ---------------------------------------------------------------- global surgery across claims


def test_post_op_visit_on_its_own_claim_is_flagged_at_day_42_not_91(ctx):
    surgery = claim("S-1", ("27447", "2024-03-01"))
    day42 = claim("V-42", ("99213", "2024-04-12"))
    day91 = claim("V-91", ("99213", "2024-05-31"))
    found = cross_claim_findings([day42, surgery, day91], ctx)  # input order does not matter
    assert rule_ids(found) == [["CS-HIS-001"], [], []]
    assert "claim S-1 line 1" in found[0][0].message and "42 day(s)" in found[0][0].message
    assert found[0][0].data_edition and found[0][0].table_row["global_days"] == "090"


def test_modifier_24_and_another_physician_are_clean(ctx):
    surgery = claim("S-1", ("27447", "2024-03-01"))
    unrelated = claim("V-24", ("99213", "2024-04-12", ["24"]))
    other_doc = claim("V-X", ("99213", "2024-04-13", [], 1, OTHER), billing_provider={"npi": OTHER})
    assert rule_ids(cross_claim_findings([surgery, unrelated, other_doc], ctx)) == [[], [], []]


def test_decision_for_surgery_the_day_before_needs_57(ctx):
    surgery = claim("S-1", ("27447", "2024-03-01"))
    with57 = claim("V-57", ("99223", "2024-02-29", ["57"]))
    without = claim("V-0", ("99223", "2024-02-29"))
    found = cross_claim_findings([surgery, with57, without], ctx)
    # V-0 sorts before V-57 on the same date, so V-57 is the suspect duplicate, whatever the input order
    assert rule_ids(found) == [[], ["CS-HIS-005"], ["CS-HIS-002"]]
    assert "package of 27447 on 2024-03-01 (claim S-1 line 1" in found[2][0].message
    assert found[2][0].related == {"claim_id": "S-1", "line": 1}


def test_procedure_arriving_after_a_recorded_visit_is_flagged_on_the_procedure(ctx, store):
    store.record([claim("V-42", ("99213", "2024-04-12"))])
    found = cross_claim_findings([claim("S-1", ("27447", "2024-03-01"))], ctx, store)
    assert rule_ids(found) == [["CS-HIS-003"]]
    assert "claim V-42 line 1" in found[0][0].message
    assert rule_ids(cross_claim_findings([claim("S-2", ("27447", "2024-01-01"))], ctx, store)) == [[]]  # day 102


# ---------------------------------------------------------------- duplicates


def test_same_visit_on_two_claims_the_second_is_a_duplicate_a_replacement_is_not(ctx):
    first = claim("C-1", ("99213", "2024-04-12", ["25"]))
    second = claim("C-2", ("99213", "2024-04-12", ["25"]))
    replacement = claim("C-3", ("99213", "2024-04-12", ["25"]), frequency="replacement", replaces_claim_id="C-1")
    found = cross_claim_findings([second, first], ctx)
    assert rule_ids(found) == [["CS-HIS-004"], []]
    assert "claim C-1 line 1" in found[0][0].message
    assert rule_ids(cross_claim_findings([first, replacement], ctx)) == [[], []]


def test_suspect_duplicates_ndc_and_modifier_order(ctx):
    first = claim("C-1", ("99213", "2024-04-12", ["25", "GT"]))
    reordered = claim("C-2", ("99213", "2024-04-12", ["GT", "25"]))
    other_doc = claim("C-3", ("99213", "2024-04-12", [], 1, OTHER))
    repeat = claim("C-4", ("99213", "2024-04-12", ["76"]))
    assert rule_ids(cross_claim_findings([first, reordered, other_doc, repeat], ctx), "CS-HIS-004", "CS-HIS-005") == [
        [],
        ["CS-HIS-004"],
        ["CS-HIS-005"],
        [],
    ]
    drug = {"J1100": "00641-0367-21"}
    a, b = claim("D-1", ("J1100", "2024-04-12")), claim("D-2", ("J1100", "2024-04-12"))
    a.lines[0].ndc, b.lines[0].ndc = drug["J1100"], "63323-0165-01"
    assert rule_ids(cross_claim_findings([a, b], ctx)) == [[], []]


def test_scrubbing_a_recorded_claim_again_is_not_its_own_duplicate(ctx, store):
    first = claim("C-1", ("99213", "2024-04-12"))
    store.record([first])
    store.record([first])  # recorded twice: still one claim
    assert len(store.lines(["P-1"], "2024-01-01")["P-1"]) == 1
    assert rule_ids(cross_claim_findings([first], ctx, store)) == [[]]
    assert rule_ids(cross_claim_findings([claim("C-2", ("99213", "2024-04-12"))], ctx, store)) == [["CS-HIS-004"]]


def test_done_when_cases_against_each_store(ctx, store):
    """The issue's cases with the first claim recorded in an earlier run rather than in the same batch."""
    store.record([claim("S-1", ("27447", "2024-03-01")), claim("C-1", ("99213", "2024-04-20"))])
    found = cross_claim_findings(
        [
            claim("V-42", ("99213", "2024-04-12")),
            claim("V-91", ("99213", "2024-05-31")),
            claim("V-57", ("99223", "2024-02-29", ["57"])),
        ],
        ctx,
        store,
    )
    assert rule_ids(found) == [["CS-HIS-001"], [], []]
    second = claim("C-2", ("99213", "2024-04-20"))
    replacement = claim("C-3", ("99213", "2024-04-20"), frequency="replacement", replaces_claim_id="C-1")
    assert rule_ids(cross_claim_findings([second], ctx, store), "CS-HIS-004") == [["CS-HIS-004"]]
    assert rule_ids(cross_claim_findings([replacement], ctx, store)) == [
        ["CS-HIS-001"]
    ]  # day 50: global, not a duplicate


# ---------------------------------------------------------------- MUE, frequency, new patient


def test_mue_per_day_sums_units_of_other_claims(ctx, store):
    store.record([claim("M-1", ("11042", "2024-04-12"))])  # 11042: MUE 1 per day, MAI 2
    found = cross_claim_findings([claim("M-2", ("11042", "2024-04-12"))], ctx, store)
    assert rule_ids(found) == [["CS-HIS-004", "CS-HIS-006"]]
    assert "1 on earlier claims (claim M-1 line 1 first)" in found[0][1].message
    assert found[0][1].table_row["mai"] == 2
    assert found[0][1].data_edition and "sample" in found[0][1].data_edition
    assert rule_ids(cross_claim_findings([claim("M-3", ("11042", "2024-04-13"))], ctx, store)) == [[]]


def test_frequency_limits_from_the_table(ctx, store):
    store.record([claim("A-1", ("G0439", "2024-03-15")), claim("I-1", ("G0402", "2015-06-01"))])
    too_soon = claim("A-2", ("G0439", "2025-02-28"))
    in_time = claim("A-3", ("G0439", "2025-03-01"))  # 11 full months after March 2024
    ippe = claim("I-2", ("G0402", "2024-06-01"))
    commercial = claim("A-4", ("G0439", "2025-02-28"), payer={"type": "commercial"})
    found = cross_claim_findings([too_soon, ippe, commercial], ctx, store)
    assert rule_ids(found, "CS-HIS-007") == [["CS-HIS-007"], ["CS-HIS-007"], []]
    assert "once per lifetime" in found[1][0].message
    assert rule_ids(cross_claim_findings([in_time], ctx, store)) == [[]]


def test_new_patient_from_history(ctx, store):
    store.record([claim("E-1", ("99213", "2021-05-01"))])
    assert rule_ids(cross_claim_findings([claim("N-1", ("99203", "2024-04-12"))], ctx, store)) == [["CS-HIS-008"]]
    assert rule_ids(cross_claim_findings([claim("N-2", ("99203", "2024-05-02"))], ctx, store)) == [[]]  # 3 years on
    other = claim("N-3", ("99203", "2024-04-12", [], 1, OTHER), billing_provider={"npi": OTHER})
    assert rule_ids(cross_claim_findings([other], ctx, store)) == [[]]


# ---------------------------------------------------------------- the store


def test_void_removes_and_replacement_supersedes(store):
    store.record([claim("C-1", ("99213", "2024-04-12")), claim("C-2", ("99214", "2024-04-13"))])
    store.record(
        [
            claim("C-3", ("99215", "2024-04-12"), frequency="replacement", replaces_claim_id="C-1"),
            claim("C-4", ("99214", "2024-04-13"), frequency="void", replaces_claim_id="C-2"),
        ]
    )
    lines = store.lines(["P-1", "P-2"], "2024-01-01")
    assert [(h.claim_id, h.code) for h in lines["P-1"]] == [("C-3", "99215")] and lines["P-2"] == []


def test_lines_window_and_any_date_codes(store):
    store.record(
        [claim("C-1", ("G0402", "2010-01-01"), ("99213", "2010-01-01")), claim("C-2", ("99213", "2024-01-01"))]
    )
    got = store.lines(["P-1"], "2020-01-01", ["G0402"])["P-1"]
    assert sorted((h.claim_id, h.code) for h in got) == [("C-1", "G0402"), ("C-2", "99213")]


def test_sqlite_schema_is_versioned_and_migrated_on_open(tmp_path):
    path = tmp_path / "h.sqlite"
    store = SqliteHistory(path)
    assert store.version == 1
    assert store.migrate() == 1  # already current: nothing applied
    store.close()
    db = sqlite3.connect(path)
    db.execute("UPDATE schema_version SET version = 99")
    db.commit()
    with pytest.raises(ValueError, match="newer"):
        SqliteHistory(path)


def test_open_history_defaults_to_the_data_dir_and_names_an_unreachable_server(tmp_path):
    store = open_history(None, tmp_path)
    assert Path(tmp_path / "history.sqlite").is_file()
    store.close()
    with pytest.raises(ValueError, match="cannot connect to the PostgreSQL history") as info:
        open_history(f"postgresql://claims:secret@/claims?host={tmp_path}&port=1")
    assert "secret" not in str(info.value)


def test_postgres_schema_is_versioned(pg_url):  # noqa: F811 - the fixture
    store = PostgresHistory(pg_url)
    assert store.version == 1 and store.migrate() == 1
    store.close()


def test_no_patient_demographics_in_the_store(tmp_path):
    store = SqliteHistory(tmp_path / "h.sqlite")
    store.record([claim("C-1", ("99213", "2024-04-12"))])
    store.close()
    dump = "\n".join(sqlite3.connect(tmp_path / "h.sqlite").iterdump())
    assert "1950-05-01" not in dump and "P-1" in dump


def test_every_cross_claim_rule_cites_a_source_and_limits_load(ctx):
    rules = [item.rule for item in ctx.program.rules]
    assert sorted(r.id for r in rules) == [f"CS-HIS-00{n}" for n in range(1, 9)]
    assert all(rule.references and rule.scope == "history" for rule in rules)
    limits = load_limits()
    assert {"G0438", "G0439", "G0402", "G0121"} <= {c for lim in limits for c in lim.codes}
    assert all(lim.source for lim in limits)


def test_a_bad_limits_table_names_the_entry(tmp_path):
    bad = tmp_path / "limits.yaml"
    bad.write_text("limits:\n  - codes: [G0439]\n    limit: 1\n    source: x\n")
    with pytest.raises(ValueError, match=r"limits\[0\]: give either"):
        load_limits(bad)


def test_rules_without_their_table_are_not_checked(ctx):
    from claimscrub.compile.rules import load_rulebook
    from claimscrub.refdata.tables import MemoryTableSet

    bare = edit_context(MemoryTableSet(), load_rulebook([])[0])
    assert {r.id for r, _ in bare.program.not_checked} == {"CS-HIS-001", "CS-HIS-002", "CS-HIS-003", "CS-HIS-006"}
    assert ctx.program.not_checked == []
