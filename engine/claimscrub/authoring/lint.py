"""``claimscrub rules lint``: every problem in rule files, as file:line:col with a fix hint.

Beyond loading (YAML, schema, expression syntax and types, duplicate ids and
keys) lint checks what would break the Rete engine (conditions that expand
into too many alternatives, rules with more native tests, `is missing` tests
or fact properties than a ruleset can hold), rules whose tests are missing or
never load the tables the rule reads, a pack's own tables, payer policies
(``policies/`` folders, the bundled ``rules/policies``), and a pack that
redefines a bundled rule's id (which ``scrub`` would refuse: a policy is the way).
"""

from __future__ import annotations

from pathlib import Path

from claimscrub.api.scrubber import default_tables, table_columns
from claimscrub.authoring.ruletest import case_tables, cases_file_for, extra_root_for, load_cases, table_rows
from claimscrub.backends.durable import condition_load
from claimscrub.compile.plan import Planner, or_branches
from claimscrub.compile.rules import Issue, RuleBook, load_rulebook
from claimscrub.refdata.tables import TableError, registry_for, table_search_path
from claimscrub.yamlio import YamlError

MAX_OR_BRANCHES = 32  # alternatives one rule may expand into (sibling tests per fact stay well under 64)


def lint(paths: list[Path], tables=None) -> list[Issue]:
    all_paths = [Path(p) for p in paths]
    policy_paths = [p for p in all_paths if _is_policy_path(p)]
    roots = [p for p in all_paths if p not in policy_paths]
    for path in policy_paths:  # a pack's policies are checked against that pack's rules too
        folder = path if path.name == "policies" else path.parent
        if (folder.parent / "pack.yaml").is_file() and folder.parent not in roots:
            roots.append(folder.parent)
            tables = default_tables(rule_roots=roots) if tables is not None else None
    bundled_only = not roots
    try:
        registry_for(roots)
        rulebook, issues = load_rulebook(roots, tables=table_columns(tables), replace_bundled=not bundled_only)
    except TableError as exc:
        return [Issue(str(roots[0]), 1, 1, str(exc), code="table")]
    except YamlError as exc:  # a pack.yaml that cannot be read stops the packs' discovery: say where
        return [Issue(exc.file, exc.line, exc.column, exc.message, code="yaml")]
    issues = [_where_tables(i, roots) for i in issues]
    full = rulebook
    if not bundled_only:
        bundled, _ = load_rulebook([], tables=table_columns(tables))
        issues.extend(_redefined(rulebook, bundled))
        full, _ = load_rulebook(roots, tables=table_columns(tables))
    issues.extend(_policy_issues(roots, policy_paths, bundled_only, full, tables))
    by_file: dict[str, list] = {}
    for rule in rulebook.rules:
        by_file.setdefault(rule.file, []).append(rule)
        cond = Planner(rule.scope).plan(rule.condition)
        branches = or_branches(cond)
        if branches > MAX_OR_BRANCHES:
            issues.append(
                Issue(
                    rule.file,
                    rule.line,
                    1,
                    f"{rule.id}: condition expands into {branches} alternatives "
                    f"(limit {MAX_OR_BRANCHES}); move long lists into a value set (@name)",
                    code="engine-limit",
                )
            )
        for problem in condition_load(rule.scope, cond).over():
            if "alternatives" not in problem:  # reported above, with its own advice
                issues.append(
                    Issue(
                        rule.file,
                        rule.line,
                        1,
                        f"{rule.id}: too big for one durable-rules ruleset: "
                        f"{problem}; split the rule or move lists into value sets (@name)",
                        code="engine-limit",
                    )
                )
    for rule_file, file_rules in by_file.items():
        test_file = cases_file_for(Path(rule_file))
        cases, case_issues = load_cases(test_file) if test_file.is_file() else ([], [])
        issues.extend(case_issues)
        issues.extend(Issue(c.file, c.line, 1, c.problem, code="test") for c in cases if c.problem)
        loaded = _test_loaded(test_file) if any(r.tables for r in file_rules) else None
        for rule in file_rules:
            kinds = {c.kind for c in cases if c.rule_id == rule.id}
            if kinds != {"ruleid", "ok"}:
                issues.append(
                    Issue(
                        rule.file,
                        rule.line,
                        1,
                        f"{rule.id}: needs at least one 'ruleid' and one 'ok' case in {test_file.name}",
                        severity="warning",
                        code="no-tests",
                    )
                )
            unloaded = [t for t in rule.tables if loaded is not None and not loaded(t)]
            if unloaded and kinds:
                issues.append(
                    Issue(
                        rule.file,
                        rule.line,
                        1,
                        f"{rule.id}: its tests never load {', '.join(unloaded)}, "
                        "so its cases cannot fire (and 'ok' cases cannot fail): supply rows under "
                        f"'tables:' in {test_file.name} (inline, or a CSV beside it)",
                        severity="warning",
                        code="test-tables",
                    )
                )
    return sorted(set(issues), key=lambda i: (i.file, i.line, i.column, i.message))


def _test_loaded(test_file: Path):
    """Which tables a test file's cases read (its own rows, the packs' rows, the samples)."""
    roots = extra_root_for(test_file)
    rows = table_rows(test_file, registry_for(roots))[0] if test_file.is_file() else {}
    return case_tables(roots, rows).loaded


def _is_policy_path(path: Path) -> bool:
    """A policies/ folder, or a file in one (linted as policies, not as a rule pack)."""
    return path.name == "policies" or (path.is_file() and path.parent.name == "policies")


def _where_tables(issue: Issue, roots: list[Path]) -> Issue:
    """An unknown table names where tables are looked for."""
    if "unknown table '" not in issue.message:
        return issue
    where = ", ".join(table_search_path(roots))
    return Issue(
        issue.file,
        issue.line,
        issue.column,
        f"{issue.message} (table definitions are looked for in: {where}; a pack's own go in <pack>/tables/)",
        issue.severity,
        issue.code,
    )


def _redefined(pack_book: RuleBook, bundled: RuleBook) -> list[Issue]:
    """A rule with a bundled rule's id in another pack: refused, naming the policy way."""
    out = []
    for rule in pack_book.rules:
        other = bundled.by_id(rule.id)
        if other is not None and other.pack.name != rule.pack.name:
            out.append(
                Issue(
                    rule.file,
                    rule.line,
                    1,
                    f"{rule.id} is a bundled rule ({other.location}, pack "
                    f"'{other.pack.name}'); another pack cannot redefine it. Give this rule its own id and "
                    f"write a policy that replaces the bundled one for your payers ('rules: [{{rule: "
                    f"{rule.id}, replaced_by: <your id>, reason: ...}}]' in a policies/ file), or switches it "
                    "off ('enabled: false')",
                    code="duplicate-id",
                )
            )
    return out


def _policy_issues(
    roots: list[Path], policy_paths: list[Path], bundled_only: bool, book: RuleBook, tables
) -> list[Issue]:
    from claimscrub.policy import bundled_policies_dir, load_policies, pack_policy_dirs

    paths = ([bundled_policies_dir()] if bundled_only and not policy_paths else []) + policy_paths
    paths += [d for d in pack_policy_dirs(roots) if d not in paths and not any(d in p.parents for p in paths)]
    if not paths:
        return []
    return load_policies(paths, book, table_columns(tables))[1]


# What each lint code checks: the SARIF rule descriptions (codes added without one get a generic text).
LINT_CODES: dict[str, tuple[str, str]] = {
    "yaml": ("YAML cannot be read", "The file is not UTF-8 text, holds a control character, or is not valid YAML."),
    "schema": (
        "Does not match its schema",
        "A rule, rule-test or value-set file misses a field or has a wrong one "
        "(schemas/rule.schema.json, schemas/rule-test.schema.json).",
    ),
    "syntax": ("Expression syntax", "A condition or message placeholder cannot be parsed in the rule language."),
    "type": (
        "Expression types",
        "A path, function or comparison in a condition does not type-check against the "
        "claim model, the tables or the value sets.",
    ),
    "duplicate-id": ("Duplicate rule id", "Two rules share an id; every rule id must be unique across the packs."),
    "duplicate-key": ("Duplicate YAML key", "A mapping repeats a key; YAML would silently keep only one of them."),
    "engine-limit": (
        "Too big for the Rete engine",
        "A condition expands into too many alternatives or needs more "
        "tests or fact properties than one durable-rules ruleset can hold.",
    ),
    "modeline": (
        "No schema modeline",
        "A rule file does not start with the yaml-language-server schema modeline "
        "that lets editors complete and check it.",
    ),
    "no-tests": (
        "Rule without test cases",
        "A rule needs at least one 'ruleid' and one 'ok' case in its .test.yaml file.",
    ),
    "test": ("Broken test case", "A test case names a rule that is not in its rule file, or its rule file is missing."),
}


def to_sarif(issues: list[Issue], root: Path | None = None) -> dict:
    """SARIF 2.1.0 for editors and code-scanning tools: paths relative to the checkout (``SRCROOT``)."""
    from claimscrub.sourcepaths import SRCROOT, artifact_location, home_page, source_root, tool_version

    root = root or source_root()
    codes = sorted({i.code for i in issues})
    index = {code: n for n, code in enumerate(codes)}
    level = {
        code: "error" if any(i.code == code and i.severity == "error" for i in issues) else "warning" for code in codes
    }
    rules = []
    for code in codes:
        short, full = LINT_CODES.get(code, (f"claimscrub lint check '{code}'", f"claimscrub lint check '{code}'."))
        rules.append(
            {
                "id": code,
                "name": code,
                "shortDescription": {"text": short},
                "fullDescription": {"text": full},
                "defaultConfiguration": {"level": level[code]},
            }
        )
    driver: dict = {
        "name": "claimscrub",
        "fullName": "claimscrub rules lint",
        "version": tool_version(),
        "semanticVersion": tool_version(),
        "rules": rules,
    }
    if page := home_page():
        driver["informationUri"] = page
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": driver},
                "originalUriBaseIds": {SRCROOT: {"uri": root.as_uri() + "/"}},
                "columnKind": "unicodeCodePoints",
                "results": [
                    {
                        "ruleId": i.code,
                        "ruleIndex": index[i.code],
                        "level": "error" if i.severity == "error" else "warning",
                        "message": {"text": i.message},
                        "locations": [
                            {
                                "physicalLocation": {
                                    "artifactLocation": artifact_location(i.file, root),
                                    "region": {"startLine": i.line, "startColumn": i.column},
                                }
                            }
                        ],
                    }
                    for i in issues
                ],
            }
        ],
    }
