"""Throughput of the FHIR Claim reader: read_fhir claims/s on a generated Bundle.

A script, not a test: ``python benchmarks/bench_fhir.py [--claims 10000] [--repeat 5] [--validate]``.
The Bundle resolves patients by urn:uuid and providers by Practitioner/<id>, the
common shapes, so reference lookup is part of what is measured. ``--validate``
also times schema validation and the normaliser, to put the reader in context.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from claimscrub.inputs.fhir import read_fhir  # noqa: E402

CPT = "http://www.ama-assn.org/go/cpt"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
POS = "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set"
NPI = "http://hl7.org/fhir/sid/us-npi"
CODES = ("99213", "99214", "20610", "11042", "11045", "80053", "80048")
DIAGNOSES = ("E11.9", "I10", "M17.11", "E78.5", "L97.412", "E11.621")


def make_bundle(n_claims: int, n_patients: int = 500) -> dict[str, Any]:
    """A collection Bundle of professional claims with 1-4 lines and 1-3 diagnoses each."""
    entries: list[dict[str, Any]] = [
        {"fullUrl": "urn:uuid:prac-1", "resource": {"resourceType": "Practitioner", "id": "prac-1",
                                                   "identifier": [{"system": NPI, "value": "1234567893"}]}},
        {"fullUrl": "urn:uuid:payer-1", "resource": {"resourceType": "Organization", "id": "payer-1", "name": "Demo Health Plan"}},
    ]  # fmt: skip
    for p in range(n_patients):
        patient = {
            "resourceType": "Patient",
            "id": f"pat-{p}",
            "gender": ("male", "female")[p % 2],
            "birthDate": "1960-01-15",
        }
        entries.append({"fullUrl": f"urn:uuid:pat-{p}", "resource": patient})
    for c in range(n_claims):
        n_dx, n_lines = 1 + c % 3, 1 + c % 4
        items = []
        for k in range(n_lines):
            it: dict[str, Any] = {
                "sequence": k + 1,
                "productOrService": {"coding": [{"system": CPT, "code": CODES[(c + k) % len(CODES)]}]},
                "servicedDate": f"2024-{1 + c % 12:02d}-{1 + c % 28:02d}",
                "locationCodeableConcept": {"coding": [{"system": POS, "code": "11"}]},
                "quantity": {"value": 1 + k % 2},
                "diagnosisSequence": list(range(1, n_dx + 1)),
            }
            if k % 2:
                it["unitPrice"] = {"value": 42.15, "currency": "USD"}
            else:
                it["net"] = {"value": 120.50 + k, "currency": "USD"}
            if k == 1:
                it["modifier"] = [{"coding": [{"system": CPT, "code": "25"}]}]
            items.append(it)
        claim = {
            "resourceType": "Claim", "id": f"BENCH-{c}", "status": "active", "use": "claim",
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]},
            "patient": {"reference": f"urn:uuid:pat-{c % n_patients}"},
            "created": "2024-12-31T10:00:00Z",
            "provider": {"reference": "Practitioner/prac-1"},
            "insurer": {"reference": "urn:uuid:payer-1"},
            "insurance": [{"sequence": 1, "focal": True, "coverage": {"display": "Demo Health Plan"}}],
            "diagnosis": [{"sequence": d + 1, "diagnosisCodeableConcept": {"coding": [{"system": ICD, "code": DIAGNOSES[(c + d) % len(DIAGNOSES)]}]}}
                          for d in range(n_dx)],
            "item": items,
        }  # fmt: skip
        entries.append({"fullUrl": f"urn:uuid:claim-{c}", "resource": claim})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--validate", action="store_true", help="also time validate.problems + normalize.claim_from_dict"
    )
    args = parser.parse_args()

    bundle = make_bundle(args.claims)
    best = float("inf")
    for _ in range(args.repeat):
        start = time.perf_counter()
        items = list(read_fhir(bundle, "bench.json"))
        best = min(best, time.perf_counter() - start)
    errors = [i for i in items if i.error]
    if errors:
        sys.exit(f"{len(errors)} claims failed to map, first: {errors[0].error}")
    print(
        f"read_fhir: {len(items):,} claims in {best * 1000:.1f} ms (best of {args.repeat}) = {len(items) / best:,.0f} claims/s"
    )

    if args.validate:
        from claimscrub.model.normalize import claim_from_dict
        from claimscrub.model.validate import problems

        start = time.perf_counter()
        for i in items:
            assert problems(i.data) == []
            claim_from_dict(i.data)
        spent = time.perf_counter() - start
        print(f"validate + normalise: {len(items) / spent:,.0f} claims/s")


if __name__ == "__main__":
    main()
