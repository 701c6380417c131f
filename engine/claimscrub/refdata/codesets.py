"""ICD-10-CM code-set functions the rule language exposes (pure, cached).

The tabular list comes from the ``simple-icd-10-cm`` package. Its notes are not
inherited, so excludes1 and code-first notes are collected from a code and all
its ancestors; for Excludes1 that includes the blocks and chapter above a
category (the J00-J06 block excludes J44.0; I60-I69 excludes S06.-). Codes are
accepted with or without the dot, in any case.
"""

from __future__ import annotations

import functools
import marshal
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

_REF_GROUP = re.compile(r"\(([^()]*)\)")
_CODE = re.compile(r"^[A-Z][0-9][0-9A-Z](?:\.?[0-9A-Z]{0,4})?$")
_MANIFESTATION_TITLE = re.compile(
    r"classified elsewhere|due to underlying condition|in diseases|due to (?:other )?(?:disease|conditions?) classified",
    re.IGNORECASE,
)


_FORMAT = 3  # bump when _build() changes shape: old cache files are then ignored


def _cache_file() -> Path:
    base = os.environ.get("CLAIMSCRUB_CACHE_DIR") or Path.home() / ".cache" / "claimscrub"
    return Path(base) / f"icd10cm-{metadata.version('simple-icd-10-cm')}-v{_FORMAT}.marshal"


def _build() -> dict[str, Any]:
    """What the rules need from the tabular list, in plain dicts (the package's own
    tree takes 1.5-3 s to build at import; these load from a cache in ~0.1 s)."""
    import simple_icd_10_cm as cm

    items: dict[str, tuple[str, bool, str]] = {}
    excludes1: dict[str, list[str]] = {}
    code_first: dict[str, str] = {}
    above: dict[str, list[str]] = {}  # category -> the blocks and chapter above it that carry Excludes1 notes
    for c in cm.get_all_codes(False):
        if cm.is_chapter_or_block(c):
            if notes := cm.get_excludes1(c):
                excludes1["@" + c] = list(notes)  # "@": a block or chapter, never a code
            continue
        parent = cm.get_parent(c)
        items[c] = (
            "" if not parent or cm.is_chapter_or_block(parent) else parent.replace(".", ""),
            cm.is_leaf(c),
            cm.get_description(c),
        )
        if notes := cm.get_excludes1(c):
            excludes1[c] = list(notes)
        if note := cm.get_code_first(c):
            code_first[c] = note
        if parent and cm.is_chapter_or_block(parent):
            above[c] = ["@" + a for a in cm.get_ancestors(c) if cm.is_chapter_or_block(a) and cm.get_excludes1(a)]
    return {"items": items, "excludes1": excludes1, "code_first": code_first, "above": above}


@functools.cache
def _tab() -> dict[str, Any]:
    """The tabular list, loaded once per process: from the cache file when it exists
    for this package version, else built and (best effort) cached."""
    path = _cache_file()
    try:
        return marshal.loads(path.read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        pass
    data = _build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(marshal.dumps(data))
        os.replace(tmp, path)
    except OSError:
        pass  # read-only home: rebuilt next time, still correct
    return data


@functools.lru_cache(maxsize=65_536)
def _norm(code: str) -> str:
    """Upper case, no blanks, no dot: the form CMS tables and claims carry."""
    return code.strip().upper().replace(".", "")


def normalise(code: str) -> str:
    """A code as CMS tables carry it: upper case, no dot."""
    return _norm(code)


@functools.lru_cache(maxsize=65_536)
def _item(code: str) -> str | None:
    """The package's own spelling of a code (category/subcategory), or None."""
    c = _norm(code)
    return c if c and c in _tab()["items"] else None


def icd_exists(code: str) -> bool:
    """A category, subcategory or code of ICD-10-CM (chapters and blocks are not codes)."""
    return _item(code) is not None


@functools.lru_cache(maxsize=65_536)
def icd_billable(code: str) -> bool:
    """Reportable on a claim: a leaf of the tabular list (no further subdivision)."""
    c = _item(code)
    return c is not None and _tab()["items"][c][1]


@functools.lru_cache(maxsize=65_536)
def _lineage(code: str) -> tuple[str, ...]:
    """The code and its ancestors below block level, nearest first."""
    c = _item(code)
    if c is None:
        return ()
    items, out = _tab()["items"], [c]
    while items[out[-1]][0]:
        out.append(items[out[-1]][0])
    return tuple(out)


@dataclass(frozen=True, slots=True)
class CodeRef:
    """A code or a range named in a note: ``E10.-`` (prefix E10), ``O10-O11``."""

    low: str
    high: str

    def covers(self, code: str) -> bool:
        return self.low <= code[: len(self.low)] and code[: len(self.high)] <= self.high


def parse_refs(note: str) -> tuple[CodeRef, ...]:
    """The codes and ranges a note refers to, from its parenthesised groups."""
    refs: list[CodeRef] = []
    for group in _REF_GROUP.findall(note):
        for item in group.split(","):
            item = re.sub(r"\.?-$", "", item.strip().upper())
            lo, _, hi = item.partition("-")
            lo, hi = re.sub(r"\.?-?$", "", lo), re.sub(r"\.?-?$", "", hi or lo)
            if _CODE.match(lo) and _CODE.match(hi):
                refs.append(CodeRef(lo.replace(".", ""), hi.replace(".", "")))
    return tuple(refs)


@functools.lru_cache(maxsize=65_536)
def icd_excludes1(code: str) -> tuple[CodeRef, ...]:
    """Everything an Excludes1 note on the code or an ancestor names, the blocks and chapter included."""
    lineage = _lineage(code)
    if not lineage:
        return ()
    tab = _tab()
    holders = lineage + tuple(tab["above"].get(lineage[-1], ()))
    return tuple(ref for c in holders for note in tab["excludes1"].get(c, ()) for ref in parse_refs(note))


def icd_excludes1_conflicts(codes: Iterable[str]) -> list[tuple[str, str]]:
    """Pairs (a, b) from ``codes`` where an Excludes1 note of a (or an ancestor) names b:
    the two may not be coded together. Each pair once, in claim order, codes undotted."""
    seen: list[str] = []
    for code in codes:
        c = _norm(code)
        if c and c not in seen:
            seen.append(c)
    out: list[tuple[str, str]] = []
    reported: set[frozenset[str]] = set()
    for a in seen:
        refs = icd_excludes1(a)
        if not refs:
            continue
        for b in seen:
            if b == a or frozenset((a, b)) in reported:
                continue
            if any(ref.covers(b) for ref in refs):
                out.append((a, b))
                reported.add(frozenset((a, b)))
    return out


@functools.lru_cache(maxsize=65_536)
def icd_is_manifestation(code: str) -> bool:
    """A manifestation code, not to be listed first: a code-first note on the code or
    an ancestor, and a title "in diseases classified elsewhere" / "due to underlying
    condition". From the tabular list alone this matches 394 of the 422 codes the MCE
    flags (FY2026) plus 11 others; the MCE/I/OCE manifestation flags
    (tables mce_dx_flags, ioce_dx) are authoritative when loaded."""
    lineage = _lineage(code)
    if not lineage:
        return False
    tab = _tab()
    has_code_first = any(c in tab["code_first"] for c in lineage)
    return has_code_first and any(_MANIFESTATION_TITLE.search(tab["items"][c][2]) for c in lineage)


def icd_description(code: str) -> str | None:
    """ICD-10-CM titles are public (CDC/NCHS): safe to show in findings."""
    c = _item(code)
    return _tab()["items"][c][2] if c else None


_SIDE_WORDS = re.compile(r"\b(right|left|bilateral)\b")


@functools.cache
def _children() -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for code, (parent, _, _) in _tab()["items"].items():
        if parent:
            out.setdefault(parent, []).append(code)
    return {parent: tuple(codes) for parent, codes in out.items()}


def _sides(code: str) -> set[str]:
    return set(_SIDE_WORDS.findall(_tab()["items"][code][2].lower()))


@functools.lru_cache(maxsize=65_536)
def icd_side(code: str) -> str | None:
    """The side an ICD-10-CM code states (Official Guidelines I.B.13, laterality): "right", "left",
    "bilateral" (both sides, or a title naming both), "unspecified" for an "unspecified" code whose
    siblings name a right or left side (M25.569 beside M25.561/M25.562), else None (no laterality).
    Read from the titles of the tabular list, so every code of the edition is covered."""
    c = _item(code)
    if c is None:
        return None
    sides = _sides(c)
    if "bilateral" in sides or {"right", "left"} <= sides:
        return "bilateral"
    if sides:
        return sides.pop()
    parent = _tab()["items"][c][0]
    if "unspecified" in _tab()["items"][c][2].lower() and any(
        _sides(s) & {"right", "left"} for s in _children().get(parent, ()) if s != c
    ):
        return "unspecified"
    return None
