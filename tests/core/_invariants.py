"""The promises `ccg.core.step` makes about every single step, as assertions.

Each `check_*` function takes `(policy, before, event, now, decision)` and asserts one
promise of `_machine.py` (its theory of operation), `_resilience.py`, `_acceptance.py`,
`_effects.py` or `_answers.py`; `check_step` runs them all. They are written from the
documentation, not from the code: the skew and refresh window of a token, the flight
deadline, which failures are retried and how long the next request waits are worked
out here by hand (`expected_held`, `expected_deadline`, `expected_class`,
`expected_retried`), never by calling the core's own helpers. The property tests run
them on single steps over the whole space and at every step of the shell models
(`test_single_flight.py`, `test_expiry.py`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Final, Literal

import msgspec

from ccg.core import (
    AuthenticationFallback,
    AwaitFlight,
    AwaitRetry,
    BreakerOpened,
    CallTimedOut,
    CallTokenProvider,
    CoolDownStarted,
    Decision,
    ErrorResponse,
    Event,
    Fail,
    FailureRecord,
    FetchToken,
    FlightAbandoned,
    FlightSettled,
    FlightStarted,
    FlightSuperseded,
    FlightTimedOut,
    Held,
    Input,
    MalformedResponse,
    NotifyTokenUpdate,
    NoUsableToken,
    Now,
    OAuthToken,
    Policy,
    RejectedByApi,
    ReleaseWaiters,
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
    TokenSet,
    TokenSource,
    TokenState,
    TokenUpdateNotified,
    TokenUpdateRaised,
    TransportFailure,
    UpdateCallbackFailed,
    UpdateCallbackRaised,
    UseToken,
    reusable_until,
    step,
    token_problem,
    token_request,
)
from ccg.core._client_auth import form_name, refused_authentication

TEN_YEARS: Final = 10 * 365 * 86_400
"""The longest lifetime the core believes; longer ones are clamped to it."""
GRACE: Final = 2.0
"""Seconds waiters allow a flight beyond the request's total timeout (`FLIGHT_GRACE`)."""
RFC_CODES: Final = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
    }
)
"""The six error codes of RFC 6749 §5.2: retrying cannot fix them."""
RETRIED_CODES: Final = frozenset({"server_error", "temporarily_unavailable"})
RETRIED_KINDS: Final = frozenset({"connect", "timeout", "protocol"})
_SECONDS: Final = re.compile(r"[0-9]+")

OUTCOMES: Final = (
    TokenReplyReceived,
    TokenRequestFailed,
    TokenProvided,
    TokenProviderRaised,
    FlightAbandoned,
)
"""Inputs that end a flight, each carrying the flight's id."""
PRODUCING: Final = (FetchToken, CallTokenProvider, NotifyTokenUpdate)
"""Effects whose outcome the shell steps next: at most one per decision, and last."""

Check = Callable[[Policy, TokenState, Input, Now, Decision], None]
Class = Literal["transient", "permanent", "local"]


# -- the rules, by hand ------------------------------------------------------------------


def known_lifetime(token: OAuthToken) -> float | None:
    """The lifetime `token` states: its `expires_in` clamped to [0, ten years], but None
    for 0 or none ("the server did not say")."""
    if not token.expires_in:
        return None
    return float(min(max(token.expires_in, 0), TEN_YEARS))


def lifetime_of(policy: Policy, token: OAuthToken) -> float | None:
    """The lifetime counted for a token without `expiry`: its own, else the policy's
    `default_lifetime` (clamped likewise), else None (it never expires proactively)."""
    known = known_lifetime(token)
    if known is not None:
        return known
    default = policy.resilience.default_lifetime
    return None if default is None else min(max(default, 0.0), float(TEN_YEARS))


def expected_skew(lifetime: float | None, clock_skew: float) -> float:
    """The skew applied to a token: `clock_skew`, but at most half its lifetime."""
    return clock_skew if lifetime is None else min(clock_skew, lifetime / 2)


def expected_placement(
    policy: Policy,
    token: OAuthToken,
    expires_at: float,
    lifetime: float | None,
    now: Now,
    *,
    arriving: bool,
) -> Held:
    """`token` expiring at `expires_at`, as `_acceptance.py` documents it: usable until
    the skew (until its expiry when it arrives from a flight inside the skew), renewed
    from the last `refresh_ratio` of that (or from `refresh_in` after its issue)."""
    if math.isinf(expires_at):
        return Held(
            token=token, expires_at=expires_at, fresh_until=expires_at, refresh_at=expires_at
        )
    fresh_until = expires_at - expected_skew(lifetime, policy.clock_skew)
    if arriving and fresh_until <= now.monotonic < expires_at:
        fresh_until = expires_at
    issued = now.monotonic if lifetime is None else expires_at - lifetime
    window = policy.resilience.refresh_ratio * max(fresh_until - issued, 0.0)
    refresh_at = fresh_until - window
    if token.refresh_in is not None and lifetime is not None:
        refresh_at = issued + min(max(token.refresh_in, 0), TEN_YEARS)
    return Held(
        token=token,
        expires_at=expires_at,
        fresh_until=fresh_until,
        refresh_at=min(refresh_at, fresh_until),
    )


def expected_held(
    policy: Policy, sent: OAuthToken, now: Now, since: float | None, *, arriving: bool
) -> Held:
    """The `Held` a token handed in (`sent`, from a provider or the setter) becomes at
    `now`; a token with only a lifetime counts it from `since` (or now) and is stamped."""
    if sent.expiry is not None:
        expires_at = now.monotonic + (sent.expiry - now.wall)
        return expected_placement(
            policy, sent, expires_at, known_lifetime(sent), now, arriving=arriving
        )
    lifetime = lifetime_of(policy, sent)
    if lifetime is None:
        return expected_placement(policy, sent, math.inf, None, now, arriving=False)
    start = now.monotonic if since is None else since
    expiry = now.wall - (now.monotonic - start) + lifetime
    stamped = msgspec.structs.replace(sent, expiry=expiry if math.isfinite(expiry) else None)
    return expected_placement(policy, stamped, start + lifetime, lifetime, now, arriving=arriving)


def respaced(policy: Policy, held: Held, now: Now) -> Held:
    """A flight's token already due for renewal on arrival: the next renewal waits half
    the time it is still usable (at least `backoff_base`), so no storm of them follows."""
    m = now.monotonic
    if m < held.refresh_at:
        return held
    spacing = max(policy.resilience.backoff_base, (held.fresh_until - m) / 2)
    return msgspec.structs.replace(held, refresh_at=min(held.fresh_until, m + spacing))


def expected_deadline(policy: Policy, now: Now) -> float:
    """The deadline of a flight started at `now`."""
    return now.monotonic + policy.limits.total_timeout + GRACE


def expected_class(failure: TokenFailure) -> Class:
    """Which failures are retried (transient), cooled down (permanent) or neither (local)."""
    match failure:
        case ErrorResponse(status=status, error=error):
            if error in RFC_CODES:
                return "permanent"
            if error in RETRIED_CODES or status == 429 or status >= 500:
                return "transient"
            return "permanent"
        case MalformedResponse(status=status):
            return "transient" if status == 429 or status >= 500 else "permanent"
        case TransportFailure(kind=kind):
            return "transient" if kind.value in RETRIED_KINDS else "permanent"
        case FlightTimedOut() | TokenExpiredOnArrival():
            return "transient"
        case RejectedByApi():
            return "permanent"
        case _:
            return "local"


def stated_retry_after(failure: TokenFailure) -> float | None:
    """The `Retry-After` a failure's reply gave, when it gave it in seconds; None when it
    gave none (a date is read too by the core, but not here: `nan` says "unknown")."""
    if not isinstance(failure, ErrorResponse | MalformedResponse):
        return None
    for name, value in failure.headers:
        if name.lower() == "retry-after":
            text = value.strip()
            if not _SECONDS.fullmatch(text):
                return math.nan
            return 1e12 if len(text) > 12 else float(int(text))  # longer is cut to 10^12 s
    return None


def backoff_ceiling(policy: Policy, streak: int) -> float:
    """The largest delay after `streak` transient failures in a row: the base, doubled for
    each failure after the first, up to the cap."""
    resilience = policy.resilience
    if streak - 1 >= 60:  # 2**60 times any base is past any cap
        return resilience.backoff_cap
    return min(resilience.backoff_cap, resilience.backoff_base * 2.0 ** max(streak - 1, 0))


def fresh(state: TokenState, now: Now) -> bool:
    """Whether `state` holds a token usable at `now` (its `fresh_until` is not)."""
    return state.held is not None and now.monotonic < state.held.fresh_until


def flight_of(event: Input) -> int | None:
    """The flight an outcome belongs to; None for other inputs."""
    if isinstance(event, OUTCOMES):
        return event.flight
    return None


def held_token(state: TokenState) -> OAuthToken | None:
    return None if state.held is None else state.held.token


def new_flight(before: TokenState, decision: Decision) -> bool:
    """Whether the step started a flight."""
    after = decision.state.flight
    return after is not None and (before.flight is None or after.id != before.flight.id)


def ended_flight(before: TokenState, decision: Decision) -> int | None:
    """The id of the flight the step ended, if it ended one."""
    if before.flight is None:
        return None
    after = decision.state.flight
    if after is not None and after.id == before.flight.id:
        return None
    return before.flight.id


def expected_retried(
    policy: Policy, state: TokenState, ask: TokenNeeded, now: Now
) -> Fail | AwaitRetry | None:
    """A caller with no usable token and no flight in progress, per `_machine.py`: told
    of the failure it waited for, or held back with everyone by a backoff, cool-down or
    open breaker; a transient failure is retried while its call has attempts and time
    left and the breaker is closed; a call that went through `max_attempts` flights whose
    tokens were all unusable by the time it could use them fails. None: a flight starts."""
    m = now.monotonic
    resilience = policy.resilience
    since = m if ask.since is None else ask.since
    call_deadline = since + resilience.call_timeout
    record = state.failure
    if record is not None:
        own = ask.waited_for is not None and record.flight == ask.waited_for
        held_back = m < record.retry_at
        kind = expected_class(record.failure)
        if own or (held_back and kind != "local"):
            retried = (
                kind == "transient"
                and state.streak < resilience.breaker_threshold
                and ask.attempts < resilience.max_attempts
                and max(record.retry_at, m) < call_deadline
            )
            if not retried:
                return Fail(
                    failure=record.failure,
                    flight=record.flight,
                    retry_after=record.retry_at - m if held_back else None,
                )
            if held_back:
                return AwaitRetry(until=record.retry_at)
    if ask.attempts >= resilience.max_attempts:
        return Fail(failure=NoUsableToken(attempts=ask.attempts))
    if ask.since is not None and m >= call_deadline:
        return Fail(failure=CallTimedOut(seconds=m - ask.since))
    return None


def fell_back(decision: Decision) -> bool:
    """The step moved on to the next form of client authentication (`ClientSecretAuto`)."""
    return any(isinstance(e, AuthenticationFallback) for e in decision.events)


def check_failure_recorded(
    policy: Policy,
    before: TokenState,
    failure: TokenFailure,
    now: Now,
    decision: Decision,
) -> None:
    """The current flight ended without a token: the failure is recorded at `now` with the
    instant the next request may be made, as `_resilience.py` documents: a transient
    failure after a jittered backoff (or the `Retry-After`, capped), opening the breaker
    after `breaker_threshold` in a row; a permanent one after the cool-down (or a longer
    `Retry-After`, capped); a local one at once. Its events say so, in that order."""
    flight = before.flight
    assert flight is not None
    m = now.monotonic
    resilience = policy.resilience
    after = decision.state
    record = after.failure
    assert record is not None
    assert (record.flight, record.failure, record.at) == (flight.id, failure, m)
    settled = FlightSettled(flight=flight.id, failure=failure, renewal=fresh(before, now))
    at = decision.events.index(settled)
    follows = decision.events[at + 1 : at + 2]
    asked = stated_retry_after(failure)
    kind = expected_class(failure)
    if kind == "transient":
        streak = before.streak + 1
        assert after.streak == streak
        draw = now.entropy if 0.0 <= now.entropy <= 1.0 else 0.0
        jitter = draw * backoff_ceiling(policy, streak)
        (scheduled,) = follows
        if streak >= resilience.breaker_threshold:
            assert isinstance(scheduled, BreakerOpened)
            assert scheduled.streak == streak
            delay = scheduled.seconds
            assert delay >= resilience.breaker_open_for
            assert delay <= max(resilience.breaker_open_for, jitter, resilience.retry_after_cap)
            if asked is None:
                assert delay == max(jitter, resilience.breaker_open_for)
        else:
            assert isinstance(scheduled, RetryScheduled)
            assert scheduled.streak == streak
            delay, told = scheduled.delay, scheduled.retry_after
            if asked is None:
                assert told is None
            elif not math.isnan(asked):
                assert told == asked
            if told is None or not told > 0:
                assert delay == jitter
            else:
                assert delay == max(jitter, min(told, resilience.retry_after_cap))
    else:
        assert after.streak == before.streak
        if kind == "permanent":
            (cooling,) = follows
            assert isinstance(cooling, CoolDownStarted)
            assert cooling.failure == failure
            delay = cooling.seconds
            assert resilience.cool_down <= delay
            assert delay <= max(resilience.cool_down, resilience.retry_after_cap)
            if asked is None:
                assert delay == resilience.cool_down
            elif not math.isnan(asked):
                assert delay == max(resilience.cool_down, min(asked, resilience.retry_after_cap))
        else:
            assert follows == ()
            delay = 0.0
    assert record.retry_at == m + delay


# -- the checks ----------------------------------------------------------------------


def check_held_tokens_are_sound(
    policy: Policy, before: TokenState, event: Input, now: Now, decision: Decision
) -> None:
    """Every held token passes `token_problem` (no step adopts a token that could not be
    sent), and its instants keep their order: `refresh_at <= fresh_until <= expires_at`."""
    held = decision.state.held
    if held is not None:
        assert token_problem(held.token) is None, token_problem(held.token)
        assert held.refresh_at <= held.fresh_until <= held.expires_at, held


def check_failure_record(
    policy: Policy, before: TokenState, event: Input, now: Now, decision: Decision
) -> None:
    """A failure is retried at or after it happened, never before; the transient streak is
    never negative; a step only records failures of its own instant."""
    record = decision.state.failure
    assert decision.state.streak >= 0
    if record is not None:
        assert record.retry_at >= record.at, record
        if record != before.failure:
            assert record.at == now.monotonic


def check_flight_numbering(
    policy: Policy, before: TokenState, event: Input, now: Now, decision: Decision
) -> None:
    """At most one flight, the latest started: a new one only when none is in progress or
    the one in progress is overdue (never two flights); ids never reused; `flights` never
    decreases and grows by one exactly when a flight starts, which only a caller does
    (`TokenNeeded`, or `TokenRejected` asking for the next token), at `now`, with the
    documented deadline; a flight in progress never changes."""
    after = decision.state
    if new_flight(before, decision):
        assert after.flight is not None
        if fell_back(decision):
            # The next form, at once: the refused flight's outcome starts it.
            assert isinstance(event, TokenReplyReceived)
            assert before.flight is not None
            assert before.flight.id == event.flight
        else:
            assert isinstance(event, TokenNeeded | TokenRejected)
            assert before.flight is None or before.flight.deadline <= now.monotonic, "not overdue"
        assert after.flight.id == after.flights == before.flights + 1
        assert after.flight.source == policy.source
        assert after.flight.started == now.monotonic
        assert after.flight.deadline == expected_deadline(policy, now)
    else:
        assert after.flights == before.flights
        if after.flight is not None:
            assert after.flight == before.flight


def check_effects(
    policy: Policy, before: TokenState, event: Input, now: Now, decision: Decision
) -> None:
    """At most one input-producing effect, and it is last. A flight's effect (a fetch or
    a provider call, as the policy says) exactly when it starts, carrying its id; a
    provider is shown the token held before. `ReleaseWaiters(n)` exactly when flight n
    ends, once, before any producing effect."""
    work = decision.work
    producing = [i for i, e in enumerate(work) if isinstance(e, PRODUCING)]
    assert producing in ([], [len(work) - 1]), work
    starts = [e for e in work if isinstance(e, FetchToken | CallTokenProvider)]
    if new_flight(before, decision):
        assert decision.state.flight is not None
        (effect,) = starts
        assert effect.flight == decision.state.flight.id
        if policy.source is TokenSource.ENDPOINT:
            assert isinstance(effect, FetchToken)
            # The request of the form the state says is next.
            assert effect.request == token_request(policy, form=decision.state.auth)
        else:
            assert effect == CallTokenProvider(flight=effect.flight, last=held_token(before))
    else:
        assert starts == []
    releases = [e.flight for e in work if isinstance(e, ReleaseWaiters)]
    ended = ended_flight(before, decision)
    assert releases == ([] if ended is None else [ended]), (releases, ended)


def check_notifications(
    policy: Policy, before: TokenState, event: Input, now: Now, decision: Decision
) -> None:
    """`NotifyTokenUpdate` only with a callback, only for the token just adopted and only
    when it differs from the one held before; with a callback every such token is announced."""
    after = held_token(decision.state)
    notified = [e.token for e in decision.work if isinstance(e, NotifyTokenUpdate)]
    adopted = any(isinstance(e, TokenAdopted) for e in decision.events)
    if policy.notify_updates and adopted and after is not None and after != held_token(before):
        assert notified == [after]
    else:
        assert notified == []


def check_answers(
    policy: Policy, before: TokenState, event: Input, now: Now, decision: Decision
) -> None:
    """`UseToken` only with the token now held, usable at `now`; `AwaitFlight` only for the
    flight in progress, until a deadline still ahead and no later than the flight's;
    `AwaitRetry` until the recorded retry instant, still ahead; a `Fail` that says how long
    to wait says a positive time; `TokenNeeded` left unanswered exactly when its caller has
    just started a flight it must run (a renewal started for a caller that has its token
    is answered)."""
    answer = decision.answer
    after = decision.state
    m = now.monotonic
    match answer:
        case UseToken(token=token):
            assert after.held is not None
            assert after.held.token == token
            assert fresh(after, now), "UseToken with a token past its fresh_until"
        case AwaitFlight(flight=number, until=until):
            assert isinstance(event, TokenNeeded | TokenRejected)
            assert after.flight is not None
            assert number == after.flight.id
            assert m < until <= after.flight.deadline
        case AwaitRetry(until=until):
            assert isinstance(event, TokenNeeded | TokenRejected)
            assert after.failure is not None
            assert after.flight is None
            assert m < until == after.failure.retry_at
        case Fail(retry_after=retry_after):
            assert retry_after is None or retry_after >= 0
        case None:
            pass
    if isinstance(event, TokenNeeded):
        if answer is None:
            assert new_flight(before, decision)
        elif new_flight(before, decision):
            assert isinstance(answer, UseToken), "only a renewal starts a flight and answers"


def check_stale_outcomes(
    policy: Policy, before: TokenState, event: Input, now: Now, decision: Decision
) -> None:
    """An outcome of a flight that is not the current one changes nothing, asks for
    nothing, answers nothing: it is only reported."""
    flight = flight_of(event)
    if flight is not None and (before.flight is None or before.flight.id != flight):
        assert decision == Decision(state=before, events=(StaleOutcomeIgnored(flight=flight),))


def _adopted_from_flight(policy: Policy, before: TokenState, event: Input, now: Now) -> Held | None:
    """The `Held` the current flight's outcome `event` should produce, when it carries a
    token handed in that is new (a provider's token other than the held one)."""
    flight = before.flight
    assert flight is not None
    if isinstance(event, TokenProvided) and isinstance(event.token, OAuthToken):
        if before.held is not None and event.token == before.held.token:
            return before.held
        return expected_held(policy, event.token, now, flight.started, arriving=True)
    return None


def check_outcomes(
    policy: Policy, before: TokenState, event: Input, now: Now, decision: Decision
) -> None:
    """The current flight's outcome always ends it and answers no waiter directly: with a
    token adopted (the transient streak and the failure forgotten, used by the caller or
    announced first, due for renewal no sooner than documented), or with its failure
    recorded, and the caller asking again to learn of it."""
    flight = flight_of(event)
    if flight is None or before.flight is None or before.flight.id != flight:
        return
    after = decision.state
    if check_fallback(policy, before, event, now, decision):
        return
    assert after.flight is None
    settled = [e for e in decision.events if isinstance(e, FlightSettled)]
    assert len(settled) == 1
    assert settled[0].flight == flight
    assert settled[0].renewal == fresh(before, now)
    failure = settled[0].failure
    m = now.monotonic
    if failure is None:
        assert after.held is not None
        assert after == TokenState(
            held=after.held,
            flights=before.flights,
            rejected_at=before.rejected_at,
            auth=before.auth,
            # A form that got a token from the endpoint is the one kept.
            auth_settled=before.auth_settled or isinstance(event, TokenReplyReceived),
        )
        assert decision.answer in (None, UseToken(token=after.held.token))
        # A flight's token is usable when it arrives, and not due for renewal again yet.
        assert m < after.held.fresh_until
        assert m < after.held.refresh_at or after.held.refresh_at == after.held.fresh_until
        expected = _adopted_from_flight(policy, before, event, now)
        if expected is not None:
            assert after.held == respaced(policy, expected, now)
        if isinstance(event, TokenReplyReceived):
            # Its lifetime (or the default one) counts from when the request was sent.
            token = after.held.token
            lifetime = lifetime_of(policy, token)
            if lifetime is None:
                assert token.expiry is None
                placed = expected_placement(policy, token, math.inf, None, now, arriving=False)
            else:
                started = before.flight.started
                expiry = now.wall - (m - started) + lifetime
                assert token.expiry == (expiry if math.isfinite(expiry) else None)
                placed = expected_placement(
                    policy, token, started + lifetime, lifetime, now, arriving=True
                )
            assert after.held == respaced(policy, placed, now)
    else:
        assert decision.answer is None
        assert decision.work == (ReleaseWaiters(flight=flight),)
        assert after == msgspec.structs.replace(
            before, flight=None, failure=after.failure, streak=after.streak, auth=after.auth
        )
        # Every form refused: the next flight starts over from the first.
        every_form_refused = (
            isinstance(event, TokenReplyReceived)
            and policy.source is TokenSource.ENDPOINT
            and not before.auth_settled
            and refused_authentication(failure)
        )
        assert after.auth == (0 if every_form_refused else before.auth)
        tried = tuple(form_name(f) for f in policy.auth_forms)
        if every_form_refused and len(tried) > 1:
            assert isinstance(failure, ErrorResponse | MalformedResponse)
            assert failure.tried == tried
        check_failure_recorded(policy, before, failure, now, decision)


def check_fallback(
    policy: Policy, before: TokenState, event: Input, now: Now, decision: Decision
) -> bool:
    """A refusal of the credentials by a form that never got a token moves on to the
    next form (never back, never past the last): the refused flight settles with the
    refusal, its waiters are released, and a new flight sends the next form's request.
    Whether the step fell back."""
    if not fell_back(decision):
        return False
    assert isinstance(event, TokenReplyReceived)
    assert policy.source is TokenSource.ENDPOINT
    assert not before.auth_settled
    assert before.flight is not None
    forms = policy.auth_forms
    auth = min(before.auth, len(forms) - 1)
    assert auth + 1 < len(forms)
    after = decision.state
    number = before.flights + 1
    assert after == msgspec.structs.replace(
        before, flight=after.flight, flights=number, auth=auth + 1
    )
    assert after.flight is not None
    assert after.flight.id == number
    assert decision.answer is None
    assert decision.work == (
        ReleaseWaiters(flight=before.flight.id),
        FetchToken(flight=number, request=token_request(policy, form=auth + 1)),
    )
    settled = [e for e in decision.events if isinstance(e, FlightSettled)]
    assert len(settled) == 1
    assert settled[0].failure is not None
    assert refused_authentication(settled[0].failure)
    assert [e for e in decision.events if isinstance(e, AuthenticationFallback)] == [
        AuthenticationFallback(refused=form_name(forms[auth]), trying=form_name(forms[auth + 1]))
    ]
    return True


def check_needed(
    policy: Policy, before: TokenState, event: Input, now: Now, decision: Decision
) -> None:
    """`TokenNeeded` never changes the held token and never leaves its caller with nothing
    to do (an answer, or a flight to run). While the held token is usable the answer is
    always that token (never a wait, never a failure): unchanged state while FRESH; while
    EXPIRING also one renewal when none is in flight or held back, an overdue one given
    up. Otherwise a caller waits for a flight in time (no longer than its call may), and
    else is answered as `expected_retried` says, an overdue flight given up first."""
    if not isinstance(event, TokenNeeded):
        return
    m = now.monotonic
    assert decision.answer is not None or decision.work
    after = decision.state
    assert after.held == before.held
    assert after.rejected_at == before.rejected_at
    flight = before.flight
    held = before.held
    if held is not None and m < held.fresh_until:
        assert decision.answer == UseToken(token=held.token)
        if m < held.refresh_at or (flight is not None and m < flight.deadline):
            assert decision == Decision(state=before, answer=decision.answer)
        elif flight is not None:
            # The renewal hangs: given up (its callers were never waiting), the token used.
            timed_out = FlightTimedOut(seconds=m - flight.started)
            assert decision.work == (ReleaseWaiters(flight=flight.id),)
            assert after == msgspec.structs.replace(
                before, flight=None, failure=after.failure, streak=after.streak
            )
            check_failure_recorded(policy, before, timed_out, now, decision)
        elif before.failure is not None and m < before.failure.retry_at:
            assert decision == Decision(state=before, answer=decision.answer)
        else:
            assert new_flight(before, decision)
            assert decision.events == (
                FlightStarted(flight=before.flights + 1, source=policy.source, renewal=True),
            )
        return
    since = m if event.since is None else event.since
    call_deadline = since + policy.resilience.call_timeout
    if flight is not None and m < flight.deadline:
        expected: Fail | AwaitFlight = (
            Fail(failure=CallTimedOut(seconds=m - since))
            if m >= call_deadline
            else AwaitFlight(flight=flight.id, until=min(flight.deadline, call_deadline))
        )
        assert decision == Decision(state=before, answer=expected)
        return
    given_up = before
    if flight is not None:
        timed_out = FlightTimedOut(seconds=m - flight.started)
        check_failure_recorded(policy, before, timed_out, now, decision)
        given_up = msgspec.structs.replace(
            before, flight=None, failure=after.failure, streak=after.streak
        )
        assert decision.work[0] == ReleaseWaiters(flight=flight.id)
    answer = expected_retried(policy, given_up, event, now)
    assert decision.answer == answer
    if answer is None:
        assert new_flight(given_up, decision)
        assert after == msgspec.structs.replace(
            given_up, flight=after.flight, flights=given_up.flights + 1
        )
        assert decision.events[-1] == FlightStarted(
            flight=given_up.flights + 1, source=policy.source
        )
    else:
        assert after == given_up


def check_reusable_until(
    policy: Policy, before: TokenState, event: Input, now: Now, decision: Decision
) -> None:
    """The hot path's certificate: before `reusable_until(policy, state)`, `TokenNeeded`
    (whoever asks, however long it has tried) is answered `UseToken` with the state
    unchanged, no work and no events."""
    if isinstance(event, TokenNeeded) and now.monotonic < reusable_until(policy, before):
        assert before.held is not None
        assert decision == Decision(state=before, answer=UseToken(token=before.held.token))


def check_rejected(
    policy: Policy, before: TokenState, event: Input, now: Now, decision: Decision
) -> None:
    """`TokenRejected` for a token not held, or held but already out of use (let go after
    another request's 401, or expired), lets nothing go: the caller goes on as a
    `TokenNeeded` would. For the held token in use: it is let go at once; a second
    rejection within the cool-down fails the call and cools down every caller; otherwise
    the call goes on as a `TokenNeeded` would from the state with the token let go."""
    if not isinstance(event, TokenRejected):
        return
    m = now.monotonic
    held = before.held
    if held is None or held.token != event.token or m >= held.fresh_until:
        first: Event = StaleRejectionIgnored(reason=event.reason)
        then_from = before
    else:
        let_go = msgspec.structs.replace(
            held, fresh_until=min(held.fresh_until, m), refresh_at=min(held.refresh_at, m)
        )
        first = TokenInvalidated(reason=event.reason)
        cool_down = policy.resilience.cool_down
        if m - before.rejected_at < cool_down:
            failure = RejectedByApi(reason=event.reason)
            record = FailureRecord(flight=None, failure=failure, at=m, retry_at=m + cool_down)
            assert decision == Decision(
                state=msgspec.structs.replace(before, held=let_go, failure=record),
                answer=Fail(failure=failure, retry_after=cool_down),
                events=(first, CoolDownStarted(seconds=cool_down, failure=failure)),
            )
            return
        then_from = msgspec.structs.replace(before, held=let_go, rejected_at=m)
        assert not fresh(then_from, now)
    then = step(policy, then_from, TokenNeeded(), now)
    check_needed(policy, then_from, TokenNeeded(), now, then)
    assert decision == Decision(
        state=then.state, answer=then.answer, work=then.work, events=(first, *then.events)
    )


def check_accepted(
    policy: Policy, before: TokenState, event: Input, now: Now, decision: Decision
) -> None:
    """`TokenAccepted`: a request replayed with the held token after a 401 went through, so
    a later 401 is a first rejection again; it forgets when the last rejection was, and
    nothing else. For any other token it changes nothing."""
    if not isinstance(event, TokenAccepted):
        return
    if before.held is not None and before.held.token == event.token:
        assert decision == Decision(state=msgspec.structs.replace(before, rejected_at=-math.inf))
    else:
        assert decision == Decision(state=before)


def check_setter_and_callbacks(
    policy: Policy, before: TokenState, event: Input, now: Now, decision: Decision
) -> None:
    """`TokenSet(None)` drops the token and nothing else; a refused token changes nothing;
    an accepted one is held where the rules place it, clears the failure, and supersedes
    a flight only if usable. The callback's answers never change the state; a callback
    that raised is reported and fails its caller."""
    after = decision.state
    match event:
        case TokenSet(token=None):
            assert after == msgspec.structs.replace(before, held=None)
            expected = (TokenDropped(),) if before.held is not None else ()
            assert decision.events == expected
            assert (decision.answer, decision.work) == (None, ())
        case TokenSet(token=token):
            problem = token_problem(token)
            if problem is not None:
                assert after == before
                assert decision.work == ()
                assert decision.events == ()
                assert isinstance(decision.answer, Fail)
                return
            assert isinstance(token, OAuthToken)
            assert after.held is not None
            if before.held is not None and token == before.held.token:
                assert after.held == before.held  # the held token keeps its place
            else:
                assert after.held == expected_held(policy, token, now, None, arriving=False)
            assert after.failure is None
            assert after.streak == 0  # a token by hand: the failures in a row are forgotten
            assert (after.flights, after.rejected_at) == (before.flights, before.rejected_at)
            assert decision.answer is None
            superseded = before.flight is not None and fresh(after, now)
            assert (after.flight is None) == (before.flight is None or superseded)
            if superseded:
                assert before.flight is not None
                assert FlightSuperseded(flight=before.flight.id) in decision.events
        case TokenUpdateNotified(token=token):
            use = (
                UseToken(token=token)
                if held_token(before) == token and fresh(before, now)
                else None
            )
            assert decision == Decision(state=before, answer=use)
        case TokenUpdateRaised(reason=reason):
            assert decision == Decision(
                state=before,
                answer=Fail(failure=UpdateCallbackRaised(reason=reason)),
                events=(UpdateCallbackFailed(reason=reason),),
            )
        case _:
            pass


def check_events(
    policy: Policy, before: TokenState, event: Input, now: Now, decision: Decision
) -> None:
    """Events tell what happened: `FlightStarted` for a new flight (a renewal when the
    caller got its token anyway), exactly one of `FlightSettled`/`FlightSuperseded` for a
    flight that ended, `TokenAdopted` when a new held value was taken (with its monotonic
    expiry and refresh instant), and only the steps that hold back the next request
    report a backoff, a breaker or a cool-down."""
    started = [e for e in decision.events if isinstance(e, FlightStarted)]
    if new_flight(before, decision):
        assert decision.state.flight is not None
        renewal = isinstance(decision.answer, UseToken) or (
            fell_back(decision) and fresh(before, now)
        )
        assert started == [
            FlightStarted(flight=decision.state.flight.id, source=policy.source, renewal=renewal)
        ]
    else:
        assert started == []
    ended = ended_flight(before, decision)
    endings = [e.flight for e in decision.events if isinstance(e, FlightSettled | FlightSuperseded)]
    assert endings == ([] if ended is None else [ended])
    adopted = [e for e in decision.events if isinstance(e, TokenAdopted)]
    if adopted:
        (one,) = adopted
        held = decision.state.held
        assert held is not None
        assert (one.expires_at, one.refresh_at) == (held.expires_at, held.refresh_at)
        origins: dict[type, TokenOrigin] = {
            TokenReplyReceived: TokenOrigin.ENDPOINT,
            TokenProvided: TokenOrigin.PROVIDER,
            TokenSet: TokenOrigin.SETTER,
        }
        expected_origin = origins[type(event)]
        assert one.origin is expected_origin
    holding_back = [
        e
        for e in decision.events
        if isinstance(e, RetryScheduled | BreakerOpened | CoolDownStarted)
    ]
    if holding_back:
        assert decision.state.failure is not None
        assert decision.state.failure != before.failure
    if decision.state.failure is not None and decision.state.failure != before.failure:
        assert ended is not None or isinstance(event, TokenRejected)


CHECKS: Final[tuple[Check, ...]] = (
    check_held_tokens_are_sound,
    check_failure_record,
    check_flight_numbering,
    check_effects,
    check_notifications,
    check_answers,
    check_stale_outcomes,
    check_outcomes,
    check_needed,
    check_reusable_until,
    check_rejected,
    check_accepted,
    check_setter_and_callbacks,
    check_events,
)


def check_step(
    policy: Policy, before: TokenState, event: Input, now: Now, decision: Decision
) -> None:
    """Every promise above, for one step; a failure names the promise in its traceback."""
    for check in CHECKS:
        check(policy, before, event, now, decision)
