"""History scans judge every version of a file on its own, regex and AST alike.

The AST's verdict on a line depends on the whole file (a docstring opened above it, a
syntax error anywhere, the client library it names), so the findings of a history scan
are those of ``dir`` on each version, however little a version changed. The oracles are
the same scan with ``--cache``, with another ``--jobs``, and ``dir`` on the last commit.
"""
from __future__ import annotations

import json

from gitrepo import (
    repo,  # noqa: F401 (a fixture)
    TWS_PW,
    scan,
    scan_json,
)

PASSWORD_A = "Vx9qLm2RtB7wKz"
PASSWORD_B = "Hn4cPz8YeQ3sTd"
GATEWAY_PASSWORD = "Rk4vNp8sQw2Lz"  # ibkr-gateway-password: a regex match the AST then judges


def both_ways(repo, tmp_path) -> tuple[dict, dict]:
    plain = scan_json("git", str(repo.path))
    oracle = scan_json("git", str(repo.path), "--cache", str(tmp_path / "cache"))
    return plain, oracle


def found(report: dict) -> list[tuple]:
    return sorted((f["path"], f["rule_id"], f["secret"], f["line"], f["confidence"], tuple(f["detectors"]),
                   f["source"]["commit"], f["source"]["extra"].get("commits_carrying"))
                  for f in report["findings"])


def test_a_secret_kept_through_many_versions_has_the_findings_of_each_version(repo, tmp_path):
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


def test_a_new_value_on_a_line_of_a_multi_line_assignment_is_still_found(repo, tmp_path):
    """The credential name and its value on different lines: a verdict keyed by the name's
    line could not see the value change."""
    for value in (PASSWORD_A, PASSWORD_B):
        for n in range(3):
            repo.commit(f"{value} {n}", {"svc/conf.py": f'password = "{TWS_PW}"\nDB_PASSWORD = (\n    "{value}"\n)\n'
                                                        f'other = {n}\n'})
    plain, oracle = both_ways(repo, tmp_path)
    assert found(plain) == found(oracle)
    assert {PASSWORD_A, PASSWORD_B} <= {f["secret"] for f in plain["findings"]}


def test_a_line_whose_regex_matches_change_is_judged_again(repo, tmp_path):
    """Same name, new value."""
    for n, value in enumerate((PASSWORD_A, PASSWORD_A, PASSWORD_B, PASSWORD_B)):
        repo.commit(f"v{n}", {"cfg/app.py": f'x = {n}\nPASSWORD = "{value}"\n'})
    plain, oracle = both_ways(repo, tmp_path)
    assert found(plain) == found(oracle)
    assert {PASSWORD_A, PASSWORD_B} <= {f["secret"] for f in plain["findings"]}


def test_a_client_library_file_is_judged_at_its_client_calls(repo, tmp_path):
    """A file naming an IBKR client library: its possible client calls and their literals
    (also in a call split over lines) found in every version, as a full parse finds them."""
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


def test_results_do_not_depend_on_jobs(repo):
    files = {f"pkg/m{n:03}.py": f"v = {n}\n" for n in range(420)}
    for version in range(3):
        files["pkg/m007.py"] = f'PASSWORD = "{PASSWORD_A}"\nversion = {version}\n'
        files["pkg/m300.py"] = f'token = os.getenv("X")\nPASSWORD = "{PASSWORD_B}"\nversion = {version}\n'
        repo.commit(f"v{version}", files)
    one = scan_json("git", str(repo.path), "-j", "1")
    two = scan_json("git", str(repo.path), "-j", "2")
    assert found(one) == found(two) and len(found(one)) >= 2


def history_and_head(repo, *args: str) -> tuple[list[tuple], list[tuple]]:
    """(path, rule, secret, confidence) of a history scan and of ``dir`` on the last commit."""
    def shown(report: dict) -> list[tuple]:
        return sorted((f["path"], f["rule_id"], f["secret"], f["confidence"]) for f in report["findings"])
    history = scan("git", str(repo.path), *args, "-f", "json", "--show-secrets")
    assert history.returncode in (0, 1), history.stderr.decode(errors="replace")
    return shown(json.loads(history.stdout)), shown(scan_json("dir", ".", *args, cwd=repo.path))


def test_a_line_that_leaves_a_docstring_is_judged_as_live_code(repo):
    """Version a: the password inside a docstring (the AST lowers its confidence below 0.6).
    Version b keeps the line but not the docstring: it is live code, reported as ``dir``
    reports it, and a history scan at --min-confidence 0.6 still fails."""
    line = f'TWS_PASSWORD = "{GATEWAY_PASSWORD}"\n'
    repo.commit("a", {"cfg.py": '"""doc\n' + line + '"""\n'})
    repo.commit("b: the secret is live code now", {"cfg.py": "# doc\n" + line + "\n"})
    history, head = history_and_head(repo, "--min-confidence", "0.6")
    assert head and all(secret == GATEWAY_PASSWORD for _, _, secret, _ in head)
    assert history == head


def test_a_syntax_error_elsewhere_makes_a_version_regex_only(repo):
    """The same docstring around the same line in both versions, but b does not parse (an
    open parenthesis at the end): the AST cannot judge b, whose match keeps the regex's
    confidence, as ``dir`` on b says. A key made of the line and its enclosing nodes in
    version a could not tell these apart."""
    text = f'import os\n"""Settings.\nTWS_PASSWORD = "{GATEWAY_PASSWORD}"\n"""\n'
    repo.commit("a", {"cfg.py": text + "x = 1\n"})
    repo.commit("b: a typo below", {"cfg.py": text + "x = (1\n"})
    history, head = history_and_head(repo, "--min-confidence", "0.6")
    assert head and all(secret == GATEWAY_PASSWORD for _, _, secret, _ in head)
    assert history == head
