"""`reusable_until`: the certificate the lock-free hot path relies on.

Before `reusable_until(policy, state)` (monotonic), `TokenNeeded` is answered `UseToken`
with the state unchanged and no work, whatever `waited_for` says: sound. From it on, no
token is used: tight, so the hot path is taken for the token's whole usable life and no
longer. `condition` agrees with it.
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
    Flight,
    Held,
    Now,
    OAuthToken,
    Policy,
    TokenNeeded,
    TokenRequestSpec,
    TokenSource,
    TokenState,
    UseToken,
    condition,
    current_token,
    reusable_until,
    step,
)
from ccg.testing.strategies import DAY, flight_ids, policies, states, times

POLICY: Final = Policy(
    request=TokenRequestSpec(
        token_url="https://as.example/token", client_id="id", client_secret="s"
    )
)
HOUR: Final = OAuthToken(access_token="AT", expires_in=3600, expiry=1_700_003_600.0)
SHORT: Final = OAuthToken(access_token="AT", expires_in=30, expiry=1_700_000_030.0)
RESTORED: Final = OAuthToken(access_token="AT", expiry=1_700_000_100.0)
FOREVER: Final = OAuthToken(access_token="AT")
FLIGHT: Final = Flight(id=1, source=TokenSource.ENDPOINT, started=0.0, deadline=32.0)


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (TokenState(), -math.inf),
        (TokenState(flight=FLIGHT, flights=1), -math.inf),
        (TokenState(held=Held(token=HOUR, expires_at=3_600.0)), 3_540.0),
        (TokenState(held=Held(token=HOUR, expires_at=3_600.0), flight=FLIGHT, flights=1), 3_540.0),
        (TokenState(held=Held(token=SHORT, expires_at=30.0)), 15.0),
        (TokenState(held=Held(token=RESTORED, expires_at=100.0)), 40.0),
        (TokenState(held=Held(token=FOREVER, expires_at=math.inf)), math.inf),
        (TokenState(held=Held(token=HOUR, expires_at=-5.0)), -65.0),
    ],
    ids=[
        "empty",
        "empty, in flight",
        "an hour: 60 s skew",
        "an hour, in flight",
        "30 s: skew capped at 15 s",
        "expiry only: skew not capped",
        "never expires",
        "long expired",
    ],
)
def test_reusable_until_is_the_held_tokens_expiry_minus_its_skew(
    state: TokenState, expected: float
) -> None:
    assert reusable_until(POLICY, state) == expected


def test_the_token_is_used_up_to_the_last_instant_before_reusable_until_and_not_at_it() -> None:
    state = TokenState(held=Held(token=HOUR, expires_at=3_600.0))
    last = Now(monotonic=math.nextafter(3_540.0, 0.0), wall=0.0)
    assert step(POLICY, state, TokenNeeded(), last) == Decision(
        state=state, answer=UseToken(token=HOUR)
    )
    assert condition(POLICY, state, last) is Condition.FRESH
    at = Now(monotonic=3_540.0, wall=0.0)
    assert not isinstance(step(POLICY, state, TokenNeeded(), at).answer, UseToken)
    assert condition(POLICY, state, at) is Condition.EXPIRED


def test_condition_and_current_token_of_an_empty_state() -> None:
    assert condition(POLICY, TokenState(), Now(monotonic=0.0, wall=0.0)) is Condition.EMPTY
    assert current_token(TokenState()) is None
    held = TokenState(held=Held(token=HOUR, expires_at=1.0))
    assert current_token(held) is HOUR


@given(policy=policies(), state=states(), data=st.data(), wall=times())
def test_reusable_until_is_sound_and_tight(
    policy: Policy, state: TokenState, data: st.DataObject, wall: float
) -> None:
    """Before it: `UseToken` of the held token, state unchanged, no work, no events, for a
    newcomer and for a waiter of any flight alike. At it and after: no token is used."""
    until = reusable_until(policy, state)
    waited = data.draw(st.none() | flight_ids(state), label="waited_for")
    event = TokenNeeded(waited_for=waited)
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
        assert condition(policy, state, now) is Condition.FRESH
    if until < math.inf:
        low = until if math.isfinite(until) else -1e12
        monotonic = data.draw(st.just(low) | st.floats(low, low + 2 * DAY), label="after")
        now = Now(monotonic=monotonic, wall=wall)
        assert not isinstance(step(policy, state, event, now).answer, UseToken)
        expected = Condition.EMPTY if token is None else Condition.EXPIRED
        assert condition(policy, state, now) is expected
