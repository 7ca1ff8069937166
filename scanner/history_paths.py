"""The paths a history's blobs with findings live at, each judged as that path.

``git rev-list --objects`` names every blob once, by the first path it meets walking
from the newest commits. A blob that a copy or a rename also put at other paths is
scanned under that one name only, and an ``--exclude`` that matches the name would
drop it everywhere. Yet each path is a finding of its own, introduced by its own
commit, and what a blob holds depends on its path (the AST's syntax comes from the
extension, tests and docs folders lower confidence, rules can be limited to paths).

So, once the scan is done, the commit listing that places findings (``history``)
also says where else each blob of interest lives, and those (blob, path) pairs are
read and scanned in full under their own paths. Blobs of interest:

- the blobs with findings, and those of the findings kept from the last scan (``--cache``);
- the blobs set aside because their name is excluded (``excluded``): one of their other
  paths may not be. This is the only case where a history without findings has its
  commits listed (in the background, from the first excluded blob on);
- in a continuation of a cached scan (``HistoryLog.watch_all``), every blob a new commit
  sets at a path: an old blob copied or moved is not listed again by ``rev-list``.

A path that git cut at a newline in its listing is no path of the blob: its findings
give way to the blob's real path.

A range (``--range A..B``) reports what it introduces: a finding whose secret the
range's base already held at that path (``held_by_base``) is not reported.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .history import HistoryLog, attribute, blobs_at
from .models import Finding, ScanStats
from .sources.files import is_excluded
from .sources.git import ObjectRef, Repository, Scope

if TYPE_CHECKING:
    from .gitcache import HistoryCache

Found = list[tuple[Finding, str]]  # findings, each with the id of the blob it is in
# Full scans of blobs (of the given sizes), in order: per blob its findings, or None when it could
# not be read or scanned (counted in the stats). ``gitscan._Workers.judge``: the scan's pool.
Judge = Callable[[list[ObjectRef], list[int]], tuple[list[tuple[ObjectRef, "list[Finding] | None"]], ScanStats]]
# Skips of a rescan that must reach the summary: they mean the run did not read everything.
FAILED_READS = ("corrupt-object", "worker-died", "internal-error")
BASE_NOTE = "findings the range's base already held at the same path (not introduced by the range)"


def scanned_pairs(found: Found) -> set[tuple[str, bytes]]:
    """The (blob, path) pairs the findings were scanned under; unreachable blobs have no path."""
    return {(sha, os.fsencode(f.provenance.path)) for f, sha in found if not f.provenance.path.startswith("<")}


def at_every_path(found: Found, repo: Repository, scope: Scope, log: HistoryLog, judge: Judge,
                  stats: ScanStats, excludes: Sequence[str], *, excluded: set[str] = frozenset(),
                  kept: set[tuple[str, bytes]] = frozenset(), enumerated: set[tuple[str, bytes]] = frozenset(),
                  cache: HistoryCache | None = None) -> Found:
    """``found`` plus the findings of its blobs (and of ``excluded`` and ``kept`` blobs) at every
    other path the scope's commits set them at, minus those at paths git cut.

    ``kept``: pairs whose findings the last scan kept (``--cache``); ``enumerated``: pairs this
    run scanned (needed only with ``log.watch_all``, where any blob may be of interest).
    ``cache``: pairs the blob layer knows are not read again."""
    interest = {sha for _, sha in found} | excluded | {blob for blob, _ in kept}
    if not interest and not log.watch_all:
        return found
    log.watch |= interest
    scanned = scanned_pairs(found)
    attribute(repo, scope, scanned | kept, log)  # placed later anyway: one reading
    known = scanned | kept | enumerated
    homes = log.homes
    blobs = homes.keys() if log.watch_all else interest & homes.keys()
    candidates = sorted((blob, path) for blob in blobs for path in homes[blob]
                        if (blob, path) not in known and not _excluded(path, excludes))
    refs = [ObjectRef(blob, path) for blob, path in candidates]
    if cache is not None:
        refs = [ref for ref in refs if cache.lookup(ref) is None]
    kept_found = [(f, sha) for f, sha in found if not _cut(sha, os.fsencode(f.provenance.path), homes)]
    return kept_found + _scan_fully(refs, judge, stats)


def held_by_base(found: Found, repo: Repository, scope: Scope, log: HistoryLog, judge: Judge,
                 stats: ScanStats) -> Found:
    """``found`` without what a ``--range``'s base already held: the same rule and secret at the
    same path (the fingerprint) in a parent of the range's commits that lies outside the range.
    A pull request that edits another line of a file with an old secret does not add it."""
    if not scope.range or not found:
        return found
    log.start()
    log.graph()
    paths = {path for _, path in scanned_pairs(found)}
    held_blobs = blobs_at(repo, ((parent, path) for parent in log.outside_parents for path in sorted(paths)))
    refs = sorted({ObjectRef(blob, path) for (_, path), blob in held_blobs.items()})
    held = {finding.fingerprint for finding, _ in _scan_fully(refs, judge, stats)}
    kept = [(f, sha) for f, sha in found if f.fingerprint not in held]
    dropped = {f.fingerprint for f, _ in found} & held
    if dropped:
        stats.note(BASE_NOTE, len(dropped))
    return kept


def _scan_fully(refs: list[ObjectRef], judge: Judge, stats: ScanStats) -> Found:
    """Full scans of blobs already counted (or excluded) under another path: only their findings
    and failed reads reach the summary, so it says what an uncached run says."""
    if not refs:
        return []
    results, judged = judge(refs, [0] * len(refs))
    for reason, count in judged.skipped.items():
        if reason.startswith(FAILED_READS):
            stats.merge(ScanStats(skipped={reason: count}, skipped_paths={reason: judged.skipped_paths.get(reason, [])}))
    return [(finding, ref.sha) for ref, findings in results if findings for finding in findings]


def _excluded(path: bytes, excludes: Sequence[str]) -> bool:
    return bool(excludes) and is_excluded(os.fsdecode(path), excludes)


def _cut(blob: str, path: bytes, homes: dict[str, set[bytes]]) -> bool:
    """Whether ``path`` is git's listing of a path with a newline, cut there: the blob lives at
    a path that begins with it and a newline, and never at ``path`` itself."""
    paths = homes.get(blob, ())
    return path not in paths and any(home.startswith(path + b"\n") for home in paths)
