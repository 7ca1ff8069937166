"""Base64 values that hide text: Kubernetes Secret ``data:`` and base64 credential fields.

A Kubernetes Secret stores ``TWS_PASSWORD: cTdSdjJMbVo4a1B3`` - no keyword, no
shape a rule could match. We find such values, decode the ones that are clearly
base64 of text, and hand ``KEY=decoded`` back to the engine for a second look.
The caller maps what is found there back to the encoded value's line.
"""
from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass

import regex

from .regexcache import compile_pattern

# Keywords that make a line worth checking for a base64 value (beside rule keywords).
FIELD_TRIGGERS = ("passw", "secret", "token", "credential")
K8S_MARKERS = (b"kind: secret", b'"kind": "secret"', b"kind: \"secret\"")
# The markers are keywords too, so the engine tells a Secret manifest from its keyword
# hits (``Engine._is_kubernetes_secret``) instead of lowercasing 64 kB of every blob.
TRIGGER_KEYWORDS = (*(marker.decode() for marker in K8S_MARKERS), *FIELD_TRIGGERS)
K8S_HEAD = 65536  # a Secret manifest says so near its top

_KEY = rb"""["']?(?P<key>[A-Za-z_][A-Za-z0-9_.\-]{0,120})["']?"""
_VALUE = rb"""["']?(?P<value>[A-Za-z0-9+/]{8,}={0,2})["']?"""
# A Secret's data key is any run of ``[-._a-zA-Z0-9]``: ``kubectl create secret generic
# --from-file=.env`` names it after the file, so it may start with a dot or a digit.
_K8S_KEY = rb"""["']?(?P<key>[A-Za-z0-9_.][A-Za-z0-9_.\-]{0,120})["']?"""
_K8S_ENTRY = compile_pattern(rb"(?m)^[ \t]+" + _K8S_KEY + rb"[ \t]*:[ \t]*" + _VALUE + rb"[ \t]*,?[ \t]*\r?$")
# A credential field read from the start of its key: ``db_password: "cTdS..."``, ``TOKEN=...``.
_FIELD_AT = compile_pattern(
    _KEY + rb"[ \t]*[:=][ \t]*" + _VALUE.replace(b"{8,}", b"{16,}") + rb"(?![A-Za-z0-9+/=])"
)
# Gates for the prefilter (necessary conditions, case-insensitive): a credential field
# needs a trigger, the rest of its key, a separator and 16 base64 characters; a Secret
# manifest needs a marker. Blobs that pass neither skip the per-keyword field search.
# The key's rest is ``*``, not ``{0,MAX_KEY}``: still necessary, and a bounded repeat
# made Hyperscan take 30 ms to compile this one gate.
FIELD_GATE = (rb"(?:" + b"|".join(t.encode() for t in FIELD_TRIGGERS) + rb")[A-Za-z0-9_.\-]*"
              rb"""["']?[ \t]*[:=][ \t]*["']?[A-Za-z0-9+/]{16}""")
K8S_GATES = tuple(regex.escape(marker, literal_spaces=True) for marker in K8S_MARKERS)
# What must follow a trigger keyword for ``_FIELD_AT`` to match from its key's start: the
# rest of the key, a separator and 16 base64 characters. A C-speed check per keyword hit;
# most hits (``tokenize``, ``self.token = token``) fail it, and only the rest step back.
_FIELD_TAIL = re.compile(rb"""[A-Za-z0-9_.\-]*["']?[ \t]*[:=][ \t]*["']?[A-Za-z0-9+/]{16}""")
_IDENT = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
MAX_KEY = 120
MIN_PRINTABLE_RATIO = 0.95
MAX_DECODED = 64 * 1024


@dataclass(frozen=True, slots=True)
class EncodedValue:
    key: str
    start: int  # byte offsets of the encoded value in the blob
    end: int
    decoded: str


def find_encoded_values(data: bytes, offsets: list[int], whole_blob: bool) -> Iterator[EncodedValue]:
    """Encoded text values: every indented ``key: b64`` of a Secret manifest, else the
    credential fields whose key holds a trigger keyword at one of ``offsets``.

    Fields are matched from the start of the key around each keyword (found by
    stepping back over identifier bytes), so the cost is per keyword hit, not per byte.
    """
    seen: set[int] = set()
    if whole_blob:
        candidates = _K8S_ENTRY.finditer(data)
    else:
        tail = _FIELD_TAIL.match
        candidates = filter(None, (_FIELD_AT.match(data, _key_start(data, off))
                                   for off in sorted(set(offsets)) if tail(data, off)))
    for m in candidates:
        start, end = m.span("value")
        if start in seen:
            continue
        seen.add(start)
        text = decode_base64_text(m.group("value"))
        if text is not None:
            yield EncodedValue(m.group("key").decode("ascii", "replace"), start, end, text)


def _key_start(data: bytes, offset: int) -> int:
    start = offset
    floor = max(0, offset - MAX_KEY)
    while start > floor and data[start - 1] in _IDENT:
        start -= 1
    return start


def decode_base64_text(value: bytes) -> str | None:
    """The decoded text when ``value`` is valid base64 of printable UTF-8, else None."""
    if len(value) % 4:
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    if not raw or len(raw) > MAX_DECODED or b"\x00" in raw:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    if printable / len(text) < MIN_PRINTABLE_RATIO or len(text.strip()) < 4:
        return None
    return text


def rescan_text(encoded: EncodedValue) -> bytes:
    """What the engine looks at: ``KEY=value`` for one-line values (the key gives rules their context)."""
    if "\n" in encoded.decoded.strip():
        return encoded.decoded.encode("utf-8")
    return f"{encoded.key}={encoded.decoded.strip()}".encode("utf-8")
