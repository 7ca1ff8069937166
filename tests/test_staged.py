"""``brokerscan staged``: the index, not the working tree; added lines, not whole files."""
from __future__ import annotations

import json

import pytest
from gitrepo import FLEX_1, FLEX_2, FLEX_3, TWS_PW, Repo, flex, repo, scan, scan_json, test_findings  # noqa: F401 (repo is a fixture)

from scanner.models import ScanStats
from scanner.sources.staged import parse_diff, unquote


def staged(repo: Repo, *args: str) -> list[dict]:
    return test_findings(scan_json("staged", *args, cwd=repo.path))


def test_only_added_lines_count(repo):
    repo.commit("old", {"config.py": "a = 1\n" + flex(FLEX_1) + "b = 2\n"})
    repo.stage({"config.py": "a = 1\n" + flex(FLEX_1) + "b = 3\n" + flex(FLEX_2)})
    findings = staged(repo)
    assert [(f["secret"], f["line"]) for f in findings] == [(FLEX_2, 4)]
    assert findings[0]["source"]["kind"] == "staged"
    everything = staged(repo, "--all-lines")
    assert sorted(f["secret"] for f in everything) == sorted([FLEX_1, FLEX_2])


def test_the_index_is_scanned_not_the_working_tree(repo):
    repo.commit("start", {"a.env": "x = 1\n"})
    repo.stage({"a.env": "x = 1\n" + flex(FLEX_1)})
    repo.write("a.env", "x = 1\n")  # cleaned in the work tree, but the commit would still record it
    assert [f["secret"] for f in staged(repo)] == [FLEX_1]
    repo.git("reset", "-q")
    repo.write("a.env", "x = 1\n" + flex(FLEX_2))  # not staged: not part of the commit
    assert staged(repo) == []


def test_first_commit_new_files_renames_and_deletions(repo):
    repo.stage({"new.env": flex(FLEX_1)})  # unborn HEAD
    assert [f["path"] for f in staged(repo)] == ["new.env"]
    repo.commit("first")
    repo.git("mv", "new.env", "moved.env")  # a pure rename adds no line
    assert staged(repo) == []
    repo.commit("rename")
    repo.stage({"moved.env": None})
    assert staged(repo) == []


def test_odd_paths_and_utf16_files(repo):
    repo.commit("start", {"x.txt": "x\n"})
    utf16 = ("\ufeff" + "a = 1\n" + flex(FLEX_3)).encode("utf-16-le")
    repo.stage({'sp ace "q".env': "ok\n" + flex(FLEX_1), b"caf\xe9.env": flex(FLEX_2), "wide.env": utf16})
    findings = staged(repo)
    assert sorted((f["path"], f["line"]) for f in findings) == sorted(
        [('sp ace "q".env', 2), ("caf\udce9.env", 1), ("wide.env", 2)])


def test_exit_code_and_a_readable_block_message(repo):
    repo.commit("start", {"x.txt": "x\n"})
    repo.stage({"ib.ini": f"IbPassword={TWS_PW}\n"})
    result = scan("staged", cwd=repo.path)
    assert result.returncode == 1
    out = result.stdout.decode()
    assert "ib.ini" in out and "(staged)" in out and "test-tws-password" in out and TWS_PW not in out
    assert b"commit blocked" in result.stderr and b"SKIP=brokerscan" in result.stderr
    repo.stage({"ib.ini": "TradingMode=paper\n"})
    assert scan("staged", cwd=repo.path).returncode == 0


def test_inline_ignore_excludes_and_baseline(repo, tmp_path):
    repo.commit("config", {".brokerscan.toml": 'exclude = ["fixtures/**"]\n'})
    repo.stage({"fixtures/sample.env": flex(FLEX_1),
                "ok.env": flex(FLEX_2).rstrip() + "  # brokerscan:ignore test-ibkr-flex-token\n"})
    assert staged(repo) == []
    repo.stage({"real.env": flex(FLEX_3)})
    result = scan("baseline", "create", "-o", str(tmp_path / "b.json"), "staged", cwd=repo.path)
    assert result.returncode == 0, result.stderr
    assert staged(repo, "--baseline", str(tmp_path / "b.json")) == []
    assert [f["path"] for f in staged(repo)] == ["real.env"]


def test_bare_repository_and_non_repository_are_clear_errors(tmp_path):
    bare = Repo(tmp_path / "bare.git", bare=True)
    result = scan("staged", str(bare.path))
    assert result.returncode == 2 and b"bare repository" in result.stderr
    plain = tmp_path / "plain"
    plain.mkdir()
    result = scan("staged", cwd=plain)
    assert result.returncode == 2 and b"not a git repository" in result.stderr
    assert b"Traceback" not in result.stderr


def test_staged_from_a_subdirectory_uses_repository_paths(repo):
    repo.commit("start", {"sub/x.txt": "x\n"})
    repo.stage({"sub/leak.env": flex(FLEX_1)})
    report = scan_json("staged", cwd=repo.path / "sub")
    assert [f["path"] for f in test_findings(report)] == ["sub/leak.env"]


def test_sarif_for_staged_validates(repo):
    jsonschema = pytest.importorskip("jsonschema")
    from conftest import ROOT

    repo.stage({"a.env": flex(FLEX_1)})
    result = scan("staged", "-f", "sarif", cwd=repo.path)
    sarif = json.loads(result.stdout)
    jsonschema.validate(sarif, json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text()))


# --- the diff parser, on git's own output shapes -------------------------------------------

DIFF = b"""\
diff --git "a/q\\"uote.txt" "b/q\\"uote.txt"
new file mode 100644
index 0000000000000000000000000000000000000000..9745a8323a47078aaf278b7eaa23502a2d86dadb
--- /dev/null
+++ "b/q\\"uote.txt"
@@ -0,0 +1 @@
+q"
diff --git a/sp ace.txt b/sp ace.txt
index 422c2b7ab3b3c668038da977e4e93a5fc623169c..2af12957812cefe1522be910ab920975fda13bcb 100644
--- a/sp ace.txt\t
+++ b/sp ace.txt\t
@@ -1,0 +2,2 @@ a
+c
+++ b/not a header
@@ -2,0 +5,3 @@ b
+d
+e
+f
diff --git a/u16.txt b/u16.txt
new file mode 100644
index 0000000000000000000000000000000000000000..1ab1ab46319e2743ba14f818354f9b7e86995ed9
Binary files /dev/null and b/u16.txt differ
diff --git "a/q\\"uote.txt" b/moved.txt
similarity index 100%
rename from "q\\"uote.txt"
rename to moved.txt
diff --git a/gone.txt b/gone.txt
deleted file mode 100644
index 9745a8323a47078aaf278b7eaa23502a2d86dadb..0000000000000000000000000000000000000000
--- a/gone.txt
+++ /dev/null
@@ -1 +0,0 @@
-q"
diff --git a/sub b/sub
new file mode 160000
index 0000000000000000000000000000000000000000..1111111111111111111111111111111111111111
--- /dev/null
+++ b/sub
@@ -0,0 +1 @@
+Subproject commit 1111111111111111111111111111111111111111
* Unmerged path conflict.txt
"""


def test_parse_diff_shapes():
    stats = ScanStats()
    files = {f.path: f for f in parse_diff(DIFF, stats)}
    assert set(files) == {b'q"uote.txt', b"sp ace.txt", b"u16.txt"}
    assert files[b"sp ace.txt"].added == frozenset({2, 3, 5, 6, 7})
    assert files[b"sp ace.txt"].blob == "2af12957812cefe1522be910ab920975fda13bcb"
    assert files[b'q"uote.txt'].added == frozenset({1})
    assert files[b"u16.txt"].added is None
    assert stats.notes == {"unmerged paths not scanned (resolve the conflict first)": 1}


# Hunks as the user's settings can shape them under -U0: joined by diff.interHunkContext (or
# widened by GIT_DIFF_OPTS), with a blank context line emptied by diff.suppressBlankEmpty.
JOINED_HUNKS = b"""\
diff --git a/c.env b/c.env
index 422c2b7ab3b3c668038da977e4e93a5fc623169c..2af12957812cefe1522be910ab920975fda13bcb 100644
--- a/c.env
+++ b/c.env
@@ -1,6 +1,7 @@
-a
+a2
 kept
+new

 also kept
-b
\\ No newline at end of file
+b2
\\ No newline at end of file
"""


def test_parse_diff_counts_added_lines_not_hunk_ranges():
    files = parse_diff(JOINED_HUNKS, ScanStats())
    assert [(f.path, f.added) for f in files] == [(b"c.env", frozenset({1, 3, 6}))]


def test_user_diff_settings_do_not_make_old_lines_new(repo):
    """An unchanged secret between two changed lines is not new, whatever the user's diff settings."""
    repo.commit("old", {"c.env": "a\n" + flex(FLEX_1) + "b\n"})
    repo.stage({"c.env": "a2\n" + flex(FLEX_1) + "b2\n" + flex(FLEX_2)})
    for key, value in (("diff.interHunkContext", "5"), ("diff.suppressBlankEmpty", "true"),
                       ("diff.noprefix", "true"), ("diff.mnemonicPrefix", "true"), ("color.diff", "always"),
                       ("diff.relative", "true"), ("core.quotePath", "true"), ("diff.external", "false")):
        repo.git("config", key, value)
    assert [(f["secret"], f["line"]) for f in staged(repo)] == [(FLEX_2, 4)]
    widened = staged_env(repo, {"GIT_DIFF_OPTS": "--unified=3"})
    assert [(f["secret"], f["line"]) for f in widened] == [(FLEX_2, 4)]


def staged_env(repo: Repo, env: dict[str, str]) -> list[dict]:
    return test_findings(scan_json("staged", cwd=repo.path, env=env))


def test_unquote():
    assert unquote(b'"a\\tb\\303\\251\\"\\\\"') == "a\tb\u00e9\"\\".encode()
    assert unquote(b"plain name") == b"plain name"
