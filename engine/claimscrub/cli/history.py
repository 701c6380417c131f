"""``claimscrub history``: load past claims into the history store; and how ``scrub --history`` opens it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # the scrub command imports this module for its options: the store loads when opened
    from claimscrub.history.limits import FrequencyLimit
    from claimscrub.history.store import HistoryStore

HISTORY_HELP = (
    "Read the patient history store: history.sqlite in the data directory (created on first use), or the "
    "--history-db store. --history=FILE still names a store (as --history-db FILE)."
)
HISTORY_DB_HELP = "The history store to read: a SQLite file or a postgresql:// URL (implies --history)."


class HistorySpelling(click.Command):
    """A command whose ``--history`` is a flag that may stand anywhere, and whose older spelling
    ``--history=FILE`` still names a store: it is read as ``--history-db=FILE``.

    An option with an optional value (``is_flag=False, flag_value=...``) took the next argument as its
    value, so ``--history claims.json`` read the claims file as the store. A flag never takes one; a
    value attached with ``=`` cannot be mistaken for a path."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        out, rest = [], False
        for arg in args:
            if not rest and arg.startswith("--history="):
                arg = "--history-db=" + arg[len("--history=") :]
            rest = rest or arg == "--"
            out.append(arg)
        return super().parse_args(ctx, out)


def history_options(command):
    """``--history/--no-history`` and ``--history-db`` (see :class:`HistorySpelling`)."""
    command = click.option("--history-db", "history_db", metavar="FILE|URL", default=None, help=HISTORY_DB_HELP)(
        command
    )
    return click.option("--history/--no-history", "history_on", default=None, help=HISTORY_HELP)(command)


def history_spec(history_on: bool | None, history_db: str | None, record: bool) -> str | None:
    """The store to open: None (no store), "" (the data directory's) or a file / URL. ``--no-history``
    wins; ``--history-db`` and ``--record`` imply ``--history``."""
    if history_on is False:
        return None
    if history_db is not None:
        return history_db
    return "" if history_on or record else None


def open_store_or_exit(spec: str | None, data_dir: str | Path | None) -> HistoryStore | None:
    """The store ``--history`` names (None when not given); a store that cannot be opened is a usage error (exit 2)."""
    if spec is None:
        return None
    from claimscrub.history.store import open_history

    try:
        return open_history(spec or None, data_dir)
    except (ValueError, OSError) as exc:
        click.echo(f"--history: {exc}", err=True)
        sys.exit(2)


def load_limits_or_exit(path: str | None) -> tuple[FrequencyLimit, ...] | None:
    """``--frequency-limits``: the table (None: the bundled sample); a bad table is a usage error naming the entry."""
    if path is None:
        return None
    from claimscrub.history.limits import load_limits

    try:
        return load_limits(path)
    except (ValueError, OSError) as exc:
        click.echo(f"--frequency-limits: {exc}", err=True)
        sys.exit(2)


@click.group()
def history() -> None:
    """Claim history: past claims the cross-claim edits (global surgery, duplicates, MUE per day, ...) read."""


@history.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--history-db",
    "--history",
    "spec",
    default="",
    help="SQLite file or postgresql:// URL (default: history.sqlite in the data directory).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="CLAIMSCRUB_DATA_DIR",
    help="Data directory (default: $CLAIMSCRUB_DATA_DIR, else the user data directory).",
)
def import_cmd(paths: tuple[Path, ...], spec: str, data_dir: Path | None) -> None:
    """Record past claims (any input format; 835 remittances beside them fill what was paid)."""
    from claimscrub.inputs.payments import read_paid_claims
    from claimscrub.model.normalize import ClaimRejected, claim_from_dict
    from claimscrub.model.validate import problems

    store = open_store_or_exit(spec, data_dir)
    assert store is not None
    read = read_paid_claims(list(paths))
    claims, rejected = [], 0
    for item in read.items:
        bad = (item.field or "claim") if item.error is not None or item.data is None else None
        if bad is None:
            found = problems(item.data)
            bad = found[0][0] if found else None
        if bad is None and item.data is not None:
            try:
                claims.append(claim_from_dict(item.data, item.source))
            except ClaimRejected as exc:
                bad = exc.field
        if bad is not None:  # the field only: the value may be PHI (a birth date, a patient id)
            click.echo(f"{item.source}: not recorded: {bad} is not valid (scrub the file to see why)", err=True)
            rejected += 1
    lines = store.record(claims)
    store.close()
    for note in read.notes:
        click.echo(note, err=True)
    click.echo(
        f"recorded {len(claims)} claim(s), {lines} line(s); {rejected} not recorded (unreadable or invalid)", err=True
    )
    sys.exit(1 if rejected else 0)
