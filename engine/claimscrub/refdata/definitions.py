"""Table definitions: the YAML that says what a table holds and how its editions apply.

Definitions live in YAML under ``rules/tables/`` (one file per table, checked
against ``schemas/table.schema.json``); a payer's pack may bring its own
beside its rules. :mod:`claimscrub.refdata.tables` holds the rows and the
lookup API; this module only reads and checks definitions.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claimscrub import filecache, yamlio
from claimscrub.resources import rules_dir, schema_path

COLUMN_TYPES = ("string", "integer", "number", "date")
EFFECTIVE_MODES = ("columns", "edition", "none")
BEFORE_EDITION = ("caveat", "not_checked")
CONFLICT_POLICIES = ("most_restrictive", "latest", "first")
CLAIM_TYPES = ("professional", "institutional", "dme")
SAMPLE_EDITION = "sample"


class TableError(ValueError):
    """A table definition or a table file is wrong; the message says where."""


# --------------------------------------------------------------------------- YAML


def load_yaml(text: str) -> Any:
    """YAML 1.2 core types (codes like ``0450`` stay strings): the project's one loader."""
    return yamlio.safe_load(text)


# --------------------------------------------------------------------------- definitions


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str = "string"
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Effective:
    """Where a row's validity window comes from.

    ``columns``: from the row's ``from`` / ``to`` date columns (blank = open);
    ``edition``: from ``valid_from`` / ``valid_to`` here, else the edition (the
    file's date picks it); ``none``: rows are timeless.

    A row with no start date of its own, read for a date of service before its
    edition was released, may not have been in force then. ``before_edition``
    says what happens: ``caveat`` (the row applies, and the finding says the
    edition does not cover the date and is lowered one severity) or
    ``not_checked`` (the edition does not answer before its release: rules
    reading the table are *not checked* on that date). ``dated_by`` names a
    versioned table whose rows date the same keys: where it covers the date,
    its windows decide whether such an undated row was in force.
    """

    mode: str = "none"
    from_column: str | None = None
    to_column: str | None = None
    valid_from: str | None = None
    valid_to: str | None = None
    before_edition: str = "caveat"
    dated_by: str | None = None


@dataclass(frozen=True, slots=True)
class Conflict:
    """Which row wins when several rows with the same key are in force on a date.

    ``most_restrictive``: the lowest (or highest) value of ``column`` (lowest
    modifier indicator, lowest MUE); ``latest``: the latest effective date;
    ``first``: the first row in file order.
    """

    policy: str = "first"
    column: str | None = None
    prefer: str = "lowest"


@dataclass(frozen=True, slots=True)
class Layout:
    """How one kind of file is read into a table (see claimscrub.refdata.layouts)."""

    name: str
    format: str = "csv"
    filename: str | None = None  # regex searched in the file name
    header: tuple[str, ...] = ()  # columns the header row must contain
    columns: Mapping[str, Any] = field(default_factory=dict)  # table column -> source spec
    delimiter: str | None = None
    edition: str | None = None  # fixed edition label instead of the file-name date
    options: Mapping[str, Any] = field(default_factory=dict)
    notes: str | None = None
    priority: int = 50  # lower imports first (I/OCE version ranges before versioned files)


@dataclass(frozen=True, slots=True)
class Source:
    publisher: str | None = None
    url: str | None = None
    label: str = "{title} {edition}"  # edition label template


@dataclass(frozen=True, slots=True)
class TableDef:
    name: str
    title: str
    key: tuple[str, ...]
    values: tuple[Column, ...]
    source: Source = field(default_factory=Source)
    effective: Effective = field(default_factory=Effective)
    conflict: Conflict = field(default_factory=Conflict)
    claim_types: tuple[str, ...] = ()
    layouts: tuple[Layout, ...] = ()
    csv: tuple[Path, ...] = ()  # rows that ship with the definition (a payer's table)
    sample: Path | None = None  # illustrative rows for the demo
    description: str | None = None
    path: Path | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        return self.key + tuple(c.name for c in self.values)

    def column_type(self, name: str) -> str:
        if name in self.key:
            return "string"
        for col in self.values:
            if col.name == name:
                return col.type
        raise KeyError(name)

    def edition_label(self, edition: str) -> str:
        return self.source.label.format(title=self.title, name=self.name, edition=edition)


_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _req(raw: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in raw:
        raise TableError(f"{where}: missing '{key}'")
    return raw[key]


def parse_table_def(raw: Mapping[str, Any], path: Path | None = None) -> TableDef:
    """Build a TableDef from its YAML mapping, checking what the schema cannot."""
    where = str(path) if path else "table definition"
    if not isinstance(raw, Mapping):
        raise TableError(f"{where}: expected a mapping")
    name = str(_req(raw, "name", where))
    if not _NAME.match(name):
        raise TableError(f"{where}: table name {name!r} must be lower_snake_case")
    key = tuple(str(k) for k in _req(raw, "key", where))
    if not key:
        raise TableError(f"{where}: 'key' needs at least one column")
    values: list[Column] = []
    for col_name, spec in (raw.get("values") or {}).items():
        if isinstance(spec, str):
            spec = {"type": spec}
        ctype = spec.get("type", "string")
        if ctype not in COLUMN_TYPES:
            raise TableError(f"{where}: column {col_name}: type {ctype!r} is not one of {COLUMN_TYPES}")
        values.append(Column(str(col_name), ctype, spec.get("description")))
    names = list(key) + [c.name for c in values]
    if len(set(names)) != len(names):
        raise TableError(f"{where}: duplicate column names")
    for n in names:
        if not _NAME.match(n):
            raise TableError(f"{where}: column name {n!r} must be lower_snake_case")

    eff_raw = raw.get("effective") or {"mode": "none"}
    effective = Effective(
        mode=eff_raw.get("mode", "none"),
        from_column=eff_raw.get("from"),
        to_column=eff_raw.get("to"),
        valid_from=_iso_or_none(eff_raw.get("valid_from"), where),
        valid_to=_iso_or_none(eff_raw.get("valid_to"), where),
        before_edition=eff_raw.get("before_edition", "caveat"),
        dated_by=eff_raw.get("dated_by"),
    )
    if effective.mode not in EFFECTIVE_MODES:
        raise TableError(f"{where}: effective.mode must be one of {EFFECTIVE_MODES}")
    if effective.before_edition not in BEFORE_EDITION:
        raise TableError(f"{where}: effective.before_edition must be one of {BEFORE_EDITION}")
    date_cols = {c.name for c in values if c.type == "date"}
    for col in (effective.from_column, effective.to_column):
        if col is not None and col not in date_cols:
            raise TableError(f"{where}: effective column {col!r} must be a value column of type date")
    if effective.mode == "columns" and not (effective.from_column or effective.to_column):
        raise TableError(f"{where}: effective.mode 'columns' needs 'from' and/or 'to'")

    con_raw = raw.get("conflict") or {}
    conflict = Conflict(con_raw.get("policy", "first"), con_raw.get("column"), con_raw.get("prefer", "lowest"))
    if conflict.policy not in CONFLICT_POLICIES:
        raise TableError(f"{where}: conflict.policy must be one of {CONFLICT_POLICIES}")
    if conflict.policy == "most_restrictive":
        if conflict.column not in {c.name for c in values}:
            raise TableError(f"{where}: conflict.column must name a value column")
        if conflict.prefer not in ("lowest", "highest"):
            raise TableError(f"{where}: conflict.prefer must be lowest or highest")

    src = raw.get("source") or {}
    source = Source(src.get("publisher"), src.get("url"), src.get("label", "{title} {edition}"))
    layouts = tuple(_parse_layout(lr, where) for lr in raw.get("layouts") or ())
    base = path.parent if path else Path.cwd()
    csv_raw = raw.get("csv") or ()
    csv_paths = tuple(_confined(base, p, "csv", where) for p in ([csv_raw] if isinstance(csv_raw, str) else csv_raw))
    sample = _confined(base, raw["sample"], "sample", where) if raw.get("sample") else None
    claim_types = tuple(raw.get("claim_types") or ())
    for ct in claim_types:
        if ct not in CLAIM_TYPES:
            raise TableError(f"{where}: claim type {ct!r} is not one of {CLAIM_TYPES}")
    return TableDef(
        name=name,
        title=str(raw.get("title", name)),
        key=key,
        values=tuple(values),
        source=source,
        effective=effective,
        conflict=conflict,
        claim_types=claim_types,
        layouts=layouts,
        csv=csv_paths,
        sample=sample,
        description=raw.get("description"),
        path=path,
    )


def _confined(base: Path, relative: Any, key: str, where: str) -> Path:
    """A file named by a definition, which must stay inside the definition's folder (symlinks resolved):
    definitions are untrusted input, and ``../../../../etc/passwd`` was read."""
    root = base.resolve()
    target = (base / str(relative)).resolve()
    if not target.is_relative_to(root):
        raise TableError(
            f"{where}: {key} path {str(relative)!r} leaves the folder of the definition; "
            "put the file in that folder or below it"
        )
    return target


def _iso_or_none(value: Any, where: str) -> str | None:
    if value in (None, ""):
        return None
    if not _ISO.match(str(value)):
        raise TableError(f"{where}: {value!r} is not an ISO date YYYY-MM-DD")
    return str(value)


def _parse_layout(raw: Mapping[str, Any], where: str) -> Layout:
    name = str(_req(raw, "name", where + ": layout"))
    match = raw.get("match") or {}
    return Layout(
        name=name,
        format=raw.get("format", "csv"),
        filename=match.get("filename"),
        header=tuple(match.get("header") or ()),
        columns=dict(raw.get("columns") or {}),
        delimiter=raw.get("delimiter"),
        edition=raw.get("edition"),
        options=dict(raw.get("options") or {}),
        notes=raw.get("notes"),
        priority=int(raw.get("priority", 50)),
    )


@dataclass(frozen=True, slots=True)
class Registry:
    tables: Mapping[str, TableDef]

    def __getitem__(self, name: str) -> TableDef:
        return self.tables[name]

    def __contains__(self, name: object) -> bool:
        return name in self.tables

    def __iter__(self) -> Iterator[TableDef]:
        return iter(self.tables.values())

    def get(self, name: str) -> TableDef | None:
        return self.tables.get(name)


_CACHEABLE = {
    (__name__, cls.__name__): cls for cls in (Column, Effective, Conflict, Layout, Source, TableDef, Registry)
}


def tables_dir() -> Path:
    return rules_dir() / "tables"


def load_registry(*dirs: Path | str) -> Registry:
    """Read every ``*.yaml`` table definition in ``dirs`` (default: the bundled
    ``rules/tables``). A later directory's table replaces an earlier one of the
    same name, so a payer directory can override a bundled definition.

    What was read is kept by :mod:`claimscrub.filecache`, keyed by the files' content and the schema:
    a start-up with unchanged definitions parses no YAML (and does not load jsonschema)."""
    files = [path for d in map(Path, dirs or (tables_dir(),)) if d.is_dir() for path in sorted(d.glob("*.yaml"))]
    return filecache.cached(
        "tables",
        files,
        "table definitions",
        _CACHEABLE,
        lambda: _read_registry(files),
        lambda value: isinstance(value, Registry),
    )


def _read_registry(files: list[Path]) -> Registry:
    found: dict[str, TableDef] = {}
    for path in files:
        raw = load_yaml(path.read_text(encoding="utf-8"))
        check_schema(raw, path)
        defn = parse_table_def(raw, path)
        found[defn.name] = defn
    return Registry(found)


@functools.cache
def _validator() -> Any:
    import jsonschema

    schema = json.loads(schema_path("table.schema.json").read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(schema)


def check_schema(raw: Any, path: Path | None = None) -> None:
    """Schema errors first, with the path into the YAML, so a rule author sees where."""
    errors = sorted(_validator().iter_errors(raw), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in errors[:5]]
        raise TableError(f"{path or 'table definition'}: " + "; ".join(lines))


_REGISTRY: Registry | None = None


def default_registry() -> Registry:
    """The bundled definitions plus ``$CLAIMSCRUB_TABLES`` (os.pathsep-separated dirs)."""
    global _REGISTRY
    if _REGISTRY is None:
        extra = [Path(p) for p in os.environ.get("CLAIMSCRUB_TABLES", "").split(os.pathsep) if p]
        _REGISTRY = load_registry(tables_dir(), *extra)
    return _REGISTRY


def pack_table_dirs(roots: Sequence[Path | str]) -> list[Path]:
    """``tables/`` folders of extra rule roots: a pack's own (beside its ``pack.yaml``), or the root's."""
    found: list[Path] = []
    for root in map(Path, roots):
        if not root.is_dir():
            continue
        packs = [p.parent for p in sorted(root.rglob("pack.yaml"))] or [root]
        found.extend(d for d in (p / "tables" for p in packs) if d.is_dir() and d not in found)
    return found


def table_search_path(roots: Sequence[Path | str] = ()) -> list[str]:
    """Where table definitions are looked for, in order (for messages)."""
    extra = [p for p in os.environ.get("CLAIMSCRUB_TABLES", "").split(os.pathsep) if p]
    return [str(tables_dir())] + extra + [str(d) for d in pack_table_dirs(roots)]


_PACK_REGISTRIES: dict[tuple, Registry] = {}


def registry_for(roots: Sequence[Path | str]) -> Registry:
    """The default registry plus the tables that rule packs under ``roots`` bring (a payer's bundling
    list beside the rule that reads it). A definition's CSV and sample must lie in its folder (``_confined``)."""
    dirs = pack_table_dirs(roots)
    if not dirs:
        return default_registry()
    # keyed by the definition files' paths and times: an author editing a pack's table sees the change
    key = tuple((str(f.resolve()), f.stat().st_mtime_ns) for d in dirs for f in sorted(d.glob("*.yaml")))
    if key not in _PACK_REGISTRIES:
        pack_tables = load_registry(*dirs)
        _PACK_REGISTRIES[key] = Registry({**default_registry().tables, **pack_tables.tables})
    return _PACK_REGISTRIES[key]
