"""Shannon entropy of a candidate secret, in bits per character.

Real keys and passwords are drawn from a wide alphabet and score high;
placeholders (``aaaaaa``, ``password``) and identifiers score low. The value is
reported on every finding so a reviewer can judge it.
"""
from __future__ import annotations

import math
from collections import Counter


def shannon_entropy(value: str) -> float:
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


def max_entropy(length: int, alphabet_size: int) -> float:
    """The entropy a value of this length could reach over this alphabet (a cap for short values)."""
    if length <= 1 or alphabet_size <= 1:
        return 0.0
    return math.log2(min(length, alphabet_size))
