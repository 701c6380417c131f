"""The claim as rules see it: plain dicts shaped like the rule types, plus scope contexts.

Built once per claim and shared by both backends and by finding rendering,
so the computed fields (ages, a line's provider NPI) are computed in one place.
Money here is Decimal dollars; the fact builder turns it into cents.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Iterator, NamedTuple

from .encounter_view import encounter_views
from .lang.functions import age_on
from .model import Claim, Provider


class Key(NamedTuple):
    """Which evaluation of a rule: the line (and other line), diagnosis or encounter record it was about.

    A named tuple rather than a frozen dataclass: one is made per line, pair and diagnosis of every
    claim, and a tuple is made in half the time.
    """

    line: int | None = None
    other: int | None = None
    dx: int | None = None
    encounter: str | None = None  # encounter_id (unique within the claim)


CLAIM_KEY = Key()


def _provider(p: Provider | None) -> dict | None:
    if p is None:
        return None
    return {"npi": p.npi, "name": p.name, "taxonomy": p.taxonomy, "specialty": p.specialty}


def _units(u: Decimal):
    return int(u) if u == u.to_integral_value() else u


def claim_view(claim: Claim) -> dict[str, Any]:
    dxs = [
        {"code": d.code, "poa": d.poa, "position": d.position, "is_principal": d.position == 1}
        for d in claim.diagnoses
    ]
    dx_codes = [d.code for d in claim.diagnoses]
    default_npi = (claim.rendering_provider or claim.billing_provider).npi
    birth = claim.patient.birth_date
    lines = []
    for line in claim.lines:
        lines.append({
            "sequence": line.sequence,
            "code": line.code,
            "modifiers": list(line.modifiers),
            "units": _units(line.units),
            "charge": Decimal(line.charge_cents) / 100,
            "from_date": line.from_date,
            "to_date": line.to_date,
            "place_of_service": line.place_of_service,
            "diagnosis_pointers": list(line.diagnosis_pointers),
            "rendering_npi": line.rendering_npi,
            "revenue_code": line.revenue_code,
            "ndc": line.ndc,
            "provider_npi": line.rendering_npi or default_npi,
            "diagnosis_codes": [dx_codes[p - 1] for p in line.diagnosis_pointers if 0 < p <= len(dx_codes)],
            "patient_age": age_on(birth, line.from_date),
            "claim_type": claim.type,
        })
    first = min(line.from_date for line in claim.lines)
    view = {
        "claim_id": claim.claim_id,
        "type": claim.type,
        "frequency": claim.frequency,
        "replaces_claim_id": claim.replaces_claim_id,
        "claim_date": claim.claim_date,
        "payer": {"type": claim.payer.type, "name": claim.payer.name, "id": claim.payer.id},
        "billing_provider": _provider(claim.billing_provider),
        "rendering_provider": _provider(claim.rendering_provider),
        "patient": {"id": claim.patient.id, "sex": claim.patient.sex, "birth_date": birth,
                    "age": age_on(birth, first)},
        "place_of_service": claim.place_of_service,
        "bill_type": claim.bill_type,
        "admission_date": claim.admission_date,
        "discharge_date": claim.discharge_date,
        "diagnoses": dxs,
        "lines": lines,
        "first_service_date": first,
        "last_service_date": max(line.to_date for line in claim.lines),
        "total_charge": Decimal(sum(line.charge_cents for line in claim.lines)) / 100,
        "line_count": len(claim.lines),
        "diagnosis_codes": dx_codes,
        "encounters": [],
        "encounter_problems": [],
        "encounter_count": 0,
        "encounter_problem_count": 0,
    }
    if claim.encounters:  # claims without records pay nothing for the encounter scopes
        view["encounters"], view["encounter_problems"] = encounter_views(claim, view)
        view["encounter_count"] = len(view["encounters"])
        view["encounter_problem_count"] = len(view["encounter_problems"])
    return view


def contexts(scope: str, view: dict, pair_keys: tuple[str, ...] = ()) -> Iterator[tuple[Key, dict, str]]:
    """Every (key, bound names, date of service) a rule of this scope is evaluated on.

    ``pair_keys`` narrows line pairs to lines equal on those fields (see :func:`_pair_groups`).
    """
    if scope == "claim":
        yield CLAIM_KEY, {"claim": view}, view["first_service_date"]
    elif scope == "line":
        for line in view["lines"]:
            yield Key(line=line["sequence"]), {"claim": view, "line": line}, line["from_date"]
    elif scope == "line_pair":
        for lines in _pair_groups(view["lines"], pair_keys):
            for a in lines:
                for b in lines:
                    if a is not b:
                        yield Key(line=a["sequence"], other=b["sequence"]), {"claim": view, "line": a, "other": b}, a["from_date"]
    elif scope == "diagnosis":
        for dx in view["diagnoses"]:
            yield Key(dx=dx["position"]), {"claim": view, "dx": dx}, view["first_service_date"]
    elif scope == "encounter":
        for enc in view["encounters"]:
            yield Key(encounter=enc["encounter_id"]), {"claim": view, "enc": enc}, enc["date_of_service"]
    elif scope == "encounter_line":
        lines = {line["sequence"]: line for line in view["lines"]} if view["encounters"] else {}
        for enc in view["encounters"]:
            for seq, doc in enc["_docs"].items():
                line = lines[seq]
                yield (Key(line=seq, encounter=enc["encounter_id"]),
                       {"claim": view, "enc": enc, "line": line, "doc": doc}, line["from_date"])
    else:  # pragma: no cover - scopes are validated when rules load
        raise ValueError(scope)


def _pair_groups(lines: list[dict], keys: tuple[str, ...]):
    """The groups of lines that may pair: every line, or (a hash join) the lines equal on every key field.

    The fact builder passes the fields a group of line-pair rules requires to
    be equal (date of service, provider): other pairs could fire none of them.
    A missing value equals nothing, as in the rule language.
    """
    if not keys:
        return [lines]
    groups: dict[tuple, list[dict]] = {}
    for line in lines:
        value = tuple(line.get(k) for k in keys)
        if None not in value:
            groups.setdefault(value, []).append(line)
    return groups.values()


def _line(view: dict, sequence: int) -> dict:
    return next(line for line in view["lines"] if line["sequence"] == sequence)


def bind(view: dict, key: Key) -> tuple[dict, str]:
    """The bound names and date of service for one key (used to render a finding)."""
    names: dict[str, Any] = {"claim": view}
    dos = view["first_service_date"]
    if key.line is not None:
        line = names["line"] = _line(view, key.line)
        dos = line["from_date"]
    if key.other is not None:
        names["other"] = _line(view, key.other)
    if key.dx is not None:
        names["dx"] = view["diagnoses"][key.dx - 1]
    if key.encounter is not None:
        enc = next(e for e in view["encounters"] if e["encounter_id"] == key.encounter)
        names["enc"] = enc
        if key.line is None:
            dos = enc["date_of_service"]
        else:
            names["doc"] = enc["_docs"][key.line]
    return names, dos
