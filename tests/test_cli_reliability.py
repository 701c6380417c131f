"""Issue #12 through the CLI: nothing silent, nothing lost, nothing left running.

Exit codes: 0 clean, 1 findings or rejections, 2 usage / unreadable input / no claims,
3 internal error, 130 / 143 interrupted by SIGINT / SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from claimscrub.cli.main import main

CLEAN = {
    "claim_id": "CLEAN-1",
    "type": "professional",
    "claim_date": "2024-08-20",
    "payer": {"type": "medicare"},
    "billing_provider": {"npi": "1234567893"},
    "patient": {"id": "PAT-55102", "sex": "F", "birth_date": "1960-01-01"},
    "diagnoses": [{"code": "E11.9"}],
    "lines": [
        {
            "sequence": 1,
            "code": "99213",
            "units": 1,
            "charge": "100.00",
            "from_date": "2024-08-01",
            "diagnosis_pointers": [1],
        }
    ],
}


def scrub(*args: str):
    result = CliRunner().invoke(main, ["scrub", "--no-progress", "--data-dir", "/nonexistent-data-dir", *args])
    return result.exit_code, result.stdout, result.stderr


def write(path: Path, doc) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def test_a_claim_that_raises_is_rejected_alone_in_process_and_in_workers(tmp_path, monkeypatch):
    from claimscrub.api.scrubber import Scrubber

    real = Scrubber._scrub_item

    def flaky(self, item, stage, normalised=None):
        if item.claim_id == "BOOM":
            stage[0] = "engine"
            raise KeyError("PAT-55102")
        return real(self, item, stage, normalised)

    monkeypatch.setattr(Scrubber, "_scrub_item", flaky)  # forked workers inherit the patch
    path = write(tmp_path / "b.json", [CLEAN, dict(CLEAN, claim_id="BOOM"), dict(CLEAN, claim_id="AFTER")])
    for workers in ("0", "1"):
        code, out, err = scrub(str(path), "--format", "json", "--workers", workers)
        claims = {c["claim_id"]: c for c in json.loads(out)["claims"]}
        assert code == 1 and set(claims) == {"CLEAN-1", "BOOM", "AFTER"}
        assert (
            claims["BOOM"]["reason"] == "engine error: unexpected KeyError while building facts and running the rules"
        )
        assert claims["AFTER"]["status"] == "scrubbed"
        assert "PAT-55102" not in out + err


def test_an_internal_error_exits_3_without_the_exception_text(tmp_path, monkeypatch):
    import claimscrub.output.writers

    def broken(results, meta):
        raise RuntimeError("patient PAT-55102 born 1960-01-01")

    monkeypatch.setattr(claimscrub.output.writers, "to_json", broken)
    code, _, err = scrub(str(write(tmp_path / "c.json", CLEAN)), "--format", "json", "--workers", "0")
    assert code == 3
    assert "internal error: RuntimeError" in err and "PAT-55102" not in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a directory whatever its mode")
def test_an_unreadable_subdirectory_is_named_and_exits_2(tmp_path):
    write(tmp_path / "in" / "a.json", CLEAN)
    locked = tmp_path / "in" / "locked"
    write(locked / "b.json", dict(CLEAN, claim_id="HIDDEN"))
    locked.chmod(0)
    try:
        code, out, err = scrub(str(tmp_path / "in"), "--format", "json")
    finally:
        locked.chmod(0o755)
    assert code == 2 and "locked: cannot read directory" in err
    assert [c["claim_id"] for c in json.loads(out)["claims"]] == ["CLEAN-1"]


def test_a_symlink_loop_is_named_and_exits_2(tmp_path):
    write(tmp_path / "in" / "sub" / "a.json", CLEAN)
    (tmp_path / "in" / "sub" / "loop").symlink_to(tmp_path / "in")
    (tmp_path / "in" / "self.json").symlink_to(tmp_path / "in" / "self.json")
    code, out, err = scrub(str(tmp_path / "in"), "--format", "json")
    assert code == 2
    assert "symbolic link loop" in err and "self.json: broken or looping symbolic link" in err
    assert [c["claim_id"] for c in json.loads(out)["claims"]] == ["CLEAN-1"]  # once, not once per loop


@pytest.mark.parametrize("content", ["[]", '{"resourceType": "Bundle", "type": "batch", "entry": []}'])
def test_a_file_without_claims_says_so_and_exits_2(tmp_path, content):
    (tmp_path / "empty.json").write_text(content)
    code, _, err = scrub(str(tmp_path / "empty.json"))
    assert code == 2 and "empty.json: no claims found" in err


def test_duplicate_claim_ids_are_warned_about(tmp_path):
    path = write(tmp_path / "d.json", [CLEAN, CLEAN, dict(CLEAN, claim_id="OTHER")])
    code, out, err = scrub(str(path), "--format", "json", "--no-cross-claim")  # with it, CS-HIS-004 flags the copy
    assert code == 0 and len(json.loads(out)["claims"]) == 3
    assert "claim id CLEAN-1 appears 2 times in this run" in err and "OTHER" not in err


def test_a_path_with_brackets_prints_in_text(tmp_path):
    path = write(tmp_path / "a[red]b[/]" / "x[bold].json", dict(CLEAN, claim_id="BR[/]-1", lines=[]))
    code, out, err = scrub(str(path), str(tmp_path / "gone[/].json"))
    assert code == 2
    flat = "".join(out.split())  # the text report wraps long paths
    assert "BR[/]-1" in flat and "a[red]b[/]/x[bold].json" in flat and "gone[/].json" in err


def test_a_non_json_file_is_not_echoed(tmp_path):
    (tmp_path / "notes.txt").write_text("PATIENT Jane Roe DOB 1960-01-01")
    code, _, err = scrub(str(tmp_path / "notes.txt"))
    assert code == 2 and "not JSON, X12 or a RIF extract" in err and "Jane" not in err and "1960" not in err


def test_max_lines_rejects_the_claim_and_scrubs_the_rest(tmp_path):
    long = dict(CLEAN, claim_id="LONG", lines=[dict(CLEAN["lines"][0], sequence=i) for i in range(1, 6)])
    code, out, _ = scrub(str(write(tmp_path / "l.json", [long, CLEAN])), "--format", "json", "--max-lines", "4")
    claims = {c["claim_id"]: c for c in json.loads(out)["claims"]}
    assert code == 1 and claims["CLEAN-1"]["status"] == "scrubbed"
    assert claims["LONG"]["reason"] == "lines: 5 service lines, over the limit of 4 per claim (--max-lines)"


# --- signals: a real process ----------------------------------------------------------------------------------


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.update(int(t) for t in text)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _start(tmp_path: Path, fmt: str, claims: int = 50000):
    path = tmp_path / "big.jsonl"
    path.write_text("\n".join(json.dumps(dict(CLEAN, claim_id=f"C{i}")) for i in range(claims)) + "\n")
    cmd = [
        sys.executable,
        "-m",
        "claimscrub.cli.main",
        "scrub",
        "--no-progress",
        "--data-dir",
        "/nonexistent-data-dir",
        "--workers",
        "2",
        "--format",
        fmt,
        str(path),
    ]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_workers(proc, count: int = 2, timeout: float = 60) -> set[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = _children(proc.pid)
        if len(kids) >= count:
            time.sleep(1.0)  # the first chunks are being scrubbed
            return _children(proc.pid)
        time.sleep(0.1)
    raise AssertionError("no workers started")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_ends_json_output_well_formed_and_leaves_no_worker(tmp_path, sig, code):
    proc = _start(tmp_path, "json")
    workers = _wait_for_workers(proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err.decode()
    doc = json.loads(out)  # well-formed
    info = doc["interrupted"]
    assert len(doc["claims"]) + info["not_finished"] + info["not_reached"] == 50000 and info["counted_all"]
    assert b"interrupted" in err and b"more in the input not reached" in err
    time.sleep(0.5)
    assert not [pid for pid in workers if _alive(pid)]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigterm_leaves_complete_json_lines(tmp_path):
    proc = _start(tmp_path, "jsonl")
    _wait_for_workers(proc)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 143
    assert out.endswith(b"\n") or out == b""
    assert all(json.loads(line)["status"] == "scrubbed" for line in out.splitlines())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl(PR_SET_PDEATHSIG) is Linux's")
def test_sigkill_of_the_parent_takes_the_workers_with_it(tmp_path):
    proc = _start(tmp_path, "json")
    workers = _wait_for_workers(proc)
    proc.kill()
    proc.communicate(timeout=60)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and [pid for pid in workers if _alive(pid)]:
        time.sleep(0.1)
    assert not [pid for pid in workers if _alive(pid)]
