"""The reference backend: every rule's condition evaluated directly in Python."""

from __future__ import annotations

from claimscrub.backends import Hit
from claimscrub.compile.budget import tick
from claimscrub.compile.program import Program
from claimscrub.compile.views import contexts, key_of


class ReferenceBackend:
    name = "reference"

    def __init__(self, program: Program):
        self.program = program

    def run(self, view: dict) -> set[Hit]:
        hits: set[Hit] = set()
        program = self.program
        for scope, plan in program.scopes.items():
            for names, dos in contexts(scope, view):
                tick()
                ctx = None
                for item in plan.rules:
                    if not item.rule.applies_on(dos):
                        continue
                    ctx = ctx or program.ctx(names, dos)
                    if item.test(ctx) is True:
                        hits.add((item.index, key_of(names)))
        return hits
