"""What was parsed from files, kept between runs under a name made of the files' content.

A scrub's start-up used to parse the same YAML every time (rule packs, value sets, table
definitions, payer policies), check it against JSON schemas and parse expressions with lark:
most of a second. The result depends only on those files, claimscrub's own code and Python's
version, so it is kept in the user's cache directory (``$CLAIMSCRUB_CACHE_DIR`` or
``~/.cache/claimscrub``), one folder per kind, in a file named by the SHA-256 of all of them: a
change to any file (or to claimscrub) names another entry, and the old one is never read.

Entries are pickles read with an unpickler that builds only the classes the caller allows (the
loaded objects' own dataclasses, expression nodes, ``Decimal``, paths); any other global, a
truncated or corrupt file, is a miss and the files are parsed afresh. So a file planted in the
cache directory cannot run code when read (pickle's documented "restricting globals" defence);
it could only stand for other rules, and whoever can write the user's cache directory can already
change the user's rule packs. Hand-written rather than a caching library because the restricted
reading is the point, and ``diskcache`` and the like unpickle without restriction.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import os
import pickle
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import claimscrub
from claimscrub.resources import schemas_dir

FORMAT = 1  # bump when what is pickled changes shape without a source change (never, so far)
# Entries kept per kind, the most recently used (a hit refreshes its time): test suites and pack authors
# load many versions, and an entry in use must not be pushed out by them.
KEEP = 32
MISS = object()

# Classes every kind may hold besides its own: decimals in expressions, the paths of the files read.
# (A path is rebuilt as this system's Path: constructing one reads nothing.)
COMMON: dict[tuple[str, str], type] = {
    ("decimal", "Decimal"): Decimal,
    ("pathlib", "Path"): Path,
    ("pathlib", "PosixPath"): Path,
    ("pathlib", "WindowsPath"): Path,
}


def cache_root() -> Path:
    return Path(os.environ.get("CLAIMSCRUB_CACHE_DIR") or Path.home() / ".cache" / "claimscrub")


@functools.cache
def source_digest() -> bytes:
    """claimscrub's own code (every .py and .lark file, the JSON schemas), its version and Python's: what decides how files
    are read. Computed once per process; any change to it is a new key for every kind."""
    package = Path(claimscrub.__file__).parent
    h = hashlib.sha256(json.dumps([FORMAT, claimscrub.__version__, sys.version]).encode())
    code = sorted(p for p in package.rglob("*") if p.suffix in (".py", ".lark") and p.is_file())
    for path in [*code, *sorted(schemas_dir().glob("*.json"))]:
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.digest()


def content_key(files: Iterable[Path], extra: Any = None) -> str:
    """The SHA-256 naming one parsing of ``files``: their paths and contents, claimscrub's code and
    ``extra`` (JSON: the options that change what is parsed). Raises OSError for a file that cannot be read."""
    h = hashlib.sha256(source_digest())
    h.update(json.dumps(extra, sort_keys=True, default=str).encode())
    for path in files:
        h.update(b"\1" + str(Path(path).resolve()).encode() + b"\0" + Path(path).read_bytes())
    return h.hexdigest()


class _Restricted(pickle.Unpickler):
    def __init__(self, data: bytes, allowed: Mapping[tuple[str, str], type | Callable]):
        super().__init__(io.BytesIO(data))
        self.allowed = allowed

    def find_class(self, module: str, name: str):
        found = self.allowed.get((module, name)) or COMMON.get((module, name))
        if found is None:
            raise pickle.UnpicklingError(f"{module}.{name} may not be read from the cache")
        return found


def read(kind: str, key: str, allowed: Mapping[tuple[str, str], type | Callable]) -> Any:
    """The entry, or :data:`MISS` (none yet, unreadable, or holding anything not ``allowed``)."""
    path = cache_root() / kind / f"{key}.pickle"
    try:
        with open(path, "rb") as f:
            value = _Restricted(f.read(), allowed).load()
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: kept when older entries are removed
        return value
    except (
        OSError,
        pickle.UnpicklingError,
        EOFError,
        AttributeError,
        TypeError,
        ValueError,
        LookupError,
        RecursionError,
    ):
        return MISS


def write(kind: str, key: str, value: object) -> None:
    """Write atomically (another process may be reading the same key) and keep the most recently used entries.
    A cache that cannot be written is no error: the next run parses again."""
    folder = cache_root() / kind
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(tmp, folder / f"{key}.pickle")
        kept = sorted(folder.glob("*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in kept[KEEP:]:
            old.unlink()
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def cached(
    kind: str,
    files: Iterable[Path],
    extra: Any,
    allowed: Mapping[tuple[str, str], type | Callable],
    load: Callable[[], Any],
    valid: Callable[[Any], bool] = lambda value: True,
) -> Any:
    """``load()``, or what an earlier ``load()`` of the same files returned (see the module).

    ``valid`` checks the shape of what was read (a cache file of another kind is a miss)."""
    try:
        key = content_key(files, extra)
    except OSError:  # a file that cannot be read: loading names it
        return load()
    value = read(kind, key, allowed)
    if value is not MISS and valid(value):
        return value
    value = load()
    write(kind, key, value)
    return value


def dataclasses_of(module: Any) -> dict[tuple[str, str], type]:
    """Every dataclass defined in ``module``, as an allow-list."""
    from dataclasses import is_dataclass

    return {
        (module.__name__, name): cls
        for name, cls in vars(module).items()
        if isinstance(cls, type) and is_dataclass(cls) and cls.__module__ == module.__name__
    }
