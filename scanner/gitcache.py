"""``brokerscan git --cache DIR``: remember which blobs were clean so a nightly scan reads only new ones.

This is the blob layer. For scans of refs, ``gitsnapshot`` adds a second layer that keeps
the findings of the last scan, so that an unchanged history reads only the blobs of its
findings and a grown one only its new commits; this layer serves every other run (a
rewritten history, a ``--range`` or ``--since`` window) and the new commits' blobs.

A history scan spends its time reading blobs out of git and scanning them. Almost
every blob is clean, and a blob id names its bytes forever, so "blob X was clean
under these rules and options" stays true until the rules or options change. This
cache records exactly that, and ``gitscan`` drops cached blobs from the enumeration
*before* they are read from git.

**Key.** One namespace (one file in DIR) per SHA-256 of everything that can change
what a blob yields: the cache format, the brokerscan version, a digest of the
``scanner`` package's source (a checkout's edits change results without a version
bump), the detection environment (grammar wheels, ``regex``, Python, ``BROKERSCAN_*``
variables), every matching-relevant field of every rule (custom rule files
included), and the ``ScanOptions`` fields except those applied outside the per-blob
scan (``excludes`` filter paths before a lookup; ``severity_overrides`` rewrite
findings afterwards; ``jobs``/``progress`` change no result). Fields are taken by
exclusion, so a field someone adds later to ``Rule`` or ``ScanOptions`` is in the
key automatically: a new field can only cost a cache miss, never a stale answer.

**Path context.** Detection also depends on the path a blob is scanned under (the
suffix picks the AST syntax, ``.ipynb`` the notebook reader, ``paths`` globs scope
rules, test and docs folders lower confidence). Those facts live in the engine, the
AST detectors and the notebook reader, which change independently; mirroring them
here would go stale silently. So an entry is the blob id plus a 48-bit hash of the
*path itself*: the same blob under another path is a miss and is scanned. Git names
each blob with the first path it meets walking from the newest commits, which stays
the same from one run to the next unless a newer commit moves the file, so hits stay
high.

**What is stored.** Per entry only the blob id, the path hash and an index into a
small table of outcomes: ``clean``, or a skip reason that the same bytes always get
again (``binary``, ``too-large``), each with the summary notes its scan produced; and
the ids of trees (``rev-list --objects`` lists them among the blobs, and telling them
apart costs a ``cat-file`` round trip each: as many trees as blobs in a typical history).
Blobs *with* findings are never cached: they are few, rescanning them re-reads the
exact secret for ``--show-secrets`` and keeps findings identical to an uncached run,
and the cache so never holds a secret, a fingerprint or a line of text, which matters
because cache directories end up in CI artifacts. Missing and corrupt objects are not
cached either (a later fetch may repair them), nor blobs whose scan hit an internal
error.

**File.** ``MAGIC | key | outcome table (JSON) | count | blob ids | (path hash << 16 |
outcome index) per blob | SHA-256 of all before``, 28 bytes per entry. Loading is one
read, one hash and a few C-level conversions, no per-entry Python code (not sqlite:
one query per blob would cost more than scanning small blobs). Writes go to a
temporary file in DIR and ``os.replace`` it, so an interrupted run leaves the old file
or the new one, never half of one; a file that fails any check is counted in the
summary and the scan runs as if uncached.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import os
import struct
import sys
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from . import __version__
from .atomicfile import CHECKSUM_BYTES, split_checksum, with_checksum, write_atomically
from .models import Finding, ScanStats
from .rules import Rule
from .scan import ScanOptions
from .sources.git import ObjectRef
from .usercache import prune

CACHE_FORMAT = 1
MAGIC = b"BSGITC\x00\x01"
SUFFIX = ".bscache"
KEY_BYTES = 32  # SHA-256 of the key material, stored whole in the header
ID_BYTES = 20  # a SHA-1 blob id (SHA-256 repositories are not cached: their ids do not fit)
PATH_HASH_BYTES = 6  # 48 bits, packed with a 16-bit outcome index into one 64-bit value per entry
MAX_OUTCOME_INDEX = 0xFFFF
KEEP_NAMESPACES = 4  # newest cache files kept in DIR; older keys (old rules, old versions) are deleted

# Skips the same bytes under the same options always get again.
CACHEABLE_SKIPS = frozenset({"binary", "too-large"})
NOT_A_BLOB = "not-a-blob"  # trees: the enumeration lists them too, and checking each one's type costs a git round trip
# Rule fields that only describe a rule to people (or test it): they change no match.
RULE_FIELDS_NOT_IN_KEY = frozenset({"title", "description", "help", "references", "examples", "negatives",
                                    "source"})
# Options applied outside the per-blob scan: see the module docstring.
OPTION_FIELDS_NOT_IN_KEY = frozenset({"excludes", "severity_overrides", "jobs", "progress"})

_HEADER = struct.Struct(f"<8s{KEY_BYTES}sI")  # magic, key, length of the outcome table
_COUNT = struct.Struct("<I")


class Outcome(NamedTuple):
    """What scanning one blob gave, when that is worth remembering."""

    skip: str | None  # None: scanned, no findings; else the skip reason
    skip_shows_id: bool  # the skip's example names the blob id after its path (reader skips do)
    notes: tuple[tuple[str, int], ...]  # the summary notes its scan added


TREE = Outcome(NOT_A_BLOB, False, ())  # nothing to scan, nothing to count: an uncached scan drops it silently too


class CacheError(Exception):
    """A cache file that cannot be used: the message says why, for the summary note."""


def blob_outcome(findings: Sequence[Finding] | None, stats: ScanStats) -> Outcome | None:
    """The outcome to cache for a blob scanned into its own ``stats``, or None to never cache it.

    ``findings`` None means the scan raised. Blobs with findings are not cached (see
    the module docstring), nor internal errors, which a fixed bug may turn into findings.
    """
    if findings is None or findings:
        return None
    reasons = list(stats.skipped)
    if len(reasons) > 1 or (reasons and reasons[0] not in CACHEABLE_SKIPS):
        return None
    if any("internal error" in note for note in stats.notes):
        return None
    return Outcome(reasons[0] if reasons else None, False, tuple(sorted(stats.notes.items())))


# --- the key ---------------------------------------------------------------------------

def cache_key(rules: Sequence[Rule], options: ScanOptions) -> str:
    """Hex SHA-256 naming the namespace of results these rules and options give."""
    material = {
        "format": CACHE_FORMAT,
        "brokerscan": __version__,
        "code": code_digest(),
        "environment": environment(),
        "rules": [rule_material(rule) for rule in rules],
        "options": options_material(options),
    }
    text = json.dumps(material, sort_keys=True, ensure_ascii=True, default=_jsonable)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def rule_material(rule: Rule) -> dict[str, Any]:
    return {f.name: getattr(rule, f.name) for f in dataclasses.fields(rule) if f.name not in RULE_FIELDS_NOT_IN_KEY}


def options_material(options: ScanOptions) -> dict[str, Any]:
    return {f.name: getattr(options, f.name) for f in dataclasses.fields(options)
            if f.name not in OPTION_FIELDS_NOT_IN_KEY}


def code_digest() -> str:
    """SHA-256 over the package's Python sources (about 2 ms): an edited checkout is a new key."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode("utf-8", "surrogateescape") + b"\0")
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"<unreadable>")
        digest.update(b"\0")
    return digest.hexdigest()


# Variables that change where caches live or whether tests run slowly, never what is found.
NOT_DETECTION_VARIABLES = frozenset({"BROKERSCAN_CACHE_DIR", "BROKERSCAN_NO_CACHE", "BROKERSCAN_SLOW_TESTS"})


def environment() -> dict[str, Any]:
    """What outside the package changes results: a missing grammar wheel means regex-only for
    that language, ``BROKERSCAN_AST=0`` turns the AST stage off."""
    import regex

    from .ast.languages import GRAMMARS

    modules = sorted({g.module for g in GRAMMARS.values()} | {"tree_sitter", "hyperscan"})
    listings: dict[str, list[str]] = {}
    return {
        "python": list(sys.version_info[:2]),
        "regex": getattr(regex, "__version__", "?"),
        "modules": {name: _module_identity(name, listings) for name in modules},
        "variables": {k: v for k, v in sorted(os.environ.items())
                      if k.startswith("BROKERSCAN_") and k not in NOT_DETECTION_VARIABLES},
    }


def _module_identity(name: str, listings: dict[str, list[str]]) -> list[Any] | None:
    """An installed module by its distribution's version (the ``*.dist-info`` folder name) and
    its files' names and sizes; None when it is not installed. Not modification times: CI
    installs afresh every run, which would make every run cold. Not ``importlib.metadata``:
    it costs ~40 ms."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    try:
        if spec.submodule_search_locations:  # a package: its folder's code files
            folder = os.path.dirname(spec.origin)
            parent = os.path.dirname(folder)
            files = [[e.name, e.stat().st_size] for e in os.scandir(folder)
                     if e.name.endswith((".py", ".so", ".pyd", ".dylib"))]
        else:
            parent = os.path.dirname(spec.origin)
            files = [[os.path.basename(spec.origin), os.stat(spec.origin).st_size]]
        if parent not in listings:
            listings[parent] = [n for n in os.listdir(parent) if n.endswith(".dist-info")]
    except OSError:
        return [spec.origin]
    wanted = name.lower()  # "{name}-{version}.dist-info", the name with "-" and "." as "_"
    dists = sorted(n for n in listings[parent] if n.split("-", 1)[0].lower().replace(".", "_") == wanted)
    return [dists, sorted(files)]


def _jsonable(value: object) -> object:
    """Values JSON has no form for. An object without a stable ``repr`` gives a key no
    other run shares: a cold cache, never a wrong one."""
    if isinstance(value, (set, frozenset)):
        return sorted(map(repr, value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return repr(value)


# --- the cache -------------------------------------------------------------------------

class HistoryCache:
    """One key's namespace in DIR: lookups during the scan, one atomic write after it.

    In memory: blob id (the hex string git prints, so a lookup converts nothing) -> one
    int packing the path hash (high 48 bits) and the outcome index (low 16). One path per
    blob: the one it was last scanned under. Used from the parent process only: workers
    return outcomes, the parent ``add``\\s them.
    """

    def __init__(self, directory: Path, key: str) -> None:
        self.directory = directory
        self.key = key
        self.path = directory / f"{key[:32]}{SUFFIX}"
        self.outcomes: list[Outcome] = []
        self._outcome_index: dict[Outcome, int] = {}
        self._rows: dict[str, int] = {}  # blob id -> path hash << 16 | outcome index
        self.added: dict[str, int] = {}  # the same, for blobs scanned this run
        self.unusable: str | None = None
        self._path_memo: dict[bytes, int] = {}
        self._served: list[int] = []  # per outcome index: hits so far

    @classmethod
    def open(cls, directory: str | os.PathLike[str], rules: Sequence[Rule], options: ScanOptions) -> HistoryCache:
        """The namespace for these rules and options; creates DIR (``OSError`` if it cannot).
        Nothing is read yet: ``load`` does that inside the scan, so its notes reach the summary."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        return cls(path, cache_key(rules, options))

    def __len__(self) -> int:
        return len(self._rows)

    # lookups

    def path_hash(self, path: bytes) -> int:
        """48-bit hash of a path, shifted into place; memoised (a history has far fewer paths than
        blobs). It only tells apart the paths one blob was seen under, so 48 bits are plenty."""
        value = self._path_memo.get(path)
        if value is None:
            digest = hashlib.blake2b(path, digest_size=PATH_HASH_BYTES).digest()
            value = self._path_memo[path] = int.from_bytes(digest, "little") << 16
        return value

    def lookup(self, ref: ObjectRef) -> Outcome | None:
        """The cached outcome of this blob under this path, or None (scan it)."""
        packed = self._rows.get(ref.sha)
        if packed is None or packed & ~0xFFFF != self.path_hash(ref.path):
            return None
        return self.outcomes[packed & 0xFFFF]

    def misses(self, refs: Iterable[ObjectRef],
               on_skip: Callable[[ObjectRef, Outcome], None]) -> Iterator[ObjectRef]:
        """The refs the cache cannot answer. Hits are only counted per outcome (``served``),
        except cached skips, handed to ``on_skip`` one by one (the summary names examples).

        This loop runs once per object of the history, so it is ``lookup`` inlined, and the
        notes of hits are added up per outcome afterwards instead of per blob."""
        rows, memo = self._rows.get, self._path_memo.get
        outcomes = self.outcomes
        served = self._served = self._served + [0] * (len(outcomes) - len(self._served))
        is_skip = [o.skip is not None and o != TREE for o in outcomes]
        for ref in refs:
            sha, path = ref
            packed = rows(sha)
            if packed is not None:
                path_hash = memo(path)
                if path_hash is None:
                    path_hash = self.path_hash(path)
                if packed & ~0xFFFF == path_hash:
                    index = packed & 0xFFFF
                    served[index] += 1
                    if is_skip[index]:
                        on_skip(ref, outcomes[index])
                    continue
            yield ref

    def served(self) -> list[tuple[Outcome, int]]:
        """How many objects ``misses`` answered from the cache, per outcome."""
        return [(self.outcomes[i], n) for i, n in enumerate(self._served) if n]

    def add(self, outcomes: Iterable[tuple[ObjectRef, Outcome]]) -> None:
        """Remember blobs scanned this run; written by ``save``."""
        for ref, outcome in outcomes:
            index = self._index_of(outcome)
            if len(ref.sha) == 2 * ID_BYTES and index is not None:
                self.added[ref.sha] = self.path_hash(ref.path) | index

    def _index_of(self, outcome: Outcome) -> int | None:
        index = self._outcome_index.get(outcome)
        if index is None:
            if len(self.outcomes) > MAX_OUTCOME_INDEX:
                return None
            index = self._outcome_index[outcome] = len(self.outcomes)
            self.outcomes.append(outcome)
        return index

    # reading

    def load(self, stats: ScanStats) -> None:
        """Read this key's file; a missing file is a cold start, a bad one a counted note."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            stats.note("cache: nothing cached yet for these rules and options")
            return
        except OSError as exc:
            self._give_up(stats, f"cannot read it ({exc.strerror or exc})")
            return
        try:
            self._rows, self.outcomes = parse(data, self.key)
        except CacheError as exc:
            self._give_up(stats, str(exc))
            return
        self._outcome_index = {outcome: i for i, outcome in enumerate(self.outcomes)}

    def _give_up(self, stats: ScanStats, why: str) -> None:
        self.unusable = why
        self._rows, self.outcomes, self._outcome_index = {}, [], {}
        stats.note(f"cache file unusable, scanned without it and rewritten: {why}")

    # writing

    def save(self, stats: ScanStats) -> None:
        """Write old and new entries atomically; a failure is a note, the scan's result stands."""
        blobs = sum(1 for packed in self.added.values() if self.outcomes[packed & 0xFFFF] != TREE)
        if blobs:
            stats.note("objects added to cache", blobs)
        if not self.added and self.unusable is None:
            _touch(self.path)  # marks the namespace as in use for ``prune``
            return
        try:
            # 0644: mkstemp's 0600 would lock out a team sharing DIR; nothing here is secret
            write_atomically(self.path, serialize(self.key, {**self._rows, **self.added}, self.outcomes),
                             suffix=SUFFIX, mode=0o644, durable=True)
        except (OSError, ValueError) as exc:
            stats.note(f"cache not written: {getattr(exc, 'strerror', None) or exc}")
            return
        prune(self.directory, keep=self.path, suffix=SUFFIX, count=KEEP_NAMESPACES)


def serialize(key: str, rows: dict[str, int], outcomes: Sequence[Outcome]) -> bytes:
    """The file for ``rows`` (blob id -> path hash << 16 | outcome index) in their order: the
    order the scan met them, which the next scan's enumeration repeats, so its lookups walk
    memory in order instead of jumping about (half the lookup time, measured, at 100k)."""
    table = json.dumps([[o.skip, o.skip_shows_id, [list(n) for n in o.notes]] for o in outcomes],
                       ensure_ascii=True, separators=(",", ":")).encode("ascii")
    packed = array("Q", rows.values())
    if sys.byteorder == "big":
        packed.byteswap()
    body = b"".join([_HEADER.pack(MAGIC, bytes.fromhex(key), len(table)), table, _COUNT.pack(len(rows)),
                     bytes.fromhex("".join(rows)), packed.tobytes()])
    return with_checksum(body)


def parse(data: bytes, key: str) -> tuple[dict[str, int], list[Outcome]]:
    """Rows (blob id -> path hash << 16 | outcome index) and the outcome table of a cache file
    written for ``key``; ``CacheError`` on any flaw. No per-entry Python code runs here."""
    if len(data) < _HEADER.size + _COUNT.size + CHECKSUM_BYTES:
        raise CacheError("truncated")
    body, intact = split_checksum(data)
    magic, stored_key, table_len = _HEADER.unpack_from(body)
    if magic != MAGIC:
        raise CacheError("not a brokerscan git cache file")
    if not intact:
        raise CacheError("checksum mismatch (damaged or truncated)")
    if stored_key != bytes.fromhex(key):
        raise CacheError("written for another key")
    at = _HEADER.size
    outcomes = _parse_table(body[at:at + table_len])
    at += table_len
    if len(body) < at + _COUNT.size:
        raise CacheError("truncated")
    (count,) = _COUNT.unpack_from(body, at)
    at += _COUNT.size
    if len(body) != at + count * (ID_BYTES + 8):
        raise CacheError("entry count does not match the file size")
    ids_end = at + count * ID_BYTES
    packed = array("Q")
    if packed.itemsize != 8:
        raise CacheError("unsupported platform (64-bit array items)")
    raw = body[ids_end:]
    packed.frombytes(raw)
    if sys.byteorder == "big":
        packed.byteswap()
        top = max((value & 0xFFFF for value in packed), default=0)
    else:  # the low 16 bits of each little-endian value, read in C
        top = max(memoryview(raw).cast("H")[0::4], default=0)
    if count and top >= len(outcomes):
        raise CacheError("entry names an unknown outcome")
    shas = body[at:ids_end].hex("\n", ID_BYTES).split("\n") if count else []
    return dict(zip(shas, packed)), outcomes


def _parse_table(raw: bytes) -> list[Outcome]:
    try:
        rows = json.loads(raw)
        outcomes = [Outcome(skip, bool(shows_id), tuple((str(what), int(count)) for what, count in notes))
                    for skip, shows_id, notes in rows]
    except (ValueError, TypeError) as exc:
        raise CacheError(f"bad outcome table ({exc})") from None
    if any(o.skip is not None and o.skip not in CACHEABLE_SKIPS and o != TREE for o in outcomes):
        raise CacheError("bad outcome table (unknown skip reason)")
    return outcomes


def _touch(path: Path) -> None:
    try:
        os.utime(path)
    except OSError:
        pass


__all__ = ["CacheError", "HistoryCache", "Outcome", "blob_outcome", "cache_key"]
