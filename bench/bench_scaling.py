#!/usr/bin/env python3
"""How ``brokerscan dir`` scales: wall time against tree size, and against ``--jobs``.

Not a test: it prints figures for a person to read (and ``--json`` keeps them). Each
size is a planted tree built by ``_corpus.build_tree`` and cached in its own directory;
peers are compared in ``bench_dir.py``, not here. See ``bench/README.md``.

    python bench/bench_scaling.py                               # 25/50/100/200 MB x jobs 1,2, 3 rounds
    python bench/bench_scaling.py --sizes 5,10 --rounds 1       # a quick check
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

if __package__:  # ``python -m bench.bench_scaling`` from the project root
    from . import _common as common
    from . import _corpus as corpus
    from . import bench_dir
else:  # ``python bench/bench_scaling.py``
    import _common as common  # type: ignore[no-redef]
    import _corpus as corpus  # type: ignore[no-redef]
    import bench_dir  # type: ignore[no-redef]

MB = corpus.MB


@dataclass
class Point:
    """Every run of brokerscan at one (tree size, ``--jobs``); what the table and ``--json`` show."""

    size_mb: int
    jobs: int
    tree: str
    bytes: int
    files: int
    command: list[str] = field(default_factory=list)
    status: str = "ok"  # ok | failed
    error: str = ""
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    peak_rss: list[int] = field(default_factory=list)
    peak_pss: list[int] = field(default_factory=list)
    findings: list[int] = field(default_factory=list)

    @property
    def median_wall(self) -> float:
        return common.median(self.walls)

    @property
    def mb_per_s(self) -> float:
        return self.bytes / MB / self.median_wall if self.walls else float("nan")


# ---------------------------------------------------------------------------
# Trees
# ---------------------------------------------------------------------------

def tree_for_size(bench: Path, size_mb: int, rebuild: bool) -> corpus.Tree:
    """The planted tree of ``size_mb``: ``bench_dir.py``'s own ``$BENCH_DIR/tree`` when its
    manifest has exactly this spec (same size, plants and seed), else one cached under
    ``$BENCH_DIR/scaling/<size>mb/`` so the main tree is never overwritten."""
    spec = corpus.TreeSpec(size_mb, bench_dir.DEFAULT_PLANTS, bench_dir.DEFAULT_SEED)
    if not rebuild:
        shared = corpus.load_cached_tree(bench, spec)
        if shared is not None:
            print(f"  {size_mb} MB: reusing bench_dir.py's tree {shared.root} "
                  f"({shared.bytes / MB:.1f} MB, {shared.files} files)")
            return shared
    return corpus.build_tree(bench / "scaling" / f"{size_mb}mb", spec, rebuild=rebuild,
                             log=lambda line: print(f"  {size_mb} MB: {line}"))


# ---------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------

def preflight(tools: dict[int, bench_dir.Tool], bench: Path, timeout: float) -> dict[int, str]:
    """Each ``--jobs`` value once on the smoke tree: proves the command line, warms caches.
    Returns the error per jobs value that failed."""
    smoke = bench / "smoke"
    plants = corpus.build_smoke_tree(smoke, bench_dir.DEFAULT_SEED)
    failed: dict[int, str] = {}
    for jobs, tool in tools.items():
        run, findings, error = bench_dir.run_once(tool, smoke, bench / "reports", f"scaling-j{jobs}-smoke", timeout)
        if error:
            failed[jobs] = f"preflight: {error}"
            print(f"  jobs {jobs}: FAILED on the smoke tree: {error}")
            continue
        found = common.planted_recall(findings or [], plants, smoke)
        print(f"  jobs {jobs}: ok ({run.wall_s:.2f} s, smoke recall {len(found)}/{len(plants)})")
    return failed


def run_size(tree: corpus.Tree, size_mb: int, tools: dict[int, bench_dir.Tool], failed: dict[int, str],
             bench: Path, rounds: int, timeout: float) -> list[Point]:
    """All rounds at one size, alternating the ``--jobs`` values and rotating which goes first
    each round, so a slow drift of the machine spreads over all of them."""
    out_dir = bench / "reports"
    points = {jobs: Point(size_mb, jobs, str(tree.root), tree.bytes, tree.files) for jobs in tools}
    for jobs, point in points.items():
        if jobs in failed:
            point.status, point.error = "failed", failed[jobs]
        elif (command := tools[jobs].command) is not None:
            point.command = command(tree.root, out_dir / f"scaling-{size_mb}mb-j{jobs}-rN.json")
    order = list(tools)
    for r in range(rounds):
        for jobs in order[r % len(order):] + order[:r % len(order)]:
            point = points[jobs]
            if point.status != "ok":
                continue
            run, findings, error = bench_dir.run_once(tools[jobs], tree.root, out_dir,
                                                      f"scaling-{size_mb}mb-j{jobs}-r{r + 1}", timeout)
            if error:
                point.status, point.error = "failed", f"round {r + 1}: {error}"
                print(f"  {size_mb} MB jobs {jobs} round {r + 1}: FAILED: {error}")
                continue
            point.walls.append(run.wall_s)
            point.cpus.append(run.cpu_s)
            point.peak_rss.append(run.peak_rss)
            point.peak_pss.append(run.peak_pss)
            point.findings.append(len(findings or []))
            print(f"  {size_mb} MB jobs {jobs} round {r + 1}: {run.wall_s:.2f} s, {run.cpu_s:.2f} CPU s, "
                  f"{run.peak_rss / MB:.0f} MB RSS, {len(findings or [])} findings")
    return list(points.values())


# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------

def _num(value: float, digits: int = 2) -> str:
    return "-" if value != value else f"{value:.{digits}f}"  # NaN -> "-"


def points_table(points: Sequence[Point]) -> str:
    """One row per (size, jobs): medians over the rounds, the largest peak RSS."""
    headers = ["size MB", "files", "jobs", "median wall s", "MB/s", "CPU s", "CPU/wall", "peak RSS MB",
               "peak PSS MB", "findings"]
    rows = []
    for p in points:
        if p.status != "ok" or not p.walls:
            rows.append([_num(p.bytes / MB, 1), str(p.files), str(p.jobs), p.status, "", "", "", "", "", ""])
            continue
        cpu = common.median(p.cpus)
        findings = str(p.findings[-1])
        if len(set(p.findings)) > 1:
            findings += f" (varied {min(p.findings)}-{max(p.findings)})"
        rows.append([_num(p.bytes / MB, 1), str(p.files), str(p.jobs), _num(p.median_wall), _num(p.mb_per_s, 1),
                     _num(cpu), _num(cpu / p.median_wall), _num(max(p.peak_rss) / MB, 0),
                     _num(max(p.peak_pss) / MB, 0), findings])
    return common.format_table(headers, rows, right=[True] * len(headers))


def fit(points: Sequence[Point]) -> tuple[float, float] | None:
    """Least-squares ``wall = fixed + MB / rate`` over three or more sizes: (fixed s, marginal MB/s).

    The fixed part is start-up (interpreter, rule compilation) that a small tree cannot
    hide; the marginal rate is the speed the scan approaches as the tree grows."""
    ok = [p for p in points if p.walls]
    if len({p.bytes for p in ok}) < 3:  # two points always fit a line exactly, noise included
        return None
    slope, intercept = statistics.linear_regression([p.bytes / MB for p in ok], [p.median_wall for p in ok])
    return intercept, (1 / slope if slope > 0 else float("nan"))


def scaling_lines(points: Sequence[Point], jobs_values: Sequence[int], sizes: Sequence[int]) -> list[str]:
    """Per jobs value, MB/s at each size (flat means wall time grows linearly with size), then the
    speed-up of each other jobs value over the first, per size."""
    by_key = {(p.size_mb, p.jobs): p for p in points}
    header = ("MB/s by tree size (flat = time grows linearly with size; rising = a fixed start-up cost "
              "is being amortised)")
    lines = [header]
    for jobs in jobs_values:
        row = [by_key[(s, jobs)] for s in sizes if (s, jobs) in by_key]
        rates = ", ".join(f"{p.size_mb} MB {_num(p.mb_per_s, 1)}" for p in row)
        ok = [p for p in row if p.walls]
        spread = ""
        if len(ok) >= 2:
            spread = f"  (largest/smallest size: {_num(ok[-1].mb_per_s / ok[0].mb_per_s)}x"
            line_fit = fit(ok)
            if line_fit:
                spread += f"; fit: wall = {line_fit[0]:.2f} s + MB / {_num(line_fit[1], 1)} MB/s"
            spread += ")"
        lines.append(f"  jobs {jobs}: {rates}{spread}")
    base = jobs_values[0]
    for jobs in jobs_values[1:]:
        cells = []
        for s in sizes:
            a, b = by_key.get((s, base)), by_key.get((s, jobs))
            ratio = a.median_wall / b.median_wall if a and b and a.walls and b.walls else float("nan")
            cells.append(f"{s} MB {_num(ratio)}x")
        lines.append(f"speed-up jobs {jobs} / jobs {base} (wall time of jobs {base} divided by jobs {jobs}; "
                     f"ideal {min(jobs, os.cpu_count() or jobs) / base:g}x): " + ", ".join(cells))
    return lines


def save_json(path: Path, args: argparse.Namespace, tools: dict[int, bench_dir.Tool], points: Sequence[Point]) -> None:
    """Every measurement, per round, with the machine and options: enough to compare runs later."""
    brokerscan = next(iter(tools.values()))
    doc = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0],
                    "loadavg_at_end": os.getloadavg()},
        "options": {"sizes_mb": args.sizes, "jobs": args.jobs, "rounds": args.rounds,
                    "plants": bench_dir.DEFAULT_PLANTS, "seed": bench_dir.DEFAULT_SEED},
        "brokerscan": brokerscan.version,
        "points": [{**asdict(p), "median_wall_s": p.median_wall if p.walls else None,
                    "mb_per_s": p.mb_per_s if p.walls else None,
                    "median_cpu_s": common.median(p.cpus) if p.cpus else None,
                    "max_peak_rss": max(p.peak_rss, default=None)} for p in points],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"need integers >= 1: {text!r}")
    return list(dict.fromkeys(values))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=_int_list, default=[25, 50, 100, 200],
                        help="tree sizes, MB of 10**6 bytes, comma-separated (default 25,50,100,200)")
    parser.add_argument("--jobs", type=_int_list, default=[1, 2],
                        help="brokerscan --jobs values, comma-separated; speed-ups are against the first "
                             "(default 1,2)")
    parser.add_argument("--rounds", type=int, default=3, help="measured runs per (size, jobs); the median is shown "
                                                              "(default 3)")
    parser.add_argument("--bench-dir", type=Path, default=corpus.bench_dir_default(),
                        help="cache for the trees and reports (default $BENCH_DIR or /tmp/brokerscan-bench); "
                             "sizes go under scaling/<N>mb/, except that bench_dir.py's tree is reused when its "
                             "spec matches")
    parser.add_argument("--venv", action="store_true",
                        help="run brokerscan from a venv with `pip install .` of this checkout (BENCH_DIR/hook-venv)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the trees even if matching ones are cached")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds before one run is killed (default 1800)")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT", help="also write all results to OUT")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    args.sizes = sorted(args.sizes)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    bench: Path = args.bench_dir.resolve()
    (bench / "reports").mkdir(parents=True, exist_ok=True)

    print("== trees")
    trees = {size: tree_for_size(bench, size, args.rebuild) for size in args.sizes}

    print("== brokerscan")
    venv = args.bench_dir / "hook-venv" if args.venv else None
    tools = {jobs: bench_dir.brokerscan_tool(jobs, venv) for jobs in args.jobs}
    first = next(iter(tools.values()))
    if not first.installed:
        print(f"  brokerscan: not installed; to install: {first.install_hint}")
        return 1
    for jobs, tool in tools.items():
        argv = tool.command(Path("TREE"), Path("REPORT")) if tool.command else []
        print(f"  jobs {jobs}: {tool.version}: {' '.join(argv)}")

    print("== preflight (smoke tree; also warms caches)")
    failed = preflight(tools, bench, args.timeout)

    points: list[Point] = []
    for size, tree in trees.items():
        print(f"== {size} MB: warm-up, then {args.rounds} round(s)")
        bench_dir.warm_page_cache(tree.root, bench)
        points += run_size(tree, size, tools, failed, bench, args.rounds, args.timeout)

    print()
    print(f"brokerscan: {first.version}  cpus: {os.cpu_count()}  rounds: {args.rounds}  "
          f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(points_table(points))
    print()
    for line in scaling_lines(points, args.jobs, args.sizes):
        print(line)
    for p in points:
        if p.status == "failed":
            print(f"\n{p.size_mb} MB jobs {p.jobs} failed: {p.error}")
    if args.json:
        save_json(args.json, args, tools, points)
        print(f"\nresults written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
