"""Shared test helpers: run the installed command as a user would, build rules from text."""
from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
_CACHE_ENV = "BROKERSCAN_CACHE_DIR"
_session_cache: dict[str, str | None] = {}


def pytest_configure(config: pytest.Config) -> None:
    """Point the parsed-rules cache at a private folder for the whole session, before collection
    (modules call ``load_rules()`` at import time) and for every ``brokerscan`` subprocess, so the
    suite never writes to the real ``~/.cache`` nor reads a cache another checkout left there."""
    _session_cache["previous"] = os.environ.get(_CACHE_ENV)
    _session_cache["dir"] = os.environ[_CACHE_ENV] = tempfile.mkdtemp(prefix="brokerscan-test-cache-")


def pytest_unconfigure(config: pytest.Config) -> None:
    if "dir" not in _session_cache:
        return
    shutil.rmtree(_session_cache.pop("dir"), ignore_errors=True)
    previous = _session_cache.pop("previous")
    if previous is None:
        os.environ.pop(_CACHE_ENV, None)
    else:
        os.environ[_CACHE_ENV] = previous


def brokerscan_command() -> list[str]:
    """This checkout's brokerscan (run with ``cli_env()``). Not the ``brokerscan`` on PATH: that
    may be another checkout's editable install or an older release, and the CLI tests would
    then pass or fail for code they do not test."""
    return [sys.executable, "-m", "scanner"]


def cli_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for ``brokerscan_command()``: this checkout first on the import path."""
    paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), **(env or {})}


def run_cli(*args: str, cwd: Path | str | None = None, stdin: bytes | None = None,
            env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    full_env = cli_env({"NO_COLOR": "1", **(env or {})})
    full_env.pop("CI", None) if env and env.get("CI") == "" else None
    return subprocess.run(
        [*brokerscan_command(), *args], cwd=cwd, input=stdin if stdin is not None else b"",
        capture_output=True, env=full_env, timeout=timeout,
    )


@pytest.fixture
def user_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A per-user cache of this test's own, turned on: its folder (``BROKERSCAN_CACHE_DIR``)."""
    monkeypatch.setenv("BROKERSCAN_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("BROKERSCAN_NO_CACHE", raising=False)
    return tmp_path


@pytest.fixture
def write(tmp_path: Path):
    """write('a/b.txt', 'text') -> Path, creating folders."""

    def _write(rel: str, content: str | bytes) -> Path:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)
        return path

    return _write


@contextmanager
def fail_after(seconds: int, what: str) -> Iterator[None]:
    """Raise TimeoutError instead of hanging CI (pytest-timeout is not a dependency)."""
    def on_alarm(signum, frame):
        raise TimeoutError(f"{what} took over {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
