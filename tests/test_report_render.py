"""What holds for every format: ``render`` dispatch, redaction, and a cheap import for pre-commit runs."""
from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest

from scanner.models import Finding, Location, Provenance, ScanStats, ScanTarget, Severity
from scanner.report import FORMATS, render

SECRET = "q7RvZ2LmX8kPw"
PROJECT_ROOT = Path(__file__).resolve().parents[1]
TARGET = ScanTarget(command="dir", roots=("/home/dev/trading-bot",), hostname="build-01")
KEY_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"


def make_finding(*, secret: str = SECRET, line_text: str | None = None, location: Location | None = None,
                 **changes) -> Finding:
    line_text = f"  TWS_PASSWORD: {secret}" if line_text is None else line_text
    column = max(line_text.find(secret), 0) + 1
    values = dict(
        rule_id="ibkr-tws-password", title="IBKR TWS password", severity=Severity.CRITICAL, tags=("ibkr",),
        secret=secret, location=location or Location(3, column, 3, column + len(secret)), line_text=line_text,
        entropy=3.7, confidence=0.95, fingerprint="fp-1",
        provenance=Provenance(kind="git", path="deploy/compose.yml", root=TARGET.roots[0], commit="c0ffee" * 6,
                              author="Jane", date="2024-03-01T12:00:00+00:00"),
    )
    values.update(changes)
    return Finding(**values)


def findings() -> list[Finding]:
    encoded = base64.b64encode(f"password={SECRET}".encode()).decode()
    decoded_line = f"IB_CONFIG={encoded}"
    start = decoded_line.index(encoded) + 1
    pem_secret = f"-----BEGIN PRIVATE KEY-----\n{KEY_BODY}\n-----END PRIVATE KEY-----"
    return [
        make_finding(),
        make_finding(line_text=decoded_line, decoded="base64",
                     location=Location(5, start, 5, start + len(encoded))),
        make_finding(secret=pem_secret, line_text=f"IBIND_OAUTH1A_SIGNATURE_KEY='{KEY_BODY}",
                     location=Location(8, 30, 10, 26)),
    ]


def every_output(show_secrets: bool) -> dict[str, str]:
    return {fmt: render(fmt, findings(), ScanStats(files_scanned=1), TARGET, {}, show_secrets=show_secrets,
                        explain=True, verbose=True) for fmt in FORMATS}


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_secret_in_any_format_by_default(fmt):
    output = every_output(show_secrets=False)[fmt]
    encoded = base64.b64encode(f"password={SECRET}".encode()).decode()
    for leaked in (SECRET, encoded, encoded[4:], KEY_BODY, KEY_BODY[4:]):
        assert leaked not in output
    assert "q7R****" in output


@pytest.mark.parametrize("fmt", FORMATS)
def test_secret_in_every_format_when_asked(fmt):
    output = every_output(show_secrets=True)[fmt]
    assert SECRET in output and KEY_BODY in output


def test_unknown_format_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown report format 'xml'; expected one of: text, json, sarif"):
        render("xml", [], ScanStats(), TARGET, {})


def test_importing_the_package_loads_no_format_module():
    code = ("import sys, scanner.report; "
            "print(sorted(m for m in sys.modules if m.startswith(('sarif_om', 'attr', 'scanner.report.'))))")
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_line_with_two_secrets_shows_neither_in_either_finding(fmt):
    """``docker run -e TWS_USERID=… -e TWS_PASSWORD=…``: each finding masked its own secret and
    printed the other's in full in its snippet."""
    user, password = "qxvbn417", "Rz4kP9wmT2xq"
    line = f"docker run -e TWS_USERID={user} -e TWS_PASSWORD={password} ib-gateway"
    pair = [make_finding(secret=user, line_text=line, fingerprint="fp-user"),
            make_finding(secret=password, line_text=line, fingerprint="fp-password")]
    out = render(fmt, pair, ScanStats(files_scanned=1), TARGET, {})
    assert user not in out and password not in out
    shown = render(fmt, pair, ScanStats(files_scanned=1), TARGET, {}, show_secrets=True)
    assert user in shown and password in shown


def test_a_neighbour_is_masked_without_moving_a_finding_placed_by_columns():
    """A decoded value is masked by its columns in the line: masking a neighbour before it
    must keep those columns where they were."""
    encoded = base64.b64encode(f"password={SECRET}".encode()).decode()
    line = f"IB_USER=qxvbn417 IB_CONFIG={encoded}"
    start = line.index(encoded) + 1
    pair = [make_finding(secret="qxvbn417", line_text=line, fingerprint="fp-user"),
            make_finding(line_text=line, decoded="base64", location=Location(5, start, 5, start + len(encoded)))]
    out = render("json", pair, ScanStats(files_scanned=2), TARGET, {})
    assert "qxvbn417" not in out and encoded not in out and encoded[:12] not in out
