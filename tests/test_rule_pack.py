"""The shipped rule pack: every example and negative holds, on every prefilter backend,
and the pack ships inside the wheel."""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from scanner.prefilter import hyperscan_available
from scanner.rules import bundled_rules_dir, load_rules
from scanner.ruletest import check_examples

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ["pure"] + (["hyperscan"] if hyperscan_available() else [])
RULES = load_rules()


def test_pack_is_not_empty_and_every_rule_has_examples_and_negatives():
    assert len(RULES) >= 15
    for rule in RULES:
        assert rule.examples, rule.id
        assert rule.negatives, rule.id
        assert rule.help.strip(), rule.id


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_example_matches_and_no_negative_does(backend):
    failures = check_examples(RULES, backend=backend)
    assert failures == [], "\n".join(f"{f.rule_id} {f.kind}: {f.detail}: {f.text!r}" for f in failures)


def test_account_ids_are_pii_and_low_severity():
    account_rules = [r for r in RULES if "pii" in r.tags]
    assert account_rules
    assert all(r.severity.value in ("low", "info") for r in account_rules)


def test_ibeam_totp_seed_is_critical():
    totp = [r for r in RULES if "pyotp" in " ".join(r.keywords)]
    assert totp and all(r.severity.value == "critical" for r in totp)


def test_wheel_ships_the_rules(tmp_path):
    source = tmp_path / "src"  # build from a copy: an in-tree build/ folder would litter the checkout
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", "build", "*.egg-info", "__pycache__", ".venv"))
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    [wheel] = tmp_path.glob("brokerscan-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {Path(n).name for n in names if n.startswith("scanner/rulepack/") and n.endswith(".toml")}
    assert shipped and shipped == {p.name for p in bundled_rules_dir().glob("*.toml")}


def test_every_shipped_pattern_compiles_under_the_strict_loader():
    """Shipped rules skip pattern compilation at start-up (the engine compiles on first use);
    this is where a broken shipped regex is caught, with its file and line."""
    from scanner.rules import load_rule_file

    for path in sorted(bundled_rules_dir().glob("*.toml")):
        assert load_rule_file(path, check_patterns=True)


GATED = [rule for rule in RULES if rule.gate]


def test_frequent_keyword_rules_have_gates():
    """The rules whose keywords fill prose and HTML docs (measured on ib_async's history)."""
    assert {"ibkr-account-id", "ibkr-generic-password", "ibkr-generic-secret", "oanda-account-id"} <= {
        r.id for r in GATED}


@pytest.mark.parametrize("rule", GATED, ids=lambda r: r.id)
def test_a_gate_holds_for_every_example(rule):
    """A gate is a necessary condition: a blob it rejects must hold no match of the rule."""
    import re

    gate = re.compile(rule.gate.encode(), re.IGNORECASE)
    for example in rule.examples:
        assert gate.search(example.text.encode()), (rule.id, example.text)


@pytest.mark.skipif(not hyperscan_available(), reason="hyperscan wheel not installed")
def test_gated_blobs_give_the_same_findings_on_both_backends(monkeypatch):
    """Gates are evaluated only by Hyperscan and only on blobs of GATE_MIN_BYTES or more
    (in bulk scans): every example, padded past that size with prose full of the rules'
    keywords, must give identical matches with gates (hyperscan) and without (pure)."""
    import scanner.engine
    from scanner.engine import GATE_MIN_BYTES, Engine
    from scanner.rules import regex_rules

    monkeypatch.setattr(scanner.engine, "GATES_AFTER_BYTES", 0)  # as deep into a bulk scan

    prose = ("Interactive Brokers account notes: the IBKR account, acct summary, tokens and "
             "E*TRADE or OANDA accounts are mentioned here without any credential.\n")
    padding = prose * (GATE_MIN_BYTES // len(prose) + 1)
    engines = {b: Engine(regex_rules(RULES), backend=b) for b in ("pure", "hyperscan")}
    evaluated = []
    open_gates = engines["hyperscan"].prefilter.open_gates
    monkeypatch.setattr(engines["hyperscan"].prefilter, "open_gates",
                        lambda data: evaluated.append(1) or open_gates(data))
    for rule in regex_rules(RULES):
        for text in [e.text for e in rule.examples] + list(rule.negatives):
            blob = (padding + text + "\n" + padding).encode()
            path = getattr(text, "path", None) or "notes.txt"
            found = {b: [(m.rule_id, m.secret, m.location) for m in e.scan(blob, path)] for b, e in engines.items()}
            assert found["hyperscan"] == found["pure"], (rule.id, text)
    assert len(evaluated) > len(GATED)  # the gates really were in play


@pytest.mark.skipif(not hyperscan_available(), reason="hyperscan wheel not installed")
def test_every_shipped_gate_compiles_in_hyperscan():
    from scanner.prefilter import HyperscanPrefilter

    prefilter = HyperscanPrefilter(["x"], [r.gate.encode() for r in GATED])
    assert prefilter.open_gates(b"nothing here") == frozenset()
