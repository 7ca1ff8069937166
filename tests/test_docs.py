"""The documentation says what the tool does: its samples and recipes are checked against it.

A doc that drifts from the code misleads the reader who trusts it most, so the parts that can
drift silently (the CI recipes' YAML) are held to the behaviour here.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def fenced_blocks(path: Path, language: str) -> list[str]:
    """The bodies of the ```language blocks of a Markdown file."""
    return re.findall(rf"^```{language}\n(.*?)^```", path.read_text(encoding="utf-8"), re.MULTILINE | re.DOTALL)


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
        scan = max(i for i, step in enumerate(steps) if _keeps_a_scan_cache(step))
        saves = [step for step in steps[scan + 1:] if str(step.get("uses", "")).startswith("actions/cache/save@")]
        assert saves and all(re.search(r"always\(\)|!cancelled\(\)", str(s.get("if", ""))) for s in saves), \
            f"{file}: {name}"
