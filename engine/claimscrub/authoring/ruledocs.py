"""Generated rule documentation: one Markdown page per rule, and an index.

Rule authors and reviewers read what a rule checks, where it comes from and
how it is tested without opening YAML; the HTTP service serves the same
summary and page (``GET /v1/rules/{id}``). Everything here is a pure function
of loaded rules and their test cases; the CLI writes the files.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from claimscrub.authoring.ruletest import Case, cases_file_for, load_cases
from claimscrub.compile.rules import Rule, RuleBook


def rule_summary(rule: Rule) -> dict:
    """JSON-ready metadata of a rule (``rules list --format json``, ``GET /v1/rules``)."""
    return {
        "id": rule.id,
        "title": rule.title,
        "category": rule.category,
        "severity": rule.severity,
        "scope": rule.scope,
        "status": rule.status,
        "pack": rule.pack.name,
        "pack_version": rule.pack.version,
        "tags": list(rule.tags),
        "references": [_reference(ref) for ref in rule.references],
        "tables": list(rule.tables),
        "effective": {"from": rule.effective_from, "to": rule.effective_to},
        "description": rule.description.strip(),
        "when": rule.when.strip(),
        "unless": (rule.unless or "").strip() or None,
        "message": rule.message,
        "fix": rule.fix,
        "file": rule.file,
        "line": rule.line,
    }


def _reference(ref) -> dict:
    return {
        k: v
        for k, v in (
            ("source", ref.source),
            ("edition", ref.edition),
            ("url", ref.url),
            ("note", ref.note),
            ("when", ref.when),
        )
        if v is not None
    }


def rule_cases(rule: Rule) -> list[Case]:
    """The rule's named cases from the ``.test.yaml`` beside its file (none when there is no such file)."""
    test_file = cases_file_for(Path(rule.file))
    if not test_file.is_file():
        return []
    cases, _ = load_cases(test_file)
    return [c for c in cases if c.rule_id == rule.id]


def rule_markdown(rule: Rule, cases: Iterable[Case] | None = None) -> str:
    """The rule's page: what it checks, its condition, texts, citations, dates, tables and examples."""
    cases = rule_cases(rule) if cases is None else [c for c in cases if c.rule_id == rule.id]
    out = [f"# {rule.id}: {_inline(rule.title)}", ""]
    rows = [
        ("Status", rule.status),
        ("Pack", f"{rule.pack.name} {rule.pack.version}"),
        ("Category", rule.category),
        ("Severity", rule.severity),
        ("Scope", rule.scope),
        ("Effective", _effective(rule)),
        ("Tables", ", ".join(rule.tables) or "none"),
        ("Tags", ", ".join(rule.tags) or "none"),
        ("Defined in", f"{_short_path(rule.file)}:{rule.line}"),
    ]
    out += ["| | |", "|---|---|"] + [f"| {name} | {_cell(value)} |" for name, value in rows] + [""]
    if rule.description.strip():
        out += [rule.description.strip(), ""]
    out += ["## Condition", "", "Fires when:", "", *_code(rule.when.strip())]
    if rule.unless and rule.unless.strip():
        out += ["unless:", "", *_code(rule.unless.strip())]
    out += ["## Message", "", *_code(rule.message.strip(), "text"), "## Fix", "", *_code(rule.fix.strip(), "text")]
    out += ["## References", ""]
    for ref in rule.references:
        line = f"- {_inline(ref.source)}"
        if ref.edition:
            line += f", edition {_inline(ref.edition)}"
        if ref.url:
            line += f" <{ref.url}>"
        if ref.note:
            line += f": {_inline(ref.note)}"
        out.append(line)
    out += ["", "## Examples", ""]
    fire = [c for c in cases if c.kind == "ruleid"]
    quiet = [c for c in cases if c.kind == "ok"]
    if not cases:
        out += ["No test cases (add a `.test.yaml` beside the rule file).", ""]
    if fire:
        out += ["Fires (`ruleid:` cases):", ""] + [f"- {_inline(c.name)}{_lines(c)} ({_case_at(c)})" for c in fire]
        out.append("")
    if quiet:
        out += ["Does not fire (`ok:` cases):", ""] + [f"- {_inline(c.name)} ({_case_at(c)})" for c in quiet]
        out.append("")
    return "\n".join(out)


def index_markdown(rulebook: RuleBook) -> str:
    """Every rule, grouped by pack and then category, each linking to its page."""
    out = ["# Rules", "", f"{len(rulebook.rules)} rule(s) in {len(rulebook.packs)} pack(s).", ""]
    by_pack: dict[str, list[Rule]] = defaultdict(list)
    for rule in rulebook.rules:
        by_pack[rule.pack.name].append(rule)
    for name in sorted(by_pack):
        pack = rulebook.packs.get(name) or by_pack[name][0].pack
        out += [f"## {name} {pack.version}" + (f": {_inline(pack.title)}" if pack.title else ""), ""]
        by_category: dict[str, list[Rule]] = defaultdict(list)
        for rule in by_pack[name]:
            by_category[rule.category].append(rule)
        for category in sorted(by_category):
            out += [f"### {category}", "", "| Rule | Severity | Status | Title |", "|---|---|---|---|"]
            for rule in sorted(by_category[category], key=lambda r: r.id):
                out.append(
                    f"| [{rule.id}]({page_name(rule)}) | {rule.severity} | {rule.status} | {_cell(rule.title)} |"
                )
            out.append("")
    return "\n".join(out)


def page_name(rule: Rule) -> str:
    return f"{rule.id}.md"  # ids match ^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$ (rule schema): safe file names


def write_docs(rulebook: RuleBook, out_dir: Path) -> list[Path]:
    """Write every rule's page and README.md (the index); the I/O edge of this module."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cases_by_file: dict[Path, list[Case]] = {}
    written = []
    for rule in rulebook.rules:
        test_file = cases_file_for(Path(rule.file))
        if test_file not in cases_by_file:
            cases_by_file[test_file] = load_cases(test_file)[0] if test_file.is_file() else []
        path = out_dir / page_name(rule)
        path.write_text(rule_markdown(rule, cases_by_file[test_file]), encoding="utf-8")
        written.append(path)
    index = out_dir / "README.md"
    index.write_text(index_markdown(rulebook), encoding="utf-8")
    return written + [index]


def _effective(rule: Rule) -> str:
    if not rule.effective_from and not rule.effective_to:
        return "all dates of service"
    return f"dates of service {rule.effective_from or 'open'} .. {rule.effective_to or 'open'}"


def _lines(case: Case) -> str:
    if case.lines is None:
        return ""
    where = ", ".join("claim" if n is None else str(n) for n in case.lines)
    return f", on line(s) {where}"


def _case_at(case: Case) -> str:
    return f"{_short_path(case.file)}:{case.line}"


def _short_path(path: str) -> str:
    """From the ``rules/`` folder on when the file is inside one, so pages do not carry machine paths."""
    parts = Path(path).parts
    if "rules" in parts:
        return "/".join(parts[len(parts) - 1 - parts[::-1].index("rules") :])
    return Path(path).name


def _inline(text: str) -> str:
    return " ".join(str(text).split())


def _cell(text: str) -> str:
    return _inline(text).replace("|", "\\|")


def _code(text: str, lang: str = "") -> list[str]:
    """A fenced block whose fence is longer than any backtick run inside it."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + lang, text, fence, ""]
