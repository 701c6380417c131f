"""What a ``claimscrub scrub`` run does around the scrubbing: nothing silent, nothing left running.

* Exit codes, one meaning each (listed in the README): a crash is not "findings found".
* Directories are walked with every problem reported (an unreadable subdirectory, a symlink
  loop), where ``Path.rglob`` skipped them silently.
* SIGTERM (and SIGINT) become :class:`Interrupted` in the main thread, so the run stops
  between claims, ends its output well-formed and says how many claims were not reached.
* Duplicate claim ids within one run are counted (a warning on stderr: a replacement claim
  may legitimately repeat its original's id, so it is not a finding).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

EXIT_CLEAN = 0  # nothing at or above --fail-on, no rejected claim
EXIT_FINDINGS = 1  # findings at or above --fail-on, or rejected claims
EXIT_USAGE = 2  # usage error, broken rules, unreadable input (file, directory, symlink loop), no claims at all
EXIT_INTERNAL = 3  # an internal error ended the run (a bug: report it)
EXIT_SIGINT = 130  # interrupted by SIGINT (Ctrl-C): 128 + 2, the shell's convention
EXIT_SIGTERM = 143  # stopped by SIGTERM: 128 + 15


class StderrConsole:
    """rich's Console on stderr, made on first use: a scrub that prints nothing to stderr (the usual run)
    does not import rich, about 50 ms of start-up. Keyword arguments are Console's."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Any = None

    def rich(self) -> Any:
        """The Console itself (for rich objects that take one, e.g. a progress bar)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=True, **self._options)
        return self._console

    @property
    def is_terminal(self) -> bool:
        """As rich decides it (TTY_COMPATIBLE, FORCE_COLOR, then isatty), without rich when stderr is no terminal."""
        if "TTY_COMPATIBLE" not in os.environ and "FORCE_COLOR" not in os.environ:
            try:
                if not sys.stderr.isatty():
                    return False
            except ValueError:  # closed (the end of a test run)
                return False
        return bool(self.rich().is_terminal)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.rich(), name)


def escape(text: str) -> str:
    """rich markup escaped (for messages printed through :class:`StderrConsole`)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


class Interrupted(BaseException):
    """SIGTERM/SIGINT arrived: stop between claims and end the output cleanly.

    A BaseException, like KeyboardInterrupt, so that no ``except Exception`` on the way swallows it.
    """

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class Stop:
    """A signal that arrived while an input generator was running, to be raised between claims."""

    signum: int | None = None

    def check(self) -> None:
        if self.signum is not None:
            raise Interrupted(self.signum)


@contextlib.contextmanager
def interruptible(safe: tuple[Callable[..., Any], ...] = ()) -> Iterator[Stop]:
    """SIGTERM and SIGINT raise :class:`Interrupted` in the main thread while the block runs.

    Raised inside a generator, the exception would end it for good: raised while the input
    generators (reading, tallying, collecting) run, the claims not yet reached could no longer be
    counted. So a signal that lands with a generator on the stack is only recorded, and the loop
    raises it between claims (``Stop.check``); the generators in ``safe`` (the worker pool's result
    stream, which may be waiting on workers for long) may be interrupted at once.
    """
    stop = Stop()
    safe_codes = {fn.__code__ for fn in safe}

    def handle(signum, frame):
        while frame is not None:
            if frame.f_code.co_flags & inspect.CO_GENERATOR:
                if frame.f_code in safe_codes:
                    break
                stop.signum = signum  # inside an input generator: raise between claims instead
                return
            frame = frame.f_back
        raise Interrupted(signum)

    previous = {s: signal.signal(s, handle) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def quiet_signals() -> None:
    """After an interruption: a second signal must not cut the clean ending short."""
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, signal.SIG_IGN)


def walk(root: Path, suffixes: tuple[str, ...], problems: list[str]) -> list[Path]:
    """Input files under a directory, sorted; what cannot be entered is named in ``problems``.

    ``os.walk`` reports unreadable directories through ``onerror``; symlinked directories are
    followed, and one that leads back to a directory already walked (a loop) is reported, not
    walked again.
    """
    found: list[Path] = []
    seen: set[tuple[int, int]] = set()

    def failed(exc: OSError) -> None:
        problems.append(f"{exc.filename}: cannot read directory ({exc.strerror or type(exc).__name__})")

    for here, dirs, files in os.walk(root, onerror=failed, followlinks=True):
        try:
            st = os.stat(here)
        except OSError as exc:
            failed(exc)
            dirs[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen:
            problems.append(f"{here}: symbolic link loop (a directory already scanned); skipped")
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirs.sort()
        for name in files:
            path = Path(here, name)
            if path.suffix.lower() not in suffixes:
                continue
            if not path.exists():  # a dangling or looping file symlink
                problems.append(f"{path}: broken or looping symbolic link; skipped")
                continue
            found.append(path)
    return sorted(found)


@dataclass
class Tally:
    """Claims taken from the input so far, and the ids of those scrubbed, to name duplicates."""

    seen: int = 0
    ids: Counter = field(default_factory=Counter)
    finished: bool = False  # the input was read to its end (not cut short by an interruption)

    def watch(self, items: Iterable) -> Iterator:
        """Count what is read (claims, or raw lines the workers will read claims from)."""
        for item in items:
            self.seen += 1
            yield item
        self.finished = True

    def count_id(self, claim_id: str | None) -> None:
        """A claim id, as its result comes back."""
        if claim_id is not None:
            self.ids[claim_id] += 1

    def duplicates(self) -> list[tuple[str, int]]:
        return [(cid, n) for cid, n in self.ids.items() if n > 1]


def exits_cleanly(command: Callable) -> Callable:
    """A command whose unexpected exception exits with EXIT_INTERNAL and a one-line message (the type
    and where, never the exception's text, which may hold input values), not with 1 and a traceback."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - click's own exceptions are not Exceptions raised here
            if isinstance(exc, (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort)):
                raise
            where = exc.__traceback__
            while where is not None and where.tb_next is not None:
                where = where.tb_next
            at = f" at {Path(where.tb_frame.f_code.co_filename).name}:{where.tb_lineno}" if where else ""
            click.echo(f"internal error: {type(exc).__name__}{at}; please report it (exit {EXIT_INTERNAL})", err=True)
            sys.exit(EXIT_INTERNAL)

    return run


def count_rest(items: Iterator, budget_seconds: float = 5.0) -> tuple[int, bool]:
    """How many claims the input still held (read, not scrubbed); (count, complete) within a time budget."""
    deadline = time.monotonic() + budget_seconds
    n = 0
    try:
        for _ in items:
            n += 1
            if time.monotonic() > deadline:
                return n, False
    except Exception:  # noqa: BLE001 - counting is best effort on an interrupted run
        return n, False
    return n, True
