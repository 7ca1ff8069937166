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


def find_config(start: Path) -> Path | None:
    """``.brokerscan.toml``, else a ``pyproject.toml`` that has ``[tool.brokerscan]``, in ``start``."""
    directory = start if start.is_dir() else start.parent
    candidate = directory / CONFIG_NAME
    if candidate.is_file():
        return candidate
    pyproject = directory / "pyproject.toml"
    if pyproject.is_file():
        import tomllib

        try:
            doc = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{pyproject}: cannot read: {exc}") from None
        if "brokerscan" in doc.get("tool", {}):
            return pyproject
    return None


def load_config(path: Path) -> Config:
    import tomllib

    import regex

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config: {exc}") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    if path.name == "pyproject.toml":
        table = doc.get("tool", {}).get("brokerscan", {})
        prefix = "tool.brokerscan."
    else:
        table, prefix = doc, ""

    def fail(key: str, msg: str) -> ConfigError:
        return ConfigError(f"{path}:{_line_of(text, key)}: {prefix}{key}: {msg}")

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
    if max_file_size is not None and (not isinstance(max_file_size, int) or max_file_size <= 0):
        raise fail("max_file_size", "must be a positive number of bytes")
    min_confidence = table.get("min_confidence")
    if min_confidence is not None and (not isinstance(min_confidence, (int, float)) or not 0 <= min_confidence <= 1):
        raise fail("min_confidence", "must be a number between 0 and 1")
    severity = table.get("severity", {})
    if not isinstance(severity, dict):
        raise fail("severity", "must be a table of rule-id = \"level\"")
    for rule_id, level in severity.items():
        if level not in {s.value for s in Severity}:
            raise fail("severity", f"{rule_id} = {level!r}: level must be one of {[s.value for s in Severity]}")
    return Config(
        path=path,
        exclude=lists["exclude"],
        allow_secrets=lists["allow_secrets"],
        stopwords=lists["stopwords"],
        disable_rules=lists["disable_rules"],
        rules=tuple((path.parent / p) for p in lists["rules"]),
        max_file_size=max_file_size,
        min_confidence=float(min_confidence) if min_confidence is not None else None,
        severity=tuple(sorted(severity.items())),
    )


def _line_of(text: str, key: str) -> int:
    import regex

    pattern = regex.compile(rf"^[ \t]*(?:\[[ \t]*)?\"?{regex.escape(key)}\"?[ \t]*[=\]]", regex.M)
    m = pattern.search(text)
    return text.count("\n", 0, m.start()) + 1 if m else 1
