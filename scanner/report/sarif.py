"""SARIF 2.1.0 for GitHub code scanning, built from ``sarif_om`` objects.

What GitHub reads, and where it comes from here:

* ``rules[].properties["security-severity"]`` and ``tags``: the alert's severity
  and filters (from ``Severity.security_severity`` and the rule's tags);
* ``rules[].help.markdown``: the text shown under an alert (the rule's ``help``);
* ``results[].partialFingerprints``: how an alert is recognised across pushes.
  The fingerprint is computed upstream from the rule, the secret and the path, so
  an alert survives lines moving around it;
* ``artifactLocation.uri`` relative to ``SRCROOT`` and a ``region`` with at least
  ``startLine``: where the alert is drawn. Filesystem (host) scans report absolute
  paths, which become absolute ``file://`` URIs, and record ``scanKind``/``scanRoot``
  beside the host name in the run's properties, so reports from many machines merge.

GitHub rejects uploads over 25,000 results or 10 MB gzipped. Rather than
produce a file that fails to upload, ``render_sarif`` keeps the most severe
results within those limits and records what it dropped as a warning
notification in the run's invocation.
"""
from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

import attr
from sarif_om import (
    ArtifactContent,
    ArtifactLocation,
    Invocation,
    Location,
    Message,
    MultiformatMessageString,
    Notification,
    PhysicalLocation,
    Region,
    ReportingConfiguration,
    ReportingDescriptor,
    Result,
    Run,
    SarifLog,
    Tool,
    ToolComponent,
    VersionControlDetails,
)

from .. import __version__
from ..models import Finding, Provenance, ScanStats, ScanTarget
from ..rules import Rule
from . import rounded, shown_secret, snippet

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
TOOL_NAME = "brokerscan"
INFORMATION_URI = "https://brokerscan.dev"
FINGERPRINT_KEY = "brokerscanFingerprint/v1"
SRCROOT = "SRCROOT"
STDIN_URI = "stdin"
MAX_RESULTS = 25_000  # GitHub's hard limit per run
MAX_GZIP_BYTES = 10 * 1000 * 1000  # GitHub's limit on the gzipped upload
MAX_TAGS = 10  # GitHub accepts 20 tags per rule but shows only 10

# Written even when equal to the sarif_om default: a reader should not need the spec to know a level.
_ALWAYS_WRITTEN = frozenset({"level"})


def render_sarif(findings: Sequence[Finding], stats: ScanStats, target: ScanTarget,
                 rules: Mapping[str, Rule], *, show_secrets: bool = False,
                 max_results: int = MAX_RESULTS, max_gzip_bytes: int = MAX_GZIP_BYTES) -> str:
    """A SARIF log with one run, as indented JSON text ending with a newline.

    At most ``max_results`` results, and a document whose gzip size is at most
    ``max_gzip_bytes``; beyond that the least severe findings are left out.
    """
    kept = most_severe(findings, max_results)
    while True:
        log = _sarif_log(kept, len(findings), stats, target, rules, show_secrets, max_results,
                         max_gzip_bytes)
        text = json.dumps(log, indent=2, ensure_ascii=True, allow_nan=False) + "\n"
        if len(text) <= max_gzip_bytes or not kept:  # ASCII, so len() counts bytes
            return text
        size = len(gzip.compress(text.encode("ascii")))
        if size <= max_gzip_bytes:
            return text
        kept = most_severe(kept, int(len(kept) * max_gzip_bytes / size * 0.9))


def most_severe(findings: Sequence[Finding], limit: int) -> list[Finding]:
    """The ``limit`` most severe findings (earlier first among equals), in their original order."""
    if len(findings) <= limit:
        return list(findings)
    ranked = sorted(range(len(findings)), key=lambda i: (-findings[i].severity.rank, i))
    return [findings[i] for i in sorted(ranked[:max(limit, 0)])]


def _sarif_log(findings: Sequence[Finding], total: int, stats: ScanStats, target: ScanTarget,
               rules: Mapping[str, Rule], show_secrets: bool, max_results: int,
               max_gzip_bytes: int) -> dict[str, Any]:
    rule_ids = sorted({f.rule_id for f in findings})
    rule_index = {rule_id: i for i, rule_id in enumerate(rule_ids)}
    samples = {f.rule_id: f for f in reversed(findings)}
    bases = _uri_bases(target)
    run = Run(
        tool=Tool(driver=ToolComponent(
            name=TOOL_NAME,
            information_uri=INFORMATION_URI,
            semantic_version=__version__,
            version=__version__,
            rules=[_descriptor(rule_id, rules.get(rule_id), samples[rule_id]) for rule_id in rule_ids],
        )),
        results=[_result(f, rule_index[f.rule_id], bases, show_secrets) for f in findings],
        column_kind="unicodeCodePoints",
        original_uri_base_ids={base_id: ArtifactLocation(uri=uri) for base_id, uri in bases.values()} or None,
        invocations=[Invocation(
            execution_successful=True,
            tool_execution_notifications=_notifications(
                stats, total - len(findings), max_results, max_gzip_bytes) or None,
            properties={"filesScanned": stats.files_scanned, "bytesScanned": stats.bytes_scanned,
                        "durationSeconds": rounded(stats.duration_s, 3)},
        )],
        version_control_provenance=_version_control(target) or None,
        properties={"hostname": target.hostname, "command": target.command, "roots": list(target.roots),
                    **({"scanKind": "filesystem", "scanRoot": target.host_root} if target.host_root else {})},
    )
    log = to_json(SarifLog(runs=[run], version=SARIF_VERSION, schema_uri=SARIF_SCHEMA_URI))
    return {"$schema": log.pop("$schema"), "version": log.pop("version"), **log}


def _version_control(target: ScanTarget) -> list[VersionControlDetails]:
    """The repository and revision a git or staged scan looked at (``ScanTarget.vcs``)."""
    vcs = dict(target.vcs)
    if not vcs.get("repositoryUri"):
        return []
    return [VersionControlDetails(repository_uri=vcs["repositoryUri"], revision_id=vcs.get("revisionId"),
                                  branch=vcs.get("branch"))]


def _descriptor(rule_id: str, rule: Rule | None, sample: Finding) -> ReportingDescriptor:
    """The rule as GitHub shows it; built from a finding when the rule is not in ``rules``."""
    title = rule.title if rule else sample.title
    severity = rule.severity if rule else sample.severity
    description = (rule.description if rule else "") or title
    help_markdown = (rule.help if rule else "") or description
    references = [r for r in (rule.references if rule else ()) if r.startswith(("https://", "http://"))]
    confidence = rule.confidence if rule else sample.confidence
    tags = list(dict.fromkeys(("security", *(rule.tags if rule else sample.tags))))[:MAX_TAGS]
    return ReportingDescriptor(
        id=rule_id,
        name=camel_case(rule_id),
        short_description=MultiformatMessageString(text=title),
        full_description=MultiformatMessageString(text=description),
        help=MultiformatMessageString(text=help_markdown, markdown=help_markdown),
        help_uri=references[0] if references else None,
        default_configuration=ReportingConfiguration(level=severity.sarif_level),
        properties={
            "security-severity": severity.security_severity,
            "tags": tags,
            "precision": "high" if confidence >= 0.8 else "medium",
        },
    )


def _result(finding: Finding, rule_index: int, bases: dict[str, tuple[str, str]],
            show_secrets: bool) -> Result:
    p = finding.provenance
    loc = finding.location
    where = p.path + (f" at commit {p.commit[:7]}" if p.commit else "")
    message = f"{finding.title} `{shown_secret(finding, show_secrets)}` in {where}"
    if finding.decoded:
        message += f" (decoded from {finding.decoded})"
    properties: dict[str, Any] = {
        "severity": finding.severity.value,
        "confidence": rounded(finding.confidence),
        "entropy": rounded(finding.entropy),
        "detectors": list(finding.detectors),
    }
    if finding.decoded:
        properties["decoded"] = finding.decoded
    if p.commit:
        properties.update({"commit": p.commit, "author": p.author, "date": p.date})
    for key, value in p.extra:  # place, mode, owner, exposed, fix (host scans); hosts (merged reports)
        properties.setdefault(key, value)

    path = p.path
    if p.kind == "archive" and "!" in path:
        # Lines inside a member mean nothing in the archive file GitHub would draw them on.
        path, member = path.split("!", 1)
        properties.update({"archiveMember": member, "memberLine": loc.line, "memberColumn": loc.column})
        region = Region(start_line=1)
    else:
        start_line = max(loc.line, 1)
        region = Region(
            start_line=start_line,
            start_column=max(loc.column, 1),
            end_line=max(loc.end_line, start_line),
            end_column=max(loc.end_column, loc.column if loc.end_line <= loc.line else 1, 1),
            snippet=ArtifactContent(text=snippet(finding, show_secrets)),
        )
    return Result(
        rule_id=finding.rule_id,
        rule_index=rule_index,
        level=finding.severity.sarif_level,
        message=Message(text=message),
        locations=[Location(physical_location=PhysicalLocation(
            artifact_location=_artifact_location(path, p, bases), region=region))],
        partial_fingerprints={FINGERPRINT_KEY: finding.fingerprint},
        properties=properties,
    )


def _uri_bases(target: ScanTarget) -> dict[str, tuple[str, str]]:
    """Scan root (normalized) -> (uriBaseId, directory URI with a trailing slash).

    The first root is ``SRCROOT`` (what GitHub resolves to the checkout); more
    roots get ``SRCROOT2``, ``SRCROOT3``, ... A root that is a file stands for
    its directory.
    """
    bases: dict[str, tuple[str, str]] = {}
    for root in target.roots:
        if not root:
            continue
        key = os.path.normpath(os.path.abspath(root))
        if key in bases:
            continue
        directory = os.path.dirname(key) if os.path.isfile(key) else key
        base_id = SRCROOT if not bases else f"{SRCROOT}{len(bases) + 1}"
        bases[key] = (base_id, Path(directory).as_uri().rstrip("/") + "/")
    return bases


def _artifact_location(path: str, p: Provenance, bases: dict[str, tuple[str, str]]) -> ArtifactLocation:
    if p.kind == "stdin" or path == "<stdin>":
        return ArtifactLocation(uri=STDIN_URI, uri_base_id=SRCROOT)
    if os.sep != "/":
        path = path.replace(os.sep, "/")
    if PurePosixPath(path).is_absolute() or os.path.isabs(path):
        return ArtifactLocation(uri=Path(path).as_uri())
    while path.startswith("./"):
        path = path[2:]
    base_id = SRCROOT
    if p.root:
        base_id = bases.get(os.path.normpath(os.path.abspath(p.root)), (SRCROOT, ""))[0]
    return ArtifactLocation(uri=quote(path.encode("utf-8", "surrogateescape"), safe="/"), uri_base_id=base_id)


def _notifications(stats: ScanStats, dropped: int, max_results: int,
                   max_gzip_bytes: int) -> list[Notification]:
    notes = []
    if dropped:
        notes.append(Notification(level="warning", message=Message(
            text=f"{dropped} {'finding' if dropped == 1 else 'findings'} left out of this SARIF file "
                 "to stay within GitHub code scanning upload limits; the most severe were kept. "
                 "Use --format json for the full list."),
            properties={"reason": "truncated", "count": dropped, "maxResults": max_results,
                        "maxGzipBytes": max_gzip_bytes}))
    for reason, count in sorted(stats.skipped.items()):
        notes.append(Notification(level="warning", message=Message(
            text=f"{count} {'file' if count == 1 else 'files'} skipped: {reason}"),
            properties={"reason": reason, "count": count}))
    for what, count in sorted(stats.notes.items()):
        notes.append(Notification(level="note", message=Message(text=f"{what}: {count}"),
                                  properties={"note": what, "count": count}))
    return notes


def camel_case(rule_id: str) -> str:
    """``ibkr-tws-password`` -> ``IbkrTwsPassword``."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^0-9A-Za-z]+", rule_id))


def to_json(value: Any) -> Any:
    """sarif_om objects as JSON values under their schema names, without None or default fields.

    Empty lists are kept: ``results: []`` means "ran and found nothing", while a
    missing ``results`` would mean "did not run".
    """
    if attr.has(type(value)):
        out = {}
        for field in attr.fields(type(value)):
            item = getattr(value, field.name)
            if item is None or (field.name not in _ALWAYS_WRITTEN and _is_default(field, item)):
                continue
            out[field.metadata["schema_property_name"]] = to_json(item)
        return out
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


def _is_default(field: attr.Attribute, value: Any) -> bool:
    default = field.default
    if default is attr.NOTHING:
        return False
    if isinstance(default, attr.Factory):  # type: ignore[arg-type]
        default = default.factory()
    return type(value) is type(default) and value == default
