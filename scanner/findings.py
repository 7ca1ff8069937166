"""Matches become Findings: rule metadata, provenance and a stable fingerprint.

The fingerprint is what baselines and GitHub (``partialFingerprints``) use to
recognise the same leak across runs. It is built from the rule id, a hash of the
secret and the path, never the line number, so it survives unrelated edits that
move lines, and never the raw secret. It is unsalted so that it stays stable, which
means a value with few possibilities (an account id) can be found from it by trying
them all: docs/git.md says what that means for committed baselines.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping

from .models import Finding, Match, Provenance
from .rules import Rule


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()


def fingerprint(rule_id: str, secret: str, path: str) -> str:
    material = "\0".join((rule_id, secret_hash(secret), path))
    return hashlib.sha256(material.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def to_finding(match: Match, rule: Rule, provenance: Provenance, occurrence: int = 1) -> Finding:
    """``occurrence`` counts earlier matches of the same rule and secret in the same blob:
    the n-th one gets ``:n`` appended to its fingerprint so each stays a distinct alert."""
    base = fingerprint(rule.id, match.secret, provenance.path)
    return Finding(
        rule_id=rule.id,
        title=rule.title,
        severity=rule.severity,
        tags=rule.tags,
        secret=match.secret,
        location=match.location,
        line_text=match.line_text,
        entropy=match.entropy,
        confidence=match.confidence,
        fingerprint=base if occurrence == 1 else f"{base}:{occurrence}",
        provenance=provenance,
        decoded=match.decoded,
        detectors=match.detectors,
    )


def to_findings(matches: list[Match], rules: Mapping[str, Rule], provenance: Provenance) -> list[Finding]:
    seen: dict[tuple[str, str], int] = {}
    findings = []
    for m in matches:
        key = (m.rule_id, m.secret)
        seen[key] = seen.get(key, 0) + 1
        findings.append(to_finding(m, rules[m.rule_id], provenance, seen[key]))
    return findings
