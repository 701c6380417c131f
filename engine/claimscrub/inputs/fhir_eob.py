"""FHIR R4 ExplanationOfBenefit: what the payer did with a Claim of the same Bundle.

An EOB whose ``claim`` reference resolves to a Claim of the Bundle fills that
claim's payment fields. An EOB with no Claim beside it (Blue Button EOB files)
is not a claim to scrub; :mod:`claimscrub.inputs.payments` reads it as a
remittance for the claim its ``.../clm_id`` identifier names. Mapping
(adjudication and total categories are matched on the code, or on the last
path part of a Blue Button variable URL):

| native field | EOB |
|---|---|
| paid_amount | ``payment.amount``, else ``total`` benefit |
| allowed_amount | ``total`` eligible |
| paid_date | ``payment.date`` |
| lines[].paid_amount | item adjudication benefit, paid, paidtoprovider, line_nch_pmt_amt or line_prvdr_pmt_amt (first found) |
| lines[].allowed_amount | item adjudication eligible or line_alowd_chrg_amt |
| lines[].adjustments | PR 1 = deductible / line_bene_ptb_ddctbl_amt, PR 2 = coinsurance / line_coinsrnc_amt (when not zero) |

An EOB item goes to the claim line with the same ``sequence``. Amounts are
rounded half up to the cent (generated EOBs carry float noise such as
112.41600000000001); a value that is not a number is left out.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from claimscrub.model.numbers import MAX_MONEY, NumberError, exact_number

Resource = dict[str, Any]

_PAID = ("benefit", "paid", "paidtoprovider", "line_nch_pmt_amt", "line_prvdr_pmt_amt")
_ALLOWED = ("eligible", "line_alowd_chrg_amt")
_PATIENT_SHARE = (("1", ("deductible", "line_bene_ptb_ddctbl_amt")), ("2", ("coinsurance", "line_coinsrnc_amt")))
_CENT = Decimal("0.01")
_ISO = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def eobs_by_claim(entries: list[Any], resolve: Callable[[Any, Resource], Resource | None]) -> dict[str, Resource]:
    """Claim.id -> the EOB that adjudicated it (the last one in the Bundle when there are several)."""
    found: dict[str, Resource] = {}
    for entry in entries:
        res = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(res, dict) or res.get("resourceType") != "ExplanationOfBenefit":
            continue
        claim = resolve(res.get("claim"), res)
        if isinstance(claim, dict) and claim.get("resourceType") == "Claim" and isinstance(claim.get("id"), str):
            found[claim["id"]] = res
    return found


def _amount(money: Any) -> str | None:
    value = money.get("value") if isinstance(money, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        amount = exact_number(value, MAX_MONEY)  # bounded digits and exponent (model/numbers.py)
    except NumberError:
        return None
    return f"{amount.quantize(_CENT, rounding=ROUND_HALF_UP):f}"


def _categories(entry: Any) -> set[str]:
    concept = entry.get("category") if isinstance(entry, dict) else None
    codings = concept.get("coding") if isinstance(concept, dict) else None
    codes = (c.get("code") for c in codings or () if isinstance(c, dict))
    return {code.rstrip("/").rsplit("/", 1)[-1] for code in codes if isinstance(code, str)}


def _by_category(entries: Any) -> dict[str, str]:
    """Category code -> amount of an adjudication or total list (the first entry of a category)."""
    out: dict[str, str] = {}
    for entry in entries if isinstance(entries, list) else ():
        amount = _amount(entry.get("amount")) if isinstance(entry, dict) else None
        if amount is not None:
            for code in _categories(entry):
                out.setdefault(code, amount)
    return out


def _first(amounts: dict[str, str], codes: tuple[str, ...]) -> str | None:
    return next((amounts[c] for c in codes if c in amounts), None)


def apply_payment(claim: dict[str, Any], eob: Resource) -> None:
    """Fill the claim's and its lines' payment fields from the EOB (only the ones it states)."""
    payment: dict[str, Any] = eob["payment"] if isinstance(eob.get("payment"), dict) else {}
    totals = _by_category(eob.get("total"))
    paid = _amount(payment.get("amount")) or totals.get("benefit")
    paid_date = payment.get("date")
    if paid is not None:
        claim["paid_amount"] = paid
    if "eligible" in totals:
        claim["allowed_amount"] = totals["eligible"]
    if isinstance(paid_date, str) and _ISO.fullmatch(paid_date[:10]):
        try:
            claim["paid_date"] = _dt.date.fromisoformat(paid_date[:10]).isoformat()
        except ValueError:
            pass  # not a calendar date: left out
    lines = {line.get("sequence"): line for line in claim.get("lines", ())}
    for item in eob.get("item") or ():
        line = lines.get(item.get("sequence")) if isinstance(item, dict) else None
        if line is None:
            continue
        amounts = _by_category(item.get("adjudication"))
        for key, codes in (("paid_amount", _PAID), ("allowed_amount", _ALLOWED)):
            amount = _first(amounts, codes)
            if amount is not None:
                line[key] = amount
        adjustments = [
            {"group": "PR", "reason": reason, "amount": amount}
            for reason, codes in _PATIENT_SHARE
            if (amount := _first(amounts, codes)) is not None and Decimal(amount) != 0
        ]
        if adjustments:
            line["adjustments"] = adjustments
        if "paid_date" in claim and "paid_amount" in line:
            line["paid_date"] = claim["paid_date"]


# ---------------------------------------------------------------- an EOB read on its own
def standalone(doc: Any, name: str) -> list[tuple[Resource, str]]:
    """(EOB, source) of a bare EOB, or of each EOB of a Bundle that has no Claim of the Bundle beside it
    (those are applied to their Claims by the FHIR reader)."""
    if not isinstance(doc, dict):
        return []
    if doc.get("resourceType") == "ExplanationOfBenefit":
        return [(doc, name)]
    entries = doc.get("entry") if doc.get("resourceType") == "Bundle" else None
    if not isinstance(entries, list):
        return []
    claims: set[str] = set()
    for entry in entries:
        res = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(res, dict) and res.get("resourceType") == "Claim":
            claims.update(k for k in (entry.get("fullUrl"), f"Claim/{res.get('id')}") if isinstance(k, str))
    found = []
    for i, entry in enumerate(entries):
        res = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(res, dict) or res.get("resourceType") != "ExplanationOfBenefit":
            continue
        ref = res.get("claim", {}).get("reference") if isinstance(res.get("claim"), dict) else None
        tail = "/".join(ref.split("/_history/")[0].rsplit("/", 2)[-2:]) if isinstance(ref, str) else None
        if ref not in claims and tail not in claims:
            found.append((res, f"{name}#entry[{i}]"))
    return found


def claim_id_of(eob: Resource) -> str | None:
    """The claim an EOB adjudicated: a ``.../clm_id`` identifier (Blue Button), else ``claim`` as Claim/<id>."""
    for identifier in eob.get("identifier") or ():
        if isinstance(identifier, dict) and str(identifier.get("system", "")).endswith("/clm_id"):
            value = identifier.get("value")
            if isinstance(value, str) and value:
                return value
    ref = eob.get("claim", {}).get("reference") if isinstance(eob.get("claim"), dict) else None
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) and ref.startswith("Claim/") else None


def remittance_data(eob: Resource) -> dict[str, Any]:
    """An EOB in the 835 remittance shape (claimscrub.inputs.x835): claim and line payments; a line's
    ``control_number`` is its item sequence, so it links to the claim line of that sequence."""
    claim: dict[str, Any] = {
        "lines": [{"sequence": item.get("sequence")} for item in eob.get("item") or () if isinstance(item, dict)]
    }
    apply_payment(claim, eob)
    lines = []
    for item, line in zip((i for i in eob.get("item") or () if isinstance(i, dict)), claim["lines"]):
        sequence = line.pop("sequence")
        if "paid_amount" not in line:
            continue
        if isinstance(sequence, int):
            line["control_number"] = str(sequence)
        code = _procedure_code(item)
        if code:
            line["code"] = code
        lines.append(line)
    claim["lines"] = lines
    claim.update(status="EOB", adjustments=[], remark_codes=[])
    return claim


def _procedure_code(item: Resource) -> str | None:
    concept = item.get("productOrService")
    for coding in (concept.get("coding") or ()) if isinstance(concept, dict) else ():
        system = str(coding.get("system", "")).lower() if isinstance(coding, dict) else ""
        if ("hcpcs" in system or "cpt" in system) and isinstance(coding.get("code"), str):
            return str(coding["code"])
    return None
