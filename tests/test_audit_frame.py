"""The universe: units, exclusions, scope, deterministic order and the content hash."""

from __future__ import annotations

import hashlib

from claimscrub.audit.frame import Scope, build_frame, frame_bytes, read_frame, write_frame
from claimscrub.inputs.base import InputItem


def claim(cid, patient="P1", npi="1234567893", paid=None, lines=(("99213", "72.70"),), date="2024-08-12"):
    data = {
        "claim_id": cid,
        "type": "professional",
        "patient": {"id": patient},
        "billing_provider": {"npi": npi},
        "lines": [
            {
                "sequence": i,
                "code": code,
                "units": 1,
                "charge": "100.00",
                "from_date": date,
                **({"paid_amount": p} if p is not None else {}),
            }
            for i, (code, p) in enumerate(lines, 1)
        ],
    }
    if paid is not None:
        data["paid_amount"] = paid
    return InputItem(f"t#{cid}", cid, data)


def test_claim_units_sorted_with_exclusions_and_reasons():
    items = [
        claim("C3", paid="50.00"),
        claim("C1", lines=(("99213", "72.70"), ("36415", "3.00"))),
        claim("C2", paid="0.00"),
        claim("C4", lines=(("99213", None),)),
        claim("C5", paid="-10.00"),
        InputItem.failed("bad.json#0", "C6", "not valid JSON"),
    ]
    frame = build_frame(items)
    assert [(u.unit_id, u.paid_cents) for u in frame.units] == [("C1", 7570), ("C3", 5000)]
    reasons = {u.unit_id: u.reason for u in frame.excluded}
    assert reasons == {
        "C2": "paid zero or negative",
        "C4": "no claim paid amount",
        "C5": "paid zero or negative",
        "C6": "unreadable claim: not valid JSON",
    }
    assert frame.paid_total_cents == 12570


def test_line_and_beneficiary_units():
    unpaid = (("99213", None),)
    items = [
        claim("C1", lines=(("99213", "72.70"), ("36415", "0.00"))),
        claim("C2", patient="P2", paid="10.00", lines=unpaid),
        claim("C3", paid="5.00", lines=unpaid),
    ]
    lines = build_frame(items, "line")
    assert [u.unit_id for u in lines.units] == ["C1:1"]
    assert {u.unit_id: u.reason for u in lines.excluded} == {
        "C1:2": "paid zero or negative",
        "C2:1": "no line paid amount",
        "C3:1": "no line paid amount",
    }
    people = build_frame(items, "beneficiary")
    assert [(u.unit_id, u.claim_id, u.paid_cents) for u in people.units] == [("P1", "C1;C3", 7770), ("P2", "C2", 1000)]


def test_scope_filters_provider_and_dates():
    items = [
        claim("C1", paid="1.00"),
        claim("C2", paid="1.00", npi="1114025228"),
        claim("C3", paid="1.00", date="2023-12-31"),
    ]
    frame = build_frame(items, scope=Scope("1234567893", "2024-01-01", "2024-12-31"))
    assert [u.unit_id for u in frame.units] == ["C1"] and frame.out_of_scope == 2


def test_frame_bytes_are_canonical_and_hashed(tmp_path):
    items = [claim("C2", paid="10.50"), claim("C1", paid="3.00")]
    a = frame_bytes(build_frame(items).units)
    b = frame_bytes(build_frame(list(reversed(items))).units)
    assert a == b  # the input order does not change the frame
    assert a.decode().splitlines() == [
        "position,unit_id,claim_id,line,patient_id,provider_npi,from_date,to_date,paid_amount",
        "1,C1,C1,,P1,1234567893,2024-08-12,2024-08-12,3.00",
        "2,C2,C2,,P1,1234567893,2024-08-12,2024-08-12,10.50",
    ]
    digest = write_frame(tmp_path, build_frame(items))
    assert digest == hashlib.sha256(a).hexdigest()
    assert (tmp_path / "frame.sha256").read_text() == f"{digest}  frame.csv\n"
    assert read_frame(tmp_path / "frame.csv").paid_cents == [300, 1050]


def test_malformed_claims_are_excluded_not_fatal():
    odd = [
        InputItem(
            "t#1",
            "M1",
            {
                "claim_id": "M1",
                "patient": "x",
                "billing_provider": None,
                "lines": [{"from_date": 20240101, "to_date": 5, "paid_amount": {"x": 1}}, "junk"],
            },
        ),
        InputItem("t#2", "M2", {"claim_id": "M2", "paid_amount": "12.345", "lines": None}),
        InputItem("t#3", None, {"lines": [{"from_date": "2024-01-02", "to_date": 7}], "paid_amount": 5}),
    ]
    frame = build_frame(odd)
    assert frame.units == []
    assert {u.unit_id: (u.reason, u.from_date, u.to_date) for u in frame.excluded} == {
        "M1": ("line paid_amount: not a dollar amount", "", ""),
        "M2": ("claim paid_amount: more than two decimals", "", ""),
        "": ("no claim id", "2024-01-02", "2024-01-02"),
    }
    assert len(build_frame(odd, "line").excluded) == 2
