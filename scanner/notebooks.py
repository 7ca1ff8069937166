"""Jupyter notebooks: scan what a person reads, report the notebook file's own lines.

A notebook is JSON; a secret in a code cell is the string ``"password = \\"...\\"\\n"``
on some line of the ``.ipynb`` file. Scanning the raw JSON would hand the regex
engine escaped quotes and the AST nothing it can parse, so each cell is scanned on
its own: its source (joined lines; code cells of Python notebooks also through the
Python AST; Markdown cells count as documentation), and its text outputs (stream text, ``text/plain``, ``text/html``,
``text/markdown``, tracebacks). Base64 images are not text and are not scanned.

Each part's text is located in the raw file by finding, in document order, the JSON
string literal each of its strings is written as (whatever escapes the writer chose),
so a match maps back to the exact line and column of the ``.ipynb`` file. Findings
carry the cell number and whether it was the source or an output in
``Provenance.extra`` (``cell``, ``cell_part``).

A notebook ``json`` cannot read (an interrupted save, a stray brace, nesting too deep)
is read from its string literals alone (``scan_damaged_notebook``): its cells are
still scanned as cells, at their own lines. A file with no ``cells`` at all returns
``None``: the caller scans it as plain text. Either way the caller counts it.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from json.encoder import encode_basestring, encode_basestring_ascii  # json.dumps' spellings, minus its overhead

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
    literal: bytes = b""  # the string as the file writes it, quotes and escapes included


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
        return piece.quote + literal_offset(piece.literal, k)

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
    return _scan_parts(raw, _parts(doc, raw), notebook_language(doc) == "python", detect)


def scan_damaged_notebook(raw: bytes, detect: Detect) -> list[tuple[Match, tuple[tuple[str, str], ...]]] | None:
    """``scan_notebook`` for a notebook that is no longer JSON, from the parts
    ``recover_parts`` finds; ``None`` when nothing says it is a notebook."""
    recovered = recover_parts(raw)
    if recovered is None:
        return None
    parts, language = recovered
    return _scan_parts(raw, parts, language == "python", detect)


def _scan_parts(raw: bytes, parts: list[NotebookPart], python: bool,
                detect: Detect) -> list[tuple[Match, tuple[tuple[str, str], ...]]]:
    positions = Positions(raw, "utf-8")
    found: list[tuple[Match, tuple[tuple[str, str], ...]]] = []
    for part in parts:
        data = part.text.encode("utf-8", "replace")  # a lone surrogate (\ud800): one "?", columns kept
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


SOURCE_KEYS = frozenset({"source", "input"})  # a cell's code or text: nbformat 4, nbformat 3
OUTPUT_KEYS = frozenset({"text", *TEXT_OUTPUTS})  # strings of an output, joined
_KEY_END = compile_pattern(rb"[ \t\r\n]*:")


def recover_parts(raw: bytes) -> tuple[list[NotebookPart], str] | None:
    """The parts of a notebook ``json`` cannot read (an interrupted save, a stray brace,
    nesting too deep), and its language, from its string literals alone.

    A literal followed by a colon is a key; the literals after a ``source`` key (or an
    output's ``text``, ``text/plain``...) up to the next key are that part's strings, and
    each ``cell_type`` key starts the next cell. ``None`` when the file has no ``cells``
    key (not a notebook: scan it as text) or is not UTF-8 (its strings cannot be decoded)."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    parts: list[NotebookPart] = []
    pieces: list[_Piece] = []
    key, cell, cell_type, language, cells_seen = "", 0, "code", "", False
    for is_key, piece in _literals(raw):
        if is_key:
            parts.extend(_recovered_part(key, max(cell, 1), cell_type, pieces))
            pieces = []
            key = piece.text
            cells_seen = cells_seen or key == "cells"
            if key == "cell_type":
                cell, cell_type = cell + 1, "code"
        elif key == "cell_type":
            cell_type = piece.text
        elif key == "language":
            language = language or piece.text
        elif key == "traceback" and piece.text:  # one string per line, joined by nothing: one part each
            parts.extend(_recovered_part(key, max(cell, 1), cell_type, [piece]))
        elif (key in SOURCE_KEYS or key in OUTPUT_KEYS) and piece.text:
            pieces.append(piece)
    parts.extend(_recovered_part(key, max(cell, 1), cell_type, pieces))
    return (parts, (language or "python").lower()) if cells_seen else None


def _literals(raw: bytes) -> Iterator[tuple[bool, _Piece]]:
    """Every JSON string literal of ``raw`` that decodes, with whether it is a key."""
    for quote, end in literal_spans(raw):
        literal = raw[quote:end]
        text = decode_literal(literal)
        if text is not None:
            yield _KEY_END.match(raw, end) is not None, _Piece(text, quote, literal)


def _recovered_part(key: str, cell: int, cell_type: str, pieces: list[_Piece]) -> list[NotebookPart]:
    if not pieces:
        return []
    return [NotebookPart(cell, "source" if key in SOURCE_KEYS else "output", cell_type, tuple(pieces))]


def with_cell(finding: Finding, facts: tuple[tuple[str, str], ...]) -> Finding:
    """The finding with its cell number and part in ``Provenance.extra``."""
    extra = tuple(sorted((*finding.provenance.extra, *facts)))
    return replace(finding, provenance=replace(finding.provenance, extra=extra))


class _Locator:
    """Finds successive strings among the raw file's JSON string literals, moving forward only.

    A literal is matched by what it decodes to, not by one spelling: writers differ in
    what they escape (``\\u003d`` for ``=``, ``\\/``), and searching for
    ``json.dumps``' spelling missed those strings and put their findings on the wrong line."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.cursor = 0  # just past a literal's closing quote: literals are found from here on

    def pieces(self, strings: list[str]) -> tuple[_Piece, ...]:
        out = []
        for text in strings:
            if not text:
                continue
            piece = self._next(text)
            if piece.quote >= 0:
                self.cursor = piece.quote + len(piece.literal)
            out.append(piece)
        return tuple(out)

    def _next(self, text: str) -> _Piece:
        spellings = {encode_basestring(text).encode("utf-8", "surrogatepass"), encode_basestring_ascii(text).encode()}
        shortest, longest = len(text) + 2, _MAX_ESCAPE_BYTES * len(text) + 2
        for quote, end in literal_spans(self.raw, self.cursor):
            if not shortest <= end - quote <= longest:  # an image's base64: no copy, no decoding
                continue
            literal = self.raw[quote:end]
            if literal in spellings or (_has_unusual_escape(literal) and decode_literal(literal) == text):
                return _Piece(text, quote, literal)
        return _Piece(text, -1)


def literal_spans(raw: bytes, start: int = 0) -> Iterator[tuple[int, int]]:
    """(opening quote, just past the closing quote) of each JSON string literal from ``start``
    on, which must be outside any string. Outside strings JSON has no quote, so this meets
    every literal and nothing else; an unterminated one (a file cut short) ends it."""
    quote = raw.find(b'"', start)
    while quote >= 0:
        end = raw.find(b'"', quote + 1)
        while end >= 0 and _is_escaped(raw, end):
            end = raw.find(b'"', end + 1)
        if end < 0:
            return
        yield quote, end + 1
        quote = raw.find(b'"', end + 1)


def _is_escaped(raw: bytes, at: int) -> bool:
    """Whether the byte at ``at`` follows an odd number of backslashes."""
    run = 0
    while raw[at - run - 1] == _BACKSLASH:  # stops at the literal's opening quote at the latest
        run += 1
    return run % 2 == 1


def _has_unusual_escape(literal: bytes) -> bool:
    """Escapes json.dumps never writes (it writes \\n, \\" ... itself): only a literal with
    one can decode to a string while spelling it differently from both ``json.dumps``."""
    return b"\\u" in literal or b"\\/" in literal


_BACKSLASH = ord("\\")
_MAX_ESCAPE_BYTES = 12  # one character as a literal writes it at most: a surrogate pair, \ud83d\ude00
_SHORT_ESCAPE_BYTES = 2  # \n, \", \\, \/ ...
_UNICODE_ESCAPE_BYTES = 6  # \u003d


def decode_literal(literal: bytes) -> str | None:
    """The string a JSON literal stands for; ``None`` when it is not one (a damaged file)."""
    try:
        text = json.loads(literal, strict=False)  # a raw control character: damage, still readable
    except (ValueError, UnicodeDecodeError):
        return None
    return text if isinstance(text, str) else None


def literal_offset(literal: bytes, chars: int) -> int:
    """Byte offset, from the opening quote, of the decoded string's character ``chars``:
    raw UTF-8 runs are counted by character, each escape is one character."""
    at = 1
    while chars > 0 and at < len(literal) - 1:
        backslash = literal.find(b"\\", at, len(literal) - 1)
        run_end = backslash if backslash >= 0 else len(literal) - 1
        run = literal[at:run_end].decode("utf-8", "surrogateescape")
        if len(run) >= chars:
            return at + len(run[:chars].encode("utf-8", "surrogateescape"))
        if backslash < 0:
            return run_end
        chars -= len(run) + 1
        at = _past_escape(literal, backslash)
    return at


def _past_escape(literal: bytes, backslash: int) -> int:
    """Offset just past the escape at ``backslash``; a surrogate pair (``\\ud83d\\ude00``) is one."""
    if literal[backslash + 1:backslash + 2] != b"u":
        return backslash + _SHORT_ESCAPE_BYTES
    end = backslash + _UNICODE_ESCAPE_BYTES
    if _is_surrogate(literal[backslash + 2:end], 0xD800) and literal[end:end + 2] == b"\\u" \
            and _is_surrogate(literal[end + 2:end + _UNICODE_ESCAPE_BYTES], 0xDC00):
        return end + _UNICODE_ESCAPE_BYTES
    return end


def _is_surrogate(hex_digits: bytes, first: int) -> bool:
    """Whether four hex digits name a high (``first`` 0xD800) or low (0xDC00) surrogate."""
    try:
        return first <= int(hex_digits, 16) < first + 0x400
    except ValueError:
        return False


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
