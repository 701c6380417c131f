"""``claimscrub rules lint``: every problem in rule files, as file:line:col with a fix hint.

Beyond loading (YAML, schema, expression syntax and types, duplicate ids and
keys) lint checks what would break the Rete engine (conditions that expand
into too many alternatives, rules with more native tests, `is missing` tests
or fact properties than a ruleset can hold) and rules whose tests are missing.
"""

from __future__ import annotations

from pathlib import Path

from claimscrub.backends.durable import condition_load
from claimscrub.compile.plan import Planner, or_branches
from claimscrub.compile.rules import Issue, load_rulebook
from claimscrub.authoring.ruletest import cases_file_for, load_cases
from claimscrub.api.scrubber import table_columns
from claimscrub.yamlio import YamlError

MAX_OR_BRANCHES = 32  # alternatives one rule may expand into (sibling tests per fact stay well under 64)


def lint(paths: list[Path], tables=None) -> list[Issue]:
    roots = [Path(p) for p in paths]
    bundled_only = not roots
    try:
        rulebook, issues = load_rulebook(roots, tables=table_columns(tables), replace_bundled=not bundled_only)
    except YamlError as exc:  # a pack.yaml that cannot be read stops the packs' discovery: say where
        return [Issue(exc.file, exc.line, exc.column, exc.message, code="yaml")]
    by_file: dict[str, list] = {}
    for rule in rulebook.rules:
        by_file.setdefault(rule.file, []).append(rule)
        cond = Planner(rule.scope).plan(rule.condition)
        branches = or_branches(cond)
        if branches > MAX_OR_BRANCHES:
            issues.append(Issue(rule.file, rule.line, 1, f"{rule.id}: condition expands into {branches} alternatives "
                                f"(limit {MAX_OR_BRANCHES}); move long lists into a value set (@name)",
                                code="engine-limit"))
        for problem in condition_load(rule.scope, cond).over():
            if "alternatives" not in problem:  # reported above, with its own advice
                issues.append(Issue(rule.file, rule.line, 1, f"{rule.id}: too big for one durable-rules ruleset: "
                                    f"{problem}; split the rule or move lists into value sets (@name)",
                                    code="engine-limit"))
    for rule_file, file_rules in by_file.items():
        test_file = cases_file_for(Path(rule_file))
        cases, case_issues = load_cases(test_file) if test_file.is_file() else ([], [])
        issues.extend(case_issues)
        issues.extend(Issue(c.file, c.line, 1, c.problem, code="test") for c in cases if c.problem)
        for rule in file_rules:
            kinds = {c.kind for c in cases if c.rule_id == rule.id}
            if kinds != {"ruleid", "ok"}:
                issues.append(Issue(rule.file, rule.line, 1, f"{rule.id}: needs at least one 'ruleid' and one 'ok' "
                                    f"case in {test_file.name}", severity="warning", code="no-tests"))
    return sorted(set(issues), key=lambda i: (i.file, i.line, i.column, i.message))


# What each lint code checks: the SARIF rule descriptions (codes added without one get a generic text).
LINT_CODES: dict[str, tuple[str, str]] = {
    "yaml": ("YAML cannot be read", "The file is not UTF-8 text, holds a control character, or is not valid YAML."),
    "schema": ("Does not match its schema", "A rule, rule-test or value-set file misses a field or has a wrong one "
               "(schemas/rule.schema.json, schemas/rule-test.schema.json)."),
    "syntax": ("Expression syntax", "A condition or message placeholder cannot be parsed in the rule language."),
    "type": ("Expression types", "A path, function or comparison in a condition does not type-check against the "
             "claim model, the tables or the value sets."),
    "duplicate-id": ("Duplicate rule id", "Two rules share an id; every rule id must be unique across the packs."),
    "duplicate-key": ("Duplicate YAML key", "A mapping repeats a key; YAML would silently keep only one of them."),
    "engine-limit": ("Too big for the Rete engine", "A condition expands into too many alternatives or needs more "
                     "tests or fact properties than one durable-rules ruleset can hold."),
    "modeline": ("No schema modeline", "A rule file does not start with the yaml-language-server schema modeline "
                 "that lets editors complete and check it."),
    "no-tests": ("Rule without test cases", "A rule needs at least one 'ruleid' and one 'ok' case in its "
                 ".test.yaml file."),
    "test": ("Broken test case", "A test case names a rule that is not in its rule file, or its rule file is missing."),
}


def to_sarif(issues: list[Issue], root: Path | None = None) -> dict:
    """SARIF 2.1.0 for editors and code-scanning tools: paths relative to the checkout (``SRCROOT``)."""
    from claimscrub.sourcepaths import SRCROOT, artifact_location, home_page, source_root, tool_version

    root = root or source_root()
    codes = sorted({i.code for i in issues})
    index = {code: n for n, code in enumerate(codes)}
    level = {code: "error" if any(i.code == code and i.severity == "error" for i in issues) else "warning"
             for code in codes}
    rules = []
    for code in codes:
        short, full = LINT_CODES.get(code, (f"claimscrub lint check '{code}'", f"claimscrub lint check '{code}'."))
        rules.append({"id": code, "name": code, "shortDescription": {"text": short}, "fullDescription": {"text": full},
                      "defaultConfiguration": {"level": level[code]}})
    driver: dict = {"name": "claimscrub", "fullName": "claimscrub rules lint", "version": tool_version(),
                    "semanticVersion": tool_version(), "rules": rules}
    if page := home_page():
        driver["informationUri"] = page
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": driver},
            "originalUriBaseIds": {SRCROOT: {"uri": root.as_uri() + "/"}},
            "columnKind": "unicodeCodePoints",
            "results": [{
                "ruleId": i.code,
                "ruleIndex": index[i.code],
                "level": "error" if i.severity == "error" else "warning",
                "message": {"text": i.message},
                "locations": [{"physicalLocation": {"artifactLocation": artifact_location(i.file, root),
                                                    "region": {"startLine": i.line, "startColumn": i.column}}}],
            } for i in issues],
        }],
    }
