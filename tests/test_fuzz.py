"""Fuzzing (issue #12): mutated native, FHIR and X12 claims through the readers, the scrubber and the CLI.

Every claim must end scrubbed or rejected with a reason, and no unexpected exception may be
hidden by the scrubber's guard (an "engine error: unexpected ..." rejection is a bug found).
Bounded to a few seconds here; ``python benchmarks/fuzz_long.py --seconds 300`` runs longer.
"""

from __future__ import annotations

import json
import random

import pytest
from click.testing import CliRunner
from fuzzclaims import check, mutant, seeds
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claimscrub import Scrubber
from claimscrub.cli.main import main
from claimscrub.inputs import InputFormatError, read_bytes

SEEDS = seeds()
FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def scrubber() -> Scrubber:
    return Scrubber(samples=True)


@pytest.mark.parametrize("kind", sorted(SEEDS))
def test_the_seeds_are_scrubbed_unmutated(scrubber, kind):
    for seed in SEEDS[kind]:
        problems, claims, guarded = check(scrubber, seed)
        assert (problems, guarded) == ([], 0) and claims > 0


@pytest.mark.parametrize("kind", sorted(SEEDS))
@FUZZ
@given(rng=st.randoms(use_true_random=False))
def test_mutated_claims_end_scrubbed_or_rejected(scrubber, kind, rng):
    data = mutant(kind, rng.choice(SEEDS[kind]), rng)
    problems, _, guarded = check(scrubber, data)
    assert problems == [] and guarded == 0, data[:2000]


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rng=st.randoms(use_true_random=False), kind=st.sampled_from(sorted(SEEDS)))
def test_mutated_files_through_the_cli_account_for_every_claim(tmp_path_factory, rng, kind):
    data = mutant(kind, rng.choice(SEEDS[kind]), rng)
    path = tmp_path_factory.mktemp("fuzz") / ("claims.x12" if kind == "x12" else "claims.json")
    path.write_bytes(data)
    try:
        expected = len(list(read_bytes(data, str(path))))
    except InputFormatError:
        expected = None
    result = CliRunner().invoke(
        main, ["scrub", "--no-progress", "--samples", "--workers", "0", "--format", "json", str(path)]
    )
    assert result.exit_code in (0, 1, 2), result.stderr
    doc = json.loads(result.stdout)
    if expected is None:
        assert result.exit_code == 2 and doc["claims"] == []
    else:
        assert len(doc["claims"]) == expected
        assert all(c["status"] == "scrubbed" or (c["status"] == "rejected" and c["reason"]) for c in doc["claims"])


def test_the_mutator_really_mutates():
    rng = random.Random(3)
    native = SEEDS["native"][0]
    assert len({mutant("native", native, rng) for _ in range(20)}) > 15
