"""Named, pure filters that drop values which are not real secrets.

Each filter takes the candidate secret and returns a short reason when the
value should be dropped, or ``None`` to keep it. They run in the order of
``FILTERS`` (one place to read the whole pipeline) after a rule's regex has
matched; ``first_rejection`` returns the first reason that applies.
"""
from __future__ import annotations

from collections.abc import Callable

import regex

from .regexcache import compile_pattern

# Words that mark a value as a stand-in for the real one (``your``, ``changeme``, ``todo``).
PLACEHOLDER_WORDS = (
    "your", "example", "placeholder", "changeme", "change", "redacted", "dummy", "sample", "insert",
    "replace", "todo", "enter",
)
# Words that may stand next to a placeholder word in a stand-in (``your_api_key_here``,
# ``replace_me``, ``insert-ib-password``): they name what belongs there, never a secret.
FILLER_WORDS = (
    "here", "me", "my", "the", "this", "with", "own", "real", "actual", "goes", "new", "value", "string",
    "password", "passwd", "pass", "pwd", "passphrase", "secret", "token", "key", "api", "access", "auth",
    "client", "app", "private", "consumer", "bearer", "oauth", "credential", "id", "user", "username",
    "login", "account", "acct", "ib", "ibkr", "tws", "ibeam", "ibc", "gateway", "paper", "live", "vnc",
)


def _any_word(words: tuple[str, ...]) -> str:
    """One word of ``words`` (longest first) or a whole run of ``x`` (possessive: a run is never
    split, which would try every partition of it), either with a plural ``s``."""
    return r"(?:{}|x{{3,}}+)s?".format("|".join(sorted(words, key=len, reverse=True)))


_PLACEHOLDER_WORD = compile_pattern(_any_word(PLACEHOLDER_WORDS))
_STAND_IN_WORD = compile_pattern(rf"(?:{_any_word(PLACEHOLDER_WORDS + FILLER_WORDS)})+")
_LETTER_RUNS = compile_pattern(r"[a-z]+")
# ``<your password>``, ``<PASSWORD>``, ``sk-<redacted>``: a name between angle brackets.
_ANGLE_PLACEHOLDER = compile_pattern(r"<\s*[A-Za-z][\w .\-]{2,}>")
_TEMPLATE = compile_pattern(
    r"""
    \$\{[^}]*\}? | \{\{.*?\}?\}? | %\([^)]*\)s? | %[A-Za-z_][A-Za-z0-9_]*% |
    ^\$[A-Za-z_][A-Za-z0-9_]*$ | ^\$\( | <%.*?%> |
    \#\{[A-Za-z_][^{}]*\}\#? | ^__[A-Za-z][A-Za-z0-9_.\-]*[A-Za-z0-9]__$
    """,
    regex.VERBOSE,
)
_ENCRYPTED_OR_REFERENCE = (
    "$ANSIBLE_VAULT", "ENC[", "{cipher}", "vault:", "arn:", "ssm:", "{{resolve:", "@Microsoft.KeyVault(",
    "sm://", "op://", "secretref:", "gcp:secretmanager",
)
# Jasypt (Spring) ciphertext: ``ENC(G6N718UuyPE5bHyWKyuLQSm02auQPUtm)``.
_JASYPT = compile_pattern(r"ENC\([A-Za-z0-9+/=_\-]+\)")
# A Google Secret Manager resource name: ``projects/p/secrets/ibeam-password/versions/latest``.
_SECRET_MANAGER_NAME = compile_pattern(
    r"(?://secretmanager\.googleapis\.com/)?projects/[\w.\-]+/secrets/[\w.\-]+(?:/versions/(?:[0-9]+|latest))?")
# One folder or file name of a path: words and numbers joined by ``. _ - @ +``
# (``ibeam_password``, ``tws-pw.txt``, ``.ibeam``, ``v2``), never a random run like ``Xq7mL2``.
_PATH_SEGMENT = r"\.?(?:[A-Za-z]+[0-9]*|[0-9]+)(?:[._\-@+](?:[A-Za-z]+[0-9]*|[0-9]+))*"
_ABSOLUTE_PATH = compile_pattern(
    rf"~?(?:/{_PATH_SEGMENT}){{2,}}/?|[A-Za-z]:(?:[\\/]{_PATH_SEGMENT})+[\\/]?")
_SEQUENCES = (
    "0123456789012345678901234567890",
    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz",
    "qwertyuiopasdfghjklzxcvbnm",
    "9876543210987654321098765432109",
    "zyxwvutsrqponmlkjihgfedcbazyxwvutsrqponmlkjihgfedcba",
)
MIN_SECRET_LENGTH = 4


def is_too_short(secret: str) -> str | None:
    return "too short" if len(secret) < MIN_SECRET_LENGTH else None


def is_templated(secret: str) -> str | None:
    """``${VAR}``, ``{{ secrets.X }}``, ``%(pw)s``, ``%VAR%``, ``$VAR``, ERB ``<%= ... %>``, Azure
    Pipelines / Octopus ``#{Var}#`` and token-replace ``__Var__``: a reference, not a value."""
    return "template variable" if _TEMPLATE.search(secret) else None


LONG_VALUE = 40  # from this length on, values are keys and token secrets, not typed-in stand-ins


def has_placeholder_word(secret: str) -> str | None:
    """``YOUR_PASSWORD``, ``replace_me``, ``<redacted>``: a stand-in for the real value.

    Structural, not a substring test: ``Mayor-Todos-91!`` and ``Gr8Sample7`` are strong
    passwords that merely contain a placeholder word, and ``Xq7>mL2`` one with a bracket.
    A value is a stand-in when its words are placeholder and filler words (digits may
    follow), or when it holds a name between angle brackets. In long random values (keys,
    token secrets) only a placeholder word standing apart counts (``...-your-key-here-...``)."""
    if _ANGLE_PLACEHOLDER.search(secret):
        return "placeholder (<...>)"
    lowered = secret.lower()
    if len(secret) >= LONG_VALUE:
        word = next((w for w in regex.split(r"[^a-z0-9]+", lowered) if _PLACEHOLDER_WORD.fullmatch(w)), None)
        return f"placeholder ({word})" if word else None
    runs = _LETTER_RUNS.findall(lowered)
    if not runs or not all(_STAND_IN_WORD.fullmatch(run) for run in runs):
        return None
    word = next((m.group() for run in runs if (m := _PLACEHOLDER_WORD.search(run))), None)
    return f"placeholder ({word})" if word else None


def is_repeated(secret: str) -> str | None:
    """``aaaaaaaa``, ``abababab``, ``00000000``."""
    distinct = len(set(secret.lower()))
    if distinct == 1 or (len(secret) >= 6 and distinct <= 2):
        return "repeated characters"
    return None


def is_sequential(secret: str) -> str | None:
    """``123456789``, ``abcdefgh``, ``qwertyui``: keyboard or alphabet runs."""
    lowered = secret.lower()
    if len(lowered) >= 5 and any(lowered in seq for seq in _SEQUENCES):
        return "sequential characters"
    return None


def is_secret_store_reference(secret: str) -> str | None:
    """Ciphertext (Ansible Vault, SOPS ``ENC[``, Jasypt ``ENC(...)``, Spring ``{cipher}``) and
    secret-manager references (AWS ARNs, ``ssm:``, Key Vault, 1Password ``op://``, Google
    ``projects/.../secrets/...``): only their owner's key or store turns them into a secret."""
    value = secret.strip()
    if value.startswith(_ENCRYPTED_OR_REFERENCE) or _JASYPT.fullmatch(value) or _SECRET_MANAGER_NAME.fullmatch(value):
        return "secret-store reference"
    return None


def is_file_path(secret: str) -> str | None:
    """``/run/secrets/ibeam_password``, ``C:\\ib\\tws.txt``: where a secret is kept (IBeam's
    ``IBEAM_SECRETS_SOURCE=fs``, Docker secrets), not one. Every name in the path must read as
    a name, so a password that starts with or holds a ``/`` (``/Kq9Lm2/Zx7Rt``) is kept."""
    return "file path" if _ABSOLUTE_PATH.fullmatch(secret) else None


def is_masked(secret: str) -> str | None:
    """Values that were already masked by a log or a person (``U***4567``, ``DUXXXXXX``)."""
    if "**" in secret or "XXXX" in secret.upper() or "••" in secret or "…" in secret:
        return "already masked"
    return None


FILTERS: tuple[Callable[[str], str | None], ...] = (
    is_too_short,
    is_templated,
    is_secret_store_reference,
    is_file_path,
    is_masked,
    has_placeholder_word,
    is_repeated,
    is_sequential,
)


def first_rejection(secret: str) -> str | None:
    for check in FILTERS:
        reason = check(secret)
        if reason:
            return reason
    return None
