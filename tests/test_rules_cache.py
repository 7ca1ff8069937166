"""The parsed-rules cache (``scanner.rules``): a speed cache only, so a hit must give exactly the
rules a parse gives, and any problem with it must fall back to parsing, never to wrong rules.

Every test points ``BROKERSCAN_CACHE_DIR`` at its own ``tmp_path`` (conftest points the whole
session at a private folder as well), so nothing here touches the real ``~/.cache``.
"""
from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import scanner.rules as rules_mod
from scanner.rules import FileNegative, Rule, RuleError, bundled_rules_dir, load_rules, rules_cache_dir

ROOT = Path(__file__).resolve().parents[1]


def identity(rule: Rule) -> list[tuple[str, object, str]]:
    """Every field with its value and type; negatives with their path: ``FileNegative("x", p) == "x"``,
    so plain equality would not notice a cache that turned file negatives into strings."""
    out = []
    for f in dataclasses.fields(Rule):
        value = getattr(rule, f.name)
        if f.name == "negatives":
            value = tuple((type(n).__name__, str(n), getattr(n, "path", None)) for n in value)
        out.append((f.name, value, type(value).__name__))
    return out


def parsed(**kwargs) -> list[Rule]:
    """The rules as a fresh TOML parse gives them (the cache bypassed)."""
    previous = os.environ.get("BROKERSCAN_NO_CACHE")
    os.environ["BROKERSCAN_NO_CACHE"] = "1"
    try:
        return load_rules(**kwargs)
    finally:
        if previous is None:
            del os.environ["BROKERSCAN_NO_CACHE"]
        else:
            os.environ["BROKERSCAN_NO_CACHE"] = previous


def assert_same(got: list[Rule], want: list[Rule]) -> None:
    assert [r.id for r in got] == [r.id for r in want]
    for a, b in zip(got, want):
        assert identity(a) == identity(b), a.id
        assert a == b


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("BROKERSCAN_CACHE_DIR", str(directory))
    monkeypatch.delenv("BROKERSCAN_NO_CACHE", raising=False)
    return directory


@pytest.fixture
def no_parsing(monkeypatch: pytest.MonkeyPatch):
    """Call to make any TOML parse of a rule file fail: what loads afterwards came from the cache."""

    def arm() -> None:
        def refuse(path: Path):
            raise AssertionError(f"parsed {path} although the cache should have been used")

        monkeypatch.setattr(rules_mod, "_read_rule_tables", refuse)

    return arm


@pytest.fixture
def pack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shipped pack standing in for it, to edit without touching the checkout."""
    copy = tmp_path / "pack"
    shutil.copytree(bundled_rules_dir(), copy, ignore=shutil.ignore_patterns("*.md"))
    monkeypatch.setattr(rules_mod, "bundled_rules_dir", lambda: copy)
    return copy


def cache_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("rules-*.json")) if directory.is_dir() else []


def test_cache_hit_gives_the_same_rules_as_a_parse_field_by_field(cache_dir, no_parsing):
    want = parsed()
    assert any(isinstance(n, FileNegative) for r in want for n in r.negatives)  # the round trip covers them
    assert any(e.path for r in want for e in r.examples)
    first = load_rules()  # miss: parses and writes the cache
    [cache] = cache_files(cache_dir)
    no_parsing()
    second = load_rules()  # hit
    assert_same(first, want)
    assert_same(second, want)
    head, _, body = cache.read_bytes().partition(b"\n")
    header = json.loads(head)  # JSON, never pickle
    assert header["sha256"] == hashlib.sha256(body).hexdigest()
    assert [name for name, _, _ in header["files"]] == sorted(p.name for p in bundled_rules_dir().glob("*.toml"))


def test_user_rule_files_are_always_parsed_and_checked(cache_dir, write, no_parsing):
    load_rules()
    bad = write("custom.toml", """
[[rules]]
id = "custom-broken"
title = "t"
description = "d"
severity = "high"
keywords = ["zz"]
regex = '(?P<secret>[a-z'
help = "h"
""")
    with pytest.raises(RuleError, match="custom-broken.*does not compile"):
        load_rules([bad])
    no_parsing()  # the pack from the cache; the user file must still be read
    with pytest.raises(AssertionError, match="custom.toml"):
        load_rules([bad])
    assert len(cache_files(cache_dir)) == 1


@pytest.mark.parametrize("same_size", [False, True], ids=["new-size", "same-size-new-mtime"])
def test_editing_a_rule_file_invalidates_the_cache(cache_dir, pack, same_size):
    load_rules()
    target = pack / "ibkr-flex.toml"
    text = target.read_text(encoding="utf-8")
    title = next(r.title for r in load_rules() if r.source.startswith(str(target)))
    new_title = title[:-1] + ("X" if title[-1] != "X" else "Y") if same_size else title + " (edited)"
    before = target.stat()
    target.write_text(text.replace(f'"{title}"', f'"{new_title}"', 1), encoding="utf-8")
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    assert (target.stat().st_size == before.st_size) == same_size
    got = load_rules()
    assert new_title in {r.title for r in got}
    assert_same(got, parsed())


def test_a_rule_file_added_to_the_pack_invalidates_the_cache(cache_dir, pack):
    load_rules()
    shutil.copy(pack / "ibkr-flex.toml", pack / "zz-extra.toml")
    with pytest.raises(RuleError, match="duplicate rule id"):  # parsed, not served stale from the cache
        load_rules()


def test_a_shipped_rule_broken_by_an_edit_is_reported_despite_a_warm_cache(cache_dir, pack):
    load_rules()
    target = pack / "tiingo.toml"
    target.write_text(target.read_text(encoding="utf-8").replace('severity = "', 'severity = "x', 1), encoding="utf-8")
    with pytest.raises(RuleError, match=r"tiingo\.toml:\d+: .*severity must be one of"):
        load_rules()
    with pytest.raises(RuleError):  # and nothing was cached from the broken pack
        load_rules()


def _resigned(data: bytes, body: bytes) -> bytes:
    header = json.loads(data.partition(b"\n")[0])
    header["sha256"] = hashlib.sha256(body).hexdigest()
    return json.dumps(header).encode() + b"\n" + body


def _damage_body(edit):
    """Change the body and re-sign it: a checksummed file whose content has the wrong shape
    (the checksum catches damage; these check that the shape is validated as well)."""

    def damage(data: bytes) -> bytes:
        return _resigned(data, json.dumps(edit(json.loads(data.partition(b"\n")[2]))).encode())

    return damage


def _drop_key(body):
    del body[0][0][1]["severity"]
    return body


def _table_as_list(body):
    body[0][0][1] = list(body[0][0][1].items())
    return body


def _line_as_string(body):
    body[0][0][0] = str(body[0][0][0])
    return body


def _unknown_key(body):
    body[0][0][1]["surprise"] = 1
    return body


CORRUPTIONS = {
    "empty": lambda data: b"",
    "truncated": lambda data: data[: len(data) // 2],
    "garbage": lambda data: b"\x80\x00not json at all\n\xff" * 100,
    "flipped-byte-in-a-regex": lambda data: data.replace(b"(?P<secret>", b"(?P<secreT>", 1),
    "header-not-an-object": lambda data: b"[1, 2]\n" + data.partition(b"\n")[2],
    "no-body": lambda data: data.partition(b"\n")[0],
    "key-of-another-version": lambda data: data.replace(b'"version":"', b'"version":"9', 1),
    "body-not-a-list": _damage_body(lambda body: {"files": body}),
    "a-file-missing": _damage_body(lambda body: body[:-1]),
    "required-key-missing": _damage_body(_drop_key),
    "table-not-a-table": _damage_body(_table_as_list),
    "line-not-a-number": _damage_body(_line_as_string),
    "unknown-key": _damage_body(_unknown_key),
    "nested-too-deep": lambda data: _resigned(data, b"[" * 200_000 + b"]" * 200_000),
    "not-utf8-json": lambda data: _resigned(data, b'[["\xff"]]'),
}


@pytest.mark.parametrize("corrupt", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_a_corrupt_cache_falls_back_to_parsing_and_is_rewritten(cache_dir, no_parsing, corrupt):
    want = parsed()
    load_rules()
    [cache] = cache_files(cache_dir)
    good = cache.read_bytes()
    damaged = corrupt(good)
    assert damaged != good
    cache.write_bytes(damaged)
    assert_same(load_rules(), want)
    assert cache.read_bytes() == good  # rewritten whole
    no_parsing()
    assert_same(load_rules(), want)


def test_an_oversized_cache_file_is_not_read(cache_dir, monkeypatch):
    load_rules()
    [cache] = cache_files(cache_dir)
    monkeypatch.setattr(rules_mod, "_MAX_CACHE_BYTES", 1000)
    opened = []
    real = rules_mod._read_rule_tables
    monkeypatch.setattr(rules_mod, "_read_rule_tables", lambda path: opened.append(path) or real(path))
    assert_same(load_rules(), parsed())
    assert opened  # parsed, not read from the too-large file


def test_unwritable_cache_dir_still_loads(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("BROKERSCAN_CACHE_DIR", str(blocker / "cache"))  # mkdir fails, even as root
    assert_same(load_rules(), parsed())
    assert blocker.read_text() == "not a directory"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only directories")
def test_read_only_cache_dir_still_loads(cache_dir):
    cache_dir.mkdir()
    cache_dir.chmod(0o500)
    try:
        assert_same(load_rules(), parsed())
        assert not list(cache_dir.iterdir())
    finally:
        cache_dir.chmod(0o700)


@pytest.mark.parametrize("code", [errno.EACCES, errno.EROFS], ids=["permission-denied", "read-only-filesystem"])
def test_a_home_that_refuses_the_cache_dir_still_loads(cache_dir, monkeypatch, code):
    """What a read-only home gives a non-root user (the test suite may run as root, which writes anyway)."""
    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(rules_mod.os, "makedirs", refuse)
    assert_same(load_rules(), parsed())
    assert not cache_dir.exists()


def test_disk_full_while_writing_leaves_no_temporary_file(cache_dir, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(rules_mod.os, "replace", full)
    assert_same(load_rules(), parsed())
    assert list(cache_dir.iterdir()) == []


def test_a_pack_json_cannot_hold_is_loaded_and_not_cached(cache_dir, pack):
    # TOML dates have no JSON form; ``str(text)`` makes this example legal, so only the cache must cope.
    target = pack / "tiingo.toml"
    text = target.read_text(encoding="utf-8")
    target.write_text(text + """
[[rules]]
id = "dated-example"
title = "t"
description = "d"
severity = "low"
keywords = ["1979"]
regex = '(?P<secret>1979-05-27)'
help = "h"
examples = [{ text = 1979-05-27, secret = "1979-05-27" }]
negatives = ["x"]
""", encoding="utf-8")
    got = load_rules()
    assert "dated-example" in {r.id for r in got}
    assert_same(got, parsed())
    assert cache_files(cache_dir) == []


@pytest.mark.parametrize("env", [{"BROKERSCAN_CACHE_DIR": ""}, {"BROKERSCAN_NO_CACHE": "1"}],
                         ids=["empty-cache-dir", "no-cache"])
def test_disabled_by_environment(tmp_path, monkeypatch, env):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("BROKERSCAN_CACHE_DIR", str(tmp_path / "cache"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert rules_cache_dir() is None
    assert_same(load_rules(), parsed())
    assert not any(tmp_path.iterdir())


def test_cache_dir_resolution(tmp_path, monkeypatch):
    monkeypatch.delenv("BROKERSCAN_NO_CACHE", raising=False)
    monkeypatch.delenv("BROKERSCAN_CACHE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert rules_cache_dir() == tmp_path / "xdg" / "brokerscan"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # the XDG spec: only absolute paths count
    assert rules_cache_dir() == tmp_path / "home" / ".cache" / "brokerscan"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert rules_cache_dir() == tmp_path / "home" / ".cache" / "brokerscan"
    monkeypatch.setenv("BROKERSCAN_NO_CACHE", "0")
    monkeypatch.setenv("BROKERSCAN_CACHE_DIR", str(tmp_path / "mine"))
    assert rules_cache_dir() == tmp_path / "mine"


def test_two_installs_keep_separate_caches(cache_dir, pack, monkeypatch):
    load_rules()
    other = pack.parent / "other-install"
    shutil.copytree(pack, other)
    monkeypatch.setattr(rules_mod, "bundled_rules_dir", lambda: other)
    got = load_rules()
    assert all(r.source.startswith(str(other)) for r in got)  # sources name this install's files
    assert len(cache_files(cache_dir)) == 2


def test_a_warm_cache_loads_without_tomllib(cache_dir):
    """The point of the cache: a pre-commit run neither imports ``tomllib`` nor parses TOML."""
    code = ("import sys; from scanner.rules import load_rules; rules = load_rules(); "
            "print(len(rules), 'tomllib' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    second = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    count = str(len(parsed()))
    assert first.stdout.split() == [count, "True"]
    assert second.stdout.split() == [count, "False"]
