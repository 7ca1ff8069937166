"""Redaction: outputs never carry a full secret unless the user asks for it.

A CI log is a public place; printing the secret that a scanner found there
leaks it a second time. We keep a short prefix so a person can still tell
which value is meant (``U12****``), and never more than a third of the value.
"""
from __future__ import annotations

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
