"""The Python API: ``from claimscrub import Scrubber`` (imported lazily), typed results."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

import claimscrub

REPO = Path(__file__).resolve().parents[1]


def test_import_engine_stays_cheap():
    code = (
        "import sys, claimscrub; heavy = [m for m in ('claimscrub.api.scrubber', 'durable', 'fastapi') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == ""


def test_scrub_and_scrub_many_give_typed_results(tmp_path):
    from claimscrub import ClaimResult, Finding, Scrubber

    claims = orjson.loads((REPO / "examples" / "native" / "demo_claims.json").read_bytes())
    scrubber = Scrubber(data_dir=tmp_path, samples=True)
    one = scrubber.scrub(claims[0])
    assert isinstance(one, ClaimResult) and one.claim_id == claims[0]["claim_id"]
    results = list(scrubber.scrub_many(claims))
    assert [r.claim_id for r in results] == [c["claim_id"] for c in claims]
    findings = [f for r in results for f in r.findings]
    assert findings and all(isinstance(f, Finding) and f.rule_id and f.citation for f in findings)


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Scrubbr'"):
        claimscrub.Scrubbr  # noqa: B018
    assert "Scrubber" in dir(claimscrub)
