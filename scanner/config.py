"""Project configuration: ``.brokerscan.toml`` or ``[tool.brokerscan]`` in ``pyproject.toml``.

Looked up in the first scanned directory (or given with ``--config``). Every key
is validated; a wrong one stops the run with exit 2 and a message naming the
file, the line and the key, because a silently ignored allowlist typo is either
a flood of noise or a hidden leak.

```toml
exclude = ["fixtures/**", "*.min.js"]   # path globs (see README)
allow_secrets = ["^AKIA_TEST"]         # regexes; a secret matching one is dropped
stopwords = ["synthetic"]              # substrings; a secret containing one is dropped
disable_rules = ["ibkr-account-id"]
rules = ["ci/custom-rules.toml"]       # extra rule files or folders, relative to the config
max_file_size = 10485760               # bytes
min_confidence = 0.0
[severity]                             # per-rule severity overrides
ibkr-account-id = "medium"
```
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .models import Severity

# ``tomllib`` (~5 ms) is imported inside the functions that read a config file: most runs
# (a pre-commit hook in a repository without one, with the rule pack cached) never do.
# ``regex`` (~13 ms) likewise: scans import it with the engine, but ``rules`` and ``merge`` do not.

CONFIG_NAME = ".brokerscan.toml"
_LIST_KEYS = ("exclude", "allow_secrets", "stopwords", "disable_rules", "rules")
_KNOWN_KEYS = set(_LIST_KEYS) | {"max_file_size", "min_confidence", "severity"}
MAX_SIZE = 2**63 - 1  # a file size the OS can express; a larger one is a typo
_HOW_TO_SKIP = "; fix the file, or run with --no-config (no config file) or --config FILE (another one)"


class ConfigError(Exception):
    """A config file is unreadable or has a wrong key; the message names file, line and key."""


@dataclass(frozen=True)
class Config:
    path: Path | None = None
    exclude: tuple[str, ...] = ()
    allow_secrets: tuple[str, ...] = ()
    stopwords: tuple[str, ...] = ()
    disable_rules: tuple[str, ...] = ()
    rules: tuple[Path, ...] = ()
    max_file_size: int | None = None
    min_confidence: float | None = None
    severity: tuple[tuple[str, str], ...] = field(default=())
    text: str = field(default="", repr=False, compare=False)  # the file, for the line of a later error


def find_config(start: Path) -> Path | None:
    """``.brokerscan.toml``, else a ``pyproject.toml`` that has ``[tool.brokerscan]``, in ``start``.

    A ``pyproject.toml`` that cannot be read or parsed stops the run: it might hold the
    settings (an allowlist, excludes), and scanning without them would be a different scan.
    """
    directory = start if start.is_dir() else start.parent
    candidate = directory / CONFIG_NAME
    if candidate.is_file():
        return candidate
    pyproject = directory / "pyproject.toml"
    if pyproject.is_file():
        text, doc = _read_toml(pyproject, "to look for [tool.brokerscan] settings", _HOW_TO_SKIP)
        if _brokerscan_table(doc, pyproject, text) is not None:
            return pyproject
    return None


def load_config(path: Path) -> Config:
    import regex

    text, doc = _read_toml(path, "as a config file")
    if path.name == "pyproject.toml":
        table = _brokerscan_table(doc, path, text) or {}
        where: tuple[str, ...] = ("tool", "brokerscan")
    else:
        table, where = doc, ()

    def fail(key: str, msg: str, at: tuple[str, ...] = ()) -> ConfigError:
        return _key_error(path, text, (*where, key), msg, at)

    for key in table:
        if key not in _KNOWN_KEYS:
            raise fail(key, f"unknown key (expected one of {', '.join(sorted(_KNOWN_KEYS))})")
    lists: dict[str, tuple[str, ...]] = {}
    for key in _LIST_KEYS:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise fail(key, "must be a list of strings")
        lists[key] = tuple(value)
    for pattern in lists["allow_secrets"]:
        try:
            regex.compile(pattern)
        except regex.error as exc:
            raise fail("allow_secrets", f"{pattern!r} does not compile: {exc}") from None
    max_file_size = table.get("max_file_size")
    if max_file_size is not None and not (type(max_file_size) is int and 0 < max_file_size <= MAX_SIZE):
        raise fail("max_file_size", f"must be a positive whole number of bytes (at most {MAX_SIZE}), "
                                    f"got {_shown(max_file_size)}")
    min_confidence = table.get("min_confidence")
    if min_confidence is not None and not (_is_number(min_confidence) and 0 <= min_confidence <= 1):
        raise fail("min_confidence", f"must be a number between 0 and 1, got {_shown(min_confidence)}")
    severity = table.get("severity", {})
    if not isinstance(severity, dict):
        raise fail("severity", 'must be a table of rule-id = "level"')
    levels = [s.value for s in Severity]
    for rule_id, level in severity.items():
        if not isinstance(level, str) or level not in levels:
            raise fail("severity", f"{rule_id} = {_shown(level)}: level must be one of {levels}", (rule_id,))
    return Config(
        path=path,
        text=text,
        exclude=lists["exclude"],
        allow_secrets=lists["allow_secrets"],
        stopwords=lists["stopwords"],
        disable_rules=lists["disable_rules"],
        rules=tuple((path.parent / p) for p in lists["rules"]),
        max_file_size=max_file_size,
        min_confidence=float(min_confidence) if min_confidence is not None else None,
        severity=tuple(sorted(severity.items())),
    )


def check_rule_ids(config: Config, known: set[str]) -> None:
    """Fail on a rule id in ``disable_rules`` or ``[severity]`` that no loaded rule has: a
    typo there would silently leave the rule on, or its severity unchanged."""
    if config.path is None:
        return
    unknown = [rule_id for rule_id in config.disable_rules if rule_id not in known]
    if unknown:
        raise config_error(config, "disable_rules", f"unknown rule(s) {', '.join(unknown)}{_rules_hint(unknown, known)}")
    for rule_id, _ in config.severity:
        if rule_id not in known:
            raise config_error(config, "severity", f"{rule_id}: unknown rule{_rules_hint([rule_id], known)}",
                               at=(rule_id,))


def config_error(config: Config, key: str, msg: str, at: tuple[str, ...] = ()) -> ConfigError:
    """A ConfigError naming ``config``'s file, the key, and the line of the key (or of its
    sub-key ``at``, such as a rule id in ``[severity]``)."""
    assert config.path is not None
    where = ("tool", "brokerscan") if config.path.name == "pyproject.toml" else ()
    return _key_error(config.path, config.text, (*where, key), msg, at)


def _rules_hint(unknown: list[str], known: set[str]) -> str:
    import difflib

    close = [m for rule_id in unknown for m in difflib.get_close_matches(rule_id, known, n=1)]
    guess = f"; did you mean {', '.join(close)}?" if close else ""
    return f" (see 'brokerscan rules list'{guess})"


def _read_toml(path: Path, purpose: str, hint: str = "") -> tuple[str, dict]:
    """The text and the parsed document; ``purpose`` and ``hint`` end up in the error message."""
    import tomllib

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it {purpose}: {exc}{hint}") from None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}:{_toml_error_line(exc)}: invalid TOML, cannot read it {purpose}: "
                          f"{exc}{hint}") from None


def _toml_error_line(exc: Exception) -> int:
    """``tomllib`` (before Python 3.14) puts the position only in its message."""
    import re

    found = re.search(r"at line (\d+)", str(exc))
    return int(found.group(1)) if found else 1


def _brokerscan_table(doc: dict, path: Path, text: str) -> dict | None:
    """``[tool.brokerscan]`` of a parsed ``pyproject.toml``; None when there is none."""
    tool = doc.get("tool")
    if tool is None:
        return None
    if not isinstance(tool, dict):
        raise _key_error(path, text, ("tool",), "must be a table ([tool.NAME] sections); "
                         f"[tool.brokerscan] settings cannot be read{_HOW_TO_SKIP}")
    table = tool.get("brokerscan")
    if table is not None and not isinstance(table, dict):
        raise _key_error(path, text, ("tool", "brokerscan"), "must be a table ([tool.brokerscan])")
    return table


def _key_error(path: Path, text: str, key: tuple[str, ...], msg: str, at: tuple[str, ...] = ()) -> ConfigError:
    from .tomllines import line_of

    return ConfigError(f"{path}:{line_of(text, (*key, *at))}: {'.'.join(key)}: {msg}")


def _shown(value: object) -> str:
    """A value as the TOML file spells it (``true``, not Python's ``True``)."""
    return str(value).lower() if isinstance(value, bool) else repr(value)


def _is_number(value: object) -> bool:
    """An int or float; TOML's ``true`` is a bool, which Python would count as the int 1."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)
