"""``brokerscan git --cache DIR``: warm runs read only new blobs, never serve stale results, store no secrets."""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from conftest import ROOT
from gitrepo import (
    DESK_1,
    DESK_2,
    FLEX_1,
    FLEX_2,
    FLEX_3,
    RULES,
    TOTP,
    TWS_PW,
    Repo,
    flex,
    repo,  # noqa: F401 (a fixture)
    test_findings,
)
from gitrepo import scan as _scan
from gitrepo import scan_json as _scan_json

CACHE_NOTES = ("cache", "objects from cache", "objects added to cache")
_FROZEN: dict[str, str] = {}


@pytest.fixture(scope="module", autouse=True)
def frozen_package(tmp_path_factory):
    """Run a copy of the package taken now. The cache key includes a digest of the package's
    source (an edited checkout must not reuse results), so an edit to scanner/*.py while these
    tests run would otherwise turn an expected warm run cold."""
    dest = tmp_path_factory.mktemp("frozen")
    shutil.copytree(ROOT / "scanner", dest / "scanner", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "rules", dest / "rules")
    _FROZEN["PYTHONPATH"] = str(dest)
    yield
    _FROZEN.clear()


@pytest.fixture
def fixed_code_digest(monkeypatch):
    """In-process tests: the same key from one ``cache_key`` call to the next (see above)."""
    from scanner import gitcache

    monkeypatch.setattr(gitcache, "code_digest", lambda: "test")


def scan(*args: str, **kw):
    return _scan(*args, env=_FROZEN, **kw)


def scan_json(*args: str, **kw) -> dict:
    return _scan_json(*args, env=_FROZEN, **kw)


def clean_files(count: int = 12) -> dict[str | bytes, str | bytes | None]:
    return {f"src/mod{n:02}.py": f"def f{n}():\n    return {n}\n" for n in range(count)}


def cached(target: Repo, cache: Path, *args: str, keep_findings: bool = False, **kw) -> dict:
    """A ``--cache`` run. Unless ``keep_findings``, the findings kept by the last run
    (``gitsnapshot``) are deleted first, so the run uses the blob layer alone, as a run
    after a rewritten history does: the layer these tests are about."""
    if not keep_findings and cache.is_dir():
        for kept in cache.glob("*.bssnap"):
            kept.unlink()
    return scan_json("git", str(target.path), "--cache", str(cache), *args, **kw)


def cache_files(cache: Path) -> list[Path]:
    return sorted(p for p in cache.iterdir() if p.suffix == ".bscache")


def scanned(report: dict) -> int:
    return report["summary"]["files_scanned"]


def notes(report: dict) -> dict[str, int]:
    return report["summary"]["notes"]


def without_cache_notes(summary_notes: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in summary_notes.items() if not k.startswith(CACHE_NOTES)}


def from_cache(report: dict) -> int:
    return notes(report).get("objects from cache: clean, not read again", 0)


# --- warm runs ---------------------------------------------------------------------------

def test_warm_run_on_unchanged_repo_scans_nothing(repo, tmp_path):
    repo.commit("one", clean_files())
    repo.commit("two", {"src/mod03.py": "def f3():\n    return 33\n", "README.md": "# hello\n"})
    plain = scan_json("git", str(repo.path))
    cold = cached(repo, tmp_path / "cache")
    warm = cached(repo, tmp_path / "cache")
    total = scanned(plain)
    assert total == 14
    assert scanned(cold) == total and notes(cold)["objects added to cache"] == total
    assert scanned(warm) == 0 and warm["summary"]["bytes_scanned"] == 0
    assert from_cache(warm) == total
    assert "objects added to cache" not in notes(warm)
    assert plain["findings"] == cold["findings"] == warm["findings"] == []
    assert without_cache_notes(notes(warm)) == without_cache_notes(notes(plain))


def test_warm_run_gives_identical_findings_and_rescans_only_blobs_with_findings(repo, tmp_path):
    repo.commit("start", {**clean_files(), "image.bin": b"\x00\x01" * 50, "big.txt": "y" * 5000 + "\n"})
    intro = repo.commit("leak", {"config.env": flex(FLEX_1), "ib.ini": f"IbPassword={TWS_PW}\n"})
    repo.commit("more", {"src/mod01.py": "x = 1\n", "config.env": "a = 1\n" + flex(FLEX_1)})
    args = ("--max-file-size", "4k")
    plain = scan_json("git", str(repo.path), *args)
    cold = cached(repo, tmp_path / "c", *args)
    warm = cached(repo, tmp_path / "c", *args)
    assert plain["findings"] == cold["findings"] == warm["findings"]
    assert {f["secret"] for f in test_findings(warm)} == {FLEX_1, TWS_PW}
    assert {f["source"]["commit"] for f in test_findings(warm) if f["secret"] == TWS_PW} == {intro}
    assert scanned(warm) == 3  # both versions of config.env (one is reported, both hold the secret) and ib.ini
    # skips are not lost: the same counts and examples as the uncached run, and said to come from cache
    assert warm["summary"]["skipped"] == plain["summary"]["skipped"] == {"binary": 1, "too-large": 1}
    assert notes(warm)["objects from cache: skipped again (counted in skipped)"] == 2
    assert scanned(warm) + from_cache(warm) == scanned(plain)
    assert without_cache_notes(notes(warm)) == without_cache_notes(notes(plain))
    verbose = scan_json("git", str(repo.path), "--cache", str(tmp_path / "c"), "--verbose", *args)
    plain_verbose = scan_json("git", str(repo.path), "--verbose", *args)
    assert verbose["summary"]["skipped_paths"] == plain_verbose["summary"]["skipped_paths"]


def test_findings_of_a_cached_run_show_the_secret_when_asked_and_only_then(repo, tmp_path):
    repo.commit("leak", {**clean_files(4), "k.env": flex(FLEX_2), "desk.py": f"desk = '{DESK_1}'\n"})
    cached(repo, tmp_path / "c")
    warm = cached(repo, tmp_path / "c")  # scan_json passes --show-secrets
    assert sorted(f["secret"] for f in test_findings(warm)) == sorted([FLEX_2, DESK_1])
    text = scan("git", str(repo.path), "--cache", str(tmp_path / "c"))
    assert text.returncode == 1
    assert FLEX_2.encode() not in text.stdout and DESK_1.encode() not in text.stdout
    assert b"history unchanged since the cached scan" in text.stdout  # the findings came from the cache
    shown = scan("git", str(repo.path), "--cache", str(tmp_path / "c"), "--show-secrets")
    assert FLEX_2.encode() in shown.stdout and DESK_1.encode() in shown.stdout


def test_new_commit_scans_only_its_new_blobs(repo, tmp_path):
    repo.commit("one", clean_files())
    cached(repo, tmp_path / "c")
    new = repo.commit("two", {"src/mod05.py": "def f5():\n    return 55\n", "new.env": flex(FLEX_3)})
    warm = cached(repo, tmp_path / "c")
    assert scanned(warm) == 2 and from_cache(warm) == 12
    assert notes(warm)["objects added to cache"] == 1  # the clean one; new.env has a finding
    [finding] = test_findings(warm)
    assert finding["secret"] == FLEX_3 and finding["source"]["commit"] == new
    again = cached(repo, tmp_path / "c")
    assert scanned(again) == 1 and again["findings"] == warm["findings"]


def test_blobs_are_filtered_out_before_they_are_read_from_git(repo, tmp_path, monkeypatch, fixed_code_digest):
    from scanner import gitscan
    from scanner.gitcache import HistoryCache
    from scanner.rules import load_rules
    from scanner.scan import ScanOptions
    from scanner.sources.git import Scope, open_repository

    repo.commit("one", {**clean_files(), "k.env": flex(FLEX_1)})
    asked: list[bytes] = []

    class Spy(gitscan.ObjectReader):
        def read(self, refs, max_size, **kw):
            refs = list(refs)
            asked.extend(r.path for r in refs)
            return super().read(refs, max_size, **kw)

    monkeypatch.setattr(gitscan, "ObjectReader", Spy)
    rules, options = load_rules([Path(RULES)]), ScanOptions(jobs=1)
    git_repo = open_repository(str(repo.path))
    for _ in range(2):
        asked.clear()
        for kept in (tmp_path / "c").glob("*.bssnap"):  # the blob layer alone (see ``cached``)
            kept.unlink()
        cache = HistoryCache.open(tmp_path / "c", rules, options)
        findings, stats = gitscan.scan_history(git_repo, Scope(), rules, options, cache)
        assert [f.secret for f in findings if f.rule_id.startswith("test-")] == [FLEX_1]
    assert asked == [b"k.env"]  # the warm run read only the blob with a finding (not even the tree src/)
    assert stats.files_scanned == 1 and stats.notes["objects from cache: clean, not read again"] == 12


def test_a_blob_whose_scan_failed_is_neither_cached_nor_kept(repo, tmp_path, monkeypatch, fixed_code_digest):
    """A scanner bug on one blob: counted, and the next run (bug fixed) scans that blob again."""
    from scanner import gitscan
    from scanner.gitcache import HistoryCache
    from scanner.rules import load_rules
    from scanner.scan import BlobScanner, ScanOptions
    from scanner.sources.git import Scope, open_repository

    repo.commit("one", {**clean_files(3), "k.env": flex(FLEX_1)})
    rules, options = load_rules([Path(RULES)]), ScanOptions(jobs=1)
    git_repo = open_repository(str(repo.path))
    working = BlobScanner._scan_prepared

    def broken(self, blob, *args, **kw):
        if blob.provenance.path == "k.env":
            raise RuntimeError("a scanner bug")
        return working(self, blob, *args, **kw)

    monkeypatch.setattr(BlobScanner, "_scan_prepared", broken)
    findings, stats = gitscan.scan_history(git_repo, Scope(), rules, options,
                                           HistoryCache.open(tmp_path / "c", rules, options))
    assert stats.skipped == {"internal-error-RuntimeError": 1}
    assert not [f for f in findings if f.rule_id.startswith("test-")]
    assert list((tmp_path / "c").glob("*.bssnap")) == []  # an incomplete run keeps no findings
    monkeypatch.setattr(BlobScanner, "_scan_prepared", working)
    findings, stats = gitscan.scan_history(git_repo, Scope(), rules, options,
                                           HistoryCache.open(tmp_path / "c", rules, options))
    assert [f.secret for f in findings if f.rule_id.startswith("test-")] == [FLEX_1]
    assert stats.files_scanned == 1 and stats.notes["objects from cache: clean, not read again"] == 3


def test_process_pool_path_fills_and_uses_the_cache(repo, tmp_path):
    files = {f"pkg/mod{n:03}.py": f"value_{n} = {n}\n" * (n % 5 + 1) for n in range(450)}
    files["pkg/mod123.py"] = flex(FLEX_1)
    files["pkg/mod321.py"] = f"IBEAM_PYOTP_SECRET={TOTP}\n"
    repo.commit("many", files)
    plain = scan_json("git", str(repo.path), "-j", "2")
    cold = cached(repo, tmp_path / "c", "-j", "2")
    assert notes(cold)["objects added to cache"] == 448
    warm = cached(repo, tmp_path / "c", "-j", "2")
    assert plain["findings"] == cold["findings"] == warm["findings"]
    assert len(test_findings(warm)) == 2
    assert scanned(warm) == 2 and from_cache(warm) == 448
    repo.commit("more", {f"pkg/new{n:03}.py": f"n = {n}\n" for n in range(500)})
    grown = cached(repo, tmp_path / "c", "-j", "2")  # 502 misses: the pool again
    assert scanned(grown) == 502 and from_cache(grown) == 448


def test_unreachable_blobs_are_cached_too(repo, tmp_path):
    repo.commit("one", clean_files(3))
    repo.git("hash-object", "-w", "--stdin", input=b"just some dangling text\n")
    cold = cached(repo, tmp_path / "c", "--all-objects")
    warm = cached(repo, tmp_path / "c", "--all-objects")
    assert scanned(cold) == 4 and scanned(warm) == 0 and from_cache(warm) == 4


# --- invalidation ------------------------------------------------------------------------

def test_rule_change_invalidates_the_cache(repo, tmp_path):
    repo.commit("one", {**clean_files(3), "notes.txt": "ticket = QX-4471-ALPHA-9931\n"})
    rule = tmp_path / "custom.toml"
    cold = cached(repo, tmp_path / "c")
    assert scanned(cached(repo, tmp_path / "c")) == 0
    rule.write_text(_ticket_rule(r"QX-[0-9]{4}-[A-Z]+-[0-9]{4}"))
    added = cached(repo, tmp_path / "c", "--rules", str(rule))
    assert scanned(added) == scanned(cold) == 4
    assert [f["secret"] for f in added["findings"] if f["rule_id"] == "custom-ticket"] == ["QX-4471-ALPHA-9931"]
    # same file name, another pattern: the rule's content is in the key, not its path
    rule.write_text(_ticket_rule(r"QX-[0-9]{4}-NOPE-[0-9]{4}"))
    changed = cached(repo, tmp_path / "c", "--rules", str(rule))
    assert scanned(changed) == 4 and not [f for f in changed["findings"] if f["rule_id"] == "custom-ticket"]
    assert scanned(cached(repo, tmp_path / "c", "--rules", str(rule))) == 0
    assert scanned(cached(repo, tmp_path / "c", "--disable-rule", "test-desk-key")) == 4


def _ticket_rule(pattern: str) -> str:
    return f"""[[rules]]
id = "custom-ticket"
title = "Ticket"
description = "A test rule."
severity = "medium"
keywords = ["qx-"]
regex = '''(?P<secret>{pattern})'''
help = "None."
"""


CONFIG_VARIANTS = {
    "min-confidence": (["--min-confidence", "0.95"], None),
    "max-file-size": (["--max-file-size", "2k"], None),
    "allowlist": ([], f'allow_secrets = ["^{FLEX_1}$"]\n'),
    "stopwords": ([], 'stopwords = ["18364"]\n'),
}


@pytest.mark.parametrize("variant", sorted(CONFIG_VARIANTS))
def test_detection_options_invalidate_the_cache(repo, tmp_path, variant):
    args, config = CONFIG_VARIANTS[variant]
    repo.commit("one", {**clean_files(3), "k.env": flex(FLEX_1), "big.txt": "z" * 3000 + "\n"})
    base = tmp_path / "base.toml"
    base.write_text("")
    first = cached(repo, tmp_path / "c", "--config", str(base))
    assert scanned(cached(repo, tmp_path / "c", "--config", str(base))) == 1
    other = tmp_path / "other.toml"
    other.write_text(config or "")
    changed = cached(repo, tmp_path / "c", "--config", str(other), *args)
    plain = scan_json("git", str(repo.path), "--config", str(other), *args)
    assert "cache: nothing cached yet for these rules and options" in notes(changed)
    assert changed["findings"] == plain["findings"]
    assert changed["summary"]["skipped"] == plain["summary"]["skipped"]
    assert scanned(changed) == scanned(plain)
    assert scanned(cached(repo, tmp_path / "c", "--config", str(base))) == 1  # the first key is still there
    # each variant really changes the result, so a stale cache would have shown
    assert (first["findings"], first["summary"]["skipped"]) != (plain["findings"], plain["summary"]["skipped"])


def test_excludes_and_severity_overrides_share_the_cache(repo, tmp_path):
    repo.commit("one", {**clean_files(3), "docs/a.md": "hello\n", "k.env": flex(FLEX_1)})
    cached(repo, tmp_path / "c")
    config = tmp_path / "cfg.toml"
    config.write_text('exclude = ["docs/**"]\n[severity]\ntest-ibkr-flex-token = "low"\n')
    warm = cached(repo, tmp_path / "c", "--config", str(config))
    assert scanned(warm) == 1 and from_cache(warm) == 3
    [finding] = test_findings(warm)
    assert finding["severity"] == "low"
    assert len(cache_files(tmp_path / "c")) == 1


def test_same_blob_under_another_path_is_scanned_again(repo, tmp_path):
    """A path-scoped rule: the blob was clean as notes.txt, it is not as settings.cfg."""
    rule = tmp_path / "scoped.toml"
    rule.write_text(_ticket_rule(r"QX-[0-9]{4}-[A-Z]+-[0-9]{4}").replace('help = "None."',
                                                                         'help = "None."\npaths = ["*.cfg"]'))
    repo.commit("one", {"notes.txt": "ticket = QX-4471-ALPHA-9931\n"})
    cold = cached(repo, tmp_path / "c", "--rules", str(rule))
    assert cold["findings"] == [] and notes(cold)["objects added to cache"] == 1
    repo.commit("move", {"notes.txt": None, "settings.cfg": "ticket = QX-4471-ALPHA-9931\n"})
    moved = cached(repo, tmp_path / "c", "--rules", str(rule))
    assert scanned(moved) == 1
    assert [f["path"] for f in moved["findings"] if f["rule_id"] == "custom-ticket"] == ["settings.cfg"]


# --- robustness and safety ---------------------------------------------------------------

DAMAGE = {
    "truncated": lambda data: data[: len(data) // 2],
    "flipped-byte": lambda data: data[:40] + bytes([data[40] ^ 0xFF]) + data[41:],
    "garbage": lambda data: b"not a cache at all" * 10,
    "empty": lambda data: b"",
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_corrupt_cache_file_is_noted_and_the_scan_is_complete(repo, tmp_path, damage):
    repo.commit("one", {**clean_files(5), "k.env": flex(FLEX_1)})
    plain = scan_json("git", str(repo.path))
    cached(repo, tmp_path / "c")
    [file] = cache_files(tmp_path / "c")
    file.write_bytes(DAMAGE[damage](file.read_bytes()))
    hurt = cached(repo, tmp_path / "c")
    assert any(n.startswith("cache file unusable, scanned without it") for n in notes(hurt)), notes(hurt)
    assert hurt["findings"] == plain["findings"] and scanned(hurt) == scanned(plain)
    healed = cached(repo, tmp_path / "c")  # the bad file was replaced by a good one
    assert scanned(healed) == 1 and healed["findings"] == plain["findings"]


def test_unwritable_cache_file_is_noted_not_fatal(repo, tmp_path):
    repo.commit("one", {**clean_files(3), "k.env": flex(FLEX_1)})
    cached(repo, tmp_path / "c")
    [file] = cache_files(tmp_path / "c")
    file.unlink()
    file.mkdir()  # a directory where the file should be: it can be neither read nor replaced
    report = cached(repo, tmp_path / "c")
    assert [f["secret"] for f in test_findings(report)] == [FLEX_1]
    assert any(n.startswith("cache file unusable") for n in notes(report))
    assert any(n.startswith("cache not written") for n in notes(report))


def test_cache_directory_is_created_and_a_file_in_its_place_is_a_usage_error(repo, tmp_path):
    repo.commit("one", clean_files(2))
    deep = tmp_path / "a" / "b" / "cache"
    cached(repo, deep)
    assert len(cache_files(deep)) == 1
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = scan("git", str(repo.path), "--cache", str(blocker))
    assert result.returncode == 2 and b"--cache" in result.stderr and b"Traceback" not in result.stderr


def test_no_secret_value_is_written_to_the_cache(repo, tmp_path):
    secrets = [FLEX_1, FLEX_2, TWS_PW, TOTP, DESK_1, DESK_2]
    repo.commit("leaks", {**clean_files(3), "a.env": flex(FLEX_1), "ib.ini": f"IbPassword={TWS_PW}\n",
                          "otp.env": f"IBEAM_PYOTP_SECRET={TOTP}\n", "desk.py": f"desk = '{DESK_1}'\n",
                          # clean blobs that hold a secret: suppressed inline, allowlisted, below the bar
                          "ignored.env": flex(FLEX_2).rstrip() + "  # brokerscan:ignore\n",
                          "allowed.py": f"desk = '{DESK_2}'\n"})
    config = tmp_path / "cfg.toml"
    config.write_text(f'allow_secrets = ["^{DESK_2}$"]\n')
    for _ in range(2):
        report = cached(repo, tmp_path / "c", "--config", str(config))
    assert {f["secret"] for f in test_findings(report)} == {FLEX_1, TWS_PW, TOTP, DESK_1}
    # 3 clean + 1 suppressed inline + allowed.py (its allowlisted match judged as it was scanned)
    assert notes(report)["objects from cache: clean, not read again"] == 5
    blobs = b"".join(p.read_bytes() for p in cache_files(tmp_path / "c"))
    for secret in secrets:
        assert secret.encode() not in blobs
        assert secret.encode("utf-16-le") not in blobs
        assert secret.encode().hex().encode() not in blobs
    assert b"IbPassword" not in blobs and b".env" not in blobs  # no line text, no paths either
    # (the kept findings name paths, never text: tests/test_git_snapshot.py)


def test_old_namespaces_are_pruned(repo, tmp_path):
    repo.commit("one", clean_files(2))
    for n in range(6):
        cached(repo, tmp_path / "c", "--min-confidence", f"0.{n + 1}")
        files = cache_files(tmp_path / "c")
        for age, path in enumerate(reversed(files)):
            os.utime(path, (time.time() - 10 * (age + 1), time.time() - 10 * (age + 1)))
    assert len(cache_files(tmp_path / "c")) == 4


# --- the file format ---------------------------------------------------------------------

def test_load_and_lookup_of_100k_entries_is_fast(tmp_path):
    from scanner.gitcache import HistoryCache, Outcome, parse, serialize
    from scanner.models import ScanStats
    from scanner.sources.git import ObjectRef

    key = "ab" * 32
    refs = [ObjectRef(f"{n:040x}", f"src/pkg{n % 700}/file{n % 3000}.py".encode()) for n in range(100_000)]
    writer = HistoryCache(tmp_path, key)
    outcomes = [Outcome(None, False, ()), Outcome(None, False, (("ast: files parsed", 1),)),
                Outcome("binary", False, ())]
    writer.add((ref, outcomes[n % 3]) for n, ref in enumerate(refs))
    writer.save(ScanStats())
    assert writer.path.stat().st_size < 3_100_000
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        reader = HistoryCache(tmp_path, key)
        reader.load(ScanStats())
        missed = sum(1 for _ in reader.misses(refs, lambda ref, outcome: None))
        best = min(best, time.perf_counter() - started)
    assert missed == 0 and sum(n for _, n in reader.served()) == 100_000
    assert reader.lookup(ObjectRef("f" * 40, b"src/pkg1/file1.py")) is None
    assert reader.lookup(ObjectRef(refs[5].sha, b"elsewhere.py")) is None  # another path: a miss
    assert reader.lookup(refs[5]) == outcomes[2]
    print(f"load + 100k lookups: {best * 1000:.0f} ms")
    assert best < 0.5  # 0.12-0.14 s on the busy 2-vCPU VM this was written on; generous for slow CI
    rows, table = parse(writer.path.read_bytes(), key)
    assert len(rows) == 100_000 and table == outcomes
    assert serialize(key, rows, table) == writer.path.read_bytes()


def test_key_covers_rule_and_option_fields_by_exclusion(fixed_code_digest):
    """A field added to Rule or ScanOptions later is in the key unless someone decides otherwise."""
    import dataclasses

    from scanner.gitcache import cache_key
    from scanner.rules import load_rules
    from scanner.scan import ScanOptions

    rules = load_rules([Path(RULES)])
    base = cache_key(rules, ScanOptions())
    assert cache_key(rules, ScanOptions(jobs=3, progress=True, excludes=("x/**",),
                                        severity_overrides=(("test-desk-key", "low"),))) == base
    for change in ({"min_confidence": 0.5}, {"max_file_size": 1024}, {"allow_secrets": ("abc",)},
                   {"stopwords": ("abc",)}, {"backend": "pure"}):
        assert cache_key(rules, ScanOptions(**change)) != base, change
    first = rules[0]
    for change in ({"regex": first.regex + "x"}, {"keywords": first.keywords + ("zz",)},
                   {"entropy_min": 1.0}, {"paths": ("*.cfg",)}, {"allow": ("x",)}, {"confidence": 0.5}):
        assert cache_key([dataclasses.replace(first, **change), *rules[1:]], ScanOptions()) != base, change
    assert cache_key([dataclasses.replace(first, help="other words", source="elsewhere:1"), *rules[1:]],
                     ScanOptions()) == base
    assert cache_key(rules[1:], ScanOptions()) != base


def test_brokerscan_environment_variables_are_in_the_key(monkeypatch, fixed_code_digest):
    from scanner.gitcache import cache_key
    from scanner.scan import ScanOptions

    monkeypatch.delenv("BROKERSCAN_AST", raising=False)
    base = cache_key([], ScanOptions())
    monkeypatch.setenv("BROKERSCAN_AST", "0")
    assert cache_key([], ScanOptions()) != base


def test_cache_location_variables_are_not_in_the_key(monkeypatch, fixed_code_digest, tmp_path):
    """Moving the rules cache or turning it off changes nothing that is found."""
    from scanner.gitcache import cache_key
    from scanner.scan import ScanOptions

    base = cache_key([], ScanOptions())
    monkeypatch.setenv("BROKERSCAN_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("BROKERSCAN_NO_CACHE", "1")
    assert cache_key([], ScanOptions()) == base


def test_help_mentions_cache():
    result = scan("git", "--help", rules=False)
    assert b"--cache DIR" in result.stdout


def test_source_digest_is_in_the_key(monkeypatch):
    """An install from a development branch keeps its version number while its code changes."""
    from scanner import gitcache
    from scanner.scan import ScanOptions

    monkeypatch.setattr(gitcache, "code_digest", lambda: "one")
    first = gitcache.cache_key([], ScanOptions())
    monkeypatch.setattr(gitcache, "code_digest", lambda: "two")
    assert gitcache.cache_key([], ScanOptions()) != first


def test_baseline_create_can_use_the_cache(repo, tmp_path):
    repo.commit("one", {**clean_files(3), "k.env": flex(FLEX_1)})
    cached(repo, tmp_path / "c")
    out = tmp_path / "baseline.json"
    result = scan("baseline", "create", "-o", str(out), "git", str(repo.path), "--cache", str(tmp_path / "c"))
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert b"1 file(s)/blob(s) scanned" in result.stderr
    assert FLEX_1 not in out.read_text()


def test_a_write_interrupted_before_the_rename_leaves_the_old_cache(tmp_path, monkeypatch):
    from scanner import gitcache
    from scanner.gitcache import HistoryCache, Outcome, parse
    from scanner.models import ScanStats
    from scanner.sources.git import ObjectRef

    clean = Outcome(None, False, ())
    first = HistoryCache(tmp_path, "cd" * 32)
    first.add([(ObjectRef("1" * 40, b"a.py"), clean)])
    first.save(ScanStats())
    before = first.path.read_bytes()
    second = HistoryCache(tmp_path, "cd" * 32)
    second.load(ScanStats())
    second.add([(ObjectRef("2" * 40, b"b.py"), clean)])

    def killed(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(gitcache.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        second.save(ScanStats())
    assert first.path.read_bytes() == before and len(parse(before, "cd" * 32)[0]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.path.name]  # no temporary file left


def test_installed_modules_are_identified_by_version_and_size_not_install_time(tmp_path, monkeypatch):
    """CI installs brokerscan and its grammar wheels afresh on every run: new file times must
    not make every run cold, a new version must."""
    import importlib

    from scanner.gitcache import _module_identity

    site = tmp_path / "site"
    (site / "fake_grammar").mkdir(parents=True)
    (site / "fake_grammar" / "__init__.py").write_text("x = 1\n")
    (site / "fake_grammar-1.0.dist-info").mkdir()
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    first = _module_identity("fake_grammar", {})
    assert first == [["fake_grammar-1.0.dist-info"], [["__init__.py", 6]]]
    os.utime(site / "fake_grammar" / "__init__.py", (1, 1))
    assert _module_identity("fake_grammar", {}) == first
    (site / "fake_grammar-1.0.dist-info").rename(site / "fake_grammar-1.1.dist-info")
    assert _module_identity("fake_grammar", {}) != first
    assert _module_identity("no_such_module_here", {}) is None
