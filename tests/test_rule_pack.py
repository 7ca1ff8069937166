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
def test_a_gate_holds_inside_every_example_match(rule):
    """A gate is a necessary condition of the match itself: a window it rejects must hold no
    match of the rule (``rules test`` reports a gate that does not)."""
    from scanner.ruletest import _gate_inside_match

    for example in rule.examples:
        assert _gate_inside_match(rule, example.text, example.secret), (rule.id, example.text)


def gated_rule(tmp_path, gate: str, regex: str, example: str) -> list:
    """The rules of a one-rule file (``acme-token``, secret ``Zq9Lk2mRt7Bg4Kq9zLm2Xw8P``)."""
    from scanner.rules import load_rules

    path = tmp_path / "gated.toml"
    path.write_text(f"""[[rules]]
id = "acme-token"
title = "ACME token"
description = "test"
severity = "high"
keywords = ["acme_token"]
gate = "{gate}"
regex = '''{regex}'''
help = "test"
examples = [{{ text = "{example}", secret = "Zq9Lk2mRt7Bg4Kq9zLm2Xw8P" }}]
negatives = ['acme_token = ""']
""")
    return load_rules([path], bundled=False)


def test_rules_test_reports_a_gate_outside_the_match(tmp_path):
    """A gate that matches only the example's context would let the engine skip windows that
    hold the match; ``rules test`` says so."""
    rules = gated_rule(tmp_path, "deployment", r'acme_token\s*=\s*"(?P<secret>[A-Za-z0-9]{24})"',
                       r'deployment: prod\nacme_token = \"Zq9Lk2mRt7Bg4Kq9zLm2Xw8P\"')
    failures = check_examples(rules)
    assert [(f.rule_id, f.kind) for f in failures] == [("acme-token", "example")]
    assert "gate does not match inside" in failures[0].detail


@pytest.mark.skipif(not hyperscan_available(), reason="hyperscan wheel not installed")
def test_long_windows_are_confirmed_only_where_their_gate_matches(monkeypatch):
    """In a bulk scan a gated rule's 4 kB window is regex-checked only when the gate matches
    inside it, even where the blob's gate is open elsewhere; findings do not change."""
    import scanner.engine
    from scanner.engine import Engine
    from scanner.rules import regex_rules

    monkeypatch.setattr(scanner.engine, "GATES_AFTER_BYTES", 0)
    rule = next(r for r in RULES if r.id == "ibkr-generic-password")
    mention = "See github.com/InteractiveBrokers for the API.\n"
    neutral = "Nothing to see in this line of the docs.\n" * 120  # 4.9 kB: windows stay apart
    secret = "Vq8-Rt5m-Zk3w"
    blob = (mention + neutral + mention + neutral + "IB_PASSWORD = '" + secret + "'\n" + neutral
            + mention + neutral + "The IBC class: ib_insync.IBC.password.\n").encode()  # opens the blob's gate
    engines = {b: Engine(regex_rules([rule]), backend=b) for b in ("pure", "hyperscan")}
    checked: list[tuple[int, int]] = []
    pattern = engines["hyperscan"]._compiled[0].pattern

    class Counting:
        def finditer(self, data, lo, hi, **kw):
            checked.append((lo, hi))
            return pattern.finditer(data, lo, hi, **kw)

    monkeypatch.setattr(engines["hyperscan"]._compiled[0], "_pattern", Counting())
    found = {b: [(m.rule_id, m.secret) for m in e.scan(blob, "notes.txt")] for b, e in engines.items()}
    assert found["hyperscan"] == found["pure"] == [("ibkr-generic-password", secret)]
    assert len(checked) == 1 and checked[0][0] <= blob.index(b"IB_PASSWORD") < checked[0][1]


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


def test_rules_test_reads_gates_past_a_match_without_a_secret(tmp_path):
    """A match whose ``secret`` group took no part (an optional branch) is passed over, not a crash."""
    rules = gated_rule(tmp_path, "acme_token", r'acme_token\s*=\s*(?:"(?P<secret>[A-Za-z0-9]{24})"|none)',
                       r'acme_token = none\nacme_token = \"Zq9Lk2mRt7Bg4Kq9zLm2Xw8P\"')
    assert check_examples(rules) == []


def _readme_rule(tmp_path: Path) -> Path:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Writing a rule", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "acme.toml"
    path.write_text(block, encoding="utf-8")
    return path


def test_the_readmes_rule_passes_its_own_test_and_finds_a_top_level_file(tmp_path):
    """The README's rule is what a rule author copies first: it must pass ``rules test``, and its
    ``**/*.py`` must take a file at the top of the scan (fnmatch alone did not)."""
    rule_file = _readme_rule(tmp_path)
    assert check_examples(load_rules([rule_file], bundled=False)) == []
    scanned = tmp_path / "repo"
    scanned.mkdir()
    (scanned / "desk.py").write_text("token = 'acmedesk_Q7rV2lMz8KpW4nXt9BcE'\n")
    (scanned / "desk.txt").write_text("token = 'acmedesk_Q7rV2lMz8KpW4nXt9BcE'\n")
    done = subprocess.run([sys.executable, "-m", "scanner", "dir", str(scanned), "--rules", str(rule_file),
                           "--no-config", "-f", "json"], capture_output=True, text=True)
    import json

    found = [Path(f["path"]).name for f in json.loads(done.stdout)["findings"] if f["rule_id"] == "acme-desk-token"]
    assert found == ["desk.py"]


def test_rules_test_wants_a_matching_path_on_examples_of_a_path_scoped_rule(tmp_path):
    """Without one the rule never runs on them: the example fails with no word why, and a
    negative passes for nothing."""
    rule_file = _readme_rule(tmp_path)
    text = rule_file.read_text()
    text = text.replace('"acmedesk_Q7rV2lMz8KpW4nXt9BcD", path = "desk.py" }]', '"acmedesk_Q7rV2lMz8KpW4nXt9BcD" }]')
    rule_file.write_text(text.replace('path = "desk.py" }]', 'path = "desk.txt" }]'))
    failures = check_examples(load_rules([rule_file], bundled=False))
    assert [(f.kind, "only runs on paths matching" in f.detail) for f in failures] == [
        ("example", True), ("negative", True)]
    assert "(not 'desk.txt')" in failures[1].detail


def test_fragments_of_the_same_name_are_identical_across_the_pack():
    """Fragments are local to their file; the value grammar shared by the login, OAuth and
    Flex rules is copied, and a copy edited alone would make one family drift."""
    import tomllib

    seen: dict[str, tuple[str, str]] = {}
    for path in sorted(bundled_rules_dir().glob("*.toml")):
        for name, text in tomllib.loads(path.read_text()).get("fragments", {}).items():
            first = seen.setdefault(name, (path.name, text))
            assert first[1] == text, f"fragment {name!r} differs between {first[0]} and {path.name}"
    assert "env_separator" in seen


def test_a_rule_file_shares_regex_fragments_between_its_rules(tmp_path):
    path = tmp_path / "acme.toml"
    path.write_text("""
[fragments]
value = '''(?P<secret> [A-Za-z0-9]{24} )'''
quoted = '''" {{value}} "'''

[[rules]]
id = "acme-token"
title = "ACME token"
description = "test"
severity = "high"
keywords = ["acme_token"]
regex = '''(?x) acme_token \\s* = \\s* {{quoted}}'''
help = "test"
examples = [{ text = 'acme_token = "Zq9Lk2mRt7Bg4Kq9zLm2Xw8P"', secret = "Zq9Lk2mRt7Bg4Kq9zLm2Xw8P" }]
negatives = ['acme_token = ""']
""")
    [rule] = load_rules([path], bundled=False)
    assert "{{" not in rule.regex
    assert check_examples([rule]) == []


def test_an_unknown_fragment_is_a_rule_error_naming_the_rule(tmp_path):
    from scanner.rules import RuleError

    path = tmp_path / "acme.toml"
    path.write_text("""
[[rules]]
id = "acme-token"
title = "ACME token"
description = "test"
severity = "high"
keywords = ["acme_token"]
regex = '''(?x) acme_token = {{value}}'''
help = "test"
""")
    with pytest.raises(RuleError, match=r"acme.toml:2: rule 'acme-token': unknown fragment \{\{value\}\}"):
        load_rules([path], bundled=False)
