"""``--compact`` JSON Lines: each finding without the text its rule repeats in every finding.

A finding's title, fix, citation, references and pack are the same for every hit of a rule, and make
most of a record's bytes (5.4 KB a claim in issue #18). Compact output writes them once, in a first
line ``{"record": "rules", "rules": {rule_id: {...}}}``, and leaves out of a finding every field equal
to its rule's entry there, the claim id (its record's), and empty values (null, [], {}). A field that
differs (a fix filled in from the claim, a citation a policy or condition chose) stays, so nothing is
lost: a reader gets the full finding back by ``{**rules[rule_id], **finding}`` (missing keys: empty).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from typing import Any


def rule_dictionary(rules: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """Each rule's text as its findings carry it when nothing about the hit changes it."""
    return {
        rule.id: {
            "title": rule.title,
            "fix": rule.fix,
            "citation": "; ".join(str(r) for r in rule.references),
            "references": [
                {k: v for k, v in asdict(r).items() if v is not None and k not in ("when", "condition")}
                for r in rule.references
            ],
            "rule_pack": rule.pack.name,
            "pack_version": rule.pack.version,
        }
        for rule in rules
    }


def compact_finding(finding: dict[str, Any], dictionary: dict[str, dict[str, Any]], claim_id: Any) -> dict[str, Any]:
    """The finding without what its rule's dictionary entry, its claim record or emptiness already say."""
    known = dictionary.get(finding["rule_id"], {})
    return {
        k: v
        for k, v in finding.items()
        if not (
            v is None or v == [] or v == {} or (k == "claim_id" and v == claim_id) or (k in known and known[k] == v)
        )
    }


def compact_record(record: dict[str, Any], dictionary: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A claim's JSON Lines record with compact findings."""
    cid = record.get("claim_id")
    out = dict(record)
    out["findings"] = [compact_finding(f, dictionary, cid) for f in record["findings"]]
    if "suppressed" in record:
        out["suppressed"] = [compact_finding(f, dictionary, cid) for f in record["suppressed"]]
    return out
