"""FHIR R4 Claim input: Claim resources mapped straight onto the native claim dict.

Plain dict access on purpose: a full FHIR object model costs about a millisecond
per claim, far more than the rest of the scrub. Each Claim becomes one
:class:`InputItem`; a Claim that cannot be mapped yields an item with ``error``
and ``field`` naming the FHIR element (``item[2].productOrService``), never the
patient. Other resources in a Bundle only serve to resolve references, but for
an ExplanationOfBenefit, which fills its Claim's payment fields (:mod:`.fhir_eob`).

Mapping choices worth knowing (kept deliberately simple):

* claim id = ``Claim.id``; patient id = ``Patient.id``; source = ``<source>#entry[i]``.
* payer type: ``Coverage.type`` when it says Medicare/Medicaid (SOPT codes 1/2 or
  the words), else the payer name: "medicare" / "medicaid" in it, "no insurance"
  / "self pay" -> other, any other name -> commercial; no payer at all -> omitted.
* frequency: ``Claim.related.relationship`` ``replaces`` / ``prior`` -> replacement,
  or a Claim extension whose url contains "frequency" carrying an X12 CLM05-3
  code (1/7/8) or original/replacement/void; the replaced claim id comes from
  ``related.claim`` (identifier or ``Claim/<id>``) or ``related.reference``.
* the first mapping problem found is reported (checked in the order: type,
  patient, items, diagnoses, provider, payer, related), since one clear reason beats a list.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from claimscrub.inputs.base import InputFormatError, InputItem
from claimscrub.inputs.fhir_eob import apply_payment, eobs_by_claim
from claimscrub.model.numbers import MAX_MONEY, MAX_QUANTITY, NumberError, cents_text, decimals, exact_number

CLAIM_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/claim-type"
NPI_SYSTEMS = frozenset({"http://hl7.org/fhir/sid/us-npi", "urn:oid:2.16.840.1.113883.4.6"})
PROCEDURE_SYSTEMS = frozenset(
    {
        "http://www.ama-assn.org/go/cpt",
        "https://www.ama-assn.org/go/cpt",
        "urn:oid:2.16.840.1.113883.6.12",  # CPT-4
        "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
        "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
        "urn:oid:2.16.840.1.113883.6.285",  # HCPCS Level II
        "urn:oid:2.16.840.1.113883.6.14",  # HCPCS (all levels)
        "https://bluebutton.cms.gov/resources/codesystem/hcpcs",
    }
)
ICD10CM_SYSTEMS = frozenset({"http://hl7.org/fhir/sid/icd-10-cm", "urn:oid:2.16.840.1.113883.6.90"})
NDC_SYSTEMS = frozenset({"http://hl7.org/fhir/sid/ndc", "urn:oid:2.16.840.1.113883.6.69"})
POS_SYSTEMS = frozenset(
    {
        "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set",
        "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set.html",
        "http://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set",
        "https://bluebutton.cms.gov/resources/variables/line_place_of_srvc_cd",
        "urn:oid:2.16.840.1.113883.6.50",
    }
)
BUNDLE_TYPES = frozenset({"collection", "transaction", "batch", "searchset"})
GENDER = {"male": "M", "female": "F", "other": "U", "unknown": "U"}
POA_CODES = frozenset({"Y", "N", "U", "W", "1"})
FREQUENCY_CODES = {"1": "original", "7": "replacement", "8": "void", "original": "original",
                   "replacement": "replacement", "void": "void"}  # fmt: skip
REPLACES = frozenset({"replaces", "prior"})
RENDERING_ROLES = frozenset({"rendering", "primary", "performing"})

_PROC_CODE = re.compile(r"[0-9A-Za-z]{1,48}")  # a code not 5 characters long is reported by CS-CODE-006
_MOD = re.compile(r"[0-9A-Za-z]{2}")
_ICD = re.compile(r"[A-Za-z][0-9][0-9A-Za-z](\.?[0-9A-Za-z]{1,4})?")
_NPI = re.compile(r"[0-9]{10}")
_BILL_TYPE = re.compile(r"[0-9]{3,4}")

Resource = dict[str, Any]
Index = dict[str, Resource]


class _Unmappable(Exception):
    """One Claim element that has no native equivalent; becomes the item's error."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field


def is_fhir(doc: Any) -> bool:
    """True for a FHIR Claim or Bundle, the two shapes :func:`read_fhir` takes."""
    return isinstance(doc, dict) and doc.get("resourceType") in ("Claim", "Bundle")


def read_fhir(doc: dict[str, Any], source: str) -> Iterator[InputItem]:
    """One InputItem per Claim in a bare Claim or a Bundle; bad claims yield errors, not exceptions."""
    if not is_fhir(doc):
        raise InputFormatError(f"{source}: not a FHIR Claim or Bundle (resourceType {_shown(doc.get('resourceType'))})"
                               if isinstance(doc, dict) else f"{source}: not a FHIR JSON object")  # fmt: skip
    if doc["resourceType"] == "Claim":
        yield _item(doc, {}, source)
        return
    entries = doc.get("entry") or []
    if not isinstance(entries, list):
        raise InputFormatError(f"{source}: Bundle.entry is not a list")
    bundle_type = doc.get("type")
    index = _index(entries)
    eobs = eobs_by_claim(entries, lambda ref, res: _resolve(ref, res, index))
    for i, entry in enumerate(entries):
        res = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(res, dict) or res.get("resourceType") != "Claim":
            continue
        where = f"{source}#entry[{i}]"
        if not isinstance(bundle_type, str) or bundle_type not in BUNDLE_TYPES:
            yield InputItem.failed(where, _claim_id(res), f"Bundle.type {_shown(bundle_type)} is not supported "
                                   "(collection, transaction, batch or searchset)", "Bundle.type")  # fmt: skip
            continue
        item = _item(res, index, where)
        eob = eobs.get(item.claim_id or "")
        if eob is not None and item.data is not None:
            apply_payment(item.data, eob)  # a Claim's ExplanationOfBenefit: what was paid (fhir_eob)
        yield item


def _shown(value: Any) -> str:
    """A value for an error message: a short code is shown (the biller needs it to find it), anything
    else is described, never echoed (it may be a name, a member id, or 10 MB)."""
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        text = str(value)
        if len(text) <= 48 and text.isascii() and text.isprintable():
            return repr(value)
        return f"a value of {len(text):,} characters"
    return f"a {type(value).__name__}" if value is not None else "nothing"


def _claim_id(claim: Resource) -> str | None:
    cid = claim.get("id")
    return cid if isinstance(cid, str) and cid else None


def _item(claim: Resource, index: Index, source: str) -> InputItem:
    """Map one Claim, turning any mapping problem into a failed item."""
    cid = _claim_id(claim)
    if cid is None:
        return InputItem.failed(source, None, "id: the Claim has no id", "id")
    try:
        return InputItem(source=source, claim_id=cid, data=_map_claim(claim, cid, index))
    except _Unmappable as exc:
        return InputItem.failed(source, cid, str(exc), exc.field)
    except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
        # Wrong JSON shapes (a string where an object belongs...): name the kind, never the values.
        return InputItem.failed(source, cid, f"the Claim is not well-formed FHIR ({type(exc).__name__})", "(claim)")


def _index(entries: list[Any]) -> Index:
    """Bundle resources by fullUrl and by ``Type/id``, so every reference form resolves in O(1)."""
    index: Index = {}
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        res = entry.get("resource")
        if not isinstance(res, dict):
            continue
        full = entry.get("fullUrl")
        if isinstance(full, str):
            index[full] = res
        rid = res.get("id")
        if rid:
            index.setdefault(f"{res.get('resourceType')}/{rid}", res)
    return index


def _resolve(ref: Any, claim: Resource, index: Index) -> Resource | None:
    """The resource a Reference points to: ``#contained``, a fullUrl, or ``Type/id`` (absolute or versioned too)."""
    if not isinstance(ref, dict):
        return None
    target = ref.get("reference")
    if not isinstance(target, str) or not target:
        return None
    if target[0] == "#":
        want = target[1:]
        for res in claim.get("contained") or ():
            if isinstance(res, dict) and res.get("id") == want:
                return res
        return None
    found = index.get(target)
    if found is not None:
        return found
    if "/_history/" in target:
        target = target.split("/_history/", 1)[0]
    parts = target.rsplit("/", 2)
    return index.get(f"{parts[-2]}/{parts[-1]}") if len(parts) >= 2 else None


def _codes(concept: Any) -> list[tuple[str | None, str]]:
    """(system, code) pairs of a CodeableConcept, skipping codings without a code."""
    if not isinstance(concept, dict):
        return []
    return [(c.get("system"), c["code"]) for c in concept.get("coding") or () if isinstance(c, dict) and c.get("code")]


def _systems(pairs: list[tuple[str | None, str]]) -> str:
    return ", ".join(sorted({s or "no system" for s, _ in pairs})) or "no coding"


_FHIR_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:T.*)?", re.DOTALL)


def _date(value: Any, field: str) -> str:
    """A FHIR date or dateTime as ``YYYY-MM-DD`` (the local date written, no time zone shift).

    The text is matched first: ``date.fromisoformat`` would also read ISO week dates (``2024-W31-4``).
    """
    if not isinstance(value, str) or not _FHIR_DATE.fullmatch(value):
        return _bad_date(field)
    try:
        return _dt.date.fromisoformat(value[:10]).isoformat()
    except ValueError:
        return _bad_date(field)


def _bad_date(field: str) -> str:
    raise _Unmappable(field, "not a full calendar date (YYYY-MM-DD)")


def _number(value: Any, field: str, limit: int | Decimal | None = None) -> Decimal:
    """A JSON number as an exact, bounded Decimal (see :mod:`.numbers`): 140.52 stays 140.52."""
    try:
        return exact_number(value, limit)
    except NumberError as exc:
        raise _Unmappable(field, exc.problem) from None


def _money(amount: Decimal, field: str) -> str:
    """Exact cents as a decimal string; refuses to round (a charge of 10.005 is an input error)."""
    try:
        return cents_text(amount)
    except NumberError as exc:
        raise _Unmappable(field, f"amount {exc.problem}") from None


# --- the Claim -------------------------------------------------------------------


def _map_claim(claim: Resource, cid: str, index: Index) -> dict[str, Any]:
    if len(cid) > 64:
        raise _Unmappable("id", "longer than 64 characters")
    ctype = _claim_type(claim)
    out: dict[str, Any] = {"claim_id": cid, "type": ctype, "patient": _patient(claim, index)}
    entries = claim.get("diagnosis") or []
    if len(entries) > 25:
        raise _Unmappable("diagnosis", f"{len(entries)} diagnoses (at most 25)")
    order = sorted(range(len(entries)), key=lambda i: entries[i].get("sequence") or 0)
    positions = {entries[i].get("sequence"): n + 1 for n, i in enumerate(order)}
    team = _care_team(claim, index)
    billable = claim.get("billablePeriod") or {}
    items = claim.get("item") or []
    if not items:
        raise _Unmappable("item", "the Claim has no items")
    if len(items) > 999:
        raise _Unmappable("item", f"{len(items)} items (at most 999)")
    out["lines"] = [_line(it, i, ctype, positions, team, billable) for i, it in enumerate(items)]
    out["diagnoses"] = [_diagnosis(entries[i], i, ctype, claim, index) for i in order]
    out["billing_provider"] = _provider(claim.get("provider"), claim, index, "provider")
    rendering = next((npi for npi, role in team.values() if npi and role in RENDERING_ROLES), None)
    if rendering:
        out["rendering_provider"] = {"npi": rendering}
    if claim.get("created"):
        out["claim_date"] = _date(claim["created"], "created")
    payer = _payer(claim, index)
    if payer:
        out["payer"] = payer
    frequency, replaces = _frequency(claim)
    if frequency != "original":
        out["frequency"] = frequency
        out["replaces_claim_id"] = replaces
    if ctype == "institutional":
        out.update(_institutional(claim))
    return out


def _claim_type(claim: Resource) -> str:
    pairs = _codes(claim.get("type"))
    codes = [c for s, c in pairs if s == CLAIM_TYPE_SYSTEM] or [c for s, c in pairs if s is None]
    if not codes:
        raise _Unmappable("type", f"no claim-type coding ({CLAIM_TYPE_SYSTEM}); found {_systems(pairs)}")
    if codes[0] not in ("professional", "institutional"):
        raise _Unmappable("type", f"{_shown(codes[0])} claims are not supported (professional or institutional only)")
    return codes[0]


def _patient(claim: Resource, index: Index) -> dict[str, Any]:
    ref = claim.get("patient")
    if not isinstance(ref, dict) or not (ref.get("reference") or ref.get("identifier")):
        raise _Unmappable("patient", "no patient reference")
    if not ref.get("reference"):
        value = (ref.get("identifier") or {}).get("value")
        if not value:
            raise _Unmappable("patient.identifier", "no value")
        return {"id": str(value)}
    res = _resolve(ref, claim, index)
    if res is None or res.get("resourceType") != "Patient":
        raise _Unmappable("patient.reference", "does not resolve to a Patient in Claim.contained or the Bundle")
    pid = res.get("id") or (ref["reference"].rsplit(":", 1)[-1] if ref["reference"].startswith("urn:") else None)
    if not pid:
        raise _Unmappable("patient.reference", "the Patient has no id")
    out: dict[str, Any] = {"id": str(pid)}
    sex = GENDER.get(res.get("gender"))  # type: ignore[arg-type]
    if sex:
        out["sex"] = sex
    birth = res.get("birthDate")
    if isinstance(birth, str) and len(birth) == 10:  # a partial date (YYYY, YYYY-MM) is left out
        out["birth_date"] = _date(birth, "Patient.birthDate")
    return out


def _npi(res: Resource | None, ref: Any) -> str | None:
    """First NPI identifier on the resource (or PractitionerRole's targets), else on the Reference itself."""
    for ident in (res or {}).get("identifier") or ():
        if isinstance(ident, dict) and ident.get("system") in NPI_SYSTEMS and ident.get("value"):
            return str(ident["value"])
    ident = ref.get("identifier") if isinstance(ref, dict) else None
    if isinstance(ident, dict) and ident.get("system") in NPI_SYSTEMS and ident.get("value"):
        return str(ident["value"])
    return None


def _provider(ref: Any, claim: Resource, index: Index, field: str) -> dict[str, Any]:
    if not isinstance(ref, dict) or not (ref.get("reference") or ref.get("identifier")):
        raise _Unmappable(field, "no provider reference")
    res = _resolve(ref, claim, index)
    npi = _npi(res, ref)
    if npi is None and res is not None and res.get("resourceType") == "PractitionerRole":
        npi = _npi(_resolve(res.get("practitioner"), claim, index), None) or _npi(
            _resolve(res.get("organization"), claim, index), None
        )
    if npi is None:
        kind = res.get("resourceType") if res else "Reference"
        raise _Unmappable(field, f"no NPI identifier (http://hl7.org/fhir/sid/us-npi) on the {kind}")
    if not _NPI.fullmatch(npi):
        raise _Unmappable(field, f"NPI {_shown(npi)} is not 10 digits")
    out: dict[str, Any] = {"npi": npi}
    name = (res or {}).get("name") if (res or {}).get("resourceType") == "Organization" else None
    if isinstance(name, str) and name:
        out["name"] = name
    return out


def _care_team(claim: Resource, index: Index) -> dict[int, tuple[str | None, str | None]]:
    """careTeam sequence -> (NPI or None, role code); rendering data is optional, so no errors here."""
    team: dict[int, tuple[str | None, str | None]] = {}
    for member in claim.get("careTeam") or ():
        ref = member.get("provider")
        npi = _npi(_resolve(ref, claim, index), ref)
        roles = _codes(member.get("role"))
        team[member.get("sequence")] = (npi if npi and _NPI.fullmatch(npi) else None, roles[0][1] if roles else None)
    return team


def _diagnosis(d: Resource, i: int, ctype: str, claim: Resource, index: Index) -> dict[str, Any]:
    """One Claim.diagnosis: an ICD-10-CM coding, inline or on the referenced Condition; POA if institutional."""
    where = f"diagnosis[{i}]"
    if "diagnosisCodeableConcept" in d:
        where += ".diagnosisCodeableConcept"
        pairs = _codes(d["diagnosisCodeableConcept"])
    else:
        where += ".diagnosisReference"
        res = _resolve(d.get("diagnosisReference"), claim, index)
        if res is None:
            raise _Unmappable(where, "does not resolve in Claim.contained or the Bundle")
        pairs = _codes(res.get("code"))
    code = next((c for s, c in pairs if s in ICD10CM_SYSTEMS), None)
    if code is None:
        raise _Unmappable(where, f"no ICD-10-CM coding (found {_systems(pairs)})")
    if not _ICD.fullmatch(code):
        raise _Unmappable(where, f"{_shown(code)} is not an ICD-10-CM code")
    dx: dict[str, Any] = {"code": code}
    if ctype == "institutional" and d.get("onAdmission"):
        poa = next((c.upper() for _, c in _codes(d["onAdmission"])), None)
        if poa not in POA_CODES:
            raise _Unmappable(f"diagnosis[{i}].onAdmission", f"{_shown(poa)} is not a POA indicator (Y, N, U, W, 1)")
        dx["poa"] = poa
    return dx


def _line(
    item: Resource,
    i: int,
    ctype: str,
    positions: dict[Any, int],
    team: dict[int, tuple[str | None, str | None]],
    billable: Resource,
) -> dict[str, Any]:
    where = f"item[{i}]"
    seq = item.get("sequence")
    if not isinstance(seq, int) or isinstance(seq, bool) or not 1 <= seq <= 999:
        raise _Unmappable(f"{where}.sequence", "missing or not 1-999")
    pairs = _codes(item.get("productOrService"))
    code = next((c for s, c in pairs if s in PROCEDURE_SYSTEMS), None)
    if code is None:
        raise _Unmappable(f"{where}.productOrService", f"no CPT/HCPCS coding (found {_systems(pairs)})")
    if not _PROC_CODE.fullmatch(code):
        raise _Unmappable(f"{where}.productOrService", f"CPT/HCPCS code {_shown(code)} is not letters and digits")
    units = _units(item.get("quantity"), where)
    line: dict[str, Any] = {"sequence": seq, "code": code, "units": units, "charge": _charge(item, units, where)}
    line["from_date"], to_date = _service_dates(item, billable, where)
    if to_date != line["from_date"]:
        line["to_date"] = to_date
    modifiers = _modifiers(item, where)
    if modifiers:
        line["modifiers"] = modifiers
    pos = _place_of_service(item, where)
    if pos:
        line["place_of_service"] = pos
    pointers = _pointers(item, positions, where)
    if pointers:
        line["diagnosis_pointers"] = pointers
    if team and item.get("careTeamSequence"):
        rendering = next((team[s][0] for s in item["careTeamSequence"] if s in team and team[s][0]), None)
        if rendering:
            line["rendering_npi"] = rendering
    if ctype == "institutional" and item.get("revenue"):
        line["revenue_code"] = _revenue(item["revenue"], where)
    if len(pairs) > 1:
        ndc = next((c for s, c in pairs if s in NDC_SYSTEMS), None)
        if ndc:
            line["ndc"] = ndc
    return line


def _units(quantity: Any, where: str) -> int | float:
    """quantity.value (default 1) as a JSON number; whole numbers stay ints, the common case kept cheap."""
    value = 1 if not quantity else quantity.get("value", 1)
    if type(value) is not int or not -MAX_QUANTITY <= value <= MAX_QUANTITY:
        exact = _number(value, f"{where}.quantity.value", MAX_QUANTITY)
        if decimals(exact) > 3:
            raise _Unmappable(f"{where}.quantity.value", "has more than three decimals")
        value = int(exact) if exact == exact.to_integral_value() else float(exact)
    return value


def _charge(item: Resource, units: int | float, where: str) -> str:
    """item.net, else unitPrice x quantity x factor, in exact decimal arithmetic (USD only)."""
    money, field = item.get("net"), f"{where}.net"
    if not money:
        money, field = item.get("unitPrice"), f"{where}.unitPrice"
    if not isinstance(money, dict) or "value" not in money:
        raise _Unmappable(f"{where}.net", "no net or unitPrice amount")
    currency = money.get("currency", "USD")
    if currency != "USD":
        raise _Unmappable(f"{field}.currency", f"{_shown(currency)} (only USD)")
    amount = _number(money["value"], f"{field}.value", MAX_MONEY)
    if field.endswith("unitPrice"):
        amount *= _number(units, f"{where}.quantity.value")
        if "factor" in item:
            amount *= _number(item["factor"], f"{where}.factor", MAX_MONEY)
    return _money(amount, f"{field}.value")


def _service_dates(item: Resource, billable: Resource, where: str) -> tuple[str, str]:
    if item.get("servicedDate"):
        day = _date(item["servicedDate"], f"{where}.servicedDate")
        return day, day
    period, field = item.get("servicedPeriod"), f"{where}.servicedPeriod"
    if not period:
        period, field = billable, "billablePeriod"
    start, end = period.get("start"), period.get("end")
    if not (start or end):
        raise _Unmappable(f"{where}.servicedDate", "no servicedDate, servicedPeriod or Claim.billablePeriod")
    first = _date(start or end, f"{field}.start")
    last = _date(end or start, f"{field}.end")
    if last < first:
        raise _Unmappable(field, "end is before start")
    return first, last


def _modifiers(item: Resource, where: str) -> list[str]:
    concepts = item.get("modifier") or []
    if len(concepts) > 4:
        raise _Unmappable(f"{where}.modifier", f"{len(concepts)} modifiers (at most 4)")
    out = []
    for k, concept in enumerate(concepts):
        pairs = _codes(concept)
        if not pairs or not _MOD.fullmatch(pairs[0][1]):
            raise _Unmappable(f"{where}.modifier[{k}]", "not a 2-character modifier code")
        out.append(pairs[0][1].upper())
    return out


def _place_of_service(item: Resource, where: str) -> str | None:
    pairs = _codes(item.get("locationCodeableConcept"))
    if not pairs:
        return None
    code = next((c for s, c in pairs if s in POS_SYSTEMS or s is None), None)
    if code is None:
        raise _Unmappable(f"{where}.locationCodeableConcept", f"no place-of-service coding (found {_systems(pairs)})")
    if not code.isdigit() or len(code) > 2:
        raise _Unmappable(f"{where}.locationCodeableConcept", f"{_shown(code)} is not a 2-digit place of service")
    return code.zfill(2)


def _pointers(item: Resource, positions: dict[Any, int], where: str) -> list[int]:
    seqs = item.get("diagnosisSequence") or []
    if len(seqs) > 4:
        raise _Unmappable(f"{where}.diagnosisSequence", f"{len(seqs)} pointers (at most 4)")
    out = []
    for s in seqs:
        if s not in positions:
            raise _Unmappable(f"{where}.diagnosisSequence", f"{_shown(s)} matches no Claim.diagnosis.sequence")
        out.append(positions[s])
    return out


def _revenue(concept: Any, where: str) -> str:
    pairs = _codes(concept)
    code = pairs[0][1] if pairs else ""
    if not code.isdigit() or len(code) > 4:
        raise _Unmappable(f"{where}.revenue", f"{_shown(code)} is not a revenue code (4 digits)")
    return code.zfill(4)


# --- payer, frequency, institutional extras ----------------------------------------


def _payer(claim: Resource, index: Index) -> dict[str, Any] | None:
    """Payer name from insurer, else the focal Coverage; type from Coverage.type, else the name."""
    raw_insurer = claim.get("insurer")
    insurer: dict[str, Any] = raw_insurer if isinstance(raw_insurer, dict) else {}
    insurances = claim.get("insurance") or []
    focal = next((ins for ins in insurances if ins.get("focal")), insurances[0] if insurances else {})
    coverage_ref = focal.get("coverage") or {}
    coverage = _resolve(coverage_ref, claim, index)
    coverage = coverage if coverage and coverage.get("resourceType") == "Coverage" else {}
    names = [insurer.get("display"), (_resolve(insurer, claim, index) or {}).get("name")]
    for payor in coverage.get("payor") or ():
        names += [payor.get("display"), (_resolve(payor, claim, index) or {}).get("name")]
    names.append(coverage_ref.get("display"))
    name = next((n for n in names if isinstance(n, str) and n), None)
    kind = _coverage_kind(coverage.get("type")) or _name_kind(name)
    if name is None and kind is None:
        return None
    out: dict[str, Any] = {"type": kind or "other"}
    if name:
        out["name"] = name
    ident = insurer.get("identifier")
    if isinstance(ident, dict) and ident.get("value"):
        out["id"] = str(ident["value"])
    return out


def _coverage_kind(concept: Any) -> str | None:
    """Medicare / Medicaid from Coverage.type: Source of Payment Typology codes 1x / 2x, or the words."""
    if not isinstance(concept, dict):
        return None
    for system, code in _codes(concept):
        if system and ("nahdo.org/sopt" in system or system.endswith("113883.3.221.5")):
            return {"1": "medicare", "2": "medicaid", "5": "commercial", "6": "commercial"}.get(code[:1], "other")
    words = " ".join([concept.get("text") or ""] + [c.get("display") or "" for c in concept.get("coding") or ()])
    return _name_kind(words) if words.strip() else None


def _name_kind(name: str | None) -> str | None:
    if not name:
        return None
    low = name.lower()
    if "medicare" in low:
        return "medicare"
    if "medicaid" in low:
        return "medicaid"
    if any(w in low for w in ("no insurance", "no_insurance", "self pay", "self-pay", "uninsured")):
        return "other"
    return "commercial"


def _frequency(claim: Resource) -> tuple[str, str | None]:
    frequency = "original"
    for ext in claim.get("extension") or ():
        if "frequency" in (ext.get("url") or "").lower():
            raw = ext.get("valueCode") or ext.get("valueString") or (ext.get("valueCoding") or {}).get("code")
            if str(raw) not in FREQUENCY_CODES:
                raise _Unmappable("extension", f"claim frequency {_shown(raw)} is not 1, 7 or 8")
            frequency = FREQUENCY_CODES[str(raw)]
    replaces = None
    for k, rel in enumerate(claim.get("related") or ()):
        if not any(c in REPLACES for _, c in _codes(rel.get("relationship"))):
            continue
        frequency = "replacement" if frequency == "original" else frequency
        replaces = _related_id(rel)
        if replaces is None:
            raise _Unmappable(f"related[{k}].claim", "a replaced claim needs an identifier or a Claim reference")
        break
    if frequency != "original" and replaces is None:
        replaces = next((_related_id(rel) for rel in claim.get("related") or () if _related_id(rel)), None)
        if replaces is None:
            raise _Unmappable("related", f"a {frequency} claim must name the claim it replaces in Claim.related")
    return frequency, replaces


def _related_id(rel: Resource) -> str | None:
    ref = rel.get("claim") or {}
    ident = ref.get("identifier") or rel.get("reference") or {}
    if ident.get("value"):
        return str(ident["value"])
    target = ref.get("reference") or ""
    return target.rsplit("/", 1)[-1] or None


def _institutional(claim: Resource) -> dict[str, Any]:
    """Type of bill and admission period from supportingInfo (CARIN BB categories)."""
    out: dict[str, Any] = {}
    for k, info in enumerate(claim.get("supportingInfo") or ()):
        category = {c for _, c in _codes(info.get("category"))}
        if "typeofbill" in category:
            bill = next((c for _, c in _codes(info.get("code"))), "")
            if not _BILL_TYPE.fullmatch(bill):
                raise _Unmappable(f"supportingInfo[{k}].code", f"type of bill {_shown(bill)} is not 3-4 digits")
            out["bill_type"] = bill
        elif "admissionperiod" in category:
            period = info.get("timingPeriod") or {}
            if period.get("start"):
                out["admission_date"] = _date(period["start"], f"supportingInfo[{k}].timingPeriod.start")
            if period.get("end"):
                out["discharge_date"] = _date(period["end"], f"supportingInfo[{k}].timingPeriod.end")
    return out
