"""The Rete backend and the reference evaluator must agree on every claim.

Hypothesis generates claims from pools of codes, modifiers, dates and NPIs
chosen to hit the bundled rules (table pairs, add-ons, duplicates, bad NPIs,
zero units, negative charges); every fixture claim runs through both too.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rulepacks import rule_yaml, write_pack

from claimscrub.backends.durable import DurableBackend
from claimscrub.backends.reference import ReferenceBackend
from claimscrub.compile.program import build_program
from claimscrub.compile.rules import load_rulebook
from claimscrub.compile.views import claim_view
from claimscrub.inputs import read_path
from claimscrub.model.normalize import ClaimRejected, claim_from_dict
from claimscrub.model.validate import problems
from claimscrub.refdata.tables import sample_tables

REPO = Path(__file__).resolve().parents[1]
CODES = [
    "99213",
    "99214",
    "20610",
    "80053",
    "80048",
    "11042",
    "11045",
    "97597",
    "27280",
    "27278",
    "36415",
    "A6460",
    "0054T",
    "93000",
    "93010",
    "69210",
    "11721",
    "11720",
    "J1100",
]
MODIFIERS = ["25", "59", "XS", "XU", "RT", "LT", "91", "76", "22", "26", "TC"]
DATES = ["2024-06-30", "2024-07-01", "2024-08-01", "2024-08-02"]
NPIS = ["1234567893", "1245319599", "1234567890"]


@pytest.fixture(scope="module")
def backends():
    tables = sample_tables()
    from claimscrub.api.scrubber import table_columns

    book, issues = load_rulebook(tables=table_columns(tables))
    assert not [i for i in issues if i.severity == "error"]
    program = build_program(book.active(include_draft=True), tables, book.value_codes)
    assert len(program.rules) >= 20 and not program.not_checked
    return ReferenceBackend(program), DurableBackend(program, prove=True), DurableBackend(program)


lines = st.lists(
    st.fixed_dictionaries(
        {
            "code": st.sampled_from(CODES),
            "modifiers": st.lists(st.sampled_from(MODIFIERS), max_size=3, unique=True),
            "units": st.sampled_from([0, 1, 1, 1, 2, 3, 0.5, -1]),
            "charge": st.sampled_from(["0.00", "12.00", "100.00", "-5.00", 33.3]),
            "from_date": st.sampled_from(DATES),
            "to_offset": st.sampled_from([0, 0, 0, -1, 1]),
            "diagnosis_pointers": st.lists(st.integers(1, 3), max_size=3, unique=True),
            "rendering_npi": st.sampled_from([None, None, *NPIS]),
        }
    ),
    min_size=1,
    max_size=6,
)


@st.composite
def claims(draw):
    raw_lines = draw(lines)
    out_lines = []
    for i, raw in enumerate(raw_lines, 1):
        line = {k: v for k, v in raw.items() if k != "to_offset" and v is not None}
        line["sequence"] = i
        if raw["to_offset"]:
            start = datetime.date.fromisoformat(raw["from_date"])
            line["to_date"] = (start + datetime.timedelta(days=raw["to_offset"])).isoformat()
        out_lines.append(line)
    return {
        "claim_id": "GEN",
        "type": draw(st.sampled_from(["professional", "professional", "institutional"])),
        "claim_date": draw(st.sampled_from(["2024-07-15", "2024-08-15", None])),
        "payer": {"type": draw(st.sampled_from(["medicare", "commercial"]))},
        "billing_provider": {"npi": draw(st.sampled_from(NPIS))},
        "rendering_provider": draw(st.sampled_from([None, {"npi": "1245319599"}])),
        "patient": {"id": "GEN-P", "sex": "F", "birth_date": "1960-01-01"},
        "diagnoses": [{"code": c} for c in draw(st.lists(st.sampled_from(["E11.9", "I10", "M17.11"]), max_size=3))],
        "lines": out_lines,
    }


def _clean(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if v is not None}


def _both(backends, data):
    """The reference evaluator's hits and durable's, after checking that durable's Rete network, given
    every fact, matches what its fact builder decides alone (``prove=True``)."""
    reference, durable, network = backends
    view = claim_view(claim_from_dict(data))
    hits = durable.run(view)
    assert network.run(view) == hits
    return reference.run(view), hits


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(claims())
def test_backends_agree_on_generated_claims(backends, doc):
    data = _clean(doc)
    assert problems(data) == []
    ref, dur = _both(backends, data)
    assert ref == dur
    FIRED.update(index for index, _ in ref)


FIRED: set[int] = set()


def test_generated_claims_exercise_the_rules(backends):
    """Runs after the generated-claims test: agreement only means something if rules fired."""
    if not FIRED:
        pytest.skip("run together with test_backends_agree_on_generated_claims")
    assert len(FIRED) >= 15, f"only {len(FIRED)} rules fired on generated claims"


def _fixture_claims():
    for folder in ("examples",):
        for path in sorted((REPO / folder).rglob("*")):
            if path.suffix in (".json", ".x12") and path.is_file():
                for item in read_path(path):
                    if item.data is not None and not problems(item.data):
                        yield f"{path.name}:{item.claim_id}", item.data
    for test_file in sorted((REPO / "rules").rglob("*.test.yaml")):
        from claimscrub.authoring.ruletest import load_cases

        cases, _ = load_cases(test_file)
        for case in cases:
            if case.claim is not None and not problems(case.claim):
                yield case.label, case.claim


def test_backends_agree_on_every_fixture(backends):
    checked = 0
    for label, data in _fixture_claims():
        try:
            claim_from_dict(data)
        except ClaimRejected:
            continue
        ref, dur = _both(backends, data)
        assert ref == dur, label
        checked += 1
    assert checked >= 80


# Comparisons the planner turns into native tests on computed values (``vN``): equality and
# membership of a non-path expression with numbers or strings, plain and negated, over values that
# are missing (no table row), Decimal (half units), negative, or of another type than the constants.
COMPUTED = [
    "len(line.modifiers) == 1",
    "len(line.modifiers) != 1",
    "not (len(line.modifiers) == 0)",
    "not (len(line.modifiers) != 2)",
    "len(line.modifiers) in [1, 3]",
    "len(line.modifiers) not in [0, 1]",
    "not (len(line.modifiers) not in [2])",
    "not (len(line.modifiers) in [0, 2])",
    'lookup("mue_practitioner", line.code).mai == 3',
    'not (lookup("mue_practitioner", line.code).mai != 2)',
    'lookup("aoc", line.code).aoc_edit_type in [1, 2]',
    "line.units * 2 == 1",
    "line.units * 2 != 3",
    'add_days(line.from_date, 1) == "2024-08-02"',
    'not (add_days(line.from_date, 1) != "2024-07-01")',
    'year(line.from_date) == 2024 and lookup("mue_practitioner", line.code).mue_units in [1, 2]',
]


@pytest.fixture(scope="module")
def computed_backends(tmp_path_factory):
    pack = write_pack(
        tmp_path_factory.mktemp("packs") / "computed",
        [rule_yaml(f"TST-VAL-{i:03d}", when) for i, when in enumerate(COMPUTED)],
    )
    tables = sample_tables()
    from claimscrub.api.scrubber import table_columns

    book, issues = load_rulebook([pack], tables=table_columns(tables), replace_bundled=True)
    assert not [i for i in issues if i.severity == "error"], issues
    program = build_program(book.active(), tables, book.value_codes)
    planner = program.scopes["line"].planner
    assert len(planner.values) >= 6 and not any("len(" in text for text in planner.derived)  # planned as values
    return ReferenceBackend(program), DurableBackend(program, prove=True), DurableBackend(program)


COMPUTED_FIRED: set[int] = set()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(claims())
def test_backends_agree_on_computed_values(computed_backends, doc):
    ref, dur = _both(computed_backends, _clean(doc))
    assert ref == dur
    COMPUTED_FIRED.update(index for index, _ in ref)


def test_computed_value_rules_fired(computed_backends):
    if not COMPUTED_FIRED:
        pytest.skip("run together with test_backends_agree_on_computed_values")
    assert len(COMPUTED_FIRED) >= len(COMPUTED) - 2


@pytest.mark.parametrize(
    "value", [1, 2, True, False, Decimal("1"), Decimal("1.5"), 1.0, 2.5, "1", "x", [1], None, float("nan")]
)
@pytest.mark.parametrize("constant", [1, "1"])
def test_a_computed_value_is_stored_as_the_kind_it_is_compared_with(value, constant):
    """The network coerces a number compared with a string (1 == "1"); the evaluator does not. A value
    of the other kind must be stored as something equal to no constant of the kind."""
    from claimscrub.compile.facts import NOT_COMPARABLE, _value_reader
    from claimscrub.lang import ast as A
    from claimscrub.lang.evaluate import Ctx
    from claimscrub.lang.types import INTEGER, STRING

    kind = STRING if isinstance(constant, str) else INTEGER
    stored = _value_reader(A.Var("x"), kind)(Ctx({"x": value}))
    if value is None:
        assert stored is None  # absent from the fact: any comparison fails, as with a missing value
        return
    if stored == NOT_COMPARABLE:
        assert not (value == constant)  # noqa: SIM201 - the evaluator's comparison, spelled out
        return
    assert type(stored) is (str if kind == STRING else int) or (kind == INTEGER and type(stored) is float)
    assert (stored == constant) == (value == constant)
