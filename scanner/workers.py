"""An ordered, bounded parallel map over worker processes, driven from one thread.

``multiprocessing.Pool`` hands tasks and results over through two helper threads in the
parent. The parent's main thread is busy walking the tree (pure Python), so each hand-over
waits for the GIL's switch interval (5 ms): on a 27k-file tree the workers sat idle two
thirds of the time (measured: 4.4 s wall for 3.2 s of worker CPU on 2 cores). Here the
parent's main thread sends tasks and receives results itself, and each worker has a
small reader thread that drains its task pipe into a queue, so neither side can block
the other on a full pipe whatever the task or result size.

Two more things ``Pool`` does not give:

* **Bounded input.** At most ``window`` tasks per worker are in flight; the task
  iterator is pulled lazily, so memory does not grow with the size of the input.
* **No lost work.** A worker that dies (killed by the OOM killer, a crash in a C
  extension) is replaced. The task it was running comes back as a ``Lost`` result for
  the caller to count (instead of hanging the scan forever, as ``Pool`` does); the
  tasks queued behind it are handed to a worker again. ``map_retrying`` runs a lost
  task's items again one by one, so only an item that itself kills a worker is lost.

Results are yielded in task order, so output never depends on the number of workers.
"""
from __future__ import annotations

import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # multiprocessing costs ~25 ms to import: only a pool that starts pays it
    from multiprocessing.connection import Connection

WINDOW_PER_WORKER = 3  # tasks in flight per worker: one running, the next ones already queued
# Tasks per worker that may be handed out beyond the oldest unanswered one. Their results wait
# in the parent until that one is answered (output stays in order), so this bounds memory by
# results (findings and counts: small), not by inputs; at 3 (the in-flight window) one slow
# task, a large parse say, left the other workers idle.
AHEAD_PER_WORKER = 16
_STARTED, _DONE = 0, 1  # message kinds from a worker
MAX_STILLBORN = 3  # workers in a row dying before their first task: their tasks are lost, not retried


@dataclass(frozen=True)
class Lost:
    """A task whose worker died while running it; ``args`` are the task's arguments."""

    args: tuple
    exitcode: int | None

    @property
    def reason(self) -> str:
        """The skip reason for what the task held: ``worker-died-killed-by-sigkill`` (the
        OOM killer's signal), ``worker-died-exit-3``."""
        if self.exitcode is None:
            return "worker-died"
        if self.exitcode < 0:
            import signal

            try:
                how = signal.Signals(-self.exitcode).name.lower()
            except ValueError:
                how = f"signal-{-self.exitcode}"
            return f"worker-died-killed-by-{how}"
        return f"worker-died-exit-{self.exitcode}"


class _Failure:
    """An exception raised by the task function, carried back to be raised in the parent."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _worker_main(tasks: Connection, results: Connection, func: Callable, initializer: Callable | None,
                 initargs: tuple, inherited: tuple[Connection, ...]) -> None:
    import queue
    import signal
    import threading

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    for conn in inherited:  # forked copies of the other workers' pipe ends: holding them
        conn.close()        # open would keep a sibling from ever seeing end-of-input
    if initializer is not None:
        initializer(*initargs)
    inbox: queue.SimpleQueue = queue.SimpleQueue()

    def read_tasks() -> None:
        try:
            while True:
                inbox.put(tasks.recv())
        except (EOFError, OSError):
            inbox.put(None)

    threading.Thread(target=read_tasks, daemon=True).start()
    while (task := inbox.get()) is not None:
        seq, args = task
        results.send((_STARTED, seq, None))
        try:
            outcome: Any = func(*args)
        except Exception as exc:  # noqa: BLE001 - handed to the parent, which decides
            outcome = _Failure(exc)
        results.send((_DONE, seq, outcome))


class _Worker:
    def __init__(self, context, func: Callable, initializer: Callable | None, initargs: tuple,
                 siblings: tuple[Connection, ...]) -> None:
        task_read, self.tasks = context.Pipe(duplex=False)
        self.results, result_write = context.Pipe(duplex=False)
        inherited = (self.tasks, self.results, *siblings) if context.get_start_method() == "fork" else ()
        self.process = context.Process(target=_worker_main, daemon=True,
                                       args=(task_read, result_write, func, initializer, initargs, inherited))
        self.process.start()
        task_read.close()
        result_write.close()
        self.in_flight: dict[int, tuple] = {}
        self.running: int | None = None  # the task it said it started last

    def send(self, seq: int, args: tuple) -> None:
        self.in_flight[seq] = args
        self.tasks.send((seq, args))

    def close_pipes(self) -> None:
        for conn in (self.tasks, self.results):
            try:
                conn.close()
            except OSError:
                pass


class WorkerPool:
    """``jobs`` processes running ``func``; use as a context manager around ``map`` (one or more,
    one after another)."""

    def __init__(self, jobs: int, func: Callable, initializer: Callable | None = None, initargs: tuple = (),
                 start_method: str | None = None) -> None:
        """``start_method``: fork on Linux (workers inherit the parent's imports), spawn
        elsewhere (macOS and Windows cannot fork safely); tests try both."""
        import multiprocessing

        default = "fork" if sys.platform.startswith("linux") else "spawn"
        self.context = multiprocessing.get_context(start_method or default)
        self.func, self.initializer, self.initargs = func, initializer, initargs
        self.workers: list[_Worker] = []
        for _ in range(max(1, jobs)):
            self.workers.append(self._spawn())
        self.replaced = 0
        self.stillborn = 0  # workers in a row that died before starting a task

    def _spawn(self) -> _Worker:
        siblings = tuple(conn for w in self.workers for conn in (w.tasks, w.results))
        return _Worker(self.context, self.func, self.initializer, self.initargs, siblings)

    def map(self, tasks: Iterable[tuple], window: int = WINDOW_PER_WORKER) -> Iterator[Any]:
        """``func(*args)`` for each args tuple, in order; ``Lost`` for a task whose worker
        died running it. An exception raised by ``func`` is raised here."""
        source = iter(tasks)
        for worker in self.workers:  # a pool may serve several maps, one after another
            worker.running = None
        exhausted = False
        ahead = max(window, AHEAD_PER_WORKER) * len(self.workers)
        next_seq = 0
        next_out = 0
        done: dict[int, Any] = {}
        retry: deque[tuple[int, tuple]] = deque()  # queued on a worker that died, never started
        while True:
            # Top up every worker to ``window`` tasks, and never run more than ``ahead`` tasks
            # beyond the oldest unanswered one (a slow task would otherwise let finished
            # results pile up behind it without bound).
            while retry or (not exhausted and next_seq - next_out < ahead):
                worker = min(self.workers, key=lambda w: len(w.in_flight))
                if len(worker.in_flight) >= window:
                    break
                if retry:
                    seq, args = retry.popleft()
                else:
                    args = next(source, None)
                    if args is None:
                        exhausted = True
                        break
                    seq, next_seq = next_seq, next_seq + 1
                try:
                    worker.send(seq, args)
                except OSError:  # the worker died: ``send`` kept the task in flight, collected below
                    pass
            while next_out in done:
                outcome = done.pop(next_out)
                next_out += 1
                if isinstance(outcome, _Failure):
                    raise outcome.exc
                yield outcome
            if next_out == next_seq and not retry:
                if exhausted:
                    return
                continue  # everything answered and yielded: top up before waiting
            self._collect(done, retry)

    def _collect(self, done: dict[int, Any], retry: deque[tuple[int, tuple]]) -> None:
        from multiprocessing.connection import wait

        by_conn = {w.results: w for w in self.workers if w.in_flight}
        for conn in wait(list(by_conn)):
            worker = by_conn[conn]
            try:
                kind, seq, outcome = conn.recv()
            except (EOFError, OSError):
                self._replace(worker, done, retry)
                continue
            if kind == _STARTED:
                worker.running = seq
                continue
            worker.in_flight.pop(seq, None)
            done[seq] = outcome

    def _replace(self, worker: _Worker, done: dict[int, Any], retry: deque[tuple[int, tuple]]) -> None:
        worker.process.join(timeout=5)
        # A worker that dies before starting any task (its initializer fails, say) would
        # otherwise be replaced and handed the same tasks forever.
        self.stillborn = self.stillborn + 1 if worker.running is None else 0
        give_up = self.stillborn >= MAX_STILLBORN
        for seq, args in sorted(worker.in_flight.items()):
            if seq == worker.running or give_up:
                done[seq] = Lost(args, worker.process.exitcode)
            else:
                retry.append((seq, args))
        worker.close_pipes()
        self.workers[self.workers.index(worker)] = self._spawn()
        self.replaced += 1

    def close(self) -> None:
        for worker in self.workers:
            try:
                worker.tasks.close()  # end of input: the worker's reader ends its loop
            except OSError:
                pass
        for worker in self.workers:
            worker.process.join(timeout=10)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join()
            worker.close_pipes()

    def terminate(self) -> None:
        for worker in self.workers:
            if worker.process.is_alive():
                worker.process.terminate()
        for worker in self.workers:
            worker.process.join()
            worker.close_pipes()

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:  # Ctrl-C or an error: do not wait for queued work
            self.terminate()


def map_retrying(pool: WorkerPool, tasks: Iterable[tuple], window: int,
                 one_each: Callable[[tuple], Iterable[tuple]]) -> Iterator[Any]:
    """``pool.map``; then each task lost with its worker runs again as one task per item
    (``one_each(args)``), after all the others. A worker killed by one huge file (the OOM
    killer) or from outside then costs only the items that kill a worker again, each
    yielded as ``Lost``, not every item that shared their task (a batch: up to 128 files)."""
    lost: list[Lost] = []
    for outcome in pool.map(tasks, window):
        if isinstance(outcome, Lost):
            lost.append(outcome)
        else:
            yield outcome
    if lost:
        yield from pool.map((task for died in lost for task in one_each(died.args)), window)


def default_jobs() -> int:
    """Cores this process may run on (a container's CPU set, not the host's core count)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1
