"""Native claim JSON (already schema-valid) -> the typed :class:`Claim`.

Checks here are the ones a JSON Schema cannot express: a real calendar date,
money that converts to cents exactly, a void that names what it voids.
Problems raise :class:`ClaimRejected`, naming the field, never the patient.
"""

from __future__ import annotations

import datetime as _dt
import functools
from decimal import Decimal
from typing import Any

from claimscrub.model.claim import Adjustment, Claim, Diagnosis, Line, Patient, Payer, Provider
from claimscrub.model.numbers import MAX_MONEY, MAX_QUANTITY, NumberError, decimals, exact_number

NOT_A_DATE = "is not a calendar date (YYYY-MM-DD)"


class ClaimRejected(Exception):
    """A claim that cannot be scrubbed: names the claim, the field and the problem."""

    def __init__(self, claim_id: str | None, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.claim_id = claim_id
        self.field = field
        self.problem = problem

    @property
    def reason(self) -> str:
        return f"{self.field}: {self.problem}" if self.field else self.problem


@functools.lru_cache(maxsize=1 << 14)
def _calendar_date(value: str) -> str | None:
    """The ISO date, or None when it is not one (a batch repeats a few hundred dates).

    Only ``YYYY-MM-DD``: ``date.fromisoformat`` also takes ``20240801`` and week dates (``2024-W31-4``).
    """
    if len(value) != 10 or value[4] != "-" or value[7] != "-" or not value.replace("-", "").isdigit():
        return None
    try:
        return _dt.date.fromisoformat(value).isoformat()
    except ValueError:
        return None


def _date(value: Any, claim_id: str, field: str) -> str:
    iso = _calendar_date(value) if isinstance(value, str) else None
    if iso is None:
        raise ClaimRejected(claim_id, field, NOT_A_DATE)
    return iso


def _opt_date(value: Any, claim_id: str, field: str) -> str | None:
    return None if value is None else _date(value, claim_id, field)


class _BadAmount(Exception):
    """Why a value is not money: raised rather than returned, so a bad amount is never memoised."""

    def __init__(self, problem: str):
        super().__init__(problem)
        self.problem = problem


# Whole amounts within the money bound (999,999,999.99) take the int fast path; the rest go through Decimal.
_MAX_WHOLE = 999_999_999


def _decimal_cents(value: Any) -> int:
    """Cents through Decimal: the reference semantics, and the path for every unusual shape."""
    try:
        amount = exact_number(value, MAX_MONEY)
    except NumberError as exc:
        raise _BadAmount(exc.problem if exc.problem.startswith(("is too", "has")) else "is not an amount") from None
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise _BadAmount("has more than two decimals")
    return int(cents)


def _plain_cents(text: str) -> int | None:
    """Cents of an ASCII ``-123``, ``123.`` ``123.4`` or ``123.45`` without Decimal; None for any other shape."""
    if not text.isascii():
        return None
    whole, _, frac = text.partition(".")
    negative = whole[:1] == "-"
    digits = whole[1:] if negative else whole
    if not digits.isdigit() or len(digits) > 9 or len(frac) > 2 or (frac and not frac.isdigit()):
        return None
    cents = int(digits) * 100 + (int(frac) * (10 if len(frac) == 1 else 1) if frac else 0)
    return -cents if negative else cents


@functools.lru_cache(maxsize=1 << 14)
def _text_cents(text: str) -> int:
    """Cents of a money string (memoised: a batch bills the same few hundred fee-schedule amounts)."""
    cents = _plain_cents(text)
    return _decimal_cents(text) if cents is None else cents


def to_cents(value: Any, claim_id: str | None = None, field: str = "charge") -> int:
    """Money as integer cents; floats go through their shortest repr, so 0.1 stays 10 cents."""
    kind = type(value)
    if kind is int and -_MAX_WHOLE <= value <= _MAX_WHOLE:
        return value * 100
    try:
        if kind is str:
            return _text_cents(value)
        if isinstance(value, float):
            return _text_cents(str(value))
        return _decimal_cents(value)
    except _BadAmount as bad:
        raise ClaimRejected(claim_id, field, bad.problem) from None


def _units(value: Any, claim_id: str | None = None, field: str = "units") -> int | Decimal:
    """Units as given when an int (the common case, and what the view wants), else exactly as a Decimal.

    At most three decimals (NCPDP's metric quantity has three): finer ones are typos, and the rule
    engine's C core cannot read the exponent form (1e-06) such a number is written in."""
    if type(value) is int and -MAX_QUANTITY <= value <= MAX_QUANTITY:
        return value
    try:
        amount = exact_number(value, MAX_QUANTITY)
    except NumberError as exc:
        raise ClaimRejected(claim_id, field, exc.problem) from None
    if decimals(amount) > 3:
        raise ClaimRejected(claim_id, field, "has more than three decimals")
    return amount


def _provider(data: dict | None) -> Provider | None:
    if not data:
        return None
    get = data.get
    return Provider(data["npi"], get("name"), get("taxonomy"), get("specialty"))


def _pointers(raw: Any) -> tuple[int, ...]:
    """Diagnosis pointers as ints: 1.0 passes the schema as an integer, but the model and view index with it."""
    if not raw:
        return ()
    return tuple(raw) if all(type(p) is int for p in raw) else tuple(int(p) for p in raw)


def icd_key(code: str) -> str:
    return code.replace(".", "").upper()


def _bad_date(value: Any, claim_id: str, field: str) -> ClaimRejected:
    return ClaimRejected(claim_id, field, NOT_A_DATE)  # never the value: it may be a birth date


def claim_from_dict(data: dict[str, Any], source: str | None = None) -> Claim:
    """Build a Claim from a schema-valid native dict.

    The per-line loop is the hot path of every scrub: field names for errors are
    only formatted on the error path, and the dataclasses are built positionally
    (keyword calls cost twice as much); tests pin the field order.
    """
    cid = data["claim_id"]
    get = data.get
    claim_pos = get("place_of_service")
    lines: list[Line] = []
    append = lines.append
    for i, ld in enumerate(data["lines"]):
        line_get = ld.get
        raw = ld["from_date"]
        from_date = _calendar_date(raw) if isinstance(raw, str) else None
        if from_date is None:
            raise _bad_date(raw, cid, f"lines[{i}].from_date")
        sequence = ld["sequence"]
        if type(sequence) is not int:  # 2.0 is an integer to JSON Schema; the model holds ints
            sequence = int(sequence)
        code = ld["code"].upper()
        units = ld["units"]
        if type(units) is not int or not -MAX_QUANTITY <= units <= MAX_QUANTITY:
            units = _units(units, cid, f"lines[{i}].units")
        charge = ld["charge"]  # to_cents inlined for the two common shapes; it names the field of a bad amount
        if type(charge) is str:
            try:
                charge_cents = _text_cents(charge)
            except _BadAmount:
                charge_cents = to_cents(charge, cid, f"lines[{i}].charge")  # raises ClaimRejected
        elif type(charge) is int and -_MAX_WHOLE <= charge <= _MAX_WHOLE:
            charge_cents = charge * 100
        else:
            charge_cents = to_cents(charge, cid, f"lines[{i}].charge")
        raw = line_get("to_date")
        if raw:
            to_date = _calendar_date(raw) if isinstance(raw, str) else None
            if to_date is None:
                raise _bad_date(raw, cid, f"lines[{i}].to_date")
        else:
            to_date = from_date
        modifiers = line_get("modifiers", ())
        append(
            Line(  # positional, in field order (see tests/test_normalize_fast.py)
                sequence,
                code,
                units,
                charge_cents,
                from_date,
                to_date,
                tuple([m.upper() for m in modifiers]) if modifiers else tuple(modifiers),
                line_get("place_of_service") or claim_pos,
                _pointers(line_get("diagnosis_pointers", ())),
                line_get("rendering_npi"),
                line_get("revenue_code"),
                line_get("ndc"),
                *(_payment(ld, cid, f"lines[{i}].") if not _PAYMENT_KEYS.isdisjoint(ld) else _NO_PAYMENT),
            )
        )
    if len(lines) > 1:
        seqs = [line.sequence for line in lines]
        if len(set(seqs)) != len(seqs):
            dup = next(s for s in seqs if seqs.count(s) > 1)
            raise ClaimRejected(cid, "lines[].sequence", f"line sequence {dup} appears more than once")
    frequency = get("frequency", "original")
    replaces = get("replaces_claim_id")
    if frequency != "original" and not replaces:
        raise ClaimRejected(cid, "replaces_claim_id", f"a {frequency} claim must name the claim it replaces")
    # each part is built in the order a bad claim has always been reported in (claim_date before birth_date ...)
    patient = data["patient"]
    payer = get("payer") or {}
    claim_type = data["type"]
    claim_date = _opt_date(get("claim_date"), cid, "claim_date")
    payer = Payer(payer.get("type", "other"), payer.get("name"), payer.get("id"))
    billing = _provider(data["billing_provider"])
    if billing is None:
        raise ClaimRejected(cid, "billing_provider", "is required")
    rendering = _provider(get("rendering_provider"))
    patient = Patient(
        patient["id"], patient.get("sex"), _opt_date(patient.get("birth_date"), cid, "patient.birth_date")
    )
    bill_type = get("bill_type")
    admission_date = _opt_date(get("admission_date"), cid, "admission_date")
    discharge_date = _opt_date(get("discharge_date"), cid, "discharge_date")
    diagnoses = [Diagnosis(icd_key(d["code"]), i, d.get("poa")) for i, d in enumerate(get("diagnoses", ()), 1)]
    return Claim(  # positional, in field order (keywords cost 2.5x for 17 fields)
        cid,  # claim_id
        claim_type,  # type
        patient,
        billing,  # billing_provider
        lines,
        diagnoses,
        frequency,
        replaces,  # replaces_claim_id
        claim_date,
        payer,
        rendering,  # rendering_provider
        claim_pos,  # place_of_service
        bill_type,
        admission_date,
        discharge_date,
        list(get("encounters", ())),  # encounters
        source,
        *(_payment(data, cid, "") if not _PAYMENT_KEYS.isdisjoint(data) else _NO_PAYMENT),
    )


_PAYMENT_KEYS = frozenset(("allowed_amount", "paid_amount", "paid_date", "adjustments", "remark_codes"))
_NO_PAYMENT = (None, None, None, (), ())


def _opt_cents(value: Any, claim_id: str, field: str) -> int | None:
    return None if value is None else to_cents(value, claim_id, field)


def _payment(data: dict[str, Any], cid: str, prefix: str) -> tuple:
    """allowed, paid, paid date, adjustments and remark codes of a claim or a line, in Line/Claim field order."""
    get = data.get
    adjustments = tuple(
        Adjustment(
            a["group"],
            a["reason"],
            to_cents(a["amount"], cid, f"{prefix}adjustments[{k}].amount"),
            None if a.get("quantity") is None else _units(a["quantity"], cid, f"{prefix}adjustments[{k}].quantity"),
        )
        for k, a in enumerate(get("adjustments", ()))
    )
    return (
        _opt_cents(get("allowed_amount"), cid, f"{prefix}allowed_amount"),
        _opt_cents(get("paid_amount"), cid, f"{prefix}paid_amount"),
        _opt_date(get("paid_date"), cid, f"{prefix}paid_date"),
        adjustments,
        tuple(get("remark_codes", ())),
    )
