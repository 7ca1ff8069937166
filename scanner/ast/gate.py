"""Which files are worth parsing: the gate in front of the parser, and the offsets it reads.

Parsing is the expensive part of the AST stage (tree-sitter reads Python at about 6 MB/s
here), so a file without regex matches is parsed only when the keyword prefilter finds
a credential word whose whole name classifies as a credential (``TWS_PASSWORD``, not
``pad_token``), followed by an operator and a literal value that the value checks would
keep; or when it mentions an IBKR client library or a Flex Web Service URL. All of that
is a regex match at each keyword hit: no parse.

Account words never make a file worth parsing (they only confirm regex findings or name
IBKR call parameters) and they are frequent, so they stay out of the prefilter and are
looked up only in files that are parsed anyway.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

from ..prefilter import make_prefilter
from . import ibkr, values
from .languages import DATA_KINDS
from .names import classify_name

MAX_OFFSETS = 5000
# From the end of a keyword to the end of its name (group ``name``), then in code: an operator
# and a quote opening a literal, or (inside a string: ``"--password=..."``, ``"?token=...&"``) an
# unquoted value closed by a quote or ``&``.
_CODE_GATE = re.compile(
    rb"""(?P<name>[A-Za-z0-9_\-]{0,64})["'\]]{0,2}[ \t]{0,4}(?::[ \t]*[\w\[\]., |]{1,40}?[ \t]*(?==))?"""
    rb"""(?:(?:=(?![=~])|:=|=>|:|,)[ \t]{0,4}(?:[rRbBuUfF@$]{1,2})?(?P<q>["'`])"""
    rb"""|[=:](?P<bare>[^\s"'`(){}\[\],;]{4,})["'`&])""")
# ... in configuration: a scalar value (not a nested mapping or list), or a Terraform
# ``variable "db_password" {`` block (its ``default`` is the value).
_DATA_GATE = re.compile(
    rb"""(?P<name>[A-Za-z0-9_\-]{0,64})"""
    rb"""(?:["']?[ \t]*(?:[:=][ \t]*|[ \t]+)(?P<q>["']?)(?=[^\s{\[])|(?P<block>"[ \t]+\{))""")
_UNQUOTED_VALUE = re.compile(rb"[^\r\n,}\]&#]*")
_CANNOT_TELL = frozenset({"|", ">", "|-", ">-", "|+", ">+"})  # YAML block scalars: the value is below
_ANY_NAME = re.compile(rb"(?P<name>[A-Za-z0-9_\-]{0,64})")
_NAME_CHARS = re.compile(rb"[A-Za-z0-9_\-]*")  # run backwards over a reversed slice: the name's head
MAX_NAME = 64



class Gate:
    """The AST keywords' prefilter and the per-hit tests; one per ``AstDetector``."""

    def __init__(self, keywords: Sequence[str], backend: str = "auto", enabled: bool = True) -> None:
        self.parse_time = tuple(k.encode() for k in keywords if _is_account_word(k))
        keywords = [k for k in keywords if not _is_account_word(k)]
        self.keywords = keywords
        self._libraries = {i for i, k in enumerate(keywords) if k.encode() in ibkr.LIBRARY_KEYWORDS}
        self._urls = {i for i, k in enumerate(keywords) if k.encode() in ibkr.ALWAYS_PARSE} - self._libraries
        # Library names: only whether they occur is read, never where.
        self.presence_keywords = frozenset(keywords[i] for i in self._libraries)
        self._backend = backend
        self._enabled = enabled and bool(keywords)
        self._prefilter = None  # built on first use: scans normally share the engine's pass

    def hits(self, data: bytes) -> dict[int, list[int]]:
        if not self._enabled:
            return {}
        if self._prefilter is None:
            first_only = frozenset(self._libraries)
            self._prefilter = make_prefilter(self.keywords, self._backend, first_only=first_only)
        return self._prefilter.find(data)

    def worth_parsing(self, data: bytes, hits: dict[int, list[int]], syntax: str) -> bool:
        if not hits:
            return False
        if self._libraries & hits.keys() and ibkr.literal_client_call_possible(data):
            return True
        return bool(self.credential_names(data, hits, syntax))

    def credential_names(self, data: bytes, hits: dict[int, list[int]], syntax: str,
                          gated: bool = True) -> list[int]:
        """Offsets of keywords inside a credential name (``TWS_PASSWORD``, ``accessToken``; not
        ``pad_token``), and of Flex URLs. ``gated``: only names followed by an operator and a
        literal value, the test that decides whether a file is parsed at all.

        The gate regex runs first: most keyword hits (``tokenize``, ``account_id = account_id``)
        fail it at once, and only the rest pay for reading and classifying the whole name."""
        gate = (_DATA_GATE if syntax in DATA_KINDS else _CODE_GATE) if gated else _ANY_NAME
        data_kind = syntax in DATA_KINDS
        found: list[int] = []
        seen: set[int] = set()
        for index, offsets in hits.items():
            if index in self._libraries:
                continue
            if index in self._urls:
                found.extend(offsets[:MAX_OFFSETS])
                continue
            size = len(self.keywords[index])
            match = gate.match
            for offset in offsets[:MAX_OFFSETS]:
                m = match(data, offset + size, offset + size + 240)
                if m is None:
                    continue
                end = m.end("name")
                if end in seen:
                    continue
                seen.add(end)
                start = offset - _NAME_CHARS.match(data[max(0, offset - MAX_NAME):offset][::-1]).end()
                if data[start - 2:start] == b"::":
                    continue
                name = classify_name(data[start:end].decode("latin-1"))
                if name is not None and (not gated or _credible(name.kind, _peek_value(data, m, data_kind))):
                    found.append(offset)
        return found

    def parse_time_offsets(self, data: bytes, syntax: str) -> list[int]:
        """Account words followed by an operator and a literal (the gate regex), for files
        that are parsed anyway. Only those can bind a literal value: the rest (``account``
        in prose, ``accountValues(account)``) cost a tree lookup each and bound nothing
        (37,000 lookups in ib_async's history, for 476 parsed files)."""
        if not self.parse_time:
            return []
        gate = (_DATA_GATE if syntax in DATA_KINDS else _CODE_GATE).match
        lowered = data.lower()
        found: list[int] = []
        for keyword in self.parse_time:
            size = len(keyword)
            pos = lowered.find(keyword)
            while pos >= 0 and len(found) < MAX_OFFSETS:
                if gate(data, pos + size, pos + size + 240):
                    found.append(pos)
                pos = lowered.find(keyword, pos + 1)
        return found


def _is_account_word(keyword: str) -> bool:
    name = classify_name(keyword)
    return name is not None and name.kind == "account"


def _peek_value(data: bytes, m, data_kind: bool) -> str | None:
    """The value the gate saw after a credential name, read without parsing; ``None``: cannot tell."""
    groups = m.groupdict()
    if groups.get("block") or groups.get("bare"):
        return groups["bare"].decode("latin-1") if groups.get("bare") else None
    start, quote = m.end(), groups.get("q") or b""
    if quote:
        end = data.find(quote, start, start + 512)
        return data[start:end].decode("latin-1") if end >= 0 else None
    if not data_kind:
        return None
    return _UNQUOTED_VALUE.match(data, start, start + 512).group().decode("latin-1").strip()


def _credible(kind: str, value: str | None) -> bool:
    """Could this value become a candidate? The gate's cheap copy of ``values.rejection``."""
    return value is None or value in _CANNOT_TELL or values.rejection(kind, value.strip()) is None
