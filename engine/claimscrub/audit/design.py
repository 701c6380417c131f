"""design.yaml: what the audit is (universe, unit, sample design) and the frame it stands on.

Every later step checks the frame against the hash recorded here and refuses a frame that changed:
a sample drawn from one list of claims says nothing about another.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml

from claimscrub import __version__
from claimscrub.audit.frame import Frame, sha256_file
from claimscrub.audit.money import dollars


class AuditError(Exception):
    """The audit folder is not in a state this step can work from (said in words an auditor acts on)."""


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def new_design(name: str, sources: list[str], frame: Frame, digest: str) -> dict[str, Any]:
    return {
        "name": name,
        "created_at": now_iso(),
        "software_version": __version__,
        "unit": frame.unit,
        "sources": list(sources),
        "frame": {
            "file": "frame.csv",
            "sha256": digest,
            "units": len(frame.units),
            "paid_total": dollars(frame.paid_total_cents),
            "excluded": {
                "units": len(frame.excluded),
                "paid_total": dollars(frame.excluded_paid_cents),
                "file": "excluded.csv",
            },
            "out_of_scope": frame.out_of_scope,
        },
        "sample": None,
    }


def write_design(folder: Path, design: dict[str, Any]) -> None:
    text = yaml.safe_dump(design, sort_keys=False, allow_unicode=True)
    (folder / "design.yaml").write_text(text)


def read_design(folder: Path) -> dict[str, Any]:
    path = folder / "design.yaml"
    if not path.is_file():
        raise AuditError(f"{folder}: no design.yaml; start the audit with 'claimscrub audit universe ... -o {folder}'")
    design = yaml.safe_load(path.read_text())
    if not isinstance(design, dict) or "frame" not in design:
        raise AuditError(f"{path}: not an audit design (no frame section)")
    return design


def check_frame(folder: Path, design: dict[str, Any]) -> None:
    """Refuse a frame.csv whose bytes are not the ones the design (and so the sample) was made from."""
    path = folder / design["frame"]["file"]
    if not path.is_file():
        raise AuditError(f"{path} is missing: restore the frame the design was made from")
    actual = sha256_file(path)
    if actual != design["frame"]["sha256"]:
        raise AuditError(
            f"{path.name} has changed since the universe was written (sha256 {actual[:16]}..., design.yaml says "
            f"{design['frame']['sha256'][:16]}...): the sample no longer stands on it. Restore the original "
            "frame, or start a new audit folder with 'claimscrub audit universe'."
        )


def require_sample(design: dict[str, Any]) -> dict[str, Any]:
    if not design.get("sample"):
        raise AuditError("no sample drawn yet: run 'claimscrub audit sample DIR --size N --seed S' first")
    return design["sample"]


def log_command(folder: Path, argv: list[str]) -> None:
    """audit.log: each command run on the folder, when, by which version (paths and options only)."""
    with open(folder / "audit.log", "a") as fh:
        fh.write(f"{now_iso()} claimscrub {__version__}: {' '.join(argv)}\n")
