"""Baselines: record today's findings so later scans report only new ones.

A team adopting brokerscan on an old repository records what is already there
(``brokerscan baseline create``), commits the file, audits it at leisure, and
passes ``--baseline FILE`` to every scan: only findings whose fingerprint is not
in the file are reported.

The fingerprint (``findings.fingerprint``: rule id + SHA-256 of the secret + path)
survives lines moving and unrelated history rewrites, and the file holds no
secret: per finding only the fingerprint, rule, severity, path, line and (for
history) commit. The fingerprint is an unsalted hash, so an easily guessed value
(an account id) can be recovered from it: commit the file next to the code it
describes, not somewhere more public (docs/git.md). Paths are as the scan
reports them, so create and use a baseline from the same directory (the
repository root, which is where pre-commit and the GitHub Action run).
"""
from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from . import __version__
from .models import Finding, ScanStats, ScanTarget

BASELINE_VERSION = 1
DEFAULT_BASELINE = ".brokerscan-baseline.json"


class BaselineError(Exception):
    """A baseline file is missing, unreadable or malformed; the message names the file and why."""


@dataclass(frozen=True)
class Baseline:
    path: str
    fingerprints: frozenset[str]

    def new_findings(self, findings: Sequence[Finding], stats: ScanStats) -> list[Finding]:
        """The findings not recorded in this baseline; the rest are counted in ``stats``."""
        kept = [f for f in findings if f.fingerprint not in self.fingerprints]
        if len(kept) != len(findings):
            stats.note(f"known in baseline {self.path} (not reported)", len(findings) - len(kept))
        return kept


def load_baseline(path: str) -> Baseline:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BaselineError(f"{path}: baseline file not found "
                            f"(create one with 'brokerscan baseline create -o {path}')") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BaselineError(f"{path}: cannot read baseline: {exc}") from None
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise BaselineError(f"{path}: baseline is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise BaselineError(f"{path}: baseline must be a JSON object with 'version' and 'findings'")
    version = doc.get("version")
    if version != BASELINE_VERSION:
        raise BaselineError(f"{path}: unsupported baseline version {version!r} (this brokerscan reads version "
                            f"{BASELINE_VERSION}; recreate it with 'brokerscan baseline create')")
    entries = doc.get("findings")
    if not isinstance(entries, list):
        raise BaselineError(f"{path}: 'findings' must be a list")
    fingerprints = set()
    for index, entry in enumerate(entries):
        fp = entry.get("fingerprint") if isinstance(entry, dict) else None
        if not isinstance(fp, str) or not fp:
            raise BaselineError(f"{path}: findings[{index}] has no 'fingerprint' string")
        fingerprints.add(fp)
    return Baseline(path, frozenset(fingerprints))


def baseline_document(findings: Sequence[Finding], target: ScanTarget) -> dict:
    """The baseline as JSON data: one entry per fingerprint, never a secret."""
    entries: dict[str, dict] = {}
    for f in sorted(findings, key=Finding.sort_key):
        if f.fingerprint in entries:
            continue
        entry = {"fingerprint": f.fingerprint, "rule_id": f.rule_id, "severity": f.severity.value,
                 "path": f.provenance.path, "line": f.location.line}
        if f.provenance.commit:
            entry["commit"] = f.provenance.commit
        entries[f.fingerprint] = entry
    return {
        "version": BASELINE_VERSION,
        "generator": f"brokerscan {__version__}",
        "created": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "source": target.command,
        "findings": sorted(entries.values(), key=lambda e: (e["path"], e["rule_id"], e["fingerprint"])),
    }


def write_baseline(path: str, findings: Sequence[Finding], target: ScanTarget) -> int:
    """Write the baseline atomically; returns the number of entries."""
    doc = baseline_document(findings, target)
    text = json.dumps(doc, indent=2, ensure_ascii=True) + "\n"
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        Path(tmp).write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise BaselineError(f"{path}: cannot write baseline: {exc.strerror or exc}") from None
    return len(doc["findings"])


def apply_baseline_args(args, findings: Sequence[Finding], stats: ScanStats,
                        target: ScanTarget) -> tuple[list[Finding], int | None]:
    """The CLI's hook in ``emit``: drop baselined findings (``--baseline``), or write a
    baseline instead of a report (``brokerscan baseline create``, which sets
    ``args.write_baseline``). Returns the findings to report and, when a baseline was
    written, the exit code to stop with."""
    findings = list(findings)
    if getattr(args, "baseline", None):
        findings = load_baseline(args.baseline).new_findings(findings, stats)
    out = getattr(args, "write_baseline", None)
    if out:
        count = write_baseline(out, findings, target)
        skipped = f"; {stats.files_skipped} skipped (see a normal scan's summary)" if stats.files_skipped else ""
        print(f"brokerscan: baseline {out}: {count} fingerprint(s) from {stats.files_scanned} "
              f"file(s)/blob(s) scanned{skipped}", file=sys.stderr)
        return findings, 0
    return findings, None
