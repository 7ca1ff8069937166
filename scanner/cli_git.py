"""The ``git``, ``staged`` and ``baseline`` verbs: argument parsing and wiring only.

Registered by ``cli.py`` through its ``VERB_PLUGINS`` / ``EXTRA_VERBS`` hooks. Only
``argparse`` is imported here at module level so ``brokerscan --version`` and a
pre-commit run stay fast; runners import what they need.
"""
from __future__ import annotations

import argparse

GIT_EPILOG = """\
By default every blob reachable from any ref (branches, tags, remotes, stash) is
scanned once, including files deleted later. A secret found in many commits is
reported once, at the commit that introduced it, with how many commits carried it
and whether HEAD still holds it.

examples:
  brokerscan git                         # the repository in the current directory, all refs
  brokerscan git path/to/repo.git        # a bare repository
  brokerscan git --range origin/main..HEAD --format sarif -o brokerscan.sarif   # a pull request
  brokerscan git --branch main --since 2024-01-01
  brokerscan git --cache .brokerscan-cache   # nightly: read only what changed since the last run
"""

STAGED_EPILOG = """\
Scans the blobs in the index (what the next commit records, not the working tree)
and reports findings on added lines only, so an old line that is already in the
repository (or in a baseline) does not block every commit to that file.
Used by the pre-commit hook 'brokerscan'; skip it once with SKIP=brokerscan.
"""

BASELINE_EPILOG = """\
examples:
  brokerscan baseline create                         # = 'dir .'  -> .brokerscan-baseline.json
  brokerscan baseline create git                     # every secret in the history
  brokerscan baseline create -o ci/baseline.json git --branch main
  brokerscan baseline create git --branch main -o ci/baseline.json   # the same: -o is the baseline file
  brokerscan git --baseline .brokerscan-baseline.json    # then: report only new findings

The baseline holds fingerprints (rule id + hash of the secret + path), never a
secret; commit it. Create and use it from the repository root.
"""

SCAN_VERBS = ("dir", "git", "staged", "stdin")


def add_verbs(subparsers, report_parent: argparse.ArgumentParser) -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    p_git = subparsers.add_parser("git", parents=[report_parent], help="scan git history (every unique blob once)",
                                  epilog=GIT_EPILOG, formatter_class=formatter)
    p_git.add_argument("repo", nargs="?", default=".", metavar="REPO",
                       help="repository (work tree or bare), default: the current directory")
    sel = p_git.add_argument_group("which commits")
    sel.add_argument("--branch", action="append", default=[], metavar="REF",
                     help="only commits reachable from REF (repeatable); default: all refs")
    sel.add_argument("--range", metavar="A..B", help="only commits in B that are not in A (pull requests, pushes)")
    sel.add_argument("--since", metavar="DATE", help="only what commits after DATE added or changed")
    sel.add_argument("--until", metavar="DATE", help="only what commits before DATE added or changed")
    sel.add_argument("--all-objects", action="store_true",
                     help="also scan unreachable blobs, reflogs, old stashes and the index")
    speed = p_git.add_argument_group("repeated scans")
    speed.add_argument("--cache", metavar="DIR",
                       help="remember in DIR (created if missing) which blobs were clean and, for scans of "
                            "refs, what the last scan found and where each ref pointed: an unchanged history "
                            "re-reads only the blobs of its findings, a grown one scans only its new commits; "
                            "keyed by rules, options and brokerscan version; holds no secrets")

    p_staged = subparsers.add_parser("staged", parents=[report_parent],
                                     help="scan staged changes (added lines), for pre-commit",
                                     epilog=STAGED_EPILOG, formatter_class=formatter)
    p_staged.add_argument("repo", nargs="?", default=".", metavar="REPO", help="default: the current directory")
    p_staged.add_argument("--all-lines", action="store_true",
                          help="report findings anywhere in staged files, not only on added lines")

    p_base = subparsers.add_parser("baseline", help="record current findings so later scans report only new ones",
                                   epilog=BASELINE_EPILOG, formatter_class=formatter)
    base_verbs = p_base.add_subparsers(dest="baseline_verb", metavar="ACTION")
    p_create = base_verbs.add_parser(
        "create", help="scan and write a baseline file",
        usage="brokerscan baseline create [-o FILE] [dir|git|staged ARGS...]",
        description="Run a scan (default: 'dir .') with any of its usual flags and write the fingerprints "
                    "of its findings to a baseline file instead of a report.")
    p_create.add_argument("-o", "--output", default=None, metavar="FILE",
                          help="baseline file to write (default: .brokerscan-baseline.json); also accepted "
                               "after the scan verb, which writes no report")
    p_create.add_argument("scan", nargs=argparse.REMAINDER, metavar="VERB ARGS",
                          help="the scan to record, as you would type it after 'brokerscan'")


def run_git(args) -> int:
    from dataclasses import replace

    from .cli import UsageError, emit, local_hostname, scan_setup
    from .gitscan import scan_history
    from .models import ScanTarget
    from .sources.git import GitError, Scope, validate_revisions, vcs_details

    repo = _open(args.repo, need_worktree=False)
    if args.range and args.branch:
        raise UsageError("--range and --branch cannot be combined (put the branch in the range: main..feature)")
    args.paths = [repo.root]
    rules, options = scan_setup(args)
    _check_baseline(args)
    options = replace(options, progress=_progress_wanted(args))
    scope = Scope(refs=tuple(args.branch), range=args.range, since=args.since, until=args.until,
                  all_objects=args.all_objects)
    cache = _open_cache(args.cache, rules, options) if args.cache else None
    try:
        validate_revisions(repo, scope)
        findings, stats = scan_history(repo, scope, rules, options, cache)
    except GitError as exc:
        raise UsageError(str(exc)) from None
    vcs = vcs_details(repo) if args.format == "sarif" else ()
    target = ScanTarget("git", (repo.root,), local_hostname(), vcs=vcs)
    return emit(args, findings, stats, target, {r.id: r for r in rules})


def run_staged(args) -> int:
    import sys

    from .cli import EXIT_CLEAN, UsageError, emit, local_hostname, scan_setup
    from .gitscan import scan_staged
    from .models import ScanTarget
    from .sources.git import GitError, vcs_details

    repo = _open(args.repo, need_worktree=True)
    args.paths = [repo.root]
    rules, options = scan_setup(args)
    _check_baseline(args)
    try:
        findings, stats = scan_staged(repo.root, rules, options, all_lines=args.all_lines)
    except GitError as exc:
        raise UsageError(str(exc)) from None
    vcs = vcs_details(repo) if args.format == "sarif" else ()
    target = ScanTarget("staged", (repo.root,), local_hostname(), vcs=vcs)
    code = emit(args, findings, stats, target, {r.id: r for r in rules})
    if code != EXIT_CLEAN and not getattr(args, "write_baseline", None):
        print("brokerscan: commit blocked: staged changes add the secret(s) above. Remove them (and rotate any "
              "real credential), or mark a false positive with a 'brokerscan:ignore RULE-ID' comment on the "
              "line; skip the hook once with SKIP=brokerscan git commit ...", file=sys.stderr)
    return code


def run_baseline(args) -> int:
    from .baseline import DEFAULT_BASELINE
    from .cli import UsageError, _scan_verb, build_parser

    if args.baseline_verb != "create":
        raise UsageError("usage: brokerscan baseline create [-o FILE] [dir|git|staged ARGS...]")
    scan_argv = list(args.scan) or ["dir", "."]
    if scan_argv[0] == "--":
        scan_argv = scan_argv[1:] or ["dir", "."]
    if scan_argv[0] not in SCAN_VERBS:
        raise UsageError(f"baseline create: expected a scan verb ({', '.join(SCAN_VERBS)}), got {scan_argv[0]!r}")
    try:
        inner = build_parser().parse_args(scan_argv)
    except SystemExit as exc:  # argparse printed the problem
        return int(exc.code or 0)
    inner.write_baseline = _baseline_file(args.output, inner.output, DEFAULT_BASELINE)
    inner.output = None
    return _scan_verb(inner)


def _baseline_file(before_verb: str | None, after_verb: str | None, default: str) -> str:
    """``-o`` names the baseline file wherever it is given: after the scan verb it would
    otherwise be the scan's ``--output``, a report that ``baseline create`` never writes,
    and the default baseline would be overwritten instead."""
    from .cli import UsageError

    if before_verb and after_verb and before_verb != after_verb:
        raise UsageError(f"baseline create: two baseline files given (-o {before_verb} and -o {after_verb})")
    return before_verb or after_verb or default


RUNNERS = {"git": run_git, "staged": run_staged, "baseline": run_baseline}


def _open(path: str, *, need_worktree: bool):
    from .cli import UsageError
    from .sources.git import GitError, open_repository

    try:
        repo = open_repository(path)
    except GitError as exc:
        raise UsageError(str(exc)) from None
    if need_worktree and repo.bare:
        raise UsageError(f"{path} is a bare repository: it has no index to scan (use 'brokerscan git')")
    return repo


def _open_cache(directory: str, rules, options):
    """The ``--cache`` namespace; a DIR that cannot be created stops the scan before it starts."""
    from .cli import UsageError
    from .gitcache import HistoryCache

    try:
        return HistoryCache.open(directory, rules, options)
    except OSError as exc:
        raise UsageError(f"--cache {directory}: cannot create the cache directory ({exc.strerror or exc})") from None


def _check_baseline(args) -> None:
    """Fail before a long scan, not after it, when --baseline names a bad file."""
    if getattr(args, "baseline", None):
        from .baseline import BaselineError, load_baseline
        from .cli import UsageError

        try:
            load_baseline(args.baseline)
        except BaselineError as exc:
            raise UsageError(str(exc)) from None


def _progress_wanted(args) -> bool:
    import os
    import sys

    return not args.no_progress and sys.stderr.isatty() and not os.environ.get("CI")
