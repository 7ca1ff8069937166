"""User rule files: a malformed one stops the run with exit 2 and a message naming file and line."""
from __future__ import annotations

import pytest
from conftest import run_cli

from scanner.rules import RuleError, load_rule_file
from scanner.tomllines import array_table_lines, line_of

RULE = '''id = "{id}"
title = "ACME token"
description = "Token for the (fictional) ACME desk API."
severity = "{severity}"
keywords = ["acmedesk_"]
regex = \'\'\'\\b(?P<secret>acmedesk_[A-Za-z0-9]{{20}})\\b\'\'\'
help = "Revoke it in the ACME console."
'''


def rule(rule_id: str, severity: str = "high", extra: str = "") -> str:
    return RULE.format(id=rule_id, severity=severity) + extra


def test_a_rules_entry_that_is_not_a_table_exits_2_without_a_traceback(tmp_path, write):
    bad = write("list.toml", '# custom rules\nrules = ["acme"]\n')
    write("a.txt", "nothing\n")
    result = run_cli("dir", "a.txt", "--no-config", "--rules", str(bad), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.decode().startswith(f"brokerscan: error: {bad}:2: each entry of 'rules' must be a table")
    assert b"Traceback" not in result.stderr


@pytest.mark.parametrize("header", ["[[ rules ]]", '[[ "rules" ]]', "[[rules]]  # the second"])
def test_the_line_of_a_rule_written_with_spaces_in_its_header(write, header):
    path = write("spaced.toml", f"# custom rules\n\n{header}\n{rule('acme-one')}\n{header}\n"
                                f"{rule('acme-two', severity='hgih')}")
    with pytest.raises(RuleError, match=r"spaced\.toml:12: rule 'acme-two': severity must be one of"):
        load_rule_file(path)


def test_a_rules_header_inside_a_multi_line_string_is_not_a_rule(write):
    helptext = 'help = """\nExample:\n[[rules]]\n"""\n'
    text = "[[rules]]\n" + rule("acme-one").replace('help = "Revoke it in the ACME console."\n', helptext)
    text += "\n[[rules]]\n" + rule("acme-two", severity="hgih")
    path = write("helptext.toml", text)
    with pytest.raises(RuleError, match=r"helptext\.toml:13: rule 'acme-two': severity must be one of"):
        load_rule_file(path)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("span = true\n", "span must be an integer"),
        ("confidence = true\n", "confidence must be a number"),
        ("entropy_min = true\n", "entropy_min must be a number"),
        ('charset = ["hex"]\n', "charset must be one of"),
        ("examples = 5\n", "examples must be a list"),
        ("negatives = 5\n", "negatives must be a list"),
    ],
)
def test_wrong_types_in_a_rule_are_named(write, extra, message):
    """A bool is not a number: ``span = true`` would be a one-byte window."""
    path = write("typed.toml", "[[rules]]\n" + rule("acme-one", extra=extra))
    with pytest.raises(RuleError, match=rf"typed\.toml:1: rule 'acme-one': {message}"):
        load_rule_file(path)


def test_toml_lines_step_over_strings_arrays_and_comments():
    text = (
        '[tool.ruff]\n'
        'exclude = [\n'
        '  ["nested"],\n'                      # line 3: an array in an array, not a header
        ']\n'
        'doc = """ends with an escaped quote \\"""\n'
        '[tool.brokerscan]\n'                  # line 6: still inside the string
        '"""\n'
        "lit = '''\n[[rules]]\n'''\n"
        '[ "tool" . \'brokerscan\' ]  # a comment [x]\n'   # line 11
        'severity = { a = "high" }\n'
        '"quoted.key" = 1\n'
    )
    assert line_of(text, ("tool", "brokerscan")) == 11
    assert line_of(text, ("tool", "brokerscan", "severity", "a")) == 12  # inside an inline table: its key
    assert line_of(text, ("tool", "brokerscan", "quoted.key")) == 13
    assert line_of(text, ("nested",)) == 1 and array_table_lines(text, ("rules",)) == []
