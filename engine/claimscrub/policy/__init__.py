"""Payer policies (overlays on the rule packs) and accepted findings (suppressions).

``model`` holds the typed policy, ``loader`` reads and checks policy files,
``resolve`` decides what applies to a payer on a date, ``routing`` reads the
payer's chosen tables, ``suppressions`` keeps the append-only record of
findings a biller or reviewer accepted.
"""

from claimscrub.policy.loader import bundled_policies_dir, load_policies, pack_policy_dirs
from claimscrub.policy.model import CarveOut, PayerEdit, Policy, RuleChange, Selector, TableChoice
from claimscrub.policy.resolve import PolicySet, Resolution, RuleState, resolve

__all__ = [
    "CarveOut",
    "PayerEdit",
    "Policy",
    "PolicySet",
    "Resolution",
    "RuleChange",
    "RuleState",
    "Selector",
    "TableChoice",
    "bundled_policies_dir",
    "load_policies",
    "pack_policy_dirs",
    "resolve",
]
