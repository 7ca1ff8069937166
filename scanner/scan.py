"""Run the engine over sources: one blob at a time, or a process pool for many files.

``BlobScanner`` is the single place where a blob becomes findings (decode, engine,
findings, suppression), so files, stdin, git objects and archive members are all
treated alike. ``scan_files`` adds the parallel walk: small scans run inline (a
pre-commit hook should not pay for a pool), large ones are fanned out in ordered
batches so the result never depends on ``--jobs``.
"""
from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from .decode import BinaryContent, Prepared, prepare
from .engine import Engine
from .ast import AstDetector
from .findings import to_findings
from .hostscan import default_places, escalate_exposed, exposure, host_file_problems
from .models import Blob, Finding, Match, Provenance, ScanStats
from .rules import Rule, regex_rules
from .sources.files import (
    FileItem,
    WalkOptions,
    archive_kind,
    open_regular,
    read_error_reason,
    read_file_stat,
    walk,
)
from .suppress import Allowlist, inline_ignored

if TYPE_CHECKING:  # the pool's module is imported only when a pool starts
    from .notebooks import Detect
    from .workers import Lost

DEFAULT_MAX_FILE_SIZE = 10 * 1024 * 1024
INLINE_MAX_FILES = 64  # fewer files than this: no process pool
INLINE_MAX_BYTES = 8 * 1024 * 1024
BATCH_FILES = 128
BATCH_BYTES = 4 * 1024 * 1024
SCAN_MANY_BYTES = 4 * 1024 * 1024  # read but not yet scanned, per worker
MALFORMED_NOTEBOOK_READ = "notebook: malformed, cells read from its strings"
MALFORMED_NOTEBOOK_AS_TEXT = "notebook: malformed, scanned as text"
WORKER_DIED = "a scanning process died (out of memory?) and was replaced; what it held was scanned again file by file"


@dataclass(frozen=True)
class ScanOptions:
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    excludes: tuple[str, ...] = ()
    jobs: int = 0  # 0: all cores
    allow_secrets: tuple[str, ...] = ()
    stopwords: tuple[str, ...] = ()
    min_confidence: float = 0.0
    backend: str = "auto"
    progress: bool = False
    severity_overrides: tuple[tuple[str, str], ...] = field(default=())
    # Filesystem ("host") scans and archives: see scanner/hostscan.py and sources/archives.py.
    host_root: str | None = None  # set: a host scan, and where the host's "/" is
    follow_symlinks: bool = False
    one_file_system: bool = False
    archives: bool = True
    archive_depth: int = 3
    archive_max_bytes: int = 256 * 1024 * 1024  # expanded bytes per archive, and largest archive opened


class BlobScanner:
    """Engine + rule metadata + suppression: bytes and provenance in, findings out."""

    def __init__(self, rules: Sequence[Rule], options: ScanOptions) -> None:
        self.rules = {r.id: r for r in rules}
        self.ast = AstDetector(rules, backend=options.backend)
        self.engine = Engine(regex_rules(rules), backend=options.backend,
                             extra_keywords=self.ast.gate.keywords if self.ast.enabled else (),
                             presence_keywords=self.ast.gate.presence_keywords if self.ast.enabled else ())
        self.options = options
        self.allowlist = Allowlist.build(options.allow_secrets, options.stopwords)

    def scan_blob(self, blob: Blob, stats: ScanStats) -> list[Finding]:
        """Findings of ``blob``."""
        try:
            prepared = prepare(blob.data)
        except BinaryContent:
            stats.skip("binary", blob.provenance.path)
            return []
        return self._scan_prepared(blob, prepared, None, stats)

    def scan_many(self, blobs: Sequence[Blob], stats: ScanStats,
                  each: Sequence[ScanStats] | None = None) -> list[list[Finding]]:
        """``scan_blob`` of each blob, with one prefilter call for all of them.

        Most files of a tree hold no keyword; for them the keyword pass is the whole scan,
        and one Hyperscan call per file cost more than the scanning. A blob whose scan
        fails is a counted skip (``internal-error-*``); the others are unaffected.
        ``each``: one ``ScanStats`` per blob, which then gets that blob's counts, skips and
        notes instead of ``stats`` (``--cache`` keeps the notes of each clean blob)."""
        ready: list[tuple[int, Prepared]] = []
        for index, blob in enumerate(blobs):
            try:
                ready.append((index, prepare(blob.data)))
            except BinaryContent:
                (each[index] if each is not None else stats).skip("binary", blob.provenance.path)
        found: list[list[Finding]] = [[] for _ in blobs]
        batch_hits = self.engine.prefilter.find_many([prepared.data for _, prepared in ready])
        for (index, prepared), hits in zip(ready, batch_hits):
            blob = blobs[index]
            target = each[index] if each is not None else stats
            try:
                found[index] = self._scan_prepared(blob, prepared, hits, target)
            except Exception as exc:  # noqa: BLE001 - a scanner bug must not lose the rest of the batch
                target.skip(f"internal-error-{type(exc).__name__}", blob.provenance.path)
        return found

    def _scan_prepared(self, blob: Blob, prepared: Prepared, hits: dict[int, list[int]] | None,
                       stats: ScanStats) -> list[Finding]:
        """``hits``: the prefilter's answer for ``prepared.data`` when the caller has it."""
        stats.files_scanned += 1
        stats.bytes_scanned += len(blob.data)
        if prepared.note:
            stats.note(prepared.note)
        path = blob.provenance.path
        notebook = is_notebook(path)
        if hits is not None and not hits and not notebook:
            return []  # no keyword of any rule, trigger or AST gate: nothing can be found

        def detect(data: bytes, encoding: str, syntax: str | None = None, parse: bytes | None = None) -> list[Match]:
            """Regex engine, then the AST stage (which parses only when worth it)."""
            if not parse:  # the AST gate reads its keyword hits from the engine's one pass
                gate_hits: dict[int, list[int]] = {}
                known = hits if data is prepared.data else None  # notebook cells are scanned on their own
                matches = self.engine.scan(data, path, encoding=encoding, extra_hits=gate_hits, hits=known)
                refined = self.ast.refine(data, path, encoding, matches, stats, syntax, gate_hits=gate_hits)
            else:
                matches = self.engine.scan(data, path, encoding=encoding)
                refined = self.ast.refine(parse, path, encoding, matches, stats, syntax)
            return _without_encoded_twins(refined)

        cells = self._scan_notebook(prepared, detect, stats) if notebook else None
        if cells is not None:
            from .notebooks import with_cell

            found = to_findings([match for match, _ in cells], self.rules, blob.provenance)
            findings = [with_cell(finding, facts) for finding, (_, facts) in zip(found, cells)]
        else:
            findings = to_findings(detect(prepared.data, prepared.encoding), self.rules, blob.provenance)
        return [f for f in findings if self._keep(f, stats)]

    @staticmethod
    def _scan_notebook(prepared: Prepared, detect: "Detect",
                       stats: ScanStats) -> list[tuple[Match, tuple[tuple[str, str], ...]]] | None:
        """A notebook's matches by cell; ``None``: scan it as text. A notebook that is no
        longer JSON (an interrupted save) is read from its string literals, so the secrets
        in its cells are still found, where the raw JSON would show them as ``\\"...\\"``."""
        from .notebooks import scan_damaged_notebook, scan_notebook

        cells = scan_notebook(prepared.data, detect)
        if cells is not None:
            return cells
        cells = scan_damaged_notebook(prepared.data, detect)
        stats.note(MALFORMED_NOTEBOOK_READ if cells is not None else MALFORMED_NOTEBOOK_AS_TEXT)
        return cells

    def _keep(self, finding: Finding, stats: ScanStats) -> bool:
        if inline_ignored(finding.line_text, finding.rule_id):
            stats.note("suppressed by brokerscan:ignore")
            return False
        if self.allowlist.allows(finding):
            stats.note("suppressed by config allowlist")
            return False
        if finding.confidence < self.options.min_confidence:
            stats.note("below --min-confidence")
            return False
        return True


def _without_encoded_twins(matches: list[Match]) -> list[Match]:
    """A base64 value that was decoded and found is one leak: drop other matches of the
    still-encoded text at the same place (e.g. the AST seeing a literal in a Secret)."""
    decoded_at = {m.location for m in matches if m.decoded}
    if not decoded_at:
        return matches
    return [m for m in matches if m.decoded or m.location not in decoded_at]


# --- process pool plumbing -------------------------------------------------------------

WINDOW_PER_JOB = 3  # batches in flight per worker: hides latency, bounds memory

_WORKER: BlobScanner | None = None


def _init_worker(rules: Sequence[Rule], options: ScanOptions) -> None:
    global _WORKER
    _WORKER = BlobScanner(rules, options)


def _scan_batch(batch: list[FileItem], base: str) -> tuple[list[Finding], ScanStats]:
    assert _WORKER is not None
    return scan_items(_WORKER, batch, base)


def scan_items(scanner: BlobScanner, items: Iterable[FileItem], base: str) -> tuple[list[Finding], ScanStats]:
    """Read and scan walked files (archives member by member); problems become counted skips.

    The files are read first and scanned together (``BlobScanner.scan_many``): one
    prefilter call for the batch instead of one per file."""
    stats = ScanStats()
    findings: list[Finding] = []
    read: list[tuple[FileItem, os.stat_result, Blob]] = []
    read_bytes = 0

    def scan_read() -> None:
        scanned = scanner.scan_many([blob for _, _, blob in read], stats)
        for (item, st, _), found in zip(read, scanned):
            findings.extend(_with_exposure(found, item, st, scanner.options))
        read.clear()

    for item in items:
        try:
            blob = _read_item(scanner, item, base, stats, findings)
        except Exception as exc:  # noqa: BLE001 - a scanner bug must not lose the rest of the scan
            stats.skip(f"internal-error-{type(exc).__name__}", item.display)
            continue
        if blob is not None:
            read.append(blob)
            read_bytes += len(blob[2].data)
            if read_bytes >= SCAN_MANY_BYTES:  # walks may not know sizes: bound what is held
                scan_read()
                read_bytes = 0
    scan_read()
    return findings, stats


def is_notebook(path: str) -> bool:
    return path.lower().endswith(".ipynb")


def _read_item(scanner: BlobScanner, item: FileItem, base: str, stats: ScanStats,
               findings: list[Finding]) -> tuple[FileItem, os.stat_result, Blob] | None:
    """The file as a blob to scan; or None when it was skipped (counted) or was an archive
    (scanned here, member by member, into ``findings``)."""
    options = scanner.options
    if options.archives and archive_kind(item.abspath) is not None:
        found = _scan_archive(scanner, item, base, stats)
        if found is not None:
            findings.extend(found)
            return None
    if item.size > options.max_file_size:  # an archive-sized file that is not an archive after all
        stats.skip("too-large", item.display)
        return None
    try:
        data, st = read_file_stat(item, options.max_file_size, is_binary=_is_binary)
    except Exception as exc:  # noqa: BLE001 - any read problem is a counted skip
        stats.skip(read_error_reason(exc), item.display)
        return None
    if item.mtime_ns and (st.st_mtime_ns != item.mtime_ns or st.st_size != item.size):
        stats.note("changed during the scan (scanned as read)")
    provenance = Provenance(kind="file", path=item.display, root=options.host_root or base,
                            extra=_labels(item.place))
    return item, st, Blob(data, provenance)


def _scan_archive(scanner: BlobScanner, item: FileItem, base: str, stats: ScanStats) -> list[Finding] | None:
    """Each member is a blob of its own (kind ``archive``, path ``outer!inner``).
    None when the file is not the archive its name says: scan it as a file."""
    options = scanner.options
    try:
        fd, st = open_regular(item, max(options.archive_max_bytes, options.max_file_size))
    except Exception as exc:  # noqa: BLE001
        stats.skip(read_error_reason(exc), item.display)
        return []
    from .sources.archives import ArchiveLimits, iter_members, looks_like

    limits = ArchiveLimits(max_member_bytes=options.max_file_size, max_total_bytes=options.archive_max_bytes,
                           max_depth=options.archive_depth)
    places = default_places()
    found: list[Finding] = []
    with os.fdopen(fd, "rb") as fh:
        try:
            head = fh.peek(512)[:512]  # fills the read buffer: no extra system call
        except OSError:
            head = b""
        if not looks_like(archive_kind(item.abspath) or "", head):
            return None
        for path, data in iter_members(fh, item.abspath, item.display, limits, stats):
            inner = path.rsplit("!", 1)[-1].lstrip("./")
            provenance = Provenance(kind="archive", path=path, root=options.host_root or base,
                                    extra=_labels(places.label_of("/" + inner) or item.place))
            found.extend(scanner.scan_blob(Blob(data, provenance), stats))
    return _with_exposure(found, item, st, options)


def _labels(place: str | None) -> tuple[tuple[str, str], ...]:
    return (("place", place),) if place else ()


def _with_exposure(findings: list[Finding], item: FileItem, st: os.stat_result,
                   options: ScanOptions) -> list[Finding]:
    """Host scans: add who can read the file (mode, owner, exposed, fix) to its findings."""
    if not findings or not options.host_root:
        return findings
    facts = exposure(item.abspath, st, options.host_root, item.place)
    out = []
    for f in findings:
        extra = tuple(sorted(dict((*f.provenance.extra, *facts)).items()))
        out.append(replace(f, provenance=replace(f.provenance, extra=extra)))
    return out


def _is_binary(head: bytes) -> bool:
    """The same verdict ``decode.prepare`` gives the whole file, from its first 8 KiB."""
    try:
        prepare(head)
    except BinaryContent:
        return True
    return False


def _batches(items: Iterable[FileItem]) -> Iterator[list[FileItem]]:
    batch: list[FileItem] = []
    size = 0
    for item in items:
        batch.append(item)
        size += max(item.size, 0)
        if len(batch) >= BATCH_FILES or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def scan_files(paths: Sequence[str], rules: Sequence[Rule], options: ScanOptions) -> tuple[list[Finding], ScanStats]:
    """Scan files and directories; findings sorted by path, line, column, rule.

    The walk is a generator consumed lazily: at most ``WINDOW_PER_JOB * jobs`` batches
    are in flight, so memory does not grow with the size of the tree.
    """
    started = time.perf_counter()
    stats = ScanStats()
    base = os.getcwd()
    walk_options = WalkOptions(
        max_file_size=options.max_file_size, excludes=options.excludes, host_root=options.host_root,
        follow_symlinks=options.follow_symlinks, one_file_system=options.one_file_system,
        archive_max_bytes=options.archive_max_bytes if options.archives else 0)
    items = walk(paths, stats, max_file_size=options.max_file_size, base=base, options=walk_options)
    head: list[FileItem] = []
    head_bytes = 0
    for item in items:
        head.append(item)
        head_bytes += max(item.size, 0)
        if len(head) >= INLINE_MAX_FILES or head_bytes >= INLINE_MAX_BYTES:
            break
    else:
        items = iter(())
    from .workers import default_jobs

    jobs = options.jobs or default_jobs()
    findings: list[Finding] = []
    progress = _Progress(started) if options.progress else None
    if jobs == 1 or (len(head) < INLINE_MAX_FILES and head_bytes < INLINE_MAX_BYTES):
        scanner = BlobScanner(rules, options)
        for batch in _batches(_chain(head, items)):
            found, batch_stats = scan_items(scanner, batch, base)
            _collect(findings, stats, found, batch_stats, progress)
    else:
        from .workers import Lost, WorkerPool, map_retrying  # multiprocessing: ~25 ms a pre-commit run need not pay

        with WorkerPool(jobs, _scan_batch, _init_worker, (list(rules), options)) as pool:
            batches = ((batch, base) for batch in _batches(_chain(head, items)))
            for outcome in map_retrying(pool, batches, WINDOW_PER_JOB, _one_file_each):
                if isinstance(outcome, Lost):
                    outcome = _lost_batch(outcome)
                found, batch_stats = outcome
                _collect(findings, stats, found, batch_stats, progress)
            if pool.replaced:
                stats.note(WORKER_DIED, pool.replaced)
    if progress is not None:
        progress.close()
    findings = apply_severity_overrides(findings, options.severity_overrides)
    if options.host_root:
        findings = escalate_exposed(findings)
        for problem in host_file_problems(options.host_root):
            stats.note(problem)
    findings.sort(key=Finding.sort_key)
    stats.duration_s = time.perf_counter() - started
    return findings, stats


def _one_file_each(args: tuple) -> Iterator[tuple]:
    """A lost batch's files as tasks of one file each: see ``workers.map_retrying``."""
    batch, base = args
    return (([item], base) for item in batch)


def _lost_batch(lost: "Lost") -> tuple[list[Finding], ScanStats]:
    """A file whose worker died scanning it, alone (``map_retrying``: the rest of its batch
    was scanned again): counted as skipped, by name, so the summary says what was not scanned."""
    stats = ScanStats()
    batch, _base = lost.args
    for item in batch:
        stats.skip(lost.reason, item.display)
    return [], stats


def _chain(head: list[FileItem], rest: Iterable[FileItem]) -> Iterator[FileItem]:
    yield from head
    yield from rest


def _collect(findings: list[Finding], stats: ScanStats, found: list[Finding], batch_stats: ScanStats,
             progress: _Progress | None) -> None:
    findings.extend(found)
    stats.merge(batch_stats)
    if progress is not None:
        progress.update(batch_stats.files_scanned + batch_stats.files_skipped, stats.bytes_scanned, len(findings))


class _Progress:
    """tqdm on stderr: files (and their rate), MB scanned, MB/s, findings."""

    def __init__(self, started: float) -> None:
        from tqdm import tqdm

        self.started = started
        self.bar = tqdm(unit=" files", file=sys.stderr, dynamic_ncols=True, leave=False, mininterval=0.5)

    def update(self, files: int, scanned_bytes: int, findings: int) -> None:
        elapsed = max(time.perf_counter() - self.started, 1e-6)
        self.bar.set_postfix_str(f"{scanned_bytes / 1e6:,.0f} MB, {scanned_bytes / 1e6 / elapsed:,.1f} MB/s, "
                                 f"{findings} findings", refresh=False)
        self.bar.update(files)

    def close(self) -> None:
        self.bar.close()


def apply_severity_overrides(findings: list[Finding], overrides: Sequence[tuple[str, str]]) -> list[Finding]:
    if not overrides:
        return findings
    from .models import Severity

    table = {rule_id: Severity(level) for rule_id, level in overrides}
    return [replace(f, severity=table[f.rule_id]) if f.rule_id in table else f for f in findings]


def scan_bytes(data: bytes, provenance: Provenance, rules: Sequence[Rule], options: ScanOptions) -> tuple[list[Finding], ScanStats]:
    """One blob (stdin, a test string): no walking, no pool."""
    started = time.perf_counter()
    stats = ScanStats()
    findings = BlobScanner(rules, options).scan_blob(Blob(data, provenance), stats)
    findings = apply_severity_overrides(findings, options.severity_overrides)
    findings.sort(key=Finding.sort_key)
    stats.duration_s = time.perf_counter() - started
    return findings, stats
