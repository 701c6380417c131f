"""Scrubbing in worker processes, so that a crash in the rule engine's C core loses nothing.

Claims go to workers in chunks, a few chunks in flight. A worker that dies (a
segfault in the C core, the OOM killer, a stray ``kill``) breaks the whole
``ProcessPoolExecutor``: every chunk in flight fails with it. Then the chunks
that had finished keep their results, and each claim of the others is run
once more *alone* in a fresh pool (nothing else in flight, so a second death
is that claim's own); a claim that kills its worker again is rejected with an
engine-error finding. Any number of deaths costs at most the claims in flight
at those moments, and results still come in input order. The parent never
creates a rule engine itself: it only reads, dispatches and writes.

Workers must not outlive the parent (a SIGKILLed CLI once left them running
for 37 minutes): each asks Linux for SIGKILL when its parent dies
(``prctl(PR_SET_PDEATHSIG)``, through ctypes since the standard library has no
binding), and :meth:`WorkerPool.terminate` ends them on SIGTERM/SIGINT.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from claimscrub.api.scrubber import ClaimResult, Scrubber, batch_gc
from claimscrub.compile.findings import engine_error
from claimscrub.inputs.base import InputItem

_worker: Scrubber | None = None
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent: int) -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux); exit now if it already has."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no libc prctl: the parent's terminate() remains
            pass
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _init(config: dict, parent: int) -> None:
    global _worker
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it ends the run cleanly
    # Workers are forked lazily, inside the parent's interruptible() section: its SIGTERM handler must not
    # outlive the fork, or the parent's terminate() raises in a worker holding a queue lock and the pool hangs.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
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


def crashed(item: InputItem) -> ClaimResult:
    """The result of a claim whose worker died on it twice."""
    cid = item.claim_id or "?"
    problem = "the rule engine process died twice on this claim"
    return ClaimResult(
        cid, "rejected", [engine_error(cid, problem)], reason=f"engine error: {problem}", source=item.source
    )


class WorkerPool:
    """Scrub InputItems in ``workers`` processes, results in input order."""

    def __init__(self, config: dict, workers: int = 1, chunk_size: int = 256):
        self.config = config
        self.workers = max(1, workers)
        self.chunk_size = chunk_size
        self.deaths = 0  # times the pool broke (a worker died)
        self._ctx = mp.get_context("fork")
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.workers, mp_context=self._ctx, initializer=_init, initargs=(self.config, os.getpid())
        )

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)

    def terminate(self) -> None:
        """End the workers now (an interrupted run): nothing they are doing will be written."""
        processes = list((getattr(self._pool, "_processes", None) or {}).values())
        for process in processes:
            process.terminate()
        self._pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def scrub(self, items: Iterable[InputItem]) -> Iterator[ClaimResult]:
        window = self.workers * 2
        pending: deque[tuple[list[InputItem], Future]] = deque()
        for chunk in _chunks(items, self.chunk_size):
            pending.append((chunk, self._submit(chunk)))
            while len(pending) >= window:
                yield from self._next(pending)
        while pending:
            yield from self._next(pending)

    def _submit(self, chunk: list[InputItem]) -> Future:
        try:
            return self._pool.submit(_run_chunk, chunk)
        except BrokenProcessPool as exc:  # it broke since the last result: recovered when this chunk's turn comes
            future: Future = Future()
            future.set_exception(exc)
            return future

    def _next(self, pending: deque) -> Iterator[ClaimResult]:
        chunk, future = pending[0]
        try:
            results = future.result()
        except Exception:  # noqa: BLE001 - a dead worker, a cancelled chunk, a result that could not come back
            yield from self._recover(pending)
            return
        pending.popleft()
        yield from results

    def _recover(self, pending: deque) -> Iterator[ClaimResult]:
        """A worker died: every chunk in flight is settled, finished ones kept, the others re-run claim by claim."""
        self.deaths += 1
        wait([future for _, future in pending])
        settled = [(chunk, _outcome(future)) for chunk, future in pending]
        pending.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()
        for chunk, results in settled:
            if results is None:
                results = [self._alone(item) for item in chunk]
            yield from results

    def _alone(self, item: InputItem) -> ClaimResult:
        """One claim with nothing else in flight: a death now is this claim's own (or a kill from outside)."""
        try:
            return self._pool.submit(_run_chunk, [item]).result()[0]
        except Exception:  # noqa: BLE001 - as in _next
            self.deaths += 1
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            return crashed(item)


def _outcome(future: Future) -> list[ClaimResult] | None:
    """A settled chunk's results, or None when it died with the pool."""
    if future.cancelled() or future.exception() is not None:
        return None
    return future.result()
