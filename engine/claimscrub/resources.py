"""Where the bundled rules and schemas are, in a checkout and in an installed wheel."""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

_REPO = Path(__file__).resolve().parents[2]  # engine/claimscrub/resources.py -> the checkout


def _locate(top: str, package: str) -> Path:
    in_repo = _REPO / top
    if in_repo.is_dir():
        return in_repo
    return Path(str(resources.files(package)))


@functools.cache
def rules_dir() -> Path:
    return _locate("rules", "claimscrub._rules")


@functools.cache
def schemas_dir() -> Path:
    return _locate("schemas", "claimscrub._schemas")


def schema_path(name: str) -> Path:
    return schemas_dir() / name
