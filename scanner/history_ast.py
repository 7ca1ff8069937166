"""The AST stage of a history scan: the blobs the scan phase set aside, each judged on its own.

During the scan, a blob the AST stage would parse comes back as a ``DeferredAst``
(``BlobScanner._deferred``): the lines its verdict would be about (regex matches and
the credential names the AST would look at). A blob with no such line has no finding,
parsed or not, and is never parsed. Every other one is scanned in full here, on the
scan's pool, largest first.

Its verdict is never taken from another version of the file, even one with the same
judged lines: the AST's verdict on a line depends on the whole file. A docstring that
opens lines above it makes a literal documentation (confidence x0.6); a syntax error
anywhere makes the whole file regex-only; an identifier is "a bare name" only if it
occurs once in the file; a client library named anywhere makes a call a client call.
A version that kept the line but changed any of these got the other version's verdict
(a password that left a docstring kept the docstring's confidence and fell under
``--min-confidence``, while ``dir`` on the same commit reported it). A verdict that
is provably the same would need the other version's parse: what tree-sitter read of
it before giving up, or its tree reused by an incremental parse.
"""
from __future__ import annotations

from collections.abc import Callable

from .history import HistoryLog
from .models import Finding, ScanStats
from .scan import DeferredAst
from .sources.git import ObjectRef, Repository, Scope

Judge = Callable[[list[ObjectRef], list[int]], tuple[list[tuple[ObjectRef, "list[Finding] | None"]], ScanStats]]


def judge_deferred(pending: list[tuple[ObjectRef, DeferredAst]], repo: Repository, scope: Scope,
                   stats: ScanStats, log: HistoryLog, judge: Judge,
                   also: set[tuple[str, bytes]] = frozenset()) -> list[tuple[Finding, str]]:
    """Findings of the deferred blobs, each with its blob id (see the module docstring).

    ``judge``: scans blobs in full, in order (``gitscan._Workers.judge``: the scan's pool).
    ``repo``, ``scope``, ``log`` and ``also`` are no longer needed (they placed each blob in
    history order, for the verdicts that were reused); the caller's signature is kept."""
    # Largest first: the last task is short.
    items = sorted((item for item in pending if item[1].lines), key=lambda item: -item[1].size)
    if not items:
        return []
    results, judged = judge([ref for ref, _ in items], [later.size for _, later in items])
    # The scan phase counted these blobs already: only skips and the AST's notes are new.
    stats.merge(ScanStats(skipped=judged.skipped, skipped_paths=judged.skipped_paths, notes=judged.notes))
    return [(finding, ref.sha) for ref, findings in results for finding in findings or ()]
