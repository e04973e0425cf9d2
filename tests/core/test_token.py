"""`OAuthToken` and the rules about it: `token_problem` (the one check every token passes),
`header_problem`, `effective_skew`, `clamped_lifetime` and `usable_until`."""

from __future__ import annotations

import math
import sys
from typing import Any, Final

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from returns.result import Failure

from ccg.core import (
    DEFAULT_CLOCK_SKEW,
    MAX_LIFETIME,
    Fail,
    Held,
    InvalidToken,
    Now,
    OAuthToken,
    Policy,
    ResiliencePolicy,
    TokenOrigin,
    TokenRequestSpec,
    TokenSet,
    TokenState,
    accept_token,
    effective_skew,
    header_problem,
    initial_state,
    step,
    token_problem,
    usable_until,
)
from ccg.core._token import clamped_lifetime
from ccg.testing.strategies import (
    clock_skews,
    hostile_tokens,
    nows,
    tokens,
    unsafe_access_tokens,
)
from tests.core._invariants import expected_skew, known_lifetime

T0: Final = 1_700_000_000.0
FULL: Final = OAuthToken(
    access_token="AT-S3CR3T",
    token_type="Bearer",
    expires_in=3600,
    scope="read write",
    expiry=T0 + 3600,
    refresh_token="RT-S3CR3T",
)


def forced(**changes: object) -> OAuthToken:
    """A token with fields msgspec did not check (as an untyped caller can build one)."""
    return msgspec.structs.replace(OAuthToken(access_token="t"), **changes)


# -- the value --------------------------------------------------------------------------


def test_token_is_frozen() -> None:
    # The type checkers refuse these assignments (tests/typing/rejected/); Any lets them run.
    token: Any = FULL
    with pytest.raises(AttributeError):
        token.access_token = "other"
    with pytest.raises(AttributeError):
        token.expiry = None


def test_token_is_hashable_and_compared_by_value() -> None:
    same = msgspec.structs.replace(FULL)
    assert same == FULL
    assert hash(same) == hash(FULL)
    assert msgspec.structs.replace(FULL, expiry=T0) != FULL


def test_defaults() -> None:
    token = OAuthToken(access_token="t")
    assert (token.token_type, token.expires_in, token.scope, token.expiry) == (
        "Bearer",
        None,
        None,
        None,
    )
    assert (token.refresh_token, token.refresh_in) == (None, None)


def test_to_dictionary_drops_none_fields() -> None:
    assert OAuthToken(access_token="t", expires_in=60).to_dictionary() == {
        "access_token": "t",
        "token_type": "Bearer",
        "expires_in": 60,
    }
    assert FULL.to_dictionary() == {
        "access_token": "AT-S3CR3T",
        "token_type": "Bearer",
        "expires_in": 3600,
        "scope": "read write",
        "expiry": T0 + 3600,
        "refresh_token": "RT-S3CR3T",
    }
    assert OAuthToken(access_token="t", refresh_in=1800).to_dictionary() == {
        "access_token": "t",
        "token_type": "Bearer",
        "refresh_in": 1800,
    }


@given(token=tokens())
def test_to_dictionary_round_trips_also_through_json(token: OAuthToken) -> None:
    saved = token.to_dictionary()
    assert OAuthToken.from_dictionary(saved) == token
    reloaded = msgspec.json.decode(msgspec.json.encode(saved), type=dict[str, object])
    restored = OAuthToken.from_dictionary(reloaded)
    assert restored == token
    assert token_problem(restored) is None


@pytest.mark.parametrize(
    "dictionary",
    [{}, {"access_token": 1}, {"access_token": "t", "expires_in": "soon"}, {"expiry": 1.0}],
)
def test_from_dictionary_rejects_malformed(dictionary: dict[str, object]) -> None:
    with pytest.raises(msgspec.ValidationError):
        OAuthToken.from_dictionary(dictionary)


# -- token_problem -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        OAuthToken(access_token="t"),
        FULL,
        OAuthToken(access_token="!~", scope="", refresh_token=""),
        OAuthToken(access_token="t", expires_in=0, expiry=0),
        OAuthToken(access_token="t", expires_in=10**400),
        OAuthToken(access_token="t", expiry=-1e300),
        OAuthToken(access_token="t", token_type=""),
        OAuthToken(access_token="t", expires_in=3600, refresh_in=0),
        OAuthToken(access_token="t", refresh_in=10**400),
    ],
    ids=[
        "minimal",
        "full",
        "edge characters",
        "zeros",
        "huge lifetime",
        "ancient",
        "no type",
        "refresh at once",
        "huge refresh_in",
    ],
)
def test_a_sound_token_has_no_problem(token: OAuthToken) -> None:
    assert token_problem(token) is None


@pytest.mark.parametrize(
    ("token", "problem"),
    [
        (None, "expected an OAuthToken, got NoneType"),
        ({"access_token": "t"}, "expected an OAuthToken, got dict"),
        ("t", "expected an OAuthToken, got str"),
        (forced(access_token=b"t"), "access_token must be a str, got bytes"),
        (forced(access_token=None), "access_token must be a str, got NoneType"),
        (forced(access_token=""), "access_token is empty"),
        (
            forced(access_token="t\r\nX-Injected: 1"),
            "access_token cannot be sent in a header: character 2 of 16 is '\\r'",
        ),
        (
            forced(access_token="t\n"),
            "access_token cannot be sent in a header: character 2 of 2 is '\\n'",
        ),
        (
            forced(access_token="a\r\n b"),
            "access_token cannot be sent in a header: character 2 of 5 is '\\r'",
        ),
        (
            forced(access_token="a b"),
            "access_token cannot be sent in a header: character 2 of 3 is ' '",
        ),
        (
            forced(access_token="tök"),
            "access_token cannot be sent in a header: character 2 of 3 is a non-ASCII character",
        ),
        (forced(token_type=None), "token_type must be a str, got NoneType"),
        (forced(token_type=5), "token_type must be a str, got int"),
        (forced(scope=["read"]), "scope must be a str or None, got list"),
        (forced(scope=True), "scope must be a str or None, got bool"),
        (forced(refresh_token=1), "refresh_token must be a str or None, got int"),
        (forced(expires_in=True), "expires_in must be whole seconds, got bool"),
        (forced(expires_in=3600.0), "expires_in must be whole seconds, got float"),
        (forced(expires_in="3600"), "expires_in must be whole seconds, got str"),
        (forced(expires_in=-1), "expires_in is negative: -1"),
        (forced(refresh_in=True), "refresh_in must be whole seconds, got bool"),
        (forced(refresh_in=1800.0), "refresh_in must be whole seconds, got float"),
        (forced(refresh_in="1800"), "refresh_in must be whole seconds, got str"),
        (forced(refresh_in=-1), "refresh_in is negative: -1"),
        (forced(expiry=True), "expiry must be epoch seconds, got bool"),
        (forced(expiry="1700000000"), "expiry must be epoch seconds, got str"),
        (forced(expiry=math.nan), "expiry must be a finite number, got nan"),
        (forced(expiry=math.inf), "expiry must be a finite number, got inf"),
        (forced(expiry=-math.inf), "expiry must be a finite number, got -inf"),
    ],
)
def test_token_problem_says_what_is_wrong(token: object, problem: str) -> None:
    assert token_problem(token) == problem


@pytest.mark.parametrize(
    "expiry", [10**400, -(10**400), 2**1024], ids=["1e400", "-1e400", "2^1024"]
)
def test_an_int_expiry_beyond_the_range_of_a_float_is_a_problem_not_a_crash(expiry: int) -> None:
    """It cannot be placed on the (float) monotonic clock, so it must be refused like a NaN.
    (`math.isfinite` raises OverflowError on such an int: `token_problem` must not, or
    `step` is not total for `TokenSet` and `TokenProvided`, nor `initial_state`.)"""
    token = forced(expiry=expiry)
    problem = token_problem(token)
    assert problem == "expiry is out of range"
    now = Now(monotonic=0.0, wall=1.7e9)
    policy = Policy(
        request=TokenRequestSpec(token_url="https://a/t", client_id="i", client_secret="s")
    )
    refused = InvalidToken(origin=TokenOrigin.SETTER, reason=problem)
    assert step(policy, TokenState(), TokenSet(token=token), now).answer == Fail(failure=refused)
    assert initial_state(policy, token, now) == Failure(
        InvalidToken(origin=TokenOrigin.INITIAL, reason=problem)
    )


def test_the_largest_int_a_float_can_hold_is_an_expiry() -> None:
    largest = int(sys.float_info.max)
    assert token_problem(forced(expiry=largest)) is None
    assert token_problem(forced(expiry=-largest)) is None


@given(token=hostile_tokens())
def test_every_hostile_token_has_a_problem_and_none_raises(token: object) -> None:
    assert token_problem(token) is not None


# -- header_problem -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("abc", None),
        ("!\"#$%&'()*+,-./0123456789:;<=>?@AZ[\\]^_`az{|}~", None),
        ("", "secret is empty"),
        (" ", "secret cannot be sent in a header: character 1 of 1 is ' '"),
        ("abc\n", "secret cannot be sent in a header: character 4 of 4 is '\\n'"),
        ("a\tb", "secret cannot be sent in a header: character 2 of 3 is '\\t'"),
        ("a\x00", "secret cannot be sent in a header: character 2 of 2 is '\\x00'"),
        ("a\x7f", "secret cannot be sent in a header: character 2 of 2 is '\\x7f'"),
        ("a\u2028", "secret cannot be sent in a header: character 2 of 2 is '\\u2028'"),
        ("€uro", "secret cannot be sent in a header: character 1 of 4 is a non-ASCII character"),
        ("\uff54", "secret cannot be sent in a header: character 1 of 1 is a non-ASCII character"),
    ],
)
def test_header_problem(text: str, problem: str | None) -> None:
    assert header_problem("secret", text) == problem


@given(text=unsafe_access_tokens())
def test_every_unsafe_access_token_is_refused_without_being_quoted(text: str) -> None:
    assert header_problem("access_token", text) is not None
    if text:
        marked = "S3CR3T" + text
        for problem in (
            header_problem("access_token", marked),
            token_problem(forced(access_token=marked)),
        ):
            assert problem is not None
            assert "S3CR3T" not in problem


@given(text=st.text(min_size=1, max_size=30))
def test_header_safe_is_printable_ascii_without_space(text: str) -> None:
    safe = all("!" <= c <= "~" for c in text)
    assert (header_problem("t", text) is None) == safe


# -- the skew and the lifetime -----------------------------------------------------------


def test_defaults_of_the_rules() -> None:
    assert DEFAULT_CLOCK_SKEW == 60.0
    assert MAX_LIFETIME == 315_360_000


@pytest.mark.parametrize(
    ("expires_in", "lifetime"),
    [
        (0, 0),
        (1, 1),
        (-5, 0),
        (MAX_LIFETIME, MAX_LIFETIME),
        (MAX_LIFETIME + 1, MAX_LIFETIME),
        (10**400, MAX_LIFETIME),
    ],
)
def test_clamped_lifetime(expires_in: int, lifetime: int) -> None:
    assert clamped_lifetime(expires_in) == lifetime


@pytest.mark.parametrize(
    ("expires_in", "clock_skew", "skew"),
    [
        (3600, 60.0, 60.0),
        (120, 60.0, 60.0),
        (119, 60.0, 59.5),
        (30, 60.0, 15.0),
        (1, 60.0, 0.5),
        (0, 60.0, 60.0),  # 0 says no lifetime: the whole skew, as when the token is placed
        (3600, 0.0, 0.0),
        (10**400, 600.0, 600.0),
        (None, 60.0, 60.0),
        (None, 600.0, 600.0),
    ],
)
def test_effective_skew_is_capped_at_half_the_lifetime(
    expires_in: int | None, clock_skew: float, skew: float
) -> None:
    token = OAuthToken(access_token="t", expires_in=expires_in)
    assert effective_skew(token, clock_skew) == skew


def test_usable_until_is_the_held_tokens_fresh_until() -> None:
    assert usable_until(None) == -math.inf
    token = OAuthToken(access_token="t", expires_in=3600)
    held = Held(token=token, expires_at=1_000.0, fresh_until=940.0, refresh_at=55.0)
    assert usable_until(held) == 940.0
    forever = Held(
        token=OAuthToken(access_token="t"),
        expires_at=math.inf,
        fresh_until=math.inf,
        refresh_at=math.inf,
    )
    assert usable_until(forever) == math.inf


@given(
    token=tokens(),
    skews=st.lists(clock_skews(), min_size=2, max_size=2),
    now=nows(),
    ratio=st.floats(0, 0.99),
)
def test_the_skew_rule(token: OAuthToken, skews: list[float], now: Now, ratio: float) -> None:
    """The skew is within [0, clock_skew] and agrees with the rule written out by hand; a
    token held is used until its expiry less that skew, and a larger skew never makes it
    usable for longer; its refresh window opens no later than that."""
    small, large = sorted(skews)
    for skew in skews:
        assert 0 <= effective_skew(token, skew) <= skew
        if token.expires_in != 0:  # 0 says nothing: no cap (and the default lifetime's)
            assert effective_skew(token, skew) == expected_skew(known_lifetime(token), skew)
    spec = TokenRequestSpec(token_url="https://as.example/token", client_id="i", client_secret="s")
    resilience = ResiliencePolicy(refresh_ratio=ratio)
    held = {
        skew: accept_token(
            Policy(request=spec, clock_skew=skew, resilience=resilience),
            token,
            TokenOrigin.SETTER,
            now,
        ).unwrap()
        for skew in (small, large)
    }
    assert held[large].expires_at == held[small].expires_at
    assert usable_until(held[large]) <= usable_until(held[small]) <= held[small].expires_at
    for one in held.values():
        assert one.refresh_at <= one.fresh_until
