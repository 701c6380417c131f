"""``claimscrub data``: import CMS reference files into the compiled store, and report on it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from claimscrub.refdata.store import Store, StoreTableSet, open_tables, resolve_data_dir, status_document
from claimscrub.refdata.tables import TableSet, TableStatus, default_registry, sample_tables

_DATA_DIR = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="CLAIMSCRUB_DATA_DIR",
    help="Where the compiled store lives (default: $CLAIMSCRUB_DATA_DIR, else the user data directory).",
)


@click.group()
def data() -> None:
    """Reference data: NCCI, MUE, add-on codes, MPFS, HCPCS, MCE, I/OCE tables."""


@data.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@_DATA_DIR
@click.option("--table", "tables", multiple=True, help="Import only these tables (repeatable).")
@click.option("--quiet", is_flag=True, help="Do not list skipped files.")
def import_cmd(paths: tuple[Path, ...], data_dir: Path | None, tables: tuple[str, ...], quiet: bool) -> None:
    """Import reference files; a directory is scanned and every recognised file imported."""
    from claimscrub.refdata.importers import import_paths

    target = resolve_data_dir(data_dir)
    started = time.perf_counter()
    definitions = [p for p in paths if p.suffix in (".yaml", ".yml")]
    done = [imp for p in definitions for imp in _import_definition(p, target)]
    files = [p for p in paths if p not in definitions]
    more, skipped = (
        import_paths(
            files,
            target,
            tables=set(tables) if tables else None,
            progress=lambda msg: click.echo(f"  reading {msg}", err=True),
        )
        if files
        else ([], [])
    )
    done += more
    for imp in done:
        click.echo(
            f"imported {imp.table:<24} {imp.rows:>10,} rows  {imp.edition}  ({Path(imp.path).name}, {imp.seconds:.1f}s)"
        )
        for note in imp.notes:
            click.echo(f"  note: {note}")
    if not quiet or not done:  # with nothing imported, what was seen and why it was skipped is the answer
        for skip in skipped:
            click.echo(f"skipped {skip.path}: {skip.reason}")
    if files and not done and not skipped:
        click.echo(f"no files found in {', '.join(map(str, files))}")
    click.echo(
        f"{len(done)} file(s) imported, {len(skipped)} skipped, {time.perf_counter() - started:.1f}s; "
        f"store: {Store.path_in(target)}"
    )
    if not done:
        raise SystemExit(1)


@data.command("status")
@_DATA_DIR
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--samples/--no-samples", default=False, help="Also show the bundled illustrative sample tables.")
@click.option(
    "--rules",
    "rule_roots",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Rule pack directory whose own tables/ to include, as 'scrub --rules' does (repeatable).",
)
def status_cmd(data_dir: Path | None, fmt: str, samples: bool, rule_roots: tuple[Path, ...]) -> None:
    """Every table: editions, date coverage, rows and notes (e.g. no effective dates)."""
    from claimscrub.refdata.tables import registry_for

    path = Store.path_in(resolve_data_dir(data_dir))
    tables: TableSet
    if path.is_file() or rule_roots:
        tables = open_tables(data_dir, samples=samples, registry=registry_for(rule_roots))
    else:
        tables = sample_tables() if samples else StoreLess()
    if fmt == "json":
        click.echo(json.dumps(status_document(path, tables), indent=2))
        return
    rows = tables.status()
    click.echo(f"store: {path}" + ("" if path.is_file() else " (not found: run `claimscrub data import PATH`)"))
    for st in rows:
        click.echo(_status_line(st))
        for ed in st.editions:
            window = f"{ed.valid_from or 'open'} .. {ed.valid_to or 'open'}"
            click.echo(f"    {ed.label}: {ed.rows:,} rows, rows valid {window}")
        for note in st.notes:
            click.echo(f"    note: {note}")


def _import_definition(path: Path, target: Path) -> list:
    """A payer's own table: its YAML definition plus the CSV(s) it names, into the store."""
    from claimscrub.refdata.importers import import_table_csv
    from claimscrub.refdata.tables import check_schema, load_yaml, parse_table_def

    raw = load_yaml(path.read_text(encoding="utf-8"))
    check_schema(raw, path)
    defn = parse_table_def(raw, path)
    if not defn.csv:
        raise click.UsageError(f"{path}: the definition names no csv: file to import")
    return [import_table_csv(defn, csv_path, target) for csv_path in defn.csv]


def _status_line(st: TableStatus) -> str:
    if not st.loaded:
        return f"{st.name:<24} not loaded"
    cov = f"{st.coverage[0] or 'open'} .. {st.coverage[1] or 'open'}"
    return f"{st.name:<24} {st.rows:>10,} rows  {len(st.editions)} edition(s)  covers {cov}  [{st.origin}]"


class StoreLess(TableSet):
    """No store and no samples: every table known, none loaded (for `data status`)."""

    def lookup(self, table, key, dos):
        return None

    def lookup_all(self, table, key, dos):
        return []

    def loaded(self, table: str) -> bool:
        return False

    def status(self) -> list[TableStatus]:
        return [
            TableStatus(d.name, d.title, False, (), 0, (None, None), "-")
            for d in sorted(default_registry(), key=lambda d: d.name)
        ]


__all__ = ["data", "status_document", "StoreTableSet"]
