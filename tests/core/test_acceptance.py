"""How a token becomes held: `token_request`, `accept_reply` (a fetched token) and
`accept_token` (a token from a provider, the setter or the constructor).

A fetched token's lifetime (its `expires_in`; when that is absent or 0, the policy's
`default_lifetime`, or none: it never expires) counts from when its request was sent
(`started`, on the monotonic clock); its wall-clock `expiry` is stamped from the wall
clock of the same instant. A handed-in token's `expiry` is placed on the monotonic clock
with the wall clock of the moment it is accepted. A token is used until its skew
(`clock_skew`, capped at half its lifetime), or, when it arrives from a flight already
inside it, until it expires; its soft refresh window is the last `refresh_ratio` of the
time it is used for, or opens `refresh_in` after its issue.
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
    ResiliencePolicy,
    TokenExpiredOnArrival,
    TokenOrigin,
    TokenRequestSpec,
    accept_reply,
    accept_token,
    placed,
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
from tests.core._invariants import (
    TEN_YEARS,
    expected_held,
    expected_placement,
    lifetime_of,
)

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
DEFAULT_LIFETIME: Final = Policy(request=SPEC, resilience=ResiliencePolicy(default_lifetime=600.0))
NEVER: Final = Held(
    token=OAuthToken(access_token="t"),
    expires_at=math.inf,
    fresh_until=math.inf,
    refresh_at=math.inf,
)


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
    """Sent at M0 - 10 (the wall then read W0 - 10), received at M0: used until 60 s before
    M0 + 3590, renewed from the last quarter of the 3540 s it is used for (885 s)."""
    held = accept_reply(POLICY, reply(b'{"access_token":"t","expires_in":3600}'), M0 - 10, NOW)
    assert held == Success(
        Held(
            token=OAuthToken(access_token="t", expires_in=3600, expiry=W0 + 3590),
            expires_at=M0 + 3590,
            fresh_until=M0 + 3530,
            refresh_at=M0 + 2645,
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
            fresh_until=M0 + 3530,
            refresh_at=M0 + 2645,
        )
    )


@pytest.mark.parametrize(
    ("body", "token"),
    [
        (b'{"access_token":"t"}', OAuthToken(access_token="t")),
        (b'{"access_token":"t","expires_in":0}', OAuthToken(access_token="t", expires_in=0)),
    ],
    ids=["no expires_in", "expires_in 0"],
)
def test_a_fetched_token_without_a_lifetime_never_expires_by_default(
    body: bytes, token: OAuthToken
) -> None:
    assert accept_reply(POLICY, reply(body), M0, NOW) == Success(
        Held(token=token, expires_at=math.inf, fresh_until=math.inf, refresh_at=math.inf)
    )


@pytest.mark.parametrize(
    ("body", "token"),
    [
        (b'{"access_token":"t"}', OAuthToken(access_token="t", expiry=W0 + 590)),
        (
            b'{"access_token":"t","expires_in":0}',
            OAuthToken(access_token="t", expires_in=0, expiry=W0 + 590),
        ),
    ],
    ids=["no expires_in", "expires_in 0"],
)
def test_a_fetched_token_without_a_lifetime_lasts_the_default_lifetime(
    body: bytes, token: OAuthToken
) -> None:
    """600 s from the request sent at M0 - 10: used until M0 + 530, renewed from M0 + 395."""
    assert accept_reply(DEFAULT_LIFETIME, reply(body), M0 - 10, NOW) == Success(
        Held(token=token, expires_at=M0 + 590, fresh_until=M0 + 530, refresh_at=M0 + 395)
    )


@pytest.mark.parametrize(
    ("policy", "started", "expires_in"),
    [
        (POLICY, M0 - 60, 60),
        (POLICY, M0 - 3600, 3600),
        (POLICY, M0 - 10**6, 3600),
        (DEFAULT_LIFETIME, M0 - 600, 0),
    ],
    ids=["exactly at its expiry", "an hour", "long ago", "the default lifetime"],
)
def test_a_token_past_its_expiry_on_arrival_is_refused(
    policy: Policy, started: float, expires_in: int
) -> None:
    body = f'{{"access_token":"t","expires_in":{expires_in}}}'.encode()
    assert accept_reply(policy, reply(body), started, NOW) == Failure(
        TokenExpiredOnArrival(expires_in=expires_in)
    )


@pytest.mark.parametrize(
    ("started", "expires_in", "expected"),
    [
        (
            M0 - 40,
            60,
            Held(
                token=OAuthToken(access_token="t", expires_in=60, expiry=W0 + 20),
                expires_at=M0 + 20,
                fresh_until=M0 + 20,
                refresh_at=M0 + 5,
            ),
        ),
        (
            M0 - 3540,
            3600,
            Held(
                token=OAuthToken(access_token="t", expires_in=3600, expiry=W0 + 60),
                expires_at=M0 + 60,
                fresh_until=M0 + 60,
                refresh_at=M0 - 840,
            ),
        ),
        (
            M0 - 3599,
            3600,
            Held(
                token=OAuthToken(access_token="t", expires_in=3600, expiry=W0 + 1),
                expires_at=M0 + 1,
                fresh_until=M0 + 1,
                refresh_at=M0 - 899,
            ),
        ),
    ],
    ids=["skew capped at 30 s", "at the skew", "a second left"],
)
def test_a_token_arriving_inside_its_skew_is_used_until_it_expires(
    started: float, expires_in: int, expected: Held
) -> None:
    """Not refused, so a server issuing lifetimes shorter than the skew does not make every
    call fetch; its refresh window is the last quarter of the (whole) lifetime."""
    body = f'{{"access_token":"t","expires_in":{expires_in}}}'.encode()
    assert accept_reply(POLICY, reply(body), started, NOW) == Success(expected)


def test_a_token_just_before_its_expiry_is_accepted() -> None:
    started = math.nextafter(M0 - 3600, math.inf)
    held = accept_reply(POLICY, reply(b'{"access_token":"t","expires_in":3600}'), started, NOW)
    assert isinstance(held, Success)
    assert held.unwrap().expires_at == started + 3600 > M0
    assert held.unwrap().fresh_until == held.unwrap().expires_at


@pytest.mark.parametrize(
    ("refresh_in", "refresh_at"),
    [
        (1800, M0 + 1790),
        (0, M0 - 10),
        (3530, M0 + 3520),
        (3540, M0 + 3530),
        (4000, M0 + 3530),
        (10**9, M0 + 2645),
    ],
    ids=[
        "half way",
        "at once",
        "just before the skew",
        "at the skew",
        "beyond the skew: cut",
        "absurd: ignored, the window as without it",
    ],
)
def test_refresh_in_opens_the_window_after_the_issue(refresh_in: int, refresh_at: float) -> None:
    body = b'{"access_token":"t","expires_in":3600,"refresh_in":%d}' % refresh_in
    held = accept_reply(POLICY, reply(body), M0 - 10, NOW).unwrap()
    assert (held.fresh_until, held.refresh_at) == (M0 + 3530, refresh_at)


@pytest.mark.parametrize(
    ("ratio", "refresh_at"),
    [(0.0, M0 + 3530), (0.5, M0 + 1760), (0.25, M0 + 2645)],
    ids=["no window", "half", "a quarter"],
)
def test_the_refresh_window_is_the_last_part_of_the_time_used(
    ratio: float, refresh_at: float
) -> None:
    policy = Policy(request=SPEC, resilience=ResiliencePolicy(refresh_ratio=ratio))
    body = b'{"access_token":"t","expires_in":3600}'
    held = accept_reply(policy, reply(body), M0 - 10, NOW).unwrap()
    assert (held.fresh_until, held.refresh_at) == (M0 + 3530, refresh_at)


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
    assert accept_reply(unlimited, big, M0, NOW) == Success(NEVER)


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
    lifetime = lifetime_of(policy, token)
    if lifetime is None:
        assert token.expiry is None
        assert held == expected_placement(policy, token, math.inf, None, now, arriving=False)
        return
    assert held.expires_at == started + lifetime
    assert token.expiry == now.wall - (now.monotonic - started) + lifetime
    assert held == expected_placement(
        policy, token, started + lifetime, lifetime, now, arriving=True
    )
    # Usable on arrival: from its skew on only when it arrived inside it.
    assert now.monotonic < held.expires_at
    assert now.monotonic < held.fresh_until
    assert held.refresh_at <= held.fresh_until <= held.expires_at


# -- accept_token -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "token", "expected"),
    [
        (
            POLICY,
            OAuthToken(access_token="t", expires_in=600, expiry=W0 + 100),
            Held(
                token=OAuthToken(access_token="t", expires_in=600, expiry=W0 + 100),
                expires_at=M0 + 100,
                fresh_until=M0 + 40,
                refresh_at=M0 - 95,
            ),
        ),
        (
            POLICY,
            OAuthToken(access_token="t", expires_in=600),
            Held(
                token=OAuthToken(access_token="t", expires_in=600, expiry=W0 + 600),
                expires_at=M0 + 600,
                fresh_until=M0 + 540,
                refresh_at=M0 + 405,
            ),
        ),
        (
            POLICY,
            OAuthToken(access_token="t", expires_in=10**400),
            Held(
                token=OAuthToken(access_token="t", expires_in=10**400, expiry=W0 + TEN_YEARS),
                expires_at=M0 + TEN_YEARS,
                fresh_until=M0 + TEN_YEARS - 60,
                refresh_at=M0 + TEN_YEARS - 60 - 78_839_985,
            ),
        ),
        (
            POLICY,
            OAuthToken(access_token="t", expiry=W0 - 10),
            Held(
                token=OAuthToken(access_token="t", expiry=W0 - 10),
                expires_at=M0 - 10,
                fresh_until=M0 - 70,
                refresh_at=M0 - 70,
            ),
        ),
        (
            POLICY,
            OAuthToken(access_token="t", expiry=W0 + 100, refresh_in=10),
            Held(
                token=OAuthToken(access_token="t", expiry=W0 + 100, refresh_in=10),
                expires_at=M0 + 100,
                fresh_until=M0 + 40,
                refresh_at=M0 + 30,
            ),
        ),
        (
            POLICY,
            OAuthToken(access_token="t", expires_in=600, refresh_in=300),
            Held(
                token=OAuthToken(access_token="t", expires_in=600, expiry=W0 + 600, refresh_in=300),
                expires_at=M0 + 600,
                fresh_until=M0 + 540,
                refresh_at=M0 + 300,
            ),
        ),
        (POLICY, OAuthToken(access_token="t"), NEVER),
        (
            POLICY,
            OAuthToken(access_token="t", expires_in=0),
            Held(
                token=OAuthToken(access_token="t", expires_in=0),
                expires_at=math.inf,
                fresh_until=math.inf,
                refresh_at=math.inf,
            ),
        ),
        (
            DEFAULT_LIFETIME,
            OAuthToken(access_token="t"),
            Held(
                token=OAuthToken(access_token="t", expiry=W0 + 600),
                expires_at=M0 + 600,
                fresh_until=M0 + 540,
                refresh_at=M0 + 405,
            ),
        ),
        (
            DEFAULT_LIFETIME,
            OAuthToken(access_token="t", expiry=W0 + 100),
            Held(
                token=OAuthToken(access_token="t", expiry=W0 + 100),
                expires_at=M0 + 100,
                fresh_until=M0 + 40,
                refresh_at=M0 + 30,
            ),
        ),
        (
            Policy(request=SPEC, resilience=ResiliencePolicy(default_lifetime=-5.0)),
            OAuthToken(access_token="t"),
            Held(
                token=OAuthToken(access_token="t", expiry=W0),
                expires_at=M0,
                fresh_until=M0,
                refresh_at=M0,
            ),
        ),
        (
            Policy(request=SPEC, resilience=ResiliencePolicy(default_lifetime=1e300)),
            OAuthToken(access_token="t"),
            Held(
                token=OAuthToken(access_token="t", expiry=W0 + TEN_YEARS),
                expires_at=M0 + TEN_YEARS,
                fresh_until=M0 + TEN_YEARS - 60,
                refresh_at=M0 + TEN_YEARS - 60 - 78_839_985,
            ),
        ),
    ],
    ids=[
        "expiry kept, its lifetime caps the skew",
        "expires_in stamped now",
        "lifetime clamped",
        "expired is held",
        "refresh_in without a lifetime: ignored",
        "refresh_in",
        "never",
        "expires_in 0: never",
        "the default lifetime",
        "an expiry: the default lifetime does not apply",
        "a negative default lifetime: none",
        "a huge default lifetime: ten years",
    ],
)
@pytest.mark.parametrize("origin", list(TokenOrigin))
def test_accept_token(
    policy: Policy, token: OAuthToken, expected: Held, origin: TokenOrigin
) -> None:
    assert accept_token(policy, token, origin, NOW) == Success(expected)


def test_a_provided_token_counts_from_when_it_was_asked_for_and_is_arriving() -> None:
    """Asked for at M0 - 3550 (a provider lifetime counts from then): at M0 it is inside its
    skew, so, arriving, it is used until it expires at M0 + 50 rather than not at all."""
    token = OAuthToken(access_token="t", expires_in=3600)
    held = accept_token(POLICY, token, TokenOrigin.PROVIDER, NOW, since=M0 - 3550)
    assert held == Success(
        Held(
            token=OAuthToken(access_token="t", expires_in=3600, expiry=W0 + 50),
            expires_at=M0 + 50,
            fresh_until=M0 + 50,
            refresh_at=M0 - 850,
        )
    )
    # The same token set by hand is not arriving: it is not used.
    assert accept_token(POLICY, token, TokenOrigin.SETTER, NOW).unwrap().fresh_until == M0 + 3540


@pytest.mark.parametrize(
    "now",
    [
        Now(monotonic=M0, wall=math.inf),
        Now(monotonic=math.inf, wall=math.inf),
        Now(monotonic=-math.inf, wall=W0),
    ],
    ids=["an infinite wall clock", "both infinite", "a monotonic clock at -inf"],
)
def test_a_clock_at_infinity_leaves_a_token_with_an_expiry_expired(now: Now) -> None:
    """No real clock reads infinity; if one did, the token counts as long expired (never
    as usable forever)."""
    token = OAuthToken(access_token="t", expiry=W0 + 100)
    held = accept_token(POLICY, token, TokenOrigin.SETTER, now).unwrap()
    assert held == Held(
        token=token, expires_at=-math.inf, fresh_until=-math.inf, refresh_at=-math.inf
    )


def test_placed_never_expiring_and_long_expired() -> None:
    token = OAuthToken(access_token="t")
    for instant in (math.inf, -math.inf):
        assert placed(POLICY, token, instant, None, NOW) == Held(
            token=token, expires_at=instant, fresh_until=instant, refresh_at=instant
        )


@given(policy=policies(), token=tokens(), now=nows(), asked=st.none() | st.floats(0, 4_000))
def test_an_accepted_token_is_placed_by_the_rules(
    policy: Policy, token: OAuthToken, now: Now, asked: float | None
) -> None:
    """A token with an `expiry` is placed by the wall clock of the moment; one with only a
    lifetime (its own or the default) counts it from when it was asked for (`since`) or
    from now, and is stamped; one without either never expires. Placed as
    `_invariants.expected_held` says, by hand; its instants keep their order."""
    since = None if asked is None else now.monotonic - asked
    held = accept_token(policy, token, TokenOrigin.PROVIDER, now, since).unwrap()
    assert held == expected_held(policy, token, now, since, arriving=since is not None)
    assert held.refresh_at <= held.fresh_until <= held.expires_at
    if token.expiry is not None:
        assert held.token == token
        assert held.expires_at == now.monotonic + (token.expiry - now.wall)


@given(
    token=hostile_tokens(),
    origin=st.sampled_from(list(TokenOrigin)),
    policy=policies(),
    now=nows(),
)
def test_a_hostile_token_is_refused_with_its_problem(
    token: object, origin: TokenOrigin, policy: Policy, now: Now
) -> None:
    problem = token_problem(token)
    assert problem is not None
    assert accept_token(policy, token, origin, now) == Failure(
        InvalidToken(origin=origin, reason=problem)
    )
