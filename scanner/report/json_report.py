"""The JSON report: a documented, stable document for programs (schema in ``JSON_SCHEMA.md``).

Stable means: every key is always present (``null`` when unknown), keys are
sorted, floats are rounded, and the same input renders byte for byte the same
output. Output is ASCII-only (``\\u`` escapes), so it survives any console
encoding and file names that are not valid UTF-8.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from .. import __version__
from ..models import Finding, ScanStats, ScanTarget
from ..rules import Rule
from . import count_by_severity, masked_line, rounded, shown_secret

SCHEMA_ID = "https://brokerscan.dev/schemas/findings-v1.json"


def render_json(findings: Sequence[Finding], stats: ScanStats, target: ScanTarget,
                rules: Mapping[str, Rule], *, show_secrets: bool = False,
                verbose: bool = False) -> str:
    """The findings document as indented JSON text, ending with a newline."""
    document = findings_document(findings, stats, target, show_secrets=show_secrets, verbose=verbose)
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=True, allow_nan=False) + "\n"


def findings_document(findings: Sequence[Finding], stats: ScanStats, target: ScanTarget, *,
                      show_secrets: bool = False, verbose: bool = False) -> dict[str, Any]:
    """The document as plain Python values (what ``render_json`` serializes)."""
    return {
        "schema": SCHEMA_ID,
        "version": __version__,
        "target": {
            "command": target.command,
            "roots": list(target.roots),
            "hostname": target.hostname,
        },
        "findings": [_finding(f, show_secrets) for f in findings],
        "summary": _summary(findings, stats, verbose),
    }


def _finding(finding: Finding, show_secrets: bool) -> dict[str, Any]:
    loc = finding.location
    p = finding.provenance
    return {
        "rule_id": finding.rule_id,
        "title": finding.title,
        "severity": finding.severity.value,
        "tags": list(finding.tags),
        "confidence": rounded(finding.confidence, 2),
        "entropy": rounded(finding.entropy, 2),
        "path": p.path,
        "line": loc.line,
        "column": loc.column,
        "end_line": loc.end_line,
        "end_column": loc.end_column,
        "secret": shown_secret(finding, show_secrets),
        "redacted": not show_secrets,
        "snippet": masked_line(finding, show_secrets)[0].rstrip("\r\n"),
        "fingerprint": finding.fingerprint,
        "detectors": list(finding.detectors),
        "decoded": finding.decoded,
        "source": {
            "kind": p.kind,
            "commit": p.commit,
            "author": p.author,
            "date": p.date,
            "root": p.root,
            "extra": dict(p.extra),
        },
    }


def _summary(findings: Sequence[Finding], stats: ScanStats, verbose: bool) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "files_scanned": stats.files_scanned,
        "bytes_scanned": stats.bytes_scanned,
        "files_skipped": stats.files_skipped,
        "skipped": dict(stats.skipped),
        "notes": dict(stats.notes),
        "duration_s": rounded(stats.duration_s, 3),
        "findings_by_severity": {s.value: n for s, n in count_by_severity(findings).items()},
    }
    if verbose:
        summary["skipped_paths"] = {reason: sorted(paths) for reason, paths in stats.skipped_paths.items()}
    return summary
