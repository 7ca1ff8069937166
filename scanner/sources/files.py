"""Walk files and directories without ever blocking, following links or raising.

The walker only looks (``lstat``); reading happens in ``read_file`` so it can run
in worker processes. Everything passed over is recorded in ``ScanStats`` by
reason: broken symlinks, symlinks, FIFOs/sockets/devices, unreadable
directories, files over the size cap. User excludes are counted as notes.
"""
from __future__ import annotations

import errno
import fnmatch
import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from ..models import ScanStats

ALWAYS_SKIPPED_DIRS = (".git",)


@dataclass(frozen=True, slots=True)
class FileItem:
    abspath: str
    display: str  # relative to the report base (cwd) when below it, else absolute
    size: int


def display_path(abspath: str, base: str) -> str:
    rel = os.path.relpath(abspath, base)
    if rel == os.curdir:
        rel = os.path.basename(abspath)
    if rel.startswith(os.pardir):
        return abspath.replace(os.sep, "/")
    return rel.replace(os.sep, "/")


def is_excluded(relpath: str, patterns: Sequence[str]) -> bool:
    """gitignore-like globs. A pattern with an inner ``/`` is anchored at the scan root
    (``fixtures/**``, ``docs/api``); one without matches a name at any depth (``*.min.js``,
    ``node_modules``, ``docs/``). Matching a directory excludes everything below it."""
    if not patterns:
        return False
    parts = relpath.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    for pattern in patterns:
        p = pattern.strip()
        anchored = "/" in p.rstrip("/")
        if p.endswith("/**"):
            p = p[:-3]
        p = p.strip("/")
        if not p:
            continue
        for prefix in prefixes:
            target = prefix if anchored else prefix.rsplit("/", 1)[-1]
            if fnmatch.fnmatchcase(target, p):
                return True
    return False


def walk(paths: Iterable[str], stats: ScanStats, *, excludes: Sequence[str] = (),
         max_file_size: int, base: str | None = None) -> Iterator[FileItem]:
    """Regular files under ``paths`` in a stable (sorted) order."""
    base = base or os.getcwd()
    for given in paths:
        root = os.path.abspath(given)
        try:
            st = os.lstat(root)
        except OSError as exc:
            stats.skip(_reason(exc), given)
            continue
        if stat.S_ISDIR(st.st_mode):
            yield from _walk_dir(root, root, stats, excludes, max_file_size, base)
        else:
            item = _classify(root, st, stats, max_file_size, base)
            if item:
                yield item


def _walk_dir(root: str, directory: str, stats: ScanStats, excludes: Sequence[str],
              max_file_size: int, base: str) -> Iterator[FileItem]:
    try:
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        stats.skip("unreadable-directory" if exc.errno in (errno.EACCES, errno.EPERM) else _reason(exc),
                   display_path(directory, base))
        return
    for entry in entries:
        path = entry.path
        rel = os.path.relpath(path, root).replace(os.sep, "/")
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError as exc:
            stats.skip(_reason(exc), display_path(path, base))
            continue
        if stat.S_ISDIR(st.st_mode):
            if entry.name in ALWAYS_SKIPPED_DIRS:
                stats.note(f"skipped {entry.name} directory (use 'brokerscan git' for history)")
                continue
            if is_excluded(rel, excludes):
                stats.note("excluded by pattern (directories)")
                continue
            yield from _walk_dir(root, path, stats, excludes, max_file_size, base)
            continue
        if is_excluded(rel, excludes):
            stats.note("excluded by pattern (files)")
            continue
        item = _classify(path, st, stats, max_file_size, base)
        if item:
            yield item


def _classify(path: str, st: os.stat_result, stats: ScanStats, max_file_size: int, base: str) -> FileItem | None:
    shown = display_path(path, base)
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        stats.skip("symlink-not-followed" if os.path.exists(path) else "broken-symlink", shown)
        return None
    if not stat.S_ISREG(mode):
        stats.skip("special-file", shown)
        return None
    if st.st_size > max_file_size:
        stats.skip("too-large", shown)
        return None
    return FileItem(path, shown, st.st_size)


def read_file(item: FileItem, max_file_size: int) -> bytes:
    """Read a regular file without blocking (O_NONBLOCK guards against a FIFO swapped in mid-scan)."""
    fd = os.open(item.abspath, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SpecialFile()
        if st.st_size > max_file_size:
            raise TooLarge()
        chunks = []
        remaining = max_file_size + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
        if len(data) > max_file_size:
            raise TooLarge()
        return data
    finally:
        os.close(fd)


class SpecialFile(Exception):
    pass


class TooLarge(Exception):
    pass


def _reason(exc: OSError) -> str:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission-denied"
    if exc.errno == errno.ENOENT:
        return "vanished-or-missing"
    if exc.errno == errno.ELOOP:
        return "symlink-loop"
    return f"os-error-{errno.errorcode.get(exc.errno or 0, 'unknown').lower()}"


def read_error_reason(exc: BaseException) -> str:
    if isinstance(exc, SpecialFile):
        return "special-file"
    if isinstance(exc, TooLarge):
        return "too-large"
    if isinstance(exc, OSError):
        return _reason(exc)
    return "read-error"
