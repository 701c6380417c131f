"""claimscrub: claim scrubber and coding-audit rules engine.

``from claimscrub import Scrubber`` is the Python API. The names below are
imported on first use, so ``import claimscrub`` (the CLI, ``--version``) stays
cheap and does not load the rule engine or the tables.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "Scrubber": "claimscrub.api.scrubber",
    "ClaimResult": "claimscrub.api.scrubber",
    "RulesError": "claimscrub.api.scrubber",
    "Finding": "claimscrub.compile.findings",
    "InputItem": "claimscrub.inputs.base",
}

__all__ = ["ClaimResult", "Finding", "InputItem", "RulesError", "Scrubber", "__version__"]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and editors only
    from claimscrub.api.scrubber import ClaimResult as ClaimResult
    from claimscrub.api.scrubber import RulesError as RulesError
    from claimscrub.api.scrubber import Scrubber as Scrubber
    from claimscrub.compile.findings import Finding as Finding
    from claimscrub.inputs.base import InputItem as InputItem


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'claimscrub' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
