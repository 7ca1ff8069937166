"""Shared test helpers: run the installed command as a user would, build rules from text."""
from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def brokerscan_command() -> list[str]:
    exe = shutil.which("brokerscan")
    return [exe] if exe else [sys.executable, "-m", "scanner"]


def run_cli(*args: str, cwd: Path | str | None = None, stdin: bytes | None = None,
            env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    full_env.pop("CI", None) if env and env.get("CI") == "" else None
    return subprocess.run(
        [*brokerscan_command(), *args], cwd=cwd, input=stdin if stdin is not None else b"",
        capture_output=True, env=full_env, timeout=timeout,
    )


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
