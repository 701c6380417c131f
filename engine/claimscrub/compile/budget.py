"""A per-claim work budget, so that one huge claim is rejected instead of holding a batch hostage.

Line-pair rules can make a claim's work grow with the square of its lines (and a pair rule's
quantifier over the claim's lines with the cube). The fact builder and the reference evaluator
call :func:`tick` as they go; past the claim's time or fact allowance it raises
:class:`OverBudget`, which the scrubber turns into a rejection of that claim alone. The budget
rides in a context variable so the backends' signatures stay as they are.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

DEFAULT_SECONDS = 20.0  # a 999-line claim of distinct codes on one day takes a few seconds (bench_lines.py)
DEFAULT_FACTS = 200_000  # facts asserted for one claim (about 35 us each in the C core, and their memory)


class OverBudget(Exception):
    """The claim needed more work than its budget allows; ``problem`` says which limit."""

    def __init__(self, problem: str):
        super().__init__(problem)
        self.problem = problem


@dataclass(slots=True)
class Budget:
    seconds: float
    max_facts: int
    deadline: float = 0.0
    facts: int = 0


_current: ContextVar[Budget | None] = ContextVar("claimscrub_claim_budget", default=None)


@contextlib.contextmanager
def claim_budget(seconds: float | None, max_facts: int | None) -> Iterator[None]:
    """Limit the work of the claim scrubbed inside the block (None: no limit of that kind)."""
    budget = Budget(seconds if seconds is not None else float("inf"), max_facts or 1 << 62)
    budget.deadline = time.monotonic() + budget.seconds
    token = _current.set(budget)
    try:
        yield
    finally:
        _current.reset(token)


def tick(facts: int = 0) -> None:
    """Count ``facts`` more facts and check the clock; raises :class:`OverBudget` past either limit."""
    budget = _current.get()
    if budget is None:
        return
    if facts:
        budget.facts += facts
        if budget.facts > budget.max_facts:
            raise OverBudget(f"more than {budget.max_facts:,} facts")
    if time.monotonic() > budget.deadline:
        raise OverBudget(f"more than {budget.seconds:g} s")
