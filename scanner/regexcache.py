"""Compiled ``regex`` patterns, kept between runs in the per-user cache.

``regex`` compiles in pure Python. A rule pattern of this pack (1-2 kB, verbose, with
case-insensitive alternations and variable-width lookbehind) takes 3-9 ms, and every
scanning process compiles the pattern of each rule whose keyword it meets: about
0.13 s in each worker of a 200 MB tree scan, a tenth of its CPU, and about a third of
a warm ``git --cache`` run. What the compiler produces is plain data (the opcodes as
a list of integers, the group names, a required literal) that it hands to the C
extension in one call, ``_regex.compile(...)``. The first compile records that
call's arguments; later processes replay them in about 0.1 ms.

That call is private to ``regex``, so this is guarded three ways: the key holds
``regex.__version__`` (a new release compiles afresh); a stored call that fails is
compiled normally; and the tests replay every shipped pattern and compare its matches
with a fresh compile's. Files are read back only when ``usercache.read`` trusts them
(the opcodes drive C code). ``BROKERSCAN_NO_CACHE=1`` turns it off.
"""
from __future__ import annotations

import marshal
from typing import Any

import regex

from . import usercache

FORMAT = b"1"
SUFFIX = ".re"
KEEP = 2048  # patterns kept: rules, allow lists and user rules, across a few upgrades
MAX_BYTES = 4 * 1024 * 1024


def compile_pattern(pattern: str | bytes, flags: int = 0) -> regex.Pattern:
    """``regex.compile(pattern, flags)``, replayed from the cache when it holds it."""
    return compile_with_source(pattern, flags)[0]


def compile_with_source(pattern: str | bytes, flags: int = 0) -> tuple[regex.Pattern, str]:
    """The pattern and where it came from: ``"cache"`` or ``"compiled"``."""
    raw = pattern.encode("utf-8", "surrogatepass") if isinstance(pattern, str) else pattern
    kind = b"s" if isinstance(pattern, str) else b"b"
    path = usercache.location("regex", [FORMAT, regex.__version__.encode(), kind, b"%d" % flags, raw], SUFFIX)
    if path is not None:
        replayed = _replay(usercache.read(path, MAX_BYTES), pattern)
        if replayed is not None:
            return replayed, "cache"
    compiled, call = _compile_recording(pattern, flags)
    if path is not None and call is not None:
        try:
            body = marshal.dumps(call)
        except ValueError:  # an argument marshal cannot hold: keep compiling this one
            return compiled, "compiled"
        usercache.write(path, body, KEEP)
    return compiled, "compiled"


class _Recorder:
    """Stands in for the ``_regex`` extension module during one compile, noting the
    arguments of its ``compile`` call."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.call: tuple | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def compile(self, *args: Any) -> Any:
        self.call = args
        return self._real.compile(*args)


def _compile_recording(pattern: str | bytes, flags: int) -> tuple[regex.Pattern, tuple | None]:
    main = getattr(regex, "_main", None)
    real = getattr(main, "_regex", None)
    if real is None:  # another layout of the package: compile, record nothing
        return regex.compile(pattern, flags), None
    # Another thread compiling meanwhile would go through the recorder too: it still gets its
    # pattern, and the call noted here then fails the ``call[0] != pattern`` check below
    # (nothing is stored). Scans compile on their main thread.
    recorder = _Recorder(real)
    main._regex = recorder
    try:
        # cache_pattern=False: regex's in-process cache would skip the call to record.
        compiled = regex.compile(pattern, flags, cache_pattern=False)
    finally:
        main._regex = real
    call = recorder.call
    if call is None or call[0] != pattern:
        return compiled, None
    # Flag values are ``RegexFlag`` members, which marshal cannot hold; the call takes ints.
    return compiled, tuple(int(arg) if isinstance(arg, int) and type(arg) is not int else arg for arg in call)


def _replay(body: bytes | None, pattern: str | bytes) -> regex.Pattern | None:
    if body is None:
        return None
    try:
        call = marshal.loads(body)
        if not isinstance(call, tuple) or not call or call[0] != pattern:
            return None
        compiled = regex._main._regex.compile(*call)
    except Exception:  # noqa: BLE001 - damaged, or a call this version no longer takes: compile
        return None
    return compiled if isinstance(compiled, regex.Pattern) else None
