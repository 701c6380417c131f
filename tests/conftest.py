"""Shared test fixtures.

``refdata`` is the real CMS data in ../shared/refdata (or $CLAIMSCRUB_REFDATA).
It is never committed into the project; tests that need it skip, saying why,
when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REFDATA = Path(os.environ.get("CLAIMSCRUB_REFDATA", REPO.parent / "shared" / "refdata"))


@pytest.fixture(scope="session")
def refdata() -> Path:
    if not REFDATA.is_dir():
        pytest.skip(f"CMS reference data not found at {REFDATA}; set CLAIMSCRUB_REFDATA to run this test")
    return REFDATA
