"""`reusable_until` is exact, not merely safe: it is the held token's `usable_until`.

`test_machine_props.py` proves it sound (before it, `UseToken` with the state
unchanged); these pin that it is also tight, so the interpreter's lock-free hot path
is taken for the token's whole usable life. (Found by mutation testing: see MUTATION.md.)
"""

from __future__ import annotations

import math
from typing import Final

import pytest

from ccg.core import (
    Decision,
    Fetching,
    FetchToken,
    Holding,
    NoToken,
    OAuthToken,
    Policy,
    TokenNeeded,
    TokenRequestSpec,
    TokenState,
    build_token_request,
    reusable_until,
    step,
    use,
)

SPEC: Final = TokenRequestSpec(
    token_url="https://as.example/token", client_id="id", client_secret="s"
)
POLICY: Final = Policy(request=SPEC, clock_skew=60.0)
TOKEN: Final = OAuthToken(access_token="AT", expires_in=3600, expiry=1_700_003_600.0)
"""Received at 1_700_000_000 for an hour: usable until one skew (60 s) before expiry."""
UNTIL: Final = 1_700_003_540.0
SHORT: Final = OAuthToken(access_token="AT", expires_in=30, expiry=1_700_000_030.0)
"""A 30 s token: the skew is capped at half its life, 15 s."""


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (NoToken(), -math.inf),
        (Fetching(), -math.inf),
        (Holding(token=TOKEN), UNTIL),
        (Fetching(token=TOKEN), UNTIL),
        (Holding(token=SHORT), 1_700_000_015.0),
        (Holding(token=OAuthToken(access_token="AT")), math.inf),
    ],
)
def test_reusable_until_is_the_held_tokens_usable_until(state: TokenState, expected: float) -> None:
    assert reusable_until(POLICY, state) == expected


def test_the_token_is_used_up_to_the_last_instant_before_reusable_until() -> None:
    state = Holding(token=TOKEN)
    until = reusable_until(POLICY, state)
    last = math.nextafter(until, -math.inf)
    assert step(POLICY, state, TokenNeeded(), last) == Decision(state=state, effects=(use(TOKEN),))
    assert step(POLICY, state, TokenNeeded(), until) == Decision(
        state=Fetching(token=TOKEN), effects=(FetchToken(request=build_token_request(SPEC)),)
    )
