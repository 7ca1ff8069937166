#!/usr/bin/env python3
"""What the AST stage costs and what it buys: ``brokerscan dir`` with and without it.

Not a test: it prints figures for a person to read (``--json`` keeps them).

1. **Overhead.** The 200 MB source tree of ``bench_dir.py`` (real stdlib and
   site-packages text with planted IBKR credentials, built and cached by
   ``_corpus.py``) is scanned with ``BROKERSCAN_AST=0`` (regex only) and ``=1``,
   alternating for ``--rounds`` rounds; the medians give the overhead in percent
   (target: at most +25 %). Findings, planted recall and the number of files the
   AST stage parsed are printed beside them.
2. **False positives on real IBKR client code.** The sdists of ib_async, ibind and
   ibflex (``pip download --no-deps --no-binary :all:``; they hold no live
   credentials, so every finding is a false positive) are scanned the same two
   ways, with the bundled rules and again with a naive generic regex rule
   (``fixtures/ast/naive-regex.toml``) that stands for what generic scanners ship.
   Counts are given at every confidence and at ``--min-confidence 0.5``.

    python bench/bench_ast.py                          # both parts, 3 rounds
    python bench/bench_ast.py --rounds 5 --jobs 2 --json /tmp/ast.json
    python bench/bench_ast.py --skip-tree              # only the false-positive study
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__:  # ``python -m bench.bench_ast`` from the project root
    from . import _common as common
    from . import _corpus as corpus
else:  # ``python bench/bench_ast.py``
    import _common as common  # type: ignore[no-redef]
    import _corpus as corpus  # type: ignore[no-redef]

REPO_ROOT = Path(__file__).resolve().parent.parent
NAIVE_RULES = REPO_ROOT / "fixtures" / "ast" / "naive-regex.toml"
SDISTS = ("ib_async", "ibind", "ibflex")
MODES = (("regex only", "0"), ("regex + AST", "1"))
THRESHOLD = 0.5


def brokerscan(args: Sequence[str]) -> list[str]:
    """The command for this checkout, whatever is installed."""
    return [sys.executable, "-m", "scanner", *args]


def scan_env(ast: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH", "")]))
    env["BROKERSCAN_AST"] = ast
    env.pop("CI", None)
    return env


def read_report(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


# --- 1. overhead on the source tree ------------------------------------------------------

def measure_overhead(tree: corpus.Tree, out: Path, rounds: int, jobs: int | None, timeout: float) -> dict[str, Any]:
    extra = ["--jobs", str(jobs)] if jobs else []
    walls: dict[str, list[float]] = {label: [] for label, _ in MODES}
    cpus: dict[str, list[float]] = {label: [] for label, _ in MODES}
    last: dict[str, dict[str, Any]] = {}
    for round_ in range(rounds):
        order = MODES if round_ % 2 == 0 else MODES[::-1]  # alternate who goes first
        for label, ast in order:
            report = out / f"tree-ast{ast}-r{round_}.json"
            argv = brokerscan(["dir", str(tree.root), "--no-config", "--format", "json", "--output", str(report),
                               "--no-progress", *extra])
            result = common.run_measured(argv, out / f"tree-ast{ast}-r{round_}.out",
                                         out / f"tree-ast{ast}-r{round_}.err", env=scan_env(ast), timeout=timeout)
            if result.timed_out or result.returncode not in (0, 1):
                raise SystemExit(f"{label}: exit {result.returncode} (see {out})")
            walls[label].append(result.wall_s)
            cpus[label].append(result.cpu_s)
            last[label] = read_report(report)
            print(f"  round {round_ + 1} {label:<12} {result.wall_s:7.2f} s wall  {result.cpu_s:7.2f} s CPU")
    rows = {}
    for label, _ in MODES:
        doc = last[label]
        findings = doc["findings"]
        confident = [f for f in findings if f["confidence"] >= THRESHOLD]
        rows[label] = {
            "median_wall_s": common.median(walls[label]),
            "median_cpu_s": common.median(cpus[label]),
            "walls": walls[label],
            "findings": len(findings),
            "planted_found": len(common.planted_recall(findings, tree.planted, tree.root)),
            f"findings_at_{THRESHOLD}": len(confident),
            f"planted_found_at_{THRESHOLD}": len(common.planted_recall(confident, tree.planted, tree.root)),
            "files_parsed": doc["summary"]["notes"].get("ast: files parsed", 0),
            "notes": {k: v for k, v in doc["summary"]["notes"].items() if k.startswith("ast:")},
        }
    base, ast = rows[MODES[0][0]], rows[MODES[1][0]]
    return {
        "tree": str(tree.root), "bytes": tree.bytes, "files": tree.files, "planted": len(tree.planted),
        "rounds": rounds, "jobs": jobs, "modes": rows,
        "overhead_wall_pct": 100.0 * (ast["median_wall_s"] / base["median_wall_s"] - 1.0),
        "overhead_cpu_pct": 100.0 * (ast["median_cpu_s"] / base["median_cpu_s"] - 1.0),
    }


# --- 2. false positives on IBKR client code ------------------------------------------------

def fetch_sdists(dest: Path) -> Path:
    """Download (once) and unpack the sdists; returns the folder holding the unpacked trees."""
    archives = dest / "archives"
    src = dest / "src"
    archives.mkdir(parents=True, exist_ok=True)
    if not all(any(archives.glob(f"{name}-*.tar.gz")) for name in SDISTS):
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                        "-d", str(archives), *SDISTS], check=True)
    src.mkdir(exist_ok=True)
    for archive in sorted(archives.glob("*.tar.gz")):
        if not (src / archive.name[: -len(".tar.gz")]).is_dir():
            with tarfile.open(archive) as tar:
                tar.extractall(src, filter="data")
    return src


def false_positive_study(src: Path, out: Path) -> dict[str, Any]:
    studies: dict[str, Any] = {}
    for rules_label, rule_args in (("bundled rules", []), ("bundled + naive generic regex", ["--rules", str(NAIVE_RULES)])):
        per_mode = {}
        for label, ast in MODES:
            report = out / f"sdists-{len(rule_args)}-ast{ast}.json"
            argv = brokerscan(["dir", str(src), "--no-config", "--format", "json", "--output", str(report),
                               "--no-progress", "--show-secrets", *rule_args])
            done = subprocess.run(argv, env=scan_env(ast), capture_output=True, text=True, check=False)
            if done.returncode not in (0, 1):
                raise SystemExit(f"sdist scan failed: {done.stderr.strip()}")
            findings = read_report(report)["findings"]
            kept = [f for f in findings if f["confidence"] >= THRESHOLD]
            per_mode[label] = {
                "findings": len(findings),
                f"at_confidence_{THRESHOLD}": len(kept),
                "by_rule": dict(Counter(f["rule_id"] for f in findings)),
                "by_detectors": dict(Counter("+".join(f["detectors"]) for f in findings)),
                "kept": [f"{f['path'].split('/src/', 1)[-1]}:{f['line']} {f['rule_id']} {f['confidence']:.2f}"
                         for f in kept],
            }
        studies[rules_label] = per_mode
    return {"packages": sorted(p.name for p in src.iterdir() if p.is_dir()), "studies": studies}


# --- printing ---------------------------------------------------------------------------------

def print_overhead(result: dict[str, Any]) -> None:
    rows = []
    for label, row in result["modes"].items():
        rows.append([label, f"{row['median_wall_s']:.2f}", f"{min(row['walls']):.2f}", f"{row['median_cpu_s']:.2f}",
                     f"{result['bytes'] / corpus.MB / row['median_wall_s']:.1f}",
                     f"{row['findings']} / {row[f'findings_at_{THRESHOLD}']}",
                     f"{row['planted_found']} / {row[f'planted_found_at_{THRESHOLD}']} of {result['planted']}",
                     str(row["files_parsed"])])
    print(common.format_table(["mode", "median wall s", "min wall s", "CPU s", "MB/s",
                               f"findings (all / >= {THRESHOLD})", f"planted found (all / >= {THRESHOLD})",
                               "files parsed"], rows, [False, True, True, True, True, True, True, True]))
    print(f"AST overhead: {result['overhead_wall_pct']:+.1f} % wall, {result['overhead_cpu_pct']:+.1f} % CPU "
          f"(target: at most +25 % wall)")
    notes = result["modes"][MODES[1][0]]["notes"]
    if notes:
        print("AST notes: " + ", ".join(f"{k[5:]} ({v})" for k, v in sorted(notes.items())))


def print_study(result: dict[str, Any], verbose: bool) -> None:
    print(f"packages: {', '.join(result['packages'])} (no live credentials: every finding is a false positive)")
    rows = []
    for rules_label, per_mode in result["studies"].items():
        for label, row in per_mode.items():
            rows.append([rules_label, label, str(row["findings"]), str(row[f"at_confidence_{THRESHOLD}"]),
                         ", ".join(f"{k} {v}" for k, v in sorted(row["by_detectors"].items()))])
    print(common.format_table(["rules", "mode", "findings", f"confidence >= {THRESHOLD}", "by detectors"], rows,
                              [False, False, True, True, False]))
    if verbose:
        for rules_label, per_mode in result["studies"].items():
            for label, row in per_mode.items():
                print(f"\n{rules_label}, {label}: kept at confidence >= {THRESHOLD}")
                for line in row["kept"]:
                    print(f"  {line}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--plants", type=int, default=50)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--jobs", type=int, default=None, help="passed to brokerscan dir --jobs")
    parser.add_argument("--bench-dir", type=Path, default=corpus.bench_dir_default())
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--skip-tree", action="store_true", help="only the false-positive study")
    parser.add_argument("--skip-sdists", action="store_true", help="only the overhead measurement")
    parser.add_argument("--verbose", "-v", action="store_true", help="list the findings kept at the threshold")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    bench_dir: Path = args.bench_dir.resolve()
    out = bench_dir / "reports" / "ast"
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    if not args.skip_tree:
        print("== tree")
        tree = corpus.build_tree(bench_dir, corpus.TreeSpec(args.size_mb, args.plants, args.seed))
        print(f"== overhead: {args.rounds} round(s), alternating")
        results["overhead"] = measure_overhead(tree, out, args.rounds, args.jobs, args.timeout)
    if not args.skip_sdists:
        print("== false positives on IBKR client sdists")
        results["false_positives"] = false_positive_study(fetch_sdists(bench_dir / "sdists"), out)
    print()
    print(f"cpus: {os.cpu_count()}  load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if "overhead" in results:
        print_overhead(results["overhead"])
    if "false_positives" in results:
        print()
        print_study(results["false_positives"], args.verbose)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
        print(f"\nresults written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
