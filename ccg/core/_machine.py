r"""The token state machine: every transition of ccg lives in this file.

Theory of operation
-------------------
`step(policy, state, input, now)` is the whole machine. It is pure (no clock, no
I/O: `now` carries both clocks and a random draw) and total (every state x input
pair has an outcome; nothing raises). It returns a `Decision`: the next state, the
*answer* for the caller who stepped the input, the *work* for the shell, and the
*events* that happened.

The state has three dimensions (`TokenState`): the token held, the flight in
progress, and the last flight's failure. The held token's condition at `now` is
derived, never stored, on the monotonic clock:

    FRESH     now <  expires_at - skew     (or the token never expires)
    EXPIRED   now >= expires_at - skew     (the boundary instant counts as expired)
    EMPTY     no token held

where skew = min(clock_skew, expires_in / 2), so a short-lived token is not
re-fetched on every call.

Flights. A flight is one fetch or one provider call, numbered 1, 2, 3, ... Its
effect (`FetchToken`, `CallTokenProvider`) and every outcome input carry its
number, and `step` acts on the outcome of the *current* flight only: the outcome
of a flight that was given up (deadline passed) or superseded (a token was set) is
ignored. Only a caller that finds no FRESH token and no flight starts one, so at
most one flight is ever current, whatever order outcomes arrive in.

Callers. A caller steps `TokenNeeded` and gets one of: `UseToken`; `AwaitFlight`
(wait for the flight's `ReleaseWaiters`, or its deadline, then step
`TokenNeeded(waited_for=n)`); `Fail`; or no answer plus work, when it has just
started a flight and is the one to run it: the outcome it steps answers it. A
woken waiter is answered from the state: the token, the failure its flight left
behind, or a new flight if the token it waited for is already unusable.

                                  TokenNeeded, not FRESH
                                  (or the flight overdue)
     +-----------------------+  ------------------------->  +------------------------+
     | no flight             |    FetchToken(n) or          | flight n               |
     |   FRESH    -> UseToken|    CallTokenProvider(n)      |   FRESH -> UseToken    |
     |   EXPIRED  \          |                              |   else  -> AwaitFlight |
     |   EMPTY    / start n  |  <-------------------------  |                        |
     +-----------------------+   outcome of n:              +------------------------+
          ^      |               token   -> hold it, ReleaseWaiters(n),       |
          |      |                          NotifyTokenUpdate (if new + callback)
          |      |               failure -> remember it, ReleaseWaiters(n)    |
          |      |               deadline passed -> FlightTimedOut, Release   |
          |      |               TokenSet(usable) -> superseded, Release      |
          |      |                                                            |
          +------+  TokenSet(t) / TokenSet(None): hold / drop   outcome of m != n: ignored

Interpreters may skip `step` for `TokenNeeded` while
`now.monotonic < reusable_until(policy, state)`: the machine guarantees the answer
there is `UseToken` with the state unchanged. That is the lock-free hot path.
"""

from __future__ import annotations

from typing import assert_never

import msgspec
from returns.result import Failure, Result, Success

from ccg.core._acceptance import accept_reply, accept_token, token_request
from ccg.core._answers import AwaitFlight, Fail, UseToken
from ccg.core._decision import Decision
from ccg.core._effects import (
    CallTokenProvider,
    Effect,
    FetchToken,
    NotifyTokenUpdate,
    ReleaseWaiters,
)
from ccg.core._events import (
    Event,
    FlightSettled,
    FlightStarted,
    FlightSuperseded,
    StaleOutcomeIgnored,
    TokenAdopted,
    TokenDropped,
)
from ccg.core._failures import (
    Abandoned,
    FlightTimedOut,
    ProviderRaised,
    ProviderReturnedExpired,
    ProviderReturnedNone,
    TokenFailure,
    TokenOrigin,
    UpdateCallbackRaised,
)
from ccg.core._inputs import (
    FlightAbandoned,
    Input,
    TokenNeeded,
    TokenProvided,
    TokenProviderRaised,
    TokenReplyReceived,
    TokenRequestFailed,
    TokenSet,
    TokenUpdateNotified,
    TokenUpdateRaised,
)
from ccg.core._now import Now
from ccg.core._policy import FLIGHT_GRACE, Policy, TokenSource
from ccg.core._state import Condition, FailureRecord, Flight, Held, TokenState, usable_until
from ccg.core._token import OAuthToken

__all__ = ["condition", "current_token", "initial_state", "reusable_until", "step"]


def current_token(state: TokenState) -> OAuthToken | None:
    """The token the state holds, usable or not.

    >>> current_token(TokenState()) is None
    True
    """
    return None if state.held is None else state.held.token


def reusable_until(policy: Policy, state: TokenState) -> float:
    """The monotonic instant before which `TokenNeeded` is answered `UseToken`, state unchanged.

    `-inf` when no token is held; `inf` for a token that never expires.
    """
    return usable_until(state.held, policy.clock_skew)


def condition(policy: Policy, state: TokenState, now: Now) -> Condition:
    """The held token's condition at `now`."""
    if state.held is None:
        return Condition.EMPTY
    if now.monotonic < reusable_until(policy, state):
        return Condition.FRESH
    return Condition.EXPIRED


def initial_state(token: object, now: Now) -> Result[TokenState, TokenFailure]:
    """The state of a client constructed with `token` (None: nothing held), or why it can't be.

    The token passes the same checks as every other (`InvalidToken` with origin
    `INITIAL`); an expired one is held, and the first call replaces it.
    """
    if token is None:
        return Success(TokenState())
    accepted = accept_token(token, TokenOrigin.INITIAL, now)
    if not isinstance(accepted, Success):
        return Failure(accepted.failure())
    return Success(TokenState(held=accepted.unwrap()))


def step(policy: Policy, state: TokenState, event: Input, now: Now) -> Decision:
    """Decide what follows `event` in `state` at `now`. Total and pure.

    >>> from ccg.core import TokenRequestSpec
    >>> policy = Policy(request=TokenRequestSpec(
    ...     token_url="https://as.example/token", client_id="id", client_secret="s"))
    >>> d = step(policy, TokenState(), TokenNeeded(), Now(monotonic=5.0, wall=1e9))
    >>> d.answer, type(d.work[0]).__name__, d.state.flight.id
    (None, 'FetchToken', 1)
    """
    match event:
        case TokenNeeded(waited_for=waited):
            return _needed(policy, state, waited, now)
        case (
            TokenReplyReceived()
            | TokenRequestFailed()
            | TokenProvided()
            | TokenProviderRaised()
            | FlightAbandoned()
        ):
            flight = state.flight
            if flight is None or flight.id != event.flight:
                # Given up, superseded or unknown: only the current flight's outcome counts.
                return Decision(state=state, events=(StaleOutcomeIgnored(flight=event.flight),))
            return _outcome(policy, state, flight, event, now)
        case TokenSet(token=token):
            return _set(policy, state, token, now)
        case TokenUpdateNotified(token=token):
            held = state.held
            if held is not None and held.token == token and _fresh(policy, held, now):
                return Decision(state=state, answer=UseToken(token=token))
            return Decision(state=state)  # the token changed or expired meanwhile: ask again
        case TokenUpdateRaised(reason=reason):
            return Decision(state=state, answer=Fail(failure=UpdateCallbackRaised(reason=reason)))
        case _:
            assert_never(event)


def _outcome(
    policy: Policy,
    state: TokenState,
    flight: Flight,
    event: TokenReplyReceived
    | TokenRequestFailed
    | TokenProvided
    | TokenProviderRaised
    | FlightAbandoned,
    now: Now,
) -> Decision:
    """What the current flight's outcome means."""
    match event:
        case TokenReplyReceived(reply=reply):
            accepted = accept_reply(policy, reply, flight.started, now)
            return _settle(policy, state, flight, accepted, TokenOrigin.ENDPOINT, now)
        case TokenProvided(token=token):
            provided = _provided(policy, state, flight, token, now)
            return _settle(policy, state, flight, provided, TokenOrigin.PROVIDER, now)
        case TokenRequestFailed(failure=failure):
            return _fail(state, flight, failure, now)
        case TokenProviderRaised(reason=reason):
            return _fail(state, flight, ProviderRaised(reason=reason), now)
        case FlightAbandoned(reason=reason):
            return _fail(state, flight, Abandoned(reason=reason), now)
        case _:
            assert_never(event)


def _fresh(policy: Policy, held: Held, now: Now) -> bool:
    return now.monotonic < usable_until(held, policy.clock_skew)


def _needed(policy: Policy, state: TokenState, waited: int | None, now: Now) -> Decision:
    held = state.held
    if held is not None and _fresh(policy, held, now):
        return Decision(state=state, answer=UseToken(token=held.token))
    flight = state.flight
    if flight is not None:
        if now.monotonic < flight.deadline:
            return Decision(
                state=state, answer=AwaitFlight(flight=flight.id, until=flight.deadline)
            )
        given_up = _fail(state, flight, FlightTimedOut(seconds=now.monotonic - flight.started), now)
        if waited == flight.id:
            return given_up
        # A newcomer finds the flight overdue: its waiters are told, and it starts the next one.
        started = _start(policy, given_up.state, now)
        return Decision(
            state=started.state,
            work=given_up.work + started.work,
            events=given_up.events + started.events,
        )
    failure = state.failure
    if waited is not None and failure is not None and failure.flight == waited:
        return Decision(state=state, answer=Fail(failure=failure.failure, flight=waited))
    return _start(policy, state, now)


def _start(policy: Policy, state: TokenState, now: Now) -> Decision:
    number = state.flights + 1
    flight = Flight(
        id=number,
        source=policy.source,
        started=now.monotonic,
        deadline=now.monotonic + policy.limits.total_timeout + FLIGHT_GRACE,
    )
    effect: Effect
    match policy.source:
        case TokenSource.ENDPOINT:
            effect = FetchToken(flight=number, request=token_request(policy))
        case TokenSource.PROVIDER:
            effect = CallTokenProvider(flight=number, last=current_token(state))
        case _:
            assert_never(policy.source)
    return Decision(
        state=msgspec.structs.replace(state, flight=flight, flights=number),
        work=(effect,),
        events=(FlightStarted(flight=number, source=policy.source),),
    )


def _placed(
    state: TokenState, token: object, origin: TokenOrigin, now: Now, since: float | None = None
) -> Result[Held, TokenFailure]:
    """`token` held: the held token again keeps its place on the monotonic clock (placed
    anew from its wall-clock `expiry`, a wall clock set back meanwhile would lengthen it)."""
    held = state.held
    if held is not None and isinstance(token, OAuthToken) and token == held.token:
        return Success(held)
    return accept_token(token, origin, now, since)


def _provided(
    policy: Policy, state: TokenState, flight: Flight, token: object, now: Now
) -> Result[Held, TokenFailure]:
    if token is None:
        return Failure(ProviderReturnedNone())
    # A provider's token with only `expires_in` counts from when it was asked for, as a
    # fetched token counts from its request.
    accepted = _placed(state, token, TokenOrigin.PROVIDER, now, since=flight.started)
    if isinstance(accepted, Success):
        held = accepted.unwrap()
        if not _fresh(policy, held, now):
            return Failure(ProviderReturnedExpired(expiry=held.token.expiry))
    return accepted


def _fail(state: TokenState, flight: Flight, failure: TokenFailure, now: Now) -> Decision:
    """Flight `flight` is over without a token: remember why, and tell its waiters."""
    return Decision(
        state=msgspec.structs.replace(
            state,
            flight=None,
            failure=FailureRecord(flight=flight.id, failure=failure, at=now.monotonic),
        ),
        answer=Fail(failure=failure, flight=flight.id),
        work=(ReleaseWaiters(flight=flight.id),),
        events=(FlightSettled(flight=flight.id, failure=failure),),
    )


def _settle(
    policy: Policy,
    state: TokenState,
    flight: Flight,
    outcome: Result[Held, TokenFailure],
    origin: TokenOrigin,
    now: Now,
) -> Decision:
    """Flight `flight` produced `outcome`: hold the token, or fail."""
    if not isinstance(outcome, Success):
        return _fail(state, flight, outcome.failure(), now)
    held = outcome.unwrap()
    events: tuple[Event, ...] = (
        FlightSettled(flight=flight.id, failure=None),
        TokenAdopted(origin=origin, expires_at=held.expires_at),
    )
    adopted = TokenState(held=held, flights=state.flights)
    release = ReleaseWaiters(flight=flight.id)
    if policy.notify_updates and held.token != current_token(state):
        notify = NotifyTokenUpdate(token=held.token)
        return Decision(state=adopted, work=(release, notify), events=events)
    return Decision(
        state=adopted, answer=UseToken(token=held.token), work=(release,), events=events
    )


def _set(policy: Policy, state: TokenState, token: object, now: Now) -> Decision:
    if token is None:
        if state.held is None:
            return Decision(state=state)
        return Decision(state=msgspec.structs.replace(state, held=None), events=(TokenDropped(),))
    accepted = _placed(state, token, TokenOrigin.SETTER, now)
    if not isinstance(accepted, Success):
        return Decision(state=state, answer=Fail(failure=accepted.failure()))
    held = accepted.unwrap()
    work: list[Effect] = []
    events: list[Event] = [TokenAdopted(origin=TokenOrigin.SETTER, expires_at=held.expires_at)]
    flight = state.flight
    if flight is not None and _fresh(policy, held, now):
        # A usable token by hand makes the flight moot: its waiters take this one.
        work.append(ReleaseWaiters(flight=flight.id))
        events.append(FlightSuperseded(flight=flight.id))
        flight = None
    if policy.notify_updates and held.token != current_token(state):
        work.append(NotifyTokenUpdate(token=held.token))
    return Decision(
        state=msgspec.structs.replace(state, held=held, flight=flight, failure=None),
        work=tuple(work),
        events=tuple(events),
    )
