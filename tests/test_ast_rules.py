"""``detector = "ast"`` rules: schema, example contract (``path`` examples), and the Engine's safety."""
from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from conftest import run_cli

from scanner.engine import Engine
from scanner.rules import (
    FileNegative,
    RuleError,
    load_rule_file,
    load_rules,
    regex_rules,
)
from scanner.ruletest import check_examples

ROOT = Path(__file__).resolve().parents[1]
AST_RULES = ROOT / "rules" / "ast.toml"
BASE = '''
[[rules]]
id = "hardcoded-credential"
detector = "ast"
title = "T"
description = "D"
severity = "high"
keywords = ["password"]
help = "H"
'''


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "r.toml"
    path.write_text(text)
    return path


def test_ast_rules_load_without_a_regex_and_never_match_in_the_engine():
    rules = load_rules([AST_RULES], bundled=False)
    assert {r.detector for r in rules} == {"ast"}
    assert regex_rules(rules) == []
    engine = Engine(rules)  # every rule, as older callers do: AST rules simply never match
    assert engine.scan(b'password = "Zq9-Lk2m-Rt7"\ntoken: "Tk8Zq2Lm9Xv4Rt7w"\n', "a.py") == []


def test_every_ast_example_and_negative_holds_alone_and_with_the_pack():
    assert check_examples(load_rules([AST_RULES], bundled=False)) == []
    assert check_examples(load_rules()) == []


@pytest.mark.parametrize("extra, message", [
    ('detector = "magic"\n', "detector must be one of"),
    ('id = "my-detector"\n', "no AST detector emits"),
    ("regex = '(?P<secret>x)'\n", "take no 'regex'"),
    ('charset = "hex"\n', "take no 'charset'"),
    ("examples = [{ text = 'password = \"Zq9-Lk2m\"', secret = 'Zq9-Lk2m' }]\n", "need a path"),
    ("negatives = ['password = os.environ[\"X\"]']\n", "need a path"),
    ("examples = [{ text = 'a', secret = 'a', path = '/abs.py' }]\n", "relative file name"),
    ("negatives = [{ text = 'a', where = 'a.py' }]\n", "string or a table"),
])
def test_schema_errors_name_the_problem(tmp_path, extra, message):
    text = BASE
    for key in ("detector", "id"):
        if extra.startswith(key):
            text = "\n".join(line for line in text.splitlines() if not line.startswith(key))
    with pytest.raises(RuleError, match=message):
        load_rule_file(write(tmp_path, text + "\n" + extra))


def test_regex_rules_may_have_path_examples_and_negatives(tmp_path):
    path = write(tmp_path, r"""
[[rules]]
id = "x-regex"
title = "T"
description = "D"
severity = "high"
keywords = ["password"]
regex = '''(?i)password\s*=\s*(?P<secret>[^\s"'()\[\]]{6,})'''
help = "H"
examples = [{ text = "password = Zq9-Lk2m-Rt7", secret = "Zq9-Lk2m-Rt7" }]
negatives = [
  "password = x",
  # Regex alone matches here; the file-level pipeline knows it is an env lookup.
  { path = "settings.py", text = "password = os.getenv('DB_PASSWORD')" },
]
""")
    [rule] = load_rule_file(path)
    plain, in_file = rule.negatives
    assert not hasattr(plain, "path") and in_file.path == "settings.py" and isinstance(in_file, str)
    assert check_examples([rule]) == []
    assert Engine([rule]).scan(in_file.encode())  # ... and it really is the AST that drops it


def test_a_wrong_ast_example_is_reported(tmp_path):
    path = write(tmp_path, BASE + "examples = [{ path = 'a.py', text = 'password = \"Zq9-Lk2m-Rt7\"', "
                                  "secret = 'something-else' }]\n"
                                  "negatives = [{ path = 'a.py', text = 'password = \"Nq4-Lk2m-Rt7\"' }]\n")
    failures = check_examples(load_rules([path], bundled=False))
    assert [f.kind for f in failures] == ["example", "negative"]


def test_file_negatives_survive_pickling_for_worker_processes():
    negative = FileNegative("password = os.environ['X']", "a.py")
    copy = pickle.loads(pickle.dumps(negative))
    assert copy == negative and copy.path == "a.py" and isinstance(copy, str)


def test_cli_rules_test_runs_ast_examples():
    result = run_cli("rules", "test", str(AST_RULES))
    assert result.returncode == 0, result.stdout
    assert b"all pass" in result.stdout
