"""The fast paths of claim_from_dict / claim_view against the plain Decimal semantics they replace.

Money, units and the view's dollars each take a shortcut for the common shapes
(plain strings and ints, memoised); every value here must come out exactly as
the Decimal path made it: the same cents, or the same rejection naming the
same field with the same problem. The dataclasses are built positionally, so
their field order is pinned too.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from decimal import Decimal, InvalidOperation
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claimscrub.compile.views import Key, bind, claim_view
from claimscrub.model.claim import Claim, Line
from claimscrub.model.normalize import ClaimRejected, claim_from_dict, to_cents

MAX = Decimal("999999999.99")  # the claim schema's money bound


def reference_cents(value: Any, claim_id: str | None = None, field: str = "charge") -> int:
    """to_cents's contract, through Decimal for every value: a number, or ASCII decimal text (an
    exponent of at most three digits), at most two decimals and 999,999,999.99 either way; the
    problem is named, never the value (issue #12)."""

    def rejected(problem: str):
        return ClaimRejected(claim_id, field, problem)

    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise rejected("is not an amount")
    if isinstance(value, str):
        text = value.strip()
        if len(text) > 40 or not re.fullmatch(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,3})?", text):
            raise rejected("is not an amount")
    try:
        amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise rejected("is not an amount") from None
    if not amount.is_finite():
        raise rejected("is not an amount")
    if abs(amount) > MAX:
        raise rejected("is too large" if amount > 0 else "is too small")
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise rejected("has more than two decimals")
    return int(cents)


def reference_view_units(value: Any) -> int | Decimal:
    """Units as the view held them before: through Decimal, back to int when whole."""
    u = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    return int(u) if u == u.to_integral_value() else u


def outcome(fn, *args) -> tuple:
    try:
        return ("ok", fn(*args))
    except ClaimRejected as exc:
        return ("rejected", exc.claim_id, exc.field, exc.problem)
    except Exception as exc:  # the same crash, for values no schema-valid claim carries
        return ("error", type(exc).__name__)


def claim(**line: Any) -> dict:
    base_line = {
        "sequence": 1,
        "code": "99213",
        "units": 1,
        "charge": "100.00",
        "from_date": "2024-08-01",
        "diagnosis_pointers": [1],
    }
    return {
        "claim_id": "C1",
        "type": "professional",
        "billing_provider": {"npi": "1234567893"},
        "patient": {"id": "P1", "sex": "F", "birth_date": "1960-05-02"},
        "diagnoses": [{"code": "e11.9"}, {"code": "I10"}],
        "lines": [{**base_line, **line}],
    }


CHARGES = [
    "123.00",
    "0.00",
    "0",
    "-0",
    "-0.00",
    "1.5",
    "1.50",
    "-1.5",
    "-12.34",
    "1.",
    "-1.",
    ".5",
    "-.5",
    "1e2",
    "1E-2",
    " 1.00",
    "1.00 ",
    "1.00\n",
    "+1.00",
    "1.234",
    "1.230",
    "0.001",
    "1_000.00",
    "00012.30",
    "٣.٥",
    "１２",
    "",
    "-",
    ".",
    "abc",
    "1.2.3",
    "1..2",
    "1.-5",
    "--1",
    "NaN",
    "sNaN",
    "Infinity",
    "-inf",
    "9" * 15,
    "9" * 15 + ".99",
    "9" * 16 + ".99",
    "9" * 26,
    "9" * 27,
    "9" * 30 + ".5",
    "-" + "9" * 28,
    0,
    7,
    -7,
    10**24,
    10**26 - 1,
    10**26,
    -(10**26),
    10**27 + 1,
    10**40,
    True,
    False,
    0.0,
    -0.0,
    1.5,
    0.1,
    0.29,
    1.005,
    33.3,
    -2.25,
    1e20,
    1e-7,
    123456789.12,
    float("nan"),
    float("inf"),
    None,
    [],
    {},
    b"1.00",
    Decimal("1.50"),
    Decimal("1.505"),
]


@pytest.mark.parametrize("value", CHARGES, ids=repr)
def test_to_cents_matches_decimal(value):
    assert outcome(to_cents, value, "C1", "lines[0].charge") == outcome(reference_cents, value, "C1", "lines[0].charge")


@pytest.mark.parametrize("value", CHARGES, ids=repr)
def test_line_charge_matches_decimal(value):
    """The copy of to_cents inlined in the line loop rejects with the line's field, as to_cents did."""
    want = outcome(reference_cents, value, "C1", "lines[0].charge")
    got = outcome(lambda: claim_from_dict(claim(charge=value)).lines[0].charge_cents)
    if want[0] == "error":  # the crash still happens, whichever way it is spelled
        assert got[0] == "error"
    else:
        assert got == want


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.from_regex(r"-?[0-9]{0,30}(\.[0-9]{0,4})?", fullmatch=True),
        st.text(alphabet="0123456789-+. e_", max_size=12),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
    )
)
def test_to_cents_matches_decimal_generated(value):
    assert outcome(to_cents, value) == outcome(reference_cents, value)


def test_memoised_money_still_rejects_every_time():
    for _ in range(2):
        with pytest.raises(ClaimRejected) as exc:
            to_cents("1.234", "C9", "lines[3].charge")
        assert (exc.value.claim_id, exc.value.field, exc.value.problem) == (
            "C9",
            "lines[3].charge",
            "has more than two decimals",
        )


UNITS = [1, 0, -1, 2, 99999, -99999, 1.0, 1.5, 0.5, 2.25, 1e4, 1e-3, "3", "1.5", Decimal("2.0")]


@pytest.mark.parametrize("units", UNITS, ids=repr)
def test_units_keep_their_value_and_view_type(units):
    line = claim_from_dict(claim(units=units)).lines[0]
    want = reference_view_units(units)
    assert line.units == want
    assert type(line.units) is (int if type(units) is int else Decimal)
    got = claim_view(claim_from_dict(claim(units=units)))["lines"][0]["units"]
    assert type(got) is type(want) and got == want and str(got) == str(want)


@pytest.mark.parametrize(
    ("units", "problem"),
    [
        (10**30, "is too large"),
        (1e20, "is too large"),
        (-100000, "is too small"),
        (0.0001, "has more than three decimals"),
        ("1e-7", "has more than three decimals"),
        ("abc", "is not a number"),
    ],
)
def test_units_out_of_bounds_are_rejected(units, problem):
    with pytest.raises(ClaimRejected) as exc:
        claim_from_dict(claim(units=units))
    assert (exc.value.field, exc.value.problem) == ("lines[0].units", problem)


@pytest.mark.parametrize("cents", [0, 1, 10, 99, 100, 12345, 34300, 34350, -1, -34300, -5, 99999999999, -99999999999])
def test_view_dollars_are_decimal_cents_over_100(cents):
    data = claim(charge=cents / 100 if abs(cents) < 10**15 else str(Decimal(cents) / 100))
    view = claim_view(claim_from_dict(data))
    want = Decimal(cents) / 100
    for got in (view["lines"][0]["charge"], view["total_charge"]):
        assert type(got) is Decimal and got == want and str(got) == str(want)


def test_line_field_order_is_what_claim_from_dict_passes():
    """claim_from_dict builds Line and Claim positionally: a reordered dataclass must fail here."""
    assert [f.name for f in dataclasses.fields(Line)] == [
        "sequence",
        "code",
        "units",
        "charge_cents",
        "from_date",
        "to_date",
        "modifiers",
        "place_of_service",
        "diagnosis_pointers",
        "rendering_npi",
        "revenue_code",
        "ndc",
        "allowed_cents",
        "paid_cents",
        "paid_date",
        "adjustments",
        "remark_codes",
    ]
    assert [f.name for f in dataclasses.fields(Claim)] == [
        "claim_id",
        "type",
        "patient",
        "billing_provider",
        "lines",
        "diagnoses",
        "frequency",
        "replaces_claim_id",
        "claim_date",
        "payer",
        "rendering_provider",
        "place_of_service",
        "bill_type",
        "admission_date",
        "discharge_date",
        "encounters",
        "source",
        "allowed_cents",
        "paid_cents",
        "paid_date",
        "adjustments",
        "remark_codes",
    ]


def test_every_field_lands_where_it_belongs():
    data = {
        "claim_id": "C7",
        "type": "institutional",
        "frequency": "replacement",
        "replaces_claim_id": "R1",
        "claim_date": "2024-09-01",
        "payer": {"type": "medicaid", "name": "Payer", "id": "PY"},
        "billing_provider": {"npi": "1234567893", "name": "Bill", "taxonomy": "207Q00000X", "specialty": "fp"},
        "rendering_provider": {"npi": "1245319599"},
        "patient": {"id": "P7", "sex": "M", "birth_date": "1950-01-31"},
        "place_of_service": "21",
        "bill_type": "0111",
        "admission_date": "2024-08-01",
        "discharge_date": "2024-08-05",
        "diagnoses": [{"code": "e11.9", "poa": "Y"}, {"code": "I10"}],
        "lines": [
            {
                "sequence": 3,
                "code": "j1100",
                "units": 2.5,
                "charge": "12.30",
                "from_date": "2024-08-02",
                "to_date": "2024-08-03",
                "modifiers": ["rt", "59"],
                "place_of_service": "22",
                "diagnosis_pointers": [2, 1],
                "rendering_npi": "1234567890",
                "revenue_code": "0250",
                "ndc": "00002-1234-01",
            },
            {"sequence": 1, "code": "99213", "units": 1, "charge": 5, "from_date": "2024-08-01"},
        ],
        "encounters": [],
    }
    got = claim_from_dict(copy.deepcopy(data), "file.json#2")
    first, second = got.lines
    assert (first.sequence, first.code, first.units, first.charge_cents, first.from_date, first.to_date) == (
        3,
        "J1100",
        Decimal("2.5"),
        1230,
        "2024-08-02",
        "2024-08-03",
    )
    assert (
        first.modifiers,
        first.place_of_service,
        first.diagnosis_pointers,
        first.rendering_npi,
        first.revenue_code,
        first.ndc,
    ) == (("RT", "59"), "22", (2, 1), "1234567890", "0250", "00002-1234-01")
    assert (
        second.to_date,
        second.modifiers,
        second.place_of_service,
        second.diagnosis_pointers,
        second.charge_cents,
    ) == ("2024-08-01", (), "21", (), 500)
    assert (got.claim_id, got.type, got.frequency, got.replaces_claim_id, got.claim_date) == (
        "C7",
        "institutional",
        "replacement",
        "R1",
        "2024-09-01",
    )
    assert (got.payer.type, got.payer.name, got.payer.id) == ("medicaid", "Payer", "PY")
    assert (
        got.billing_provider.npi,
        got.billing_provider.name,
        got.billing_provider.taxonomy,
        got.billing_provider.specialty,
    ) == ("1234567893", "Bill", "207Q00000X", "fp")
    assert got.rendering_provider.npi == "1245319599" and got.rendering_provider.name is None
    assert (got.patient.id, got.patient.sex, got.patient.birth_date) == ("P7", "M", "1950-01-31")
    assert (got.place_of_service, got.bill_type, got.admission_date, got.discharge_date) == (
        "21",
        "0111",
        "2024-08-01",
        "2024-08-05",
    )
    assert [(d.code, d.position, d.poa) for d in got.diagnoses] == [("E119", 1, "Y"), ("I10", 2, None)]
    assert (got.encounters, got.source) == ([], "file.json#2")

    view = claim_view(got)
    assert (view["first_service_date"], view["last_service_date"], view["total_charge"]) == (
        "2024-08-01",
        "2024-08-03",
        Decimal("17.3"),
    )
    assert [line["diagnosis_codes"] for line in view["lines"]] == [["I10", "E119"], []]
    assert [line["provider_npi"] for line in view["lines"]] == ["1234567890", "1245319599"]
    assert view["patient"]["age"] == 74 and view["lines"][0]["patient_age"] == 74


def test_lines_get_their_own_lists():
    """Lines pointing at the same diagnoses share the lookup, never the list a rule might be handed."""
    data = claim()
    data["lines"].append({**data["lines"][0], "sequence": 2, "diagnosis_pointers": [1, 7, 0]})
    data["lines"].append({**data["lines"][0], "sequence": 3})
    lines = claim_view(claim_from_dict(data))["lines"]
    assert [line["diagnosis_codes"] for line in lines] == [["E119"], ["E119"], ["E119"]]
    assert lines[0]["diagnosis_codes"] is not lines[2]["diagnosis_codes"]
    assert lines[0]["modifiers"] is not lines[2]["modifiers"]


@pytest.mark.parametrize(
    "patch, field",
    [
        ({"charge": "1.234", "to_date": "2024-02-30"}, "lines[0].charge"),
        ({"from_date": "2024-13-01", "charge": "x"}, "lines[0].from_date"),
        ({"to_date": 20240801}, "lines[0].to_date"),
    ],
)
def test_a_bad_line_is_reported_by_its_first_bad_field(patch, field):
    with pytest.raises(ClaimRejected) as exc:
        claim_from_dict(claim(**patch))
    assert exc.value.field == field


def test_claim_fields_are_checked_in_their_old_order():
    data = claim()
    data.update(claim_date="2024-02-30", admission_date="bad")
    data["patient"]["birth_date"] = "1960-02-30"
    with pytest.raises(ClaimRejected) as exc:
        claim_from_dict(data)
    assert (exc.value.field, exc.value.problem) == ("claim_date", "is not a calendar date (YYYY-MM-DD)")
    del data["claim_date"]
    with pytest.raises(ClaimRejected) as exc:
        claim_from_dict(data)
    assert exc.value.field == "patient.birth_date"


def test_bind_finds_lines_by_sequence():
    data = claim()
    data["lines"].append({**data["lines"][0], "sequence": 5, "from_date": "2024-08-04"})
    view = claim_view(claim_from_dict(data))
    names, dos = bind(view, Key(line=5, other=1))
    assert (names["line"]["sequence"], names["other"]["sequence"], dos) == (5, 1, "2024-08-04")
    with pytest.raises(StopIteration):
        bind(view, Key(line=9))


def test_payment_fields_land_on_claim_and_line():
    data = claim()
    data.update(allowed_amount="90.00", paid_amount="72.00", paid_date="2024-09-20", remark_codes=["N130"])
    data["lines"][0].update(
        paid_amount=72,
        allowed_amount="90",
        paid_date="2024-09-20",
        adjustments=[{"group": "CO", "reason": "45", "amount": "18.00"}, {"group": "PR", "reason": "2", "amount": 0}],
    )
    built = claim_from_dict(data)
    assert (built.allowed_cents, built.paid_cents, built.paid_date, built.remark_codes) == (
        9000,
        7200,
        "2024-09-20",
        ("N130",),
    )
    line = built.lines[0]
    assert (line.allowed_cents, line.paid_cents, line.paid_date) == (9000, 7200, "2024-09-20")
    assert [(a.group, a.reason, a.amount_cents) for a in line.adjustments] == [("CO", "45", 1800), ("PR", "2", 0)]
    assert claim_from_dict(claim()).paid_cents is None and claim_from_dict(claim()).lines[0].adjustments == ()


def test_bad_payment_fields_name_the_field():
    data = claim()
    data["lines"][0]["paid_amount"] = "1.234"
    with pytest.raises(ClaimRejected) as exc:
        claim_from_dict(data)
    assert exc.value.field == "lines[0].paid_amount"
    data = claim()
    data["paid_date"] = "2024-02-30"
    with pytest.raises(ClaimRejected) as exc:
        claim_from_dict(data)
    assert exc.value.field == "paid_date"
