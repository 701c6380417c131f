"""The claim as rules see it: plain dicts shaped like the rule types, plus scope contexts.

Built once per claim and shared by both backends and by finding rendering,
so the computed fields (ages, a line's provider NPI) are computed in one place.
Money here is Decimal dollars; the fact builder turns it into cents.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, NamedTuple

from claimscrub.compile.history_facts import HistPair, history_contexts
from claimscrub.documentation.encounter_view import encounter_views
from claimscrub.lang.functions import age_on
from claimscrub.model.claim import Claim, Provider


class Key(NamedTuple):
    """Which evaluation of a rule: the line (and other line), diagnosis or encounter record it was about.

    A named tuple rather than a frozen dataclass: one is made per line, pair and diagnosis of every
    claim, and a tuple is made in half the time.
    """

    line: int | None = None
    other: int | None = None
    dx: int | None = None
    encounter: str | None = None  # encounter_id (unique within the claim)
    history: int | None = None  # index of the history line in the claim's history window (history scope)


CLAIM_KEY = Key()


def _provider(p: Provider | None) -> dict | None:
    if p is None:
        return None
    return {"npi": p.npi, "name": p.name, "taxonomy": p.taxonomy, "specialty": p.specialty}


def _units(u: int | Decimal) -> int | Decimal:
    """Whole units as an int, as rules and findings have always shown them; fractional ones stay Decimal."""
    if type(u) is int:
        return u
    return int(u) if isinstance(u, Decimal) and u == u.to_integral_value() else u


@functools.lru_cache(maxsize=1 << 14)
def _dollars(cents: int) -> Decimal:
    """``Decimal(cents) / 100`` (memoised: a batch bills a few hundred distinct amounts; Decimals are immutable)."""
    return Decimal(cents) / 100


def claim_view(claim: Claim) -> dict[str, Any]:
    """The claim as the rules read it (see the module docstring); built once per claim."""
    diagnoses = claim.diagnoses
    dxs = [{"code": d.code, "poa": d.poa, "position": d.position, "is_principal": d.position == 1} for d in diagnoses]
    dx_codes = [d.code for d in diagnoses]
    dx_count = len(dx_codes)
    billing, rendering = claim.billing_provider, claim.rendering_provider
    default_npi = (rendering or billing).npi
    claim_type = claim.type
    patient = claim.patient
    birth = patient.birth_date
    lines: list[dict[str, Any]] = []
    append = lines.append
    first = last = None
    total_cents = 0
    codes_by_pointers: dict[tuple[int, ...], tuple[str, ...]] = {}
    for line in claim.lines:
        from_date, to_date, pointers, units = line.from_date, line.to_date, line.diagnosis_pointers, line.units
        modifiers = line.modifiers
        codes = codes_by_pointers.get(pointers)  # a claim's lines mostly point at the same diagnoses
        if codes is None:
            codes = codes_by_pointers[pointers] = tuple([dx_codes[p - 1] for p in pointers if 0 < p <= dx_count])
        rendering_npi = line.rendering_npi
        cents = line.charge_cents
        total_cents += cents
        if first is None or from_date < first:
            first = from_date
        if last is None or to_date > last:
            last = to_date
        append(
            {
                "sequence": line.sequence,
                "code": line.code,
                "modifiers": list(modifiers) if modifiers else [],
                "units": units if type(units) is int else _units(units),
                "charge": _dollars(cents),
                "from_date": from_date,
                "to_date": to_date,
                "place_of_service": line.place_of_service,
                "diagnosis_pointers": list(pointers) if pointers else [],
                "rendering_npi": rendering_npi,
                "revenue_code": line.revenue_code,
                "ndc": line.ndc,
                "provider_npi": rendering_npi or default_npi,
                "diagnosis_codes": list(codes),
                "patient_age": age_on(birth, from_date),
                "claim_type": claim_type,
            }
        )
    if first is None:  # the claim schema requires a line; the view has no dates of service without one
        raise ValueError(f"claim {claim.claim_id} has no lines")
    payer = claim.payer
    view = {
        "claim_id": claim.claim_id,
        "type": claim_type,
        "frequency": claim.frequency,
        "replaces_claim_id": claim.replaces_claim_id,
        "claim_date": claim.claim_date,
        "payer": {"type": payer.type, "name": payer.name, "id": payer.id},
        "billing_provider": _provider(billing),
        "rendering_provider": _provider(rendering),
        "patient": {"id": patient.id, "sex": patient.sex, "birth_date": birth, "age": age_on(birth, first)},
        "place_of_service": claim.place_of_service,
        "bill_type": claim.bill_type,
        "admission_date": claim.admission_date,
        "discharge_date": claim.discharge_date,
        "diagnoses": dxs,
        "lines": lines,
        "first_service_date": first,
        "last_service_date": last,
        "total_charge": _dollars(total_cents),
        "line_count": len(lines),
        "diagnosis_codes": dx_codes,
        "encounters": [],
        "encounter_problems": [],
        "encounter_count": 0,
        "encounter_problem_count": 0,
    }
    if claim.encounters:  # claims without records pay nothing for the encounter scopes
        encounters, problems = encounter_views(claim, view)
        view["encounters"], view["encounter_problems"] = encounters, problems
        view["encounter_count"] = len(encounters)
        view["encounter_problem_count"] = len(problems)
    return view


def contexts(scope: str, view: dict, pair_keys: tuple[str, ...] = ()) -> Iterator[tuple[dict, str]]:
    """Every (bound names, date of service) a rule of this scope is evaluated on.

    ``pair_keys`` narrows line pairs to lines equal on those fields (see :func:`_pair_groups`).
    Which evaluation it was is :func:`key_of` the names: made only for the few that fire or
    become facts, not for every context.
    """
    if scope == "claim":
        yield {"claim": view}, view["first_service_date"]
    elif scope == "line":
        for line in view["lines"]:
            yield {"claim": view, "line": line}, line["from_date"]
    elif scope == "line_pair":
        for lines in _pair_groups(view["lines"], pair_keys):
            for a in lines:
                for b in lines:
                    if a is not b:
                        yield {"claim": view, "line": a, "other": b}, a["from_date"]
    elif scope == "diagnosis":
        for dx in view["diagnoses"]:
            yield {"claim": view, "dx": dx}, view["first_service_date"]
    elif scope == "encounter":
        for enc in view["encounters"]:
            yield {"claim": view, "enc": enc}, enc["date_of_service"]
    elif scope == "history":
        yield from history_contexts(view)
    elif scope == "encounter_line":
        lines = {line["sequence"]: line for line in view["lines"]} if view["encounters"] else {}
        for enc in view["encounters"]:
            for seq, doc in enc["_docs"].items():
                line = lines[seq]
                yield {"claim": view, "enc": enc, "line": line, "doc": doc}, line["from_date"]
    else:  # pragma: no cover - scopes are validated when rules load
        raise ValueError(scope)


def key_of(names: dict) -> Key:
    """The Key of one context from its bound names (positional: this runs for every fact)."""
    line, other, dx, enc = names.get("line"), names.get("other"), names.get("dx"), names.get("enc")
    hist = names.get("hist")
    return Key(
        line["sequence"] if line is not None else None,
        other["sequence"] if other is not None else None,
        dx["position"] if dx is not None else None,
        enc["encounter_id"] if enc is not None else None,
        hist._index if hist is not None else None,
    )


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
        value = tuple(map(line.get, keys))
        if None not in value:
            groups.setdefault(value, []).append(line)
    return groups.values()


def _line(view: dict, sequence: int) -> dict:
    """The line with this sequence: a loop for short claims; an index kept in the view (``_line_index``,
    a name no rule can read) for long ones, where a loop per finding made 110,000 PTP findings on a
    999-line claim cost 23 s."""
    lines = view["lines"]
    if len(lines) <= 16:
        for line in lines:
            if line["sequence"] == sequence:
                return line
        raise StopIteration  # as next() did: the key came from this view, so this is a programming error
    index = view.get("_line_index")
    if index is None:
        index = view["_line_index"] = {line["sequence"]: line for line in lines}
    if sequence not in index:
        raise StopIteration
    return index[sequence]


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
    if key.history is not None:
        window = view["_history"]
        names["hist"] = HistPair(window.lines[key.history], names["line"], window, key.history)
    if key.encounter is not None:
        enc = next(e for e in view["encounters"] if e["encounter_id"] == key.encounter)
        names["enc"] = enc
        if key.line is None:
            dos = enc["date_of_service"]
        else:
            names["doc"] = enc["_docs"][key.line]
    return names, dos
