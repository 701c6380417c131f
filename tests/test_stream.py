"""Streaming scrub (issue #18): raw lines parsed in workers, records written as they come, counted not kept.

The contract is that nothing a user sees changes: the same records, in input order, the same
summary and exit code, whatever the number of workers and whether the cross-claim phase spools.
"""

from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from claimscrub.api.scrubber import Scrubber
from claimscrub.api.workers import WorkerPool, default_workers
from claimscrub.cli.main import main
from claimscrub.compile.findings import Finding, sort_key
from claimscrub.inputs import read_bytes
from claimscrub.inputs.base import InputItem
from claimscrub.inputs.lines import RawLine, is_json_lines, items_of, mentions, raw_lines
from claimscrub.output.compact import compact_record, rule_dictionary
from claimscrub.output.stream import Packing, Totals, finding_order, merge, result_record
from claimscrub.output.writers import summary

REPO = Path(__file__).resolve().parents[1]
CONFIG = {"data_dir": "/nonexistent-data-dir", "backend": "durable"}


def claim(cid: str, patient: str = "P1", code: str = "99213", modifiers: tuple[str, ...] = ()) -> dict:
    return {
        "claim_id": cid,
        "type": "professional",
        "claim_date": "2024-08-20",
        "payer": {"type": "medicare"},
        "billing_provider": {"npi": "1234567893"},
        "patient": {"id": patient, "sex": "F", "birth_date": "1960-01-01"},
        "diagnoses": [{"code": "E11.9"}],
        "lines": [
            {
                "sequence": 1,
                "code": code,
                "units": 1,
                "charge": "100.00",
                "from_date": "2024-08-01",
                "modifiers": list(modifiers),
                "diagnosis_pointers": [1],
            }
        ],
    }


def batch() -> list[dict]:
    """Clean claims, RT+LT errors (CS-MOD-001), a rejected claim, and one patient billed twice the same day
    (cross-claim duplicate findings): every path of the output."""
    out = []
    for i in range(40):
        if i % 9 == 4:
            out.append(claim(f"RTLT-{i}", f"P{i}", modifiers=("RT", "LT")))
        elif i % 13 == 6:
            bad = claim(f"BAD-{i}", f"P{i}")
            bad["patient"]["birth_date"] = "1960-13-45"
            out.append(bad)
        elif i % 10 == 7:
            out.append(claim(f"DUP-{i}", "PDUP"))
        else:
            out.append(claim(f"OK-{i}", f"P{i}"))
    return out


def scrub(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["scrub", "--no-progress", "--data-dir", "/nonexistent-data-dir", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def batch_file(tmp_path: Path) -> Path:
    path = tmp_path / "batch.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(c) for c in batch()) + b"\n")
    return path


# --------------------------------------------------------------------------- raw lines


def test_raw_lines_read_what_the_whole_file_reader_reads(tmp_path):
    fhir = json.loads((REPO / "examples" / "fhir" / "demo_claim.json").read_text())
    content = (
        orjson.dumps(claim("A"))
        + b"\r\n\r\n"  # CRLF endings and a blank line: numbered as splitlines numbers them
        + b'{"claim_id": "B", "lines": [\n'  # not JSON on its own line: a rejected item naming the line
        + orjson.dumps(fhir)
        + b"\n"
        + orjson.dumps([1, 2])
        + b"\r"  # a lone CR ends a line too
        + orjson.dumps(claim("C"))
    )
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(content)
    assert is_json_lines(path) and not mentions(path)
    whole = list(read_bytes(content, str(path)))
    raw = [item for unit in raw_lines(path, str(path)) for item in items_of(unit)]
    assert [(i.source, i.claim_id, i.data, i.error) for i in raw] == [
        (i.source, i.claim_id, i.data, i.error) for i in whole
    ]
    assert [i.source.rsplit(":", 1)[1] for i in raw if i.data is None] == ["3", "5"]  # not JSON; not a claim
    assert raw[0].claim_id == "A" and raw[-1].claim_id == "C" and raw[0].source.endswith(":1")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"claim_id": "A"}\n{"claim_id": "B"}\n', True),
        (b'{"claim_id": "A"}\n\n  \n', False),  # one document: read whole
        (b'[{"claim_id": "A"},\n{"claim_id": "B"}]\n', False),  # an array
        (b'{\n  "claim_id": "A"\n}\n', False),  # one pretty-printed document
        (b"ISA*00*          *00*\n", False),
        (b"", False),
    ],
)
def test_only_json_lines_files_take_the_raw_path(tmp_path, content, expected):
    path = tmp_path / "f.json"
    path.write_bytes(content)
    assert is_json_lines(path) is expected


def test_an_encounter_mark_across_a_chunk_boundary_is_found(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_bytes(b" " * ((1 << 20) - 5) + b'"encounter_id": "E1"')
    assert mentions(path)
    path.write_bytes(b" " * (1 << 20) + b"{}")
    assert not mentions(path)


# --------------------------------------------------------------------------- what the parent counts


def test_totals_count_what_the_summary_of_every_result_counts():
    scrubber = Scrubber(**CONFIG)
    results = [scrubber.scrub(c) for c in batch()]
    totals = Totals()
    for r in results:
        p = Packing()(InputItem("", r.claim_id, None), r)
        totals.add(p.status, p.severities, p.suppressed)
    assert totals.as_dict() == summary(results)
    assert totals.fails(2)  # rejected claims and RT+LT errors
    clean = Totals()
    clean.add("scrubbed", (0, 1, 0), 0)
    assert not clean.fails(2) and clean.fails(1)


def test_merged_findings_sort_as_the_findings_do():
    scrubber = Scrubber(**CONFIG)
    r = scrubber.scrub(claim("X", modifiers=("RT", "LT")))
    extra = [
        Finding("CS-HIS-002", "duplicate", "error", "X", None, "claim-level", "fix it"),
        Finding("CS-HIS-005", "duplicate", "info", "X", 1, "on line 1", "look"),
    ]
    line, before, after = merge(orjson.dumps(result_record(r)), extra)
    record = orjson.loads(line)
    expected = [f.as_dict() for f in sorted([*r.findings, *extra], key=sort_key)]
    assert record["findings"] == expected and record["finding_count"] == len(expected)
    assert before[0] >= 1 and (after[0] - before[0], after[1] - before[1], after[2] - before[2]) == (1, 0, 1)


def test_merge_drops_rules_that_give_way_and_counts_the_change():
    scrubber = Scrubber(**CONFIG)
    r = scrubber.scrub(claim("X", modifiers=("RT", "LT")))
    gone = r.findings[0].rule_id
    line, before, after = merge(
        orjson.dumps(result_record(r)),
        [],
        drop=frozenset({gone}),
        not_checked=[{"rule_id": "CS-HIS-001", "reason": "cap"}],
    )
    record = orjson.loads(line)
    assert (
        gone not in {f["rule_id"] for f in record["findings"]} and record["not_checked"][-1]["rule_id"] == "CS-HIS-001"
    )
    totals = Totals()
    totals.add("scrubbed", before, 0)
    totals.change(before, after)
    assert sum(totals.by_severity) == record["finding_count"] and totals.claims_with_findings == bool(
        record["finding_count"]
    )


def test_findings_the_engine_returns_in_any_order_are_written_in_one_order():
    """Ties on severity, line, rule and related lines (diagnosis-scope findings) were ordered as the engine
    returned them, which changed between runs (issue #18: 195 of 100,000 claims)."""
    a = Finding("CS-DX-001", "diagnosis", "error", "X", None, "diagnosis 2: R69", "f", diagnosis=2)
    b = Finding("CS-DX-001", "diagnosis", "error", "X", None, "diagnosis 1: Z00.00", "f", diagnosis=1)
    assert sorted([a, b], key=sort_key) == sorted([b, a], key=sort_key) == [b, a]
    assert sorted([a.as_dict(), b.as_dict()], key=finding_order) == [b.as_dict(), a.as_dict()]


# --------------------------------------------------------------------------- the command


def test_jsonl_is_the_same_with_and_without_workers_and_in_input_order(batch_file):
    runs = {}
    for workers in ("0", "1", "3"):
        code, out, _ = scrub(str(batch_file), "--format", "jsonl", "--workers", workers)
        assert code == 1
        runs[workers] = out
    assert runs["0"] == runs["1"] == runs["3"]
    records = [json.loads(line) for line in runs["3"].splitlines()]
    assert [r["claim_id"] for r in records] == [c["claim_id"] for c in batch()]
    duplicates = [r for r in records if r["claim_id"].startswith("DUP-")]
    # the first of the patient's claims by claim id has no earlier one; the others' findings were merged in
    assert sum(any(f["rule_id"].startswith("CS-HIS-") for f in r["findings"]) for r in duplicates) == 3


def test_streamed_formats_say_what_the_whole_document_says(batch_file):
    _, document, _ = scrub(str(batch_file), "--format", "json", "--workers", "2")
    doc = json.loads(document)
    for cross in ("--cross-claim", "--no-cross-claim"):
        _, out, _ = scrub(str(batch_file), "--format", "jsonl", "--workers", "2", cross)
        records = [json.loads(line) for line in out.splitlines()]
        if cross == "--cross-claim":
            assert [f for r in records for f in r["findings"]] == doc["findings"]
            assert [{k: v for k, v in r.items() if k != "findings"} for r in records] == doc["claims"]
        else:
            assert not any(f["rule_id"].startswith("CS-HIS-") for r in records for f in r["findings"])
    _, csv_out, _ = scrub(str(batch_file), "--format", "csv", "--workers", "2")
    rows = csv_out.splitlines()
    assert rows[0].startswith("claim_id,status,line") and len(rows) == 1 + len(doc["findings"]) + sum(
        c["status"] == "rejected" for c in doc["claims"]
    )


def test_exit_code_comes_from_the_streamed_counts(tmp_path):
    clean = tmp_path / "clean.jsonl"
    clean.write_bytes(orjson.dumps(claim("A", "P1")) + b"\n" + orjson.dumps(claim("B", "P2")))
    assert scrub(str(clean), "--format", "jsonl", "--workers", "1")[0] == 0
    errors = tmp_path / "errors.jsonl"
    errors.write_bytes(orjson.dumps(claim("A", "P1", modifiers=("RT", "LT"))) + b"\n" + orjson.dumps(claim("B")))
    assert scrub(str(errors), "--format", "csv", "--workers", "1", "--no-cross-claim")[0] == 1


def test_compact_output_loses_nothing(batch_file):
    _, full, _ = scrub(str(batch_file), "--format", "jsonl", "--workers", "1")
    code, compact, _ = scrub(str(batch_file), "--format", "jsonl", "--workers", "1", "--compact")
    head, *lines = [json.loads(line) for line in compact.splitlines()]
    size = sum(len(json.dumps(r["findings"])) for r in lines)
    assert code == 1 and size < sum(len(json.dumps(json.loads(line)["findings"])) for line in full.splitlines()) / 1.5
    rtlt = next(f for r in lines for f in r["findings"] if f["rule_id"] == "CS-MOD-001")
    assert set(rtlt) == {"rule_id", "category", "severity", "line", "message"}  # the rest is in the dictionary
    assert head["record"] == "rules" and "CS-MOD-001" in head["rules"]
    empty = {"related_lines": [], "references": [], "diagnosis": None, "encounter": None, "data_edition": None}
    for small, whole in zip(lines, (json.loads(line) for line in full.splitlines()), strict=True):
        rebuilt = [
            {**empty, "claim_id": small["claim_id"], **head["rules"].get(f["rule_id"], {}), **f}
            for f in small["findings"]
        ]
        assert [{k: r.get(k) for k in f} for r, f in zip(rebuilt, whole["findings"], strict=True)] == whole["findings"]
    assert scrub(str(batch_file), "--format", "csv", "--compact")[0] == 2


def test_a_compact_record_keeps_a_fix_filled_from_the_claim():
    scrubber = Scrubber(**CONFIG)
    dictionary = rule_dictionary(scrubber.rulebook.rules)
    record = result_record(scrubber.scrub(claim("X", modifiers=("RT", "LT"))))
    finding = copy.deepcopy(record["findings"][0])
    finding["fix"] = "something only this claim says"
    small = compact_record({**record, "findings": [finding]}, dictionary)["findings"][0]
    assert small["fix"] == "something only this claim says" and "citation" not in small and "claim_id" not in small


def test_workers_default_to_the_cores_this_process_may_use():
    assert default_workers() == len(os.sched_getaffinity(0))


# --------------------------------------------------------------------------- a hung claim


@pytest.fixture
def hanging(monkeypatch):
    """A claim named HANG never returns, as a loop in the C core would not (workers are forked: patched too)."""
    real = Scrubber.scrub_item

    def scrub_item(self, item, normalised=None):
        if item.claim_id == "HANG":
            time.sleep(3600)
        return real(self, item, normalised)

    monkeypatch.setattr(Scrubber, "scrub_item", scrub_item)


def test_a_hung_claim_is_rejected_alone_and_the_rest_of_its_chunk_is_scrubbed(hanging):
    units = [
        RawLine("t.jsonl", n, orjson.dumps(claim(cid, f"P{n}")))
        for n, cid in enumerate(["A", "B", "HANG", "C", "D"], 1)
    ]
    config = {
        **CONFIG,
        "rulebook": Scrubber(data_dir=CONFIG["data_dir"], backend=None).rulebook,
    }  # as the CLI: rules read once
    with WorkerPool(config, workers=1, chunk_size=8, claim_timeout=4.0) as pool:
        results = list(pool.scrub(units))
    assert [(r.claim_id, r.status) for r in results] == [
        ("A", "scrubbed"),
        ("B", "scrubbed"),
        ("?", "rejected"),
        ("C", "scrubbed"),
        ("D", "scrubbed"),
    ]
    assert results[2].source == "t.jsonl:3" and "did not finish within 4 s" in (results[2].reason or "")
    assert [f.rule_id for f in results[2].findings] == ["CS-ENGINE-001"]


def test_batch_phase_findings_are_merged_into_the_spooled_records():
    paths = [str(REPO / "examples" / "encounters" / n) for n in ("claims.json", "claims_side_by_side.json")]
    paths.append(str(REPO / "tests" / "fixtures" / "encounters" / "encounters.json"))
    code, document, _ = scrub(*paths, "--format", "json", "--workers", "1")
    doc = json.loads(document)
    jcode, out, _ = scrub(*paths, "--format", "jsonl", "--workers", "1")
    records = [json.loads(line) for line in out.splitlines()]
    claims = [r for r in records if "record" not in r]
    assert jcode == code and [f for r in claims for f in r["findings"]] == doc["findings"]
    assert {f["claim_id"] for r in claims for f in r["findings"] if f["rule_id"] == "CS-AUD-001"} == {
        "EX-EM-001",
        "EX-EM-101",
        "EX-EM-102",
        "EX-EM-201",
    }
    assert [r["record"] for r in records if "record" in r][-1] == "audit"


def test_a_worker_packs_the_claim_the_scrub_normalised_for_the_cross_claim_phase(monkeypatch):
    """scrub_unit hands Packing the claim the scrub normalised: the worker normalises no claim twice, and the
    claim the parent's cross-claim phase gets is that one; a rejected claim sends none."""
    import pickle

    from claimscrub.api.workers import scrub_unit
    from claimscrub.model.normalize import claim_from_dict
    from claimscrub.output import stream

    scrubber = Scrubber(data_dir="/nonexistent-data-dir")
    good, bad = claim("OK-1"), claim("BAD-1")
    bad["patient"]["birth_date"] = "1960-13-45"
    expected = claim_from_dict(good, "claims.jsonl")

    def again(*args, **kwargs):
        raise AssertionError("normalised a second time")

    monkeypatch.setattr(stream, "claim_from_dict", again)
    packing = Packing(lines=True, cross_claim=True)
    [packet] = scrub_unit(scrubber, InputItem("claims.jsonl", "OK-1", good), packing)
    assert packet.status == "scrubbed" and pickle.loads(packet.claim) == expected
    [rejected] = scrub_unit(scrubber, InputItem("claims.jsonl", "BAD-1", bad), packing)
    assert rejected.status == "rejected" and rejected.claim is None


def test_the_phase_run_bucket_by_bucket_finds_what_the_whole_batch_finds(batch_file, tmp_path, monkeypatch):
    """A streamed run's claims wait on disk in buckets by patient; however many buckets, the cross-claim findings
    are those of the whole document (claims of many patients, and one patient billed on several claims)."""
    from claimscrub.history import spill

    claims = batch() + [claim(f"DUP2-{i}", f"Q{i % 3}", code="99214") for i in range(9)]
    path = tmp_path / "many.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(c) for c in claims) + b"\n")
    _, document, _ = scrub(str(path), "--format", "json", "--workers", "0")
    expected = json.loads(document)["findings"]
    assert any(f["rule_id"].startswith("CS-HIS-") for f in expected)
    for buckets in (1, 3, 64):
        monkeypatch.setattr(spill, "BUCKETS", buckets)
        _, out, _ = scrub(str(path), "--format", "jsonl", "--workers", "0")
        assert [f for line in out.splitlines() for f in json.loads(line)["findings"]] == expected, buckets


def test_a_patient_spill_gives_back_every_claim_once_with_its_patient_in_input_order():
    import pickle

    from claimscrub.history.spill import PatientSpill

    kept = PatientSpill(buckets=4)
    patients = [f"P{i % 7}" for i in range(50)]
    for position, patient in enumerate(patients):
        kept.add(position, patient, pickle.dumps((patient, position)))
    seen: dict[str, int] = {}
    positions = []
    for at, (where, claims) in enumerate(kept.buckets()):
        assert [c[1] for c in claims] == where == sorted(where)  # input order within a bucket
        for patient, _ in claims:
            assert seen.setdefault(patient, at) == at  # a patient's claims all in one bucket
        positions += where
    assert sorted(positions) == list(range(50)) and kept.count == 50
    assert list(kept.buckets()) == []  # read once: the files are gone
    kept.close()
