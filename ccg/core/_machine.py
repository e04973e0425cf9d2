r"""The token state machine: every transition of ccg lives in this file.

Theory of operation
-------------------
`step(policy, state, input, now)` is the whole machine. It is pure (no clock, no
I/O: `now` carries both clocks and a random draw) and total (every state x input
pair has an outcome; nothing raises). It returns a `Decision`: the next state, the
*answer* for the caller who stepped the input, the *work* for the shell, and the
*events* that happened.

The state (`TokenState`) has a field per dimension: the token held, the flight in
progress, the last failure with the instant before which no flight starts, the
transient failures in a row, and when a token was last rejected. The held token's
condition at `now` is derived, never stored, on the monotonic clock:

    FRESH     now <  refresh_at                  use it
    EXPIRING  refresh_at <= now < fresh_until    use it; one renewal runs meanwhile
    EXPIRED   now >= fresh_until                 fetch, and wait for it
    EMPTY     no token held

fresh_until = expires_at - min(clock_skew, lifetime / 2); the refresh window is the
last `refresh_ratio` of the usable lifetime (or from the server's `refresh_in`).
Boundary instants belong to the later condition.

Flights. A flight is one token request or provider call, numbered 1, 2, 3, ... Its
effect and every outcome input carry its number, and `step` acts on the outcome
of the *current* flight only. At most one flight is ever current.

Callers. A caller steps `TokenNeeded` and gets `UseToken`; `AwaitFlight` (wait for
the flight's `ReleaseWaiters` or the deadline, then ask with `waited_for=n`);
`AwaitRetry` (wait until a backoff ends, then ask); `Fail`; or no answer plus
work, when it has just started a flight and runs it. Whoever ran or waited for a
flight that failed asks again with `waited_for=n` and learns of the failure:
a transient one is retried while its call has attempts and time left
(`max_attempts`, `call_timeout`); anything else fails the call. An EXPIRING
token is handed out *and* the renewal started, so the caller that starts it need
not wait for it (a shell runs it in the background).

Failures (`_resilience.py`) set `failure.retry_at`: transient ones after a jittered
exponential backoff (or `Retry-After`), opening the breaker after
`breaker_threshold` in a row; permanent ones after `cool_down`. Until then no
flight starts: callers with a usable token keep it, the others wait for the retry
or fail at once with the same error.

                                  TokenNeeded: EXPIRED/EMPTY, not held back
                                  (or EXPIRING: UseToken and renew)
     +--------------------------+ -------------------------> +------------------------+
     | no flight                |   FetchToken(n) or         | flight n               |
     |  FRESH/EXPIRING -> Use   |   CallTokenProvider(n)     |  FRESH/EXPIRING -> Use |
     |  held back:              |                            |  else -> AwaitFlight   |
     |   transient -> AwaitRetry| <------------------------- |                        |
     |   else      -> Fail      |  outcome of n:             +------------------------+
     +--------------------------+   token   -> hold it, ReleaseWaiters(n),      |
         ^   |  ^                            NotifyTokenUpdate (new + callback) |
         |   |  |                   failure -> record, retry_at, Release(n)     |
         |   |  |                   deadline passed -> FlightTimedOut, transient |
         |   |  +-- TokenRejected(held): let it go, fetch (twice in a row: cool down)
         +---+  TokenSet(t) / TokenSet(None): hold (supersedes n) / drop

Interpreters may skip `step` for `TokenNeeded` while
`now.monotonic < reusable_until(policy, state)`: the machine guarantees the answer
there is `UseToken` with the state unchanged. That is the lock-free hot path.
"""

from __future__ import annotations

import math
from typing import assert_never

import msgspec
from returns.result import Failure, Result, Success

from ccg.core._acceptance import accept_reply, accept_token, token_request
from ccg.core._answers import AwaitFlight, AwaitRetry, Fail, UseToken
from ccg.core._client_auth import form_name, naming_forms_tried, refused_authentication
from ccg.core._decision import Decision
from ccg.core._effects import (
    CallTokenProvider,
    Effect,
    FetchToken,
    NotifyTokenUpdate,
    ReleaseWaiters,
)
from ccg.core._events import (
    AuthenticationFallback,
    BreakerOpened,
    CoolDownStarted,
    Event,
    FlightSettled,
    FlightStarted,
    FlightSuperseded,
    RetryScheduled,
    StaleOutcomeIgnored,
    StaleRejectionIgnored,
    TokenAdopted,
    TokenDropped,
    TokenInvalidated,
    UpdateCallbackFailed,
)
from ccg.core._failures import (
    Abandoned,
    CallTimedOut,
    ErrorResponse,
    FlightTimedOut,
    MalformedResponse,
    NoUsableToken,
    ProviderRaised,
    ProviderReturnedExpired,
    ProviderReturnedNone,
    RejectedByApi,
    TokenFailure,
    TokenOrigin,
    UpdateCallbackRaised,
)
from ccg.core._http import Headers
from ccg.core._inputs import (
    FlightAbandoned,
    Input,
    TokenAccepted,
    TokenNeeded,
    TokenProvided,
    TokenProviderRaised,
    TokenRejected,
    TokenReplyReceived,
    TokenRequestFailed,
    TokenSet,
    TokenUpdateNotified,
    TokenUpdateRaised,
)
from ccg.core._now import Now
from ccg.core._policy import FLIGHT_GRACE, Policy, TokenSource
from ccg.core._redaction import scrubbed, scrubbed_text
from ccg.core._resilience import FailureClass, classify, retry_delay
from ccg.core._retry_after import retry_after
from ccg.core._state import Condition, FailureRecord, Flight, Held, TokenState
from ccg.core._token import OAuthToken

__all__ = ["condition", "current_token", "initial_state", "not_before", "reusable_until", "step"]


def current_token(state: TokenState) -> OAuthToken | None:
    """The token the state holds, usable or not.

    >>> current_token(TokenState()) is None
    True
    """
    return None if state.held is None else state.held.token


def not_before(state: TokenState) -> float:
    """The monotonic instant before which no new flight starts (`-inf`: none held back)."""
    return -math.inf if state.failure is None else state.failure.retry_at


def reusable_until(policy: Policy, state: TokenState) -> float:  # noqa: ARG001 - as step
    """The monotonic instant before which `TokenNeeded` is answered `UseToken`, state unchanged.

    `-inf` when no token is held; `inf` for a token that never expires. Inside the
    refresh window that holds while the renewal is in flight (until its deadline) or
    held back (backoff, cool-down); the caller that would start it must step.
    """
    held = state.held
    if held is None:
        return -math.inf
    if held.refresh_at >= held.fresh_until:
        return held.fresh_until
    flight = state.flight
    held_back = flight.deadline if flight is not None else not_before(state)
    return max(held.refresh_at, min(held.fresh_until, held_back))


def condition(policy: Policy, state: TokenState, now: Now) -> Condition:  # noqa: ARG001 - as step
    """The held token's condition at `now`."""
    held = state.held
    if held is None:
        return Condition.EMPTY
    if now.monotonic < held.refresh_at:
        return Condition.FRESH
    if now.monotonic < held.fresh_until:
        return Condition.EXPIRING
    return Condition.EXPIRED


def initial_state(policy: Policy, token: object, now: Now) -> Result[TokenState, TokenFailure]:
    """The state of a client constructed with `token` (None: nothing held), or why it can't be.

    The token passes the same checks as every other (`InvalidToken` with origin
    `INITIAL`); an expired one is held, and the first call replaces it.
    """
    if token is None:
        return Success(TokenState())
    accepted = accept_token(policy, token, TokenOrigin.INITIAL, now)
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
        case TokenNeeded():
            return _needed(policy, state, event, now)
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
        case TokenRejected(token=token, reason=reason):
            return _rejected(policy, state, token, reason, now)
        case TokenAccepted(token=token):
            held = state.held
            if held is None or held.token != token or state.rejected_at == -math.inf:
                return Decision(state=state)
            # The replacement works: a later 401 is a first rejection, not a second in a row.
            return Decision(state=msgspec.structs.replace(state, rejected_at=-math.inf))
        case TokenUpdateNotified(token=token):
            held = state.held
            if held is not None and held.token == token and now.monotonic < held.fresh_until:
                return Decision(state=state, answer=UseToken(token=token))
            return Decision(state=state)  # the token changed or expired meanwhile: ask again
        case TokenUpdateRaised(reason=reason):
            reason = scrubbed_text(reason, policy.secret_forms)
            return Decision(
                state=state,
                answer=Fail(failure=UpdateCallbackRaised(reason=reason)),
                events=(UpdateCallbackFailed(reason=reason),),
            )
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
            # (A reply to a provider's flight is a shell's mistake; it has no forms to try.)
            if (
                isinstance(accepted, Success)
                or state.auth_settled
                or policy.source is not TokenSource.ENDPOINT
            ):
                return _settle(policy, state, flight, accepted, TokenOrigin.ENDPOINT, now)
            return _refused(policy, state, flight, accepted.failure(), now)
        case TokenProvided(token=token):
            provided = _provided(policy, state, flight, token, now)
            return _settle(policy, state, flight, provided, TokenOrigin.PROVIDER, now)
        case TokenRequestFailed(failure=failure):
            return _fail(policy, state, flight, failure, now)
        case TokenProviderRaised(reason=reason):
            return _fail(policy, state, flight, ProviderRaised(reason=reason), now)
        case FlightAbandoned(reason=reason):
            return _fail(policy, state, flight, Abandoned(reason=reason), now)
        case _:
            assert_never(event)


def _joined(first: Decision, then: Decision) -> Decision:
    """`first`'s work and events, then `then`'s, ending in `then`'s state and answer."""
    return Decision(
        state=then.state,
        answer=then.answer,
        work=first.work + then.work,
        events=first.events + then.events,
    )


def _needed(policy: Policy, state: TokenState, ask: TokenNeeded, now: Now) -> Decision:
    held = state.held
    if held is not None and now.monotonic < held.fresh_until:
        if now.monotonic < held.refresh_at:
            return Decision(state=state, answer=UseToken(token=held.token))
        return _renewal(policy, state, held, now)
    since = now.monotonic if ask.since is None else ask.since
    call_deadline = since + policy.resilience.call_timeout
    flight = state.flight
    if flight is not None:
        if now.monotonic < flight.deadline:
            if now.monotonic >= call_deadline:
                return Decision(
                    state=state, answer=Fail(failure=CallTimedOut(seconds=now.monotonic - since))
                )
            return Decision(
                state=state,
                answer=AwaitFlight(flight=flight.id, until=min(flight.deadline, call_deadline)),
            )
        timed_out = FlightTimedOut(seconds=now.monotonic - flight.started)
        given_up = _fail(policy, state, flight, timed_out, now)
        return _joined(given_up, _retried(policy, given_up.state, ask, call_deadline, now))
    return _retried(policy, state, ask, call_deadline, now)


def _retried(
    policy: Policy, state: TokenState, ask: TokenNeeded, call_deadline: float, now: Now
) -> Decision:
    """No usable token and no flight: start one, wait for a retry, or fail this call.

    The caller whose own flight failed (`waited_for`) learns of it; a transient failure
    is retried while the call has attempts and time left and the breaker is closed.
    A newcomer is held back by a backoff, cool-down or open breaker like everyone.
    """
    m = now.monotonic
    resilience = policy.resilience
    record = state.failure
    if record is not None:
        own = ask.waited_for is not None and record.flight == ask.waited_for
        held_back = m < record.retry_at
        kind = classify(record.failure)
        if own or (held_back and kind is not FailureClass.LOCAL):
            retried = (
                kind is FailureClass.TRANSIENT
                and state.streak < resilience.breaker_threshold
                and ask.attempts < resilience.max_attempts
                and max(record.retry_at, m) < call_deadline
            )
            if not retried:
                wait = record.retry_at - m if held_back else None
                return Decision(
                    state=state,
                    answer=Fail(failure=record.failure, flight=record.flight, retry_after=wait),
                )
            if held_back:
                return Decision(state=state, answer=AwaitRetry(until=record.retry_at))
    if ask.attempts >= resilience.max_attempts:
        # Every flight this call went through gave a token that was unusable by the time
        # the call could use it (a slow callback, a lifetime shorter than the wait).
        return Decision(state=state, answer=Fail(failure=NoUsableToken(attempts=ask.attempts)))
    if ask.since is not None and m >= call_deadline:
        return Decision(state=state, answer=Fail(failure=CallTimedOut(seconds=m - ask.since)))
    return _start(policy, state, now)


def _renewal(policy: Policy, state: TokenState, held: Held, now: Now) -> Decision:
    """The held token is usable and its refresh window is open: hand it out, and renew
    it unless a renewal is already in flight or held back."""
    use = UseToken(token=held.token)
    flight = state.flight
    if flight is not None:
        if now.monotonic < flight.deadline:
            return Decision(state=state, answer=use)
        # The renewal hangs: let it go (its callers were never waiting) and back off.
        timed_out = FlightTimedOut(seconds=now.monotonic - flight.started)
        given_up = _fail(policy, state, flight, timed_out, now)
        return Decision(
            state=given_up.state, answer=use, work=given_up.work, events=given_up.events
        )
    if now.monotonic < not_before(state):
        return Decision(state=state, answer=use)
    started = _start(policy, state, now, renewal=True)
    return Decision(state=started.state, answer=use, work=started.work, events=started.events)


def _start(policy: Policy, state: TokenState, now: Now, *, renewal: bool = False) -> Decision:
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
            effect = FetchToken(flight=number, request=token_request(policy, form=state.auth))
        case TokenSource.PROVIDER:
            effect = CallTokenProvider(flight=number, last=current_token(state))
        case _:
            assert_never(policy.source)
    return Decision(
        state=msgspec.structs.replace(state, flight=flight, flights=number),
        work=(effect,),
        events=(FlightStarted(flight=number, source=policy.source, renewal=renewal),),
    )


def _placed(
    policy: Policy,
    state: TokenState,
    token: object,
    origin: TokenOrigin,
    now: Now,
    since: float | None = None,
) -> Result[Held, TokenFailure]:
    """`token` held: the held token again keeps its place on the monotonic clock (placed
    anew from its wall-clock `expiry`, a wall clock set back meanwhile would lengthen it)."""
    held = state.held
    if held is not None and isinstance(token, OAuthToken) and token == held.token:
        return Success(held)
    return accept_token(policy, token, origin, now, since)


def _provided(
    policy: Policy, state: TokenState, flight: Flight, token: object, now: Now
) -> Result[Held, TokenFailure]:
    if token is None:
        return Failure(ProviderReturnedNone())
    # A provider's token with only `expires_in` counts from when it was asked for, as a
    # fetched token counts from its request.
    accepted = _placed(policy, state, token, TokenOrigin.PROVIDER, now, since=flight.started)
    if isinstance(accepted, Success):
        held = accepted.unwrap()
        if now.monotonic >= held.fresh_until:
            return Failure(ProviderReturnedExpired(expiry=held.token.expiry))
    return accepted


def _headers(failure: TokenFailure) -> Headers:
    match failure:
        case ErrorResponse(headers=headers) | MalformedResponse(headers=headers):
            return headers
        case _:
            return ()


def _refused(
    policy: Policy, state: TokenState, flight: Flight, failure: TokenFailure, now: Now
) -> Decision:
    """Flight `flight`, whose form of client authentication has never got a token, failed.

    A refusal of the credentials moves on to the next form (`ClientSecretAuto`): a new
    flight at once, which this flight's waiters are released to wait for. Once each
    form has been refused, the failure names the forms tried and the next flight starts
    over from the first. Any other failure is only a failure.
    """
    forms = policy.auth_forms
    if not refused_authentication(failure):
        return _fail(policy, state, flight, failure, now)
    auth = min(state.auth, len(forms) - 1)  # a state made for another policy: its last form
    if auth + 1 < len(forms):
        failure = scrubbed(failure, policy.secret_forms)
        renewal = state.held is not None and now.monotonic < state.held.fresh_until
        refused, trying = form_name(forms[auth]), form_name(forms[auth + 1])
        started = _start(
            policy,
            msgspec.structs.replace(state, flight=None, auth=auth + 1),
            now,
            renewal=renewal,
        )
        return Decision(
            state=started.state,
            work=(ReleaseWaiters(flight=flight.id), *started.work),
            events=(
                FlightSettled(flight=flight.id, failure=failure, renewal=renewal),
                AuthenticationFallback(refused=refused, trying=trying),
                *started.events,
            ),
        )
    failure = naming_forms_tried(forms, failure)
    return _fail(policy, msgspec.structs.replace(state, auth=0), flight, failure, now)


def _fail(
    policy: Policy, state: TokenState, flight: Flight, failure: TokenFailure, now: Now
) -> Decision:
    """Flight `flight` is over without a token: remember why and when the next may start,
    and tell its waiters (who ask again, and are answered from the record)."""
    failure = scrubbed(failure, policy.secret_forms)
    m = now.monotonic
    resilience = policy.resilience
    streak = state.streak
    renewal = state.held is not None and m < state.held.fresh_until
    events: list[Event] = [FlightSettled(flight=flight.id, failure=failure, renewal=renewal)]
    delay = 0.0
    kind = classify(failure)
    match kind:
        case FailureClass.TRANSIENT:
            streak += 1
            asked = retry_after(_headers(failure), now.wall)
            delay = retry_delay(resilience, streak, now.entropy, asked)
            if streak >= resilience.breaker_threshold:
                delay = max(delay, resilience.breaker_open_for)
                events.append(BreakerOpened(seconds=delay, streak=streak))
            else:
                events.append(RetryScheduled(delay=delay, streak=streak, retry_after=asked))
        case FailureClass.PERMANENT:
            asked = retry_after(_headers(failure), now.wall)
            longer = 0.0 if asked is None or not asked > 0 else asked
            delay = max(resilience.cool_down, min(longer, resilience.retry_after_cap))
            events.append(CoolDownStarted(seconds=delay, failure=failure))
        case FailureClass.LOCAL:
            pass
        case _:
            assert_never(kind)
    record = FailureRecord(flight=flight.id, failure=failure, at=m, retry_at=m + delay)
    return Decision(
        state=msgspec.structs.replace(state, flight=None, failure=record, streak=streak),
        work=(ReleaseWaiters(flight=flight.id),),
        events=tuple(events),
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
        return _fail(policy, state, flight, outcome.failure(), now)
    held: Held = outcome.unwrap()
    m = now.monotonic
    if m >= held.refresh_at:
        # Already due again (the same token back from a store, a lifetime shorter than the
        # skew): the next renewal waits half the time left, so no storm of them follows.
        spacing = max(policy.resilience.backoff_base, (held.fresh_until - m) / 2)
        held = msgspec.structs.replace(held, refresh_at=min(held.fresh_until, m + spacing))
    renewal = state.held is not None and m < state.held.fresh_until
    events: tuple[Event, ...] = (
        FlightSettled(flight=flight.id, failure=None, renewal=renewal),
        TokenAdopted(origin=origin, expires_at=held.expires_at, refresh_at=held.refresh_at),
    )
    adopted = TokenState(
        held=held,
        flights=state.flights,
        rejected_at=state.rejected_at,
        auth=state.auth,
        auth_settled=state.auth_settled or origin is TokenOrigin.ENDPOINT,
    )
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
    accepted = _placed(policy, state, token, TokenOrigin.SETTER, now)
    if not isinstance(accepted, Success):
        return Decision(state=state, answer=Fail(failure=accepted.failure()))
    held = accepted.unwrap()
    work: list[Effect] = []
    events: list[Event] = [
        TokenAdopted(
            origin=TokenOrigin.SETTER, expires_at=held.expires_at, refresh_at=held.refresh_at
        )
    ]
    flight = state.flight
    if flight is not None and now.monotonic < held.fresh_until:
        # A usable token by hand makes the flight moot: its waiters take this one.
        work.append(ReleaseWaiters(flight=flight.id))
        events.append(FlightSuperseded(flight=flight.id))
        flight = None
    if policy.notify_updates and held.token != current_token(state):
        work.append(NotifyTokenUpdate(token=held.token))
    return Decision(
        # A token by hand is a token: the failures in a row before it are forgotten.
        state=msgspec.structs.replace(state, held=held, flight=flight, failure=None, streak=0),
        work=tuple(work),
        events=tuple(events),
    )


def _rejected(
    policy: Policy, state: TokenState, token: OAuthToken, reason: str, now: Now
) -> Decision:
    """A protected endpoint rejected `token`: let it go if it is still the one held and in
    use, and get another, unless the one before it was rejected just as recently (cool
    down). Several requests that carried it may each come back 401: only the first lets
    it go; the others wait for its replacement like any caller."""
    m = now.monotonic
    held = state.held
    if held is None or held.token != token or m >= held.fresh_until:
        # A newer token replaced it meanwhile, or it was dropped, or it is already out of use
        # (let go after another request's 401, or expired): nothing to let go; keep or get
        # the one to use, as any caller would.
        ignored = Decision(state=state, events=(StaleRejectionIgnored(reason=reason),))
        return _joined(ignored, _needed(policy, state, TokenNeeded(), now))
    let_go = msgspec.structs.replace(
        held, fresh_until=min(held.fresh_until, m), refresh_at=min(held.refresh_at, m)
    )
    invalidated = TokenInvalidated(reason=reason)
    cool_down = policy.resilience.cool_down
    if m - state.rejected_at < cool_down:
        failure = RejectedByApi(reason=reason)
        record = FailureRecord(flight=None, failure=failure, at=m, retry_at=m + cool_down)
        return Decision(
            state=msgspec.structs.replace(state, held=let_go, failure=record),
            answer=Fail(failure=failure, retry_after=cool_down),
            events=(invalidated, CoolDownStarted(seconds=cool_down, failure=failure)),
        )
    released = msgspec.structs.replace(state, held=let_go, rejected_at=m)
    return _joined(
        Decision(state=released, events=(invalidated,)),
        _needed(policy, released, TokenNeeded(), now),
    )
