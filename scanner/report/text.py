"""The report a person reads in a terminal or a CI log: findings grouped by file, then a summary.

Everything printed from the scanned data (paths, lines, author names) goes
through ``_printable`` first: a file can hold terminal escape sequences or
bidirectional-override characters, and a scanner must not let a scanned file
repaint the user's terminal or disguise what a line says.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from ..models import Finding, ScanStats, ScanTarget, Severity
from ..rules import Rule
from . import count_by_severity, snippet

RESET = "\x1b[0m"
BOLD = "\x1b[1m"
SEVERITY_STYLE = {
    Severity.CRITICAL: "\x1b[1;31m",
    Severity.HIGH: "\x1b[31m",
    Severity.MEDIUM: "\x1b[33m",
    Severity.LOW: "\x1b[36m",
    Severity.INFO: "\x1b[2m",
}
INDENT = "    "


def render_text(findings: Sequence[Finding], stats: ScanStats, target: ScanTarget,
                rules: Mapping[str, Rule], *, show_secrets: bool = False, color: bool = False,
                explain: bool = False, verbose: bool = False) -> str:
    """Findings grouped by file (and commit), then the scan summary; ends with a newline."""
    out: list[str] = []
    explained: set[str] = set()
    for header, group in _groups(findings):
        out.append(_style(header, BOLD, color))
        for finding in group:
            out.extend(_finding_lines(finding, show_secrets, color))
            rule = rules.get(finding.rule_id)
            if explain and rule is not None and rule.help and finding.rule_id not in explained:
                explained.add(finding.rule_id)
                out.extend(INDENT * 2 + _printable(line) if line.strip() else ""
                           for line in rule.help.strip().splitlines())
        out.append("")
    out.extend(_summary_lines(findings, stats, verbose))
    return "\n".join(out) + "\n"


def _groups(findings: Sequence[Finding]) -> Iterator[tuple[str, list[Finding]]]:
    """Consecutive findings that share a file (and, for git, a commit)."""
    current: tuple | None = None
    group: list[Finding] = []
    for finding in findings:
        p = finding.provenance
        key = (p.kind, p.path, p.commit, p.author, p.date)
        if key != current and group:
            yield _header(group[0]), group
            group = []
        current = key
        group.append(finding)
    if group:
        yield _header(group[0]), group


def _header(finding: Finding) -> str:
    p = finding.provenance
    header = _printable(p.path)
    if p.commit:
        facts = [f"commit {p.commit[:7]}"] + [_printable(v) for v in (p.author, p.date) if v]
        header += f"  ({', '.join(facts)})"
    elif p.kind == "staged":
        header += "  (staged)"
    return header


def _finding_lines(finding: Finding, show_secrets: bool, color: bool) -> list[str]:
    loc = finding.location
    label = _style(f"{finding.severity.value.upper():<8}", SEVERITY_STYLE[finding.severity], color)
    facts = [f"entropy {finding.entropy:.2f}", f"confidence {finding.confidence:.2f}"]
    if finding.decoded:
        facts.append(f"decoded from {_printable(finding.decoded)}")
    extra = dict(finding.provenance.extra)
    if "cell" in extra:  # notebooks: which cell, and whether in its source or an output
        facts.append(f"cell {_printable(extra['cell'])}" + (f" {_printable(extra['cell_part'])}"
                                                             if "cell_part" in extra else ""))
    if "commits_carrying" in extra:  # history: how long it lived, and whether it is still there
        facts.append(f"in {_plural(int(extra['commits_carrying']), 'commit')}")
    if extra.get("in_head") == "false":
        facts.append("no longer in HEAD")
    facts.extend(f"{key} {_printable(extra[key])}" for key in ("place", "mode", "owner", "hosts") if key in extra)
    facts.append("found by " + " and ".join(finding.detectors))
    lines = [
        f"  {label}  {_printable(finding.title)} [{finding.rule_id}]  {loc.line}:{loc.column}",
        INDENT * 2 + _printable(snippet(finding, show_secrets).strip()),
        INDENT * 2 + ", ".join(facts),
    ]
    if "exposed" in extra:  # host scans: someone besides the owner can read this file
        lines.append(INDENT * 2 + _style(f"exposed: {_printable(extra['exposed'])} (readable by "
                                         f"{_printable(extra.get('readable-by', '?'))})", BOLD, color))
        if "fix" in extra:
            lines.append(INDENT * 2 + f"fix: {_printable(extra['fix'])}")
    return lines


def _summary_lines(findings: Sequence[Finding], stats: ScanStats, verbose: bool) -> list[str]:
    scanned = f"Scanned {_plural(stats.files_scanned, 'file')}, {human_bytes(stats.bytes_scanned)}"
    scanned += f" in {stats.duration_s:.2f} s"
    if stats.duration_s > 0:
        scanned += f" ({human_bytes(stats.bytes_scanned / stats.duration_s)}/s)"
    out = [scanned + "."]
    if stats.skipped:
        reasons = ", ".join(f"{count:,} {_printable(reason)}"
                            for reason, count in sorted(stats.skipped.items()))
        out.append(f"Skipped {_plural(stats.files_skipped, 'file')}: {reasons}.")
        if verbose:
            for reason, count in sorted(stats.skipped.items()):
                examples = sorted(stats.skipped_paths.get(reason, []))
                out.append(f"  {_printable(reason)}:")
                out.extend(f"{INDENT}{_printable(path)}" for path in examples)
                if count > len(examples):
                    out.append(f"{INDENT}... and {count - len(examples):,} more")
    if stats.notes:
        notes = ", ".join(f"{_printable(what)} ({count:,})" for what, count in sorted(stats.notes.items()))
        out.append(f"Notes: {notes}.")
    out.append(findings_line(findings))
    return out


def findings_line(findings: Sequence[Finding]) -> str:
    """The last line of the report: ``No leaks found.`` or ``3 findings (1 critical, 2 high)``."""
    if not findings:
        return "No leaks found."
    counts = ", ".join(f"{count} {severity.value}"
                       for severity, count in count_by_severity(findings).items() if count)
    return f"{_plural(len(findings), 'finding')} ({counts})"


def human_bytes(size: float) -> str:
    """Decimal units, as disks and network speeds are quoted: ``12.3 MB``."""
    if size < 1000:
        return f"{size:.0f} B"
    for unit in ("kB", "MB", "GB", "TB"):
        size /= 1000
        if size < 1000:
            break
    return f"{size:.1f} {unit}"


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def _style(text: str, code: str, color: bool) -> str:
    return f"{code}{text}{RESET}" if color else text


def _printable(text: str) -> str:
    """``text`` with control, format (bidi) and odd space characters escaped; tabs become spaces."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch == "\t":
            out.append(" ")
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(ascii(ch)[1:-1])
    return "".join(out)
