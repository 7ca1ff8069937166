"""Config files: found in the scanned folder, validated key by key, errors name file and line."""
from __future__ import annotations

from pathlib import Path

import pytest

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
