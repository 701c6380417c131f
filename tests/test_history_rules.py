"""The history scope of the rule language: lint, both backends, every store, bounded work per claim.

The rules themselves are tested by their cases (rules/packs/history/*.test.yaml, run by the pytest
plugin on the in-memory store); here every such case runs again on SQLite and PostgreSQL.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from pgserver import pg_url  # noqa: F401 - the fixture

from claimscrub.authoring.lint import lint
from claimscrub.authoring.ruletest import file_scrubber, load_cases, run_case
from claimscrub.compile.rules import load_rulebook
from claimscrub.history import phase
from claimscrub.history.phase import cross_claim_outcomes, edit_context
from claimscrub.history.store import PostgresHistory, SqliteHistory
from claimscrub.model.normalize import claim_from_dict
from claimscrub.refdata.store import open_tables
from claimscrub.resources import rules_dir

HISTORY_CASES = sorted((rules_dir() / "packs" / "history").glob("*.test.yaml"))
BASE = {
    "type": "professional",
    "payer": {"name": "Medicare Part B", "type": "medicare"},
    "billing_provider": {"npi": "1234567893", "taxonomy": "207X00000X"},
    "patient": {"id": "P-1", "sex": "F", "birth_date": "1950-05-01"},
    "diagnoses": [{"code": "M17.11"}],
}


def claim(cid: str, code: str, dos: str, patient: str = "P-1"):
    data = copy.deepcopy(BASE)
    data["claim_id"], data["patient"]["id"] = cid, patient
    data["lines"] = [
        {"sequence": 1, "code": code, "units": 1, "charge": "100.00", "from_date": dos, "diagnosis_pointers": [1]}
    ]
    return claim_from_dict(data)


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    return open_tables(tmp_path_factory.mktemp("data"), samples=True)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_every_history_rule_case_passes_on_each_store(kind, tmp_path, request):
    count = 0
    for test_file in HISTORY_CASES:
        cases, issues = load_cases(test_file)
        assert not issues
        scrubber = file_scrubber(test_file)
        for n, case in enumerate(cases):
            if kind == "sqlite":
                store = SqliteHistory(tmp_path / f"{test_file.stem}-{n}.sqlite")
            else:
                import psycopg

                url = request.getfixturevalue("pg_url")
                with psycopg.connect(url, autocommit=True) as db:
                    db.execute("DROP TABLE IF EXISTS history_line, schema_version")
                store = PostgresHistory(url)
            try:
                result = run_case(scrubber, case, store)
            finally:
                store.close()
            assert result.passed, f"{case.label}: {result.detail}"
            count += bool(case.history)
    assert count >= 30  # most cases give a stored history


def test_both_backends_find_the_same(tables):
    book, _ = load_rulebook([])
    claims = [
        claim("S-1", "27447", "2024-03-01"),
        claim("V-42", "99213", "2024-04-12"),
        claim("V-43", "99213", "2024-04-12"),
        claim("V-0", "99223", "2024-02-29"),
        claim("M-1", "11042", "2024-04-12"),
        claim("M-2", "11042", "2024-04-12"),
        claim("A-1", "G0439", "2024-03-15"),
        claim("A-2", "G0439", "2025-02-28"),
        claim("N-1", "99203", "2025-01-02"),
    ]

    def found(backend: str):
        ctx = edit_context(tables, book, backend=backend)
        return [
            [(f.rule_id, f.line, f.message, f.related, f.data_edition) for f in o.findings]
            for o in cross_claim_outcomes(claims, ctx)
        ]

    reference = found("reference")
    assert reference == found("durable")
    assert reference == found("decided")  # the parent processes' way: the fact builder's tests, no engine
    fired = {f[0] for fs in reference for f in fs}
    assert {"CS-HIS-001", "CS-HIS-002", "CS-HIS-004", "CS-HIS-006", "CS-HIS-007", "CS-HIS-008"} <= fired


def test_a_long_history_is_capped_and_says_so(tables, monkeypatch):
    """Work per claim is bounded: past the cap the nearest lines are compared and every history rule is
    reported "not checked" on the claim, not passed."""
    monkeypatch.setattr(phase, "MAX_HISTORY_LINES", 20)
    book, _ = load_rulebook([])
    ctx = edit_context(tables, book)
    visits = [claim(f"V-{n:03}", "99213", f"2024-01-{n:02}") for n in range(1, 29)]
    surgery = claim("S-1", "27447", "2024-01-20")
    outcomes = cross_claim_outcomes([*visits, surgery], ctx)
    capped = outcomes[0].not_checked
    assert {n["rule_id"] for n in capped} == {f"CS-HIS-00{n}" for n in range(1, 9)}
    assert "only the 20 nearest were compared" in capped[0]["reason"]
    post_op = outcomes[25]  # V-026, six days after the surgery, is still compared with it
    assert [f.rule_id for f in post_op.findings] == ["CS-HIS-001"]
    assert post_op.findings[0].related == {"claim_id": "S-1", "line": 1}


def test_lint_reports_an_unknown_history_field_at_file_line_col(tmp_path: Path):
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "pack.yaml").write_text("name: testpack\nversion: '1'\n")
    path = pack / "TST-HIS-001.yaml"
    path.write_text(
        """# yaml-language-server: $schema=../schemas/rule.schema.json
rules:
  - id: TST-HIS-001
    title: A history rule with a misspelled field
    category: duplicate
    severity: error
    scope: history
    when: hist.earlier and hist.cod == line.code
    message: "Line {line.sequence}: claim {hist.claim_id}"
    fix: Fix it.
    references: [{source: test}]
    status: active
"""
    )
    issues = [i for i in lint([pack]) if i.code == "type"]
    assert [(i.file, i.line, i.column) for i in issues] == [(str(path), 8, 33)]  # the field name
    assert "'history_line' has no field 'cod'; did you mean 'code'?" in issues[0].message
    other_scope = path.read_text().replace("scope: history", "scope: line")
    path.write_text(other_scope)
    assert any("unknown name 'hist'" in i.message for i in lint([pack]) if i.code == "type")


def test_new_patient_table_rule_gives_way_only_with_history(tables):
    """CS-EM-008 (the hand-kept patient_visits table) stays on a claim without history; with other claims of the
    patient in the batch the history rule decides."""
    from claimscrub.api.scrubber import Scrubber
    from claimscrub.history.phase import scrub_batch

    scrubber = Scrubber(tables=tables, default_policies=False)
    visit = {
        **copy.deepcopy(BASE),
        "claim_id": "N-1",
        "patient": {"id": "TEST-PATIENT", "sex": "F", "birth_date": "1950-05-01"},
        "lines": [
            {
                "sequence": 1,
                "code": "99203",
                "units": 1,
                "charge": "1.00",
                "from_date": "2024-08-01",
                "diagnosis_pointers": [1],
            }
        ],
    }
    alone = scrub_batch(scrubber, [visit])
    assert "CS-EM-008" in {f.rule_id for f in alone[0].findings}
    older = copy.deepcopy(visit)
    older["claim_id"], older["lines"][0]["from_date"] = "O-1", "2019-01-05"
    with_history = scrub_batch(scrubber, [older, visit])
    assert "CS-EM-008" not in {f.rule_id for f in with_history[1].findings}


def test_the_frequency_limit_value_set_lists_the_bundled_table_and_follows_the_table_in_use(tables, tmp_path):
    from claimscrub.history.limits import load_limits

    book, _ = load_rulebook([])
    assert book.value_codes["frequency_limit_codes"] == {c for limit in load_limits() for c in limit.codes}
    own = tmp_path / "limits.yaml"
    own.write_text('limits:\n  - {codes: ["99213"], limit: 1, months: 12, source: "a payer contract"}\n')
    ctx = edit_context(tables, book, load_limits(own))
    visits = [claim("V-1", "99213", "2024-01-05"), claim("V-2", "99213", "2024-06-05")]
    assert [[f.rule_id for f in o.findings] for o in cross_claim_outcomes(visits, ctx)] == [[], ["CS-HIS-007"]]


def test_the_batch_keeps_the_claim_the_scrub_normalised(tables, monkeypatch):
    """scrub_batch hands the scrubber's normalised claim to the cross-claim phase: it normalises no claim twice."""
    from claimscrub.api.scrubber import Scrubber
    from claimscrub.history.phase import scrub_batch

    scrubber = Scrubber(tables=tables, default_policies=False)
    surgery, visit = copy.deepcopy(BASE), copy.deepcopy(BASE)
    line = {"sequence": 1, "units": 1, "charge": "1.00", "diagnosis_pointers": [1]}
    surgery.update(claim_id="S-1", lines=[{**line, "code": "27447", "from_date": "2024-06-20"}])
    visit.update(claim_id="V-1", lines=[{**line, "code": "99213", "from_date": "2024-08-01"}])

    def again(*args, **kwargs):
        raise AssertionError("normalised a second time")

    monkeypatch.setattr(phase, "claim_from_dict", again)
    results = scrub_batch(scrubber, [surgery, visit])
    assert [f.related for f in results[1].findings if f.rule_id == "CS-HIS-001"] == [{"claim_id": "S-1", "line": 1}]


def test_history_line_tests_are_remembered_by_the_fields_they_read(tables):
    """A history line's own tests are decided once per signature: the fields they read, and ``earlier``."""
    from claimscrub.compile.facts import _checks_for

    book, _ = load_rulebook([])
    groups = _checks_for(edit_context(tables, book).program.scopes["history"])
    reads = [g.hist_reads for g in groups]
    assert ("claim_type", "code", "stored") in reads  # global surgery, new patient: hist.code in @em_codes, ...
    assert all(r is not None and "from_date" not in r for r in reads)  # no hist test reads the date alone
    relations = {t[0] for g in groups for t in g.relations}
    assert {"hist__same_physician", "~hist__days_after>=1"} <= relations
    unkeyed = next(g for g in groups if not g.group.pair_keys)
    assert unkeyed.line_reads and not unkeyed.line_dated  # claim.type, line.code, line.modifiers: no lookup
    assert all(g.line_reads for g in groups)  # a quantifier over claim.lines is read as a path (not remembered)


def test_the_decided_backend_takes_history_rules_only(tables):
    """The builder's decisions stand for the history scope's tests only: a program with other scopes is refused."""
    from claimscrub.api.scrubber import Scrubber
    from claimscrub.compile.program import build_program
    from claimscrub.history.decide import DecidedBackend

    with pytest.raises(ValueError, match="history-scope rules only"):
        DecidedBackend(Scrubber(tables=tables, default_policies=False).program)
    empty = DecidedBackend(build_program([], tables, {}, history=True))
    assert empty.run({"lines": []}) == set()
