"""`jwt_lifetime`, and a fetched JWT without `expires_in` living as long as its claims say.

The claims are read, never verified; `exp - iat` (the server's own clock) is preferred
to `exp` against the client's wall clock.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Final

import pytest
from hypothesis import given
from hypothesis import strategies as st
from returns.result import Success

from ccg.core import (
    HttpReply,
    Now,
    OAuthToken,
    Policy,
    TokenExpiredOnArrival,
    TokenRequestSpec,
    accept_reply,
)
from ccg.core._jwt import jwt_lifetime
from ccg.core._token import MAX_LIFETIME

WALL: Final = 1_700_000_000.0
NOW: Final = Now(monotonic=1_000.0, wall=WALL, entropy=0.5)
POLICY: Final = Policy(
    request=TokenRequestSpec(token_url="https://as.example/t", client_id="c", client_secret="s")
)


def segment(value: object) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwt(claims: object) -> str:
    return f"{segment({'alg': 'RS256', 'typ': 'at+jwt'})}.{segment(claims)}.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"exp": WALL + 300, "iat": WALL}, 300.0),
        ({"exp": WALL + 300, "iat": WALL - 3600}, 3900.0),  # the server's clock: iat wins
        ({"exp": WALL + 300}, 300.0),  # no iat: against the wall clock
        ({"exp": WALL - 5}, -5.0),  # expired
        ({"exp": WALL + 300, "iat": WALL + 400}, 300.0),  # iat after exp: ignored
        ({"exp": WALL + 300.5, "iat": WALL}, 300.5),
    ],
)
def test_the_claims_give_the_lifetime(claims: dict[str, float], expected: float) -> None:
    assert jwt_lifetime(jwt(claims), WALL) == expected


@pytest.mark.parametrize(
    "token",
    [
        "opaque-token",
        "a.b",
        "a.b.c.d",
        jwt({"iat": WALL}),  # no exp
        jwt({"exp": "soon"}),
        jwt({"exp": None}),
        jwt([1, 2]),
        f"{segment({'alg': 'none'})}.{segment(b'{not json')}.sig",
        f"{segment({'alg': 'none'})}.!!!.sig",
        f"{segment({'alg': 'none'})}..sig",
        f"{segment({'alg': 'none'})}.{'A' * 70_000}.sig",
        f"{segment({'alg': 'none'})}.{segment(b'{' * 5000)}.sig",
    ],
    ids=[
        "opaque",
        "two-parts",
        "four-parts",
        "no-exp",
        "exp-text",
        "exp-null",
        "array",
        "not-json",
        "not-base64",
        "empty-payload",
        "huge-payload",
        "deep-nesting",
    ],
)
def test_anything_else_says_nothing(token: str) -> None:
    assert jwt_lifetime(token, WALL) is None


@pytest.mark.parametrize("payload", [b'{"exp": 1e999}', b'{"exp": 1700000300, "iat": -1e999}'])
def test_numbers_out_of_range_say_nothing(payload: bytes) -> None:
    assert jwt_lifetime(f"h.{segment(payload)}.s", WALL) is None


@given(st.text(max_size=300))
def test_any_text_is_read_without_raising(token: str) -> None:
    lifetime = jwt_lifetime(token, WALL)
    assert lifetime is None or math.isfinite(lifetime)


def reply(access_token: str, **fields: object) -> HttpReply:
    body = {"access_token": access_token, "token_type": "Bearer", **fields}
    return HttpReply(status=200, body=json.dumps(body).encode())


def test_a_jwt_without_expires_in_lives_as_its_claims_say() -> None:
    token = jwt({"exp": WALL + 600, "iat": WALL})
    held = accept_reply(POLICY, reply(token), NOW.monotonic, NOW).unwrap()
    assert held.token.expires_in == 600
    assert held.token.expiry == WALL + 600
    assert held.expires_at == NOW.monotonic + 600


def test_expires_in_wins_over_the_claims() -> None:
    token = jwt({"exp": WALL + 600, "iat": WALL})
    held = accept_reply(POLICY, reply(token, expires_in=60), NOW.monotonic, NOW).unwrap()
    assert held.token.expires_in == 60


def test_expires_in_zero_defers_to_the_claims() -> None:
    token = jwt({"exp": WALL + 600, "iat": WALL})
    held = accept_reply(POLICY, reply(token, expires_in=0), NOW.monotonic, NOW).unwrap()
    assert held.token.expires_in == 600


def test_an_expired_jwt_is_expired_on_arrival() -> None:
    token = jwt({"exp": WALL - 1})
    outcome = accept_reply(POLICY, reply(token), NOW.monotonic, NOW)
    assert outcome.failure() == TokenExpiredOnArrival(expires_in=None)


def test_a_jwt_claiming_centuries_is_capped() -> None:
    token = jwt({"exp": WALL + 1e12, "iat": WALL})
    held = accept_reply(POLICY, reply(token), NOW.monotonic, NOW).unwrap()
    assert held.token.expires_in == MAX_LIFETIME


def test_an_opaque_token_without_expires_in_keeps_none() -> None:
    outcome = accept_reply(POLICY, reply("opaque"), NOW.monotonic, NOW)
    assert isinstance(outcome, Success)
    assert outcome.unwrap().token == OAuthToken(access_token="opaque", expires_in=None)
