"""Keyword prefilter: find where rule keywords occur, so regexes run only there.

Two interchangeable backends with identical results (tested on the fixtures):

* ``HyperscanPrefilter`` uses the ``hyperscan`` wheel (x86-64 Linux): all keywords
  in one automaton, one pass per blob, about 1.5 GB/s here.
* ``PurePrefilter`` lowercases the blob once and uses ``bytes.find`` per keyword:
  works everywhere, about 60 MB/s with the IBKR pack.

Both report every occurrence (start offset) of every keyword, case-insensitively.
"""
from __future__ import annotations

import os
from bisect import bisect_right
from collections.abc import Sequence
from typing import Protocol

# Blobs joined into one Hyperscan call (``find_many``) only below this size: the call's fixed
# cost is nothing next to a large blob's scan, and joining copies it and costs a bisect per hit
# (ib_async's history: 0.66 s joined, 0.41 s one call per blob, over 387 MB of mostly HTML).
JOIN_MAX_BYTES = 64 * 1024
MAX_HITS_PER_KEYWORD = 10_000  # a blob full of one keyword is regex-checked in merged windows anyway


class Prefilter(Protocol):
    name: str

    def find(self, data: bytes) -> dict[int, list[int]]:
        """Keyword index -> sorted start offsets of its occurrences in ``data``."""

    def find_many(self, blobs: Sequence[bytes]) -> list[dict[int, list[int]]]:
        """``find`` of each blob, the same answers; Hyperscan does it in one call."""

    def open_gates(self, data: bytes) -> frozenset[int] | None:
        """Indices of the gates (see ``make_prefilter``) that match somewhere in ``data``;
        ``None`` when this backend does not evaluate gates (every gate is then open)."""


class PurePrefilter:
    """Gates are not evaluated here (callers then take every gate as open): a regex
    search per gate per blob would cost more than the work a gate saves."""

    name = "pure"

    def __init__(self, keywords: Sequence[str], gates: Sequence[bytes] = (),
                 first_only: frozenset[int] = frozenset()) -> None:
        self.keywords = [k.encode() for k in keywords]
        self.first_only = first_only

    def find(self, data: bytes) -> dict[int, list[int]]:
        lowered = data.lower()
        hits: dict[int, list[int]] = {}
        for index, keyword in enumerate(self.keywords):
            pos = lowered.find(keyword)
            if pos < 0:
                continue
            found = hits[index] = []
            cap = 1 if index in self.first_only else MAX_HITS_PER_KEYWORD
            while pos >= 0 and len(found) < cap:
                found.append(pos)
                pos = lowered.find(keyword, pos + 1)
        return hits

    def find_many(self, blobs: Sequence[bytes]) -> list[dict[int, list[int]]]:
        return [self.find(blob) for blob in blobs]

    def open_gates(self, data: bytes) -> frozenset[int] | None:
        return None


class HyperscanPrefilter:
    """Keywords in one database; gates in a second one, compiled on first use.

    Gates are kept apart because they cost far more to compile than literals (the
    base64 field gate alone adds 40 ms), and a pre-commit run of a few small files
    should pay neither that nor a second pass: callers ask for gates on large blobs."""

    name = "hyperscan"

    def __init__(self, keywords: Sequence[str], gates: Sequence[bytes] = (),
                 first_only: frozenset[int] = frozenset()) -> None:
        import hyperscan

        self._hs = hyperscan
        self.lengths = [len(k.encode()) for k in keywords]
        self._batchable = not any("\0" in k for k in keywords)
        self.sources: list[str] = []  # "compiled" or "cache", per database built
        flags = [hyperscan.HS_FLAG_CASELESS | (hyperscan.HS_FLAG_SINGLEMATCH if i in first_only else 0)
                 for i in range(len(keywords))]
        self.db, self.scratch = self._compile([_hs_literal(k) for k in keywords], flags)
        self._keywords = list(keywords)
        self._first_only = sorted(first_only)
        self._presence = None  # (database, scratch) of the first_only keywords, made on first need
        self._gates = list(gates)
        self._gate_db = None
        self._gate_scratch = None

    def _compile(self, expressions: list[bytes], flags: int | list[int]):
        """Compiled, or loaded from the per-user cache (``scanner.hsdb``); ``self.sources``
        records which, database by database."""
        from .hsdb import database

        db, source = database(self._hs, expressions, flags if isinstance(flags, list) else [flags] * len(expressions))
        self.sources.append(source)
        return db, self._hs.Scratch(db)

    def find(self, data: bytes) -> dict[int, list[int]]:
        hits: dict[int, list[int]] = {}
        lengths = self.lengths

        def on_match(index: int, _from: int, to: int, _flags: int, _ctx: object) -> None:
            hits.setdefault(index, []).append(to - lengths[index])

        if data:
            self.db.scan(data, match_event_handler=on_match, scratch=self.scratch)
        for found in hits.values():
            del found[MAX_HITS_PER_KEYWORD:]
        return hits

    def find_many(self, blobs: Sequence[bytes]) -> list[dict[int, list[int]]]:
        """One scan over the blobs joined by NUL bytes, hits handed back to their blob.

        Most files of a tree hold no keyword at all, and for them the fixed cost of a
        Hyperscan call from Python (about 15 us) was most of their scanning time. No
        keyword contains a NUL (checked in ``__init__``), so no hit spans two blobs.
        Blobs of ``JOIN_MAX_BYTES`` or more are scanned in calls of their own."""
        small = [i for i, blob in enumerate(blobs) if len(blob) < JOIN_MAX_BYTES]
        if len(small) < 2 or not self._batchable:
            return [self.find(blob) for blob in blobs]
        found: list[dict[int, list[int]]] = [{} for _ in blobs]
        starts: list[int] = []
        at = 0
        for i in small:
            starts.append(at)
            at += len(blobs[i]) + 1
        lengths = self.lengths

        def on_match(index: int, _from: int, to: int, _flags: int, _ctx: object) -> None:
            start = to - lengths[index]
            place = bisect_right(starts, start) - 1
            found[small[place]].setdefault(index, []).append(start - starts[place])

        small_blobs = [blobs[i] for i in small]
        self.db.scan(b"\0".join(small_blobs), match_event_handler=on_match, scratch=self.scratch)
        for i in small:
            for offsets in found[i].values():
                del offsets[MAX_HITS_PER_KEYWORD:]
        self._complete_presence([found[i] for i in small], small_blobs)
        for i, blob in enumerate(blobs):
            if len(blob) >= JOIN_MAX_BYTES:
                found[i] = self.find(blob)
        return found

    def _complete_presence(self, found: list[dict[int, list[int]]], blobs: list[bytes]) -> None:
        """A ``first_only`` keyword is reported once per Hyperscan call, so in a joined scan
        only for the first blob that holds it: the blobs after that one are asked again, each
        in a call of its own to a database of those keywords alone."""
        first = next((place for place, hits in enumerate(found) if any(i in hits for i in self._first_only)),
                     len(found))
        if first >= len(found) - 1:
            return
        if self._presence is None:
            flags = self._hs.HS_FLAG_CASELESS | self._hs.HS_FLAG_SINGLEMATCH
            self._presence = self._compile([_hs_literal(self._keywords[i]) for i in self._first_only], flags)
        db, scratch = self._presence
        lengths, keyword_of = self.lengths, self._first_only
        for place in range(first + 1, len(found)):
            hits = found[place]
            for index in keyword_of:
                hits.pop(index, None)

            def on_match(which: int, _from: int, to: int, _flags: int, _ctx: object, hits=hits) -> None:
                index = keyword_of[which]
                hits[index] = [to - lengths[index]]

            if blobs[place]:
                db.scan(blobs[place], match_event_handler=on_match, scratch=scratch)

    def open_gates(self, data: bytes) -> frozenset[int] | None:
        if not self._gates:
            return None
        if self._gate_db is None:
            flags = self._hs.HS_FLAG_CASELESS | self._hs.HS_FLAG_SINGLEMATCH
            try:
                self._gate_db, self._gate_scratch = self._compile(self._gates, flags)
            except Exception:  # noqa: BLE001 - a user rule's gate Hyperscan cannot take:
                self._gates = []  # run without gates (slower, same findings)
                return None
        matched: set[int] = set()

        def on_match(index: int, _from: int, _to: int, _flags: int, _ctx: object) -> None:
            matched.add(index)

        if data:
            self._gate_db.scan(data, match_event_handler=on_match, scratch=self._gate_scratch)
        return frozenset(matched)


def _hs_literal(keyword: str) -> bytes:
    return b"".join(b"\\x%02x" % byte for byte in keyword.encode())


def hyperscan_available() -> bool:
    try:
        import hyperscan  # noqa: F401
    except Exception:  # ImportError, or a wheel built for another CPU
        return False
    return True


def make_prefilter(keywords: Sequence[str], backend: str = "auto", gates: Sequence[bytes] = (),
                   first_only: frozenset[int] = frozenset()) -> Prefilter:
    """``auto`` picks Hyperscan when importable; ``BROKERSCAN_PREFILTER`` overrides.

    ``gates`` are case-insensitive regexes (the syntax Hyperscan and ``re`` share) that
    a later stage needs to match somewhere before it does costly work; each must be a
    necessary condition of that work, so skipping on a closed gate changes no result.

    ``first_only``: indices of keywords whose presence is all a caller reads; only their
    first occurrence is reported (a library's own history names it 760,000 times)."""
    backend = os.environ.get("BROKERSCAN_PREFILTER", backend)
    if backend not in ("auto", "hyperscan", "pure"):
        raise ValueError(f"unknown prefilter backend {backend!r} (auto, hyperscan, pure)")
    if backend == "pure" or (backend == "auto" and not hyperscan_available()):
        return PurePrefilter(keywords, gates, first_only)
    return HyperscanPrefilter(keywords, gates, first_only)
