"""How a token becomes held: `token_request`, `accept_reply` (a fetched token) and
`accept_token` (a token from a provider, the setter or the constructor).

A fetched token's lifetime counts from when its request was sent (`started`, on the
monotonic clock); its wall-clock `expiry` is stamped from the wall clock of the same
instant. A handed-in token's `expiry` is placed on the monotonic clock with the wall
clock of the moment it is accepted.
"""

from __future__ import annotations

import math
from typing import Final

import pytest
from hypothesis import given
from hypothesis import strategies as st
from returns.result import Failure, Success

from ccg.core import (
    ErrorResponse,
    Held,
    HttpReply,
    HttpRequest,
    InvalidToken,
    Limits,
    MalformedResponse,
    Now,
    OAuthProviderError,
    OAuthToken,
    Policy,
    TokenExpiredOnArrival,
    TokenOrigin,
    TokenRequestSpec,
    accept_reply,
    accept_token,
    token_problem,
    token_request,
)
from ccg.testing.strategies import (
    hostile_tokens,
    http_replies,
    nows,
    policies,
    tokens,
)
from tests.core._invariants import TEN_YEARS, expected_skew

M0: Final = 1_000.0
W0: Final = 1_700_000_000.0
NOW: Final = Now(monotonic=M0, wall=W0)
SPEC: Final = TokenRequestSpec(
    token_url="https://as.example/token",
    client_id="client",
    client_secret="s3cret",
    extra_params=(("audience", "api"),),
)
POLICY: Final = Policy(request=SPEC)


def reply(body: bytes, status: int = 200) -> HttpReply:
    return HttpReply(status=status, body=body)


# -- token_request ------------------------------------------------------------------------


def test_token_request_is_the_policys_request_with_its_limits() -> None:
    assert token_request(POLICY) == HttpRequest(
        method="POST",
        url="https://as.example/token",
        headers=(
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Accept", "application/json"),
            ("Authorization", "Basic Y2xpZW50OnMzY3JldA=="),
        ),
        body=b"grant_type=client_credentials&audience=api",
        limits=Limits(
            connect_timeout=5.0, read_timeout=15.0, total_timeout=30.0, max_body_bytes=1_048_576
        ),
    )


def test_token_request_extra_params_come_last_for_this_request_only() -> None:
    request = token_request(POLICY, (("resource", "https://r.example/"),))
    assert request.body == (
        b"grant_type=client_credentials&audience=api&resource=https%3A%2F%2Fr.example%2F"
    )
    assert token_request(POLICY).body == b"grant_type=client_credentials&audience=api"


# -- accept_reply ---------------------------------------------------------------------------


def test_a_fetched_lifetime_counts_from_the_request_not_the_reply() -> None:
    """Sent at M0 - 10 (the wall then read W0 - 10), received at M0."""
    held = accept_reply(POLICY, reply(b'{"access_token":"t","expires_in":3600}'), M0 - 10, NOW)
    assert held == Success(
        Held(
            token=OAuthToken(access_token="t", expires_in=3600, expiry=W0 + 3590),
            expires_at=M0 + 3590,
        )
    )


@pytest.mark.parametrize("wall", [W0, W0 - 86_400, W0 + 365 * 86_400, 0.0])
def test_the_wall_clock_only_stamps_expiry(wall: float) -> None:
    held = accept_reply(
        POLICY,
        reply(b'{"access_token":"t","expires_in":3600}'),
        M0 - 10,
        Now(monotonic=M0, wall=wall),
    )
    assert held == Success(
        Held(
            token=OAuthToken(access_token="t", expires_in=3600, expiry=wall + 3590),
            expires_at=M0 + 3590,
        )
    )


def test_a_fetched_token_without_expires_in_never_expires() -> None:
    assert accept_reply(POLICY, reply(b'{"access_token":"t"}'), M0, NOW) == Success(
        Held(token=OAuthToken(access_token="t"), expires_at=math.inf)
    )


@pytest.mark.parametrize(
    ("started", "expires_in"),
    [(M0, 0), (M0 - 40, 60), (M0 - 3540, 3600), (M0 - 10**6, 3600)],
    ids=["zero", "skew capped at 30 s", "exactly at the boundary", "long ago"],
)
def test_a_token_already_within_its_skew_is_expired_on_arrival(
    started: float, expires_in: int
) -> None:
    body = f'{{"access_token":"t","expires_in":{expires_in}}}'.encode()
    assert accept_reply(POLICY, reply(body), started, NOW) == Failure(
        TokenExpiredOnArrival(expires_in=expires_in)
    )


def test_a_token_just_before_its_boundary_is_accepted() -> None:
    started = math.nextafter(M0 - 3540, math.inf)
    held = accept_reply(POLICY, reply(b'{"access_token":"t","expires_in":3600}'), started, NOW)
    assert isinstance(held, Success)
    assert held.unwrap().expires_at == started + 3600


def test_the_largest_lifetime_is_believed() -> None:
    body = b'{"access_token":"t","expires_in":315360000}'
    held = accept_reply(POLICY, reply(body), M0, NOW).unwrap()
    assert held.expires_at == M0 + TEN_YEARS
    assert held.token.expiry == W0 + TEN_YEARS


def test_the_reply_is_decoded_with_the_policys_token_types_and_size_limit() -> None:
    bearer = reply(b'{"access_token":"t","token_type":"Bearer"}')
    dpop = Policy(request=SPEC, token_types=("dpop",))
    assert accept_reply(dpop, bearer, M0, NOW) == Failure(
        MalformedResponse(status=200, reason="token_type 'Bearer' is not one of ('dpop',)")
    )
    tiny = Policy(
        request=SPEC,
        limits=Limits(connect_timeout=1.0, read_timeout=1.0, total_timeout=1.0, max_body_bytes=10),
    )
    assert accept_reply(tiny, bearer, M0, NOW) == Failure(
        MalformedResponse(status=200, reason="response of 42 bytes is larger than 10")
    )
    unlimited = Policy(
        request=SPEC, limits=Limits(connect_timeout=1.0, read_timeout=1.0, total_timeout=1.0)
    )
    big = reply(b'{"access_token":"t","pad":"' + b"x" * (2 << 20) + b'"}')
    assert accept_reply(unlimited, big, M0, NOW) == Success(
        Held(token=OAuthToken(access_token="t"), expires_at=math.inf)
    )


def test_an_error_reply_is_its_failure() -> None:
    assert accept_reply(POLICY, reply(b'{"error":"invalid_grant"}', 400), M0, NOW) == Failure(
        ErrorResponse(status=400, error=OAuthProviderError.INVALID_GRANT)
    )


@given(policy=policies(), reply=http_replies(), now=nows(), age=st.floats(0, 4_000))
def test_an_accepted_reply_is_sound_and_placed_from_the_start(
    policy: Policy, reply: HttpReply, now: Now, age: float
) -> None:
    started = now.monotonic - age
    result = accept_reply(policy, reply, started, now)
    if not isinstance(result, Success):
        assert isinstance(
            result.failure(), ErrorResponse | MalformedResponse | TokenExpiredOnArrival
        )
        return
    held = result.unwrap()
    token = held.token
    assert token_problem(token) is None
    assert token.token_type.lower() in policy.token_types
    if token.expires_in is None:
        assert (held.expires_at, token.expiry) == (math.inf, None)
    else:
        lifetime = min(token.expires_in, TEN_YEARS)
        assert held.expires_at == started + lifetime
        assert token.expiry == now.wall - (now.monotonic - started) + lifetime
        assert now.monotonic < held.expires_at - expected_skew(token, policy.clock_skew)


# -- accept_token -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        (
            OAuthToken(access_token="t", expires_in=600, expiry=W0 + 100),
            Held(
                token=OAuthToken(access_token="t", expires_in=600, expiry=W0 + 100),
                expires_at=M0 + 100,
            ),
        ),
        (
            OAuthToken(access_token="t", expires_in=600),
            Held(
                token=OAuthToken(access_token="t", expires_in=600, expiry=W0 + 600),
                expires_at=M0 + 600,
            ),
        ),
        (
            OAuthToken(access_token="t", expires_in=10**400),
            Held(
                token=OAuthToken(access_token="t", expires_in=10**400, expiry=W0 + TEN_YEARS),
                expires_at=M0 + TEN_YEARS,
            ),
        ),
        (
            OAuthToken(access_token="t", expiry=W0 - 10),
            Held(token=OAuthToken(access_token="t", expiry=W0 - 10), expires_at=M0 - 10),
        ),
        (
            OAuthToken(access_token="t"),
            Held(token=OAuthToken(access_token="t"), expires_at=math.inf),
        ),
    ],
    ids=["expiry kept", "expires_in stamped now", "lifetime clamped", "expired is held", "never"],
)
@pytest.mark.parametrize("origin", list(TokenOrigin))
def test_accept_token(token: OAuthToken, expected: Held, origin: TokenOrigin) -> None:
    assert accept_token(token, origin, NOW) == Success(expected)


@given(token=tokens(), now=nows())
def test_an_accepted_token_is_placed_by_the_wall_clock_of_the_moment(
    token: OAuthToken, now: Now
) -> None:
    held = accept_token(token, TokenOrigin.SETTER, now).unwrap()
    if token.expiry is not None:
        assert held == Held(token=token, expires_at=now.monotonic + (token.expiry - now.wall))
    elif token.expires_in is not None:
        lifetime = min(token.expires_in, TEN_YEARS)
        assert held.token.expiry == now.wall + lifetime
        assert held.expires_at == now.monotonic + lifetime
    else:
        assert held == Held(token=token, expires_at=math.inf)


@given(token=hostile_tokens(), origin=st.sampled_from(list(TokenOrigin)), now=nows())
def test_a_hostile_token_is_refused_with_its_problem(
    token: object, origin: TokenOrigin, now: Now
) -> None:
    problem = token_problem(token)
    assert problem is not None
    assert accept_token(token, origin, now) == Failure(InvalidToken(origin=origin, reason=problem))
