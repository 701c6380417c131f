"""What a scrub on Spark needs on every executor (rule packs, the table store, policies), and the check
that it is there.

A config is frozen and hashable: executors keep one scrubber per config in each Python worker process
(:mod:`claimscrub.spark.partition`), so the key must say everything the scrubber was built from. The
driver pins the tables before the job starts (:func:`pin_tables`): an executor whose default data
directory differs from the driver's would otherwise scrub against other tables, silently. Paths either
lie on storage every executor mounts (a shared path), or are shipped with ``SparkContext.addFile`` and
named ``sparkfiles:NAME`` here (:func:`resolve`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SHIPPED = "sparkfiles:"  # a path shipped with SparkContext.addFile, found with SparkFiles.get on executors


class ShippingError(RuntimeError):
    """Rule packs, tables or policies the scrub needs are not where the config says (named, with the fix)."""


@dataclass(frozen=True, slots=True)
class ScrubConfig:
    """The ``Scrubber`` options a Spark scrub runs with, plus how claims are run on each executor.

    ``isolate``: scrub in a child process of each Python worker (:class:`claimscrub.api.workers.WorkerPool`,
    as the CLI does), so a claim that crashes the rule engine's C core twice is rejected with an engine
    error instead of failing the Spark task on every retry. ``cross_claim``: the cross-claim edits among
    the claims of the input (claims are grouped by patient). ``batch_claims``: claims scrubbed per batch
    on an executor (a patient's claims are never split across batches). ``history``: the history store
    the cross-claim edits read earlier claims from (a SQLite file, or a ``postgresql://`` URL); read only.
    """

    rules: tuple[str, ...] = ()
    only_rules: bool = False
    data_dir: str | None = None
    samples: bool | None = None
    include_draft: bool = False
    max_lines: int | None = 200
    policies: tuple[str, ...] = ()
    default_policies: bool = True
    suppressions: str | None = None
    backend: str = "durable"
    cross_claim: bool = True
    frequency_limits: str | None = None
    isolate: bool = True
    batch_claims: int = 2000
    history: str | None = None

    def scrubber_kwargs(self) -> dict[str, Any]:
        """The ``Scrubber`` keyword arguments (paths resolved where this runs)."""
        return {
            "rules": [resolve(p) for p in self.rules],
            "replace_bundled": self.only_rules,
            "data_dir": resolve(self.data_dir) if self.data_dir else None,
            "samples": self.samples,
            "include_draft": self.include_draft,
            "max_lines": self.max_lines,
            "policies": [resolve(p) for p in self.policies],
            "default_policies": self.default_policies,
            "suppressions": resolve(self.suppressions) if self.suppressions else None,
        }

    def paths(self) -> list[tuple[str, str]]:
        """(option, path) of every file or folder the scrub reads besides the bundled ones."""
        named = [("rules", p) for p in self.rules] + [("policies", p) for p in self.policies]
        for option in ("data_dir", "suppressions", "frequency_limits"):
            value = getattr(self, option)
            if value:
                named.append((option, value))
        if self.history and not is_url(self.history):
            named.append(("history", self.history))
        return named


def is_url(spec: str) -> bool:
    """A ``postgresql://`` history store (the others are SQLite files)."""
    return spec.startswith(("postgresql://", "postgres://"))


def resolve(path: str) -> str:
    """A local path for ``path``: itself, or where Spark put a shipped file on this executor."""
    if not path.startswith(SHIPPED):
        return path
    from pyspark import SparkFiles

    return SparkFiles.get(path.removeprefix(SHIPPED))


def missing(config: ScrubConfig) -> list[str]:
    """What the config names that is not here (an empty list when everything is)."""
    from claimscrub.refdata.store import Store

    problems = []
    for option, path in config.paths():
        local = Path(resolve(path))
        if not local.exists():  # a history file too: opening it would create an empty store, silently
            problems.append(f"{option}: {path} not found")
        elif option == "data_dir" and not Store.path_in(local).is_file():
            problems.append(f"data_dir: {path} holds no table store ({Store.path_in(local).name})")
    return problems


def check(config: ScrubConfig, where: str) -> None:
    """Refuse to start when a path is missing: scrubbing with other tables would be wrong, not slow."""
    problems = missing(config)
    if problems:
        raise ShippingError(f"on the {where}: {'; '.join(problems)}. {where_to_put()}")


def where_to_put() -> str:
    return (
        "Put them on a path every executor mounts, or ship them with ship=True (--ship), which copies them "
        "with SparkContext.addFile"
    )


def pin_tables(config: ScrubConfig) -> ScrubConfig:
    """The config with the tables the driver would use named explicitly (its store, or the samples)."""
    if config.data_dir is not None or config.samples is not None:
        return config
    from claimscrub.refdata.store import Store, resolve_data_dir

    found = resolve_data_dir(None)
    if Store.path_in(found).is_file():
        return dataclasses.replace(config, data_dir=str(found))
    return dataclasses.replace(config, samples=True)
