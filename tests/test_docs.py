"""The documentation says what the tool does: its samples, recipes and figures are checked here.

A doc that drifts from the code misleads the reader who trusts it most, so the parts that can
drift silently (output samples, counts, constants quoted in prose, CI recipes) are held to the
behaviour they describe.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from conftest import run_cli
from gitrepo import FLEX_1, Repo, flex, scan

from scanner import scan as dir_scan
from scanner import workers
from scanner.findings import fingerprint

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
JSON_SCHEMA = ROOT / "scanner" / "report" / "JSON_SCHEMA.md"
DEMO_FINDINGS = len((ROOT / "fixtures" / "demo" / "EXPECTED.tsv").read_text(encoding="utf-8").splitlines())
CUT = "…"  # where a sample in the docs leaves part of the real output out


def fenced_blocks(path: Path, language: str) -> list[str]:
    """The bodies of the ```language blocks of a Markdown file."""
    return re.findall(rf"^```{language}\n(.*?)^```", path.read_text(encoding="utf-8"), re.MULTILINE | re.DOTALL)


def demo_scan(*args: str) -> str:
    """``brokerscan dir fixtures/demo`` from the repository root, as the README runs it."""
    result = run_cli("dir", "fixtures/demo", *args, cwd=ROOT)
    assert result.returncode == 1, result.stderr
    return result.stdout.decode("utf-8")


def workflow_jobs() -> list[tuple[str, str, list[dict]]]:
    """(file, job name, steps) of every GitHub Actions job the docs show."""
    jobs = []
    for path in DOCS:
        for block in fenced_blocks(path, "yaml"):
            document = yaml.safe_load(block)
            for name, job in (document.get("jobs") or {}).items() if isinstance(document, dict) else ():
                jobs.append((path.name, name, job.get("steps") or []))
    return jobs


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_yaml_samples_parse(path: Path) -> None:
    for block in fenced_blocks(path, "yaml"):
        yaml.safe_load(block)


def _keeps_a_scan_cache(step: dict) -> bool:
    command = " ".join(str(v) for v in (step.get("run"), (step.get("with") or {}).get("args")) if v)
    return "--cache" in command


def test_ci_recipes_save_the_history_cache_after_a_failing_scan() -> None:
    """A scan with findings fails its job, and ``actions/cache`` saves only after a successful
    job: a recipe that keeps ``--cache`` must save it in a step of its own that still runs."""
    recipes = [(f, name, steps) for f, name, steps in workflow_jobs() if any(map(_keeps_a_scan_cache, steps))]
    assert recipes, "the docs show a nightly --cache recipe"
    for file, name, steps in recipes:
        uses = [str(step.get("uses", "")) for step in steps]
        assert not any(u.startswith("actions/cache@") for u in uses), f"{file}: {name}"
        last_scan = max(i for i, step in enumerate(steps) if _keeps_a_scan_cache(step))
        saves = [step for step in steps[last_scan + 1:] if str(step.get("uses", "")).startswith("actions/cache/save@")]
        assert saves and all(re.search(r"always\(\)|!cancelled\(\)", str(s.get("if", ""))) for s in saves), \
            f"{file}: {name}"


def test_readme_text_sample_is_the_demo_scan_as_printed() -> None:
    """Every line of the README's text sample is a line of the real report, in the same order;
    only the cuts and the timing of the ``Scanned`` line are the README's own."""
    (sample,) = [b for b in fenced_blocks(ROOT / "README.md", "text") if "fixtures/demo/" in b]
    real = iter(demo_scan("--color", "never").splitlines())
    for line in sample.splitlines():
        if line == CUT:
            continue
        if line.startswith("Scanned "):
            line = line.split(" in ")[0]
            assert any(r.split(" in ")[0] == line for r in real), line
        else:
            assert line in real, f"not in the demo's report (or out of order): {line!r}"


def _without_cuts(sample: str) -> str:
    """The JSON sample with its ``…`` cuts (and the comma before each) taken out."""
    return re.sub(rf",\s*{CUT}", "", sample)


def test_json_schema_example_is_a_finding_of_the_demo_scan() -> None:
    (sample,) = fenced_blocks(JSON_SCHEMA, "json")
    example = json.loads(_without_cuts(sample))
    real = json.loads(demo_scan("-f", "json"))
    (shown,) = example["findings"]
    matching = [f for f in real["findings"]
                if (f["path"], f["line"], f["rule_id"]) == (shown["path"], shown["line"], shown["rule_id"])]
    assert len(matching) == 1, f"the demo has no finding {shown['rule_id']} at {shown['path']}:{shown['line']}"
    (same,) = matching
    assert {**shown, "source": {**shown["source"], "root": None}} == {**same, "source": {**same["source"], "root": None}}
    assert example["summary"] == {**real["summary"], "duration_s": example["summary"]["duration_s"]}
    assert set(example) == set(real) and example["target"]["command"] == "dir"


def test_docs_quote_the_demo_finding_count() -> None:
    """fixtures/demo/EXPECTED.tsv holds one line per finding of the demo (test_demo_fixtures.py);
    the counts the docs quote for the demo are that number."""
    rules_readme = (ROOT / "rules" / "README.md").read_text(encoding="utf-8")
    (demo_paragraph,) = [p for p in rules_readme.split("\n\n") if p.startswith("On `fixtures/demo/`")]
    assert re.findall(r"in (\d+) findings", demo_paragraph) == [str(DEMO_FINDINGS)]
    schema_intro = JSON_SCHEMA.read_text(encoding="utf-8").split("## Example", 1)[1]
    assert f"the demo's {DEMO_FINDINGS} findings" in schema_intro


def test_github_action_doc_states_the_caps_of_annotations_and_summary() -> None:
    """action.yml annotates only the first findings and lists only the first rows in the job
    summary; the page that says what users see must give those numbers."""
    action = (ROOT / "action.yml").read_text(encoding="utf-8")
    annotations = re.search(r"for r in failing\[:(\d+)\]", action).group(1)
    rows = re.search(r"for r in results\[:(\d+)\]", action).group(1)
    doc = (ROOT / "docs" / "github-action.md").read_text(encoding="utf-8")
    seen = doc.split("## What you see", 1)[1]
    assert re.search(rf"\*\*Annotations\*\*[^*]*first {annotations} findings", seen)
    assert re.search(rf"\*\*A job summary\*\*[^*]*first {rows} findings", seen)


def _schema_row(field: str) -> str:
    (row,) = [line for line in JSON_SCHEMA.read_text(encoding="utf-8").splitlines() if line.startswith(f"| `{field}` |")]
    return row


def test_json_schema_describes_history_and_merged_reports(tmp_path: Path) -> None:
    """A history scan's ``source.extra`` keys, their string values and a merged report's
    ``target`` are what JSON_SCHEMA.md says."""
    repo = Repo(tmp_path / "repo")
    repo.commit("leak", {"settings.py": flex(FLEX_1)})
    repo.commit("more", {"settings.py": flex(FLEX_1) + "x = 1\n"})
    report = tmp_path / "history.json"
    assert scan("git", str(repo.path), "-f", "json", "-o", str(report)).returncode == 1
    merged = json.loads(run_cli("merge", str(report), str(report), "-f", "json").stdout)
    extra_row = _schema_row("findings[].source.extra")
    for document in (json.loads(report.read_text()), merged):
        for finding in document["findings"]:
            extra = finding["source"]["extra"]
            assert all(isinstance(value, str) for value in extra.values()), extra
            assert {key for key in extra if f"`{key}`" not in extra_row} == set(), extra_row
    assert merged["target"]["command"] == "merge" and "`merge`" in _schema_row("target.command")
    assert '`"in_head": "false"`' in extra_row and '`"true"`' in (ROOT / "docs" / "git.md").read_text(encoding="utf-8")


def test_pinned_releases_exist() -> None:
    """A recipe that pins a brokerscan release (pre-commit ``rev:``, the Action's ``uses:``) must
    name one the changelog has released; before the first release it pins a commit instead."""
    released = set(re.findall(r"^## \[?v?(\d+\.\d+\.\d+)", (ROOT / "CHANGELOG.md").read_text(encoding="utf-8"),
                              re.MULTILINE))
    for path in [*DOCS, ROOT / ".pre-commit-hooks.yaml"]:
        text = path.read_text(encoding="utf-8")
        for pin in re.findall(r"(?:\brev:\s*|brokerscan/brokerscan@)([^\s`]+)", text):
            assert pin.startswith("<") or pin.lstrip("v") in released, f"{path.name}: {pin} is not released"


def test_batching_figures_match_the_scan_constants() -> None:
    """docs/performance.md and docs/cloud-scans.md explain the directory scan's batching and
    its bounded pool with numbers; they must be the constants the scan runs with."""
    performance = " ".join((ROOT / "docs" / "performance.md").read_text(encoding="utf-8").split())
    cloud = " ".join((ROOT / "docs" / "cloud-scans.md").read_text(encoding="utf-8").split())
    mib = dir_scan.BATCH_BYTES // 2**20
    assert f"batches of {dir_scan.BATCH_FILES} files" in performance
    assert f"Batches are {dir_scan.BATCH_FILES} files or {mib} MiB" in performance
    assert f"at most {dir_scan.WINDOW_PER_JOB} batches per worker in flight" in performance
    assert f"up to {dir_scan.BATCH_FILES} files or {mib} MiB each" in cloud
    assert f"at most {dir_scan.WINDOW_PER_JOB} batches per worker are in flight" in cloud
    assert f"at most {max(dir_scan.WINDOW_PER_JOB, workers.AHEAD_PER_WORKER)} batches per worker ahead" in cloud


def test_a_baseline_gives_away_an_account_id_to_a_search_as_documented(tmp_path: Path) -> None:
    """docs/git.md warns that a baseline's unsalted fingerprint gives away a value with few
    possibilities. The warning holds as long as this search works; if fingerprints ever get a
    salt, the docs must change with them."""
    account = "U4815162"  # synthetic, in the shape of a live account id
    (tmp_path / ".env").write_text(f"IBKR_ACCOUNT_ID={account}\n")
    baseline = tmp_path / "baseline.json"
    made = run_cli("baseline", "create", "-o", str(baseline), "dir", ".", cwd=tmp_path, env={"PYTHONPATH": str(ROOT)})
    assert made.returncode == 0, made.stderr
    (entry,) = [e for e in json.loads(baseline.read_text())["findings"] if e["rule_id"] == "ibkr-account-id"]
    guesses = (f"U48{n:05d}" for n in range(100_000))  # a slice of the 10 million 7-digit ids
    found = [g for g in guesses if fingerprint(entry["rule_id"], g, entry["path"]) == entry["fingerprint"]]
    assert found == [account]
    assert "**What a fingerprint hides.**" in (ROOT / "docs" / "git.md").read_text(encoding="utf-8")
