"""Shared test fixtures.

``refdata`` is the real CMS data in ../shared/refdata (or $CLAIMSCRUB_REFDATA).
It is never committed into the project; tests that need it skip, saying why,
when it is absent.

``refdata_store`` is one store holding every CMS file the tests read, imported
once per session and kept between runs in a cache outside the repository
(``$CLAIMSCRUB_TEST_CACHE``, else ``$XDG_CACHE_HOME/claimscrub/test-stores``),
keyed by the hashes of the source files and of the code and table definitions
that import them: any change to either imports afresh. ``CLAIMSCRUB_TEST_CACHE=off``
imports into a temporary folder instead (every reader runs, e.g. for coverage).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REFDATA = Path(os.environ.get("CLAIMSCRUB_REFDATA", REPO.parent / "shared" / "refdata"))

# Every CMS file a test reads through the store (the practitioner PTP file is most of the import time).
STORE_FILES = [
    "ncci/ioce_version_range.csv",
    "ncci/ptp_practitioner_2024-07-01.csv.gz",
    "ncci/ptp_ioce_versioned_2019q3-2026q2.csv.gz",
    "ncci/ptp_outpatient_hospital_2024-07-01.csv.gz",
    "ncci/mue_practitioner_2024-07-01.csv",
    "ncci/mue_dme_2024-07-01.csv",
    "ncci/aoc_2024-06-03.csv",
    "ncci/aoc_ioce_type2_versioned.csv",
    "pfs/rvu_indicators_2024-07.csv",
    "hcpcs/HCPC2019_CONTR_ANWEB.txt",
    "hcpcs/level2_2024-07_attributes.csv",
    "hcpcs/ioce_hcpcs_versioned_2019q3-2026q2.csv.gz",
    "icd10cm/ioce_dx10_versioned_2019q3-2026q2.csv.gz",
    "mce/mce_v43.1_i10dx_flags.csv",
    "mce/mce_v43.1_age_ranges.csv",
]
# What decides the store's content besides the files: the importers and the table definitions.
_IMPORT_CODE = ["engine/claimscrub/refdata/*.py", "engine/claimscrub/refdata/tables.py", "rules/tables/*.yaml"]
_KEEP = 3  # cached stores kept (most recently used); each is a few hundred MB


@pytest.fixture(scope="session")
def refdata() -> Path:
    if not REFDATA.is_dir():
        pytest.skip(f"CMS reference data not found at {REFDATA}; set CLAIMSCRUB_REFDATA to run this test")
    return REFDATA


def _store_key(sources: list[Path]) -> str:
    digest = hashlib.sha256()
    code = sorted(p for pattern in _IMPORT_CODE for p in REPO.glob(pattern))
    for path in sources + code:
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as fd:
            digest.update(hashlib.file_digest(fd, "sha256").digest())
    return digest.hexdigest()[:24]


def _cache_root() -> Path | None:
    configured = os.environ.get("CLAIMSCRUB_TEST_CACHE")
    if configured == "off":
        return None
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "claimscrub" / "test-stores"


def _import_store(sources: list[Path], data_dir: Path) -> None:
    from claimscrub.refdata.importers import import_paths

    _, skipped = import_paths(sources, data_dir)
    assert not skipped, skipped


@pytest.fixture(scope="session")
def refdata_store(refdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data dir of a store with every STORE_FILES table: imported once, reused between runs."""
    sources = [refdata / f for f in STORE_FILES]
    root = _cache_root()
    if root is None:
        data_dir = tmp_path_factory.mktemp("claimscrub-refdata")
        _import_store(sources, data_dir)
        return data_dir
    data_dir = root / _store_key(sources)
    if not (data_dir / "tables.sqlite").is_file():
        root.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix="building-", dir=root))
        try:
            _import_store(sources, building)
            try:
                building.rename(data_dir)  # atomic: a run never sees half a store
            except OSError:  # another run finished the same store first
                if not (data_dir / "tables.sqlite").is_file():
                    raise
        finally:
            shutil.rmtree(building, ignore_errors=True)
    os.utime(data_dir)
    stale = sorted(
        (p for p in root.iterdir() if p.is_dir() and not p.name.startswith("building-")),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )[_KEEP:]
    for old in stale:
        shutil.rmtree(old, ignore_errors=True)
    return data_dir


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
