"""The promises `ccg.core.step` makes about every single step, as assertions.

Each `check_*` function takes `(policy, before, event, now, decision)` and asserts one
promise of `_machine.py` (its theory of operation), `_effects.py` or `_answers.py`;
`check_step` runs them all. They are written from the documentation, not from the
code: the skew rule and the flight deadline are computed here by hand
(`expected_skew`, `expected_deadline`), never by calling the core's own helpers.
The property tests run them on single steps over the whole space and at every step
of the shell models (`test_single_flight.py`, `test_expiry.py`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final

from ccg.core import (
    AwaitFlight,
    CallTokenProvider,
    Decision,
    Fail,
    FailureRecord,
    FetchToken,
    FlightAbandoned,
    FlightSettled,
    FlightStarted,
    FlightSuperseded,
    FlightTimedOut,
    Input,
    NotifyTokenUpdate,
    Now,
    OAuthToken,
    Policy,
    ReleaseWaiters,
    StaleOutcomeIgnored,
    TokenAdopted,
    TokenDropped,
    TokenNeeded,
    TokenProvided,
    TokenProviderRaised,
    TokenReplyReceived,
    TokenRequestFailed,
    TokenSet,
    TokenSource,
    TokenState,
    TokenUpdateNotified,
    TokenUpdateRaised,
    UseToken,
    token_problem,
)

TEN_YEARS: Final = 10 * 365 * 86_400
"""The longest lifetime the core believes; longer ones are clamped to it."""
GRACE: Final = 2.0
"""Seconds waiters allow a flight beyond the request's total timeout (`FLIGHT_GRACE`)."""

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


def expected_skew(token: OAuthToken, clock_skew: float) -> float:
    """The skew applied to `token`, by hand: `clock_skew`, but at most half its lifetime
    (the lifetime clamped to [0, ten years]); the whole skew when it has no lifetime."""
    if token.expires_in is None:
        return clock_skew
    lifetime = min(max(token.expires_in, 0), TEN_YEARS)
    return min(clock_skew, lifetime / 2)


def fresh(policy: Policy, state: TokenState, now: Now) -> bool:
    """Whether `state` holds a token usable at `now` (the boundary instant is expired)."""
    held = state.held
    if held is None:
        return False
    return now.monotonic < held.expires_at - expected_skew(held.token, policy.clock_skew)


def expected_deadline(policy: Policy, now: Now) -> float:
    """The deadline of a flight started at `now`."""
    return now.monotonic + policy.limits.total_timeout + GRACE


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


# -- the checks ----------------------------------------------------------------------


def check_held_tokens_are_sound(
    policy: Policy, before: TokenState, event: Input, now: Now, decision: Decision
) -> None:
    """Every held token passes `token_problem`: no step adopts a token that could not be sent."""
    held = decision.state.held
    if held is not None:
        assert token_problem(held.token) is None, token_problem(held.token)


def check_flight_numbering(
    policy: Policy, before: TokenState, event: Input, now: Now, decision: Decision
) -> None:
    """At most one flight, the latest started; ids never reused; `flights` never decreases
    and grows by one exactly when a flight starts, which only `TokenNeeded` does, at `now`,
    with the documented deadline; a flight in progress never changes."""
    after = decision.state
    if new_flight(before, decision):
        assert after.flight is not None
        assert isinstance(event, TokenNeeded)
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
    flight in progress, until its deadline, which is still ahead; `TokenNeeded` left
    unanswered exactly when its caller has just started a flight (and runs it)."""
    answer = decision.answer
    if isinstance(answer, UseToken):
        assert decision.state.held is not None
        assert decision.state.held.token == answer.token
        assert fresh(policy, decision.state, now), "UseToken with an expired token"
    if isinstance(answer, AwaitFlight):
        flight = decision.state.flight
        assert flight is not None
        assert (answer.flight, answer.until) == (flight.id, flight.deadline)
        assert now.monotonic < answer.until
        assert decision.state == before
    if isinstance(event, TokenNeeded):
        assert (answer is None) == new_flight(before, decision)


def check_stale_outcomes(
    policy: Policy, before: TokenState, event: Input, now: Now, decision: Decision
) -> None:
    """An outcome of a flight that is not the current one changes nothing, asks for
    nothing, answers nothing: it is only reported."""
    flight = flight_of(event)
    if flight is not None and (before.flight is None or before.flight.id != flight):
        assert decision == Decision(state=before, events=(StaleOutcomeIgnored(flight=flight),))


def check_outcomes(
    policy: Policy, before: TokenState, event: Input, now: Now, decision: Decision
) -> None:
    """The current flight's outcome always ends it: with a token adopted (used by the
    caller, or announced first), or with its failure remembered and told to the caller."""
    flight = flight_of(event)
    if flight is None or before.flight is None or before.flight.id != flight:
        return
    after = decision.state
    assert after.flight is None
    settled = [e for e in decision.events if isinstance(e, FlightSettled)]
    assert len(settled) == 1
    assert settled[0].flight == flight
    failure = settled[0].failure
    if failure is None:
        assert after.held is not None
        assert after.failure is None
        assert decision.answer in (None, UseToken(token=after.held.token))
    else:
        assert decision.answer == Fail(failure=failure, flight=flight)
        assert after == TokenState(
            held=before.held,
            failure=FailureRecord(flight=flight, failure=failure, at=now.monotonic),
            flights=before.flights,
        )


def check_needed(
    policy: Policy, before: TokenState, event: Input, now: Now, decision: Decision
) -> None:
    """`TokenNeeded` never changes the held token and never leaves its caller with nothing
    to do (an answer, or a flight to run); a caller that waited for a flight that failed is
    told its failure; an overdue flight is given up with `FlightTimedOut`."""
    if not isinstance(event, TokenNeeded):
        return
    assert decision.answer is not None or decision.work
    after = decision.state
    assert after.held == before.held
    flight = before.flight
    if before.held is not None and fresh(policy, before, now):
        assert decision == Decision(state=before, answer=UseToken(token=before.held.token))
        return
    if flight is not None and now.monotonic >= flight.deadline:
        timed_out = FlightTimedOut(seconds=now.monotonic - flight.started)
        assert after.failure == FailureRecord(flight=flight.id, failure=timed_out, at=now.monotonic)
        assert FlightSettled(flight=flight.id, failure=timed_out) in decision.events
        if event.waited_for == flight.id:
            assert decision.answer == Fail(failure=timed_out, flight=flight.id)
    failure = before.failure
    if flight is None and failure is not None and event.waited_for == failure.flight:
        assert decision == Decision(
            state=before, answer=Fail(failure=failure.failure, flight=failure.flight)
        )


def check_setter_and_callbacks(
    policy: Policy, before: TokenState, event: Input, now: Now, decision: Decision
) -> None:
    """`TokenSet(None)` drops the token and nothing else; a refused token changes nothing;
    an accepted one is held, clears the failure, and supersedes a flight only if usable.
    The callback's answers never change the state."""
    after = decision.state
    match event:
        case TokenSet(token=None):
            assert after == TokenState(
                flight=before.flight, failure=before.failure, flights=before.flights
            )
            expected = (TokenDropped(),) if before.held is not None else ()
            assert decision.events == expected
            assert (decision.answer, decision.work) == (None, ())
        case TokenSet(token=token):
            problem = token_problem(token)
            if problem is not None:
                assert after == before
                assert decision.work == ()
                assert isinstance(decision.answer, Fail)
            else:
                assert after.held is not None
                assert after.failure is None
                assert decision.answer is None
                superseded = before.flight is not None and fresh(policy, after, now)
                assert (after.flight is None) == (before.flight is None or superseded)
                if superseded:
                    assert before.flight is not None
                    assert FlightSuperseded(flight=before.flight.id) in decision.events
        case TokenUpdateNotified() | TokenUpdateRaised():
            assert after == before
            assert decision.work == ()
            assert decision.events == ()
        case _:
            pass


def check_events(
    policy: Policy, before: TokenState, event: Input, now: Now, decision: Decision
) -> None:
    """Events tell what happened: `FlightStarted` for a new flight, exactly one of
    `FlightSettled`/`FlightSuperseded` for a flight that ended, `TokenAdopted` when a new
    held value was taken (with its monotonic expiry)."""
    started = [e for e in decision.events if isinstance(e, FlightStarted)]
    if new_flight(before, decision):
        assert decision.state.flight is not None
        assert started == [FlightStarted(flight=decision.state.flight.id, source=policy.source)]
    else:
        assert started == []
    ended = ended_flight(before, decision)
    endings = [e.flight for e in decision.events if isinstance(e, FlightSettled | FlightSuperseded)]
    assert endings == ([] if ended is None else [ended])
    adopted = [e for e in decision.events if isinstance(e, TokenAdopted)]
    if adopted:
        (one,) = adopted
        assert decision.state.held is not None
        assert one.expires_at == decision.state.held.expires_at or math.isnan(one.expires_at)


CHECKS: Final[tuple[Check, ...]] = (
    check_held_tokens_are_sound,
    check_flight_numbering,
    check_effects,
    check_notifications,
    check_answers,
    check_stale_outcomes,
    check_outcomes,
    check_needed,
    check_setter_and_callbacks,
    check_events,
)


def check_step(
    policy: Policy, before: TokenState, event: Input, now: Now, decision: Decision
) -> None:
    """Every promise above, for one step; a failure names the promise in its traceback."""
    for check in CHECKS:
        check(policy, before, event, now, decision)
