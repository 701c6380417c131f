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

Handoff without waste (issue #18): a unit of work is an :class:`InputItem` or a raw JSON Lines line
(:class:`~claimscrub.inputs.lines.RawLine`, parsed in the worker); ``finish`` (a plain callable
handed to the forked workers) turns each result into what the parent needs, e.g. the bytes to write
and a few counters, so results are not pickled back whole. A unit gives one result per claim it holds.

A claim that hangs its worker (a loop in the C core, which no signal inside the process can stop) is
a death too: when the chunk due next has not come back within ``claim_timeout`` seconds, the workers
are killed and the chunks in flight are run again unit by unit, each within ``claim_timeout``; a unit
over it alone is rejected with an engine-error finding. (A chunk of legitimately slow claims that
passes the limit costs only that retry.)
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from claimscrub.api.scrubber import ClaimResult, Scrubber, batch_gc
from claimscrub.compile.findings import engine_error
from claimscrub.inputs.base import InputItem
from claimscrub.inputs.lines import RawLine, items_of

Unit = InputItem | RawLine
# (item, result[, the normalised claim when it was scrubbed]) -> what goes back to the parent
Finish = Callable[..., Any]

_worker: Scrubber | None = None
_finish: Finish | None = None
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


def _keep(item: InputItem, result: ClaimResult, claim: Any = None) -> ClaimResult:
    return result


def default_workers() -> int:
    """The cores this process may run on (its affinity mask, not every core of the machine)."""
    count = getattr(os, "process_cpu_count", None)  # Python 3.13
    if count is not None:
        return count() or 1
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Prebuilt:
    """A scrubber the parent built (rules, tables, policies; no engine) and the engine each worker adds.

    Workers are forked, so they start from the parent's memory (shared copy-on-write) instead of loading
    the same tables and policies again; only the rule engine, whose C state must not cross a fork, is
    built in each worker (:meth:`Scrubber.with_backend`)."""

    scrubber: Scrubber
    backend: str


def _init(config: dict | Prebuilt, parent: int, finish: Finish = _keep) -> None:
    global _worker, _finish
    _finish = finish
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it ends the run cleanly
    # Workers are forked lazily, inside the parent's interruptible() section: its SIGTERM handler must not
    # outlive the fork, or the parent's terminate() raises in a worker holding a queue lock and the pool hangs.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _worker = config.scrubber.with_backend(config.backend) if isinstance(config, Prebuilt) else Scrubber(**config)
    batch_gc()


def scrub_unit(scrubber: Scrubber, unit: Unit, finish: Finish = _keep) -> list:
    """Every claim of one unit, scrubbed and finished (a raw line may hold none, or a FHIR Bundle several)."""
    items = items_of(unit) if isinstance(unit, RawLine) else [unit]
    out = []
    for item in items:
        normalised: list = []  # the claim as the scrub normalised it: finish keeps it, not normalising again
        result = scrubber.scrub_item(item, normalised)
        out.append(finish(item, result, normalised[0] if normalised else None))
    return out


def _run_chunk(units: list[Unit]) -> list[list]:
    assert _worker is not None and _finish is not None
    return [scrub_unit(_worker, unit, _finish) for unit in units]


def _ready() -> bool:
    return _worker is not None


def _chunks(items: Iterable[Unit], size: int) -> Iterator[list[Unit]]:
    chunk: list[Unit] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


DIED_TWICE = "the rule engine process died twice on this claim"


def crashed(unit: Unit, problem: str = DIED_TWICE) -> tuple[InputItem, ClaimResult]:
    """The result of a claim whose worker died on it twice (or hung): rejected with an engine error."""
    item = unit if isinstance(unit, InputItem) else InputItem(unit.source, None, None)
    cid = item.claim_id or "?"
    return item, ClaimResult(
        cid, "rejected", [engine_error(cid, problem)], reason=f"engine error: {problem}", source=item.source
    )


class WorkerPool:
    """Scrub units (InputItems, raw lines) in ``workers`` processes, results in input order.

    ``config``: the Scrubber's keyword arguments (each worker builds its own), or a :class:`Prebuilt`
    scrubber the workers inherit. ``finish`` runs in the worker on each (item, result) and is what comes
    back (default: the result);
    ``claim_timeout``: seconds to wait for the chunk due next before its worker is deemed hung, and for a
    unit run alone (None: no limit).
    """

    def __init__(
        self,
        config: dict | Prebuilt,
        workers: int = 1,
        chunk_size: int = 64,
        finish: Finish = _keep,
        claim_timeout: float | None = None,
    ):
        self.config = config
        self.workers = max(1, workers)
        self.chunk_size = chunk_size
        self.finish = finish
        self.claim_timeout = claim_timeout
        self.deaths = 0  # times the pool broke (a worker died or hung)
        self._ctx = mp.get_context("fork")
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.workers, mp_context=self._ctx, initializer=_init, initargs=(self.config, os.getpid(), self.finish)
        )

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)

    def terminate(self) -> None:
        """End the workers now (an interrupted run, a hung claim): nothing they are doing will be written."""
        processes = list((getattr(self._pool, "_processes", None) or {}).values())
        for process in processes:
            process.kill()
        self._pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def scrub(self, units: Iterable[Unit]) -> Iterator[Any]:
        window = self.workers * 2
        pending: deque[tuple[list[Unit], Future]] = deque()
        for chunk in _chunks(units, self.chunk_size):
            pending.append((chunk, self._submit(chunk)))
            while len(pending) >= window:
                yield from self._next(pending)
        while pending:
            yield from self._next(pending)

    def _submit(self, chunk: list[Unit]) -> Future:
        try:
            return self._pool.submit(_run_chunk, chunk)
        except BrokenProcessPool as exc:  # it broke since the last result: recovered when this chunk's turn comes
            future: Future = Future()
            future.set_exception(exc)
            return future

    def _next(self, pending: deque) -> Iterator[Any]:
        chunk, future = pending[0]
        try:
            results = future.result(self.claim_timeout)
        except FutureTimeout:  # a hung worker: kill them all, then settle as after a death
            self.terminate()
            yield from self._recover(pending)
            return
        except Exception:  # noqa: BLE001 - a dead worker, a cancelled chunk, a result that could not come back
            yield from self._recover(pending)
            return
        pending.popleft()
        for per_unit in results:
            yield from per_unit

    def _recover(self, pending: deque) -> Iterator[Any]:
        """A worker died: every chunk in flight is settled, finished ones kept, the others re-run unit by unit."""
        self.deaths += 1
        wait([future for _, future in pending], self.claim_timeout)
        settled = [(chunk, _outcome(future)) for chunk, future in pending]
        self.terminate()  # a worker still busy past that wait is hung too
        pending.clear()
        self._pool = self._new_pool()
        for chunk, results in settled:
            if results is None:
                results = [self._alone(unit) for unit in chunk]
            for per_unit in results:
                yield from per_unit

    def _alone(self, unit: Unit) -> list:
        """One unit with nothing else in flight: a death now is this unit's own (or a kill from outside)."""
        try:
            if self.claim_timeout is not None:  # the worker's start (its tables, its engine) is not the claim's time
                self._pool.submit(_ready).result()
            return self._pool.submit(_run_chunk, [unit]).result(self.claim_timeout)[0]
        except FutureTimeout:
            self.deaths += 1
            self.terminate()
            self._pool = self._new_pool()
            return [self.finish(*crashed(unit, f"the claim did not finish within {self.claim_timeout:g} s"))]
        except Exception:  # noqa: BLE001 - as in _next
            self.deaths += 1
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            return [self.finish(*crashed(unit))]


def _outcome(future: Future) -> list | None:
    """A settled chunk's results, or None when it died with the pool (or is still running: hung)."""
    if not future.done() or future.cancelled() or future.exception() is not None:
        return None
    return future.result()
