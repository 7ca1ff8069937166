"""Shared helpers for the benchmarks in ``bench/``: measurement, report parsing, printing.

Every benchmark script measures the same way through these:

* **Measurement.** Wall time of a child process plus the peak memory of its whole
  process tree (a scanner that forks workers must not look lighter than one that
  uses threads).
* **Reports.** Each tool writes JSON in its own shape; ``load_findings`` and
  ``planted_recall`` read any of them well enough to count findings and to tell
  which planted credentials a tool reported.

The corpus (tree, planted credentials, manifest) lives in ``_corpus.py``.
"""
from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__:  # ``python -m bench.bench_dir`` from the project root
    from ._corpus import Plant
else:  # ``python bench/bench_dir.py``
    from _corpus import Plant  # type: ignore[no-redef]

# ---------------------------------------------------------------------------
# The brokerscan under test
# ---------------------------------------------------------------------------

def hook_venv(path: Path) -> Path:
    """A venv with brokerscan installed the way a user or pre-commit installs it: ``pip install .``
    of this checkout, not editable, nothing else. A development environment's start-up runs every
    ``.pth`` file of its site-packages (editable finders; on these machines a sandbox's
    certificate hook that imports certifi: ``python -c pass`` 0.12-0.16 s instead of ~0.02 s),
    which a user's install never pays. Rebuilt when the checkout's commit changes."""
    root = Path(__file__).resolve().parents[1]
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=False).stdout.strip()
    stamp = path / "brokerscan-commit"
    if not (stamp.is_file() and stamp.read_text() == head and (path / "bin" / "brokerscan").is_file()):
        print(f"building {path} (pip install . of {head[:12] or 'this checkout'})")
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(path)], check=True)
        subprocess.run([str(path / "bin" / "python"), "-m", "pip", "install", "--quiet", str(root)], check=True)
        subprocess.run([str(path / "bin" / "python"), "-m", "compileall", "-q", str(path / "lib")], check=False)
        stamp.write_text(head)
    return path


# ---------------------------------------------------------------------------
# Measurement
# ---------------------------------------------------------------------------

@dataclass
class RunResult:
    """One timed run of a child process."""

    wall_s: float
    returncode: int
    peak_rss: int  # bytes, whole process tree (see ``run_measured``)
    peak_pss: int  # bytes, sum of proportional set sizes (shared pages split between sharers)
    cpu_s: float  # user + system of the child and the descendants it waited for
    timed_out: bool = False


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` from ``/proc/<pid>/task/*/children`` (all threads)."""
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as fh:
                out.extend(int(c) for c in fh.read().split())
        except (OSError, ValueError):
            continue
    return out


def _descendants(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    seen: list[int] = []
    stack = [pid]
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.append(current)
        stack.extend(_children(current))
    return seen


def _status_kb(pid: int, fields: tuple[str, ...]) -> dict[str, int]:
    """Selected ``kB`` fields from ``/proc/<pid>/status`` (VmRSS, VmHWM); empty if gone."""
    found: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                if key in fields:
                    found[key] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return found


def _pss_kb(pid: int) -> int:
    """Proportional set size from ``/proc/<pid>/smaps_rollup``; 0 if unavailable."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


# The poller shares the machine with the tool it measures. Every 20 ms, with PSS each time
# (``smaps_rollup`` walks a process's page tables), it took 1.4-1.7 CPU-s during a 5 s
# brokerscan history scan of seven processes on 2 vCPUs and made it a second slower (5.4 s
# against 4.4 s at 0.5 s); tools with fewer processes paid less. Every 100 ms, PSS every
# fifth sample; a process's own peak between samples still comes from its VmHWM.
POLL_INTERVAL_S = 0.1
PSS_EVERY = 5


class TreeMemoryPoller:
    """Samples the memory of a process tree from a background thread.

    Peak RSS is the largest *simultaneous* sum of ``VmRSS`` over the tree seen in any
    sample, raised to the largest per-process ``VmHWM`` (the kernel's own high-water
    mark, which catches a single process's peak between samples). Summed RSS counts
    pages shared between forked workers once per worker, so it errs high for
    multi-process tools; the PSS sum is kept alongside as the fair-share figure.
    """

    def __init__(self, pid: int, interval: float = POLL_INTERVAL_S) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_rss_kb = 0
        self.peak_pss_kb = 0
        self._samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mem-poller", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self) -> None:
        with_pss = self._samples % PSS_EVERY == 0
        self._samples += 1
        rss_sum = pss_sum = 0
        for pid in _descendants(self.pid):
            status = _status_kb(pid, ("VmRSS", "VmHWM"))
            rss_sum += status.get("VmRSS", 0)
            self.peak_rss_kb = max(self.peak_rss_kb, status.get("VmHWM", 0))
            if with_pss:
                pss_sum += _pss_kb(pid)
        self.peak_rss_kb = max(self.peak_rss_kb, rss_sum)
        self.peak_pss_kb = max(self.peak_pss_kb, pss_sum)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)


def run_measured(argv: Sequence[str], stdout: Path, stderr: Path, cwd: Path | None = None,
                 env: dict[str, str] | None = None, timeout: float | None = None) -> RunResult:
    """Run ``argv`` and return its wall time, exit code, CPU time and peak tree memory.

    The main thread blocks in ``os.wait4`` so the wall time is not rounded to a polling
    interval; memory comes from ``TreeMemoryPoller``. ``wait4``'s ``ru_maxrss`` is not
    used: Linux carries the pre-``exec`` high-water mark into it, and a child forked
    (or vforked) from this Python process would be billed this process's own RSS.
    The child gets its own session so a timeout can end the whole tree it started,
    and nothing else.
    """
    import subprocess  # local: only this function spawns

    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                cwd=cwd, env=env, start_new_session=True)
        poller = TreeMemoryPoller(proc.pid)
        poller.start()
        timer: threading.Timer | None = None
        timed_out = threading.Event()
        if timeout:
            def _kill() -> None:
                timed_out.set()
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, 9)
            timer = threading.Timer(timeout, _kill)
            timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        if timer is not None:
            timer.cancel()
        poller.stop()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return RunResult(
        wall_s=wall,
        returncode=proc.returncode,
        peak_rss=poller.peak_rss_kb * 1024,
        peak_pss=poller.peak_pss_kb * 1024,
        cpu_s=usage.ru_utime + usage.ru_stime,
        timed_out=timed_out.is_set(),
    )


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


# ---------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------

_FINDINGS_KEYS = ("findings", "results", "leaks", "matches")
_PATH_KEYS = frozenset({"path", "file", "filepath", "filename"})  # compared without "_" and "-"
_LINE_KEYS = frozenset({"line", "startline", "linenumber", "lineno"})


class ReportError(Exception):
    """A tool's report is missing or is not JSON we can read."""


def load_findings(path: Path) -> list[dict[str, Any]]:
    """The list of finding objects in a JSON (or JSON Lines) report of any of the tools.

    gitleaks writes a bare list; Kingfisher and brokerscan write an object with a
    ``findings`` list. JSON Lines (one finding per line) is accepted as a fallback.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"{path}: {exc}") from None
    if not text.strip():
        return []
    try:
        doc: Any = json.loads(text)
    except ValueError:
        try:
            doc = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError as exc:
            raise ReportError(f"{path}: not JSON: {exc}") from None
    if isinstance(doc, dict):
        for key in _FINDINGS_KEYS:
            if isinstance(doc.get(key), list):
                return [f for f in doc[key] if isinstance(f, dict)]
        raise ReportError(f"{path}: no findings list under any of {_FINDINGS_KEYS}")
    if isinstance(doc, list):
        return [f for f in doc if isinstance(f, dict)]
    raise ReportError(f"{path}: unexpected JSON top level {type(doc).__name__}")


def _walk(obj: Any, depth: int = 0) -> Iterator[tuple[str, Any]]:
    """Breadth-first ``(key, value)`` pairs of a nested finding, shallow keys first."""
    queue: list[tuple[Any, int]] = [(obj, depth)]
    while queue:
        current, level = queue.pop(0)
        if level > 6:
            continue
        if isinstance(current, dict):
            for key, value in current.items():
                yield str(key), value
                if isinstance(value, (dict, list)):
                    queue.append((value, level + 1))
        elif isinstance(current, list):
            for value in current:
                if isinstance(value, (dict, list)):
                    queue.append((value, level + 1))
                elif isinstance(value, str):
                    yield "", value


@dataclass(frozen=True)
class FindingKey:
    """What recall needs from a finding: where it points and every string it carries."""

    path: str | None
    line: int | None
    strings: tuple[str, ...]


def finding_key(finding: dict[str, Any]) -> FindingKey:
    """Path, line and strings of one finding, whatever the tool's field names.

    The shallowest ``path``/``file`` string and ``line``/``StartLine`` integer win,
    so gitleaks (``File``, ``StartLine``), Kingfisher (``finding.path``,
    ``finding.line``) and nested layouts (``location.line``) all resolve.
    """
    path: str | None = None
    line: int | None = None
    strings: list[str] = []
    for key, value in _walk(finding):
        norm = key.lower().replace("_", "").replace("-", "")
        if isinstance(value, str):
            strings.append(value)
            if path is None and value and norm in _PATH_KEYS:
                path = value
        elif isinstance(value, int) and not isinstance(value, bool) and line is None and norm in _LINE_KEYS:
            line = value
    return FindingKey(path, line, tuple(strings))


def _same_file(reported: str | None, planted: str, tree_prefix: str) -> bool:
    """A reported path (absolute, tree-relative, or relative to somewhere above) names ``planted``."""
    if not reported:
        return False
    reported = reported.replace("\\", "/").removeprefix(tree_prefix).removeprefix("./")
    return reported == planted or reported.endswith("/" + planted)


def planted_recall(findings: Sequence[dict[str, Any]], plants: Sequence[Plant], tree: Path) -> list[Plant]:
    """The planted credentials that some finding reports; the rest were missed.

    A plant counts as found when a finding carries its value (gitleaks' ``Secret``,
    Kingfisher's ``snippet``) or, for reports that redact secrets, when a finding
    points at the plant's file and line.
    """
    keys = [finding_key(f) for f in findings]
    tree_prefix = tree.resolve().as_posix().rstrip("/") + "/"
    found = []
    for plant in plants:
        hit = any(plant.value in s for k in keys for s in k.strings)
        if not hit:
            hit = any(k.line == plant.line and _same_file(k.path, plant.path, tree_prefix) for k in keys)
        if hit:
            found.append(plant)
    return found


# ---------------------------------------------------------------------------
# Printing
# ---------------------------------------------------------------------------

def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool] | None = None) -> str:
    """A plain aligned text table (no dependency); numeric columns right-aligned."""
    right = right or [False] * len(headers)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(headers), rule, *(fmt(r) for r in rows)])
