"""Archive and compressed-file members as (path, bytes), streamed, with limits that defuse bombs.

``.zip``/``.jar``/``.war``/``.whl``, ``.tar`` (plain, ``.gz``/``.tgz``, ``.bz2``, ``.xz``) and
single-file ``.gz``/``.bz2``/``.xz`` are opened in memory, never extracted to disk. Each
member that is not itself an archive is yielded with its chain of names
(``backup.tar.gz!home/u/.env``, ``a.zip!b.jar!conf/app.properties``); nested archives
are opened up to ``max_depth``.

What keeps a zip bomb harmless, all counted as ``archive-limit`` skips:

* a budget of expanded bytes per top-level archive (``max_total_bytes``), charged for
  every member read *and* every member skipped inside a compressed stream (skipping
  there still means decompressing);
* a compression ratio guard: once a stream has produced a megabyte, more than
  ``max_ratio`` bytes out per byte in stops it;
* ``max_depth`` of nesting and ``max_members`` per archive.

A member larger than ``max_member_bytes`` (``--max-file-size``) is a ``too-large`` skip,
encrypted zip members are ``archive-encrypted``, and a corrupt archive is an
``archive-error`` after whatever members came before the damage.
"""
from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any, BinaryIO

from ..models import ScanStats

MB = 1024 * 1024
CHUNK = MB

# Longest suffix first: ".tar.gz" before ".gz".
_SUFFIXES: tuple[tuple[str, str], ...] = (
    (".tar.gz", "tar"), (".tar.bz2", "tar"), (".tar.xz", "tar"), (".tgz", "tar"), (".tbz2", "tar"),
    (".tbz", "tar"), (".txz", "tar"), (".tar", "tar"),
    (".zip", "zip"), (".jar", "zip"), (".war", "zip"), (".ear", "zip"), (".whl", "zip"),
    (".gz", "gz"), (".bz2", "bz2"), (".xz", "xz"),
)


_SUFFIX_RE = re.compile(r"[^/]\.(" + "|".join(re.escape(s[1:]) for s, _ in _SUFFIXES) + r")\Z", re.IGNORECASE)
_KIND_OF = {suffix[1:]: kind for suffix, kind in _SUFFIXES}


def archive_kind(name: str) -> str | None:
    """``'zip'``, ``'tar'``, ``'gz'``, ``'bz2'``, ``'xz'`` from a file name, or None.

    Called for every file of a machine, so one regex over the name's tail."""
    m = _SUFFIX_RE.search(name, max(len(name) - 9, 0))
    return _KIND_OF[m.group(1).lower()] if m else None


_MAGIC = {"gz": (b"\x1f\x8b",), "bz2": (b"BZh",), "xz": (b"\xfd7zXZ\x00",)}


def looks_like(kind: str, head: bytes) -> bool:
    """Whether the first 512 bytes fit ``kind``: a file named ``x.1.gz`` may be plain text.

    A zip is always tried (its directory is at the end, and self-extracting ones start
    with a program); a tar is plain (``ustar`` at 257) or compressed (any magic above)."""
    if kind == "zip":
        return True
    if kind == "tar":
        return head[257:262] == b"ustar" or any(head.startswith(m) for ms in _MAGIC.values() for m in ms)
    return any(head.startswith(m) for m in _MAGIC[kind])


@dataclass(frozen=True)
class ArchiveLimits:
    max_member_bytes: int
    max_total_bytes: int = 256 * MB
    max_depth: int = 3
    max_ratio: float = 250.0
    max_members: int = 100_000
    ratio_floor: int = MB  # the ratio guard looks only at streams that produced this much


class LimitExceeded(Exception):
    """An archive limit was hit; the rest of the (sub)archive is not read."""


class BudgetExceeded(LimitExceeded):
    """The top-level archive's expanded-bytes budget is spent: nothing more of it is read."""

    where: str = ""


class _MemberTooLarge(Exception):
    pass


class _Budget:
    """Expanded bytes left for one top-level archive, shared by all nesting levels."""

    def __init__(self, total: int) -> None:
        self.left = total

    def charge(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise BudgetExceeded("expanded size limit")


class _CountingReader(io.RawIOBase):
    """Counts the compressed bytes a decompressor pulls, for the ratio guard."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        data = self.raw.read(len(b))
        n = len(data)
        b[:n] = data
        self.count += n
        return n


class _Stream:
    """Ratio bookkeeping for one compressed stream (``count_in`` returns bytes consumed)."""

    def __init__(self, limits: ArchiveLimits, count_in) -> None:
        self.limits = limits
        self.count_in = count_in
        self.out = 0

    def produced(self, n: int) -> None:
        self.out += n
        if self.out >= self.limits.ratio_floor:
            consumed = max(self.count_in(), 1)
            if self.out / consumed > self.limits.max_ratio:
                raise LimitExceeded(f"compression ratio over {self.limits.max_ratio:.0f}:1")


def _read_capped(reader: IO[bytes], cap: int, budget: _Budget, stream: _Stream | None) -> bytes:
    chunks = []
    total = 0
    while True:
        chunk = reader.read(min(CHUNK, cap + 1 - total))
        if not chunk:
            break
        total += len(chunk)
        budget.charge(len(chunk))
        if stream is not None:
            stream.produced(len(chunk))
        if total > cap:
            raise _MemberTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def iter_members(source: BinaryIO, name: str, shown: str, limits: ArchiveLimits,
                 stats: ScanStats) -> Iterator[tuple[str, bytes]]:
    """``(member path, data)`` for every leaf member of the archive ``source``.

    ``name`` decides the format (its suffix), ``shown`` is the archive's display path
    that member paths extend (``shown!inner``). Problems are recorded in ``stats``.
    """
    yield from _members(source, name, shown, limits, stats, _Budget(limits.max_total_bytes), 1)


def _members(source: BinaryIO, name: str, shown: str, limits: ArchiveLimits, stats: ScanStats,
             budget: _Budget, depth: int) -> Iterator[tuple[str, bytes]]:
    # imported here, not at module level: most scans never open an archive
    import gzip
    import lzma
    import tarfile
    import zipfile
    import zlib
    kind = archive_kind(name)
    if kind is None:
        return
    if depth > limits.max_depth:
        stats.skip("archive-limit", shown)
        stats.note(f"archive nesting deeper than {limits.max_depth}")
        return
    stats.note("archives opened")
    opener = {"zip": _zip_members, "tar": _tar_members}.get(kind, _single_member)
    try:
        for inner, data in opener(source, name, shown, limits, stats, budget):
            path = f"{shown}!{inner}"
            if archive_kind(inner) is not None:
                yield from _members(io.BytesIO(data), inner, path, limits, stats, budget, depth + 1)
            else:
                yield path, data
    except BudgetExceeded as exc:
        exc.where = exc.where or shown
        if depth > 1:
            raise
        stats.skip("archive-limit", exc.where)
        stats.note(f"archive limit: {exc}")
    except LimitExceeded as exc:
        stats.skip("archive-limit", shown)
        stats.note(f"archive limit: {exc}")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, tarfile.TarError, EOFError, lzma.LZMAError,
            zlib.error, gzip.BadGzipFile, OSError, ValueError, NotImplementedError, RuntimeError):
        stats.skip("archive-error", shown)


def _zip_members(source: BinaryIO, name: str, shown: str, limits: ArchiveLimits, stats: ScanStats,
                 budget: _Budget) -> Iterator[tuple[str, bytes]]:
    # imported here, not at module level: most scans never open an archive
    import zipfile
    import zlib
    with zipfile.ZipFile(source) as zf:
        infos = zf.infolist()
        if len(infos) > limits.max_members:
            raise LimitExceeded(f"more than {limits.max_members} members")
        for info in infos:
            if info.is_dir():
                continue
            member = f"{shown}!{info.filename}"
            if info.flag_bits & 0x1:
                stats.skip("archive-encrypted", member)
                continue
            if info.file_size > limits.max_member_bytes:
                stats.skip("too-large", member)
                continue
            compressed = max(info.compress_size, 1)
            try:
                with zf.open(info) as fh:
                    data = _read_capped(fh, limits.max_member_bytes, budget,
                                        _Stream(limits, lambda c=compressed: c))
            except _MemberTooLarge:  # the header lied about the size
                stats.skip("too-large", member)
                continue
            except BudgetExceeded:
                raise
            except LimitExceeded as exc:  # a bomb member: skip it, the others may be honest
                stats.skip("archive-limit", member)
                stats.note(f"archive limit: {exc}")
                continue
            except (zipfile.BadZipFile, NotImplementedError, zlib.error, EOFError, RuntimeError, OSError):
                stats.skip("archive-error", member)  # one bad member (CRC, unknown method) spoils only itself
                continue
            yield info.filename, data


def _tar_members(source: BinaryIO, name: str, shown: str, limits: ArchiveLimits, stats: ScanStats,
                 budget: _Budget) -> Iterator[tuple[str, bytes]]:
    # imported here, not at module level: most scans never open an archive
    import tarfile
    counting = _CountingReader(source)
    stream = _Stream(limits, lambda: counting.count)
    members = 0
    with tarfile.open(fileobj=io.BufferedReader(counting, CHUNK), mode="r|*") as tf:
        for info in tf:
            members += 1
            if members > limits.max_members:
                raise LimitExceeded(f"more than {limits.max_members} members")
            if not info.isreg():
                continue
            member = f"{shown}!{info.name}"
            if info.size > limits.max_member_bytes:
                budget.charge(info.size)  # passing over it in a stream still decompresses it
                stream.produced(info.size)
                stats.skip("too-large", member)
                continue
            fh = tf.extractfile(info)
            if fh is None:
                continue
            try:
                data = _read_capped(fh, limits.max_member_bytes, budget, stream)
            except _MemberTooLarge:
                stats.skip("too-large", member)
                continue
            yield info.name, data


def _single_member(source: BinaryIO, name: str, shown: str, limits: ArchiveLimits, stats: ScanStats,
                   budget: _Budget) -> Iterator[tuple[str, bytes]]:
    # imported here, not at module level: most scans never open an archive
    import bz2
    import gzip
    import lzma
    kind = archive_kind(name)
    counting = _CountingReader(source)
    raw = io.BufferedReader(counting, CHUNK)
    openers: dict[str, Callable[..., Any]] = {
        "gz": lambda f, mode: gzip.GzipFile(fileobj=f, mode=mode), "bz2": bz2.BZ2File}
    opener = openers.get(kind or "", lzma.LZMAFile)
    base = name.rsplit("/", 1)[-1]
    inner = base[: base.lower().rfind(".")] or base
    stream = _Stream(limits, lambda: counting.count)
    with opener(raw, mode="rb") as reader:
        try:
            data = _read_capped(reader, limits.max_member_bytes, budget, stream)
        except _MemberTooLarge:
            stats.skip("too-large", f"{shown}!{inner}")
            return
    yield inner, data
