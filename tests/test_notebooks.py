"""Jupyter notebooks: cell sources and text outputs are scanned, findings point at the .ipynb line."""
from __future__ import annotations

import json
from pathlib import Path

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


def test_malformed_notebook_is_scanned_as_text_and_counted():
    raw = NOTEBOOK.read_bytes()[:1200]  # cut mid-way: not JSON any more
    findings, stats = scan(raw)
    assert stats.notes["notebook: malformed, scanned as text"] == 1
    assert any(f.secret.startswith("Op7Zq2Lm9Xv4Rt8w") for f in findings)  # raw JSON: with its "\\n"
    assert all(f.provenance.extra == () for f in findings)


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
