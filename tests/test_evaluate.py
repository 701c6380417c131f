"""The evaluator's fast paths give what the plain closures give.

``compile_expr(node, trace=True)`` compiles every node the plain way (it is what
``rules explain`` runs), so it is the oracle for the specialised closures:
hash-joined quantifiers, fused paths, constant comparisons, set membership.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from claimscrub.lang.evaluate import Ctx, compile_expr
from claimscrub.lang.parser import parse


def _line(seq, code, date="2024-08-01", npi="1234567893", units=1, mods=()):
    return {
        "sequence": seq,
        "code": code,
        "from_date": date,
        "provider_npi": npi,
        "units": units,
        "modifiers": list(mods),
    }


CLAIMS = {
    "same code twice": [_line(1, "20610", units=2), _line(2, "20610", units=3), _line(3, "99213")],
    "other date": [_line(1, "20610"), _line(2, "20610", date="2024-08-02")],
    "missing code": [_line(1, None), _line(2, "20610"), _line(3, None)],
    "missing date": [_line(1, "20610", date=None), _line(2, "20610")],
    "decimal units": [_line(1, "J1885", units=Decimal("1.5")), _line(2, "J1885", units=Decimal("0.5"))],
    "same modifiers": [_line(1, "20610", mods=["RT"]), _line(2, "20610", mods=["RT"]), _line(3, "20610", mods=["LT"])],
    "number vs string": [_line(1, 20610), _line(2, "20610")],
    "one line": [_line(1, "11045")],
}

EXPRESSIONS = [
    "sum(o in claim.lines where o.code == line.code and o.from_date == line.from_date: o.units)",
    "count(o in claim.lines where o.code == line.code)",
    "any(o in claim.lines where o.code == line.code and o.from_date == line.from_date: o.sequence < line.sequence)",
    "all(o in claim.lines where line.code == o.code: o.units >= 1)",
    "min(o in claim.lines where o.from_date == line.from_date: o.sequence)",
    "max(o in claim.lines where o.from_date == line.from_date and o.sequence != line.sequence: o.units)",
    "any(o in claim.lines where o.sequence != line.sequence and o.from_date == line.from_date"
    ' and o.provider_npi == line.provider_npi: o.code == "20610")',
    "count(o in claim.lines where o.modifiers == line.modifiers and o.code == line.code)",
    "count(o in claim.lines where o.code == o.code)",  # not a join: both sides are the item
    "count(o in claim.lines where o.code == line.code and o.from_date == line.from_date"
    " and o.provider_npi == line.provider_npi)",  # three fields
    "count(o in claim.lines where o.code == line.code and o.code == line.code)",
]


@pytest.mark.parametrize("expression", EXPRESSIONS)
@pytest.mark.parametrize("claim", sorted(CLAIMS))
def test_hash_joined_quantifiers_agree_with_the_plain_loop(expression, claim):
    node = parse(expression)
    fast, plain = compile_expr(node), compile_expr(node, trace=True)
    lines = CLAIMS[claim]
    view = {"lines": lines}
    for line in lines:
        ctx = Ctx({"claim": view, "line": line}, line["from_date"])
        expected = plain(Ctx({"claim": view, "line": line}, line["from_date"], trace=[]))
        assert fast(ctx) == expected, (claim, line["sequence"])
        assert fast(ctx) == expected  # the second call reads the index built by the first


def test_the_index_follows_the_list_it_was_built_for():
    fn = compile_expr(parse("count(o in claim.lines where o.code == line.code)"))
    first = {"lines": [_line(1, "A"), _line(2, "A")]}
    second = {"lines": [_line(1, "A"), _line(2, "B"), _line(3, "B")]}
    for view, code, want in ((first, "A", 2), (second, "A", 1), (second, "B", 2), (first, "A", 2)):
        assert fn(Ctx({"claim": view, "line": {"code": code}})) == want


def test_a_missing_probe_matches_nothing_and_unhashable_values_are_compared_one_by_one():
    fn = compile_expr(parse("count(o in claim.lines where o.code == line.code)"))
    view = {"lines": [{"code": {"a": 1}}, {"code": {"a": 1}}, {"code": None}]}
    assert fn(Ctx({"claim": view, "line": {"code": {"a": 1}}})) == 2
    assert fn(Ctx({"claim": view, "line": {"code": None}})) == 0
    assert fn(Ctx({"claim": {"lines": None}, "line": {"code": "A"}})) == 0
    hashable = {"lines": [{"code": "A"}, {"code": "B"}]}  # an index, probed with a value it cannot hash
    assert fn(Ctx({"claim": hashable, "line": {"code": {"a": 1}}})) == 0


@pytest.mark.parametrize(
    "expression",
    [
        "sum(o in claim.lines: o.units)",
        "min(o in claim.lines: o.sequence)",
        "max(o in claim.lines where o.code == line.code: o.units)",
        "sum(o in claim.lines where o.code == line.code and o.sequence > 1: o.units)",  # a residual where: bound
    ],
)
@pytest.mark.parametrize("claim", sorted(CLAIMS))
def test_a_quantifier_reading_one_field_of_each_item_agrees_with_the_plain_loop(expression, claim):
    node = parse(expression)
    fast, plain = compile_expr(node), compile_expr(node, trace=True)
    view = {"lines": CLAIMS[claim]}
    for line in CLAIMS[claim]:
        names = {"claim": view, "line": line}
        assert fast(Ctx(names, line["from_date"])) == plain(Ctx(dict(names), line["from_date"], trace=[]))
        assert names == {"claim": view, "line": line}  # nothing left bound
