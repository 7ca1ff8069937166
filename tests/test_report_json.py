"""The JSON report: a stable, documented document for programs."""
from __future__ import annotations

import json
import re
from pathlib import Path

import scanner
from scanner.models import Finding, Location, Provenance, ScanStats, ScanTarget, Severity
from scanner.report import render
from scanner.report.json_report import SCHEMA_ID, render_json
from scanner.rules import Rule

SECRET = "q7RvZ2LmX8kPw"
TARGET = ScanTarget(command="dir", roots=("/home/dev/trading-bot",), hostname="build-01")
RULES: dict[str, Rule] = {}
SCHEMA_DOC = Path(scanner.__file__).parent / "report" / "JSON_SCHEMA.md"
# Objects whose keys are data (skip reasons, note names), not fields to document one by one.
MAPS = {"summary.skipped", "summary.skipped_paths", "summary.notes", "summary.findings_by_severity",
        "findings[].source.extra"}


def make_finding(*, secret: str = SECRET, path: str = "deploy/compose.yml", line: int = 3,
                 provenance: Provenance | None = None, **changes) -> Finding:
    line_text = f"  TWS_PASSWORD: {secret}\n"
    values = dict(
        rule_id="ibkr-tws-password", title="IBKR TWS password", severity=Severity.CRITICAL,
        tags=("ibkr", "password"), secret=secret, location=Location(line, 17, line, 17 + len(secret)),
        line_text=line_text, entropy=3.70049, confidence=0.95123, fingerprint=f"fp:{path}:{len(secret)}",
        provenance=provenance or Provenance(kind="file", path=path, root=TARGET.roots[0]),
    )
    values.update(changes)
    return Finding(**values)


def git_finding() -> Finding:
    return make_finding(provenance=Provenance(
        kind="git", path="config/prod.env", root="/repo", commit="0123456789abcdef0123456789abcdef01234567",
        author="Jane Trader <jane@example.com>", date="2024-03-01T12:00:00+00:00", extra=(("ref", "main"),)),
        severity=Severity.HIGH, decoded="base64", detectors=("regex", "base64"))


def make_stats() -> ScanStats:
    stats = ScanStats(files_scanned=12, bytes_scanned=345_678, duration_s=0.123456)
    stats.skip("binary", "z.png")
    stats.skip("binary", "a.png")
    stats.skip("too-large", "dump.sql")
    stats.note("decoded-latin-1", 2)
    return stats


def document(findings, **kwargs) -> dict:
    return json.loads(render_json(findings, make_stats(), TARGET, RULES, **kwargs))


def test_top_level_document():
    doc = document([make_finding()])
    assert doc["schema"] == SCHEMA_ID == "https://brokerscan.dev/schemas/findings-v1.json"
    assert doc["version"] == scanner.__version__
    assert doc["target"] == {"command": "dir", "roots": ["/home/dev/trading-bot"], "hostname": "build-01"}
    assert set(doc) == {"schema", "version", "target", "findings", "summary"}


def test_finding_fields():
    (finding,) = document([make_finding()])["findings"]
    assert finding == {
        "rule_id": "ibkr-tws-password", "title": "IBKR TWS password", "severity": "critical",
        "tags": ["ibkr", "password"], "confidence": 0.95, "entropy": 3.7, "path": "deploy/compose.yml",
        "line": 3, "column": 17, "end_line": 3, "end_column": 30, "secret": "q7R****", "redacted": True,
        "snippet": "  TWS_PASSWORD: q7R****", "fingerprint": "fp:deploy/compose.yml:13",
        "detectors": ["regex"], "decoded": None,
        "source": {"kind": "file", "commit": None, "author": None, "date": None,
                   "root": "/home/dev/trading-bot", "extra": {}},
    }


def test_git_finding_source():
    (finding,) = document([git_finding()])["findings"]
    assert finding["source"] == {"kind": "git", "commit": "0123456789abcdef0123456789abcdef01234567",
                                 "author": "Jane Trader <jane@example.com>", "date": "2024-03-01T12:00:00+00:00",
                                 "root": "/repo", "extra": {"ref": "main"}}
    assert finding["decoded"] == "base64"
    assert finding["detectors"] == ["regex", "base64"]


def test_summary_has_every_severity_and_skips():
    summary = document([make_finding(), git_finding()])["summary"]
    assert summary == {
        "files_scanned": 12, "bytes_scanned": 345_678, "files_skipped": 3,
        "skipped": {"binary": 2, "too-large": 1}, "notes": {"decoded-latin-1": 2}, "duration_s": 0.123,
        "findings_by_severity": {"critical": 1, "high": 1, "medium": 0, "low": 0, "info": 0},
    }


def test_skipped_paths_only_when_verbose():
    assert "skipped_paths" not in document([])["summary"]
    assert document([], verbose=True)["summary"]["skipped_paths"] == {"binary": ["a.png", "z.png"],
                                                                      "too-large": ["dump.sql"]}


def test_output_is_stable_sorted_and_ascii():
    findings = [make_finding(), git_finding(), make_finding(path="konfiguration/zugangsdaten-ä.env")]
    first = render_json(findings, make_stats(), TARGET, RULES, verbose=True)
    assert first == render_json(findings, make_stats(), TARGET, RULES, verbose=True)
    assert first == json.dumps(json.loads(first), indent=2, sort_keys=True) + "\n"
    assert first.isascii() and "zugangsdaten-\\u00e4.env" in first


def test_secret_is_redacted_by_default_and_shown_on_request():
    findings = [make_finding(), git_finding()]
    hidden = render_json(findings, make_stats(), TARGET, RULES)
    assert SECRET not in hidden and hidden.count('"q7R****"') == 2
    shown = document(findings, show_secrets=True)["findings"][0]
    assert shown["secret"] == SECRET and shown["redacted"] is False
    assert shown["snippet"] == f"  TWS_PASSWORD: {SECRET}"


def test_nan_entropy_becomes_null_not_invalid_json():
    (finding,) = document([make_finding(entropy=float("nan"))])["findings"]
    assert finding["entropy"] is None


def _field_paths(value, prefix: str = "") -> set[str]:
    paths = set()
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else key
            paths.add(path)
            if path not in MAPS:
                paths |= _field_paths(item, path)
    elif isinstance(value, list):
        for item in value:
            paths |= _field_paths(item, prefix + "[]")
    return paths


def test_every_field_is_documented_in_json_schema_md():
    doc = document([make_finding(), git_finding()], verbose=True)
    documented = set(re.findall(r"^\| `([^`]+)` \|", SCHEMA_DOC.read_text(encoding="utf-8"), re.MULTILINE))
    assert _field_paths(doc) == documented


def test_render_dispatches_to_json():
    assert render("json", [make_finding()], make_stats(), TARGET, RULES, verbose=True) == \
        render_json([make_finding()], make_stats(), TARGET, RULES, verbose=True)
