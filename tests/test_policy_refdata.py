"""The default payer policies against the real CMS MUE table (../shared/refdata, skipped when absent).

Issue #13 item 8: Medicare's MUE 0 'CMS Policy' rows (the preventive visits
99381-99397, which Medicare excludes as routine physical checkups) made every
commercial or Medicaid well-child visit an error. Under the default policies
they stay findings for Medicare only, while clinical MUE rows apply to all.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from claimscrub.api.scrubber import Scrubber
from claimscrub.refdata.importers import import_paths
from claimscrub.refdata.store import open_tables

INFANT = {
    "claim_id": "WELL-1",
    "type": "professional",
    "claim_date": "2024-08-15",
    "billing_provider": {"npi": "1234567893", "taxonomy": "208000000X"},
    "patient": {"id": "P-INF", "sex": "M", "birth_date": "2024-02-10"},
    "place_of_service": "11",
    "diagnoses": [{"code": "Z00.129"}],
}


@pytest.fixture(scope="module")
def tables(refdata: Path, tmp_path_factory: pytest.TempPathFactory):
    data_dir = tmp_path_factory.mktemp("claimscrub-mue")
    _, skipped = import_paths([refdata / "ncci" / "mue_practitioner_2024-07-01.csv"], data_dir)
    assert not skipped, skipped
    return open_tables(data_dir, samples=False)


@pytest.fixture(scope="module")
def scrubber(tables) -> Scrubber:
    return Scrubber(tables=tables, backend="durable")


def scrub(scrubber: Scrubber, payer: str, code: str, units: int = 1):
    claim = {
        **INFANT,
        "payer": {"type": payer, "name": f"{payer} plan"},
        "lines": [
            {
                "sequence": 1,
                "code": code,
                "units": units,
                "charge": "150.00",
                "from_date": "2024-08-01",
                "diagnosis_pointers": [1],
            }
        ],
    }
    result = scrubber.scrub(claim)
    assert result.status == "scrubbed", result.reason
    return [f for f in result.findings if f.rule_id.startswith("CS-MUE")]


def test_99391_for_an_infant_is_an_mue_0_finding_for_medicare_only(scrubber):
    (finding,) = scrub(scrubber, "medicare", "99391")
    assert finding.rule_id == "CS-MUE-002" and "the MUE is 0" in finding.message
    assert finding.table_row["rationale"] == "CMS Policy"
    assert finding.data_edition == "MUE practitioner 2024-07-01"
    assert scrub(scrubber, "commercial", "99391") == []
    assert scrub(scrubber, "medicaid", "99391") == []


def test_clinical_mue_rows_still_apply_to_commercial_and_medicaid(scrubber):
    for payer in ("medicare", "commercial", "medicaid"):
        (finding,) = scrub(scrubber, payer, "99213", units=3)  # MUE 2, 'Clinical: Data'
        assert finding.rule_id == "CS-MUE-002" and "the MUE is 2" in finding.message, payer


def test_without_the_default_policies_the_false_alarm_comes_back(tables):
    plain = Scrubber(tables=tables, backend="durable", default_policies=False)
    assert [f.rule_id for f in scrub(plain, "commercial", "99391")] == ["CS-MUE-002"]
