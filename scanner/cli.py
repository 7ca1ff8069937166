"""Command line: argument parsing, config resolution and exit codes; no scanning logic.

Exit codes: 0 nothing found, 1 findings (``--exit-code`` changes it), 2 usage or
fatal error (bad rule file, bad config) with a one-line message on stderr.
Heavy modules are imported inside the verbs so ``--version`` and a pre-commit
run stay fast.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import __version__
from . import cli_git  # argparse only at import time: --version stays fast

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class UsageError(Exception):
    """Wrong flags or arguments: one line on stderr, exit 2."""


# Verbs defined in other modules (git history, staged changes, baselines, merge) register here:
# VERB_PLUGINS get (subparsers, common_report_parent) to add their parsers; EXTRA_VERBS map a
# verb name to its runner(args) -> exit code. Kept as plain lists so `--version` imports nothing.
VERB_PLUGINS: list = []
EXTRA_VERBS: dict = {}


def _add_merge_verb(verbs, report) -> None:
    """The ``merge`` verb's arguments, defined here rather than in ``scanner.merge``: building the
    parser runs for every verb (``--version`` included), and importing ``scanner.merge`` costs
    ~25 ms (models, dataclasses, json), so it is imported by ``_run_merge`` only."""
    p = verbs.add_parser(
        "merge", help="merge SARIF or JSON reports from many machines into one",
        description="Merge brokerscan reports (SARIF or JSON, from many machines) into one, "
                    "de-duplicated by fingerprint; each finding lists the hosts it was seen on.")
    p.add_argument("reports", nargs="+", metavar="REPORT", help="SARIF or JSON reports written by brokerscan")
    p.add_argument("--format", "-f", choices=("text", "json", "sarif"), default=None,
                   help="output format (default: the inputs' format; SARIF when they are mixed)")
    p.add_argument("--output", "-o", metavar="FILE", help="write the merged report here instead of stdout")
    p.add_argument("--show-secrets", action="store_true", help="keep secrets that the inputs show in full")
    p.add_argument("--verbose", "-v", action="store_true", help="list skipped paths in the summary")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    p.add_argument("--exit-code", type=_exit_code, default=EXIT_FINDINGS, metavar="N",
                   help="exit code when findings remain, 0-255 (default 1)")
    p.set_defaults(explain=False)


def _run_merge(args) -> int:
    from .merge import run_merge

    return run_merge(args)


VERB_PLUGINS.append(_add_merge_verb)
EXTRA_VERBS["merge"] = _run_merge
VERB_PLUGINS.append(cli_git.add_verbs)  # git, staged, baseline (scanner/cli_git.py)
EXTRA_VERBS.update(cli_git.RUNNERS)


def _size(text: str) -> int:
    units = {"k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2, "g": 1024**3, "gb": 1024**3, "b": 1, "": 1}
    t = text.strip().lower()
    num = t.rstrip("kmgb")
    try:
        value = int(float(num) * units[t[len(num):]])
    except (ValueError, KeyError, OverflowError):  # OverflowError: "1e400" is infinite
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 5MB, 512k, 1048576)") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("size must be positive")
    if value > sys.maxsize:
        raise argparse.ArgumentTypeError(f"size too large: {text!r}")
    return value


def _exit_code(text: str) -> int:
    """An exit status is one byte: 256 would exit 0, a clean run, on findings."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= value <= 255:
        raise argparse.ArgumentTypeError(f"must be from 0 to 255, got {value}")
    return value


def _confidence(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="brokerscan",
        description="Find leaked brokerage credentials (Interactive Brokers and more) in files and git history.",
        epilog="Exit codes: 0 no findings, 1 findings, 2 usage or fatal error.",
    )
    parser.add_argument("--version", action="version", version=f"brokerscan {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")

    report = argparse.ArgumentParser(add_help=False)
    out = report.add_argument_group("output")
    out.add_argument("--format", "-f", choices=("text", "json", "sarif"), default="text")
    out.add_argument("--output", "-o", metavar="FILE", help="write the report here instead of stdout")
    out.add_argument("--show-secrets", action="store_true", help="print secrets in full (default: redacted)")
    out.add_argument("--explain", action="store_true", help="text format: show each rule's remediation help")
    out.add_argument("--verbose", "-v", action="store_true", help="list skipped paths in the summary")
    out.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    out.add_argument("--exit-code", type=_exit_code, default=EXIT_FINDINGS, metavar="N",
                     help="exit code when findings are reported, 0-255 (default 1; 0: report without failing)")
    out.add_argument("--no-progress", action="store_true", help="no progress bar (it is off in CI and when stderr is not a terminal)")
    sel = report.add_argument_group("rules and config")
    sel.add_argument("--rules", action="append", default=[], metavar="FILE|DIR", help="add custom rule files (repeatable)")
    sel.add_argument("--config", metavar="FILE", help="config file (default: .brokerscan.toml or [tool.brokerscan] in the scanned directory)")
    sel.add_argument("--no-config", action="store_true", help="ignore config files")
    sel.add_argument("--baseline", metavar="FILE", help="report only findings not recorded in this baseline file "
                     "(see 'brokerscan baseline create')")
    sel.add_argument("--disable-rule", action="append", default=[], metavar="ID")
    sel.add_argument("--min-confidence", type=_confidence, default=None, metavar="X", help="drop findings below this confidence (0-1)")
    scan = report.add_argument_group("scanning")
    scan.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="skip matching paths (repeatable)")
    scan.add_argument("--max-file-size", type=_size, default=None, metavar="SIZE", help="skip larger files (default 10MB)")
    scan.add_argument("--jobs", "-j", type=int, default=0, metavar="N", help="worker processes (default: all cores)")

    p_dir = verbs.add_parser("dir", parents=[report], help="scan files and directories (a repository or a whole machine)")
    p_dir.add_argument("paths", nargs="*", metavar="PATH", help="files and directories (default: the --root directory)")
    host = p_dir.add_argument_group("whole machines (docs/cloud-scans.md)")
    host.add_argument("--host", action="store_true",
                      help="scan as a machine's filesystem: skip /proc, /sys, /dev, /run; always cover credential "
                           "places; report who can read each file; absolute file:// URIs (implied by PATH / or --root)")
    host.add_argument("--root", metavar="DIR", help="where the scanned machine's / is, e.g. a mounted snapshot (implies --host)")
    host.add_argument("--hostname", metavar="NAME", help="machine name in reports (default: this host's, or the snapshot's etc/hostname)")
    host.add_argument("--one-file-system", action="store_true", help="do not cross into other mounted filesystems")
    host.add_argument("--follow-symlinks", action="store_true", help="follow symbolic links (loop-safe: each directory is entered once)")
    host.add_argument("--no-archives", action="store_true", help="do not look inside archives and compressed files")
    verbs.add_parser("stdin", parents=[report], help="scan standard input")
    for add_verbs in VERB_PLUGINS:
        add_verbs(verbs, report)

    p_rules = verbs.add_parser("rules", help="list, test and explain rules")
    rule_verbs = p_rules.add_subparsers(dest="rules_verb", metavar="ACTION")
    p_list = rule_verbs.add_parser("list", help="list the loaded rules")
    p_list.add_argument("--rules", action="append", default=[], metavar="FILE|DIR")
    p_test = rule_verbs.add_parser("test", help="run the examples and negatives of rule files")
    p_test.add_argument("files", nargs="*", metavar="FILE|DIR", help="default: the bundled rules")
    p_explain = rule_verbs.add_parser("explain", help="show a rule's description and remediation help")
    p_explain.add_argument("rule_id")
    p_explain.add_argument("--rules", action="append", default=[], metavar="FILE|DIR")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command; every way out is an exit code: 0 clean, 1 findings, 2 error, 130 interrupted."""
    try:
        return _run(argv)
    except KeyboardInterrupt:
        print("brokerscan: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        from .output import silence_stdout

        silence_stdout()
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - the last resort: a crash must not exit 1, "findings"
        return _internal_error(exc)


def _run(argv: list[str] | None) -> int:
    _escape_unencodable(sys.stdout)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help/--version
        return int(exc.code or 0)
    if not args.verb:
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    from .config import ConfigError
    from .output import ReportWriteError
    from .rules import RuleError

    try:
        if args.verb == "rules":
            return _rules_verb(args, parser)
        return _scan_verb(args)
    except (RuleError, ConfigError, UsageError, ReportWriteError) as exc:
        print(f"brokerscan: error: {exc}", file=sys.stderr)
        return EXIT_ERROR


def _internal_error(exc: Exception) -> int:
    """One line instead of a traceback, and exit 2: a traceback's exit 1 reads as "findings"
    to CI, and a crash is neither findings nor a clean scan."""
    if os.environ.get("BROKERSCAN_DEBUG", "") not in ("", "0"):
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    print(f"brokerscan: internal error: {type(exc).__name__}: {exc}. This is a bug in brokerscan {__version__}: "
          "please report it with the command that caused it (BROKERSCAN_DEBUG=1 shows the traceback)",
          file=sys.stderr)
    return EXIT_ERROR


def _escape_unencodable(stream) -> None:
    """A path the terminal's encoding cannot show (``キー.env`` on a cp1252 console) is
    printed escaped (``\\u30ad``) instead of failing the run after the scan."""
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="backslashreplace")


def _resolve_config(args):
    from .config import Config, find_config, load_config

    if args.no_config:
        return Config()
    if args.config:
        return load_config(Path(args.config))
    start = Path(args.paths[0]) if getattr(args, "paths", None) else Path.cwd()
    found = find_config(start) if start.exists() else None
    return load_config(found) if found else Config()


def scan_setup(args):
    """Rules and options for any scanning verb, from config plus flags. Returns (rules, options)."""
    from .config import check_rule_ids
    from .rules import load_rules
    from .scan import DEFAULT_MAX_FILE_SIZE, ScanOptions

    config = _resolve_config(args)
    rules = load_rules([*config.rules, *map(Path, args.rules)])
    known = {r.id for r in rules}
    check_rule_ids(config, known)
    unknown = set(args.disable_rule) - known
    if unknown:
        raise UsageError(f"cannot disable unknown rule(s): {', '.join(sorted(unknown))} (see 'brokerscan rules list')")
    disabled = set(config.disable_rules) | set(args.disable_rule)
    rules = [r for r in rules if r.id not in disabled]
    if args.jobs < 0:
        raise UsageError("--jobs must be 0 (all cores) or more")
    progress = (not args.no_progress and sys.stderr.isatty() and not os.environ.get("CI")
                and args.verb == "dir")
    options = ScanOptions(
        max_file_size=args.max_file_size or config.max_file_size or DEFAULT_MAX_FILE_SIZE,
        excludes=tuple(config.exclude) + tuple(args.exclude),
        jobs=args.jobs,
        allow_secrets=config.allow_secrets,
        stopwords=config.stopwords,
        min_confidence=args.min_confidence if args.min_confidence is not None else (config.min_confidence or 0.0),
        progress=progress,
        severity_overrides=config.severity,
    )
    return rules, options


def _scan_verb(args) -> int:
    from .models import ScanTarget

    if args.verb in EXTRA_VERBS:
        return EXTRA_VERBS[args.verb](args)
    rules, options = scan_setup(args)
    if args.verb == "dir":
        from .scan import scan_files

        paths, options, target = _dir_setup(args, options)
        findings, stats = scan_files(paths, rules, options)
    else:
        from .models import Provenance
        from .scan import scan_bytes
        from .sources.files import read_at_most

        if sys.stdin is None or sys.stdin.closed:
            raise UsageError("no standard input to scan")
        data = read_at_most(sys.stdin.buffer.read, options.max_file_size + 1)
        if len(data) > options.max_file_size:
            raise UsageError(f"standard input is larger than --max-file-size ({options.max_file_size} bytes)")
        findings, stats = scan_bytes(data, Provenance(kind="stdin", path="<stdin>"), rules, options)
        target = ScanTarget("stdin", (), local_hostname())
    return emit(args, findings, stats, target, {r.id: r for r in rules})


def _dir_setup(args, options):
    """Paths, options and report target for ``dir``: a repository scan, or a host scan when
    the machine's root is scanned (PATH ``/``), named (``--root``) or asked for (``--host``)."""
    from dataclasses import replace

    from .hostscan import hostname_of
    from .models import ScanTarget

    root = os.path.abspath(args.root) if args.root else None
    if root and not os.path.isdir(root):
        raise UsageError(f"--root {args.root}: not a directory")
    paths = args.paths or ([root] if root else [])
    if not paths:
        raise UsageError("dir needs a PATH to scan (or --root DIR)")
    problems = _unreachable_paths(paths)
    if problems:
        raise UsageError("; ".join(problems))
    host_root = root or ("/" if args.host or any(os.path.abspath(p) == "/" for p in paths) else None)
    if host_root:
        outside = [p for p in paths if os.path.commonpath([host_root, os.path.abspath(p)]) != host_root]
        if outside:
            raise UsageError(f"not under --root {args.root}: {', '.join(outside)}")
    options = replace(options, host_root=host_root, follow_symlinks=args.follow_symlinks,
                      one_file_system=args.one_file_system, archives=not args.no_archives)
    hostname = args.hostname or (hostname_of(root) if root else None) or local_hostname()
    target = ScanTarget("dir", (host_root or os.getcwd(),), hostname, host_root or "")
    return paths, options, target


def _unreachable_paths(paths: list[str]) -> list[str]:
    """Why PATHs cannot be scanned, one "reason: path, ..." per reason. ``os.path.lexists``
    says "missing" for a path under a directory it may not search, which sends the user
    looking for a typo instead of at the permissions."""
    by_reason: dict[str, list[str]] = {}
    for path in paths:
        try:
            os.lstat(path)
        except OSError as exc:
            by_reason.setdefault((exc.strerror or type(exc).__name__).lower(), []).append(path)
    return [f"{reason}: {', '.join(group)}" for reason, group in by_reason.items()]


def local_hostname() -> str:
    """This machine's name for reports. ``os.uname`` gives what ``socket.gethostname`` gives on
    POSIX without importing ``socket`` (~5 ms of a pre-commit run); Windows has no ``uname``."""
    try:
        return os.uname().nodename
    except AttributeError:
        import socket

        return socket.gethostname()


def emit(args, findings, stats, target, rules) -> int:
    from .output import write_report
    from .report import render

    if getattr(args, "baseline", None) or getattr(args, "write_baseline", None):
        from .baseline import BaselineError, apply_baseline_args

        try:
            findings, done = apply_baseline_args(args, findings, stats, target)
        except BaselineError as exc:
            raise UsageError(str(exc)) from None
        if done is not None:
            return done

    to_file = bool(args.output)
    color = args.color == "always" or (args.color == "auto" and not to_file and sys.stdout.isatty()
                                       and not os.environ.get("NO_COLOR"))
    text = render(args.format, findings, stats, target, rules, show_secrets=args.show_secrets,
                  color=color and args.format == "text", explain=args.explain, verbose=args.verbose)
    write_report(args, text, findings, stats)
    return args.exit_code if findings else EXIT_CLEAN


def _rules_verb(args, parser) -> int:
    from .rules import load_rules

    if args.rules_verb == "list":
        rules = load_rules(map(Path, args.rules))
        width = max((len(r.id) for r in rules), default=2)
        for r in sorted(rules, key=lambda r: (-r.severity.rank, r.id)):
            print(f"{r.id:<{width}}  {r.severity.value:<8}  {r.title}")
        print(f"{len(rules)} rules", file=sys.stderr)
        return EXIT_CLEAN
    if args.rules_verb == "explain":
        rules = {r.id: r for r in load_rules(map(Path, args.rules))}
        rule = rules.get(args.rule_id)
        if rule is None:
            raise UsageError(f"no rule {args.rule_id!r} (see 'brokerscan rules list')")
        print(f"# {rule.title} ({rule.id})\n\nSeverity: {rule.severity.value}. Tags: {', '.join(rule.tags)}.\n")
        print(rule.description + "\n\n" + rule.help)
        for ref in rule.references:
            print(f"- {ref}")
        return EXIT_CLEAN
    if args.rules_verb == "test":
        from .ruletest import check_examples

        rules = load_rules(map(Path, args.files), bundled=not args.files)
        failures = check_examples(rules)
        for f in failures:
            print(f"FAIL {f.source} {f.rule_id} {f.kind}: {f.detail}\n     text: {f.text!r}")
        examples = sum(len(r.examples) + len(r.negatives) for r in rules)
        print(f"{len(rules)} rules, {examples} examples and negatives: "
              f"{'all pass' if not failures else f'{len(failures)} failed'}")
        return EXIT_FINDINGS if failures else EXIT_CLEAN
    parser.parse_args(["rules", "--help"])
    return EXIT_ERROR
