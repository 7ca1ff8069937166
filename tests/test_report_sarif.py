"""SARIF output: valid against the official 2.1.0 schema, and carrying what GitHub code scanning reads."""
from __future__ import annotations

import base64
import gzip
import json
from functools import cache
from pathlib import Path
from urllib.parse import unquote

import jsonschema
import pytest

from scanner.models import Finding, Location, Provenance, ScanStats, ScanTarget, Severity
from scanner.report import render
from scanner.report.sarif import FINGERPRINT_KEY, MAX_RESULTS, camel_case, render_sarif
from scanner.rules import Rule

SECRET = "q7RvZ2LmX8kPw"
ROOT = "/home/dev/trading-bot"
TARGET = ScanTarget(command="dir", roots=(ROOT,), hostname="build-01")

BUNDLED_SCHEMA = Path(__file__).resolve().parent / "data" / "sarif-schema-2.1.0.json"
SHARED_SCHEMA = Path(__file__).resolve().parents[2] / "shared" / "schemas" / "sarif-schema-2.1.0.json"
SCHEMAS = [BUNDLED_SCHEMA] + ([SHARED_SCHEMA] if SHARED_SCHEMA.exists() else [])

RULES = {
    "ibkr-tws-password": Rule(
        id="ibkr-tws-password", title="IBKR TWS password", description="A password for IBKR Trader Workstation.",
        severity=Severity.CRITICAL, tags=("ibkr", "password", "external/cwe/cwe-798"), keywords=("tws",),
        regex=r"(?P<secret>\S+)",
        help="## Rotate it\n\nChange the password in Client Portal, then remove it from history.",
        references=("https://www.interactivebrokers.com/en/software/tws/",), confidence=0.9),
    "ibkr-account-id": Rule(
        id="ibkr-account-id", title="IBKR account id", description="An IBKR account number (personal data).",
        severity=Severity.LOW, tags=("ibkr", "pii"), keywords=("account",), regex=r"(?P<secret>U\d{7})",
        help="An account id is not a secret, but it identifies a person.", confidence=0.6),
}


def make_finding(rule_id: str = "ibkr-tws-password", *, secret: str = SECRET, path: str = "deploy/compose.yml",
                 line: int = 3, line_text: str | None = None, provenance: Provenance | None = None,
                 **changes) -> Finding:
    rule = RULES.get(rule_id)
    line_text = f"  TWS_PASSWORD: {secret}" if line_text is None else line_text
    column = max(line_text.find(secret), 0) + 1
    values = dict(
        rule_id=rule_id, title=rule.title if rule else "Generic secret",
        severity=rule.severity if rule else Severity.MEDIUM, tags=rule.tags if rule else ("generic",),
        secret=secret, location=Location(line, column, line, column + len(secret)), line_text=line_text,
        entropy=3.7004, confidence=0.951, fingerprint=f"{rule_id}:{path}:fp",
        provenance=provenance or Provenance(kind="file", path=path, root=ROOT),
    )
    values.update(changes)
    return Finding(**values)


def make_stats() -> ScanStats:
    stats = ScanStats(files_scanned=12, bytes_scanned=345_678, duration_s=0.25)
    for path in ("logo.png", "data.bin", "font.woff"):
        stats.skip("binary", path)
    stats.skip("too-large", "dump.sql")
    stats.note("decoded-latin-1", 2)
    return stats


def sarif(findings, target=TARGET, **kwargs) -> dict:
    return json.loads(render_sarif(findings, make_stats(), target, RULES, **kwargs))


def git_finding() -> Finding:
    return make_finding(provenance=Provenance(kind="git", path="config/prod.env", root=ROOT,
                                              commit="0123456789abcdef0123456789abcdef01234567",
                                              author="Jane Trader <jane@example.com>",
                                              date="2024-03-01T12:00:00+00:00"))


def decoded_finding() -> Finding:
    encoded = base64.b64encode(f"TWS_PASSWORD={SECRET}".encode()).decode()
    line = f"payload: {encoded}"
    start = line.index(encoded) + 1
    return make_finding(line_text=line, decoded="base64",
                        location=Location(1, start, 1, start + len(encoded)), detectors=("regex", "base64"))


def many_findings(count: int) -> list[Finding]:
    severities = [Severity.LOW, Severity.CRITICAL, Severity.MEDIUM, Severity.HIGH, Severity.INFO]
    return [make_finding(path=f"src/file{i:05d}.py", line=i + 1, severity=severities[i % 5],
                         fingerprint=f"fp-{i}", secret=f"q7RvZ2LmX8kP{i:05d}") for i in range(count)]


SCENARIOS = {
    "directory root": lambda: sarif([make_finding(), make_finding("ibkr-account-id", secret="U1234567", line=9)]),
    "stdin": lambda: sarif([make_finding(provenance=Provenance(kind="stdin", path="<stdin>"))],
                           target=ScanTarget(command="stdin", roots=("",))),
    "git history": lambda: sarif([git_finding()], target=ScanTarget(command="git", roots=(ROOT,))),
    "git history with repository": lambda: sarif([git_finding()], target=ScanTarget(
        command="git", roots=(ROOT,), vcs=(("branch", "main"), ("repositoryUri", "https://github.com/o/r"),
                                           ("revisionId", "0123456789abcdef0123456789abcdef01234567")))),
    "decoded base64": lambda: sarif([decoded_finding()]),
    "zero findings": lambda: sarif([]),
    "truncated": lambda: sarif(many_findings(7), max_results=3),
    "archive member": lambda: sarif([make_finding(provenance=Provenance(
        kind="archive", path="backups/home.tar.gz!home/u/.env", root=ROOT))]),
    "unknown rule": lambda: sarif([make_finding("generic-password")]),
    "several roots": lambda: sarif(
        [make_finding(), make_finding(provenance=Provenance(kind="file", path="b.env", root="/srv/other"))],
        target=ScanTarget(command="dir", roots=(ROOT, "/srv/other"))),
    "odd paths": lambda: sarif([make_finding(path="deploy/docker compose (prod).yml"),
                                make_finding(path="konfiguration/zugangsdaten-ä.env"),
                                make_finding(provenance=Provenance(kind="file", path="/etc/ib/jts.ini"))]),
}


@cache
def validator(schema_path: Path) -> jsonschema.protocols.Validator:
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)  # the schema says draft-04
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def schema_errors(document: dict, schema_path: Path) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator(schema_path).iter_errors(document)]


def test_bundled_schema_copy_is_present_so_validation_never_skips():
    assert BUNDLED_SCHEMA.is_file()
    if SHARED_SCHEMA.exists():
        assert json.loads(BUNDLED_SCHEMA.read_text()) == json.loads(SHARED_SCHEMA.read_text())


@pytest.mark.parametrize("schema_path", SCHEMAS, ids=lambda p: p.parent.name)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_variant_is_valid_sarif(scenario, schema_path):
    document = SCENARIOS[scenario]()
    assert schema_errors(document, schema_path) == []


@pytest.mark.parametrize("schema_path", SCHEMAS, ids=lambda p: p.parent.name)
def test_schema_check_is_not_vacuous(schema_path):
    document = sarif([make_finding()])
    document["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
    del document["version"]
    assert len(schema_errors(document, schema_path)) == 2


def test_header_and_tool_driver():
    document = sarif([make_finding()])
    assert document["version"] == "2.1.0"
    assert document["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert list(document)[:2] == ["$schema", "version"]
    driver = document["runs"][0]["tool"]["driver"]
    assert driver["name"] == "brokerscan"
    assert driver["semanticVersion"] == driver["version"]
    assert driver["informationUri"].startswith("https://")


def test_rules_carry_what_github_reads():
    document = sarif([make_finding(), make_finding("ibkr-account-id", secret="U1234567")])
    rules = {r["id"]: r for r in document["runs"][0]["tool"]["driver"]["rules"]}
    tws = rules["ibkr-tws-password"]
    assert tws["name"] == "IbkrTwsPassword"
    assert tws["shortDescription"]["text"] == "IBKR TWS password"
    assert tws["fullDescription"]["text"] == "A password for IBKR Trader Workstation."
    assert tws["help"]["markdown"].startswith("## Rotate it")
    assert tws["help"]["text"]
    assert tws["helpUri"] == "https://www.interactivebrokers.com/en/software/tws/"
    assert tws["defaultConfiguration"]["level"] == "error"
    assert tws["properties"] == {"security-severity": "9.5", "precision": "high",
                                 "tags": ["security", "ibkr", "password", "external/cwe/cwe-798"]}
    account = rules["ibkr-account-id"]
    assert account["properties"]["security-severity"] == "3.0"
    assert account["properties"]["precision"] == "medium"
    assert account["defaultConfiguration"]["level"] == "note"
    assert "helpUri" not in account


def test_only_rules_with_findings_are_listed_and_indexes_match():
    document = sarif([make_finding("ibkr-account-id", secret="U1234567"), make_finding(),
                      make_finding("ibkr-account-id", secret="U7654321", line=8)])
    run = document["runs"][0]
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert sorted(rule_ids) == ["ibkr-account-id", "ibkr-tws-password"]
    for result in run["results"]:
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]


def test_unknown_rule_gets_a_descriptor_from_the_finding():
    document = sarif([make_finding("generic-password")])
    (rule,) = document["runs"][0]["tool"]["driver"]["rules"]
    assert rule["id"] == "generic-password"
    assert rule["shortDescription"]["text"] == "Generic secret"
    assert rule["properties"]["security-severity"] == "5.5"


def test_result_location_fingerprint_and_properties():
    finding = make_finding()
    (result,) = sarif([finding])["runs"][0]["results"]
    assert result["ruleId"] == "ibkr-tws-password"
    assert result["level"] == "error"
    assert result["partialFingerprints"] == {FINGERPRINT_KEY: finding.fingerprint}
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "deploy/compose.yml", "uriBaseId": "SRCROOT"}
    assert location["region"] == {"startLine": 3, "startColumn": 17, "endLine": 3, "endColumn": 30,
                                  "snippet": {"text": "  TWS_PASSWORD: q7R****"}}
    assert result["message"]["text"] == "IBKR TWS password `q7R****` in deploy/compose.yml"
    assert result["properties"] == {"severity": "critical", "confidence": 0.95, "entropy": 3.7,
                                    "detectors": ["regex"]}


def test_run_properties_and_directory_base_uri():
    run = sarif([make_finding()])["runs"][0]
    assert run["originalUriBaseIds"] == {"SRCROOT": {"uri": "file:///home/dev/trading-bot/"}}
    assert run["properties"] == {"hostname": "build-01", "command": "dir", "roots": [ROOT]}
    assert run["columnKind"] == "unicodeCodePoints"


def test_uris_are_percent_encoded_relative_paths():
    run = SCENARIOS["odd paths"]()["runs"][0]
    uris = [r["locations"][0]["physicalLocation"]["artifactLocation"] for r in run["results"]]
    assert uris[0] == {"uri": "deploy/docker%20compose%20%28prod%29.yml", "uriBaseId": "SRCROOT"}
    assert uris[1] == {"uri": "konfiguration/zugangsdaten-%C3%A4.env", "uriBaseId": "SRCROOT"}
    assert unquote(uris[1]["uri"]) == "konfiguration/zugangsdaten-ä.env"
    assert uris[2] == {"uri": "file:///etc/ib/jts.ini"}


def test_several_roots_get_their_own_base_ids():
    run = SCENARIOS["several roots"]()["runs"][0]
    assert run["originalUriBaseIds"] == {"SRCROOT": {"uri": "file:///home/dev/trading-bot/"},
                                         "SRCROOT2": {"uri": "file:///srv/other/"}}
    bases = [r["locations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"] for r in run["results"]]
    assert bases == ["SRCROOT", "SRCROOT2"]


def test_stdin_uses_a_stdin_uri_and_no_base_directory():
    run = SCENARIOS["stdin"]()["runs"][0]
    location = run["results"][0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "stdin"
    assert "originalUriBaseIds" not in run
    assert location["region"]["startLine"] == 3


def test_git_findings_carry_commit_author_and_date():
    (result,) = SCENARIOS["git history"]()["runs"][0]["results"]
    assert result["properties"]["commit"] == "0123456789abcdef0123456789abcdef01234567"
    assert result["properties"]["author"] == "Jane Trader <jane@example.com>"
    assert result["properties"]["date"] == "2024-03-01T12:00:00+00:00"
    assert "at commit 0123456" in result["message"]["text"]


def test_archive_member_is_drawn_on_the_archive_file():
    (result,) = SCENARIOS["archive member"]()["runs"][0]["results"]
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "backups/home.tar.gz"
    assert location["region"] == {"startLine": 1}
    assert result["properties"]["archiveMember"] == "home/u/.env"


def test_decoded_finding_is_marked_and_its_encoded_form_is_masked():
    finding = decoded_finding()
    text = render_sarif([finding], make_stats(), TARGET, RULES)
    (result,) = json.loads(text)["runs"][0]["results"]
    assert result["properties"]["decoded"] == "base64"
    assert result["properties"]["detectors"] == ["regex", "base64"]
    assert "(decoded from base64)" in result["message"]["text"]
    encoded = finding.line_text.split(": ", 1)[1]
    assert SECRET not in text and encoded not in text and encoded[6:] not in text


def test_zero_findings_still_reports_an_empty_result_list():
    run = SCENARIOS["zero findings"]()["runs"][0]
    assert run["results"] == []
    assert run["tool"]["driver"]["rules"] == []
    assert run["invocations"][0]["executionSuccessful"] is True


def test_skipped_files_and_notes_become_notifications():
    notifications = sarif([])["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    messages = [(n["level"], n["message"]["text"]) for n in notifications]
    assert messages == [("warning", "3 files skipped: binary"), ("warning", "1 file skipped: too-large"),
                        ("note", "decoded-latin-1: 2")]


def test_truncation_keeps_the_most_severe_and_says_how_many_were_dropped():
    findings = many_findings(7)  # LOW CRITICAL MEDIUM HIGH INFO LOW CRITICAL
    run = sarif(findings, max_results=3)["runs"][0]
    kept = [r["partialFingerprints"][FINGERPRINT_KEY] for r in run["results"]]
    assert kept == ["fp-1", "fp-3", "fp-6"]  # two criticals and the high, in original order
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert all(rule_ids[r["ruleIndex"]] == r["ruleId"] for r in run["results"])
    warning = run["invocations"][0]["toolExecutionNotifications"][0]
    assert warning["level"] == "warning"
    assert warning["message"]["text"].startswith("4 findings left out")
    assert warning["properties"]["count"] == 4


def test_truncation_keeps_the_gzip_size_within_the_limit():
    findings = many_findings(400)
    limit = 6_000
    text = render_sarif(findings, make_stats(), TARGET, RULES, max_gzip_bytes=limit)
    assert len(gzip.compress(text.encode())) <= limit
    run = json.loads(text)["runs"][0]
    assert 0 < len(run["results"]) < 400
    dropped = run["invocations"][0]["toolExecutionNotifications"][0]["properties"]["count"]
    assert dropped == 400 - len(run["results"])
    kept = {r["partialFingerprints"][FINGERPRINT_KEY] for r in run["results"]}
    kept_ranks = [f.severity.rank for f in findings if f.fingerprint in kept]
    dropped_ranks = [f.severity.rank for f in findings if f.fingerprint not in kept]
    assert min(kept_ranks) >= max(dropped_ranks)


def test_default_limit_is_githubs():
    assert MAX_RESULTS == 25_000
    assert len(sarif(many_findings(30))["runs"][0]["results"]) == 30


def test_secret_is_redacted_by_default_and_shown_on_request():
    findings = [make_finding(), git_finding()]
    hidden = render_sarif(findings, make_stats(), TARGET, RULES)
    shown = render_sarif(findings, make_stats(), TARGET, RULES, show_secrets=True)
    assert SECRET not in hidden and "q7R****" in hidden
    assert f"`{SECRET}`" in shown and f"TWS_PASSWORD: {SECRET}" in shown


def test_long_lines_are_cut_around_the_secret():
    line = "x = '" + "a" * 500 + "' ; TWS_PASSWORD=" + SECRET + " ; " + "b" * 500
    (result,) = sarif([make_finding(line_text=line)])["runs"][0]["results"]
    text = result["locations"][0]["physicalLocation"]["region"]["snippet"]["text"]
    assert "q7R****" in text and len(text) <= 170


def test_none_and_default_fields_are_dropped_but_levels_are_kept():
    text = render_sarif([make_finding()], make_stats(), TARGET, RULES)
    for absent in ('"rank"', '"kind"', '"language"', '"contents"', '"byteOffset"', "null"):
        assert absent not in text
    assert '"level": "warning"' in render_sarif([make_finding(severity=Severity.MEDIUM)],
                                                 ScanStats(), TARGET, RULES)


def test_render_dispatches_to_sarif_and_output_is_stable():
    first = render("sarif", [make_finding()], make_stats(), TARGET, RULES)
    assert first == render("sarif", [make_finding()], make_stats(), TARGET, RULES)
    assert first.endswith("}\n") and first.isascii()


@pytest.mark.parametrize("rule_id, name", [("ibkr-tws-password", "IbkrTwsPassword"),
                                           ("ibeam.pyotp_secret", "IbeamPyotpSecret")])
def test_camel_case(rule_id, name):
    assert camel_case(rule_id) == name
