"""Line formats without a grammar wheel: INI (IBC ``config.ini``), ``.env``, Java properties.

Also the Dockerfile reader of last resort (``ENV`` / ``ARG`` lines) when the
``tree-sitter-dockerfile`` wheel cannot be loaded. ``LineDocument`` answers the same
two questions as ``TreeDocument``: which value is bound to the name under a keyword,
and what the bytes under a regex match are.
"""
from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator

from ..regexcache import compile_pattern
from .facts import Binding, Role
from .names import is_credential_metadata
from .tree import embedded_bindings

_COMMENT_PREFIXES = {"ini": (b"#", b";"), "dotenv": (b"#",), "properties": (b"#", b"!"), "dockerfile": (b"#",)}
_ENTRY = {
    "ini": compile_pattern(rb"[ \t]*(?P<name>[^=:\s\[;#][^=:]*?)[ \t]*[=:][ \t]*(?P<value>.*?)[ \t]*\r?$"),
    "dotenv": compile_pattern(
        rb"[ \t]*(?:export[ \t]+)?(?P<name>[A-Za-z_][A-Za-z0-9_.\-]*)[ \t]*=[ \t]*"
        rb"""(?P<value>"[^"]*"|'[^']*'|(?!\#)[^\r]*?)[ \t]*(?:[ \t]\#.*)?\r?$"""),  # ``#`` after a blank: a comment
    "properties": compile_pattern(rb"[ \t]*(?P<name>[^=:\s#!]+)[ \t]*(?:[=:]|[ \t])[ \t]*(?P<value>.*?)[ \t]*\r?$"),
    "dockerfile": compile_pattern(rb"(?i)[ \t]*(?:ENV|ARG)[ \t]+(?P<rest>.*?)\r?$"),
}
_DOCKER_PAIR = compile_pattern(rb"""(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>"[^"]*"|'[^']*'|\S*)""")
_DOCKER_LEGACY = compile_pattern(rb"(?P<name>[A-Za-z_][A-Za-z0-9_]*)[ \t]+(?P<value>\S.*)")


class LineDocument:
    def __init__(self, syntax: str, data: bytes) -> None:
        self.syntax = syntax
        self.data = data
        starts = [0]
        pos = data.find(b"\n")
        while pos >= 0:
            starts.append(pos + 1)
            pos = data.find(b"\n", pos + 1)
        self.starts = starts

    has_error = False

    def _line(self, offset: int) -> tuple[int, int]:
        index = bisect_right(self.starts, offset) - 1
        start = self.starts[index]
        end = self.starts[index + 1] - 1 if index + 1 < len(self.starts) else len(self.data)
        return start, end

    def _is_comment(self, start: int, end: int) -> bool:
        return self.data[start:end].lstrip(b" \t").startswith(_COMMENT_PREFIXES[self.syntax])

    def entries(self, start: int, end: int) -> list[tuple[str, int, int, int, int]]:
        """(name, name start, name end, value start, value end) on one line."""
        if self._is_comment(start, end):
            return []
        m = _ENTRY[self.syntax].match(self.data, start, end)
        if m is None:
            return []
        if self.syntax != "dockerfile":
            v_start, v_end = _unquote(self.data, *m.span("value"))
            return [(m.group("name").decode("utf-8", "replace").strip(), *m.span("name"), v_start, v_end)]
        rest_start, rest_end = m.span("rest")
        pairs = list(_DOCKER_PAIR.finditer(self.data, rest_start, rest_end))
        if not pairs:
            legacy = _DOCKER_LEGACY.match(self.data, rest_start, rest_end)
            pairs = [legacy] if legacy else []
        return [(p.group("name").decode("latin-1"), *p.span("name"), *_unquote(self.data, *p.span("value")))
                for p in pairs]

    def bindings(self, offsets: Iterable[int]) -> Iterator[Binding]:
        seen: set[tuple[int, int]] = set()
        for offset in offsets:
            line_start, line_end = self._line(offset)
            for name, n_start, n_end, v_start, v_end in self.entries(line_start, line_end):
                if n_start <= offset < n_end and v_end > v_start:
                    found = [Binding(name, v_start, v_end, "setting")]
                elif v_start <= offset < v_end:
                    found = list(embedded_bindings(self.data, v_start, v_end))
                else:
                    continue
                for binding in found:
                    if (binding.start, binding.end) not in seen:
                        seen.add((binding.start, binding.end))
                        yield binding

    def role_at(self, start: int, end: int) -> Role:
        line_start, line_end = self._line(start)
        if self._is_comment(line_start, line_end):
            return Role.COMMENT
        for name, _, _, v_start, v_end in self.entries(line_start, line_end):
            if v_start <= start < max(v_end, v_start + 1):
                return Role.METADATA if is_credential_metadata(name) else Role.LITERAL
        return Role.UNKNOWN


def _unquote(data: bytes, start: int, end: int) -> tuple[int, int]:
    if end - start >= 2 and data[start:start + 1] in (b'"', b"'") and data[end - 1:end] == data[start:start + 1]:
        return start + 1, end - 1
    return start, end
