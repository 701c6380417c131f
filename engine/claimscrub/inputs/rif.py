"""CMS claim extracts in the RIF layout (CCW / Blue Button): carrier and outpatient claims with payments.

A RIF file is ``|``-separated text with a header row and one row per claim
line; the rows of one claim share its ``CLM_ID`` and repeat its claim-level
columns. The file is recognised by that header (``CLM_ID`` and ``CLM_PMT_AMT``
with ``HCPCS_CD``). Carrier claims become professional claims (the columns of
``LINE_NUM``), outpatient claims institutional ones (``CLM_LINE_NUM``,
``REV_CNTR``). Column mapping (claim level from the claim's first row):

| native field | carrier | outpatient |
|---|---|---|
| claim_id | CLM_ID | CLM_ID |
| patient.id | BENE_ID | BENE_ID |
| payer | medicare, id CARR_NUM | medicare, id FI_NUM |
| billing_provider.npi | CARR_CLM_BLG_NPI_NUM, else ORG_NPI_NUM | ORG_NPI_NUM |
| rendering_provider.npi | (per line) | AT_PHYSN_NPI |
| bill_type | | 0 + CLM_FAC_TYPE_CD + CLM_SRVC_CLSFCTN_TYPE_CD + CLM_FREQ_CD |
| place_of_service | the first line's LINE_PLACE_OF_SRVC_CD | |
| diagnoses | PRNCPAL_DGNS_CD, ICD_DGNS_CD1-12 (duplicates once) | PRNCPAL_DGNS_CD, ICD_DGNS_CD1-25 |
| paid_amount, allowed_amount | CLM_PMT_AMT, NCH_CARR_CLM_ALOWD_AMT | CLM_PMT_AMT |
| paid_date | NCH_WKLY_PROC_DT (the week CMS processed the claim) | NCH_WKLY_PROC_DT |
| lines[].sequence | LINE_NUM | CLM_LINE_NUM |
| lines[].code, modifiers | HCPCS_CD, HCPCS_1ST/2ND_MDFR_CD | same |
| lines[].revenue_code | | REV_CNTR |
| lines[].units | LINE_SRVC_CNT | REV_CNTR_UNIT_CNT |
| lines[].charge | LINE_SBMTD_CHRG_AMT | REV_CNTR_TOT_CHRG_AMT |
| lines[].from_date, to_date | LINE_1ST_EXPNS_DT, LINE_LAST_EXPNS_DT | REV_CNTR_DT, else CLM_FROM_DT/CLM_THRU_DT |
| lines[].place_of_service | LINE_PLACE_OF_SRVC_CD | |
| lines[].rendering_npi | PRF_PHYSN_NPI | RNDRNG_PHYSN_NPI |
| lines[].diagnosis_pointers | LINE_ICD_DGNS_CD's place in diagnoses (added to them when missing) | |
| lines[].ndc | LINE_NDC_CD | REV_CNTR_IDE_NDC_UPC_NUM |
| lines[].paid_amount | LINE_NCH_PMT_AMT | REV_CNTR_PMT_AMT_AMT |
| lines[].allowed_amount | LINE_ALOWD_CHRG_AMT | |
| lines[].adjustments | PR 1 = LINE_BENE_PTB_DDCTBL_AMT, PR 2 = LINE_COINSRNC_AMT (when not zero) | PR 1 = REV_CNTR_CASH_DDCTBL_AMT, PR 2 = REV_CNTR_COINSRNC_WGE_ADJSTD_C |

Dates are read as DD-MON-YYYY (``27-OCT-1999``), YYYYMMDD or ISO. An NPI that is
not 10 digits (or is all zeros) is left out. A line without a HCPCS code cannot
be scrubbed and is left out with a note (CS-RIF-001); revenue code 0001 is the
UB-04 total line and is left out when the claim has other lines. The claim's
paid amount stays the one the file states (CLM_PMT_AMT), whatever lines are
left out, so a universe's totals match the file. A claim whose id, paid amount
or dates cannot be read is rejected naming the row and column; other claims go on.
Messages never carry beneficiary ids, only column names, row numbers and claim ids.
"""

from __future__ import annotations

import csv
import datetime as _dt
import functools
import io
import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from claimscrub.inputs.base import InputFormatError, InputItem, Note
from claimscrub.model.numbers import MAX_QUANTITY, NumberError, exact_number

_CARRIER = "LINE_NUM"
_OUTPATIENT = "CLM_LINE_NUM"
_MONTHS = {
    m: i for i, m in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1)
}
_MONEY = re.compile(r"-?[0-9]{1,9}(\.[0-9]{1,2})?")
_NPI = re.compile(r"[0-9]{10}")
_ICD10 = re.compile(r"[A-Z][0-9][0-9A-Z][0-9A-Z]{0,4}")
_PROC = re.compile(r"[0-9A-Za-z]{1,48}")
_MOD = re.compile(r"[0-9A-Za-z]{2}")
_POS = re.compile(r"[0-9]{2}")
_REVENUE = re.compile(r"[0-9]{4}")
DROPPED = "CS-RIF-001"
_CITATION = "CMS Chronic Conditions Data Warehouse (CCW) RIF codebooks: carrier and outpatient claims"


class _Bad(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def _note(message: str, field: str | None = None) -> Note:
    return Note(
        DROPPED, "claim_integrity", "warning", "RIF extract value left out", message,
        "Nothing to correct in the claim as billed; check the extract if the value matters to the review.",
        _CITATION, None, field,
    )  # fmt: skip


def _header(data: bytes) -> list[str]:
    first = data[:8192].lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0].rstrip(b"\r")
    return first.decode("latin-1").split("|")


def is_rif(head: bytes) -> bool:
    """True when the first line is a RIF header: ``|``-separated with CLM_ID, CLM_PMT_AMT and HCPCS_CD."""
    columns = set(_header(head))
    return {"CLM_ID", "CLM_PMT_AMT", "HCPCS_CD"} <= columns and bool({_CARRIER, _OUTPATIENT} & columns)


@functools.lru_cache(maxsize=8192)
def _iso(raw: str) -> str | None:
    """DD-MON-YYYY, YYYYMMDD or ISO -> ISO date; None when not a calendar date (cached: an extract repeats dates)."""
    text = raw.strip()
    try:
        if len(text) == 11 and text[2] == "-" and text[6] == "-":
            day = _dt.date(int(text[7:]), _MONTHS[text[3:6].upper()], int(text[:2]))
        elif len(text) == 8 and text.isdigit():
            day = _dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
        else:
            day = _dt.date.fromisoformat(text)
    except (KeyError, ValueError):
        return None
    return day.isoformat()


def _date(raw: str, where: str, field: str) -> str:
    day = _iso(raw)
    if day is None:
        raise _Bad(field, f"{where}: not a date (DD-MON-YYYY, YYYYMMDD or YYYY-MM-DD)")
    return day


def _money(raw: str, where: str, field: str) -> str:
    text = raw.strip()
    if _MONEY.fullmatch(text):
        return text
    raise _Bad(field, f"{where}: not an amount with at most two decimals")


def _units(raw: str, where: str, field: str) -> int | float:
    try:
        value = exact_number(raw, MAX_QUANTITY)  # bounded digits and exponent (model/numbers.py)
    except NumberError as exc:
        raise _Bad(field, f"{where}: units {exc.problem}") from None
    if value < 0:
        raise _Bad(field, f"{where}: units must be 0-99999")
    return int(value) if value == value.to_integral_value() else float(value)


def _npi(raw: str) -> str | None:
    text = raw.strip()
    return text if _NPI.fullmatch(text) and text != "0000000000" else None


class _Claim:
    """The rows of one CLM_ID, read into a native claim."""

    def __init__(self, kind: str, rows: list[tuple[int, dict[str, str]]]):
        self.kind = kind
        self.rows = rows
        self.notes: list[Note] = []
        self.first_row = rows[0][0]

    def build(self) -> dict[str, Any]:
        row_no, first = self.rows[0]
        get = first.get
        professional = self.kind == _CARRIER
        claim: dict[str, Any] = {
            "claim_id": get("CLM_ID", ""),
            "type": "professional" if professional else "institutional",
            "patient": {"id": get("BENE_ID", "")},
            "payer": {"type": "medicare"},
            "diagnoses": self.diagnoses(first, 12 if professional else 25),
        }
        payer_id = get("CARR_NUM" if professional else "FI_NUM", "").strip()
        if payer_id:
            claim["payer"]["id"] = payer_id
        billing = _npi(get("CARR_CLM_BLG_NPI_NUM", "")) if professional else None
        billing = billing or _npi(get("ORG_NPI_NUM", ""))
        if billing:
            claim["billing_provider"] = {"npi": billing}
        else:
            self.notes.append(
                _note(
                    f"row {row_no}: no billing provider NPI (CARR_CLM_BLG_NPI_NUM, ORG_NPI_NUM)", "billing_provider.npi"
                )
            )
        if not professional:
            attending = _npi(get("AT_PHYSN_NPI", ""))
            if attending:
                claim["rendering_provider"] = {"npi": attending}
            parts = (get("CLM_FAC_TYPE_CD", ""), get("CLM_SRVC_CLSFCTN_TYPE_CD", ""), get("CLM_FREQ_CD", ""))
            if all(len(p) == 1 and p.isdigit() for p in parts):
                claim["bill_type"] = "0" + "".join(parts)
        claim_from = _date(get("CLM_FROM_DT", ""), f"row {row_no} CLM_FROM_DT", "lines[].from_date")
        claim_thru = _date(get("CLM_THRU_DT", ""), f"row {row_no} CLM_THRU_DT", "lines[].to_date")
        claim["paid_amount"] = _money(get("CLM_PMT_AMT", ""), f"row {row_no} CLM_PMT_AMT", "paid_amount")
        if professional and get("NCH_CARR_CLM_ALOWD_AMT", "").strip():
            self.optional(
                claim,
                "allowed_amount",
                lambda: _money(
                    get("NCH_CARR_CLM_ALOWD_AMT", ""), f"row {row_no} NCH_CARR_CLM_ALOWD_AMT", "allowed_amount"
                ),
            )
        self.optional(
            claim,
            "paid_date",
            lambda: _date(get("NCH_WKLY_PROC_DT", ""), f"row {row_no} NCH_WKLY_PROC_DT", "paid_date"),
        )
        lines = [
            line
            for row, values in self.rows
            if (line := self.line(row, values, claim, (claim_from, claim_thru))) is not None
        ]
        if not professional and any(line.get("revenue_code") != "0001" for line in lines):
            lines = [line for line in lines if line.get("revenue_code") != "0001"]  # 0001: the total line
        claim["lines"] = lines
        if professional and lines and "place_of_service" in lines[0]:
            claim["place_of_service"] = lines[0]["place_of_service"]
        return claim

    def optional(self, target: dict[str, Any], key: str, read: Callable[[], str]) -> None:
        """A value the claim can do without: left out, with a note, when unreadable."""
        try:
            target[key] = read()
        except _Bad as bad:
            self.notes.append(_note(f"{bad.message}; it is left out", bad.field))

    def diagnoses(self, row: dict[str, str], count: int) -> list[dict[str, str]]:
        codes: list[str] = []
        for column in ("PRNCPAL_DGNS_CD", *(f"ICD_DGNS_CD{i}" for i in range(1, count + 1))):
            code = row.get(column, "").strip().replace(".", "").upper()
            if not code or code in codes:
                continue
            if _ICD10.fullmatch(code):
                codes.append(code)
            else:
                message = f"row {self.first_row} {column}: not an ICD-10-CM code; it is left out"
                self.notes.append(_note(message, "diagnoses"))
        return [{"code": code} for code in codes]

    def line(
        self, row: int, values: dict[str, str], claim: dict[str, Any], dates: tuple[str, str]
    ) -> dict[str, Any] | None:
        get = values.get
        professional = self.kind == _CARRIER
        try:
            raw_sequence = get(self.kind, "").strip()
            if not raw_sequence.isdigit() or not 1 <= int(raw_sequence) <= 999:
                raise _Bad("lines[].sequence", f"row {row} {self.kind}: line number must be 1-999")
            code = get("HCPCS_CD", "").strip()
            if not code:
                raise _Bad("lines[].code", f"row {row} HCPCS_CD: no HCPCS code")
            if not _PROC.fullmatch(code):
                raise _Bad("lines[].code", f"row {row} HCPCS_CD: not a HCPCS code")
            line: dict[str, Any] = {"sequence": int(raw_sequence), "code": code}
            modifiers = [m.strip() for m in (get("HCPCS_1ST_MDFR_CD", ""), get("HCPCS_2ND_MDFR_CD", "")) if m.strip()]
            if any(not _MOD.fullmatch(m) for m in modifiers):
                raise _Bad(
                    "lines[].modifiers", f"row {row} HCPCS_1ST/2ND_MDFR_CD: a modifier is not 2 letters or digits"
                )
            if modifiers:
                line["modifiers"] = modifiers
            if professional:
                self.carrier_line(row, get, line, claim)
            else:
                self.outpatient_line(row, get, line, dates)
        except _Bad as bad:
            message = f"{bad.message}; the line is left out (its payment stays in the claim's)"
            self.notes.append(_note(message, bad.field))
            return None
        return line

    def carrier_line(self, row: int, get: Any, line: dict[str, Any], claim: dict[str, Any]) -> None:
        line["units"] = _units(get("LINE_SRVC_CNT", ""), f"row {row} LINE_SRVC_CNT", "lines[].units")
        line["charge"] = _money(get("LINE_SBMTD_CHRG_AMT", ""), f"row {row} LINE_SBMTD_CHRG_AMT", "lines[].charge")
        line["from_date"] = _date(get("LINE_1ST_EXPNS_DT", ""), f"row {row} LINE_1ST_EXPNS_DT", "lines[].from_date")
        line["to_date"] = _date(
            get("LINE_LAST_EXPNS_DT", "") or get("LINE_1ST_EXPNS_DT", ""),
            f"row {row} LINE_LAST_EXPNS_DT",
            "lines[].to_date",
        )
        pos = get("LINE_PLACE_OF_SRVC_CD", "").strip()
        if _POS.fullmatch(pos):
            line["place_of_service"] = pos
        rendering = _npi(get("PRF_PHYSN_NPI", ""))
        if rendering:
            line["rendering_npi"] = rendering
        dx = get("LINE_ICD_DGNS_CD", "").strip().replace(".", "").upper()
        codes = [d["code"] for d in claim["diagnoses"]]
        if dx not in codes and _ICD10.fullmatch(dx) and len(codes) < 12:
            claim["diagnoses"].append({"code": dx})  # a line's diagnosis is one of the claim's too
            codes.append(dx)
        if dx in codes:
            line["diagnosis_pointers"] = [codes.index(dx) + 1]
        self.payment(
            row,
            get,
            line,
            "LINE_NCH_PMT_AMT",
            "LINE_ALOWD_CHRG_AMT",
            "LINE_BENE_PTB_DDCTBL_AMT",
            "LINE_COINSRNC_AMT",
            "LINE_NDC_CD",
        )

    def outpatient_line(self, row: int, get: Any, line: dict[str, Any], dates: tuple[str, str]) -> None:
        revenue = get("REV_CNTR", "").strip()
        if not _REVENUE.fullmatch(revenue):
            raise _Bad("lines[].revenue_code", f"row {row} REV_CNTR: revenue code must be 4 digits")
        line["revenue_code"] = revenue
        line["units"] = _units(get("REV_CNTR_UNIT_CNT", ""), f"row {row} REV_CNTR_UNIT_CNT", "lines[].units")
        line["charge"] = _money(get("REV_CNTR_TOT_CHRG_AMT", ""), f"row {row} REV_CNTR_TOT_CHRG_AMT", "lines[].charge")
        if get("REV_CNTR_DT", "").strip():
            day = _date(get("REV_CNTR_DT", ""), f"row {row} REV_CNTR_DT", "lines[].from_date")
            line["from_date"] = line["to_date"] = day
        else:
            line["from_date"], line["to_date"] = dates
        rendering = _npi(get("RNDRNG_PHYSN_NPI", ""))
        if rendering:
            line["rendering_npi"] = rendering
        self.payment(
            row,
            get,
            line,
            "REV_CNTR_PMT_AMT_AMT",
            None,
            "REV_CNTR_CASH_DDCTBL_AMT",
            "REV_CNTR_COINSRNC_WGE_ADJSTD_C",
            "REV_CNTR_IDE_NDC_UPC_NUM",
        )

    def payment(
        self,
        row: int,
        get: Any,
        line: dict[str, Any],
        paid: str,
        allowed: str | None,
        deductible: str,
        coinsurance: str,
        ndc: str,
    ) -> None:
        """The line's paid and allowed amounts and its patient-responsibility adjustments; an unreadable
        one is left out with a note (the claim's paid amount is the file's CLM_PMT_AMT either way)."""
        for column, key in ((paid, "paid_amount"), (allowed, "allowed_amount")):
            if column and get(column, "").strip():
                where, field = f"row {row} {column}", f"lines[].{key}"
                self.optional(line, key, functools.partial(_money, get(column, ""), where, field))
        adjustments = []
        for column, reason in ((deductible, "1"), (coinsurance, "2")):
            raw = get(column, "").strip()
            if raw and _MONEY.fullmatch(raw) and Decimal(raw) != 0:
                adjustments.append({"group": "PR", "reason": reason, "amount": raw})
        if adjustments:
            line["adjustments"] = adjustments
        code = get(ndc, "").strip()
        if code.strip("0"):  # all zeros: no NDC
            line["ndc"] = code


def read_rif(data: bytes, source: str) -> Iterator[InputItem]:
    """One item per CLM_ID of a RIF carrier or outpatient extract."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter="|", quoting=csv.QUOTE_NONE)
    header = next(reader, None)
    if header is None or not is_rif(data):
        raise InputFormatError(
            f"{source}: not a RIF carrier or outpatient extract (no CLM_ID/CLM_PMT_AMT/HCPCS_CD header)"
        )
    kind = _CARRIER if _CARRIER in header else _OUTPATIENT
    claims: dict[str, list[tuple[int, dict[str, str]]]] = {}
    for row_no, row in enumerate(reader, 2):
        if not row or row == [""]:
            continue
        values = dict(zip(header, row))
        claim_id = values.get("CLM_ID", "").strip()
        if len(row) != len(header) or not claim_id or len(claim_id) > 64:
            problem = (
                f"has {len(row)} columns, the header {len(header)}"
                if len(row) != len(header)
                else "CLM_ID is missing"
                if not claim_id
                else "CLM_ID is longer than 64 characters"
            )
            yield InputItem.failed(
                f"{source}:row {row_no}",
                claim_id if 0 < len(claim_id) <= 64 else None,
                f"row {row_no}: {problem}; the row is not read",
                "claim_id",
            )
            continue
        claims.setdefault(claim_id, []).append((row_no, values))
    for claim_id, rows in claims.items():
        draft = _Claim(kind, rows)
        where = f"{source}:row {rows[0][0]}"
        try:
            claim = draft.build()
        except _Bad as bad:
            yield InputItem.failed(where, claim_id, bad.message, bad.field)
            continue
        yield InputItem(where, claim_id, claim, notes=tuple(draft.notes))
