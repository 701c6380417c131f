"""Time-based codes other than E/M: psychotherapy, critical care, anesthesia units, infusion vs push."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from claimscrub.documentation.em.levels import row_for_minutes
from claimscrub.documentation.em.tables import EmTables, tables_or_default
from claimscrub.documentation.encounter import Encounter

# --------------------------------------------------------------------------- other timed services


@dataclass(frozen=True, slots=True)
class TimedCodeResult:
    code: str | None
    minutes: int | None
    reason: str
    source: str | None = None


def psychotherapy_code(
    minutes: int | None, dos: str, with_em: bool = False, tables: EmTables | None = None
) -> TimedCodeResult:
    """Psychotherapy code by time (90832/90834/90837, or 90833/90836/90838 with an E/M); under 16 min none."""
    family = "with_em" if with_em else "standalone"
    table = next(
        (p for p in tables_or_default(tables).psychotherapy if p.family == family and p.effective.covers(dos)),
        None,
    )
    if table is None:
        return TimedCodeResult(None, minutes, f"no {family} psychotherapy table in force on {dos}")
    if minutes is None:
        return TimedCodeResult(None, None, "psychotherapy time not documented", table.effective.source)
    row = row_for_minutes(list(table.rows), minutes, "range")
    if row is None:
        lowest = min(table.rows, key=lambda r: r.min)
        return TimedCodeResult(
            None,
            minutes,
            f"{minutes} min is under the {lowest.min} min needed: not reportable",
            table.effective.source,
        )
    span = f"{row.min}-{row.max}" if row.max is not None else f"{row.min}+"
    return TimedCodeResult(
        row.code,
        minutes,
        f"{minutes} min: {row.code} ({span} min)",
        table.effective.source,
    )


@dataclass(frozen=True, slots=True)
class CriticalCareResult:
    first_code: str | None  # 99291 or None (under 30 min)
    additional_code: str | None
    additional_units: int
    minutes: int | None
    basis: str | None  # cpt / cms
    reason: str
    source: str | None = None


def critical_care_units(
    minutes: int | None, payer_type: str, dos: str, tables: EmTables | None = None
) -> CriticalCareResult:
    """99291 once for 30-74 min, then 99292 units counted the CPT way or the CMS way (first at 104 min)."""
    table = next(
        (c for c in tables_or_default(tables).critical_care if payer_type in c.payers and c.effective.covers(dos)),
        None,
    )
    if table is None:
        return CriticalCareResult(
            None,
            None,
            0,
            minutes,
            None,
            f"no critical care table for payer type {payer_type} on {dos}",
        )
    src = table.effective.source
    if minutes is None:
        return CriticalCareResult(None, None, 0, None, table.basis, "critical care time not documented", src)
    if minutes < table.first_min:
        return CriticalCareResult(
            None,
            None,
            0,
            minutes,
            table.basis,
            f"{minutes} min is under the {table.first_min} min critical care needs: report another E/M",
            src,
        )
    extra = (
        0
        if minutes < table.additional_first_at
        else 1 + (minutes - table.additional_first_at) // table.additional_unit_minutes
    )
    return CriticalCareResult(
        table.first_code,
        table.additional_code if extra else None,
        extra,
        minutes,
        table.basis,
        f"{minutes} min ({table.basis.upper()}): {table.first_code}"
        + (
            f" + {extra} x {table.additional_code} (first at {table.additional_first_at}, then each {table.additional_unit_minutes})"
            if extra
            else ""
        ),
        src,
    )


def anesthesia_time_units(minutes: int, dos: str, tables: EmTables | None = None) -> Decimal:
    """Anesthesia time units = minutes / 15, rounded per the table (one decimal for Medicare)."""
    table = next((a for a in tables_or_default(tables).anesthesia if a.effective.covers(dos)), None)
    if table is None:
        raise LookupError(f"no anesthesia time table in force on {dos}")
    exponent = Decimal(1).scaleb(-table.decimals)
    return (Decimal(minutes) / Decimal(table.unit_minutes)).quantize(exponent, rounding=ROUND_HALF_UP)


def infusion_or_push(minutes: int, dos: str, tables: EmTables | None = None) -> str:
    """'push' when the documented infusion time is at or under the push maximum, else 'infusion' (secondary-source figure)."""
    table = next((a for a in tables_or_default(tables).infusion if a.effective.covers(dos)), None)
    if table is None:
        raise LookupError(f"no infusion time table in force on {dos}")
    return "push" if minutes <= table.push_max_minutes else "infusion"


# --------------------------------------------------------------------------- encounter-level wrappers


def timed_minutes(encounter: Encounter, *services: str) -> int | None:
    """Total documented minutes of the timed services of these kinds (blocks add up); None when none is documented."""
    durations = [
        t.duration_minutes for t in encounter.timed_services if t.service in services and t.duration_minutes is not None
    ]
    return sum(durations) if durations else None


def psychotherapy_for(encounter: Encounter, tables: EmTables | None = None) -> TimedCodeResult:
    """Psychotherapy code the record's psychotherapy time supports (add-on family when documented with an E/M)."""
    with_em = any(t.service == "psychotherapy_with_em" for t in encounter.timed_services)
    service = "psychotherapy_with_em" if with_em else "psychotherapy"
    return psychotherapy_code(timed_minutes(encounter, service), encounter.date_of_service, with_em, tables)


def critical_care_for(encounter: Encounter, payer_type: str, tables: EmTables | None = None) -> CriticalCareResult:
    """Critical care codes the record's critical care time supports for the payer type."""
    return critical_care_units(
        timed_minutes(encounter, "critical_care"),
        payer_type,
        encounter.date_of_service,
        tables,
    )


def anesthesia_units_for(encounter: Encounter, tables: EmTables | None = None) -> Decimal | None:
    """Anesthesia time units from the record's start/stop blocks; None when no anesthesia time is documented."""
    minutes = timed_minutes(encounter, "anesthesia")
    if minutes is None:
        return None
    return anesthesia_time_units(minutes, encounter.date_of_service, tables)
