"""Single flight: however callers, outcomes, setters and the clocks interleave, at most one
flight is ever in progress, flight ids only grow, and late outcomes change nothing.

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
    CallTokenProvider,
    FetchToken,
    FlightSettled,
    FlightSuperseded,
    FlightTimedOut,
    Policy,
    ReleaseWaiters,
    TokenNeeded,
    TokenSet,
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
    for before, event, _now, decision in shell.trace:
        answered = flight_of(event)
        if answered in unanswered:
            unanswered.remove(answered)
        for effect in decision.work:
            match effect:
                case FetchToken(flight=flight) | CallTokenProvider(flight=flight):
                    # Only a caller starts a flight, and only when none is live.
                    assert isinstance(event, TokenNeeded)
                    assert live == set(), f"flight {flight} started while {live} in progress"
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
                case TokenNeeded():
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
