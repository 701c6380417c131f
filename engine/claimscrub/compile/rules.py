"""Rule packs: loading YAML rule files into typed, checked :class:`Rule` objects.

A rules directory holds packs (a folder with ``pack.yaml`` and rule files,
each rule file with its ``.test.yaml`` beside it) and value sets
(``valuesets/*.yaml``). Every problem found while loading is an
:class:`Issue` with file, line and column, which is what lint prints; the
scrubber refuses to run rules that have errors.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from claimscrub import yamlio
from claimscrub.lang import ast as A
from claimscrub.lang.check import check
from claimscrub.lang.types import scope_vars
from claimscrub.resources import rules_dir, schema_path

if TYPE_CHECKING:  # imported when rule or policy files are read (a warm start takes them from the cache)
    import jsonschema

CATEGORIES = (
    "unbundling",
    "mue",
    "add_on",
    "modifier",
    "code_validity",
    "diagnosis",
    "age_sex",
    "duplicate",
    "global_surgery",
    "upcoding",
    "documentation",
    "medical_necessity",
    "claim_integrity",
)
SEVERITIES = ("error", "warning", "info")
SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}
TEST_SUFFIX = ".test.yaml"


@dataclass(frozen=True)
class Issue:
    file: str
    line: int
    column: int
    message: str
    severity: str = "error"  # error | warning
    code: str = "rule"  # yaml | schema | syntax | type | duplicate-id | engine-limit | ...

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.severity}: {self.message} [{self.code}]"


@dataclass(frozen=True)
class Reference:
    source: str
    edition: str | None = None
    url: str | None = None
    note: str | None = None
    when: str | None = None  # cited only on the findings where this holds (a rule covering several services)
    condition: A.Node | None = field(default=None, repr=False, compare=False)

    def __str__(self) -> str:
        return self.source + (f" ({self.edition})" if self.edition else "")


@dataclass(frozen=True)
class Pack:
    name: str
    version: str
    title: str
    path: str


@dataclass(eq=False)
class Rule:
    id: str
    title: str
    description: str
    category: str
    severity: str
    scope: str
    when: str
    unless: str | None
    message: str
    fix: str
    references: tuple[Reference, ...]
    status: str
    tags: tuple[str, ...]
    effective_from: str | None
    effective_to: str | None
    tables: tuple[str, ...]
    cite_table: str | None
    pack: Pack
    file: str
    line: int
    condition: A.Node = field(repr=False)
    message_parts: list = field(repr=False)
    fix_parts: list = field(repr=False)
    suppressed_by: tuple[str, ...] = ()  # rules describing the same problem: theirs is the one finding

    def applies_on(self, dos: str) -> bool:
        return (self.effective_from is None or dos >= self.effective_from) and (
            self.effective_to is None or dos <= self.effective_to
        )

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class ValueSetDef:
    id: str
    title: str
    codes: frozenset
    source: str
    file: str


@dataclass
class RuleBook:
    """Every loaded rule (all statuses), the value sets, and the packs."""

    rules: list[Rule]
    valuesets: dict[str, ValueSetDef]
    packs: dict[str, Pack]

    def active(self, include_draft: bool = False) -> list[Rule]:
        allowed = {"active", "draft"} if include_draft else {"active"}
        return [r for r in self.rules if r.status in allowed]

    def by_id(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    @property
    def value_codes(self) -> dict[str, frozenset]:
        return {k: v.codes for k, v in self.valuesets.items()}


@functools.cache
def _validator(name: str) -> jsonschema.Draft7Validator:
    import jsonschema  # only when rule or policy files are read: a warm start takes them from the cache
    import orjson

    return jsonschema.Draft7Validator(orjson.loads(schema_path(name).read_bytes()))


def schema_issues(doc: yamlio.YamlDoc, schema: str) -> list[Issue]:
    out = []
    for err in _validator(schema).iter_errors(doc.data):
        path = tuple(err.absolute_path)
        if err.validator == "additionalProperties":
            extra = [k for k in err.instance if k not in err.schema.get("properties", {})]
            for key in extra:
                line, col = doc.pos(path + (key,), key=True)
                allowed = ", ".join(err.schema.get("properties", {}))
                out.append(Issue(doc.file, line, col, f"unknown key '{key}' (allowed: {allowed})", code="schema"))
            continue
        line, col = doc.pos(path)
        where = ".".join(map(str, path)) or "file"
        out.append(Issue(doc.file, line, col, f"{where}: {err.message}", code="schema"))
    return out


def _discover(root: Path) -> list[tuple[Pack, list[Path]]]:
    """Packs under a directory: every folder with pack.yaml; a bare folder of rule files is one pack."""
    if root.is_file():
        return [(Pack(root.stem, "local", root.stem, str(root.parent)), [root])]
    packs = []
    pack_files = sorted(root.rglob("pack.yaml"))
    for pack_file in pack_files:
        meta = yamlio.load_file(pack_file).data or {}
        pack = Pack(
            str(meta.get("name", pack_file.parent.name)),
            str(meta.get("version", "0")),
            str(meta.get("title", "")),
            str(pack_file.parent),
        )
        files = [p for p in sorted(pack_file.parent.rglob("*.yaml")) if _is_rule_file(p, pack_file.parent)]
        packs.append((pack, files))
    if not pack_files:
        files = [p for p in sorted(root.rglob("*.yaml")) if _is_rule_file(p, root)]
        if files:
            packs.append((Pack(root.name, "local", root.name, str(root)), files))
    return packs


def _is_rule_file(p: Path, below: Path) -> bool:
    """A rule file, not a pack header, test, value set, table or policy.

    Only the folders below the pack (or the given root) count: a checkout that lives under a folder
    called ``tables`` or ``policies`` still has rules."""
    return (
        p.name != "pack.yaml"
        and not p.name.endswith(TEST_SUFFIX)
        and not {"valuesets", "tables", "policies"} & set(p.relative_to(below).parts[:-1])
    )


def load_valuesets(roots: list[Path]) -> tuple[dict[str, ValueSetDef], list[Issue]]:
    out: dict[str, ValueSetDef] = {}
    issues = []
    for root in roots:
        folder_files = sorted(root.rglob("valuesets/*.yaml")) if root.is_dir() else []
        for path in folder_files:
            try:
                doc = yamlio.load_file(path)
            except yamlio.YamlError as exc:
                issues.append(Issue(exc.file, exc.line, exc.column, exc.message, code="yaml"))
                continue
            for i, vs in enumerate((doc.data or {}).get("valuesets", [])):
                line, col = doc.pos(("valuesets", i))
                if not isinstance(vs, dict) or "id" not in vs or "codes" not in vs:
                    issues.append(Issue(str(path), line, col, "a value set needs 'id' and 'codes'", code="schema"))
                    continue
                if not vs.get("source"):
                    issues.append(
                        Issue(str(path), line, col, f"value set '{vs['id']}' needs a 'source'", code="schema")
                    )
                codes = frozenset(str(c) for c in vs["codes"])
                out[vs["id"]] = ValueSetDef(vs["id"], vs.get("title", ""), codes, vs.get("source", ""), str(path))
    return out, issues


def _tables_used(node: A.Node) -> tuple[str, ...]:
    found: list[str] = []
    for n in A.walk(node):
        if (
            isinstance(n, A.Call)
            and n.name in ("lookup", "lookup_on")
            and n.args
            and isinstance(n.args[0], A.Const)
            and isinstance(n.args[0].value, str)
            and n.args[0].value not in found
        ):
            found.append(n.args[0].value)
    return tuple(found)


def _expr(doc, path, text, issues, env, valuesets, tables, want_condition=True):
    """Parse and type-check one expression; errors land at their file position."""
    from claimscrub.lang.parser import ExprSyntaxError, parse  # lark: only when rule files are read

    try:
        node = parse(text)
    except ExprSyntaxError as exc:
        line, col = yamlio.scalar_offset(doc, path, exc.line, exc.column)
        issues.append(Issue(doc.file, line, col, f"{path[-1]}: {exc.message}", code="syntax"))
        return None
    for problem in check(node, env, valuesets, tables, want_condition=want_condition):
        line, col = yamlio.scalar_offset(doc, path, *problem.pos)
        issues.append(Issue(doc.file, line, col, f"{path[-1]}: {problem.message}", code="type"))
    return node


def _template(doc, path, text, issues, env, valuesets, tables):
    from claimscrub.lang.parser import ExprSyntaxError, parse_template

    try:
        parts = parse_template(text)
    except ExprSyntaxError as exc:
        line, col = yamlio.scalar_offset(doc, path, exc.line, exc.column)
        issues.append(Issue(doc.file, line, col, f"{path[-1]}: {exc.message}", code="syntax"))
        return [text]
    for part in parts:
        if not isinstance(part, str):
            for problem in check(part, env, valuesets, tables, want_condition=False):
                line, col = doc.pos(path)
                issues.append(
                    Issue(doc.file, line, col, f"{path[-1]}: {{{A.to_text(part)}}}: {problem.message}", code="type")
                )
    return parts


def load_rule_file(path: Path, pack: Pack, valuesets, tables, issues: list[Issue]) -> list[Rule]:
    try:
        doc = yamlio.load_file(path)
    except yamlio.YamlError as exc:
        issues.append(Issue(exc.file, exc.line, exc.column, exc.message, code="yaml"))
        return []
    for dup_path, (line, col) in doc.duplicates:
        issues.append(Issue(doc.file, line, col, f"duplicate key '{dup_path[-1]}'", code="duplicate-key"))
    text = path.read_text(encoding="utf-8")
    if not text.startswith("# yaml-language-server: $schema="):
        issues.append(
            Issue(
                doc.file,
                1,
                1,
                "rule files start with '# yaml-language-server: $schema=...rule.schema.json' "
                "so editors can complete and check them",
                severity="warning",
                code="modeline",
            )
        )
    found = schema_issues(doc, "rule.schema.json")
    issues.extend(found)
    if not isinstance(doc.data, dict) or not isinstance(doc.data.get("rules"), list):
        return []
    rules = []
    for i, raw in enumerate(doc.data["rules"]):
        base = ("rules", i)
        if not isinstance(raw, dict) or any(_within(doc, x, base) for x in found):
            continue  # schema errors already reported; its expressions cannot be trusted
        env = scope_vars(raw["scope"])
        n_before = len(issues)
        when = _expr(doc, base + ("when",), raw["when"], issues, env, valuesets, tables)
        unless = (
            _expr(doc, base + ("unless",), raw["unless"], issues, env, valuesets, tables) if raw.get("unless") else None
        )
        message = _template(doc, base + ("message",), raw["message"], issues, env, valuesets, tables)
        fix = _template(doc, base + ("fix",), raw["fix"], issues, env, valuesets, tables)
        references = tuple(
            Reference(
                r["source"],
                r.get("edition"),
                r.get("url"),
                r.get("note"),
                r.get("when"),
                _expr(doc, base + ("references", k, "when"), r["when"], issues, env, valuesets, tables)
                if r.get("when")
                else None,
            )
            for k, r in enumerate(raw["references"])
        )
        if len(issues) > n_before and any(x.severity == "error" for x in issues[n_before:]):
            continue
        condition = when if unless is None else A.And((when, A.Not(unless, unless.pos)), when.pos)
        eff = raw.get("effective") or {}
        used = _tables_used(condition)
        rules.append(
            Rule(
                id=raw["id"],
                title=raw["title"],
                description=raw.get("description", ""),
                category=raw["category"],
                severity=raw["severity"],
                scope=raw["scope"],
                when=raw["when"],
                unless=raw.get("unless"),
                message=raw["message"],
                fix=raw["fix"],
                references=references,
                status=raw["status"],
                tags=tuple(raw.get("tags", ())),
                effective_from=eff.get("from"),
                effective_to=eff.get("to"),
                tables=tuple(raw.get("tables", used)),
                cite_table=raw.get("cite_table", used[0] if used else None),
                pack=pack,
                file=str(path),
                line=doc.pos(base)[0],
                condition=condition,
                message_parts=message,
                fix_parts=fix,
                suppressed_by=tuple(raw.get("suppressed_by", ())),
            )
        )
    return rules


def _within(doc: yamlio.YamlDoc, issue: Issue, base: tuple) -> bool:
    """Does a schema issue belong to the rule at path base?"""
    start = doc.pos(base)[0]
    nxt = doc.positions.get(base[:-1] + (base[-1] + 1,), (10**9, 0))[0]
    return start <= issue.line < nxt


def load_rulebook(
    roots: list[Path] | None = None, tables: dict | None = None, replace_bundled: bool = False
) -> tuple[RuleBook, list[Issue]]:
    """Load the bundled packs plus any extra roots; a pack of the same name replaces the bundled one."""
    roots = [Path(r) for r in (roots or [])]
    all_roots = roots if replace_bundled else [rules_dir()] + roots
    # bundled value sets stay available to replacement packs (they are shared vocabulary)
    valuesets, issues = load_valuesets(all_roots if rules_dir() in all_roots else [rules_dir()] + all_roots)
    packs: dict[str, tuple[Pack, list[Path]]] = {}
    for root in all_roots:
        for pack, files in _discover(root):
            packs[pack.name] = (pack, files)  # later roots replace earlier packs of the same name
    names = frozenset(valuesets)
    rules: list[Rule] = []
    seen: dict[str, Rule] = {}
    for pack, files in packs.values():
        for path in files:
            for rule in load_rule_file(path, pack, names, tables, issues):
                if rule.id in seen:
                    first = seen[rule.id]
                    issues.append(
                        Issue(
                            rule.file,
                            rule.line,
                            1,
                            f"duplicate rule id '{rule.id}' (first defined at {first.location})",
                            code="duplicate-id",
                        )
                    )
                    continue
                seen[rule.id] = rule
                rules.append(rule)
    return RuleBook(rules, valuesets, {p.name: p for p, _ in packs.values()}), issues
