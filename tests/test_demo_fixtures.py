"""The bundled demo (the README's first command) reports exactly the planted credentials."""
from __future__ import annotations

import json
from pathlib import Path

from conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "fixtures" / "demo"


def _expected() -> list[tuple[str, int, str, str]]:
    rows = []
    for line in (DEMO / "EXPECTED.tsv").read_text(encoding="utf-8").splitlines():
        path, lineno, rule_id, secret = line.split("\t")
        rows.append((path, int(lineno), rule_id, secret.encode().decode("unicode_escape")))
    return sorted(rows)


def _scan(*extra: str) -> tuple[int, dict]:
    result = run_cli("dir", "fixtures/demo", "-f", "json", "--show-secrets", *extra, cwd=ROOT)
    return result.returncode, json.loads(result.stdout)


def test_demo_reports_exactly_the_expected_findings():
    code, report = _scan()
    got = sorted((f["path"], f["line"], f["rule_id"], f["secret"]) for f in report["findings"])
    assert code == 1
    assert got == _expected()


def test_clean_look_alikes_report_nothing():
    result = run_cli("dir", "fixtures/demo/clean", "-f", "json", cwd=ROOT)
    assert result.returncode == 0, [(f["path"], f["line"], f["rule_id"]) for f in json.loads(result.stdout)["findings"]]


def test_every_rule_family_is_represented_in_the_demo():
    _, report = _scan()
    families = {f["rule_id"].split("-")[1] if f["rule_id"].startswith("ibkr-") else f["rule_id"] for f in report["findings"]}
    assert {"account", "oauth", "ibc", "gateway", "ibeam", "flex", "demo"} <= families


def test_decoded_kubernetes_values_point_at_the_encoded_line():
    _, report = _scan()
    decoded = [f for f in report["findings"] if f["decoded"] == "base64"]
    assert decoded and all(f["path"].endswith("k8s-secret.yaml") for f in decoded)
