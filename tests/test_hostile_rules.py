"""Rule and table files are untrusted input: each reproducer of issue #12 item 6 is a clear error, fast.

Billion-laughs YAML, a catastrophically backtracking ``matches`` pattern, an
expression of 3,000 ``or`` terms, and a table whose ``csv:`` path leaves its
folder.
"""

from __future__ import annotations

import time

import pytest
from rulepacks import HEADER, rule_yaml, write_pack

from claimscrub.authoring.lint import lint
from claimscrub.lang.evaluate import Ctx, compile_expr
from claimscrub.lang.parser import MAX_DEPTH, ExprSyntaxError, parse
from claimscrub.lang.regex import PatternError, compile_pattern
from claimscrub.refdata.tables import TableError, load_registry
from claimscrub.yamlio import YamlError, load_text


def billion_laughs(levels: int = 9) -> str:
    text = 'lol0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    for i in range(1, levels):
        text += f"lol{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n"
    return text


# --- YAML aliases


def test_billion_laughs_is_refused_at_the_alias_before_it_expands():
    started = time.perf_counter()
    with pytest.raises(YamlError) as err:
        load_text(billion_laughs(), "laughs.yaml")
    assert time.perf_counter() - started < 1.0
    assert (err.value.file, err.value.line, err.value.column) == ("laughs.yaml", 9, 12)  # the first *l7
    assert "aliases expand this document by" in err.value.message and "alias *l7 alone is" in err.value.message


def test_aliases_within_the_budget_still_load():
    doc = load_text(billion_laughs(3))[0].data  # 9 + 81 + 729 values
    assert len(doc["lol2"]) == 9 and doc["lol2"][0] == doc["lol1"] and doc["lol1"][0] == ["lol"] * 9
    row = "a: &a [" + ", ".join(["1"] * 99) + "]\n"  # 100 values with the list itself
    assert len(load_text(row + "b: [" + ", ".join(["*a"] * 100) + "]\n")[0].data["b"]) == 100  # adds 10,000
    with pytest.raises(YamlError, match="by 10,100 values"):
        load_text(row + "b: [" + ", ".join(["*a"] * 101) + "]\n")


def test_an_alias_inside_its_own_anchor_is_refused():
    with pytest.raises(YamlError) as err:
        load_text('codes: &c ["99213", *c]\n', "loop.yaml")
    assert (err.value.line, err.value.column) == (1, 21) and "inside the value it refers to" in err.value.message


def test_lint_reports_billion_laughs_in_a_rule_file_and_in_pack_yaml(tmp_path):
    pack = write_pack(tmp_path / "laughs", [rule_yaml("TST-HOST-001", 'line.code == "99213"')])
    rule_file = pack / "TST.yaml"
    rule_file.write_text(billion_laughs() + HEADER + rule_yaml("TST-HOST-001", 'line.code == "99213"'))
    issues = lint([pack])
    hit = [i for i in issues if "aliases expand" in i.message]
    assert [(i.file, i.line, i.column, i.severity) for i in hit] == [(str(rule_file), 9, 12, "error")]

    (pack / "pack.yaml").write_text(billion_laughs())
    issues = lint([pack])
    assert any(i.file == str(pack / "pack.yaml") and i.line == 9 and "aliases expand" in i.message for i in issues)


# --- regular expressions


def test_nested_quantifiers_run_in_linear_time():
    field = "a" * 40 + "!"  # Python's re takes ~2^40 steps here
    rx = compile_pattern("^(a+)+$")
    started = time.perf_counter()
    assert rx.search(field) is None and rx.search("a" * 40) is not None
    assert time.perf_counter() - started < 0.1


def test_a_matches_rule_with_nested_quantifiers_fires_and_does_not_fire():
    node = parse('line.code matches "^(9+)+213$"')
    fn = compile_expr(node)
    assert fn(Ctx({"line": {"code": "99213"}})) is True
    assert fn(Ctx({"line": {"code": "99214"}})) is False
    assert fn(Ctx({"line": {"code": "9" * 40 + "!"}})) is False


@pytest.mark.parametrize(
    "pattern, words",
    [(r"^(9)\\1$", "invalid escape sequence"), (r"^(?=99)", "RE2 syntax"), ("a" * 1001, "over the limit of 1,000")],
)
def test_patterns_re2_cannot_run_safely_are_lint_errors(tmp_path, pattern, words):
    pack = write_pack(tmp_path / "rx", [rule_yaml("TST-HOST-002", f'line.code matches "{pattern}"')])
    errors = [i for i in lint([pack]) if i.severity == "error"]
    assert len(errors) == 1 and "invalid regular expression" in errors[0].message and words in errors[0].message
    assert (errors[0].file, errors[0].line) == (str(pack / "TST.yaml"), 8)


def test_pattern_errors_name_the_problem():
    with pytest.raises(PatternError, match="missing \\)"):
        compile_pattern("(99213")


# --- expression size


def test_three_thousand_or_terms_are_a_lint_error_not_a_recursion_error(tmp_path):
    when = " or ".join(f'line.code == "{99000 + i}"' for i in range(3000))
    pack = write_pack(tmp_path / "wide", [rule_yaml("TST-HOST-003", when)])
    issues = [i for i in lint([pack]) if i.severity == "error"]
    assert len(issues) == 1 and f"nested more than {MAX_DEPTH} levels deep" in issues[0].message
    assert "value set" in issues[0].message and issues[0].line == 8


DEEP = MAX_DEPTH - 10  # a few levels go to the comparison and the path under the operators


@pytest.mark.parametrize(
    "text",
    [
        " or ".join(["line.units > 1"] * DEEP),
        "not " * DEEP + "line.units > 1",
        "-" * DEEP + "line.units > 1",
        " + ".join(["line.units"] * DEEP) + " > 1",
        "(" * DEEP + "line.units" + ")" * DEEP + " > 1",
    ],
)
def test_expressions_just_within_the_depth_parse_and_evaluate(text):
    fn = compile_expr(parse(text))
    assert fn(Ctx({"line": {"units": 2}})) in (True, False)


@pytest.mark.parametrize("text", ["not " * MAX_DEPTH + "true", " and ".join(["true"] * (MAX_DEPTH + 1))])
def test_expressions_past_the_depth_are_refused_with_a_position(text):
    with pytest.raises(ExprSyntaxError, match="levels deep") as err:
        parse(text)
    assert err.value.line == 1 and err.value.column >= 1


# --- table files


TABLE = """name: payer_codes
title: Payer codes
key: [code]
values:
  covered: string
csv: {csv}
"""


def test_a_csv_path_leaving_the_definition_folder_is_refused_without_reading_it(tmp_path):
    folder = tmp_path / "tables"
    folder.mkdir()
    (folder / "payer.yaml").write_text(TABLE.format(csv="../../../../../../../../etc/passwd"))
    with pytest.raises(TableError) as err:
        load_registry(folder)
    message = str(err.value)
    assert "leaves the folder of the definition" in message and "root:" not in message

    outside = tmp_path / "outside.csv"
    outside.write_text("code,covered\n99213,secret-row\n")
    (folder / "link.csv").symlink_to(outside)  # a link inside the folder to a file outside it
    (folder / "payer.yaml").write_text(TABLE.format(csv="link.csv"))
    with pytest.raises(TableError, match="leaves the folder"):
        load_registry(folder)
    (folder / "payer.yaml").write_text(TABLE.format(csv="/etc/passwd"))
    with pytest.raises(TableError, match="leaves the folder"):
        load_registry(folder)


def test_a_csv_inside_the_folder_loads_and_a_bad_header_is_not_echoed(tmp_path):
    from claimscrub.refdata.tables import csv_tables

    folder = tmp_path / "tables"
    (folder / "rows").mkdir(parents=True)
    (folder / "rows" / "payer.csv").write_text("code,covered\n99213,Y\n")
    (folder / "payer.yaml").write_text(TABLE.format(csv="rows/payer.csv"))
    registry = load_registry(folder)
    assert registry.get("payer_codes").csv == ((folder / "rows" / "payer.csv").resolve(),)
    tables = csv_tables(registry)
    assert [t.name for t in tables.status() if t.loaded] == ["payer_codes"]

    (folder / "rows" / "payer.csv").write_text("secret-header-value,covered\n99213,Y\n")
    with pytest.raises(TableError) as err:
        csv_tables(load_registry(folder))
    assert "no column code" in str(err.value) and "secret-header-value" not in str(err.value)
