"""Write a file so that readers see the old content or the new, never a torn one.

Both caches (the parsed rule pack, the history cache) are read by later runs that may
start while one is being written, and a run can be killed mid-write: write a temporary
file in the same directory, then rename it over the target (atomic on POSIX). The history
cache's two files also end in a SHA-256 of their body (``with_checksum``), so a file damaged
on disk is noticed and not trusted.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

CHECKSUM_BYTES = 32  # a SHA-256 digest


def with_checksum(body: bytes) -> bytes:
    """``body`` followed by its SHA-256, for a file whose damage must be noticed, not trusted."""
    return body + hashlib.sha256(body).digest()


def split_checksum(data: bytes) -> tuple[bytes, bool]:
    """The body of a ``with_checksum`` file, and whether its trailing SHA-256 matches."""
    body, checksum = data[:-CHECKSUM_BYTES], data[-CHECKSUM_BYTES:]
    return body, len(data) >= CHECKSUM_BYTES and hashlib.sha256(body).digest() == checksum


def write_atomically(path: Path, data: bytes, *, prefix: str = ".tmp-", suffix: str = ".tmp",
                     mode: int | None = None, durable: bool = False) -> None:
    """``mode``: permissions of the new file (``mkstemp`` creates it 0600). ``durable``:
    fsync before the rename, for data that is costly to rebuild."""
    import tempfile  # ~4 ms: only runs that write a cache pay it

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            if mode is not None:
                os.fchmod(fh.fileno(), mode)
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
