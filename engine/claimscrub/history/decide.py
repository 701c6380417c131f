"""The history rules decided by the fact builder's own tests, with no rule engine.

The CLI's and the service's parent processes run the cross-claim phase without a rule engine (no
durable-rules C core in the process that guards the batch). They used the reference evaluator,
which tries every rule on every (line, history line) pair: three to four times the work of the fact
builder, which pairs lines by hash join and day window and decides a history line's own tests once
per signature. The builder's tests are every conjunct of every rule, so a rule still alive after them
holds (the ``proved`` mode of :func:`claimscrub.compile.facts.build_facts`, which the differential
test holds to the Rete network): its hits are the findings, and no fact is built.
"""

from __future__ import annotations

import functools

from claimscrub.backends import Hit
from claimscrub.compile.facts import _checks_for, _fact_props, _run_tests
from claimscrub.compile.history_facts import history_facts
from claimscrub.compile.program import Program
from claimscrub.compile.views import key_of


class DecidedBackend:
    """A backend for history-scope programs: the builder's tests decide every rule (see the module docstring)."""

    name = "decided"

    def __init__(self, program: Program):
        others = sorted(set(program.scopes) - {"history"})
        if others:
            raise ValueError(f"the decided backend runs history-scope rules only, not {', '.join(others)}")
        self.program = program

    def run(self, view: dict) -> set[Hit]:
        hits: set[Hit] = set()
        plan = self.program.scopes.get("history")
        if plan is None:
            return hits
        decide = functools.partial(_fact_props, proved=hits)
        ctx = self.program.ctx({}, None)
        for group in _checks_for(plan):
            history_facts(group, ctx, view, [], {}, _run_tests, decide, key_of)
        return hits
