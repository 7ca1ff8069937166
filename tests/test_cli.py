"""The installed command, run as a user runs it: exit codes, redaction, formats, errors."""
from __future__ import annotations

import json
import os
import resource
import stat
import subprocess
from pathlib import Path

import pytest
from conftest import brokerscan_command, cli_env, run_cli

import scanner.cli as cli

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


LEAK = "TWS_PASSWORD=Qw7rT2zLp9Kx\n"  # synthetic


def test_an_unexpected_exception_exits_2_with_one_line_not_1(monkeypatch, capsys, tmp_path):
    """Exit 1 means findings: a crash must not look like one (nor like a clean scan)."""

    def broken(args):
        raise RuntimeError("injected failure")

    monkeypatch.setattr(cli, "scan_setup", broken)
    monkeypatch.delenv("BROKERSCAN_DEBUG", raising=False)
    assert cli.main(["dir", str(tmp_path), "--no-config"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("brokerscan: internal error: RuntimeError: injected failure")
    assert "please report it" in err and "Traceback" not in err and len(err.splitlines()) == 1
    monkeypatch.setenv("BROKERSCAN_DEBUG", "1")
    assert cli.main(["dir", str(tmp_path), "--no-config"]) == 2
    assert "Traceback" in capsys.readouterr().err
    monkeypatch.setattr(cli, "build_parser", lambda: broken(None))  # before the arguments are even read
    assert cli.main(["dir", str(tmp_path)]) == 2


def test_interrupt_and_exit_keep_their_codes(monkeypatch, tmp_path):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "scan_setup", interrupted)
    assert cli.main(["dir", str(tmp_path), "--no-config"]) == 130

    def exits(args):
        raise SystemExit(3)

    monkeypatch.setattr(cli, "scan_setup", exits)
    with pytest.raises(SystemExit):
        cli.main(["dir", str(tmp_path), "--no-config"])


def test_a_failed_report_write_keeps_the_previous_report(tmp_path, write):
    for n in range(40):
        write(f"leak{n}.env", LEAK.replace("Qw7", f"Q{n:02d}"))
    report = tmp_path / "report.sarif"
    assert run_cli("dir", ".", "--no-config", "-f", "sarif", "-o", str(report), cwd=tmp_path).returncode == 1
    before = report.read_bytes()
    json.loads(before)
    write("more.env", LEAK.replace("Qw7", "Zz9"))

    def small_files():  # like `ulimit -f 8`: Python ignores SIGXFSZ, so a write past it fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))

    result = subprocess.run([*brokerscan_command(), "dir", ".", "--no-config", "-f", "sarif", "-o", str(report)],
                            cwd=tmp_path, capture_output=True, preexec_fn=small_files, timeout=120, env=cli_env())
    assert result.returncode == 2
    assert f"cannot write the report to {report}: File too large".encode() in result.stderr
    assert b"Traceback" not in result.stderr
    assert report.read_bytes() == before  # whole, not cut at 8 KiB
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".env")) == ["report.sarif"]


def test_a_new_report_file_gets_the_usual_permissions(tmp_path, write):
    write("a.env", LEAK)
    assert run_cli("dir", ".", "--no-config", "-o", "out.txt", cwd=tmp_path).returncode == 1
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "out.txt").stat().st_mode) == 0o666 & ~umask


def test_stdout_that_cannot_be_written_exits_2(tmp_path, write):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    write("clean.txt", "nothing here\n")
    with open("/dev/full", "w") as full:
        result = subprocess.run([*brokerscan_command(), "dir", "clean.txt", "--no-config"], cwd=tmp_path,
                                stdout=full, stderr=subprocess.PIPE, timeout=120, env=cli_env())
    assert result.returncode == 2
    assert result.stderr == b"brokerscan: error: cannot write the report to standard output: No space left on device\n"


def test_a_path_the_console_cannot_encode_is_escaped(tmp_path, write):
    write("キー.env", LEAK)
    result = run_cli("dir", ".", "--no-config", cwd=tmp_path, env={"PYTHONIOENCODING": "cp1252"})
    assert result.returncode == 1, result.stderr
    assert b"\\u30ad\\u30fc.env" in result.stdout and b"Traceback" not in result.stderr


def test_text_report_to_a_file_prints_the_summary_on_stderr(tmp_path, write):
    write("a.env", LEAK)
    result = run_cli("dir", ".", "--no-config", "-o", "out.txt", cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == b""
    assert result.stderr == b"brokerscan: 1 finding(s) in 1 file(s); report written to out.txt\n"
    assert "ibkr-gateway-password" in (tmp_path / "out.txt").read_text()


def test_exit_code_is_one_byte_and_sizes_are_finite(tmp_path, write):
    write("a.env", LEAK)
    result = run_cli("dir", ".", "--no-config", "--exit-code", "256", cwd=tmp_path)
    assert result.returncode == 2 and b"--exit-code: must be from 0 to 255" in result.stderr
    assert run_cli("dir", ".", "--no-config", "--exit-code", "255", cwd=tmp_path).returncode == 255
    result = run_cli("dir", ".", "--no-config", "--max-file-size", "1e400", cwd=tmp_path)
    assert result.returncode == 2 and b"--max-file-size: not a size: '1e400'" in result.stderr
    assert b"Traceback" not in result.stderr


def test_stdin_with_a_huge_size_cap_reads_only_what_is_there():
    result = run_cli("stdin", "--no-config", "--max-file-size", "1000GB", "-f", "json", stdin=LEAK.encode())
    assert result.returncode == 1, result.stderr
    assert [f["rule_id"] for f in json.loads(result.stdout)["findings"]] == ["ibkr-gateway-password"]


def test_a_path_that_cannot_be_reached_says_why(tmp_path, write, monkeypatch, capsys):
    write("a.env", LEAK)
    result = run_cli("dir", "a.env/inside", "nope", "--no-config", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == b"brokerscan: error: not a directory: a.env/inside; no such file or directory: nope\n"

    locked = str(tmp_path / "locked" / "b.env")  # as if its directory were chmod 000 (root reads it anyway)
    real_lstat = os.lstat

    def lstat(path, *args, **kwargs):
        if os.fspath(path) == locked:
            raise PermissionError(13, "Permission denied", locked)
        return real_lstat(path, *args, **kwargs)

    monkeypatch.setattr(os, "lstat", lstat)
    assert cli.main(["dir", locked, "--no-config"]) == 2
    assert capsys.readouterr().err == f"brokerscan: error: permission denied: {locked}\n"


def test_cli_tests_run_this_checkouts_code(tmp_path):
    """A ``brokerscan`` on PATH from another checkout (or an old release) must not stand in for
    this one: the CLI tests would pass or fail for code they do not test."""
    impostor = tmp_path / "bin" / "brokerscan"
    impostor.parent.mkdir()
    impostor.write_text("#!/bin/sh\necho impostor\n")
    impostor.chmod(0o755)
    result = run_cli("--version", env={"PATH": f"{impostor.parent}{os.pathsep}{os.environ.get('PATH', '')}"},
                     cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.startswith(b"brokerscan ")
