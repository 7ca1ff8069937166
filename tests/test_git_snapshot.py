"""``brokerscan git --cache DIR`` keeps the findings of the last scan: an unchanged history reads
only the blobs of its findings, a grown one only its new commits, and both report exactly
what a full scan reports."""
from __future__ import annotations

import json
import shutil

from gitrepo import DESK_1, DESK_2, FLEX_1, FLEX_2, FLEX_3, TWS_PW, Repo, flex, repo, test_findings  # noqa: F401
from test_git_cache import cached, clean_files, frozen_package, notes, scan_json, scanned  # noqa: F401

UNCHANGED = "history unchanged since the cached scan: findings re-read from their blobs, nothing else read"
GREW = "history grew since the cached scan: only its new commits were read"


def warm(target: Repo, cache, *args: str) -> dict:
    return cached(target, cache, *args, keep_findings=True)


def full(target: Repo, *args: str) -> dict:
    return scan_json("git", str(target.path), *args)


def snapshot_files(cache) -> list:
    return sorted(cache.glob("*.bssnap"))


def history_with_edited_secrets(target: Repo) -> None:
    """Secrets that stay while their files change: many blobs per reported finding."""
    target.commit("start", {**clean_files(6), "image.bin": b"\x00\x01" * 50})
    target.commit("leak", {"config.env": flex(FLEX_1), "ib.ini": f"IbPassword={TWS_PW}\n"})
    for n in range(4):
        target.commit(f"edit {n}", {"config.env": f"# edit {n}\n" + flex(FLEX_1), f"src/mod0{n}.py": f"x = {n}\n"})


def test_unchanged_history_reads_only_the_blobs_of_its_findings(repo, tmp_path):
    history_with_edited_secrets(repo)
    plain = full(repo)
    cold = warm(repo, tmp_path / "c")
    again = warm(repo, tmp_path / "c")
    assert plain["findings"] == cold["findings"] == again["findings"]
    assert {f["secret"] for f in test_findings(again)} == {FLEX_1, TWS_PW}
    assert scanned(plain) > 10 and scanned(again) == 2  # one blob per reported finding
    assert notes(again)[UNCHANGED] == 1
    # what the history skips is still said, with the same examples
    assert again["summary"]["skipped"] == plain["summary"]["skipped"] == {"binary": 1}
    verbose = warm(repo, tmp_path / "c", "--verbose")["summary"]
    assert verbose["skipped_paths"] == full(repo, "--verbose")["summary"]["skipped_paths"] == {"binary": ["image.bin"]}


def test_grown_history_reports_what_a_full_scan_reports(repo, tmp_path):
    """New commits on main, a branch from an old commit, a merge, a deleted file: placements,
    counts of carrying commits and ``in_head`` all match a full scan, increment after increment."""
    history_with_edited_secrets(repo)
    base = repo.git("rev-parse", "HEAD~3")
    warm(repo, tmp_path / "c")

    repo.commit("carry on", {"config.env": "# more\n" + flex(FLEX_1)})  # the old secret, new commits
    repo.commit("new leak", {"keys.py": f"desk = '{DESK_1}'\n"})
    grown = warm(repo, tmp_path / "c")
    plain = full(repo)
    assert grown["findings"] == plain["findings"]
    assert notes(grown)[GREW] == 1 and scanned(grown) < scanned(plain)
    assert [f["source"]["extra"]["commits_carrying"] for f in test_findings(grown) if f["secret"] == FLEX_1] == ["7"]

    repo.git("checkout", "-q", "-b", "side", base)  # a branch from an old commit carries old blobs
    repo.commit("side work", {"side.env": flex(FLEX_2), "src/side.py": "y = 1\n"})
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--no-edit", "side")
    repo.commit("drop", {"ib.ini": None, "config.env": flex(FLEX_3)})  # in_head turns false for ib.ini
    grown = warm(repo, tmp_path / "c")
    plain = full(repo)
    assert grown["findings"] == plain["findings"]
    assert notes(grown)[GREW] == 1
    assert {f["secret"] for f in test_findings(grown)} == {FLEX_1, FLEX_2, FLEX_3, TWS_PW, DESK_1}
    assert warm(repo, tmp_path / "c")["findings"] == plain["findings"]


def _placements(report: dict) -> list[tuple]:
    return sorted((f["path"], f["source"]["commit"], f["source"]["extra"]["commits_carrying"],
                   f["source"]["extra"]["in_head"]) for f in test_findings(report))


def test_rename_and_copy_after_a_cached_scan_report_what_a_full_scan_reports(repo, tmp_path):
    """Old blobs at new paths: ``rev-list`` does not list them again in the new commits, and the
    kept finding at the old path must keep its own introduction and count."""
    added = repo.commit("leak", {"s.py": "import os\n" + flex(FLEX_1), "z.env": f"IbPassword={TWS_PW}\n"})
    warm(repo, tmp_path / "c")
    repo.git("mv", "s.py", "t.py")
    moved = repo.commit("move")
    grown, plain = warm(repo, tmp_path / "c"), full(repo)
    assert notes(grown)[GREW] == 1
    assert grown["findings"] == plain["findings"]
    assert [p for p in _placements(grown) if p[0].endswith(".py")] == [("s.py", added, "1", "false"),
                                                                        ("t.py", moved, "1", "true")]
    copied = repo.commit("copy", {"a.env": f"IbPassword={TWS_PW}\n"})
    grown, plain = warm(repo, tmp_path / "c"), full(repo)
    assert notes(grown)[GREW] == 1
    assert grown["findings"] == plain["findings"]
    assert [p for p in _placements(grown) if p[0].endswith(".env")] == [("a.env", copied, "1", "true"),
                                                                         ("z.env", added, "3", "true")]


def test_excluded_blob_copied_to_a_kept_path_after_a_cached_scan_is_found(repo, tmp_path):
    repo.commit("fixture", {"docs/example.env": f"IbPassword={TWS_PW}\n", "a.txt": "a\n"})
    assert test_findings(warm(repo, tmp_path / "c", "--exclude", "docs/**")) == []
    copied = repo.commit("copy", {"prod.env": f"IbPassword={TWS_PW}\n"})
    grown, plain = warm(repo, tmp_path / "c", "--exclude", "docs/**"), full(repo, "--exclude", "docs/**")
    assert notes(grown)[GREW] == 1
    assert grown["findings"] == plain["findings"]
    assert _placements(grown) == [("prod.env", copied, "1", "true")]


def test_rewritten_history_is_scanned_in_full(repo, tmp_path):
    repo.commit("start", clean_files(3))
    repo.commit("leak", {"k.env": flex(FLEX_1)})
    warm(repo, tmp_path / "c")
    repo.git("reset", "-q", "--hard", "HEAD~1")  # the leak is gone from every ref
    repo.commit("other", {"d.py": f"desk = '{DESK_2}'\n"})
    rewritten = warm(repo, tmp_path / "c")
    assert rewritten["findings"] == full(repo)["findings"]
    assert {f["secret"] for f in test_findings(rewritten)} == {DESK_2}
    assert GREW not in notes(rewritten) and UNCHANGED not in notes(rewritten)


def test_switching_branches_updates_in_head(repo, tmp_path):
    repo.commit("leak", {"k.env": flex(FLEX_1)})
    repo.git("checkout", "-q", "-b", "fix")
    repo.commit("fix", {"k.env": "FLEX_TOKEN = ''\n"})
    warm(repo, tmp_path / "c")
    for branch, expected in (("main", "true"), ("fix", "false")):
        repo.git("checkout", "-q", branch)
        report = warm(repo, tmp_path / "c")
        assert notes(report)[UNCHANGED] == 1
        assert report["findings"] == full(repo)["findings"]
        [finding] = test_findings(report)
        assert finding["source"]["extra"]["in_head"] == expected


def test_kept_findings_hold_no_secret_text_or_fingerprint(repo, tmp_path):
    repo.commit("leaks", {"a.env": flex(FLEX_1), "ib.ini": f"IbPassword={TWS_PW}\n", "d.py": f"desk = '{DESK_1}'\n"})
    report = warm(repo, tmp_path / "c")
    [kept] = snapshot_files(tmp_path / "c")
    data = kept.read_bytes()
    assert len(test_findings(report)) == 3
    for finding in report["findings"]:
        for value in (finding["secret"], finding["fingerprint"], finding["snippet"]):
            assert value.encode() not in data
            assert value.encode().hex().encode() not in data
    assert b"IbPassword" not in data and b"FLEX_TOKEN" not in data


def test_damaged_or_stale_snapshot_means_a_full_scan(repo, tmp_path):
    from scanner import gitsnapshot

    history_with_edited_secrets(repo)
    plain = full(repo)
    warm(repo, tmp_path / "c")
    [kept] = snapshot_files(tmp_path / "c")
    data = bytearray(kept.read_bytes())
    data[len(data) // 2] ^= 0xFF
    kept.write_bytes(bytes(data))
    damaged = warm(repo, tmp_path / "c")
    assert damaged["findings"] == plain["findings"] and scanned(damaged) > 2
    assert any("damaged" in note for note in notes(damaged))
    # a kept finding that is not where the snapshot says: dropped, full scan, kept anew
    [kept] = snapshot_files(tmp_path / "c")
    body = kept.read_bytes()[len(gitsnapshot.MAGIC):-32]
    document = json.loads(body)
    document["findings"][0][1][0] += 1  # its line
    body = gitsnapshot.MAGIC + json.dumps(document).encode()
    kept.write_bytes(body + __import__("hashlib").sha256(body).digest())
    stale = warm(repo, tmp_path / "c")
    assert stale["findings"] == plain["findings"]
    assert any("not found again" in note for note in notes(stale))
    assert notes(warm(repo, tmp_path / "c"))[UNCHANGED] == 1
    # valid JSON and checksum, wrong shape (a hand edit, another tool's file): a note, not a crash
    for field, value in (("stats", []), ("stats", {"skipped": [], "skipped_paths": {}, "notes": {}}),
                         ("findings", [["r", [1]]]), ("tips", None)):
        [kept] = snapshot_files(tmp_path / "c")
        document = json.loads(kept.read_bytes()[len(gitsnapshot.MAGIC):-32])
        document[field] = value
        body = gitsnapshot.MAGIC + json.dumps(document).encode()
        kept.write_bytes(body + __import__("hashlib").sha256(body).digest())
        odd = warm(repo, tmp_path / "c")
        assert odd["findings"] == plain["findings"]
        assert any("bad contents" in note for note in notes(odd)), notes(odd)


def test_objects_missing_at_the_last_scan_are_scanned_once_present(repo, tmp_path):
    repo.commit("start", clean_files(2))
    repo.commit("leak", {"k.env": flex(FLEX_2)})
    blob = repo.git("rev-parse", "HEAD:k.env")
    loose = repo.loose_object_path(blob)
    hidden = tmp_path / "hidden"
    shutil.move(loose, hidden)  # a partial clone lacks it
    partial = warm(repo, tmp_path / "c")
    assert partial["summary"]["skipped"] == {"missing-object": 1} and test_findings(partial) == []
    again = warm(repo, tmp_path / "c")
    assert notes(again)[UNCHANGED] == 1 and again["summary"]["skipped"] == {"missing-object": 1}
    shutil.move(hidden, loose)  # fetched
    fetched = warm(repo, tmp_path / "c")
    assert [f["secret"] for f in test_findings(fetched)] == [FLEX_2]
    assert fetched["findings"] == full(repo)["findings"]


def test_no_findings_are_kept_for_windows_of_history(repo, tmp_path):
    first = repo.commit("one", {"k.env": flex(FLEX_1)})
    repo.commit("two", {"d.py": f"desk = '{DESK_1}'\n"})
    for args in (("--range", f"{first}..main"), ("--since", "2000-01-01")):
        report = cached(repo, tmp_path / "c", *args, keep_findings=True)
        assert report["findings"] == full(repo, *args)["findings"]
    assert snapshot_files(tmp_path / "c") == []
    branch = cached(repo, tmp_path / "c", "--branch", "main", keep_findings=True)
    assert len(snapshot_files(tmp_path / "c")) == 1
    assert notes(warm(repo, tmp_path / "c", "--branch", "main"))[UNCHANGED] == 1
    assert branch["findings"] == full(repo, "--branch", "main")["findings"]


def test_kept_findings_are_per_exclude_set(repo, tmp_path):
    repo.commit("leaks", {"k.env": flex(FLEX_1), "vendor/d.py": f"desk = '{DESK_1}'\n"})
    excluded = warm(repo, tmp_path / "c", "--exclude", "vendor/**")
    assert {f["secret"] for f in test_findings(excluded)} == {FLEX_1}
    everything = warm(repo, tmp_path / "c")
    assert {f["secret"] for f in test_findings(everything)} == {FLEX_1, DESK_1}
    assert warm(repo, tmp_path / "c", "--exclude", "vendor/**")["findings"] == excluded["findings"]


def test_thousands_of_refs_are_handled_as_one_history(repo, tmp_path):
    """Pull-request refs by the thousand (GitHub mirrors): the tips go to git on stdin."""
    history_with_edited_secrets(repo)
    commits = repo.git("rev-list", "HEAD").split()
    refs = "".join(f"create refs/pull/{n}/head {commits[n % len(commits)]}\n" for n in range(3000))
    repo.git("update-ref", "--stdin", input=refs.encode())
    warm(repo, tmp_path / "c")
    repo.commit("new", {"n.env": flex(FLEX_3)})
    grown = warm(repo, tmp_path / "c")
    assert notes(grown)[GREW] == 1
    assert grown["findings"] == full(repo)["findings"]


def test_a_new_ref_to_an_old_commit_adds_nothing(repo, tmp_path):
    history_with_edited_secrets(repo)
    warm(repo, tmp_path / "c")
    repo.git("branch", "old-point", "HEAD~3")
    repo.git("tag", "-a", "-m", "v0", "v0", "HEAD~2")
    grown = warm(repo, tmp_path / "c")
    assert notes(grown)[GREW] == 1 and scanned(grown) == 2  # only the kept findings' blobs
    assert grown["findings"] == full(repo)["findings"]


def test_grew_tells_a_forward_move_from_a_rewrite(repo):
    """``grew`` asks the moved tips first, then all of them: each way gives the right answer."""
    from scanner.gitsnapshot import current_tips, grew
    from scanner.sources.git import Scope, open_repository

    git_repo = open_repository(str(repo.path))

    def tips() -> tuple[str, ...]:
        return current_tips(git_repo, Scope())

    repo.commit("c1", clean_files(2))
    repo.git("branch", "keep")  # stays at c1 throughout
    repo.commit("c2", {"a.py": "x = 2\n"})
    old = tips()
    repo.commit("c3", {"a.py": "x = 3\n"})
    assert grew(git_repo, old, tips())  # main went forward: its new tip holds its old one

    repo.git("checkout", "-q", "-b", "side")
    repo.commit("c4", {"b.py": "y = 1\n"})  # side: c3 -> c4
    repo.git("checkout", "-q", "main")
    old = tips()
    repo.git("reset", "-q", "--hard", "keep")
    repo.commit("c5", {"c.py": "z = 1\n"})  # main leaves c3 for a new line from c1
    assert grew(git_repo, old, tips())  # c3 is not below main's new tip, but side still holds it

    old = tips()
    repo.git("branch", "-D", "side")  # c4 (and c3 with it) now reachable from no ref
    assert not grew(git_repo, old, tips())
