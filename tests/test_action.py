"""``action.yml``: its shell steps, run locally against temporary repositories.

``ActionRunner`` plays the GitHub runner for a composite action: it evaluates the
few ``${{ ... }}`` expressions the action uses (inputs, step outputs,
``github.action_path``), sets the environment variables GitHub sets for a job
(``GITHUB_EVENT_NAME``, ``GITHUB_EVENT_PATH`` with an event payload, ``GITHUB_SHA``,
``GITHUB_OUTPUT``, ``GITHUB_ENV``, ``GITHUB_STEP_SUMMARY``, ``RUNNER_TEMP``, ``CI``...)
and runs each ``run:`` step with its shell. ``uses:`` steps (setup-python,
upload-sarif) are recorded, not run. The install step builds a virtualenv and
pip-installs the project, so by default brokerscan comes from this checkout instead
(``BROKERSCAN_BIN``); ``test_install_step`` runs the real one when
``BROKERSCAN_SLOW_TESTS=1``.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import ROOT
from gitrepo import DESK_1, DESK_2, DESK_3, RULES, Repo, git_env

yaml = pytest.importorskip("yaml")

ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def desk(value: str) -> str:
    return f'desk = "{value}"\n'


@dataclass
class StepRun:
    id: str
    returncode: int
    stdout: str
    outputs: dict[str, str]


@dataclass
class ActionRun:
    steps: list[StepRun] = field(default_factory=list)
    skipped_uses: list[dict] = field(default_factory=list)
    summary: str = ""

    @property
    def ok(self) -> bool:
        return all(s.returncode == 0 for s in self.steps)

    def step(self, step_id: str) -> StepRun:
        return next(s for s in self.steps if s.id == step_id)

    @property
    def log(self) -> str:
        return "\n".join(f"--- {s.id} (exit {s.returncode})\n{s.stdout}" for s in self.steps)


class ActionRunner:
    def __init__(self, workspace: Path, tmp: Path, *, install: bool = False) -> None:
        self.workspace = workspace
        self.tmp = tmp
        self.install = install

    def run(self, event: str, payload: dict, inputs: dict[str, str] | None = None, sha: str | None = None,
            ref: str = "refs/heads/main") -> ActionRun:
        values = {name: str(spec.get("default", "")) for name, spec in ACTION["inputs"].items()}
        values.update(inputs or {})
        unknown = set(inputs or {}) - set(ACTION["inputs"])
        assert not unknown, f"not inputs of the action: {unknown}"
        event_path = self.tmp / "event.json"
        event_path.write_text(json.dumps(payload))
        runner_temp = self.tmp / "runner-temp"
        runner_temp.mkdir(exist_ok=True)
        env = {
            **git_env(),
            "CI": "true", "GITHUB_ACTIONS": "true", "RUNNER_OS": "Linux", "RUNNER_TEMP": str(runner_temp),
            "GITHUB_WORKSPACE": str(self.workspace), "GITHUB_EVENT_NAME": event,
            "GITHUB_EVENT_PATH": str(event_path), "GITHUB_SHA": sha or self._git("rev-parse", "HEAD"),
            "GITHUB_REF": ref, "GITHUB_REPOSITORY": "acme/trading-bot", "GITHUB_ACTION_PATH": str(ROOT),
            "GITHUB_STEP_SUMMARY": str(self.tmp / "summary.md"), "NO_COLOR": "1",
        }
        if self.install:
            env.pop("PYTHONPATH", None)  # the installed brokerscan only
        else:
            env["BROKERSCAN_BIN"] = str(self._shim())
        result = ActionRun()
        outputs: dict[str, dict[str, str]] = {}
        for index, step in enumerate(ACTION["runs"]["steps"]):
            step_id = step.get("id", f"step{index}")
            context = {"inputs": values, "steps": outputs}
            if "uses" in step:
                result.skipped_uses.append({**step, "with": {k: self._eval(v, context)
                                                             for k, v in step.get("with", {}).items()}})
                continue
            if step_id == "install" and not self.install:
                continue
            files = {name: self.tmp / f"{step_id}.{name}" for name in ("output", "env", "path")}
            for f in files.values():
                f.write_text("")
            step_env = {**env, "GITHUB_OUTPUT": str(files["output"]), "GITHUB_ENV": str(files["env"]),
                        "GITHUB_PATH": str(files["path"])}
            step_env.update({k: self._eval(v, context) for k, v in step.get("env", {}).items()})
            script = self.tmp / f"{step_id}.script"
            script.write_text(self._eval(step["run"], context))
            shell = {"bash": ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                     "python": [sys.executable, str(script)]}[step["shell"]]
            proc = subprocess.run(shell, cwd=self.workspace, env=step_env, capture_output=True,
                                  stdin=subprocess.DEVNULL, timeout=900, check=False)
            step_outputs = _parse_kv(files["output"].read_text())
            outputs[step_id] = step_outputs
            env.update(_parse_kv(files["env"].read_text()))
            for line in files["path"].read_text().splitlines():
                env["PATH"] = line + os.pathsep + env["PATH"]
            result.steps.append(StepRun(step_id, proc.returncode,
                                        (proc.stdout + proc.stderr).decode(errors="replace"), step_outputs))
            if proc.returncode != 0:
                break
        summary = self.tmp / "summary.md"
        result.summary = summary.read_text() if summary.exists() else ""
        return result

    def _git(self, *args: str) -> str:
        return subprocess.run(["git", *args], cwd=self.workspace, capture_output=True, text=True,
                              env=git_env(), check=True).stdout.strip()

    def _shim(self) -> Path:
        shim = self.tmp / "bin" / "brokerscan"
        shim.parent.mkdir(exist_ok=True)
        shim.write_text(f"#!/bin/sh\nPYTHONPATH={ROOT} exec {sys.executable} -m scanner \"$@\"\n")
        shim.chmod(0o755)
        return shim

    @staticmethod
    def _eval(text: str, context: dict) -> str:
        def value(match: re.Match) -> str:
            expr = match.group(1)
            if expr == "github.action_path":
                return str(ROOT)
            m = re.fullmatch(r"inputs\.([\w-]+)", expr)
            if m:
                return context["inputs"][m.group(1)]
            m = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expr)
            if m:
                return context["steps"].get(m.group(1), {}).get(m.group(2), "")
            if "==" in expr or "always()" in expr:
                return expr  # conditions: only on uses-steps, which are not run here
            raise AssertionError(f"expression the test runner does not know: {expr}")

        return EXPRESSION.sub(value, str(text))


def _parse_kv(text: str) -> dict[str, str]:
    """GITHUB_OUTPUT / GITHUB_ENV syntax: ``key=value`` lines and ``key<<DELIM`` blocks."""
    out: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and "=" not in line.split("<<", 1)[0]:
            key, delim = line.split("<<", 1)
            body = []
            for inner in lines:
                if inner == delim:
                    break
                body.append(inner)
            out[key] = "\n".join(body)
        elif "=" in line:
            key, _, val = line.partition("=")
            out[key] = val
    return out


@pytest.fixture
def workspace(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "workspace")


def runner(repo: Repo, tmp_path: Path, **kw) -> ActionRunner:
    state = tmp_path / "runner"
    state.mkdir(exist_ok=True)
    return ActionRunner(repo.path, state, **kw)


ARGS = f"--rules {RULES}"


def test_push_scans_the_pushed_commits_and_fails_on_new_findings(workspace, tmp_path):
    workspace.commit("old leak", {"old.env": desk(DESK_1)})
    before = workspace.commit("base", {"a.txt": "a\n"})
    leak = workspace.commit("new leak", {"config.py": desk(DESK_2)})
    after = workspace.commit("more", {"a.txt": "b\n"})
    run = runner(workspace, tmp_path).run("push", {"before": before, "after": after,
                                                  "repository": {"default_branch": "main"}},
                                          {"args": ARGS})
    scan = run.step("scan")
    assert scan.returncode == 0, run.log
    assert "pushed commits" in scan.stdout
    sarif = json.loads((workspace.path / "brokerscan.sarif").read_text())
    results = sarif["runs"][0]["results"]
    assert [(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], r["properties"]["commit"])
            for r in results] == [("config.py", leak)]
    assert scan.outputs == {"sarif-file": "brokerscan.sarif", "findings": "1", "failing-findings": "1"}
    assert "::error file=config.py,line=1" in scan.stdout and DESK_2 not in scan.stdout
    gate = run.step("gate")
    assert gate.returncode == 1 and "1 finding(s) at or above severity 'medium'" in gate.stdout
    [upload] = [u for u in run.skipped_uses if "upload-sarif" in u["uses"]]
    assert upload["with"]["sarif_file"] == "brokerscan.sarif"
    assert "config.py:1 (commit" in run.summary


def test_pull_request_scans_only_its_commits(workspace, tmp_path):
    workspace.commit("old leak", {"old.env": desk(DESK_1)})
    base = workspace.commit("base", {"a.txt": "a\n"})
    workspace.git("checkout", "-q", "-b", "feature")
    head = workspace.commit("pr work", {"ib.ini": desk(DESK_3)})
    payload = {"pull_request": {"base": {"sha": base}, "head": {"sha": head}}}
    run = runner(workspace, tmp_path).run("pull_request", payload, {"args": ARGS}, ref="refs/pull/1/merge")
    scan = run.step("scan")
    assert "pull request commits" in scan.stdout, run.log
    assert scan.outputs["findings"] == "1" and not run.ok


def test_schedule_scans_full_history_and_threshold_decides(workspace, tmp_path):
    workspace.commit("leak", {"old.env": desk(DESK_1)})
    workspace.commit("remove", {"old.env": None})
    run = runner(workspace, tmp_path).run("schedule", {}, {"args": ARGS, "severity-threshold": "critical"})  # high
    assert run.ok, run.log
    assert "full history" in run.step("scan").stdout
    assert run.step("scan").outputs["findings"] == "1"
    assert run.step("scan").outputs["failing-findings"] == "0"
    run = runner(workspace, tmp_path).run("workflow_dispatch", {}, {"args": ARGS, "severity-threshold": "high"})
    assert not run.ok and run.step("gate").returncode == 1
    run = runner(workspace, tmp_path).run("workflow_dispatch", {}, {"args": ARGS, "severity-threshold": "none"})
    assert run.ok


def test_baseline_input_and_default_baseline_file(workspace, tmp_path):
    workspace.commit("known", {"old.env": desk(DESK_1)})
    made = subprocess.run([sys.executable, "-m", "scanner", "baseline", "create", "git", *ARGS.split()],
                          cwd=workspace.path, env={**git_env(), "PYTHONPATH": str(ROOT)}, capture_output=True,
                          check=False)
    assert made.returncode == 0, made.stderr
    workspace.commit("adopt baseline", {".brokerscan-baseline.json":
                                        (workspace.path / ".brokerscan-baseline.json").read_text()})
    run = runner(workspace, tmp_path).run("schedule", {}, {"args": ARGS})
    assert run.ok and run.step("scan").outputs["findings"] == "0", run.log
    workspace.git("mv", ".brokerscan-baseline.json", "ci-baseline.json")
    workspace.commit("move baseline")
    run = runner(workspace, tmp_path).run("schedule", {}, {"args": ARGS, "baseline": "ci-baseline.json"})
    assert run.ok, run.log


def _topic_branch_clone(tmp_path) -> tuple[Repo, str]:
    """A clone of a repository with one leak on main, and a topic branch adding another:
    the clone and the topic commit."""
    upstream = Repo(tmp_path / "upstream")
    upstream.commit("old leak", {"old.env": desk(DESK_1)})
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(upstream.path), str(clone)], check=True, env=git_env())
    work = Repo(clone, init=False)
    work.git("checkout", "-q", "-b", "topic")
    return work, work.commit("branch leak", {"new.env": desk(DESK_2)})


def test_new_branch_push_scans_commits_not_on_the_default_branch(tmp_path):
    work, after = _topic_branch_clone(tmp_path)
    run = runner(work, tmp_path).run("push", {"before": "0" * 40, "after": after, "created": True,
                                              "repository": {"default_branch": "main"}},
                                     {"args": ARGS}, ref="refs/heads/topic")
    scan = run.step("scan")
    assert "new branch" in scan.stdout and scan.outputs["findings"] == "1", run.log


def test_push_whose_before_is_gone_falls_back_without_a_warning(tmp_path):
    """A force-push's old tip is not in the checkout: a topic branch is scanned for its commits
    not on the default branch, the default branch for its whole history; neither warns."""
    work, after = _topic_branch_clone(tmp_path)
    gone = "1234567" * 5 + "12345"  # a commit id the checkout does not have
    push = {"before": gone, "after": after, "forced": True, "repository": {"default_branch": "main"}}
    scan = runner(work, tmp_path).run("push", push, {"args": ARGS}, ref="refs/heads/topic").step("scan")
    assert "scanning new branch: commits not on main" in scan.stdout and "::warning" not in scan.stdout
    assert scan.outputs["findings"] == "1", scan.stdout
    on_main = runner(work, tmp_path).run("push", push, {"args": ARGS}, ref="refs/heads/main").step("scan")
    assert f"scanning history of {after[:7]}" in on_main.stdout and "::warning" not in on_main.stdout
    assert on_main.outputs["findings"] == "2", on_main.stdout


def test_pull_request_whose_base_is_missing_warns_and_scans_the_head_history(workspace, tmp_path):
    workspace.commit("old leak", {"old.env": desk(DESK_1)})
    head = workspace.commit("pr work", {"ib.ini": desk(DESK_3)})
    payload = {"pull_request": {"base": {"sha": "89abcdef" * 5}, "head": {"sha": head}}}
    run = runner(workspace, tmp_path).run("pull_request", payload, {"args": ARGS}, ref="refs/pull/1/merge")
    scan = run.step("scan")
    assert "::warning::base commit 89abcde is not available" in scan.stdout, run.log
    assert f"scanning history of {head[:7]}" in scan.stdout and scan.outputs["findings"] == "2"

def test_shallow_checkout_is_deepened(tmp_path):
    upstream = Repo(tmp_path / "upstream")
    upstream.commit("leak", {"old.env": desk(DESK_1)})
    upstream.commit("remove", {"old.env": None})
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{upstream.path}", str(clone)],
                   check=True, env=git_env())
    run = runner(Repo(clone, init=False), tmp_path).run("schedule", {}, {"args": ARGS})
    assert "Shallow checkout" in run.step("scan").stdout
    assert run.step("scan").outputs["findings"] == "1", run.log


def test_errors_fail_the_step_and_bad_threshold_is_rejected(workspace, tmp_path):
    workspace.commit("a", {"a.txt": "a\n"})
    run = runner(workspace, tmp_path).run("schedule", {}, {"args": "--no-such-flag"})
    assert run.step("scan").returncode == 2 and "brokerscan failed" in run.step("scan").stdout
    run = runner(workspace, tmp_path).run("schedule", {}, {"severity-threshold": "severe"})
    assert run.step("scan").returncode == 2 and "severity-threshold must be one of" in run.step("scan").stdout


def test_sarif_from_the_action_validates(workspace, tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    workspace.commit("leak", {"dir with space/config.py": desk(DESK_1)})
    run = runner(workspace, tmp_path).run("schedule", {}, {"args": ARGS, "sarif-file": "out/scan.sarif"})
    assert run.step("scan").outputs["sarif-file"] == "out/scan.sarif", run.log
    sarif_path = workspace.path / "out" / "scan.sarif"
    schema = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())
    jsonschema.validate(json.loads(sarif_path.read_text()), schema)
    assert "::error file=dir with space/config.py" in run.step("scan").stdout


@pytest.mark.skipif(not os.environ.get("BROKERSCAN_SLOW_TESTS"),
                    reason="pip-installs the project; set BROKERSCAN_SLOW_TESTS=1")
def test_install_step(workspace, tmp_path):
    workspace.commit("a", {"a.txt": "a\n"})
    run = runner(workspace, tmp_path, install=True).run("schedule", {}, {"args": ARGS})
    assert run.step("install").returncode == 0, run.log
    assert "brokerscan 0" in run.step("install").stdout and run.ok
