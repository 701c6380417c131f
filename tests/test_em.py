"""E/M level derivation: MDM 2-of-3, time thresholds by date, billed vs supported, timed codes."""

from __future__ import annotations

import dataclasses
import shutil
from decimal import Decimal

import pytest

from claimscrub.documentation import em
from claimscrub.documentation.em import EmTableError, Level
from claimscrub.documentation.encounter import encounter_from_document

STABLE = {"type": "chronic_illness", "status": "stable"}


def encounter(
    dos="2024-03-05",
    minutes=None,
    problems=(),
    data=None,
    risk=(),
    status="established",
    setting="office",
    basis="mdm",
    kind=None,
    mdm=True,
    activities=None,
):
    doc = {
        "encounter_id": "ENC-T",
        "date_of_service": dos,
        "link": {"claim_id": "CLM-T"},
        "em": {"basis": basis, "setting": setting},
    }
    if status:
        doc["em"]["patient_status"] = status
    if kind:
        doc["em"]["visit_kind"] = kind
    if mdm:
        doc["mdm"] = {
            "problems": list(problems),
            "data": data or {},
            "risk": [{"type": r} for r in risk],
        }
    if minutes is not None:
        doc["total_time_minutes"] = minutes
    if activities is not None:
        doc["time_activities"] = activities
    return encounter_from_document(doc)


def supported(**kw):
    return em.derive_em_level(encounter(**kw)).supported_code


# --------------------------------------------------------------------------- time boundaries


def test_exactly_20_minutes_supports_99213_in_2024():
    r = em.derive_em_level(encounter(minutes=20, basis="time"))
    assert r.time.code == "99213"
    assert r.supported_code == "99213"
    assert r.basis == "time"
    assert "99213 needs 20 from 2024" in r.explain()


def test_19_minutes_is_99212_in_2024():
    r = em.derive_em_level(encounter(minutes=19, basis="time"))
    assert r.time.code == "99212"
    assert r.supported_code == "99212"


def test_2022_ranges():
    assert supported(dos="2022-06-01", minutes=29, basis="time") == "99213"
    assert supported(dos="2022-06-01", minutes=30, basis="time") == "99214"
    assert supported(dos="2022-06-01", minutes=39, basis="time") == "99214"
    assert supported(dos="2022-06-01", minutes=40, basis="time") == "99215"
    assert supported(dos="2022-06-01", minutes=44, basis="time", status="new") == "99203"
    r = em.derive_em_level(encounter(dos="2022-06-01", minutes=25, basis="time"))
    assert r.time.table.id == "office_outpatient_2021"
    assert "99213 needs 20-29 in 2021-2023" in r.time.explain()


def test_over_the_top_range_still_the_top_code():
    r = em.derive_em_level(encounter(dos="2022-06-01", minutes=80, basis="time", status="new"))
    assert r.supported_code == "99205"
    assert "beyond the top range" in r.time.explain()


def test_below_the_lowest_threshold_gives_no_time_level():
    r = em.derive_em_level(encounter(minutes=9, mdm=False))
    assert r.time.code is None
    assert "below the 10 min 99212 needs" in r.time.explain()
    assert r.supported_code is None


def test_table_switch_on_2024_01_01():
    assert em.time_level(20, "office_outpatient", "2023-12-31", "established").table.id == "office_outpatient_2021"
    assert em.time_level(20, "office_outpatient", "2024-01-01", "established").table.id == "office_outpatient_2024"


def test_no_time_table_before_2021_is_said_not_passed():
    r = em.time_level(30, "office_outpatient", "2020-12-31", "established")
    assert r.code is None and "no office_outpatient time table in force on 2020-12-31" in r.explain()


@pytest.mark.parametrize(
    ("dos", "minutes", "setting", "kind", "code"),
    [
        ("2023-02-01", 40, "inpatient", "initial", "99221"),
        ("2023-02-01", 54, "observation", "initial", "99221"),
        ("2023-02-01", 55, "observation", "initial", "99222"),
        ("2024-02-01", 75, "inpatient", "initial", "99223"),
        ("2023-02-01", 25, "inpatient", "subsequent", "99231"),
        ("2023-02-01", 35, "inpatient", "subsequent", "99232"),
        ("2023-02-01", 50, "inpatient", "subsequent", "99233"),
    ],
)
def test_inpatient_observation_from_2023(dos, minutes, setting, kind, code):
    assert supported(dos=dos, minutes=minutes, setting=setting, status=None, kind=kind, mdm=False) == code


def test_no_inpatient_observation_codes_before_2023():
    r = em.derive_em_level(encounter(dos="2022-12-31", minutes=50, setting="inpatient", status=None, kind="subsequent"))
    assert r.supported_code is None and "no inpatient_observation level codes in force on 2022-12-31" in r.note


def test_time_from_activities_excludes_staff_travel_and_separate_services():
    e = encounter(
        mdm=False,
        activities=[
            {"activity": "history_exam", "minutes": 12},
            {"activity": "documenting", "minutes": 8},
            {
                "activity": "counseling_education",
                "minutes": 15,
                "performed_by": "clinical_staff",
            },
            {"activity": "travel", "minutes": 20},
            {"activity": "separately_reported_service", "minutes": 10},
        ],
    )
    assert em.em_time_minutes(e) == (20, "sum of counted activities")
    assert em.derive_em_level(e).supported_code == "99213"


def test_documented_total_wins_over_activities():
    e = encounter(minutes=31, mdm=False, activities=[{"activity": "history_exam", "minutes": 5}])
    assert em.em_time_minutes(e) == (31, "documented total")


def test_documented_total_less_separately_billed_minutes():
    # issue #13 item 13: 99214 at 30 = 15 + 5 + 10 on an ECG billed on its own line supports 99213
    e = encounter(
        minutes=30,
        mdm=False,
        activities=[
            {"activity": "history_exam", "minutes": 15},
            {"activity": "documenting", "minutes": 5},
            {"activity": "separately_reported_service", "minutes": 10},
        ],
    )
    assert em.em_time_minutes(e) == (20, "documented total 30 less 10 not counted")
    assert em.derive_em_level(e).supported_code == "99213"
    whole = encounter(minutes=30, mdm=False, activities=[{"activity": "history_exam", "minutes": 30}])
    assert em.derive_em_level(whole).supported_code == "99214"
    # activities adding up to more than the total: the total already leaves the staff's minutes out
    apart = encounter(
        minutes=20,
        mdm=False,
        activities=[
            {"activity": "history_exam", "minutes": 12},
            {"activity": "documenting", "minutes": 8},
            {"activity": "counseling_education", "minutes": 10, "performed_by": "clinical_staff"},
        ],
    )
    assert em.em_time_minutes(apart) == (20, "documented total")


# --------------------------------------------------------------------------- MDM


def test_mdm_is_the_median_low_moderate_moderate_is_moderate():
    r = em.mdm_level(
        encounter(
            problems=[STABLE],
            data={"independent_interpretations": [{"test": "71046"}]},
            risk=["prescription_drug_management"],
        ).mdm
    )
    assert (r.problems.level, r.data.level, r.risk.level) == (
        Level.LOW,
        Level.MODERATE,
        Level.MODERATE,
    )
    assert r.level == Level.MODERATE


def test_mdm_high_high_low_is_high_and_one_high_alone_is_not():
    high = em.mdm_level(
        encounter(
            problems=[{"type": "threat_to_life_or_function"}],
            data={
                "independent_interpretations": [{"test": "93000"}],
                "external_discussions": [{"with": "external_physician"}],
            },
            risk=["otc_drugs"],
        ).mdm
    )
    assert high.level == Level.HIGH
    one = em.mdm_level(encounter(problems=[{"type": "threat_to_life_or_function"}], risk=["otc_drugs"]).mdm)
    assert one.level == Level.LOW


@pytest.mark.parametrize(
    "problems,level",
    [
        ([], Level.NONE),
        ([{"type": "self_limited"}], Level.STRAIGHTFORWARD),
        ([{"type": "self_limited"}, {"type": "self_limited"}], Level.LOW),
        ([STABLE], Level.LOW),
        ([{"type": "acute_uncomplicated"}], Level.LOW),
        ([STABLE, STABLE], Level.MODERATE),
        ([{"type": "chronic_illness", "status": "exacerbation"}], Level.MODERATE),
        ([{"type": "chronic_illness", "status": "not_at_goal"}], Level.MODERATE),
        ([{"type": "undiagnosed_new_uncertain_prognosis"}], Level.MODERATE),
        ([{"type": "acute_systemic_symptoms"}], Level.MODERATE),
        ([{"type": "acute_complicated_injury"}], Level.MODERATE),
        ([{"type": "chronic_illness", "status": "severe_exacerbation"}], Level.HIGH),
        ([{"type": "threat_to_life_or_function"}], Level.HIGH),
    ],
)
def test_problem_levels(problems, level):
    assert em.score_problems([encounter(problems=problems).mdm.problems][0]).level == level


def test_chronic_illness_without_status_is_not_credited_and_says_so():
    s = em.score_problems(encounter(problems=[{"type": "chronic_illness"}]).mdm.problems)
    assert s.level == Level.NONE
    assert s.label == "none scorable"
    assert "chronic illness without a scorable status (not counted)" in s.reasons


def test_problem_reasons_name_the_items():
    s = em.score_problems(encounter(problems=[STABLE]).mdm.problems)
    assert s.explain() == "problems low: 1 stable chronic illness"


@pytest.mark.parametrize(
    "data,level,label",
    [
        ({}, Level.STRAIGHTFORWARD, "minimal"),
        (
            {"items": [{"category": "test_result", "test": "80053"}]},
            Level.STRAIGHTFORWARD,
            "minimal",
        ),
        (
            {
                "items": [
                    {"category": "test_result", "test": "80053"},
                    {"category": "test_ordered", "test": "85025"},
                ]
            },
            Level.LOW,
            "limited",
        ),
        ({"independent_historian": True}, Level.LOW, "limited"),
        # ordered and reviewed: the same test counts once
        (
            {
                "items": [
                    {"category": "test_ordered", "test": "80053"},
                    {"category": "test_result", "test": "80053"},
                ]
            },
            Level.STRAIGHTFORWARD,
            "minimal",
        ),
        # two notes from the same source count once
        (
            {
                "items": [
                    {"category": "external_note", "source": "Cardiology group"},
                    {"category": "external_note", "source": "cardiology group"},
                ]
            },
            Level.STRAIGHTFORWARD,
            "minimal",
        ),
        (
            {
                "items": [
                    {"category": "test_result", "test": "80053"},
                    {"category": "test_result", "test": "85025"},
                    {"category": "external_note", "source": "ED"},
                ]
            },
            Level.MODERATE,
            "moderate",
        ),
        (
            {
                "items": [
                    {"category": "test_result", "test": "80053"},
                    {"category": "test_result", "test": "85025"},
                ],
                "independent_historian": True,
            },
            Level.MODERATE,
            "moderate",
        ),
        (
            {"independent_interpretations": [{"test": "71046"}]},
            Level.MODERATE,
            "moderate",
        ),
        (
            {"independent_interpretations": [{"test": "71046", "separately_reported": True}]},
            Level.STRAIGHTFORWARD,
            "minimal",
        ),
        (
            {"external_discussions": [{"with": "external_physician"}]},
            Level.MODERATE,
            "moderate",
        ),
        (
            {
                "independent_interpretations": [{"test": "71046"}],
                "external_discussions": [{"with": "external_qhp"}],
            },
            Level.HIGH,
            "extensive",
        ),
        (
            {
                "items": [
                    {"category": "test_result", "test": "80053"},
                    {"category": "test_result", "test": "85025"},
                    {"category": "test_ordered", "test": "71046"},
                ],
                "external_discussions": [{"with": "appropriate_source"}],
            },
            Level.HIGH,
            "extensive",
        ),
        # a separately reported test is not data for the E/M
        (
            {
                "items": [
                    {"category": "test_result", "test": "80053"},
                    {
                        "category": "test_ordered",
                        "test": "93000",
                        "separately_reported": True,
                    },
                ]
            },
            Level.STRAIGHTFORWARD,
            "minimal",
        ),
    ],
)
def test_data_levels(data, level, label):
    s = em.score_data(encounter(data=data).mdm.data)
    assert (s.level, s.label) == (level, label)


@pytest.mark.parametrize(
    "risk,level",
    [
        ([], Level.STRAIGHTFORWARD),
        (["otc_drugs"], Level.LOW),
        (["otc_drugs", "prescription_drug_management"], Level.MODERATE),
        (["social_determinants_limiting"], Level.MODERATE),
        (["decision_hospitalization"], Level.HIGH),
        (["dnr_or_deescalation"], Level.HIGH),
        (["drug_therapy_intensive_toxicity_monitoring"], Level.HIGH),
    ],
)
def test_risk_levels(risk, level):
    assert em.score_risk(encounter(risk=risk).mdm.risk).level == level


def test_risk_item_a_user_table_leaves_out_names_the_table_and_type():
    bundled = em.bundled_em_tables()
    risk = {k: v for k, v in bundled.mdm.risk.items() if k != "otc_drugs"}
    tables = dataclasses.replace(bundled, mdm=dataclasses.replace(bundled.mdm, risk=risk))
    items = encounter(risk=["minimal_management", "otc_drugs"]).mdm.risk
    with pytest.raises(EmTableError, match=r"em_mdm_levels.yaml: risk: no level for risk item type 'otc_drugs'"):
        em.score_risk(items, tables)
    assert em.score_risk(items).level == Level.LOW


def test_no_mdm_documented():
    r = em.mdm_level(None)
    assert r.level == Level.NONE and r.explain() == "MDM not documented"


# --------------------------------------------------------------------------- supported level and codes


def test_supported_is_max_of_mdm_and_time():
    r = em.derive_em_level(encounter(problems=[STABLE, STABLE], risk=["prescription_drug_management"], minutes=21))
    assert (r.mdm_code, r.time.code, r.supported_code, r.basis) == (
        "99214",
        "99213",
        "99214",
        "mdm",
    )
    r = em.derive_em_level(encounter(problems=[STABLE], risk=["otc_drugs"], minutes=41, basis="time"))
    assert (r.mdm_code, r.time.code, r.supported_code, r.basis) == (
        "99213",
        "99215",
        "99215",
        "time",
    )


def test_tie_takes_the_documented_basis():
    r = em.derive_em_level(encounter(problems=[STABLE], risk=["otc_drugs"], minutes=22, basis="time"))
    assert r.supported_code == "99213" and r.basis == "time"
    r = em.derive_em_level(encounter(problems=[STABLE], risk=["otc_drugs"], minutes=22, basis="mdm"))
    assert r.basis == "mdm"


def test_new_vs_established_codes():
    assert em.code_for_level(Level.LOW, "office_outpatient", "2024-01-01", "new") == "99203"
    assert em.code_for_level(Level.HIGH, "office_outpatient", "2024-01-01", "established") == "99215"
    assert em.code_for_level(Level.LOW, "inpatient_observation", "2023-01-01", visit_kind="initial") == "99221"
    assert (
        em.code_for_level(
            Level.MODERATE,
            "inpatient_observation",
            "2023-01-01",
            visit_kind="subsequent",
        )
        == "99232"
    )
    assert em.code_for_level(Level.NONE, "office_outpatient", "2024-01-01", "new") is None
    assert em.code_for_level(Level.LOW, "office_outpatient", "2020-01-01", "new") is None


def test_explanation_reads_like_a_finding():
    r = em.derive_em_level(encounter(problems=[STABLE], risk=["otc_drugs"], minutes=22))
    assert r.explain() == (
        "documentation supports 99213: MDM low (problems low: 1 stable chronic illness; data minimal; "
        "risk low: otc drugs), time 22 min (99213 needs 20 from 2024)"
    )


def test_settings_without_a_table_say_so():
    r = em.derive_em_level(encounter(setting="emergency_department", problems=[STABLE]))
    assert r.supported_code is None and r.note == "no E/M level table for setting emergency_department"


# --------------------------------------------------------------------------- billed vs supported


def test_low_mdm_22_minutes_billed_99214_supports_99213():
    r = em.derive_em_level(encounter(problems=[STABLE], risk=["otc_drugs"], minutes=22))
    check = em.check_billed_em(r, "99214")
    assert check.status == "over"
    assert check.supported_code == "99213"
    assert "documentation supports 99213" in check.message
    assert "MDM low (problems low: 1 stable chronic illness" in check.message
    assert "time 22 min (99213 needs 20 from 2024)" in check.message
    assert check.message.endswith("99214 needs moderate MDM or 30 min from 2024")


def test_billed_against_a_result_without_a_family_is_not_comparable():
    # derive_em_level always notes why it found no family; a result built by hand may not
    r = dataclasses.replace(em.derive_em_level(encounter(setting="emergency_department")), note=None)
    check = em.check_billed_em(r, "99283")
    assert check.status == "not_comparable"
    assert check.message == "billed 99283; no E/M level table for this encounter"


def test_billed_matches_and_under():
    r = em.derive_em_level(encounter(problems=[STABLE], minutes=22))
    assert em.check_billed_em(r, "99213").status == "supported"
    assert em.check_billed_em(r, "99212").status == "under"


def test_billed_new_patient_code_for_established_patient_is_a_mismatch():
    r = em.derive_em_level(encounter(problems=[STABLE], minutes=22))
    check = em.check_billed_em(r, "99203")
    assert check.status == "mismatch" and "new-patient code" in check.message


def test_99211_needs_no_level():
    r = em.derive_em_level(encounter(mdm=False))
    assert em.check_billed_em(r, "99211").status == "supported"
    assert em.check_billed_em(r, "99212").status == "unsupported"


def test_2022_billed_check_quotes_the_range():
    r = em.derive_em_level(encounter(dos="2022-05-02", problems=[STABLE], minutes=25))
    assert r.mdm.level == Level.STRAIGHTFORWARD  # low problems alone: data and risk minimal
    check = em.check_billed_em(r, "99214")
    assert check.status == "over"
    assert "99214 needs moderate MDM or 30-39 min in 2021-2023" in check.message


# --------------------------------------------------------------------------- prolonged services


@pytest.mark.parametrize(
    "payer,primary,minutes,code,units",
    [
        ("commercial", "99205", 74, None, 0),
        ("commercial", "99205", 75, "99417", 1),
        ("commercial", "99205", 89, "99417", 1),
        ("commercial", "99205", 90, "99417", 2),
        ("commercial", "99215", 54, None, 0),
        ("commercial", "99215", 55, "99417", 1),
        ("commercial", "99215", 70, "99417", 2),
        ("medicare", "99205", 88, None, 0),
        ("medicare", "99205", 89, "G2212", 1),
        ("medicare", "99205", 104, "G2212", 2),
        ("medicare", "99215", 68, None, 0),
        ("medicare", "99215", 69, "G2212", 1),
        ("medicare", "99215", 84, "G2212", 2),
    ],
)
def test_prolonged_units(payer, primary, minutes, code, units):
    r = em.prolonged_units(primary, minutes, payer, "2024-05-01")
    assert (r.code, r.units) == (code, units)


def test_prolonged_only_with_level_5():
    r = em.prolonged_units("99214", 90, "commercial", "2024-05-01")
    assert r.code is None and "not 99214" in r.reason


def test_prolonged_needs_time_based_level_5():
    r = em.prolonged_units("99215", 90, "commercial", "2024-05-01", time_based=False)
    assert r.code is None and "chosen by time" in r.reason
    # MDM high but time only at 99214: no prolonged service from the encounter
    result = em.derive_em_level(
        encounter(
            problems=[{"type": "threat_to_life_or_function"}],
            risk=["decision_hospitalization"],
            minutes=35,
        )
    )
    assert result.supported_code == "99215"
    assert em.prolonged_for(result, "commercial").code is None
    result = em.derive_em_level(encounter(problems=[STABLE], minutes=70, basis="time"))
    p = em.prolonged_for(result, "commercial")
    assert (p.code, p.units) == ("99417", 2)
    p = em.prolonged_for(result, "medicare")
    assert (p.code, p.units) == ("G2212", 1)


def test_99417_is_not_for_medicare():
    assert em.code_not_for_payer("99417", "medicare")
    assert not em.code_not_for_payer("99417", "commercial")
    assert not em.code_not_for_payer("G2212", "medicare")


# --------------------------------------------------------------------------- other timed codes


@pytest.mark.parametrize(
    "minutes,code",
    [
        (None, None),
        (15, None),
        (16, "90832"),
        (37, "90832"),
        (38, "90834"),
        (52, "90834"),
        (53, "90837"),
        (120, "90837"),
    ],
)
def test_psychotherapy(minutes, code):
    assert em.psychotherapy_code(minutes, "2024-02-02").code == code


def test_psychotherapy_with_em_add_ons():
    assert em.psychotherapy_code(16, "2024-02-02", with_em=True).code == "90833"
    assert em.psychotherapy_code(40, "2024-02-02", with_em=True).code == "90836"
    assert em.psychotherapy_code(60, "2024-02-02", with_em=True).code == "90838"
    assert "not reportable" in em.psychotherapy_code(10, "2024-02-02").reason


@pytest.mark.parametrize(
    "payer,minutes,first,extra",
    [
        ("commercial", 29, None, 0),
        ("commercial", 30, "99291", 0),
        ("commercial", 74, "99291", 0),
        ("commercial", 75, "99291", 1),
        ("commercial", 104, "99291", 1),
        ("commercial", 105, "99291", 2),
        ("medicare", 75, "99291", 0),
        ("medicare", 103, "99291", 0),
        ("medicare", 104, "99291", 1),
        ("medicare", 133, "99291", 1),
        ("medicare", 134, "99291", 2),
    ],
)
def test_critical_care(payer, minutes, first, extra):
    r = em.critical_care_units(minutes, payer, "2024-03-03")
    assert (r.first_code, r.additional_units) == (first, extra)
    assert r.basis == ("cms" if payer == "medicare" else "cpt")


def test_critical_care_medicare_before_2022_has_no_table():
    r = em.critical_care_units(110, "medicare", "2021-06-01")
    assert r.first_code is None and "no critical care table" in r.reason


def test_anesthesia_units():
    assert em.anesthesia_time_units(60, "2024-01-01") == Decimal("4.0")
    assert em.anesthesia_time_units(67, "2024-01-01") == Decimal("4.5")
    assert em.anesthesia_time_units(68, "2024-01-01") == Decimal("4.5")
    assert em.anesthesia_time_units(7, "2024-01-01") == Decimal("0.5")


def test_infusion_or_push():
    assert em.infusion_or_push(15, "2024-01-01") == "push"
    assert em.infusion_or_push(16, "2024-01-01") == "infusion"


def test_timed_service_minutes_from_start_stop():
    e = encounter_from_document(
        {
            "encounter_id": "ENC-A",
            "date_of_service": "2024-01-01",
            "link": {"claim_id": "C"},
            "timed_services": [
                {
                    "service": "anesthesia",
                    "start": "2024-01-01T23:30",
                    "stop": "2024-01-02T00:37",
                }
            ],
        }
    )
    minutes = e.timed("anesthesia")[0].duration_minutes
    assert minutes == 67
    assert em.anesthesia_time_units(minutes, e.date_of_service) == Decimal("4.5")


# --------------------------------------------------------------------------- tables are data


def test_every_table_cites_a_source_and_dates():
    t = em.load_em_tables()
    for group in (
        t.time,
        t.prolonged,
        t.psychotherapy,
        t.critical_care,
        t.anesthesia,
        t.infusion,
    ):
        for table in group:
            assert table.effective.source and table.effective.effective_from
    for lc in t.mdm.level_codes:
        assert lc.effective.source
    assert all(isinstance(r.code, str) for table in t.time for r in table.rows)


def test_user_tables_replace_bundled_ones(tmp_path):
    (tmp_path / "em_time_thresholds.yaml").write_text(
        """
kind: em_time_thresholds
tables:
  - id: strict
    family: office_outpatient
    method: minimum
    effective_from: "2024-01-01"
    effective_to: null
    source: "house policy"
    rows:
      - {code: "99212", patient_status: established, min: 10}
      - {code: "99213", patient_status: established, min: 25}
"""
    )
    t = em.load_em_tables(tmp_path)
    assert em.time_level(22, "office_outpatient", "2024-03-01", "established", tables=t).code == "99212"
    # the other files still come from the bundle
    assert em.psychotherapy_code(16, "2024-03-01", tables=t).code == "90832"


def test_unquoted_code_is_rejected(tmp_path):
    shutil.copy(
        em.bundled_tables_dir() / "psychotherapy_time.yaml",
        tmp_path / "psychotherapy_time.yaml",
    )
    (tmp_path / "psychotherapy_time.yaml").write_text(
        (tmp_path / "psychotherapy_time.yaml").read_text().replace('code: "90832"', "code: 90832")
    )
    with pytest.raises(EmTableError, match="must be a quoted string"):
        em.load_em_tables(tmp_path)


def test_missing_source_is_rejected(tmp_path):
    (tmp_path / "anesthesia_time.yaml").write_text(
        'kind: anesthesia_time\ntables:\n  - {id: x, effective_from: "2020-01-01", unit_minutes: 15}\n'
    )
    with pytest.raises(EmTableError, match="source is required"):
        em.load_em_tables(tmp_path)


def test_summary_is_json_ready():
    import json

    r = em.derive_em_level(encounter(problems=[STABLE], risk=["otc_drugs"], minutes=22))
    s = json.loads(json.dumps(r.summary()))
    assert s["supported_code"] == "99213" and s["mdm_level"] == "low"
    assert s["elements"]["problems"] == {
        "level": "low",
        "reasons": ["1 stable chronic illness"],
    }
    assert s["time_table"] == "office_outpatient_2024" and "CPT 2024" in s["time_source"]


def _timed(*services, dos="2024-02-12"):
    return encounter_from_document(
        {
            "encounter_id": "ENC-W",
            "date_of_service": dos,
            "link": {"claim_id": "C"},
            "timed_services": list(services),
        }
    )


def test_encounter_wrappers_sum_blocks():
    e = _timed(
        {
            "service": "critical_care",
            "start": "2024-02-12T10:00",
            "stop": "2024-02-12T11:00",
        },
        {"service": "critical_care", "minutes": 44},
    )
    assert em.timed_minutes(e, "critical_care") == 104
    r = em.critical_care_for(e, "medicare")
    assert (r.first_code, r.additional_units) == ("99291", 1)
    assert em.timed_minutes(e, "anesthesia") is None
    assert em.anesthesia_units_for(e) is None


def test_psychotherapy_for_picks_the_family():
    alone = _timed(
        {
            "service": "psychotherapy",
            "start": "2024-02-12T14:00",
            "stop": "2024-02-12T14:50",
        }
    )
    assert em.psychotherapy_for(alone).code == "90834"
    with_em = _timed({"service": "psychotherapy_with_em", "minutes": 30})
    assert em.psychotherapy_for(with_em).code == "90833"
    none = _timed()
    assert em.psychotherapy_for(none).code is None


def test_anesthesia_units_for():
    e = _timed(
        {
            "service": "anesthesia",
            "start": "2024-02-12T08:00",
            "stop": "2024-02-12T08:40",
        },
        {
            "service": "anesthesia",
            "start": "2024-02-12T09:00",
            "stop": "2024-02-12T09:27",
        },
    )
    assert em.anesthesia_units_for(e) == Decimal("4.5")
