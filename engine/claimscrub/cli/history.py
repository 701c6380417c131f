"""``claimscrub history``: load past claims into the history store; and how ``scrub --history`` opens it."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from claimscrub.history.limits import FrequencyLimit, load_limits
from claimscrub.history.store import HistoryStore, open_history

HISTORY_HELP = (
    "Read the patient history store: --history=FILE (SQLite), or --history alone after the paths for "
    "history.sqlite in the data directory (created on first use)."
)


def open_store_or_exit(spec: str | None, data_dir: str | Path | None) -> HistoryStore | None:
    """The store ``--history`` names (None when not given); a store that cannot be opened is a usage error (exit 2)."""
    if spec is None:
        return None
    try:
        return open_history(spec or None, data_dir)
    except (ValueError, OSError) as exc:
        click.echo(f"--history: {exc}", err=True)
        sys.exit(2)


def load_limits_or_exit(path: str | None) -> tuple[FrequencyLimit, ...] | None:
    """``--frequency-limits``: the table (None: the bundled sample); a bad table is a usage error naming the entry."""
    if path is None:
        return None
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
@click.option("--history", "spec", default="", help="SQLite file (default: history.sqlite in the data directory).")
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
