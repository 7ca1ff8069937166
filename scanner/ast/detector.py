"""The AST stage of a scan: regex matches in, final matches out.

For one blob, ``AstDetector.refine``:

1. decides whether the file is worth parsing: it has regex matches to judge, or a
   credential keyword followed by something that looks like a literal value (the
   keyword prefilter runs first, so most files are never parsed);
2. parses it (tree-sitter, or a line reader for INI / ``.env`` / properties); a parse
   error, a missing grammar or an oversized file means regex-only for that file,
   counted in ``ScanStats.notes``;
3. collects literal values bound to credential names and IBKR client-call arguments
   (``Binding``) and turns the credible ones into candidates (``Candidate``);
4. merges: a regex match on a candidate's value becomes one match with
   ``detectors=("regex", "ast")`` and higher confidence; a regex match the tree shows
   to be code (an identifier, an env lookup, an annotation, a parameter) is dropped;
   one in a comparison, comment or docstring is kept with lower confidence; AST
   candidates no regex matched become matches with ``detectors=("ast",)``.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ..engine import LOW_CONFIDENCE_PATH_PARTS
from ..entropy import shannon_entropy
from ..models import Match, ScanStats
from ..regexcache import compile_pattern
from ..rules import AST_RULE_IDS, Rule
from . import ibkr, values
from .facts import Binding, Role
from .gate import MAX_OFFSETS, Gate
from .languages import DATA_KINDS, DOCS, GRAMMARS, LINE_FORMATS, parse_unless_error, parser_for, syntax_for
from .names import classify_name
from ..positions import Positions
from .tree import TreeDocument

GENERIC_RULE = AST_RULE_IDS[0]
MAX_PARSE_BYTES = 1024 * 1024  # larger files (minified bundles, data dumps) stay regex-only
# Minified script bundles stay regex-only too, at any size: tree-sitter reads them at about
# 2 MB/s (requests' history holds three vendored swagger-ui bundles of 0.4-1 MB, 0.9 CPU-s of
# parsing for no finding), and their names are the bundler's. Only script syntaxes: a JSON
# document on one line is data whose names are the author's.
MINIFIED_SYNTAXES = frozenset({"javascript", "typescript", "tsx"})
MINIFIED_MIN_BYTES = 32 * 1024
MINIFIED_LINE_BYTES = 1000  # mean line length; hand-written code stays far below it

# How much a binding's syntactic role says "this literal is the credential".
ROLE_FACTOR = {
    "assignment": 1.0, "key": 1.0, "setting": 1.0, "argument": 1.0, "setter": 0.95,
    "url": 0.9, "embedded": 0.85, "default": 0.8,
}
# What the tree says about a regex match that no AST candidate confirms: None drops it.
REGEX_ROLE_FACTOR: dict[Role, float | None] = {
    Role.CODE: None, Role.ENV_NAME: None, Role.UNQUOTED: 0.8, Role.COMPARISON: 0.5, Role.METADATA: 0.5,
    Role.DOCSTRING: 0.6,
    Role.COMMENT: 0.75, Role.LITERAL: 1.0, Role.UNKNOWN: 1.0,
}
_ROLE_WORDS = {
    Role.CODE: "code", Role.ENV_NAME: "an env var name", Role.UNQUOTED: "a bare name",
    Role.COMPARISON: "a comparison", Role.METADATA: "credential metadata", Role.DOCSTRING: "a docstring",
    Role.COMMENT: "a comment",
}
DOCS_FACTOR = 0.7  # README, PKG-INFO, Markdown cells: values there are mostly examples
REJECTED_VALUE_FACTOR = 0.5  # a regex match on a credential-named value the AST's value checks reject
REJECTED = object()  # _candidate's answer for such a value
CONFIRM_ONLY_CONFIDENCE = 0.6  # account-named literals: they confirm the account-id regex rules
TEST_FACTOR = 0.6
CODE_FILE_FACTOR = 0.95  # a literal in a config file is more often the live value than one in code
_TEST_FILE = compile_pattern(
    r"(?:test_[^/]*|[^/]*_test\.(?:py|go)|conftest\.py|[^/]*\.(?:test|spec)\.[jt]sx?|[^/]*Tests?\.(?:java|cs)"
    r"|[^/]*(?:example|sample|fixture|mock)[^/]*)$")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A literal the AST believes is a credential (or, with ``rule_id`` None, an account id)."""

    rule_id: str | None  # None: confirms regex matches, never reported on its own
    start: int
    end: int
    secret: str
    entropy: float
    confidence: float
    test: bool  # marked as test data by its name, value or enclosing test function


def regex_only(syntax: str, data: bytes) -> str | None:
    """Why ``data`` is never parsed (``file too large``, ``minified``), or ``None``."""
    if len(data) > MAX_PARSE_BYTES:
        return "file too large"
    if (syntax in MINIFIED_SYNTAXES and len(data) >= MINIFIED_MIN_BYTES
            and len(data) > MINIFIED_LINE_BYTES * (data.count(b"\n") + 1)):
        return "minified"
    return None


class AstDetector:
    """Syntax-aware detection for one process; grammars load lazily on first use."""

    def __init__(self, rules: Sequence[Rule], backend: str = "auto", enabled: bool | None = None) -> None:
        if enabled is None:
            enabled = os.environ.get("BROKERSCAN_AST", "1").lower() not in ("0", "off", "false", "no")
        self.enabled = enabled
        self.rules = {r.id: r for r in rules if r.detector == "ast"}
        self._allow = {r.id: tuple(compile_pattern(p) for p in r.allow) for r in self.rules.values()}
        self.gate = Gate(list(dict.fromkeys(k for r in self.rules.values() for k in r.keywords)), backend, enabled)

    def refine(self, data: bytes, path: str, encoding: str, matches: list[Match], stats: ScanStats,
               syntax: str | None = None, gate_hits: dict[int, list[int]] | None = None) -> list[Match]:
        """``matches`` from the regex engine, adjusted and completed by the AST; never raises.

        ``gate_hits``: the gate keywords' offsets in ``data`` when the engine's prefilter
        already found them (``Engine(extra_keywords=gate.keywords)``); else the gate looks."""
        if not self.enabled:
            return matches
        try:
            return self._refine(data, path, encoding, matches, stats, syntax or syntax_for(path), gate_hits)
        except Exception:  # noqa: BLE001 - a detector bug must never lose the regex findings
            stats.note("ast: internal error, regex only")
            return matches

    def _refine(self, data: bytes, path: str, encoding: str, matches: list[Match], stats: ScanStats,
                syntax: str | None, gate_hits: dict[int, list[int]] | None = None) -> list[Match]:
        if syntax is None:
            return matches
        if syntax == DOCS:
            return _downgrade_documentation(matches, path, stats)
        reason = regex_only(syntax, data)
        if reason:  # never parsed: not worth a keyword pass either
            if matches:
                stats.note(f"ast: {reason}, regex only")
            return matches
        hits = gate_hits if gate_hits is not None else self.gate.hits(data)
        if not matches and not self.gate.worth_parsing(data, hits, syntax):
            return matches
        document = self._open(syntax, data, stats)
        if document is None:
            return matches
        offsets = self.gate.credential_names(data, hits, syntax, gated=False) + self.gate.parse_time_offsets(data, syntax)
        return self._combine(document, syntax, data, path, encoding, matches, offsets, stats)

    # --- 2. parse ---------------------------------------------------------------------------

    def _open(self, syntax: str, data: bytes, stats: ScanStats):
        if syntax in LINE_FORMATS:
            from .lines import LineDocument  # INI, .env, properties: not every run meets one

            return LineDocument(syntax, data)
        parser = parser_for(syntax)
        if parser is None:
            if syntax == "dockerfile":
                from .lines import LineDocument

                stats.note("ast: no grammar for dockerfile, line reader used")
                return LineDocument("dockerfile", data)
            stats.note(f"ast: no grammar for {syntax}, regex only")
            return None
        tree = parse_unless_error(parser, data)
        if tree is None or tree.root_node.has_error:
            stats.note("ast: parse error, regex only")
            return None
        document = TreeDocument(GRAMMARS[syntax], data, tree)
        stats.note("ast: files parsed")
        return document

    # --- 3. candidates -------------------------------------------------------------------------

    def _combine(self, document, syntax: str, data: bytes, path: str, encoding: str,
                 matches: list[Match], offsets: list[int], stats: ScanStats) -> list[Match]:
        positions = Positions(data, encoding)
        bindings = list(document.bindings(sorted(set(offsets))[:MAX_OFFSETS]))
        if isinstance(document, TreeDocument) and syntax == "python":
            bindings.extend(_client_call_bindings(document, data))
        candidates, rejected = self._candidates(bindings, data, positions, syntax, path)
        out: list[Match] = []
        used: set[int] = set()
        for match in matches:
            if match.decoded:
                out.append(match)
                continue
            start, end = positions.span(match.location)
            index = next((i for i, c in enumerate(candidates) if c.start < end and start < c.end), None)
            if index is not None:
                used.add(index)
                out.append(_merge(match, candidates[index]))
                continue
            if any(lo < end and start < hi for lo, hi in rejected):
                stats.note("ast: regex match on a value the AST rejects, downgraded")
                out.append(replace(match, confidence=round(match.confidence * REJECTED_VALUE_FACTOR, 3)))
                continue
            role = document.role_at(start, end)
            factor = REGEX_ROLE_FACTOR[role]
            if factor is None:
                stats.note(f"ast: regex match on {_ROLE_WORDS[role]}, dropped")
                continue
            if factor < 1.0:
                stats.note(f"ast: regex match on {_ROLE_WORDS[role]}, downgraded")
                match = replace(match, confidence=round(match.confidence * factor, 3))
            out.append(match)
        for index, candidate in enumerate(candidates):
            if index in used or candidate.rule_id is None:
                continue
            location, line_text = positions.locate(candidate.start, candidate.end)
            out.append(Match(
                rule_id=candidate.rule_id, secret=candidate.secret, location=location, line_text=line_text,
                entropy=candidate.entropy, confidence=candidate.confidence, detectors=("ast",),
            ))
        out.sort(key=lambda m: (m.location.line, m.location.column, m.rule_id))
        return out

    def _candidates(self, bindings: list[Binding], data: bytes, positions: Positions, syntax: str,
                    path: str) -> tuple[list[Candidate], list[tuple[int, int]]]:
        """Credible candidates, and the spans of credential-named values the value checks rejected."""
        by_span: dict[tuple[int, int], Candidate] = {}
        rejected: list[tuple[int, int]] = []
        for binding in bindings:
            candidate = self._candidate(binding, data, positions, syntax, path)
            if candidate is REJECTED:
                rejected.append((binding.start, binding.end))
            if not isinstance(candidate, Candidate):
                continue
            key = (candidate.start, candidate.end)
            current = by_span.get(key)
            if current is None or _rank(candidate) > _rank(current):
                by_span[key] = candidate
        return sorted(by_span.values(), key=lambda c: c.start), rejected

    def _candidate(self, binding: Binding, data: bytes, positions: Positions, syntax: str,
                   path: str) -> Candidate | object | None:
        """A candidate; ``REJECTED`` when the name is a credential's but the value is not credible
        (dummy, elided, a path, a placeholder...); ``None`` when the name is no credential's."""
        name = classify_name(binding.name)
        client = ibkr.client_parameter(binding.callee, binding.name, data) if binding.callee else None
        if client == "credential":
            kind, rule_id = (name.kind if name and name.kind != "account" else "secret"), ibkr.CREDENTIAL_RULE
        elif client == "account":
            kind, rule_id = "account", ibkr.ACCOUNT_RULE
        elif name is None:
            return None
        elif name.kind == "account":
            kind, rule_id = "account", None
        else:
            kind, rule_id = name.kind, (ibkr.CREDENTIAL_RULE if name.ibkr else GENERIC_RULE)
        secret = positions.decode(data[binding.start:binding.end]).strip()
        if not secret:
            return None
        if values.rejection(kind, secret) or values.translated_label(path, secret):
            return REJECTED
        rule = self.rules.get(rule_id) if rule_id else None
        entropy = shannon_entropy(secret)
        if rule is not None:
            if any(p.fullmatch(secret) for p in self._allow[rule.id]):
                return None
            if rule.entropy_min is not None and entropy < rule.entropy_min:
                return None
        test = binding.in_test or bool(name and name.test) or values.looks_like_test_value(secret)
        base = rule.confidence if rule is not None else CONFIRM_ONLY_CONFIDENCE
        confidence = _score(base, binding.role, secret, entropy, syntax, path, test)
        return Candidate(rule.id if rule is not None else None, binding.start, binding.end, secret,
                         round(entropy, 3), confidence, test)


def _downgrade_documentation(matches: list[Match], path: str, stats: ScanStats) -> list[Match]:
    """README, PKG-INFO, Markdown: once, not again under docs/ or examples/ (the engine did that)."""
    if not matches or _in_low_confidence_folder(path):
        return matches
    stats.note("ast: regex match in documentation, downgraded", len(matches))
    return [replace(m, confidence=round(m.confidence * DOCS_FACTOR, 3)) for m in matches]


def _in_low_confidence_folder(path: str) -> bool:
    return any(p in LOW_CONFIDENCE_PATH_PARTS for p in path.lower().replace("\\", "/").split("/")[:-1])


def _client_call_bindings(document: TreeDocument, data: bytes) -> list[Binding]:
    """Positional literals of IBKR client calls (``FlexReport("<token>", "<query id>")``)."""
    found: list[Binding] = []
    for call in ibkr.CLIENT_CALLS.values():
        positional = ibkr.positional_parameters(call)
        if not positional or not ibkr.mentions(call, data):
            continue
        for node in document.calls_named(call.callee.encode()):
            literals = document.positional_literals(node)
            for index, (parameter, _) in positional.items():
                if index < len(literals) and literals[index] is not None:
                    start, end = literals[index]
                    found.append(Binding(parameter, start, end, "argument", call.callee))
    return found


def _score(base: float, role: str, secret: str, entropy: float, syntax: str, path: str, test: bool) -> float:
    """Confidence of an AST candidate: rule base x AST role x entropy x file kind x test data."""
    confidence = base * ROLE_FACTOR.get(role, 0.8)
    if len(secret) >= 8 and entropy < 2.5:
        confidence *= 0.8
    elif len(secret) >= 16 and entropy >= 3.5:
        confidence += (1.0 - confidence) * 0.3
    if syntax not in DATA_KINDS:
        confidence *= CODE_FILE_FACTOR
    if test or is_test_path(path):
        confidence *= TEST_FACTOR
    return round(min(confidence, 0.99), 3)


def _merge(match: Match, candidate: Candidate) -> Match:
    """Regex and AST agree: one match, the regex rule's id (stable fingerprints), more confidence."""
    regex_confidence = match.confidence * (TEST_FACTOR if candidate.test else 1.0)
    high, low = max(regex_confidence, candidate.confidence), min(regex_confidence, candidate.confidence)
    confidence = high + (1.0 - high) * low * 0.5
    return replace(match, detectors=("regex", "ast"), confidence=round(min(confidence, 0.99), 3))


def _rank(candidate: Candidate) -> tuple[int, float]:
    specific = candidate.rule_id is not None and candidate.rule_id != GENERIC_RULE
    return (2 if specific else 1 if candidate.rule_id else 0, candidate.confidence)


def is_test_path(path: str) -> bool:
    """Test files and folders: their credentials are usually fixtures (lower confidence, not silence)."""
    return _in_low_confidence_folder(path) or bool(_TEST_FILE.search(path.lower().replace("\\", "/").rsplit("/", 1)[-1]))
