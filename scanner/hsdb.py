"""Compiled Hyperscan databases, kept between runs in the per-user cache.

Every process that scans builds the same automata: the keyword database (about 190
literals, ~30 ms) and, in large scans, the gate database (~30 ms). A pre-commit run
pays the first each time; a tree or history scan pays both once per worker, and on
the stdlib tree (under a second) that was a tenth of each worker's CPU. A serialized
database loads in about 0.1 ms, so the compiled bytes are kept (``scanner.usercache``)
under a hash of everything the compile depends on.

A file is used only if ``usercache.read`` trusts it and a test scan succeeds (a
database built on a CPU with other instruction sets fails it); else the database is
compiled as if there were no cache. ``BROKERSCAN_NO_CACHE=1`` turns it off.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from . import usercache

FORMAT = b"1"
SUFFIX = ".db"
KEEP = 32  # databases kept: a few per rule pack (keywords, gates, the AST gate), across upgrades
MAX_BYTES = 64 * 1024 * 1024


def database(hs: Any, expressions: Sequence[bytes], flags: Sequence[int]) -> tuple[Any, str]:
    """A block-mode database of ``expressions`` (ids 0..n-1) and where it came from:
    ``"cache"`` or ``"compiled"``."""
    machine = os.uname().machine if hasattr(os, "uname") else os.name
    key = [FORMAT, getattr(hs, "__version__", "?").encode(), machine.encode(), b"%d" % hs.HS_MODE_BLOCK,
           b",".join(b"%d" % flag for flag in flags), *expressions]
    path = usercache.location("hyperscan", key, SUFFIX)
    if path is not None:
        db = _load(hs, usercache.read(path, MAX_BYTES))
        if db is not None:
            return db, "cache"
    db = hs.Database(mode=hs.HS_MODE_BLOCK)
    db.compile(expressions=list(expressions), ids=list(range(len(expressions))), elements=len(expressions),
               flags=list(flags))
    if path is not None:
        try:
            usercache.write(path, hs.dumpb(db), KEEP)
        except Exception:  # noqa: BLE001 - a database that will not serialize: compile next time too
            pass
    return db, "compiled"


def _load(hs: Any, body: bytes | None) -> Any | None:
    if body is None:
        return None
    try:
        db = hs.loadb(body, hs.HS_MODE_BLOCK)
        db.scan(b"\0", match_event_handler=lambda *_: None, scratch=hs.Scratch(db))
    except Exception:  # noqa: BLE001 - not a database of this library or this CPU: compile
        return None
    return db
