"""``brokerscan git``: history scanning on real repositories built in tmp_path (and the shared corpora)."""
from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from conftest import ROOT, SHARED
from gitrepo import (
    flex,
    repo,  # noqa: F401 (a fixture)
    FLEX_1,
    FLEX_2,
    FLEX_3,
    RULES,
    TOTP,
    TWS_PW,
    Repo,
    git_env,
    scan,
    scan_json,
    test_findings,
)

CORPORA = SHARED / "corpora"


def test_removed_secret_is_found_once_at_the_commit_that_introduced_it(repo):
    repo.commit("start", {"app.py": "x = 1\n"})
    intro = repo.commit("add config", {"config.py": "a = 1\n" + flex(FLEX_1)}, author="Bob Leaker")
    repo.commit("edit", {"config.py": "a = 2\n" + flex(FLEX_1)})
    repo.commit("edit again", {"config.py": "a = 3\n" + flex(FLEX_1) + "b = 1\n"})
    repo.commit("remove", {"config.py": "a = 3\n"})
    report = scan_json("git", str(repo.path))
    [finding] = test_findings(report)
    assert finding["path"] == "config.py" and finding["line"] == 2
    assert finding["secret"] == FLEX_1
    source = finding["source"]
    assert source["kind"] == "git" and source["commit"] == intro
    assert source["author"] == "Bob Leaker" and source["date"].startswith("2023-11-1")
    assert source["extra"]["commits_carrying"] == "3"
    assert source["extra"]["in_head"] == "false"


def test_secret_still_in_head_is_marked_and_carried_by_every_later_commit(repo):
    repo.commit("start", {"README": "hi\n"})
    repo.commit("leak", {"ib.ini": f"IbPassword={TWS_PW}\n"})
    for n in range(6):
        repo.commit(f"other {n}", {"README": f"hi {n}\n"})
    [finding] = test_findings(scan_json("git", str(repo.path)))
    assert finding["source"]["extra"]["in_head"] == "true"
    assert finding["source"]["extra"]["commits_carrying"] == "7"


def test_default_scope_is_every_ref_and_branch_narrows_it(repo):
    repo.commit("start", {"a.txt": "clean\n"})
    repo.git("checkout", "-q", "-b", "feature")
    side = repo.commit("side", {"side.env": flex(FLEX_2)})
    repo.git("checkout", "-q", "main")
    repo.git("tag", "-a", "v1", "-m", "release", side)
    repo.commit("main work", {"a.txt": "still clean\n"})
    report = scan_json("git", str(repo.path))
    [finding] = test_findings(report)
    assert finding["source"]["commit"] == side and finding["source"]["extra"]["in_head"] == "false"
    assert test_findings(scan_json("git", str(repo.path), "--branch", "main")) == []
    assert len(test_findings(scan_json("git", str(repo.path), "--branch", "feature"))) == 1


def test_range_reports_only_what_the_new_commits_add(repo):
    repo.commit("old leak", {"old.env": flex(FLEX_1)})
    base = repo.commit("base", {"a.txt": "x\n"})
    new = repo.commit("new leak", {"new.env": flex(FLEX_2)})
    repo.commit("more", {"a.txt": "y\n"})
    findings = test_findings(scan_json("git", str(repo.path), "--range", f"{base}..HEAD"))
    assert [(f["path"], f["source"]["commit"]) for f in findings] == [("new.env", new)]
    assert findings[0]["source"]["extra"]["commits_carrying"] == "2"


def test_range_that_edits_another_line_of_a_file_with_an_old_secret_reports_nothing(repo):
    """A pull request that flips a flag in a file holding an old secret does not add it;
    one that adds a second copy of it, at another path, does."""
    repo.commit("old secret", {"settings.py": "import os\n" + flex(FLEX_1) + "DEBUG = False\n"})
    repo.git("checkout", "-q", "-b", "pr")
    repo.commit("flip", {"settings.py": "import os\n" + flex(FLEX_1) + "DEBUG = True\n"})
    result = scan("git", str(repo.path), "--range", "main..pr", "-f", "json")
    report = json.loads(result.stdout)
    assert result.returncode == 0 and report["findings"] == []
    assert "findings the range's base already held at the same path (not introduced by the range)" in \
        report["summary"]["notes"]
    copy = repo.commit("copy", {"copy.py": flex(FLEX_1)})
    findings = test_findings(scan_json("git", str(repo.path), "--range", "main..pr"))
    assert [(f["path"], f["source"]["commit"]) for f in findings] == [("copy.py", copy)]


def test_since_scans_what_commits_in_the_window_added(repo):
    repo.commit("old leak", {"old.env": flex(FLEX_1)})  # day 1
    repo.commit("a", {"a.txt": "1\n"})
    repo.commit("new leak", {"new.env": flex(FLEX_2)})  # day 3
    since = "2023-11-17"  # BASE_DATE is 2023-11-14; day 3 is 2023-11-17
    paths = [f["path"] for f in test_findings(scan_json("git", str(repo.path), "--since", since))]
    assert paths == ["new.env"]
    paths = [f["path"] for f in test_findings(scan_json("git", str(repo.path), "--until", "2023-11-16"))]
    assert paths == ["old.env"]


def test_range_and_branch_validation(repo):
    repo.commit("one", {"a.txt": "1\n"})
    result = scan("git", str(repo.path), "--range", "nope..HEAD")
    assert result.returncode == 2 and b"unknown revision 'nope'" in result.stderr
    result = scan("git", str(repo.path), "--range", "HEAD")
    assert result.returncode == 2 and b"A..B" in result.stderr
    result = scan("git", str(repo.path), "--branch", "--upload-pack=evil")
    assert result.returncode == 2 and b"Traceback" not in result.stderr


def test_bare_repository(repo, tmp_path):
    repo.commit("leak", {"k.env": flex(FLEX_1)})
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo.path), str(bare)], check=True, env=git_env())
    [finding] = test_findings(scan_json("git", str(bare)))
    assert finding["path"] == "k.env" and finding["source"]["extra"]["in_head"] == "true"


def test_shallow_clone_says_what_it_could_not_see(repo, tmp_path):
    repo.commit("old leak", {"old.env": flex(FLEX_1)})
    repo.commit("cleanup", {"old.env": None})
    repo.commit("new", {"a.txt": "a\n"})
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{repo.path}", str(shallow)],
                   check=True, env=git_env())
    report = scan_json("git", str(shallow))
    assert test_findings(report) == []
    assert any("shallow clone" in note for note in report["summary"]["notes"])


def test_submodules_are_noted_not_followed(repo, tmp_path):
    sub = Repo(tmp_path / "sub")
    sub.commit("sub leak", {"s.env": flex(FLEX_2)})
    repo.commit("start", {"a.txt": "a\n"})
    repo.git("-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub.path), "vendor/sub")
    repo.commit("add submodule")
    report = scan_json("git", str(repo.path))
    assert test_findings(report) == []
    assert any("submodule" in note for note in report["summary"]["notes"])


def test_not_a_repository_missing_path_and_empty_repository(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    result = scan("git", str(plain))
    assert result.returncode == 2 and b"not a git repository" in result.stderr
    assert b"Traceback" not in result.stderr
    result = scan("git", str(tmp_path / "nowhere"))
    assert result.returncode == 2 and b"no such directory" in result.stderr
    empty = Repo(tmp_path / "empty")
    report = scan_json("git", str(empty.path), expect=(0,))
    assert report["findings"] == [] and "repository has no commits" in report["summary"]["notes"]


def test_unborn_head_beside_branches_is_not_an_empty_repository(repo):
    repo.commit("leak", {"k.env": flex(FLEX_1)})
    repo.git("symbolic-ref", "HEAD", "refs/heads/not-yet")  # HEAD names a branch with no commit
    report = scan_json("git", str(repo.path))
    assert "ibkr-flex-token" in {f["rule_id"] for f in report["findings"]}  # the branch's commit was scanned
    assert "repository has no commits" not in report["summary"]["notes"]


def test_sha256_repositories_keep_their_full_object_ids(tmp_path):
    """Object ids are 64 hex digits there: listing, attribution, deletions (the all-zero id),
    --cache and staged scans must not cut them at 40."""
    repo = Repo(tmp_path / "repo", init=False)
    repo.path.mkdir()
    if subprocess.run(["git", "init", "-q", "-b", "main", "--object-format=sha256"], cwd=repo.path,
                      capture_output=True, env=git_env()).returncode != 0:
        pytest.skip("this git cannot make SHA-256 repositories")
    repo.commit("leak", {"k.env": flex(FLEX_1), "stay.env": flex(FLEX_3)})
    repo.commit("drop", {"k.env": None})
    leak, blob = repo.git("rev-parse", "HEAD~1"), repo.git("rev-parse", "HEAD~1:k.env")
    assert len(leak) == len(blob) == 64
    for args in ((), ("--cache", str(tmp_path / "cache")), ("--cache", str(tmp_path / "cache"))):
        report = scan_json("git", str(repo.path), *args)
        found = {f["secret"]: f["source"] for f in test_findings(report)}
        assert set(found) == {FLEX_1, FLEX_3}
        assert found[FLEX_1]["commit"] == found[FLEX_3]["commit"] == leak
        assert found[FLEX_1]["extra"]["blob"] == blob
        assert found[FLEX_1]["extra"]["commits_carrying"] == "1" and found[FLEX_3]["extra"]["commits_carrying"] == "2"
        assert found[FLEX_1]["extra"]["in_head"] == "false" and found[FLEX_3]["extra"]["in_head"] == "true"
        assert not any("no scanned commit" in note for note in report["summary"]["notes"])
    repo.stage({"new.env": flex(FLEX_2)})
    staged = scan_json("staged", cwd=repo.path)
    assert [f["secret"] for f in test_findings(staged)] == [FLEX_2]


def test_non_utf8_and_odd_paths(repo):
    latin1 = b"caf\xe9 config.env"
    repo.commit("odd names", {latin1: flex(FLEX_1), 'quote"d\tname.env': flex(FLEX_2),
                              "dir with space/ib.ini": f"IbPassword={TWS_PW}\n"})
    result = scan("git", str(repo.path), "-f", "json")
    assert result.returncode == 1 and b"Traceback" not in result.stderr
    paths = sorted(f["path"] for f in test_findings(json.loads(result.stdout)))
    assert paths == sorted(["caf\udce9 config.env", 'quote"d\tname.env', "dir with space/ib.ini"])
    text = scan("git", str(repo.path))
    assert text.returncode == 1 and b"caf\\udce9 config.env" in text.stdout


def test_binary_and_enormous_blobs_are_skipped_with_counts(repo):
    repo.commit("blobs", {"image.bin": b"\x00\x01" * 100 + flex(FLEX_1).encode(),
                          "big.txt": "x" * 5000 + "\n" + flex(FLEX_2),
                          "ok.env": flex(FLEX_3)})
    report = scan_json("git", str(repo.path), "--max-file-size", "4k")
    assert [f["path"] for f in test_findings(report)] == ["ok.env"]
    assert report["summary"]["skipped"] == {"binary": 1, "too-large": 1}


def test_deleted_blob_object_is_reported_and_the_rest_still_scanned(repo):
    repo.commit("a", {"gone.env": flex(FLEX_1), "kept.env": flex(FLEX_2)})
    blob = repo.git("rev-parse", "HEAD:gone.env")
    repo.loose_object_path(blob).unlink()
    report = scan_json("git", str(repo.path))
    assert [f["path"] for f in test_findings(report)] == ["kept.env"]
    assert report["summary"]["skipped"] == {"missing-object": 1}
    text = scan("git", str(repo.path), "--verbose")
    assert b"missing-object" in text.stdout and blob.encode() in text.stdout


def test_corrupt_blob_object_is_reported_and_the_rest_still_scanned(repo):
    repo.commit("a", {"bad.env": flex(FLEX_1), "kept.env": flex(FLEX_2)})
    blob = repo.git("rev-parse", "HEAD:bad.env")
    path = repo.loose_object_path(blob)
    path.chmod(0o644)
    path.write_bytes(b"this is not zlib data at all")
    report = scan_json("git", str(repo.path))
    assert [f["path"] for f in test_findings(report)] == ["kept.env"]
    assert report["summary"]["skipped"] == {"corrupt-object": 1}  # git cannot tell; it exists but will not read


def test_corrupt_packed_object_kills_cat_file_and_the_scan_goes_on(repo):
    filler = "".join(f"line {n} of filler text\n" for n in range(300))
    repo.commit("a", {"a.env": filler + flex(FLEX_1), "b.env": filler + flex(FLEX_2),
                      "c.env": filler + flex(FLEX_3)})
    repo.git("repack", "-q", "-a", "-d")
    [index] = (repo.path / ".git" / "objects" / "pack").glob("*.idx")
    bad = repo.git("rev-parse", "HEAD:b.env")
    entry = next(ln for ln in repo.git("verify-pack", "-v", str(index)).splitlines() if ln.startswith(bad))
    offset = int(entry.split()[4])
    pack = index.with_suffix(".pack")
    pack.chmod(0o644)
    data = bytearray(pack.read_bytes())
    for i in range(offset + 8, offset + 40):
        data[i] ^= 0xFF
    pack.write_bytes(bytes(data))
    report = scan_json("git", str(repo.path))
    assert sorted(f["path"] for f in test_findings(report)) == ["a.env", "c.env"]
    assert report["summary"]["skipped"] == {"corrupt-object": 1}


@pytest.mark.parametrize("single_process", [True, False], ids=["batch-command", "check-and-batch"])
def test_object_reader_modes_agree(repo, single_process):
    from scanner.sources.git import ObjectReader, ObjectRef

    """Trees and blobs over the size cap come between blobs that must still be read whole
    (the batch-command reader reads past their bytes, 1 MB at a time)."""
    huge = "".join(f"{n:08d} of a blob over the cap\n" for n in range(80_000))  # 2.7 MB
    repo.commit("a", {"small.txt": "x\n", "big.txt": "y" * 5000, "huge.txt": huge, "after.txt": "after\n",
                      "sub/z.txt": "z\n", "sub/w.txt": "w\n"})
    names = ("small.txt", "big.txt", "huge.txt", "after.txt", "sub/z.txt")
    blob = {p: repo.git("rev-parse", f"HEAD:{p}") for p in names}
    tree = repo.git("rev-parse", "HEAD:sub")
    repo.loose_object_path(blob["sub/z.txt"]).unlink()
    refs = [ObjectRef(blob["small.txt"], b"small.txt"), ObjectRef(tree, b"sub"), ObjectRef(blob["big.txt"], b"big.txt"),
            ObjectRef(blob["huge.txt"], b"huge.txt"), ObjectRef(blob["after.txt"], b"after.txt"),
            ObjectRef(blob["sub/z.txt"], b"sub/z.txt"), ObjectRef("0" * 40, b"nothing")]
    trees: list = []
    with ObjectReader(str(repo.path)) as reader:
        reader.single = single_process
        got = {r.ref.path: (r.data, r.reason) for r in reader.read(refs, max_size=1000, non_blobs=trees)}
    assert got == {b"small.txt": (b"x\n", None), b"big.txt": (None, "too-large"), b"huge.txt": (None, "too-large"),
                   b"after.txt": (b"after\n", None),
                   b"sub/z.txt": (None, "missing-object"), b"nothing": (None, "missing-object")}
    assert [ref.path for ref in trees] == [b"sub"]


def test_missing_tree_is_reported_not_fatal(repo):
    """The commit listing cannot read the missing tree either: attribution still places the
    finding elsewhere (by the paths with findings only), it does not fail the scan."""
    intro = repo.commit("a", {"sub/bad.env": flex(FLEX_1), "kept.env": flex(FLEX_2)})
    tree = repo.git("rev-parse", "HEAD:sub")
    repo.loose_object_path(tree).unlink()
    result = scan("git", str(repo.path), "-f", "json")
    assert result.returncode == 1 and b"Traceback" not in result.stderr
    report = json.loads(result.stdout)
    assert report["summary"]["skipped"].get("missing-object") == 1
    [finding] = test_findings(report)
    assert finding["path"] == "kept.env" and finding["source"]["commit"] == intro


def test_file_that_becomes_a_directory_and_back_is_scanned_every_time(repo):
    """Trees are told from blobs by their place in rev-list's listing: a blob at a path that
    later becomes a directory (and a file beside a same-named directory) must still be read."""
    repo.commit("file", {"cfg": flex(FLEX_1), "cfg.d/x.env": flex(FLEX_3)})
    repo.commit("dir", {"cfg": None})
    repo.commit("dir 2", {"cfg/inner.env": flex(FLEX_2)})
    repo.commit("file again", {"cfg/inner.env": None})
    repo.commit("file 2", {"cfg": f"IbPassword={TWS_PW}\n"})
    found = {(f["path"], f["secret"]) for f in test_findings(scan_json("git", str(repo.path)))}
    assert found == {("cfg", FLEX_1), ("cfg.d/x.env", FLEX_3), ("cfg/inner.env", FLEX_2), ("cfg", TWS_PW)}


def test_commit_listing_read_in_small_blocks_places_every_finding(repo, monkeypatch, tmp_path):
    """The listing is read back a block at a time: tokens cut at block edges must not be lost."""
    from scanner.history import HistoryLog

    repo.commit("start", {"README": "hi\n"})
    intros = {}
    for n, (path, text) in enumerate([("a.env", flex(FLEX_1)), ("dir/b.ini", f"IbPassword={TWS_PW}\n"),
                                      ("c.env", flex(FLEX_3))]):
        intros[path] = repo.commit(f"leak {n}", {path: text})
        repo.commit(f"other {n}", {"README": f"hi {n}\n"})
    expected = {f["path"]: f["source"]["commit"] for f in test_findings(scan_json("git", str(repo.path)))}
    assert expected == intros
    monkeypatch.setattr(HistoryLog, "READ_BLOCK", 7)
    from scanner.cli import main

    out = tmp_path / "report.json"
    assert main(["git", str(repo.path), "-f", "json", "-o", str(out), "--rules", RULES]) == 1
    got = {f["path"]: f["source"]["commit"] for f in test_findings(json.loads(out.read_text()))}
    assert got == intros


def test_stash_is_scanned_by_default_and_dangling_blobs_with_all_objects(repo):
    repo.commit("start", {"a.txt": "a\n"})
    repo.write("a.txt", "a\n" + flex(FLEX_1))
    repo.git("stash", "-q")
    dangling = repo.git("hash-object", "-w", "--stdin", input=flex(FLEX_2).encode())
    default = test_findings(scan_json("git", str(repo.path)))
    assert [f["secret"] for f in default] == [FLEX_1]
    every = test_findings(scan_json("git", str(repo.path), "--all-objects"))
    assert sorted(f["secret"] for f in every) == sorted([FLEX_1, FLEX_2])
    [loose] = [f for f in every if f["secret"] == FLEX_2]
    assert dangling[:12] in loose["path"] and loose["source"]["commit"] is None


def test_blobs_a_tag_points_at_are_scanned_and_named_after_the_tag(repo):
    """``git tag NAME <blob>`` keeps a blob no commit holds: rev-list lists it with no path."""
    repo.commit("start", {"a.txt": "a\n"})
    direct = repo.git("hash-object", "-w", "--stdin", input=flex(FLEX_1).encode()).strip()
    repo.git("tag", "leaked-blob", direct)
    inner = repo.git("hash-object", "-w", "--stdin", input=flex(FLEX_2).encode()).strip()
    repo.git("tag", "-a", "-m", "inner", "inner-tag", inner)
    repo.git("tag", "-a", "-m", "outer", "outer-tag", "inner-tag")  # a tag of a tag of a blob
    repo.git("tag", "tree-tag", repo.git("write-tree").strip())  # a tree under a tag: nothing to name
    result = scan("git", str(repo.path), "-f", "json", "--show-secrets")
    assert result.returncode == 1, result.stderr.decode(errors="replace")
    found = {f["secret"]: f["path"] for f in test_findings(json.loads(result.stdout))}
    assert found == {FLEX_1: "<blob of refs/tags/leaked-blob>", FLEX_2: "<blob of refs/tags/inner-tag>"}
    every = test_findings(scan_json("git", str(repo.path), "--all-objects"))
    assert sorted(f["path"] for f in every) == ["<blob of refs/tags/inner-tag>", "<blob of refs/tags/leaked-blob>"]


def test_config_excludes_and_allowlists_apply_to_history_paths(repo):
    repo.commit("config", {".brokerscan.toml": 'exclude = ["fixtures/**"]\nstopwords = ["9142"]\n'})
    repo.commit("fixtures", {"fixtures/sample.env": flex(FLEX_1), "real.env": flex(FLEX_2)})
    repo.commit("allowed", {"other.env": flex("842319142857364012345987")})
    repo.commit("gone", {"fixtures/sample.env": None})
    report = scan_json("git", str(repo.path))
    assert [f["path"] for f in test_findings(report)] == ["real.env"]
    assert any("excluded" in note for note in report["summary"]["notes"])
    everything = scan_json("git", str(repo.path), "--no-config")
    assert len(test_findings(everything)) == 3


def test_inline_ignore_in_history(repo):
    repo.commit("ok", {"a.env": flex(FLEX_1).rstrip() + "  # brokerscan:ignore test-ibkr-flex-token\n"})
    assert test_findings(scan_json("git", str(repo.path))) == []


def test_same_secret_at_two_paths_is_two_findings_and_moves_keep_fingerprint(repo):
    repo.commit("one", {"a.env": flex(FLEX_1)})
    repo.commit("copy", {"b.env": "# copy\n" + flex(FLEX_1)})
    findings = test_findings(scan_json("git", str(repo.path)))
    assert sorted(f["path"] for f in findings) == ["a.env", "b.env"]
    assert len({f["fingerprint"] for f in findings}) == 2


def _placements(report: dict) -> list[tuple[str, str, str, str]]:
    """(path, introducing commit, commits carrying, in HEAD) of each test finding, sorted."""
    return sorted((f["path"], f["source"]["commit"], f["source"]["extra"]["commits_carrying"],
                   f["source"]["extra"]["in_head"]) for f in test_findings(report))


def test_same_blob_at_two_paths_in_one_commit_is_found_at_both_each_judged_for_its_path(repo):
    """rev-list names the blob once (by ``docs/example.env``, met first); the copy at
    ``prod.env`` is a finding of its own, judged as that path (docs lower confidence)."""
    text = f"IbPassword={TWS_PW}\n"
    both = repo.commit("both", {"prod.env": text, "docs/example.env": text})
    findings = test_findings(scan_json("git", str(repo.path)))
    assert _placements({"findings": findings}) == [("docs/example.env", both, "1", "true"),
                                                   ("prod.env", both, "1", "true")]
    confidence = {f["path"]: f["confidence"] for f in findings}
    assert confidence["docs/example.env"] < confidence["prod.env"]
    assert len({f["fingerprint"] for f in findings}) == 2


def test_excluding_the_path_a_blob_is_named_by_keeps_its_other_paths(repo):
    text = f"IbPassword={TWS_PW}\n"
    both = repo.commit("both", {"prod.env": text, "docs/example.env": text})
    repo.commit("clean", {"README": "hi\n"})
    report = scan_json("git", str(repo.path), "--exclude", "docs/**")
    assert _placements(report) == [("prod.env", both, "2", "true")]
    # a blob excluded at every path it has stays excluded
    assert test_findings(scan_json("git", str(repo.path), "--exclude", "docs/**", "--exclude", "*.env")) == []


def test_renamed_file_keeps_the_commit_and_path_that_introduced_the_secret(repo):
    added = repo.commit("add creds", {"prod.env": f"IbPassword={TWS_PW}\n"})
    repo.commit("other", {"README": "hi\n"})
    repo.git("mv", "prod.env", "old.env")
    moved = repo.commit("move")
    repo.commit("later", {"README": "hi again\n"})
    assert _placements(scan_json("git", str(repo.path))) == [("old.env", moved, "2", "true"),
                                                            ("prod.env", added, "2", "false")]
    assert _placements(scan_json("git", str(repo.path), "--exclude", "old.env")) == [
        ("prod.env", added, "2", "false")]


def test_path_with_a_newline_is_reported_whole(repo):
    """``rev-list --objects`` cuts a path at a newline; the commit listing has it whole."""
    name = b"odd\nname.env"
    intro = repo.commit("odd", {name: flex(FLEX_1)})
    [finding] = test_findings(scan_json("git", str(repo.path)))
    assert finding["path"] == "odd\nname.env" and finding["source"]["commit"] == intro


def test_sarif_carries_commit_and_validates(repo):
    jsonschema = pytest.importorskip("jsonschema")
    intro = repo.commit("leak", {"k.env": flex(FLEX_1)})
    result = scan("git", str(repo.path), "-f", "sarif")
    assert result.returncode == 1
    sarif = json.loads(result.stdout)
    schema = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())
    jsonschema.validate(sarif, schema)
    [result_] = [r for r in sarif["runs"][0]["results"] if r["ruleId"].startswith("test-")]
    assert result_["properties"]["commit"] == intro
    assert intro[:7] in result_["message"]["text"]
    assert FLEX_1 not in result.stdout.decode()


def test_parallel_and_inline_scans_agree(repo):
    files = {f"pkg/mod{n:03}.py": f"value_{n} = {n}\n" * (n % 7 + 1) for n in range(450)}
    files["pkg/mod123.py"] = flex(FLEX_1)
    files["pkg/mod321.py"] = f"IBEAM_PYOTP_SECRET={TOTP}\n"
    repo.commit("many", files)
    repo.commit("more", {"pkg/mod400.py": flex(FLEX_3)})
    one = scan_json("git", str(repo.path), "-j", "1")
    two = scan_json("git", str(repo.path), "-j", "2")
    assert test_findings(one) == test_findings(two)
    assert len(test_findings(one)) == 3
    assert one["summary"]["files_scanned"] == two["summary"]["files_scanned"] == 451


def test_history_attribution_handles_merges(repo):
    repo.commit("base", {"a.txt": "a\n"})
    repo.git("checkout", "-q", "-b", "topic")
    leak = repo.commit("topic leak", {"t.env": flex(FLEX_1)})
    repo.commit("topic more", {"a.txt": "topic\n"})
    repo.git("checkout", "-q", "main")
    repo.commit("main work", {"m.txt": "m\n"})
    repo.git("merge", "-q", "--no-ff", "-m", "merge topic", "topic",
             env={"GIT_AUTHOR_DATE": "@1800000000 +0000", "GIT_COMMITTER_DATE": "@1800000000 +0000"})
    [finding] = test_findings(scan_json("git", str(repo.path)))
    assert finding["source"]["commit"] == leak
    assert finding["source"]["extra"]["in_head"] == "true"
    assert finding["source"]["extra"]["commits_carrying"] == "3"  # topic leak, topic more, the merge


def test_version_control_details_never_carry_credentials(repo):
    from scanner.sources.git import open_repository, public_remote_uri, vcs_details

    assert public_remote_uri("git@github.com:acme/bot.git") == "https://github.com/acme/bot"
    assert public_remote_uri("https://x-access-token:ghp_abc@github.com/acme/bot.git") == "https://github.com/acme/bot"
    assert public_remote_uri("ssh://git@git.example.com:2222/team/bot") == "https://git.example.com/team/bot"
    head = repo.commit("one", {"a.txt": "a\n"})
    repo.git("remote", "add", "origin", "https://bob:s3cr3t-token@git.example.com/team/bot.git")
    details = dict(vcs_details(open_repository(str(repo.path))))
    assert details == {"repositoryUri": "https://git.example.com/team/bot", "revisionId": head, "branch": "main"}


def test_sarif_run_has_version_control_provenance(repo):
    head = repo.commit("leak", {"k.env": flex(FLEX_1)})
    repo.git("remote", "add", "origin", "https://bob:s3cr3t@github.com/acme/trading-bot.git")
    result = scan("git", str(repo.path), "-f", "sarif")
    [vcp] = json.loads(result.stdout)["runs"][0]["versionControlProvenance"]
    assert vcp["repositoryUri"] == "https://github.com/acme/trading-bot"
    assert vcp["revisionId"] == head and vcp["branch"] == "main"
    assert b"s3cr3t" not in result.stdout


# --- the shared corpora: real histories with missing blobs ---------------------------------

def _extract(name: str, tmp_path_factory) -> Path:
    archive = CORPORA / f"{name}.git.tar"
    if not archive.is_file():
        pytest.skip(f"{archive} not present (the corpora live beside the project, in ../shared/corpora/)")
    dest = tmp_path_factory.mktemp(name)
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")  # "data": no owners kept, so git does not refuse the repo
    [repo] = [p for p in dest.iterdir() if p.is_dir()]
    return repo


# Full histories, narrowed so the test stays quick: requests' missing blobs sit in pull-request
# refs (all refs are scanned; bulky committed virtualenvs and big files are left out), ib_async's
# in its gh-pages branch.
CORPUS_SCANS = {
    "requests": (4, ["--exclude", "venv", "--exclude", "myenv", "--exclude", "*.html", "--max-file-size", "64k"]),
    "ib_async": (48, ["--branch", "gh-pages"]),
}


@pytest.mark.parametrize("name", sorted(CORPUS_SCANS))
def test_corpus_with_missing_blobs(name, tmp_path_factory):
    missing, args = CORPUS_SCANS[name]
    repo = _extract(name, tmp_path_factory)
    result = scan("git", str(repo), *args, "-f", "json", rules=False)
    assert result.returncode in (0, 1), result.stderr.decode(errors="replace")
    assert b"Traceback" not in result.stderr
    summary = json.loads(result.stdout)["summary"]
    assert summary["skipped"]["missing-object"] == missing
    assert summary["files_scanned"] > 200
    shutil.rmtree(repo)
