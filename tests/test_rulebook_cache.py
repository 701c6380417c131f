"""The cached rulebook: same rules as a fresh load, a new key on any change, and a planted or
broken cache file is never trusted (it is loaded afresh instead)."""

from __future__ import annotations

import os
import pickle

import pytest
from rulepacks import rule_yaml, write_pack

from claimscrub.compile import cache
from claimscrub.compile.rules import load_rulebook


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CLAIMSCRUB_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "rulebooks"


@pytest.fixture
def pack(tmp_path):
    return write_pack(tmp_path / "mini", [rule_yaml("TST-001", '"RT" in line.modifiers')])


def _load(pack):
    return cache.cached_rulebook([pack], None, replace_bundled=True)


def _fresh_loads(monkeypatch) -> list[int]:
    calls: list[int] = []

    def counting(*args, **kwargs):
        calls.append(1)
        return load_rulebook(*args, **kwargs)

    monkeypatch.setattr(cache, "load_rulebook", counting)
    return calls


def test_a_second_load_comes_from_the_cache_with_the_same_rules(cache_dir, pack, monkeypatch):
    calls = _fresh_loads(monkeypatch)
    first, issues = _load(pack)
    again, issues_again = _load(pack)
    assert len(calls) == 1 and len(list(cache_dir.glob("*.pickle"))) == 1
    assert [r.id for r in again.rules] == [r.id for r in first.rules] == ["TST-001"]
    assert again.rules[0].condition == first.rules[0].condition and issues_again == issues
    assert again.rules[0].pack == first.rules[0].pack and again.valuesets.keys() == first.valuesets.keys()


def test_a_changed_rule_file_is_loaded_afresh(cache_dir, pack, monkeypatch):
    calls = _fresh_loads(monkeypatch)
    _load(pack)
    write_pack(pack, [rule_yaml("TST-002", '"LT" in line.modifiers')])
    book, _ = _load(pack)
    assert [r.id for r in book.rules] == ["TST-002"] and len(calls) == 2


def test_other_table_columns_are_another_key(pack):
    assert cache.rulebook_key([pack], None, True) != cache.rulebook_key([pack], {"aoc": {"x": "string"}}, True)
    assert cache.rulebook_key([pack], None, True) != cache.rulebook_key([pack], None, False)


class _Planted:
    """What an attacker would pickle: unpickling it calls os.system."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("content", ["planted", "corrupt", "empty", "other type"])
def test_a_planted_or_broken_cache_file_is_never_trusted(cache_dir, pack, tmp_path, monkeypatch, content):
    marker = tmp_path / "pwned"
    key = cache.rulebook_key([pack], None, True)
    cache_dir.mkdir(parents=True)
    data = {
        "planted": pickle.dumps(_Planted(marker)),
        "corrupt": b"\x80\x05not a pickle",
        "empty": b"",
        "other type": pickle.dumps(({"rules": []}, [])),
    }[content]
    (cache_dir / f"{key}.pickle").write_bytes(data)
    calls = _fresh_loads(monkeypatch)
    book, _ = _load(pack)
    assert not marker.exists()
    assert [r.id for r in book.rules] == ["TST-001"] and calls == [1]
    assert _load(pack)[0].rules[0].id == "TST-001" and calls == [1]  # rewritten: the next load is cached


def test_only_the_newest_rulebooks_are_kept(cache_dir, tmp_path):
    for i in range(cache.KEEP + 3):
        _load(write_pack(tmp_path / f"pack{i}", [rule_yaml(f"TST-{i:03d}", '"RT" in line.modifiers')]))
    assert len(list(cache_dir.glob("*.pickle"))) == cache.KEEP
    assert not list(cache_dir.glob(".rulebook-*"))  # no temporary file left behind


def test_an_unwritable_cache_dir_still_loads(tmp_path, pack, monkeypatch):
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("CLAIMSCRUB_CACHE_DIR", str(tmp_path / "file"))
    assert [r.id for r in _load(pack)[0].rules] == ["TST-001"]
