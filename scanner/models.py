"""Value types that flow through the scan: Blob -> Match -> Finding.

Every source (directory walk, git history, staged index, stdin, archives) yields
``Blob`` objects; the engine turns a blob into ``Match`` objects; ``findings``
turns matches into ``Finding`` objects that reporters render. Keeping these as
frozen dataclasses means a finding can cross a process boundary (pickle) and be
compared, de-duplicated and sorted without surprises.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Severity(str, Enum):
    """How bad a leak is: what an attacker can do with the value."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Larger is worse; used for sorting and thresholds."""
        return _SEVERITY_RANK[self]

    @property
    def sarif_level(self) -> str:
        return {"critical": "error", "high": "error", "medium": "warning"}.get(self.value, "note")

    @property
    def security_severity(self) -> str:
        """GitHub code scanning reads this string: >=9 critical, >=7 high, >=4 medium."""
        return {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "1.0"}[self.value]


_SEVERITY_RANK = {
    Severity.INFO: 0,
    Severity.LOW: 1,
    Severity.MEDIUM: 2,
    Severity.HIGH: 3,
    Severity.CRITICAL: 4,
}


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a blob came from. One shape for files, stdin, git objects and archive members.

    ``path`` is what a person recognises: relative to the scan root for directory
    scans, the path inside the repository for git, ``<stdin>`` for standard input.
    ``archive_path`` is the chain inside archives (``backup.tar.gz!home/u/.env``).
    """

    kind: str  # "file" | "stdin" | "git" | "staged" | "archive"
    path: str
    root: str | None = None  # absolute scan root (directory scans) or repository path
    commit: str | None = None
    author: str | None = None
    date: str | None = None  # ISO 8601
    extra: tuple[tuple[str, str], ...] = ()  # small source-specific facts (sorted key/value pairs)


@dataclass(frozen=True, slots=True)
class Blob:
    """Bytes to scan plus where they came from."""

    data: bytes
    provenance: Provenance


@dataclass(frozen=True, slots=True)
class Location:
    """1-based lines and columns; columns count characters of the decoded line."""

    line: int
    column: int
    end_line: int
    end_column: int


@dataclass(frozen=True, slots=True)
class Match:
    """A rule's regex confirmed a secret and the filters kept it."""

    rule_id: str
    secret: str
    location: Location
    line_text: str  # the (first) line that holds the secret, un-redacted, capped in length
    entropy: float
    confidence: float  # 0.0 .. 1.0
    decoded: str | None = None  # e.g. "base64" when found inside a decoded value
    detectors: tuple[str, ...] = ("regex",)


@dataclass(frozen=True, slots=True)
class Finding:
    """A match tied to its rule metadata and provenance: what reporters print."""

    rule_id: str
    title: str
    severity: Severity
    tags: tuple[str, ...]
    secret: str
    location: Location
    line_text: str
    entropy: float
    confidence: float
    fingerprint: str
    provenance: Provenance
    decoded: str | None = None
    detectors: tuple[str, ...] = ("regex",)
    extra: tuple[tuple[str, str], ...] = field(default=())

    @property
    def path(self) -> str:
        return self.provenance.path

    def sort_key(self) -> tuple:
        return (self.provenance.path, self.provenance.commit or "", self.location.line,
                self.location.column, self.rule_id)


@dataclass(slots=True)
class ScanStats:
    """What a scan looked at and what it had to skip; merged across worker processes.

    Skips are never silent: every file or object the scan could not read is
    counted by reason, and up to ``MAX_SKIP_EXAMPLES`` paths per reason are kept
    so the summary (and ``--verbose``) can name them.
    """

    files_scanned: int = 0
    bytes_scanned: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    skipped_paths: dict[str, list[str]] = field(default_factory=dict)
    notes: dict[str, int] = field(default_factory=dict)  # non-fatal facts, e.g. "decoded-latin-1"
    duration_s: float = 0.0

    MAX_SKIP_EXAMPLES = 50

    def skip(self, reason: str, path: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        paths = self.skipped_paths.setdefault(reason, [])
        if len(paths) < self.MAX_SKIP_EXAMPLES:
            paths.append(path)

    def note(self, what: str, count: int = 1) -> None:
        self.notes[what] = self.notes.get(what, 0) + count

    def merge(self, other: "ScanStats") -> None:
        self.files_scanned += other.files_scanned
        self.bytes_scanned += other.bytes_scanned
        for reason, count in other.skipped.items():
            self.skipped[reason] = self.skipped.get(reason, 0) + count
            paths = self.skipped_paths.setdefault(reason, [])
            room = self.MAX_SKIP_EXAMPLES - len(paths)
            if room > 0:
                paths.extend(other.skipped_paths.get(reason, [])[:room])
        for what, count in other.notes.items():
            self.note(what, count)

    @property
    def files_skipped(self) -> int:
        return sum(self.skipped.values())


@dataclass(frozen=True, slots=True)
class ScanTarget:
    """What the user asked to scan, for report headers (SARIF run properties, text summary)."""

    command: str  # "dir" | "git" | "staged" | "stdin"
    roots: tuple[str, ...]  # absolute paths of scan roots ("" for stdin)
    hostname: str = ""
    host_root: str = ""  # filesystem ("host") scans: where the machine's "/" is; "" for repository scans
    # git and staged scans: the repository as SARIF ``versionControlProvenance`` describes it, as sorted
    # pairs of ``repositoryUri`` (no credentials), ``revisionId`` (HEAD) and ``branch``; empty otherwise.
    vcs: tuple[tuple[str, str], ...] = ()
