"""Proposed determinations: each dollar action fires on its finding and not without it, with real MPFS fees."""

from __future__ import annotations

from decimal import Decimal

import pytest

from claimscrub.audit.fees import em_difference, fee_for
from claimscrub.audit.proposals import LineFacts, propose
from claimscrub.refdata.tables import sample_tables


@pytest.fixture(scope="module")
def fee():
    tables = sample_tables()
    return lambda code, dos, pos: fee_for(tables, code, dos, pos)


def facts(code="80048", paid=846, findings=(), **kw):
    base = {
        "claim_id": "C1",
        "sequence": 2,
        "code": code,
        "units": Decimal(1),
        "paid_cents": paid,
        "allowed_cents": None,
        "from_date": "2024-08-13",
        "place_of_service": "11",
        "findings": list(findings),
        "units_of_code_on_date": Decimal(1),
    }
    base.update(kw)
    return LineFacts(**base)


def finding(rule_id, category, severity="error", line=2, table_row=None):
    return {"rule_id": rule_id, "category": category, "severity": severity, "line": line, "table_row": table_row}


def test_unbundled_column_2_line_proposes_its_paid_amount(fee):
    p = propose(facts(findings=[finding("CS-PTP-001", "unbundling")]), fee)
    assert (p.determination, p.category, p.amount_cents) == ("overpaid", "incorrect_coding", 846)
    assert propose(facts(), fee).determination == "correct"


def test_mue_proposes_the_share_over_the_limit(fee):
    # 20610: line of 2 units paid 150.00; 3 units on the date against an MUE of 2 -> 1 of the line's 2 units
    f = facts(
        "20610",
        15000,
        [finding("CS-MUE-002", "mue", table_row={"mue_units": 2})],
        units=Decimal(2),
        units_of_code_on_date=Decimal(3),
    )
    p = propose(f, fee)
    assert (p.determination, p.amount_cents) == ("overpaid", 7500)


def test_upcoded_em_proposes_paid_less_the_supported_levels_fee(fee):
    # CMS PPRRVU July 2024: 99213 non-facility total 2.73 RVU, conversion factor 33.2875 -> 90.87 national.
    # Paid 102.53 of an allowed 128.16 (80%): the supported level would have paid 90.87 x 102.53 / 128.16 = 72.70.
    f = facts(
        "99214",
        10253,
        [finding("CS-EM-001", "upcoding", line=1)],
        sequence=1,
        allowed_cents=12816,
        from_date="2024-08-12",
        em_supported_code="99213",
    )
    p = propose(f, fee)
    assert (p.determination, p.category, p.amount_cents) == ("overpaid", "incorrect_coding", 10253 - 7270)
    assert fee("99213", "2024-08-12", "11").cents == 9087
    assert fee("99213", "2024-08-12", "21").cents == round(1.96 * 33.2875 * 100)  # facility total


def test_undercoded_em_is_an_underpayment(fee):
    f = facts(
        "99213",
        7270,
        [finding("CS-EM-002", "upcoding", severity="info", line=1)],
        sequence=1,
        allowed_cents=9087,
        from_date="2024-08-12",
        em_supported_code="99214",
    )
    p = propose(f, fee)
    # 99214: 3.85 x 33.2875 = 128.16; at 80% = 102.53; underpaid 102.53 - 72.70
    assert (p.determination, p.amount_cents) == ("underpaid", 10253 - 7270)


def test_em_fee_not_covered_by_any_edition_is_flagged_not_priced(fee):
    f = facts(
        "99214",
        10800,
        [finding("CS-EM-001", "upcoding", line=1)],
        sequence=1,
        from_date="2022-09-20",
        em_supported_code="99213",
    )
    p = propose(f, fee)
    assert (p.determination, p.amount_cents) == ("not_reviewed", 0) and "not checked" in p.reason


def test_no_record_and_flags(fee):
    p = propose(facts(no_record=True), fee)
    assert (p.determination, p.category, p.amount_cents) == ("overpaid", "no_documentation", 846)
    warn = propose(facts(findings=[finding("CS-DOC-025", "modifier", severity="warning")]), fee)
    assert (warn.determination, warn.category, warn.amount_cents) == ("not_reviewed", "incorrect_coding", 0)
    claim_level = propose(facts(findings=[finding("CS-DOC-002", "documentation", line=None)]), fee)
    assert claim_level.determination == "not_reviewed"


def test_em_difference_without_an_allowed_amount_uses_the_billed_fee(fee):
    billed, supported = fee("99214", "2024-08-12", "11"), fee("99213", "2024-08-12", "11")
    assert em_difference(billed.cents, None, billed, supported) == billed.cents - supported.cents


def _sheet(tmp_path, text, qa=False):
    from claimscrub.audit.worksheet import read_rows

    path = tmp_path / "w.csv"
    path.write_text(text)
    return read_rows(path, qa)[1]


KNOWN = {("1", "C1", "1"): 5000, ("1", "C1", "2"): 1000}
HEAD = "sample_no,claim_id,line,determination,error_category,amount,reason,qa_verdict,qa_note\n"


@pytest.mark.parametrize(
    "line, problem",
    [
        ("1,C9,1,correct,,,,,", "no sampled line C9 line 1 with sample_no 1"),
        ("1,C1,1,correct,other,5.00,,,", "a correct line takes no amount or error category"),
        ("1,C1,1,overpaid,,5.00,,,", "column error_category (E): required when the line is overpaid"),
        ("1,C1,1,underpaid,other,0,,,", "an underpaid line needs an amount above 0"),
        ("1,C1,1,overpaid,other,-5,,,", "negative"),
        ("1,C1,1,maybe,,,,,", "'maybe' is not one of correct, overpaid, underpaid, not_reviewed"),
    ],
)
def test_review_cells_are_validated(tmp_path, line, problem):
    from claimscrub.audit.worksheet import WorksheetError, validate_review

    with pytest.raises(WorksheetError) as exc:
        validate_review(_sheet(tmp_path, HEAD + line + "\n"), KNOWN)
    assert problem in str(exc.value) and "row 2" in str(exc.value)


def test_review_rows_must_not_repeat_and_columns_must_exist(tmp_path):
    from claimscrub.audit.worksheet import WorksheetError, read_rows, validate_review

    twice = HEAD + "1,C1,1,correct,,,,,\n1,C1,1,correct,,,,,\n"
    with pytest.raises(WorksheetError, match="row 3.*appears twice"):
        validate_review(_sheet(tmp_path, twice), KNOWN)
    (tmp_path / "short.csv").write_text("sample_no,claim_id\n1,C1\n")
    with pytest.raises(WorksheetError, match="missing column"):
        read_rows(tmp_path / "short.csv")
    edits = validate_review(_sheet(tmp_path, HEAD + "1,C1,2,Overpaid,Incorrect_Coding,$7.5,x,,\n"), KNOWN)
    assert edits[0].values == {
        "determination": "overpaid",
        "error_category": "incorrect_coding",
        "amount": "7.50",
        "reason": "x",
    }


def test_qa_cells_are_validated(tmp_path):
    from claimscrub.audit.worksheet import WorksheetError, validate_qa

    with pytest.raises(WorksheetError, match="a disagreement needs a note"):
        validate_qa(_sheet(tmp_path, HEAD + "1,C1,1,,,,,disagree,\n", qa=True), KNOWN)
    with pytest.raises(WorksheetError, match="'perhaps' is not agree or disagree"):
        validate_qa(_sheet(tmp_path, HEAD + "1,C1,1,,,,,perhaps,\n", qa=True), KNOWN)
    qa_only = "sample_no,claim_id,line,qa_verdict\n1,C1,1,Agree\n1,C1,2,\n"
    edits = validate_qa(_sheet(tmp_path, qa_only, qa=True), KNOWN)
    assert [e.values for e in edits] == [{"qa_verdict": "agree", "qa_note": ""}]


def test_em_levels_paying_the_same_propose_no_dollars(fee):
    # a supported code whose fee equals the billed one's moves no money: flagged, not priced
    f = facts(
        "99213",
        7270,
        [finding("CS-EM-001", "upcoding", line=1)],
        sequence=1,
        allowed_cents=9087,
        from_date="2024-08-12",
        em_supported_code="99213",
    )
    p = propose(f, fee)
    assert (p.determination, p.amount_cents) == ("not_reviewed", 0) and "no difference" in p.reason
