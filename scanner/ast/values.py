"""Is a literal bound to a credential name a credential value? Small named checks.

The shared filters (``scanner.filters``: placeholders, templates, secret-store references,
absolute paths, masks, runs) run first; these add what only makes sense once the AST says
"this literal is the value of ``password``": a value that is itself a name, a path, a
sentence or an enum word is configuration around a credential, not the credential.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import regex

from ..regexcache import compile_pattern
from .. import filters

ACCOUNT_SHAPE = compile_pattern(r"D?U[0-9]{6,8}|D?[FI][0-9]{7}")
_ENV_NAME = compile_pattern(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
_DOTTED = compile_pattern(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
# A JSON Web Token: its header and payload are base64url JSON, so each starts with "eyJ" ('{"').
# Three letter-first segments read as a dotted attribute path (``a.b.c``); a JWT is none.
_JWT = compile_pattern(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
_WORDY = compile_pattern(r"[A-Za-z]+(?:[_.\-:/][A-Za-z]+)*")
_CAMEL_WORD = compile_pattern(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+")
_REGEX_SYNTAX = compile_pattern(r"\[\^|\\[dDwWsSbB]|\]\+|\]\*|\]\{|\(\?[:=!<P]|\.\*|\.\+")
_PATH = compile_pattern(r"(?:~|\.{1,2})?/[^\s]*|[A-Za-z]:\\.*|[\w.\-/]+\.(?:pem|key|crt|json|txt|ini|cfg|conf|yaml|yml|env|p12|pfx|jks|der)")
_URL = compile_pattern(r"[a-z][a-z0-9+.\-]*://\S*")
COMMON_VALUES = frozenset({
    "password", "passwd", "secret", "token", "none", "null", "nil", "true", "false", "test", "string",
    "str", "required", "optional", "default", "hidden", "empty", "bearer", "basic", "oauth", "jwt",
    "undefined", "unknown", "admin", "user", "username", "login", "pass", "value", "secure", "sensitive",
    "api_key", "apikey", "access_token", "refresh_token", "client_secret", "private_key",
})


def refers_elsewhere(value: str) -> str | None:
    """An env var name, a dotted attribute path, a file path or a bare URL: where a secret is, not one."""
    if _ENV_NAME.fullmatch(value) or (_DOTTED.fullmatch(value) and not _JWT.fullmatch(value)):
        return "names a variable"
    if _PATH.fullmatch(value):
        return "file path"
    if _URL.fullmatch(value) and "@" not in value:
        return "url"
    return None


_PEM_BODY = compile_pattern(r"-----BEGIN[^-]*-----(?P<body>.*?)(?:-----END|$)", regex.DOTALL)


def is_truncated_key(value: str) -> str | None:
    """A PEM block with a body too short to be a key: documentation or a placeholder."""
    m = _PEM_BODY.search(value)
    if m is None:
        return None
    body = regex.sub(r"[^A-Za-z0-9+/=]", "", m.group("body").replace("\\n", ""))
    return "truncated key" if len(body) < 100 else None


def is_prose(value: str) -> str | None:
    """``"Enter your password"``: words with spaces, except multi-line key material (PEM)."""
    if "-----BEGIN" in value:
        return None
    return "prose" if regex.search(r"\s", value.strip()) else None


def is_common_word(value: str) -> str | None:
    lowered = value.lower()
    return "common word" if lowered in COMMON_VALUES else None


_DUMMY = ("deadbeef", "cafebabe", "abc123", "123456", "foobar", "qwerty", "asdf")


def is_dummy(value: str) -> str | None:
    """``DEADBEEF``, ``abc123def456``, ``foobar1``, ``...def456``: values typed into tests and docs."""
    lowered = value.lower()
    if "..." in value:
        return "elided value"
    return "dummy value" if any(word in lowered for word in _DUMMY) else None


def names_a_credential(value: str) -> str | None:
    """``mypassword``, ``MySecretToken``, AWS's ``...EXAMPLEKEY``: documentation values."""
    lowered = value.lower()
    if any(word in lowered for word in ("password", "passwd", "secret", "token", "apikey")) or "EXAMPLE" in value:
        return "documentation value"
    return None


def is_wordy(value: str) -> str | None:
    """``password_reset``, ``x-api-key``, ``AWSAccessKeyId``, ``serverlessrepo:applicationId``:
    letters-only words joined by separators or CamelCase are identifiers, not values."""
    if not _WORDY.fullmatch(value):
        return None
    separated = any(c in value for c in "_.-:/")
    return "identifier-like" if separated or len(_CAMEL_WORD.findall(value)) >= 2 else None


def is_regular_expression(value: str) -> str | None:
    """``[!#$%&'*+.^_`|~0-9A-Za-z-]+``: a pattern that matches tokens, not a token."""
    return "regular expression" if _REGEX_SYNTAX.search(value) else None


VALUE_CHECKS: tuple[Callable[[str], str | None], ...] = (
    filters.first_rejection,
    refers_elsewhere,
    is_truncated_key,
    is_prose,
    is_common_word,
    names_a_credential,
    is_dummy,
    is_wordy,
    is_regular_expression,
)


@lru_cache(maxsize=16384)
def rejection(kind: str, value: str) -> str | None:
    """Why ``value`` bound to a name of ``kind`` is not a credential, or ``None`` to keep it.

    Cached: a pure function of its two strings, asked again for each version of a file in a
    history scan (the AST gate peeks at the value after every credential word)."""
    if kind == "account":
        return None if ACCOUNT_SHAPE.fullmatch(value) and not filters.first_rejection(value) else "not an account id"
    for check in VALUE_CHECKS:
        reason = check(value)
        if reason:
            return reason
    if kind in ("token", "secret") and (len(value) < 8 or value.isalpha() and value.islower()):
        return "too weak for a key or token"
    return None


# Translation catalogues: a folder of them, or a file named for its language (``de.json``,
# ``fr-FR.yaml``, ``pt_BR.po``) or a resource bundle's (``messages_de.properties``).
LOCALE_FOLDERS = frozenset({
    "locale", "locales", "i18n", "l10n", "lang", "langs", "languages", "translation", "translations",
})
# File names read as languages only for these: ``ca.json``, ``id.yaml``, ``ms.json`` are as
# often a certificate authority, an identity or a service's settings.
LANGUAGES = frozenset({
    "ar", "bg", "cs", "da", "de", "el", "en", "es", "et", "fa", "fi", "fr", "he", "hi", "hr", "hu", "it",
    "ja", "ko", "lt", "lv", "nb", "nl", "nn", "pl", "pt", "ro", "ru", "sk", "sl", "sr", "sv", "th", "tr",
    "uk", "vi", "zh",
})
_LOCALE_FILE = compile_pattern(
    r"(?P<lang>[a-z]{2})(?:[-_](?:[A-Z]{2}|[0-9]{3}|Han[st]))?"
    r"\.(?:json|ya?ml|properties|po|arb|ftl|xlf|xliff|resx|strings|toml|ini)"
    r"|[A-Za-z]+_(?P<lang>[a-z]{2})(?:_[A-Z]{2})?\.properties")
# A word or a short phrase in any script: ``Passwort``, ``Mot de passe``, ``Contraseña:``.
_LABEL = compile_pattern(r"[^\W\d_]+(?:[ '\u2019\-][^\W\d_]+)*[.:!?\u2026]?")


LOCALE_DEPTH = 3  # ``locale/de/LC_MESSAGES/app.po``; folders further up name the checkout, not the file


def is_translation_catalogue(path: str) -> bool:
    """``locales/de.json``, ``i18n/fr-FR.yaml``, ``messages_de.properties``: UI text by language."""
    *folders, name = path.replace("\\", "/").split("/")
    if any(folder.lower() in LOCALE_FOLDERS for folder in folders[-LOCALE_DEPTH:]):
        return True
    m = _LOCALE_FILE.fullmatch(name)
    return m is not None and m.group("lang") in LANGUAGES


def translated_label(path: str, value: str) -> str | None:
    """``"password": "Passwort"`` in a translation catalogue is the label of a password field, in
    German. Only there, and only a plain word or phrase: a weak password in a settings file, or
    a value with a digit in a catalogue, stays a candidate."""
    return "translated label" if _LABEL.fullmatch(value) and is_translation_catalogue(path) else None


def looks_like_test_value(value: str) -> bool:
    lowered = value.lower()
    return any(w in lowered for w in ("test", "fake", "dummy", "mock", "sample"))
