"""Redaction: outputs never carry a full secret unless the user asks for it.

A CI log is a public place; printing the secret that a scanner found there
leaks it a second time. We keep a short prefix so a person can still tell
which value is meant (``U12****``), and never more than a third of the value.
"""
from __future__ import annotations

from collections.abc import Iterable

MASK = "****"


def redact(secret: str, keep: int = 3) -> str:
    """Keep at most ``keep`` leading characters and at most a third of the value."""
    visible = min(keep, len(secret) // 3)
    return secret[:visible] + MASK


def redact_line(line: str, secret: str, show: bool = False, keep: int = 3) -> str:
    """The line with every occurrence of ``secret`` masked (unless ``show``)."""
    if show or not secret:
        return line
    return line.replace(secret, redact(secret, keep))


def mask_spans(line: str, spans: Iterable[tuple[int, int]], *, same_length: bool = False) -> str:
    """``line`` with each ``[start, end)`` span masked (overlapping spans as one).

    ``same_length`` pads each mask to the span's length, so every column of the line stays
    where it was (for a finding located by columns rather than by its text)."""
    out: list[str] = []
    at = 0
    for start, end in _merged(spans):
        value = line[start:end]
        shown = redact(value)
        out += [line[at:start], (shown + "*" * len(value))[:len(value)] if same_length else shown]
        at = end
    return "".join(out) + line[at:]


def occurrences(line: str, text: str) -> list[tuple[int, int]]:
    """The ``[start, end)`` spans of ``text`` in ``line``."""
    spans: list[tuple[int, int]] = []
    at = line.find(text) if text else -1
    while at >= 0:
        spans.append((at, at + len(text)))
        at = line.find(text, at + 1)
    return spans


def _merged(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
