"""Loading policy files: YAML checked against ``schemas/policy.schema.json`` and the rule book.

Problems are :class:`~claimscrub.compile.rules.Issue` s at file:line:col, like rule lint: an
unknown rule or pack id (with did-you-mean), an ``unless`` that does not parse
or type-check for the rule's scope, a table choice naming an unknown table or
one without the columns the rules read.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

from claimscrub import filecache, yamlio
from claimscrub.compile.rules import Issue, RuleBook, _expr, schema_issues
from claimscrub.lang import ast as A
from claimscrub.lang.types import scope_vars
from claimscrub.policy import model
from claimscrub.policy.model import CarveOut, PayerEdit, Policy, RuleChange, Selector, TableChoice
from claimscrub.resources import rules_dir

MODELINE = "# yaml-language-server: $schema="


def bundled_policies_dir() -> Path:
    return rules_dir() / "policies"


def policy_files(roots: list[Path]) -> list[Path]:
    """Policy files: a file itself, or every ``*.yaml`` of a directory (recursively)."""
    out: list[Path] = []
    for root in roots:
        out.extend(sorted(root.rglob("*.yaml")) if root.is_dir() else [root])
    return out


def pack_policy_dirs(roots: list[Path]) -> list[Path]:
    """``policies/`` folders inside extra rule roots (a pack may ship the policy that turns it on)."""
    found: list[Path] = []
    for root in roots:
        if root.is_dir():
            found.extend(sorted(p for p in root.rglob("policies") if p.is_dir()))
    return found


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def load_policies(
    paths: list[Path], book: RuleBook, tables: dict[str, dict[str, str]] | None, lenient: tuple[Path, ...] = ()
) -> tuple[list[Policy], list[Issue]]:
    """Every policy in ``paths`` (files or folders), checked; policies with errors are left out.

    Policies under a ``lenient`` folder (the bundled ones) skip entries for rules and packs that are not
    loaded (a scrub with only some packs); elsewhere an unknown id is an error, with did-you-mean.

    What was read is kept by :mod:`claimscrub.filecache`, keyed by the files' content and what the checks
    read of the rule book and the tables: a start-up with unchanged policies parses no YAML and loads no lark."""
    files = policy_files(paths)
    return filecache.cached(
        "policies",
        files,
        [_book_outline(book), tables, sorted(str(p) for p in lenient)],
        _CACHEABLE,
        lambda: _load_policies(files, book, tables, lenient),
        lambda value: isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], list),
    )


_CACHEABLE: dict[tuple[str, str], Any] = {
    **filecache.dataclasses_of(model),
    **filecache.dataclasses_of(A),
    ("claimscrub.compile.rules", "Issue"): Issue,
    ("re", "_compile"): re.compile,  # a payer-name pattern: compiled again from its text
}


def _book_outline(book: RuleBook) -> list:
    """What checking a policy reads of the rule book: each rule's id, pack and scope, the packs, the value sets."""
    return [[(r.id, r.pack.name, r.scope) for r in book.rules], sorted(book.packs), sorted(book.valuesets)]


def _load_policies(
    files: list[Path], book: RuleBook, tables: dict[str, dict[str, str]] | None, lenient: tuple[Path, ...]
) -> tuple[list[Policy], list[Issue]]:
    policies: list[Policy] = []
    issues: list[Issue] = []
    seen: dict[str, str] = {}
    for path in files:
        found: list[Issue] = []
        skip_unknown = any(path == root or root in path.parents for root in lenient)
        policy = load_policy_file(path, book, tables, found, skip_unknown)
        issues.extend(found)
        if policy is None or any(i.severity == "error" for i in found):
            continue
        if policy.id in seen:
            issues.append(
                Issue(
                    str(path),
                    1,
                    1,
                    f"duplicate policy id '{policy.id}' (first in {seen[policy.id]})",
                    code="duplicate-id",
                )
            )
            continue
        seen[policy.id] = str(path)
        policies.append(policy)
    return sorted(policies, key=lambda p: (p.priority, p.id)), issues


def load_policy_file(
    path: Path,
    book: RuleBook,
    tables: dict[str, dict[str, str]] | None,
    issues: list[Issue],
    skip_unknown: bool = False,
) -> Policy | None:
    try:
        doc = yamlio.load_file(path)
    except yamlio.YamlError as exc:
        issues.append(Issue(exc.file, exc.line, exc.column, exc.message, code="yaml"))
        return None
    for dup_path, (line, col) in doc.duplicates:
        issues.append(Issue(doc.file, line, col, f"duplicate key '{dup_path[-1]}'", code="duplicate-key"))
    if not path.read_text(encoding="utf-8").startswith(MODELINE):
        issues.append(
            Issue(
                doc.file,
                1,
                1,
                "policy files start with '# yaml-language-server: $schema=...policy.schema"
                ".json' so editors can complete and check them",
                severity="warning",
                code="modeline",
            )
        )
    schema = schema_issues(doc, "policy.schema.json")
    if schema:
        issues.extend(schema)
        return None
    raw: dict[str, Any] = doc.data
    sel = raw["applies_to"]
    names = []
    for i, pattern in enumerate(sel.get("payer_names", ())):
        try:
            names.append(re.compile(pattern, re.IGNORECASE))
        except re.error as exc:
            line, col = doc.pos(("applies_to", "payer_names", i))
            issues.append(Issue(doc.file, line, col, f"payer_names: not a regular expression: {exc}", code="schema"))
    selector = Selector(
        frozenset(sel.get("payer_types", ())),
        frozenset(sel.get("payer_ids", ())),
        tuple(names),
        sel.get("from"),
        sel.get("to"),
    )
    if selector.date_from and selector.date_to and selector.date_from > selector.date_to:
        line, col = doc.pos(("applies_to", "to"))
        issues.append(Issue(doc.file, line, col, "applies_to: 'to' is before 'from'", code="schema"))
    changes = [
        c
        for i, entry in enumerate(raw.get("rules", ()))
        if (c := _change(doc, ("rules", i), _known_only(entry, book) if skip_unknown else entry, book, tables, issues))
        is not None
    ]
    choices = [
        _table_choice(doc, ("tables", i), entry, book, tables, issues) for i, entry in enumerate(raw.get("tables", ()))
    ]
    return Policy(
        raw["id"],
        raw["title"],
        str(path),
        selector,
        tuple(changes),
        tuple(c for c in choices if c),
        int(raw.get("priority", 100)),
        tuple(r["source"] for r in raw["references"]),
        raw.get("description", ""),
    )


def _known_only(raw: dict, book: RuleBook) -> dict:
    """An entry without the rules and packs this rule book does not hold (an entry left with none is empty)."""
    ids = [raw["rule"]] if "rule" in raw else list(raw.get("rules", ()))
    known = [i for i in ids if book.by_id(i) is not None]
    if "pack" in raw:
        return raw if raw["pack"] in book.packs else {**raw, "pack": None}
    if raw.get("replaced_by") and book.by_id(raw["replaced_by"]) is None:
        known = []
    out = {k: v for k, v in raw.items() if k not in ("rule", "rules")}
    out["rules"] = known
    return out


def _change(
    doc: yamlio.YamlDoc, path: tuple, raw: dict, book: RuleBook, tables, issues: list[Issue]
) -> RuleChange | None:
    line, _ = doc.pos(path)
    known = [r.id for r in book.rules]
    ids = [raw["rule"]] if "rule" in raw else list(raw.get("rules", ()))
    if not ids and raw.get("pack") is None:
        return None  # a lenient entry whose rules are not loaded
    bad = False
    for i, rule_id in enumerate(ids):
        if book.by_id(rule_id) is None:
            where = path + (("rule",) if "rule" in raw else ("rules", i))
            ln, col = doc.pos(where)
            issues.append(
                Issue(doc.file, ln, col, f"unknown rule '{rule_id}'" + _suggest(rule_id, known), code="policy")
            )
            bad = True
    pack = raw.get("pack")
    if pack is not None:
        if pack not in book.packs:
            ln, col = doc.pos(path + ("pack",))
            issues.append(
                Issue(doc.file, ln, col, f"unknown pack '{pack}'" + _suggest(pack, list(book.packs)), code="policy")
            )
            return None
        ids = [r.id for r in book.rules if r.pack.name == pack]
    replaced_by = raw.get("replaced_by")
    if replaced_by is not None:
        other = book.by_id(replaced_by)
        ln, col = doc.pos(path + ("replaced_by",))
        if other is None:
            issues.append(
                Issue(
                    doc.file,
                    ln,
                    col,
                    f"replaced_by: unknown rule '{replaced_by}'" + _suggest(replaced_by, known),
                    code="policy",
                )
            )
            bad = True
        elif any((r := book.by_id(i)) is not None and r.scope != other.scope for i in ids):
            issues.append(
                Issue(
                    doc.file,
                    ln,
                    col,
                    f"replaced_by: '{replaced_by}' has another scope than the rule it replaces",
                    code="policy",
                )
            )
            bad = True
    if bad:
        return None
    unless = None
    if raw.get("unless"):
        scopes = {r.scope for i in ids if (r := book.by_id(i)) is not None}
        if len(scopes) != 1:
            ln, col = doc.pos(path + ("unless",))
            issues.append(
                Issue(
                    doc.file,
                    ln,
                    col,
                    "unless: the rules named have different scopes "
                    f"({', '.join(sorted(scopes))}); give each scope its own entry",
                    code="policy",
                )
            )
            return None
        n_before = len(issues)
        unless = _expr(
            doc, path + ("unless",), raw["unless"], issues, scope_vars(scopes.pop()), frozenset(book.valuesets), tables
        )
        if len(issues) > n_before:
            return None
    edit = raw.get("payer_edit")
    return RuleChange(
        rule_ids=tuple(ids),
        pack=pack,
        reason=raw["reason"],
        line=line,
        enabled=raw.get("enabled"),
        severity=raw.get("severity"),
        unless=unless,
        unless_text=raw.get("unless"),
        replaced_by=replaced_by,
        carve_outs=tuple(
            _carve_out(doc, path + ("carve_outs", i), c, issues) for i, c in enumerate(raw.get("carve_outs", ()))
        ),
        payer_edit=PayerEdit(edit.get("edit_code"), edit.get("carc"), tuple(edit.get("rarc", ()))) if edit else None,
        source=raw.get("source"),
    )


def _carve_out(doc: yamlio.YamlDoc, path: tuple, raw: dict, issues: list[Issue]) -> CarveOut:
    ranges = []
    for i, (lo, hi) in enumerate(raw.get("code_ranges", ())):
        if len(lo) != len(hi) or lo > hi:
            ln, col = doc.pos(path + ("code_ranges", i))
            issues.append(
                Issue(
                    doc.file,
                    ln,
                    col,
                    f"code range [{lo}, {hi}]: both ends need the same length, first <= last",
                    code="policy",
                )
            )
        ranges.append((lo.upper(), hi.upper()))
    return CarveOut(
        raw["reason"],
        raw["until"],
        frozenset(raw.get("providers", ())),
        frozenset(c.upper() for c in raw.get("codes", ())),
        tuple(ranges),
    )


def _table_choice(
    doc: yamlio.YamlDoc, path: tuple, raw: dict, book: RuleBook, tables, issues: list[Issue]
) -> TableChoice | None:
    line, _ = doc.pos(path)
    if tables is None:
        return TableChoice(raw["table"], tuple(raw["use"]), raw["reason"], line)
    ok = True
    source = tables.get(raw["table"])
    if source is None:
        ln, col = doc.pos(path + ("table",))
        issues.append(
            Issue(
                doc.file,
                ln,
                col,
                f"unknown table '{raw['table']}'" + _suggest(raw["table"], list(tables)),
                code="policy",
            )
        )
        return None
    for i, name in enumerate(raw["use"]):
        ln, col = doc.pos(path + ("use", i))
        target = tables.get(name)
        if target is None:
            issues.append(
                Issue(doc.file, ln, col, f"unknown table '{name}'" + _suggest(name, list(tables)), code="policy")
            )
            ok = False
            continue
        missing = [c for c, t in source.items() if target.get(c) != t]
        if missing:
            issues.append(
                Issue(
                    doc.file,
                    ln,
                    col,
                    f"table '{name}' cannot stand in for '{raw['table']}': it lacks "
                    f"(or types differently) the columns {', '.join(missing)}",
                    code="policy",
                )
            )
            ok = False
    return TableChoice(raw["table"], tuple(raw["use"]), raw["reason"], line) if ok else None
