"""Config files: found in the scanned folder, validated key by key, errors name file and line."""
from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_cli

from scanner.config import ConfigError, find_config, load_config


def test_brokerscan_toml_is_preferred_over_pyproject(tmp_path, write):
    write("pyproject.toml", "[tool.brokerscan]\nexclude = ['a/**']\n")
    write(".brokerscan.toml", "exclude = ['b/**']\n")
    assert find_config(tmp_path).name == ".brokerscan.toml"


def test_pyproject_without_tool_table_is_not_a_config(tmp_path, write):
    write("pyproject.toml", "[project]\nname = 'x'\n")
    assert find_config(tmp_path) is None


def test_all_keys_load(tmp_path, write):
    path = write(".brokerscan.toml", """
exclude = ["fixtures/**"]
allow_secrets = ["^TEST"]
stopwords = ["synthetic"]
disable_rules = ["ibkr-account-id"]
rules = ["ci/rules.toml"]
max_file_size = 1000
min_confidence = 0.5
[severity]
ibkr-account-id = "medium"
""")
    config = load_config(path)
    assert config.exclude == ("fixtures/**",)
    assert config.rules == (tmp_path / "ci/rules.toml",)
    assert config.severity == (("ibkr-account-id", "medium"),)
    assert config.max_file_size == 1000 and config.min_confidence == 0.5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("exclude = ['x']\n\nexlude = ['y']\n", ":3: exlude: unknown key"),
        ("exclude = 'fixtures'\n", ":1: exclude: must be a list of strings"),
        ("allow_secrets = ['(unclosed']\n", ":1: allow_secrets:"),
        ("max_file_size = -1\n", "max_file_size: must be a positive"),
        ("[severity]\nibkr-account-id = 'huge'\n", "severity: ibkr-account-id = 'huge'"),
        ("exclude = [\n", "invalid TOML"),
    ],
)
def test_bad_config_names_file_line_and_key(tmp_path, write, text, message):
    path = write(".brokerscan.toml", text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_pyproject_errors_name_the_tool_table(tmp_path, write):
    path = write("pyproject.toml", "[project]\nname='x'\n\n[tool.brokerscan]\nexclde = []\n")
    with pytest.raises(ConfigError, match=r"pyproject.toml:5: tool.brokerscan.exclde: unknown key"):
        load_config(path)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("pyproject.toml", "[tool.brokerscan.severity]\nibkr-account-id = ['high']\n",
         "pyproject.toml:2: tool.brokerscan.severity: ibkr-account-id = ['high']: level must be one of"),
        ("pyproject.toml", "[tool]\nbrokerscan = 5\n", "pyproject.toml:2: tool.brokerscan: must be a table"),
        ("pyproject.toml", "tool = 'see the brokerscan docs'\n", "pyproject.toml:1: tool: must be a table"),
        (".brokerscan.toml", "max_file_size = true\n", ".brokerscan.toml:1: max_file_size: must be a positive whole"),
        (".brokerscan.toml", "max_file_size = 1.5e6\n", ".brokerscan.toml:1: max_file_size: must be a positive whole"),
        (".brokerscan.toml", "min_confidence = true\n", ".brokerscan.toml:1: min_confidence: must be a number"),
        (".brokerscan.toml", "exclude = []\n[severity]\nibkr-account-id = 3\n", ".brokerscan.toml:3: severity:"),
    ],
)
def test_wrong_types_stop_the_scan_with_exit_2(tmp_path, write, name, text, message):
    """A bool is not a number (TOML's ``true`` would pass as 1: every file too large, every
    finding below the confidence), and no wrong type ends in a traceback."""
    write(name, text)
    write("a.env", "TWS_PASSWORD=Qw7rT2zLp9Kx\n")
    result = run_cli("dir", ".", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr.decode() and b"Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_broken_pyproject_says_why_it_was_read_and_how_to_proceed(tmp_path, write):
    write("pyproject.toml", '[project]\nname = "x"\nversion = 1.0.0\n')
    write("a.env", "TWS_PASSWORD=Qw7rT2zLp9Kx\n")
    result = run_cli("dir", ".", cwd=tmp_path)
    assert result.returncode == 2
    message = result.stderr.decode()
    assert message.startswith("brokerscan: error: pyproject.toml:3: ")
    assert "[tool.brokerscan]" in message and "--no-config" in message and "--config FILE" in message
    assert run_cli("dir", ".", "--no-config", cwd=tmp_path).returncode == 1


def test_error_line_is_the_key_in_the_brokerscan_table(tmp_path, write):
    """Not the first ``exclude`` in the file (``[tool.ruff]``'s), nor text in a multi-line string."""
    path = write("pyproject.toml", '[tool.ruff]\nexclude = ["build"]\nhelp = """\nexclude = 1\n"""\n\n'
                                   '[ tool . brokerscan ]\nstopwords = ["x"]\nexclude = "fixtures/**"\n')
    with pytest.raises(ConfigError, match=r"pyproject.toml:9: tool.brokerscan.exclude: must be a list"):
        load_config(path)
    path = write("pyproject.toml", 'tool.ruff.exclude = []\ntool.brokerscan.exclude = "x"\n')
    with pytest.raises(ConfigError, match=r"pyproject.toml:2: tool.brokerscan.exclude: must be a list"):
        load_config(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('exclude = []\n\n[severity]\nibkr-acount-id = "high"\n',
         ".brokerscan.toml:4: severity: ibkr-acount-id: unknown rule"),
        ('exclude = []\ndisable_rules = ["ibkr-acount-id"]\n',
         ".brokerscan.toml:2: disable_rules: unknown rule(s) ibkr-acount-id"),
    ],
)
def test_unknown_rule_id_in_config_names_file_and_line(tmp_path, write, text, message):
    write(".brokerscan.toml", text)
    result = run_cli("dir", ".", cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr.decode() and b"did you mean ibkr-account-id?" in result.stderr
