"""History scans judge each line with the AST once, in the version that introduced it.

The oracle is the same scan with ``--cache``, which judges every blob on its own: the
findings must be the same, while the plain scan parses far fewer blobs.
"""
from __future__ import annotations

from gitrepo import (
    repo,  # noqa: F401 (a fixture)
    TWS_PW,
    scan_json,
)

PASSWORD_A = "Vx9qLm2RtB7wKz"
PASSWORD_B = "Hn4cPz8YeQ3sTd"


def both_ways(repo, tmp_path) -> tuple[dict, dict]:
    plain = scan_json("git", str(repo.path))
    oracle = scan_json("git", str(repo.path), "--cache", str(tmp_path / "cache"))
    return plain, oracle


def found(report: dict) -> list[tuple]:
    return sorted((f["path"], f["rule_id"], f["secret"], f["line"], f["confidence"], tuple(f["detectors"]),
                   f["source"]["commit"], f["source"]["extra"].get("commits_carrying"))
                  for f in report["findings"])


def reused(report: dict) -> int:
    return sum(n for what, n in report["summary"]["notes"].items() if "not parsed again" in what)


def test_a_secret_kept_through_many_versions_is_judged_once_with_the_same_findings(repo, tmp_path):
    body = [f"value_{n} = {n}\n" for n in range(30)]
    secret_lines = [
        f'PASSWORD = "{PASSWORD_A}"\n',                      # a literal: AST-confirmed
        'TWS_PASSWORD = os.environ["TWS_PASSWORD"]\n',       # an env lookup: not a finding
        f'"""Example: IbPassword={TWS_PW}"""\n',             # in a docstring: lower confidence
    ]
    for version in range(12):
        lines = list(body)
        lines.insert(3, secret_lines[0])
        lines.insert(10, secret_lines[1])
        lines.insert(0, secret_lines[2])
        lines[20] = f"value_edit = {version}\n"  # every version differs elsewhere
        lines.insert(25 + version % 3, f"moved_{version} = 1\n")  # and lines shift
        repo.commit(f"v{version}", {"app/settings.py": "import os\n" + "".join(lines)})
    plain, oracle = both_ways(repo, tmp_path)
    assert found(plain) == found(oracle)
    secrets = {f["secret"] for f in plain["findings"]}
    assert PASSWORD_A in secrets and "TWS_PASSWORD" not in secrets
    assert reused(plain) >= 10  # the first version was parsed; later ones took its verdicts


def test_a_new_value_on_a_line_of_a_multi_line_assignment_is_still_found(repo, tmp_path):
    """The credential name and its value on different lines: a verdict keyed by the name's
    line could not see the value change, so every version of such a file is parsed."""
    for value in (PASSWORD_A, PASSWORD_B):
        for n in range(3):
            repo.commit(f"{value} {n}", {"svc/conf.py": f'password = "{TWS_PW}"\nDB_PASSWORD = (\n    "{value}"\n)\n'
                                                        f'other = {n}\n'})
    plain, oracle = both_ways(repo, tmp_path)
    assert found(plain) == found(oracle)
    assert {PASSWORD_A, PASSWORD_B} <= {f["secret"] for f in plain["findings"]}
    assert reused(plain) == 0


def test_a_line_whose_regex_matches_change_is_judged_again(repo, tmp_path):
    """Same name, new value: the line's text (and so its matches) changed, so it is parsed."""
    for n, value in enumerate((PASSWORD_A, PASSWORD_A, PASSWORD_B, PASSWORD_B)):
        repo.commit(f"v{n}", {"cfg/app.py": f'x = {n}\nPASSWORD = "{value}"\n'})
    plain, oracle = both_ways(repo, tmp_path)
    assert found(plain) == found(oracle)
    assert {PASSWORD_A, PASSWORD_B} <= {f["secret"] for f in plain["findings"]}
    assert reused(plain) == 2


def test_a_client_library_file_is_judged_at_its_client_calls(repo, tmp_path):
    """A file naming an IBKR client library is judged at its possible client calls and their
    literals (each literal's own line, also in a call split over lines): unchanged calls keep
    their verdict and a new literal is judged again, with the findings of a full parse."""
    for version, account in enumerate(("DU7305518", "DU7305518", "DU7305518", "U4829173", "U4829173")):
        repo.commit(f"v{version}", {
            "bot/live.py": "from ib_async import IB\nib = IB()\n"
                           f"ib.connect('127.0.0.1', 7496, 17, 4, False, '{account}')\n"
                           f"ib.reqPnL(account, '')\nstep = {version}\n",
            "bot/split.py": "from ibind import IbkrClient\nclient = IbkrClient(\n"
                            f"    account_id='{account}',\n)\nstep = {version}\n"})
    plain, oracle = both_ways(repo, tmp_path)
    assert found(plain) == found(oracle)
    assert {(f["path"], f["secret"]) for f in plain["findings"]} == {
        ("bot/live.py", "DU7305518"), ("bot/live.py", "U4829173"),
        ("bot/split.py", "DU7305518"), ("bot/split.py", "U4829173")}
    assert reused(plain) == 6  # versions 1, 2 and 4 of each file


def test_results_do_not_depend_on_jobs(repo):
    files = {f"pkg/m{n:03}.py": f"v = {n}\n" for n in range(420)}
    for version in range(3):
        files["pkg/m007.py"] = f'PASSWORD = "{PASSWORD_A}"\nversion = {version}\n'
        files["pkg/m300.py"] = f'token = os.getenv("X")\nPASSWORD = "{PASSWORD_B}"\nversion = {version}\n'
        repo.commit(f"v{version}", files)
    one = scan_json("git", str(repo.path), "-j", "1")
    two = scan_json("git", str(repo.path), "-j", "2")
    assert found(one) == found(two) and len(found(one)) >= 2


def test_a_path_a_retried_blob_shows_unsafe_has_its_covered_blobs_parsed_too(monkeypatch):
    """v1 cannot be read, so v2 (whose lines v1 holds) is parsed after all, and finds a secret
    off its judged lines: the path is unsafe to judge line by line. v3, whose only line an
    earlier version (v0) judged, must then be parsed as well, not take v0's verdict."""
    from scanner import history_ast
    from scanner.models import Finding, Location, Provenance, ScanStats, Severity
    from scanner.scan import DeferredAst
    from scanner.sources.git import ObjectRef

    def finding(line: int, secret: str) -> Finding:
        return Finding("r", "t", Severity.HIGH, (), secret, Location(line, 1, line, 9), "x", 3.0, 0.9, secret,
                       Provenance(kind="git", path="p.py"))

    v0, v1, v2, v3 = (ObjectRef(str(n) * 40, b"p.py") for n in range(4))
    line_a, line_b = (1, b"A", ()), (2, b"B", ())
    parse = [(v0, DeferredAst((line_a,), 10)), (v1, DeferredAst((line_a, line_b), 10))]
    reuse = [(v2, DeferredAst((line_a, line_b), 10)), (v3, DeferredAst((line_a,), 10))]
    monkeypatch.setattr(history_ast, "plan", lambda *args, **kw: (parse, reuse))
    answers = {v0: [finding(1, "from-v0")], v1: None, v2: [finding(5, "off-line")], v3: [finding(1, "from-v3")]}
    judged: list[ObjectRef] = []

    def judge(refs, sizes):
        judged.extend(refs)
        return [(ref, answers[ref]) for ref in refs], ScanStats()

    found = history_ast.judge_deferred(parse + reuse, None, None, ScanStats(), None, judge)
    assert v3 in judged
    assert sorted((sha[:1], f.secret) for f, sha in found) == [("0", "from-v0"), ("2", "off-line"), ("3", "from-v3")]
