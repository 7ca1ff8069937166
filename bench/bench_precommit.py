#!/usr/bin/env python3
"""How long the pre-commit hook takes: ``brokerscan staged`` on a 5-file staged change.

Goal: under 300 ms wall from process start to exit. Not a test (timings depend on
the machine); it prints the median, 90th percentile and best of ``--runs`` runs,
next to the floor (``python -c pass``) and ``brokerscan --version`` (start-up and
CLI imports only), so a regression can be placed: interpreter, imports, rule
loading or scanning. ``--importtime`` adds the slowest imports of one run.

The repository is built in the bench directory: real source files (this
interpreter's stdlib) committed, then a few lines appended to 5 of them (one with
a synthetic IBKR credential, so the run reports a finding as a real blocked commit
would) and staged.

    python bench/bench_precommit.py
    python bench/bench_precommit.py --runs 50 --files 5 --importtime
    python bench/bench_precommit.py --hook-venv   # also as pre-commit installs it (pip install .)
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import sysconfig
import time
from collections.abc import Sequence
from pathlib import Path

if __package__:
    from . import _common as common
    from ._corpus import bench_dir_default, make_credential
else:
    import _common as common  # type: ignore[no-redef]
    from _corpus import bench_dir_default, make_credential  # type: ignore[no-redef]

REPO_ROOT = Path(__file__).resolve().parent.parent
GOAL_MS = 300


def git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_AUTHOR_NAME": "Bench",
                "GIT_AUTHOR_EMAIL": "bench@example.com", "GIT_COMMITTER_NAME": "Bench",
                "GIT_COMMITTER_EMAIL": "bench@example.com"})
    return env


def brokerscan_env(bench_dir: Path) -> dict[str, str]:
    """This checkout, with byte-code cached outside it (as an installed package has it)."""
    env = git_env()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH", "")]))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(bench_dir / "pycache")
    env.pop("CI", None)
    return env


def build_repo(dest: Path, files: int, seed: int) -> Path:
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    rng = random.Random(seed)
    sources = sorted(p for p in Path(sysconfig.get_paths()["stdlib"]).glob("*.py")
                     if 4_000 <= p.stat().st_size <= 40_000)
    chosen = rng.sample(sources, files)
    run = lambda *a: subprocess.run(["git", *a], cwd=dest, check=True, capture_output=True, env=git_env())
    run("init", "-q", "-b", "main")
    for src in chosen:
        shutil.copy(src, dest / src.name)
    run("add", "-A")
    run("commit", "-q", "-m", "base")
    for n, src in enumerate(chosen):
        extra = f"\n# local change\nvalue_{n} = {n}\n"
        if n == 0:
            text, _ = make_credential("flex-token", rng)
            extra += f"FLEX_URL = '{text}'\n"
        with open(dest / src.name, "a", encoding="utf-8") as fh:
            fh.write(extra)
    run("add", "-A")
    return dest


def timed(argv: Sequence[str], cwd: Path, env: dict[str, str], runs: int) -> tuple[list[float], list[float]]:
    """Wall and CPU (user + system, the process and the git children it waited for) in ms per run."""
    walls, cpus = [], []
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.Popen(list(argv), cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        _, _, usage = os.wait4(proc.pid, 0)
        walls.append((time.perf_counter() - started) * 1000)
        cpus.append((usage.ru_utime + usage.ru_stime) * 1000)
        proc.returncode = 0
    return walls, cpus


def summary(name: str, walls: list[float], cpus: list[float]) -> str:
    walls = sorted(walls)
    p90 = walls[min(len(walls) - 1, int(len(walls) * 0.9))]
    return f"{name:<34} {statistics.median(walls):7.0f} {p90:7.0f} {walls[0]:7.0f} {statistics.median(cpus):7.0f}"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--files", type=int, default=5)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--bench-dir", type=Path, default=None)
    p.add_argument("--importtime", action="store_true", help="show the slowest imports of one run")
    p.add_argument("--hook-venv", action="store_true",
                   help="also time a virtual environment like the one pre-commit builds for the hook "
                        "(pip install . - not editable, no other packages), built under --bench-dir")
    args = p.parse_args(argv)
    bench_dir = args.bench_dir or bench_dir_default()
    repo = build_repo(bench_dir / "precommit-repo", args.files, args.seed)
    env = brokerscan_env(bench_dir)
    py = sys.executable
    staged = [py, "-m", "scanner", "staged"]
    check = subprocess.run(staged, cwd=repo, env=env, capture_output=True, text=True, check=False)
    if check.returncode not in (0, 1):
        print(check.stderr, file=sys.stderr)
        return 2
    print(f"repository: {repo} ({args.files} staged files; exit code {check.returncode}, "
          f"{check.stdout.strip().splitlines()[-1] if check.stdout.strip() else ''})")
    print(f"{'':<34} {'median':>7} {'p90':>7} {'best':>7} {'CPU':>7}   (ms, {args.runs} runs, from process start; "
          "CPU: median user+system)")
    rows = [
        ("python -c pass (floor)", [py, "-c", "pass"]),
        ("brokerscan --version", [py, "-m", "scanner", "--version"]),
        ("brokerscan staged", staged),
    ]
    script = Path(sysconfig.get_path("scripts")) / "brokerscan"
    if script.is_file():
        rows.append(("brokerscan staged (console script)", [str(script), "staged"]))
    if args.hook_venv:
        venv = common.hook_venv(bench_dir / "hook-venv")
        rows.append(("hook venv: python -c pass", [str(venv / "bin" / "python"), "-c", "pass"]))
        rows.append(("hook venv: brokerscan staged", [str(venv / "bin" / "brokerscan"), "staged"]))
    medians = {}
    for name, argv_ in rows:
        walls, cpus = timed(argv_, repo, env, args.runs)
        medians[name] = statistics.median(walls)
        print(summary(name, walls, cpus))
    for name in ("brokerscan staged", "hook venv: brokerscan staged"):
        if name in medians:
            verdict = "meets" if medians[name] < GOAL_MS else "MISSES"
            print(f"\n{name} median {medians[name]:.0f} ms: {verdict} the {GOAL_MS} ms goal"
                  f" (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: on a busy machine read the "
                  "CPU column)")
    if args.importtime:
        out = subprocess.run([py, "-X", "importtime", *staged[1:]], cwd=repo, env=env, capture_output=True,
                             text=True, check=False).stderr
        rows_ = []
        for line in out.splitlines():
            if line.startswith("import time:") and "|" in line:
                self_us, cumulative, name = [x.strip() for x in line.replace("import time:", "").split("|")]
                if cumulative.isdigit():
                    rows_.append((int(cumulative), int(self_us), name))
        print("\nslowest imports (cumulative ms, self ms):")
        for cumulative, self_us, name in sorted(rows_, reverse=True)[:15]:
            print(f"  {cumulative / 1000:7.1f} {self_us / 1000:7.1f}  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
