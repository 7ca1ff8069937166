"""Scan git history and staged changes with the one ``BlobScanner``.

History: ``sources.git`` names every unique blob in the chosen commits once; the
blobs are read and scanned once each (inline for small scopes, in a process pool
with one ``cat-file`` pair per worker for large ones); then, for the blobs with
findings only, ``history`` finds the commit that introduced each and how many
commits carried it. A secret is reported once per (rule, secret, path), at the
commit that introduced it, at every path the history holds its blob at
(``history_paths``: git lists a blob under one path only).

With ``--cache`` (``gitcache``), blobs an earlier run found clean (or skipped as
binary or too large) under the same rules and options are taken out of the
enumeration before any of them is read from git; their skips and notes are
replayed into the summary, and the blobs scanned this run are added to the cache.
For scans of refs the findings are kept too (``gitsnapshot``): an unchanged history
is restored from them, and a grown one scans only what it grew by and merges.

Staged: the index blobs of changed files, with only findings on added lines kept.
"""
from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import replace
from typing import TYPE_CHECKING, Self

from .models import Blob, Finding, Provenance, ScanStats
from .rules import Rule
from .scan import BlobScanner, ScanOptions, apply_severity_overrides
from .sources.files import is_excluded
from .sources.git import (
    Enumeration,
    GitError,
    ObjectReader,
    ObjectRef,
    Repository,
    Scope,
    unreachable_blobs,
)
from .workers import Lost, WorkerPool, default_jobs, map_retrying

if TYPE_CHECKING:  # history scans only: `brokerscan staged` (a pre-commit hook) never imports them
    from .gitcache import HistoryCache, Outcome
    from .gitsnapshot import Kept
    from .history import HistoryLog

INLINE_MAX_OBJECTS = 400  # fewer blobs than this: no process pool
# Blobs per unit of pool work. Each worker reads through its own cat-file, and a delta base
# that two workers need is inflated twice. Blobs come in listing order, which is close to pack
# order, so a worker's delta cache serves it best on long runs of that order: on a 20,000-commit
# history, two cat-files taking alternate chunks spent 3.0 CPU-s at 1,000 blobs per chunk,
# 2.2 at 4,000, 2.0 at 10,000 (one reader: 2.0-2.3), and whole scans at 4,000 took 0.25-0.7 s
# less than at 1,000 (alternating runs; 10,000 was slower). The tail is cut finer (``_chunks``).
CHUNK_OBJECTS = 4000
# Refs listed ahead of the chunk handed out, to see the listing's end coming: then each chunk
# takes 1/TAIL_CHUNKS of what is left. Not a multiple of the chunk size: the first chunk of a
# 15,000-blob history would then wait for the whole listing.
LOOKAHEAD_OBJECTS = 8000
TAIL_CHUNKS = 8
FIRST_CHUNK = 250  # chunks double from here up to CHUNK_OBJECTS (see ``_chunks``)
MIN_CHUNK = 50
GROUP_OBJECTS = 128  # blobs per prefilter call (scan_many)
GROUP_BYTES = 4 * 1024 * 1024
# Chunks in flight per worker: only the one it runs, the next handed over when it answers
# (under a millisecond; a chunk takes 50 ms or more). Three queued two large chunks behind a
# slow one on requests while the other worker ran out of work and idled.
WINDOW_PER_JOB = 1


def display_path(ref: ObjectRef) -> str:
    if not ref.path:
        return f"<unreachable blob {ref.sha[:12]}>"
    return os.fsdecode(ref.path)


def scan_history(repo: Repository, scope: Scope, rules: Sequence[Rule], options: ScanOptions,
                 cache: HistoryCache | None = None) -> tuple[list[Finding], ScanStats]:
    """Findings of every unique blob in ``scope``, attributed to the commits that introduced them.

    ``cache``: blobs it knows are served from it instead of being read and scanned;
    it is written once the scan is done (see ``scanner.gitcache``). For scans of refs it
    also keeps the findings, so an unchanged or grown history costs only what is new
    (``scanner.gitsnapshot``)."""
    started = time.perf_counter()
    stats = ScanStats()
    _describe_repository(repo, stats)
    if cache is not None:
        from .gitsnapshot import eligible  # an uncached history scan never imports the cache modules
    if cache is not None and eligible(repo, scope):
        findings = _scan_with_snapshot(repo, scope, rules, options, stats, cache)
    else:
        findings = _scan_scope(repo, scope, rules, options, stats, cache)
    findings = apply_severity_overrides(findings, options.severity_overrides)
    findings.sort(key=Finding.sort_key)
    stats.duration_s = time.perf_counter() - started
    return findings, stats


def _scan_scope(repo: Repository, scope: Scope, rules: Sequence[Rule], options: ScanOptions, stats: ScanStats,
                cache: HistoryCache | None, prior: Sequence[tuple[Finding, Kept]] = (),
                continues: bool = False, record: list[Kept] | None = None,
                missing: list[str] | None = None) -> list[Finding]:
    """Scan the blobs of ``scope`` and attribute their findings (merged with ``prior``, the
    restored findings of a history ``scope`` continues: see ``attribute_findings``).
    ``missing`` receives the ids of the objects the repository lacks."""
    from .history import HistoryLog

    enumeration = Enumeration(repo, scope)
    reachable: set[str] | None = set() if scope.all_objects else None
    excluded: set[str] = set()  # blobs named by an excluded path: they may live at other paths too
    enumerated: set[tuple[str, bytes]] | None = set() if continues else None
    with HistoryLog(repo, scope, continues=continues) as log:  # starts listing commits at the first finding
        refs = _included(enumeration, options.excludes, stats, reachable, excluded, log.start, enumerated)
        if cache is not None:
            cache.load(stats)
            refs = _from_cache(refs, cache, stats)
        with _Workers(repo.root, rules, options, record=cache is not None) as workers:
            raw = _scan_refs(refs, repo, rules, options, stats, cache, log.start, workers)
            raw.extend(_scan_unreachable(repo, enumeration, reachable, rules, options, stats, cache))
            log.watch |= excluded
            if raw or prior or excluded or continues:
                from .history_paths import at_every_path, held_by_base

                raw = at_every_path(raw, repo, scope, log, workers.judge, stats, options.excludes,
                                    excluded=excluded, kept=_kept_pairs(prior), enumerated=enumerated or set(),
                                    cache=cache)
                raw = held_by_base(raw, repo, scope, log, workers.judge, stats)
        if missing is not None:
            missing.extend(enumeration.missing)
        if cache is not None:
            _replay_cached(cache, stats)
            cache.save(stats)
        return attribute_findings(repo, scope, raw, stats, log, prior, record)


def _scan_with_snapshot(repo: Repository, scope: Scope, rules: Sequence[Rule], options: ScanOptions,
                        stats: ScanStats, cache: HistoryCache) -> list[Finding]:
    """``_scan_scope`` with the findings of the last scan of this history reused: all of them
    when no ref moved, merged with a scan of the new commits when the history only grew."""
    from . import gitsnapshot as snap

    store = snap.Snapshots(cache.directory, cache.key, repo, scope, options.excludes)
    tips = snap.current_tips(repo, scope)
    previous = store.load(stats)
    prior: list[tuple[Finding, Kept]] = []
    reread = ScanStats()  # the blobs read to restore findings: this run's work, not the history's
    run_scope, continues = scope, False
    if previous is not None and not snap.still_missing(repo, previous.missing):
        stats.note("cache: objects missing at the last scan are present now, full scan")
        previous = None
    if previous is not None:
        try:
            if previous.tips == tips:
                restored = snap.restore(repo, previous.kept, rules, options, reread)
                _count_reads(stats, reread)
                previous.replay(stats)
                stats.note("history unchanged since the cached scan: findings re-read from their blobs, "
                           "nothing else read")
                cache.save(stats)  # nothing to add: marks the blob layer's file as in use
                return _placed_again(repo, restored, stats)
            if snap.grew(repo, previous.tips, tips):
                prior = snap.restore(repo, previous.kept, rules, options, reread)
                run_scope, continues = snap.continuation(repo, previous.tips, tips), True
        except snap.Stale as exc:
            stats.note(f"cache: findings of the last scan not found again ({exc}), full scan")
            prior, reread, run_scope, continues = [], ScanStats(), scope, False
    record: list[Kept] = []
    missing: list[str] = []
    findings = _scan_scope(repo, run_scope, rules, options, stats, cache, prior, continues, record, missing)
    if continues:
        assert previous is not None
        previous.replay(stats)
        missing.extend(previous.missing)
        stats.note("history grew since the cached scan: only its new commits were read")
    if snap.complete(stats):
        store.save(snap.Snapshot(tips, record, tuple(sorted(set(missing))), stats.skipped, stats.skipped_paths,
                                 stats.notes), stats)
    else:
        store.drop()
    _count_reads(stats, reread)
    return findings


def _count_reads(stats: ScanStats, reread: ScanStats) -> None:
    """Count the blobs read to restore kept findings. Not their notes: the kept summary has those."""
    stats.files_scanned += reread.files_scanned
    stats.bytes_scanned += reread.bytes_scanned


def _placed_again(repo: Repository, restored: list[tuple[Finding, Kept]], stats: ScanStats) -> list[Finding]:
    """Restored findings placed as the scan that kept them placed them; ``in_head`` is asked
    again (switching branches moves ``HEAD`` without moving any ref)."""
    from .history import head_blobs

    heads = head_blobs(repo, (os.fsencode(kept.path) for _, kept in restored))
    findings = [_placed(raw, kept.blob, kept.intro, kept.carrying, heads.get(os.fsencode(kept.path)) in kept.blobs)
                for raw, kept in restored]
    unplaced = sum(1 for _, kept in restored if kept.intro is None)
    if unplaced:
        stats.note(UNPLACED_NOTE, unplaced)
    return findings


def _scan_unreachable(repo: Repository, enumeration: Enumeration, reachable: set[str] | None,
                      rules: Sequence[Rule], options: ScanOptions, stats: ScanStats,
                      cache: HistoryCache | None) -> list[tuple[Finding, str]]:
    """Counts the objects rev-list found missing; with ``--all-objects``, scans the blobs no ref reaches."""
    for sha in enumeration.missing:
        stats.skip("missing-object", f"{sha} (absent from the repository: a blob, or a tree whose files "
                                     "could not be listed)")
    if reachable is not None:
        loose = list(unreachable_blobs(repo, reachable))
        if loose:
            stats.note("unreachable blobs (--all-objects)", len(loose))
        if cache is not None:
            loose = list(_from_cache(loose, cache, stats))
        return _scan_inline(loose, repo.root, rules, options, stats, cache)
    return []


def _describe_repository(repo: Repository, stats: ScanStats) -> None:
    if repo.shallow:
        stats.note(f"shallow clone: commits before {repo.shallow_boundaries()} boundary commit(s) are not "
                   "in this repository and were not scanned (fetch with --unshallow)")
    gitmodules = repo.git("cat-file", "-p", "HEAD:.gitmodules", check=False)
    submodules = gitmodules.count(b"[submodule ")
    if submodules:
        stats.note("submodules not followed (scan each submodule's repository separately)", submodules)
    # HEAD first: for-each-ref reads every ref even with --count=1 (31 ms on requests' 4,347)
    if not repo.git("rev-parse", "--verify", "--quiet", "HEAD", check=False).strip() and not repo.git(
            "for-each-ref", "--count=1", check=False).strip():
        stats.note("repository has no commits")


def _included(refs: Iterable[ObjectRef], excludes: Sequence[str], stats: ScanStats,
              reachable: set[str] | None, excluded: set[str], on_excluded: Callable[[], None],
              enumerated: set[tuple[str, bytes]] | None = None) -> Iterator[ObjectRef]:
    """The refs whose path is not excluded. The others go to ``excluded``, by id: a copy of
    the blob may live at a path that is not (``history_paths``), which only the commit
    listing can tell, so ``on_excluded`` starts it. ``enumerated`` receives the refs kept."""
    for ref in refs:
        if reachable is not None:
            reachable.add(ref.sha)
        if excludes and is_excluded(os.fsdecode(ref.path), excludes):
            stats.note("excluded by pattern (history paths)")
            if not excluded:
                on_excluded()
            excluded.add(ref.sha)
            continue
        if enumerated is not None:
            enumerated.add(ref)
        yield ref


def _from_cache(refs: Iterable[ObjectRef], cache: HistoryCache, stats: ScanStats) -> Iterator[ObjectRef]:
    """The refs the cache does not know. Cached skips are counted as an uncached scan counts
    them, with the same examples; ``_replay_cached`` adds the rest once the scan is done."""
    def skipped(ref: ObjectRef, outcome: Outcome) -> None:
        shown = display_path(ref)
        stats.skip(outcome.skip or "", f"{shown} ({ref.sha[:12]})" if outcome.skip_shows_id else shown)

    return cache.misses(refs, skipped)


def _replay_cached(cache: HistoryCache, stats: ScanStats) -> None:
    """Notes of the objects served from the cache, as their scans gave them, and how many were
    served: the summary differs from an uncached run's only in what was read this time."""
    from .gitcache import TREE

    for outcome, count in cache.served():
        if outcome == TREE:
            continue
        if outcome.skip is None:
            stats.note("objects from cache: clean, not read again", count)
        else:
            stats.note("objects from cache: skipped again (counted in skipped)", count)
        for what, times in outcome.notes:
            stats.note(what, times * count)


def _scan_refs(refs: Iterator[ObjectRef], repo: Repository, rules: Sequence[Rule], options: ScanOptions,
               stats: ScanStats, cache: HistoryCache | None = None,
               on_finding: Callable[[], None] | None = None,
               workers: _Workers | None = None) -> list[tuple[Finding, str]]:
    """Findings of the blobs of ``refs``; ``on_finding`` is called when the pool reports the first
    finding. ``workers``: where the process pool comes from (and stays open for the scans of
    ``history_paths``)."""
    head: list[ObjectRef] = []
    for ref in refs:
        head.append(ref)
        if len(head) >= INLINE_MAX_OBJECTS:
            break
    else:
        return _scan_inline(head, repo.root, rules, options, stats, cache,
                            workers.scanner() if workers else None, on_finding)
    jobs = options.jobs or default_jobs()
    if jobs == 1:
        return _scan_inline(_chain(head, refs), repo.root, rules, options, stats, cache,
                            workers.scanner() if workers else None, on_finding)
    found: list[tuple[Finding, str]] = []
    progress = _progress(options.progress)
    record = cache is not None
    chunks = (("scan", chunk) for chunk in _chunks(_chain(head, refs)))
    with ExitStack() as own:
        if workers is None:
            workers = own.enter_context(_Workers(repo.root, rules, options, record))
        pool = workers.pool(jobs)
        for outcome in map_retrying(pool, chunks, WINDOW_PER_JOB, _one_ref_each):
            if isinstance(outcome, Lost):
                outcome = _lost_chunk(outcome)
            chunk_found, chunk_stats, outcomes = outcome
            if chunk_found and on_finding is not None:
                on_finding()
            found.extend(chunk_found)
            stats.merge(chunk_stats)
            if cache is not None and outcomes:
                cache.add(outcomes)
            if progress is not None:
                progress.update(chunk_stats.files_scanned + chunk_stats.files_skipped)
    if progress is not None:
        progress.close()
    return found


def _one_ref_each(args: tuple) -> Iterator[tuple]:
    """A lost chunk's blobs as tasks of one blob each: see ``workers.map_retrying``."""
    kind, chunk = args
    return ((kind, [ref]) for ref in chunk)


def _lost_chunk(lost: Lost) -> tuple[list[tuple[Finding, str]], ScanStats, None]:
    """A chunk whose worker died: each blob is a counted skip, by path and id."""
    stats = ScanStats()
    _kind, chunk = lost.args
    for ref in chunk:
        stats.skip(lost.reason, f"{display_path(ref)} ({ref.sha[:12]})")
    return [], stats, None


def _scan_inline(refs: Iterable[ObjectRef], root: str, rules: Sequence[Rule], options: ScanOptions,
                 stats: ScanStats, cache: HistoryCache | None = None,
                 scanner: BlobScanner | None = None,
                 on_finding: Callable[[], None] | None = None) -> list[tuple[Finding, str]]:
    scanner = scanner or BlobScanner(rules, options)
    outcomes: list[tuple[ObjectRef, Outcome]] | None = [] if cache is not None else None
    with ObjectReader(root, missing_reason="corrupt-object") as reader:
        found, chunk_stats = scan_objects(scanner, reader, refs, root, outcomes, on_finding)
    stats.merge(chunk_stats)
    if cache is not None and outcomes:
        cache.add(outcomes)
    return found


def scan_objects(scanner: BlobScanner, reader: ObjectReader, refs: Iterable[ObjectRef], root: str,
                 outcomes: list[tuple[ObjectRef, Outcome]] | None = None,
                 on_finding: Callable[[], None] | None = None,
                 ) -> tuple[list[tuple[Finding, str]], ScanStats]:
    """Read and scan blobs; each finding comes with the id of the blob it is in.

    Blobs are scanned in groups (``BlobScanner.scan_many``: one prefilter call per group).
    ``outcomes`` (for ``--cache``): receives each blob worth caching with its outcome;
    each blob is then scanned into stats of its own, so its notes are known.
    ``on_finding``: called after each group that found something."""
    if outcomes is not None:
        from .gitcache import CACHEABLE_SKIPS, TREE, Outcome, blob_outcome
    stats = ScanStats()
    found: list[tuple[Finding, str]] = []
    non_blobs: list[ObjectRef] | None = [] if outcomes is not None else None
    group: list[tuple[ObjectRef, Blob]] = []
    group_bytes = 0

    def scan_group() -> None:
        each = [ScanStats() for _ in group] if outcomes is not None else None
        before = len(found)
        results = scanner.scan_many([blob for _, blob in group], stats, each)
        for index, ((ref, _), blob_found) in enumerate(zip(group, results)):
            found.extend((finding, ref.sha) for finding in blob_found)
            if each is not None:
                assert outcomes is not None
                stats.merge(each[index])
                outcome = blob_outcome(blob_found, each[index])
                if outcome is not None:
                    outcomes.append((ref, outcome))
        if len(found) > before and on_finding is not None:
            on_finding()
        group.clear()

    for read in reader.read(refs, scanner.options.max_file_size, non_blobs=non_blobs):
        shown = display_path(read.ref)
        if read.data is None:
            reason = read.reason or "unreadable"
            stats.skip(reason, f"{shown} ({read.ref.sha[:12]})")
            if outcomes is not None and reason in CACHEABLE_SKIPS:
                outcomes.append((read.ref, Outcome(reason, True, ())))
            continue
        group.append((read.ref, Blob(read.data, Provenance(kind="git", path=shown, root=root))))
        group_bytes += len(read.data)
        if len(group) >= GROUP_OBJECTS or group_bytes >= GROUP_BYTES:
            scan_group()
            group_bytes = 0
    scan_group()
    if outcomes is not None and non_blobs:
        outcomes.extend((ref, TREE) for ref in non_blobs)
    return found, stats


# --- process pool plumbing -------------------------------------------------------------

JUDGE_CHUNK = 4  # blobs per task in ``_Workers.judge``: few, large parses; small tasks balance them
JUDGE_POOL_BYTES = 1024 * 1024  # parses worth starting a pool for (~0.3 s of tree-sitter)


class _Workers:
    """The scan's process pool, made on first need and kept open for the full scans of
    ``history_paths`` (``judge``), so the workers' compiled rules and git readers serve both."""

    def __init__(self, root: str, rules: Sequence[Rule], options: ScanOptions, record: bool) -> None:
        self.root, self.rules, self.options, self.record = root, list(rules), options, record
        self._pool: WorkerPool | None = None
        self._scanner: BlobScanner | None = None  # scans without a pool: made once, used by both phases

    def pool(self, jobs: int) -> WorkerPool:
        if self._pool is None:
            self._pool = WorkerPool(jobs, _pool_task, _init_worker,
                                    (self.rules, self.options, self.root, self.record))
        return self._pool

    def scanner(self) -> BlobScanner:
        if self._scanner is None:
            self._scanner = BlobScanner(self.rules, self.options)
        return self._scanner

    def judge(self, refs: list[ObjectRef], sizes: list[int]
              ) -> tuple[list[tuple[ObjectRef, list[Finding] | None]], ScanStats]:
        """Full scans (regex and AST) of ``refs`` (of ``sizes`` bytes), in order: findings, or
        ``None`` if a blob could not be read or scanned (counted in the returned stats).

        A scan small enough to run without a pool (a warm ``--cache`` run, a pull request's
        range) still gets one here when the parses add up: ``requests``' test files alone
        are 39 parses and 1.2 s in one process."""
        jobs = self.options.jobs or default_jobs()
        if self._pool is None and jobs > 1 and len(refs) > JUDGE_CHUNK and sum(sizes) >= JUDGE_POOL_BYTES:
            self.pool(jobs)
        if self._pool is None or len(refs) <= JUDGE_CHUNK:
            with ObjectReader(self.root, missing_reason="corrupt-object") as reader:
                return judge_objects(self.scanner(), reader, refs, self.root)
        results: list[tuple[ObjectRef, list[Finding] | None]] = []
        stats = ScanStats()
        tasks = (("judge", refs[i:i + JUDGE_CHUNK]) for i in range(0, len(refs), JUDGE_CHUNK))
        for outcome in self._pool.map(tasks):  # the pool's own window: judging tasks are small
            if isinstance(outcome, Lost):
                lost_stats = _lost_chunk(outcome)[1]
                outcome = ([(ref, None) for ref in outcome.args[1]], lost_stats)
            chunk_results, chunk_stats = outcome
            results.extend(chunk_results)
            stats.merge(chunk_stats)
        return results, stats

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.__exit__(*exc)
            self._pool = None


def judge_objects(scanner: BlobScanner, reader: ObjectReader, refs: list[ObjectRef], root: str
                  ) -> tuple[list[tuple[ObjectRef, list[Finding] | None]], ScanStats]:
    """Read and fully scan blobs: per blob its findings, or ``None`` when it
    could not be read or scanned (a counted skip)."""
    stats = ScanStats()
    results: dict[tuple[str, bytes], list[Finding] | None] = {}
    for read in reader.read(refs, scanner.options.max_file_size):
        shown = display_path(read.ref)
        key = (read.ref.sha, read.ref.path)
        if read.data is None:
            stats.skip(read.reason or "unreadable", f"{shown} ({read.ref.sha[:12]})")
            results[key] = None
            continue
        try:
            found = scanner.scan_blob(Blob(read.data, Provenance(kind="git", path=shown, root=root)), stats)
        except Exception as exc:  # noqa: BLE001 - a scanner bug must not lose the rest of the history
            stats.skip(f"internal-error-{type(exc).__name__}", shown)
            results[key] = None
            continue
        results[key] = found
    return [(ref, results.get((ref.sha, ref.path))) for ref in refs], stats


_WORKER: tuple[BlobScanner, ObjectReader, str, bool] | None = None


def _init_worker(rules: Sequence[Rule], options: ScanOptions, root: str, record: bool = False) -> None:
    global _WORKER
    from multiprocessing.util import Finalize

    reader = ObjectReader(root, missing_reason="corrupt-object")
    _WORKER = (BlobScanner(rules, options), reader, root, record)
    Finalize(reader, reader.close, exitpriority=10)


def _pool_task(kind: str, chunk: list[ObjectRef]):
    """A worker's task: ``scan`` a chunk of the history, or ``judge`` blobs in full."""
    if kind == "judge":
        assert _WORKER is not None
        scanner, reader, root, _ = _WORKER
        return judge_objects(scanner, reader, chunk, root)
    return _scan_chunk(chunk)


def _scan_chunk(chunk: list[ObjectRef]
                ) -> tuple[list[tuple[Finding, str]], ScanStats, list[tuple[ObjectRef, Outcome]] | None]:
    """Findings and stats of a chunk, plus (with ``--cache``) the outcomes for the parent to store."""
    assert _WORKER is not None
    scanner, reader, root, record = _WORKER
    outcomes: list[tuple[ObjectRef, Outcome]] | None = [] if record else None
    found, stats = scan_objects(scanner, reader, chunk, root, outcomes)
    return found, stats, outcomes


def _chunks(refs: Iterable[ObjectRef], size: int = CHUNK_OBJECTS) -> Iterator[list[ObjectRef]]:
    """Chunks growing from ``FIRST_CHUNK`` to ``size`` refs, then smaller ones near the end so
    the workers finish together.

    The first chunks are small because the newest blobs cost the most: git stores them whole
    and the older versions as deltas against them, so the first reader inflates the bases
    (on requests the first 4,000 blobs took 1.7 s, the next 4,000 0.5 s), and because the
    commit listing for attribution starts with the first result that holds a finding.

    ``LOOKAHEAD_OBJECTS`` refs (or ``size``, if more) are read ahead; once the listing has
    ended, each chunk takes 1/``TAIL_CHUNKS`` of what is left (at least ``MIN_CHUNK``). A
    history of 5,000 blobs in five 1,000-blob chunks kept one worker busy 60 % longer than
    the other."""
    buffer: deque[ObjectRef] = deque()
    source = iter(refs)
    exhausted = False
    ahead = max(size, LOOKAHEAD_OBJECTS)
    step = min(size, FIRST_CHUNK)
    while True:
        while not exhausted and len(buffer) < ahead:
            ref = next(source, None)
            if ref is None:
                exhausted = True
            else:
                buffer.append(ref)
        if not buffer:
            return
        take = step if not exhausted else max(MIN_CHUNK, min(step, -(-len(buffer) // TAIL_CHUNKS)))
        step = min(size, step * 2)
        yield [buffer.popleft() for _ in range(min(take, len(buffer)))]


def _chain(head: list[ObjectRef], rest: Iterable[ObjectRef]) -> Iterator[ObjectRef]:
    yield from head
    yield from rest


def _progress(enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(unit=" blobs", file=sys.stderr, dynamic_ncols=True, leave=False)


# --- attribution -----------------------------------------------------------------------

def attribute_findings(repo: Repository, scope: Scope, raw: list[tuple[Finding, str]],
                       stats: ScanStats, log: HistoryLog | None = None,
                       prior: Sequence[tuple[Finding, Kept]] = (), record: list[Kept] | None = None
                       ) -> list[Finding]:
    """One finding per (rule, secret, path), placed at the commit that introduced it.

    Each kept finding names the introducing commit, its author and date, and in
    ``extra``: ``blob``, ``commits_carrying`` (commits whose tree held the secret at
    that path) and ``in_head`` (whether ``HEAD`` still holds it).

    ``prior``: findings of the history ``scope`` continues (restored from a snapshot, with
    where they were kept). Such a finding keeps its placement; the commits of ``scope``
    that hold it add to its count. ``record`` receives every reported finding as ``Kept``.
    """
    if not raw and not prior:
        return []
    if log is None:
        from .history import HistoryLog

        with HistoryLog(repo, scope) as own:
            return attribute_findings(repo, scope, raw, stats, own, prior, record)
    wanted = _attribution_keys(raw) | _kept_pairs(prior)
    from .history import attribute, head_blobs

    if record is not None:
        from .gitsnapshot import Kept
    intros = attribute(repo, scope, wanted, log)
    heads = head_blobs(repo, (path for _, path in wanted))

    def carried(blob: str, path: bytes) -> int:
        return log.carried.get((blob, path), 0)

    groups: dict[str, list[tuple[Finding, str]]] = {}
    for finding, sha in raw:
        groups.setdefault(finding.fingerprint, []).append((finding, sha))
    earlier: dict[str, list[tuple[Finding, Kept]]] = {}
    for finding, kept in prior:
        earlier.setdefault(finding.fingerprint, []).append((finding, kept))
        groups.setdefault(finding.fingerprint, [])
    unplaced = 0
    result: list[Finding] = []
    for key, group in groups.items():
        reported: list[tuple[Finding, str]]
        if key in earlier:
            first = earlier[key][0][1]
            path, intro, chosen = os.fsencode(first.path), first.intro, first.blob
            blobs = sorted(set(first.blobs) | {sha for _, sha in group})
            carrying = first.carrying + sum(carried(b, path) for b in blobs)
            reported = [(finding, kept.blob) for finding, kept in earlier[key]]
        else:
            path = os.fsencode(group[0][0].provenance.path)
            blobs = sorted({sha for _, sha in group},
                           key=lambda b: (intros[(b, path)].order if (b, path) in intros else 1 << 62, b))
            chosen = blobs[0]
            intro = intros.get((chosen, path))
            carrying = sum(carried(b, path) for b in blobs)
            reported = [(finding, sha) for finding, sha in group if sha == chosen]
        in_head = heads.get(path) in blobs
        if intro is None:
            unplaced += 1
        for finding, sha in reported:
            result.append(_placed(finding, sha, intro, carrying, in_head))
            if record is not None:
                location = dataclasses.astuple(finding.location)
                record.append(Kept(finding.rule_id, location, finding.provenance.path, sha, tuple(sorted(blobs)),
                                   intro, carrying))
    if unplaced:
        stats.note(UNPLACED_NOTE, unplaced)
    return result


UNPLACED_NOTE = "findings in blobs no scanned commit introduces (unreachable, or only under a tag)"


def _kept_pairs(prior: Sequence[tuple[Finding, Kept]]) -> set[tuple[str, bytes]]:
    return {(blob, os.fsencode(kept.path)) for _, kept in prior for blob in kept.blobs}


def _attribution_keys(raw: list[tuple[Finding, str]]) -> set[tuple[str, bytes]]:
    """The (blob, path) pairs to attribute: unreachable blobs have no path to place."""
    from .history_paths import scanned_pairs

    return scanned_pairs(raw)


def _placed(finding: Finding, sha: str, intro, carrying: int, in_head: bool) -> Finding:
    p = finding.provenance
    extra = {"blob": sha, "in_head": "true" if in_head else "false"}
    if intro is None:
        return replace(finding, provenance=replace(p, extra=tuple(sorted(extra.items()))))
    extra["commits_carrying"] = str(max(carrying, 1))
    provenance = replace(p, commit=intro.commit, author=intro.author, date=intro.date,
                         extra=tuple(sorted(extra.items())))
    return replace(finding, provenance=provenance)


# --- staged changes --------------------------------------------------------------------

def scan_staged(root: str, rules: Sequence[Rule], options: ScanOptions, *,
                all_lines: bool = False) -> tuple[list[Finding], ScanStats]:
    """Findings on the added lines of staged files (every line with ``all_lines``)."""
    from .sources.staged import staged_files

    started = time.perf_counter()
    stats = ScanStats()
    files = staged_files(root, stats)
    wanted = []
    for item in files:
        shown = os.fsdecode(item.path)
        if options.excludes and is_excluded(shown, options.excludes):
            stats.note("excluded by pattern (files)")
            continue
        wanted.append(item)
    by_ref = {(item.blob, item.path): item for item in wanted}
    findings: list[Finding] = []
    if wanted:
        scanner = BlobScanner(rules, options)
        with ObjectReader(root) as reader:
            for read in reader.read((ObjectRef(i.blob, i.path) for i in wanted), options.max_file_size):
                item = by_ref[(read.ref.sha, read.ref.path)]
                shown = os.fsdecode(item.path)
                if read.data is None:
                    stats.skip(read.reason or "unreadable", shown)
                    continue
                provenance = Provenance(kind="staged", path=shown, root=root, extra=(("blob", item.blob),))
                for finding in scanner.scan_blob(Blob(read.data, provenance), stats):
                    if all_lines or _on_added_line(finding, item.added):
                        findings.append(finding)
                    else:
                        stats.note("findings on unchanged lines of staged files (not counted)")
    findings = apply_severity_overrides(findings, options.severity_overrides)
    findings.sort(key=Finding.sort_key)
    stats.duration_s = time.perf_counter() - started
    return findings, stats


def _on_added_line(finding: Finding, added: frozenset[int] | None) -> bool:
    if added is None:
        return True
    loc = finding.location
    return any(line in added for line in range(loc.line, max(loc.end_line, loc.line) + 1))


__all__ = ["GitError", "Scope", "attribute_findings", "scan_history", "scan_staged"]
