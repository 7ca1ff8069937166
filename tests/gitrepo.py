"""Real git repositories for the git, staged, baseline, pre-commit and action tests.

Built in ``tmp_path`` with a fixed identity and fixed, increasing dates, and with
the user's and the system's git config ignored, so tests mean the same on every
machine (CI runs as root with no global config at all).
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, run_cli

DATA = ROOT / "tests" / "data"
RULES = str(DATA / "git-rules.toml")
TEST_RULE_PREFIX = "test-"

# Synthetic values in the shapes of tests/data/git-rules.toml; none is a real credential.
FLEX_1 = "739183640527184930261845"
FLEX_2 = "508216937450182736495021"
FLEX_3 = "914730265819304725168390"
TWS_PW = "Qz7mW2pLk9Xv"
TOTP = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXQ"

DESK_1 = "zqdesk_Q7rV2lMz8KpW4nXt9BcD"  # test-desk-key: a shape no bundled rule matches
DESK_2 = "zqdesk_M3kP9wQ2xR7tL5vN8bZc"
DESK_3 = "zqdesk_W8nB4cX2mQ9rT6yK3hLp"

BASE_DATE = 1_700_000_000


def git_env(home: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({
        "GIT_AUTHOR_NAME": "Ada Author", "GIT_AUTHOR_EMAIL": "ada@example.com",
        "GIT_COMMITTER_NAME": "Ada Author", "GIT_COMMITTER_EMAIL": "ada@example.com",
        "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0",
    })
    if home is not None:
        env["HOME"] = str(home)
    return env


class Repo:
    """A work tree (or bare repository) with helpers to write, stage and commit."""

    def __init__(self, path: Path, *, init: bool = True, bare: bool = False) -> None:
        self.path = path
        self.ticks = 0
        if init:
            path.mkdir(parents=True, exist_ok=True)
            self.git("init", "-q", "-b", "main", *(["--bare"] if bare else []))

    def git(self, *args: str, input: bytes | None = None, env: dict[str, str] | None = None,
            check: bool = True) -> str:
        proc = subprocess.run(["git", "-c", "user.name=Ada Author", "-c", "user.email=ada@example.com",
                               "-c", "commit.gpgsign=false", *args],
                              cwd=self.path, input=input, capture_output=True, env={**git_env(), **(env or {})},
                              check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr.decode(errors='replace')}")
        return proc.stdout.decode("utf-8", "surrogateescape").strip()

    def write(self, rel: str | bytes, content: str | bytes) -> Path:
        path = Path(os.fsdecode(os.path.join(os.fsencode(self.path), os.fsencode(rel))))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path

    def stage(self, files: dict[str | bytes, str | bytes | None]) -> None:
        for rel, content in files.items():
            if content is None:
                self.git("rm", "-q", "--", os.fsdecode(rel))
            else:
                self.write(rel, content)
                self.git("add", "--", os.fsdecode(rel))

    def commit(self, message: str, files: dict[str | bytes, str | bytes | None] | None = None,
               *, author: str | None = None) -> str:
        """Stage ``files`` (``None`` deletes one) and commit; returns the commit id."""
        if files:
            self.stage(files)
        self.ticks += 1
        stamp = f"@{BASE_DATE + self.ticks * 86400} +0000"
        env = {"GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}
        if author:
            env["GIT_AUTHOR_NAME"] = author
        self.git("commit", "-q", "--allow-empty", "-m", message, env=env)
        return self.git("rev-parse", "HEAD")

    def loose_object_path(self, sha: str) -> Path:
        git_dir = Path(self.git("rev-parse", "--absolute-git-dir"))
        return git_dir / "objects" / sha[:2] / sha[2:]


def scan(*args: str, cwd: Path | str | None = None, env: dict[str, str] | None = None,
         rules: bool = True, timeout: float = 300):
    """Run brokerscan with the test rules; returns the CompletedProcess."""
    extra = ["--rules", RULES] if rules else []
    return run_cli(*args, *extra, cwd=cwd, env={**git_env(), **(env or {})}, timeout=timeout)


def scan_json(*args: str, cwd: Path | str | None = None, env: dict[str, str] | None = None,
              expect: tuple[int, ...] = (0, 1)) -> dict:
    """Run a scan with ``-f json --show-secrets``; the report, checked for a sane exit code."""
    result = scan(*args, "-f", "json", "--show-secrets", cwd=cwd, env=env)
    assert result.returncode in expect, (result.returncode, result.stderr.decode(errors="replace"))
    assert b"Traceback" not in result.stderr, result.stderr.decode(errors="replace")
    return json.loads(result.stdout)


def test_findings(report: dict) -> list[dict]:
    """Findings of the test rules only (the bundled pack may flag other things)."""
    return [f for f in report["findings"] if f["rule_id"].startswith(TEST_RULE_PREFIX)]


test_findings.__test__ = False  # a helper, not a test


def flex(value: str) -> str:
    """A Flex Web Service token assignment: the line most git tests plant."""
    return f'FLEX_TOKEN = "{value}"\n'


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    """A fresh repository in a temporary folder (import this fixture into a test module)."""
    return Repo(tmp_path / "repo")
