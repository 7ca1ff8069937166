"""``brokerscan git --cache DIR``, second layer: what the last scan of this history found.

The blob layer (``gitcache``) spares reading clean blobs, but a run over it still lists
every object of every commit, reads and scans again every blob that holds a finding (a
secret in a file edited 2,000 times is in 2,000 blobs) and walks the whole commit log
to place them: 3 s on a 20,000-commit history whose cold scan takes 7 s.

This layer remembers, per repository and scope, the commits the last run ended at (its
*tips*) and what it reported, so that the next run does only what is new:

- **Same tips.** A commit id names its whole past, so the history is the one scanned.
  The findings are restored and nothing else is read.
- **Grown.** Every old tip is an ancestor of a current tip (new commits, new branches,
  fast-forwards): only ``new tips --not old tips`` is listed and scanned, its commits
  are walked from the files of their old parents (``history.HistoryLog(continues=True)``),
  and the result is merged with the restored findings. A secret already reported keeps
  its introducing commit; its count of carrying commits grows by the new ones.
- **Anything else** (a force-push, a deleted branch, a rebase): a full scan, which the
  blob layer still spares the unchanged blobs, and a new snapshot.

**No secret on disk.** A finding is kept as where to find it again, never as its text:
rule id, path, blob id, line and columns, its introduction (commit, author, date) and
the ids of the blobs at that path that hold it. Restoring reads and scans one blob per
finding, which gives back the exact secret for ``--show-secrets``. No fingerprint
either: a hash of an eight-digit account id is a brute-force search away from it. A
finding that is not found again drops the snapshot, and the run is a full scan.

**When there is none.** Only scans of refs (``--all``, the default, or ``--branch``) in a
complete clone keep one: a ``--range`` or ``--since`` window, ``--all-objects`` (what is
unreachable changes with ``git gc``) and shallow clones are scanned as before. A run
that could not read everything (missing or corrupt objects, a worker that died, an
internal error) keeps none, since a fix may change its results. Objects a partial clone
lacks are kept by id, and the snapshot serves only while all of them are still missing:
once a fetch brings one in, the run is a full scan (of the blob layer's misses).

**File.** One per cache key, repository, scope and ``--exclude`` patterns: ``MAGIC | JSON | SHA-256 of both``,
written atomically beside the blob layer's file; the newest ``KEEP_SNAPSHOTS`` are kept.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .atomicfile import split_checksum, with_checksum, write_atomically
from .usercache import prune
from .history import Introduction
from .models import Blob, Finding, Provenance, ScanStats
from .rules import Rule
from .scan import BlobScanner, ScanOptions
from .sources.git import GitError, ObjectReader, ObjectRef, Repository, Scope

FORMAT = 1
MAGIC = b"BSGITSNAP\x00\x01\n"
SUFFIX = ".bssnap"
KEEP_SNAPSHOTS = 32  # one per repository and scope: a shared CI cache holds many
# Skips after which a run's results may change once the repository is repaired: no snapshot.
# (Missing objects are kept by id instead: a snapshot is used only while they stay missing.)
INCOMPLETE_SKIPS = ("corrupt-object", "worker-died", "internal-error")
# Notes a run makes afresh (about the cache, the repository, or placing findings): not replayed.
FRESH_NOTES = ("cache", "objects from cache", "objects added to cache", "history unchanged",
               "history grew", "shallow clone", "submodules not followed", "repository has no commits",
               "findings in blobs no scanned commit introduces")


class Stale(Exception):
    """A snapshot whose findings cannot be found again: the message says why."""


@dataclass(frozen=True)
class Kept:
    """One reported finding of a history scan, as where to find it again (no text)."""

    rule_id: str
    location: tuple[int, int, int, int]  # line, column, end line, end column
    path: str  # the path the blob was scanned under
    blob: str  # the version the finding is reported from
    blobs: tuple[str, ...]  # every blob at ``path`` that holds it
    intro: Introduction | None  # None: no scanned commit introduces it
    carrying: int  # commits holding one of ``blobs`` at ``path``


@dataclass
class Snapshot:
    tips: tuple[str, ...]
    kept: list[Kept] = field(default_factory=list)
    missing: tuple[str, ...] = ()  # objects the history names and the repository lacked
    skipped: dict[str, int] = field(default_factory=dict)
    skipped_paths: dict[str, list[str]] = field(default_factory=dict)
    notes: dict[str, int] = field(default_factory=dict)

    def replay(self, stats: ScanStats) -> None:
        """Add the stored skips and notes to ``stats``: a reused history still says what it skipped."""
        stats.merge(ScanStats(skipped=dict(self.skipped), skipped_paths={k: list(v) for k, v in
                                                                         self.skipped_paths.items()},
                              notes=dict(self.notes)))


def eligible(repo: Repository, scope: Scope) -> bool:
    return not (scope.range or scope.since or scope.until or scope.all_objects or repo.shallow)


def complete(stats: ScanStats) -> bool:
    """Whether a run read everything it was asked to (see the module docstring)."""
    return not any(reason.startswith(INCOMPLETE_SKIPS) for reason in stats.skipped)


def current_tips(repo: Repository, scope: Scope) -> tuple[str, ...]:
    """The object ids the scope's refs point at now, sorted (``--all``: every ref and ``HEAD``)."""
    if scope.refs:
        out = repo.git("rev-parse", "--end-of-options", *scope.refs)
    else:
        out = repo.git("rev-parse", "--all") + repo.git("rev-parse", "--verify", "--quiet", "HEAD", check=False)
    return tuple(sorted(set(out.decode("ascii").split())))


def grew(repo: Repository, old: Sequence[str], new: Sequence[str]) -> bool:
    """Whether every commit reachable from ``old`` is reachable from ``new`` (nothing was dropped).

    Asked first of the tips that moved alone: a branch that went forward holds its old tip, and
    a git call given every tip of a repository with thousands of refs costs ~50 ms (requests'
    4,347 pull refs). Only if they do not hold all the old tips are all the new tips asked."""
    current = set(new)
    gone = [sha for sha in old if sha not in current]
    if not gone:
        return True
    previous = set(old)
    moved = [sha for sha in new if sha not in previous]
    for negatives in ([moved, new] if moved and len(moved) < len(new) else [new]):
        stdin = "".join(f"{sha}\n" for sha in gone) + "".join(f"^{sha}\n" for sha in negatives)
        try:
            out = repo.git("rev-list", "-n", "1", "--stdin", input=stdin.encode("ascii"))
        except GitError:  # an old tip git no longer has: not a continuation
            return False
        if not out.strip():
            return True
    return False


def still_missing(repo: Repository, ids: Sequence[str]) -> bool:
    """Whether the repository still lacks every one of ``ids`` (a fetch may have brought some)."""
    if not ids:
        return True
    out = repo.git("cat-file", "--batch-check=%(objectname)", input="".join(f"{i}\n" for i in ids).encode("ascii"),
                   check=False)
    return sum(line.endswith(b" missing") for line in out.splitlines()) == len(ids)


def continuation(repo: Repository, old: Sequence[str], new: Sequence[str]) -> Scope:
    """The commits reachable from ``new`` but not from ``old``: what a history grew by.

    Given as the moved tips minus the *boundary*: the old commits that are parents of new
    ones. Every path from a new tip into the old history passes one of them, so this is the
    same set as ``new --not old``, but the listings that follow read a handful of
    revisions instead of every old tip (4,347 pull refs on requests cost each git call
    about 40 ms even on stdin). One ``rev-list --boundary`` with all of them finds it.
    """
    kept = set(old)
    moved = [sha for sha in new if sha not in kept]
    stdin = "".join(f"{sha}\n" for sha in moved) + "".join(f"^{sha}\n" for sha in old)
    try:
        out = repo.git("rev-list", "--boundary", "--stdin", input=stdin.encode("ascii")).decode("ascii").split()
    except GitError as exc:
        raise Stale(f"cannot list the new commits: {exc}") from None
    boundary = sorted({line[1:] for line in out if line.startswith("-")})
    if len(boundary) == len(out):  # no new commit: new refs to old commits
        return Scope(revisions=tuple(f"^{sha}" for sha in new))
    return Scope(revisions=(*moved, *(f"^{sha}" for sha in boundary)))


class Snapshots:
    """The snapshot file of one cache key, repository, scope and set of ``--exclude`` patterns
    (the key leaves those out: the blob layer applies them before asking, but kept findings
    are what remained after them)."""

    def __init__(self, directory: Path, key: str, repo: Repository, scope: Scope,
                 excludes: Sequence[str] = ()) -> None:
        identity = json.dumps([key, os.path.realpath(repo.git_dir), scope.rev_args(), list(excludes)])
        self.directory = directory
        self.key = key
        self.path = directory / f"{hashlib.sha256(identity.encode('utf-8', 'surrogateescape')).hexdigest()[:32]}{SUFFIX}"

    def load(self, stats: ScanStats) -> Snapshot | None:
        """The stored snapshot, or None (none yet; a bad file is a note)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            stats.note(f"cache: findings of the last scan unreadable ({exc.strerror or exc}), full scan")
            return None
        try:
            return parse(data, self.key)
        except Stale as exc:
            stats.note(f"cache: findings of the last scan unusable ({exc}), full scan")
            return None

    def save(self, snapshot: Snapshot, stats: ScanStats) -> None:
        try:
            write_atomically(self.path, serialize(snapshot, self.key), suffix=SUFFIX, mode=0o644, durable=True)
        except (OSError, ValueError) as exc:
            stats.note(f"cache: findings not kept: {getattr(exc, 'strerror', None) or exc}")
            return
        prune(self.directory, self.path, SUFFIX, KEEP_SNAPSHOTS)

    def drop(self) -> None:
        try:
            self.path.unlink()
        except OSError:
            pass


# --- restoring ----------------------------------------------------------------------------

def restore(repo: Repository, kept: Sequence[Kept], rules: Sequence[Rule], options: ScanOptions,
            stats: ScanStats) -> list[tuple[Finding, Kept]]:
    """Each kept finding as the scan finds it again in its blob (before placement); ``Stale`` if one
    is not found. One blob read and scanned per finding, each on its own."""
    if not kept:
        return []
    scanner = BlobScanner(rules, options)
    by_blob: dict[tuple[str, str], list[Kept]] = {}
    for item in kept:
        by_blob.setdefault((item.blob, item.path), []).append(item)
    refs = [ObjectRef(blob, os.fsencode(path)) for blob, path in by_blob]
    restored: list[tuple[Finding, Kept]] = []
    with ObjectReader(repo.root, missing_reason="corrupt-object") as reader:
        for read in reader.read(refs, options.max_file_size):
            path = os.fsdecode(read.ref.path)
            if read.data is None:
                raise Stale(f"blob {read.ref.sha[:12]} of {path} cannot be read ({read.reason})")
            result = scanner.scan_blob(Blob(read.data, Provenance(kind="git", path=path, root=repo.root)), stats)
            assert isinstance(result, list)
            found = {(f.rule_id, dataclasses.astuple(f.location)): f for f in result}
            for item in by_blob[(read.ref.sha, path)]:
                finding = found.get((item.rule_id, item.location))
                if finding is None:
                    raise Stale(f"a finding of {path} in blob {read.ref.sha[:12]} was not found again")
                restored.append((finding, item))
    if len(restored) != len(kept):
        raise Stale("some blobs were not read")
    return restored


# --- the file -----------------------------------------------------------------------------

def serialize(snapshot: Snapshot, key: str) -> bytes:
    document = {
        "format": FORMAT,
        "key": key,
        "tips": list(snapshot.tips),
        "missing": sorted(snapshot.missing),
        "findings": [_kept_row(item) for item in snapshot.kept],
        "stats": {"skipped": snapshot.skipped, "skipped_paths": snapshot.skipped_paths,
                  "notes": {k: v for k, v in snapshot.notes.items() if not k.startswith(FRESH_NOTES)}},
    }
    body = MAGIC + json.dumps(document, ensure_ascii=True, separators=(",", ":"), sort_keys=True).encode("ascii")
    return with_checksum(body)


def parse(data: bytes, key: str) -> Snapshot:
    body, intact = split_checksum(data)
    if not body.startswith(MAGIC):
        raise Stale("not a brokerscan snapshot file")
    if not intact:
        raise Stale("checksum mismatch (damaged or truncated)")
    try:
        document = json.loads(body[len(MAGIC):])
        if document["format"] != FORMAT or document["key"] != key:
            raise Stale("written for another version or key")
        stats = document["stats"]
        return Snapshot(
            tips=tuple(str(t) for t in document["tips"]),
            missing=tuple(str(m) for m in document["missing"]),
            kept=[_kept_from(row) for row in document["findings"]],
            skipped={str(k): int(v) for k, v in stats["skipped"].items()},
            skipped_paths={str(k): [str(p) for p in v] for k, v in stats["skipped_paths"].items()},
            notes={str(k): int(v) for k, v in stats["notes"].items()},
        )
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:  # well-formed JSON, wrong shape
        raise Stale(f"bad contents ({type(exc).__name__})") from None


def _kept_row(item: Kept) -> list:
    intro = item.intro
    placed = None if intro is None else [intro.commit, intro.author, intro.date, intro.order, intro.carrying,
                                         os.fsdecode(intro.path)]
    return [item.rule_id, list(item.location), item.path, item.blob, list(item.blobs), placed, item.carrying]


def _kept_from(row: list) -> Kept:
    rule_id, location, path, blob, blobs, placed, carrying = row
    intro = None
    if placed is not None:
        commit, author, date, order, intro_carrying, real = placed
        intro = Introduction(str(commit), str(author), str(date), int(order), int(intro_carrying), os.fsencode(real))
    line, column, end_line, end_column = (int(v) for v in location)
    return Kept(str(rule_id), (line, column, end_line, end_column), str(path), str(blob),
                tuple(str(b) for b in blobs), intro, int(carrying))
