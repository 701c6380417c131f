"""A cached rulebook: the loaded, parsed and type-checked rule packs, kept between runs.

Loading the bundled packs parses YAML (with positions, for lint), validates it
against the rule schema, parses every expression with lark and type-checks it:
about 0.9 s of CPU, most of a scrub's start-up. The result depends only on the
rule files, the table columns the checker sees and claimscrub's own code, so it
is kept in the user's cache directory (``$CLAIMSCRUB_CACHE_DIR`` or
``~/.cache/claimscrub``, as the ICD-10-CM cache) under a name that is the
SHA-256 of all of those: a change to any rule file, value set, table definition
or claimscrub source file names another file, and the old one is never read.

The file is a pickle, read with an unpickler that constructs only the rulebook's
own dataclasses (rules, packs, references, value sets, issues, expression nodes)
and ``Decimal``; any other global, a truncated or corrupt file, is a cache miss
and the packs are loaded afresh. So a file planted in the cache directory cannot
run code when read (pickle's documented "restricting globals" defence); it could
only stand for other rules, and whoever can write the user's cache directory can
already change the user's rule packs.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import pickle
import sys
import tempfile
from dataclasses import is_dataclass
from decimal import Decimal
from pathlib import Path

import claimscrub
from claimscrub.compile import rules as R
from claimscrub.compile.rules import Issue, RuleBook, load_rulebook
from claimscrub.lang import ast as A
from claimscrub.resources import rules_dir

FORMAT = 1  # bump when what is pickled changes shape without a source change (never, so far)
KEEP = 8  # cached rulebooks kept (the newest)
_ALLOWED = {
    ("claimscrub.compile.rules", name): getattr(R, name)
    for name in ("RuleBook", "Rule", "Pack", "Reference", "ValueSetDef", "Issue")
}
_ALLOWED.update(
    (("claimscrub.lang.ast", name), cls)
    for name, cls in vars(A).items()
    if isinstance(cls, type) and is_dataclass(cls) and cls.__module__ == A.__name__
)
_ALLOWED[("decimal", "Decimal")] = Decimal


def cache_dir() -> Path:
    return Path(os.environ.get("CLAIMSCRUB_CACHE_DIR") or Path.home() / ".cache" / "claimscrub") / "rulebooks"


class _RulebookUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        cls = _ALLOWED.get((module, name))
        if cls is None:
            raise pickle.UnpicklingError(f"{module}.{name} is not part of a rulebook")
        return cls


def _source_files() -> list[Path]:
    """claimscrub's own code that decides what a loaded rulebook holds (any change to it: a new key)."""
    package = Path(claimscrub.__file__).parent
    return sorted(p for p in package.rglob("*") if p.suffix in (".py", ".lark") and p.is_file())


def rulebook_key(roots: list[Path], tables: dict | None, replace_bundled: bool) -> str:
    """The SHA-256 naming one loading of the packs: claimscrub's version and sources, Python's
    version, the roots (paths and every file's path and content) and the table columns."""
    h = hashlib.sha256()
    h.update(
        json.dumps([FORMAT, claimscrub.__version__, sys.version, replace_bundled, tables], sort_keys=True).encode()
    )
    for path in _source_files():
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    for root in [rules_dir(), *roots]:
        root = Path(root).resolve()
        h.update(b"\1" + str(root).encode())
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def cached_rulebook(
    roots: list[Path] | None = None, tables: dict | None = None, replace_bundled: bool = False
) -> tuple[RuleBook, list[Issue]]:
    """:func:`load_rulebook`, from the cache when the same packs were loaded before (see the module)."""
    roots = [Path(r) for r in roots or ()]
    try:
        key = rulebook_key(roots, tables, replace_bundled)
    except OSError:  # a rule file that cannot be read: loading names it
        return load_rulebook(roots, tables, replace_bundled)
    path = cache_dir() / f"{key}.pickle"
    try:
        with open(path, "rb") as f:
            book, issues = _RulebookUnpickler(io.BytesIO(f.read())).load()
        if isinstance(book, RuleBook) and isinstance(issues, list):
            return book, issues
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError, IndexError):
        pass  # not cached yet, or unreadable: load and (re)write it
    book, issues = load_rulebook(roots, tables, replace_bundled)
    _store(path, (book, issues))
    return book, issues


def _store(path: Path, value: object) -> None:
    """Write atomically (another process may be reading the same key) and keep the newest few files
    (test suites and pack authors load many versions of the packs). A cache that cannot be written
    is no error: the next run loads the packs again."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".rulebook-")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(tmp, path)
        kept = sorted(path.parent.glob("*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in kept[KEEP:]:
            old.unlink()
    except (OSError, pickle.PicklingError):
        with contextlib.suppress(OSError):
            os.unlink(tmp)
