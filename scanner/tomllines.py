"""Where a key or table is written in a TOML file, for error messages that name a line.

``tomllib`` gives values without positions, so a config or rule file error would name no
line. A search for the key's name is not enough: it finds ``exclude`` in ``[tool.ruff]``
before the one in ``[tool.brokerscan]``, ``[[rules]]`` inside a multi-line string, and
misses ``[[ rules ]]``. This reads the file line by line as TOML does: table headers set
the current table, dotted keys extend it, and strings, comments and multi-line values are
stepped over. It runs only on text ``tomllib`` has accepted: on a config file when an
error needs a line, and on every rule file it reads (each rule's ``source`` names its
line; ~10 ms on a rule-pack cache miss, nothing on a hit).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_KEY_PART = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\\n]|\\.)*"|'[^'\n]*')"""
_DOTTED_KEY = rf"{_KEY_PART}(?:[ \t]*\.[ \t]*{_KEY_PART})*"
_HEADER = re.compile(rf"[ \t]*(\[\[|\[)[ \t]*({_DOTTED_KEY})[ \t]*(\]\]|\])")
_KEY_VALUE = re.compile(rf"[ \t]*({_DOTTED_KEY})[ \t]*=")
_PART = re.compile(_KEY_PART)
# What matters in a value: strings (whose content may look like anything), comments, brackets.
_MAY_CHANGE_STATE = re.compile(r"""[\[\]{}]|\"\"\"|'''""")
_VALUE_TOKEN = re.compile(r"""\"\"\"|'''|"(?:[^"\\\n]|\\.)*"|'[^'\n]*'|\#.*|[\[{]|[\]}]""")


@dataclass(frozen=True, slots=True)
class TomlEntry:
    """A table header or a key, with its full dotted path and its 1-based line."""

    line: int
    path: tuple[str, ...]
    kind: str  # "table" | "array-table" | "key"


def toml_entries(text: str) -> list[TomlEntry]:
    """Every table header and key of a valid TOML document, in file order (keys inside
    inline tables are not listed: the key that holds the inline table is)."""
    entries: list[TomlEntry] = []
    table: tuple[str, ...] = ()
    open_string: str | None = None  # the delimiter of a multi-line string being read
    depth = 0  # brackets of a multi-line array or inline table being read
    for number, line in enumerate(text.splitlines(), 1):
        rest = line
        if open_string is not None:
            end = _closing(rest, 0, open_string)
            if end < 0:
                continue
            open_string, rest = None, rest[end:]
        elif depth == 0:
            header = _HEADER.match(rest)
            key = None if header else _KEY_VALUE.match(rest)
            if header:
                table = _split_key(header.group(2))
                kind = "array-table" if header.group(1) == "[[" else "table"
                entries.append(TomlEntry(number, table, kind))
                rest = rest[header.end():]
            elif key:
                entries.append(TomlEntry(number, table + _split_key(key.group(1)), "key"))
                rest = rest[key.end():]
        open_string, depth = _scan_value(rest, depth)
    return entries


def line_of(text: str, path: tuple[str, ...]) -> int:
    """The line where ``path`` is written; else where its nearest enclosing key or table is
    (a key inside an inline table, an item of a list); else 1."""
    best_line, best_length = 1, 0
    for entry in toml_entries(text):
        length = len(entry.path)
        if length > best_length and entry.path == path[:length]:
            best_line, best_length = entry.line, length
            if length == len(path):
                break
    return best_line


def array_table_lines(text: str, path: tuple[str, ...]) -> list[int]:
    """The lines of the ``[[path]]`` headers, one per table of that array, in order."""
    return [e.line for e in toml_entries(text) if e.kind == "array-table" and e.path == path]


def _split_key(dotted: str) -> tuple[str, ...]:
    return tuple(_unquote(part) for part in _PART.findall(dotted))


def _unquote(part: str) -> str:
    if part[0] == "'":
        return part[1:-1]
    if part[0] == '"':
        if "\\" not in part:
            return part[1:-1]
        import tomllib

        return tomllib.loads(f"k = {part}")["k"]
    return part


def _scan_value(rest: str, depth: int) -> tuple[str | None, int]:
    """Step over the value text ``rest``: the delimiter of a multi-line string left open at
    its end (or None), and the bracket depth after it."""
    if not _MAY_CHANGE_STATE.search(rest):  # most lines: a one-line string, a number, a comment
        return None, depth
    position = 0
    while True:
        token = _VALUE_TOKEN.search(rest, position)
        if token is None:
            return None, depth
        text = token.group()
        if text in ('"""', "'''"):
            end = _closing(rest, token.end(), text)
            if end < 0:
                return text, depth
            position = end
            continue
        if text in "[{":
            depth += 1
        elif text in "]}":
            depth -= 1
        position = token.end()


def _closing(line: str, start: int, delimiter: str) -> int:
    """The index just after ``delimiter`` closing a multi-line string in ``line`` (from
    ``start``), or -1. Up to two quotes before the delimiter belong to the string."""
    position = start
    while True:
        found = line.find(delimiter, position)
        if found < 0:
            return -1
        if delimiter == '"""' and _escaped(line, found):
            position = found + 1
            continue
        end = found + 3
        while end < len(line) and line[end] == delimiter[0] and end - found < 5:
            end += 1
        return end


def _escaped(line: str, index: int) -> bool:
    backslashes = 0
    while index - backslashes - 1 >= 0 and line[index - backslashes - 1] == "\\":
        backslashes += 1
    return backslashes % 2 == 1
