"""Rules are data: ``rules/*.toml`` files, one per rule family, loaded into ``Rule`` values.

A rule carries its own tests (``examples`` that must match with the expected
secret, ``negatives`` that must not), so a rule file is checked the moment it is
loaded by ``brokerscan rules test`` and by the test suite.

Most rules are regex rules (``detector = "regex"``, the default). A rule with
``detector = "ast"`` has no regex: the syntax-aware detectors in ``scanner.ast``
emit its findings, and its ``keywords`` decide which files are worth parsing. Such
a rule's examples and negatives name a file (``path``) so that they run through the
whole pipeline for that kind of file; any rule may use ``path`` examples this way.

The shipped pack is parsed once and kept as JSON in a per-user cache (see
``rules_cache_dir``): parsing ~20 TOML files costs a pre-commit run ~30 ms, reading
the cache ~3 ms. User rule files are always parsed and checked.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from . import __version__
from .atomicfile import write_atomically
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
    # The shipped pack's regexes are compiled and checked by its test suite; compiling
    # them again at every start would cost a pre-commit run ~0.3 s, so the engine
    # compiles them on first use. User rule files are always checked here.
    def batches() -> Iterable[list[Rule]]:  # lazily: a duplicate is reported before later files are read
        yield _load_shipped(shipped) if shipped else []
        for file in files_[len(shipped):]:
            yield load_rule_file(file, check_patterns=file not in shipped)

    rules: list[Rule] = []
    seen: dict[str, str] = {}
    for batch in batches():
        for rule in batch:
            if rule.id in seen:
                raise RuleError(f"{rule.source}: duplicate rule id {rule.id!r} (first defined at {seen[rule.id]})")
            seen[rule.id] = rule.source
            rules.append(rule)
    return rules


def load_rule_file(path: Path, *, check_patterns: bool = True) -> list[Rule]:
    return [_parse_rule(table, f"{path}:{line}", check_patterns) for line, table in _read_rule_tables(path)]


def _read_rule_tables(path: Path) -> list[tuple[int, Any]]:
    """The ``[[rules]]`` tables of a rule file as TOML gives them, each with its start line."""
    import tomllib  # ~5 ms, and not needed when the shipped pack comes from the cache

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleError(f"{path}: cannot read rule file: {exc}") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(f"{path}: invalid TOML: {exc}") from None
    unknown = set(doc) - {"rules", "fragments"}
    if unknown:
        raise RuleError(f"{path}:1: unknown top-level key(s) {sorted(unknown)}; expected [[rules]] tables and [fragments]")
    tables = doc.get("rules", [])
    if not isinstance(tables, list):
        raise RuleError(f"{path}:1: 'rules' must be an array of tables ([[rules]])")
    lines = _rule_start_lines(text)
    if len(lines) != len(tables):  # ``rules = [...]`` written as an array, not as [[rules]] tables
        from .tomllines import line_of

        lines = [line_of(text, ("rules",))] * len(tables)
    located = list(zip(lines, tables))
    fragments = _read_fragments(doc.get("fragments", {}), path)
    for line, table in located:
        if isinstance(table, dict) and isinstance(table.get("regex"), str):
            table["regex"] = _expand_fragments(table["regex"], fragments, f"{path}:{line}: rule {table.get('id', '?')!r}")
    return located


# ``{{name}}`` in a rule's regex stands for the file's ``[fragments]`` entry ``name``: one
# value grammar shared by a family of rules, written once. Expanded when the file is read,
# so the cache, the engine and ``rules explain`` only ever see whole regexes.
_FRAGMENT_NAME = r"[a-z][a-z0-9_]*"


def _read_fragments(table: object, path: Path) -> dict[str, str]:
    """A file's ``[fragments]``, each expanded: a fragment may use the fragments above it."""
    import re

    if not isinstance(table, dict):
        raise RuleError(f"{path}:1: 'fragments' must be a table of name = 'regex text'")
    fragments: dict[str, str] = {}
    for name, text in table.items():
        if not re.fullmatch(_FRAGMENT_NAME, name) or not isinstance(text, str):
            raise RuleError(f"{path}: fragment {name!r}: names are lowercase words, values regex strings")
        fragments[name] = _expand_fragments(text, fragments, f"{path}: fragment {name!r}")
    return fragments


def _expand_fragments(pattern: str, fragments: dict[str, str], where: str) -> str:
    import re

    def fragment(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in fragments:
            raise RuleError(f"{where}: unknown fragment {{{{{name}}}}} (defined: {sorted(fragments) or 'none'})")
        return fragments[name]

    return re.sub(r"\{\{(" + _FRAGMENT_NAME + r")\}\}", fragment, pattern)


# --- Parsed-rules cache ------------------------------------------------------------
#
# JSON, never pickle: the cache directory is writable by the user (and whatever runs as
# them), and a security tool must not execute what it reads from there. What is cached
# is the TOML *tables* with their start lines, not ``Rule`` values: a hit rebuilds every
# rule through ``_parse_rule``, the same validation a parse goes through, so a code
# change to ``_parse_rule`` or ``Rule`` needs no format bump and a wrong-shaped cache
# fails validation instead of producing a rule. A SHA-256 of the body in the header
# catches a file that is valid JSON but damaged (a flipped byte in a regex would pass
# any shape check and silently miss secrets). It detects damage, not forgery: whoever
# can write the cache directory can as well edit the user's shell profile or config.
#
# File layout: line 1 is the header ``{key..., "sha256": <hex of the body>}``, the rest
# is the body ``[[[line, table], ...] per shipped file, in key order]``.

RULES_CACHE_FORMAT = 1  # bump when the file layout or what a table means changes
_MAX_CACHE_BYTES = 16 * 1024 * 1024  # the pack caches to ~0.25 MB; a bigger file is not ours


def rules_cache_dir() -> Path | None:
    """Where the parsed rule pack is cached, or None when caching is off.

    ``$BROKERSCAN_CACHE_DIR`` if set (empty: off), else ``$XDG_CACHE_HOME/brokerscan``
    or ``~/.cache/brokerscan``. ``BROKERSCAN_NO_CACHE=1`` turns it off too.
    """
    if os.environ.get("BROKERSCAN_NO_CACHE", "") not in ("", "0"):
        return None
    configured = os.environ.get("BROKERSCAN_CACHE_DIR")
    if configured is not None:
        return Path(configured) if configured else None
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(xdg):  # the XDG spec says to ignore a relative value
        return Path(xdg) / "brokerscan"
    try:
        return Path.home() / ".cache" / "brokerscan"
    except (RuntimeError, KeyError, OSError):  # no $HOME and no passwd entry
        return None


def _load_shipped(files: list[Path]) -> list[Rule]:
    """The shipped pack's rules: from the cache when its key matches, else parsed (and cached).

    The cache is only for speed: any problem with it (disabled, unwritable, corrupt,
    stale, disk full) means the files are parsed as if it did not exist. Errors in the
    rule files themselves are raised exactly as without a cache, and nothing is cached
    until every rule has passed validation.
    """
    located = _cache_location(files)
    if located is not None:
        try:
            cached = _read_cache(*located, files)
        except Exception:  # noqa: BLE001 - any damage means "parse instead"
            cached = None
        if cached is not None:
            return cached
    per_file = [_read_rule_tables(file) for file in files]
    rules = [
        _parse_rule(table, f"{file}:{line}", check_patterns=False)
        for file, entries in zip(files, per_file)
        for line, table in entries
    ]
    if located is not None:
        try:
            _write_cache(*located, per_file)
        except Exception:  # noqa: BLE001 - read-only home, ENOSPC, a table JSON cannot hold
            pass
    return rules


def _cache_location(files: list[Path]) -> tuple[Path, dict[str, Any]] | None:
    """The cache file for this rule pack and the key its header must carry, or None.

    The key names the pack's directory (rule ``source`` strings hold the full path, and
    two installs of one version must not share sources) and each file's name, size and
    modification time: a source checkout edits rules without a version bump, an
    installed wheel never does. The file name hashes the directory so that several
    installs (a pipx one, pre-commit's own environment) each keep their cache instead of
    overwriting each other's at every run.
    """
    directory = rules_cache_dir()
    if directory is None:
        return None
    import hashlib  # scans import it anyway (finding fingerprints)

    try:
        stats = [(file.name, file.stat()) for file in files]
    except OSError:
        return None  # parsing will report the unreadable file
    pack_dir = str(files[0].parent)
    key = {
        "format": RULES_CACHE_FORMAT,
        "version": __version__,
        "dir": pack_dir,
        "files": [[name, st.st_size, st.st_mtime_ns] for name, st in stats],
    }
    name = f"rules-{hashlib.sha256(pack_dir.encode('utf-8', 'surrogateescape')).hexdigest()[:16]}.json"
    return directory / name, key


def _read_cache(path: Path, key: dict[str, Any], files: list[Path]) -> list[Rule] | None:
    """The cached rules if ``path`` holds this key and an intact body; None (or an exception) otherwise."""
    import hashlib

    with open(path, "rb") as fh:
        data = fh.read(_MAX_CACHE_BYTES + 1)
    if len(data) > _MAX_CACHE_BYTES:
        return None
    head, _, body = data.partition(b"\n")
    header = json.loads(head)
    if not isinstance(header, dict) or header.get("sha256") != hashlib.sha256(body).hexdigest():
        return None
    if {k: v for k, v in header.items() if k != "sha256"} != key:
        return None
    per_file = json.loads(body)
    if not isinstance(per_file, list) or len(per_file) != len(files):
        return None
    rules: list[Rule] = []
    for file, entries in zip(files, per_file):
        for line, table in entries:
            if type(line) is not int or line < 1 or not isinstance(table, dict):
                return None
            rules.append(_parse_rule(table, f"{file}:{line}", check_patterns=False))
    return rules


def _write_cache(path: Path, key: dict[str, Any], per_file: list[list[tuple[int, Any]]]) -> None:
    """Write the cache atomically (temporary file + ``os.replace``): a reader sees the old
    file or the new one, never half of one, and concurrent writers each win whole."""
    import hashlib

    # ensure_ascii keeps the file ASCII whatever the rules hold; a TOML date/time value
    # raises TypeError here, so such a pack is simply not cached.
    body = json.dumps(per_file, separators=(",", ":")).encode("ascii")
    header = json.dumps({**key, "sha256": hashlib.sha256(body).hexdigest()}, separators=(",", ":")).encode("ascii")
    os.makedirs(path.parent, mode=0o700, exist_ok=True)
    write_atomically(path, header + b"\n" + body, prefix=".rules-")


def _rule_start_lines(text: str) -> list[int]:
    """The line of each ``[[rules]]`` header (``[[ rules ]]`` too, none inside a string)."""
    from .tomllines import array_table_lines

    return array_table_lines(text, ("rules",))


def _parse_rule(table: dict, where: str, check_patterns: bool = True) -> Rule:
    if not isinstance(table, dict):
        raise RuleError(f"{where}: each entry of 'rules' must be a table ([[rules]]), got {table!r}")

    def fail(msg: str) -> RuleError:
        return RuleError(f"{where}: rule {table.get('id', '?')!r}: {msg}")

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
    if charset is not None and (not isinstance(charset, str) or charset not in CHARSETS):
        raise fail(f"charset must be one of {sorted(CHARSETS)}")
    entropy_min = table.get("entropy_min")
    if entropy_min is not None and not _is_number(entropy_min):
        raise fail("entropy_min must be a number")
    span = table.get("span")
    if span is not None and (type(span) is not int or not 1 <= span <= 65536):  # a bool is not a span
        raise fail("span must be an integer number of bytes between 1 and 65536")
    gate = table.get("gate")
    if gate is not None:
        _check_gate(gate, fail, check_patterns)
    confidence = table.get("confidence", 0.9)
    if not _is_number(confidence) or not 0 < confidence <= 1:
        raise fail("confidence must be a number in (0, 1]")
    examples = []
    for ex in _list(table, "examples", fail):
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


def _is_number(value: object) -> bool:
    """An int or float; TOML's ``true`` is a bool, which Python would count as the int 1."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


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
    negatives: list[str] = []
    for item in _list(table, "negatives", fail):
        if isinstance(item, str):
            negatives.append(item)
        elif isinstance(item, dict) and set(item) == {"text", "path"} and isinstance(item["text"], str):
            negatives.append(FileNegative(item["text"], _example_path(item, fail)))
        else:
            raise fail("each negative must be a string or a table {path = '...', text = '...'}")
    return negatives


def _list(table: dict, key: str, fail) -> list:
    value = table.get(key, [])
    if not isinstance(value, list):
        raise fail(f"{key} must be a list")
    return value


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
    import regex  # ~13 ms; only user rule files are compiled here (the engine imports it for scans)

    try:
        compiled = regex.compile(pattern.encode())
    except (regex.error, UnicodeEncodeError) as exc:
        raise fail(f"{key} does not compile: {exc}") from None
    if need_secret and "secret" not in compiled.groupindex:
        raise fail("regex must have a named group (?P<secret>...)")
