"""brokerscan's own repository holds only synthetic credentials, all in allowlisted places."""
from __future__ import annotations

import json
from pathlib import Path

from conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]


def test_repository_scans_clean_through_its_own_config():
    result = run_cli("dir", ".", "--format", "json", "--no-progress", cwd=ROOT)
    report = json.loads(result.stdout)
    assert result.returncode == 0, [(f["path"], f["line"], f["rule_id"]) for f in report["findings"]]
    assert report["summary"]["files_scanned"] > 20


def test_the_allowlisted_fixtures_do_hold_findings():
    """The clean self-scan comes from the config, not from fixtures without secrets."""
    result = run_cli("dir", ".", "--no-config", "--format", "json", cwd=ROOT)
    paths = {f["path"] for f in json.loads(result.stdout)["findings"]}
    assert result.returncode == 1
    assert any(p.startswith("fixtures/") for p in paths)
