"""The second yardstick of issue #18: claim-validator's rule pipeline on the same claims, built once and reused.

claim-validator (PyPI ``claim-validator``, MIT) validates a professional claim's fields (NPI check digits,
code formats, dates, demographics, diagnosis pointers, payer and member ids) with no reference tables.
It is what a team might reach for first, so the issue holds claimscrub to at least its speed while doing
the table edits it lacks. Installed with ``pip install -e '.[bench]'``; absent, the benchmark says so and
skips it.

Each claim is converted from claimscrub's native JSON to its ``ClaimData`` fields (pydantic validation
included, as its users pay it), then run through one ``ValidationPipeline`` built before the clock
starts (the "reused pipeline"; its ``validate()`` helper would rebuild the pipeline per claim).
"""

from __future__ import annotations

import time
from typing import Any

import orjson


def available() -> str | None:
    """claim-validator's version, or None when it is not installed."""
    try:
        import claim_validator
    except ImportError:
        return None
    return str(claim_validator.__version__)


def claim_data(claim: dict[str, Any]) -> dict[str, Any]:
    """claim-validator's ``ClaimData`` fields for one native claimscrub claim."""
    patient = claim.get("patient") or {}
    billing = claim.get("billing_provider") or {}
    payer = claim.get("payer") or {}
    pointers = {}
    diagnoses = []
    for i, dx in enumerate(claim.get("diagnoses") or [], start=1):
        pointers[i] = i
        diagnoses.append({"code": dx["code"], "pointer": i, "type": "principal" if i == 1 else "secondary"})
    lines = []
    for line in claim.get("lines") or []:
        lines.append(
            {
                "procedure_code": line["code"],
                "modifiers": list(line.get("modifiers") or ()),
                "diagnosis_pointers": [p for p in line.get("diagnosis_pointers") or () if p in pointers],
                "charge_amount": float(line.get("charge") or 0),
                "units": float(line.get("units") or 1),
                "service_date_from": line.get("from_date"),
                "service_date_to": line.get("to_date") or line.get("from_date"),
                "place_of_service": line.get("place_of_service") or claim.get("place_of_service"),
            }
        )
    return {
        "billing_provider_npi": billing.get("npi"),
        "billing_provider_taxonomy": billing.get("taxonomy"),
        "subscriber_id": patient.get("member_id") or patient.get("id"),
        "patient_dob": patient.get("birth_date"),
        "patient_gender": patient.get("sex"),
        "payer_name": payer.get("name"),
        "claim_type": "professional",
        "place_of_service": claim.get("place_of_service"),
        "filing_date": claim.get("claim_date"),
        "diagnosis_codes": diagnoses,
        "lines": lines,
    }


def run(data: bytes) -> tuple[int, int, float, float]:
    """Validate every claim of a JSON Lines file: claims, findings, wall seconds, CPU seconds.

    A claim its models refuse (pydantic raises) counts as validated with one finding, as a user's loop
    would record it.
    """
    from claim_validator.models.claim import ClaimData
    from claim_validator.validators.pipeline import ValidationPipeline
    from pydantic import ValidationError

    pipeline = ValidationPipeline.from_settings(None)
    claims = findings = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for raw in data.splitlines():
        if not raw.strip():
            continue
        claims += 1
        try:
            result = pipeline.run(ClaimData(**claim_data(orjson.loads(raw))))
        except ValidationError:
            findings += 1
            continue
        findings += sum(len(phase.findings) for phase in result.phase_results)
    return claims, findings, time.perf_counter() - wall0, time.process_time() - cpu0
