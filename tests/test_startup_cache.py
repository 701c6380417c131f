"""A warm start parses nothing: table definitions and payer policies come from the content-keyed cache
(:mod:`claimscrub.filecache`), a changed file is parsed afresh, a planted cache file is never trusted,
and a scrubber built once gives forked workers (and ``--workers 0``) the same findings."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from claimscrub import filecache
from claimscrub.api.scrubber import Scrubber, table_columns
from claimscrub.api.workers import Prebuilt, WorkerPool
from claimscrub.compile.cache import cached_rulebook
from claimscrub.inputs.base import InputItem
from claimscrub.policy import loader
from claimscrub.refdata import definitions
from claimscrub.refdata.tables import sample_tables
from claimscrub.resources import rules_dir

POLICY = """\
# yaml-language-server: $schema=../schemas/policy.schema.json
id: acme
title: {title}
applies_to: {{payer_types: [commercial], payer_names: ["^acme"]}}
references: [{{source: test}}]
rules:
  - rule: CS-MUE-002
    severity: warning
    unless: 'line.units > 5'
    reason: test
"""


@pytest.fixture
def cache_root(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("CLAIMSCRUB_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def table_dir(tmp_path) -> Path:
    folder = tmp_path / "tables"
    folder.mkdir()
    shutil.copy(rules_dir() / "tables" / "pos_codes.yaml", folder)
    return folder


def _counting(monkeypatch, module, name: str) -> list[int]:
    calls: list[int] = []
    real = getattr(module, name)

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counting)
    return calls


class _Planted:
    """What an attacker would pickle: unpickling it calls os.system."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _plant(folder: Path, marker: Path) -> int:
    """Overwrite every cache entry in ``folder`` with a pickle that would run a command."""
    entries = list(folder.glob("*.pickle"))
    for entry in entries:
        entry.write_bytes(pickle.dumps(_Planted(marker)))
    return len(entries)


def test_table_definitions_are_parsed_once_then_read_from_the_cache(cache_root, table_dir, monkeypatch):
    parsed = _counting(monkeypatch, definitions, "load_yaml")
    first = definitions.load_registry(table_dir)
    again = definitions.load_registry(table_dir)
    assert len(parsed) == 1 and again == first
    assert again["pos_codes"].key == ("pos_code",) and again["pos_codes"].path == table_dir / "pos_codes.yaml"


def test_a_changed_table_definition_is_parsed_afresh(cache_root, table_dir, monkeypatch):
    definitions.load_registry(table_dir)
    path = table_dir / "pos_codes.yaml"
    path.write_text(path.read_text().replace("title: Place of service codes", "title: Places of service"))
    parsed = _counting(monkeypatch, definitions, "load_yaml")
    assert definitions.load_registry(table_dir)["pos_codes"].title == "Places of service" and parsed == [1]


def test_a_planted_table_cache_entry_is_never_trusted(cache_root, table_dir, tmp_path, monkeypatch):
    definitions.load_registry(table_dir)
    marker = tmp_path / "pwned"
    assert _plant(cache_root / "tables", marker) == 1
    parsed = _counting(monkeypatch, definitions, "load_yaml")
    assert definitions.load_registry(table_dir)["pos_codes"].title == "Place of service codes"
    assert not marker.exists() and parsed == [1]


def test_an_entry_in_use_outlives_newer_ones(cache_root, table_dir, tmp_path, monkeypatch):
    """A hit refreshes the entry, so a run's own entry is not pushed out by other versions written since."""
    definitions.load_registry(table_dir)
    parsed = _counting(monkeypatch, definitions, "load_yaml")
    for i in range(filecache.KEEP + 2):
        other = tmp_path / f"other{i}"
        other.mkdir()
        (other / "pos_codes.yaml").write_text((table_dir / "pos_codes.yaml").read_text() + f"# version {i}\n")
        definitions.load_registry(other)
        definitions.load_registry(table_dir)
    assert len(parsed) == filecache.KEEP + 2  # the others only: table_dir's entry was read every time
    assert len(list((cache_root / "tables").glob("*.pickle"))) == filecache.KEEP


@pytest.fixture(scope="module")
def tables():
    return sample_tables(complete=True)


def _policies(path: Path, tables):
    columns = table_columns(tables)
    book, _ = cached_rulebook(tables=columns)
    return loader.load_policies([path], book, columns)


def test_policies_are_parsed_once_then_read_from_the_cache(cache_root, tmp_path, tables, monkeypatch):
    path = tmp_path / "acme.yaml"
    path.write_text(POLICY.format(title="Acme"))
    parsed = _counting(monkeypatch, loader, "_load_policies")
    (first,), issues = _policies(path, tables)
    (again,), issues_again = _policies(path, tables)
    assert parsed == [1] and issues == issues_again == []
    assert again == first and again.changes[0].unless == first.changes[0].unless is not None
    assert again.selector.payer_names[0].match("acme health")  # the pattern, compiled again from its text


def test_a_changed_policy_is_parsed_afresh_and_a_planted_entry_never_trusted(cache_root, tmp_path, tables, monkeypatch):
    path = tmp_path / "acme.yaml"
    path.write_text(POLICY.format(title="Acme"))
    _policies(path, tables)
    path.write_text(POLICY.format(title="Acme Health"))
    parsed = _counting(monkeypatch, loader, "_load_policies")
    assert _policies(path, tables)[0][0].title == "Acme Health" and parsed == [1]
    marker = tmp_path / "pwned"
    assert _plant(cache_root / "policies", marker) == 2
    assert _policies(path, tables)[0][0].title == "Acme Health" and parsed == [1, 1]
    assert not marker.exists()


def test_a_warm_start_parses_no_yaml_and_loads_neither_lark_nor_jsonschema(cache_root, tmp_path):
    """In a fresh process, once the caches are warm: building the scrubber (bundled packs, tables and
    policies) reads no YAML file and imports neither lark nor jsonschema."""
    probe = textwrap.dedent(
        """
        import sys
        from claimscrub import yamlio
        from claimscrub.api.scrubber import Scrubber

        def refuse(*args, **kwargs):
            raise AssertionError("YAML parsed on a warm start")

        if sys.argv[1] == "warm":
            yamlio.load_text = refuse
        Scrubber(samples=True, data_dir=sys.argv[2], backend="durable")
        print(sorted(m for m in ("lark", "jsonschema") if m in sys.modules))
        """
    )
    env = {**os.environ, "CLAIMSCRUB_CACHE_DIR": str(cache_root)}

    def run(mode: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", probe, mode, str(tmp_path / "no-data")], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout.strip()

    assert run("cold") == "['jsonschema', 'lark']"  # the first start parses every file
    assert run("warm") == "[]"


CLAIM = {
    "claim_id": "C1",
    "type": "professional",
    "claim_date": "2024-08-20",
    "payer": {"type": "commercial", "name": "Acme Health"},
    "billing_provider": {"npi": "1245319599"},
    "patient": {"id": "P1", "sex": "F", "birth_date": "1960-01-01"},
    "diagnoses": [{"code": "M17.11"}],
    "lines": [
        {"sequence": 1, "code": "20610", "units": 3, "charge": "90.00", "from_date": "2024-08-01"},
        {"sequence": 2, "code": "20610", "units": 6, "charge": "90.00", "from_date": "2024-08-02"},
    ],
}


def test_a_scrubber_built_once_gives_workers_and_copies_the_same_findings(tmp_path, tables):
    """Workers forked from a parent's scrubber (no engine of its own) find what a scrubber built whole finds,
    under a payer policy that changes a rule; a copy's per-claim table routing leaves the parent's alone."""
    path = tmp_path / "acme.yaml"
    path.write_text(POLICY.format(title="Acme"))
    whole = Scrubber(tables=tables, backend="durable", policies=[path])
    parent = Scrubber(tables=tables, backend=None, policies=[path])
    item = InputItem("test", "C1", CLAIM)
    expected = [(f.rule_id, f.line, f.severity) for f in whole.scrub_item(item).findings]
    assert ("CS-MUE-002", 1, "warning") in expected  # the policy's severity; line 2 is its 'unless'

    def found(result):
        return [(f.rule_id, f.line, f.severity) for f in result.findings]

    copy = parent.with_backend("durable")
    assert found(copy.scrub_item(item)) == expected
    assert parent.program.tables is parent._tables_as_named and parent.backend is None
    with WorkerPool(Prebuilt(parent, "durable"), workers=2, chunk_size=1) as pool:
        assert [found(r) for r in pool.scrub([item, item, item])] == [expected] * 3
