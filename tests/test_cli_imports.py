"""Start-up cost of the command line: what each verb imports.

A pre-commit run pays for every module the CLI imports before it scans, so modules only
some verbs need are imported by those verbs. These tests run a fresh interpreter (this
process has imported everything already) and look at ``sys.modules`` afterwards.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]


def modules_after(argv: list[str], cwd: Path | None = None) -> set[str]:
    """The modules ``scanner.cli.main(argv)`` loaded, in a fresh interpreter (what ``site`` and
    this harness load are left out: they are there for any command)."""
    code = (
        "import sys, contextlib, io\n"
        "before = set(sys.modules)\n"
        "from scanner.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
        f"    main({argv!r})\n"
        "new = sorted(set(sys.modules) - before)\n"
        "import json\n"
        "print(json.dumps(new))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    result = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                            check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_version_imports_almost_nothing_of_scanner():
    loaded = modules_after(["--version"])
    assert {m for m in loaded if m.split(".")[0] == "scanner"} <= {"scanner", "scanner.cli", "scanner.cli_git"}
    assert not {"socket", "json", "tomllib", "regex", "dataclasses"} & loaded


def test_scanning_verbs_do_not_import_merge(tmp_path):
    (tmp_path / "a.txt").write_text("nothing to see\n")
    loaded = modules_after(["dir", str(tmp_path), "--no-progress"], cwd=tmp_path)
    assert "scanner.rules" in loaded  # the run did happen
    assert "scanner.merge" not in loaded


def test_merge_verb_still_parses_and_runs(tmp_path):
    help_text = run_cli("merge", "--help")
    assert help_text.returncode == 0 and b"REPORT" in help_text.stdout and b"--show-secrets" in help_text.stdout
    report = tmp_path / "a.json"
    assert run_cli("dir", str(tmp_path), "-f", "json", "-o", str(report)).returncode == 0
    merged = run_cli("merge", str(report), "-f", "json")
    assert merged.returncode == 0, merged.stderr
    assert json.loads(merged.stdout)["findings"] == []


def test_staged_scan_imports_no_history_machinery(tmp_path):
    """The pre-commit hook runs `brokerscan staged`: the history scan's listing, cache and
    judging modules, `socket` (the host name comes from os.uname), and the readers of archives,
    notebooks and INI-like files (none is staged here) are not its to pay for."""
    import subprocess

    from gitrepo import git_env

    env = {**os.environ, **git_env()}
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, env=env)
    (tmp_path / "app.py").write_text('PASSWORD = "not-a-real-one-123"\n')
    subprocess.run(["git", "-C", str(tmp_path), "add", "app.py"], check=True, env=env)
    loaded = modules_after(["staged", "--no-config"], cwd=tmp_path)
    assert "scanner.gitscan" in loaded  # the staged scan did run
    assert not {"scanner.history", "scanner.history_paths", "scanner.gitcache", "socket",
                "scanner.sources.archives", "scanner.notebooks", "scanner.ast.lines"} & loaded
