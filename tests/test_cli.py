"""The installed command, run as a user runs it: exit codes, redaction, formats, errors."""
from __future__ import annotations

import json
from pathlib import Path

from conftest import run_cli

DATA = Path(__file__).parent / "data"
CUSTOM = str(DATA / "custom-rules.toml")
TOKEN = "acmedesk_Q7rV2lMz8KpW4nXt9BcD"


def test_version_and_help():
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.startswith(b"brokerscan ")
    assert run_cli("dir", "--help").returncode == 0


def test_findings_exit_1_and_are_redacted_by_default(tmp_path, write):
    write("app.py", f"token = '{TOKEN}'\n")
    for fmt in ("text", "json", "sarif"):
        result = run_cli("dir", ".", "--rules", CUSTOM, "--format", fmt, cwd=tmp_path)
        assert result.returncode == 1, result.stderr
        assert TOKEN not in result.stdout.decode(), fmt
        assert b"acm****" in result.stdout


def test_show_secrets_reveals_them(tmp_path, write):
    write("app.py", f"token = '{TOKEN}'\n")
    result = run_cli("dir", ".", "--rules", CUSTOM, "--show-secrets", "-f", "json", cwd=tmp_path)
    [finding] = json.loads(result.stdout)["findings"]
    assert finding["secret"] == TOKEN and finding["path"] == "app.py" and finding["line"] == 1


def test_clean_tree_exits_0_and_exit_code_is_configurable(tmp_path, write):
    write("app.py", "x = 1\n")
    assert run_cli("dir", ".", "--rules", CUSTOM, cwd=tmp_path).returncode == 0
    write("leak.py", f"token = '{TOKEN}'\n")
    assert run_cli("dir", ".", "--rules", CUSTOM, "--exit-code", "7", cwd=tmp_path).returncode == 7


def test_output_file_and_short_summary_on_stderr(tmp_path, write):
    write("app.py", f"token = '{TOKEN}'\n")
    result = run_cli("dir", ".", "--rules", CUSTOM, "-f", "sarif", "-o", "out.sarif", cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == b""
    assert b"1 finding" in result.stderr
    sarif = json.loads((tmp_path / "out.sarif").read_text())
    assert sarif["runs"][0]["results"][0]["ruleId"] == "acme-desk-token"


def test_stdin(tmp_path):
    result = run_cli("stdin", "--rules", CUSTOM, "-f", "json", stdin=f"t = '{TOKEN}'\n".encode())
    assert result.returncode == 1
    [finding] = json.loads(result.stdout)["findings"]
    assert finding["path"] == "<stdin>"


def test_malformed_rule_file_exits_2_naming_file_and_line(tmp_path, write):
    bad = write("bad.toml", '[[rules]]\nid = "ok-rule"\ntitle = "t"\n\n[[rules]]\nid = "Bad Id"\n')
    result = run_cli("dir", ".", "--rules", str(bad), cwd=tmp_path)
    assert result.returncode == 2
    assert f"{bad}:1:".encode() in result.stderr or f"{bad}:5:".encode() in result.stderr
    assert b"Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1


def test_rule_regex_error_names_the_rule(tmp_path, write):
    text = (DATA / "custom-rules.toml").read_text().replace("(?P<secret>acmedesk_", "(?P<secret>(acmedesk_")
    bad = write("bad.toml", text)
    result = run_cli("rules", "test", str(bad))
    assert result.returncode == 2 and b"acme-desk-token" in result.stderr and b"does not compile" in result.stderr


def test_bad_config_exits_2(tmp_path, write):
    write(".brokerscan.toml", "exclude = ['a']\nallowlist = []\n")
    result = run_cli("dir", ".", cwd=tmp_path)
    assert result.returncode == 2
    assert b".brokerscan.toml:2: allowlist: unknown key" in result.stderr


def test_usage_errors_exit_2(tmp_path):
    assert run_cli("dir", cwd=tmp_path).returncode == 2
    assert run_cli("dir", "does-not-exist", cwd=tmp_path).returncode == 2
    assert run_cli("dir", ".", "--max-file-size", "lots", cwd=tmp_path).returncode == 2
    assert run_cli("nonsense").returncode == 2


def test_config_excludes_and_inline_ignores(tmp_path, write):
    write(".brokerscan.toml", "exclude = ['fixtures/**', 'rules/']\nrules = ['rules/custom.toml']\n")
    write("rules/custom.toml", (DATA / "custom-rules.toml").read_text())
    write("fixtures/demo.py", f"t = '{TOKEN}'\n")
    write("ok.py", f"t = '{TOKEN}'  # brokerscan:ignore acme-desk-token\n")
    write("other.py", f"t = '{TOKEN}'  # brokerscan:ignore some-other-rule\n")
    result = run_cli("dir", ".", "-f", "json", cwd=tmp_path)
    paths = [f["path"] for f in json.loads(result.stdout)["findings"]]
    assert paths == ["other.py"]


def test_rules_list_test_and_explain():
    listed = run_cli("rules", "list", "--rules", CUSTOM)
    assert listed.returncode == 0 and b"acme-desk-token" in listed.stdout
    tested = run_cli("rules", "test", CUSTOM)
    assert tested.returncode == 0 and b"all pass" in tested.stdout
    explained = run_cli("rules", "explain", "acme-desk-token", "--rules", CUSTOM)
    assert explained.returncode == 0 and b"Revoke it in the ACME console" in explained.stdout


def test_failing_rule_example_fails_rules_test(tmp_path, write):
    text = (DATA / "custom-rules.toml").read_text().replace('"acmedesk_short"', '"x"').replace(
        "negatives = [", "negatives = [\"token = 'acmedesk_Zq8vR2mXw4LpT7nK3bYc'\", ")
    bad = write("bad.toml", text)
    result = run_cli("rules", "test", str(bad))
    assert result.returncode == 1 and b"FAIL" in result.stdout and b"negative" in result.stdout
