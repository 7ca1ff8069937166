"""The pre-commit hook, driven by the real ``pre-commit`` package in temporary repositories.

Most tests use the hook exactly as ``.pre-commit-hooks.yaml`` defines it, but as a
``repo: local`` / ``language: system`` hook whose entry runs this checkout (no
virtualenv to build, no network). One test installs the hook the way users do
(``repo:`` pointing at a git copy of this project, ``language: python``), which
makes pre-commit build a virtualenv and pip-install brokerscan and its
dependencies; it is skipped when the package index cannot be reached.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from gitrepo import FLEX_1, FLEX_2, RULES, Repo, git_env

yaml = pytest.importorskip("yaml")
pytest.importorskip("pre_commit")

HOOKS_FILE = ROOT / ".pre-commit-hooks.yaml"


def flex(value: str) -> str:
    return f'FLEX_TOKEN = "{value}"\n'


def hook_definition() -> dict:
    [hook] = [h for h in yaml.safe_load(HOOKS_FILE.read_text()) if h["id"] == "brokerscan"]
    return hook


def test_hook_definition():
    hook = hook_definition()
    assert hook["language"] == "python" and hook["entry"] == "brokerscan staged"
    assert hook["pass_filenames"] is False and "pre-commit" in hook["stages"]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = git_env(home=tmp_path / "home")
    env.update({"PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"), "PYTHONPATH": str(ROOT),
                "NO_COLOR": "1", "PRE_COMMIT_COLOR": "never", **extra})
    env.pop("SKIP", None)
    return env


def _run(repo: Repo, argv: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=repo.path, capture_output=True, env=env, timeout=timeout,
                          stdin=subprocess.DEVNULL, check=False)


def _commit(repo: Repo, env: dict[str, str], message: str = "change") -> subprocess.CompletedProcess:
    return _run(repo, ["git", "commit", "-m", message], env)


@pytest.fixture
def hooked(tmp_path: Path) -> tuple[Repo, dict[str, str]]:
    """A repository with the brokerscan hook installed as a local system hook running this checkout."""
    (tmp_path / "home").mkdir()
    repo = Repo(tmp_path / "repo")
    hook = {**hook_definition(), "language": "system",
            "entry": f"{sys.executable} -m scanner staged", "args": ["--rules", RULES]}
    hook.pop("minimum_pre_commit_version", None)
    config = {"repos": [{"repo": "local", "hooks": [hook]}]}
    repo.commit("pre-commit config", {".pre-commit-config.yaml": yaml.safe_dump(config, sort_keys=False),
                                      "README": "hello\n"})
    env = _env(tmp_path)
    install = _run(repo, [sys.executable, "-m", "pre_commit", "install"], env)
    assert install.returncode == 0, install.stderr
    return repo, env


def head(repo: Repo) -> str:
    return repo.git("rev-parse", "HEAD")


def test_commit_adding_a_token_is_blocked_with_a_readable_message(hooked):
    repo, env = hooked
    before = head(repo)
    repo.stage({"settings.py": "DEBUG = False\n" + flex(FLEX_1)})
    result = _commit(repo, env)
    out = (result.stdout + result.stderr).decode(errors="replace")
    assert result.returncode != 0, out
    assert head(repo) == before
    assert "brokerscan" in out and "Failed" in out
    assert "settings.py" in out and "test-ibkr-flex-token" in out and "2:" in out
    assert "commit blocked" in out and "SKIP=brokerscan" in out
    assert FLEX_1 not in out  # redacted in the hook output too


def test_clean_commit_passes(hooked):
    repo, env = hooked
    repo.stage({"app.py": "print('hello')\n"})
    result = _commit(repo, env)
    assert result.returncode == 0, (result.stdout + result.stderr).decode(errors="replace")
    assert b"brokerscan" in result.stderr + result.stdout and b"Passed" in result.stderr + result.stdout


def test_skip_env_lets_a_commit_through(hooked):
    repo, env = hooked
    repo.stage({"settings.py": flex(FLEX_1)})
    result = _run(repo, ["git", "commit", "-m", "skip it"], {**env, "SKIP": "brokerscan"})
    assert result.returncode == 0, result.stderr
    assert b"Skipped" in result.stderr + result.stdout
    assert repo.git("log", "-1", "--format=%s") == "skip it"


def _rules_firing_on(line: str, env: dict[str, str]) -> list[str]:
    result = subprocess.run([sys.executable, "-m", "scanner", "stdin", "--rules", RULES, "-f", "json"],
                            input=line.encode(), capture_output=True, env=env, check=False)
    return sorted({f["rule_id"] for f in json.loads(result.stdout)["findings"]})


def test_inline_ignore_passes_and_an_old_line_does_not_block(hooked):
    repo, env = hooked
    repo.stage({"all.py": flex(FLEX_1).rstrip() + "  # brokerscan:ignore\n"})
    assert _commit(repo, env).returncode == 0
    ids = _rules_firing_on(flex(FLEX_1), env)  # the test rule, and any bundled rule that also fires
    assert "test-ibkr-flex-token" in ids
    repo.stage({"docs.py": flex(FLEX_1).rstrip() + f"  # brokerscan:ignore {','.join(ids)}\n"})
    assert _commit(repo, env).returncode == 0
    repo.stage({"other.py": flex(FLEX_2).rstrip() + "  # brokerscan:ignore some-other-rule\n"})
    assert _commit(repo, env).returncode != 0  # an ignore for another rule does not hide this one
    repo.git("reset", "-q")
    # a token committed with SKIP is history now: later edits to that file are not blocked by it
    repo.stage({"legacy.py": flex(FLEX_2)})
    assert _run(repo, ["git", "commit", "-m", "legacy"], {**env, "SKIP": "brokerscan"}).returncode == 0
    repo.stage({"legacy.py": "# a new first line\n" + flex(FLEX_2)})
    result = _commit(repo, env)
    assert result.returncode == 0, (result.stdout + result.stderr).decode(errors="replace")


def test_hook_with_a_baseline_argument(hooked):
    repo, env = hooked
    repo.stage({"legacy.py": "x = 1\n" + flex(FLEX_1)})
    assert _run(repo, ["git", "commit", "-m", "legacy"], {**env, "SKIP": "brokerscan"}).returncode == 0
    made = _run(repo, [sys.executable, "-m", "scanner", "baseline", "create", "git", "--rules", RULES], env)
    assert made.returncode == 0, made.stderr
    config = yaml.safe_load((repo.path / ".pre-commit-config.yaml").read_text())
    config["repos"][0]["hooks"][0]["args"] += ["--baseline", ".brokerscan-baseline.json"]
    repo.stage({".pre-commit-config.yaml": yaml.safe_dump(config, sort_keys=False),
                ".brokerscan-baseline.json": (repo.path / ".brokerscan-baseline.json").read_text()})
    assert _commit(repo, env, "adopt baseline").returncode == 0
    # the known token moves (its line is "added" in the diff): the baseline knows it
    repo.stage({"legacy.py": flex(FLEX_1) + "x = 1\n"})
    result = _commit(repo, env)
    assert result.returncode == 0, (result.stdout + result.stderr).decode(errors="replace")
    repo.stage({"legacy.py": flex(FLEX_1) + flex(FLEX_2)})
    assert _commit(repo, env).returncode != 0


def _project_copy(dest: Path) -> Path:
    """This project as a git repository pre-commit can clone (the work tree, uncommitted changes included)."""
    ignore = shutil.ignore_patterns(".git", "__pycache__", "*.egg-info", ".pytest_cache", "build", "dist", ".venv")
    shutil.copytree(ROOT, dest, ignore=ignore)
    if not (dest / "README.md").exists():  # pyproject names it; a checkout without it cannot be built
        (dest / "README.md").write_text("brokerscan\n")
    project = Repo(dest, init=True)
    project.git("add", "-A")
    project.commit("snapshot for the pre-commit test")
    return dest


def test_real_hook_definition_installs_and_blocks(tmp_path):
    """The way users install it: pre-commit clones the project and pip-installs it in a virtualenv."""
    if os.environ.get("BROKERSCAN_SKIP_NETWORK_TESTS"):
        pytest.skip("BROKERSCAN_SKIP_NETWORK_TESTS is set")
    (tmp_path / "home").mkdir()
    project = _project_copy(tmp_path / "brokerscan-src")
    rev = Repo(project, init=False).git("rev-parse", "HEAD")
    repo = Repo(tmp_path / "repo")
    config = {"repos": [{"repo": str(project), "rev": rev,
                         "hooks": [{"id": "brokerscan", "args": ["--rules", RULES]}]}]}
    repo.commit("config", {".pre-commit-config.yaml": yaml.safe_dump(config, sort_keys=False)})
    env = _env(tmp_path)
    env.pop("PYTHONPATH")
    setup = _run(repo, [sys.executable, "-m", "pre_commit", "install-hooks"], env, timeout=900)
    if setup.returncode != 0:
        log = (setup.stdout + setup.stderr).decode(errors="replace")
        logfile = tmp_path / "pre-commit-home" / "pre-commit.log"
        if logfile.exists():
            log += logfile.read_text(errors="replace")
        if any(s in log for s in ("Could not find a version", "NewConnectionError", "Temporary failure in name",
                                  "Network is unreachable", "No matching distribution")):
            pytest.skip("cannot install brokerscan's dependencies here (no package index): " + log[-300:])
        raise AssertionError(log[-3000:])
    assert _run(repo, [sys.executable, "-m", "pre_commit", "install"], env).returncode == 0
    repo.stage({"settings.py": flex(FLEX_1)})
    blocked = _commit(repo, env)
    out = (blocked.stdout + blocked.stderr).decode(errors="replace")
    assert blocked.returncode != 0 and "test-ibkr-flex-token" in out, out
    repo.stage({"settings.py": "x = 1\n"})
    passed = _commit(repo, env)
    assert passed.returncode == 0, (passed.stdout + passed.stderr).decode(errors="replace")
