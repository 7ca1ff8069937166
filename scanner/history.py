"""Which commit introduced a blob, and how many commits carried it: asked only for blobs with findings.

The scan reads each unique blob once without knowing its commits. For the few
blobs that hold findings, two git calls answer the rest:

1. ``git rev-list --topo-order --reverse --parents`` over the scanned commits gives
   the graph (parents before children);
2. ``git log --full-history --diff-merges=first-parent --raw`` limited to the paths
   of interest gives every commit that changed one of them, with the blob ids.

Walking the graph once, each commit's state for those paths is its first parent's
state plus its own changes (a merge's first-parent diff brings in the other side).
The introducing commit of ``(blob, path)`` is the first commit, oldest first, whose
change sets ``path`` to ``blob``; the commits carrying it are those whose state
holds it. Commits whose first parent lies outside the scanned range start from an
empty state, so for ``--range``/``--since`` scans the count covers the range only.

A blob that the path-limited pass cannot place (git cuts a path at a newline in
``rev-list --objects`` output, so the path may be wrong) is looked up in a second,
unlimited pass by blob id alone.
"""
from __future__ import annotations

import subprocess
from collections.abc import Iterable
from dataclasses import dataclass

from .sources.git import (
    GIT_MEMORY,
    GitError,
    Repository,
    Scope,
    boundary_exclusions,
    git_argv,
    git_env,
    git_message,
)

MAX_PATHSPECS = 2000  # beyond this a full pass filtered in Python is cheaper than git's pathspec matching
_ZERO = "0" * 40


@dataclass(frozen=True, slots=True)
class Introduction:
    """Where a blob first appeared at a path, within the scanned commits."""

    commit: str
    author: str
    date: str  # ISO 8601, author date
    order: int  # position in oldest-first topological order; smaller is older
    carrying: int  # commits whose tree holds this blob at this path
    path: bytes


@dataclass(frozen=True, slots=True)
class _Change:
    commit: str
    path: bytes
    blob: str | None  # None: the path was deleted


def attribute(repo: Repository, scope: Scope,
              wanted: Iterable[tuple[str, bytes]]) -> dict[tuple[str, bytes], Introduction]:
    """``(blob, path)`` -> its ``Introduction``; pairs git cannot place are absent.

    A pair whose path was wrong (see the module docstring) is keyed by the path
    given but its ``Introduction.path`` is the real one.
    """
    wanted = set(wanted)
    if not wanted:
        return {}
    negatives = boundary_exclusions(repo, scope)
    order, first_parent = _graph(repo, scope, negatives)
    paths = sorted({path for _, path in wanted if path and b"\n" not in path})
    limited = paths if len(paths) <= MAX_PATHSPECS else None
    changes, people = _changes(repo, scope, negatives, limited)
    found = _walk(order, first_parent, changes, people, wanted)
    missing = wanted - found.keys()
    full_pass_done = limited is None and all(p and b"\n" not in p for _, p in wanted)
    if missing and not full_pass_done:
        by_blob = {blob: (blob, path) for blob, path in missing}
        if limited is not None:
            changes, people = _changes(repo, scope, negatives, None)
        relocated = {(c.blob, c.path) for cs in changes.values() for c in cs if c.blob in by_blob}
        again = _walk(order, first_parent, changes, people, relocated)
        for (blob, path), intro in sorted(again.items(), key=lambda kv: kv[1].order):
            key = by_blob[blob]
            if key not in found:
                found[key] = intro
    return found


def head_blobs(repo: Repository, paths: Iterable[bytes]) -> dict[bytes, str]:
    """``path`` -> blob id in ``HEAD`` for those paths that exist there (none if HEAD is unborn)."""
    paths = [p for p in dict.fromkeys(paths) if p and b"\n" not in p]
    if not paths:
        return {}
    stdin = b"".join(b"HEAD:" + p + b"\n" for p in paths)
    proc = subprocess.run(git_argv(repo.root, "cat-file", "--batch-check=%(objectname) %(objecttype)"),
                          input=stdin, capture_output=True, env=git_env(), check=False)
    result: dict[bytes, str] = {}
    for path, line in zip(paths, proc.stdout.splitlines()):
        sha, _, kind = line.decode("ascii", "replace").partition(" ")
        if kind == "blob" and len(sha) == 40:
            result[path] = sha
    return result


def _graph(repo: Repository, scope: Scope, negatives: list[str]) -> tuple[list[str], dict[str, str]]:
    stdin = "".join(n + "\n" for n in negatives).encode("ascii")
    out = repo.git("rev-list", "--topo-order", "--reverse", "--parents", *scope.rev_args(), "--stdin", input=stdin)
    order: list[str] = []
    first_parent: dict[str, str] = {}
    for line in out.decode("ascii").splitlines():
        shas = line.split()
        if not shas:
            continue
        order.append(shas[0])
        if len(shas) > 1:
            first_parent[shas[0]] = shas[1]
    return order, first_parent


def _changes(repo: Repository, scope: Scope, negatives: list[str], paths: list[bytes] | None
             ) -> tuple[dict[str, list[_Change]], dict[str, tuple[str, str]]]:
    """Commit -> its first-parent changes (to ``paths``, or all), and commit -> (author, date)."""
    stdin = b"".join(n.encode("ascii") + b"\n" for n in negatives)
    if paths is not None:
        stdin += b"--\n" + b"".join(p + b"\n" for p in paths)
    argv = git_argv(repo.root, *GIT_MEMORY, "--literal-pathspecs", "log", "--full-history",
                    "--diff-merges=first-parent",
                    "--root", "--raw", "-z", "--no-abbrev", "--no-renames", "--no-ext-diff", "--no-textconv",
                    "--format=%x01%H%x00%an%x00%aI", *scope.rev_args(), "--stdin")
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=git_env())
    out, err = proc.communicate(stdin)
    if proc.returncode != 0:
        raise GitError(git_message(err, ["log"]))
    changes: dict[str, list[_Change]] = {}
    people: dict[str, tuple[str, str]] = {}
    tokens = iter(out.split(b"\0"))
    commit = None
    for token in tokens:
        token = token.lstrip(b"\n")
        if token.startswith(b"\x01"):
            commit = token[1:].decode("ascii")
            author = next(tokens, b"").decode("utf-8", "replace")
            date = next(tokens, b"").decode("ascii", "replace")
            people[commit] = (author, date)
        elif token.startswith(b":") and commit is not None:
            meta = token[1:].split()
            path = next(tokens, b"")
            if len(meta) < 5 or meta[1] == b"160000":  # submodule commits are not blobs
                continue
            new = meta[3].decode("ascii")
            changes.setdefault(commit, []).append(_Change(commit, path, None if new == _ZERO else new))
    return changes, people


def _walk(order: list[str], first_parent: dict[str, str], changes: dict[str, list[_Change]],
          people: dict[str, tuple[str, str]], wanted: set[tuple[str, bytes]]) -> dict[tuple[str, bytes], Introduction]:
    wanted_paths = {path for _, path in wanted}
    states: list[dict[bytes, str]] = [{}]
    state_of: dict[str, int] = {}
    usage: list[int] = [0]
    first: dict[tuple[str, bytes], tuple[int, str]] = {}
    for index, commit in enumerate(order):
        parent_state = state_of.get(first_parent.get(commit, ""), 0)
        mine = [c for c in changes.get(commit, ()) if c.path in wanted_paths]
        if mine:
            state = dict(states[parent_state])
            for change in mine:
                if change.blob is None:
                    state.pop(change.path, None)
                    continue
                state[change.path] = change.blob
                key = (change.blob, change.path)
                if key in wanted and key not in first:
                    first[key] = (index, commit)
            states.append(state)
            usage.append(0)
            parent_state = len(states) - 1
        state_of[commit] = parent_state
        usage[parent_state] += 1
    carrying: dict[tuple[str, bytes], int] = {}
    for state, count in zip(states, usage):
        for path, blob in state.items():
            key = (blob, path)
            if key in first:
                carrying[key] = carrying.get(key, 0) + count
    result = {}
    for key, (index, commit) in first.items():
        author, date = people.get(commit, ("", ""))
        result[key] = Introduction(commit, author, date, index, carrying.get(key, 0), key[1])
    return result
