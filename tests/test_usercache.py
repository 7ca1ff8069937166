"""The per-user cache as a user meets it: a second scan (workers included) loads what the
first compiled, reports the same, and the cache holds nothing from the scanned files."""
from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

from conftest import run_cli

from scanner.prefilter import hyperscan_available
from scanner.usercache import prune

FLEX = "https://ndcdyn.interactivebrokers.com/AccountManagement/FlexWebService/SendRequest?t={}&q=704819&v=3"


def make_tree(root: Path) -> None:
    """Enough files for a worker pool (more than the inline limit), a few with findings."""
    for i in range(120):
        body = f"def f{i}(x):\n    return x + {i}\n"
        if i % 40 == 7:
            token = "".join(random.Random(i).choices("0123456789", k=24))  # synthetic, Flex-shaped
            body += f'URL = "{FLEX.format(token)}"\nTWS_PASSWORD = "Rk{i:02d}zQ8mWp4L"\n'
        (root / f"mod_{i:03}.py").write_text(body)


def findings(result) -> list[tuple]:
    report = json.loads(result.stdout)
    return [(f["rule_id"], f["path"], f["line"], f["column"], f["confidence"], f["fingerprint"]) for f in report["findings"]]


def test_a_second_scan_uses_the_cache_and_reports_the_same(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    make_tree(tree)
    cache = tmp_path / "cache"
    env = {"BROKERSCAN_CACHE_DIR": str(cache), "BROKERSCAN_NO_CACHE": ""}
    first = run_cli("dir", str(tree), "-f", "json", "--jobs", "2", env=env)
    assert first.returncode == 1, first.stderr
    compiled = sorted(p.relative_to(cache) for p in cache.rglob("*") if p.is_file())
    assert any(p.parts[0] == "regex" for p in compiled)
    if hyperscan_available():
        assert any(p.parts[0] == "hyperscan" for p in compiled)
    second = run_cli("dir", str(tree), "-f", "json", "--jobs", "2", env=env)
    uncached = run_cli("dir", str(tree), "-f", "json", "--jobs", "2", env={"BROKERSCAN_NO_CACHE": "1"})
    assert findings(first) == findings(second) == findings(uncached) and len(findings(first)) == 6
    for path in cache.rglob("*"):  # nothing from the scanned files: no path, no secret
        if path.is_file():
            data = path.read_bytes()
            assert b"Rk07zQ8mWp4L" not in data and str(tree).encode() not in data and b"mod_0" not in data
            assert path.stat().st_mode & 0o077 == 0



def test_a_fresh_cache_folder_is_private_but_its_parents_are_left_alone(tmp_path: Path, monkeypatch) -> None:
    """``$XDG_CACHE_HOME/brokerscan`` holds ``rules-*.json`` directly: it is created 0700 like its
    ``hyperscan/`` and ``regex/`` folders, while ``$XDG_CACHE_HOME`` keeps the mode it had."""
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "app.py").write_text("x = 1\n")
    xdg = tmp_path / "xdg"
    xdg.mkdir()
    xdg.chmod(0o755)
    monkeypatch.delenv("BROKERSCAN_CACHE_DIR")  # the default location, as a user has it
    cache = xdg / "brokerscan"
    result = run_cli("dir", str(tree), env={"XDG_CACHE_HOME": str(xdg), "BROKERSCAN_NO_CACHE": ""})
    assert result.returncode == 0, result.stderr
    folders = [cache, *(p for p in cache.rglob("*") if p.is_dir())]
    assert any(cache.glob("rules-*.json")) and len(folders) > 1
    assert {str(p.relative_to(xdg)): oct(p.stat().st_mode & 0o777) for p in folders} == \
        {str(p.relative_to(xdg)): "0o700" for p in folders}
    assert xdg.stat().st_mode & 0o777 == 0o755

def test_prune_keeps_the_newest_and_removes_stale_temporary_files(tmp_path: Path) -> None:
    now = time.time()
    names = [f"{i:032x}.re" for i in range(6)]
    for age, name in enumerate(reversed(names)):
        (tmp_path / name).write_bytes(b"x")
        os.utime(tmp_path / name, (now - age * 60, now - age * 60))
    (tmp_path / ".tmp-killed.re").write_bytes(b"x")
    os.utime(tmp_path / ".tmp-killed.re", (now - 3 * 86400, now - 3 * 86400))
    (tmp_path / ".tmp-writing.re").write_bytes(b"x")  # another process is writing it now
    (tmp_path / "notes.txt").write_bytes(b"not ours")
    prune(tmp_path, keep=tmp_path / names[0], suffix=".re", count=3)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([names[0], *names[-3:], ".tmp-writing.re", "notes.txt"])
