"""``brokerscan merge``: a fleet's reports become one, de-duplicated, with the hosts kept."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from conftest import run_cli

DATA = Path(__file__).parent / "data"
CUSTOM = str(DATA / "custom-rules.toml")
SCHEMA = json.loads((DATA / "sarif-schema-2.1.0.json").read_text())
TOKEN = "acmedesk_Q7rV2lMz8KpW4nXt9BcD"
OTHER = "acmedesk_Z3kP9wQm2LxV7nRt4BcH"


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    """Three machines from one image (same leaked .env), one with a leak of its own."""
    for host in ("web-1", "web-2", "batch-1"):
        root = tmp_path / host
        (root / "srv/app").mkdir(parents=True)
        (root / "srv/app/.env").write_text(f"ACME={TOKEN}\n")
        (root / "srv/app/.env").chmod(0o600)
    (tmp_path / "batch-1/home/u").mkdir(parents=True)
    (tmp_path / "batch-1/home/u/.bash_history").write_text(f"export ACME={OTHER}\n")
    return tmp_path


def scan_host(fleet: Path, host: str, fmt: str, *extra: str) -> Path:
    out = fleet / f"{host}.{fmt}"
    result = run_cli("dir", "--root", str(fleet / host), "--hostname", host, "--rules", CUSTOM, "--no-config",
                     "-f", fmt, "-o", str(out), *extra, cwd=fleet)
    assert result.returncode == 1, result.stderr
    return out


def test_sarif_reports_merge_by_fingerprint_with_hosts(fleet):
    reports = [scan_host(fleet, h, "sarif") for h in ("web-1", "web-2", "batch-1")]
    result = run_cli("merge", *map(str, reports), cwd=fleet)
    assert result.returncode == 1, result.stderr
    sarif = json.loads(result.stdout)
    jsonschema.validate(sarif, SCHEMA)
    run = sarif["runs"][0]
    hosts = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]: r["properties"]["hosts"]
             for r in run["results"]}
    assert hosts == {"file:///srv/app/.env": "batch-1,web-1,web-2", "file:///home/u/.bash_history": "batch-1"}
    assert run["properties"]["hostname"] == "batch-1,web-1,web-2"
    assert run["properties"]["scanKind"] == "filesystem"
    invocation = run["invocations"][0]
    assert invocation["properties"]["filesScanned"] == 4
    notes = {n["properties"].get("note"): n["properties"]["count"] for n in invocation["toolExecutionNotifications"]}
    assert notes["duplicate findings merged"] == 2
    assert TOKEN not in result.stdout.decode()


def test_mixed_inputs_to_json_and_text(fleet):
    a = scan_host(fleet, "web-1", "json")
    b = scan_host(fleet, "batch-1", "sarif")
    merged = fleet / "fleet.json"
    result = run_cli("merge", str(a), str(b), "-f", "json", "-o", str(merged), cwd=fleet)
    assert result.returncode == 1 and b"2 finding(s)" in result.stderr
    doc = json.loads(merged.read_text())
    assert sorted((f["path"], f["source"]["extra"]["hosts"]) for f in doc["findings"]) == [
        ("/home/u/.bash_history", "batch-1"), ("/srv/app/.env", "batch-1,web-1")]
    assert all(f["redacted"] for f in doc["findings"])
    assert doc["summary"]["files_scanned"] == 3
    text = run_cli("merge", str(a), str(b), "-f", "text", cwd=fleet).stdout.decode()
    assert "hosts batch-1,web-1" in text and "2 findings" in text


def test_secrets_shown_in_inputs_are_masked_unless_asked(fleet):
    a = scan_host(fleet, "web-1", "json", "--show-secrets")
    b = scan_host(fleet, "web-2", "sarif", "--show-secrets")
    masked = run_cli("merge", str(a), str(b), "-f", "json", cwd=fleet)
    assert TOKEN not in masked.stdout.decode()
    [finding] = json.loads(masked.stdout)["findings"]
    assert finding["redacted"] is True and finding["source"]["extra"]["hosts"] == "web-1,web-2"
    shown = run_cli("merge", str(a), str(b), "-f", "json", "--show-secrets", cwd=fleet)
    [finding] = json.loads(shown.stdout)["findings"]
    assert finding["secret"] == TOKEN and finding["redacted"] is False
    assert "_shown" not in finding["source"]["extra"]


def test_merging_a_merged_report_keeps_its_hosts(fleet):
    first = fleet / "first.sarif"
    run_cli("merge", str(scan_host(fleet, "web-1", "sarif")), str(scan_host(fleet, "web-2", "sarif")),
            "-o", str(first), cwd=fleet)
    result = run_cli("merge", str(first), str(scan_host(fleet, "batch-1", "sarif")), cwd=fleet)
    hosts = sorted(r["properties"]["hosts"] for r in json.loads(result.stdout)["runs"][0]["results"])
    assert hosts == ["batch-1", "batch-1,web-1,web-2"]


def test_bad_inputs_exit_2(tmp_path):
    (tmp_path / "notes.json").write_text('{"hello": 1}')
    (tmp_path / "broken.sarif").write_text("{")
    for name in ("notes.json", "broken.sarif", "missing.sarif"):
        result = run_cli("merge", name, cwd=tmp_path)
        assert result.returncode == 2 and result.stderr.startswith(b"brokerscan: error:"), name


def test_clean_reports_merge_to_exit_0(tmp_path):
    (tmp_path / "h").mkdir()
    (tmp_path / "h/readme.txt").write_text("nothing here\n")
    run_cli("dir", "--root", str(tmp_path / "h"), "--rules", CUSTOM, "-f", "sarif", "-o", "a.sarif", cwd=tmp_path)
    assert run_cli("merge", "a.sarif", cwd=tmp_path).returncode == 0


def test_a_shared_line_of_shown_inputs_is_masked_for_both_secrets(tmp_path):
    """Inputs written with --show-secrets, merged without: each finding's snippet masked its
    own secret and showed the other one on the same line."""
    (tmp_path / "h" / "opt").mkdir(parents=True)
    (tmp_path / "h" / "opt" / "run.sh").write_text(
        "docker run -e TWS_USERID=qxvbn417 -e TWS_PASSWORD=Rz4kP9wmT2xq ib-gateway\n")
    run_cli("dir", "--root", str(tmp_path / "h"), "--no-config", "--show-secrets", "-f", "json", "-o", "a.json",
            cwd=tmp_path)
    assert b"Rz4kP9wmT2xq" in (tmp_path / "a.json").read_bytes()
    for fmt in ("json", "sarif", "text"):
        merged = run_cli("merge", "a.json", "-f", fmt, cwd=tmp_path)
        assert merged.returncode == 1
        assert b"qxvbn417" not in merged.stdout and b"Rz4kP9wmT2xq" not in merged.stdout
