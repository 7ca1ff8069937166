"""Run rules' embedded examples and negatives: the contract every rule carries with it."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .engine import Engine
from .rules import Rule


@dataclass(frozen=True)
class ExampleFailure:
    rule_id: str
    source: str
    kind: str  # "example" | "negative"
    text: str
    detail: str


def check_examples(rules: Sequence[Rule], backend: str = "auto") -> list[ExampleFailure]:
    """Every example must yield its rule with exactly the expected secret; no negative may yield the rule."""
    engine = Engine(rules, backend=backend)
    failures: list[ExampleFailure] = []
    for rule in rules:
        if not rule.examples:
            failures.append(ExampleFailure(rule.id, rule.source, "example", "", "rule has no examples"))
        for example in rule.examples:
            secrets = [m.secret for m in engine.scan(example.text.encode()) if m.rule_id == rule.id]
            if example.secret not in secrets:
                detail = f"expected secret {example.secret!r}, got {secrets or 'no match'}"
                failures.append(ExampleFailure(rule.id, rule.source, "example", example.text, detail))
        for negative in rule.negatives:
            secrets = [m.secret for m in engine.scan(negative.encode()) if m.rule_id == rule.id]
            if secrets:
                failures.append(ExampleFailure(rule.id, rule.source, "negative", negative, f"matched {secrets}"))
    return failures
