"""Compiled Hyperscan databases, kept between runs in the per-user cache.

Every process that scans builds the same automata: the keyword database (about 190
literals, ~30 ms) and, in large scans, the gate database (~30 ms). A pre-commit run
pays the first each time; a tree or history scan pays both once per worker, and on
the stdlib tree (under a second) that was a tenth of each worker's CPU. A serialized
database loads in about 0.1 ms, so the compiled bytes are kept in
``rules_cache_dir()/hyperscan/`` under a hash of everything the compile depends on.

The cache only ever saves time. A file is used only if the current user owns it and
nobody else may write it (Hyperscan's deserializer trusts its input), its SHA-256
trailer matches, and a test scan succeeds (a database built on a CPU with other
instruction sets fails it). Anything else, and any write error, means compiling as if
there were no cache. ``BROKERSCAN_NO_CACHE=1`` turns it off.
"""
from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

FORMAT = 1
SUFFIX = ".db"
KEEP = 32  # databases kept: a few per rule pack (keywords, gates, the AST gate), across upgrades
MAX_BYTES = 64 * 1024 * 1024
_TRAILER = 32  # SHA-256 of the serialized database, appended


def database(hs: Any, expressions: Sequence[bytes], flags: Sequence[int]) -> tuple[Any, str]:
    """A block-mode database of ``expressions`` (ids 0..n-1) and where it came from:
    ``"cache"`` or ``"compiled"``."""
    path = _location(hs, expressions, flags)
    if path is not None:
        db = _load(hs, path)
        if db is not None:
            return db, "cache"
    db = hs.Database(mode=hs.HS_MODE_BLOCK)
    db.compile(expressions=list(expressions), ids=list(range(len(expressions))), elements=len(expressions),
               flags=list(flags))
    if path is not None:
        _store(hs, db, path)
    return db, "compiled"


def _location(hs: Any, expressions: Sequence[bytes], flags: Sequence[int]) -> Path | None:
    from .rules import rules_cache_dir

    directory = rules_cache_dir()
    if directory is None:
        return None
    machine = os.uname().machine if hasattr(os, "uname") else os.name
    key = hashlib.sha256()
    for part in (str(FORMAT), getattr(hs, "__version__", "?"), machine, str(hs.HS_MODE_BLOCK),
                 ",".join(map(str, flags))):
        key.update(part.encode() + b"\0")
    for expression in expressions:
        key.update(len(expression).to_bytes(4, "big") + expression)
    return directory / "hyperscan" / (key.hexdigest()[:32] + SUFFIX)


def _load(hs: Any, path: Path) -> Any | None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if (not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o022
                or not _TRAILER < st.st_size <= MAX_BYTES):
            return None
        with os.fdopen(fd, "rb") as fh:
            fd = -1
            data = fh.read()
        body, trailer = data[:-_TRAILER], data[-_TRAILER:]
        if hashlib.sha256(body).digest() != trailer:
            return None
        db = hs.loadb(body, hs.HS_MODE_BLOCK)
        db.scan(b"\0", match_event_handler=lambda *_: None, scratch=hs.Scratch(db))
        return db
    except Exception:  # noqa: BLE001 - damaged, foreign or unreadable: compile instead
        return None
    finally:
        if fd >= 0:
            os.close(fd)


def _store(hs: Any, db: Any, path: Path) -> None:
    from .atomicfile import write_atomically
    from .gitcache import prune

    try:
        body = hs.dumpb(db)
        os.makedirs(path.parent, mode=0o700, exist_ok=True)
        write_atomically(path, body + hashlib.sha256(body).digest(), suffix=SUFFIX)
        prune(path.parent, keep=path, suffix=SUFFIX, count=KEEP)
    except Exception:  # noqa: BLE001 - read-only home, disk full: the next run compiles again
        pass
