"""The transition table of `ccg.core.step`: one row per transition `_machine.py` documents.

Each row is `(policy, state, input, now) -> Decision` and compares the whole
`Decision` (state, answer, work and events), as h11's `test_state.py` compares whole
states. Every expected value is written out by hand: the token request byte for byte,
flight deadlines and token expiries as arithmetic on the row's clocks, failure reasons
as the text a user reads. Nothing expected is computed with the code under test.

The clocks of most rows: `now` is monotonic `M0` = 1000 s and wall `W0`; the policy's
skew is 60 s and its total timeout 30 s, so a flight started at `now` has its deadline
at M0 + 30 + 2 (the grace).
"""

from __future__ import annotations

import math
from typing import Final, NamedTuple

import pytest
from returns.result import Failure, Result, Success

from ccg.core import (
    Abandoned,
    AwaitFlight,
    CallTokenProvider,
    Decision,
    ErrorResponse,
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
    Now,
    OAuthProviderError,
    OAuthToken,
    Policy,
    ProviderRaised,
    ProviderReturnedExpired,
    ProviderReturnedNone,
    ReleaseWaiters,
    StaleOutcomeIgnored,
    TokenAdopted,
    TokenDropped,
    TokenExpiredOnArrival,
    TokenFailure,
    TokenNeeded,
    TokenOrigin,
    TokenProvided,
    TokenProviderRaised,
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
    UseToken,
    initial_state,
    step,
)

M0: Final = 1_000.0
"""The monotonic clock of most rows."""
W0: Final = 1_700_000_000.0
"""The wall clock of most rows."""
NOW: Final = Now(monotonic=M0, wall=W0)

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
HELD_FRESH: Final = Held(token=FRESH, expires_at=M0 + 1800)
"""Usable until M0 + 1740."""
STALE: Final = OAuthToken(access_token="stale", expires_in=3600, expiry=W0 + 30)
HELD_STALE: Final = Held(token=STALE, expires_at=M0 + 30)
"""Within the 60 s skew at M0: expired."""
EDGE: Final = OAuthToken(access_token="edge", expires_in=3600, expiry=W0 + 60)
HELD_EDGE: Final = Held(token=EDGE, expires_at=M0 + 60)
"""Expired from exactly M0 on (M0 + 60 - 60): the boundary instant counts as expired."""
SHORT: Final = OAuthToken(access_token="short", expires_in=30, expiry=W0 + 16)
HELD_SHORT: Final = Held(token=SHORT, expires_at=M0 + 16)
"""A 30 s token: the skew is capped at 15 s, so it is usable until M0 + 1."""
RESTORED: Final = OAuthToken(access_token="restored", expiry=W0 + 100)
HELD_RESTORED: Final = Held(token=RESTORED, expires_at=M0 + 100)
"""Only an `expiry`: the skew is not capped; usable until M0 + 40."""
FOREVER: Final = OAuthToken(access_token="forever")
HELD_FOREVER: Final = Held(token=FOREVER, expires_at=math.inf)

# -- flights --------------------------------------------------------------------------

IN_TIME: Final = Flight(id=2, source=TokenSource.ENDPOINT, started=M0 - 10, deadline=M0 + 22)
OVERDUE: Final = Flight(id=2, source=TokenSource.ENDPOINT, started=M0 - 40, deadline=M0 - 8)
AT_DEADLINE: Final = Flight(id=2, source=TokenSource.ENDPOINT, started=M0 - 32, deadline=M0)
PROVIDER_IN_TIME: Final = Flight(
    id=2, source=TokenSource.PROVIDER, started=M0 - 10, deadline=M0 + 22
)
STARTED_2: Final = Flight(id=2, source=TokenSource.ENDPOINT, started=M0, deadline=M0 + 32)
STARTED_3: Final = Flight(id=3, source=TokenSource.ENDPOINT, started=M0, deadline=M0 + 32)
PROVIDER_STARTED_2: Final = Flight(id=2, source=TokenSource.PROVIDER, started=M0, deadline=M0 + 32)

REFUSED: Final = TransportFailure(
    kind=TransportFailureKind.CONNECT, reason="ConnectionRefusedError: refused"
)
OLD_FAILURE: Final = FailureRecord(flight=1, failure=REFUSED, at=M0 - 100)
"""Flight 1 failed a while ago."""
TIMED_OUT_40: Final = FlightTimedOut(seconds=40.0)
TIMED_OUT_32: Final = FlightTimedOut(seconds=32.0)


def no_flight(held: Held | None, failure: FailureRecord | None = OLD_FAILURE) -> TokenState:
    """One flight (1) has run and is over."""
    return TokenState(held=held, failure=failure, flights=1)


def in_flight(held: Held | None, flight: Flight = IN_TIME) -> TokenState:
    """Flight 1 failed; flight 2 is in progress."""
    return TokenState(held=held, flight=flight, failure=OLD_FAILURE, flights=2)


def fetch(flight: int) -> FetchToken:
    return FetchToken(flight=flight, request=REQUEST)


# -- replies --------------------------------------------------------------------------

JSON: Final = ("Content-Type", "application/json")
NEW_REPLY: Final = HttpReply(
    status=200,
    headers=(JSON, ("Cache-Control", "no-store")),
    body=b'{"access_token":"new","token_type":"Bearer","expires_in":3600}',
)
NEW: Final = OAuthToken(access_token="new", expires_in=3600, expiry=W0 + 3590)
"""`NEW_REPLY` to flight 2 (`IN_TIME`, sent at M0 - 10, when the wall read W0 - 10)."""
HELD_NEW: Final = Held(token=NEW, expires_at=M0 + 3590)
SHORT_REPLY: Final = HttpReply(
    status=200, headers=(JSON,), body=b'{"access_token":"new","expires_in":60}'
)
ZERO_REPLY: Final = HttpReply(
    status=200, headers=(JSON,), body=b'{"access_token":"new","expires_in":0}'
)
CHALLENGE: Final = ("WWW-Authenticate", 'Basic realm="as"')
INVALID_CLIENT_REPLY: Final = HttpReply(
    status=401,
    headers=(JSON, CHALLENGE),
    body=b'{"error":"invalid_client","error_description":"bad secret"}',
)
INVALID_CLIENT: Final = ErrorResponse(
    status=401,
    error=OAuthProviderError.INVALID_CLIENT,
    error_description="bad secret",
    headers=(JSON, CHALLENGE),
)
BAD_GATEWAY_REPLY: Final = HttpReply(
    status=502, headers=(("Retry-After", "5"),), body=b"<html>bad gateway</html>"
)
BAD_GATEWAY: Final = MalformedResponse(
    status=502,
    reason="HTTP 502 without an OAuth error: '<html>bad gateway</html>'",
    headers=(("Retry-After", "5"),),
)
READ_TIMEOUT: Final = TransportFailure(
    kind=TransportFailureKind.TIMEOUT, reason="ReadTimeoutError: Read timed out."
)

# -- tokens handed in ------------------------------------------------------------------

SET: Final = OAuthToken(access_token="set", expires_in=3600, expiry=W0 + 600)
HELD_SET: Final = Held(token=SET, expires_at=M0 + 600)
SET_EXPIRED: Final = OAuthToken(access_token="set", expires_in=3600, expiry=W0 + 30)
HELD_SET_EXPIRED: Final = Held(token=SET_EXPIRED, expires_at=M0 + 30)
PROVIDED: Final = OAuthToken(access_token="provided", expires_in=3600)
"""As a provider builds it: no `expiry`. Its lifetime counts from when the provider was
asked (the flight's start, 10 s before `NOW`), as a fetched token's does."""
PROVIDED_STAMPED: Final = OAuthToken(
    access_token="provided", expires_in=3600, expiry=W0 - 10 + 3600
)


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


def stale(state: TokenState, flight: int) -> Decision:
    return Decision(state=state, events=(StaleOutcomeIgnored(flight=flight),))


def failed_2(held: Held | None, failure: TokenFailure) -> Decision:
    """Flight 2 ended without a token: remembered at M0, told to the caller and waiters."""
    return Decision(
        state=TokenState(
            held=held, failure=FailureRecord(flight=2, failure=failure, at=M0), flights=2
        ),
        answer=Fail(failure=failure, flight=2),
        work=(ReleaseWaiters(flight=2),),
        events=(FlightSettled(flight=2, failure=failure),),
    )


def given_up_and_started_3(held: Held | None) -> Decision:
    """Overdue flight 2 given up (40 s after it started), flight 3 started, by a newcomer."""
    return Decision(
        state=TokenState(
            held=held,
            flight=STARTED_3,
            failure=FailureRecord(flight=2, failure=TIMED_OUT_40, at=M0),
            flights=3,
        ),
        work=(ReleaseWaiters(flight=2), fetch(3)),
        events=(
            FlightSettled(flight=2, failure=TIMED_OUT_40),
            FlightStarted(flight=3, source=TokenSource.ENDPOINT),
        ),
    )


def started_2(held: Held | None, failure: FailureRecord | None = OLD_FAILURE) -> Decision:
    """Flight 2 started at M0 by this caller, who runs its fetch."""
    return Decision(
        state=TokenState(held=held, flight=STARTED_2, failure=failure, flights=2),
        work=(fetch(2),),
        events=(FlightStarted(flight=2, source=TokenSource.ENDPOINT),),
    )


NEEDED: Final = TokenNeeded()
WAITED_1: Final = TokenNeeded(waited_for=1)
WAITED_2: Final = TokenNeeded(waited_for=2)


# -- TokenNeeded: held token x flight x waited_for --------------------------------------

NEEDED_ROWS: Final = [
    # A FRESH token answers everyone, flight or no flight.
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
    # EXPIRED: no flight -> start one; a waiter for a failed flight is told its failure.
    Row("expired, no flight", ENDPOINT, no_flight(HELD_STALE), NEEDED, started_2(HELD_STALE)),
    Row(
        "expired, no flight, waited for failed 1",
        ENDPOINT,
        no_flight(HELD_STALE),
        WAITED_1,
        Decision(state=no_flight(HELD_STALE), answer=Fail(failure=REFUSED, flight=1)),
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
        no_flight(HELD_STALE, failure=None),
        WAITED_1,
        started_2(HELD_STALE, failure=None),
    ),
    # EXPIRED, flight in time -> wait for it, whoever asks.
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
    # EXPIRED, flight overdue -> its waiter is told it timed out; a newcomer starts the next.
    Row(
        "expired, flight overdue",
        ENDPOINT,
        in_flight(HELD_STALE, OVERDUE),
        NEEDED,
        given_up_and_started_3(HELD_STALE),
    ),
    Row(
        "expired, flight overdue, waited for it",
        ENDPOINT,
        in_flight(HELD_STALE, OVERDUE),
        WAITED_2,
        failed_2(HELD_STALE, TIMED_OUT_40),
    ),
    Row(
        "expired, flight overdue, waited for 1",
        ENDPOINT,
        in_flight(HELD_STALE, OVERDUE),
        WAITED_1,
        given_up_and_started_3(HELD_STALE),
    ),
    # EMPTY: as EXPIRED.
    Row("empty, no flight", ENDPOINT, no_flight(None), NEEDED, started_2(None)),
    Row(
        "empty, no flight, waited for failed 1",
        ENDPOINT,
        no_flight(None),
        WAITED_1,
        Decision(state=no_flight(None), answer=Fail(failure=REFUSED, flight=1)),
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
        given_up_and_started_3(None),
    ),
    Row(
        "empty, flight overdue, waited for it",
        ENDPOINT,
        in_flight(None, OVERDUE),
        WAITED_2,
        failed_2(None, TIMED_OUT_40),
    ),
    Row(
        "empty, flight overdue, waited for 1",
        ENDPOINT,
        in_flight(None, OVERDUE),
        WAITED_1,
        given_up_and_started_3(None),
    ),
    # The very first call of a new client.
    Row(
        "initial state",
        ENDPOINT,
        TokenState(),
        NEEDED,
        Decision(
            state=TokenState(
                flight=Flight(id=1, source=TokenSource.ENDPOINT, started=M0, deadline=M0 + 32),
                flights=1,
            ),
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
                held=HELD_STALE, flight=PROVIDER_STARTED_2, failure=OLD_FAILURE, flights=2
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
            state=TokenState(flight=PROVIDER_STARTED_2, failure=OLD_FAILURE, flights=2),
            work=(CallTokenProvider(flight=2, last=None),),
            events=(FlightStarted(flight=2, source=TokenSource.PROVIDER),),
        ),
    ),
    # Boundaries: the instant a token stops being usable, the instant a flight is overdue.
    Row(
        "expiry boundary: expired at it",
        ENDPOINT,
        no_flight(HELD_EDGE),
        NEEDED,
        started_2(HELD_EDGE),
    ),
    Row(
        "expiry boundary: fresh just before it",
        ENDPOINT,
        no_flight(HELD_EDGE),
        NEEDED,
        use(no_flight(HELD_EDGE), EDGE),
        Now(monotonic=math.nextafter(M0, 0.0), wall=W0),
    ),
    Row(
        "deadline boundary: overdue at it",
        ENDPOINT,
        in_flight(None, AT_DEADLINE),
        WAITED_2,
        failed_2(None, TIMED_OUT_32),
    ),
    Row(
        "deadline boundary: in time just before it",
        ENDPOINT,
        in_flight(None, AT_DEADLINE),
        WAITED_2,
        wait(in_flight(None, AT_DEADLINE), AT_DEADLINE),
        Now(monotonic=math.nextafter(M0, 0.0), wall=W0),
    ),
    # The skew: capped at half a short lifetime, whole for a token without expires_in.
    Row(
        "short token: skew capped at 15 s",
        ENDPOINT,
        no_flight(HELD_SHORT),
        NEEDED,
        use(no_flight(HELD_SHORT), SHORT),
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
            ),
            work=(fetch(2),),
            events=(FlightStarted(flight=2, source=TokenSource.ENDPOINT),),
        ),
        Now(monotonic=M0 + 1, wall=W0 + 1),
    ),
    Row(
        "restored token: fresh until M0 + 40",
        ENDPOINT,
        no_flight(HELD_RESTORED),
        NEEDED,
        use(no_flight(HELD_RESTORED), RESTORED),
        Now(monotonic=M0 + 39, wall=W0),
    ),
    Row(
        "restored token: expired at M0 + 40",
        ENDPOINT,
        no_flight(HELD_RESTORED),
        WAITED_1,
        Decision(state=no_flight(HELD_RESTORED), answer=Fail(failure=REFUSED, flight=1)),
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


def adopted_2(held: Held, origin: TokenOrigin, *, notify: bool = False) -> Decision:
    """Flight 2 produced `held`: adopted, the failure forgotten, its waiters released;
    the caller uses it, or first announces it when it is new and a callback is set."""
    settled = (
        FlightSettled(flight=2, failure=None),
        TokenAdopted(origin=origin, expires_at=held.expires_at),
    )
    state = TokenState(held=held, flights=2)
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
        "reply: new token announced",
        NOTIFY,
        FLYING_STALE,
        TokenReplyReceived(flight=2, reply=NEW_REPLY),
        adopted_2(HELD_NEW, TokenOrigin.ENDPOINT, notify=True),
    ),
    Row(
        "reply: the same token again is not announced",
        NOTIFY,
        in_flight(Held(token=NEW, expires_at=M0 + 5)),
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
            ),
            TokenOrigin.ENDPOINT,
        ),
        Now(monotonic=M0, wall=W0 - 86_400),
    ),
    Row(
        "reply: error response, headers kept",
        ENDPOINT,
        FLYING_STALE,
        TokenReplyReceived(flight=2, reply=INVALID_CLIENT_REPLY),
        failed_2(HELD_STALE, INVALID_CLIENT),
    ),
    Row(
        "reply: malformed, headers kept",
        ENDPOINT,
        FLYING_EMPTY,
        TokenReplyReceived(flight=2, reply=BAD_GATEWAY_REPLY),
        failed_2(None, BAD_GATEWAY),
    ),
    Row(
        "reply: expires_in 0, expired on arrival",
        ENDPOINT,
        FLYING_STALE,
        TokenReplyReceived(flight=2, reply=ZERO_REPLY),
        failed_2(HELD_STALE, TokenExpiredOnArrival(expires_in=0)),
    ),
    Row(
        # Sent at M0 - 40 for 60 s, skew capped at 30 s: usable until M0 - 10.
        "reply: expired on arrival, counted from the start",
        ENDPOINT,
        in_flight(HELD_STALE, OVERDUE),
        TokenReplyReceived(flight=2, reply=SHORT_REPLY),
        failed_2(HELD_STALE, TokenExpiredOnArrival(expires_in=60)),
    ),
    Row(
        "request failed",
        ENDPOINT,
        FLYING_STALE,
        TokenRequestFailed(flight=2, failure=READ_TIMEOUT),
        failed_2(HELD_STALE, READ_TIMEOUT),
    ),
    Row(
        "fetch abandoned",
        ENDPOINT,
        FLYING_STALE,
        FlightAbandoned(flight=2, reason="KeyboardInterrupt: "),
        failed_2(HELD_STALE, Abandoned(reason="KeyboardInterrupt: ")),
    ),
    Row(
        "provided: lifetime counted from the flight's start",
        PROVIDER,
        PROVIDER_FLYING,
        TokenProvided(flight=2, token=PROVIDED),
        adopted_2(Held(token=PROVIDED_STAMPED, expires_at=M0 - 10 + 3600), TokenOrigin.PROVIDER),
    ),
    Row(
        "provided: token with an expiry, placed on the monotonic clock",
        PROVIDER,
        PROVIDER_FLYING,
        TokenProvided(flight=2, token=OAuthToken(access_token="provided", expiry=W0 + 1000)),
        adopted_2(
            Held(token=OAuthToken(access_token="provided", expiry=W0 + 1000), expires_at=M0 + 1000),
            TokenOrigin.PROVIDER,
        ),
    ),
    Row(
        "provided: new token announced",
        PROVIDER_NOTIFY,
        PROVIDER_FLYING,
        TokenProvided(flight=2, token=PROVIDED),
        adopted_2(
            Held(token=PROVIDED_STAMPED, expires_at=M0 - 10 + 3600),
            TokenOrigin.PROVIDER,
            notify=True,
        ),
    ),
    Row(
        "provided: the last token again is not announced",
        PROVIDER_NOTIFY,
        in_flight(HELD_FRESH, PROVIDER_IN_TIME),
        TokenProvided(flight=2, token=FRESH),
        adopted_2(HELD_FRESH, TokenOrigin.PROVIDER),
    ),
    Row(
        "provided: None",
        PROVIDER,
        PROVIDER_FLYING,
        TokenProvided(flight=2, token=None),
        failed_2(HELD_STALE, ProviderReturnedNone()),
    ),
    Row(
        "provided: expired token",
        PROVIDER,
        PROVIDER_FLYING,
        TokenProvided(flight=2, token=STALE),
        failed_2(HELD_STALE, ProviderReturnedExpired(expiry=W0 + 30)),
    ),
    Row(
        "provided: expires_in 0, expired as stamped",
        PROVIDER,
        PROVIDER_FLYING,
        TokenProvided(flight=2, token=OAuthToken(access_token="p", expires_in=0)),
        failed_2(HELD_STALE, ProviderReturnedExpired(expiry=W0 - 10)),
    ),
    Row(
        "provided: invalid token",
        PROVIDER,
        PROVIDER_FLYING,
        TokenProvided(flight=2, token=OAuthToken(access_token="a b")),
        failed_2(
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
        failed_2(
            HELD_STALE,
            InvalidToken(origin=TokenOrigin.PROVIDER, reason="expected an OAuthToken, got dict"),
        ),
    ),
    Row(
        "provider raised",
        PROVIDER,
        PROVIDER_FLYING,
        TokenProviderRaised(flight=2, reason="RuntimeError: boom"),
        failed_2(HELD_STALE, ProviderRaised(reason="RuntimeError: boom")),
    ),
    Row(
        "provider call abandoned",
        PROVIDER,
        PROVIDER_FLYING,
        FlightAbandoned(flight=2, reason="CancelledError: "),
        failed_2(HELD_STALE, Abandoned(reason="CancelledError: ")),
    ),
]


# -- outcomes of flights that are not current: ignored --------------------------------------

GIVEN_UP: Final = TokenState(
    held=HELD_STALE, failure=FailureRecord(flight=2, failure=TIMED_OUT_40, at=M0 - 5), flights=2
)
"""Flight 2 was given up (its deadline passed), and no flight has started since."""
SUPERSEDED_BY_3: Final = TokenState(
    held=HELD_STALE,
    flight=STARTED_3,
    failure=FailureRecord(flight=2, failure=TIMED_OUT_40, at=M0),
    flights=3,
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

SET_ROWS: Final = [
    Row(
        "set None: drops the held token, keeps the flight",
        ENDPOINT,
        FLYING_STALE,
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
        FLYING_STALE,
        TokenSet(token=42),
        Decision(
            state=FLYING_STALE,
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
        no_flight(HELD_STALE),
        TokenSet(token=SET),
        Decision(
            state=TokenState(held=HELD_SET, flights=1),
            events=(TokenAdopted(origin=TokenOrigin.SETTER, expires_at=M0 + 600),),
        ),
    ),
    Row(
        "set fresh, flight in progress: the flight is superseded",
        ENDPOINT,
        FLYING_STALE,
        TokenSet(token=SET),
        Decision(
            state=TokenState(held=HELD_SET, flights=2),
            work=(ReleaseWaiters(flight=2),),
            events=(
                TokenAdopted(origin=TokenOrigin.SETTER, expires_at=M0 + 600),
                FlightSuperseded(flight=2),
            ),
        ),
    ),
    Row(
        "set expired, flight in progress: the flight goes on",
        ENDPOINT,
        FLYING_STALE,
        TokenSet(token=SET_EXPIRED),
        Decision(
            state=TokenState(held=HELD_SET_EXPIRED, flight=IN_TIME, flights=2),
            events=(TokenAdopted(origin=TokenOrigin.SETTER, expires_at=M0 + 30),),
        ),
    ),
    Row(
        "set fresh with a callback: superseded, then announced",
        NOTIFY,
        FLYING_EMPTY,
        TokenSet(token=SET),
        Decision(
            state=TokenState(held=HELD_SET, flights=2),
            work=(ReleaseWaiters(flight=2), NotifyTokenUpdate(token=SET)),
            events=(
                TokenAdopted(origin=TokenOrigin.SETTER, expires_at=M0 + 600),
                FlightSuperseded(flight=2),
            ),
        ),
    ),
    Row(
        "set expired with a callback: announced too",
        NOTIFY,
        no_flight(None),
        TokenSet(token=SET_EXPIRED),
        Decision(
            state=TokenState(held=HELD_SET_EXPIRED, flights=1),
            work=(NotifyTokenUpdate(token=SET_EXPIRED),),
            events=(TokenAdopted(origin=TokenOrigin.SETTER, expires_at=M0 + 30),),
        ),
    ),
    Row(
        # Placed anew from its wall-clock expiry, a wall clock set back since would lengthen it.
        "set the held token again with a callback: not announced, keeps its place",
        NOTIFY,
        no_flight(Held(token=SET, expires_at=M0 + 7)),
        TokenSet(token=SET),
        Decision(
            state=TokenState(held=Held(token=SET, expires_at=M0 + 7), flights=1),
            events=(TokenAdopted(origin=TokenOrigin.SETTER, expires_at=M0 + 7),),
        ),
    ),
    Row(
        "set with only expires_in: stamped now",
        ENDPOINT,
        TokenState(),
        TokenSet(token=OAuthToken(access_token="set", expires_in=600)),
        Decision(
            state=TokenState(
                held=Held(
                    token=OAuthToken(access_token="set", expires_in=600, expiry=W0 + 600),
                    expires_at=M0 + 600,
                )
            ),
            events=(TokenAdopted(origin=TokenOrigin.SETTER, expires_at=M0 + 600),),
        ),
    ),
    Row(
        "set a token that never expires",
        ENDPOINT,
        TokenState(),
        TokenSet(token=FOREVER),
        Decision(
            state=TokenState(held=HELD_FOREVER),
            events=(TokenAdopted(origin=TokenOrigin.SETTER, expires_at=math.inf),),
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
        "callback raised: fail, the token kept",
        NOTIFY,
        no_flight(HELD_FRESH),
        TokenUpdateRaised(token=FRESH, reason="OSError: disk full"),
        Decision(
            state=no_flight(HELD_FRESH),
            answer=Fail(failure=UpdateCallbackRaised(reason="OSError: disk full")),
        ),
    ),
]

ROWS: Final = NEEDED_ROWS + OUTCOME_ROWS + STALE_ROWS + SET_ROWS + CALLBACK_ROWS


def test_row_ids_are_unique() -> None:
    ids = [row.id for row in ROWS]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_transition(row: Row) -> None:
    assert step(row.policy, row.state, row.event, row.now) == row.expected


# -- initial_state ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        (None, Success(TokenState())),
        (
            OAuthToken(access_token="t", expires_in=3600),
            Success(
                TokenState(
                    held=Held(
                        token=OAuthToken(access_token="t", expires_in=3600, expiry=W0 + 3600),
                        expires_at=M0 + 3600,
                    )
                )
            ),
        ),
        (
            OAuthToken(access_token="t", expiry=W0 - 10),
            Success(
                TokenState(
                    held=Held(
                        token=OAuthToken(access_token="t", expiry=W0 - 10), expires_at=M0 - 10
                    )
                )
            ),
        ),
        (FOREVER, Success(TokenState(held=HELD_FOREVER))),
        (
            OAuthToken(access_token="t\n"),
            Failure(
                InvalidToken(
                    origin=TokenOrigin.INITIAL,
                    reason="access_token cannot be sent in a header: character 2 of 2 is '\\n'",
                )
            ),
        ),
        (
            "a token as a string",
            Failure(
                InvalidToken(origin=TokenOrigin.INITIAL, reason="expected an OAuthToken, got str")
            ),
        ),
    ],
    ids=["none", "expires_in stamped", "expired is held", "never expires", "unsafe", "a string"],
)
def test_initial_state(token: object, expected: Result[TokenState, InvalidToken]) -> None:
    assert initial_state(token, NOW) == expected
