"""Single flight: however callers, outcomes, setters, rejections and the clocks interleave,
at most one flight is ever in progress, flight ids only grow, late outcomes change
nothing, and no flight starts while a backoff, cool-down or open breaker holds it back.

The model shell (`_shell.py`) answers effects in random order, long after their flight
was given up (deadline passed) or superseded (a usable token was set), replays outcomes
already stepped, and sends outcomes for flights that never existed. From the trace of
every step this test rebuilds, independently of the machine's state, which flights are
*live*: started (their `FetchToken`/`CallTokenProvider` emitted) and not yet ended
(their `ReleaseWaiters` emitted), processing each decision's work in order.
"""

from __future__ import annotations

from hypothesis import given

from ccg.core import (
    AwaitFlight,
    AwaitRetry,
    CallTokenProvider,
    Fail,
    FetchToken,
    FlightSettled,
    FlightSuperseded,
    FlightTimedOut,
    Policy,
    ReleaseWaiters,
    TokenNeeded,
    TokenRejected,
    TokenSet,
    UseToken,
)
from tests.core._invariants import OUTCOMES, flight_of
from tests.core._shell import Action, Shell, plans, shell_policies


@given(policy=shell_policies(), plan=plans())
def test_at_most_one_flight_under_any_interleaving(policy: Policy, plan: list[Action]) -> None:
    shell = Shell(policy)
    shell.run(plan)
    live: set[int] = set()
    started: list[int] = []
    unanswered: list[int] = []  # flights whose FetchToken / CallTokenProvider has no outcome yet
    for before, event, now, decision in shell.trace:
        answered = flight_of(event)
        if answered in unanswered:
            unanswered.remove(answered)
        for effect in decision.work:
            match effect:
                case FetchToken(flight=flight) | CallTokenProvider(flight=flight):
                    # Only a caller starts a flight, and only when none is live and nothing
                    # holds it back (the failure recorded by this very step included).
                    assert isinstance(event, TokenNeeded | TokenRejected)
                    assert live == set(), f"flight {flight} started while {live} in progress"
                    record = decision.state.failure
                    assert record is None or now.monotonic >= record.retry_at
                    assert flight == len(started) + 1, "flight ids are 1, 2, 3, ... in order"
                    started.append(flight)
                    unanswered.append(flight)
                    live.add(flight)
                case ReleaseWaiters(flight=flight):
                    assert live == {flight}, f"released {flight} while {live} in progress"
                    live.discard(flight)
                case _:
                    pass
        # The machine's own account agrees: its flight is the live one.
        current = decision.state.flight
        assert live == (set() if current is None else {current.id})
        assert decision.state.flights == len(started)
        # Of the flights whose effect is still unanswered (given up and superseded ones
        # included), at most one is current.
        assert len([n for n in unanswered if current is not None and n == current.id]) <= 1
        # A flight ends only by its own outcome, its deadline, or a usable token being set.
        ended = [e for e in decision.events if isinstance(e, FlightSettled | FlightSuperseded)]
        for end in ended:
            match event:
                case _ if isinstance(event, OUTCOMES):
                    assert flight_of(event) == end.flight
                    assert isinstance(end, FlightSettled)
                case TokenNeeded() | TokenRejected():
                    assert isinstance(end, FlightSettled)
                    assert isinstance(end.failure, FlightTimedOut)
                case TokenSet():
                    assert isinstance(end, FlightSuperseded)
                case _:
                    raise AssertionError(f"{event!r} ended flight {end.flight}")
        # An outcome of a flight that is not current changes nothing.
        number = flight_of(event)
        if number is not None and (before.flight is None or before.flight.id != number):
            assert decision.state == before
    assert started == sorted(set(started))
    # The model answers only what was asked for: these are interleavings a shell can produce.
    assert unanswered == [
        e.flight for e in shell.outstanding if isinstance(e, FetchToken | CallTokenProvider)
    ]


@given(policy=shell_policies(), plan=plans())
def test_every_call_ends_within_its_call_timeout(policy: Policy, plan: list[Action]) -> None:
    """A call asking by the driver's protocol is only told to wait for something still
    ahead, and ends, with a token or a failure, by its `call_timeout`: after the plan the
    token server fails (transiently) from then on, time passes a second at a time, and
    every waiting call asks again each second; each ends no later than the first time it
    asks at or after its deadline (or at once, if that is already past)."""
    shell = Shell(policy)
    shell.run(plan)
    drained_from = shell.now.monotonic
    ended_before = len(shell.finished)
    timeout = policy.resilience.call_timeout
    shell.drain(rounds=int(timeout) + 2, seconds=1.0)
    assert shell.waiters == []
    for _before, _event, now, decision in shell.trace:
        if isinstance(decision.answer, AwaitFlight | AwaitRetry):
            assert decision.answer.until > now.monotonic
    for answer, call, at in shell.finished[ended_before:]:
        assert isinstance(answer, UseToken | Fail)
        assert at <= max(call.since + timeout, drained_from) + 1.0
