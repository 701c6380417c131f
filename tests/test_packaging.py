"""What the wheel ships: every data file of rules/ and schemas/, found through the package.

`.ci/wheel-check` builds the sdist and the wheel and runs the installed wheel
outside the checkout; these tests catch the cheap mistakes first (a new kind
of data file the package-data globs do not cover).
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

import pytest

from claimscrub.resources import rules_dir, schema_path, schemas_dir

REPO = Path(__file__).resolve().parents[1]


def _data_files(folder: Path) -> set[Path]:
    return {
        p for p in folder.rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    }


@pytest.mark.parametrize(
    ("package", "folder"),
    [("claimscrub._rules", "rules"), ("claimscrub._schemas", "schemas"), ("claimscrub.lang", "engine/lang")],
)
def test_package_data_globs_cover_every_data_file(package: str, folder: str):
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    root = REPO / folder
    shipped = {p for pattern in config["package-data"].get(package, []) for p in root.glob(pattern) if p.is_file()}
    assert _data_files(root) - shipped == set()


def test_resources_come_from_the_package_not_from_beside_it():
    assert rules_dir() == Path(str(resources.files("claimscrub._rules")))
    assert schemas_dir() == Path(str(resources.files("claimscrub._schemas")))
    assert schema_path("claim.schema.json").is_file() and (rules_dir() / "base_claim.json").is_file()
