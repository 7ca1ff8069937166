"""Run rules' embedded examples and negatives: the contract every rule carries with it.

A plain example runs through the regex engine alone. One with a ``path`` is scanned
as a file of that name through the whole pipeline (regex, AST, suppression), which
is how ``detector = "ast"`` rules and syntax-dependent negatives are tested. When a
regex rule matched the same value, the AST merges into that rule's finding
(``detectors = ("regex", "ast")``); such a finding satisfies an AST rule's example.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .engine import Engine
from .globs import path_matches
from .models import Blob, Provenance, ScanStats
from .rules import Rule, regex_rules


@dataclass(frozen=True)
class ExampleFailure:
    rule_id: str
    source: str
    kind: str  # "example" | "negative"
    text: str
    detail: str


def check_examples(rules: Sequence[Rule], backend: str = "auto") -> list[ExampleFailure]:
    """Every example must yield its rule with exactly the expected secret; no negative may yield the rule."""
    engine = Engine(regex_rules(rules), backend=backend)
    pipeline = None

    def secrets_of(rule_id: str, text: str, path: str | None, merged: bool = False) -> list[str]:
        nonlocal pipeline
        if path is None:
            return [m.secret for m in engine.scan(text.encode()) if m.rule_id == rule_id]
        if pipeline is None:
            from .scan import BlobScanner, ScanOptions

            pipeline = BlobScanner(rules, ScanOptions(backend=backend))
        blob = Blob(text.encode(), Provenance(kind="file", path=path))
        return [f.secret for f in pipeline.scan_blob(blob, ScanStats())
                if f.rule_id == rule_id or (merged and f.detectors == ("regex", "ast"))]

    failures: list[ExampleFailure] = []
    for rule in rules:
        if not rule.examples:
            failures.append(ExampleFailure(rule.id, rule.source, "example", "", "rule has no examples"))
        for example in rule.examples:
            if _off_paths(rule, "example", example.text, example.path, failures):
                continue
            secrets = secrets_of(rule.id, example.text, example.path, merged=rule.detector == "ast")
            if example.secret not in secrets:
                detail = f"expected secret {example.secret!r}, got {secrets or 'no match'}"
                failures.append(ExampleFailure(rule.id, rule.source, "example", example.text, detail))
            elif rule.gate and rule.regex and not _gate_inside_match(rule, example.text, example.secret):
                detail = "the gate does not match inside the rule's match (it must: see rules/README.md, Gates)"
                failures.append(ExampleFailure(rule.id, rule.source, "example", example.text, detail))
        for negative in rule.negatives:
            path = getattr(negative, "path", None)
            if _off_paths(rule, "negative", negative, path, failures):
                continue
            secrets = secrets_of(rule.id, negative, path)
            if secrets:
                failures.append(ExampleFailure(rule.id, rule.source, "negative", negative, f"matched {secrets}"))
    return failures


def _off_paths(rule: Rule, kind: str, text: str, path: str | None, failures: list[ExampleFailure]) -> bool:
    """A rule with ``paths`` never runs on an example or negative outside them: the example
    would fail with no word why, the negative pass for nothing. Says so in ``failures``."""
    if not rule.paths or (path is not None and path_matches(path, rule.paths)):
        return False
    detail = (f"the rule only runs on paths matching {list(rule.paths)}: give this {kind} a path = '...' "
              "that matches" + ("" if path is None else f" (not {path!r})"))
    failures.append(ExampleFailure(rule.id, rule.source, kind, text, detail))
    return True


def _gate_inside_match(rule: Rule, text: str, secret: str) -> bool:
    """Whether ``rule.gate`` matches inside the text of the match that yields ``secret``: the
    engine skips a window where the gate does not match (``Engine._confirm``)."""
    import re

    from .regexcache import compile_pattern

    gate = re.compile(rule.gate.encode(), re.IGNORECASE)  # type: ignore[union-attr]
    for m in compile_pattern(rule.regex.encode()).finditer(text.encode()):
        found = m.group("secret")
        if found is not None and found.decode(errors="replace").strip() == secret.strip():
            return gate.search(m.group()) is not None
    return True  # the secret came from a decoded value or the AST: the example check covers it
