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

from .decode import BinaryContent, prepare
from .engine import Engine
from .findings import to_findings
from .models import Blob, Finding, Provenance, ScanStats
from .rules import Rule
from .sources.files import FileItem, read_error_reason, read_file, walk
from .suppress import Allowlist, inline_ignored

DEFAULT_MAX_FILE_SIZE = 10 * 1024 * 1024
INLINE_MAX_FILES = 64  # fewer files than this: no process pool
INLINE_MAX_BYTES = 8 * 1024 * 1024
BATCH_FILES = 48
BATCH_BYTES = 4 * 1024 * 1024


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


class BlobScanner:
    """Engine + rule metadata + suppression: bytes and provenance in, findings out."""

    def __init__(self, rules: Sequence[Rule], options: ScanOptions) -> None:
        self.rules = {r.id: r for r in rules}
        self.engine = Engine(rules, backend=options.backend)
        self.options = options
        self.allowlist = Allowlist.build(options.allow_secrets, options.stopwords)

    def scan_blob(self, blob: Blob, stats: ScanStats) -> list[Finding]:
        try:
            prepared = prepare(blob.data)
        except BinaryContent:
            stats.skip("binary", blob.provenance.path)
            return []
        stats.files_scanned += 1
        stats.bytes_scanned += len(blob.data)
        if prepared.note:
            stats.note(prepared.note)
        matches = self.engine.scan(prepared.data, blob.provenance.path, encoding=prepared.encoding)
        if not matches:
            return []
        return [f for f in to_findings(matches, self.rules, blob.provenance) if self._keep(f, stats)]

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


# --- process pool plumbing -------------------------------------------------------------

_WORKER: BlobScanner | None = None


def _init_worker(rules: Sequence[Rule], options: ScanOptions) -> None:
    global _WORKER
    _WORKER = BlobScanner(rules, options)


def _scan_batch(batch: list[FileItem], base: str) -> tuple[list[Finding], ScanStats]:
    assert _WORKER is not None
    return scan_items(_WORKER, batch, base)


def scan_items(scanner: BlobScanner, items: Iterable[FileItem], base: str) -> tuple[list[Finding], ScanStats]:
    stats = ScanStats()
    findings: list[Finding] = []
    for item in items:
        try:
            data = read_file(item, scanner.options.max_file_size)
        except Exception as exc:  # noqa: BLE001 - any read problem is a counted skip
            stats.skip(read_error_reason(exc), item.display)
            continue
        provenance = Provenance(kind="file", path=item.display, root=base)
        try:
            findings.extend(scanner.scan_blob(Blob(data, provenance), stats))
        except Exception as exc:  # noqa: BLE001 - a scanner bug must not lose the rest of the scan
            stats.skip(f"internal-error-{type(exc).__name__}", item.display)
    return findings, stats


def _batches(items: Iterable[FileItem]) -> Iterator[list[FileItem]]:
    batch: list[FileItem] = []
    size = 0
    for item in items:
        batch.append(item)
        size += item.size
        if len(batch) >= BATCH_FILES or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def scan_files(paths: Sequence[str], rules: Sequence[Rule], options: ScanOptions) -> tuple[list[Finding], ScanStats]:
    """Scan files and directories; findings sorted by path, line, column, rule."""
    started = time.perf_counter()
    stats = ScanStats()
    base = os.getcwd()
    items = walk(paths, stats, excludes=options.excludes, max_file_size=options.max_file_size, base=base)
    head: list[FileItem] = []
    head_bytes = 0
    for item in items:
        head.append(item)
        head_bytes += item.size
        if len(head) >= INLINE_MAX_FILES or head_bytes >= INLINE_MAX_BYTES:
            break
    else:
        items = iter(())
    jobs = options.jobs or os.cpu_count() or 1
    findings: list[Finding] = []
    progress = _progress(options.progress)
    if jobs == 1 or (len(head) < INLINE_MAX_FILES and head_bytes < INLINE_MAX_BYTES):
        scanner = BlobScanner(rules, options)
        for batch in _batches(_chain(head, items)):
            found, batch_stats = scan_items(scanner, batch, base)
            _collect(findings, stats, found, batch_stats, progress)
    else:
        import multiprocessing

        context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        with context.Pool(jobs, initializer=_init_worker, initargs=(list(rules), options)) as pool:
            batches = ((batch, base) for batch in _batches(_chain(head, items)))
            for found, batch_stats in pool.imap(_star_scan_batch, batches, chunksize=1):
                _collect(findings, stats, found, batch_stats, progress)
    if progress is not None:
        progress.close()
    findings = apply_severity_overrides(findings, options.severity_overrides)
    findings.sort(key=Finding.sort_key)
    stats.duration_s = time.perf_counter() - started
    return findings, stats


def _star_scan_batch(args: tuple[list[FileItem], str]) -> tuple[list[Finding], ScanStats]:
    return _scan_batch(*args)


def _chain(head: list[FileItem], rest: Iterable[FileItem]) -> Iterator[FileItem]:
    yield from head
    yield from rest


def _collect(findings: list[Finding], stats: ScanStats, found: list[Finding], batch_stats: ScanStats, progress) -> None:
    findings.extend(found)
    stats.merge(batch_stats)
    if progress is not None:
        progress.update(batch_stats.files_scanned + batch_stats.files_skipped)
        progress.set_postfix(MB=f"{stats.bytes_scanned / 1e6:.0f}", findings=len(findings), refresh=False)


def _progress(enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(unit=" files", file=sys.stderr, dynamic_ncols=True, leave=False)


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
