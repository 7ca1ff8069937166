"""The detection pipeline for one blob: prefilter -> regex confirm -> filters -> Match.

Reading the whole pipeline should take one screen:

1. ``Prefilter.find`` reports where rule keywords occur (one pass over the bytes).
2. For each rule with a keyword hit, the rule's regex runs only in bounded windows
   around those hits (the keyword's line, capped; or ``span`` bytes for PEM-like
   multi-line values), so a minified megabyte-long line costs a few kilobytes.
3. Each regex match's ``secret`` group goes through the rule's charset, allow list
   and entropy floor, then the shared filters in ``filters.FILTERS``.
4. A kept match becomes a ``Match`` with line, column, entropy and confidence.

Regexes run on bytes (ASCII semantics), so files need no decoding to be scanned;
only the lines that hold findings are decoded for display.
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import replace

import regex

from . import filters
from .encoded import (
    FIELD_GATE,
    K8S_GATES,
    K8S_HEAD,
    K8S_MARKERS,
    TRIGGER_KEYWORDS,
    find_encoded_values,
    rescan_text,
)
from .entropy import shannon_entropy
from .globs import path_matches
from .models import Match
from .positions import Positions
from .prefilter import Prefilter, make_prefilter
from .regexcache import compile_pattern
from .rules import CHARSETS, Rule

WINDOW_BEFORE = 1024  # bytes of context a line-window may reach before its keyword
WINDOW_AFTER = 2048  # ... and after it, so minified lines stay cheap
GATE_MIN_BYTES = 4096  # smaller blobs are confirmed directly: cheaper than a second pass
# Gates compile in ~0.1 s: worth it for a tree or a history, not for a pre-commit run of a
# few files. They are used once this many bytes went through the engine (in this process).
GATES_AFTER_BYTES = 4 * 1024 * 1024
GATE_MIN_HITS = 32  # keyword hits of gated rules and base64 triggers in one blob
# A gated rule's window at least this long is first tested against the gates on its own (one
# Hyperscan call of ~10 us on a slice, shared by the rules with the same window) in bulk scans.
# A blob's gate can be open because of a line far from the keyword: in ib_async's HTML docs,
# "ib_insync.ibcontroller.IBC.password" opens the IBKR password gate of a page whose 4 kB
# windows around "Interactive Brokers" then cost ~0.2 ms of regex each, for no match.
WINDOW_GATE_MIN_BYTES = 1024
LOW_CONFIDENCE_PATH_PARTS = ("test", "tests", "testing", "fixtures", "examples", "example", "docs", "mock", "mocks")


class _CompiledRule:
    """A rule's regexes, compiled on first use (a pre-commit run touches few rules), or
    replayed from the per-user cache (``scanner.regexcache``)."""

    __slots__ = ("rule", "charset", "_pattern", "_allow")

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.charset = frozenset(CHARSETS[rule.charset]) if rule.charset else None
        self._pattern: regex.Pattern | None = None
        self._allow: tuple[regex.Pattern, ...] | None = None

    @property
    def pattern(self) -> regex.Pattern:
        if self._pattern is None:
            self._pattern = compile_pattern(self.rule.regex.encode())
        return self._pattern

    @property
    def allow(self) -> tuple[regex.Pattern, ...]:
        if self._allow is None:
            self._allow = tuple(compile_pattern(p) for p in self.rule.allow)
        return self._allow


class Engine:
    """Compiled rules plus one shared prefilter; cheap to call per blob, safe to build per process."""

    def __init__(self, rules: Sequence[Rule], *, backend: str = "auto", extra_keywords: Sequence[str] = (),
                 presence_keywords: Collection[str] = ()) -> None:
        """``extra_keywords`` ride along in the one prefilter pass for another stage (the AST
        gate), which reads their hits through ``scan(extra_hits=...)`` instead of a second pass.
        Of those, ``presence_keywords`` are only tested for presence: unless a rule needs them
        too, only their first occurrence is reported."""
        self.rules = list(rules)
        self._compiled = [_CompiledRule(rule) for rule in self.rules]
        keywords: list[str] = []
        self._keyword_rules: list[list[int]] = []
        for rule_index, rule in enumerate(self.rules):
            for keyword in rule.keywords:
                if keyword not in keywords:
                    keywords.append(keyword)
                    self._keyword_rules.append([])
                self._keyword_rules[keywords.index(keyword)].append(rule_index)
        for trigger in TRIGGER_KEYWORDS:
            if trigger not in keywords:
                keywords.append(trigger)
                self._keyword_rules.append([])
        self._triggers = frozenset(keywords.index(t) for t in TRIGGER_KEYWORDS)
        self._k8s_markers = [(keywords.index(m.decode()), len(m)) for m in K8S_MARKERS]
        self._extra: dict[int, list[int]] = {}  # engine keyword index -> positions in extra_keywords
        for position, keyword in enumerate(extra_keywords):
            if keyword not in keywords:
                keywords.append(keyword)
                self._keyword_rules.append([])
            self._extra.setdefault(keywords.index(keyword), []).append(position)
        self.keywords = keywords
        # Gates: necessary conditions, checked in one more Hyperscan pass over large blobs
        # only (see GATE_MIN_BYTES): a rule's own ``gate``, the base64 field shape, and
        # the markers of a Kubernetes Secret.
        gates: list[bytes] = []
        self._rule_gate: dict[int, int] = {}
        for rule_index, rule in enumerate(self.rules):
            if rule.gate:
                self._rule_gate[rule_index] = len(gates)
                gates.append(rule.gate.encode())
        self._field_gate = len(gates)
        gates.append(FIELD_GATE)
        self._k8s_gates = frozenset(range(len(gates), len(gates) + len(K8S_GATES)))
        gates.extend(K8S_GATES)
        first_only = frozenset(
            index for index, keyword in enumerate(keywords)
            if keyword in presence_keywords and not self._keyword_rules[index] and keyword not in TRIGGER_KEYWORDS)
        self.prefilter = make_prefilter(keywords, backend, gates=gates, first_only=first_only)
        self._bytes_seen = 0

    def scan(self, data: bytes, path: str = "", *, encoding: str = "utf-8", decode: bool = True,
             extra_hits: dict[int, list[int]] | None = None,
             hits: dict[int, list[int]] | None = None) -> list[Match]:
        """All matches in ``data``; ``path`` selects path-scoped rules and tunes confidence.

        With ``decode``, base64 values that hold text are decoded and scanned once more
        (one level deep); those matches point at the encoded value. ``extra_hits``, when
        given, is filled with the offsets of ``extra_keywords`` (by their position).
        """
        if hits is None:  # else the caller ran the prefilter (``find_many`` over a batch)
            hits = self.prefilter.find(data)
        if extra_hits is not None:
            for keyword_index, positions in self._extra.items():
                if keyword_index in hits:
                    for position in positions:
                        extra_hits[position] = hits[keyword_index]
        if not hits:
            return []
        rule_hits: dict[int, list[int]] = {}
        trigger_offsets: list[int] = []
        keyword_rules = self._keyword_rules
        for keyword_index, offsets in hits.items():
            for rule_index in keyword_rules[keyword_index]:
                rule_hits.setdefault(rule_index, []).extend(offsets)
            if keyword_index in self._triggers:
                trigger_offsets.extend(offsets)
        self._bytes_seen += len(data)
        gates = None
        bulk = self._bytes_seen >= GATES_AFTER_BYTES
        if len(data) >= GATE_MIN_BYTES and bulk:
            # Worth a gate pass (~500 MB/s) only when many windows would be confirmed.
            gated_hits = len(trigger_offsets) + sum(
                len(offsets) for rule_index, offsets in rule_hits.items() if rule_index in self._rule_gate)
            if gated_hits >= GATE_MIN_HITS:
                gates = self.prefilter.open_gates(data)
        lines = Positions(data, encoding)
        path_factor = _path_confidence_factor(path)
        window_gates = _WindowGates(self.prefilter, data) if bulk and self._rule_gate else None
        matches: list[Match] = []
        for rule_index in sorted(rule_hits):
            compiled = self._compiled[rule_index]
            if compiled.rule.paths and not path_matches(path, compiled.rule.paths):
                continue
            gate = self._rule_gate.get(rule_index)
            if gates is not None and gate is not None and gate not in gates:
                continue
            window_gate = None if window_gates is None or gate is None else window_gates.checker(gate)
            matches.extend(self._confirm(compiled, data, rule_hits[rule_index], lines, path_factor, window_gate))
        if decode and trigger_offsets:
            decoded = self._scan_encoded(data, path, trigger_offsets, lines, gates, self._is_kubernetes_secret(hits))
            if decoded:
                # The raw base64 of a value we decoded is the same leak, not a second one.
                shadowed = {(m.rule_id, m.location) for m in decoded}
                matches = [m for m in matches if (m.rule_id, m.location) not in shadowed] + decoded
        matches.sort(key=lambda m: (m.location.line, m.location.column, m.rule_id))
        return matches

    def _is_kubernetes_secret(self, hits: dict[int, list[int]]) -> bool:
        """A marker of a Secret manifest lies within the blob's first ``K8S_HEAD`` bytes
        (hits are sorted: the first is the earliest)."""
        return any(index in hits and hits[index][0] + size <= K8S_HEAD for index, size in self._k8s_markers)

    def _scan_encoded(self, data: bytes, path: str, offsets: list[int], lines: Positions,
                      gates: frozenset[int] | None, whole: bool) -> list[Match]:
        """``whole``: the blob is a Kubernetes Secret (every ``key: base64`` entry is a value)."""
        if gates is not None and self._field_gate not in gates and not gates & self._k8s_gates:
            return []  # neither a base64 credential field nor a Secret manifest is possible
        found: list[Match] = []
        for value in find_encoded_values(data, offsets, whole):
            location, _ = lines.locate(value.start, value.end)
            for inner in self.scan(rescan_text(value), path, decode=False):
                found.append(replace(inner, location=location, decoded="base64"))
        return found

    def _confirm(self, compiled: _CompiledRule, data: bytes, offsets: list[int],
                 lines: Positions, path_factor: float,
                 window_gate: Callable[[int, int], bool] | None = None) -> list[Match]:
        """Matches of ``compiled`` in the windows around ``offsets``. ``window_gate(lo, hi)``:
        whether the rule's gate matches in ``data[lo:hi]``, asked of long windows; a match lies
        inside its window and the gate inside the match (``rules test`` checks that)."""
        seen: set[tuple[int, int]] = set()
        out: list[Match] = []
        for lo, hi in _windows(data, offsets, compiled.rule.span):
            if window_gate is not None and hi - lo >= WINDOW_GATE_MIN_BYTES and not window_gate(lo, hi):
                continue
            for m in compiled.pattern.finditer(data, lo, hi, overlapped=False):
                start, end = m.span("secret")
                if start < 0 or (start, end) in seen:
                    continue
                seen.add((start, end))
                match = self._judge(compiled, data, start, end, lines, path_factor)
                if match is not None:
                    out.append(match)
        return out

    def _judge(self, compiled: _CompiledRule, data: bytes, start: int, end: int,
               lines: Positions, path_factor: float) -> Match | None:
        rule = compiled.rule
        secret = lines.decode(data[start:end]).strip()
        if not secret:
            return None
        if compiled.charset is not None and not set(secret) <= compiled.charset:
            return None
        if any(p.fullmatch(secret) for p in compiled.allow):
            return None
        if filters.first_rejection(secret):
            return None
        entropy = shannon_entropy(secret)
        if rule.entropy_min is not None and entropy < rule.entropy_min:
            return None
        confidence = rule.confidence * path_factor
        if len(secret) >= 8 and entropy < 2.5:
            confidence *= 0.8
        location, line_text = lines.locate(start, end)
        return Match(
            rule_id=rule.id,
            secret=secret,
            location=location,
            line_text=line_text,
            entropy=round(entropy, 3),
            confidence=round(min(confidence, 1.0), 3),
        )


class _WindowGates:
    """The gates open in a window of one blob, asked once per window (the two generic IBKR
    rules share keywords, span and so windows)."""

    def __init__(self, prefilter: Prefilter, data: bytes) -> None:
        self._prefilter, self._data = prefilter, data
        self._open: dict[tuple[int, int], frozenset[int] | None] = {}

    def checker(self, gate: int) -> Callable[[int, int], bool]:
        def is_open(lo: int, hi: int) -> bool:
            key = (lo, hi)
            if key not in self._open:
                self._open[key] = self._prefilter.open_gates(self._data[lo:hi])
            found = self._open[key]
            return found is None or gate in found  # None: this backend has no gates

        return is_open


def _windows(data: bytes, offsets: list[int], span: int | None) -> list[tuple[int, int]]:
    """Merged byte ranges to confirm in: the keyword's line (capped) or ``span`` bytes from its line start."""
    size = len(data)
    ranges: list[tuple[int, int]] = []
    for pos in sorted(set(offsets)):
        floor = max(0, pos - WINDOW_BEFORE)
        newline = data.rfind(b"\n", floor, pos)
        line_start = newline + 1 if newline >= 0 else floor
        if span is None:
            line_end = data.find(b"\n", pos, pos + WINDOW_AFTER)
            hi = line_end if line_end >= 0 else min(size, pos + WINDOW_AFTER)
        else:
            hi = min(size, line_start + span)
        if ranges and line_start <= ranges[-1][1]:
            ranges[-1] = (ranges[-1][0], max(ranges[-1][1], hi))
        else:
            ranges.append((line_start, hi))
    return ranges


def _path_confidence_factor(path: str) -> float:
    """Test data and docs are less likely to hold live credentials: lower confidence, never silence."""
    parts = path.lower().replace("\\", "/").split("/")[:-1]
    return 0.7 if any(p in LOW_CONFIDENCE_PATH_PARTS for p in parts) else 1.0
