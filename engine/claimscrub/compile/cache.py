"""A cached rulebook: the loaded, parsed and type-checked rule packs, kept between runs.

Loading the bundled packs parses YAML (with positions, for lint), validates it
against the rule schema, parses every expression with lark and type-checks it:
about 0.9 s of CPU, most of a scrub's start-up. The result depends only on the
rule files, the table columns the checker sees and claimscrub's own code, so it
is kept by :mod:`claimscrub.filecache` (in ``rulebooks/`` of ``$CLAIMSCRUB_CACHE_DIR``
or ``~/.cache/claimscrub``) under a name that is the SHA-256 of all of those: a
change to any rule file, value set, table definition or claimscrub source file
names another file, and the old one is never read.

The file is read with an unpickler that constructs only the rulebook's own
dataclasses (rules, packs, references, value sets, issues, expression nodes),
``Decimal`` and paths; any other global, a truncated or corrupt file, is a cache
miss and the packs are loaded afresh, so a planted file cannot run code.
"""

from __future__ import annotations

from pathlib import Path

from claimscrub import filecache
from claimscrub.compile import rules as R
from claimscrub.compile.rules import Issue, RuleBook, load_rulebook
from claimscrub.lang import ast as A
from claimscrub.resources import rules_dir

KIND = "rulebooks"
KEEP = filecache.KEEP
_ALLOWED = {
    ("claimscrub.compile.rules", name): getattr(R, name)
    for name in ("RuleBook", "Rule", "Pack", "Reference", "ValueSetDef", "Issue")
}
_ALLOWED.update(filecache.dataclasses_of(A))


def cache_dir() -> Path:
    return filecache.cache_root() / KIND


def _rule_files(roots: list[Path]) -> list[Path]:
    """Every file under the bundled rules and the extra roots (rules, value sets, tables, policies)."""
    return [p for root in [rules_dir(), *roots] for p in sorted(Path(root).resolve().rglob("*")) if p.is_file()]


def rulebook_key(roots: list[Path], tables: dict | None, replace_bundled: bool) -> str:
    """The SHA-256 naming one loading of the packs: claimscrub's version and sources, Python's
    version, the roots (every file's path and content) and the table columns."""
    return filecache.content_key(_rule_files(roots), [KIND, replace_bundled, tables, [str(r) for r in roots]])


def cached_rulebook(
    roots: list[Path] | None = None, tables: dict | None = None, replace_bundled: bool = False
) -> tuple[RuleBook, list[Issue]]:
    """:func:`load_rulebook`, from the cache when the same packs were loaded before (see the module)."""
    roots = [Path(r) for r in roots or ()]
    try:
        key = rulebook_key(roots, tables, replace_bundled)
    except OSError:  # a rule file that cannot be read: loading names it
        return load_rulebook(roots, tables, replace_bundled)
    found = filecache.read(KIND, key, _ALLOWED)
    if isinstance(found, tuple) and len(found) == 2 and isinstance(found[0], RuleBook) and isinstance(found[1], list):
        return found
    book, issues = load_rulebook(roots, tables, replace_bundled)
    filecache.write(KIND, key, (book, issues))
    return book, issues
