"""The directory walk on real trees: bad inputs are counted by reason, never raised."""
from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest
from conftest import fail_after

from scanner import scan as scan_module
from scanner.models import ScanStats, ScanTarget
from scanner.report import render
from scanner.rules import load_rules
from scanner.scan import BlobScanner, ScanOptions, scan_files, scan_items
from scanner.sources import files as files_source
from scanner.sources.files import WalkOptions, is_excluded, walk

DATA = Path(__file__).parent / "data"
TOKEN = "acmedesk_Q7rV2lMz8KpW4nXt9BcD"


def _scan(root: Path, monkeypatch, **options):
    monkeypatch.chdir(root)
    rules = load_rules([DATA / "custom-rules.toml"], bundled=False)
    return scan_files(["."], rules, ScanOptions(jobs=1, **options))


def test_bad_inputs_are_counted_and_the_scan_goes_on(tmp_path, write, monkeypatch):
    write("good.py", f"t = '{TOKEN}'\n")
    write("later/also.py", f"t = '{TOKEN}'\n")
    write("image.png", b"\x89PNG\r\n\x1a\n\x00\x00" + TOKEN.encode())
    write("big.log", b"x" * 2048 + TOKEN.encode())
    os.symlink(tmp_path / "missing.txt", tmp_path / "dangling")
    os.symlink(tmp_path / "good.py", tmp_path / "link.py")
    os.mkfifo(tmp_path / "pipe")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock"))
    write(".git/config", f"t = '{TOKEN}'\n")
    try:
        findings, stats = _scan(tmp_path, monkeypatch, max_file_size=1024)
    finally:
        sock.close()
    assert sorted(f.path for f in findings) == ["good.py", "later/also.py"]
    assert stats.skipped == {"binary": 1, "too-large": 1, "broken-symlink": 1,
                             "symlink-not-followed": 1, "special-file": 2}
    assert stats.files_scanned == 2
    assert any(".git" in note for note in stats.notes)


def test_unreadable_file_is_counted(tmp_path, write, monkeypatch):
    write("ok.py", f"t = '{TOKEN}'\n")
    write("secret.env", f"t = '{TOKEN}'\n")
    real_open = os.open

    def deny(path, *args, **kwargs):  # tests run as root, where chmod 000 does not stop reads
        if str(path).endswith("secret.env"):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(files_source.os, "open", deny)
    findings, stats = _scan(tmp_path, monkeypatch)
    assert [f.path for f in findings] == ["ok.py"]
    assert stats.skipped == {"permission-denied": 1}
    assert stats.skipped_paths["permission-denied"] == ["secret.env"]


def test_file_vanishing_between_walk_and_read_is_counted(tmp_path, write, monkeypatch):
    write("a.py", f"t = '{TOKEN}'\n")
    gone = write("b.py", f"t = '{TOKEN}'\n")
    monkeypatch.chdir(tmp_path)
    items = list(walk(["."], ScanStats(), max_file_size=10_000, base=str(tmp_path)))
    gone.unlink()
    rules = load_rules([DATA / "custom-rules.toml"], bundled=False)
    findings, stats = scan_items(BlobScanner(rules, ScanOptions()), items, str(tmp_path))
    assert [f.path for f in findings] == ["a.py"]
    assert stats.skipped == {"vanished-or-missing": 1}


def test_non_utf8_file_names_are_scanned(tmp_path, monkeypatch):
    name = os.fsencode(str(tmp_path)) + b"/caf\xe9.py"
    with open(name, "wb") as fh:
        fh.write(f"t = '{TOKEN}'\n".encode())
    findings, _ = _scan(tmp_path, monkeypatch)
    assert len(findings) == 1 and findings[0].path.startswith("caf")


@pytest.mark.parametrize(
    ("path", "patterns", "excluded"),
    [
        ("fixtures/demo/.env", ["fixtures/**"], True),
        ("src/fixtures/x.py", ["fixtures/**"], False),
        ("a/b/app.min.js", ["*.min.js"], True),
        ("node_modules", ["node_modules"], True),
        ("src/app.py", ["*.min.js", "docs/"], False),
        ("docs/index.md", ["docs/"], True),
        # "**/" is any directories, none included (gitignore): fnmatch alone missed the top level
        ("node_modules/x.js", ["**/node_modules"], True),
        ("a/node_modules/x.js", ["**/node_modules"], True),
        ("app.min.js", ["**/*.min.js"], True),
        ("vendor/x/y.py", ["**/vendor/x"], True),
        ("vendor/x/y.py", ["**/x/y.py"], True),
        ("src/vendor/x/y.py", ["**/vendor/x/**"], True),
        ("a/b", ["a/**/b"], True),
        ("a/x/y/b/c.py", ["a/**/b"], True),
        ("ab/c.py", ["a/**/b"], False),
        ("src/fixtures/x.py", ["/fixtures"], False),
        ("fixtures/x.py", ["/fixtures"], True),
    ],
)
def test_exclude_globs(path, patterns, excluded):
    assert is_excluded(path, patterns) is excluded


def test_results_do_not_depend_on_jobs(tmp_path, write, monkeypatch):
    for i in range(150):
        write(f"d{i % 7}/f{i}.py", f"# {i}\n" * (i % 5) + (f"t = '{TOKEN}'\n" if i % 3 == 0 else "x = 1\n"))
    rules = load_rules([DATA / "custom-rules.toml"], bundled=False)
    monkeypatch.chdir(tmp_path)
    one, stats_one = scan_files(["."], rules, ScanOptions(jobs=1))
    two, stats_two = scan_files(["."], rules, ScanOptions(jobs=2))
    assert one == two and len(one) == 50
    assert stats_one.files_scanned == stats_two.files_scanned == 150


# --- whole-machine scans: blocking, loops, races, pseudo filesystems, places ---------------

@pytest.fixture
def no_hang():
    """Fail (instead of hanging CI) if the test takes longer than 20 s."""
    with fail_after(20, "test (something blocked or looped?)"):
        yield


def _host_scan(root: Path, **options):
    rules = load_rules([DATA / "custom-rules.toml"], bundled=False)
    return scan_files([str(root)], rules, ScanOptions(jobs=1, host_root=str(root), **options))


def test_symlink_loops_are_safe_when_following(tmp_path, write, no_hang):
    write("a/b/leak.py", f"t = '{TOKEN}'\n")
    os.symlink("..", tmp_path / "a" / "b" / "up")  # a/b/up -> a: a loop
    os.symlink("/a", tmp_path / "again")  # the same directory a second time (absolute: inside the root)
    os.symlink("/nowhere", tmp_path / "dangling")
    os.symlink("self", tmp_path / "self")  # a link to itself: ELOOP
    os.symlink("/a/b/leak.py", tmp_path / "linked.py")
    findings, stats = _host_scan(tmp_path, follow_symlinks=True)
    assert sorted(f.path for f in findings) == ["/a/b/leak.py", "/linked.py"]
    assert stats.skipped == {"symlink-loop": 2, "duplicate-directory": 1, "broken-symlink": 1}


def test_absolute_links_of_a_snapshot_lead_inside_it(tmp_path, no_hang):
    """Under ``--root`` a link to ``/etc/app`` means the snapshot's ``/etc/app``: the kernel would
    take the scanning host's own, so a scan read (and reported as the snapshot's) the operator's
    files, and counted a link to a path only the snapshot has as broken."""
    host_only = tmp_path / "host-only"
    host_only.mkdir()
    (host_only / "leak.py").write_text(f"t = '{TOKEN}'\n")
    snap = tmp_path / "snap"
    (snap / "etc" / "app").mkdir(parents=True)
    (snap / "etc" / "app" / "leak.py").write_text(f"t = '{TOKEN}'\n")
    (snap / "opt").mkdir()
    os.symlink("/etc/app", snap / "opt" / "cfg")  # only the snapshot has it
    os.symlink("/etc/app/leak.py", snap / "opt" / "cfg.py")
    os.symlink(str(host_only), snap / "opt" / "host")  # only the host has it
    os.symlink("../../../../../../../etc/app", snap / "opt" / "up")  # ".." stops at the root
    findings, stats = _host_scan(snap, follow_symlinks=True)
    assert sorted(f.path for f in findings) == ["/etc/app/leak.py", "/opt/cfg.py"]
    assert stats.skipped == {"duplicate-directory": 2, "broken-symlink": 1}
    assert stats.skipped_paths["broken-symlink"] == ["/opt/host"]
    findings, stats = _host_scan(snap)
    assert [f.path for f in findings] == ["/etc/app/leak.py"]
    assert stats.skipped == {"symlink-not-followed": 3, "broken-symlink": 1}


def test_symlinks_are_not_followed_by_default(tmp_path, write, no_hang):
    write("a/leak.py", f"t = '{TOKEN}'\n")
    os.symlink("/a", tmp_path / "again")
    os.symlink("..", tmp_path / "a" / "up")
    findings, stats = _host_scan(tmp_path)
    assert [f.path for f in findings] == ["/a/leak.py"]
    assert stats.skipped == {"symlink-not-followed": 2}


def test_host_scan_skips_pseudo_filesystems_under_the_root(tmp_path, write, no_hang):
    for d in ("proc/1/environ", "sys/kernel/x", "dev/null.txt", "run/secrets/t", "var/run/t"):
        write(d, f"t = '{TOKEN}'\n")
    write("srv/app/settings.py", f"t = '{TOKEN}'\n")
    findings, stats = _host_scan(tmp_path)
    assert [f.path for f in findings] == ["/srv/app/settings.py"]
    assert stats.skipped == {"pseudo-filesystem": 5}
    assert sorted(stats.skipped_paths["pseudo-filesystem"]) == ["/dev", "/proc", "/run", "/sys", "/var/run"]
    # A repository scan has no such notion: the same tree is all ordinary files.
    rules = load_rules([DATA / "custom-rules.toml"], bundled=False)
    repo_findings, _ = scan_files([str(tmp_path)], rules, ScanOptions(jobs=1))
    assert len(repo_findings) == 6


def test_places_override_excludes_in_host_scans_only(tmp_path, write, monkeypatch):
    write("home/u/.bash_history", f"export T={TOKEN}\n")
    write("home/u/bot/.env", f"T={TOKEN}\n")
    write("home/u/bot/main.py", f"t = '{TOKEN}'\n")
    findings, _ = _host_scan(tmp_path, excludes=("home/**", ".env"))
    assert {(f.path, dict(f.provenance.extra)["place"]) for f in findings} == {
        ("/home/u/.bash_history", "shell-history"), ("/home/u/bot/.env", "dotenv")}
    repo, _ = _scan(tmp_path, monkeypatch, excludes=("home/**",))
    assert repo == []
    labelled, _ = _scan(tmp_path, monkeypatch)
    assert {f.path: dict(f.provenance.extra).get("place") for f in labelled} == {
        "home/u/.bash_history": "shell-history", "home/u/bot/.env": "dotenv", "home/u/bot/main.py": None}


def test_file_deleted_during_the_scan_is_reported(tmp_path, write, monkeypatch, no_hang):
    write("a.py", f"t = '{TOKEN}'\n")
    write("b.py", f"t = '{TOKEN}'\n")
    write("c.py", f"t = '{TOKEN}'\n")
    real_walk = scan_module.walk

    def walk_then_delete(*args, **kwargs):
        for item in real_walk(*args, **kwargs):
            yield item
            if item.display == "b.py":
                os.unlink(tmp_path / "b.py")  # walked, not yet read

    monkeypatch.setattr(scan_module, "walk", walk_then_delete)
    findings, stats = _scan(tmp_path, monkeypatch)
    assert [f.path for f in findings] == ["a.py", "c.py"]
    assert stats.skipped == {"vanished-or-missing": 1}
    assert stats.skipped_paths["vanished-or-missing"] == ["b.py"]


def test_file_swapped_for_a_fifo_or_symlink_mid_scan_never_blocks(tmp_path, write, monkeypatch, no_hang):
    write("pipe.py", f"t = '{TOKEN}'\n")
    write("link.py", f"t = '{TOKEN}'\n")
    grows = write("grows.py", f"t = '{TOKEN}'\n")
    monkeypatch.chdir(tmp_path)
    items = list(walk(["."], ScanStats(), max_file_size=10_000, base=str(tmp_path)))
    os.unlink(tmp_path / "pipe.py")
    os.mkfifo(tmp_path / "pipe.py")  # nobody writes: a blocking open would hang here
    os.unlink(tmp_path / "link.py")
    os.symlink("/etc/hostname", tmp_path / "link.py")
    grows.write_text(f"t = '{TOKEN}'\n" * 3)
    rules = load_rules([DATA / "custom-rules.toml"], bundled=False)
    findings, stats = scan_items(BlobScanner(rules, ScanOptions()), items, str(tmp_path))
    assert [f.path for f in findings] == ["grows.py"] * 3
    assert stats.skipped == {"special-file": 1, "replaced-by-symlink": 1}


def test_host_scans_note_a_file_that_changed_between_walk_and_read(tmp_path, write):
    """Host walks stat each file (repository walks leave that to the reader): a log that
    grows before it is read is scanned as read, and the summary says so."""
    grows = write("grows.py", f"t = '{TOKEN}'\n")
    items = list(walk([str(tmp_path)], ScanStats(), max_file_size=10_000,
                      options=WalkOptions(max_file_size=10_000, host_root=str(tmp_path))))
    grows.write_text(f"t = '{TOKEN}'\n" * 3)
    rules = load_rules([DATA / "custom-rules.toml"], bundled=False)
    findings, stats = scan_items(BlobScanner(rules, ScanOptions(host_root=str(tmp_path))), items, str(tmp_path))
    assert [f.path for f in findings] == ["/grows.py"] * 3
    assert stats.notes["changed during the scan (scanned as read)"] == 1


def test_sparse_and_huge_files_are_capped(tmp_path, write):
    with open(tmp_path / "sparse.img", "wb") as fh:
        fh.truncate(50 * 1024 * 1024 * 1024)  # 50 GB logical, no blocks
    write("ok.py", f"t = '{TOKEN}'\n")
    findings, stats = _host_scan(tmp_path)
    assert [f.path for f in findings] == ["/ok.py"]
    assert stats.skipped == {"too-large": 1} and stats.skipped_paths["too-large"] == ["/sparse.img"]


def test_one_file_system_stays_on_the_root_device(tmp_path, write, no_hang):
    other = Path("/dev/shm")
    if not other.is_dir() or os.stat(other).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second filesystem to cross into")
    outside = Path(tempfile.mkdtemp(dir=other))
    try:
        (outside / "leak.py").write_text(f"t = '{TOKEN}'\n")
        os.symlink(outside, tmp_path / "mnt")
        write("here.py", f"t = '{TOKEN}'\n")
        rules = load_rules([DATA / "custom-rules.toml"], bundled=False)
        both, _ = scan_files([str(tmp_path)], rules, ScanOptions(jobs=1, follow_symlinks=True))
        assert len(both) == 2
        one, stats = scan_files([str(tmp_path)], rules, ScanOptions(jobs=1, follow_symlinks=True,
                                                                    one_file_system=True))
        assert len(one) == 1 and stats.skipped == {"other-filesystem": 1}
    finally:
        shutil.rmtree(outside)


def test_non_utf8_names_survive_every_report_format(tmp_path):
    name = os.fsencode(str(tmp_path)) + b"/caf\xe9.env"
    with open(name, "wb") as fh:
        fh.write(f"T={TOKEN}\n".encode())
    findings, stats = _host_scan(tmp_path)
    assert len(findings) == 1 and findings[0].path == "/caf\udce9.env"
    target = ScanTarget("dir", (str(tmp_path),), "box", str(tmp_path))
    for fmt in ("text", "json", "sarif"):
        out = render(fmt, findings, stats, target, {})
        assert out.isascii() or fmt == "text"
    sarif = json.loads(render("sarif", findings, stats, target, {}))
    assert sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] \
        == "file:///caf%E9.env"
