"""The universe: one row per sampling unit (claim, line or beneficiary) with what was paid.

The frame is the list a sample is drawn from, so its order and bytes are fixed: units are sorted
by claim id (then line number; beneficiaries by patient id, code-point order), written as CSV with
``\\n`` line ends and money as exact decimal strings, and the SHA-256 of those bytes is the frame's
identity (``frame.sha256``, ``design.yaml``). Units paid zero or less, or with no paid amount, are
not sampled (a review cannot recover what was not paid): they go to ``excluded.csv`` with the
reason, as auditors list them. The frame is built from native-claim-shaped dicts (what every
reader yields) without normalising the whole claim: framing a million claims must take seconds.
"""

from __future__ import annotations

import csv
import hashlib
import io
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claimscrub.audit.money import MoneyError, cents_of, dollars
from claimscrub.inputs.base import InputItem

UNITS = ("claim", "line", "beneficiary")
FRAME_COLUMNS = [
    "position",
    "unit_id",
    "claim_id",
    "line",
    "patient_id",
    "provider_npi",
    "from_date",
    "to_date",
    "paid_amount",
]
EXCLUDED_COLUMNS = [*FRAME_COLUMNS, "reason"]


@dataclass(slots=True)
class FrameUnit:
    unit_id: str
    claim_id: str
    line: int | None
    patient_id: str
    provider_npi: str
    from_date: str
    to_date: str
    paid_cents: int | None  # None: no paid amount known (excluded)
    reason: str = ""  # why excluded; empty for a unit in the frame


@dataclass(slots=True)
class Frame:
    unit: str
    units: list[FrameUnit]
    excluded: list[FrameUnit]
    out_of_scope: int = 0  # claims outside the --provider / date filter (not in the universe at all)
    sources: list[str] = field(default_factory=list)

    @property
    def paid_total_cents(self) -> int:
        return sum(u.paid_cents or 0 for u in self.units)

    @property
    def excluded_paid_cents(self) -> int:
        return sum(u.paid_cents or 0 for u in self.excluded)


@dataclass(frozen=True, slots=True)
class Scope:
    """Which claims belong to the universe: a billing provider and a first-service-date window."""

    provider_npi: str | None = None
    date_from: str | None = None
    date_to: str | None = None

    def holds(self, npi: str, from_date: str) -> bool:
        if self.provider_npi and npi != self.provider_npi:
            return False
        if self.date_from and from_date < self.date_from:
            return False
        return not (self.date_to and from_date > self.date_to)


def _text(value: Any) -> str:
    return sys.intern(value) if isinstance(value, str) else ""


def _paid(raw: dict[str, Any], what: str) -> tuple[int | None, str]:
    value = raw.get("paid_amount")
    if value is None:
        return None, f"no {what} paid amount"
    try:
        return cents_of(value), ""
    except MoneyError as exc:
        return None, f"{what} paid_amount: {exc}"


def _claim_units(data: dict[str, Any], unit: str) -> list[FrameUnit]:
    """The claim as one unit, or its lines as units (written for speed: a frame may hold millions)."""
    claim_id = str(data.get("claim_id") or "")
    patient = data.get("patient")
    provider = data.get("billing_provider")
    patient_id = _text(patient.get("id")) if isinstance(patient, dict) else ""
    npi = _text(provider.get("npi")) if isinstance(provider, dict) else ""
    lines = [ln for ln in data.get("lines") or () if isinstance(ln, dict)]
    if unit == "line":
        out = []
        for ln in lines:
            start = _text(ln.get("from_date"))
            paid, why = _paid(ln, "line")
            seq = ln.get("sequence") if isinstance(ln.get("sequence"), int) else None
            out.append(
                FrameUnit(
                    f"{claim_id}:{seq}",
                    claim_id,
                    seq,
                    patient_id,
                    npi,
                    start,
                    _text(ln.get("to_date") or start),
                    paid,
                    why,
                )
            )
        return out
    first = last = ""
    for ln in lines:
        begin = ln.get("from_date")
        if isinstance(begin, str):
            end = ln.get("to_date")
            end = end if isinstance(end, str) and end else begin
            first = begin if not first or begin < first else first
            last = max(last, end)
    paid, why = _paid(data, "claim")
    if paid is None and why.startswith("no ") and any("paid_amount" in ln for ln in lines):
        try:  # the claim's payment is the sum of its lines' when only lines say it
            paid, why = sum(cents_of(ln.get("paid_amount") or 0) for ln in lines), ""
        except MoneyError as exc:
            paid, why = None, f"line paid_amount: {exc}"
    return [FrameUnit(claim_id, claim_id, None, patient_id, npi, _text(first), _text(last), paid, why)]


def _by_beneficiary(claims: list[FrameUnit]) -> list[FrameUnit]:
    groups: dict[str, list[FrameUnit]] = {}
    for c in claims:
        groups.setdefault(c.patient_id, []).append(c)
    out = []
    for patient, members in groups.items():
        unknown = [c for c in members if c.paid_cents is None]
        paid = None if unknown else sum(c.paid_cents or 0 for c in members)
        out.append(
            FrameUnit(
                patient,
                ";".join(sorted(c.claim_id for c in members)),
                None,
                patient,
                ";".join(sorted({c.provider_npi for c in members})),
                min(c.from_date for c in members),
                max(c.to_date for c in members),
                paid,
                unknown[0].reason if unknown else "",
            )
        )
    return out


def build_frame(items: Iterable[InputItem], unit: str = "claim", scope: Scope = Scope()) -> Frame:
    """The universe of ``items``: units in frame order, and every excluded unit with its reason."""
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {', '.join(UNITS)}")
    units: list[FrameUnit] = []
    unreadable: list[FrameUnit] = []
    out_of_scope = 0
    for item in items:
        if item.data is None:
            cid = item.claim_id or item.source
            unreadable.append(
                FrameUnit(cid, item.claim_id or "", None, "", "", "", "", None, f"unreadable claim: {item.error}")
            )
            continue
        for u in _claim_units(item.data, unit):
            if scope.holds(u.provider_npi, u.from_date):
                units.append(u)
            else:
                out_of_scope += 1
    if unit == "beneficiary":
        units = _by_beneficiary(units)
    units.sort(key=lambda u: (u.claim_id, u.line or 0) if unit != "beneficiary" else (u.unit_id,))
    kept: list[FrameUnit] = []
    excluded = unreadable
    seen: set[str] = set()
    for u in units:
        if not u.claim_id:
            u.reason = "no claim id"
        elif u.unit_id in seen:
            u.reason = "duplicate unit id (the first one read is in the frame)"
        elif not u.reason and u.paid_cents is not None and u.paid_cents <= 0:
            u.reason = "paid zero or negative"
        seen.add(u.unit_id)
        (excluded if u.reason else kept).append(u)
    return Frame(unit, kept, excluded, out_of_scope)


def _row(position: int | str, u: FrameUnit) -> list[str]:
    return [
        str(position),
        u.unit_id,
        u.claim_id,
        "" if u.line is None else str(u.line),
        u.patient_id,
        u.provider_npi,
        u.from_date,
        u.to_date,
        "" if u.paid_cents is None else dollars(u.paid_cents),
    ]


def frame_bytes(units: list[FrameUnit]) -> bytes:
    """The canonical frame.csv: the bytes the frame's hash is taken over."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(FRAME_COLUMNS)
    writer.writerows(_row(i, u) for i, u in enumerate(units, 1))
    return buf.getvalue().encode()


def excluded_bytes(units: list[FrameUnit]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(EXCLUDED_COLUMNS)
    writer.writerows([*_row("", u), u.reason] for u in units)
    return buf.getvalue().encode()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_frame(folder: Path, frame: Frame) -> str:
    """Write frame.csv, frame.sha256 (``sha256sum -c`` format) and excluded.csv; the frame's hash."""
    data = frame_bytes(frame.units)
    (folder / "frame.csv").write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    (folder / "frame.sha256").write_text(f"{digest}  frame.csv\n")
    (folder / "excluded.csv").write_bytes(excluded_bytes(frame.excluded))
    return digest


@dataclass(slots=True)
class FrameTable:
    """frame.csv read back for sampling: columns as lists, position i at index i - 1."""

    unit_ids: list[str]
    claim_ids: list[str]
    lines: list[str]
    paid_cents: list[int]


def read_frame(path: Path) -> FrameTable:
    table = FrameTable([], [], [], [])
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        if next(reader, None) != FRAME_COLUMNS:
            raise ValueError(f"{path.name}: not a frame (header differs from {','.join(FRAME_COLUMNS)})")
        for number, row in enumerate(reader, 1):
            if len(row) != len(FRAME_COLUMNS) or row[0] != str(number):
                raise ValueError(f"{path.name}: row {number + 1} is malformed or out of order")
            table.unit_ids.append(row[1])
            table.claim_ids.append(row[2])
            table.lines.append(row[3])
            table.paid_cents.append(cents_of(row[8]))
    return table
