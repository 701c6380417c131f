"""ICD-10-CM code-set functions over the simple-icd-10-cm tabular list."""

from __future__ import annotations

from claimscrub.refdata.codesets import (
    icd_billable,
    icd_excludes1_conflicts,
    icd_exists,
    icd_is_manifestation,
    icd_side,
    parse_refs,
)


def test_exists_with_or_without_dot():
    assert icd_exists("E11.9") and icd_exists("E119") and icd_exists(" e11.9 ")
    assert icd_exists("E11")  # a category exists, though it is not billable
    assert not icd_exists("E08-E13")  # a block is not a code
    assert not icd_exists("E11.99X") and not icd_exists("")


def test_billable_is_a_leaf():
    assert icd_billable("E11.9") and icd_billable("S72.001A")
    assert not icd_billable("E11") and not icd_billable("S72.001")
    assert not icd_billable("ZZZ")


def test_excludes1_notes_sit_on_ancestors():
    # E11 (ancestor of E11.9) excludes1 type 1 diabetes (E10.-)
    assert icd_excludes1_conflicts(["E11.9", "E10.9", "I10"]) == [("E119", "E109")]
    assert icd_excludes1_conflicts(["E10.9", "E11.65"]) == [("E109", "E1165")]
    assert icd_excludes1_conflicts(["I10", "O10.02"]) == [("I10", "O1002")]  # a range (O10-O11)
    assert icd_excludes1_conflicts(["E11.9", "I10", "E11.9"]) == []


def test_excludes1_notes_on_blocks_are_read():
    # the J00-J06 block excludes J44.0; the I60-I69 block excludes S06.- (issue #13, item 14)
    assert icd_excludes1_conflicts(["J06.9", "J44.0"]) == [("J069", "J440")]
    assert icd_excludes1_conflicts(["I61.9", "S06.360A"]) == [("I619", "S06360A")]
    # a block's note names only what it names: asthma is not excluded by the J00-J06 block
    assert icd_excludes1_conflicts(["J06.9", "J45.909"]) == []
    assert not icd_exists("J00-J06")  # blocks stay out of the codes


def test_note_references():
    refs = parse_refs("(E00-E03.-) (A81.0-) (B56.-, B57.-)")
    assert [(r.low, r.high) for r in refs] == [("E00", "E03"), ("A810", "A810"), ("B56", "B56"), ("B57", "B57")]
    assert refs[0].covers("E0390") and not refs[0].covers("E040")


def test_manifestation_codes():
    assert icd_is_manifestation("F02.80")  # dementia in other diseases classified elsewhere
    assert icd_is_manifestation("G63")
    assert not icd_is_manifestation("E11.9")
    assert not icd_is_manifestation("N18.3")  # code-first note, but not a manifestation
    assert not icd_is_manifestation("nonsense")


def test_side_is_read_from_the_titles():
    assert [icd_side(c) for c in ("M25.561", "M25.562", "M17.0", "H40.1131")] == [
        "right",
        "left",
        "bilateral",
        "bilateral",
    ]
    assert icd_side("S52.501A") == "right"  # a 7th-character code: the side is in its own title
    assert icd_side("M25.569") == "unspecified"  # "unspecified knee" beside right and left knee
    assert icd_side("M17.9") is None  # "unspecified" type of knee osteoarthritis, no sided siblings
    assert icd_side("E11.9") is None and icd_side("not a code") is None
