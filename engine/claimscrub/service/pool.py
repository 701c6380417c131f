"""The HTTP service's scrub workers: a small supervised process pool, so the service survives its engine.

durable-rules' C core can crash (a segfault ends the process, it is no
exception), never releases the GIL, and cannot unregister a ruleset. So the
service never runs it in the process that serves HTTP: each worker process
builds its own scrubber and scrubs the claims of one request, sent over a pipe in one message; it
sends each result back as soon as it is done (one round trip per request, not per claim).

* A worker that dies is replaced; the claim it was scrubbing is tried once
  more on another worker, and a claim that kills a worker twice is rejected
  with an engine-error finding. The event loop is never involved.
* ``scrub`` takes a deadline: when it passes while a claim runs, that
  worker is killed and replaced (a C call cannot be interrupted any other
  way) and :class:`DeadlinePassed` says so; the caller names the claims not done.
* A reload starts a new pool and retires the old one: its workers end when
  the requests still using them are done. Replacing processes is the only way
  to free what durable-rules keeps of old rulesets.
* Workers are forked by multiprocessing's fork server, which has imported the
  engine: a restart costs loading the tables and building the rule engine
  (~1 s), not the imports too (a spawned worker took 8-14 s on a loaded machine).
* A worker ends itself when its parent, the fork server, is gone (it watches
  its parent id); the fork server ends with the service, so killing the
  service, even with SIGKILL, leaves no worker behind.

``claimscrub.api.workers.WorkerPool`` (the CLI's) is built on ``ProcessPoolExecutor``,
which can neither kill one task's process at a deadline nor keep serving
after a worker dies (the whole executor breaks): hence this small pool.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from claimscrub.inputs.base import InputItem
from claimscrub.service.config import ServiceConfig

log = logging.getLogger("claimscrub.service")

ScrubFn = Callable[[InputItem], Any]  # returns a ClaimResult
Factory = Callable[[ServiceConfig, Any], ScrubFn]  # (config, rulebook) -> scrub function, run in the worker

START_TIMEOUT = 120.0  # seconds for a worker to import, load its tables and build its engine (busy machines)
CRASHED_TWICE = "the rule engine process crashed twice on this claim"


class DeadlinePassed(Exception):
    """The request's deadline passed; ``in_flight`` says whether a claim was being scrubbed (and was stopped)."""

    def __init__(self, in_flight: bool):
        super().__init__("deadline passed")
        self.in_flight = in_flight


class WorkerStartError(Exception):
    """A worker could not build its scrubber (the message is about rule or table files, never claims)."""


def _context() -> Any:
    """Workers come from a fork server: a clean single-threaded process that imported the engine once, so a
    restart skips the imports (the service itself has threads: forking it could copy a held lock)."""
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["claimscrub.api.scrubber", "claimscrub.service.pool", "claimscrub.authoring.ruletest"])
    return ctx


def build_scrub(config: ServiceConfig, rulebook: Any) -> ScrubFn:
    """The default worker: a Scrubber on the parent's rulebook (the same rules, read once), warmed up."""
    from claimscrub.api.scrubber import Scrubber
    from claimscrub.authoring.ruletest import base_claim
    from claimscrub.backends import make_backend

    scrubber = Scrubber(
        data_dir=config.data_dir,
        samples=config.samples,
        include_draft=config.include_draft,
        backend=None,
        rulebook=rulebook,
    )
    scrubber.backend = make_backend(config.backend, scrubber.program)
    scrubber.scrub(base_claim())  # warm the caches so the first request is not the slow one
    return scrubber.scrub_item


def engine_rejection(item: InputItem, problem: str) -> Any:
    """The claim could not be run through the rules: rejected with an engine-error finding (no claim data)."""
    from claimscrub.api.scrubber import ClaimResult
    from claimscrub.compile.findings import engine_error

    cid = item.claim_id or "?"
    return ClaimResult(
        item.claim_id, "rejected", [engine_error(cid, problem)], reason=f"engine error: {problem}", source=item.source
    )


def _watch_parent(parent: int) -> None:
    """End this worker when its parent is gone: the fork server, which ends with the service (even killed)."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(0)


def _worker_main(conn: Connection, factory: Factory, config: ServiceConfig, rulebook: Any) -> None:
    """A worker: build the scrubber, then scrub one item per message until told to stop (None) or orphaned."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the service stops us itself
    parent = os.getppid()
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="claimscrub-parent-watch").start()
    try:
        scrub = factory(config, rulebook)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which keeps the old generation serving
        conn.send(("failed", _describe(exc)))
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        for item in message:  # a request's claims, one result sent back as each is done
            try:
                result = scrub(item)
            except Exception as exc:  # noqa: BLE001 - one claim's failure is that claim's rejection, by type only
                result = engine_rejection(item, f"unexpected {type(exc).__name__} while scrubbing")
            conn.send(result)


def _describe(exc: BaseException) -> str:
    """A start failure for the log and the reload answer: rule errors name files; others by type only."""
    from claimscrub.api.scrubber import RulesError

    return str(exc) if isinstance(exc, RulesError) else f"{type(exc).__name__} while building the scrubber"


@dataclass(eq=False)
class Worker:
    process: Any  # multiprocessing.Process (forkserver context)
    conn: Connection

    def stop(self, wait: float = 5.0) -> None:
        """Ask the worker to end; kill it when it does not (or cannot: it may be inside the C core)."""
        try:
            self.conn.send(None)
        except (OSError, ValueError):
            pass
        self.process.join(wait)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self.conn.close()

    def kill(self) -> None:
        self.process.kill()
        self.process.join(5)
        self.conn.close()


class ScrubPool:
    """``size`` supervised worker processes with one rule generation; claims are scrubbed one at a time."""

    def __init__(self, config: ServiceConfig, rulebook: Any, size: int = 1, factory: Factory = build_scrub):
        self.config = config.with_token(None)  # workers never hold the token
        self.rulebook = rulebook
        self.size = size
        self.factory = factory
        self.restarts = 0
        self._ctx = _context()
        self._idle: queue.SimpleQueue[Worker] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._workers: set[Worker] = set()
        self._users = 0
        self._retired = False
        self._closed = False
        for worker in self._start_many(size):
            self._add(worker)

    # --- starting and replacing workers

    def _spawn(self) -> Worker:
        parent_end, child_end = self._ctx.Pipe()
        process = self._ctx.Process(
            target=_worker_main,
            name="claimscrub-scrub-worker",
            daemon=True,
            args=(child_end, self.factory, self.config, self.rulebook),
        )
        process.start()
        child_end.close()
        return Worker(process, parent_end)

    def _start_many(self, count: int) -> list[Worker]:
        """Start ``count`` workers at once and wait until each is ready; WorkerStartError ends them all."""
        started = [self._spawn() for _ in range(count)]
        problem = None
        for worker in started:
            if not worker.conn.poll(START_TIMEOUT):
                problem = problem or f"a scrub worker did not start in {START_TIMEOUT:.0f} s"
                continue
            try:
                status, detail = worker.conn.recv()
            except (EOFError, OSError):
                status, detail = "failed", "a scrub worker ended while starting"
            if status != "ready":
                problem = problem or detail
        if problem is not None:
            for worker in started:
                worker.kill()
            raise WorkerStartError(problem)
        return started

    def _add(self, worker: Worker) -> None:
        with self._lock:
            if self._closed:
                worker.stop()
                return
            self._workers.add(worker)
        self._idle.put(worker)

    def _replace(self, dead: Worker) -> None:
        """A worker died or was killed: start another in the background (requests wait for an idle one)."""
        with self._lock:
            self._workers.discard(dead)
            if self._closed:
                return
            self.restarts += 1

        def start() -> None:
            for attempt in range(3):
                started = time.monotonic()
                try:
                    self._add(self._start_many(1)[0])
                    log.info("scrub worker restarted in %.1f s", time.monotonic() - started)
                    return
                except WorkerStartError as exc:
                    log.error("scrub worker restart %d failed: %s", attempt + 1, exc)
                    time.sleep(1)

        threading.Thread(target=start, name="claimscrub-worker-restart", daemon=True).start()

    # --- scrubbing

    def scrub(self, item: InputItem, deadline: float) -> Any:
        """One claim's ClaimResult, before ``deadline`` (time.monotonic()) or DeadlinePassed."""
        return list(self.scrub_many([item], deadline))[0]

    def scrub_many(self, items: list[InputItem], deadline: float) -> Iterator[Any]:
        """Each claim's ClaimResult in order, as they come, before ``deadline`` (time.monotonic()) or
        DeadlinePassed: the claims go to a worker in one message (one round trip per request, not per
        claim), and the worker sends each result back as soon as it is done.

        A worker that dies did so on the claim whose result was due: that claim and the ones after it
        go to another worker; a claim that was due when two workers died is rejected.
        """
        done, deaths = 0, 0
        while done < len(items):
            worker = self._take(deadline)
            try:
                worker.conn.send(items[done:])
                while done < len(items):
                    if not worker.conn.poll(max(0.0, deadline - time.monotonic())):
                        log.warning(
                            "deadline passed while a claim was being scrubbed: worker %s stopped", worker.process.pid
                        )
                        worker.kill()
                        self._replace(worker)
                        raise DeadlinePassed(in_flight=True)
                    result = worker.conn.recv()
                    done, deaths = done + 1, 0
                    yield result
            except GeneratorExit:  # the caller stopped reading: the results still due make the worker unusable
                worker.kill()
                self._replace(worker)
                raise
            except (EOFError, OSError):
                deaths += 1
                worker.process.join(5)
                log.error(
                    "scrub worker %s died (exit code %s) on claim %s, attempt %d",
                    worker.process.pid,
                    worker.process.exitcode,
                    items[done].claim_id or "?",
                    deaths,
                )
                worker.kill()
                self._replace(worker)
                if deaths == 2:
                    done, deaths = done + 1, 0
                    yield engine_rejection(items[done - 1], CRASHED_TWICE)
                continue
            self._give_back(worker)

    def _take(self, deadline: float) -> Worker:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeadlinePassed(in_flight=False)
            try:
                worker = self._idle.get(timeout=min(remaining, 1.0))
            except queue.Empty:
                if self._closed:
                    raise WorkerStartError("the scrub workers were stopped") from None
                continue
            if worker.process.is_alive():
                return worker
            worker.kill()
            self._replace(worker)

    def _give_back(self, worker: Worker) -> None:
        with self._lock:
            closing = self._closed
            if closing:
                self._workers.discard(worker)
        if closing:
            worker.stop()
        else:
            self._idle.put(worker)

    # --- generations: a retired pool ends when its last request is done

    def enter(self) -> None:
        """A request starts using this pool: retiring it waits for ``leave``."""
        with self._lock:
            self._users += 1

    def leave(self) -> None:
        with self._lock:
            self._users -= 1
            done = self._retired and self._users == 0
        if done:
            self.close()

    def retire(self) -> None:
        """A newer generation serves now: end the workers once no request uses this pool."""
        with self._lock:
            self._retired = True
            idle = self._users == 0
        if idle:
            self.close()

    def close(self, wait: bool = False) -> None:
        """Stop every worker: idle ones now (in the background unless ``wait``), busy ones when they are done."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        idle = []
        while True:
            try:
                idle.append(self._idle.get_nowait())
            except queue.Empty:
                break
        with self._lock:
            self._workers.difference_update(idle)

        def stop() -> None:
            for worker in idle:
                worker.stop()

        if wait:
            stop()
        else:
            threading.Thread(target=stop, name="claimscrub-worker-stop", daemon=True).start()

    def shutdown(self) -> None:
        """The service stops: close, and kill the workers still busy (their requests are being cancelled)."""
        self.close(wait=True)
        with self._lock:
            busy, self._workers = list(self._workers), set()
        for worker in busy:
            worker.kill()

    def pids(self) -> list[int]:
        with self._lock:
            return sorted(w.process.pid for w in self._workers if w.process.pid is not None)

    def status(self) -> dict:
        with self._lock:
            alive = sum(1 for w in self._workers if w.process.is_alive())
        return {"workers": self.size, "alive": alive, "restarts": self.restarts}
