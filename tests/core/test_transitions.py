"""The transition table of `ccg.core.step`: one row per transition `_machine.py` documents.

Each row is `(policy, state, input, now) -> Decision` and compares the whole
`Decision` (state, answer, work and events), as h11's `test_state.py` compares whole
states. Every expected value is written out by hand: the token request byte for byte,
flight deadlines, token instants and retry instants as arithmetic on the row's clocks,
failure reasons as the text a user reads. Nothing expected is computed with the code
under test.

The clocks of most rows: `now` is monotonic `M0` = 1000 s, wall `W0`, and a random
draw of 0.5 (`NOW`); the policy's skew is 60 s and its total timeout 30 s, so a flight
started at `now` has its deadline at M0 + 30 + 2 (the grace). Resilience settings are
the defaults: a quarter of a token's usable life is its refresh window; the first
retry waits up to 0.5 s, doubling per failure in a row up to 30 s, times the draw; the
breaker opens after 5 transient failures in a row, for 30 s; permanent failures cool
down for 30 s; a call may go through 3 flights in 60 s.
"""

from __future__ import annotations

import math
from typing import Final, NamedTuple

import msgspec
import pytest
from returns.result import Failure, Result, Success

from ccg.core import (
    Abandoned,
    AuthenticationFallback,
    AwaitFlight,
    AwaitRetry,
    BreakerOpened,
    CallTimedOut,
    CallTokenProvider,
    ClientSecretAuto,
    CoolDownStarted,
    Decision,
    ErrorResponse,
    Event,
    Fail,
    FailureRecord,
    FetchToken,
    Flight,
    FlightAbandoned,
    FlightSettled,
    FlightStarted,
    FlightSuperseded,
    FlightTimedOut,
    Held,
    HttpReply,
    HttpRequest,
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
    ReleaseWaiters,
    ResiliencePolicy,
    RetryScheduled,
    StaleOutcomeIgnored,
    StaleRejectionIgnored,
    TokenAccepted,
    TokenAdopted,
    TokenDropped,
    TokenExpiredOnArrival,
    TokenFailure,
    TokenInvalidated,
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
    UpdateCallbackFailed,
    UpdateCallbackRaised,
    UseToken,
    initial_state,
    step,
)

M0: Final = 1_000.0
"""The monotonic clock of most rows."""
W0: Final = 1_700_000_000.0
"""The wall clock of most rows: 2023-11-14T22:13:20Z."""
NOW: Final = Now(monotonic=M0, wall=W0, entropy=0.5)
NO_JITTER: Final = Now(monotonic=M0, wall=W0, entropy=0.0)
"""A draw of 0: every transient failure may be retried at once."""
JUST_BEFORE: Final = Now(monotonic=math.nextafter(M0, 0.0), wall=W0, entropy=0.5)
"""The last instant before M0."""

SPEC: Final = TokenRequestSpec(
    token_url="https://as.example/token",
    client_id="client",
    client_secret="s3cret",
    scopes=("read",),
)
ENDPOINT: Final = Policy(request=SPEC)
PROVIDER: Final = Policy(request=SPEC, source=TokenSource.PROVIDER)
NOTIFY: Final = Policy(request=SPEC, notify_updates=True)
PROVIDER_NOTIFY: Final = Policy(request=SPEC, source=TokenSource.PROVIDER, notify_updates=True)
DEFAULT_LIFETIME: Final = Policy(request=SPEC, resilience=ResiliencePolicy(default_lifetime=600.0))
"""A token that says nothing of its lifetime lasts 600 s."""
PROVIDER_DEFAULT_LIFETIME: Final = Policy(
    request=SPEC,
    source=TokenSource.PROVIDER,
    resilience=ResiliencePolicy(default_lifetime=600.0),
)
NO_BREAKER: Final = Policy(request=SPEC, resilience=ResiliencePolicy(breaker_threshold=100))

REQUEST: Final = HttpRequest(
    method="POST",
    url="https://as.example/token",
    headers=(
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Accept", "application/json"),
        ("Authorization", "Basic Y2xpZW50OnMzY3JldA=="),  # base64("client:s3cret")
    ),
    body=b"grant_type=client_credentials&scope=read",
    limits=Limits(
        connect_timeout=5.0, read_timeout=15.0, total_timeout=30.0, max_body_bytes=1_048_576
    ),
)

# -- tokens held ---------------------------------------------------------------------

FRESH: Final = OAuthToken(access_token="fresh", expires_in=3600, expiry=W0 + 1800)
HELD_FRESH: Final = Held(
    token=FRESH, expires_at=M0 + 1800, fresh_until=M0 + 1740, refresh_at=M0 + 855
)
"""Issued at M0 - 1800 for an hour: used until M0 + 1740 (the 60 s skew); its refresh
window, the last quarter of the 3540 s it is used for (885 s), opens at M0 + 855."""
EXPIRING: Final = OAuthToken(access_token="expiring", expires_in=3600, expiry=W0 + 600)
HELD_EXPIRING: Final = Held(
    token=EXPIRING, expires_at=M0 + 600, fresh_until=M0 + 540, refresh_at=M0 - 345
)
"""Issued at M0 - 3000: used until M0 + 540, its refresh window open since M0 - 345."""
DUE: Final = OAuthToken(access_token="due", expires_in=3600, expiry=W0 + 945)
HELD_DUE: Final = Held(token=DUE, expires_at=M0 + 945, fresh_until=M0 + 885, refresh_at=M0)
"""Issued at M0 - 2655: its refresh window opens exactly at M0 (885 s before M0 + 885)."""
STALE: Final = OAuthToken(access_token="stale", expires_in=3600, expiry=W0 + 30)
HELD_STALE: Final = Held(token=STALE, expires_at=M0 + 30, fresh_until=M0 - 30, refresh_at=M0 - 915)
"""Within the 60 s skew at M0: expired."""
EDGE: Final = OAuthToken(access_token="edge", expires_in=3600, expiry=W0 + 60)
HELD_EDGE: Final = Held(token=EDGE, expires_at=M0 + 60, fresh_until=M0, refresh_at=M0 - 885)
"""Expired from exactly M0 on (M0 + 60 - 60): the boundary instant counts as expired."""
SHORT: Final = OAuthToken(access_token="short", expires_in=30, expiry=W0 + 16)
HELD_SHORT: Final = Held(token=SHORT, expires_at=M0 + 16, fresh_until=M0 + 1, refresh_at=M0 - 2.75)
"""A 30 s token: the skew is capped at 15 s, so it is used until M0 + 1; its refresh window
(a quarter of its 15 s) opened at M0 - 2.75."""
RESTORED: Final = OAuthToken(access_token="restored", expiry=W0 + 100)
HELD_RESTORED: Final = Held(
    token=RESTORED, expires_at=M0 + 100, fresh_until=M0 + 40, refresh_at=M0 + 30
)
"""Only an `expiry`, taken at M0: the skew is not capped, so it is used until M0 + 40; the
refresh window is the last quarter of those 40 s."""
FOREVER: Final = OAuthToken(access_token="forever")
HELD_FOREVER: Final = Held(
    token=FOREVER, expires_at=math.inf, fresh_until=math.inf, refresh_at=math.inf
)

# -- flights --------------------------------------------------------------------------

IN_TIME: Final = Flight(id=2, source=TokenSource.ENDPOINT, started=M0 - 10, deadline=M0 + 22)
OVERDUE: Final = Flight(id=2, source=TokenSource.ENDPOINT, started=M0 - 40, deadline=M0 - 8)
SLOW: Final = Flight(id=2, source=TokenSource.ENDPOINT, started=M0 - 50, deadline=M0 - 18)
AT_DEADLINE: Final = Flight(id=2, source=TokenSource.ENDPOINT, started=M0 - 32, deadline=M0)
LIFETIME_AGO: Final = Flight(id=2, source=TokenSource.ENDPOINT, started=M0 - 60, deadline=M0 - 28)
PROVIDER_IN_TIME: Final = Flight(
    id=2, source=TokenSource.PROVIDER, started=M0 - 10, deadline=M0 + 22
)
STARTED_1: Final = Flight(id=1, source=TokenSource.ENDPOINT, started=M0, deadline=M0 + 32)
STARTED_2: Final = Flight(id=2, source=TokenSource.ENDPOINT, started=M0, deadline=M0 + 32)
STARTED_3: Final = Flight(id=3, source=TokenSource.ENDPOINT, started=M0, deadline=M0 + 32)
PROVIDER_STARTED_2: Final = Flight(id=2, source=TokenSource.PROVIDER, started=M0, deadline=M0 + 32)

# -- failures ---------------------------------------------------------------------------

REFUSED: Final = TransportFailure(
    kind=TransportFailureKind.CONNECT, reason="ConnectionRefusedError: refused"
)
READ_TIMEOUT: Final = TransportFailure(
    kind=TransportFailureKind.TIMEOUT, reason="ReadTimeoutError: Read timed out."
)
BAD_CERTIFICATE: Final = TransportFailure(
    kind=TransportFailureKind.TLS, reason="SSLCertVerificationError: certificate has expired"
)
JSON: Final = ("Content-Type", "application/json")
CHALLENGE: Final = ("WWW-Authenticate", 'Basic realm="as"')
INVALID_CLIENT: Final = ErrorResponse(
    status=401,
    error=OAuthProviderError.INVALID_CLIENT,
    error_description="bad secret",
    headers=(JSON, CHALLENGE),
)
TIMED_OUT_40: Final = FlightTimedOut(seconds=40.0)
TIMED_OUT_32: Final = FlightTimedOut(seconds=32.0)
BOOM: Final = ProviderRaised(reason="RuntimeError: boom")
REASON: Final = "HTTP 401 invalid_token: token revoked"
REJECTED: Final = RejectedByApi(reason=REASON)

OLD_FAILURE: Final = FailureRecord(flight=1, failure=REFUSED, at=M0 - 100, retry_at=M0 - 99.5)
"""Flight 1 was refused a while ago; its backoff is long over."""
BACKOFF: Final = FailureRecord(flight=1, failure=READ_TIMEOUT, at=M0 - 1, retry_at=M0 + 1.5)
"""Flight 1 timed out a second ago: no request before M0 + 1.5."""
BACKED_OFF: Final = FailureRecord(flight=1, failure=READ_TIMEOUT, at=M0 - 1, retry_at=M0 - 0.5)
AT_RETRY: Final = FailureRecord(flight=1, failure=READ_TIMEOUT, at=M0 - 1, retry_at=M0)
BREAKER: Final = FailureRecord(flight=1, failure=READ_TIMEOUT, at=M0 - 5, retry_at=M0 + 25)
"""The fifth timeout in a row opened the breaker 5 s ago, for 30 s."""
COOLING: Final = FailureRecord(flight=1, failure=INVALID_CLIENT, at=M0 - 10, retry_at=M0 + 20)
"""Flight 1 was refused `invalid_client` 10 s ago: 20 s of the cool-down left."""
COOLED: Final = FailureRecord(flight=1, failure=INVALID_CLIENT, at=M0 - 40, retry_at=M0 - 10)
PROVIDER_FAILED: Final = FailureRecord(flight=1, failure=BOOM, at=M0 - 1, retry_at=M0 - 1)
"""The provider raised a second ago: the application's own failure, nothing to wait for."""
REJECTED_TWICE: Final = FailureRecord(flight=None, failure=REJECTED, at=M0 - 10, retry_at=M0 + 20)
"""A second 401 in a row 10 s ago: 20 s of the cool-down left."""
REJECTED_COOLED: Final = FailureRecord(flight=None, failure=REJECTED, at=M0 - 40, retry_at=M0 - 10)


def no_flight(
    held: Held | None, failure: FailureRecord | None = OLD_FAILURE, *, streak: int = 1
) -> TokenState:
    """One flight (1) has run and is over; `streak` transient failures in a row."""
    return TokenState(held=held, failure=failure, flights=1, streak=streak)


def in_flight(
    held: Held | None,
    flight: Flight = IN_TIME,
    *,
    streak: int = 1,
    rejected_at: float = -math.inf,
) -> TokenState:
    """Flight 1 was refused; flight 2 is in progress."""
    return TokenState(
        held=held,
        flight=flight,
        failure=OLD_FAILURE,
        flights=2,
        streak=streak,
        rejected_at=rejected_at,
    )


def fetch(flight: int) -> FetchToken:
    return FetchToken(flight=flight, request=REQUEST)


# -- replies --------------------------------------------------------------------------

NEW_REPLY: Final = HttpReply(
    status=200,
    headers=(JSON, ("Cache-Control", "no-store")),
    body=b'{"access_token":"new","token_type":"Bearer","expires_in":3600}',
)
NEW: Final = OAuthToken(access_token="new", expires_in=3600, expiry=W0 + 3590)
"""`NEW_REPLY` to flight 2 (`IN_TIME`, sent at M0 - 10, when the wall read W0 - 10)."""
HELD_NEW: Final = Held(token=NEW, expires_at=M0 + 3590, fresh_until=M0 + 3530, refresh_at=M0 + 2645)
"""Used until M0 + 3530; the last quarter of its 3540 s opens at M0 + 2645."""
SHORT_REPLY: Final = HttpReply(
    status=200, headers=(JSON,), body=b'{"access_token":"new","expires_in":60}'
)
THIRTY_REPLY: Final = HttpReply(
    status=200, headers=(JSON,), body=b'{"access_token":"new","expires_in":30}'
)
ZERO_REPLY: Final = HttpReply(
    status=200, headers=(JSON,), body=b'{"access_token":"new","expires_in":0}'
)
NO_LIFETIME_REPLY: Final = HttpReply(status=200, headers=(JSON,), body=b'{"access_token":"new"}')


def refresh_in_reply(seconds: int) -> HttpReply:
    body = b'{"access_token":"new","expires_in":3600,"refresh_in":%d}' % seconds
    return HttpReply(status=200, headers=(JSON,), body=body)


def refresh_in_token(seconds: int) -> OAuthToken:
    return OAuthToken(access_token="new", expires_in=3600, expiry=W0 + 3590, refresh_in=seconds)


INVALID_CLIENT_REPLY: Final = HttpReply(
    status=401,
    headers=(JSON, CHALLENGE),
    body=b'{"error":"invalid_client","error_description":"bad secret"}',
)
BAD_GATEWAY_REPLY: Final = HttpReply(
    status=502, headers=(("Retry-After", "5"),), body=b"<html>bad gateway</html>"
)
BAD_GATEWAY: Final = MalformedResponse(
    status=502,
    reason="HTTP 502 without an OAuth error: '<html>bad gateway</html>'",
    headers=(("Retry-After", "5"),),
)
UNAVAILABLE_HEADERS: Final = (JSON, ("Retry-After", "1000"))
UNAVAILABLE_REPLY: Final = HttpReply(
    status=503, headers=UNAVAILABLE_HEADERS, body=b'{"error":"temporarily_unavailable"}'
)
UNAVAILABLE: Final = ErrorResponse(
    status=503, error="temporarily_unavailable", headers=UNAVAILABLE_HEADERS
)
SLOW_DOWN_HEADERS: Final = (JSON, ("Retry-After", "Tue, 14 Nov 2023 22:14:00 GMT"))
"""40 s after W0."""
SLOW_DOWN_REPLY: Final = HttpReply(
    status=429, headers=SLOW_DOWN_HEADERS, body=b'{"error":"slow_down"}'
)
SLOW_DOWN: Final = ErrorResponse(status=429, error="slow_down", headers=SLOW_DOWN_HEADERS)
DENIED_HEADERS: Final = (JSON, ("Retry-After", "120"))
DENIED_REPLY: Final = HttpReply(
    status=403, headers=DENIED_HEADERS, body=b'{"error":"access_denied"}'
)
DENIED: Final = ErrorResponse(status=403, error="access_denied", headers=DENIED_HEADERS)

# -- tokens handed in ------------------------------------------------------------------

SET: Final = OAuthToken(access_token="set", expires_in=600, expiry=W0 + 600)
HELD_SET: Final = Held(token=SET, expires_at=M0 + 600, fresh_until=M0 + 540, refresh_at=M0 + 405)
"""Issued at M0 for 600 s: used until M0 + 540, renewed from M0 + 405 (540 - 135)."""
SET_EXPIRED: Final = OAuthToken(access_token="set", expires_in=600, expiry=W0 + 30)
HELD_SET_EXPIRED: Final = Held(
    token=SET_EXPIRED, expires_at=M0 + 30, fresh_until=M0 - 30, refresh_at=M0 - 165
)
PROVIDED: Final = OAuthToken(access_token="provided", expires_in=3600)
"""As a provider builds it: no `expiry`. Its lifetime counts from when the provider was
asked (the flight's start, 10 s before `NOW`), as a fetched token's does."""
PROVIDED_STAMPED: Final = OAuthToken(
    access_token="provided", expires_in=3600, expiry=W0 - 10 + 3600
)
HELD_PROVIDED: Final = Held(
    token=PROVIDED_STAMPED, expires_at=M0 + 3590, fresh_until=M0 + 3530, refresh_at=M0 + 2645
)
INSIDE: Final = OAuthToken(access_token="inside", expires_in=3600, expiry=W0 + 30)
"""Expires 30 s after M0: inside the 60 s skew."""


class Row(NamedTuple):
    """One transition: `step(policy, state, event, now) == expected`."""

    id: str
    policy: Policy
    state: TokenState
    event: Input
    expected: Decision
    now: Now = NOW


def use(state: TokenState, token: OAuthToken) -> Decision:
    """Answered from the state, which is unchanged."""
    return Decision(state=state, answer=UseToken(token=token))


def wait(state: TokenState, flight: Flight) -> Decision:
    return Decision(state=state, answer=AwaitFlight(flight=flight.id, until=flight.deadline))


def answered(state: TokenState, answer: AwaitFlight | AwaitRetry | Fail) -> Decision:
    """Answered from the state, which is unchanged."""
    return Decision(state=state, answer=answer)


def stale(state: TokenState, flight: int) -> Decision:
    return Decision(state=state, events=(StaleOutcomeIgnored(flight=flight),))


def started_2(
    held: Held | None, failure: FailureRecord | None = OLD_FAILURE, *, streak: int = 1
) -> Decision:
    """Flight 2 started at M0 by this caller, who runs its fetch (and is not answered)."""
    return Decision(
        state=TokenState(held=held, flight=STARTED_2, failure=failure, flights=2, streak=streak),
        work=(fetch(2),),
        events=(FlightStarted(flight=2, source=TokenSource.ENDPOINT),),
    )


def renewed_2(
    held: Held, failure: FailureRecord | None = OLD_FAILURE, *, streak: int = 1
) -> Decision:
    """The held token handed out, and flight 2 started at M0 to renew it (in the background)."""
    return Decision(
        state=TokenState(held=held, flight=STARTED_2, failure=failure, flights=2, streak=streak),
        answer=UseToken(token=held.token),
        work=(fetch(2),),
        events=(FlightStarted(flight=2, source=TokenSource.ENDPOINT, renewal=True),),
    )


def given_up_2(
    held: Held | None,
    answer: UseToken | AwaitRetry | Fail,
    *,
    failure: FlightTimedOut = TIMED_OUT_40,
    renewal: bool = False,
) -> Decision:
    """Overdue flight 2 given up at M0, its waiters released: the second transient failure
    in a row, so the next request waits 0.5 (the draw) x 1 s (0.5 s doubled) = 0.5 s."""
    return Decision(
        state=TokenState(
            held=held,
            failure=FailureRecord(flight=2, failure=failure, at=M0, retry_at=M0 + 0.5),
            flights=2,
            streak=2,
        ),
        answer=answer,
        work=(ReleaseWaiters(flight=2),),
        events=(
            FlightSettled(flight=2, failure=failure, renewal=renewal),
            RetryScheduled(delay=0.5, streak=2, retry_after=None),
        ),
    )


def given_up_and_started_3(held: Held | None) -> Decision:
    """Overdue flight 2 given up at M0 with a draw of 0 (no wait), and flight 3 started by
    this caller."""
    return Decision(
        state=TokenState(
            held=held,
            flight=STARTED_3,
            failure=FailureRecord(flight=2, failure=TIMED_OUT_40, at=M0, retry_at=M0),
            flights=3,
            streak=2,
        ),
        work=(ReleaseWaiters(flight=2), fetch(3)),
        events=(
            FlightSettled(flight=2, failure=TIMED_OUT_40),
            RetryScheduled(delay=0.0, streak=2, retry_after=None),
            FlightStarted(flight=3, source=TokenSource.ENDPOINT),
        ),
    )


NEEDED: Final = TokenNeeded()
WAITED_1: Final = TokenNeeded(waited_for=1)
WAITED_2: Final = TokenNeeded(waited_for=2)


def again(waited_for: int | None, attempts: int, since: float) -> TokenNeeded:
    """A call asking again: after flight `waited_for`, having gone through `attempts`
    flights since it first asked at `since`."""
    return TokenNeeded(waited_for=waited_for, attempts=attempts, since=since)


# -- TokenNeeded: held token x flight x waited_for --------------------------------------

NEEDED_ROWS: Final = [
    # A FRESH token answers everyone, flight or no flight, state unchanged.
    Row(
        "fresh, no flight",
        ENDPOINT,
        no_flight(HELD_FRESH),
        NEEDED,
        use(no_flight(HELD_FRESH), FRESH),
    ),
    Row(
        "fresh, no flight, waited for 1",
        ENDPOINT,
        no_flight(HELD_FRESH),
        WAITED_1,
        use(no_flight(HELD_FRESH), FRESH),
    ),
    Row(
        "fresh, no flight, waited for 2",
        ENDPOINT,
        no_flight(HELD_FRESH),
        WAITED_2,
        use(no_flight(HELD_FRESH), FRESH),
    ),
    Row(
        "fresh, flight in time",
        ENDPOINT,
        in_flight(HELD_FRESH),
        NEEDED,
        use(in_flight(HELD_FRESH), FRESH),
    ),
    Row(
        "fresh, flight in time, waited for it",
        ENDPOINT,
        in_flight(HELD_FRESH),
        WAITED_2,
        use(in_flight(HELD_FRESH), FRESH),
    ),
    Row(
        "fresh, flight in time, waited for 1",
        ENDPOINT,
        in_flight(HELD_FRESH),
        WAITED_1,
        use(in_flight(HELD_FRESH), FRESH),
    ),
    Row(
        "fresh, flight overdue",
        ENDPOINT,
        in_flight(HELD_FRESH, OVERDUE),
        NEEDED,
        use(in_flight(HELD_FRESH, OVERDUE), FRESH),
    ),
    Row(
        "fresh, flight overdue, waited for it",
        ENDPOINT,
        in_flight(HELD_FRESH, OVERDUE),
        WAITED_2,
        use(in_flight(HELD_FRESH, OVERDUE), FRESH),
    ),
    Row(
        "fresh, flight overdue, waited for 1",
        ENDPOINT,
        in_flight(HELD_FRESH, OVERDUE),
        WAITED_1,
        use(in_flight(HELD_FRESH, OVERDUE), FRESH),
    ),
    Row(
        "fresh, in a cool-down",
        ENDPOINT,
        no_flight(HELD_FRESH, COOLING, streak=0),
        NEEDED,
        use(no_flight(HELD_FRESH, COOLING, streak=0), FRESH),
    ),
    # EXPIRING: the token is handed out, and one renewal runs beside it.
    Row(
        "expiring, no flight: used, and renewed",
        ENDPOINT,
        no_flight(HELD_EXPIRING),
        NEEDED,
        renewed_2(HELD_EXPIRING),
    ),
    Row(
        "expiring, no flight, waited for failed 1: used, and renewed",
        ENDPOINT,
        no_flight(HELD_EXPIRING),
        WAITED_1,
        renewed_2(HELD_EXPIRING),
    ),
    Row(
        "expiring, renewal in flight: used",
        ENDPOINT,
        in_flight(HELD_EXPIRING),
        NEEDED,
        use(in_flight(HELD_EXPIRING), EXPIRING),
    ),
    Row(
        "expiring, waited for the renewal in flight: used",
        ENDPOINT,
        in_flight(HELD_EXPIRING),
        WAITED_2,
        use(in_flight(HELD_EXPIRING), EXPIRING),
    ),
    Row(
        "expiring, renewal held back by a backoff: used",
        ENDPOINT,
        no_flight(HELD_EXPIRING, BACKOFF),
        NEEDED,
        use(no_flight(HELD_EXPIRING, BACKOFF), EXPIRING),
    ),
    Row(
        "expiring, in a cool-down: used, not renewed",
        ENDPOINT,
        no_flight(HELD_EXPIRING, COOLING, streak=0),
        NEEDED,
        use(no_flight(HELD_EXPIRING, COOLING, streak=0), EXPIRING),
    ),
    Row(
        "expiring, breaker open: used, not renewed",
        ENDPOINT,
        no_flight(HELD_EXPIRING, BREAKER, streak=5),
        NEEDED,
        use(no_flight(HELD_EXPIRING, BREAKER, streak=5), EXPIRING),
    ),
    Row(
        "expiring, renewal overdue: given up, the token used",
        ENDPOINT,
        in_flight(HELD_EXPIRING, OVERDUE),
        NEEDED,
        given_up_2(HELD_EXPIRING, UseToken(token=EXPIRING), renewal=True),
    ),
    Row(
        "expiring, provider: the renewal asks the provider, shown the held token",
        PROVIDER,
        no_flight(HELD_EXPIRING),
        NEEDED,
        Decision(
            state=TokenState(
                held=HELD_EXPIRING,
                flight=PROVIDER_STARTED_2,
                failure=OLD_FAILURE,
                flights=2,
                streak=1,
            ),
            answer=UseToken(token=EXPIRING),
            work=(CallTokenProvider(flight=2, last=EXPIRING),),
            events=(FlightStarted(flight=2, source=TokenSource.PROVIDER, renewal=True),),
        ),
    ),
    Row(
        "short token: skew capped at 15 s, used at M0 while renewed",
        ENDPOINT,
        in_flight(HELD_SHORT),
        NEEDED,
        use(in_flight(HELD_SHORT), SHORT),
    ),
    # EXPIRED, no flight: start one; the caller whose flight failed is retried or told.
    Row("expired, no flight", ENDPOINT, no_flight(HELD_STALE), NEEDED, started_2(HELD_STALE)),
    Row(
        "expired, no flight, waited for failed 1: retried at once",
        ENDPOINT,
        no_flight(HELD_STALE),
        WAITED_1,
        started_2(HELD_STALE),
    ),
    Row(
        "expired, no flight, waited for failed 1, its attempts used up: fail",
        ENDPOINT,
        no_flight(HELD_STALE),
        again(1, attempts=3, since=M0 - 20),
        answered(no_flight(HELD_STALE), Fail(failure=REFUSED, flight=1)),
    ),
    Row(
        "expired, no flight, waited for unknown 2",
        ENDPOINT,
        no_flight(HELD_STALE),
        WAITED_2,
        started_2(HELD_STALE),
    ),
    Row(
        "expired, no flight, waited for 1 which succeeded",
        ENDPOINT,
        no_flight(HELD_STALE, failure=None, streak=0),
        WAITED_1,
        started_2(HELD_STALE, failure=None, streak=0),
    ),
    # EXPIRED, flight in time: wait for it, whoever asks, no longer than the call may.
    Row(
        "expired, flight in time",
        ENDPOINT,
        in_flight(HELD_STALE),
        NEEDED,
        wait(in_flight(HELD_STALE), IN_TIME),
    ),
    Row(
        "expired, flight in time, waited for it",
        ENDPOINT,
        in_flight(HELD_STALE),
        WAITED_2,
        wait(in_flight(HELD_STALE), IN_TIME),
    ),
    Row(
        "expired, flight in time, waited for 1",
        ENDPOINT,
        in_flight(HELD_STALE),
        WAITED_1,
        wait(in_flight(HELD_STALE), IN_TIME),
    ),
    Row(
        "expired, flight in time outlasting the call: wait until the call's deadline",
        ENDPOINT,
        in_flight(HELD_STALE),
        again(2, attempts=1, since=M0 - 50),
        answered(in_flight(HELD_STALE), AwaitFlight(flight=2, until=M0 + 10)),
    ),
    # EXPIRED, flight overdue: given up (transient: backoff); then as without a flight.
    Row(
        "expired, flight overdue: given up, wait for the retry",
        ENDPOINT,
        in_flight(HELD_STALE, OVERDUE),
        NEEDED,
        given_up_2(HELD_STALE, AwaitRetry(until=M0 + 0.5)),
    ),
    Row(
        "expired, flight overdue, waited for it: wait for its retry",
        ENDPOINT,
        in_flight(HELD_STALE, OVERDUE),
        again(2, attempts=1, since=M0 - 40),
        given_up_2(HELD_STALE, AwaitRetry(until=M0 + 0.5)),
    ),
    Row(
        "expired, flight overdue, waited for it, attempts used up: fail with the wait",
        ENDPOINT,
        in_flight(HELD_STALE, OVERDUE),
        again(2, attempts=3, since=M0 - 40),
        given_up_2(HELD_STALE, Fail(failure=TIMED_OUT_40, flight=2, retry_after=0.5)),
    ),
    Row(
        "expired, flight overdue, waited for 1",
        ENDPOINT,
        in_flight(HELD_STALE, OVERDUE),
        WAITED_1,
        given_up_2(HELD_STALE, AwaitRetry(until=M0 + 0.5)),
    ),
    Row(
        "expired, flight overdue, a draw of 0: given up and the next started at once",
        ENDPOINT,
        in_flight(HELD_STALE, OVERDUE),
        NEEDED,
        given_up_and_started_3(HELD_STALE),
        NO_JITTER,
    ),
    # EMPTY: as EXPIRED.
    Row("empty, no flight", ENDPOINT, no_flight(None), NEEDED, started_2(None)),
    Row(
        "empty, no flight, waited for failed 1: retried at once",
        ENDPOINT,
        no_flight(None),
        WAITED_1,
        started_2(None),
    ),
    Row(
        "empty, no flight, waited for unknown 2",
        ENDPOINT,
        no_flight(None),
        WAITED_2,
        started_2(None),
    ),
    Row("empty, flight in time", ENDPOINT, in_flight(None), NEEDED, wait(in_flight(None), IN_TIME)),
    Row(
        "empty, flight in time, waited for it",
        ENDPOINT,
        in_flight(None),
        WAITED_2,
        wait(in_flight(None), IN_TIME),
    ),
    Row(
        "empty, flight in time, waited for 1",
        ENDPOINT,
        in_flight(None),
        WAITED_1,
        wait(in_flight(None), IN_TIME),
    ),
    Row(
        "empty, flight overdue",
        ENDPOINT,
        in_flight(None, OVERDUE),
        NEEDED,
        given_up_2(None, AwaitRetry(until=M0 + 0.5)),
    ),
    Row(
        "empty, flight overdue, waited for it",
        ENDPOINT,
        in_flight(None, OVERDUE),
        WAITED_2,
        given_up_2(None, AwaitRetry(until=M0 + 0.5)),
    ),
    Row(
        "empty, flight overdue, a draw of 0",
        ENDPOINT,
        in_flight(None, OVERDUE),
        WAITED_1,
        given_up_and_started_3(None),
        NO_JITTER,
    ),
    # The very first call of a new client.
    Row(
        "initial state",
        ENDPOINT,
        TokenState(),
        NEEDED,
        Decision(
            state=TokenState(flight=STARTED_1, flights=1),
            work=(fetch(1),),
            events=(FlightStarted(flight=1, source=TokenSource.ENDPOINT),),
        ),
    ),
    # A provider instead of the endpoint: it is shown the last token, expired or none.
    Row(
        "provider, expired, no flight",
        PROVIDER,
        no_flight(HELD_STALE),
        NEEDED,
        Decision(
            state=TokenState(
                held=HELD_STALE,
                flight=PROVIDER_STARTED_2,
                failure=OLD_FAILURE,
                flights=2,
                streak=1,
            ),
            work=(CallTokenProvider(flight=2, last=STALE),),
            events=(FlightStarted(flight=2, source=TokenSource.PROVIDER),),
        ),
    ),
    Row(
        "provider, empty, no flight",
        PROVIDER,
        no_flight(None),
        NEEDED,
        Decision(
            state=TokenState(flight=PROVIDER_STARTED_2, failure=OLD_FAILURE, flights=2, streak=1),
            work=(CallTokenProvider(flight=2, last=None),),
            events=(FlightStarted(flight=2, source=TokenSource.PROVIDER),),
        ),
    ),
    # Held back by the last failure (flight 1's): a backoff, the breaker, a cool-down.
    Row(
        "own transient failure, attempts left: wait for the retry",
        ENDPOINT,
        no_flight(None, BACKOFF),
        again(1, attempts=1, since=M0 - 31),
        answered(no_flight(None, BACKOFF), AwaitRetry(until=M0 + 1.5)),
    ),
    Row(
        "own transient failure, attempts used up: fail with the wait",
        ENDPOINT,
        no_flight(None, BACKOFF),
        again(1, attempts=3, since=M0 - 31),
        answered(no_flight(None, BACKOFF), Fail(failure=READ_TIMEOUT, flight=1, retry_after=1.5)),
    ),
    Row(
        "own transient failure, the retry past the call's deadline: fail with the wait",
        ENDPOINT,
        no_flight(None, BACKOFF),
        again(1, attempts=1, since=M0 - 59),
        answered(no_flight(None, BACKOFF), Fail(failure=READ_TIMEOUT, flight=1, retry_after=1.5)),
    ),
    Row(
        "own transient failure, backoff over: retried at once",
        ENDPOINT,
        no_flight(None, BACKED_OFF),
        again(1, attempts=1, since=M0 - 31),
        started_2(None, BACKED_OFF),
    ),
    Row(
        "newcomer during a backoff: wait for the retry",
        ENDPOINT,
        no_flight(None, BACKOFF),
        NEEDED,
        answered(no_flight(None, BACKOFF), AwaitRetry(until=M0 + 1.5)),
    ),
    Row(
        "newcomer during a backoff, expired token held: wait for the retry",
        ENDPOINT,
        no_flight(HELD_STALE, BACKOFF),
        NEEDED,
        answered(no_flight(HELD_STALE, BACKOFF), AwaitRetry(until=M0 + 1.5)),
    ),
    Row(
        "breaker open: the caller whose flight failed fails with the wait",
        ENDPOINT,
        no_flight(None, BREAKER, streak=5),
        again(1, attempts=1, since=M0 - 35),
        answered(
            no_flight(None, BREAKER, streak=5),
            Fail(failure=READ_TIMEOUT, flight=1, retry_after=25.0),
        ),
    ),
    Row(
        "breaker open: a newcomer fails at once",
        ENDPOINT,
        no_flight(None, BREAKER, streak=5),
        NEEDED,
        answered(
            no_flight(None, BREAKER, streak=5),
            Fail(failure=READ_TIMEOUT, flight=1, retry_after=25.0),
        ),
    ),
    Row(
        "own permanent failure: fail with the cool-down",
        ENDPOINT,
        no_flight(None, COOLING, streak=0),
        again(1, attempts=1, since=M0 - 10),
        answered(
            no_flight(None, COOLING, streak=0),
            Fail(failure=INVALID_CLIENT, flight=1, retry_after=20.0),
        ),
    ),
    Row(
        "newcomer during a cool-down: fails at once",
        ENDPOINT,
        no_flight(None, COOLING, streak=0),
        NEEDED,
        answered(
            no_flight(None, COOLING, streak=0),
            Fail(failure=INVALID_CLIENT, flight=1, retry_after=20.0),
        ),
    ),
    Row(
        "cool-down over: a newcomer starts a flight",
        ENDPOINT,
        no_flight(None, COOLED, streak=0),
        NEEDED,
        started_2(None, COOLED, streak=0),
    ),
    Row(
        "cool-down over: the caller that waited for the flight is still told",
        ENDPOINT,
        no_flight(None, COOLED, streak=0),
        again(1, attempts=1, since=M0 - 45),
        answered(no_flight(None, COOLED, streak=0), Fail(failure=INVALID_CLIENT, flight=1)),
    ),
    Row(
        "own local failure: fail, nothing to wait for",
        PROVIDER,
        no_flight(None, PROVIDER_FAILED, streak=0),
        again(1, attempts=1, since=M0 - 1),
        answered(no_flight(None, PROVIDER_FAILED, streak=0), Fail(failure=BOOM, flight=1)),
    ),
    Row(
        "newcomer after a local failure: the provider is asked again",
        PROVIDER,
        no_flight(None, PROVIDER_FAILED, streak=0),
        NEEDED,
        Decision(
            state=TokenState(flight=PROVIDER_STARTED_2, failure=PROVIDER_FAILED, flights=2),
            work=(CallTokenProvider(flight=2, last=None),),
            events=(FlightStarted(flight=2, source=TokenSource.PROVIDER),),
        ),
    ),
    Row(
        # Its three flights each gave a token that expired before the call could use it.
        "attempts used up on unusable tokens: fail",
        ENDPOINT,
        TokenState(held=HELD_STALE, flights=3),
        again(3, attempts=3, since=M0 - 5),
        answered(TokenState(held=HELD_STALE, flights=3), Fail(failure=NoUsableToken(attempts=3))),
    ),
    Row(
        "the call's time is up, no flight: fail",
        ENDPOINT,
        TokenState(held=HELD_STALE, flights=1),
        again(None, attempts=1, since=M0 - 75),
        answered(TokenState(held=HELD_STALE, flights=1), Fail(failure=CallTimedOut(seconds=75.0))),
    ),
    # Boundaries: each instant belongs to the later condition.
    Row(
        "refresh boundary: due exactly at refresh_at, used and renewed",
        ENDPOINT,
        no_flight(HELD_DUE),
        NEEDED,
        renewed_2(HELD_DUE),
    ),
    Row(
        "refresh boundary: fresh just before refresh_at",
        ENDPOINT,
        no_flight(HELD_DUE),
        NEEDED,
        use(no_flight(HELD_DUE), DUE),
        JUST_BEFORE,
    ),
    Row(
        "expiry boundary: expired at fresh_until",
        ENDPOINT,
        no_flight(HELD_EDGE),
        NEEDED,
        started_2(HELD_EDGE),
    ),
    Row(
        "expiry boundary: expired at fresh_until, flight in time: wait",
        ENDPOINT,
        in_flight(HELD_EDGE),
        NEEDED,
        wait(in_flight(HELD_EDGE), IN_TIME),
    ),
    Row(
        "expiry boundary: used just before fresh_until",
        ENDPOINT,
        in_flight(HELD_EDGE),
        NEEDED,
        use(in_flight(HELD_EDGE), EDGE),
        JUST_BEFORE,
    ),
    Row(
        "retry boundary: a newcomer starts the flight at retry_at",
        ENDPOINT,
        no_flight(None, AT_RETRY),
        NEEDED,
        started_2(None, AT_RETRY),
    ),
    Row(
        "retry boundary: a newcomer waits just before retry_at",
        ENDPOINT,
        no_flight(None, AT_RETRY),
        NEEDED,
        answered(no_flight(None, AT_RETRY), AwaitRetry(until=M0)),
        JUST_BEFORE,
    ),
    Row(
        "retry boundary: the renewal starts at retry_at",
        ENDPOINT,
        no_flight(HELD_EXPIRING, AT_RETRY),
        NEEDED,
        renewed_2(HELD_EXPIRING, AT_RETRY),
    ),
    Row(
        "retry boundary: no renewal just before retry_at",
        ENDPOINT,
        no_flight(HELD_EXPIRING, AT_RETRY),
        NEEDED,
        use(no_flight(HELD_EXPIRING, AT_RETRY), EXPIRING),
        JUST_BEFORE,
    ),
    Row(
        "deadline boundary: overdue at it",
        ENDPOINT,
        in_flight(None, AT_DEADLINE),
        WAITED_2,
        given_up_2(None, AwaitRetry(until=M0 + 0.5), failure=TIMED_OUT_32),
    ),
    Row(
        "deadline boundary: in time just before it",
        ENDPOINT,
        in_flight(None, AT_DEADLINE),
        WAITED_2,
        wait(in_flight(None, AT_DEADLINE), AT_DEADLINE),
        JUST_BEFORE,
    ),
    Row(
        "call deadline boundary: the call's time is up at it",
        ENDPOINT,
        in_flight(HELD_STALE),
        again(2, attempts=1, since=M0 - 60),
        answered(in_flight(HELD_STALE), Fail(failure=CallTimedOut(seconds=60.0))),
    ),
    Row(
        "call deadline boundary: waits just before it, until it",
        ENDPOINT,
        in_flight(HELD_STALE),
        again(2, attempts=1, since=M0 - 60),
        answered(in_flight(HELD_STALE), AwaitFlight(flight=2, until=M0)),
        JUST_BEFORE,
    ),
    Row(
        "short token: expired at M0 + 1",
        ENDPOINT,
        no_flight(HELD_SHORT),
        NEEDED,
        Decision(
            state=TokenState(
                held=HELD_SHORT,
                flight=Flight(id=2, source=TokenSource.ENDPOINT, started=M0 + 1, deadline=M0 + 33),
                failure=OLD_FAILURE,
                flights=2,
                streak=1,
            ),
            work=(fetch(2),),
            events=(FlightStarted(flight=2, source=TokenSource.ENDPOINT),),
        ),
        Now(monotonic=M0 + 1, wall=W0 + 1),
    ),
    Row(
        "restored token: used until M0 + 40, renewed in its window",
        ENDPOINT,
        no_flight(HELD_RESTORED),
        NEEDED,
        Decision(
            state=TokenState(
                held=HELD_RESTORED,
                flight=Flight(id=2, source=TokenSource.ENDPOINT, started=M0 + 39, deadline=M0 + 71),
                failure=OLD_FAILURE,
                flights=2,
                streak=1,
            ),
            answer=UseToken(token=RESTORED),
            work=(fetch(2),),
            events=(FlightStarted(flight=2, source=TokenSource.ENDPOINT, renewal=True),),
        ),
        Now(monotonic=M0 + 39, wall=W0),
    ),
    Row(
        "restored token: expired at M0 + 40",
        ENDPOINT,
        no_flight(HELD_RESTORED),
        WAITED_1,
        Decision(
            state=TokenState(
                held=HELD_RESTORED,
                flight=Flight(id=2, source=TokenSource.ENDPOINT, started=M0 + 40, deadline=M0 + 72),
                failure=OLD_FAILURE,
                flights=2,
                streak=1,
            ),
            work=(fetch(2),),
            events=(FlightStarted(flight=2, source=TokenSource.ENDPOINT),),
        ),
        Now(monotonic=M0 + 40, wall=W0),
    ),
    Row(
        "a token without expiry is used ten years on",
        ENDPOINT,
        no_flight(HELD_FOREVER),
        NEEDED,
        use(no_flight(HELD_FOREVER), FOREVER),
        Now(monotonic=M0 + 10 * 365 * 86_400, wall=W0),
    ),
    # Only the monotonic clock counts: the wall clock a year off changes nothing.
    Row(
        "wall clock a year ahead: still fresh",
        ENDPOINT,
        no_flight(HELD_FRESH),
        NEEDED,
        use(no_flight(HELD_FRESH), FRESH),
        Now(monotonic=M0, wall=W0 + 365 * 86_400),
    ),
    Row(
        "wall clock a year back: still expired",
        ENDPOINT,
        no_flight(HELD_STALE),
        NEEDED,
        started_2(HELD_STALE),
        Now(monotonic=M0, wall=W0 - 365 * 86_400),
    ),
]


# -- outcomes of the current flight --------------------------------------------------------

FLYING_STALE: Final = in_flight(HELD_STALE)
FLYING_EMPTY: Final = in_flight(None)
PROVIDER_FLYING: Final = in_flight(HELD_STALE, PROVIDER_IN_TIME)


def adopted_2(
    held: Held,
    origin: TokenOrigin,
    *,
    notify: bool = False,
    renewal: bool = False,
    rejected_at: float = -math.inf,
) -> Decision:
    """Flight 2 produced `held`: adopted, the failure and the streak forgotten, its waiters
    released; the caller uses it, or first announces it when it is new and a callback is
    set."""
    settled = (
        FlightSettled(flight=2, failure=None, renewal=renewal),
        TokenAdopted(origin=origin, expires_at=held.expires_at, refresh_at=held.refresh_at),
    )
    # A token from the endpoint settles the form of client authentication that got it.
    state = TokenState(
        held=held,
        flights=2,
        rejected_at=rejected_at,
        auth_settled=origin is TokenOrigin.ENDPOINT,
    )
    if notify:
        return Decision(
            state=state,
            work=(ReleaseWaiters(flight=2), NotifyTokenUpdate(token=held.token)),
            events=settled,
        )
    return Decision(
        state=state,
        answer=UseToken(token=held.token),
        work=(ReleaseWaiters(flight=2),),
        events=settled,
    )


def failed_2(
    held: Held | None,
    failure: TokenFailure,
    *,
    retry_at: float,
    streak: int,
    then: Event | None = None,
    renewal: bool = False,
) -> Decision:
    """Flight 2 ended without a token at M0: recorded with the instant the next request may
    be made (`then` says why then), its waiters released. The caller that ran it is not
    answered: it asks again, with `waited_for=2`, and learns of it."""
    return Decision(
        state=TokenState(
            held=held,
            failure=FailureRecord(flight=2, failure=failure, at=M0, retry_at=retry_at),
            flights=2,
            streak=streak,
        ),
        work=(ReleaseWaiters(flight=2),),
        events=(
            FlightSettled(flight=2, failure=failure, renewal=renewal),
            *(() if then is None else (then,)),
        ),
    )


def transient_2(held: Held | None, failure: TokenFailure, *, renewal: bool = False) -> Decision:
    """The second transient failure in a row: retried after 0.5 (the draw) x 1 s."""
    return failed_2(
        held,
        failure,
        retry_at=M0 + 0.5,
        streak=2,
        then=RetryScheduled(delay=0.5, streak=2, retry_after=None),
        renewal=renewal,
    )


def local_2(held: Held | None, failure: TokenFailure) -> Decision:
    """The application's own code failed: neither retried nor cooled down, streak kept."""
    return failed_2(held, failure, retry_at=M0, streak=1)


OUTCOME_ROWS: Final = [
    Row(
        "reply: token, lifetime counted from the flight's start",
        ENDPOINT,
        FLYING_STALE,
        TokenReplyReceived(flight=2, reply=NEW_REPLY),
        adopted_2(HELD_NEW, TokenOrigin.ENDPOINT),
    ),
    Row(
        "reply: token, from empty",
        ENDPOINT,
        FLYING_EMPTY,
        TokenReplyReceived(flight=2, reply=NEW_REPLY),
        adopted_2(HELD_NEW, TokenOrigin.ENDPOINT),
    ),
    Row(
        "reply: a renewal settled",
        ENDPOINT,
        in_flight(HELD_EXPIRING),
        TokenReplyReceived(flight=2, reply=NEW_REPLY),
        adopted_2(HELD_NEW, TokenOrigin.ENDPOINT, renewal=True),
    ),
    Row(
        "reply: token, the last rejection remembered",
        ENDPOINT,
        in_flight(HELD_STALE, rejected_at=M0 - 5),
        TokenReplyReceived(flight=2, reply=NEW_REPLY),
        adopted_2(HELD_NEW, TokenOrigin.ENDPOINT, rejected_at=M0 - 5),
    ),
    Row(
        "reply: new token announced",
        NOTIFY,
        FLYING_STALE,
        TokenReplyReceived(flight=2, reply=NEW_REPLY),
        adopted_2(HELD_NEW, TokenOrigin.ENDPOINT, notify=True),
    ),
    Row(
        "reply: the same token again is not announced",
        NOTIFY,
        in_flight(Held(token=NEW, expires_at=M0 + 5, fresh_until=M0 - 55, refresh_at=M0 - 55)),
        TokenReplyReceived(flight=2, reply=NEW_REPLY),
        adopted_2(HELD_NEW, TokenOrigin.ENDPOINT),
    ),
    Row(
        "reply: overdue but still current, accepted",
        ENDPOINT,
        in_flight(HELD_STALE, OVERDUE),
        TokenReplyReceived(flight=2, reply=NEW_REPLY),
        adopted_2(
            Held(
                token=OAuthToken(access_token="new", expires_in=3600, expiry=W0 + 3560),
                expires_at=M0 + 3560,
                fresh_until=M0 + 3500,
                refresh_at=M0 + 2615,
            ),
            TokenOrigin.ENDPOINT,
        ),
    ),
    Row(
        "reply: wall clock jumped a day back mid-flight",
        ENDPOINT,
        FLYING_STALE,
        TokenReplyReceived(flight=2, reply=NEW_REPLY),
        adopted_2(
            Held(
                token=OAuthToken(access_token="new", expires_in=3600, expiry=W0 - 86_400 + 3590),
                expires_at=M0 + 3590,
                fresh_until=M0 + 3530,
                refresh_at=M0 + 2645,
            ),
            TokenOrigin.ENDPOINT,
        ),
        Now(monotonic=M0, wall=W0 - 86_400, entropy=0.5),
    ),
    Row(
        "reply: refresh_in opens the window",
        ENDPOINT,
        FLYING_STALE,
        TokenReplyReceived(flight=2, reply=refresh_in_reply(1800)),
        adopted_2(
            Held(
                token=refresh_in_token(1800),
                expires_at=M0 + 3590,
                fresh_until=M0 + 3530,
                refresh_at=M0 + 1790,
            ),
            TokenOrigin.ENDPOINT,
        ),
    ),
    Row(
        "reply: refresh_in past the skew is cut to fresh_until",
        ENDPOINT,
        FLYING_STALE,
        TokenReplyReceived(flight=2, reply=refresh_in_reply(3590)),
        adopted_2(
            Held(
                token=refresh_in_token(3590),
                expires_at=M0 + 3590,
                fresh_until=M0 + 3530,
                refresh_at=M0 + 3530,
            ),
            TokenOrigin.ENDPOINT,
        ),
    ),
    Row(
        "reply: refresh_in already past: the next renewal in half the time left",
        ENDPOINT,
        FLYING_STALE,
        TokenReplyReceived(flight=2, reply=refresh_in_reply(5)),
        adopted_2(
            Held(
                token=refresh_in_token(5),
                expires_at=M0 + 3590,
                fresh_until=M0 + 3530,
                refresh_at=M0 + 1765,
            ),
            TokenOrigin.ENDPOINT,
        ),
    ),
    Row(
        # Sent at M0 - 40 for 60 s: the 30 s (capped) skew began at M0 - 10.
        "reply: arrived inside the skew, used until its expiry",
        ENDPOINT,
        in_flight(HELD_STALE, OVERDUE),
        TokenReplyReceived(flight=2, reply=SHORT_REPLY),
        adopted_2(
            Held(
                token=OAuthToken(access_token="new", expires_in=60, expiry=W0 + 20),
                expires_at=M0 + 20,
                fresh_until=M0 + 20,
                refresh_at=M0 + 5,
            ),
            TokenOrigin.ENDPOINT,
        ),
    ),
    Row(
        # Sent at M0 - 50 for 60 s: its window opened at M0 - 5; the next renewal waits
        # half the 10 s left.
        "reply: arrived inside the skew and its window: the next renewal in half the time left",
        ENDPOINT,
        in_flight(HELD_STALE, SLOW),
        TokenReplyReceived(flight=2, reply=SHORT_REPLY),
        adopted_2(
            Held(
                token=OAuthToken(access_token="new", expires_in=60, expiry=W0 + 10),
                expires_at=M0 + 10,
                fresh_until=M0 + 10,
                refresh_at=M0 + 5,
            ),
            TokenOrigin.ENDPOINT,
        ),
    ),
    Row(
        "reply: expires_in 0 and no default lifetime: never expires",
        ENDPOINT,
        FLYING_STALE,
        TokenReplyReceived(flight=2, reply=ZERO_REPLY),
        adopted_2(
            Held(
                token=OAuthToken(access_token="new", expires_in=0),
                expires_at=math.inf,
                fresh_until=math.inf,
                refresh_at=math.inf,
            ),
            TokenOrigin.ENDPOINT,
        ),
    ),
    Row(
        "reply: expires_in 0, the default lifetime from the flight's start",
        DEFAULT_LIFETIME,
        FLYING_STALE,
        TokenReplyReceived(flight=2, reply=ZERO_REPLY),
        adopted_2(
            Held(
                token=OAuthToken(access_token="new", expires_in=0, expiry=W0 + 590),
                expires_at=M0 + 590,
                fresh_until=M0 + 530,
                refresh_at=M0 + 395,
            ),
            TokenOrigin.ENDPOINT,
        ),
    ),
    Row(
        "reply: no expires_in, the default lifetime from the flight's start",
        DEFAULT_LIFETIME,
        FLYING_STALE,
        TokenReplyReceived(flight=2, reply=NO_LIFETIME_REPLY),
        adopted_2(
            Held(
                token=OAuthToken(access_token="new", expiry=W0 + 590),
                expires_at=M0 + 590,
                fresh_until=M0 + 530,
                refresh_at=M0 + 395,
            ),
            TokenOrigin.ENDPOINT,
        ),
    ),
    Row(
        "reply: past its expiry on arrival: refused, retried",
        ENDPOINT,
        in_flight(HELD_STALE, OVERDUE),
        TokenReplyReceived(flight=2, reply=THIRTY_REPLY),
        transient_2(HELD_STALE, TokenExpiredOnArrival(expires_in=30)),
    ),
    Row(
        "reply: arrived the instant it expires: refused",
        ENDPOINT,
        in_flight(HELD_STALE, LIFETIME_AGO),
        TokenReplyReceived(flight=2, reply=SHORT_REPLY),
        transient_2(HELD_STALE, TokenExpiredOnArrival(expires_in=60)),
    ),
    Row(
        "reply: error response, headers kept: cool down",
        ENDPOINT,
        FLYING_STALE,
        TokenReplyReceived(flight=2, reply=INVALID_CLIENT_REPLY),
        failed_2(
            HELD_STALE,
            INVALID_CLIENT,
            retry_at=M0 + 30,
            streak=1,
            then=CoolDownStarted(seconds=30.0, failure=INVALID_CLIENT),
        ),
    ),
    Row(
        "reply: an unknown 4xx error with a longer Retry-After: cool down for it",
        ENDPOINT,
        FLYING_STALE,
        TokenReplyReceived(flight=2, reply=DENIED_REPLY),
        failed_2(
            HELD_STALE,
            DENIED,
            retry_at=M0 + 120,
            streak=1,
            then=CoolDownStarted(seconds=120.0, failure=DENIED),
        ),
    ),
    Row(
        "reply: malformed 502, headers kept: retried after its Retry-After",
        ENDPOINT,
        FLYING_EMPTY,
        TokenReplyReceived(flight=2, reply=BAD_GATEWAY_REPLY),
        failed_2(
            None,
            BAD_GATEWAY,
            retry_at=M0 + 5,
            streak=2,
            then=RetryScheduled(delay=5.0, streak=2, retry_after=5.0),
        ),
    ),
    Row(
        "reply: 503 with a Retry-After past the cap: retried after the cap",
        ENDPOINT,
        FLYING_EMPTY,
        TokenReplyReceived(flight=2, reply=UNAVAILABLE_REPLY),
        failed_2(
            None,
            UNAVAILABLE,
            retry_at=M0 + 300,
            streak=2,
            then=RetryScheduled(delay=300.0, streak=2, retry_after=1000.0),
        ),
    ),
    Row(
        "reply: 429 with a Retry-After date: retried then",
        ENDPOINT,
        FLYING_EMPTY,
        TokenReplyReceived(flight=2, reply=SLOW_DOWN_REPLY),
        failed_2(
            None,
            SLOW_DOWN,
            retry_at=M0 + 40,
            streak=2,
            then=RetryScheduled(delay=40.0, streak=2, retry_after=40.0),
        ),
    ),
    Row(
        "request failed: a timeout, retried after the backoff",
        ENDPOINT,
        FLYING_STALE,
        TokenRequestFailed(flight=2, failure=READ_TIMEOUT),
        transient_2(HELD_STALE, READ_TIMEOUT),
    ),
    Row(
        "request failed: the fourth in a row, a longer backoff",
        ENDPOINT,
        in_flight(None, streak=3),
        TokenRequestFailed(flight=2, failure=READ_TIMEOUT),
        failed_2(
            None,
            READ_TIMEOUT,
            retry_at=M0 + 2,
            streak=4,
            then=RetryScheduled(delay=2.0, streak=4, retry_after=None),
        ),
    ),
    Row(
        "request failed: the fifth in a row opens the breaker",
        ENDPOINT,
        in_flight(None, streak=4),
        TokenRequestFailed(flight=2, failure=READ_TIMEOUT),
        failed_2(
            None,
            READ_TIMEOUT,
            retry_at=M0 + 30,
            streak=5,
            then=BreakerOpened(seconds=30.0, streak=5),
        ),
    ),
    Row(
        "request failed: the backoff capped at 30 s",
        NO_BREAKER,
        in_flight(None, streak=9),
        TokenRequestFailed(flight=2, failure=READ_TIMEOUT),
        failed_2(
            None,
            READ_TIMEOUT,
            retry_at=M0 + 15,
            streak=10,
            then=RetryScheduled(delay=15.0, streak=10, retry_after=None),
        ),
    ),
    Row(
        "request failed: TLS, cool down",
        ENDPOINT,
        FLYING_STALE,
        TokenRequestFailed(flight=2, failure=BAD_CERTIFICATE),
        failed_2(
            HELD_STALE,
            BAD_CERTIFICATE,
            retry_at=M0 + 30,
            streak=1,
            then=CoolDownStarted(seconds=30.0, failure=BAD_CERTIFICATE),
        ),
    ),
    Row(
        "request failed: a renewal, the token kept",
        ENDPOINT,
        in_flight(HELD_EXPIRING),
        TokenRequestFailed(flight=2, failure=READ_TIMEOUT),
        transient_2(HELD_EXPIRING, READ_TIMEOUT, renewal=True),
    ),
    Row(
        "fetch abandoned: neither retried nor cooled down",
        ENDPOINT,
        FLYING_STALE,
        FlightAbandoned(flight=2, reason="KeyboardInterrupt: "),
        local_2(HELD_STALE, Abandoned(reason="KeyboardInterrupt: ")),
    ),
    Row(
        "provided: lifetime counted from the flight's start",
        PROVIDER,
        PROVIDER_FLYING,
        TokenProvided(flight=2, token=PROVIDED),
        adopted_2(HELD_PROVIDED, TokenOrigin.PROVIDER),
    ),
    Row(
        "provided: token with an expiry, placed on the monotonic clock",
        PROVIDER,
        PROVIDER_FLYING,
        TokenProvided(flight=2, token=OAuthToken(access_token="provided", expiry=W0 + 1000)),
        adopted_2(
            Held(
                token=OAuthToken(access_token="provided", expiry=W0 + 1000),
                expires_at=M0 + 1000,
                fresh_until=M0 + 940,
                refresh_at=M0 + 705,
            ),
            TokenOrigin.PROVIDER,
        ),
    ),
    Row(
        "provided: new token announced",
        PROVIDER_NOTIFY,
        PROVIDER_FLYING,
        TokenProvided(flight=2, token=PROVIDED),
        adopted_2(HELD_PROVIDED, TokenOrigin.PROVIDER, notify=True),
    ),
    Row(
        "provided: the held token again is not announced, keeps its place",
        PROVIDER_NOTIFY,
        in_flight(HELD_FRESH, PROVIDER_IN_TIME),
        TokenProvided(flight=2, token=FRESH),
        adopted_2(HELD_FRESH, TokenOrigin.PROVIDER, renewal=True),
    ),
    Row(
        "provided: inside the skew, used until its expiry",
        PROVIDER,
        PROVIDER_FLYING,
        TokenProvided(flight=2, token=INSIDE),
        adopted_2(
            Held(token=INSIDE, expires_at=M0 + 30, fresh_until=M0 + 30, refresh_at=M0 + 15),
            TokenOrigin.PROVIDER,
        ),
    ),
    Row(
        "provided: expires_in 0 and no default lifetime: never expires",
        PROVIDER,
        PROVIDER_FLYING,
        TokenProvided(flight=2, token=OAuthToken(access_token="p", expires_in=0)),
        adopted_2(
            Held(
                token=OAuthToken(access_token="p", expires_in=0),
                expires_at=math.inf,
                fresh_until=math.inf,
                refresh_at=math.inf,
            ),
            TokenOrigin.PROVIDER,
        ),
    ),
    Row(
        "provided: expires_in 0, the default lifetime from the flight's start",
        PROVIDER_DEFAULT_LIFETIME,
        PROVIDER_FLYING,
        TokenProvided(flight=2, token=OAuthToken(access_token="p", expires_in=0)),
        adopted_2(
            Held(
                token=OAuthToken(access_token="p", expires_in=0, expiry=W0 + 590),
                expires_at=M0 + 590,
                fresh_until=M0 + 530,
                refresh_at=M0 + 395,
            ),
            TokenOrigin.PROVIDER,
        ),
    ),
    Row(
        "provided: None",
        PROVIDER,
        PROVIDER_FLYING,
        TokenProvided(flight=2, token=None),
        local_2(HELD_STALE, ProviderReturnedNone()),
    ),
    Row(
        "provided: the held token again, expired",
        PROVIDER,
        PROVIDER_FLYING,
        TokenProvided(flight=2, token=STALE),
        local_2(HELD_STALE, ProviderReturnedExpired(expiry=W0 + 30)),
    ),
    Row(
        "provided: past its expiry",
        PROVIDER,
        PROVIDER_FLYING,
        TokenProvided(flight=2, token=OAuthToken(access_token="p", expiry=W0 - 5)),
        local_2(HELD_STALE, ProviderReturnedExpired(expiry=W0 - 5)),
    ),
    Row(
        "provided: invalid token",
        PROVIDER,
        PROVIDER_FLYING,
        TokenProvided(flight=2, token=OAuthToken(access_token="a b")),
        local_2(
            HELD_STALE,
            InvalidToken(
                origin=TokenOrigin.PROVIDER,
                reason="access_token cannot be sent in a header: character 2 of 3 is ' '",
            ),
        ),
    ),
    Row(
        "provided: not a token at all",
        PROVIDER,
        PROVIDER_FLYING,
        TokenProvided(flight=2, token={"access_token": "t"}),
        local_2(
            HELD_STALE,
            InvalidToken(origin=TokenOrigin.PROVIDER, reason="expected an OAuthToken, got dict"),
        ),
    ),
    Row(
        "provider raised",
        PROVIDER,
        PROVIDER_FLYING,
        TokenProviderRaised(flight=2, reason="RuntimeError: boom"),
        local_2(HELD_STALE, BOOM),
    ),
    Row(
        "provider call abandoned",
        PROVIDER,
        PROVIDER_FLYING,
        FlightAbandoned(flight=2, reason="CancelledError: "),
        local_2(HELD_STALE, Abandoned(reason="CancelledError: ")),
    ),
]


# -- outcomes of flights that are not current: ignored --------------------------------------

GIVEN_UP: Final = TokenState(
    held=HELD_STALE,
    failure=FailureRecord(flight=2, failure=TIMED_OUT_40, at=M0 - 5, retry_at=M0 - 4.5),
    flights=2,
    streak=2,
)
"""Flight 2 was given up (its deadline passed), and no flight has started since."""
SUPERSEDED_BY_3: Final = TokenState(
    held=HELD_STALE,
    flight=STARTED_3,
    failure=FailureRecord(flight=2, failure=TIMED_OUT_40, at=M0, retry_at=M0),
    flights=3,
    streak=2,
)
"""Flight 2 was given up, and flight 3 is in progress."""
SUPERSEDED_BY_SET: Final = TokenState(held=HELD_SET, flights=2)
"""A usable token was set while flight 2 was in progress."""

STALE_ROWS: Final = [
    Row(
        "given up: reply",
        ENDPOINT,
        GIVEN_UP,
        TokenReplyReceived(flight=2, reply=NEW_REPLY),
        stale(GIVEN_UP, 2),
    ),
    Row(
        "given up: failure",
        ENDPOINT,
        GIVEN_UP,
        TokenRequestFailed(flight=2, failure=READ_TIMEOUT),
        stale(GIVEN_UP, 2),
    ),
    Row(
        "given up: abandoned",
        ENDPOINT,
        GIVEN_UP,
        FlightAbandoned(flight=2, reason="x"),
        stale(GIVEN_UP, 2),
    ),
    Row(
        "superseded by the next flight: reply",
        ENDPOINT,
        SUPERSEDED_BY_3,
        TokenReplyReceived(flight=2, reply=NEW_REPLY),
        stale(SUPERSEDED_BY_3, 2),
    ),
    Row(
        "superseded by the next flight: error",
        ENDPOINT,
        SUPERSEDED_BY_3,
        TokenReplyReceived(flight=2, reply=INVALID_CLIENT_REPLY),
        stale(SUPERSEDED_BY_3, 2),
    ),
    Row(
        "superseded by a set token: provided",
        PROVIDER,
        SUPERSEDED_BY_SET,
        TokenProvided(flight=2, token=PROVIDED),
        stale(SUPERSEDED_BY_SET, 2),
    ),
    Row(
        "superseded by a set token: raised",
        PROVIDER,
        SUPERSEDED_BY_SET,
        TokenProviderRaised(flight=2, reason="x"),
        stale(SUPERSEDED_BY_SET, 2),
    ),
    Row(
        "unknown: a flight not yet started",
        ENDPOINT,
        FLYING_STALE,
        TokenReplyReceived(flight=3, reply=NEW_REPLY),
        stale(FLYING_STALE, 3),
    ),
    Row(
        "unknown: an old flight while one is in progress",
        ENDPOINT,
        FLYING_STALE,
        TokenRequestFailed(flight=1, failure=READ_TIMEOUT),
        stale(FLYING_STALE, 1),
    ),
    Row(
        "unknown: flight 0",
        PROVIDER,
        PROVIDER_FLYING,
        TokenProvided(flight=0, token=None),
        stale(PROVIDER_FLYING, 0),
    ),
    Row(
        "unknown: a negative flight",
        ENDPOINT,
        FLYING_STALE,
        FlightAbandoned(flight=-2, reason="x"),
        stale(FLYING_STALE, -2),
    ),
    Row(
        "unknown: a new client",
        ENDPOINT,
        TokenState(),
        TokenReplyReceived(flight=1, reply=NEW_REPLY),
        stale(TokenState(), 1),
    ),
]


# -- TokenSet ----------------------------------------------------------------------------

SETTING_OVER_FLIGHT: Final = in_flight(HELD_STALE, streak=0)
SETTING_OVER_EMPTY_FLIGHT: Final = in_flight(None, streak=0)


def set_adopted(held: Held) -> TokenAdopted:
    return TokenAdopted(
        origin=TokenOrigin.SETTER, expires_at=held.expires_at, refresh_at=held.refresh_at
    )


SET_ROWS: Final = [
    Row(
        "set None: drops the held token, keeps the flight",
        ENDPOINT,
        SETTING_OVER_FLIGHT,
        TokenSet(token=None),
        Decision(
            state=TokenState(flight=IN_TIME, failure=OLD_FAILURE, flights=2),
            events=(TokenDropped(),),
        ),
    ),
    Row(
        "set None: nothing held, nothing happens",
        ENDPOINT,
        no_flight(None),
        TokenSet(token=None),
        Decision(state=no_flight(None)),
    ),
    Row(
        "set an int: refused",
        ENDPOINT,
        SETTING_OVER_FLIGHT,
        TokenSet(token=42),
        Decision(
            state=SETTING_OVER_FLIGHT,
            answer=Fail(
                failure=InvalidToken(
                    origin=TokenOrigin.SETTER, reason="expected an OAuthToken, got int"
                )
            ),
        ),
    ),
    Row(
        "set a NaN expiry: refused",
        NOTIFY,
        no_flight(HELD_FRESH),
        TokenSet(token=OAuthToken(access_token="t", expiry=math.nan)),
        Decision(
            state=no_flight(HELD_FRESH),
            answer=Fail(
                failure=InvalidToken(
                    origin=TokenOrigin.SETTER, reason="expiry must be a finite number, got nan"
                )
            ),
        ),
    ),
    Row(
        "set a negative refresh_in: refused",
        ENDPOINT,
        no_flight(None),
        TokenSet(token=OAuthToken(access_token="t", refresh_in=-1)),
        Decision(
            state=no_flight(None),
            answer=Fail(
                failure=InvalidToken(origin=TokenOrigin.SETTER, reason="refresh_in is negative: -1")
            ),
        ),
    ),
    Row(
        "set a CR-LF token: refused",
        ENDPOINT,
        no_flight(None),
        TokenSet(token=OAuthToken(access_token="t\r\nX-Injected: 1")),
        Decision(
            state=no_flight(None),
            answer=Fail(
                failure=InvalidToken(
                    origin=TokenOrigin.SETTER,
                    reason="access_token cannot be sent in a header: character 2 of 16 is '\\r'",
                )
            ),
        ),
    ),
    Row(
        "set fresh, no flight: held, failure forgotten",
        ENDPOINT,
        no_flight(HELD_STALE, streak=0),
        TokenSet(token=SET),
        Decision(state=TokenState(held=HELD_SET, flights=1), events=(set_adopted(HELD_SET),)),
    ),
    Row(
        "set fresh, in a cool-down: the cool-down is over",
        ENDPOINT,
        no_flight(None, COOLING, streak=0),
        TokenSet(token=SET),
        Decision(state=TokenState(held=HELD_SET, flights=1), events=(set_adopted(HELD_SET),)),
    ),
    Row(
        "set fresh, flight in progress: the flight is superseded",
        ENDPOINT,
        SETTING_OVER_FLIGHT,
        TokenSet(token=SET),
        Decision(
            state=TokenState(held=HELD_SET, flights=2),
            work=(ReleaseWaiters(flight=2),),
            events=(set_adopted(HELD_SET), FlightSuperseded(flight=2)),
        ),
    ),
    Row(
        "set expired, flight in progress: the flight goes on",
        ENDPOINT,
        SETTING_OVER_FLIGHT,
        TokenSet(token=SET_EXPIRED),
        Decision(
            state=TokenState(held=HELD_SET_EXPIRED, flight=IN_TIME, flights=2),
            events=(set_adopted(HELD_SET_EXPIRED),),
        ),
    ),
    Row(
        "set fresh with a callback: superseded, then announced",
        NOTIFY,
        SETTING_OVER_EMPTY_FLIGHT,
        TokenSet(token=SET),
        Decision(
            state=TokenState(held=HELD_SET, flights=2),
            work=(ReleaseWaiters(flight=2), NotifyTokenUpdate(token=SET)),
            events=(set_adopted(HELD_SET), FlightSuperseded(flight=2)),
        ),
    ),
    Row(
        "set expired with a callback: announced too",
        NOTIFY,
        no_flight(None, streak=0),
        TokenSet(token=SET_EXPIRED),
        Decision(
            state=TokenState(held=HELD_SET_EXPIRED, flights=1),
            work=(NotifyTokenUpdate(token=SET_EXPIRED),),
            events=(set_adopted(HELD_SET_EXPIRED),),
        ),
    ),
    Row(
        # Placed anew from its wall-clock expiry, a wall clock set back since would lengthen it.
        "set the held token again with a callback: not announced, keeps its place",
        NOTIFY,
        no_flight(Held(token=SET, expires_at=M0 + 7, fresh_until=M0 - 53, refresh_at=M0 - 53)),
        TokenSet(token=SET),
        Decision(
            state=TokenState(
                held=Held(token=SET, expires_at=M0 + 7, fresh_until=M0 - 53, refresh_at=M0 - 53),
                flights=1,
                streak=0,  # a token by hand: the failure in a row before it is forgotten
            ),
            events=(
                TokenAdopted(origin=TokenOrigin.SETTER, expires_at=M0 + 7, refresh_at=M0 - 53),
            ),
        ),
    ),
    Row(
        "set with only expires_in: stamped now",
        ENDPOINT,
        TokenState(),
        TokenSet(token=OAuthToken(access_token="set", expires_in=600)),
        Decision(state=TokenState(held=HELD_SET), events=(set_adopted(HELD_SET),)),
    ),
    Row(
        "set without a lifetime, a default lifetime: stamped now",
        DEFAULT_LIFETIME,
        TokenState(),
        TokenSet(token=OAuthToken(access_token="set")),
        Decision(
            state=TokenState(
                held=Held(
                    token=OAuthToken(access_token="set", expiry=W0 + 600),
                    expires_at=M0 + 600,
                    fresh_until=M0 + 540,
                    refresh_at=M0 + 405,
                )
            ),
            events=(
                TokenAdopted(origin=TokenOrigin.SETTER, expires_at=M0 + 600, refresh_at=M0 + 405),
            ),
        ),
    ),
    Row(
        "set inside the skew: not used (only a flight's token is)",
        ENDPOINT,
        TokenState(),
        TokenSet(token=INSIDE),
        Decision(
            state=TokenState(
                held=Held(
                    token=INSIDE, expires_at=M0 + 30, fresh_until=M0 - 30, refresh_at=M0 - 915
                )
            ),
            events=(
                TokenAdopted(origin=TokenOrigin.SETTER, expires_at=M0 + 30, refresh_at=M0 - 915),
            ),
        ),
    ),
    Row(
        "set a token that never expires",
        ENDPOINT,
        TokenState(),
        TokenSet(token=FOREVER),
        Decision(state=TokenState(held=HELD_FOREVER), events=(set_adopted(HELD_FOREVER),)),
    ),
]


# -- TokenRejected: a protected endpoint answered 401 ---------------------------------------

LET_GO_FRESH: Final = Held(token=FRESH, expires_at=M0 + 1800, fresh_until=M0, refresh_at=M0)
"""`HELD_FRESH` let go at M0: no longer used."""
LET_GO_EXPIRING: Final = Held(
    token=EXPIRING, expires_at=M0 + 600, fresh_until=M0, refresh_at=M0 - 345
)
LET_GO_BEFORE: Final = Held(
    token=FRESH, expires_at=M0 + 1800, fresh_until=M0 - 1, refresh_at=M0 - 1
)
"""`HELD_FRESH` let go a second before M0, after another request's 401."""


def rejected(token: OAuthToken) -> TokenRejected:
    return TokenRejected(token=token, reason=REASON)


REJECTED_ROWS: Final = [
    Row(
        "rejected: the held token is let go, and the next fetched",
        ENDPOINT,
        no_flight(HELD_FRESH, None, streak=0),
        rejected(FRESH),
        Decision(
            state=TokenState(held=LET_GO_FRESH, flight=STARTED_2, flights=2, rejected_at=M0),
            work=(fetch(2),),
            events=(
                TokenInvalidated(reason=REASON),
                FlightStarted(flight=2, source=TokenSource.ENDPOINT),
            ),
        ),
    ),
    Row(
        "rejected while its renewal is in flight: let go, wait for the renewal",
        ENDPOINT,
        in_flight(HELD_EXPIRING),
        rejected(EXPIRING),
        Decision(
            state=TokenState(
                held=LET_GO_EXPIRING,
                flight=IN_TIME,
                failure=OLD_FAILURE,
                flights=2,
                streak=1,
                rejected_at=M0,
            ),
            answer=AwaitFlight(flight=2, until=M0 + 22),
            events=(TokenInvalidated(reason=REASON),),
        ),
    ),
    Row(
        "rejected during a backoff: let go, wait for the retry",
        ENDPOINT,
        no_flight(HELD_FRESH, BACKOFF),
        rejected(FRESH),
        Decision(
            state=TokenState(
                held=LET_GO_FRESH, failure=BACKOFF, flights=1, streak=1, rejected_at=M0
            ),
            answer=AwaitRetry(until=M0 + 1.5),
            events=(TokenInvalidated(reason=REASON),),
        ),
    ),
    Row(
        "rejected twice within the cool-down: cool down",
        ENDPOINT,
        TokenState(held=HELD_FRESH, flights=1, rejected_at=M0 - 10),
        rejected(FRESH),
        Decision(
            state=TokenState(
                held=LET_GO_FRESH,
                failure=FailureRecord(flight=None, failure=REJECTED, at=M0, retry_at=M0 + 30),
                flights=1,
                rejected_at=M0 - 10,
            ),
            answer=Fail(failure=REJECTED, retry_after=30.0),
            events=(
                TokenInvalidated(reason=REASON),
                CoolDownStarted(seconds=30.0, failure=REJECTED),
            ),
        ),
    ),
    Row(
        "rejected again as the cool-down ends: let go, the next fetched",
        ENDPOINT,
        TokenState(held=HELD_FRESH, flights=1, rejected_at=M0 - 30),
        rejected(FRESH),
        Decision(
            state=TokenState(held=LET_GO_FRESH, flight=STARTED_2, flights=2, rejected_at=M0),
            work=(fetch(2),),
            events=(
                TokenInvalidated(reason=REASON),
                FlightStarted(flight=2, source=TokenSource.ENDPOINT),
            ),
        ),
    ),
    Row(
        "rejected: a token no longer held, the newer one used",
        ENDPOINT,
        no_flight(HELD_FRESH, None, streak=0),
        rejected(STALE),
        Decision(
            state=no_flight(HELD_FRESH, None, streak=0),
            answer=UseToken(token=FRESH),
            events=(StaleRejectionIgnored(reason=REASON),),
        ),
    ),
    Row(
        "rejected: a token no longer held, the newer one expiring: used, and renewed",
        ENDPOINT,
        no_flight(HELD_EXPIRING),
        rejected(STALE),
        Decision(
            state=TokenState(
                held=HELD_EXPIRING, flight=STARTED_2, failure=OLD_FAILURE, flights=2, streak=1
            ),
            answer=UseToken(token=EXPIRING),
            work=(fetch(2),),
            events=(
                StaleRejectionIgnored(reason=REASON),
                FlightStarted(flight=2, source=TokenSource.ENDPOINT, renewal=True),
            ),
        ),
    ),
    Row(
        "rejected: a token no longer held, nothing usable: fetch as any caller",
        ENDPOINT,
        no_flight(HELD_STALE),
        rejected(FRESH),
        Decision(
            state=TokenState(
                held=HELD_STALE, flight=STARTED_2, failure=OLD_FAILURE, flights=2, streak=1
            ),
            work=(fetch(2),),
            events=(
                StaleRejectionIgnored(reason=REASON),
                FlightStarted(flight=2, source=TokenSource.ENDPOINT),
            ),
        ),
    ),
    Row(
        # Several requests carried it: the first 401 let it go, the others are not a
        # second rejection in a row.
        "rejected: the held token already let go: wait for its replacement",
        ENDPOINT,
        TokenState(held=LET_GO_BEFORE, flight=IN_TIME, flights=2, rejected_at=M0 - 1),
        rejected(FRESH),
        Decision(
            state=TokenState(held=LET_GO_BEFORE, flight=IN_TIME, flights=2, rejected_at=M0 - 1),
            answer=AwaitFlight(flight=2, until=M0 + 22),
            events=(StaleRejectionIgnored(reason=REASON),),
        ),
    ),
    Row(
        "rejected: nothing held: fetch",
        ENDPOINT,
        TokenState(),
        rejected(FRESH),
        Decision(
            state=TokenState(flight=STARTED_1, flights=1),
            work=(fetch(1),),
            events=(
                StaleRejectionIgnored(reason=REASON),
                FlightStarted(flight=1, source=TokenSource.ENDPOINT),
            ),
        ),
    ),
    Row(
        "newcomer during a rejection cool-down: fails at once",
        ENDPOINT,
        TokenState(held=LET_GO_FRESH, failure=REJECTED_TWICE, flights=1, rejected_at=M0 - 20),
        NEEDED,
        answered(
            TokenState(held=LET_GO_FRESH, failure=REJECTED_TWICE, flights=1, rejected_at=M0 - 20),
            Fail(failure=REJECTED, retry_after=20.0),
        ),
    ),
    Row(
        "rejection cool-down over: the next fetched",
        ENDPOINT,
        TokenState(held=LET_GO_FRESH, failure=REJECTED_COOLED, flights=1, rejected_at=M0 - 50),
        NEEDED,
        Decision(
            state=TokenState(
                held=LET_GO_FRESH,
                flight=STARTED_2,
                failure=REJECTED_COOLED,
                flights=2,
                rejected_at=M0 - 50,
            ),
            work=(fetch(2),),
            events=(FlightStarted(flight=2, source=TokenSource.ENDPOINT),),
        ),
    ),
]


# -- TokenAccepted: a request replayed after a 401 went through -----------------------------

REPLACED: Final = TokenState(held=HELD_NEW, flights=2, rejected_at=M0 - 5)
"""`NEW` replaced a token rejected 5 s ago."""

ACCEPTED_ROWS: Final = [
    Row(
        "accepted: the replacement works, the rejection forgotten",
        ENDPOINT,
        REPLACED,
        TokenAccepted(token=NEW),
        Decision(state=TokenState(held=HELD_NEW, flights=2)),
    ),
    Row(
        "accepted: a token no longer held: nothing",
        ENDPOINT,
        REPLACED,
        TokenAccepted(token=FRESH),
        Decision(state=REPLACED),
    ),
    Row(
        "accepted: no rejection to forget: nothing",
        ENDPOINT,
        no_flight(HELD_FRESH),
        TokenAccepted(token=FRESH),
        Decision(state=no_flight(HELD_FRESH)),
    ),
    Row(
        "accepted: nothing held: nothing",
        ENDPOINT,
        TokenState(rejected_at=M0 - 5),
        TokenAccepted(token=FRESH),
        Decision(state=TokenState(rejected_at=M0 - 5)),
    ),
    Row(
        "rejected after a replay went through: a first rejection again",
        ENDPOINT,
        TokenState(held=HELD_NEW, flights=2),
        rejected(NEW),
        Decision(
            state=TokenState(
                held=Held(token=NEW, expires_at=M0 + 3590, fresh_until=M0, refresh_at=M0),
                flight=STARTED_3,
                flights=3,
                rejected_at=M0,
            ),
            work=(fetch(3),),
            events=(
                TokenInvalidated(reason=REASON),
                FlightStarted(flight=3, source=TokenSource.ENDPOINT),
            ),
        ),
    ),
]


# -- the update callback's answers ----------------------------------------------------------

CALLBACK_ROWS: Final = [
    Row(
        "notified, token still held and fresh: use it",
        NOTIFY,
        no_flight(HELD_FRESH),
        TokenUpdateNotified(token=FRESH),
        use(no_flight(HELD_FRESH), FRESH),
    ),
    Row(
        "notified, token held and expiring: use it",
        NOTIFY,
        no_flight(HELD_EXPIRING),
        TokenUpdateNotified(token=EXPIRING),
        use(no_flight(HELD_EXPIRING), EXPIRING),
    ),
    Row(
        "notified, token replaced meanwhile: ask again",
        NOTIFY,
        no_flight(HELD_FRESH),
        TokenUpdateNotified(token=SET),
        Decision(state=no_flight(HELD_FRESH)),
    ),
    Row(
        "notified, token expired meanwhile: ask again",
        NOTIFY,
        no_flight(HELD_STALE),
        TokenUpdateNotified(token=STALE),
        Decision(state=no_flight(HELD_STALE)),
    ),
    Row(
        "notified, token dropped meanwhile: ask again",
        NOTIFY,
        no_flight(None),
        TokenUpdateNotified(token=FRESH),
        Decision(state=no_flight(None)),
    ),
    Row(
        "callback raised: fail, the token kept, reported",
        NOTIFY,
        no_flight(HELD_FRESH),
        TokenUpdateRaised(token=FRESH, reason="OSError: disk full"),
        Decision(
            state=no_flight(HELD_FRESH),
            answer=Fail(failure=UpdateCallbackRaised(reason="OSError: disk full")),
            events=(UpdateCallbackFailed(reason="OSError: disk full"),),
        ),
    ),
]

# -- adaptive client authentication (ClientSecretAuto) --------------------------------------

ADAPTIVE: Final = Policy(
    request=msgspec.structs.replace(
        SPEC, client_secret="p%q+r s", authentication=ClientSecretAuto(allow_post=True)
    )
)
"""Form-encoded Basic, raw Basic (the secret needs encoding, so they differ), then post."""
EMPTY_403_REPLY: Final = HttpReply(status=403, body=b"")
EMPTY_403: Final = MalformedResponse(
    status=403, reason="HTTP 403 without an OAuth error: ''", headers=()
)
FORMS: Final = ("client_secret_basic", "client_secret_basic (raw)", "client_secret_post")


def fell_back_to(form: int, failure: TokenFailure, held: Held | None = HELD_STALE) -> Decision:
    """Flight 2's form (`form - 1`) refused: flight 3 sends form `form` at once, flight
    2's waiters released to wait for it; nothing recorded, nothing held back."""
    return Decision(
        state=TokenState(
            held=held,
            flight=STARTED_3,
            failure=OLD_FAILURE,
            flights=3,
            streak=1,
            auth=form,
        ),
        work=(
            ReleaseWaiters(flight=2),
            FetchToken(flight=3, request=ADAPTIVE.token_requests[form]),
        ),
        events=(
            FlightSettled(flight=2, failure=failure, renewal=False),
            AuthenticationFallback(refused=FORMS[form - 1], trying=FORMS[form]),
            FlightStarted(flight=3, source=TokenSource.ENDPOINT),
        ),
    )


def trying(form: int, *, settled: bool = False) -> TokenState:
    """Flight 2 in progress, sending form `form`."""
    return msgspec.structs.replace(FLYING_STALE, auth=form, auth_settled=settled)


AUTH_ROWS: Final = [
    Row(
        "auth: form-encoded Basic refused (invalid_client): raw Basic next, at once",
        ADAPTIVE,
        trying(0),
        TokenReplyReceived(flight=2, reply=INVALID_CLIENT_REPLY),
        fell_back_to(1, INVALID_CLIENT),
    ),
    Row(
        "auth: raw Basic refused (an empty 403): the post body next",
        ADAPTIVE,
        trying(1),
        TokenReplyReceived(flight=2, reply=EMPTY_403_REPLY),
        fell_back_to(2, EMPTY_403),
    ),
    Row(
        "auth: the last form refused: the failure names the forms, the next try starts over",
        ADAPTIVE,
        trying(2),
        TokenReplyReceived(flight=2, reply=INVALID_CLIENT_REPLY),
        failed_2(
            HELD_STALE,
            msgspec.structs.replace(INVALID_CLIENT, tried=FORMS),
            retry_at=M0 + 30,
            streak=1,
            then=CoolDownStarted(
                seconds=30.0, failure=msgspec.structs.replace(INVALID_CLIENT, tried=FORMS)
            ),
        ),
    ),
    Row(
        "auth: a form from another policy's state: its last form, refused",
        ADAPTIVE,
        trying(7),
        TokenReplyReceived(flight=2, reply=INVALID_CLIENT_REPLY),
        failed_2(
            HELD_STALE,
            msgspec.structs.replace(INVALID_CLIENT, tried=FORMS),
            retry_at=M0 + 30,
            streak=1,
            then=CoolDownStarted(
                seconds=30.0, failure=msgspec.structs.replace(INVALID_CLIENT, tried=FORMS)
            ),
        ),
    ),
    Row(
        "auth: a token from a later form settles it",
        ADAPTIVE,
        trying(1),
        TokenReplyReceived(flight=2, reply=NEW_REPLY),
        msgspec.structs.replace(
            adopted_2(HELD_NEW, TokenOrigin.ENDPOINT),
            state=TokenState(held=HELD_NEW, flights=2, auth=1, auth_settled=True),
        ),
    ),
    Row(
        "auth: the settled form refused later: a failure, no fallback",
        ADAPTIVE,
        trying(1, settled=True),
        TokenReplyReceived(flight=2, reply=INVALID_CLIENT_REPLY),
        msgspec.structs.replace(
            failed_2(
                HELD_STALE,
                INVALID_CLIENT,
                retry_at=M0 + 30,
                streak=1,
                then=CoolDownStarted(seconds=30.0, failure=INVALID_CLIENT),
            ),
            state=TokenState(
                held=HELD_STALE,
                failure=FailureRecord(flight=2, failure=INVALID_CLIENT, at=M0, retry_at=M0 + 30),
                flights=2,
                streak=1,
                auth=1,
                auth_settled=True,
            ),
        ),
    ),
    Row(
        "auth: another error (access_denied) from the first form: no fallback",
        ADAPTIVE,
        trying(0),
        TokenReplyReceived(flight=2, reply=DENIED_REPLY),
        failed_2(
            HELD_STALE,
            DENIED,
            retry_at=M0 + 120,
            streak=1,
            then=CoolDownStarted(seconds=120.0, failure=DENIED),
        ),
    ),
    Row(
        "auth: a need starts its flight with the form the state says",
        ADAPTIVE,
        no_flight(None, None, streak=0),
        TokenNeeded(),
        Decision(
            state=TokenState(flight=STARTED_2, flights=2),
            work=(FetchToken(flight=2, request=ADAPTIVE.token_requests[0]),),
            events=(FlightStarted(flight=2, source=TokenSource.ENDPOINT),),
        ),
    ),
]


ROWS: Final = (
    NEEDED_ROWS
    + OUTCOME_ROWS
    + AUTH_ROWS
    + STALE_ROWS
    + SET_ROWS
    + REJECTED_ROWS
    + ACCEPTED_ROWS
    + CALLBACK_ROWS
)


def test_row_ids_are_unique() -> None:
    ids = [row.id for row in ROWS]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_transition(row: Row) -> None:
    assert step(row.policy, row.state, row.event, row.now) == row.expected


# -- initial_state ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "token", "expected"),
    [
        (ENDPOINT, None, Success(TokenState())),
        (
            ENDPOINT,
            OAuthToken(access_token="t", expires_in=3600),
            Success(
                TokenState(
                    held=Held(
                        token=OAuthToken(access_token="t", expires_in=3600, expiry=W0 + 3600),
                        expires_at=M0 + 3600,
                        fresh_until=M0 + 3540,
                        refresh_at=M0 + 2655,
                    )
                )
            ),
        ),
        (
            DEFAULT_LIFETIME,
            OAuthToken(access_token="t", expires_in=0),
            Success(
                TokenState(
                    held=Held(
                        token=OAuthToken(access_token="t", expires_in=0, expiry=W0 + 600),
                        expires_at=M0 + 600,
                        fresh_until=M0 + 540,
                        refresh_at=M0 + 405,
                    )
                )
            ),
        ),
        (
            ENDPOINT,
            OAuthToken(access_token="t", expiry=W0 - 10),
            Success(
                TokenState(
                    held=Held(
                        token=OAuthToken(access_token="t", expiry=W0 - 10),
                        expires_at=M0 - 10,
                        fresh_until=M0 - 70,
                        refresh_at=M0 - 70,
                    )
                )
            ),
        ),
        (ENDPOINT, FOREVER, Success(TokenState(held=HELD_FOREVER))),
        (
            ENDPOINT,
            OAuthToken(access_token="t\n"),
            Failure(
                InvalidToken(
                    origin=TokenOrigin.INITIAL,
                    reason="access_token cannot be sent in a header: character 2 of 2 is '\\n'",
                )
            ),
        ),
        (
            ENDPOINT,
            "a token as a string",
            Failure(
                InvalidToken(origin=TokenOrigin.INITIAL, reason="expected an OAuthToken, got str")
            ),
        ),
    ],
    ids=[
        "none",
        "expires_in stamped",
        "expires_in 0: the default lifetime",
        "expired is held",
        "never expires",
        "unsafe",
        "a string",
    ],
)
def test_initial_state(
    policy: Policy, token: object, expected: Result[TokenState, InvalidToken]
) -> None:
    assert initial_state(policy, token, NOW) == expected
