"""brokerscan on the labelled accuracy corpus (bench/accuracy): precision and recall stay
at or above 0.95, every rule of the pack finds something there, and the labels are true
to the files. The peers' figures come from ``bench/bench_accuracy.py``, not from here."""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import bench_accuracy

from scanner.rules import load_rules

TARGET = 0.95
LABELS = bench_accuracy.load_labels()


@pytest.fixture(scope="module")
def result() -> bench_accuracy.Result:
    outcome = bench_accuracy.score_brokerscan(LABELS)
    assert outcome.status == "ok", outcome.error
    return outcome


def test_precision_and_recall_reach_the_target(result):
    detail = "\n".join(
        [f"missed {lab.path}:{lab.line} [{lab.family}]" for lab in result.missed]
        + [f"false positive {hit.path}:{hit.line} {hit.rule}" for hit in result.false_positives])
    assert result.total.precision >= TARGET, detail
    assert result.total.recall >= TARGET, detail


def test_every_rule_finds_a_labelled_credential(result):
    """The corpus covers the whole pack; info rules (public values) are not scored, but must fire."""
    scored = {r.id for r in load_rules() if r.severity.value != "info"}
    assert sorted(scored - set(result.rules_hit)) == []



def test_readme_quotes_the_measured_score(result):
    """The README's accuracy table is where users read the score: its brokerscan row must be
    what the corpus gives today (TP, FP, FN, precision, recall, F1)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (row,) = [line for line in readme.splitlines() if line.startswith("| brokerscan | ")]
    t = result.total
    measured = [str(t.tp), str(t.fp), str(t.fn), f"{t.precision:.2f}", f"{t.recall:.2f}", f"{t.f1:.2f}"]
    assert [cell.strip() for cell in row.strip("|").split("|")][2:] == measured

def test_info_rules_fire_on_the_corpus():
    info = {r.id for r in load_rules() if r.severity.value == "info"}
    done = subprocess.run(
        [sys.executable, "-m", "scanner", "dir", "corpus", "--format", "json", "--no-config", "--no-progress"],
        cwd=bench_accuracy.ACCURACY_DIR, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    assert done.returncode in (0, 1), done.stderr
    fired = {f["rule_id"] for f in json.loads(done.stdout)["findings"]}
    assert info <= fired


@pytest.mark.parametrize("label", LABELS, ids=lambda lab: f"{lab.path}:{lab.line}")
def test_label_points_at_its_secret(label):
    """Each label's line holds its secret as written, or base64-encoded (Kubernetes data:);
    a multi-line secret (PEM) starts on the labelled line."""
    lines = (bench_accuracy.ACCURACY_DIR / label.path).read_text(encoding="utf-8").split("\n")
    line = lines[label.line - 1]
    first = label.secret.split("\n")[0].replace("\n", "")
    encoded = base64.b64encode(label.secret.encode()).decode()
    assert first in line or first.replace("\n", "\\n") in line or encoded in line


def test_labels_cover_realistic_places_and_families():
    kinds = {Path(lab.path).parts[1] for lab in LABELS}
    assert {"env", "compose", "k8s", "terraform", "fix", "shell", "notebooks", "ci", "systemd"} <= kinds
    assert len({lab.family for lab in LABELS}) >= 20
    negatives = list((bench_accuracy.ACCURACY_DIR / "corpus" / "negatives").rglob("*"))
    assert sum(p.is_file() for p in negatives) >= 20
