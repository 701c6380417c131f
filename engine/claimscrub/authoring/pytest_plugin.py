"""pytest collects rule tests: the ``*.test.yaml`` files that declare themselves claimscrub rule tests.

Registered as a pytest11 entry point, so ``pytest`` in the project (or in a
repository of a payer's own rules) runs every ruleid/ok case with the rest of
the suite. Being installed must not make pytest read other projects' YAML
(``deploy.test.yaml``), so a file is collected only when it starts with the
schema modeline the bundled tests carry::

    # yaml-language-server: $schema=../../../schemas/rule-test.schema.json

Node ids can be pasted back on the command line: a case is named
``<rule id> <ruleid|ok>: <case name>`` with no ``::`` inside, made unique
within its file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from claimscrub.compile.rules import TEST_SUFFIX

# The modeline, among the leading comment lines, naming the rule-test schema (any relative path or URL).
_MODELINE = re.compile(r"#\s*yaml-language-server:\s*\$schema=\S*rule-test\.schema\.json\s*$")
_HEAD_BYTES = 4096


def is_rule_test_file(path: Path) -> bool:
    """A ``*.test.yaml`` whose leading comments carry the rule-test schema modeline."""
    if not path.name.endswith(TEST_SUFFIX):
        return False
    try:
        with path.open("rb") as fd:
            head = fd.read(_HEAD_BYTES).decode("utf-8", "replace")
    except OSError:
        return False
    for line in head.splitlines():
        if not line.startswith("#"):
            return False
        if _MODELINE.match(line.strip()):
            return True
    return False


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if is_rule_test_file(file_path):
        return RuleTestFile.from_parent(parent, path=file_path)
    return None


def _unique(names: list[str]) -> list[str]:
    """Names safe as node ids: no ``::`` (pytest's separator), duplicates numbered."""
    out: list[str] = []
    seen: dict[str, int] = {}
    for name in names:
        name = name.replace("::", ":")
        count = seen.get(name, 0) + 1
        seen[name] = count
        out.append(name if count == 1 else f"{name} #{count}")
    return out


class RuleTestFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        from claimscrub.authoring.ruletest import load_cases

        cases, issues = load_cases(self.path)
        entries: list[tuple[str, Any, str | None]] = [
            (f"{issue.code} at line {issue.line}", None, str(issue)) for issue in issues
        ]
        entries += [(f"{case.rule_id} {case.kind}: {case.name}", case, None) for case in cases]
        for name, (_, case, problem) in zip(_unique([e[0] for e in entries]), entries, strict=True):
            yield RuleCaseItem.from_parent(self, name=name, case=case, problem=problem)


class RuleCaseFailure(Exception):
    pass


class RuleCaseItem(pytest.Item):
    def __init__(self, *, case: Any, problem: str | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.problem = problem

    def runtest(self) -> None:
        from claimscrub.authoring.ruletest import file_scrubber, run_case

        if self.problem:
            raise RuleCaseFailure(self.problem)
        result = run_case(file_scrubber(self.path), self.case)
        if not result.passed:
            raise RuleCaseFailure(f"{self.case.file}:{self.case.line}: {self.case.label}: {result.detail}")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str | Any:
        if isinstance(excinfo.value, RuleCaseFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, (self.case.line - 1) if self.case else 0, self.name
