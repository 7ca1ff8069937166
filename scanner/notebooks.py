"""Jupyter notebooks: scan what a person reads, report the notebook file's own lines.

A notebook is JSON; a secret in a code cell is the string ``"password = \\"...\\"\\n"``
on some line of the ``.ipynb`` file. Scanning the raw JSON would hand the regex
engine escaped quotes and the AST nothing it can parse, so each cell is scanned on
its own: its source (joined lines; code cells of Python notebooks also through the
Python AST; Markdown cells count as documentation), and its text outputs (stream text, ``text/plain``, ``text/html``,
``text/markdown``, tracebacks). Base64 images are not text and are not scanned.

Each part's text is located in the raw file by searching, in document order, for
the JSON encoding of every string it is made of, so a match maps back to the exact
line and column of the ``.ipynb`` file. Findings carry the cell number and whether
it was the source or an output in ``Provenance.extra`` (``cell``, ``cell_part``).
A file that is not a notebook (bad JSON, no ``cells``) returns ``None``: the caller
scans it as plain text and counts it.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from .ast.languages import DOCS
from .positions import Positions
from .models import Finding, Match
from .regexcache import compile_pattern

TEXT_OUTPUTS = ("text/plain", "text/html", "text/markdown", "text/latex")
_MAGIC = compile_pattern(rb"(?m)^[ \t]*[%!]")  # IPython magics and shell escapes: not Python

# detect(text, encoding, syntax, parse_text) -> matches in ``text``'s own coordinates
Detect = Callable[[bytes, str, "str | None", "bytes | None"], list[Match]]


@dataclass(frozen=True)
class _Piece:
    text: str  # one JSON string of the part
    quote: int  # byte offset of its opening quote in the raw file, -1 when it could not be located
    ascii: bool  # written with \\u escapes (json.dumps default) rather than raw UTF-8


@dataclass(frozen=True)
class NotebookPart:
    """One cell's source, or the text of one of its outputs."""

    cell: int  # 1-based, in notebook order
    part: str  # "source" | "output"
    cell_type: str  # "code" | "markdown" | "raw"
    pieces: tuple[_Piece, ...]

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.pieces)

    @property
    def facts(self) -> tuple[tuple[str, str], ...]:
        return (("cell", str(self.cell)), ("cell_part", self.part))

    def file_offset(self, line: int, column: int) -> int:
        """Byte offset in the raw notebook of the part's 1-based line and character column."""
        index, k = self._origin(line)
        k += max(column - 1, 0)
        while index < len(self.pieces) - 1 and k > len(self.pieces[index].text):
            k -= len(self.pieces[index].text)
            index += 1
        piece = self.pieces[index]
        if piece.quote < 0:
            return max((p.quote + 1 for p in self.pieces[:index] if p.quote >= 0), default=0)
        prefix = json.dumps(piece.text[:k], ensure_ascii=piece.ascii)[1:-1]
        return piece.quote + 1 + len(prefix.encode("utf-8"))

    def _origin(self, line: int) -> tuple[int, int]:
        """(piece index, character index in it) where the part's 1-based ``line`` starts."""
        remaining = line - 1
        for index, piece in enumerate(self.pieces):
            start = 0
            while remaining:
                newline = piece.text.find("\n", start)
                if newline < 0:
                    break
                remaining -= 1
                start = newline + 1
            if not remaining:
                if start >= len(piece.text) and index + 1 < len(self.pieces):
                    return index + 1, 0
                return index, start
        return len(self.pieces) - 1, len(self.pieces[-1].text) if self.pieces else 0


def split_notebook(raw: bytes) -> list[NotebookPart] | None:
    """The scannable parts of a notebook, located in ``raw``; ``None`` if it is not one."""
    doc = _load(raw)
    return None if doc is None else _parts(doc, raw)


def _load(raw: bytes) -> dict | None:
    """The notebook's JSON document, or ``None`` if ``raw`` is not a notebook."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("cells"), list):
        return None
    return doc


def _parts(doc: dict, raw: bytes) -> list[NotebookPart]:
    locator = _Locator(raw)
    parts: list[NotebookPart] = []
    for number, cell in enumerate(doc["cells"], 1):
        if not isinstance(cell, dict):
            continue
        cell_type = str(cell.get("cell_type", "code"))
        for key, value in cell.items():  # document order, so the locator only moves forward
            if key == "source":
                pieces = locator.pieces(_strings(value))
                if pieces:
                    parts.append(NotebookPart(number, "source", cell_type, pieces))
            elif key == "outputs" and isinstance(value, list):
                for output in value:
                    for strings in _output_texts(output):
                        pieces = locator.pieces(strings)
                        if pieces:
                            parts.append(NotebookPart(number, "output", cell_type, pieces))
    return parts


def notebook_language(doc: dict) -> str:
    """The kernel's language from the notebook's metadata; Python when it does not say."""
    try:
        metadata = doc.get("metadata") or {}
        name = (metadata.get("kernelspec") or {}).get("language") or (metadata.get("language_info") or {}).get("name")
    except AttributeError:  # a metadata field that is not a mapping
        return "python"
    return str(name or "python").lower()


def scan_notebook(raw: bytes, detect: Detect) -> list[tuple[Match, tuple[tuple[str, str], ...]]] | None:
    """Matches of every part mapped to the notebook's lines, each with its cell facts."""
    doc = _load(raw)  # once: a history holds many versions of each notebook
    if doc is None:
        return None
    parts = _parts(doc, raw)
    python = notebook_language(doc) == "python"
    positions = Positions(raw, "utf-8")
    found: list[tuple[Match, tuple[tuple[str, str], ...]]] = []
    for part in parts:
        data = part.text.encode("utf-8")
        code = python and part.cell_type == "code" and part.part == "source"
        parse = _MAGIC.sub(lambda m: m.group()[:-1] + b"#", data) if code else None
        syntax = "python" if code else DOCS if part.cell_type == "markdown" else None
        for match in detect(data, "utf-8", syntax, parse):
            loc = match.location
            start = part.file_offset(loc.line, loc.column)
            end = max(part.file_offset(loc.end_line, loc.end_column), start + 1)
            location, line_text = positions.locate(start, end)
            found.append((replace(match, location=location, line_text=line_text), part.facts))
    return found


def with_cell(finding: Finding, facts: tuple[tuple[str, str], ...]) -> Finding:
    """The finding with its cell number and part in ``Provenance.extra``."""
    extra = tuple(sorted((*finding.provenance.extra, *facts)))
    return replace(finding, provenance=replace(finding.provenance, extra=extra))


class _Locator:
    """Finds the JSON encoding of successive strings in the raw file, moving forward only."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.cursor = 0

    def pieces(self, strings: list[str]) -> tuple[_Piece, ...]:
        out = []
        for text in strings:
            if not text:
                continue
            plain = json.dumps(text, ensure_ascii=False).encode("utf-8")
            escaped = json.dumps(text).encode("ascii")
            at_plain = self.raw.find(plain, self.cursor)
            at_escaped = self.raw.find(escaped, self.cursor) if escaped != plain else -1
            candidates = [(at, needle, needle is escaped) for at, needle in ((at_plain, plain), (at_escaped, escaped))
                          if at >= 0]
            if not candidates:
                out.append(_Piece(text, -1, False))
                continue
            at, needle, ascii_ = min(candidates, key=lambda c: c[0])
            self.cursor = at + len(needle)
            out.append(_Piece(text, at, ascii_ and escaped != plain))
        return tuple(out)


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _output_texts(output: object) -> Iterator[list[str]]:
    if not isinstance(output, dict):
        return
    for key, value in output.items():
        if key == "text":
            yield _strings(value)
        elif key == "data" and isinstance(value, dict):
            for mime, content in value.items():
                if mime in TEXT_OUTPUTS:
                    yield _strings(content)
        elif key == "traceback":  # one string per line, joined by nothing: one part each
            yield from ([line] for line in _strings(value))
