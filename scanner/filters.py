"""Named, pure filters that drop values which are not real secrets.

Each filter takes the candidate secret and returns a short reason when the
value should be dropped, or ``None`` to keep it. They run in the order of
``FILTERS`` (one place to read the whole pipeline) after a rule's regex has
matched; ``first_rejection`` returns the first reason that applies.
"""
from __future__ import annotations

from collections.abc import Callable

import regex

from .regexcache import compile_pattern

PLACEHOLDER_WORDS = (
    "your", "example", "placeholder", "changeme", "change_me", "change-me", "redacted",
    "dummy", "sample", "insert", "replace", "xxx", "***", "enter_", "<", ">", "todo",
)
_TEMPLATE = compile_pattern(
    r"""
    \$\{[^}]*\}? | \{\{.*?\}?\}? | %\([^)]*\)s? | %[A-Za-z_][A-Za-z0-9_]*% |
    ^\$[A-Za-z_][A-Za-z0-9_]*$ | ^\$\(
    """,
    regex.VERBOSE,
)
_SEQUENCES = (
    "0123456789012345678901234567890",
    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz",
    "qwertyuiopasdfghjklzxcvbnm",
    "9876543210987654321098765432109",
    "zyxwvutsrqponmlkjihgfedcbazyxwvutsrqponmlkjihgfedcba",
)
MIN_SECRET_LENGTH = 4


def is_too_short(secret: str) -> str | None:
    return "too short" if len(secret) < MIN_SECRET_LENGTH else None


def is_templated(secret: str) -> str | None:
    """``${VAR}``, ``{{ secrets.X }}``, ``%(pw)s``, ``%VAR%``, ``$VAR``: a reference, not a value."""
    return "template variable" if _TEMPLATE.search(secret) else None


LONG_VALUE = 40  # beyond this, a placeholder word must stand apart to count


def has_placeholder_word(secret: str) -> str | None:
    """``YOUR_PASSWORD``, ``changeme``, ``<redacted>``. In long random values (keys, token
    secrets) a word like ``xxx`` turns up by chance, so there it must be delimited."""
    lowered = secret.lower()
    for word in PLACEHOLDER_WORDS:
        at = lowered.find(word)
        if at < 0:
            continue
        if len(secret) < LONG_VALUE or not word.isalpha():
            return f"placeholder ({word})"
        while at >= 0:
            before = lowered[at - 1] if at else " "
            after = lowered[at + len(word)] if at + len(word) < len(lowered) else " "
            if not before.isalnum() and not after.isalnum():
                return f"placeholder ({word})"
            at = lowered.find(word, at + 1)
    return None


def is_repeated(secret: str) -> str | None:
    """``aaaaaaaa``, ``abababab``, ``00000000``."""
    distinct = len(set(secret.lower()))
    if distinct == 1 or (len(secret) >= 6 and distinct <= 2):
        return "repeated characters"
    return None


def is_sequential(secret: str) -> str | None:
    """``123456789``, ``abcdefgh``, ``qwertyui``: keyboard or alphabet runs."""
    lowered = secret.lower()
    if len(lowered) >= 5 and any(lowered in seq for seq in _SEQUENCES):
        return "sequential characters"
    return None


def is_masked(secret: str) -> str | None:
    """Values that were already masked by a log or a person (``U***4567``, ``DUXXXXXX``)."""
    if "**" in secret or "XXXX" in secret.upper() or "••" in secret or "…" in secret:
        return "already masked"
    return None


FILTERS: tuple[Callable[[str], str | None], ...] = (
    is_too_short,
    is_templated,
    is_masked,
    has_placeholder_word,
    is_repeated,
    is_sequential,
)


def first_rejection(secret: str) -> str | None:
    for check in FILTERS:
        reason = check(secret)
        if reason:
            return reason
    return None
