"""Reporters: findings in, text out (for a person, for a program, for GitHub code scanning).

``render`` is the one entry point the CLI calls. Each format lives in its own
module and is imported only when asked for, so a pre-commit run that prints a
short text report never pays for importing ``json`` encoders or ``sarif_om``.

Reporters never filter or reorder what they are given (SARIF alone may drop
the least severe results to stay inside GitHub's upload limits, and says so).
They do share one duty: a secret is masked in every output unless the user
passed ``show_secrets``. The helpers below are the single place that decides
what a masked line looks like.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from ..models import Severity
from ..redact import MASK, mask_spans, occurrences, redact, redact_line

if TYPE_CHECKING:
    from ..models import Finding, ScanStats, ScanTarget
    from ..rules import Rule

FORMATS = ("text", "json", "sarif")
SNIPPET_WIDTH = 160


def render(fmt: str, findings: Sequence[Finding], stats: ScanStats, target: ScanTarget,
           rules: Mapping[str, Rule], *, show_secrets: bool = False, color: bool = False,
           explain: bool = False, verbose: bool = False) -> str:
    """Render findings as ``fmt`` (one of ``FORMATS``); the result ends with a newline.

    ``color`` and ``explain`` only affect the text format; ``verbose`` adds
    skipped-file examples to the text and JSON formats.
    """
    if not show_secrets:
        findings = mask_neighbours(findings)
    if fmt == "text":
        from .text import render_text
        return render_text(findings, stats, target, rules, show_secrets=show_secrets,
                           color=color, explain=explain, verbose=verbose)
    if fmt == "json":
        from .json_report import render_json
        return render_json(findings, stats, target, rules, show_secrets=show_secrets,
                           verbose=verbose)
    if fmt == "sarif":
        from .sarif import render_sarif
        return render_sarif(findings, stats, target, rules, show_secrets=show_secrets)
    raise ValueError(f"unknown report format {fmt!r}; expected one of: {', '.join(FORMATS)}")


def mask_neighbours(findings: Sequence[Finding]) -> list[Finding]:
    """The findings with the other findings' secrets masked in each line they share.

    Every output masks a finding's own secret in its line; a line holding two (a user id
    and a password) printed each one in the other's snippet. Lines are matched by their
    text, so findings of the same line in any version or host are covered alike."""
    sharing: dict[str, list[Finding]] = {}
    for finding in findings:
        if finding.line_text:
            sharing.setdefault(finding.line_text, []).append(finding)
    out: list[Finding] = []
    for finding in findings:
        others = [o for o in sharing.get(finding.line_text, ()) if o.secret != finding.secret]
        if not others:
            out.append(finding)
            continue
        own = secret_spans(finding)
        spans = [span for other in others for span in secret_spans(other)
                 if not any(span[0] < end and start < span[1] for start, end in own)]
        literal = bool(finding.secret) and finding.secret in finding.line_text
        line = mask_spans(finding.line_text, spans, same_length=not literal)
        out.append(finding if line == finding.line_text else replace(finding, line_text=line))
    return out


def secret_spans(finding: Finding) -> list[tuple[int, int]]:
    """Where the finding's secret is in its line: where the text occurs or, for a value that
    is not there literally (decoded, multi-line), the span its location gives."""
    line = finding.line_text
    if finding.secret and MASK not in finding.secret and finding.secret in line:
        return occurrences(line, finding.secret)
    if finding.secret and MASK in finding.secret:
        return []  # masked already (a merged report): nothing readable to hide
    return [location_span(finding)]


def location_span(finding: Finding) -> tuple[int, int]:
    """The ``[start, end)`` span of the line that the finding's location covers (to the end
    of the line for a value that goes on to later lines; the rest of the line if empty)."""
    line, loc = finding.line_text, finding.location
    start = min(max(loc.column - 1, 0), len(line))
    end = loc.end_column - 1 if loc.end_line == loc.line else len(line)
    end = min(max(end, start), len(line))
    return start, end if end > start else len(line)


def count_by_severity(findings: Sequence[Finding]) -> dict[Severity, int]:
    """Counts for every severity, worst first, zeros included."""
    counts = {severity: 0 for severity in Severity}
    for finding in findings:
        counts[finding.severity] += 1
    return counts


def rounded(value: float, digits: int = 2) -> float | None:
    """``value`` rounded, or ``None`` for NaN and infinities (which JSON cannot carry)."""
    return round(value, digits) if math.isfinite(value) else None


def shown_secret(finding: Finding, show_secrets: bool) -> str:
    """The secret as outputs may print it."""
    return finding.secret if show_secrets else redact(finding.secret)


def masked_line(finding: Finding, show_secrets: bool) -> tuple[str, int, int]:
    """The finding's line with its secret masked, and the ``[start, end)`` span of the secret in it.

    When the secret is not on the line literally (a value found after base64
    decoding, or a multi-line private key), masking the secret would leave its
    encoded form readable, so the matched span of the line is masked instead.
    """
    line = finding.line_text
    secret = finding.secret
    at = line.find(secret) if secret else -1
    if at >= 0:
        shown = shown_secret(finding, show_secrets)
        return redact_line(line, secret, show_secrets), at, at + len(shown)
    start, end = location_span(finding)
    if show_secrets or start == end:
        return line, start, end
    masked = redact(line[start:end])
    return line[:start] + masked + line[end:], start, start + len(masked)


def snippet(finding: Finding, show_secrets: bool, width: int = SNIPPET_WIDTH) -> str:
    """The masked line, cut to about ``width`` characters centred on the secret."""
    line, start, end = masked_line(finding, show_secrets)
    line = line.rstrip("\r\n")
    if len(line) <= width:
        return line
    lo = start - max(width - (end - start), 0) // 2
    lo = max(0, min(lo, len(line) - width))
    hi = lo + width
    return ("..." if lo > 0 else "") + line[lo:hi] + ("..." if hi < len(line) else "")
