"""Small rule packs written by tests: one rule file of single-condition rules."""

from __future__ import annotations

from pathlib import Path

HEADER = "# yaml-language-server: $schema=../schemas/rule.schema.json\nrules:\n"


def rule_yaml(rule_id: str, when: str, scope: str = "line", title: str = "Test rule") -> str:
    """One rule's YAML (a list item of the rule file), with everything but its condition fixed."""
    return f"""  - id: {rule_id}
    title: {title}
    category: modifier
    severity: warning
    scope: {scope}
    when: '{when}'
    message: "Line {{line.sequence}}"
    fix: Fix it.
    references: [{{source: test}}]
    status: active
"""


def write_pack(pack: Path, rules: list[str]) -> Path:
    """A pack folder named like its last path part, holding the rules in one file."""
    pack.mkdir(exist_ok=True)
    (pack / "pack.yaml").write_text(f"name: {pack.name}\nversion: '1'\n")
    (pack / "TST.yaml").write_text(HEADER + "".join(rules))
    return pack
