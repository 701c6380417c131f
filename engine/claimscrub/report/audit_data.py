"""An audit folder read into typed records for the report (the folder contract of issue #11).

The report never recomputes the statistics: every figure comes from ``appraisal.json`` as the
audit workflow wrote it, so the report and the appraisal cannot disagree. What is joined here is
the per-claim detail: ``review.json`` (claims, lines, findings), ``determinations.csv`` (the
current determination and QA verdict of each line) and ``frame.csv`` (the patient id as given).
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from claimscrub import yamlio
from claimscrub.report import ReportError

REQUIRED = ("design.yaml", "review.json", "appraisal.json")


@dataclass(frozen=True, slots=True)
class Determination:
    """The reviewer's current call on one sampled line, and QA's verdict on it."""

    determination: str  # correct | overpaid | underpaid | not_reviewed
    error_category: str
    amount: Decimal | None
    reason: str
    reviewer: str
    qa_verdict: str  # agree | disagree | ""
    qa_reviewer: str
    qa_note: str


NOT_REVIEWED = Determination("not_reviewed", "", None, "", "", "", "", "")


@dataclass(frozen=True, slots=True)
class AuditLine:
    sequence: int
    code: str
    modifiers: tuple[str, ...]
    units: Any
    charge: Decimal | None
    paid_amount: Decimal | None
    allowed_amount: Decimal | None
    findings: tuple[dict[str, Any], ...]
    determination: Determination


@dataclass(frozen=True, slots=True)
class AuditClaim:
    claim_id: str
    unit_id: str
    sample_no: int
    stratum: Any
    status: str  # scrubbed | rejected
    reason: str
    payer: str
    provider_npi: str
    patient_id: str
    from_date: str
    paid_amount: Decimal | None
    lines: tuple[AuditLine, ...]
    claim_findings: tuple[dict[str, Any], ...]  # findings about the whole claim (no line)

    @property
    def findings(self) -> int:
        return len(self.claim_findings) + sum(len(line.findings) for line in self.lines)

    def total(self, determination: str) -> Decimal:
        return sum(
            (
                ln.determination.amount or Decimal(0)
                for ln in self.lines
                if ln.determination.determination == determination
            ),
            Decimal(0),
        )

    @property
    def in_error(self) -> bool:
        return any(ln.determination.determination in ("overpaid", "underpaid") for ln in self.lines)


@dataclass(frozen=True, slots=True)
class Audit:
    folder: Path
    design: dict[str, Any]
    appraisal: dict[str, Any]
    claims: tuple[AuditClaim, ...]
    em_levels: tuple[dict[str, Any], ...]
    rule_packs: dict[str, str]
    data_editions: dict[str, Any]
    frame_hash_ok: bool | None  # frame.csv hashes to design.yaml's sha256 (None: no frame.csv to check)
    frame_period: tuple[str, str] | None = None  # first and last date of service in frame.csv
    notes: tuple[str, ...] = field(default=())  # what was missing or could not be read, said in the report

    @property
    def sample(self) -> dict[str, Any]:
        return self.design.get("sample") or self.appraisal.get("design") or {}

    @property
    def providers(self) -> list[str]:
        return sorted({c.provider_npi for c in self.claims if c.provider_npi})

    @property
    def sample_period(self) -> tuple[str, str] | None:
        dates = sorted(c.from_date for c in self.claims if c.from_date)
        return (dates[0], dates[-1]) if dates else None


def money(value: Any) -> Decimal | None:
    """A contract money value (decimal string) as Decimal; None when absent or not a number."""
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def load_audit(folder: str | Path) -> Audit:
    """Read an audit folder; a missing required file is a :class:`ReportError` naming it."""
    root = Path(folder)
    missing = [name for name in REQUIRED if not (root / name).is_file()]
    if missing:
        raise ReportError(
            f"{root}: not an appraised audit folder (missing {', '.join(missing)}); "
            f"run 'claimscrub audit appraise' first"
        )
    design = _mapping(yamlio.safe_load(_read(root / "design.yaml")), "design.yaml")
    review = _mapping(_json(root / "review.json"), "review.json")
    appraisal = _mapping(_json(root / "appraisal.json"), "appraisal.json")
    notes: list[str] = []
    determinations = _determinations(root / "determinations.csv", notes)
    patients, frame_period = _frame(root / "frame.csv")
    claims = [_claim(c, determinations, patients) for c in review.get("claims") or [] if isinstance(c, Mapping)]
    claims.sort(key=lambda c: c.sample_no)
    return Audit(
        folder=root,
        design=design,
        appraisal=appraisal,
        claims=tuple(claims),
        em_levels=tuple(dict(e) for e in review.get("em_levels") or [] if isinstance(e, Mapping)),
        rule_packs=dict(review.get("rule_packs") or appraisal.get("rule_packs") or {}),
        data_editions=dict(review.get("data_editions") or appraisal.get("data_editions") or {}),
        frame_hash_ok=_frame_hash_ok(root, design),
        frame_period=frame_period,
        notes=tuple(notes),
    )


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path.name}: cannot be read ({exc.__class__.__name__})") from None


def _json(path: Path) -> Any:
    try:
        return json.loads(_read(path))
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path.name}: not valid JSON (line {exc.lineno})") from None


def _mapping(data: Any, name: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ReportError(f"{name}: expected a mapping at the top")
    return data


def _determinations(path: Path, notes: list[str]) -> dict[tuple[str, int], Determination]:
    if not path.is_file():
        notes.append("determinations.csv is missing: every line is shown as not reviewed")
        return {}
    out = {}
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            try:
                key = (row["claim_id"], int(row["line"]))
            except (KeyError, TypeError, ValueError):
                notes.append("determinations.csv: a row without a claim_id and line number was left out")
                continue
            out[key] = Determination(
                determination=row.get("determination") or "not_reviewed",
                error_category=row.get("error_category") or "",
                amount=money(row.get("amount")),
                reason=row.get("reason") or "",
                reviewer=row.get("reviewer") or "",
                qa_verdict=row.get("qa_verdict") or "",
                qa_reviewer=row.get("qa_reviewer") or "",
                qa_note=row.get("qa_note") or "",
            )
    return out


def _frame(path: Path) -> tuple[dict[str, str], tuple[str, str] | None]:
    """claim id -> patient id as the frame gives it (ids, never names), and the frame's dates of service."""
    if not path.is_file():
        return {}, None
    patients: dict[str, str] = {}
    dates: list[str] = []
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row.get("claim_id"):
                patients[row["claim_id"]] = row.get("patient_id") or ""
            dates.extend(d for d in (row.get("from_date"), row.get("to_date")) if d)
    return patients, ((min(dates), max(dates)) if dates else None)


def _frame_hash_ok(root: Path, design: dict[str, Any]) -> bool | None:
    frame = design.get("frame") or {}
    path = root / str(frame.get("file") or "frame.csv")
    if not path.is_file() or not frame.get("sha256"):
        return None
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest() == str(frame["sha256"]).lower()


def _claim(
    c: Mapping[str, Any], determinations: dict[tuple[str, int], Determination], patients: dict[str, str]
) -> AuditClaim:
    claim_id = str(c.get("claim_id") or "")
    findings = [f for f in c.get("findings") or [] if isinstance(f, Mapping)]
    sequences = {ln.get("sequence") for ln in c.get("lines") or []}
    lines = []
    for ln in c.get("lines") or []:
        seq = int(ln.get("sequence") or 0)
        lines.append(
            AuditLine(
                sequence=seq,
                code=str(ln.get("code") or ""),
                modifiers=tuple(ln.get("modifiers") or ()),
                units=ln.get("units"),
                charge=money(ln.get("charge")),
                paid_amount=money(ln.get("paid_amount")),
                allowed_amount=money(ln.get("allowed_amount")),
                findings=tuple(dict(f) for f in findings if f.get("line") == seq),
                determination=determinations.get((claim_id, seq), NOT_REVIEWED),
            )
        )
    return AuditClaim(
        claim_id=claim_id,
        unit_id=str(c.get("unit_id") or claim_id),
        sample_no=int(c.get("sample_no") or 0),
        stratum=c.get("stratum"),
        status=str(c.get("status") or ""),
        reason=str(c.get("reason") or ""),
        payer=str(c.get("payer") or ""),
        provider_npi=str(c.get("provider_npi") or ""),
        patient_id=patients.get(claim_id, ""),
        from_date=str(c.get("from_date") or ""),
        paid_amount=money(c.get("paid_amount")),
        lines=tuple(lines),
        claim_findings=tuple(dict(f) for f in findings if f.get("line") not in sequences),
    )
