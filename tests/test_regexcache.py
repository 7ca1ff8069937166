"""Compiled regexes replayed from the per-user cache match exactly as freshly compiled
ones, and a file that is damaged, foreign or for another pattern is never used."""
from __future__ import annotations

import marshal
from pathlib import Path

import pytest
import regex

from scanner.regexcache import compile_with_source
from scanner.rules import load_rules
from scanner.usercache import _TRAILER, _checksum

PATTERN = rb"(?i)(?<![a-z0-9_])tws_password[ \t]*=[ \t]*(?P<secret>[A-Za-z0-9]{8,})"
TEXT = b"x=1\nTWS_PASSWORD = Xq7PzL2mWk9R\ntws_password=short\n"


@pytest.fixture
def cache(user_cache: Path) -> Path:
    return user_cache / "regex"


def matches(pattern: regex.Pattern, text: bytes | str) -> list:
    return [(m.span(), m.groupdict()) for m in pattern.finditer(text)]


def test_every_shipped_pattern_replays_and_matches_as_compiled(cache: Path) -> None:
    """Also the tripwire for a ``regex`` release that changes the private call the cache
    replays: the second round would then say "compiled" (and still be correct)."""
    rules = load_rules()
    patterns = [(rule.regex.encode(), rule) for rule in rules if rule.detector == "regex"]
    patterns += [(allow, rule) for rule in rules for allow in rule.allow]
    patterns = list({source: (source, rule) for source, rule in patterns}.values())  # rules share allow lists
    assert len(patterns) > 60
    for source, rule in patterns:
        assert compile_with_source(source)[1] == "compiled"
    for source, rule in patterns:
        replayed, where = compile_with_source(source)
        fresh = regex.compile(source)
        assert where == "cache", rule.id
        assert (replayed.pattern, replayed.flags, replayed.groupindex) == (fresh.pattern, fresh.flags, fresh.groupindex)
        texts = [example.text for example in rule.examples] + list(rule.negatives)
        if isinstance(source, bytes):
            texts = [text.encode() for text in texts]
        else:
            texts = [example.secret for example in rule.examples] + texts
        for text in texts:
            assert matches(replayed, text) == matches(fresh, text), (rule.id, text)


def test_flags_and_text_kind_are_part_of_the_key(cache: Path) -> None:
    compile_with_source(PATTERN)
    caseful, where = compile_with_source(PATTERN.replace(b"(?i)", b""))
    assert where == "compiled" and caseful.search(TEXT) is None
    as_str, where = compile_with_source(PATTERN.decode())
    assert where == "compiled" and as_str.search(TEXT.decode())["secret"] == "Xq7PzL2mWk9R"
    ignore, where = compile_with_source("tws", regex.IGNORECASE)
    assert where == "compiled" and compile_with_source("tws")[1] == "compiled"
    assert compile_with_source("tws", regex.IGNORECASE)[0].search("TWS")


def damage_all(cache: Path, how) -> None:
    for path in cache.glob("*.re"):
        path.write_bytes(how(path, path.read_bytes()))


def stored(path: Path, body: bytes) -> bytes:
    """``body`` as the cache writes it at ``path``: with a valid trailer."""
    return body + _checksum(path, body)


@pytest.mark.parametrize("how", [
    pytest.param(lambda path, data: data[:len(data) // 2], id="truncated"),
    pytest.param(lambda path, data: data[:10] + bytes([data[10] ^ 0xFF]) + data[11:], id="flipped"),
    pytest.param(lambda path, data: stored(path, b"not marshal data"), id="garbage-with-valid-trailer"),
    pytest.param(lambda path, data: stored(path, marshal.dumps((PATTERN, 0, [1, 2, 3]))),
                 id="a-call-the-extension-refuses"),
    pytest.param(lambda path, data: stored(path, marshal.dumps((b"other", *marshal.loads(data[:-_TRAILER])[1:]))),
                 id="another-pattern's-program"),
])
def test_an_unusable_file_is_compiled_again_and_rewritten(cache: Path, how) -> None:
    expected = matches(compile_with_source(PATTERN)[0], TEXT)
    damage_all(cache, how)
    again, where = compile_with_source(PATTERN)
    assert where == "compiled" and matches(again, TEXT) == expected
    assert compile_with_source(PATTERN)[1] == "cache"


def test_a_valid_file_under_another_key_is_not_replayed(cache: Path) -> None:
    """A file linked or copied under another key fails its checksum (the name is part of it)."""
    compile_with_source(PATTERN)
    compile_with_source(b"unrelated")
    mine, other = sorted(cache.glob("*.re"), key=lambda p: b"unrelated" in p.read_bytes())
    mine.unlink()
    mine.hardlink_to(other)
    again, where = compile_with_source(PATTERN)
    assert where == "compiled" and again.search(TEXT)


def test_a_file_others_may_write_is_not_replayed(cache: Path) -> None:
    compile_with_source(PATTERN)
    for path in cache.glob("*.re"):
        path.chmod(0o664)
    assert compile_with_source(PATTERN)[1] == "compiled"


def test_no_cache_writes_nothing(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROKERSCAN_NO_CACHE", "1")
    assert compile_with_source(PATTERN)[1] == "compiled"
    assert compile_with_source(PATTERN)[1] == "compiled"
    assert not cache.exists()


def test_a_regex_without_the_private_call_still_compiles(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from scanner import regexcache

    layout = SimpleNamespace(compile=regex.compile, __version__=regex.__version__, Pattern=regex.Pattern)
    monkeypatch.setattr(regexcache, "regex", layout)  # a release without regex._main._regex
    pattern, where = compile_with_source(PATTERN)
    assert where == "compiled" and pattern.search(TEXT)["secret"] == b"Xq7PzL2mWk9R"
    assert not cache.exists()


def test_recording_leaves_regex_as_it_was(cache: Path) -> None:
    real = regex._main._regex
    compile_with_source(PATTERN)
    assert regex._main._regex is real
    with pytest.raises(regex.error):
        compile_with_source(rb"(unclosed")
    assert regex._main._regex is real


def test_scan_findings_are_the_same_from_replayed_patterns(cache: Path) -> None:
    from scanner.models import Blob, Provenance, ScanStats
    from scanner.scan import BlobScanner, ScanOptions

    root = Path(__file__).resolve().parents[1] / "fixtures" / "demo"
    blobs = [Blob(p.read_bytes(), Provenance(kind="file", path=str(p.relative_to(root))))
             for p in sorted(root.rglob("*")) if p.is_file()]
    rules = load_rules()
    runs = [BlobScanner(rules, ScanOptions()).scan_many(blobs, ScanStats()) for _ in range(2)]
    assert len(list(cache.glob("*.re"))) >= 10
    assert runs[0] == runs[1] and sum(map(len, runs[0])) > 10



def test_the_modules_patterns_replay_and_match_as_compiled(cache: Path) -> None:
    """The scanner's own module-level patterns (filters, the AST's value and name checks, the
    line readers ...) go through the same cache at import; replayed, each must match as a
    fresh compile does, on every line of the demo fixtures."""
    import importlib

    modules = ["scanner.filters", "scanner.encoded", "scanner.notebooks", "scanner.suppress", "scanner.ast.lines",
               "scanner.ast.values", "scanner.ast.names", "scanner.ast.tree", "scanner.ast.detector"]
    found: list[regex.Pattern] = []
    for name in modules:
        for value in vars(importlib.import_module(name)).values():
            for item in value.values() if isinstance(value, dict) else [value]:
                if isinstance(item, regex.Pattern):
                    found.append(item)
    assert len(found) >= 25
    demo = Path(__file__).resolve().parents[1] / "fixtures" / "demo"
    lines = [line for path in sorted(demo.rglob("*")) if path.is_file() for line in path.read_bytes().splitlines()]
    assert len(lines) > 100
    for pattern in found:
        assert compile_with_source(pattern.pattern, pattern.flags)[1] == "compiled"
        replayed, where = compile_with_source(pattern.pattern, pattern.flags)
        fresh = regex.compile(pattern.pattern, pattern.flags)
        assert where == "cache" and replayed.groupindex == fresh.groupindex
        texts = lines if isinstance(pattern.pattern, bytes) else [line.decode("latin-1") for line in lines]
        for text in texts:
            assert matches(replayed, text) == matches(fresh, text), (pattern.pattern, text)
