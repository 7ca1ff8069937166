"""What ``git commit`` is about to record: the staged blobs and which of their lines are new.

A pre-commit hook must judge the commit, not the working tree (which may hold
unstaged edits) and not the whole file (an old, already reviewed line must not
block every later commit to that file). So one ``git diff --cached -U0`` gives,
for each staged file, the blob id in the index and the line numbers of the
added lines; the blob bytes are read from git, scanned whole (a regex needs its
context), and only findings on added lines are kept.

The added lines are the hunks' ``+`` lines, counted one by one, not the ranges
in the hunk headers: the user's settings can put unchanged lines in a hunk even
under ``-U0`` (``diff.interHunkContext`` joins nearby hunks, ``GIT_DIFF_OPTS``
overrides ``-U``), and an unchanged line must not count as new.

Files git shows as binary get no line numbers; they are scanned whole (the
decoder skips real binaries and transcodes UTF-16 text, which git calls binary).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..models import ScanStats
from .git import is_null_id, run_git


@dataclass(frozen=True, slots=True)
class StagedFile:
    """A staged file's path (bytes, as git stores it), index blob id, mode and added lines."""

    path: bytes
    blob: str
    mode: str
    added: frozenset[int] | None  # None: git gave no line diff (binary); every line counts


def staged_files(root: str, stats: ScanStats) -> list[StagedFile]:
    """The files a commit would add or change, with their added line numbers."""
    out = run_git(root, "diff", "--cached", "-U0", "--no-color", "--no-ext-diff", "--no-textconv",
                  "--full-index", "--find-renames", "--no-relative", "--inter-hunk-context=0",
                  "--src-prefix=a/", "--dst-prefix=b/")
    return parse_diff(out, stats)


def parse_diff(out: bytes, stats: ScanStats) -> list[StagedFile]:
    files: list[StagedFile] = []
    section: dict | None = None
    for line in out.split(b"\n"):
        if line.startswith(b"diff --git "):
            _finish(section, files)
            section = {"header": line[len(b"diff --git "):], "path": None, "blob": None, "mode": "",
                       "added": set(), "binary": False, "hunks": False, "next": None}
        elif line.startswith(b"* Unmerged path "):
            stats.note("unmerged paths not scanned (resolve the conflict first)")
        elif section is None:
            continue
        elif line.startswith(b"@@ "):
            section["hunks"] = True
            section["next"] = _hunk_start(line)
        elif section["hunks"]:
            section["next"] = _count_line(line, section["next"], section["added"])
        elif line.startswith(b"index "):
            ids = line.split()[1]
            mode = line.split()[2] if len(line.split()) > 2 else b""
            section["blob"] = ids.split(b"..")[-1].decode("ascii")
            if mode:
                section["mode"] = mode.decode("ascii")
        elif line.startswith((b"new file mode ", b"new mode ")):
            section["mode"] = line.split()[-1].decode("ascii")
        elif line.startswith(b"+++ "):
            name = line[4:].rstrip(b"\t")
            if name != b"/dev/null":
                section["path"] = _strip_prefix(unquote(name), b"b/")
        elif line.startswith(b"rename to "):
            section["path"] = unquote(line[len(b"rename to "):])
        elif line.startswith(b"deleted file mode "):
            section["deleted"] = True
        elif line.startswith(b"Binary files "):
            section["binary"] = True
    _finish(section, files)
    return files


def _finish(section: dict | None, files: list[StagedFile]) -> None:
    if section is None or section.get("deleted") or not section["blob"] or is_null_id(section["blob"]):
        return  # deleted, or a pure rename / mode change: no new content
    if section["mode"] == "160000":
        return  # a submodule pointer, not a file
    path = section["path"] or _header_path(section["header"])
    if section["binary"]:
        files.append(StagedFile(path, section["blob"], section["mode"], None))
    elif section["added"]:
        files.append(StagedFile(path, section["blob"], section["mode"], frozenset(section["added"])))


def _hunk_start(line: bytes) -> int | None:
    """``@@ -a,b +c,d @@``: the hunk's first line in the new file, ``c`` (``None``: unreadable)."""
    try:
        return int(line.split(b" ")[2][1:].partition(b",")[0])  # "+c,d"
    except (IndexError, ValueError):
        return None


def _count_line(line: bytes, number: int | None, added: set[int]) -> int | None:
    """One content line of a hunk, at line ``number`` of the new file: recorded if it is
    added; the number of the next line. A context line is `` text`` (or empty, under
    ``diff.suppressBlankEmpty``); ``-`` lines and git's ``\\ No newline at end of file``
    take no line of the new file."""
    if number is None or line.startswith((b"-", b"\\")):
        return number
    if line.startswith(b"+"):
        added.add(number)
    return number + 1


def _header_path(header: bytes) -> bytes:
    """The new path from ``a/P b/P`` (no rename, so both halves are equal) or its quoted form."""
    if header.startswith(b'"'):
        end = _closing_quote(header, 0)
        rest = header[end + 1:].lstrip(b" ")
        return _strip_prefix(unquote(rest), b"b/")
    half = (len(header) - 1) // 2  # "a/P b/P": len = 2 * len("a/P") + 1
    return _strip_prefix(header[half + 1:], b"b/")


def _strip_prefix(path: bytes, prefix: bytes) -> bytes:
    return path.removeprefix(prefix)


def _closing_quote(text: bytes, start: int) -> int:
    i = start + 1
    while i < len(text):
        if text[i:i + 1] == b"\\":
            i += 2
            continue
        if text[i:i + 1] == b'"':
            return i
        i += 1
    return len(text) - 1


_ESCAPES = {ord("a"): 7, ord("b"): 8, ord("t"): 9, ord("n"): 10, ord("v"): 11, ord("f"): 12, ord("r"): 13,
            ord('"'): 34, ord("\\"): 92}


def unquote(name: bytes) -> bytes:
    """Undo git's C-style quoting of a path (``"a\\tb\\303\\251"``); unquoted names pass through."""
    if not (name.startswith(b'"') and name.endswith(b'"') and len(name) >= 2):
        return name
    body = name[1:-1]
    out = bytearray()
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != 0x5C or i + 1 >= len(body):
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1]
        if 0x30 <= nxt <= 0x37:
            out.append(int(body[i + 1:i + 4], 8) & 0xFF)
            i += 4
        else:
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
    return bytes(out)
