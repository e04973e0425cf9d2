"""Hypothesis strategies for ccg's values: both clocks, tokens (valid and hostile), token
responses (valid and hostile), transport failures, states, policies and inputs.
Needs `hypothesis` (`pip install 'ccg[testing]'`).

Every strategy is a function returning a typed `SearchStrategy` (e.g.
`st.SearchStrategy[OAuthToken]`). The argument-free ones are cached: Hypothesis
validates a strategy on first use, and rebuilding one per draw costs more than
the draw. Together they cover the whole `policy x state x input x now` space of
`ccg.core.step` (`step_cases()` draws all four at once), which is how ccg's own
property tests use them.

Time. The core reads two clocks, handed in as a `Now`: the monotonic clock (every
local deadline) and the wall clock (only for stamping `OAuthToken.expiry`).
`times()` are wall-clock instants, concentrated around `EPOCH`; `monotonic_times()`
are concentrated around `UPTIME`. Whole seconds are favoured, so that expiries, skew
windows, deadlines and `now` coincide often enough to exercise the boundary instants.
`now_schedules()` moves the two clocks independently: the monotonic clock only
forward, the wall clock with it plus jumps either way by seconds to days (NTP, a
suspended laptop, an administrator). `extreme_times()` are for totality: any finite
float, the largest ones and the infinities (never NaN).

Flights. States hold at most one flight, numbered like the machine numbers them;
`flight_ids(state)` draws the ids an outcome may carry relative to a state: the
current flight, a stale one (given up or superseded), or one never started.

Hostile values are in: tokens with wrong-typed fields (built without validation),
NaN, infinite and beyond-float expiries, access tokens that cannot travel in a
header (empty, CR-LF, folded, spaces, non-ASCII, trailing newline) and objects that
are not tokens at all; replies with invalid UTF-8, byte-order marks, duplicate keys,
JSON nested 1,000 and 10,000 levels deep (msgspec raises RecursionError on those at
the interpreter's default recursion limit),
non-ASCII and very long digit strings in `expires_in`, and bodies over the size limit.
"""

from __future__ import annotations

import math
import string
import sys
from collections.abc import Callable
from functools import cache
from typing import Final, TypeVar

import msgspec
from hypothesis import strategies as st

from ccg.core import BEARER as _BEARER
from ccg.core import MAX_LIFETIME as _MAX_LIFETIME
from ccg.core import TOKEN_REQUEST_LIMITS as _TOKEN_REQUEST_LIMITS
from ccg.core import (
    Abandoned,
    CallTimedOut,
    CallTokenProvider,
    ClientAuthentication,
    ClientSecretAuto,
    ClientSecretBasic,
    ClientSecretPost,
    Effect,
    ErrorResponse,
    FailureRecord,
    FetchToken,
    Flight,
    FlightAbandoned,
    FlightTimedOut,
    Held,
    HttpReply,
    Input,
    InvalidToken,
    Limits,
    MalformedResponse,
    NotifyTokenUpdate,
    NoUsableToken,
    Now,
    OAuthProviderError,
    OAuthToken,
    Policy,
    ProviderRaised,
    ProviderReturnedExpired,
    ProviderReturnedNone,
    RejectedByApi,
    ResiliencePolicy,
    TokenAccepted,
    TokenExpiredOnArrival,
    TokenFailure,
    TokenNeeded,
    TokenOrigin,
    TokenProvided,
    TokenProviderRaised,
    TokenRejected,
    TokenReplyReceived,
    TokenRequestFailed,
    TokenRequestSpec,
    TokenSet,
    TokenSource,
    TokenState,
    TokenUpdateNotified,
    TokenUpdateRaised,
    TransportFailure,
    TransportFailureKind,
    UpdateCallbackRaised,
    current_token,
    reusable_until,
)

__all__ = [
    "DAY",
    "EPOCH",
    "MAX_TIME",
    "MIN_TIME",
    "UPTIME",
    "access_tokens",
    "answers",
    "client_authentications",
    "clock_schedules",
    "clock_skews",
    "deep_json_bodies",
    "error_replies",
    "expires_in_values",
    "extreme_nows",
    "extreme_times",
    "flight_ids",
    "held_tokens",
    "hostile_replies",
    "hostile_tokens",
    "http_replies",
    "inputs",
    "inputs_about",
    "inputs_for",
    "lifetimes",
    "malformed_tokens",
    "monotonic_times",
    "now_schedules",
    "nows",
    "outcome_inputs",
    "outcomes",
    "policies",
    "reply_with",
    "request_limits",
    "request_specs",
    "resilience_policies",
    "situations",
    "states",
    "step_cases",
    "time_advances",
    "times",
    "token_failures",
    "token_replies",
    "tokens",
    "transport_failures",
    "unsafe_access_tokens",
    "wall_jumps",
]

EPOCH: Final = 1_700_000_000.0
"""The centre of generated wall-clock times: 2023-11-14T22:13:20Z."""
MIN_TIME: Final = 946_684_800.0
"""2000-01-01T00:00:00Z, the earliest generated wall-clock time (`extreme_times` aside)."""
MAX_TIME: Final = 4_102_444_800.0
"""2100-01-01T00:00:00Z, the latest generated wall-clock time (`extreme_times` aside)."""
DAY: Final = 86_400
"""Seconds in a day."""
UPTIME: Final = 100_000.0
"""The centre of generated monotonic times: a machine up for a little over a day."""

_WINDOW: Final = 4_000
"""Half-width, in seconds, of the window around a centre where most times fall (> 1 h + 600 s)."""
_MAX_WIRE_LIFETIME: Final = _MAX_LIFETIME
"""The largest `expires_in` the wire decoder accepts (ten years)."""
_JSON_HEADERS: Final = (("Content-Type", "application/json"),)
_TOKEN68: Final = string.ascii_letters + string.digits + "-._~+/="
"""RFC 6750 `b64token` characters: what real access tokens are made of."""
_BOM: Final = b"\xef\xbb\xbf"


_T = TypeVar("_T")


def _cached(strategy: Callable[[], st.SearchStrategy[_T]]) -> Callable[[], st.SearchStrategy[_T]]:
    """`functools.cache` for an argument-free strategy function, keeping its `() -> ...` type
    (`cache` alone would let a caller pass any arguments, and fail only at run time)."""
    return cache(strategy)


# -- time ------------------------------------------------------------------------------


def _around(centre: float) -> st.SearchStrategy[float]:
    return st.one_of(
        st.integers(-_WINDOW, _WINDOW).map(lambda s: centre + s),
        st.floats(-_WINDOW, _WINDOW, allow_nan=False).map(lambda s: centre + s),
    )


@_cached
def times() -> st.SearchStrategy[float]:
    """Wall-clock UTC epoch seconds: mostly within about an hour of `EPOCH`, sometimes
    anywhere in 2000-2100. Whole seconds are favoured, so `now` lands on expiry boundaries."""
    return st.one_of(
        _around(EPOCH),
        st.floats(MIN_TIME, MAX_TIME, allow_nan=False, allow_infinity=False),
    )


@_cached
def monotonic_times() -> st.SearchStrategy[float]:
    """Monotonic-clock seconds (`time.monotonic()`): mostly within about an hour of
    `UPTIME`, sometimes anywhere from boot to ten years of uptime."""
    return st.one_of(
        _around(UPTIME),
        st.floats(0, 10 * 365 * DAY, allow_nan=False, allow_infinity=False),
    )


@_cached
def extreme_times() -> st.SearchStrategy[float]:
    """Any instant a buggy or hostile clock could report, NaN excepted: zero and the
    negative zero, the smallest and largest floats of either sign, the infinities, and
    any finite float. For totality: `step` must return, whatever they are."""
    return st.one_of(
        st.sampled_from(
            [
                0.0,
                -0.0,
                5e-324,
                -5e-324,
                1e15 + 0.5,
                -1e15,
                1e300,
                -1e300,
                sys.float_info.max,
                -sys.float_info.max,
                math.inf,
                -math.inf,
            ]
        ),
        st.floats(allow_nan=False),
    )


@_cached
def _entropies() -> st.SearchStrategy[float]:
    return st.one_of(st.just(0.0), st.floats(0, 1, exclude_max=True))


@_cached
def nows() -> st.SearchStrategy[Now]:
    """A `Now`: a monotonic instant, an unrelated wall-clock instant, and a draw in [0, 1).

    The two clocks are drawn independently: nothing in the core may assume they agree."""
    return st.builds(Now, monotonic=monotonic_times(), wall=times(), entropy=_entropies())


@_cached
def extreme_nows() -> st.SearchStrategy[Now]:
    """A `Now` whose clocks are `extreme_times()` (infinities included), or one extreme
    clock beside a realistic one."""
    return st.one_of(
        st.builds(Now, monotonic=extreme_times(), wall=extreme_times(), entropy=_entropies()),
        st.builds(Now, monotonic=extreme_times(), wall=times(), entropy=_entropies()),
        st.builds(Now, monotonic=monotonic_times(), wall=extreme_times(), entropy=_entropies()),
    )


@_cached
def _forward() -> st.SearchStrategy[float]:
    return st.one_of(
        st.just(0.0),
        st.integers(0, 120).map(float),
        st.floats(0, 4_000, allow_nan=False),
        st.integers(0, 30 * DAY).map(float),
    )


@_cached
def time_advances() -> st.SearchStrategy[float]:
    """How far a clock moves between two steps: often 0, usually forward, rarely backwards
    (wall clocks are stepped by NTP), occasionally by days."""
    return st.one_of(_forward(), st.integers(-5, 0).map(float))


def clock_schedules(max_size: int = 20) -> st.SearchStrategy[list[float]]:
    """A schedule for a `FakeClock`: the successive `advance(seconds)` steps of one test,
    each from `time_advances` but never backwards (`FakeClock.advance` refuses that)."""
    return st.lists(_forward(), max_size=max_size)


@_cached
def wall_jumps() -> st.SearchStrategy[float]:
    """How far the wall clock jumps on its own between two steps, either way: none, a
    second, an hour, a leap of days (a `FakeClock.jump`)."""
    return st.one_of(
        st.just(0.0),
        st.sampled_from([-1.0, 1.0, -3_600.0, 3_600.0, -float(DAY), float(DAY)]),
        st.integers(-120, 120).map(float),
        st.floats(-30 * DAY, 30 * DAY, allow_nan=False),
    )


@st.composite
def _now_schedule(draw: st.DrawFn, max_size: int, min_size: int) -> list[Now]:
    now = draw(nows())
    schedule = [now]
    moves = draw(
        st.lists(
            st.tuples(_forward(), wall_jumps(), _entropies()), min_size=min_size, max_size=max_size
        )
    )
    for advance, jump, entropy in moves:
        now = Now(
            monotonic=now.monotonic + advance, wall=now.wall + advance + jump, entropy=entropy
        )
        schedule.append(now)
    return schedule


def now_schedules(max_size: int = 20, *, min_size: int = 0) -> st.SearchStrategy[list[Now]]:
    """Successive `Now`s of one test: a first one, then `min_size` to `max_size` moves. The
    monotonic clock never goes back; the wall clock moves with it, plus `wall_jumps` either
    way (so it may read the same, earlier, or days later)."""
    return _now_schedule(max_size, min_size)


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
def access_tokens() -> st.SearchStrategy[str]:
    """An access token: a few fixed values (so equal tokens happen) or random `b64token` text."""
    return st.one_of(
        st.sampled_from(["t1", "t2", "t3"]),
        st.text(_TOKEN68, min_size=1, max_size=24),
    )


def _spliced(before: str, char: str, after: str) -> str:
    return before + char + after


@_cached
def unsafe_access_tokens() -> st.SearchStrategy[str]:
    """Access tokens that cannot travel in an `Authorization` header: empty, CR-LF (header
    injection), folded, with spaces or tabs, non-ASCII, a trailing newline, control characters."""
    unsafe_char = st.one_of(st.characters(max_codepoint=0x20), st.characters(min_codepoint=0x7F))
    safe = st.text(_TOKEN68, max_size=10)
    return st.one_of(
        st.sampled_from(
            [
                "",
                " ",
                "a b",
                " t",
                "t ",
                "t\n",
                "t\r\n",
                "a\r\nX-Injected: 1",
                "a\r\n b",
                "a\r\n\tb",
                "\tt",
                "t\x00",
                "t\x7f",
                "tök€n",
                "t\u2028",
                "\uff54",
            ]
        ),
        st.builds(_spliced, safe, unsafe_char, safe),
    )


@_cached
def _huge_lifetimes() -> st.SearchStrategy[int]:
    # Only a hand-built OAuthToken can carry these (the wire decoder refuses them);
    # they are valid, and clamped to ten years.
    return st.one_of(
        st.sampled_from([_MAX_WIRE_LIFETIME + 1, 2**63, 10**400]),
        st.integers(_MAX_WIRE_LIFETIME + 1, 2**64),
    )


@_cached
def _token_fields() -> st.SearchStrategy[OAuthToken]:
    return st.builds(
        OAuthToken,
        access_token=access_tokens(),
        token_type=st.sampled_from(["Bearer", "bearer", "BEARER", "DPoP"]),
        expires_in=st.none() | lifetimes() | _huge_lifetimes(),
        scope=st.none() | st.sampled_from(["read", "read write", ""]),
        refresh_token=st.none() | st.just("r1"),
        refresh_in=st.none() | st.none() | st.integers(0, 7200),
    )


def _with_expiry(token: OAuthToken, expiry: float) -> OAuthToken:
    return msgspec.structs.replace(token, expiry=expiry)


def _stamped(token: OAuthToken, at: float) -> OAuthToken:
    lifetime = 0 if token.expires_in is None else min(token.expires_in, _MAX_WIRE_LIFETIME)
    return msgspec.structs.replace(token, expiry=at + lifetime)


@_cached
def tokens() -> st.SearchStrategy[OAuthToken]:
    """A well-formed `OAuthToken` (one `token_problem` accepts), in each shape the machine meets:

    - unstamped, as decoded from the wire or built by a provider (`expiry` None,
      with or without `expires_in`): never expires, or is stamped on adoption;
    - stamped at some time (`expiry == issued_at + expires_in`);
    - with an `expiry` unrelated to `expires_in`, or with only an `expiry`
      (a token saved with `to_dictionary` and restored, or set by hand), as a float
      or as an int.
    """
    base = _token_fields()
    return st.one_of(
        base,
        st.builds(_stamped, base, times()),
        st.builds(_with_expiry, base, times()),
        st.builds(_with_expiry, base, st.integers(int(MIN_TIME), int(MAX_TIME))),
    )


def _forced(**changes: object) -> OAuthToken:
    # msgspec does not check field types on construction or replace: an untyped caller can
    # put anything in a token, and so can we.
    return msgspec.structs.replace(OAuthToken(access_token="t1", expires_in=3600), **changes)


@_cached
def malformed_tokens() -> st.SearchStrategy[OAuthToken]:
    """`OAuthToken` instances `token_problem` must refuse: an `access_token` that is not
    header-safe or not a str, fields of the wrong type (bools included, built without
    validation), a negative `expires_in`, an `expiry` that is NaN, infinite, beyond the
    range of a float, or not a number."""
    junk = st.sampled_from([b"bytes", ["t"], {"k": "v"}, ("t",), object()])
    not_text = st.one_of(st.booleans(), st.integers(), st.floats(), junk)
    return st.one_of(
        st.builds(_with_access_token, unsafe_access_tokens()),
        st.builds(_with_access_token, st.none() | not_text),
        st.builds(_with_token_type, st.none() | not_text),
        st.builds(_with_scope, not_text),
        st.builds(_with_refresh_token, not_text),
        st.builds(
            _with_expires_in,
            st.one_of(
                st.integers(max_value=-1),
                st.just(-(10**400)),
                st.booleans(),
                st.floats(allow_nan=True),
                st.sampled_from(["3600", b"3600"]),
                junk,
            ),
        ),
        st.builds(
            _with_bad_expiry,
            st.one_of(
                st.sampled_from([math.nan, math.inf, -math.inf]),
                st.integers(2**1024, 10**400),
                st.integers(-(10**400), -(2**1024)),
                st.booleans(),
                st.sampled_from(["1700000000", b"1"]),
                junk,
            ),
        ),
    )


def _with_access_token(value: object) -> OAuthToken:
    return _forced(access_token=value)


def _with_token_type(value: object) -> OAuthToken:
    return _forced(token_type=value)


def _with_scope(value: object) -> OAuthToken:
    return _forced(scope=value)


def _with_refresh_token(value: object) -> OAuthToken:
    return _forced(refresh_token=value)


def _with_expires_in(value: object) -> OAuthToken:
    return _forced(expires_in=value)


def _with_bad_expiry(value: object) -> OAuthToken:
    return _forced(expiry=value)


class _LookAlike(msgspec.Struct, frozen=True, kw_only=True):
    """Every field of an `OAuthToken`, but not one."""

    access_token: str = "t1"
    token_type: str = "Bearer"
    expires_in: int | None = 3600


@_cached
def hostile_tokens() -> st.SearchStrategy[object]:
    """What an untyped provider or caller may hand over instead of a token, None excepted
    (None means "no token" wherever a token is taken): `malformed_tokens()`, and objects
    that are not `OAuthToken`s at all (a token's dictionary, its string, numbers, a
    look-alike struct). `token_problem` refuses every one of them."""
    return st.one_of(
        malformed_tokens(),
        st.sampled_from(
            [
                {"access_token": "t1", "token_type": "Bearer", "expires_in": 3600},
                "t1",
                b"t1",
                0,
                1,
                True,
                3600.0,
                math.nan,
                [],
                (),
                _LookAlike(),
                OAuthToken,
            ]
        ),
        st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
        st.integers(),
    )


@st.composite
def _held(draw: st.DrawFn) -> Held:
    token = draw(tokens())
    expires_at = draw(st.one_of(monotonic_times(), st.just(math.inf)))
    if expires_at == math.inf:
        return Held(token=token, expires_at=math.inf, fresh_until=math.inf, refresh_at=math.inf)
    fresh_until = expires_at - draw(st.sampled_from([0.0, 30.0, 60.0]) | st.floats(0, 600))
    refresh_at = fresh_until - draw(st.sampled_from([0.0, 0.0, 900.0]) | st.floats(0, 3600))
    return Held(token=token, expires_at=expires_at, fresh_until=fresh_until, refresh_at=refresh_at)


@_cached
def held_tokens() -> st.SearchStrategy[Held]:
    """A `Held` token: a well-formed token and the monotonic instants its condition turns
    on (`refresh_at <= fresh_until <= expires_at`, often never, often without a refresh
    window), unrelated to its wall-clock `expiry` as they are after the wall clock jumps."""
    return _held()


# -- failures --------------------------------------------------------------------------


@_cached
def _reasons() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(["ConnectTimeoutError: timed out", "RuntimeError: boom", ""]),
        st.text(max_size=20),
    )


@_cached
def _headers() -> st.SearchStrategy[tuple[tuple[str, str], ...]]:
    return st.one_of(
        st.just(()),
        st.just(_JSON_HEADERS),
        st.lists(
            st.tuples(
                st.sampled_from(
                    ["Content-Type", "Retry-After", "WWW-Authenticate", "cache-control", "X-Id"]
                ),
                st.text(max_size=12),
            ),
            max_size=3,
        ).map(tuple),
    )


@_cached
def transport_failures() -> st.SearchStrategy[TransportFailure]:
    """A `TransportFailure` of any kind, with a typical or arbitrary reason."""
    return st.builds(
        TransportFailure, kind=st.sampled_from(list(TransportFailureKind)), reason=_reasons()
    )


@_cached
def token_failures() -> st.SearchStrategy[TokenFailure]:
    """Any member of the `TokenFailure` union, with any payload."""
    return st.one_of(
        st.builds(
            ErrorResponse,
            status=st.integers(100, 599),
            error=st.sampled_from([*OAuthProviderError, "slow_down"]),
            error_description=st.none() | st.text(max_size=10),
            headers=_headers(),
        ),
        st.builds(
            MalformedResponse, status=st.integers(100, 599), reason=_reasons(), headers=_headers()
        ),
        transport_failures(),
        st.builds(TokenExpiredOnArrival, expires_in=st.none() | lifetimes()),
        st.builds(ProviderRaised, reason=_reasons()),
        st.just(ProviderReturnedNone()),
        st.builds(ProviderReturnedExpired, expiry=st.none() | times()),
        st.builds(InvalidToken, origin=st.sampled_from(list(TokenOrigin)), reason=_reasons()),
        st.builds(UpdateCallbackRaised, reason=_reasons()),
        st.builds(FlightTimedOut, seconds=st.floats(0, 600)),
        st.builds(Abandoned, reason=_reasons()),
        st.builds(NoUsableToken, attempts=st.integers(1, 5)),
        st.builds(CallTimedOut, seconds=st.floats(0, 600)),
        st.builds(RejectedByApi, reason=_reasons()),
    )


# -- states and policies ---------------------------------------------------------------


@st.composite
def _states(draw: st.DrawFn) -> TokenState:
    started_flights = draw(st.one_of(st.integers(0, 4), st.integers(0, 2**64)))
    held = draw(st.none() | held_tokens())
    flight = None
    if started_flights > 0 and draw(st.booleans()):
        started = draw(monotonic_times())
        patience = draw(st.one_of(st.sampled_from([32.0, 0.0, 1.0]), st.floats(0, 600)))
        flight = Flight(
            id=started_flights,
            source=draw(st.sampled_from(list(TokenSource))),
            started=started,
            deadline=started + patience,
        )
    last_finished = started_flights - (flight is not None)
    failure = None
    if draw(st.booleans()):
        at = draw(monotonic_times())
        failure = FailureRecord(
            flight=last_finished if last_finished > 0 and draw(st.booleans()) else None,
            failure=draw(token_failures()),
            at=at,
            retry_at=at + draw(st.sampled_from([0.0, 0.5, 30.0]) | st.floats(0, 600)),
        )
    return TokenState(
        held=held,
        flight=flight,
        failure=failure,
        flights=started_flights,
        streak=draw(st.sampled_from([0, 0, 1, 4, 5]) | st.integers(0, 100)),
        rejected_at=draw(st.just(-math.inf) | monotonic_times()),
        # Form numbers past a policy's last form too: a state may meet another policy.
        auth=draw(st.sampled_from([0, 0, 1, 2, 5])),
        auth_settled=draw(st.booleans()),
    )


@_cached
def states() -> st.SearchStrategy[TokenState]:
    """A `TokenState` the machine can be in: with or without a held token (fresh, expired
    or never expiring at a given `now`), a flight in progress (numbered `flights`, in
    time or overdue), the last failure (from the last finished flight, or a rejection)
    and when the next flight may start, transient failures in a row (the breaker closed
    or open), and when a token was last rejected; few flights or very many."""
    return _states()


def flight_ids(state: TokenState) -> st.SearchStrategy[int]:
    """A flight id an outcome may carry in `state`: the current flight's (when there is
    one, most often), a stale one (a flight given up, superseded or long settled), one
    never started, or nonsense (zero, negative)."""
    choices: list[st.SearchStrategy[int]] = []
    if state.flight is not None:
        choices += [st.just(state.flight.id)] * 2
    last_finished = state.flights - (state.flight is not None)
    if last_finished > 0:
        choices.append(st.integers(max(1, last_finished - 2), last_finished))
    choices += [st.integers(state.flights + 1, state.flights + 3), st.integers(-2, 0)]
    return st.one_of(*choices)


@_cached
def client_authentications() -> st.SearchStrategy[ClientAuthentication]:
    """Adaptive (with or without the post fallback), `client_secret_basic` (form-encoded
    or raw) or `client_secret_post`."""
    return st.sampled_from(
        [
            ClientSecretAuto(),
            ClientSecretAuto(allow_post=True),
            ClientSecretBasic(),
            ClientSecretBasic(form_encode=False),
            ClientSecretPost(),
        ]
    )


_SPECS: Final = (
    TokenRequestSpec(token_url="https://as.example/token", client_id="id", client_secret="s"),
    TokenRequestSpec(
        token_url="https://login.example.com/oauth2/v1/token?x=1",
        client_id="https://app.example/client",
        client_secret="a&b c+d%e/f=g\u20ac",
        scopes=("read", "write"),
        extra_params=(("audience", "api"),),
        authentication=ClientSecretPost(),
    ),
    TokenRequestSpec(
        token_url="https://as.example/token",
        client_id="svc",
        client_secret="p%q+r s",
        authentication=ClientSecretAuto(allow_post=True),
    ),
)


@_cached
def request_specs() -> st.SearchStrategy[TokenRequestSpec]:
    """A `TokenRequestSpec`: any id and secret text, optional scopes and extra parameters
    (or, as often, one of two fixed specs: a plain one, and one full of characters that
    need encoding)."""
    names = st.text(min_size=1, max_size=12)
    return st.one_of(
        st.sampled_from(_SPECS),
        st.builds(
            TokenRequestSpec,
            token_url=st.sampled_from([spec.token_url for spec in _SPECS]),
            client_id=names,
            client_secret=names,
            scopes=st.lists(st.sampled_from(["read", "write", "api:admin"]), max_size=3).map(tuple),
            extra_params=st.lists(
                st.tuples(st.sampled_from(["audience", "resource"]), names), max_size=3
            ).map(tuple),
            authentication=client_authentications(),
        ),
    )


@_cached
def request_limits() -> st.SearchStrategy[Limits]:
    """Token request `Limits`: the defaults, or any timeouts and a body limit from tiny
    (most replies are over it) to none."""
    seconds = st.floats(0.001, 300, allow_nan=False)
    return st.one_of(
        st.just(_TOKEN_REQUEST_LIMITS),
        st.builds(
            Limits,
            connect_timeout=seconds,
            read_timeout=seconds,
            total_timeout=st.one_of(st.sampled_from([0.0, 1.0, 30.0]), seconds),
            max_body_bytes=st.one_of(st.none(), st.integers(0, 256), st.just(1 << 20)),
        ),
    )


@_cached
def resilience_policies() -> st.SearchStrategy[ResiliencePolicy]:
    """A `ResiliencePolicy`: the defaults, or any sensible setting of each field (soft
    refresh off or wide, one attempt or many, a breaker that opens at once)."""
    seconds = st.floats(0.001, 600, allow_nan=False)
    return st.one_of(
        st.just(ResiliencePolicy()),
        st.builds(
            ResiliencePolicy,
            refresh_ratio=st.sampled_from([0.0, 0.25, 0.5]) | st.floats(0, 0.99),
            default_lifetime=st.none() | st.sampled_from([1.0, 3600.0]) | seconds,
            max_attempts=st.integers(1, 5),
            call_timeout=st.sampled_from([60.0, 1.0]) | seconds,
            backoff_base=st.sampled_from([0.5, 0.001]) | seconds,
            backoff_cap=st.sampled_from([30.0, 600.0]) | seconds,
            retry_after_cap=st.sampled_from([0.0, 300.0]) | seconds,
            cool_down=st.sampled_from([0.0, 30.0]) | seconds,
            breaker_threshold=st.integers(1, 6),
            breaker_open_for=st.sampled_from([0.0, 30.0]) | seconds,
        ),
    )


@_cached
def policies() -> st.SearchStrategy[Policy]:
    """A `Policy`: token endpoint or provider, with or without an update callback, any
    skew, auth method, limits, accepted token types and resilience settings."""
    return st.builds(
        Policy,
        request=request_specs(),
        clock_skew=clock_skews(),
        source=st.sampled_from(list(TokenSource)),
        notify_updates=st.booleans(),
        limits=request_limits(),
        token_types=st.sampled_from([_BEARER, ("bearer", "dpop"), ("dpop",), ()]),
        resilience=resilience_policies(),
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
        st.sampled_from([" 3600 ", "3600.0", "-5", "", "1e3", "abc", "0x10", "+60", "\u00b2"]),
        st.sampled_from([True, False, None]),
        st.text(string.printable, max_size=8),
        st.text(max_size=8),
        st.text(string.digits, min_size=21, max_size=5_000),
    )


def _raw_reply(status: int, body: bytes, headers: tuple[tuple[str, str], ...]) -> HttpReply:
    return HttpReply(status=status, headers=headers, body=body)


def _json_reply(status: int, body: object) -> HttpReply:
    return HttpReply(status=status, headers=_JSON_HEADERS, body=msgspec.json.encode(body))


@st.composite
def _token_body(draw: st.DrawFn) -> dict[str, object]:
    body: dict[str, object] = {
        "access_token": draw(access_tokens() | st.text(min_size=1, max_size=30))
    }
    token_type = draw(st.sampled_from(["Bearer", "bearer", "BEARER", "DPoP", None]))
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
    """A 2xx reply with an RFC 6749 §5.1 token body, `expires_in` as any `expires_in_values`,
    `access_token` any text (header-unsafe ones included)."""
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


def _nested(depth: int, shape: str) -> bytes:
    match shape:
        case "array":
            return b"[" * depth + b"]" * depth
        case "object":
            return b'{"a":' * depth + b"1" + b"}" * depth
        case "in a token":
            return b'{"access_token":"t1","x":' + b"[" * depth + b"]" * depth + b"}"
        case "in an error":
            return b'{"error":"invalid_client","x":' + b'{"a":' * depth + b"1" + b"}" * depth + b"}"
        case _:  # unterminated
            return b'{"access_token":' + b"[" * depth


@_cached
def deep_json_bodies() -> st.SearchStrategy[bytes]:
    """JSON nested 1,000 or 10,000 levels deep (or anywhere up to 20,000): bare arrays,
    objects, inside a token or an error body, or unterminated. At the interpreter's default
    recursion limit msgspec raises RecursionError on the nested objects (a test runner may
    raise the limit, and 1,000 levels inside an unknown member of a token are then just a
    token); the core must answer a `MalformedResponse`, never raise."""
    depth = st.one_of(st.sampled_from([1_000, 10_000]), st.integers(1_000, 20_000))
    shape = st.sampled_from(["array", "object", "in a token", "in an error", "unterminated"])
    return st.builds(_nested, depth, shape)


def _bom(body: bytes) -> bytes:
    return _BOM + body


@_cached
def hostile_replies() -> st.SearchStrategy[HttpReply]:
    """Replies built to break a decoder: random bytes, JSON that is not an object, HTML
    pages, empty bodies, objects with missing or mistyped members, invalid UTF-8 (inside
    and outside strings, overlong and surrogate encodings), byte-order marks, duplicate
    keys, lone surrogate escapes, deeply nested JSON. Any status from 100 to 599 and any
    headers. Almost all are neither a token nor an error; a few are valid despite their
    looks (with duplicate keys the last one wins). (A body over 1 MiB is tested by
    example, not here; a `request_limits()` limit of a few bytes makes most of these too
    large.)"""
    status = st.integers(100, 599)
    raw = st.one_of(
        st.binary(max_size=200),
        st.sampled_from([*_HTML_PAGES, b"", b" ", b"null", b"{", b"{}", b"[]", b"\xff\xfe"]),
        # Invalid UTF-8 inside a JSON string.
        st.binary(max_size=8).map(lambda b: b'{"access_token":"t' + b + b'"}'),
        st.binary(max_size=8).map(
            lambda b: b'{"error":"invalid_client","error_description":"' + b + b'"}'
        ),
        st.sampled_from(
            [
                b'{"access_token":"t\xc0\xaf"}',  # overlong '/'
                b'{"access_token":"t\xed\xa0\x80"}',  # an encoded surrogate
                b'{"access_token":"\\ud800"}',  # a lone surrogate escape
                b'{"access_token":"t\\u0000"}',
                b'\xff{"access_token":"t"}',
                b'{"access_token":"t"} trailing',
                b'{"access_token":"t","expires_in":1e400}',
                b'{"access_token":"t","expires_in":-0}',
                b'{"access_token":"t","expires_in":NaN}',
            ]
        ),
        # Byte-order marks before an otherwise good token or error.
        st.sampled_from(
            [b'{"access_token":"t1","expires_in":60}', b'{"error":"invalid_client"}']
        ).map(_bom),
        # Duplicate keys: the last one wins, whatever the first was.
        st.sampled_from(
            [
                b'{"access_token":"t1","access_token":"t2"}',
                b'{"access_token":"t1","access_token":""}',
                b'{"access_token":"t1","access_token":42}',
                b'{"access_token":"t1","expires_in":60,"expires_in":"soon"}',
                b'{"access_token":"t1","token_type":"Bearer","token_type":"mac"}',
                b'{"error":"invalid_client","error":"invalid_grant"}',
                b'{"error":"invalid_client","error":null}',
            ]
        ),
        deep_json_bodies(),
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
            {"access_token": "t a"},
            {"access_token": "t\r\nX: 1"},
            {"access_token": "t", "token_type": "mac"},
            {"access_token": "t", "token_type": None},
            {"access_token": "t", "scope": ["read", "write"]},
            {"access_token": "t", "expires_in": [3600]},
            {"error": 400},
            {"error": None, "error_description": "x"},
        ]
    )
    return st.one_of(
        st.builds(_raw_reply, status, raw, _headers()),
        st.builds(_json_reply, status, json_values),
        st.builds(_json_reply, status, not_a_token),
    )


@_cached
def http_replies() -> st.SearchStrategy[HttpReply]:
    """Anything a token endpoint might send back: tokens, errors and hostile replies."""
    return st.one_of(token_replies(), error_replies(), hostile_replies())


# -- inputs ------------------------------------------------------------------------------


def _token_reply_received(flight: int, reply: HttpReply) -> Input:
    return TokenReplyReceived(flight=flight, reply=reply)


def _token_request_failed(flight: int, failure: TransportFailure) -> Input:
    return TokenRequestFailed(flight=flight, failure=failure)


def _token_provided(flight: int, token: object) -> Input:
    return TokenProvided(flight=flight, token=token)


def _token_provider_raised(flight: int, reason: str) -> Input:
    return TokenProviderRaised(flight=flight, reason=reason)


def _flight_abandoned(flight: int, reason: str) -> Input:
    return FlightAbandoned(flight=flight, reason=reason)


@_cached
def _provided_objects() -> st.SearchStrategy[object]:
    return st.one_of(tokens(), st.none(), hostile_tokens())


def outcomes(flight: int) -> st.SearchStrategy[Input]:
    """Every kind of outcome of flight `flight`, with any payload: a reply (any, hostile
    included), a transport failure, what a provider returned (a token, None, or anything
    else), what it raised, or the flight abandoned."""
    number = st.just(flight)
    return st.one_of(
        st.builds(_token_reply_received, number, http_replies()),
        st.builds(_token_request_failed, number, transport_failures()),
        st.builds(_token_provided, number, _provided_objects()),
        st.builds(_token_provider_raised, number, _reasons()),
        st.builds(_flight_abandoned, number, _reasons()),
    )


@_cached
def _small_flight_ids() -> st.SearchStrategy[int]:
    return st.one_of(st.integers(1, 4), st.integers(-1, 0), st.integers(5, 2**64))


@_cached
def outcome_inputs() -> st.SearchStrategy[Input]:
    """The inputs that end a flight, for any flight id: `TokenReplyReceived`,
    `TokenRequestFailed`, `TokenProvided` (a token, None or junk), `TokenProviderRaised`
    and `FlightAbandoned`."""
    return _small_flight_ids().flatmap(outcomes)


def _token_set(token: object) -> Input:
    return TokenSet(token=token)


def _token_update_notified(token: OAuthToken) -> Input:
    return TokenUpdateNotified(token=token)


def _token_update_raised(token: OAuthToken, reason: str) -> Input:
    return TokenUpdateRaised(token=token, reason=reason)


def _token_needed(waited_for: int | None, attempts: int, since: float | None) -> Input:
    return TokenNeeded(waited_for=waited_for, attempts=attempts, since=since)


def _token_rejected(token: OAuthToken, reason: str) -> Input:
    return TokenRejected(token=token, reason=reason)


def _token_accepted(token: OAuthToken) -> Input:
    return TokenAccepted(token=token)


@_cached
def _attempts() -> st.SearchStrategy[int]:
    return st.sampled_from([0, 0, 1, 2, 3]) | st.integers(0, 10)


@_cached
def _since() -> st.SearchStrategy[float | None]:
    return st.none() | st.none() | monotonic_times()


@_cached
def inputs() -> st.SearchStrategy[Input]:
    """Any member of the `Input` union, with any payload and any flight id."""
    return st.one_of(
        st.builds(_token_needed, st.none() | _small_flight_ids(), _attempts(), _since()),
        outcome_inputs(),
        st.builds(_token_rejected, tokens(), _reasons()),
        st.builds(_token_accepted, tokens()),
        st.builds(_token_set, _provided_objects()),
        st.builds(_token_update_notified, tokens() | malformed_tokens()),
        st.builds(_token_update_raised, tokens(), _reasons()),
    )


def inputs_about(token: OAuthToken, flight: int | None = None) -> st.SearchStrategy[Input]:
    """Inputs that carry `token` itself: set again, provided again (by flight `flight`, or
    any), announced, or its callback raising. Random inputs almost never repeat a held
    token; these do."""
    number = st.just(flight) if flight is not None else _small_flight_ids()
    return st.one_of(
        st.just(TokenSet(token=token)),
        st.builds(_token_provided, number, st.just(token)),
        st.just(TokenUpdateNotified(token=token)),
        st.builds(_token_update_raised, st.just(token), _reasons()),
        st.builds(_token_rejected, st.just(token), _reasons()),
        st.just(TokenAccepted(token=token)),
    )


@st.composite
def _inputs_for(draw: st.DrawFn, state: TokenState) -> Input:
    held = current_token(state)
    kind = draw(st.sampled_from(["needed", "outcome", "about", "other"]))
    if kind == "needed":
        waited = draw(st.none() | flight_ids(state))
        if state.failure is not None and state.failure.flight is not None and draw(st.booleans()):
            waited = state.failure.flight  # the caller whose own flight failed
        return TokenNeeded(waited_for=waited, attempts=draw(_attempts()), since=draw(_since()))
    if kind == "outcome":
        return draw(outcomes(draw(flight_ids(state))))
    if kind == "about" and held is not None:
        return draw(inputs_about(held, draw(flight_ids(state))))
    return draw(inputs())


def inputs_for(state: TokenState) -> st.SearchStrategy[Input]:
    """An input for `state`: `TokenNeeded` asked afresh or after waiting for a current,
    stale or unknown flight; an outcome of such a flight; an input about the held token;
    or any input at all."""
    return _inputs_for(state)


@st.composite
def _situations(draw: st.DrawFn) -> tuple[TokenState, Input]:
    state = draw(states())
    return state, draw(inputs_for(state))


@_cached
def situations() -> st.SearchStrategy[tuple[TokenState, Input]]:
    """A state and an input for it (`inputs_for`): flight ids current, stale and
    unknown, and the held token again, are all reached."""
    return _situations()


@st.composite
def _step_cases(draw: st.DrawFn) -> tuple[Policy, TokenState, Input, Now]:
    policy = draw(policies())
    state, event = draw(situations())
    now = draw(nows())
    # Half the time, `now` is one of the state's own instants, or just either side of it.
    instants = [reusable_until(policy, state)]
    if state.held is not None:
        instants += [state.held.refresh_at, state.held.fresh_until, state.held.expires_at]
    if state.flight is not None:
        instants += [state.flight.deadline, state.flight.started]
    if state.failure is not None:
        instants += [state.failure.retry_at]
    if isinstance(event, TokenNeeded) and event.since is not None:
        instants += [event.since + policy.resilience.call_timeout]
    instants = [t for t in instants if math.isfinite(t)]
    on_boundary = draw(st.booleans())
    if instants and on_boundary:
        instant = draw(st.sampled_from(instants))
        nudge = draw(st.sampled_from(["at", "before", "after"]))
        if nudge == "before":
            instant = math.nextafter(instant, -math.inf)
        elif nudge == "after":
            instant = math.nextafter(instant, math.inf)
        now = msgspec.structs.replace(now, monotonic=instant)
    return policy, state, event, now


@_cached
def step_cases() -> st.SearchStrategy[tuple[Policy, TokenState, Input, Now]]:
    """The arguments of one `step(policy, state, input, now)`: any policy, a state and
    an input for it (`situations`), and a `now` that is, half the time, exactly on one of
    the state's boundaries (the held token's `reusable_until`, refresh window, skew and
    expiry, the flight's start or deadline, the end of a backoff or cool-down, the
    call's deadline) or the float just before or after it."""
    return _step_cases()


def answers(effect: Effect) -> st.SearchStrategy[Input]:
    """The inputs a well-behaved shell may answer `effect` with (nothing for `ReleaseWaiters`).

    `FetchToken(n)` -> a reply for n (mostly a token), a transport failure, or the flight
    abandoned; `CallTokenProvider(n)` -> a token (the last one, too), None, junk, a raise,
    or the flight abandoned; `NotifyTokenUpdate(t)` -> notified or raised, about `t`.
    """
    match effect:
        case FetchToken(flight=flight):
            number = st.just(flight)
            return st.one_of(
                st.builds(_token_reply_received, number, token_replies()),
                st.builds(_token_reply_received, number, http_replies()),
                st.builds(_token_request_failed, number, transport_failures()),
                st.builds(_flight_abandoned, number, _reasons()),
            )
        case CallTokenProvider(flight=flight, last=last):
            number = st.just(flight)
            # Providers often hand back the last token (cached elsewhere, still valid).
            return st.one_of(
                st.builds(_token_provided, number, tokens()),
                st.builds(_token_provided, number, st.just(last)),
                st.builds(_token_provided, number, _provided_objects()),
                st.builds(_token_provider_raised, number, _reasons()),
                st.builds(_flight_abandoned, number, _reasons()),
            )
        case NotifyTokenUpdate(token=token):
            return st.one_of(
                st.just(TokenUpdateNotified(token=token)),
                st.builds(_token_update_raised, st.just(token), _reasons()),
            )
        case _:
            return st.nothing()
