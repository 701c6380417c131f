"""The worksheet the auditor completes: written as CSV and XLSX, read back and validated as a whole.

An import either applies every edit or none: each bad cell is named by sheet, row and column (the
spreadsheet's own numbering, header = row 1) and nothing is recorded until the file is clean.
Only the auditor's columns (determination, error_category, amount, reason; qa_verdict and qa_note
for a QA pass) are read; the key columns must match the review's rows.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from claimscrub.audit.money import MoneyError, cents_of
from claimscrub.audit.proposals import CERT_CATEGORIES, DETERMINATIONS
from claimscrub.audit.review import WORKSHEET_COLUMNS

SHEET = "worksheet"
KEY = ("sample_no", "claim_id", "line")
QA_VERDICTS = ("agree", "disagree")


class WorksheetError(Exception):
    """The worksheet cannot be imported; ``problems`` names every bad cell."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(
            f"{len(problems)} problem(s) in the worksheet; nothing was imported:\n  " + "\n  ".join(problems)
        )


def worksheet_csv(rows: list[dict[str, str]]) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, WORKSHEET_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode()


def write_xlsx(path: Path, rows: list[dict[str, str]]) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.worksheet.datavalidation import DataValidation

    book = Workbook()
    sheet = book.active
    sheet.title = SHEET
    sheet.append(WORKSHEET_COLUMNS)
    for row in rows:
        sheet.append([row.get(c, "") for c in WORKSHEET_COLUMNS])
    sheet.freeze_panes = "A2"
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for i, name in enumerate(WORKSHEET_COLUMNS):
        wide = name in ("findings", "citations", "proposed_basis", "reason", "qa_note")
        sheet.column_dimensions[_letter(i)].width = 60 if wide else max(10, len(name) + 2)
        if wide:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=i + 1, max_col=i + 1):
                cell.alignment = Alignment(wrap_text=True, vertical="top")
    last = len(rows) + 1
    for column, choices in (
        ("determination", DETERMINATIONS),
        ("error_category", CERT_CATEGORIES),
        ("qa_verdict", QA_VERDICTS),
    ):
        letter = _letter(WORKSHEET_COLUMNS.index(column))
        rule = DataValidation(type="list", formula1='"' + ",".join(choices) + '"', allow_blank=True)
        sheet.add_data_validation(rule)
        rule.add(f"{letter}2:{letter}{max(last, 2)}")
    book.save(path)


def _letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)


@dataclass(frozen=True, slots=True)
class Cell:
    where: str  # "sheet 'worksheet', row 5, column amount (S)"
    value: str


def read_rows(path: Path, qa: bool = False) -> tuple[str, list[dict[str, Cell]]]:
    """The file's rows as column -> cell (value and where it is); CSV or XLSX by suffix. A QA file needs
    only the key columns and qa_verdict (qa_note optional)."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        book = load_workbook(path, read_only=True, data_only=True)
        if SHEET not in book.sheetnames:
            raise WorksheetError([f"{path.name}: no sheet named '{SHEET}'"])
        raw = [["" if v is None else _cell_text(v) for v in r] for r in book[SHEET].iter_rows(values_only=True)]
        book.close()
        label = f"sheet '{SHEET}'"
    else:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            raw = list(csv.reader(fh))
        label = path.name
    if not raw:
        raise WorksheetError([f"{path.name}: empty"])
    header = [h.strip() for h in raw[0]]
    needed = (*KEY, "qa_verdict") if qa else (*KEY, "determination", "error_category", "amount", "reason")
    missing = [c for c in needed if c not in header]
    if missing:
        raise WorksheetError([f"{label}, row 1: missing column(s) {', '.join(missing)}"])
    rows = []
    for number, values in enumerate(raw[1:], 2):
        if not any(str(v).strip() for v in values):
            continue
        rows.append(
            {
                name: Cell(
                    f"{label}, row {number}, column {name} ({_letter(i)})",
                    str(values[i]).strip() if i < len(values) else "",
                )
                for i, name in enumerate(header)
                if name
            }
        )
    return label, rows


def _cell_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True, slots=True)
class Edit:
    key: tuple[str, str, str]
    values: dict[str, str]  # the auditor's columns, normalised


def validate_review(rows: list[dict[str, Cell]], known: dict[tuple[str, str, str], int]) -> list[Edit]:
    """Check every row; ``known`` maps each review key to its line's paid cents (an overpayment's ceiling)."""
    problems: list[str] = []
    edits: list[Edit] = []
    seen: set[tuple[str, str, str]] = set()
    for row in rows:
        key = tuple(row[k].value if k in row else "" for k in KEY)
        if key not in known:
            problems.append(
                f"{row['claim_id'].where}: no sampled line {key[1]} line {key[2] or '-'} "
                f"with sample_no {key[0]} in this review (key columns must not be edited)"
            )
            continue
        if key in seen:
            problems.append(f"{row['sample_no'].where}: the line appears twice")
            continue
        seen.add(key)
        determination = row["determination"].value.lower()
        category = row["error_category"].value.lower()
        amount_text = row["amount"].value
        bad = len(problems)
        if determination and determination not in DETERMINATIONS:
            problems.append(
                f"{row['determination'].where}: '{determination}' is not one of {', '.join(DETERMINATIONS)}"
            )
        if category and category not in CERT_CATEGORIES:
            problems.append(f"{row['error_category'].where}: '{category}' is not one of {', '.join(CERT_CATEGORIES)}")
        cents = 0
        if amount_text:
            try:
                cents = cents_of(amount_text)
                if cents < 0:
                    raise MoneyError("negative (give underpayments as positive dollars with 'underpaid')")
            except MoneyError as exc:
                problems.append(f"{row['amount'].where}: '{amount_text}' is not a dollar amount ({exc})")
        if len(problems) == bad and determination in ("overpaid", "underpaid"):
            if not category:
                problems.append(f"{row['error_category'].where}: required when the line is {determination}")
            if cents <= 0:
                problems.append(f"{row['amount'].where}: an {determination} line needs an amount above 0")
            if determination == "overpaid" and cents > known[key]:
                problems.append(f"{row['amount'].where}: {amount_text} is more than the line's paid amount")
        if len(problems) == bad and determination == "correct" and (cents or category):
            problems.append(f"{row['determination'].where}: a correct line takes no amount or error category")
        if len(problems) == bad and determination:
            edits.append(
                Edit(
                    key,
                    {
                        "determination": determination,
                        "error_category": category,
                        "amount": f"{cents / 100:.2f}" if determination in ("overpaid", "underpaid") else "",
                        "reason": row["reason"].value,
                    },
                )
            )
    if problems:
        raise WorksheetError(problems)
    return edits


def validate_qa(rows: list[dict[str, Cell]], known: dict[tuple[str, str, str], int]) -> list[Edit]:
    problems: list[str] = []
    edits: list[Edit] = []
    for row in rows:
        key = tuple(row[k].value if k in row else "" for k in KEY)
        verdict = row["qa_verdict"].value.lower()
        if key not in known:
            problems.append(f"{row['claim_id'].where}: not a sampled line of this review")
        elif verdict and verdict not in QA_VERDICTS:
            problems.append(f"{row['qa_verdict'].where}: '{verdict}' is not agree or disagree")
        elif verdict:
            note = row["qa_note"].value if "qa_note" in row else ""
            if verdict == "disagree" and not note:
                problems.append(
                    f"{row['qa_note'].where if 'qa_note' in row else row['qa_verdict'].where}: "
                    "a disagreement needs a note saying why"
                )
                continue
            edits.append(Edit(key, {"qa_verdict": verdict, "qa_note": note}))
    if problems:
        raise WorksheetError(problems)
    return edits
