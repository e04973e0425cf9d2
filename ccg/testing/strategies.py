"""Hypothesis strategies for ccg's values: times, clock schedules, tokens, token responses
(valid and hostile), states, policies and inputs. Needs `hypothesis` (`pip install 'ccg[testing]'`).

Every strategy is a function returning a typed `SearchStrategy` (e.g.
`st.SearchStrategy[OAuthToken]`). The argument-free ones are cached: Hypothesis
validates a strategy on first use, and rebuilding one per draw costs more than
the draw. Together they cover the whole `policy x state x input x now` space of
`ccg.core.step`, which is how ccg's own property tests use them.

Times are concentrated around `EPOCH`, on whole seconds more often than not, so
that token expiries, skew windows and `now` coincide often enough to exercise the
boundary instants; a share of them are drawn from anywhere in 2000-2100.

Hostile values are in: non-ASCII and very long digit strings in `expires_in`,
invalid UTF-8 inside JSON strings, and hand-built tokens with negative or
beyond-float-range lifetimes.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from functools import cache
from typing import Final, TypeVar

import msgspec
from hypothesis import strategies as st

from ccg.core import (
    CallTokenProvider,
    ClientAuthentication,
    ClientSecretBasic,
    ClientSecretPost,
    Effect,
    Fetching,
    FetchToken,
    Holding,
    HttpReply,
    Input,
    NotifyTokenUpdate,
    NoToken,
    OAuthProviderError,
    OAuthToken,
    Policy,
    TokenNeeded,
    TokenProvided,
    TokenProviderRaised,
    TokenReplyReceived,
    TokenRequestFailed,
    TokenRequestSpec,
    TokenSet,
    TokenState,
    TokenUpdateNotified,
    TokenUpdateRaised,
    current_token,
    stamped,
)

__all__ = [
    "DAY",
    "EPOCH",
    "MAX_TIME",
    "MIN_TIME",
    "access_tokens",
    "answers",
    "client_authentications",
    "clock_schedules",
    "clock_skews",
    "error_replies",
    "expires_in_values",
    "hostile_replies",
    "http_replies",
    "inputs",
    "inputs_about",
    "lifetimes",
    "outcome_inputs",
    "policies",
    "reply_with",
    "request_specs",
    "situations",
    "states",
    "time_advances",
    "times",
    "token_replies",
    "tokens",
]

EPOCH: Final = 1_700_000_000.0
"""The centre of generated times: 2023-11-14T22:13:20Z."""
MIN_TIME: Final = 946_684_800.0
"""2000-01-01T00:00:00Z, the earliest generated time."""
MAX_TIME: Final = 4_102_444_800.0
"""2100-01-01T00:00:00Z, the latest generated time."""
DAY: Final = 86_400
"""Seconds in a day."""

_WINDOW: Final = 4_000
"""Half-width, in seconds, of the window around `EPOCH` where most times fall (> 1 h + 600 s)."""
_MAX_WIRE_LIFETIME: Final = 10 * 365 * DAY
"""The largest `expires_in` the wire decoder accepts (ten years)."""
_JSON_HEADERS: Final = (("Content-Type", "application/json"),)
_TOKEN68: Final = string.ascii_letters + string.digits + "-._~+/="
"""RFC 6750 `b64token` characters: what real access tokens are made of."""


_T = TypeVar("_T")


def _cached(strategy: Callable[[], st.SearchStrategy[_T]]) -> Callable[[], st.SearchStrategy[_T]]:
    """`functools.cache` for an argument-free strategy function, keeping its `() -> ...` type
    (`cache` alone would let a caller pass any arguments, and fail only at run time)."""
    return cache(strategy)


# -- time ------------------------------------------------------------------------------


@_cached
def times() -> st.SearchStrategy[float]:
    """UTC epoch seconds: mostly within about an hour of `EPOCH`, sometimes anywhere in 2000-2100.

    Whole seconds are favoured so that `now` lands exactly on expiry boundaries.
    """
    return st.one_of(
        st.integers(-_WINDOW, _WINDOW).map(lambda s: EPOCH + s),
        st.floats(-_WINDOW, _WINDOW, allow_nan=False).map(lambda s: EPOCH + s),
        st.floats(MIN_TIME, MAX_TIME, allow_nan=False, allow_infinity=False),
    )


@_cached
def time_advances() -> st.SearchStrategy[float]:
    """How far a clock moves between two steps: often 0, usually forward, rarely backwards
    (wall clocks are stepped by NTP), occasionally by days."""
    return st.one_of(
        st.just(0.0),
        st.integers(0, 120).map(float),
        st.floats(0, 4_000, allow_nan=False),
        st.integers(-5, 0).map(float),
        st.integers(0, 30 * DAY).map(float),
    )


def clock_schedules(max_size: int = 20) -> st.SearchStrategy[list[float]]:
    """A schedule for a `FakeClock`: the successive `advance(seconds)` steps of one test,
    each from `time_advances` but never backwards (`FakeClock.advance` refuses that)."""
    return st.lists(time_advances().map(lambda s: max(s, 0.0)), max_size=max_size)


@_cached
def clock_skews() -> st.SearchStrategy[float]:
    """A `clock_skew` policy: 0 to 600 seconds, the common choices (0, 30, 60, 300) likely."""
    return st.one_of(
        st.sampled_from([0.0, 1.0, 30.0, 60.0, 300.0, 600.0]),
        st.floats(0, 600, allow_nan=False),
    )


# -- tokens -----------------------------------------------------------------------------


@_cached
def lifetimes() -> st.SearchStrategy[int]:
    """An `expires_in` a server could give: tiny (0, 1, 2), typical, or large (up to ten years)."""
    return st.one_of(
        st.sampled_from([0, 1, 2, 3, 30, 60, 119, 120, 121, 300, 600, 1_200, 3_599, 3_600]),
        st.integers(0, 2 * _WINDOW),
        st.integers(0, _MAX_WIRE_LIFETIME),
    )


@_cached
def _hostile_lifetimes() -> st.SearchStrategy[int]:
    # Only a hand-built OAuthToken can carry these: the wire decoder refuses them.
    return st.one_of(st.integers(-(10**6), -1), st.integers(_MAX_WIRE_LIFETIME + 1, 10**400))


@_cached
def access_tokens() -> st.SearchStrategy[str]:
    """An access token: a few fixed values (so equal tokens happen) or random `b64token` text."""
    return st.one_of(
        st.sampled_from(["t1", "t2", "t3"]),
        st.text(_TOKEN68, min_size=1, max_size=40),
    )


@_cached
def _token_fields() -> st.SearchStrategy[OAuthToken]:
    return st.builds(
        OAuthToken,
        access_token=access_tokens(),
        token_type=st.sampled_from(["Bearer", "bearer", "BEARER"]),
        expires_in=st.none() | lifetimes() | _hostile_lifetimes(),
        scope=st.none() | st.sampled_from(["read", "read write", ""]),
        refresh_token=st.none() | st.just("r1"),
    )


def _with_expiry(token: OAuthToken, expiry: float) -> OAuthToken:
    return msgspec.structs.replace(token, expiry=expiry)


@_cached
def tokens() -> st.SearchStrategy[OAuthToken]:
    """A well-formed `OAuthToken`, in each shape the machine meets:

    - unstamped, as decoded from the wire or built by a provider (`expiry` None,
      with or without `expires_in`): never expires, or is stamped on adoption;
    - stamped at some time (`expiry == issued_at + expires_in`);
    - with an `expiry` unrelated to `expires_in`, or with only an `expiry`
      (a token saved with `to_dictionary` and restored, or set by hand).
    """
    base = _token_fields()
    with_expiry = st.builds(_with_expiry, base, times())
    return st.one_of(
        base,
        st.builds(stamped, base, times()),
        with_expiry,
    )


# -- states and policies ---------------------------------------------------------------


@_cached
def states() -> st.SearchStrategy[TokenState]:
    """Any `TokenState`: `NoToken`, `Holding(token)`, `Fetching()` or `Fetching(token)`."""
    return st.one_of(
        st.just(NoToken()),
        st.builds(Holding, token=tokens()),
        st.builds(Fetching, token=st.none() | tokens()),
    )


@_cached
def client_authentications() -> st.SearchStrategy[ClientAuthentication]:
    """`client_secret_basic` (form-encoded or raw) or `client_secret_post`."""
    return st.sampled_from(
        [ClientSecretBasic(), ClientSecretBasic(form_encode=False), ClientSecretPost()]
    )


@_cached
def request_specs() -> st.SearchStrategy[TokenRequestSpec]:
    """A `TokenRequestSpec`: any id and secret text, optional scopes and extra parameters."""
    names = st.text(min_size=1, max_size=12)
    return st.builds(
        TokenRequestSpec,
        token_url=st.sampled_from(
            ["https://as.example/token", "https://login.example.com/oauth2/v1/token?x=1"]
        ),
        client_id=names,
        client_secret=names,
        scopes=st.lists(st.sampled_from(["read", "write", "api:admin"]), max_size=3).map(tuple),
        extra_params=st.lists(
            st.tuples(st.sampled_from(["audience", "resource"]), names), max_size=3
        ).map(tuple),
        authentication=client_authentications(),
    )


@_cached
def policies() -> st.SearchStrategy[Policy]:
    """A `Policy`: with or without a token provider and an update callback, any auth method."""
    return st.builds(
        Policy,
        request=request_specs(),
        clock_skew=clock_skews(),
        has_provider=st.booleans(),
        has_update_callback=st.booleans(),
    )


# -- replies from the token endpoint ---------------------------------------------------


@_cached
def expires_in_values() -> st.SearchStrategy[int | float | str | bool | None]:
    """What servers put in `expires_in`: integers, digit strings (Azure AD v1), floats,
    negatives, absurdly large values, junk strings (non-ASCII digits and thousands of
    digits included), null and booleans."""
    return st.one_of(
        lifetimes(),
        lifetimes().map(str),
        st.floats(0, 1e7, allow_nan=False),
        st.integers(max_value=-1),
        st.integers(_MAX_WIRE_LIFETIME + 1, 2**63 - 1),
        st.floats(-1e300, 1e300, allow_nan=False),
        st.sampled_from([" 3600 ", "3600.0", "-5", "", "1e3", "abc", "0x10", "+60", True, None]),
        st.text(string.printable, max_size=8),
        st.text(max_size=8),
        st.text(string.digits, min_size=21, max_size=5_000),
    )


def _raw_reply(status: int, body: bytes) -> HttpReply:
    return HttpReply(status=status, body=body)


def _json_reply(status: int, body: object) -> HttpReply:
    return HttpReply(status=status, headers=_JSON_HEADERS, body=msgspec.json.encode(body))


@st.composite
def _token_body(draw: st.DrawFn) -> dict[str, object]:
    body: dict[str, object] = {"access_token": draw(st.text(min_size=1, max_size=30))}
    token_type = draw(st.sampled_from(["Bearer", "bearer", "BEARER", None]))
    if token_type is not None:
        body["token_type"] = token_type
    if draw(st.booleans()):
        body["expires_in"] = draw(expires_in_values())
    if draw(st.booleans()):
        body["scope"] = draw(st.sampled_from(["read", "read write", "", "api://x/.default"]))
    if draw(st.booleans()):
        body["refresh_token"] = draw(st.text(max_size=10))
    extras = draw(
        st.dictionaries(
            st.sampled_from(["ext_expires_in", "not-before-policy", "issued_token_type", "jti"]),
            st.one_of(st.integers(-(2**31), 2**31), st.text(max_size=10), st.none()),
            max_size=3,
        )
    )
    return {**body, **extras}


@_cached
def token_replies() -> st.SearchStrategy[HttpReply]:
    """A 2xx reply with an RFC 6749 §5.1 token body, `expires_in` as any `expires_in_values`."""
    return st.builds(_json_reply, st.sampled_from([200, 200, 201, 203]), _token_body())


def reply_with(token: OAuthToken) -> HttpReply:
    """The 200 §5.1 reply that decodes to `token` (which must have no `expiry`)."""
    assert token.expiry is None, "the wire carries expires_in, never expiry"
    return _json_reply(200, token.to_dictionary())


@_cached
def error_replies() -> st.SearchStrategy[HttpReply]:
    """An RFC 6749 §5.2 error: one of the six codes or an unknown one, with or without a
    description and URI, usually a 400 or 401 but also any other status, even 200."""
    code = st.one_of(
        st.sampled_from([e.value for e in OAuthProviderError]),
        st.sampled_from(["temporarily_unavailable", "slow_down", "server_error", ""]),
        st.text(max_size=12),
    )
    body = st.fixed_dictionaries(
        {"error": code},
        optional={
            "error_description": st.text(max_size=30),
            "error_uri": st.just("https://as.example/errors/1"),
        },
    )
    status = st.one_of(st.sampled_from([400, 401]), st.integers(200, 599))
    return st.builds(_json_reply, status, body)


_HTML_PAGES: Final = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n",
    b"<!DOCTYPE html><html><body>Sign in</body></html>",
)


@_cached
def hostile_replies() -> st.SearchStrategy[HttpReply]:
    """Replies that are neither a token nor an error: random bytes, JSON that is not an
    object, HTML pages, empty bodies, and objects with missing or mistyped members.
    Any status from 100 to 599. (A body over 1 MiB is tested by example, not here.)"""
    status = st.integers(100, 599)
    raw = st.one_of(
        st.binary(max_size=200),
        st.sampled_from([*_HTML_PAGES, b"", b" ", b"null", b"{", b"{}", b"[]", b"\xff\xfe"]),
        # Invalid UTF-8 inside a JSON string: msgspec reports it as UnicodeDecodeError.
        st.binary(max_size=8).map(lambda b: b'{"access_token":"t' + b + b'"}'),
        st.binary(max_size=8).map(
            lambda b: b'{"error":"invalid_client","error_description":"' + b + b'"}'
        ),
    )
    json_values = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.text(max_size=10),
        st.lists(st.integers(), max_size=3),
    )
    not_a_token = st.sampled_from(
        [
            {"token_type": "Bearer", "expires_in": 3600},
            {"access_token": ""},
            {"access_token": None},
            {"access_token": 42},
            {"access_token": "t", "token_type": "mac"},
            {"access_token": "t", "token_type": "DPoP"},
            {"access_token": "t", "token_type": None},
            {"access_token": "t", "scope": ["read", "write"]},
            {"access_token": "t", "expires_in": [3600]},
            {"error": 400},
            {"error": None, "error_description": "x"},
        ]
    )
    return st.one_of(
        st.builds(_raw_reply, status, raw),
        st.builds(_json_reply, status, json_values),
        st.builds(_json_reply, status, not_a_token),
    )


@_cached
def http_replies() -> st.SearchStrategy[HttpReply]:
    """Anything a token endpoint might send back: tokens, errors and hostile replies."""
    return st.one_of(token_replies(), error_replies(), hostile_replies())


# -- inputs ------------------------------------------------------------------------------


@_cached
def _reasons() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(["ConnectTimeoutError: timed out", "RuntimeError: boom"]),
        st.text(max_size=20),
    )


@_cached
def outcome_inputs() -> st.SearchStrategy[Input]:
    """The inputs that end a fetch or provider call: `TokenReplyReceived`,
    `TokenRequestFailed`, `TokenProvided` (a token or None) and `TokenProviderRaised`."""
    return st.one_of(
        st.builds(TokenReplyReceived, reply=http_replies()),
        st.builds(TokenRequestFailed, reason=_reasons()),
        st.builds(TokenProvided, token=st.none() | tokens()),
        st.builds(TokenProviderRaised, reason=_reasons()),
    )


@_cached
def inputs() -> st.SearchStrategy[Input]:
    """Any member of the `Input` union, with any payload."""
    return st.one_of(
        st.just(TokenNeeded()),
        outcome_inputs(),
        st.builds(TokenSet, token=st.none() | tokens()),
        st.builds(TokenUpdateNotified, token=tokens()),
        st.builds(TokenUpdateRaised, token=tokens(), reason=_reasons()),
    )


def answers(effect: Effect) -> st.SearchStrategy[Input]:
    """The inputs a well-behaved shell may answer `effect` with (nothing for a terminal one).

    `FetchToken` -> a reply (mostly a token) or a transport failure; `CallTokenProvider`
    -> a token (the last one, too), None, or a raise; `NotifyTokenUpdate(t)` -> notified
    or raised, about `t`.
    """
    match effect:
        case FetchToken():
            return _fetch_answers()
        case CallTokenProvider(last=last):
            # Providers often hand back the last token (cached elsewhere, still valid).
            return _provider_answers() | st.just(TokenProvided(token=last))
        case NotifyTokenUpdate(token=token):
            return _callback_answers().map(
                lambda reason: (
                    TokenUpdateNotified(token=token)
                    if reason is None
                    else TokenUpdateRaised(token=token, reason=reason)
                )
            )
        case _:
            return st.nothing()


@_cached
def _fetch_answers() -> st.SearchStrategy[Input]:
    return st.one_of(
        st.builds(TokenReplyReceived, reply=token_replies()),
        st.builds(TokenReplyReceived, reply=http_replies()),
        st.builds(TokenRequestFailed, reason=_reasons()),
    )


@_cached
def _provider_answers() -> st.SearchStrategy[Input]:
    return st.one_of(
        st.builds(TokenProvided, token=tokens()),
        st.builds(TokenProvided, token=st.none()),
        st.builds(TokenProviderRaised, reason=_reasons()),
    )


@_cached
def _callback_answers() -> st.SearchStrategy[str | None]:
    """None: the callback returned; a string: it raised, for that reason."""
    return st.none() | _reasons()


def inputs_about(token: OAuthToken) -> st.SearchStrategy[Input]:
    """Inputs that carry `token` itself: set again, provided again, announced, or its
    callback raising. Random inputs almost never repeat a held token; these do."""
    return st.one_of(
        st.just(TokenSet(token=token)),
        st.just(TokenProvided(token=token)),
        st.just(TokenUpdateNotified(token=token)),
        st.builds(TokenUpdateRaised, token=st.just(token), reason=_reasons()),
    )


@st.composite
def _situations(draw: st.DrawFn) -> tuple[TokenState, Input]:
    state = draw(states())
    token = current_token(state)
    if token is not None and draw(st.booleans()):
        return state, draw(inputs_about(token))
    return state, draw(inputs())


@_cached
def situations() -> st.SearchStrategy[tuple[TokenState, Input]]:
    """A state and an input for it: any input, or (half the time, when a token is
    held) an input about the held token, so "same token again" paths are reached."""
    return _situations()
