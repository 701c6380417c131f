"""The short paths a claim's rules take to the tables and through `x in [..]` conjuncts: same answers as the long ones."""

from __future__ import annotations

import operator

from claimscrub.compile.facts import _cond_check
from claimscrub.compile.plan import Disj, Native
from claimscrub.compile.program import CachedTables
from claimscrub.refdata.tables import LayeredTableSet, sample_tables


def _alternatives(value, consts) -> bool:
    """``p == a or p == b`` as the network decides it on a fact: an absent value or unlike types match nothing."""
    if value is None:
        return False
    for c in consts:
        try:
            if operator.eq(value, c) is True:
                return True
        except TypeError:
            pass
    return False


def test_membership_conjuncts_decide_as_their_alternatives():
    consts = [1, 9]
    cond = Disj(tuple(Native("v3", (), "==", c) for c in consts))
    for value in (None, 1, 9, 2, True, False, 1.0, 9.5, "1", "9", [1], {"a": 1}):
        check = _cond_check(cond, {"v3": lambda ctx, v=value: v}, {})
        assert check(None) is _alternatives(value, consts), value
    codes = Disj((Native("v0", (), "==", "000"), Native("v0", (), "==", "010")))
    check = _cond_check(codes, {"v0": lambda ctx: "010"}, {})
    assert check(None) is True
    mixed = Disj((Native("v0", (), "==", True), Native("v0", (), "==", 1)))  # a bool constant: the general path
    assert _cond_check(mixed, {"v0": lambda ctx: 1}, {})(None) is True


class _LookupOnly:
    """A table set with only ``lookup`` (no ``reader``), as a caller's own set may be."""

    def __init__(self):
        self.asked = []

    def lookup(self, table, key, dos):
        self.asked.append((table, key, dos))
        return {"table": table, "key": key} if key == ("99213",) else None


def test_cached_tables_fall_back_to_lookup_and_ask_once():
    inner = _LookupOnly()
    cached = CachedTables(inner)
    for _ in range(3):
        assert cached.lookup("mue_practitioner", ("99213",), "2024-08-01") == {
            "table": "mue_practitioner",
            "key": ("99213",),
        }
        assert cached.lookup("mue_practitioner", ("99999",), "2024-08-01") is None
    assert len(inner.asked) == 2


def test_a_readers_rows_are_the_lookups():
    tables = LayeredTableSet([sample_tables()])
    read = tables.reader("mue_practitioner")
    assert read(("97110",), "2024-08-01") == tables.lookup("mue_practitioner", ("97110",), "2024-08-01")
    assert read(("97110",), "2024-08-01")["mue_units"] > 0
    assert tables.reader("no_such_table")(("97110",), "2024-08-01") is None
