"""The directory walk on real trees: bad inputs are counted by reason, never raised."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from scanner.models import ScanStats
from scanner.rules import load_rules
from scanner.scan import BlobScanner, ScanOptions, scan_files, scan_items
from scanner.sources import files as files_source
from scanner.sources.files import is_excluded, walk

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
