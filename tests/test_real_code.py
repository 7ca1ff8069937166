"""Real IBKR client code (ib_async, from ../shared/corpora/): findings must make sense.

ib_async is full of account-shaped strings in docs, notebooks and tests, the demo
login, base64 images in notebooks and hashes. Real account ids in its notebooks are
true findings at low severity; the demo login is informational at most; nothing
else may be reported. Skipped when the corpora folder is absent.
"""
from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from conftest import SHARED, run_cli

CORPUS = SHARED / "corpora" / "ib_async.git.tar"
ALLOWED_SEVERITIES = {"low", "info"}
# ib_async ships a hardcoded 24-digit Flex Web Service token with its query id in the
# `__main__` block of flexreport.py (inherited from ib_insync). It is a true finding.
KNOWN_TRUE_SECRETS = {("ib_async/flexreport.py", "ibkr-flex-token")}


@pytest.fixture(scope="module")
def ib_async_head(tmp_path_factory) -> Path:
    if not CORPUS.is_file():
        pytest.skip(f"{CORPUS} not present")
    work = tmp_path_factory.mktemp("ib_async")
    with tarfile.open(CORPUS) as tar:
        tar.extractall(work, filter="data")
    bare = next(work.glob("*.git"))
    head = work / "head"
    head.mkdir()
    archive = subprocess.run(["git", "--git-dir", str(bare), "archive", "HEAD"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(head)], input=archive.stdout, check=True)
    return head


def test_ib_async_head_reports_only_identifiers_and_demo_logins(ib_async_head):
    result = run_cli("dir", ".", "-f", "json", "--no-config", "--show-secrets", cwd=ib_async_head)
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    findings = report["findings"]
    unexpected = [(f["path"], f["line"], f["rule_id"], f["severity"]) for f in findings
                  if f["severity"] not in ALLOWED_SEVERITIES and (f["path"], f["rule_id"]) not in KNOWN_TRUE_SECRETS]
    assert unexpected == []
    assert {(f["path"], f["rule_id"]) for f in findings} >= KNOWN_TRUE_SECRETS
    for f in findings:
        if f["rule_id"].startswith("ibkr-account-id"):
            assert f["secret"][:1] in "UDFI" and f["secret"].lstrip("DUFI").isdigit()
    assert report["summary"]["files_scanned"] > 30
