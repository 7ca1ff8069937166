"""Turn raw file bytes into bytes the engine can scan, or say why not.

The engine runs on bytes with ASCII semantics, so UTF-8 and latin-1 text need no
work. UTF-16 and UTF-32 (with a BOM, as Windows tools write them) are transcoded
to UTF-8 so keywords and regexes see ASCII. Anything with NUL bytes and no BOM is
binary and skipped (and counted by the caller).
"""
from __future__ import annotations

import codecs
from dataclasses import dataclass

BINARY_SNIFF_BYTES = 8192

_BOMS = (  # UTF-32 first: its little-endian BOM starts with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


@dataclass(frozen=True, slots=True)
class Prepared:
    data: bytes  # what the engine scans (UTF-8, ASCII-compatible, or raw latin-1)
    encoding: str  # how to decode lines of ``data`` for display
    note: str | None = None  # e.g. "decoded-utf-16-le", "not-utf8-latin-1-fallback"


class BinaryContent(Exception):
    """The bytes are not text; the caller records a skip."""


_BOM_FIRST_BYTES = frozenset(bom[0] for bom, _ in _BOMS)


def prepare(raw: bytes) -> Prepared:
    if raw and raw[0] in _BOM_FIRST_BYTES:  # one byte test: most files start with no BOM
        transcoded = _with_bom(raw)
        if transcoded is not None:
            return transcoded
    if raw.find(b"\x00", 0, BINARY_SNIFF_BYTES) >= 0:  # no copy of the head, unlike raw[:n]
        raise BinaryContent()
    if raw.isascii():
        return Prepared(raw, "utf-8")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return Prepared(raw, "latin-1", "not-utf8-latin-1-fallback")
    return Prepared(raw, "utf-8")


def _with_bom(raw: bytes) -> Prepared | None:
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            body = raw[len(bom):]
            if codec == "utf-8":
                return Prepared(body, "utf-8")
            text = body.decode(codec, errors="replace")
            return Prepared(text.encode("utf-8"), "utf-8", f"decoded-{codec}")
    return None
