"""Where a finished report goes: the ``--output`` file or stdout.

A report is what CI uploads and what a reviewer trusts, so it is written whole or not at
all: a file is replaced atomically, and a write that fails (disk full, ``ulimit -f``, a
closed or full stdout) stops the run with exit 2 and one line, never exit 1 ("findings")
with a traceback.
"""
from __future__ import annotations

import os
import stat
import sys
from pathlib import Path


class ReportWriteError(Exception):
    """The report could not be written; the message names where and why."""


def write_report(args, text: str, findings, stats) -> None:
    """The report to ``--output`` (with a one-line summary on stderr) or to stdout; a failed
    write is a ReportWriteError (exit 2), never a traceback or a report cut short."""
    if not args.output:
        _write_stdout(text)
        return
    try:
        _write_file(args.output, text.encode("utf-8"))
    except OSError as exc:
        raise ReportWriteError(f"cannot write the report to {args.output}: {exc.strerror or exc}") from None
    print_short_summary(findings, stats, args.output)


def _write_file(output: str, data: bytes) -> None:
    """Replace a regular file atomically: a write that fails half-way (disk full, ``ulimit -f``)
    leaves the previous report whole, not a truncated one that CI would upload as valid.
    A device or pipe (``-o /dev/stdout``) is written in place."""
    from .atomicfile import write_atomically

    target = Path(os.path.realpath(output))  # replace a symlink's target, not the link
    if target.exists() and not target.is_file():
        with open(target, "wb") as fh:
            fh.write(data)
        return
    write_atomically(target, data, prefix=f".{target.name}.", mode=_new_file_mode(target))


def _new_file_mode(target: Path) -> int:
    """Keep an existing report's permissions; a new one gets what ``open`` would give it
    (``mkstemp`` alone would make it 0600)."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _write_stdout(text: str) -> None:
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise  # the reader went away (``| head``): main exits quietly
    except OSError as exc:
        silence_stdout()
        raise ReportWriteError(f"cannot write the report to standard output: {exc.strerror or exc}") from None


def print_short_summary(findings, stats, output: str) -> None:
    skipped = f", {stats.files_skipped} skipped" if stats.files_skipped else ""
    print(f"brokerscan: {len(findings)} finding(s) in {stats.files_scanned} file(s){skipped}; report written to {output}",
          file=sys.stderr)


def silence_stdout() -> None:
    """Point stdout at the null device once writing to it failed, so that the interpreter's
    final flush of what is still buffered does not fail again (and exit 120)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, AttributeError, ValueError):  # no real stdout (tests, embedding): nothing to flush
        pass
