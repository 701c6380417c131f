"""Rule backends: each takes a Program and a claim view and returns hits.

A hit is (compiled rule index, Key). The reference backend evaluates every
rule directly; the Rete backend runs durable-rules over facts. The
differential test holds the two to identical hits.
"""

from __future__ import annotations

from typing import Protocol

from claimscrub.compile.views import Key

Hit = tuple[int, Key]


class Backend(Protocol):
    name: str

    def run(self, view: dict) -> set[Hit]: ...


def make_backend(name: str, program) -> Backend:
    if name == "reference":
        from claimscrub.backends.reference import ReferenceBackend

        return ReferenceBackend(program)
    if name == "durable":
        from claimscrub.backends.durable import DurableBackend

        return DurableBackend(program)
    raise ValueError(f"unknown backend {name!r} (choose durable or reference)")
