"""Rule tests beside the rules: ``X.test.yaml`` holds named cases for the rules in ``X.yaml``.

A ``ruleid:`` case must make the rule fire (on exactly the listed lines, when
``lines`` is given; ``null`` means claim level); an ``ok:`` case must not. A
case is a whole claim, or a JSON merge patch (RFC 7386) of the base claim;
``encounter:`` is a merge patch of the claim's first encounter record (of
``rules/base_encounter.json`` when the claim has none), for the encounter scopes.
For the history scope, ``history:`` lists the patient's earlier claims (recorded in an
in-memory history store first, as an earlier run) and ``batch:`` other claims of the
same run, each a merge patch of the base claim; the case's claim is then scrubbed with
them through the cross-claim phase, as ``claimscrub scrub`` does.
Cases run through the Rete backend with the bundled sample tables (and a
pack's own table rows), so a rule test exercises the same path a scrub does.
A test file may supply rows of any table under ``tables:`` (inline, or a CSV
beside it): they stand in for that table for the file's cases, so ``ruleid:``
cases of a rule reading a payer's table can fire. Payer policies are not
applied: a case tests the rule itself.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from claimscrub import yamlio
from claimscrub.api.scrubber import Scrubber, table_columns
from claimscrub.compile.rules import TEST_SUFFIX, Issue, RuleBook, load_rulebook, schema_issues
from claimscrub.history.phase import context_for, scrub_batch
from claimscrub.history.store import MemoryHistory
from claimscrub.model.normalize import ClaimRejected, claim_from_dict
from claimscrub.refdata.tables import TableError, registry_for
from claimscrub.resources import rules_dir


@dataclass(frozen=True)
class Case:
    file: str
    line: int
    name: str
    kind: str  # ruleid | ok
    rule_id: str
    claim: dict | None
    lines: tuple | None  # expected line sequences (None item = claim level); None = any
    problem: str | None = None  # the case itself is malformed
    history: tuple[dict, ...] = ()  # the patient's claims from earlier runs (a history store)
    batch: tuple[dict, ...] = ()  # other claims of the same run

    @property
    def label(self) -> str:
        return f"{self.rule_id}::{self.kind}: {self.name}"


@dataclass(frozen=True)
class CaseResult:
    case: Case
    passed: bool
    detail: str
    error: bool = False  # the case could not run (its file, the case or its rule did not load): not a rule failure
    seconds: float = 0.0


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch: objects merge, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


@functools.cache
def base_claim() -> dict:
    return orjson.loads((rules_dir() / "base_claim.json").read_bytes())


@functools.cache
def base_encounter() -> dict:
    return orjson.loads((rules_dir() / "base_encounter.json").read_bytes())


def with_encounter(claim: dict, patch: dict) -> dict:
    """The claim with its first encounter record patched (the base record when it has none)."""
    records = list(claim.get("encounters") or [base_encounter()])
    records[0] = merge_patch(records[0], patch)
    return {**claim, "encounters": records}


def rule_file_for(test_file: Path) -> Path:
    return test_file.with_name(test_file.name[: -len(TEST_SUFFIX)] + ".yaml")


def cases_file_for(rule_file: Path) -> Path:
    return rule_file.with_name(rule_file.stem + TEST_SUFFIX)


def table_rows(test_file: Path, registry) -> tuple[dict[str, list], list[Issue]]:
    """The rows a test file supplies, by table: {table: [RawRow]}; problems as issues at the file."""
    from claimscrub.refdata.tables import make_row, read_table_csv

    try:
        doc = yamlio.load_file(test_file)
    except yamlio.YamlError:
        return {}, []  # reported by load_cases
    spec = (doc.data or {}).get("tables") if isinstance(doc.data, dict) else None
    out: dict[str, list] = {}
    issues: list[Issue] = []
    for name, rows in (spec or {}).items() if isinstance(spec, dict) else ():
        line, col = doc.pos(("tables", name), key=True)
        defn = registry.get(name)
        if defn is None:
            issues.append(Issue(str(test_file), line, col, f"tables: unknown table '{name}'", code="test"))
            continue
        try:
            if isinstance(rows, str):
                csv_path = test_file.parent / rows
                if not csv_path.resolve().is_relative_to(test_file.parent.resolve()) or not csv_path.is_file():
                    raise TableError(f"no CSV file {rows} beside the test file")
                out[name] = list(read_table_csv(defn, csv_path))
            elif isinstance(rows, list):
                out[name] = [
                    make_row(defn, {k: None if v is None else str(v) for k, v in row.items()}, i)
                    for i, row in enumerate(rows)
                    if isinstance(row, dict)
                ]
        except (TableError, ValueError) as exc:
            issues.append(Issue(str(test_file), line, col, f"tables: {name}: {exc}", code="test"))
    return out, issues


def load_cases(test_file: Path) -> tuple[list[Case], list[Issue]]:
    issues: list[Issue] = []
    try:
        doc = yamlio.load_file(test_file)
    except yamlio.YamlError as exc:
        return [], [Issue(exc.file, exc.line, exc.column, exc.message, code="yaml")]
    issues.extend(schema_issues(doc, "rule-test.schema.json"))
    if issues:
        return [], issues
    issues.extend(table_rows(test_file, registry_for(extra_root_for(test_file)))[1])
    rule_path = rule_file_for(test_file)
    ids: list[str] = []
    if rule_path.is_file():
        try:
            data = yamlio.load_file(rule_path).data or {}
            ids = [str(r.get("id")) for r in data.get("rules", []) if isinstance(r, dict)]
        except yamlio.YamlError:
            pass
    else:
        issues.append(Issue(str(test_file), 1, 1, f"no rule file {rule_path.name} beside this test file", code="test"))
    base = doc.data.get("base") or base_claim()
    cases = []
    for i, raw in enumerate(doc.data["tests"]):
        line = doc.pos(("tests", i))[0]
        kind = "ruleid" if "ruleid" in raw else "ok"
        rule_id = raw.get("rule") or (ids[0] if len(ids) == 1 else None)
        problem = None
        if rule_id is None:
            problem = "the rule file has several rules: name one with 'rule:'"
        elif rule_id not in ids:
            problem = f"rule '{rule_id}' is not in {rule_path.name}"
        claim = raw["claim"] if "claim" in raw else merge_patch(base, raw.get("patch", {}))
        if "encounter" in raw:
            claim = with_encounter(claim, raw["encounter"])
        lines = tuple(raw["lines"]) if "lines" in raw else None
        history = tuple(merge_patch(base, p) for p in raw.get("history", ()))
        batch = tuple(merge_patch(base, p) for p in raw.get("batch", ()))
        cases.append(
            Case(str(test_file), line, str(raw[kind]), kind, rule_id or "?", claim, lines, problem, history, batch)
        )
    return cases, issues


def run_case(scrubber: Scrubber, case: Case, store=None) -> CaseResult:
    """Run one case; ``store``: an empty history store to record the case's ``history`` in (in memory by default)."""
    started = time.perf_counter()
    result = _run_case(scrubber, case, store)
    return dataclasses.replace(result, seconds=time.perf_counter() - started)


def _run_case(scrubber: Scrubber, case: Case, store=None) -> CaseResult:
    if case.problem:
        return CaseResult(case, False, case.problem, error=True)
    if scrubber.rulebook.by_id(case.rule_id) is None or case.claim is None:
        return CaseResult(case, False, f"rule {case.rule_id} did not load (lint it)", error=True)
    rule = scrubber.rulebook.by_id(case.rule_id)
    with_history = case.history or case.batch or (rule is not None and rule.scope == "history")
    programs = [scrubber.program, context_for(scrubber).program] if with_history else [scrubber.program]
    unchecked = next((why for p in programs for rule, why in p.not_checked if rule.id == case.rule_id), None)
    if unchecked is not None:  # an ok case would pass without the rule ever running
        return CaseResult(
            case,
            False,
            f"rule {case.rule_id} cannot run here ({unchecked}): supply rows under 'tables:' in {Path(case.file).name}",
        )
    if with_history:
        try:
            result = _with_history(scrubber, case, store)
        except ClaimRejected as exc:
            return CaseResult(case, False, f"a history claim of the case was rejected: {exc.reason}", error=True)
    else:
        result = scrubber.scrub(case.claim, source=f"{case.file}:{case.line}")
    if result.status != "scrubbed":
        return CaseResult(case, False, f"the case's claim was rejected: {result.reason}")
    fired = sorted({f.line for f in result.findings if f.rule_id == case.rule_id}, key=lambda x: (x is not None, x))
    if case.kind == "ok":
        ok = not fired
        return CaseResult(case, ok, "did not fire" if ok else f"fired on lines {fired}, expected no finding")
    if not fired:
        return CaseResult(case, False, "did not fire")
    if case.lines is not None and set(fired) != set(case.lines):
        return CaseResult(case, False, f"fired on lines {fired}, expected {list(case.lines)}")
    return CaseResult(case, True, f"fired on lines {fired}")


def _with_history(scrubber: Scrubber, case: Case, store=None):
    """The case's claim scrubbed after its ``batch`` claims, with its ``history`` claims in a store."""
    if not case.history:
        store = None
    elif store is None:
        store = MemoryHistory()
    if store is not None:
        store.record(claim_from_dict(c, f"{case.file}:{case.line}") for c in case.history)
    assert case.claim is not None  # checked by the caller
    return scrub_batch(scrubber, [*case.batch, case.claim], store)[-1]


def test_files(roots: list[Path]) -> list[Path]:
    out = []
    for root in roots:
        out.extend(sorted(root.rglob("*" + TEST_SUFFIX)) if root.is_dir() else [root])
    return out


_scrubbers: dict[tuple, Scrubber] = {}


def case_tables(extra_roots: tuple[Path, ...] = (), rows: dict[str, list] | None = None):
    """What rule cases read: a test file's own rows, then the packs' table rows, then the bundled samples."""
    from claimscrub.refdata.tables import LayeredTableSet, MemoryTableSet, csv_tables, sample_tables

    registry = registry_for(extra_roots)
    layers = []
    if rows:
        own = MemoryTableSet(registry)
        for name, table_rows in rows.items():
            own.add_rows(registry[name], table_rows, "test rows", origin="test")
        layers.append(own)
    layers.append(csv_tables(registry))
    layers.append(sample_tables(registry, complete=True))  # cases are written against the sample rows
    return LayeredTableSet(layers, registry)


def scrubber_for(
    extra_roots: tuple[Path, ...] = (),
    rulebook: RuleBook | None = None,
    test_file: Path | None = None,
    rows: dict[str, list] | None = None,
) -> Scrubber:
    """One scrubber per set of rule roots (and per test file that brings table rows): every rule (drafts
    too) over the sample tables, without payer policies."""
    key = (
        tuple(str(r) for r in extra_roots),
        id(registry_for(extra_roots)),
        (str(test_file), repr(rows)) if rows else None,
    )
    if key not in _scrubbers:
        tables = case_tables(extra_roots, rows)
        if rulebook is None:
            rulebook, issues = load_rulebook(list(extra_roots), tables=table_columns(tables))
        _scrubbers[key] = Scrubber(tables=tables, rulebook=rulebook, include_draft=True, default_policies=False)
        _scrubbers[key].settle = False  # a case tests its rule's condition, before another rule may stand for it
    return _scrubbers[key]


def file_scrubber(test_file: Path) -> Scrubber:
    """The scrubber a test file's cases run on (its own table rows, when it brings some)."""
    roots = extra_root_for(test_file)
    rows, _ = table_rows(test_file, registry_for(roots))  # problems are reported by load_cases
    return scrubber_for(roots, test_file=test_file, rows=rows)


def extra_root_for(test_file: Path) -> tuple[Path, ...]:
    """Rules outside the bundled packs are loaded alongside them."""
    bundled = rules_dir().resolve()
    path = test_file.resolve()
    if bundled in path.parents:
        return ()
    for parent in path.parents:
        if (parent / "pack.yaml").is_file():
            return (parent,)
    return (path.parent,)


def run_tests(roots: list[Path]) -> list[CaseResult]:
    results = []
    for test_file in test_files(roots):
        cases, issues = load_cases(test_file)
        for issue in issues:
            bad = Case(issue.file, issue.line, issue.message, "ok", "?", None, None, issue.message)
            results.append(CaseResult(bad, False, issue.message, error=True))
        scrubber = file_scrubber(test_file)
        results.extend(run_case(scrubber, case) for case in cases)
    return results


def to_junit(results: list[CaseResult], root: Path | None = None) -> str:
    """JUnit XML for CI tools: one testcase per case; a case that could not load is an ``<error>``, a rule
    that misbehaves a ``<failure>``; files relative to the checkout."""
    from xml.etree import ElementTree as ET

    from claimscrub.sourcepaths import relative_path, source_root

    root = root or source_root()
    errors = sum(r.error for r in results)
    failures = sum(not r.passed and not r.error for r in results)
    total = f"{sum(r.seconds for r in results):.3f}"
    counts = {
        "tests": str(len(results)),
        "failures": str(failures),
        "errors": str(errors),
        "skipped": "0",
        "time": total,
    }
    suites = ET.Element("testsuites", {"name": "claimscrub rules test", **counts})
    suite = ET.SubElement(
        suites, "testsuite", {"name": "claimscrub-rules", **counts, "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S")}
    )
    for r in results:
        file = relative_path(r.case.file, root) or r.case.file
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": r.case.rule_id,
                "name": f"{r.case.kind}: {r.case.name}",
                "file": file,
                "line": str(r.case.line),
                "time": f"{r.seconds:.3f}",
            },
        )
        if not r.passed:
            ET.SubElement(
                case,
                "error" if r.error else "failure",
                {"message": r.detail, "type": "load-error" if r.error else "rule-case"},
            ).text = f"{file}:{r.case.line}: {r.case.label}: {r.detail}"
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode")
