"""``claimscrub rules lint``: every problem in rule files, as file:line:col with a fix hint.

Beyond loading (YAML, schema, expression syntax and types, duplicate ids and
keys) lint checks what would break the Rete engine: conditions that expand
into too many alternatives, and rules whose tests are missing.
"""

from __future__ import annotations

from pathlib import Path

from .plan import Planner, or_branches
from .rules import Issue, load_rulebook
from .ruletest import load_cases, rule_file_for
from .scrubber import table_columns

MAX_OR_BRANCHES = 32  # alternatives one rule may expand into (sibling tests per fact stay well under 64)


def lint(paths: list[Path], tables=None) -> list[Issue]:
    roots = [Path(p) for p in paths]
    bundled_only = not roots
    rulebook, issues = load_rulebook(roots, tables=table_columns(tables), replace_bundled=not bundled_only)
    for rule in rulebook.rules:
        planner = Planner(rule.scope)
        branches = or_branches(planner.plan(rule.condition))
        if branches > MAX_OR_BRANCHES:
            issues.append(Issue(rule.file, rule.line, 1, f"{rule.id}: condition expands into {branches} alternatives "
                                f"(limit {MAX_OR_BRANCHES}); move long lists into a value set (@name)",
                                code="engine-limit"))
        test_file = Path(rule.file).with_name(Path(rule.file).name[:-5] + ".test.yaml")
        if not test_file.is_file():
            issues.append(Issue(rule.file, rule.line, 1, f"{rule.id}: no test file {test_file.name} beside the rule",
                                severity="warning", code="no-tests"))
    seen_tests: set[Path] = set()
    for rule in rulebook.rules:
        test_file = Path(rule.file).with_name(Path(rule.file).name[:-5] + ".test.yaml")
        if test_file in seen_tests or not test_file.is_file():
            continue
        seen_tests.add(test_file)
        cases, case_issues = load_cases(test_file)
        issues.extend(case_issues)
        tested = {c.rule_id for c in cases}
        for other in rulebook.rules:
            if other.file == str(rule_file_for(test_file)):
                kinds = {c.kind for c in cases if c.rule_id == other.id}
                if other.id not in tested or kinds != {"ruleid", "ok"}:
                    issues.append(Issue(other.file, other.line, 1, f"{other.id}: needs at least one 'ruleid' and one "
                                        f"'ok' case in {test_file.name}", severity="warning", code="no-tests"))
        for case in cases:
            if case.problem:
                issues.append(Issue(case.file, case.line, 1, case.problem, code="test"))
    return sorted(set(issues), key=lambda i: (i.file, i.line, i.column, i.message))


def to_sarif(issues: list[Issue]) -> dict:
    """SARIF 2.1.0 for editors and code-scanning tools."""
    rules = sorted({i.code for i in issues})
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "claimscrub-lint", "informationUri": "https://github.com/claimscrub/claimscrub",
                                "rules": [{"id": r} for r in rules]}},
            "results": [{
                "ruleId": i.code,
                "level": "error" if i.severity == "error" else "warning",
                "message": {"text": i.message},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": i.file},
                                                    "region": {"startLine": i.line, "startColumn": i.column}}}],
            } for i in issues],
        }],
    }
