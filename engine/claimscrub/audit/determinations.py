"""The determinations: the current state per sampled line (determinations.csv) and the append-only log.

Every change is one JSON line in determinations.jsonl (when, who, which kind of step, which line,
which field, before, after); the log is only ever appended to, so the history of each figure in the
appraisal can be read back. determinations.csv is the state the log leads to.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from claimscrub.audit.design import AuditError, now_iso
from claimscrub.audit.worksheet import Edit

STATE_COLUMNS = [
    "sample_no",
    "stratum",
    "unit_id",
    "claim_id",
    "line",
    "code",
    "paid_amount",
    "determination",
    "error_category",
    "amount",
    "reason",
    "reviewer",
    "qa_verdict",
    "qa_reviewer",
    "qa_note",
]
REVIEW_FIELDS = ("determination", "error_category", "amount", "reason")
QA_FIELDS = ("qa_verdict", "qa_note")

Key = tuple[str, str, str]


def _line(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def key_of(row: dict[str, str]) -> Key:
    return (row["sample_no"], row["claim_id"], row["line"])


def initial_state(rows: Iterable[dict[str, str]]) -> list[dict[str, str]]:
    return [{c: row.get(c, "") for c in STATE_COLUMNS} | {"determination": "not_reviewed"} for row in rows]


def write_state(folder: Path, state: list[dict[str, str]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, STATE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(state)
    (folder / "determinations.csv").write_text(buf.getvalue())


def read_state(folder: Path) -> list[dict[str, str]]:
    path = folder / "determinations.csv"
    if not path.is_file():
        raise AuditError("no determinations yet: run 'claimscrub audit review DIR CLAIMS...' first")
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def append_log(folder: Path, entries: list[dict[str, Any]]) -> None:
    with open(folder / "determinations.jsonl", "ab") as fh:
        fh.writelines(orjson.dumps(entry) + b"\n" for entry in entries)


def read_log(folder: Path) -> list[dict[str, Any]]:
    path = folder / "determinations.jsonl"
    if not path.is_file():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def proposed_entries(rows: Iterable[dict[str, str]], by: str, at: str | None = None) -> list[dict[str, Any]]:
    at = at or now_iso()
    return [
        {
            "at": at,
            "by": by,
            "kind": "proposed",
            "claim_id": r["claim_id"],
            "line": _line(r["line"]),
            "field": name,
            "before": None,
            "after": r[f"proposed_{name}"],
        }
        for r in rows
        for name in ("determination", "category", "amount")
    ]


def apply_edits(
    state: list[dict[str, str]], edits: list[Edit], kind: str, by: str, at: str | None = None
) -> list[dict[str, Any]]:
    """Apply review or QA edits to ``state`` in place; the log entries of what changed."""
    at = at or now_iso()
    by_key = {key_of(row): row for row in state}
    who = "reviewer" if kind == "review" else "qa_reviewer"
    entries: list[dict[str, Any]] = []
    if kind == "qa":
        same = [e.key for e in edits if by_key[e.key]["reviewer"] == by]
        if same:
            raise AuditError(f"{by} reviewed {len(same)} of these lines: a QA peer review needs a second reviewer")

    def change(row: dict[str, Any], name: str, after: str) -> None:
        entries.append(
            {
                "at": at,
                "by": by,
                "kind": kind,
                "claim_id": row["claim_id"],
                "line": _line(row["line"]),
                "field": name,
                "before": row[name] or None,
                "after": after or None,
            }
        )
        row[name] = after

    for edit in edits:
        row = by_key[edit.key]
        changed = False
        for name, after in edit.values.items():
            if row[name] != after:
                change(row, name, after)
                changed = True
        if changed and row[who] != by:
            change(row, who, by)
    return entries


def proposals_as_edits(rows: Iterable[dict[str, str]]) -> list[Edit]:
    """The proposals taken as the reviewer's determinations (lines proposed not_reviewed stay so)."""
    out = []
    for r in rows:
        if r["proposed_determination"] == "not_reviewed":
            continue
        amount = r["proposed_amount"] if r["proposed_determination"] in ("overpaid", "underpaid") else ""
        out.append(
            Edit(
                key_of(r),
                {
                    "determination": r["proposed_determination"],
                    "error_category": r["proposed_category"],
                    "amount": amount,
                    "reason": "proposed: " + r["proposed_basis"],
                },
            )
        )
    return out


def disagreements(state: list[dict[str, str]]) -> list[dict[str, str]]:
    return [row for row in state if row.get("qa_verdict") == "disagree"]
