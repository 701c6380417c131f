"""What went wrong in a Spark job, in one line: which check, which path or field, what to do.

An exception raised inside a Spark task reaches the driver wrapped (a ``PythonException`` holding the
worker's traceback, or a Java ``SparkException`` holding a stack), so the user would read a screenful
of Java for a missing table store. Executors raise :class:`ExecutorError` with a one-line message and a
marker; :func:`explain` finds that line in whatever Spark wraps it in, or names the known failures
(a Python worker that died, an input path Spark cannot read) itself. It never quotes another
exception's own text beyond its first line from Spark's analyser (which names columns and paths, not
claim values): a worker's exception may hold claim data.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

MARK = "[claimscrub] "  # starts every ExecutorError message, so explain() finds it in a wrapped stack


class ExecutorError(RuntimeError):
    """A check that failed on an executor (tables, rule packs, the history store): the message says which."""

    def __init__(self, message: str) -> None:
        super().__init__(MARK + message)


class SparkJobError(RuntimeError):
    """A Spark job of the scrub failed; ``str()`` is the one-line explanation (no claim data)."""


_OURS = re.compile(re.escape(MARK) + r"([^\n]*)")
_WORKER_DIED = re.compile(r"Python worker exited unexpectedly|PYTHON_WORKER_EXITED|worker crashed|Crashed", re.I)
_ATTEMPTS = re.compile(r"failed (\d+) times")
_NO_MODULE = re.compile(r"ModuleNotFoundError: No module named '([\w.]+)'")
_OUT_OF_HEAP = re.compile(r"java\.lang\.OutOfMemoryError")
# what the driver says of a job whose context stopped under it (in local mode, when the one JVM ran out of heap)
_CONTEXT_STOPPED = re.compile(r"SparkContext (?:was|has been) shut ?down|stopped SparkContext", re.I)
_HEAP = (
    "Give the JVM more heap (spark.driver.memory in local mode or for the driver, spark.executor.memory on a "
    "cluster) or spread the claims over more partitions (--partitions)"
)
_EXIT_CODE = re.compile(r"exit code (-?\d+)|exited with code (-?\d+)|exit status (-?\d+)", re.I)
_ERROR_CLASS = re.compile(r"\[([A-Z][A-Z0-9_.]+)\]")


def explain(exc: BaseException) -> str:
    """One line saying what went wrong in a Spark job, and what to do."""
    text = _text(exc)
    ours = _OURS.search(text)
    if ours:
        return ours.group(1).strip()
    missing = _NO_MODULE.search(text)
    if missing:  # a module name, never claim data
        return (
            f"the executors' Python cannot import {missing.group(1)}: install claimscrub[spark] into the Python the "
            "executors run, and name that Python in PYSPARK_PYTHON or spark.pyspark.python"
        )
    if _OUT_OF_HEAP.search(text):
        return f"a Spark JVM ran out of heap (java.lang.OutOfMemoryError). {_HEAP}"
    if _CONTEXT_STOPPED.search(text):  # before a dead worker: a stopped context ends its workers too
        return (
            "the SparkContext was shut down during the job, most often because the JVM ran out of heap (look for "
            f"java.lang.OutOfMemoryError in the log above). {_HEAP}"
        )
    if _WORKER_DIED.search(text):
        tries = _ATTEMPTS.search(text)
        code = _EXIT_CODE.search(text)
        exit_code = next((g for g in code.groups() if g), None) if code else None
        return (
            f"a Spark task failed{f' {tries.group(1)} times' if tries else ''}: its Python worker died"
            f"{f' (exit code {exit_code})' if exit_code else ''}, e.g. killed for memory or by a crash in native "
            "code. Give executors more Python memory (spark.executor.memoryOverhead or spark.executor.pyspark.memory) "
            "and see the executor's log for the task"
        )
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    error_class = _ERROR_CLASS.search(first)
    if type(exc).__name__ == "AnalysisException" and error_class:  # the analyser names paths and columns
        return f"Spark cannot read the input: {first}"
    named = f" [{error_class.group(1)}]" if error_class else ""
    return (
        f"the Spark job failed ({type(exc).__name__}{named}); the cause is in the executors' logs "
        "(not repeated here: it may quote claim data)"
    )


def _text(exc: BaseException) -> str:
    """The exception's message, with the Java side's own message where py4j holds one."""
    parts = [str(exc)]
    java = getattr(exc, "java_exception", None)
    if java is not None:
        try:
            parts.append(str(java.toString()))
        except Exception:  # noqa: BLE001 - the gateway may be gone; the Python text is enough
            pass
    return "\n".join(parts)


def _spark_errors() -> tuple[type[BaseException], ...]:
    from py4j.protocol import Py4JJavaError  # type: ignore[import-untyped]
    from pyspark.errors import PySparkException

    return (Py4JJavaError, PySparkException)


@contextmanager
def explained() -> Iterator[None]:
    """Run Spark actions; a failed job is re-raised as :class:`SparkJobError` with :func:`explain`'s line."""
    errors = _spark_errors()
    try:
        yield
    except errors as exc:
        raise SparkJobError(explain(exc)) from None
