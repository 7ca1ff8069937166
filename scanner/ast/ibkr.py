"""Calls of the IBKR client libraries that take credentials or account ids.

Read in the libraries' signatures (ib_async / ib_insync ``IB.connect``, ``IBC``,
``FlexReport``; ibind ``IbkrClient``, ``IbkrWsClient``, ``OAuth1aConfig``; ibflex
``client.download``). A parameter listed here with a literal argument is a finding
of ``ibkr-client-literal-credential`` or ``ibkr-client-literal-account``, whatever
the parameter is called. Callee names that are common words (``connect``,
``download``) count only in files that mention the library.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..rules import AST_RULE_IDS

_, CREDENTIAL_RULE, ACCOUNT_RULE = AST_RULE_IDS


@dataclass(frozen=True)
class ClientCall:
    callee: str
    credentials: Mapping[str, int | None] = field(default_factory=dict)  # parameter -> positional index
    accounts: Mapping[str, int | None] = field(default_factory=dict)
    libraries: tuple[bytes, ...] = ()  # the file must mention one of these (empty: the name is distinctive)


_IB_ASYNC = (b"ib_insync", b"ib_async")
_TWS_ACCOUNT_CALLS = ("accountValues", "accountSummary", "portfolio", "positions", "reqPnL", "reqPnLSingle")
CLIENT_CALLS: dict[str, ClientCall] = {c.callee: c for c in (
    # IB.connect(host, port, clientId, timeout, readonly, account, ...)
    ClientCall("connect", accounts={"account": 5}, libraries=_IB_ASYNC),
    ClientCall("connectAsync", accounts={"account": 5}, libraries=_IB_ASYNC),
    # IBC(twsVersion, gateway, tradingMode, twsPath, twsSettingsPath, ibcPath, ibcIni, javaPath, userid, password, ...)
    ClientCall("IBC", credentials={"password": 9}, libraries=_IB_ASYNC),
    ClientCall("FlexReport", credentials={"token": 0}, libraries=_IB_ASYNC),
    *(ClientCall(name, accounts={"account": 0}, libraries=_IB_ASYNC) for name in _TWS_ACCOUNT_CALLS),
    ClientCall("IbkrClient", accounts={"account_id": None}, libraries=(b"ibind",)),
    ClientCall("IbkrWsClient", accounts={"account_id": None}, libraries=(b"ibind",)),
    ClientCall("OAuth1aConfig", credentials={
        "access_token": None, "access_token_secret": None, "consumer_key": None, "dh_prime": None,
    }, libraries=(b"ibind",)),
    # ibflex.client.download(token, query_id) and request_statement(token, query_id)
    ClientCall("download", credentials={"token": 0}, libraries=(b"ibflex",)),
    ClientCall("request_statement", credentials={"token": 0}, libraries=(b"ibflex",)),
)}
LIBRARY_KEYWORDS = (b"ib_insync", b"ib_async", b"ibind", b"ibflex")
# Keywords that make a code file worth parsing whatever follows them: client libraries,
# and Flex Web Service URLs (their token is the query parameter ``t``).
ALWAYS_PARSE = (*LIBRARY_KEYWORDS, b"flexwebservice")


# A digit, or a quote that does not close at once: an empty string ('' in ``reqPnL(account, '')``,
# in ib_insync's docstrings) binds nothing a finding could be made of.
_LITERAL_START = re.compile(rb"(?P<empty>([\"'`])\2)|[0-9]|[\"'`]")
MAX_CALLS_LOOKED_AT = 200  # as many as ``TreeDocument.calls_named`` looks at


def literal_client_call_possible(data: bytes) -> bool:
    """Could the parse find a client call with a literal credential or account argument?
    The parse gate for files that mention a client library, whose only reason to be parsed
    is such a call: a library's own source mentions itself in every file and every version
    of its history, and calls ``connect("127.0.0.1", 7497)`` in its examples."""
    sites = client_call_sites(data)
    return sites is None or bool(sites)


def client_call_sites(data: bytes) -> list[int] | None:
    """Where a client call could bind a literal credential or account: the offsets of its
    callee and of each literal in its argument list, for every such call. ``None`` when an
    argument list cannot be read without parsing (nested parentheses, or no ``)`` in 4 kB).

    A necessary condition, read without parsing: ``callee(`` (how ``calls_named`` finds
    calls), not a ``def``, whose argument list holds a quote or a digit, and either names
    one of the call's credential or account parameters or has enough commas to reach one
    by position. An empty string is no literal here: no credential or account can be empty."""
    sites: list[int] = []
    calls = [call for call in CLIENT_CALLS.values() if mentions(call, data)]
    for call, positions in zip(calls, _callee_positions(data, calls)):
        needle_size = len(call.callee) + 1
        for pos in positions:
            if data[max(0, pos - 4):pos] != b"def ":
                open_at = pos + needle_size
                close_at = data.find(b")", open_at, open_at + 4096)
                if close_at < 0 or b"(" in data[open_at:close_at]:
                    return None
                arguments = data[open_at:close_at]
                literals = [open_at + m.start() for m in _LITERAL_START.finditer(arguments) if m.group("empty") is None]
                if literals and _may_reach(call, arguments):
                    sites.append(pos)
                    sites.extend(literals)
    return sites


def _callee_positions(data: bytes, calls: list[ClientCall]) -> list[list[int]]:
    """Offsets of ``callee(`` for each call, the first ``MAX_CALLS_LOOKED_AT`` of each: one
    Hyperscan pass where it is installed (a ``bytes.find`` loop per callee over a library's
    own history was 0.35 CPU-s of ib_async's), else those loops."""
    if not calls:
        return []
    finder = _callee_finder()
    if finder is None:
        return [_find_all(data, call.callee.encode() + b"(") for call in calls]
    db, scratch = finder
    wanted = {CALLEES.index(call.callee): n for n, call in enumerate(calls)}
    found: list[list[int]] = [[] for _ in calls]

    def on_match(which: int, _from: int, to: int, _flags: int, _ctx: object) -> None:
        n = wanted.get(which)
        if n is not None and len(found[n]) < MAX_CALLS_LOOKED_AT:
            found[n].append(to - len(CALLEES[which]) - 1)

    db.scan(data, match_event_handler=on_match, scratch=scratch)
    return found


def _find_all(data: bytes, needle: bytes) -> list[int]:
    found: list[int] = []
    pos = data.find(needle)
    while pos >= 0 and len(found) < MAX_CALLS_LOOKED_AT:
        found.append(pos)
        pos = data.find(needle, pos + 1)
    return found


CALLEES = list(CLIENT_CALLS)
_finder: tuple | None | bool = False  # False: not built yet; None: no Hyperscan


def _callee_finder() -> tuple | None:
    """A case-sensitive Hyperscan database of every ``callee(``, built (or loaded from the
    per-user cache) on first use; ``None`` without Hyperscan."""
    global _finder
    if _finder is False:
        try:
            import hyperscan

            from ..hsdb import database
            from ..prefilter import _hs_literal

            expressions = [_hs_literal(callee + "(") for callee in CALLEES]
            db, _ = database(hyperscan, expressions, [0] * len(expressions))
            _finder = (db, hyperscan.Scratch(db))
        except Exception:  # noqa: BLE001 - no wheel, another CPU, a compile error: the find loops
            _finder = None
    return _finder  # type: ignore[return-value]


def _may_reach(call: ClientCall, arguments: bytes) -> bool:
    """Could ``arguments`` (no nested parentheses) bind one of the call's parameters?
    Every comma counts, even one inside a string: that can only say yes more often."""
    names = (*call.credentials, *call.accounts)
    if any(name.encode() in arguments for name in names):
        return True
    commas = arguments.count(b",")
    return any(index is not None and commas >= index
               for index in (*call.credentials.values(), *call.accounts.values()))


def client_parameter(callee: str, parameter: str, data: bytes) -> str | None:
    """``"credential"`` / ``"account"`` when ``callee(parameter=...)`` is an IBKR client call."""
    call = CLIENT_CALLS.get(callee)
    if call is None or not mentions(call, data):
        return None
    if parameter in call.credentials:
        return "credential"
    if parameter in call.accounts:
        return "account"
    return None


def mentions(call: ClientCall, data: bytes) -> bool:
    return not call.libraries or not mentioned_libraries(data).isdisjoint(call.libraries)


_ALL_LIBRARIES = tuple(dict.fromkeys(lib for call in CLIENT_CALLS.values() for lib in call.libraries))
_last_mentioned: tuple[bytes, frozenset[bytes]] = (b"", frozenset())


def mentioned_libraries(data: bytes) -> frozenset[bytes]:
    """The client libraries ``data`` names. Kept for the last blob asked about: every client
    call is asked about the same blob in turn, and searching a large file once per call and
    library was a third of ib_async's history scan."""
    global _last_mentioned
    if _last_mentioned[0] is not data:
        _last_mentioned = (data, frozenset(lib for lib in _ALL_LIBRARIES if lib in data))
    return _last_mentioned[1]


def positional_parameters(call: ClientCall) -> dict[int, tuple[str, str]]:
    """Positional index -> (parameter, "credential" | "account")."""
    out = {i: (p, "credential") for p, i in call.credentials.items() if i is not None}
    out.update({i: (p, "account") for p, i in call.accounts.items() if i is not None})
    return out
