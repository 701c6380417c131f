"""Command-line pieces for payer policies and suppressions.

``claimscrub suppress add|list`` keeps the append-only file of accepted
findings; the ``--payer``/``--date`` options of ``rules list``, ``rules docs``
and ``rules explain`` show the rules in effect for a payer on a date and which
policy changed each. Kept apart from ``cli.py`` so that file only registers them.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import orjson

if TYPE_CHECKING:  # the scrub command imports this module for its options: rules and policies load on use
    from claimscrub.compile.rules import RuleBook
    from claimscrub.policy.resolve import Resolution

PAYER_TYPES = ("medicare", "medicaid", "commercial", "other")


def payer_options(fn: Callable) -> Callable:
    """--payer TYPE, --payer-id, --payer-name, --date and --policies, for the rules commands."""
    fn = click.option(
        "--policies",
        "policy_paths",
        multiple=True,
        type=click.Path(exists=True),
        help="Extra policy file or folder (repeatable), besides rules/policies.",
    )(fn)
    fn = click.option("--date", "dos", help="Date of service the policies are resolved for (default: today).")(fn)
    fn = click.option("--payer-name", help="Payer name (policies may select by a name pattern).")(fn)
    fn = click.option("--payer-id", help="Payer id (policies may select by id).")(fn)
    fn = click.option(
        "--payer",
        "payer_type",
        type=click.Choice(PAYER_TYPES),
        help="Show the rules in effect for this payer type under the policies.",
    )(fn)
    return fn


def resolution_for(
    book: RuleBook,
    tables: Any,
    payer_type: str | None,
    payer_id: str | None,
    payer_name: str | None,
    dos: str | None,
    policy_paths: tuple[str, ...],
    roots: list[Path] | None = None,
    include_draft: bool = False,
) -> Resolution | None:
    """The policies' resolution for a payer and date; None when no payer was asked for."""
    if payer_type is None and payer_id is None and payer_name is None:
        return None
    from claimscrub.api.scrubber import table_columns
    from claimscrub.policy import PolicySet, bundled_policies_dir, load_policies, pack_policy_dirs

    if dos is not None:
        try:
            dos = _dt.date.fromisoformat(dos).isoformat()
        except ValueError:
            raise click.BadParameter(f"{dos!r} is not a date YYYY-MM-DD", param_hint="--date") from None
    bundled = bundled_policies_dir()
    packs = pack_policy_dirs(roots or [])  # views of the rules: entries for rules not loaded here are skipped
    policies, issues = load_policies(
        [bundled, *packs, *map(Path, policy_paths)], book, table_columns(tables), lenient=(bundled, *packs)
    )
    errors = [i for i in issues if i.severity == "error"]
    if errors:
        for issue in errors:
            click.echo(str(issue), err=True)
        raise click.UsageError("the policies have errors ('claimscrub rules lint' names them)")
    payer = {"type": payer_type or "other", "id": payer_id, "name": payer_name}
    return PolicySet(
        policies, book, include_draft=include_draft, loaded=tables.loaded if tables is not None else None
    ).resolve(payer, dos or _dt.date.today().isoformat())


def book_in_effect(book: RuleBook, resolution: Resolution) -> RuleBook:
    """The rules a payer's claims run under the resolution, each with its severity there."""
    from claimscrub.compile.rules import RuleBook

    rules = []
    for rule in book.rules:
        state = resolution.rules[rule.id]
        if state.enabled:
            rules.append(
                dataclasses.replace(rule, severity=state.severity) if state.severity != rule.severity else rule
            )
    return RuleBook(rules, book.valuesets, book.packs)


def policy_lines(rule_id: str, resolution: Resolution) -> list[str]:
    """What the payer's policies do to one rule, for ``rules explain``."""
    state = resolution.rules[rule_id]
    head = (
        f"under {', '.join(resolution.policies) or 'no policy'}: "
        + ("in effect" if state.enabled else "OFF")
        + f", severity {state.severity}"
    )
    out = [head]
    if state.not_checked:
        out.append(f"  {state.not_checked}")
    out.extend(f"  {why}" for why in state.because)
    if not state.because and not state.not_checked:
        out.append("  no policy changes this rule")
    return out


# --------------------------------------------------------------------------- suppress

_FILE = click.option(
    "--file",
    "path",
    required=True,
    type=click.Path(dir_okay=False),
    envvar="CLAIMSCRUB_SUPPRESSIONS",
    help="The append-only suppressions file (JSON Lines; default $CLAIMSCRUB_SUPPRESSIONS).",
)


@click.group()
def suppress() -> None:
    """Accept findings (with a reason, a person and a date) so later scrubs report them as suppressed."""


@suppress.command("add")
@_FILE
@click.option("--claim-id", required=True, help="The claim the finding is on.")
@click.option("--line", type=int, help="The line sequence (leave out for a claim-level finding).")
@click.option("--rule", "rule_id", required=True, help="The rule id of the finding.")
@click.option("--reason", required=True, help="Why it is accepted, e.g. 'distinct site documented'.")
@click.option("--by", required=True, help="Who accepts it.")
@click.option("--date", "when", help="Date accepted (default: today).")
@click.option("--expires", help="Last date the acceptance holds (optional).")
def suppress_add(
    path: str,
    claim_id: str,
    line: int | None,
    rule_id: str,
    reason: str,
    by: str,
    when: str | None,
    expires: str | None,
) -> None:
    """Append one accepted finding to the suppressions file (the file is never rewritten)."""
    from claimscrub.policy import suppressions as sup

    raw = {
        "claim_id": claim_id,
        "line": line,
        "rule_id": rule_id,
        "reason": reason,
        "by": by,
        "date": when or _dt.date.today().isoformat(),
        "expires": expires,
    }
    try:
        record = sup.from_dict(raw, "suppression")
        sup.load(path)  # refuse to append to a file that is already broken
    except sup.SuppressionError as exc:
        raise click.UsageError(str(exc)) from None
    sup.append(path, record)
    where = "claim level" if line is None else f"line {line}"
    click.echo(
        f"suppressed {rule_id} on {claim_id} {where} (by {by}, {record.date}"
        + (f", until {record.expires}" if record.expires else "")
        + f") in {path}",
        err=True,
    )


@suppress.command("list")
@_FILE
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def suppress_list(path: str, fmt: str) -> None:
    """Every record of the suppressions file, oldest first."""
    from claimscrub.policy import suppressions as sup

    try:
        records = sup.load(path)
    except sup.SuppressionError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    if fmt == "json":
        click.echo(orjson.dumps([r.as_dict() for r in records], option=orjson.OPT_INDENT_2).decode())
        return
    for r in records:
        where = "claim" if r.line is None else f"line {r.line}"
        until = f" until {r.expires}" if r.expires else ""
        click.echo(f"{r.date}{until}  {r.claim_id} {where} {r.rule_id}  by {r.by}: {r.reason}")
