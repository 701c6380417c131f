"""pytest collects rule tests: every ``*.test.yaml`` beside a rule file is a test file.

Registered as a pytest11 entry point, so ``pytest`` in the project (or in a
repository of a payer's own rules) runs every ruleid/ok case with the rest of
the suite.
"""

from __future__ import annotations

import pytest

from claimscrub.compile.rules import TEST_SUFFIX


def pytest_collect_file(parent, file_path):
    if file_path.name.endswith(TEST_SUFFIX):
        return RuleTestFile.from_parent(parent, path=file_path)
    return None


class RuleTestFile(pytest.File):
    def collect(self):
        from claimscrub.authoring.ruletest import load_cases

        cases, issues = load_cases(self.path)
        for issue in issues:
            yield RuleCaseItem.from_parent(self, name=f"{issue.code}:{issue.line}", case=None, problem=str(issue))
        for case in cases:
            yield RuleCaseItem.from_parent(self, name=case.label, case=case, problem=None)


class RuleCaseFailure(Exception):
    pass


class RuleCaseItem(pytest.Item):
    def __init__(self, *, case, problem, **kwargs):
        super().__init__(**kwargs)
        self.case = case
        self.problem = problem

    def runtest(self):
        from claimscrub.authoring.ruletest import file_scrubber, run_case

        if self.problem:
            raise RuleCaseFailure(self.problem)
        result = run_case(file_scrubber(self.path), self.case)
        if not result.passed:
            raise RuleCaseFailure(f"{self.case.file}:{self.case.line}: {self.case.label}: {result.detail}")

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, RuleCaseFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, (self.case.line - 1) if self.case else 0, self.name
