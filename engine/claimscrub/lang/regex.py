"""The regular expressions of ``matches``, compiled with RE2: time linear in the field's length.

A rule file is untrusted input, and Python's ``re`` backtracks: ``^(a+)+$``
took 57 s on one claim field. RE2 (google-re2) guarantees linear-time
matching, so no pattern can stall a scrub. A timeout around ``re`` would be
no substitute: a running match cannot be interrupted inside the process.
The price is RE2's syntax: no backreferences and no lookaround, which lint
reports as errors in the rule file.
"""

from __future__ import annotations

from typing import Protocol

import re2

MAX_PATTERN = 1000  # characters: a claim field pattern is short; a long one is a mistake or an attack
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # errors are raised to lint, not written to stderr by the C++ library
_OPTIONS.max_mem = 1 << 20  # a pattern whose automaton needs more is refused ("pattern too large")


class Pattern(Protocol):
    def search(self, text: str) -> object: ...


class PatternError(ValueError):
    """Why a ``matches`` pattern cannot be used (RE2 syntax, or over the size limits)."""


def compile_pattern(pattern: str) -> Pattern:
    if len(pattern) > MAX_PATTERN:
        raise PatternError(f"pattern of {len(pattern):,} characters is over the limit of {MAX_PATTERN:,}")
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        detail = exc.args[0] if exc.args else "invalid pattern"
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        raise PatternError(f"{detail} (patterns are RE2 syntax: no backreferences or lookaround)") from None
