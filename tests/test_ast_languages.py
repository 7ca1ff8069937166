"""Per-language fixtures (fixtures/ast/): exact findings with the AST stage, and what it removes.

Each fixture holds hardcoded credentials and the look-alikes that fool regexes: env
lookups, secret-store references, type annotations, parameters, comparisons,
metadata names (``token_type``, ``*_FILE``), test data. The rules are
``rules/ast.toml`` plus ``fixtures/ast/naive-regex.toml``, a deliberately naive
generic regex of the kind generic scanners ship, so the expectations do not move
when the IBKR pack changes.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from scanner.models import Blob, Provenance, ScanStats
from scanner.rules import load_rules
from scanner.scan import BlobScanner, ScanOptions

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures" / "ast"
RULES = load_rules([ROOT / "rules" / "ast.toml", FIXTURES / "naive-regex.toml"], bundled=False)
R, A, RA = "regex", "ast", "regex+ast"

# (line, rule, detectors, secret) per fixture; everything else in the file is a look-alike.
EXPECTED = {
    "python/settings.py": [
        (3, "naive-account", R, "U4829173"),  # in the module docstring: downgraded
        (13, "naive-credential", RA, "Vx7-qLm2-Rt9"),
        (14, "naive-credential", RA, "k3Jq9ZmX2vL8pR4w"),
        (15, "naive-credential", RA, "t7#Qp9!zLw"),  # keyword argument
        (16, "hardcoded-credential", A, "hN4s8Lq2Zx7Vm3Kp"),  # dict key X-Api-Key: no regex sees it
        (17, "ibkr-client-literal-credential", A, "Tw5-Zq9r-Lk2"),  # os.environ["TWS_PASSWORD"] = ...
        (18, "naive-credential", RA, "Gw7#kq2LmZ"),  # IBC(password=...)
        (19, "naive-credential", RA, "a7f3e9c1b5d24f68e0a1"),  # OAuth1aConfig(access_token=...)
        (20, "naive-account", RA, "U4829173"),  # IbkrClient(account_id=...)
        (21, "ibkr-client-literal-credential", A, "482917305518207394615023"),  # FlexReport(<token>, ...)
        (23, "naive-account", RA, "DU7305518"),  # ib.connect(..., account=...)
        (24, "hardcoded-credential", A, "Fallback-9Kq2"),  # os.getenv("DB_PASSWORD", <fallback>)
        (27, "naive-credential", RA, "Gq2LzX9mTb7Rk4Wc"),  # parameter default
        (37, "naive-credential", R, "Bearer"),  # token_type: metadata, downgraded
        (42, "naive-credential", R, "demouser"),  # IBKR's public demo: the AST keeps out, the regex's call
        (47, "naive-credential", R, "hunter2-Real"),  # comparison, downgraded
        (59, "naive-credential", RA, "Fx9-Kq2-Lm7v"),  # inside test_login(): lower confidence
    ],
    "javascript/config.js": [
        (3, "naive-credential", RA, "k4Lm9QzR2vX8pT6w"),
        (7, "naive-credential", RA, "cS7-Qk2z-Lm9w-Xp4"),
        (9, "naive-credential", RA, "Jr5!mQ2kLz"),
        (11, "naive-credential", RA, "Dflt-7Kq2Lm"),
        (12, "naive-credential", R, "hunter2-Real"),
    ],
    "typescript/client.ts": [
        (8, "hardcoded-credential", A, "Ts9-Lq2m-Zk7r"),
        (11, "hardcoded-credential", A, "Qm4Zx8Lk2Vr7Tp9w"),
    ],
    "java/Settings.java": [
        (7, "naive-credential", RA, "Zr8!kq2Lm"),
        (12, "hardcoded-credential", A, "Pj6-Lq9z-Km2"),  # props.put("password", ...)
        (13, "naive-credential", RA, "Ak3Zq9Lm2Xv7Rt4w"),
    ],
    "go/main.go": [
        (6, "naive-credential", RA, "Gk7Zq2Lm9Xv4Rt8w"),
        (15, "hardcoded-credential", A, "Go5-Lq2m-Zk9r"),  # password := "..."
        (16, "naive-credential", RA, "Cf3-Zq8L-mK2"),  # struct field
        (17, "naive-credential", R, "hunter2-Real"),
    ],
    "csharp/Settings.cs": [
        (6, "naive-credential", RA, "Cs4-Lq9z-Mk2"),
        (7, "hardcoded-credential", A, "Cs7Zq2Lm9Xv4Rt8w"),  # auto-property initializer
        (12, "naive-credential", RA, "Sc2-Zq7L-mK9x"),  # object initializer
        (13, "naive-credential", R, "hunter2-Real"),
    ],
    "bash/deploy.sh": [
        (3, "naive-credential", RA, "Tw8-Kq2z-Lm4"),
        (4, "naive-credential", RA, "At5Zq9Lm2Xv7Rk4w"),
        (7, "naive-credential", RA, "Ib7-Qz2k-Lm9"),  # docker run -e NAME=value
        (8, "naive-credential", R, "hunter2-Real"),
    ],
    "yaml/docker-compose.yml": [
        (7, "naive-credential", RA, "Yc6-Kq2z-Lm8"),
        (14, "naive-credential", RA, "Ib3-Kq9z-Lm2"),  # environment: - NAME=value
    ],
    "yaml/workflow.yml": [
        (9, "naive-credential", RA, "Wf4Zq9Lm2Xv7Rk8w"),
    ],
    "yaml/values.yaml": [
        (3, "naive-credential", RA, "Hv2-Kq8z-Lm5"),
        (4, "naive-credential", R, "db-credentials"),  # passwordSecretName: metadata
    ],
    "json/appsettings.json": [
        (3, "naive-credential", RA, "Js5-Kq2z-Lm8"),
        (4, "naive-credential", RA, "Jk7Zq2Lm9Xv4Rt8w"),
        (4, "naive-credential", R, "Bearer"),
    ],
    "toml/secrets.toml": [
        (3, "naive-credential", RA, "Tm4-Kq9z-Lm2"),
        (4, "naive-credential", R, "IB_PASSWORD"),  # password_env: metadata
        (7, "naive-credential", RA, "Tk8Zq2Lm9Xv4Rt7w"),
    ],
    "terraform/main.tf": [
        (3, "hardcoded-credential", A, "Pg7-kLq2-Zr9"),  # variable "db_password" { default = ... }
        (10, "naive-credential", RA, "Tf3Zq9Lm2Xv7Rk8w"),
    ],
    "terraform/prod.tfvars": [
        (2, "naive-credential", RA, "Tv6-Kq2z-Lm9"),
    ],
    "docker/Dockerfile": [
        (4, "naive-credential", RA, "Df5-Kq2z-Lm8"),
        (5, "hardcoded-credential", A, "Dk7Zq2Lm9Xv4Rt8w"),  # legacy ENV NAME value
        (8, "naive-credential", RA, "Rn4-Zq9k-Lm2"),  # RUN export NAME=value
    ],
    "ini/config.ini": [
        (4, "naive-credential", RA, "Ic9-Kq2z-Lm4"),  # IBC IbPassword=
        (6, "naive-credential", R, "old-value-here"),  # commented out: downgraded
    ],
    "dotenv/.env": [
        (2, "naive-credential", RA, "e3f9c1b5d24f68e0a1a7"),
        (4, "naive-credential", RA, "Ev4-Kq9z-Lm2"),
    ],
    "properties/application.properties": [
        (2, "naive-credential", RA, "Pr5-Kq2z-Lm9"),
    ],
}
# Regex matches that the AST stage drops: the naive regex read code as a value.
DROPPED = {
    "python/settings.py": {"os.environ.get(", "os.environ[", "os.getenv(", "vault_client.read(", "Optional[str",
                           "DEFAULT_PASSWORD"},
    "javascript/config.js": {"process.env.DB_PASSWORD", "readSecret("},
    "typescript/client.ts": {"string"},
    "java/Settings.java": {"System.getenv(", "props.getProperty("},
    "go/main.go": {"os.Getenv("},
    "csharp/Settings.cs": {"Environment.GetEnvironmentVariable("},
    "yaml/values.yaml": {"!vault"},
    "terraform/main.tf": {"var.db_password"},
}
# Absolute paths (``/run/secrets/tws_password``) never get this far: the shared filters drop them.
DOWNGRADED = {"hunter2-Real", "Bearer", "IB_PASSWORD", "db-credentials", "old-value-here", "U4829173"}


def scan(rel: str, *, min_confidence: float = 0.0):
    scanner = BlobScanner(RULES, ScanOptions(min_confidence=min_confidence))
    stats = ScanStats()
    findings = scanner.scan_blob(Blob((FIXTURES / rel).read_bytes(), Provenance("file", rel)), stats)
    return findings, stats


def summary(findings) -> list[tuple[int, str, str, str]]:
    return [(f.location.line, f.rule_id, "+".join(f.detectors), f.secret) for f in findings]


@pytest.mark.parametrize("rel", sorted(EXPECTED))
def test_exact_findings(rel):
    findings, stats = scan(rel)
    assert summary(findings) == EXPECTED[rel]
    assert not any("regex only" in note or "internal error" in note for note in stats.notes)


@pytest.mark.parametrize("rel", sorted(EXPECTED))
def test_regex_alone_reports_the_look_alikes_the_ast_drops(rel, monkeypatch):
    monkeypatch.setenv("BROKERSCAN_AST", "0")
    findings, _ = scan(rel)
    regex_only = {f.secret for f in findings}
    expected_regex = {secret for _, _, detectors, secret in EXPECTED[rel] if detectors != A}
    assert regex_only == expected_regex | DROPPED.get(rel, set())
    assert all(f.detectors == ("regex",) for f in findings)


@pytest.mark.parametrize("rel", sorted(EXPECTED))
def test_confidence_follows_the_ast_role(rel):
    findings, _ = scan(rel)
    for f in findings:
        if f.detectors == ("regex", "ast") and f.location.line != 59:
            assert f.confidence > 0.9, (f.location.line, f.secret)  # both detectors agree
        if f.detectors == ("regex",) and f.secret in DOWNGRADED:
            assert f.confidence < 0.7, (f.location.line, f.secret)


def test_min_confidence_drops_the_downgraded_look_alikes():
    findings, stats = scan("python/settings.py", min_confidence=0.6)
    secrets = {f.secret for f in findings}
    assert not secrets & {"hunter2-Real", "Bearer", "/run/secrets/tws_password", "Fallback-9Kq2"}
    assert {"Vx7-qLm2-Rt9", "Gw7#kq2LmZ", "482917305518207394615023"} <= secrets
    assert stats.notes["below --min-confidence"] >= 4


def test_test_data_is_lower_confidence_not_silence():
    findings, _ = scan("python/settings.py")
    by_secret = {f.secret: f for f in findings}
    assert 0.5 < by_secret["Fx9-Kq2-Lm7v"].confidence < by_secret["Vx7-qLm2-Rt9"].confidence


def test_ast_findings_point_at_the_value():
    findings, _ = scan("go/main.go")
    [finding] = [f for f in findings if f.detectors == ("ast",)]
    line = (FIXTURES / "go/main.go").read_text().splitlines()[finding.location.line - 1]
    assert line[finding.location.column - 1:finding.location.end_column - 1] == "Go5-Lq2m-Zk9r"
    assert finding.line_text.strip() == line.strip()


def test_parse_stops_at_a_syntax_error_and_the_parser_stays_usable():
    """A broken file gives no tree (regex-only); the next file parses from its own start,
    not from where the stopped parse left off."""
    from scanner.ast.languages import parse_unless_error, parser_for

    parser = parser_for("python")
    valid = b'PASSWORD = "s3cr3t-Value-42"\n' * 50
    broken = b"class :\n" + valid * 10
    assert parse_unless_error(parser, broken) is None
    tree = parse_unless_error(parser, valid)
    assert tree is not None and not tree.root_node.has_error
    assert tree.root_node.end_byte == len(valid) and len(tree.root_node.children) == 50
    assert str(tree.root_node) == str(parser.parse(valid).root_node)


def test_the_same_text_is_parsed_once_for_its_paths():
    """A history reports a blob at every path it lives at, judging it once per path: requests'
    history holds one test file at 75 paths. Equal bytes share a tree; other bytes do not."""
    from scanner.ast.languages import parse_unless_error, parser_for

    parser = parser_for("python")
    if parser is None:
        pytest.skip("python grammar not installed")
    text = b"password = 'Zq9Lk2mRt7Bg'\n"
    first = parse_unless_error(parser, bytes(text))
    assert parse_unless_error(parser, bytes(text)) is first  # an equal copy, as git reads it again
    other = parse_unless_error(parser, text.replace(b"Zq9", b"Zq8"))
    assert other is not first and other.root_node.end_byte == first.root_node.end_byte
