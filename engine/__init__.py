"""claimscrub: claim scrubber and coding-audit rules engine.

``from engine import Scrubber`` is the Python API. The names below are
imported on first use, so ``import engine`` (the CLI, ``--version``) stays
cheap and does not load the rule engine or the tables.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "Scrubber": "engine.scrubber",
    "ClaimResult": "engine.scrubber",
    "RulesError": "engine.scrubber",
    "Finding": "engine.findings",
    "InputItem": "engine.inputs.base",
}

__all__ = ["ClaimResult", "Finding", "InputItem", "RulesError", "Scrubber", "__version__"]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and editors only
    from .findings import Finding as Finding
    from .inputs.base import InputItem as InputItem
    from .scrubber import ClaimResult as ClaimResult
    from .scrubber import RulesError as RulesError
    from .scrubber import Scrubber as Scrubber


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
