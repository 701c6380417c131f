"""E/M level the documentation supports, and the other time-based code rules.

Pure functions over an :class:`~claimscrub.documentation.encounter.Encounter` and the data
tables in ``rules/tables/em/`` (every threshold is data, with its source and
effective dates; a user can load their own directory). Results explain *why*,
so a finding can say "documentation supports 99213: MDM low (problems low:
1 stable chronic illness; data minimal; risk low), time 22 min (99213 needs
20 from 2024)".

Three modules, one per concern: :mod:`.tables` loads the data tables, :mod:`.levels`
derives the E/M level (MDM, time, code, billed vs supported, prolonged services),
:mod:`.timed` handles the other timed services. This package names their public API.
"""

from __future__ import annotations

from claimscrub.documentation.em.levels import (  # noqa: F401
    ElementScore,
    EmCheck,
    EmLevelResult,
    MdmResult,
    ProlongedResult,
    TimeResult,
    check_billed_em,
    code_for_level,
    code_not_for_payer,
    derive_em_level,
    em_family,
    em_time_minutes,
    level_codes,
    mdm_level,
    prolonged_code_for_payer,
    prolonged_for,
    prolonged_units,
    row_for_minutes,
    score_data,
    score_problems,
    score_risk,
    time_level,
    time_need,
    time_requirement,
)
from claimscrub.documentation.em.tables import (  # noqa: F401
    ELEMENTS,
    FILES,
    LEVEL_KEYS,
    AnesthesiaTable,
    CriticalCareTable,
    DataThresholds,
    EffectivePeriod,
    EmTableError,
    EmTables,
    InfusionTable,
    Level,
    LevelCodes,
    MdmTable,
    ProblemRule,
    ProlongedTable,
    PsychotherapyTable,
    TimeRow,
    TimeTable,
    bundled_em_tables,
    bundled_tables_dir,
    load_em_tables,
    tables_or_default,
)
from claimscrub.documentation.em.timed import (  # noqa: F401
    CriticalCareResult,
    TimedCodeResult,
    anesthesia_time_units,
    anesthesia_units_for,
    critical_care_for,
    critical_care_units,
    infusion_or_push,
    psychotherapy_code,
    psychotherapy_for,
    timed_minutes,
)
