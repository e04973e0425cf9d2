"""`ccg.testing.strategies` keeps its promises: the core's properties are only as good as
the values they run on. Valid values are valid, states are states the machine can be in,
flight ids land in each category they promise, clocks move as described, and answers
answer the effect they are drawn for. (Hostile tokens being refused is `test_token.py`'s.)

These check the generators, not the core, so they run fewer examples.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Final

from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

from ccg.core import (
    CallTokenProvider,
    FailureRecord,
    FetchToken,
    Flight,
    FlightAbandoned,
    Held,
    HttpRequest,
    Input,
    NotifyTokenUpdate,
    Now,
    OAuthToken,
    Policy,
    ProviderReturnedNone,
    ReleaseWaiters,
    TokenNeeded,
    TokenProvided,
    TokenProviderRaised,
    TokenReplyReceived,
    TokenRequestFailed,
    TokenSource,
    TokenState,
    TokenUpdateNotified,
    TokenUpdateRaised,
    token_problem,
)
from ccg.testing.strategies import (
    answers,
    clock_schedules,
    flight_ids,
    held_tokens,
    malformed_tokens,
    now_schedules,
    states,
    step_cases,
    tokens,
)

CHECK: Final = settings(max_examples=100)
SEARCH: Final = settings(max_examples=2_000, phases=[Phase.generate], database=None)
"""For `find`: any example will do, so no shrinking."""
REQUEST: Final = HttpRequest(method="POST", url="https://as.example/token")
TOKEN: Final = OAuthToken(access_token="t1", expires_in=60)
FLYING_5: Final = TokenState(
    flight=Flight(id=5, source=TokenSource.ENDPOINT, started=0.0, deadline=32.0),
    failure=FailureRecord(flight=4, failure=ProviderReturnedNone(), at=0.0, retry_at=0.0),
    flights=5,
)


@CHECK
@given(token=tokens())
def test_tokens_are_valid(token: OAuthToken) -> None:
    assert token_problem(token) is None


@CHECK
@given(token=malformed_tokens())
def test_malformed_tokens_are_oauth_tokens(token: OAuthToken) -> None:
    assert isinstance(token, OAuthToken)


@CHECK
@given(held=held_tokens())
def test_held_tokens_keep_their_instants_in_order(held: Held) -> None:
    assert token_problem(held.token) is None
    assert held.refresh_at <= held.fresh_until <= held.expires_at


@CHECK
@given(state=states())
def test_states_are_states_the_machine_can_be_in(state: TokenState) -> None:
    """The current flight is the latest started; a failure is the last finished flight's
    (or a rejection's, with no flight), retried no sooner than it happened; the streak is
    not negative."""
    if state.held is not None:
        assert token_problem(state.held.token) is None
        assert state.held.refresh_at <= state.held.fresh_until <= state.held.expires_at
    if state.flight is not None:
        assert state.flight.id == state.flights
        assert state.flight.deadline >= state.flight.started
    if state.failure is not None:
        if state.failure.flight is not None:
            assert state.failure.flight == state.flights - (state.flight is not None) >= 1
        assert state.failure.retry_at >= state.failure.at
    assert state.streak >= 0


def test_flight_ids_reach_every_category() -> None:
    def some(state: TokenState, wanted: Callable[[int], bool]) -> int:
        return find(flight_ids(state), wanted, settings=SEARCH)

    assert some(FLYING_5, lambda n: n == 5) == 5  # current
    assert some(FLYING_5, lambda n: 1 <= n < 5) in (2, 3, 4)  # stale: given up, superseded
    assert some(FLYING_5, lambda n: n > 5) in (6, 7, 8)  # never started
    assert some(FLYING_5, lambda n: n <= 0) in (-2, -1, 0)  # nonsense
    assert some(TokenState(), lambda n: n > 0) in (1, 2, 3)


def test_states_reach_every_shape() -> None:
    def complete(state: TokenState) -> bool:
        return None not in (state.held, state.flight, state.failure)

    def windowed(state: TokenState) -> bool:
        held = state.held
        return held is not None and held.refresh_at < held.fresh_until < held.expires_at

    find(states(), complete, settings=SEARCH)
    find(states(), windowed, settings=SEARCH)
    find(states(), lambda s: s == TokenState(), settings=SEARCH)
    find(states(), lambda s: s.flights > 2**32, settings=SEARCH)
    find(states(), lambda s: s.failure is not None and s.failure.flight is None, settings=SEARCH)
    find(states(), lambda s: s.streak >= 5 and s.rejected_at > -math.inf, settings=SEARCH)


def test_step_cases_land_on_boundaries() -> None:
    """Half the time `now` is a boundary of the state: exactly a flight's deadline, a held
    token's refresh instant or `fresh_until`, the end of a backoff, a call's deadline."""

    def on_deadline(case: tuple[Policy, TokenState, Input, Now]) -> bool:
        flight = case[1].flight
        return flight is not None and case[3].monotonic == flight.deadline

    def on_refresh(case: tuple[Policy, TokenState, Input, Now]) -> bool:
        held = case[1].held
        return held is not None and case[3].monotonic == held.refresh_at < held.fresh_until

    def on_fresh_until(case: tuple[Policy, TokenState, Input, Now]) -> bool:
        held = case[1].held
        return held is not None and case[3].monotonic == held.fresh_until < math.inf

    def on_retry(case: tuple[Policy, TokenState, Input, Now]) -> bool:
        record = case[1].failure
        return record is not None and case[3].monotonic == record.retry_at > record.at

    def on_call_deadline(case: tuple[Policy, TokenState, Input, Now]) -> bool:
        policy, _, event, now = case
        return (
            isinstance(event, TokenNeeded)
            and event.since is not None
            and now.monotonic == event.since + policy.resilience.call_timeout
        )

    for boundary in (on_deadline, on_refresh, on_fresh_until, on_retry, on_call_deadline):
        find(step_cases(), boundary, settings=SEARCH)


@CHECK
@given(schedule=now_schedules(max_size=6))
def test_now_schedules_move_the_monotonic_clock_forward_only(schedule: list[Now]) -> None:
    assert 1 <= len(schedule) <= 7
    for earlier, later in itertools.pairwise(schedule):
        assert later.monotonic >= earlier.monotonic
    for now in schedule:
        assert math.isfinite(now.monotonic)
        assert math.isfinite(now.wall)
        assert 0 <= now.entropy < 1


def test_now_schedules_move_the_wall_clock_both_ways_by_days() -> None:
    def jumps(schedule: list[Now]) -> list[float]:
        return [
            (b.wall - a.wall) - (b.monotonic - a.monotonic) for a, b in itertools.pairwise(schedule)
        ]

    find(now_schedules(), lambda s: any(j <= -86_400 for j in jumps(s)), settings=SEARCH)
    find(now_schedules(), lambda s: any(j >= 86_400 for j in jumps(s)), settings=SEARCH)


@CHECK
@given(schedule=clock_schedules())
def test_clock_schedules_never_go_back(schedule: list[float]) -> None:
    assert all(seconds >= 0 for seconds in schedule)


@CHECK
@given(data=st.data(), flight=st.integers(1, 5))
def test_answers_answer_the_effect_they_are_for(data: st.DataObject, flight: int) -> None:
    fetched: Input = data.draw(answers(FetchToken(flight=flight, request=REQUEST)))
    assert isinstance(fetched, TokenReplyReceived | TokenRequestFailed | FlightAbandoned)
    assert fetched.flight == flight
    provided: Input = data.draw(answers(CallTokenProvider(flight=flight, last=TOKEN)))
    assert isinstance(provided, TokenProvided | TokenProviderRaised | FlightAbandoned)
    assert provided.flight == flight
    notified: Input = data.draw(answers(NotifyTokenUpdate(token=TOKEN)))
    assert isinstance(notified, TokenUpdateNotified | TokenUpdateRaised)
    assert notified.token == TOKEN
    assert answers(ReleaseWaiters(flight=flight)).is_empty
