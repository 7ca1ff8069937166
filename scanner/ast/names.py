"""Which names hold credentials: ``password``, ``TWS_PASSWORD``, ``IbPassword``, ``apiKey``...

A name is split into lower-case words (``IBIND_OAUTH1A_ACCESS_TOKEN_SECRET`` ->
``ibind oauth 1 a access token secret``). It names a credential when one of its words
is a credential word and every word after that one is a harmless qualifier
(``TWS_PASSWORD_PAPER``), never a word that turns it into metadata
(``password_file``, ``token_type``, ``secret_name``, ``PASSWORD_PROMPT``).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ..regexcache import compile_pattern

_WORDS = compile_pattern(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")

PASSWORD_WORDS = frozenset({"password", "passwd", "pwd", "passphrase", "pass", "pw"})
SECRET_WORDS = frozenset({"secret", "credential", "apikey", "accesskey", "privatekey", "secretkey", "appkey"})
TOKEN_WORDS = frozenset({"token", "accesstoken", "authtoken", "apitoken", "bearertoken"})
ACCOUNT_WORDS = frozenset({"account", "acct", "accountid", "acctid", "accounts"})
# ``key`` names a credential only after one of these (``api_key``, ``consumerKey``, ``IBEAM_KEY``).
KEY_QUALIFIERS = frozenset({
    "api", "access", "secret", "private", "consumer", "encryption", "signature", "signing", "app",
    "client", "auth", "master", "ibeam", "fernet", "hmac", "shared", "subscription",
})
# Words that may follow the credential word without changing what the name holds.
TRAILING_OK = frozenset({
    "value", "str", "string", "plain", "plaintext", "raw", "live", "paper", "prod", "production",
    "dev", "staging", "demo", "test", "b64", "base64", "hex", "pem", "encrypted", "enc", "secret",
    "key", "seed", "default", "override", "s",
})
ACCOUNT_TRAILING_OK = frozenset({"id", "ids", "code", "number", "num", "no", "s"})
# Words that turn a credential name into metadata about one.
METADATA_WORDS = frozenset({
    "file", "files", "path", "fp", "dir", "env", "var", "variable", "name", "names", "field", "fields",
    "type", "types", "url", "uri", "endpoint", "id", "ids", "len", "length", "size", "prompt", "label",
    "policy", "source", "mode", "header", "regex", "re", "pattern", "format", "fmt", "expiry", "expires",
    "expiration", "ttl", "timeout", "min", "max", "required", "hint", "placeholder", "message", "msg",
    "error", "help", "description", "desc", "count", "enabled", "reset", "hash", "hashed", "digest",
    "salt", "class", "cls", "fn", "func", "callback", "handler", "provider", "manager", "store",
    "storage", "service", "validator", "strength", "rules", "input", "widget", "form", "view",
    "location", "arn", "ref", "reference", "version", "param", "parameter", "option", "arg", "flag",
    "config", "cfg", "settings", "index", "idx", "list", "map", "dict", "set", "kind",
})
# Leading words of flags and helpers: ``use_password``, ``is_token_valid``, ``num_tokens``.
LEADING_METADATA = frozenset({
    "is", "has", "use", "no", "num", "max", "min", "should", "enable", "require", "requires",
    "validate", "check", "show", "hide", "get", "on", "handle", "parse", "read", "load", "forgot",
    "ask", "prompt", "verify", "n", "len",
})
# Tokens that are not credentials: NLP tokenizers (``pad_token = "[PAD]"``), pagination and
# idempotency tokens of cloud APIs (``input_token``, ``ChangeToken``, ``ClientRequestToken``).
TOKEN_NOT_CREDENTIAL = frozenset({
    "csrf", "xsrf", "next", "page", "continuation", "cancel", "cancellation", "bos", "eos", "pad",
    "unk", "sep", "cls", "mask", "start", "end", "special", "split", "sentence", "word", "lexer",
    "parse", "sync", "pagination", "resume", "stop", "additional", "added", "image", "audio", "video",
    "input", "output", "change", "request", "client", "action", "purchase", "update", "task",
    "idempotency", "lock", "lease", "marker", "cursor", "verification", "wait",
})
IBKR_PREFIXES = frozenset({"tws", "ib", "ibc", "ibeam", "ibind", "ibkr", "flex"})
IBKR_NAMES = frozenset({"fixpassword"})  # IBC config.ini keys without one of the prefixes
TEST_WORDS = frozenset({"test", "tests", "testing", "fake", "dummy", "mock", "sample", "example", "stub", "fixture"})


@dataclass(frozen=True, slots=True)
class CredentialName:
    """What a name says about the value bound to it."""

    kind: str  # "password" | "secret" | "token" | "account"
    ibkr: bool  # an IBKR / TWS / IBC / IBeam / ibind / Flex setting
    test: bool  # the name itself says test data (``fake_token``)


def words(name: str) -> tuple[str, ...]:
    return tuple(w.lower() for w in _WORDS.findall(name))


@lru_cache(maxsize=4096)
def classify_name(name: str) -> CredentialName | None:
    """The credential a name holds, or ``None`` for every other name."""
    parts = words(name)
    if not parts or parts[0] in LEADING_METADATA or parts == ("ibeam", "account"):  # IBEAM_ACCOUNT: a login name
        return None
    if "::" in name or "public" in parts:  # a type name (``AWS::IAM::AccessKey``); public keys are public
        return None
    for index in range(len(parts) - 1, -1, -1):
        kind = _word_kind(parts, index)
        if kind is None:
            continue
        trailing = parts[index + 1:]
        allowed = ACCOUNT_TRAILING_OK if kind == "account" else TRAILING_OK
        if not all(w in allowed or w.isdigit() for w in trailing):
            return None
        ibkr = parts[0] in IBKR_PREFIXES or "".join(parts) in IBKR_NAMES
        return CredentialName(kind, ibkr, any(w in TEST_WORDS for w in parts))
    return None


def is_credential_metadata(name: str) -> bool:
    """``token_type``, ``PASSWORD_PROMPT``, ``TWS_PASSWORD_FILE``: about a credential, not one."""
    if classify_name(name) is not None:
        return False
    parts = words(name)
    return any(_word_kind(parts, i) not in (None, "account") for i in range(len(parts)))


def _word_kind(parts: tuple[str, ...], index: int) -> str | None:
    word = parts[index]
    before = parts[index - 1] if index else ""
    if word in PASSWORD_WORDS:
        return None if word in ("pass", "pw") and not index else "password"
    if word in SECRET_WORDS or word.endswith(("password", "passwd")):
        return "password" if word.endswith(("password", "passwd")) else "secret"
    if word in TOKEN_WORDS or (word.endswith("token") and len(word) > 5 and not word.endswith("tokens")):
        return None if before in TOKEN_NOT_CREDENTIAL else "token"
    if word == "key" and before in KEY_QUALIFIERS:
        return "secret"
    if word == "prime" and before == "dh":
        return "secret"
    if word in ACCOUNT_WORDS:
        return "account"
    return None
