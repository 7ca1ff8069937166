"""Whole-machine scans: credential places, who can read a leaked file, and what the reports say."""
from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest
from conftest import fail_after, run_cli

from scanner import hostscan
from scanner.hostscan import Places, escalate_exposed, exposure, pseudo_dirs, user_names
from scanner.models import Finding, Location, Provenance, Severity
from scanner.rules import load_rules
from scanner.scan import ScanOptions, scan_files
from scanner.sources import files as files_source

DATA = Path(__file__).parent / "data"
CUSTOM = str(DATA / "custom-rules.toml")
SCHEMA = json.loads((DATA / "sarif-schema-2.1.0.json").read_text())
TOKEN = "acmedesk_Q7rV2lMz8KpW4nXt9BcD"


@pytest.fixture(autouse=True)
def no_hang():
    with fail_after(60, "host scan test"):
        yield


@pytest.fixture
def machine(tmp_path: Path) -> Path:
    """A small trading host: credentials in the usual places, one in a locked-down home."""
    root = tmp_path / "snap"

    def put(rel: str, text: str, mode: int = 0o600) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(mode)

    root.mkdir(mode=0o755)
    root.chmod(0o755)
    put("etc/hostname", "ib-gateway-7\n", 0o644)
    put("etc/passwd", "root:x:0:0::/root:/bin/bash\ntrader:x:1000:1000::/home/trader:/bin/bash\n"
        "bob:x:1001:1001::/home/bob:/bin/bash\n", 0o644)
    put("home/trader/ibc/config.ini", f"IbLoginId=trader\nAcmeToken={TOKEN}\n", 0o644)
    put("home/trader/.bash_history", f"ls\nexport ACME={TOKEN}\n", 0o600)
    put("home/trader/bot/.env", f"ACME={TOKEN}\n", 0o640)
    put("etc/systemd/system/ibgateway.service", f"[Service]\nEnvironment=ACME={TOKEN}\n", 0o644)
    put("home/locked/.env", f"ACME={TOKEN}\n", 0o644)
    put("proc/1/environ", f"ACME={TOKEN}\n", 0o644)
    for home in ("home", "home/trader", "home/trader/ibc", "home/trader/bot", "etc", "etc/systemd",
                 "etc/systemd/system"):
        (root / home).chmod(0o755)
    (root / "home/locked").chmod(0o700)
    os.chown(root / "home/trader", 1000, 1000)
    os.chown(root / "home/trader/ibc/config.ini", 1000, 1000)
    os.chown(root / "home/trader/.bash_history", 1000, 1000)
    os.chown(root / "home/trader/bot/.env", 1001, 1001)  # bob's file in trader's home
    return root


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="builds files owned by other users (chown)")


@needs_root
def test_exposed_credential_files_are_marked_and_raised(machine):
    rules = load_rules([DATA / "custom-rules.toml"], bundled=False)
    findings, stats = scan_files([str(machine)], rules, ScanOptions(jobs=1, host_root=str(machine)))
    facts = {f.path: dict(f.provenance.extra) for f in findings}
    severity = {f.path: f.severity for f in findings}
    assert set(facts) == {"/home/trader/ibc/config.ini", "/home/trader/.bash_history", "/home/trader/bot/.env",
                          "/etc/systemd/system/ibgateway.service", "/home/locked/.env"}
    ibc = facts["/home/trader/ibc/config.ini"]
    assert (ibc["place"], ibc["mode"], ibc["owner"], ibc["exposed"], ibc["readable-by"]) == (
        "ibc-config", "0644", "trader", "world-readable", "everyone")
    assert ibc["fix"].startswith("chmod 600 /home/trader/ibc/config.ini; better, move the value into a secret store")
    assert facts["/home/trader/bot/.env"]["exposed"] == "group-readable,owned-by-other-user"
    assert "chown trader /home/trader/bot/.env" in facts["/home/trader/bot/.env"]["fix"]
    assert "LoadCredential=" in facts["/etc/systemd/system/ibgateway.service"]["fix"]
    # Private files, and a 0644 file that nobody can reach through its 0700 home, are not exposed.
    for private in ("/home/trader/.bash_history", "/home/locked/.env"):
        assert "exposed" not in facts[private] and "fix" not in facts[private]
        assert severity[private] is Severity.HIGH
    assert severity["/home/trader/ibc/config.ini"] is Severity.CRITICAL  # high, one level up
    assert stats.skipped == {"pseudo-filesystem": 1}


@needs_root
def test_cli_snapshot_scan_text_sarif_and_json(machine, tmp_path):
    result = run_cli("dir", "--root", str(machine), "--rules", CUSTOM, "--no-config", "-v", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    text = result.stdout.decode()
    assert "exposed: world-readable (readable by everyone)" in text
    assert "fix: chmod 600 /home/trader/ibc/config.ini" in text
    assert "place ibc-config, mode 0644, owner trader" in text
    assert "Skipped 1 file: 1 pseudo-filesystem." in text and "    /proc" in text
    assert TOKEN not in text

    result = run_cli("dir", "--root", str(machine), "--rules", CUSTOM, "--no-config", "-f", "sarif", cwd=tmp_path)
    sarif = json.loads(result.stdout)
    jsonschema.validate(sarif, SCHEMA)
    run = sarif["runs"][0]
    assert run["properties"] == {"hostname": "ib-gateway-7", "command": "dir", "roots": [str(machine)],
                                 "scanKind": "filesystem", "scanRoot": str(machine)}
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]}
    assert "file:///home/trader/ibc/config.ini" in uris and all(u.startswith("file:///") for u in uris)
    ibc = next(r for r in run["results"] if r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
               == "file:///home/trader/ibc/config.ini" and r["ruleId"] == "acme-desk-token")
    assert ibc["properties"]["exposed"] == "world-readable" and ibc["properties"]["severity"] == "critical"

    result = run_cli("dir", str(machine), "--root", str(machine), "--hostname", "gw-7", "--rules", CUSTOM,
                     "--no-config", "-f", "json", cwd=tmp_path)
    doc = json.loads(result.stdout)
    assert doc["target"]["hostname"] == "gw-7"
    assert {f["source"]["extra"].get("place") for f in doc["findings"]} == {
        "ibc-config", "shell-history", "dotenv", "systemd-unit"}


def test_repository_scans_keep_relative_uris_and_no_exposure(tmp_path, write):
    path = write("app/.env", f"ACME={TOKEN}\n")
    path.chmod(0o644)
    result = run_cli("dir", ".", "--rules", CUSTOM, "--no-config", "-f", "sarif", cwd=tmp_path)
    run = json.loads(result.stdout)["runs"][0]
    [res] = run["results"]
    assert res["locations"][0]["physicalLocation"]["artifactLocation"] == {"uri": "app/.env", "uriBaseId": "SRCROOT"}
    assert res["properties"]["place"] == "dotenv" and "exposed" not in res["properties"]
    assert "scanKind" not in run["properties"]


def test_cli_usage_errors(tmp_path):
    assert run_cli("dir", cwd=tmp_path).returncode == 2
    result = run_cli("dir", "--root", str(tmp_path / "missing"), cwd=tmp_path)
    assert result.returncode == 2 and b"not a directory" in result.stderr
    (tmp_path / "snap").mkdir()
    result = run_cli("dir", "--root", str(tmp_path / "snap"), str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2 and b"not under --root" in result.stderr


def test_permission_errors_are_counted_never_fatal(tmp_path, monkeypatch):
    (tmp_path / "home/u/private").mkdir(parents=True)
    (tmp_path / "home/u/.env").write_text(f"ACME={TOKEN}\n")
    (tmp_path / "home/u/private/key.txt").write_text(f"ACME={TOKEN}\n")
    real_scandir = os.scandir

    def deny(path="."):  # tests run as root, where chmod 000 does not stop reads
        if str(path).endswith("private"):
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(files_source.os, "scandir", deny)
    rules = load_rules([DATA / "custom-rules.toml"], bundled=False)
    findings, stats = scan_files([str(tmp_path)], rules, ScanOptions(jobs=1, host_root=str(tmp_path)))
    assert [f.path for f in findings] == ["/home/u/.env"]
    assert stats.skipped == {"unreadable-directory": 1}
    assert stats.skipped_paths["unreadable-directory"] == ["/home/u/private"]


@pytest.mark.parametrize(("path", "label"), [
    ("/home/u/.bash_history", "shell-history"), ("/root/.zsh_history", "shell-history"),
    ("/home/u/.python_history", "python-history"), ("/home/u/Jts/jts.ini", "tws-settings"),
    ("/home/u/Jts/abcdef/tws.xml", "tws-settings"), ("/opt/ibc/config.ini", "ibc-config"),
    ("/home/u/.ibeam/outputs/a.log", "ibeam"), ("/srv/bot/.env", "dotenv"), ("/srv/bot/.env.production", "dotenv"),
    ("/srv/bot/docker-compose.prod.yaml", "docker-compose"), ("/etc/systemd/system/ib.service", "systemd-unit"),
    ("/etc/systemd/system/ib.service.d/override.conf", "systemd-unit"), ("/var/spool/cron/crontabs/u", "crontab"),
    ("/etc/crontab", "crontab"), ("/etc/cron.d/backup", "crontab"),
    ("/var/lib/cloud/instance/user-data.txt", "cloud-init"),
    ("/home/u/nb/.ipynb_checkpoints/trade-checkpoint.ipynb", "jupyter-checkpoint"),
    ("/home/u/bot/main.py", None), ("/etc/systemd/systemd.conf", None), ("/srv/env", None), ("/srv/.envrc", None),
])
def test_places(path, label):
    assert Places().label_of(path) == label


def test_escalation_raises_one_level_and_critical_stays():
    def finding(severity: Severity, exposed: bool) -> Finding:
        extra = (("exposed", "world-readable"),) if exposed else ()
        return Finding("r", "t", severity, (), "s", Location(1, 1, 1, 2), "s", 3.0, 0.9, "fp",
                       Provenance(kind="file", path="/x", extra=extra))

    raised = escalate_exposed([finding(s, True) for s in Severity] + [finding(Severity.LOW, False)])
    assert [f.severity for f in raised] == [Severity.CRITICAL, Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM,
                                            Severity.LOW, Severity.LOW]


def test_exposure_of_a_live_file_without_passwd(tmp_path):
    path = tmp_path / "x.env"
    path.write_text("x")
    path.chmod(0o604)
    tmp_path.chmod(0o711)
    facts = dict(exposure(str(path), os.stat(path), str(tmp_path)))
    assert facts["mode"] == "0604" and facts["exposed"] == "world-readable"
    assert facts["owner"] == str(os.getuid())


def test_pseudo_dirs_of_a_live_machine_include_its_pseudo_mounts():
    live = pseudo_dirs("/", live=True)
    assert {"/proc", "/sys", "/dev", "/run"} <= live
    assert pseudo_dirs("/mnt/snap", live=False) >= {"/mnt/snap/proc", "/mnt/snap/var/run"}


def _snapshot(tmp_path: Path) -> Path:
    """A snapshot with one world-readable credential file, so every scan has a finding to own."""
    root = tmp_path / "snap"
    (root / "etc").mkdir(parents=True)
    (root / "home" / "u").mkdir(parents=True)
    (root / "home" / "u" / ".env").write_text(f"ACME={TOKEN}\n")
    return root


@pytest.mark.parametrize("name", ["hostname", "passwd"])
def test_a_fifo_for_the_snapshots_hostname_or_passwd_never_blocks_the_scan(tmp_path, name):
    root = _snapshot(tmp_path)
    os.mkfifo(root / "etc" / name)  # a plain open() waits for a writer that never comes
    result = run_cli("dir", "--root", str(root), "--rules", CUSTOM, "--no-config", "-f", "json", cwd=tmp_path,
                     timeout=45)
    assert result.returncode == 1, result.stderr
    doc = json.loads(result.stdout)
    assert [f["path"] for f in doc["findings"]] == ["/home/u/.env"]
    assert f"host: etc/{name} not read: not a regular file" in json.dumps(doc)


def test_a_passwd_linked_out_of_the_snapshot_is_not_read(tmp_path):
    """``etc/passwd -> /dev/zero`` would fill memory; a link's target is the snapshot's own
    file, never the scanning machine's, and a link pointing nowhere there is noted."""
    outside = tmp_path / "outside-passwd"
    outside.write_text(f"intruder:x:{os.getuid()}:0::/:/bin/sh\n")
    root = _snapshot(tmp_path)
    (root / "etc" / "passwd").symlink_to(outside)
    findings, stats = scan_files([str(root)], load_rules([DATA / "custom-rules.toml"], bundled=False),
                                 ScanOptions(jobs=1, host_root=str(root)))
    assert [dict(f.provenance.extra)["owner"] for f in findings] == [str(os.getuid())]
    assert stats.notes["host: etc/passwd not read: a symbolic link to nothing in the scanned tree"] == 1


def test_passwd_lines_that_are_not_users_are_ignored(tmp_path):
    root = _snapshot(tmp_path)
    (root / "etc" / "passwd").write_bytes(
        b"odd:x:\xc2\xb2:0::/:/bin/sh\n"  # "\u00b2": str.isdigit() says yes, int() says no
        b"garbage\n\xff\xfe:x:\n" + f"trader:x:{os.getuid()}:0::/home/u:/bin/sh\n".encode())
    assert user_names(str(root)) == {os.getuid(): "trader"}
    result = run_cli("dir", "--root", str(root), "--rules", CUSTOM, "--no-config", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "owner trader" in result.stdout.decode()


def test_a_huge_passwd_is_read_only_up_to_its_bound(tmp_path, monkeypatch):
    monkeypatch.setattr(hostscan, "MAX_HOST_FILE_BYTES", 64)
    root = _snapshot(tmp_path)
    first = f"trader:x:{os.getuid()}:0::/home/u:/bin/sh\n"
    (root / "etc" / "passwd").write_text(first + "x" * 1000 + "\nlater:x:4242:0::/:/bin/sh\n")
    assert user_names(str(root)) == {os.getuid(): "trader"}
    assert hostscan.host_file_problems(str(root)) == ["host: etc/passwd only its first 64 bytes read"]
