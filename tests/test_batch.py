"""The batch phase: cloned notes across claims (CS-AUD-001) and provider E/M mix against peers (CS-AUD-002)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from claimscrub.api.batch import CLONED_RULE, STATS_RULE, ClaimFacts, attach, claim_facts, run_batch
from claimscrub.api.scrubber import ClaimResult
from claimscrub.documentation.cloned import load_cloned_config
from claimscrub.documentation.emstats import BenchmarkError, load_benchmarks
from claimscrub.inputs import read_path
from claimscrub.inputs.encounters import index_encounters, link_claim
from claimscrub.output.writers import csv_rows, jsonl_records, text_lines

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "encounters"
FIXTURES = REPO / "tests" / "fixtures" / "encounters"
SKEWED, IN_LINE = "1234567893", "1114025228"


def example_facts(paths) -> list[ClaimFacts]:
    """Facts of every claim in the files, side-by-side encounters attached as the CLI does."""
    docs: list = []
    items = [i for p in paths for i in read_path(p, docs)]
    index = index_encounters(docs)
    out = []
    for item in items:
        data, _ = link_claim(item.data, index)
        facts = claim_facts(data, item.source)
        assert facts is not None, item.claim_id
        out.append(facts)
    return out


ALL_EXAMPLES = [EXAMPLES / "claims.json", EXAMPLES / "claims_side_by_side.json", FIXTURES / "encounters.json"]


def test_cloned_trio_fires_on_each_claim_naming_the_encounters():
    report = run_batch(example_facts(ALL_EXAMPLES), load_cloned_config(), None)
    hpi = {cid: f for cid, fs in report.claim_findings.items() for f in fs if f.evidence["section"] == "hpi"}
    assert set(hpi) == {"EX-EM-001", "EX-EM-101", "EX-EM-102"}
    f = hpi["EX-EM-101"]
    assert (f.rule_id, f.category, f.severity) == (CLONED_RULE, "documentation", "warning")
    assert f.encounters == ["ENC-001", "ENC-101", "ENC-102"]
    for eid in ("ENC-001", "ENC-101", "ENC-102"):
        assert eid in f.message
    assert "threshold 0.80" in f.message and "Jaccard similarity" in f.message and "hpi" in f.message
    assert f.line == 1 and f.claim_id == "EX-EM-101" and f.encounter == "ENC-101"
    assert "Program Integrity Manual" in f.citation and f.fix
    # the exam is pasted into another patient's note the same day too: one cluster, both scopes named
    exam = [f for f in report.claim_findings["EX-EM-201"] if f.evidence["section"] == "exam"]
    assert len(exam) == 1 and exam[0].encounters == ["ENC-001", "ENC-101", "ENC-102", "ENC-201"]
    assert set(exam[0].evidence["scopes"]) == {"same_patient", "same_provider_day"}
    assert "patients of one provider on one day" in exam[0].message
    # notes that are not copies get nothing
    assert "EX-EM-002" not in report.claim_findings and "EX-EM-004" not in report.claim_findings


def test_a_distinct_note_does_not_fire(tmp_path):
    paths = [EXAMPLES / "claims_side_by_side.json"]
    recs = json.loads((FIXTURES / "encounters.json").read_text())
    recs[2]["sections"]["exam"] = (
        "Throat erythematous with tonsillar exudate on the left, tender anterior cervical nodes, no "
        "uvular deviation, voice normal, tympanic membranes pearly grey bilaterally, lungs clear, rapid "
        "strep antigen positive in clinic today, no rash on trunk or limbs, hydration adequate by mucosa."
    )
    tmp = tmp_path / "encounters.json"
    tmp.write_text(json.dumps(recs))
    report = run_batch(example_facts([*paths, tmp]), load_cloned_config(), None)
    assert "EX-EM-201" not in report.claim_findings
    assert set(report.claim_findings) == {"EX-EM-101", "EX-EM-102"}


def test_threshold_comes_from_the_config():
    strict = load_cloned_config()
    from dataclasses import replace

    facts = example_facts(ALL_EXAMPLES)
    assert run_batch(facts, strict, None).claim_findings
    never = replace(strict, threshold=1.0, min_words=10_000)
    assert run_batch(facts, never, None).claim_findings == {}


def em_claim(cid: str, npi: str, code: str, specialty: str | None = None) -> dict:
    claim = {
        "claim_id": cid,
        "type": "professional",
        "payer": {"type": "commercial"},
        "patient": {"id": f"P-{cid}", "sex": "F", "birth_date": "1960-01-01"},
        "billing_provider": {"npi": "1356308324"},
        "rendering_provider": {"npi": npi},
        "place_of_service": "11",
        "diagnoses": [{"code": "I10"}],
        "lines": [
            {
                "sequence": 1,
                "code": code,
                "units": 1,
                "charge": "100.00",
                "from_date": "2024-03-01",
                "diagnosis_pointers": [1],
            }
        ],
    }
    if specialty:
        claim["rendering_provider"]["specialty"] = specialty
    return claim


def em_claims() -> list[dict]:
    """One claim per visit from tests/fixtures/encounters/em_counts.json (one provider skewed, one in line)."""
    counts = json.loads((FIXTURES / "em_counts.json").read_text())
    return [
        em_claim(f"{npi}-{code}-{i}", npi, code)
        for npi, by_code in counts.items()
        for code, n in by_code.items()
        for i in range(n)
    ]


def test_provider_skewed_to_levels_4_5_gets_a_warning_and_one_at_the_benchmark_none():
    facts = [claim_facts(c) for c in em_claims()]
    report = run_batch(facts, None, load_benchmarks())
    assert [f.provider_npi for f in report.batch_findings] == [SKEWED]
    f = report.batch_findings[0]
    assert (f.rule_id, f.category, f.severity) == (STATS_RULE, "upcoding", "warning")
    assert f.claim_id == "" and f.line is None
    for part in (
        "chi-square",
        "p < 0.0001",
        "mean level 3.83 vs 3.46",
        "levels 4-5 75.0% vs 51.3%",
        "percentile",
        "Reason to look, not an error",
        "default peers",
    ):
        assert part in f.message, part
    assert f.evidence["services"] == 100 and f.evidence["chosen_by"] == "default_specialty"
    assert "peer benchmark family_practice_established (year not stated)" in f.citation
    rows = {r["provider_npi"]: r for r in report.providers}
    assert rows[IN_LINE]["tested"] and rows[IN_LINE]["finding"] is None and rows[IN_LINE]["p_value"] > 0.01
    assert rows[SKEWED]["finding"] == "warning"


def test_too_few_visits_and_unknown_specialty_give_no_finding():
    few = [claim_facts(em_claim(f"F{i}", SKEWED, "99215")) for i in range(5)]
    cardio = [claim_facts(em_claim(f"K{i}", IN_LINE, "99215", specialty="cardiology")) for i in range(40)]
    report = run_batch([*few, *cardio], None, load_benchmarks())
    assert report.batch_findings == []
    assert [r["tested"] for r in report.providers] == [False]
    assert report.not_compared == [{"provider_npi": IN_LINE, "reason": "no benchmark for specialty cardiology"}]


def test_user_benchmark_by_specialty_and_taxonomy(tmp_path):
    table = tmp_path / "peers.yaml"
    table.write_text("""
alpha: 0.05
min_services: 20
benchmarks:
  - id: cardio_2023
    specialty: cardiology
    taxonomies: ["207RC0000X"]
    year: 2023
    source: "our network, CY2023 paid claims"
    patient_status: established
    shares: {"99213": 30, "99214": 50, "99215": 20}
""")
    bs = load_benchmarks(table)
    claims = [em_claim(f"K{i}", IN_LINE, "99215", specialty="cardiology") for i in range(30)]
    report = run_batch([claim_facts(c) for c in claims], None, bs)
    (f,) = report.batch_findings
    assert f.provider_npi == IN_LINE and f.severity == "warning" and "cardio_2023 (2023)" in f.citation
    by_taxonomy = copy.deepcopy(claims)
    for c in by_taxonomy:
        c["rendering_provider"] = {"npi": IN_LINE, "taxonomy": "207RC0000X"}
    assert run_batch([claim_facts(c) for c in by_taxonomy], None, bs).batch_findings
    # no default_specialty: a provider without a specialty is listed as not compared
    plain = [em_claim(f"N{i}", IN_LINE, "99215") for i in range(30)]
    report = run_batch([claim_facts(c) for c in plain], None, bs)
    assert report.batch_findings == [] and "no default_specialty" in report.not_compared[0]["reason"]


@pytest.mark.parametrize(
    "text,problem",
    [
        ("benchmarks: []\n", "non-empty 'benchmarks' list"),
        (
            "benchmarks:\n  - {specialty: s, source: x, shares: {'99213': 50, '99214': 50}}\n",
            r"benchmarks\[0\]: id is required",
        ),
        ("benchmarks:\n  - {id: a, specialty: s, shares: {'99213': 50, '99214': 50}}\n", "source is required"),
        ("benchmarks:\n  - {id: a, specialty: s, source: x, shares: {'99213': 100}}\n", "at least two codes"),
        (
            "benchmarks:\n  - {id: a, specialty: s, source: x, year: twenty, shares: {'99213': 50, '99214': 50}}\n",
            "year must be",
        ),
        (
            "alpha: 2\nbenchmarks:\n  - {id: a, specialty: s, source: x, shares: {'99213': 50, '99214': 50}}\n",
            "alpha must be",
        ),
        (
            "default_specialty: zz\nbenchmarks:\n  - {id: a, specialty: s, source: x, shares: {'99213': 50, '99214': 50}}\n",
            "default_specialty 'zz'",
        ),
        ("benchmarks: [\n", "not valid YAML"),
        ("- just a list\n", "non-empty 'benchmarks' list"),
    ],
)
def test_bad_benchmark_tables_name_the_problem(tmp_path, text, problem):
    path = tmp_path / "peers.yaml"
    path.write_text(text)
    with pytest.raises(BenchmarkError, match=problem):
        load_benchmarks(path)
    with pytest.raises(BenchmarkError, match="cannot read"):
        load_benchmarks(tmp_path / "missing.yaml")


def test_findings_attach_to_their_claims_and_every_format_carries_them():
    facts = example_facts(ALL_EXAMPLES[1:]) + [claim_facts(c) for c in em_claims()]
    report = run_batch(facts, load_cloned_config(), load_benchmarks())
    results = [
        ClaimResult("EX-EM-101", "scrubbed"),
        ClaimResult("EX-EM-999", "scrubbed"),
        ClaimResult("EX-EM-102", "rejected", reason="x"),
    ]
    out = attach(results, report)
    assert [f.rule_id for f in out[0].findings] == [CLONED_RULE, CLONED_RULE]
    assert out[1] is results[1] and out[2].findings == []  # a rejected claim is not given audit findings
    records = list(jsonl_records(None, report))
    assert [r["record"] for r in records] == ["batch_finding", "audit"]
    assert (
        records[0]["provider_npi"] == SKEWED and records[0]["evidence"]["services"] == 103
    )  # 100 + the 3 example visits
    rows = list(csv_rows(None, report))
    assert rows[0]["status"] == "batch" and rows[0]["rule_id"] == STATS_RULE
    text = "\n".join(t for _, t in text_lines(None, report))
    assert f"provider {SKEWED}" in text and "1 flagged" in text
