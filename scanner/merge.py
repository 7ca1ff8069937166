"""``brokerscan merge``: reports from many machines in, one report out.

A fleet scan is run by the tools an operator already has (SSH loops, Ansible, AWS SSM
Run Command, Kubernetes Jobs; see ``docs/cloud-scans.md``); each machine writes a
SARIF or JSON report, and this verb brings them together:

* every report (SARIF 2.1.0 or brokerscan JSON, told apart by content) is read back
  into ``Finding`` values, with the machine's name taken from the report;
* findings are de-duplicated by fingerprint (rule, secret and path: the same leaked
  value at the same path on fifty machines built from one image is one finding), and
  the machines it was seen on are kept as ``hosts`` (comma-separated, sorted); the most
  severe copy wins, so a file exposed on one machine keeps its raised severity;
* the scan statistics are added up, and the result goes through the ordinary reporters.

Secrets stay as the inputs have them: a redacted input stays redacted, and values an
input shows in full are redacted here unless ``--show-secrets`` is given.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from .models import Finding, Location, Provenance, ScanStats, ScanTarget, Severity
from .redact import MASK, redact, redact_line
from .report import mask_neighbours

SARIF_FINGERPRINT_KEY = "brokerscanFingerprint/v1"
_LEVEL_SEVERITY = {"error": Severity.HIGH, "warning": Severity.MEDIUM, "note": Severity.LOW, "none": Severity.INFO}
_RESULT_FACTS = ("place", "mode", "owner", "readable-by", "exposed", "fix", "hosts", "ref")


class MergeError(Exception):
    """A report cannot be read: one line for the user, exit 2."""


@dataclass
class Report:
    """One machine's report, read back."""

    source: str
    format: str  # "sarif" | "json"
    hostname: str
    roots: list[str]
    filesystem: bool
    findings: list[Finding] = field(default_factory=list)
    stats: ScanStats = field(default_factory=ScanStats)


# The verb's arguments are defined in ``cli._add_merge_verb``: the parser is built for every
# verb, and this module is imported only when ``merge`` runs.
def run_merge(args) -> int:
    from .cli import UsageError, emit
    from .rules import RuleError, load_rules

    try:
        reports = [load_report(Path(path)) for path in args.reports]
    except MergeError as exc:
        raise UsageError(str(exc)) from None
    findings, stats, target = merge_reports(reports)
    if not args.show_secrets:  # an input that showed secrets shows its neighbours' too
        findings = mask_neighbours(findings)
    prepared = [_secret_as_asked(f, args.show_secrets) for f in findings]
    findings = [f for f, _ in prepared]
    masked = [m for _, m in prepared]
    if args.format is None:
        formats = {r.format for r in reports}
        args.format = formats.pop() if len(formats) == 1 else "sarif"
    try:
        rules = {r.id: r for r in load_rules()}
    except RuleError:
        rules = {}
    args.show_secrets = True  # secrets were masked above as needed; reporters must not mask twice
    if args.format == "json":
        return _emit_json(args, findings, masked, stats, target)
    return emit(args, findings, stats, target, rules)


def merge_reports(reports: list[Report]) -> tuple[list[Finding], ScanStats, ScanTarget]:
    """De-duplicate by fingerprint across reports, keep the hosts, add up the stats."""
    best: dict[str, Finding] = {}
    hosts: dict[str, set[str]] = {}
    stats = ScanStats()
    total = 0
    for report in reports:
        stats.merge(report.stats)
        stats.duration_s += report.stats.duration_s
        for finding in report.findings:
            total += 1
            seen_on = set(filter(None, dict(finding.provenance.extra).get("hosts", "").split(",")))
            key = finding.fingerprint
            hosts.setdefault(key, set()).update(seen_on or {report.hostname or "unknown"})
            if key not in best or finding.severity.rank > best[key].severity.rank:
                best[key] = finding
    merged = []
    for key, finding in best.items():
        extra = dict(finding.provenance.extra)
        extra["hosts"] = ",".join(sorted(hosts[key]))
        merged.append(replace(finding, provenance=replace(finding.provenance, extra=tuple(sorted(extra.items())))))
    merged.sort(key=Finding.sort_key)
    names = sorted({r.hostname or "unknown" for r in reports})
    stats.note(f"merged {len(reports)} report(s) from {len(names)} host(s)")
    if total > len(merged):
        stats.note("duplicate findings merged", total - len(merged))
    roots = tuple(dict.fromkeys(root for r in reports for root in r.roots))
    filesystem = bool(reports) and all(r.filesystem for r in reports)
    target = ScanTarget("merge", roots, ",".join(names), "/" if filesystem else "")
    return merged, stats, target


def load_report(path: Path) -> Report:
    """A brokerscan SARIF or JSON report, read back into findings and stats."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MergeError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise MergeError(f"{path}: not JSON ({exc})") from None
    if isinstance(doc, dict) and isinstance(doc.get("runs"), list):
        return _from_sarif(doc, str(path))
    if isinstance(doc, dict) and isinstance(doc.get("findings"), list) and "summary" in doc:
        return _from_json(doc, str(path))
    raise MergeError(f"{path}: neither a SARIF log nor a brokerscan JSON report")


# --- JSON -------------------------------------------------------------------------------

def _from_json(doc: dict[str, Any], source: str) -> Report:
    target = doc.get("target") or {}
    report = Report(source, "json", str(target.get("hostname") or ""), list(target.get("roots") or []),
                    filesystem=False)
    try:
        for f in doc["findings"]:
            src = f.get("source") or {}
            extra = {str(k): str(v) for k, v in (src.get("extra") or {}).items()}
            secret = str(f.get("secret") or "")
            line_text = str(f.get("snippet") or "")
            if not f.get("redacted", True):
                extra["_shown"] = "1"
            report.findings.append(Finding(
                rule_id=f["rule_id"], title=f.get("title") or f["rule_id"], severity=Severity(f["severity"]),
                tags=tuple(f.get("tags") or ()), secret=secret,
                location=Location(int(f["line"]), int(f["column"]), int(f.get("end_line") or f["line"]),
                                  int(f.get("end_column") or f["column"])),
                line_text=line_text, entropy=float(f.get("entropy") or 0.0),
                confidence=float(f.get("confidence") or 0.0), fingerprint=f["fingerprint"],
                provenance=Provenance(kind=src.get("kind") or "file", path=f["path"], root=src.get("root"),
                                      commit=src.get("commit"), author=src.get("author"), date=src.get("date"),
                                      extra=tuple(sorted(extra.items()))),
                decoded=f.get("decoded"), detectors=tuple(f.get("detectors") or ("regex",))))
            report.filesystem = report.filesystem or str(f["path"]).startswith("/")
    except (KeyError, TypeError, ValueError) as exc:
        raise MergeError(f"{source}: malformed finding ({exc})") from None
    summary = doc.get("summary") or {}
    report.stats = ScanStats(files_scanned=int(summary.get("files_scanned") or 0),
                             bytes_scanned=int(summary.get("bytes_scanned") or 0),
                             duration_s=float(summary.get("duration_s") or 0.0))
    for reason, count in (summary.get("skipped") or {}).items():
        report.stats.skipped[reason] = int(count)
        report.stats.skipped_paths[reason] = list((summary.get("skipped_paths") or {}).get(reason, []))[
            :ScanStats.MAX_SKIP_EXAMPLES]
    for what, count in (summary.get("notes") or {}).items():
        report.stats.note(what, int(count))
    return report


# --- SARIF ------------------------------------------------------------------------------

def _from_sarif(doc: dict[str, Any], source: str) -> Report:
    runs = [run for run in doc["runs"] if isinstance(run, dict)]
    props = (runs[0].get("properties") or {}) if runs else {}
    report = Report(source, "sarif", str(props.get("hostname") or ""), list(props.get("roots") or []),
                    filesystem=props.get("scanKind") == "filesystem")
    try:
        for run in runs:
            _sarif_run(run, report)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise MergeError(f"{source}: malformed SARIF result ({exc})") from None
    return report


def _sarif_run(run: dict[str, Any], report: Report) -> None:
    driver = (run.get("tool") or {}).get("driver") or {}
    descriptors = {d["id"]: d for d in driver.get("rules") or [] if isinstance(d, dict) and "id" in d}
    bases = {name: _uri_path(loc.get("uri", "")) for name, loc in (run.get("originalUriBaseIds") or {}).items()}
    for result in run.get("results") or []:
        report.findings.append(_sarif_finding(result, descriptors, bases))
    for invocation in run.get("invocations") or []:
        p = invocation.get("properties") or {}
        report.stats.files_scanned += int(p.get("filesScanned") or 0)
        report.stats.bytes_scanned += int(p.get("bytesScanned") or 0)
        report.stats.duration_s += float(p.get("durationSeconds") or 0.0)
        for note in invocation.get("toolExecutionNotifications") or []:
            np = note.get("properties") or {}
            if "reason" in np and np["reason"] != "truncated":
                report.stats.skipped[np["reason"]] = report.stats.skipped.get(np["reason"], 0) + int(np["count"])
            elif "note" in np:
                report.stats.note(np["note"], int(np["count"]))


def _sarif_finding(result: dict[str, Any], descriptors: dict[str, Any], bases: dict[str, str]) -> Finding:
    rule_id = result["ruleId"]
    desc = descriptors.get(rule_id, {})
    props = result.get("properties") or {}
    physical = result["locations"][0]["physicalLocation"]
    artifact = physical["artifactLocation"]
    region = physical.get("region") or {}
    uri = artifact.get("uri", "")
    path = _uri_path(uri) if uri.startswith("file:") else unquote(uri, errors="surrogateescape")
    root = bases.get(artifact.get("uriBaseId", "")) or None
    if uri == "stdin":
        path, kind = "<stdin>", "stdin"
    else:
        kind = "git" if props.get("commit") else "file"
    line, column = int(region.get("startLine", 1)), int(region.get("startColumn", 1))
    end_line, end_column = int(region.get("endLine", line)), int(region.get("endColumn", column))
    if "archiveMember" in props:
        path, kind = f"{path}!{props['archiveMember']}", "archive"
        line, column = int(props.get("memberLine", 1)), int(props.get("memberColumn", 1))
        end_line, end_column = line, column
    message = (result.get("message") or {}).get("text", "")
    secret = message.split("`", 2)[1] if message.count("`") >= 2 else ""
    severity = (Severity(props["severity"]) if props.get("severity") in Severity._value2member_map_
                else _LEVEL_SEVERITY.get(result.get("level", "warning"), Severity.MEDIUM))
    extra = {k: str(props[k]) for k in _RESULT_FACTS if k in props}
    if secret and not secret.endswith(MASK):
        extra["_shown"] = "1"
    tags = tuple(t for t in (desc.get("properties") or {}).get("tags", []) if t != "security")
    return Finding(
        rule_id=rule_id,
        title=((desc.get("shortDescription") or {}).get("text")) or rule_id,
        severity=severity, tags=tags, secret=secret,
        location=Location(line, column, end_line, end_column),
        line_text=(region.get("snippet") or {}).get("text", ""),
        entropy=float(props.get("entropy") or 0.0), confidence=float(props.get("confidence") or 0.0),
        fingerprint=(result.get("partialFingerprints") or {}).get(SARIF_FINGERPRINT_KEY)
        or f"{rule_id}:{path}:{line}:{secret}",
        provenance=Provenance(kind=kind, path=path, root=root, commit=props.get("commit"),
                              author=props.get("author"), date=props.get("date"),
                              extra=tuple(sorted(extra.items()))),
        decoded=props.get("decoded"), detectors=tuple(props.get("detectors") or ("regex",)))


def _uri_path(uri: str) -> str:
    parsed = urlparse(uri)
    path = unquote(parsed.path, errors="surrogateescape")
    return path.rstrip("/") if len(path) > 1 else path


# --- output -----------------------------------------------------------------------------

def _secret_as_asked(finding: Finding, show_secrets: bool) -> tuple[Finding, bool]:
    """The finding with its secret masked unless ``show_secrets``, and whether it is masked.

    An input that showed the secret in full carries the ``_shown`` mark (from JSON's
    ``redacted: false``, or a SARIF message whose secret is not masked)."""
    extra = dict(finding.provenance.extra)
    shown = extra.pop("_shown", None) is not None
    finding = replace(finding, provenance=replace(finding.provenance, extra=tuple(sorted(extra.items()))))
    if not shown:
        return finding, True
    if show_secrets:
        return finding, False
    return replace(finding, secret=redact(finding.secret),
                   line_text=redact_line(finding.line_text, finding.secret)), True


def _emit_json(args, findings: list[Finding], masked: list[bool], stats: ScanStats, target: ScanTarget) -> int:
    """The JSON document, with ``redacted`` telling the truth about each (possibly masked) secret."""
    from .cli import EXIT_CLEAN
    from .output import write_report
    from .report.json_report import findings_document

    document = findings_document(findings, stats, target, show_secrets=True, verbose=args.verbose)
    for item, is_masked in zip(document["findings"], masked, strict=True):
        item["redacted"] = is_masked
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=True, allow_nan=False) + "\n"
    write_report(args, text, findings, stats)
    return args.exit_code if findings else EXIT_CLEAN
