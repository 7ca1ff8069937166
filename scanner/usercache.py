"""Files of compiled matchers in the per-user cache, safe to read back.

Two caches keep what a process would otherwise compile at every start (Hyperscan
databases: ``scanner.hsdb``; ``regex`` programs: ``scanner.regexcache``). What they
hold is fed to C code that trusts its input, so a file is read back only if it is a
regular file (not a symlink) that the current user owns and nobody else may write,
and its SHA-256 trailer matches. The trailer covers the file's name (its key) too: a
valid file linked or copied under another key, say one database in place of another,
fails the check. Otherwise the caller compiles as if there were no cache. Writes are
atomic, and their errors are ignored: a cache only ever saves time.
"""
from __future__ import annotations

import hashlib
import os
import stat
import time
from collections.abc import Iterable
from pathlib import Path

_TRAILER = 32  # SHA-256 of the body, appended
STALE_TEMP_S = 24 * 3600  # temporary files older than this were left by a killed run
_pruned: set[Path] = set()  # directories this process pruned already


def location(kind: str, key_parts: Iterable[bytes], suffix: str) -> Path | None:
    """``<cache dir>/<kind>/<hash of key_parts><suffix>``, or None when caching is off."""
    from .rules import rules_cache_dir

    directory = rules_cache_dir()
    if directory is None:
        return None
    key = hashlib.sha256()
    for part in key_parts:
        key.update(len(part).to_bytes(8, "big") + part)
    return directory / kind / (key.hexdigest()[:32] + suffix)


def read(path: Path, max_bytes: int) -> bytes | None:
    """The body stored at ``path`` if the file can be trusted and is intact, else None."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if (not _owned_by_me(st) or st.st_mode & 0o022 or not _TRAILER < st.st_size <= max_bytes):
            return None
        data = os.read(fd, st.st_size + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    body, trailer = data[:-_TRAILER], data[-_TRAILER:]
    return body if _checksum(path, body) == trailer else None


def write(path: Path, body: bytes, keep: int) -> None:
    """Store ``body`` at ``path`` (0600, in a 0700 directory) and delete all but the ``keep``
    newest files of its kind; any error leaves the cache as it was."""
    from .atomicfile import write_atomically

    try:
        _make_private_dirs(path.parent)
        write_atomically(path, body + _checksum(path, body), suffix=path.suffix)
        if path.parent not in _pruned:  # once per process: a cold run writes dozens
            _pruned.add(path.parent)
            prune(path.parent, keep=path, suffix=path.suffix, count=keep)
    except Exception:  # noqa: BLE001 - read-only home, disk full: the next run compiles again
        return


def _make_private_dirs(kind_dir: Path) -> None:
    """Create ``<cache dir>/<kind>`` (as ``location`` names it) with both folders 0700.

    ``os.makedirs(mode=...)`` gives the mode to the last folder only, and a cold start writes a
    kind's file before the rule cache's, so the cache dir, which holds ``rules-*.json`` itself,
    would get the default mode (0755 under the usual umask). Folders above it (``~/.cache``)
    are the user's: created with the default mode if missing, never changed; a folder that
    already exists keeps its mode."""
    os.makedirs(kind_dir.parent, mode=0o700, exist_ok=True)
    os.makedirs(kind_dir, mode=0o700, exist_ok=True)


def _checksum(path: Path, body: bytes) -> bytes:
    return hashlib.sha256(path.name.encode() + b"\0" + body).digest()


def _owned_by_me(st: os.stat_result) -> bool:
    getuid = getattr(os, "getuid", None)  # Windows has no owners to compare
    return stat.S_ISREG(st.st_mode) and (getuid is None or st.st_uid == getuid())


def prune(directory: Path, keep: Path, suffix: str, count: int) -> None:
    """Delete all but the ``count`` newest ``*suffix`` files (rules or versions that changed
    long ago) and temporary files a killed run left; only files this package names."""
    now = time.time()
    namespaces: list[tuple[float, Path]] = []
    try:
        for entry in os.scandir(directory):
            name = entry.name
            if not name.endswith(suffix) or not entry.is_file(follow_symlinks=False):
                continue
            mtime = entry.stat(follow_symlinks=False).st_mtime
            if name.startswith(".tmp-"):
                if now - mtime > STALE_TEMP_S:
                    _unlink(Path(entry.path))
            elif len(name) == 32 + len(suffix) and all(c in "0123456789abcdef" for c in name[:32]):
                namespaces.append((mtime, Path(entry.path)))
    except OSError:
        return
    namespaces.sort(reverse=True)
    for _, path in namespaces[count:]:
        if path != keep:
            _unlink(path)


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass
