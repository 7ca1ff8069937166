"""The compiled-database cache: a second process loads what the first compiled, and a
file that is damaged, foreign or writable by others is never trusted."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from scanner.prefilter import hyperscan_available

pytestmark = pytest.mark.skipif(not hyperscan_available(), reason="the cache holds Hyperscan databases")

KEYWORDS = ["tws_password", "ibpassword", "flexweb"]
GATES = [rb"tws_password[ \t]*=[ \t]*[A-Za-z0-9]{8}"]
TEXT = b"x = 1\nTWS_PASSWORD=Xq7PzL2mWk9R\nflexweb and IbPassword\n"


@pytest.fixture
def cache(user_cache: Path) -> Path:
    return user_cache / "hyperscan"


def build(keywords=KEYWORDS):
    from scanner.prefilter import HyperscanPrefilter

    prefilter = HyperscanPrefilter(keywords, GATES)
    answers = (prefilter.find(TEXT), prefilter.open_gates(TEXT))
    return prefilter, answers


def test_second_process_loads_both_databases_and_answers_the_same(cache: Path) -> None:
    first, answers = build()
    assert first.sources == ["compiled", "compiled"]
    assert len(list(cache.glob("*.db"))) == 2
    second, again = build()
    assert second.sources == ["cache", "cache"]
    assert again == answers
    assert answers[0] == {0: [6], 1: [44], 2: [32]} and answers[1] == frozenset({0})


def test_another_keyword_set_gets_its_own_database(cache: Path) -> None:
    build()
    other, (hits, _) = build(["flexweb"])
    assert other.sources[0] == "compiled"
    assert hits == {0: [32]}


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage-with-valid-trailer", "empty"])
def test_a_damaged_file_is_compiled_again_and_rewritten(cache: Path, damage: str) -> None:
    from scanner.usercache import _checksum

    _, answers = build()
    for path in cache.glob("*.db"):
        data = bytearray(path.read_bytes())
        if damage == "flip":
            data[len(data) // 2] ^= 0xFF
        elif damage == "truncate":
            del data[len(data) // 3:]
        elif damage == "garbage-with-valid-trailer":
            body = os.urandom(4096)
            data = bytearray(body + _checksum(path, body))
        else:
            data = bytearray()
        path.write_bytes(bytes(data))
    rebuilt, again = build()
    assert rebuilt.sources == ["compiled", "compiled"]
    assert again == answers
    assert build()[0].sources == ["cache", "cache"]  # the damaged files were replaced


def test_one_database_in_place_of_another_is_not_loaded(cache: Path) -> None:
    """One valid database of this user linked in place of the other (the keyword database
    as the gate database, say, which would make gated rules skip where they should look)
    is not loaded: the checksum covers the file's key."""
    _, expected = build()
    kept, replaced = sorted(cache.glob("*.db"))
    replaced.unlink()
    replaced.hardlink_to(kept)
    prefilter, answers = build()
    assert sorted(prefilter.sources) == ["cache", "compiled"] and answers == expected


def test_a_file_others_may_write_is_not_trusted(cache: Path) -> None:
    build()
    for path in cache.glob("*.db"):
        path.chmod(0o666)
    assert build()[0].sources == ["compiled", "compiled"]


def test_a_symlink_in_place_of_a_database_is_not_followed(cache: Path, tmp_path: Path) -> None:
    build()
    for path in cache.glob("*.db"):
        target = tmp_path / f"elsewhere-{path.name}"
        path.rename(target)
        path.symlink_to(target)
    assert build()[0].sources == ["compiled", "compiled"]


def test_no_cache_writes_nothing(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROKERSCAN_NO_CACHE", "1")
    assert build()[0].sources == ["compiled", "compiled"]
    assert build()[0].sources == ["compiled", "compiled"]
    assert not cache.exists()


def test_an_unwritable_cache_only_costs_a_compile(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("")
    monkeypatch.setenv("BROKERSCAN_CACHE_DIR", str(blocker))
    prefilter, answers = build()
    assert prefilter.sources == ["compiled", "compiled"] and answers[1] == frozenset({0})


def test_scan_findings_are_the_same_from_a_cached_database(cache: Path) -> None:
    from scanner.models import Blob, Provenance, ScanStats
    from scanner.rules import load_rules
    from scanner.scan import BlobScanner, ScanOptions

    root = Path(__file__).resolve().parents[1] / "fixtures" / "demo"
    blobs = [Blob(p.read_bytes(), Provenance(kind="file", path=str(p.relative_to(root))))
             for p in sorted(root.rglob("*")) if p.is_file()]
    rules = load_rules()
    runs = []
    for _ in range(2):
        scanner = BlobScanner(rules, ScanOptions())
        runs.append((scanner.engine.prefilter.sources[0], scanner.scan_many(blobs, ScanStats())))
    assert [source for source, _ in runs] == ["compiled", "cache"]
    assert runs[0][1] == runs[1][1] and sum(map(len, runs[0][1])) > 10
