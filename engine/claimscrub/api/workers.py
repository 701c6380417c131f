"""Scrubbing in worker processes, so that a crash in the rule engine's C core loses nothing.

Claims go to workers in chunks. If a worker dies (a segfault in the C core
kills the process, not an exception), the chunk is re-run one claim at a time
in fresh workers; a claim that kills a worker again is reported as rejected
with an engine-error finding, and the batch goes on. The parent never creates
a rule engine itself: it only reads, dispatches and writes.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from claimscrub.compile.findings import engine_error
from claimscrub.inputs.base import InputItem
from claimscrub.api.scrubber import ClaimResult, Scrubber, batch_gc

_worker: Scrubber | None = None


def _init(config: dict) -> None:
    global _worker
    _worker = Scrubber(**config)
    batch_gc()


def _run_chunk(items: list[InputItem]) -> list[ClaimResult]:
    assert _worker is not None
    return [_worker.scrub_item(item) for item in items]


def _chunks(items: Iterable[InputItem], size: int) -> Iterator[list[InputItem]]:
    chunk: list[InputItem] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class WorkerPool:
    """Scrub InputItems in ``workers`` processes, results in input order."""

    def __init__(self, config: dict, workers: int = 1, chunk_size: int = 256):
        self.config = config
        self.workers = max(1, workers)
        self.chunk_size = chunk_size
        self._ctx = mp.get_context("fork")
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=self._ctx, initializer=_init, initargs=(self.config,))

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def scrub(self, items: Iterable[InputItem]) -> Iterator[ClaimResult]:
        window = self.workers * 2
        pending: list[tuple[list[InputItem], object]] = []
        for chunk in _chunks(items, self.chunk_size):
            pending.append((chunk, self._pool.submit(_run_chunk, chunk)))
            if len(pending) >= window:
                yield from self._collect(*pending.pop(0))
        while pending:
            yield from self._collect(*pending.pop(0))

    def _collect(self, chunk: list[InputItem], future) -> Iterator[ClaimResult]:
        try:
            yield from future.result()
        except BrokenProcessPool:
            yield from self._isolate(chunk)

    def _isolate(self, chunk: list[InputItem]) -> Iterator[ClaimResult]:
        """A worker died: re-run the chunk claim by claim, each in a live pool."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()
        for item in chunk:
            for attempt in (1, 2):
                try:
                    yield from self._pool.submit(_run_chunk, [item]).result()
                    break
                except BrokenProcessPool:
                    self._pool = self._new_pool()
                    if attempt == 2:
                        cid = item.claim_id or "?"
                        problem = "the rule engine process crashed twice on this claim"
                        yield ClaimResult(cid, "rejected", [engine_error(cid, problem)],
                                          reason=f"engine error: {problem}", source=item.source)
