"""Walk files and directories without ever blocking, looping or raising.

The walker only looks (``lstat``); reading happens in ``read_file`` so it can run in
worker processes. It is a generator over an explicit stack, so memory grows with the
depth of the tree and the width of one directory, never with the size of the tree.
Everything passed over is recorded in ``ScanStats`` by reason: broken symlinks,
symlinks, FIFOs/sockets/devices, unreadable directories, files over the size cap,
pseudo filesystems and other devices (host scans). User excludes are counted as notes.

Symlinks are not followed unless asked; when they are, every directory is entered at
most once (by device and inode), so a link loop is a counted skip, not a hang.
"""
from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

from ..globs import glob_regex
from ..hostscan import Places, default_places, host_path, pseudo_dirs, resolve_in_root
from ..models import ScanStats

ALWAYS_SKIPPED_DIRS = (".git",)
UNKNOWN_SIZE = -1
HEAD_BYTES = 8192  # what a binary sniff needs (decode.BINARY_SNIFF_BYTES)
SNIFF_FIRST_ABOVE = 64 * 1024  # larger files are sniffed before the rest is read (executables)
READ_CHUNK = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class FileItem:
    abspath: str
    display: str  # host path in host scans; else relative to the report base (cwd) when below it
    size: int  # from the walk; UNKNOWN_SIZE when the walk did not stat the file
    place: str | None = None  # hostscan label: "dotenv", "shell-history", ...
    mtime_ns: int = 0  # from the walk, to notice files that change before they are read
    follow: bool = False  # reached through a symlink the user asked to follow

    def __reduce__(self):
        # Items cross to the workers by the thousand: a slots dataclass pickles through
        # ``dataclasses.fields()`` per object, which cost the walking process more than the walk.
        return (FileItem, (self.abspath, self.display, self.size, self.place, self.mtime_ns, self.follow))


@dataclass(frozen=True, slots=True)
class WalkOptions:
    """How to walk. ``host_root`` set means a host scan (see ``scanner.hostscan``)."""

    max_file_size: int
    excludes: tuple[str, ...] = ()
    host_root: str | None = None
    follow_symlinks: bool = False
    one_file_system: bool = False
    archive_max_bytes: int = 0  # archives up to this size pass the --max-file-size cap (0: no archives)


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
    ``node_modules``, ``docs/``), as does one that starts with ``**/``; an inner ``/**/``
    stands for any directories, none included (``scanner.globs``). Matching a directory
    excludes everything below it."""
    if not patterns:
        return False
    anchored, named = _compiled_excludes(tuple(patterns))
    parts = relpath.split("/")
    if named is not None and any(named(part) for part in parts):
        return True
    if anchored is not None:
        prefix = ""
        for part in parts:
            prefix = f"{prefix}/{part}" if prefix else part
            if anchored(prefix):
                return True
    return False


@lru_cache(maxsize=32)
def _compiled_excludes(patterns: tuple[str, ...]) -> tuple[Callable[[str], object] | None, ...]:
    """The patterns as two compiled alternations (anchored at the root, matching any one
    name), built once per pattern set: the walk asks about every file and directory."""
    anchored: list[str] = []
    named: list[str] = []
    for pattern in patterns:
        p = pattern.strip()
        anywhere = False
        while p.startswith("**/"):  # at any depth: "**/node_modules" is "node_modules"
            p, anywhere = p[3:], True
        is_anchored = "/" in p.rstrip("/")
        if p.endswith("/**"):
            p = p[:-3]
        p = p.strip("/")
        if not p:
            continue
        if not is_anchored:
            named.append(glob_regex(p))
        else:  # at the root, or below any directories ("**/a/b")
            anchored.append(glob_regex("**/" + p if anywhere else p))

    def matcher(parts: list[str]) -> Callable[[str], object] | None:
        return re.compile("|".join(f"(?:{part})" for part in parts)).match if parts else None

    return matcher(anchored), matcher(named)


def walk(paths: Iterable[str], stats: ScanStats, *, excludes: Sequence[str] = (),
         max_file_size: int, base: str | None = None, options: WalkOptions | None = None) -> Iterator[FileItem]:
    """Regular files under ``paths`` in a stable (sorted, depth-first) order.

    ``options`` (when given) carries everything beyond the repository defaults:
    host root, symlink following, one filesystem, archives over the size cap.
    """
    opts = options or WalkOptions(max_file_size=max_file_size, excludes=tuple(excludes))
    yield from _Walker(stats, opts, base or os.getcwd()).walk(paths)


class _Walker:
    def __init__(self, stats: ScanStats, opts: WalkOptions, base: str) -> None:
        self.stats = stats
        self.opts = opts
        self.base = base
        self.places: Places = default_places()
        self.host_root = os.path.abspath(opts.host_root) if opts.host_root else None
        self.pseudo = pseudo_dirs(self.host_root, self.host_root == "/") if self.host_root else frozenset()
        self.visited: set[tuple[int, int]] = set()  # directories entered, when following symlinks
        # Repository scans leave a regular file's size to the reader's ``fstat`` (which
        # it needs anyway, on the opened file): one system call less per file. Host scans
        # stat in the walk, so huge files and special files never reach a worker.
        self.lazy_stat = not self.host_root

    def walk(self, paths: Iterable[str]) -> Iterator[FileItem]:
        for given in paths:
            root = os.path.abspath(given)
            physical = root
            try:
                st = os.lstat(root)
                followed = stat.S_ISLNK(st.st_mode) and self.opts.follow_symlinks
                if followed:
                    physical = self._target(root)
                    st = os.stat(physical)
            except OSError as exc:
                self.stats.skip(_reason(exc), given)
                continue
            if stat.S_ISDIR(st.st_mode):
                if root in self.pseudo or physical in self.pseudo:
                    self.stats.skip("pseudo-filesystem", self._display(root))
                    continue
                yield from self._tree(root, st, physical)
            else:
                item = self._file(physical, os.path.basename(root), st, False, followed, explicit=True,
                                  shown=self._display(root))
                if item:
                    yield item

    def _target(self, link: str) -> str:
        """Where the symbolic link ``link`` leads. In host scans an absolute target is read
        inside the host root, as the scanned machine reads it (``hostscan.resolve_in_root``):
        the kernel would take the scanning host's own file."""
        return resolve_in_root(link, self.host_root) if self.host_root else link

    def _unfollowed(self, link: str) -> str:
        """The skip reason of a link the walk does not follow."""
        try:
            os.stat(self._target(link))
        except OSError:
            return "broken-symlink"
        return "symlink-not-followed"

    def _display(self, path: str) -> str:
        if self.host_root:
            return host_path(path, self.host_root)
        return display_path(path, self.base)

    def _list(self, directory: str, shown: str | None = None) -> list[os.DirEntry] | None:
        """``directory``'s entries by name; ``shown``: the path to report it by, if another."""
        try:
            with os.scandir(directory) as it:
                return sorted(it, key=lambda e: e.name)
        except OSError as exc:
            reason = "unreadable-directory" if exc.errno in (errno.EACCES, errno.EPERM) else _reason(exc)
            self.stats.skip(reason, self._display(shown or directory))
            return None

    def _tree(self, root: str, root_st: os.stat_result, physical_root: str | None = None) -> Iterator[FileItem]:
        """``physical_root``: where ``root`` (a followed link) really is, when elsewhere."""
        root_dev = root_st.st_dev
        shown_prefix = self._display_prefix(root)
        self.visited.add((root_st.st_dev, root_st.st_ino))
        entries = self._list(physical_root or root, root)
        if entries is None:
            return
        # frames: (entries, places_only, (dev, ino) of the directory, the directory's own path
        # when its entries' are elsewhere: below a link followed inside a host root)
        stack: list[tuple[Iterator[os.DirEntry], bool, tuple[int, int], str | None]] = [
            (iter(entries), False, (root_st.st_dev, root_st.st_ino),
             root if physical_root not in (None, root) else None)]
        prefix = root if root.endswith(os.sep) else root + os.sep
        while stack:
            it, places_only, _, logical_dir = stack[-1]
            entry = next(it, None)
            if entry is None:
                stack.pop()
                continue
            physical = entry.path  # where the file is; ``path``: where the walk says it is
            path = physical if logical_dir is None else os.path.join(logical_dir, entry.name)
            rel = path[len(prefix):].replace(os.sep, "/") if path.startswith(prefix) else \
                os.path.relpath(path, root).replace(os.sep, "/")
            if self.lazy_stat and entry.is_file(follow_symlinks=False):  # no system call: d_type
                item = self._regular_file(physical, rel, places_only, shown_prefix + rel)
                if item:
                    yield item
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError as exc:
                self.stats.skip(_reason(exc), self._display(path))
                continue
            followed = False
            if stat.S_ISLNK(st.st_mode):
                if not self.opts.follow_symlinks:
                    self.stats.skip(self._unfollowed(physical), self._display(path))
                    continue
                try:
                    physical = self._target(physical)
                    st = os.stat(physical)
                except OSError as exc:
                    reason = "broken-symlink" if exc.errno == errno.ENOENT else _reason(exc)
                    self.stats.skip(reason, self._display(path))
                    continue
                followed = True
            if stat.S_ISDIR(st.st_mode):
                child_only = self._enter(physical, path, rel, entry.name, st, root_dev, places_only, followed,
                                         [frame[2] for frame in stack])
                if child_only is None:
                    continue
                sub = self._list(physical, path)
                if sub is not None:
                    stack.append((iter(sub), child_only, (st.st_dev, st.st_ino), path if physical != path else None))
                continue
            item = self._file(physical, rel, st, places_only, followed, shown=shown_prefix + rel)
            if item:
                yield item

    def _display_prefix(self, root: str) -> str:
        """What to put before a path relative to ``root`` to display it: ``_display`` per
        file costs an ``os.path.relpath`` each, a third of a large walk's time."""
        shown = self._display(root)
        if self.host_root:
            return "/" if shown == "/" else shown + "/"
        if os.path.normpath(root) == os.path.normpath(self.base):
            return ""
        return shown + "/"

    def _enter(self, physical: str, path: str, rel: str, name: str, st: os.stat_result, root_dev: int,
               places_only: bool, followed: bool, ancestors: list[tuple[int, int]]) -> bool | None:
        """None: do not enter. Else whether to look only for places below (an excluded directory).
        ``physical``: where the directory is (``path`` is where the walk reached it)."""
        if name in ALWAYS_SKIPPED_DIRS:
            self.stats.note(f"skipped {name} directory (use 'brokerscan git' for history)")
            return None
        if self.pseudo and (path in self.pseudo or physical in self.pseudo
                            or (followed and os.path.realpath(physical) in self.pseudo)):
            self.stats.skip("pseudo-filesystem", self._display(path))
            return None
        if self.opts.one_file_system and st.st_dev != root_dev:
            self.stats.skip("other-filesystem", self._display(path))
            return None
        if self.opts.follow_symlinks:
            key = (st.st_dev, st.st_ino)
            if key in ancestors:
                self.stats.skip("symlink-loop", self._display(path))
                return None
            if key in self.visited:
                self.stats.skip("duplicate-directory", self._display(path))
                return None
            self.visited.add(key)
        if places_only:
            return True
        if is_excluded(rel, self.opts.excludes):
            self.stats.note("excluded by pattern (directories)")
            if self.host_root:  # host scans still look below for credential places
                return True
            return None
        return False

    def _regular_file(self, path: str, rel: str, places_only: bool, shown: str) -> FileItem | None:
        """``_file`` for a regular file whose size is not known yet (``size`` -1)."""
        admitted, place = self._admitted(rel, shown, places_only, explicit=False)
        return FileItem(path, shown, UNKNOWN_SIZE, place) if admitted else None

    def _admitted(self, rel: str, shown: str, places_only: bool, explicit: bool) -> tuple[bool, str | None]:
        """Whether excludes let a file through (a skip is noted when not), and its place label.
        Files named on the command line are never excluded by pattern; in host scans a
        place is scanned even under an excluded directory."""
        place = self.places.label_of(shown if self.host_root else "/" + rel)
        if places_only and place is None:
            self.stats.note("excluded by pattern (files)")
            return False, None
        if (not places_only and not explicit and is_excluded(rel, self.opts.excludes)
                and not (self.host_root and place)):
            self.stats.note("excluded by pattern (files)")
            return False, None
        return True, place

    def _file(self, path: str, rel: str, st: os.stat_result, places_only: bool, followed: bool,
              explicit: bool = False, shown: str | None = None) -> FileItem | None:
        """A FileItem for a file to read, or None (counted)."""
        if shown is None:
            shown = self._display(path)
        if stat.S_ISLNK(st.st_mode):
            self.stats.skip(self._unfollowed(path), shown)
            return None
        admitted, place = self._admitted(rel, shown, places_only, explicit)
        if not admitted:
            return None
        if not stat.S_ISREG(st.st_mode):
            self.stats.skip("special-file", shown)
            return None
        if st.st_size > self.opts.max_file_size and not (
                st.st_size <= self.opts.archive_max_bytes and archive_kind(path) is not None):
            self.stats.skip("too-large", shown)
            return None
        return FileItem(path, shown, st.st_size, place, st.st_mtime_ns, followed)


# --- reading ----------------------------------------------------------------------------

def read_at_most(read: Callable[[int], bytes], limit: int, chunk: int = 1 << 20) -> bytes:
    """Up to ``limit`` bytes from ``read`` (a stream's ``read``, or ``os.read`` on an fd), a
    ``chunk`` at a time until it returns nothing: one ``read(limit)`` would allocate all of a
    large limit (``stdin --max-file-size 1000GB``) before a byte arrives."""
    chunks: list[bytes] = []
    remaining = limit
    while remaining > 0 and (got := read(min(remaining, chunk))):
        chunks.append(got)
        remaining -= len(got)
    return b"".join(chunks)


def open_regular(item: FileItem, max_size: int) -> tuple[int, os.stat_result]:
    """An fd on ``item`` that is certainly a regular file of at most ``max_size`` bytes.

    O_NONBLOCK guards against a FIFO swapped in mid-scan, O_NOFOLLOW against a symlink
    (unless the walk followed one on purpose); the checks run on the opened file.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not item.follow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(item.abspath, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SpecialFile()
        if st.st_size > max_size:
            raise TooLarge()
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def read_file_stat(item: FileItem, max_file_size: int, *,
                   is_binary: Callable[[bytes], bool] | None = None) -> tuple[bytes, os.stat_result]:
    """The file's bytes (at most ``max_file_size``) and its ``fstat``.

    ``is_binary`` looks at the first ``HEAD_BYTES``; when it says so, ``BinaryFile`` is
    raised before the rest is read (most bytes of a machine are executables).
    """
    fd, st = open_regular(item, max_file_size)
    try:
        chunks = []
        got = 0
        limit = max_file_size + 1  # one byte past the cap tells a too-large file
        if is_binary is not None and st.st_size > SNIFF_FIRST_ABOVE:
            head = os.read(fd, HEAD_BYTES)
            if len(head) == HEAD_BYTES and is_binary(head):
                raise BinaryFile()
            chunks.append(head)
            got = len(head)
            if got < HEAD_BYTES:  # the file ended (shrank since fstat)
                limit = got
        while got < limit:
            # One read for a file whose size we know; a short read of a regular file is its end.
            want = min(limit - got, max(st.st_size + 1 - got, 1), READ_CHUNK)
            chunk = os.read(fd, want)
            chunks.append(chunk)
            got += len(chunk)
            if len(chunk) < want:
                break
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if len(data) > max_file_size:
            raise TooLarge()
        return data, st
    finally:
        os.close(fd)


def read_file(item: FileItem, max_file_size: int) -> bytes:
    """Read a regular file without blocking."""
    return read_file_stat(item, max_file_size)[0]


class SpecialFile(Exception):
    pass


class TooLarge(Exception):
    pass


class BinaryFile(Exception):
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
    if isinstance(exc, BinaryFile):
        return "binary"
    if isinstance(exc, OSError):
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW: the walked file was replaced by a symlink
            return "replaced-by-symlink"
        return _reason(exc)
    return "read-error"


@lru_cache(maxsize=1)
def _archives():
    from . import archives

    return archives


def archive_kind(path: str) -> str | None:
    """``archives.archive_kind``, with ``archives`` imported on first use: ``staged`` never needs it."""
    return _archives().archive_kind(path)
