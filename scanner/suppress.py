"""Ways a user says "this one is fine": inline comments and config allowlists.

* ``brokerscan:ignore`` in any comment syntax on the finding's line drops every
  finding on that line; ``brokerscan:ignore rule-id[,rule-id]`` only those rules.
* ``allow_secrets`` (regexes, searched in the secret) and ``stopwords``
  (case-insensitive substrings of the secret) from the config.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import regex

from .regexcache import compile_pattern
from .models import Finding

_INLINE = compile_pattern(r"brokerscan:ignore(?:[ \t]*[=:]?[ \t]*(?P<ids>[a-z0-9-]+(?:[ \t]*,[ \t]*[a-z0-9-]+)*))?")


def inline_ignored(line_text: str, rule_id: str) -> bool:
    for m in _INLINE.finditer(line_text):
        ids = m.group("ids")
        if not ids:
            return True
        if rule_id in {i.strip() for i in ids.split(",")}:
            return True
    return False


@dataclass(frozen=True)
class Allowlist:
    secrets: tuple[regex.Pattern, ...] = ()
    stopwords: tuple[str, ...] = ()

    @classmethod
    def build(cls, secrets: Sequence[str], stopwords: Sequence[str]) -> "Allowlist":
        return cls(tuple(compile_pattern(p) for p in secrets), tuple(w.lower() for w in stopwords))

    def allows(self, finding: Finding) -> bool:
        secret = finding.secret
        if any(p.search(secret) for p in self.secrets):
            return True
        lowered = secret.lower()
        return any(w in lowered for w in self.stopwords)
