"""What the syntax-aware readers tell the detector about a file.

``Binding``: a literal value bound to a name (``password = "..."``, a keyword
argument, a YAML key, a Dockerfile ``ENV``...), with the byte span of the value.
``Role``: what the bytes under a regex match are, syntactically: the reason a regex
finding is kept, merged, downgraded or dropped.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True, slots=True)
class Binding:
    name: str  # the name as written: TWS_PASSWORD, IbPassword, account_id, token
    start: int  # byte span of the literal value (without quotes)
    end: int
    role: str  # assignment | argument | key | default | setting | setter | embedded | url
    callee: str = ""  # the called function when the value is an argument (IB().connect -> "connect")
    in_test: bool = False  # inside a test function or class


class Role(Enum):
    """What a regex match's bytes are in the syntax tree, and what that does to the match."""

    CODE = "code"  # identifiers, calls, env lookups, annotations, parameters: not a value -> drop
    UNQUOTED = "unquoted"  # a bare name used nowhere else in the file: a value pasted without quotes -> downgrade
    ENV_NAME = "env-name"  # the name passed to an env / secret-store lookup -> drop
    COMPARISON = "comparison"  # a literal compared with something -> downgrade
    METADATA = "metadata"  # the value of token_type, PASSWORD_PROMPT, TWS_PASSWORD_FILE -> downgrade
    COMMENT = "comment"  # a comment -> downgrade
    DOCSTRING = "docstring"  # documentation -> downgrade
    LITERAL = "literal"  # some other literal -> keep as is
    UNKNOWN = "unknown"  # syntax error nearby, or no telling -> keep as is
