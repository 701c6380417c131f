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


@pytest.fixture(scope="session")
def x12_samples(refdata: Path) -> Path:
    folder = refdata / "samples" / "x12"
    if not folder.is_dir():
        pytest.skip(f"X12 samples not found at {folder}")
    return folder


@pytest.fixture(scope="session")
def pyx12_claims():
    """pyx12, the conformance oracle, walking the TR3 map of a file: per claim (CLM01, [(LX01, procedure
    code, charge, units, first service date as YYYYMMDD)])."""
    pyx12_params = pytest.importorskip("pyx12.params")
    error_handler = pytest.importorskip("pyx12.error_handler")
    x12context = pytest.importorskip("pyx12.x12context")

    def read(path: Path) -> list[tuple[str, list[tuple]]]:
        found = []
        with path.open(encoding="latin-1") as fd:
            reader = x12context.X12ContextReader(pyx12_params.params(), error_handler.errh_null(), fd)
            for node in reader.iter_segments("2300"):
                if node.id != "2300":
                    continue
                lines = []
                for lx in node.select("2400"):
                    date = next((d.get_value("DTP03") for d in lx.select("DTP") if d.get_value("DTP01") == "472"), "")
                    lines.append((
                        lx.get_value("LX01"),
                        lx.get_value("SV101-2") or lx.get_value("SV202-2"),
                        lx.get_value("SV102") or lx.get_value("SV203"),
                        float(lx.get_value("SV104") or lx.get_value("SV205") or 0),
                        date[:8],
                    ))  # fmt: skip
                found.append((node.get_value("CLM01"), lines))
        return found

    return read
