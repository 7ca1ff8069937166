"""Rules are data: ``rules/*.toml`` files, one per rule family, loaded into ``Rule`` values.

A rule carries its own tests (``examples`` that must match with the expected
secret, ``negatives`` that must not), so a rule file is checked the moment it is
loaded by ``brokerscan rules test`` and by the test suite.

Most rules are regex rules (``detector = "regex"``, the default). A rule with
``detector = "ast"`` has no regex: the syntax-aware detectors in ``scanner.ast``
emit its findings, and its ``keywords`` decide which files are worth parsing. Such
a rule's examples and negatives name a file (``path``) so that they run through the
whole pipeline for that kind of file; any rule may use ``path`` examples this way.
"""
from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import regex

from .models import Severity


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    secret: str
    path: str | None = None  # scan ``text`` as a file of this name (regex + AST), not through the regex engine alone


class FileNegative(str):
    """A negative given as ``{path, text}``: a plain string to code that reads
    ``Rule.negatives``, scanned as the file ``path`` by ``ruletest``."""

    path: str

    def __new__(cls, text: str, path: str) -> Self:
        negative = super().__new__(cls, text)
        negative.path = path
        return negative

    def __reduce__(self):
        return (FileNegative, (str(self), self.path))


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    description: str
    severity: Severity
    tags: tuple[str, ...]
    keywords: tuple[str, ...]  # lower-case literals; a blob without any of them is never regex-checked
    regex: str  # source pattern; must have a named group ``secret``
    help: str  # markdown: what the finding means and how to respond
    references: tuple[str, ...] = ()
    entropy_min: float | None = None
    charset: str | None = None
    allow: tuple[str, ...] = ()  # regexes on the secret: a full match drops it (placeholders, public test values)
    paths: tuple[str, ...] = ()  # globs: when set, the rule only runs on matching paths
    span: int | None = None  # None: confirm within the keyword's line; N: within N bytes after the keyword's line start
    confidence: float = 0.9  # base confidence of a match before filters and entropy adjust it
    examples: tuple[Example, ...] = ()
    negatives: tuple[str, ...] = ()
    source: str = ""  # "file:line" where the rule was defined, for error messages
    detector: str = "regex"  # "regex" | "ast" (findings come from scanner.ast; ``regex`` never matches)
    # A necessary condition of ``regex`` (case-insensitive, in the syntax Hyperscan and
    # ``re`` share), tested anywhere in a large blob before the rule is confirmed around
    # its keyword hits: a keyword frequent in prose ("account", "Interactive Brokers")
    # then costs nothing where the credential's shape is absent. Tests check it holds
    # for every example.
    gate: str | None = None


class RuleError(Exception):
    """A rule file is malformed; the message names the file and line."""


_ALLOWED_KEYS = {
    "id", "title", "description", "severity", "tags", "keywords", "regex", "help",
    "references", "entropy_min", "charset", "allow", "paths", "span", "confidence",
    "examples", "negatives", "detector", "gate",
}
DETECTORS = ("regex", "ast")
# An AST rule's stored regex: it has the ``secret`` group an Engine expects and never
# matches, so an Engine handed every rule stays correct (``BlobScanner`` hands it only
# regex rules, see ``regex_rules``).
NEVER_MATCHES = r"(?P<secret>(?!))"
_AST_FORBIDDEN = ("regex", "charset", "span")
# The rules the AST detectors (scanner/ast/) emit; an AST rule with another id would never fire.
AST_RULE_IDS = ("hardcoded-credential", "ibkr-client-literal-credential", "ibkr-client-literal-account")
_REQUIRED_KEYS = ("id", "title", "description", "severity", "keywords", "regex", "help")
CHARSETS = {
    "hex": "0123456789abcdefABCDEF",
    "digits": "0123456789",
    "alnum": "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "base64": "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/=",
    "base64url": "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_=",
    "base32": "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567=",
    "printable": "".join(chr(c) for c in range(0x21, 0x7F)),
}
_ID_SHAPE = "abcdefghijklmnopqrstuvwxyz0123456789-"


def bundled_rules_dir() -> Path:
    """The rule pack that ships with brokerscan.

    In a wheel the top-level ``rules/`` folder is installed as ``scanner/rulepack``
    (see ``pyproject.toml``); in a source checkout or editable install it is the
    ``rules/`` folder beside the package.
    """
    here = Path(__file__).resolve().parent
    installed = here / "rulepack"
    if installed.is_dir():
        return installed
    return here.parent / "rules"


def load_rules(paths: Iterable[Path] = (), *, bundled: bool = True) -> list[Rule]:
    """Load the shipped pack (unless ``bundled`` is False) plus extra files or directories.

    Raises ``RuleError`` naming file and line for any malformed rule, and for
    duplicate ids (a custom rule may not silently shadow a shipped one).
    """
    shipped = sorted(bundled_rules_dir().glob("*.toml")) if bundled else []
    files_: list[Path] = list(shipped)
    for path in paths:
        path = Path(path)
        if path.is_dir():
            files_.extend(sorted(path.glob("*.toml")))
        elif path.is_file():
            files_.append(path)
        else:
            raise RuleError(f"{path}: no such rule file or directory")
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    for file in files_:
        # The shipped pack's regexes are compiled and checked by its test suite; compiling
        # them again at every start would cost a pre-commit run ~0.3 s, so the engine
        # compiles them on first use. User rule files are always checked here.
        for rule in load_rule_file(file, check_patterns=file not in shipped):
            if rule.id in seen:
                raise RuleError(f"{rule.source}: duplicate rule id {rule.id!r} (first defined at {seen[rule.id]})")
            seen[rule.id] = rule.source
            rules.append(rule)
    return rules


def load_rule_file(path: Path, *, check_patterns: bool = True) -> list[Rule]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleError(f"{path}: cannot read rule file: {exc}") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(f"{path}: invalid TOML: {exc}") from None
    unknown = set(doc) - {"rules"}
    if unknown:
        raise RuleError(f"{path}:1: unknown top-level key(s) {sorted(unknown)}; expected [[rules]] tables")
    tables = doc.get("rules", [])
    if not isinstance(tables, list):
        raise RuleError(f"{path}:1: 'rules' must be an array of tables ([[rules]])")
    lines = _rule_start_lines(text)
    return [
        _parse_rule(table, f"{path}:{lines[i] if i < len(lines) else 1}", check_patterns)
        for i, table in enumerate(tables)
    ]


def _rule_start_lines(text: str) -> list[int]:
    return [n for n, line in enumerate(text.splitlines(), 1) if line.strip().startswith("[[rules]]")]


def _parse_rule(table: dict, where: str, check_patterns: bool = True) -> Rule:
    def fail(msg: str) -> RuleError:
        return RuleError(f"{where}: rule {table.get('id', '?')!r}: {msg}")

    if not isinstance(table, dict):
        raise fail("each [[rules]] entry must be a table")
    unknown = set(table) - _ALLOWED_KEYS
    if unknown:
        raise fail(f"unknown key(s) {sorted(unknown)}")
    detector = table.get("detector", "regex")
    if detector not in DETECTORS:
        raise fail(f"detector must be one of {list(DETECTORS)}")
    for key in _REQUIRED_KEYS:
        if key not in table and not (key == "regex" and detector == "ast"):
            raise fail(f"missing required key {key!r}")
    if detector == "ast":
        given = [k for k in _AST_FORBIDDEN if k in table]
        if given:
            raise fail(f"detector = 'ast' rules take no {', '.join(map(repr, given))}: the AST detector finds the value")
        if table.get("id") not in AST_RULE_IDS:
            raise fail(f"no AST detector emits this id; detector = 'ast' rules are one of {list(AST_RULE_IDS)}")
    rule_id = table["id"]
    if not isinstance(rule_id, str) or not rule_id or set(rule_id) - set(_ID_SHAPE):
        raise fail("id must be lowercase letters, digits and dashes")
    try:
        severity = Severity(table["severity"])
    except ValueError:
        raise fail(f"severity must be one of {[s.value for s in Severity]}") from None
    keywords = _str_list(table, "keywords", fail)
    if not keywords:
        raise fail("keywords must list at least one literal (the prefilter needs it)")
    if any(k != k.lower() or len(k) < 2 for k in keywords):
        raise fail("keywords must be lowercase literals of 2 or more characters")
    pattern = table.get("regex", NEVER_MATCHES)
    _check_pattern(pattern, "regex", fail, need_secret=True, compile_it=check_patterns)
    allow = _str_list(table, "allow", fail)
    for p in allow:
        _check_pattern(p, "allow", fail, compile_it=check_patterns)
    charset = table.get("charset")
    if charset is not None and charset not in CHARSETS:
        raise fail(f"charset must be one of {sorted(CHARSETS)}")
    entropy_min = table.get("entropy_min")
    if entropy_min is not None and not isinstance(entropy_min, (int, float)):
        raise fail("entropy_min must be a number")
    span = table.get("span")
    if span is not None and (not isinstance(span, int) or not 1 <= span <= 65536):
        raise fail("span must be an integer number of bytes between 1 and 65536")
    gate = table.get("gate")
    if gate is not None:
        _check_gate(gate, fail, check_patterns)
    confidence = table.get("confidence", 0.9)
    if not isinstance(confidence, (int, float)) or not 0 < confidence <= 1:
        raise fail("confidence must be a number in (0, 1]")
    examples = []
    for ex in table.get("examples", []):
        if not isinstance(ex, dict) or not {"text", "secret"} <= set(ex) <= {"text", "secret", "path"}:
            raise fail("each example must be a table {text = '...', secret = '...'} with an optional path = '...'")
        examples.append(Example(str(ex["text"]), str(ex["secret"]), _example_path(ex, fail)))
    negatives = _negatives(table, fail)
    if detector == "ast" and any(getattr(x, "path", None) is None for x in (*examples, *negatives)):
        raise fail("examples and negatives of detector = 'ast' rules need a path = '...' (it selects the language)")
    for key in ("title", "description", "help"):
        if not isinstance(table[key], str) or not table[key].strip():
            raise fail(f"{key} must be a non-empty string")
    return Rule(
        id=rule_id,
        title=table["title"],
        description=table["description"].strip(),
        severity=severity,
        tags=tuple(_str_list(table, "tags", fail)),
        keywords=tuple(keywords),
        regex=pattern,
        help=table["help"].strip(),
        references=tuple(_str_list(table, "references", fail)),
        entropy_min=float(entropy_min) if entropy_min is not None else None,
        charset=charset,
        allow=tuple(allow),
        paths=tuple(_str_list(table, "paths", fail)),
        span=span,
        confidence=float(confidence),
        examples=tuple(examples),
        negatives=tuple(negatives),
        source=where,
        detector=detector,
        gate=gate,
    )


def _check_gate(gate: object, fail, compile_it: bool) -> None:
    if not isinstance(gate, str) or not gate.strip():
        raise fail("gate must be a non-empty regex string")
    if not compile_it:
        return
    import re

    try:
        re.compile(gate.encode(), re.IGNORECASE)
    except re.error as exc:
        raise fail(f"gate does not compile: {exc}") from None


def regex_rules(rules: Iterable[Rule]) -> list[Rule]:
    """The rules the regex engine runs; ``detector = "ast"`` rules are for ``scanner.ast``."""
    return [r for r in rules if r.detector == "regex"]


def _example_path(table: dict, fail) -> str | None:
    path = table.get("path")
    if path is not None and (not isinstance(path, str) or not path.strip() or path.startswith("/")):
        raise fail("an example's path must be a relative file name such as 'settings.py'")
    return path


def _negatives(table: dict, fail) -> list[str]:
    """``negatives`` holds plain strings (regex engine) and {path, text} tables (scanned as that file)."""
    value = table.get("negatives", [])
    if not isinstance(value, list):
        raise fail("negatives must be a list")
    negatives: list[str] = []
    for item in value:
        if isinstance(item, str):
            negatives.append(item)
        elif isinstance(item, dict) and set(item) == {"text", "path"} and isinstance(item["text"], str):
            negatives.append(FileNegative(item["text"], _example_path(item, fail)))
        else:
            raise fail("each negative must be a string or a table {path = '...', text = '...'}")
    return negatives


def _str_list(table: dict, key: str, fail) -> list[str]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise fail(f"{key} must be a list of strings")
    return value


def _check_pattern(pattern: object, key: str, fail, need_secret: bool = False, compile_it: bool = True) -> None:
    if not isinstance(pattern, str):
        raise fail(f"{key} must be a string")
    if not compile_it:
        return
    try:
        compiled = regex.compile(pattern.encode())
    except (regex.error, UnicodeEncodeError) as exc:
        raise fail(f"{key} does not compile: {exc}") from None
    if need_secret and "secret" not in compiled.groupindex:
        raise fail("regex must have a named group (?P<secret>...)")
