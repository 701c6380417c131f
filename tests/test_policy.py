"""Payer policies: selection by payer and date, what each change does to a claim's findings, and lint.

Claims use real codes against the bundled sample tables (27280 has MUE 1 with a
'CMS Policy' rationale there; 20610 has MUE 2, 'Clinical: Data'; 36415 and
99213 stand in for a payer's bundling pair).
"""

from __future__ import annotations

import copy
import textwrap
from pathlib import Path

import pytest

from claimscrub.api.scrubber import RulesError, Scrubber, table_columns
from claimscrub.compile.rules import load_rulebook
from claimscrub.policy import CarveOut, Selector, load_policies, resolve
from claimscrub.policy.loader import bundled_policies_dir
from claimscrub.refdata.tables import sample_tables

MODELINE = "# yaml-language-server: $schema=../schemas/policy.schema.json\n"

BASE = {
    "claim_id": "POL-1",
    "type": "professional",
    "claim_date": "2024-08-15",
    "payer": {"name": "Medicare Part B", "type": "medicare"},
    "billing_provider": {"npi": "1234567893", "taxonomy": "207Q00000X"},
    "patient": {"id": "P-1", "sex": "F", "birth_date": "1960-05-01"},
    "place_of_service": "11",
    "diagnoses": [{"code": "M17.11"}],
}


def line(seq: int, code: str, units: int = 1, date: str = "2024-08-01", **extra) -> dict:
    return {
        "sequence": seq,
        "code": code,
        "units": units,
        "charge": "100.00",
        "from_date": date,
        "diagnosis_pointers": [1],
        **extra,
    }


def claim(lines: list[dict], payer_type: str = "medicare", name: str = "Payer", **extra) -> dict:
    out = copy.deepcopy(BASE)
    out["payer"] = {"type": payer_type, "name": name, **extra}
    out["lines"] = lines
    return out


@pytest.fixture(scope="module")
def tables():
    return sample_tables(complete=True)


@pytest.fixture(scope="module")
def book(tables):
    return load_rulebook(tables=table_columns(tables))[0]


@pytest.fixture(scope="module")
def default_scrubber(tables):
    return Scrubber(tables=tables, backend="durable")


def policy_file(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    folder = tmp_path / "policies"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(MODELINE + textwrap.dedent(text))
    return path


def ids(result) -> list[tuple[str, int | None]]:
    return sorted((f.rule_id, f.line) for f in result.findings)


# --------------------------------------------------------------------------- selection


def test_selector_matches_type_id_name_pattern_and_date_range():
    import re

    sel = Selector(
        frozenset({"commercial"}), frozenset(), (re.compile("^acme", re.IGNORECASE),), "2024-01-01", "2024-12-31"
    )
    assert sel.matches("commercial", None, "ACME Health", "2024-06-01")
    assert not sel.matches("medicaid", None, "Acme Health", "2024-06-01")
    assert not sel.matches("commercial", None, "Blue Acme", "2024-06-01")
    assert not sel.matches("commercial", None, None, "2024-06-01")
    assert sel.matches("commercial", None, "Acme", "2024-12-31")
    assert not sel.matches("commercial", None, "Acme", "2025-01-01")
    assert not sel.matches("commercial", None, "Acme", "2023-12-31")
    assert Selector(payer_ids=frozenset({"A1"})).matches("other", "A1", None, "2024-01-01")
    assert not Selector(payer_ids=frozenset({"A1"})).matches("other", "A2", None, "2024-01-01")


def test_carve_out_by_provider_code_and_range_until_its_end_date():
    carve = CarveOut("contract", "2024-12-31", frozenset({"1245319599"}), frozenset({"J1100"}), (("96365", "96368"),))
    assert carve.covers("1245319599", "96366", "2024-06-01")
    assert carve.covers("1245319599", "J1100", "2024-12-31")
    assert not carve.covers("1245319599", "96369", "2024-06-01")  # outside the range
    assert not carve.covers("1234567893", "96366", "2024-06-01")  # another provider
    assert not carve.covers("1245319599", "96366", "2025-01-01")  # after the end date
    assert CarveOut("any code", "2024-12-31", frozenset({"1245319599"})).covers("1245319599", "99213", "2024-01-01")


def test_resolve_applies_policies_in_priority_order_and_says_why(tmp_path, book, tables):
    low = policy_file(
        tmp_path,
        """\
        id: low
        title: low
        priority: 1
        applies_to: {payer_types: [commercial]}
        references: [{source: test}]
        rules:
          - {rule: CS-MUE-002, enabled: false, reason: off first}
        """,
        "a.yaml",
    )
    policy_file(
        tmp_path,
        """\
        id: high
        title: high
        priority: 2
        applies_to: {payer_types: [commercial], from: "2024-07-01"}
        references: [{source: test}]
        rules:
          - {rule: CS-MUE-002, enabled: true, severity: warning, reason: back on as a warning}
        """,
        "b.yaml",
    )
    policies, issues = load_policies([low.parent], book, table_columns(tables))
    assert not issues
    june = resolve(policies, book, {"type": "commercial"}, "2024-06-30").rules["CS-MUE-002"]
    assert not june.enabled and "switched off: off first" in june.because[0]
    aug = resolve(policies, book, {"type": "commercial"}, "2024-08-01")
    state = aug.rules["CS-MUE-002"]
    assert state.enabled and state.severity == "warning" and aug.policies == ("low", "high")
    assert "b.yaml" in state.because[-1]
    assert resolve(policies, book, {"type": "medicare"}, "2024-08-01").rules["CS-MUE-002"].enabled


# --------------------------------------------------------------------------- the default policies


def test_default_policies_drop_medicare_policy_mue_rows_for_commercial_and_medicaid(default_scrubber):
    lines = [line(1, "27280", units=2)]  # sample MUE 1, rationale 'CMS Policy'
    medicare = default_scrubber.scrub(claim(lines))
    assert ("CS-MUE-002", 1) in ids(medicare) and medicare.policies == ("medicare",)
    for payer in ("commercial", "medicaid"):
        result = default_scrubber.scrub(claim(lines, payer))
        assert "CS-MUE-002" not in {f.rule_id for f in result.findings}, payer
        assert result.policies == (payer,)


def test_default_policies_keep_clinical_mue_rows_for_every_payer(default_scrubber):
    for payer in ("medicare", "commercial", "medicaid"):
        result = default_scrubber.scrub(claim([line(1, "20610", units=3)], payer))  # MUE 2, 'Clinical: Data'
        assert ("CS-MUE-002", 1) in ids(result), payer


def test_medicare_claims_keep_every_finding_under_the_default_policies(tables):
    import orjson

    from claimscrub.resources import rules_dir

    demo = orjson.loads((rules_dir().parent / "examples" / "native" / "demo_claims.json").read_bytes())
    with_policies = Scrubber(tables=tables, backend="reference")
    without = Scrubber(tables=tables, backend="reference", default_policies=False)
    checked = 0
    for raw in demo:
        if raw.get("payer", {}).get("type") != "medicare":
            raw = {**raw, "payer": {"type": "medicare", "name": "Medicare Part B"}}
        a, b = with_policies.scrub(raw), without.scrub(raw)
        assert [f.as_dict() for f in a.findings] == [f.as_dict() for f in b.findings]
        checked += len(a.findings)
    assert checked > 5  # the demo claims do have findings


def test_medicaid_reads_the_medicaid_table_when_loaded(tables, book):
    from claimscrub.refdata.tables import LayeredTableSet, MemoryTableSet, default_registry, make_row

    registry = default_registry()
    medicaid = MemoryTableSet(registry)
    defn = registry["mue_medicaid_practitioner"]
    medicaid.add_rows(
        defn,
        [make_row(defn, {"hcpcs_code": "27280", "mue_units": "3", "mai": "2", "rationale": "CMS Policy"}, 0)],
        "2024-07-01 test",
    )
    scrubber = Scrubber(tables=LayeredTableSet([medicaid, tables]), backend="durable")
    over = scrubber.scrub(claim([line(1, "27280", units=4)], "medicaid"))
    finding = next(f for f in over.findings if f.rule_id == "CS-MUE-002")
    assert (
        "the MUE is 3" in finding.message
        and finding.data_edition == "Medicaid MUE practitioner services 2024-07-01 test"
    )
    # its own policy rows apply: the Medicare-policy exception is only for the Medicare stand-in
    assert not [
        f for f in scrubber.scrub(claim([line(1, "27280", units=3)], "medicaid")).findings if f.rule_id == "CS-MUE-002"
    ]
    # a Medicare claim still reads the Medicare table (MUE 1)
    medicare = scrubber.scrub(claim([line(1, "27280", units=2)]))
    assert any(f.rule_id == "CS-MUE-002" and "the MUE is 1" in f.message for f in medicare.findings)


def test_a_chosen_table_that_is_not_loaded_makes_the_rule_not_checked_for_that_payer(tmp_path, tables):
    path = policy_file(
        tmp_path,
        """\
        id: strict-medicaid
        title: Medicaid MUEs only
        applies_to: {payer_types: [medicaid]}
        references: [{source: test}]
        tables:
          - {table: mue_practitioner, use: [mue_medicaid_practitioner], reason: only the Medicaid file applies}
        """,
    )
    scrubber = Scrubber(tables=tables, backend="durable", default_policies=False, policies=[path])
    result = scrubber.scrub(claim([line(1, "20610", units=3)], "medicaid"))
    assert not [f for f in result.findings if f.rule_id.startswith("CS-MUE")]
    reasons = {n["rule_id"]: n["reason"] for n in result.not_checked}
    assert "mue_medicaid_practitioner" in reasons["CS-MUE-002"] and "none is loaded" in reasons["CS-MUE-002"]
    assert ("CS-MUE-002", 1) in ids(scrubber.scrub(claim([line(1, "20610", units=3)], "medicare")))


# --------------------------------------------------------------------------- each change


def test_severity_unless_carve_out_and_payer_edit(tmp_path, tables):
    path = policy_file(
        tmp_path,
        """\
        id: acme
        title: Acme
        applies_to: {payer_types: [commercial], payer_names: ["^acme"]}
        references: [{source: test}]
        rules:
          - rule: CS-MUE-002
            severity: warning
            unless: 'line.units > 5'
            carve_outs:
              - {providers: ["1245319599"], reason: contract amendment 7, until: "2024-12-31"}
            payer_edit: {edit_code: ACME-17, carc: "151", rarc: [N362]}
            reason: test
        """,
    )
    scrubber = Scrubber(tables=tables, backend="durable", default_policies=False, policies=[path])
    acme = scrubber.scrub(claim([line(1, "20610", units=3)], "commercial", "Acme Health"))
    (finding,) = [f for f in acme.findings if f.rule_id == "CS-MUE-002"]
    assert finding.severity == "warning"
    assert finding.payer_edit == {"policy": "acme", "edit_code": "ACME-17", "carc": "151", "rarc": ["N362"]}
    assert not [
        f
        for f in scrubber.scrub(claim([line(1, "20610", units=6)], "commercial", "Acme")).findings
        if f.rule_id == "CS-MUE-002"
    ]  # the unless holds
    carved = scrubber.scrub(claim([line(1, "20610", units=3, rendering_npi="1245319599")], "commercial", "Acme"))
    assert not [f for f in carved.findings if f.rule_id == "CS-MUE-002"]
    (held,) = carved.suppressed
    assert held.rule_id == "CS-MUE-002" and held.suppression["reason"] == "contract amendment 7"
    assert held.suppression["by"] == "policy acme"
    late = scrubber.scrub(
        claim([line(1, "20610", units=3, date="2025-01-02", rendering_npi="1245319599")], "commercial", "Acme")
    )
    assert [f.rule_id for f in late.findings if f.rule_id == "CS-MUE-002"]  # the carve-out ended
    other = scrubber.scrub(claim([line(1, "20610", units=3)], "commercial", "Other Health"))
    assert [f.severity for f in other.findings if f.rule_id == "CS-MUE-002"] == ["error"]


def test_a_pack_switched_off_and_a_draft_rule_switched_on_for_one_payer(tmp_path, tables):
    pack = tmp_path / "draftpack"
    pack.mkdir()
    (pack / "pack.yaml").write_text("name: draftpack\nversion: '1'\n")
    (pack / "D-001.yaml").write_text(
        textwrap.dedent("""\
        # yaml-language-server: $schema=../../schemas/rule.schema.json
        rules:
          - id: D-001
            title: Draft check
            category: claim_integrity
            severity: warning
            scope: line
            when: 'line.code == "99213"'
            message: "Line {line.sequence}: draft check."
            fix: Nothing.
            references: [{source: test}]
            status: draft
        """)
    )
    path = policy_file(
        tmp_path,
        """\
        id: one-payer
        title: draft on, mpfs off
        applies_to: {payer_ids: ["P-77"]}
        references: [{source: test}]
        rules:
          - {rule: D-001, enabled: true, reason: trial with this payer}
          - {pack: ncci, enabled: false, reason: this payer runs no NCCI edits}
        """,
    )
    scrubber = Scrubber([pack], tables=tables, backend="durable", default_policies=False, policies=[path])
    lines = [line(1, "99213"), line(2, "20610", units=3)]
    there = scrubber.scrub(claim(lines, "commercial", id="P-77"))
    assert ("D-001", 1) in ids(there) and not [f for f in there.findings if f.rule_pack == "ncci"]
    elsewhere = scrubber.scrub(claim(lines, "commercial", id="P-78"))
    assert "D-001" not in {f.rule_id for f in elsewhere.findings}
    assert ("CS-MUE-002", 2) in ids(elsewhere)


def test_replaced_by_switches_the_bundled_rule_off_and_the_pack_rule_on(tmp_path, book, tables):
    path = policy_file(
        tmp_path,
        """\
        id: swap
        title: swap
        applies_to: {payer_types: [commercial]}
        references: [{source: test}]
        rules:
          - {rule: CS-MOD-001, replaced_by: CS-MOD-002, reason: test}
        """,
    )
    policies, issues = load_policies([path], book, table_columns(tables))
    assert not issues
    res = resolve(policies, book, {"type": "commercial"}, "2024-08-01")
    assert not res.rules["CS-MOD-001"].enabled and res.rules["CS-MOD-002"].enabled
    assert "replaced by CS-MOD-002" in res.rules["CS-MOD-001"].because[0]


# --------------------------------------------------------------------------- lint


def test_policy_problems_are_reported_at_file_line_col(tmp_path, book, tables):
    path = policy_file(
        tmp_path,
        """\
        id: bad
        title: bad
        applies_to: {payer_types: [commercial]}
        references: [{source: test}]
        rules:
          - {rule: CS-MUE-02, enabled: false, reason: typo}
          - rule: CS-MUE-001
            unless: 'line.unitz > 5'
            reason: misspelt field
        tables:
          - {table: mue_practitioner, use: [ncci_ptp_practitioner], reason: wrong shape}
        """,
    )
    _, issues = load_policies([path], book, table_columns(tables))
    text = "\n".join(str(i) for i in issues)
    assert f"{path}:7:" in text and "unknown rule 'CS-MUE-02'; did you mean 'CS-MUE-002'?" in text
    assert f"{path}:9:" in text and "unitz" in text
    assert "cannot stand in for 'mue_practitioner'" in text


def test_schema_errors_and_a_missing_modeline(tmp_path, book, tables):
    path = tmp_path / "p.yaml"
    path.write_text("id: x\ntitle: x\napplies_to: {payer_types: [private]}\nreferences: [{source: s}]\n")
    _, issues = load_policies([path], book, table_columns(tables))
    assert any(i.code == "modeline" and i.severity == "warning" for i in issues)
    assert any(i.code == "schema" and i.line == 3 for i in issues)


def test_a_scrubber_refuses_policies_with_errors(tmp_path, tables):
    path = policy_file(
        tmp_path,
        """\
        id: bad
        title: bad
        applies_to: {}
        references: [{source: test}]
        rules: [{rule: NOPE-1, enabled: false, reason: r}]
        """,
    )
    with pytest.raises(RulesError, match="unknown rule 'NOPE-1'"):
        Scrubber(tables=tables, backend=None, policies=[path])


def test_the_bundled_policies_lint_clean_and_cite_sources(book, tables):
    policies, issues = load_policies([bundled_policies_dir()], book, table_columns(tables))
    assert not issues
    assert {p.id for p in policies} == {"medicare", "medicaid", "commercial"}
    assert all(p.references for p in policies)
    assert all(c.reason for p in policies for c in p.changes)


def test_bundled_policies_skip_rules_of_packs_that_are_not_loaded(tables):
    from claimscrub.resources import rules_dir

    scrubber = Scrubber([rules_dir() / "packs" / "ncci"], replace_bundled=True, tables=tables, backend="reference")
    result = scrubber.scrub(claim([line(1, "27280", units=2)], "commercial"))
    assert result.status == "scrubbed" and not result.findings


def test_the_scrub_names_the_tables_a_policy_chooses_among_its_editions(tables):
    names = {e["name"]: e["loaded"] for e in Scrubber(tables=tables, backend=None).editions()}
    assert names["mue_practitioner"] is True and names["mue_medicaid_practitioner"] is False
    assert "mue_medicaid_practitioner" not in {
        e["name"] for e in Scrubber(tables=tables, backend=None, default_policies=False).editions()
    }


def test_packs_load_from_a_checkout_under_a_folder_named_tables(tmp_path):
    """Only folders below a pack hide files (its tables/, valuesets/, policies/), not the folders above it."""
    import shutil

    from claimscrub.resources import rules_dir

    root = tmp_path / "tables" / "policies" / "mypacks"
    shutil.copytree(rules_dir() / "packs" / "ncci", root / "ncci")
    (root / "ncci" / "tables").mkdir()
    (root / "ncci" / "tables" / "not-a-rule.yaml").write_text("id: X\n")
    book, issues = load_rulebook([root], replace_bundled=True)
    ids = {r.id for r in book.rules}
    bundled, _ = load_rulebook()
    assert ids and ids == {r.id for r in bundled.rules if Path(r.file).parent.name == "ncci"} and not issues
