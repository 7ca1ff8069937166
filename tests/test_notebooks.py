"""Jupyter notebooks: cell sources and text outputs are scanned, findings point at the .ipynb line."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli

from scanner.models import Blob, Provenance, ScanStats
from scanner.notebooks import split_notebook
from scanner.rules import load_rules
from scanner.scan import BlobScanner, ScanOptions

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures" / "ast"
NOTEBOOK = FIXTURES / "notebook" / "report.ipynb"
RULES = load_rules([ROOT / "rules" / "ast.toml", FIXTURES / "naive-regex.toml"], bundled=False)


def scan(data: bytes, path: str = "report.ipynb"):
    stats = ScanStats()
    findings = BlobScanner(RULES, ScanOptions()).scan_blob(Blob(data, Provenance("file", path)), stats)
    return findings, stats


def test_secrets_in_cell_sources_and_outputs_map_to_notebook_lines():
    findings, _ = scan(NOTEBOOK.read_bytes())
    got = [(f.location.line, f.rule_id, "+".join(f.detectors), f.secret, dict(f.provenance.extra)) for f in findings]
    assert got == [
        (10, "naive-account", "regex", "U4829173", {"cell": "1", "cell_part": "source"}),  # markdown cell
        (24, "naive-credential", "regex", "Op7Zq2Lm9Xv4Rt8w", {"cell": "2", "cell_part": "output"}),  # printed
        (32, "naive-credential", "regex+ast", "Nb4-Kq9z-Lm2", {"cell": "2", "cell_part": "source"}),
        (45, "naive-credential", "regex", "Ex8Zq2Lm9Xv4Rt7w", {"cell": "3", "cell_part": "output"}),  # repr
        (55, "naive-credential", "regex+ast", "Mg5Zq2Lm9Xv4Rt8w", {"cell": "3", "cell_part": "source"}),
    ]
    assert findings[0].confidence < 0.7  # a Markdown cell is documentation
    lines = NOTEBOOK.read_text(encoding="utf-8").splitlines()
    for f in findings:
        line = lines[f.location.line - 1]
        assert line[f.location.column - 1:f.location.end_column - 1] == f.secret
        assert f.line_text == line


def test_env_lookup_in_a_cell_is_not_reported_but_regex_alone_would(monkeypatch):
    findings, stats = scan(NOTEBOOK.read_bytes())
    assert "os.environ[" not in {f.secret for f in findings}
    assert stats.notes["ast: regex match on code, dropped"] == 2
    assert stats.files_scanned == 1
    monkeypatch.setenv("BROKERSCAN_AST", "0")
    findings, _ = scan(NOTEBOOK.read_bytes())
    assert {"os.environ[", "api_key"} <= {f.secret for f in findings}


def test_columns_survive_json_escapes_and_single_string_sources():
    cell = 'note = "caf\u00e9 \\\\ \\"q\\""\npassword = "Esc4-Kq9z-Lm2"\n'
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "source": cell}],
          "metadata": {"kernelspec": {"language": "python"}}, "nbformat": 4, "nbformat_minor": 5}
    for ensure_ascii in (True, False):
        raw = json.dumps(nb, indent=1, ensure_ascii=ensure_ascii).encode("utf-8")
        [finding], _ = scan(raw)
        line = raw.decode("utf-8").splitlines()[finding.location.line - 1]
        assert line[finding.location.column - 1:finding.location.end_column - 1] == "Esc4-Kq9z-Lm2"
        assert finding.detectors == ("regex", "ast")


def _described(findings):
    return [(f.location.line, f.location.column, f.location.end_column, f.rule_id, f.detectors, f.secret,
             f.provenance.extra) for f in findings]


def _too_deep(raw: bytes) -> bytes:
    """The notebook with a metadata value nested deeper than ``json`` will read."""
    depth = 100_000
    return raw.replace(b'"metadata": {\n  "kernelspec"', b'"deep": ' + b"[" * depth + b"]" * depth
                       + b', "metadata": {\n  "kernelspec"', 1)


@pytest.mark.parametrize("damage", [
    lambda raw: raw[:-40],  # an interrupted save
    lambda raw: raw[:1200],  # cut inside the last cell's source
    lambda raw: raw + b"}\n",  # a stray brace after the document
    _too_deep,
], ids=["truncated", "cut-mid-cell", "stray-brace", "too-deep"])
def test_a_damaged_notebook_keeps_the_findings_of_its_cells(damage):
    intact, _ = scan(NOTEBOOK.read_bytes())
    findings, stats = scan(damage(NOTEBOOK.read_bytes()))
    assert _described(findings) == _described(intact)
    assert stats.notes["notebook: malformed, cells read from its strings"] == 1
    assert findings[0].confidence == intact[0].confidence  # still a Markdown cell: documentation


def test_cli_finds_the_secrets_of_an_interrupted_notebook_save(tmp_path):
    cell = ['TWS_PASSWORD = "Qw7eRt9yUi3o"\n', 'IBEAM_PYOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXQ"\n']
    nb = {"cells": [{"cell_type": "code", "execution_count": 1, "metadata": {}, "outputs": [], "source": cell}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    text = json.dumps(nb, indent=1)
    (tmp_path / "good.ipynb").write_text(text)
    (tmp_path / "cut.ipynb").write_text(text[:-40])
    reports = {}
    for name in ("good.ipynb", "cut.ipynb"):
        result = run_cli("dir", name, "--no-config", "-f", "json", cwd=tmp_path)
        assert result.returncode == 1, result.stderr
        reports[name] = json.loads(result.stdout)
    described = {name: [(f["rule_id"], f["severity"], f["line"], f["column"]) for f in report["findings"]]
                 for name, report in reports.items()}
    assert described["cut.ipynb"] == described["good.ipynb"]
    assert [severity for _, severity, _, _ in described["cut.ipynb"]] == ["critical", "critical"]
    assert "notebook: malformed, cells read from its strings" in json.dumps(reports["cut.ipynb"])


def test_a_file_named_like_a_notebook_that_is_none_is_scanned_as_text():
    findings, stats = scan(b'not json at all\npassword = "Txt4-Kq9z-Lm2"\n')
    assert stats.notes["notebook: malformed, scanned as text"] == 1
    assert [(f.location.line, f.secret, f.provenance.extra) for f in findings] == [(2, "Txt4-Kq9z-Lm2", ())]


def test_strings_written_with_unusual_escapes_map_to_their_own_line_and_column():
    """Writers other than json.dumps escape what they like: ``\\u003d`` for ``=``, ``\\/``,
    a surrogate pair for an emoji. The secret is reported where it is in the file."""
    cell = ['x = 1\n', 'url = "a/b" # \U0001F600\n', 'password = "Esc6-Kq9z-Lm2" # \U0001F600 caf\u00e9\n']
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "source": cell}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    raw = json.dumps(nb, indent=1).replace("a/b", "a\\/b").replace('password = ', 'password \\u003d ')
    [finding], _ = scan(raw.encode())
    assert 'password \\u003d' in raw and "\\ud83d\\ude00" in raw
    line = raw.splitlines()[finding.location.line - 1]
    assert "Esc6-Kq9z-Lm2" in line
    assert line[finding.location.column - 1:finding.location.end_column - 1] == "Esc6-Kq9z-Lm2"
    assert finding.line_text == line


def test_a_lone_surrogate_escape_does_not_lose_the_cell():
    """``"\\ud800"`` is valid JSON but no UTF-8: the notebook was a skip (internal error)."""
    cell = ["x = '\ud800'\n", 'password = "Srg7-Kq9z-Lm2"\n']
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "source": cell}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    raw = json.dumps(nb, indent=1)
    assert "\\ud800" in raw
    findings, stats = scan(raw.encode())
    assert [f.secret for f in findings] == ["Srg7-Kq9z-Lm2"]
    assert not stats.skipped


def test_non_python_kernels_and_markdown_are_regex_only():
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "source": ['password = "R5-Kq9z-Lm2x"\n']}],
          "metadata": {"kernelspec": {"language": "R"}}, "nbformat": 4, "nbformat_minor": 5}
    findings, stats = scan(json.dumps(nb, indent=1).encode())
    assert [(f.secret, f.detectors) for f in findings] == [("R5-Kq9z-Lm2x", ("regex",))]
    assert "ast: files parsed" not in stats.notes


def test_a_notebook_whose_metadata_is_not_a_mapping_is_read_as_python():
    cell = {"cell_type": "code", "metadata": {}, "outputs": [], "source": ['password = "R5-Kq9z-Lm2x"\n']}
    for metadata in ("not a mapping", {"kernelspec": "python3"}, {"language_info": ["python"]}):
        nb = {"cells": [cell], "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}
        findings, stats = scan(json.dumps(nb, indent=1).encode())
        assert [f.secret for f in findings] == ["R5-Kq9z-Lm2x"], metadata
        assert "ast: files parsed" in stats.notes, metadata


def test_parts_cover_sources_and_text_outputs_but_not_images():
    nb = json.loads(NOTEBOOK.read_text())
    nb["cells"][1]["outputs"].append({"data": {"image/png": "iVBORw0KGgo" * 40, "text/plain": ["<Figure>"]},
                                      "metadata": {}, "output_type": "display_data"})
    parts = split_notebook(json.dumps(nb, indent=1).encode())
    assert [(p.cell, p.part) for p in parts] == [
        (1, "source"), (2, "output"), (2, "output"), (2, "source"), (3, "output"), (3, "source")]
    assert all("iVBORw0KGgo" not in p.text for p in parts)


def test_cli_json_report_carries_the_cell(tmp_path):
    (tmp_path / "report.ipynb").write_bytes(NOTEBOOK.read_bytes())
    result = run_cli("dir", ".", "--no-config", "--rules", str(FIXTURES / "naive-regex.toml"), "-f", "json",
                     cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    findings = json.loads(result.stdout)["findings"]
    output = [f for f in findings if f["source"]["extra"].get("cell_part") == "output"]
    assert {(f["line"], f["source"]["extra"]["cell"]) for f in output} >= {(24, "2"), (45, "3")}


def test_traceback_lines_are_scanned_in_intact_and_damaged_notebooks():
    error = {"ename": "AuthError", "evalue": "bad login", "output_type": "error",
             "traceback": ["\u001b[0;31mAuthError\u001b[0m: login failed\n", 'password = "Tb8-Kq9z-Lm2x"\n']}
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "outputs": [error], "source": ["connect()\n"]}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    raw = json.dumps(nb, indent=1).encode()
    for data in (raw, raw[:-30]):
        findings, _ = scan(data)
        line = raw.decode().splitlines()[findings[0].location.line - 1]
        assert [(f.secret, dict(f.provenance.extra)) for f in findings] == [
            ("Tb8-Kq9z-Lm2x", {"cell": "1", "cell_part": "output"})]
        assert line[findings[0].location.column - 1:findings[0].location.end_column - 1] == "Tb8-Kq9z-Lm2x"
