"""Where the bundled rules and schemas are, in a checkout and in an installed wheel.

Both are found through ``importlib.resources`` of this package only
(``claimscrub._rules`` is the repository's rules/, ``claimscrub._schemas`` its
schemas/, mapped in pyproject.toml): never by a path beside the package, which
in site-packages could be another distribution's ``rules`` folder.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

_PACKAGE = __name__.rpartition(".")[0]


def _package_dir(name: str) -> Path:
    # Installed wheels and editable installs both unpack to real folders (no zip import).
    return Path(str(resources.files(f"{_PACKAGE}.{name}")))


@functools.cache
def rules_dir() -> Path:
    return _package_dir("_rules")


@functools.cache
def schemas_dir() -> Path:
    return _package_dir("_schemas")


def schema_path(name: str) -> Path:
    return schemas_dir() / name
