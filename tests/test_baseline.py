"""Baselines: record what is there, report only what is new; never store a secret."""
from __future__ import annotations

import json

import pytest
from gitrepo import (
    flex,
    repo,  # noqa: F401 (a fixture)
    FLEX_1,
    FLEX_2,
    FLEX_3,
    TOTP,
    TWS_PW,
    scan,
    scan_json,
    test_findings,
)

SECRETS = (FLEX_1, FLEX_2, FLEX_3, TWS_PW, TOTP)


def test_create_from_dir_then_only_new_findings(repo):
    repo.write("config.py", "a = 1\n" + flex(FLEX_1))
    repo.write("ib.ini", f"IbPassword={TWS_PW}\n")
    from conftest import run_cli

    result = run_cli("baseline", "create", cwd=repo.path)  # no verb: 'dir .' with the default file name
    assert result.returncode == 0, result.stderr
    assert json.loads((repo.path / ".brokerscan-baseline.json").read_text())["version"] == 1
    result = scan("baseline", "create", "dir", ".", cwd=repo.path)
    assert result.returncode == 0, result.stderr
    assert b".brokerscan-baseline.json" in result.stderr
    doc = json.loads((repo.path / ".brokerscan-baseline.json").read_text())
    assert doc["version"] == 1 and doc["source"] == "dir"
    entries = [e for e in doc["findings"] if e["rule_id"].startswith("test-")]
    assert sorted(e["path"] for e in entries) == ["config.py", "ib.ini"]
    assert set(entries[0]) >= {"fingerprint", "rule_id", "severity", "path", "line"}

    assert scan("dir", ".", "--baseline", ".brokerscan-baseline.json", cwd=repo.path).returncode == 0
    repo.write("config.py", "# moved down\n\n\na = 1\n" + flex(FLEX_1) + flex(FLEX_2))
    report = scan_json("dir", ".", "--baseline", ".brokerscan-baseline.json", cwd=repo.path)
    assert [f["secret"] for f in test_findings(report)] == [FLEX_2]
    assert any("known in baseline" in note for note in report["summary"]["notes"])


def test_baseline_file_never_holds_a_secret(repo, tmp_path):
    repo.commit("leaks", {"a.env": flex(FLEX_1), "b.ini": f"IbPassword={TWS_PW}\n",
                          "c.env": f"IBEAM_PYOTP_SECRET={TOTP}\n"})
    out = tmp_path / "history-baseline.json"
    result = scan("baseline", "create", "-o", str(out), "git", str(repo.path), "--show-secrets")
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert len(test_findings(json.loads(text))) == 3
    for secret in SECRETS:
        assert secret not in text
        assert secret[:8] not in text  # not even a prefix of it


def test_git_baseline_survives_line_moves_and_unrelated_history_rewrites(repo, tmp_path):
    repo.commit("start", {"README": "hello\n"})
    repo.commit("leak", {"config.py": "a = 1\n" + flex(FLEX_1)})
    repo.commit("more", {"README": "hello again\n"})
    baseline = tmp_path / "b.json"
    assert scan("baseline", "create", "-o", str(baseline), "git", str(repo.path)).returncode == 0
    assert test_findings(scan_json("git", str(repo.path), "--baseline", str(baseline), expect=(0,))) == []
    # rewrite history: squash everything into a new root commit with the lines moved
    repo.git("checkout", "-q", "--orphan", "rewritten")
    repo.git("rm", "-rq", "--cached", ".")
    repo.commit("rewritten", {"README": "hi\n", "config.py": "\n\n# header\na = 1\n" + flex(FLEX_1)})
    repo.git("branch", "-D", "main")
    assert test_findings(scan_json("git", str(repo.path), "--baseline", str(baseline), expect=(0,))) == []
    repo.commit("new leak", {"other.env": flex(FLEX_2)})
    findings = test_findings(scan_json("git", str(repo.path), "--baseline", str(baseline)))
    assert [f["secret"] for f in findings] == [FLEX_2]


def test_baseline_applies_to_stdin_too(tmp_path):
    text = flex(FLEX_1).encode()
    result = scan("baseline", "create", "-o", str(tmp_path / "b.json"), "stdin", cwd=tmp_path)
    assert result.returncode == 0
    result = scan("stdin", "--baseline", str(tmp_path / "b.json"), "-f", "json", cwd=tmp_path)
    assert result.returncode == 0  # empty stdin, empty baseline: a clean run
    from conftest import run_cli
    from gitrepo import RULES

    assert run_cli("baseline", "create", "-o", str(tmp_path / "b.json"), "stdin", "--rules", RULES,
                   stdin=text).returncode == 0
    assert run_cli("stdin", "--rules", RULES, "--baseline", str(tmp_path / "b.json"), stdin=text).returncode == 0
    assert run_cli("stdin", "--rules", RULES, stdin=text).returncode == 1


@pytest.mark.parametrize("content, reason", [
    ("{not json", b"not valid JSON"),
    ("[]", b"must be a JSON object"),
    ('{"findings": []}', b"unsupported baseline version None"),
    ('{"version": 99, "findings": []}', b"unsupported baseline version 99"),
    ('{"version": 1, "findings": {}}', b"'findings' must be a list"),
    ('{"version": 1, "findings": [{"rule_id": "x"}]}', b"findings[0] has no 'fingerprint'"),
])
def test_malformed_baseline_exits_2_naming_file_and_reason(repo, content, reason):
    repo.commit("leak", {"a.env": flex(FLEX_1)})
    (repo.path / "bad.json").write_text(content)
    for verb in (["dir", "."], ["git", "."], ["staged"]):
        result = scan(*verb, "--baseline", "bad.json", cwd=repo.path)
        assert result.returncode == 2, (verb, result.stderr)
        assert b"bad.json" in result.stderr and reason in result.stderr
        assert b"Traceback" not in result.stderr


def test_missing_baseline_and_bad_create_arguments(repo):
    result = scan("dir", ".", "--baseline", "nope.json", cwd=repo.path)
    assert result.returncode == 2 and b"nope.json: baseline file not found" in result.stderr
    result = scan("baseline", "create", "rules", cwd=repo.path)
    assert result.returncode == 2 and b"expected a scan verb" in result.stderr
    result = scan("baseline", "create", "git", "--no-such-flag", cwd=repo.path)
    assert result.returncode == 2
    from conftest import run_cli

    result = run_cli("baseline", cwd=repo.path)
    assert result.returncode == 2 and b"baseline create" in result.stderr


def test_output_after_the_scan_verb_names_the_baseline_file(repo):
    """``-o`` after the verb used to become the scan's report file, which ``baseline create``
    never writes, and the default baseline was silently overwritten."""
    repo.commit("first", {"a.env": flex(FLEX_1)})
    assert scan("baseline", "create", "git", cwd=repo.path).returncode == 0
    default = repo.path / ".brokerscan-baseline.json"
    before = default.read_bytes()
    repo.commit("second", {"b.env": flex(FLEX_2)})
    result = scan("baseline", "create", "git", "--range", "HEAD~1..HEAD", "-o", "ci-baseline.json", cwd=repo.path)
    assert result.returncode == 0, result.stderr
    assert b"baseline ci-baseline.json:" in result.stderr
    assert [e["path"] for e in test_findings(json.loads((repo.path / "ci-baseline.json").read_text()))] == ["b.env"]
    assert default.read_bytes() == before
    result = scan("baseline", "create", "-o", "one.json", "git", "-o", "two.json", cwd=repo.path)
    assert result.returncode == 2 and b"two baseline files given" in result.stderr
    assert not (repo.path / "one.json").exists() and not (repo.path / "two.json").exists()
