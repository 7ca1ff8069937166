"""The text report: what a person sees in a terminal or a CI log."""
from __future__ import annotations

import base64
import re

import pytest

from scanner.models import Finding, Location, Provenance, ScanStats, ScanTarget, Severity
from scanner.report import render
from scanner.report.text import human_bytes, render_text
from scanner.rules import Rule

SECRET = "q7RvZ2LmX8kPw"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
TARGET = ScanTarget(command="dir", roots=("/home/dev/trading-bot",), hostname="build-01")
RULES = {
    "ibkr-tws-password": Rule(
        id="ibkr-tws-password", title="IBKR TWS password", description="A TWS login password.",
        severity=Severity.CRITICAL, tags=("ibkr", "password"), keywords=("tws",), regex=r"(?P<secret>\S+)",
        help="Change the password in Client Portal.\nThen purge it from git history."),
    "ibeam-key": Rule(
        id="ibeam-key", title="IBeam Fernet key", description="Decrypts IBEAM_PASSWORD.",
        severity=Severity.HIGH, tags=("ibkr", "ibeam"), keywords=("ibeam_key",), regex=r"(?P<secret>\S+)",
        help="Generate a new key and re-encrypt the password."),
}


def make_finding(rule_id: str = "ibkr-tws-password", *, secret: str = SECRET, path: str = "deploy/compose.yml",
                 line: int = 3, line_text: str | None = None, provenance: Provenance | None = None,
                 **changes) -> Finding:
    rule = RULES[rule_id]
    line_text = f"  TWS_PASSWORD: {secret}" if line_text is None else line_text
    column = max(line_text.find(secret), 0) + 1
    values = dict(
        rule_id=rule_id, title=rule.title, severity=rule.severity, tags=rule.tags, secret=secret,
        location=Location(line, column, line, column + len(secret)), line_text=line_text,
        entropy=3.7004, confidence=0.951, fingerprint=f"{rule_id}:{path}",
        provenance=provenance or Provenance(kind="file", path=path, root=TARGET.roots[0]),
    )
    values.update(changes)
    return Finding(**values)


def make_stats() -> ScanStats:
    stats = ScanStats(files_scanned=1234, bytes_scanned=12_300_000, duration_s=1.5)
    for path in ("img/logo.png", "fonts/a.woff", "img/bg.jpg"):
        stats.skip("binary", path)
    stats.skip("too-large", "db/dump.sql")
    stats.note("decoded-latin-1", 2)
    return stats


def text(findings, **kwargs) -> str:
    return render_text(findings, make_stats(), TARGET, RULES, **kwargs)


def test_findings_are_grouped_under_their_file():
    output = text([make_finding(line=3), make_finding("ibeam-key", line=7, secret="Zm9vYmFyYmF6cXV4"),
                   make_finding(path="scripts/login.py", line=1)])
    assert output.count("deploy/compose.yml") == 1
    assert output.index("deploy/compose.yml") < output.index("3:17") < output.index("7:17") \
        < output.index("scripts/login.py")
    assert "CRITICAL  IBKR TWS password [ibkr-tws-password]  3:17" in output
    assert "HIGH      IBeam Fernet key [ibeam-key]  7:17" in output
    assert "TWS_PASSWORD: q7R****" in output
    assert "entropy 3.70, confidence 0.95" in output


def test_git_findings_show_short_commit_author_and_date():
    provenance = Provenance(kind="git", path="config/prod.env", root="/repo",
                            commit="0123456789abcdef0123456789abcdef01234567",
                            author="Jane Trader", date="2024-03-01T12:00:00+00:00")
    output = text([make_finding(provenance=provenance)])
    assert "config/prod.env  (commit 0123456, Jane Trader, 2024-03-01T12:00:00+00:00)" in output
    assert "0123456789abcdef" not in output


def test_same_path_in_two_commits_is_two_groups():
    def at(commit):
        return Provenance(kind="git", path="prod.env", root="/repo", commit=commit)
    output = text([make_finding(provenance=at("a" * 40)), make_finding(provenance=at("b" * 40))])
    assert "prod.env  (commit aaaaaaa)" in output and "prod.env  (commit bbbbbbb)" in output


def test_decoded_finding_says_so_and_masks_the_encoded_value():
    encoded = base64.b64encode(f"TWS_PASSWORD={SECRET}".encode()).decode()
    line = f"payload: {encoded}"
    start = line.index(encoded) + 1
    finding = make_finding(line_text=line, decoded="base64", location=Location(1, start, 1, start + len(encoded)))
    output = text([finding])
    assert "decoded from base64" in output
    assert encoded not in output and encoded[5:] not in output and SECRET not in output
    assert "payload: VFd****" in output


def test_secret_is_redacted_by_default_and_shown_on_request():
    assert SECRET not in text([make_finding()])
    assert f"TWS_PASSWORD: {SECRET}" in text([make_finding()], show_secrets=True)


def test_long_lines_are_cut_around_the_secret():
    line = "config = {'blob': '" + "a" * 400 + "', 'tws': '" + SECRET + "', 'more': '" + "b" * 400 + "'}"
    output = text([make_finding(line_text=line)])
    (snippet,) = [row for row in output.splitlines() if "q7R****" in row]
    assert len(snippet.strip()) <= 170
    assert snippet.strip().startswith("...") and snippet.strip().endswith("...")


def test_no_color_codes_unless_asked():
    findings = [make_finding(), make_finding("ibeam-key", path="b.env")]
    assert not ANSI.search(text(findings, color=False))
    colored = text(findings, color=True)
    assert "\x1b[1;31mCRITICAL" in colored and "\x1b[31mHIGH" in colored


@pytest.mark.parametrize("severity, code", [(Severity.MEDIUM, "\x1b[33m"), (Severity.LOW, "\x1b[36m"),
                                            (Severity.INFO, "\x1b[2m")])
def test_severity_colors(severity, code):
    assert f"{code}{severity.value.upper()}" in text([make_finding(severity=severity)], color=True)


def test_scanned_content_cannot_inject_terminal_escapes():
    hostile = "TWS_PASSWORD: " + SECRET + " \x1b[2J\x1b]0;pwned\x07 \u202eevil"
    output = text([make_finding(line_text=hostile, path="evil\x1b[31m.env")], color=False)
    assert "\x1b" not in output and "\u202e" not in output and "\x07" not in output
    assert "\\x1b[2J" in output and "\\u202e" in output


def test_explain_prints_each_rules_help_once():
    findings = [make_finding(line=3), make_finding(line=9), make_finding("ibeam-key", path="b.env")]
    assert "Client Portal" not in text(findings)
    output = text(findings, explain=True)
    assert output.count("Change the password in Client Portal.") == 1
    assert output.count("Then purge it from git history.") == 1
    assert output.count("Generate a new key") == 1
    assert output.index("Client Portal") < output.index("9:17")


def test_summary_counts_files_bytes_speed_skips_and_notes():
    output = text([])
    assert "Scanned 1,234 files, 12.3 MB in 1.50 s (8.2 MB/s)." in output
    assert "Skipped 4 files: 3 binary, 1 too-large." in output
    assert "Notes: decoded-latin-1 (2)." in output
    assert "img/logo.png" not in output
    assert output.endswith("No leaks found.\n")


def test_verbose_lists_skipped_paths():
    stats = make_stats()
    stats.skipped["binary"] = 5  # more skips than examples kept
    output = render_text([], stats, TARGET, RULES, verbose=True)
    assert "    fonts/a.woff\n    img/bg.jpg\n    img/logo.png\n    ... and 2 more" in output
    assert "    db/dump.sql" in output


def test_last_line_counts_findings_by_severity():
    findings = [make_finding(), make_finding(line=4), make_finding("ibeam-key", path="b.env")]
    assert text(findings).splitlines()[-1] == "3 findings (2 critical, 1 high)"
    assert text([make_finding()]).splitlines()[-1] == "1 finding (1 critical)"


def test_zero_duration_prints_no_throughput():
    output = render_text([], ScanStats(), ScanTarget(command="stdin", roots=("",)), RULES)
    assert output.splitlines()[0] == "Scanned 0 files, 0 B in 0.00 s."


@pytest.mark.parametrize("size, shown", [(0, "0 B"), (999, "999 B"), (1_000, "1.0 kB"), (12_345_678, "12.3 MB"),
                                         (4_200_000_000, "4.2 GB")])
def test_human_bytes(size, shown):
    assert human_bytes(size) == shown


def test_render_dispatches_to_text():
    assert render("text", [make_finding()], make_stats(), TARGET, RULES) == text([make_finding()])


def test_each_finding_says_which_detectors_found_it():
    output = text([make_finding(), make_finding(line=9, detectors=("regex", "ast"))])
    assert "found by regex\n" in output and "found by regex and ast" in output


def test_a_notebook_finding_names_its_cell_and_part():
    notebook = Provenance(kind="file", path="notebooks/fills.ipynb", root=TARGET.roots[0],
                          extra=(("cell", "3"), ("cell_part", "output")))
    assert "cell 3 output" in text([make_finding(provenance=notebook)])


def test_a_history_finding_says_how_long_it_lived_and_whether_head_still_has_it():
    gone = Provenance(kind="git", path="config.ini", root="/repo", commit="a1b2c3d4e5f6", author="Ada",
                      date="2024-06-01T10:00:00+00:00",
                      extra=(("blob", "f" * 40), ("commits_carrying", "12"), ("in_head", "false")))
    here = Provenance(kind="git", path="config.ini", root="/repo", commit="b1b2c3d4e5f6", author="Ada",
                      date="2024-06-02T10:00:00+00:00",
                      extra=(("blob", "e" * 40), ("commits_carrying", "1"), ("in_head", "true")))
    output = text([make_finding(provenance=gone), make_finding(line=4, provenance=here)])
    assert "in 12 commits, no longer in HEAD" in output
    assert "in 1 commit," in output and output.count("no longer in HEAD") == 1
