"""Encounter records as rules see them: the record's fields plus what the E/M library concludes.

Built once per claim by :func:`claimscrub.compile.views.claim_view`, so the E/M level,
prolonged units and timed-service checks are computed once per record and
line, not inside every rule. Two shapes:

- ``enc``: one dict per record (``encounter`` and ``encounter_line`` scopes):
  the schema's fields (note text excluded: it is PHI and never reaches a
  finding) plus computed fields listed in ``claimscrub.lang.types.COMPUTED``;
- ``doc``: one dict per (record, claim line it documents) (``encounter_line``
  scope): what the record says about that line (billed E/M against the
  supported level, its procedure's side, distinct-service evidence, time).

A record that cannot be read does not stop the scrub: it becomes a claim-level
problem (``claim.encounter_problems``) naming the record and the field.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from claimscrub.documentation import em as E
from claimscrub.documentation.encounter import Encounter, EncounterRejected, TimedService, encounter_of_claim
from claimscrub.model.claim import Claim

ANESTHESIA_CODE = re.compile(r"^0[01][0-9]{3}$")  # CPT anesthesia section 00100-01999
INFUSION_SERVICES = ("infusion", "hydration", "injection_push")


@functools.cache
def _em_codes() -> frozenset[str]:
    """Every code of an E/M level ladder in the tables (any family, any date), plus 99211."""
    codes = {"99211"}
    for lc in E.bundled_em_tables().mdm.level_codes:
        codes.update(lc.codes.values())
    return frozenset(codes)


@functools.cache
def _psychotherapy_rows() -> dict[str, int]:
    """Psychotherapy code -> the fewest minutes it needs (to rank billed against supported)."""
    return {row.code: row.min for t in E.bundled_em_tables().psychotherapy for row in t.rows}


@functools.cache
def _critical_care_codes() -> tuple[frozenset[str], frozenset[str]]:
    cc = E.bundled_em_tables().critical_care
    return frozenset(t.first_code for t in cc), frozenset(t.additional_code for t in cc)


def _plain(obj: Any) -> Any:
    """A typed record as plain dicts (dataclass fields; 'with_' is the schema's 'with')."""
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if isinstance(obj, (tuple, list)):
        return [_plain(x) for x in obj]
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    return {("with" if f == "with_" else f): _plain(getattr(obj, f)) for f in obj.__slots__}


def _signature_status(enc: Encounter) -> str:
    """signed / attested (an unsigned or stamped note cured by attestation) / stamped / unsigned."""
    sig = enc.signature
    if sig is not None and sig.acceptable:
        return "signed"
    if enc.attestation is not None and enc.attestation.present:
        return "attested"
    if sig is not None and sig.present:
        return "stamped"
    return "unsigned"


def _documented_lines(enc: Encounter, claim: Claim, lines: list[dict]) -> list[int]:
    """Claim lines the record documents: by claim id (and sequences), else patient + provider + date."""
    link = enc.link
    if link.claim_id is not None:
        if link.claim_id != claim.claim_id:
            return []
        return [ln["sequence"] for ln in lines if not link.line_sequences or ln["sequence"] in link.line_sequences]
    if link.patient_id != claim.patient.id:
        return []
    return [
        ln["sequence"]
        for ln in lines
        if ln["from_date"] == enc.date_of_service and ln["provider_npi"] == link.provider_npi
    ]


def _em_view(enc: Encounter, result: E.EmLevelResult, payer_type: str) -> dict[str, Any]:
    em = enc.em
    mdm = result.mdm
    prolonged = E.prolonged_for(result, payer_type)
    table = E.prolonged_code_for_payer(payer_type, enc.date_of_service)
    return {
        "basis": em.basis if em else None,
        "patient_status": em.patient_status if em else None,
        "setting": em.setting if em else None,
        "visit_kind": em.visit_kind if em else None,
        "family": result.family,
        "supported_code": result.supported_code,
        "supported_basis": result.basis,
        "mdm_level": mdm.level.key if mdm.documented and mdm.level else None,
        "mdm_code": result.mdm_code,
        "problems_level": mdm.problems.label if mdm.documented else None,
        "data_level": mdm.data.label if mdm.documented else None,
        "risk_level": mdm.risk.label if mdm.documented else None,
        "time_minutes": result.time.minutes,
        "time_how": result.time.how,
        "time_code": result.time.code,
        "explanation": result.explain(),
        "note": result.note,
        "prolonged_code": table.code if table else None,
        "prolonged_units": prolonged.units if table else None,
        "prolonged_reason": prolonged.reason,
    }


def _linked(blocks: tuple[TimedService, ...], seq: int, code: str) -> list[TimedService]:
    """Blocks that name this line, else blocks that name its code without a line."""
    by_line = [t for t in blocks if t.line_sequence == seq]
    return by_line or [t for t in blocks if t.line_sequence is None and t.code == code]


def _timed(enc: Encounter, line: dict, payer_type: str) -> dict[str, Any]:
    """Time documented for a timed line and whether the billed code or units go beyond it."""
    code, seq, dos = line["code"], line["sequence"], enc.date_of_service
    psych = _psychotherapy_rows()
    cc_first, cc_more = _critical_care_codes()
    status = supports = None
    if code in psych:
        blocks = [t for t in enc.timed_services if t.service in ("psychotherapy", "psychotherapy_with_em")]
        result = E.psychotherapy_for(enc)
        supports = result.reason
        if result.minutes is not None:
            if result.code is None or psych[code] > psych.get(result.code, 0):
                status = "over"
            else:
                status = "under" if psych[code] < psych[result.code] else "supported"
    elif code in cc_first or code in cc_more:
        blocks = list(enc.timed("critical_care"))
        care = E.critical_care_for(enc, payer_type)
        supports = care.reason
        if care.minutes is not None:
            if code in cc_first:
                status = "over" if care.first_code is None else "supported"
            else:
                status = "over" if line["units"] > care.additional_units else "supported"
    elif ANESTHESIA_CODE.match(code) or any(t.service == "anesthesia" for t in _linked(enc.timed_services, seq, code)):
        anesthesia = tuple(enc.timed("anesthesia"))
        blocks = _linked(anesthesia, seq, code) or list(anesthesia)
        minutes = _sum(blocks)
        if minutes is not None:
            units = E.anesthesia_time_units(minutes, dos)
            supports = f"{minutes} min of anesthesia time = {units} time units (units billed as minutes)"
            status = "over" if line["units"] > minutes else "supported"
    else:
        blocks = _linked(enc.timed_services, seq, code)
    minutes = _sum(blocks)
    infusion = _sum([t for t in blocks if t.service in INFUSION_SERVICES])
    return {
        "timed_service": blocks[0].service if blocks else None,
        "timed_minutes": minutes,
        "timed_start_stop": bool(blocks) and all(t.has_start_stop for t in blocks),
        "timed_status": status,
        "timed_supports": supports,
        "infusion_kind": E.infusion_or_push(infusion, dos) if infusion is not None else None,
    }


def _sum(blocks) -> int | None:
    durations = [t.duration_minutes for t in blocks if t.duration_minutes is not None]
    return sum(durations) if durations else None


def _doc(enc: Encounter, result: E.EmLevelResult | None, line: dict, view: dict) -> dict[str, Any]:
    code, seq = line["code"], line["sequence"]
    check = E.check_billed_em(result, code) if result is not None and code in _em_codes() else None
    procs = [p for p in enc.procedures if p.line_sequence == seq] or [
        p for p in enc.procedures if p.line_sequence is None and p.code == code
    ]
    evidence = [
        d.evidence
        for d in enc.distinct_service
        if d.line_sequence == seq or (d.line_sequence is None and d.code == code)
    ]
    procedure_dx = {
        c
        for ln in view["lines"]
        if ln["sequence"] in view["_documented"]
        and ln["code"] not in _em_codes()
        and ln["from_date"] == line["from_date"]
        for c in ln["diagnosis_codes"]
    }
    problems = enc.mdm.problems if enc.mdm else ()
    separate = sum(
        1 for p in problems if p.diagnosis_code is None or p.diagnosis_code.replace(".", "").upper() not in procedure_dx
    )
    out = {
        "em_status": check.status if check else None,
        "em_message": check.message if check else None,
        "em_supported_code": check.supported_code if check else None,
        "procedure_documented": bool(procs),
        "laterality": procs[0].laterality if procs else None,
        "distinct_evidence": evidence,
        "separate_problems": separate,
        "place_of_service": line["place_of_service"] or view["place_of_service"],
    }
    out.update(_timed(enc, line, view["payer"]["type"]))
    return out


def encounter_views(claim: Claim, view: dict) -> tuple[list[dict], list[str]]:
    """The claim's records as rule views (with their per-line docs), and problems with unreadable records."""
    out: list[dict] = []
    problems: list[str] = []
    seen: set[str] = set()
    for i, raw in enumerate(claim.encounters):
        try:
            enc = encounter_of_claim(claim, raw)
        except EncounterRejected as exc:
            problems.append(f"record {exc.encounter_id or f'#{i + 1}'}: {exc.reason}")
            continue
        eid = enc.encounter_id
        while eid in seen:  # ids name findings: keep them unique within the claim
            eid += "'"
        seen.add(eid)
        documented = _documented_lines(enc, claim, view["lines"])
        result = E.derive_em_level(enc)
        record = {k: v for k, v in _plain(enc).items() if k not in ("sections", "em", "link")}
        record["encounter_id"] = eid
        record["link"] = _plain(enc.link)
        if enc.signature is not None:
            record["signature"]["acceptable"] = enc.signature.acceptable
        for block, src in zip(record["timed_services"], enc.timed_services):
            block["duration_minutes"] = src.duration_minutes
            block["has_start_stop"] = src.has_start_stop
        record.update(
            {
                "em": _em_view(enc, result, view["payer"]["type"]),
                "provider_npi": enc.provider_npi,
                "patient_id": enc.patient_id,
                "line_sequences": documented,
                "signature_status": _signature_status(enc),
                "unsigned_orders": [
                    o.code or o.kind or f"order {n + 1}" for n, o in enumerate(enc.orders) if not o.signed
                ],
            }
        )
        lines = {ln["sequence"]: ln for ln in view["lines"]}
        ctx = {
            "lines": view["lines"],
            "_documented": set(documented),
            "place_of_service": view["place_of_service"],
            "payer": view["payer"],
        }
        record["_docs"] = {seq: _doc(enc, result, lines[seq], ctx) for seq in documented}
        out.append(record)
    return out, problems
