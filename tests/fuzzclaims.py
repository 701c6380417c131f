"""Mutated claims for fuzzing: native JSON, FHIR R4 and X12 837, bent the ways hostile input bends.

Shared by ``tests/test_fuzz.py`` (hypothesis, a few seconds) and ``benchmarks/fuzz_long.py``
(a long run). A mutation picks a random spot of a real claim and puts a hostile value there
(a huge or tiny number, a number as text with a vast exponent, a far date, a wrong type, a long
string, a deep list), deletes it, or duplicates it; X12 mutations do the same to elements and
segments. :func:`check` runs one input through the readers and the scrubber and returns what
went wrong (nothing, when every claim ends scrubbed or rejected).
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

from claimscrub.inputs import InputFormatError, read_bytes

REPO = Path(__file__).resolve().parents[1]

NATIVE = {
    "claim_id": "FZ-1",
    "type": "professional",
    "claim_date": "2024-08-20",
    "payer": {"type": "medicare"},
    "billing_provider": {"npi": "1234567893"},
    "rendering_provider": {"npi": "1245319599"},
    "patient": {"id": "FZ-P", "sex": "F", "birth_date": "1958-03-14"},
    "place_of_service": "11",
    "diagnoses": [{"code": "M17.11"}, {"code": "E11.9"}],
    "lines": [
        {
            "sequence": 1,
            "code": "99213",
            "modifiers": ["25"],
            "units": 1,
            "charge": "125.00",
            "from_date": "2024-08-12",
            "diagnosis_pointers": [2],
        },
        {
            "sequence": 2,
            "code": "20610",
            "modifiers": ["RT"],
            "units": 1,
            "charge": 180,
            "from_date": "2024-08-12",
            "diagnosis_pointers": [1],
        },
        {
            "sequence": 3,
            "code": "27447",
            "units": 1.5,
            "charge": "1200.00",
            "from_date": "2024-08-13",
            "to_date": "2024-08-14",
            "diagnosis_pointers": [1, 2],
        },
    ],
    "paid_amount": "90.00",
    "adjustments": [{"group": "CO", "reason": "45", "amount": "35.00", "quantity": 1}],
}

HOSTILE: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1.0,
    2**63,
    -(2**63) - 1,
    10**30,
    1e18,
    1e26,
    1e300,
    -1e300,
    1e-6,
    1e-300,
    0.005,
    "",
    " ",
    "1E30",
    "1E99999999",
    "-1E-99999999",
    "NaN",
    "Infinity",
    "0x10",
    "1_000",
    "١٢",
    "9" * 40,
    "9999-12-31",
    "0001-01-01",
    "2024-02-30",
    "2024-13-01",
    "99213",
    "XX",
    "A" * 5000,
    "\u0000",
    "[red]x[/]",
    [],
    [1.0],
    [1, 2, 3, 4, 5],
    list(range(300)),
    {},
    {"a": {"b": {"c": [None]}}},
    [[[[[]]]]],
]


def _spots(node: Any, path: tuple = ()) -> list[tuple]:
    """Every path into a JSON tree (the root excluded)."""
    out = []
    if isinstance(node, dict):
        for key, value in node.items():
            out.append(path + (key,))
            out.extend(_spots(value, path + (key,)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.append(path + (i,))
            out.extend(_spots(value, path + (i,)))
    return out


def mutate_json(doc: Any, rng: random.Random, rounds: int = 3) -> Any:
    """A copy of a JSON document with a few hostile changes."""
    doc = copy.deepcopy(doc)
    for _ in range(rng.randint(1, rounds)):
        spots = _spots(doc)
        if not spots:
            break
        path = rng.choice(spots)
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1]
        action = rng.random()
        if action < 0.7:
            parent[last] = copy.deepcopy(rng.choice(HOSTILE))
        elif action < 0.85:
            del parent[last]
        elif isinstance(parent, list):
            parent.append(copy.deepcopy(parent[last]))
        else:
            parent[last] = [parent[last], parent[last]]
    return doc


X12_HOSTILE = [
    "",
    "1E30",
    "1E99999999",
    "-5",
    "0.0000001",
    "99999999999999999999",
    "A" * 300,
    "20241301",
    "99991231",
    "HC:99213:25:59:XS:XU:76",
    "HC",
    ":::",
    "*",
    "~",
    "ISA",
    "1.005",
]


def mutate_x12(text: str, rng: random.Random, rounds: int = 3) -> str:
    """An X12 interchange with a few hostile elements or segments (delimiters left as declared)."""
    segments = text.split("~")
    for _ in range(rng.randint(1, rounds)):
        if len(segments) < 2:
            break
        i = rng.randrange(1, len(segments))  # the ISA stays: without it the file is not X12 at all
        action = rng.random()
        if action < 0.7:
            elements = segments[i].split("*")
            k = rng.randrange(len(elements))
            elements[k] = rng.choice(X12_HOSTILE)
            segments[i] = "*".join(elements)
        elif action < 0.85:
            del segments[i]
        elif action < 0.95:
            segments.insert(i, segments[i])
        else:
            segments = segments[: rng.randrange(1, len(segments))]  # truncated
    return "~".join(segments)


def seeds() -> dict[str, list[bytes]]:
    """The real claims mutations start from, by format."""
    fhir = [REPO / "examples" / "fhir" / "demo_claim.json", REPO / "examples" / "fhir" / "demo_bundle.json"]
    x12 = sorted((REPO / "examples" / "x12").glob("*.x12"))
    return {
        "native": [json.dumps(NATIVE).encode()],
        "fhir": [p.read_bytes() for p in fhir],
        "x12": [p.read_bytes() for p in x12],
    }


def mutant(kind: str, seed: bytes, rng: random.Random) -> bytes:
    if kind == "x12":
        return mutate_x12(seed.decode("latin-1"), rng).encode("latin-1")
    return json.dumps(mutate_json(json.loads(seed), rng)).encode()


def check(scrubber, data: bytes) -> tuple[list[str], int, int]:
    """Read and scrub one input: (problems, claims, guarded engine errors). A problem is an exception
    a reader raised (other than "this file cannot be read") or a result neither scrubbed nor rejected;
    a guarded engine error is an unexpected exception the scrubber turned into a rejection."""
    problems: list[str] = []
    try:
        items = list(read_bytes(data, "fuzz"))
    except InputFormatError:
        return [], 0, 0
    except Exception as exc:  # noqa: BLE001 - what the fuzzer is looking for
        return [f"reader raised {type(exc).__name__}: {exc}"[:300]], 0, 0
    guarded = 0
    for item in items:
        try:
            result = scrubber.scrub_item(item)
        except Exception as exc:  # noqa: BLE001
            problems.append(f"scrub raised {type(exc).__name__}: {exc}"[:300])
            continue
        if result.status not in ("scrubbed", "rejected") or (result.status == "rejected" and not result.reason):
            problems.append(f"claim {result.claim_id}: status {result.status!r}, reason {result.reason!r}")
        if result.status == "rejected" and (result.reason or "").startswith("engine error: unexpected"):
            guarded += 1
    return problems, len(items), guarded
