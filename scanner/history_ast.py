"""The AST stage of a history scan: each line judged once, in the version that introduced it.

A secret committed to a file stays in every later version of that file, and each
version is a blob of its own: judging every one of them with tree-sitter parsed the
same file hundreds of times (a 20,000-commit history: 1,800 parses for 60 secrets).
A diff-based scanner never looks at an unchanged line again; this module gives the
blob-once scan the same economy without giving up the syntax-aware verdict:

1. During the scan, a blob the AST stage would parse comes back as a ``DeferredAst``
   (``BlobScanner._deferred``): the lines its verdict depends on (regex matches and
   the credential names the AST would look at), each with its regex matches.
2. Here, the deferred blobs of each path are put in history order (the commit that
   introduced each blob, ``history.attribute``). A blob is parsed when one of its
   lines (text and matches) is new to the path; otherwise every such line was judged
   in an earlier version, and the blob's findings are that version's findings on
   those lines, moved to where the lines are now.
3. A path where a parsed version has a finding off those lines (an assignment that
   spans lines, say) is not trusted to this shortcut: all its versions are parsed.

Blobs no commit introduces (unreachable ones) are parsed. The order, and so the
result, depends only on the history, never on ``--jobs`` or on which worker saw what.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from .history import HistoryLog, attribute
from .models import Finding, ScanStats
from .scan import DeferredAst
from .sources.git import ObjectRef, Repository, Scope

LineKey = tuple[bytes, tuple]  # a line's bytes and its regex matches


Judge = Callable[[list[ObjectRef], list[int]], tuple[list[tuple[ObjectRef, "list[Finding] | None"]], ScanStats]]


def judge_deferred(pending: list[tuple[ObjectRef, DeferredAst]], repo: Repository, scope: Scope,
                   stats: ScanStats, log: HistoryLog, judge: Judge,
                   also: set[tuple[str, bytes]] = frozenset()) -> list[tuple[Finding, str]]:
    """Findings of the deferred blobs, each with its blob id (see the module docstring).

    ``judge``: scans blobs in full, in order (``gitscan._Workers.judge``: the scan's pool).
    ``also``: other (blob, path) pairs to attribute in the same pass (the scan's findings),
    so that attributing the findings later reads the commit listing no second time."""
    if not pending:
        return []
    parse, reuse = plan(pending, repo, scope, log, also)
    verdicts = _Verdicts(judge, stats)
    found = verdicts.parse(parse)
    covered: list[tuple[ObjectRef, DeferredAst]] = []
    retry: list[tuple[ObjectRef, DeferredAst]] = []
    for item in reuse:
        (covered if verdicts.cover(*item) else retry).append(item)
    found.extend(verdicts.parse(retry))
    # A retried blob may show its path unsafe (a finding off its judged lines): that path's
    # covered blobs are parsed too. Parsing a path's blobs can only mark that same path.
    if retry and any(ref.path in verdicts.unsafe_paths for ref, _ in covered):
        found.extend(verdicts.parse([item for item in covered if item[0].path in verdicts.unsafe_paths]))
        covered = [item for item in covered if item[0].path not in verdicts.unsafe_paths]
    for ref, later in covered:
        for number, text, matches in later.lines:
            for finding in verdicts.found[(ref.path, text, matches)]:
                location = replace(finding.location, line=number, end_line=number)
                found.append((replace(finding, location=location), ref.sha))
    if covered:
        stats.note("ast: history blobs whose lines an earlier version had judged (not parsed again)", len(covered))
    return found


def plan(pending: list[tuple[ObjectRef, DeferredAst]], repo: Repository, scope: Scope, log: HistoryLog,
         also: set[tuple[str, bytes]] = frozenset()
         ) -> tuple[list[tuple[ObjectRef, DeferredAst]], list[tuple[ObjectRef, DeferredAst]]]:
    """(blobs to parse, blobs whose every line an earlier parsed version of the path holds)."""
    intros = attribute(repo, scope, {(ref.sha, ref.path) for ref, _ in pending if ref.path} | also, log)
    parse: list[tuple[ObjectRef, DeferredAst]] = []
    by_path: dict[bytes, list[tuple[int, str, ObjectRef, DeferredAst]]] = {}
    for ref, later in pending:
        intro = intros.get((ref.sha, ref.path))
        if intro is None:
            parse.append((ref, later))
        else:
            by_path.setdefault(ref.path, []).append((intro.order, ref.sha, ref, later))
    reuse: list[tuple[ObjectRef, DeferredAst]] = []
    for versions in by_path.values():
        versions.sort(key=lambda v: (v[0], v[1]))
        seen: set[LineKey] = set()
        for _, _, ref, later in versions:
            keys = _keys(later)
            if keys <= seen:
                reuse.append((ref, later))
            else:
                parse.append((ref, later))
                seen |= keys
    return parse, reuse


def _keys(later: DeferredAst) -> set[LineKey]:
    return {(text, matches) for _, text, matches in later.lines}


class _Verdicts:
    """What full scans found, per path and line: the verdicts later versions reuse."""

    def __init__(self, judge: Judge, stats: ScanStats) -> None:
        self.judge = judge
        self.stats = stats
        self.found: dict[tuple[bytes, bytes, tuple], list[Finding]] = {}
        self.unsafe_paths: set[bytes] = set()

    def parse(self, items: list[tuple[ObjectRef, DeferredAst]]) -> list[tuple[Finding, str]]:
        if not items:
            return []
        items = sorted(items, key=lambda item: -item[1].size)  # largest first: the last task is short
        results, judged = self.judge([ref for ref, _ in items], [later.size for _, later in items])
        # The scan phase counted these blobs already: only skips and the AST's notes are new.
        self.stats.merge(ScanStats(skipped=judged.skipped, skipped_paths=judged.skipped_paths, notes=judged.notes))
        out: list[tuple[Finding, str]] = []
        for (ref, later), (_, findings) in zip(items, results):
            if findings is None:
                continue
            out.extend((finding, ref.sha) for finding in findings)
            self._remember(ref, later, findings)
        return out

    def cover(self, ref: ObjectRef, later: DeferredAst) -> bool:
        """Whether every line of ``later`` has a verdict this blob may take."""
        return ref.path not in self.unsafe_paths and all((ref.path, *key) in self.found for key in _keys(later))

    def _remember(self, ref: ObjectRef, later: DeferredAst, findings: list[Finding]) -> None:
        numbers = {number for number, _, _ in later.lines}
        if any(f.location.line not in numbers or f.location.end_line != f.location.line for f in findings):
            self.unsafe_paths.add(ref.path)
            return
        for number, text, matches in later.lines:
            key = (ref.path, text, matches)
            if key not in self.found:
                self.found[key] = [f for f in findings if f.location.line == number]
