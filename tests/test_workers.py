"""The worker pool behind parallel scans: ordered, bounded, and it never loses a task."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from conftest import fail_after
from scanner.workers import Lost, WorkerPool


def _square(x: int) -> int:
    return x * x


def _slow_odd(x: int) -> int:
    if x % 2:
        time.sleep(0.01)
    return x


def _slow_first(x: int) -> tuple[int, float]:
    time.sleep(1.5 if x == 0 else 0.01)
    return x, time.monotonic()


def _die_on(x: int, fatal: int) -> int:
    if x == fatal:
        os._exit(7)  # what the OOM killer or a crashing C extension looks like from outside
    return x


def _fail_on(x: int) -> int:
    if x == 3:
        raise ValueError("bad task 3")
    return x


_STATE: list[str] = []


def _init(tag: str) -> None:
    _STATE.append(tag)


def _tagged(x: int) -> str:
    return f"{_STATE[-1]}{x}"


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_results_come_back_in_task_order_whatever_the_timing(start_method):
    """Spawn is what macOS and Windows use: the pipes and the reader thread must work there too."""
    with fail_after(60, "the pool"), WorkerPool(2, _slow_odd, start_method=start_method) as pool:
        assert list(pool.map(((i,) for i in range(60)), window=3)) == list(range(60))


def test_the_task_iterator_is_pulled_lazily():
    """Memory must not grow with the tree: the pool may only run ahead of the oldest unanswered
    task by ``AHEAD_PER_WORKER`` tasks per worker (their results wait, in order)."""
    from scanner.workers import AHEAD_PER_WORKER

    pulled: list[int] = []

    def tasks():
        for i in range(200):
            pulled.append(i)
            yield (i,)

    with fail_after(30, "the pool"), WorkerPool(2, _square) as pool:
        results = pool.map(tasks(), window=3)
        assert [next(results) for _ in range(3)] == [0, 1, 4]
        assert len(pulled) <= 3 + 2 * max(3, AHEAD_PER_WORKER) < 200
        assert list(results) == [i * i for i in range(3, 200)]


def test_one_slow_task_does_not_leave_the_other_workers_idle():
    """A large parse in one batch: the other worker keeps taking tasks (their results wait for
    the slow one, in order). With the in-flight window as the only bound it stopped after 3."""
    from scanner.workers import AHEAD_PER_WORKER

    with fail_after(60, "the pool"), WorkerPool(2, _slow_first) as pool:
        out = list(pool.map(((i,) for i in range(40)), window=3))
    assert [x for x, _ in out] == list(range(40))
    slow_done = out[0][1]
    meanwhile = sum(1 for x, done in out[1:] if done < slow_done)
    assert meanwhile >= min(15, AHEAD_PER_WORKER), meanwhile


def test_a_worker_that_dies_is_replaced_and_its_task_comes_back_lost():
    with fail_after(30, "the pool"), WorkerPool(2, _die_on) as pool:
        out = list(pool.map(((i, 5) for i in range(20)), window=2))
        assert pool.replaced >= 1
    lost = [o for o in out if isinstance(o, Lost)]
    assert [o.args for o in lost] == [(5, 5)] and lost[0].exitcode == 7
    assert [o for o in out if not isinstance(o, Lost)] == [i for i in range(20) if i != 5]


def test_one_pool_serves_maps_one_after_another_and_a_death_in_the_second_is_reported():
    """History scans keep their pool for a second phase: a death there must come back as
    ``Lost`` for the right task, not be confused with the first map's last task."""
    with fail_after(30, "the pool"), WorkerPool(2, _die_on) as pool:
        first = list(pool.map(((x, -1) for x in range(12)), window=2))
        second = list(pool.map(((x, 5) for x in range(10)), window=2))
    assert first == list(range(12))
    lost = [i for i, r in enumerate(second) if isinstance(r, Lost)]
    assert lost == [5] and all(r == i for i, r in enumerate(second) if i != 5)


def _die_at_start() -> None:
    os._exit(3)


def test_workers_that_die_before_any_task_end_the_map_instead_of_looping():
    """An initializer that kills every worker: the tasks come back lost, the map ends."""
    with fail_after(30, "the pool"), WorkerPool(2, _square, _die_at_start) as pool:
        out = list(pool.map(((i,) for i in range(6)), window=2))
    assert [type(o) for o in out] == [Lost] * 6 and {o.exitcode for o in out} == {3}


def test_an_exception_in_a_task_is_raised_in_the_parent():
    with fail_after(30, "the pool"), pytest.raises(ValueError, match="bad task 3"), WorkerPool(2, _fail_on) as pool:
        list(pool.map((i,) for i in range(10)))


def test_initializer_runs_in_each_worker_and_close_does_not_hang():
    with fail_after(30, "the pool"):
        for _ in range(3):  # sibling pipe ends closed in each child: close() returns at once
            started = time.perf_counter()
            with WorkerPool(3, _tagged, _init, ("w",)) as pool:
                assert list(pool.map((i,) for i in range(7))) == [f"w{i}" for i in range(7)]
            assert time.perf_counter() - started < 5


def _scan_with_a_killer(tmp_path, monkeypatch, kills) -> tuple[list, object]:
    """A parallel dir scan of 150 files (every tenth holds a token, in batches of 10) whose
    worker is killed with SIGKILL, as the OOM killer does, when ``kills(batch)`` says so."""
    import signal

    import scanner.scan as scan_module
    from scanner.rules import load_rules

    rules = load_rules([Path(__file__).parent / "data" / "custom-rules.toml"], bundled=False)
    tree = tmp_path / "tree"
    tree.mkdir()
    token = "token = 'acmedesk_Q7rV2lMz8KpW4nXt9BcD'  # synthetic\n"
    for i in range(150):
        (tree / f"f{i:03}.py").write_text(token if i % 10 == 0 else "x = 1\n")
    original = scan_module._scan_batch

    def scan_batch(batch, base):
        if kills(batch):
            os.kill(os.getpid(), signal.SIGKILL)
        return original(batch, base)

    monkeypatch.setattr(scan_module, "_scan_batch", scan_batch)
    monkeypatch.setattr(scan_module, "BATCH_FILES", 10)
    with fail_after(60, "the dir scan"):
        return scan_module.scan_files([str(tree)], rules, scan_module.ScanOptions(jobs=2))


def _names(paths) -> set[str]:
    return {p.rsplit("/", 1)[-1] for p in paths}


def test_a_dir_scan_loses_only_the_file_that_kills_its_worker(tmp_path, monkeypatch):
    """The batch of a dead worker is scanned again file by file: f050.py kills every worker
    that reads it and is the one file lost, by name; the nine others of its batch and every
    other file are scanned, and the summary says why f050.py was not."""
    from scanner.models import ScanTarget
    from scanner.report import render

    findings, stats = _scan_with_a_killer(tmp_path, monkeypatch,
                                          lambda batch: any(i.display.endswith("f050.py") for i in batch))
    assert stats.skipped == {"worker-died-killed-by-sigkill": 1}
    assert _names(stats.skipped_paths["worker-died-killed-by-sigkill"]) == {"f050.py"}
    assert _names(f.path for f in findings) == {f"f{i:03}.py" for i in range(0, 150, 10)} - {"f050.py"}
    assert stats.files_scanned == 149
    summary = render("text", findings, stats, ScanTarget("dir", (str(tmp_path),)), {})
    assert "Skipped 1 file: 1 worker-died-killed-by-sigkill." in summary
    assert "a scanning process died (out of memory?) and was replaced" in summary


def test_a_worker_killed_once_from_outside_loses_nothing(tmp_path, monkeypatch):
    """The repro: a worker SIGKILLed mid-batch (the OOM killer picking it) cost its whole batch of
    up to 128 files, and the run could say "No leaks found". Its files are scanned again."""
    marker = tmp_path / "killed-once"

    def first_batch_with_f020(batch) -> bool:
        if not any(i.display.endswith("f020.py") for i in batch):
            return False
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL))  # one kill, whichever process gets here
        except FileExistsError:
            return False
        return True

    findings, stats = _scan_with_a_killer(tmp_path, monkeypatch, first_batch_with_f020)
    assert marker.exists() and stats.skipped == {}
    assert _names(f.path for f in findings) == {f"f{i:03}.py" for i in range(0, 150, 10)}
    assert stats.files_scanned == 150
    assert stats.notes["a scanning process died (out of memory?) and was replaced; "
                       "what it held was scanned again file by file"] == 1


def _die_on_item(items: list[int], fatal: int) -> list[int]:
    if fatal in items:
        os._exit(7)
    return items


def test_map_retrying_runs_a_lost_task_again_item_by_item():
    from scanner.workers import map_retrying

    def one_each(args):
        items, fatal = args
        return (([item], fatal) for item in items)

    tasks = ((list(range(i, i + 5)), 7) for i in range(0, 20, 5))
    with fail_after(30, "the pool"), WorkerPool(2, _die_on_item) as pool:
        out = list(map_retrying(pool, tasks, 2, one_each))
    assert out[:3] == [[0, 1, 2, 3, 4], [10, 11, 12, 13, 14], [15, 16, 17, 18, 19]]
    lost = out[5]
    assert out[3:] == [[5], [6], lost, [8], [9]]  # the others of its task, then of the retry, in order
    assert isinstance(lost, Lost) and lost.args == ([7], 7) and lost.reason == "worker-died-exit-7"


def test_ctrl_c_stops_a_parallel_scan_at_once_and_leaves_no_worker_behind(tmp_path):
    """The parent handles SIGINT (workers ignore it): exit 130, no orphaned processes."""
    import signal
    import subprocess
    import sys

    for i in range(6000):  # about 6 s of scanning here; the signal comes after 1 s
        (tmp_path / f"f{i:04}.py").write_text("password = 'x'\n" * 200)
    proc = subprocess.Popen([sys.executable, "-m", "scanner", "dir", str(tmp_path), "--jobs", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    time.sleep(1.0)
    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    assert proc.returncode == 130 and b"interrupted" in err, (proc.returncode, err)
    time.sleep(0.2)
    alive = [pid for pid in children if os.path.exists(f"/proc/{pid}")
             and "zombie" not in open(f"/proc/{pid}/status").read().lower()]
    assert alive == []


def test_a_history_scan_whose_worker_dies_names_every_blob_it_lost(tmp_path, monkeypatch):
    """The git pool: a chunk lost with its worker is scanned again blob by blob, so a crash costs
    only the blob that causes it, counted with its path and id."""
    import scanner.gitscan as gitscan
    from gitrepo import Repo
    from scanner.rules import load_rules
    from scanner.scan import ScanOptions
    from scanner.sources.git import Scope, open_repository

    repo = Repo(tmp_path / "r")
    token = "token = 'acmedesk_Q7rV2lMz8KpW4nXt9BcD'  # synthetic, file {}\n"
    repo.commit("many files", {f"f{i:03}.py": token.format(i) if i % 50 == 0 else f"x = {i}\n" for i in range(500)})
    original = gitscan._scan_chunk

    def crash_on_f100(chunk):  # f100.py holds a token: its finding is lost with the chunk
        if any(ref.path == b"f100.py" for ref in chunk):
            os._exit(9)
        return original(chunk)

    monkeypatch.setattr(gitscan, "_scan_chunk", crash_on_f100)
    monkeypatch.setattr(gitscan, "CHUNK_OBJECTS", 50)
    rules = load_rules([Path(__file__).parent / "data" / "custom-rules.toml"], bundled=False)
    with fail_after(60, "the history scan"):
        findings, stats = gitscan.scan_history(open_repository(str(repo.path)), Scope(), rules,
                                               ScanOptions(jobs=2))
    lost = stats.skipped_paths["worker-died-exit-9"]
    assert len(lost) == 1 and lost[0].startswith("f100.py (") and stats.skipped == {"worker-died-exit-9": 1}
    assert {f.path for f in findings} == {f"f{i:03}.py" for i in range(0, 500, 50)} - {"f100.py"}


def test_history_chunks_keep_every_blob_in_order_and_shrink_towards_the_end():
    """Work is handed out in chunks that grow from small ones; near the end they shrink so
    no worker is left with a long last chunk while the other idles."""
    from scanner import gitscan

    for total in (0, 7, 4941, 40357):
        chunks = list(gitscan._chunks(range(total)))
        assert [ref for chunk in chunks for ref in chunk] == list(range(total))
        assert all(len(c) <= gitscan.CHUNK_OBJECTS for c in chunks)
        if total > 4 * gitscan.CHUNK_OBJECTS:
            # small first chunks (the newest blobs cost the most), then full ones, then a fine tail
            assert [len(c) for c in chunks[:5]] == [250, 500, 1000, 2000, 4000]
            assert max(map(len, chunks)) == gitscan.CHUNK_OBJECTS
            assert len(chunks[-1]) < gitscan.CHUNK_OBJECTS // 10
            assert len(chunks[-2]) <= 2 * gitscan.MIN_CHUNK
