"""Path globs as users write them in ``exclude`` and in a rule's ``paths``.

``fnmatch`` plus gitignore's ``**/``: zero or more directories. Plain ``fnmatch`` reads
``**/*.py`` as "something, a slash, then a name ending in .py", so it never matched a file
at the top of the scan (``a.py``), and ``a/**/b`` never matched ``a/b``. As in ``fnmatch``,
``*`` also crosses ``/``.
"""
from __future__ import annotations

import fnmatch
import re
from functools import lru_cache

_ANY_DIRECTORIES = "(?:.*/)?"  # "**/" : nothing, or any path ending in a slash


def glob_regex(pattern: str) -> str:
    """A regex that ``re.match`` tries on a whole path."""
    while "/**/**/" in pattern:
        pattern = pattern.replace("/**/**/", "/**/")
    lead = ""
    while pattern.startswith("**/"):
        lead, pattern = _ANY_DIRECTORIES, pattern[3:]
    pieces = [_bare(fnmatch.translate(piece)) for piece in pattern.split("/**/")]
    return "(?s:" + lead + ("/" + _ANY_DIRECTORIES).join(pieces) + ")\\Z"


def _bare(translated: str) -> str:
    """``fnmatch.translate``'s regex without its ``(?s:`` ... ``)\\Z`` wrapper."""
    assert translated.startswith("(?s:") and translated.endswith(")\\Z"), translated
    return translated[4:-3]


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(glob_regex(pattern))


def path_matches(path: str, globs: tuple[str, ...] | list[str]) -> bool:
    """Whether ``path`` (``/``-separated), or its file name alone, matches one of ``globs``."""
    name = path.rsplit("/", 1)[-1]
    return any(_compiled(g).match(path) or _compiled(g).match(name) for g in globs)
