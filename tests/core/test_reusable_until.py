"""`reusable_until`: the certificate the lock-free hot path relies on.

Before `reusable_until(policy, state)` (monotonic), `TokenNeeded` is answered `UseToken`
with the state unchanged and no work, whoever asks (`waited_for`, `attempts`, `since`):
sound. At it, the step does something else: the token is no longer used, or, inside its
refresh window, the caller that finds no renewal in flight or held back starts one (or
gives up an overdue one): tight, so the hot path is taken for as long as it may be and
no longer. `condition` agrees with it.

    reusable_until = -inf                                       no token held
                   = fresh_until                                no refresh window
                   = max(refresh_at, min(fresh_until, X))       X: the renewal's deadline,
                                                                or when the next request
                                                                may be made (-inf: now)
"""

from __future__ import annotations

import math
from typing import Final

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccg.core import (
    Condition,
    Decision,
    FailureRecord,
    Flight,
    Held,
    Now,
    OAuthToken,
    Policy,
    ProviderRaised,
    TokenNeeded,
    TokenRequestSpec,
    TokenSource,
    TokenState,
    TransportFailure,
    TransportFailureKind,
    UseToken,
    condition,
    current_token,
    reusable_until,
    step,
)
from ccg.testing.strategies import DAY, flight_ids, monotonic_times, policies, states, times

POLICY: Final = Policy(
    request=TokenRequestSpec(
        token_url="https://as.example/token", client_id="id", client_secret="s"
    )
)
HOUR: Final = OAuthToken(access_token="AT", expires_in=3600, expiry=1_700_003_600.0)
AN_HOUR: Final = Held(token=HOUR, expires_at=3_600.0, fresh_until=3_540.0, refresh_at=2_655.0)
"""Taken at 0 for an hour: used until 3540 (the 60 s skew), renewed from 2655."""
NO_WINDOW: Final = Held(token=HOUR, expires_at=3_600.0, fresh_until=3_540.0, refresh_at=3_540.0)
SHORT: Final = OAuthToken(access_token="AT", expires_in=30, expiry=1_700_000_030.0)
HALF_MINUTE: Final = Held(token=SHORT, expires_at=30.0, fresh_until=15.0, refresh_at=11.25)
FOREVER: Final = OAuthToken(access_token="AT")
NEVER: Final = Held(token=FOREVER, expires_at=math.inf, fresh_until=math.inf, refresh_at=math.inf)
LONG_AGO: Final = Held(token=HOUR, expires_at=-5.0, fresh_until=-65.0, refresh_at=-950.0)
FLIGHT: Final = Flight(id=1, source=TokenSource.ENDPOINT, started=0.0, deadline=32.0)
RENEWAL: Final = Flight(id=1, source=TokenSource.ENDPOINT, started=2_700.0, deadline=2_732.0)
HANGING: Final = Flight(id=1, source=TokenSource.ENDPOINT, started=3_500.0, deadline=3_600.0)
TIMEOUT: Final = TransportFailure(kind=TransportFailureKind.TIMEOUT, reason="timed out")


def backoff(until: float) -> FailureRecord:
    return FailureRecord(flight=1, failure=TIMEOUT, at=2_700.0, retry_at=until)


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (TokenState(), -math.inf),
        (TokenState(flight=FLIGHT, flights=1), -math.inf),
        (TokenState(held=NO_WINDOW), 3_540.0),
        (TokenState(held=NO_WINDOW, flight=FLIGHT, flights=1), 3_540.0),
        (TokenState(held=AN_HOUR), 2_655.0),
        (TokenState(held=AN_HOUR, flight=RENEWAL, flights=1), 2_732.0),
        (TokenState(held=AN_HOUR, flight=HANGING, flights=1), 3_540.0),
        (TokenState(held=AN_HOUR, flight=FLIGHT, flights=1), 2_655.0),
        (TokenState(held=AN_HOUR, failure=backoff(2_701.5), flights=1), 2_701.5),
        (TokenState(held=AN_HOUR, failure=backoff(2_000.0), flights=1), 2_655.0),
        (TokenState(held=AN_HOUR, failure=backoff(4_000.0), flights=1), 3_540.0),
        (TokenState(held=HALF_MINUTE), 11.25),
        (TokenState(held=NEVER), math.inf),
        (TokenState(held=LONG_AGO), -950.0),
    ],
    ids=[
        "empty",
        "empty, in flight",
        "no window: fresh_until",
        "no window, in flight: fresh_until",
        "window: refresh_at",
        "window, renewal in flight: its deadline",
        "window, renewal hanging past fresh_until: fresh_until",
        "window, flight overdue before the window: refresh_at",
        "window, renewal held back: the retry",
        "window, a backoff over before the window: refresh_at",
        "window, held back past fresh_until: fresh_until",
        "30 s: skew capped at 15 s",
        "never expires",
        "long expired: its refresh_at",
    ],
)
def test_reusable_until(state: TokenState, expected: float) -> None:
    assert reusable_until(POLICY, state) == expected


def test_the_token_is_used_up_to_the_last_instant_before_reusable_until_and_not_at_it() -> None:
    state = TokenState(held=NO_WINDOW)
    last = Now(monotonic=math.nextafter(3_540.0, 0.0), wall=0.0)
    assert step(POLICY, state, TokenNeeded(), last) == Decision(
        state=state, answer=UseToken(token=HOUR)
    )
    assert condition(POLICY, state, last) is Condition.FRESH
    at = Now(monotonic=3_540.0, wall=0.0)
    assert not isinstance(step(POLICY, state, TokenNeeded(), at).answer, UseToken)
    assert condition(POLICY, state, at) is Condition.EXPIRED


def test_inside_the_window_the_hot_path_ends_where_a_renewal_starts() -> None:
    state = TokenState(held=AN_HOUR)
    last = Now(monotonic=math.nextafter(2_655.0, 0.0), wall=0.0)
    assert step(POLICY, state, TokenNeeded(), last) == Decision(
        state=state, answer=UseToken(token=HOUR)
    )
    assert condition(POLICY, state, last) is Condition.FRESH
    at = Now(monotonic=2_655.0, wall=0.0)
    renewing = step(POLICY, state, TokenNeeded(), at)
    assert renewing.answer == UseToken(token=HOUR)
    assert renewing.state.flight is not None
    assert condition(POLICY, state, at) is Condition.EXPIRING


def test_condition_and_current_token() -> None:
    now = Now(monotonic=0.0, wall=0.0)
    assert condition(POLICY, TokenState(), now) is Condition.EMPTY
    assert current_token(TokenState()) is None
    held = TokenState(held=LONG_AGO)
    assert current_token(held) is HOUR
    assert condition(POLICY, held, now) is Condition.EXPIRED
    assert condition(POLICY, TokenState(held=NEVER), Now(monotonic=1e300, wall=0.0)) is (
        Condition.FRESH
    )


@given(policy=policies(), state=states(), data=st.data(), wall=times())
def test_reusable_until_is_sound_and_tight(
    policy: Policy, state: TokenState, data: st.DataObject, wall: float
) -> None:
    """Before it: `UseToken` of the held token, state unchanged, no work, no events, for a
    newcomer and for a waiter of any flight alike, however long it has tried. At it: not
    that (no token used, or a renewal started, or a hanging one given up)."""
    until = reusable_until(policy, state)
    waited = data.draw(st.none() | flight_ids(state), label="waited_for")
    attempts = data.draw(st.integers(0, 5), label="attempts")
    since = data.draw(st.none() | monotonic_times(), label="since")
    event = TokenNeeded(waited_for=waited, attempts=attempts, since=since)
    token = current_token(state)
    if until > -math.inf:
        assert token is not None
        monotonic = data.draw(
            st.just(math.nextafter(until, -math.inf))
            | st.floats(until - 2 * DAY, until, exclude_max=True, allow_infinity=False)
            if math.isfinite(until)
            else st.floats(0, 1e12),
            label="before",
        )
        now = Now(monotonic=monotonic, wall=wall)
        assert step(policy, state, event, now) == Decision(
            state=state, answer=UseToken(token=token)
        )
        assert condition(policy, state, now) in (Condition.FRESH, Condition.EXPIRING)
    if math.isfinite(until):
        now = Now(monotonic=until, wall=wall)
        assert step(policy, state, event, now) != Decision(
            state=state, answer=None if token is None else UseToken(token=token)
        )
    if until < math.inf and state.held is not None:
        low = state.held.fresh_until if math.isfinite(state.held.fresh_until) else -1e12
        monotonic = data.draw(st.just(low) | st.floats(low, low + 2 * DAY), label="after")
        now = Now(monotonic=monotonic, wall=wall)
        assert not isinstance(step(policy, state, event, now).answer, UseToken)
        assert condition(policy, state, now) is Condition.EXPIRED
    if token is None:
        assert until == -math.inf
        assert condition(policy, state, Now(monotonic=0.0, wall=wall)) is Condition.EMPTY


def test_a_local_failure_never_holds_back_a_renewal() -> None:
    """The provider raised: nothing to wait for, `retry_at` is when it failed."""
    local = FailureRecord(
        flight=1, failure=ProviderRaised(reason="RuntimeError: x"), at=2_700.0, retry_at=2_700.0
    )
    assert reusable_until(POLICY, TokenState(held=AN_HOUR, failure=local, flights=1)) == 2_700.0
