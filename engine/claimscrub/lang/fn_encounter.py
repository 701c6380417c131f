"""Rule functions over the E/M tables (rules/tables/em/): the figures stay data, with their sources.

Listed in functions.FUNCTIONS. Each reads the table
in force on the evaluation's date of service, so a rule written once follows
the edition changes the tables record.
"""

from __future__ import annotations

from claimscrub.documentation import em as E
from claimscrub.lang.signature import Function
from claimscrub.lang.types import STRING


def em_prolonged_code(ctx, payer_type: str | None) -> str | None:
    """The prolonged-service code a payer type takes on the date of service (99417, or G2212 for Medicare)."""
    if payer_type is None or ctx.dos is None:
        return None
    table = E.prolonged_code_for_payer(payer_type, ctx.dos)
    return table.code if table else None


def em_time_need(ctx, code: str | None) -> str | None:
    """The minutes an E/M code needs on the date of service ('30 min from 2024'); missing when not time-tabled."""
    if code is None or ctx.dos is None:
        return None
    return E.time_requirement(code.upper(), ctx.dos)


FUNCTIONS = (
    Function(
        "em_prolonged_code",
        (STRING,),
        STRING,
        em_prolonged_code,
        "The prolonged-service code (99417 or G2212) a payer type takes on the date of service, "
        "from rules/tables/em/prolonged_services.yaml.",
        needs_context=True,
    ),
    Function(
        "em_time_need",
        (STRING,),
        STRING,
        em_time_need,
        "The total time an E/M code needs on the date of service ('30 min from 2024'), from "
        "rules/tables/em/em_time_thresholds.yaml.",
        needs_context=True,
    ),
)
