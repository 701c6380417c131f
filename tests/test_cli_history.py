"""`claimscrub history import` and `claimscrub scrub --history/--record`, and `Scrubber.scrub_many` as one batch."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from click.testing import CliRunner
from pgserver import pg_url  # noqa: F401 - the fixture

from claimscrub.cli.main import main

SURGERY = {
    "claim_id": "S-1",
    "type": "professional",
    "claim_date": "2024-08-15",
    "payer": {"type": "medicare"},
    "billing_provider": {"npi": "1234567893", "taxonomy": "207X00000X"},
    "patient": {"id": "P-9", "sex": "F", "birth_date": "1950-05-01"},
    "diagnoses": [{"code": "M17.11"}],
    "lines": [
        {
            "sequence": 1,
            "code": "27447",
            "units": 1,
            "charge": "2000.00",
            "from_date": "2024-03-01",
            "diagnosis_pointers": [1],
        }
    ],
}


def claim_like(claim_id: str, code: str, dos: str) -> dict:
    doc = copy.deepcopy(SURGERY)
    doc["claim_id"] = claim_id
    doc["lines"][0].update(code=code, from_date=dos, charge="100.00")
    return doc


VISIT = claim_like("V-42", "99213", "2024-04-12")


def run(*args: str):
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def write(tmp_path: Path, name: str, doc) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return str(path)


def his_findings(out: str) -> list[tuple[str, str]]:
    return [(f["claim_id"], f["rule_id"]) for f in json.loads(out)["findings"] if f["rule_id"].startswith("CS-HIS")]


def test_one_run_is_its_own_history_whatever_the_file_order(tmp_path):
    both = [write(tmp_path, "visit.json", VISIT), write(tmp_path, "surgery.json", SURGERY)]
    for paths in (both, both[::-1]):
        code, out, _ = run(
            "scrub", "--no-progress", "--samples", "--data-dir", str(tmp_path), *paths, "--format", "json"
        )
        assert code == 1 and his_findings(out) == [("V-42", "CS-HIS-001")]
    code, out, _ = run(
        "scrub",
        "--no-progress",
        "--samples",
        "--data-dir",
        str(tmp_path),
        *both,
        "--format",
        "json",
        "--no-cross-claim",
    )
    assert his_findings(out) == []


def test_history_import_then_scrub_against_it_and_record(tmp_path):
    data = str(tmp_path / "data")
    code, _, err = run("history", "import", write(tmp_path, "surgery.json", SURGERY), "--data-dir", data)
    assert code == 0 and "recorded 1 claim(s), 1 line(s)" in err
    visit = write(tmp_path, "visit.json", VISIT)
    base = ["scrub", "--no-progress", "--samples", "--data-dir", data, "--format", "json"]
    code, out, _ = run(*base, visit)  # no --history: the store is not read
    assert his_findings(out) == []
    code, out, _ = run(*base, visit, "--history", "--record")
    assert his_findings(out) == [("V-42", "CS-HIS-001")]
    code, out, _ = run(*base, visit, "--history")  # recorded: scrubbing it again is not a duplicate of itself
    assert his_findings(out) == [("V-42", "CS-HIS-001")]
    code, out, _ = run(*base, write(tmp_path, "again.json", claim_like("V-43", "99213", "2024-04-12")), "--history")
    assert ("V-43", "CS-HIS-004") in his_findings(out)


def test_history_file_and_bad_urls(tmp_path):
    file = str(tmp_path / "h.sqlite")
    code, _, _ = run("history", "import", write(tmp_path, "surgery.json", SURGERY), "--history", file)
    assert code == 0 and Path(file).is_file()
    code, out, _ = run(
        "scrub",
        "--no-progress",
        "--samples",
        "--data-dir",
        str(tmp_path),
        "--format",
        "json",
        f"--history={file}",
        write(tmp_path, "visit.json", VISIT),
    )
    assert his_findings(out) == [("V-42", "CS-HIS-001")]
    code, _, err = run(
        "scrub",
        "--no-progress",
        f"--history=postgresql://u@/claims?host={tmp_path}&port=1",
        write(tmp_path, "v.json", VISIT),
    )
    assert code == 2 and "PostgreSQL" in err


def test_history_import_reports_claims_it_cannot_record(tmp_path):
    bad = dict(SURGERY, claim_id="BAD", patient={"id": "P-9", "sex": "F", "birth_date": "1950-02-30"})
    code, _, err = run("history", "import", write(tmp_path, "c.json", [SURGERY, bad]), "--data-dir", str(tmp_path))
    assert code == 1 and "recorded 1 claim(s)" in err and "1 not recorded" in err and "1950-02-30" not in err


def test_scrub_many_is_one_batch(tmp_path):
    from claimscrub import Scrubber

    scrubber = Scrubber(data_dir=tmp_path, samples=True)
    first = claim_like("C-1", "99213", "2024-04-12")
    second = claim_like("C-2", "99213", "2024-04-12")
    replacement = dict(claim_like("C-3", "99213", "2024-04-12"), frequency="replacement", replaces_claim_id="C-1")
    ids = [
        [f.rule_id for f in r.findings if f.rule_id.startswith("CS-HIS")] for r in scrubber.scrub_many([second, first])
    ]
    assert ids == [["CS-HIS-004"], []]
    ids = [
        [f.rule_id for f in r.findings if f.rule_id.startswith("CS-HIS")]
        for r in scrubber.scrub_many([first, replacement])
    ]
    assert ids == [[], []]
    alone = list(scrubber.scrub_many([second, first], cross_claim=False))
    assert not any(f.rule_id.startswith("CS-HIS") for r in alone for f in r.findings)


def test_one_http_request_is_one_batch(tmp_path):
    from claimscrub.service.app import ServiceConfig, build, scrub_body

    config = ServiceConfig(data_dir=str(tmp_path), samples=True, workers=1)
    loaded = build(config, 1)  # the service's own generation: its scrubber and one supervised worker
    try:
        body = json.dumps([VISIT, SURGERY]).encode()
        doc = json.loads(scrub_body(loaded, body, "json", config))
    finally:
        loaded.pool.shutdown()
    assert his_findings(json.dumps(doc)) == [("V-42", "CS-HIS-001")]


def test_import_and_scrub_against_postgres(tmp_path, pg_url):  # noqa: F811 - the fixture
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as db:
        db.execute("DROP TABLE IF EXISTS history_line, schema_version")
    code, _, err = run("history", "import", write(tmp_path, "surgery.json", SURGERY), f"--history={pg_url}")
    assert code == 0 and "recorded 1 claim(s)" in err
    code, out, _ = run(
        "scrub",
        "--no-progress",
        "--samples",
        "--data-dir",
        str(tmp_path),
        "--format",
        "json",
        f"--history={pg_url}",
        "--record",
        write(tmp_path, "visit.json", VISIT),
    )
    assert his_findings(out) == [("V-42", "CS-HIS-001")]
    with psycopg.connect(pg_url) as db:
        assert db.execute("SELECT count(*) FROM history_line").fetchone()[0] == 2


def test_own_frequency_limits_table(tmp_path):
    table = tmp_path / "limits.yaml"
    table.write_text('limits:\n  - {id: office, codes: ["99213"], limit: 1, months: 1, source: "payer policy 12"}\n')
    paths = [
        write(tmp_path, "a.json", claim_like("A", "99213", "2024-04-02")),
        write(tmp_path, "b.json", claim_like("B", "99213", "2024-04-20")),
    ]
    base = ["scrub", "--no-progress", "--samples", "--data-dir", str(tmp_path), "--format", "json", *paths]
    assert ("B", "CS-HIS-007") in his_findings(run(*base, "--frequency-limits", str(table))[1])
    assert ("B", "CS-HIS-007") not in his_findings(run(*base)[1])
    table.write_text("limits:\n  - {codes: [99213], limit: 1}\n")
    code, _, err = run(*base, "--frequency-limits", str(table))
    assert code == 2 and "limits[0]" in err


def test_history_flag_anywhere_and_the_store_by_either_spelling(tmp_path):
    """``--history`` is a flag: before the paths it no longer swallows a claims file as its store. The old
    ``--history=FILE`` and the new ``--history-db FILE`` name a store; ``--no-history`` turns it off."""
    data, file = str(tmp_path / "data"), str(tmp_path / "h.sqlite")
    run("history", "import", write(tmp_path, "surgery.json", SURGERY), "--data-dir", data)
    run("history", "import", write(tmp_path, "surgery.json", SURGERY), "--history-db", file)
    visit = write(tmp_path, "visit.json", VISIT)
    base = ["scrub", "--no-progress", "--samples", "--data-dir", data, "--format", "json"]
    for spelling in (["--history"], [f"--history={file}"], ["--history-db", file], ["--history-db", file, "--history"]):
        code, out, err = run(*base, *spelling, visit)  # the option before the paths
        assert code == 1 and his_findings(out) == [("V-42", "CS-HIS-001")], (spelling, err)
    for spelling in (["--no-history"], ["--history-db", file, "--no-history"], []):
        code, out, _ = run(*base, *spelling, visit)
        assert his_findings(out) == [], spelling
    related = [f["related"] for f in json.loads(run(*base, "--history", visit)[1])["findings"] if f["related"]]
    assert related == [{"claim_id": "S-1", "line": 1}]


def test_a_streamed_run_records_and_finds_what_the_whole_document_does(tmp_path):
    """JSON Lines keep the phase's claims on disk by patient (history.spill): the same cross-claim findings as
    --format json, and --record fills the store the same way."""
    data = str(tmp_path / "data")
    code, _, _ = run("history", "import", write(tmp_path, "surgery.json", SURGERY), "--data-dir", data)
    assert code == 0
    visit = write(tmp_path, "visit.json", VISIT)
    base = ["scrub", "--no-progress", "--samples", "--data-dir", data, visit, "--history"]
    code, out, _ = run(*base, "--format", "jsonl", "--record")
    found = [
        (r["claim_id"], f["rule_id"]) for line in out.splitlines() for r in [json.loads(line)] for f in r["findings"]
    ]
    assert [f for f in found if f[1].startswith("CS-HIS")] == [("V-42", "CS-HIS-001")]
    code, out, _ = run(*base, "--format", "json")  # recorded by the streamed run: not a duplicate of itself
    assert his_findings(out) == [("V-42", "CS-HIS-001")]
    code, out, _ = run(
        *base[:-2],
        write(tmp_path, "again.json", claim_like("V-43", "99213", "2024-04-12")),
        "--history",
        "--format",
        "json",
    )
    assert ("V-43", "CS-HIS-004") in his_findings(out)
