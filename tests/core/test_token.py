"""`OAuthToken` and the expiry rules: `stamped`, `effective_skew`, `usable_until`, `is_expired`."""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any, Final

import msgspec
import pytest
from hypothesis import given

from ccg.core import (
    DEFAULT_CLOCK_SKEW,
    Holding,
    NoToken,
    OAuthScopeEnum,
    OAuthToken,
    Policy,
    TokenNeeded,
    TokenRequestSpec,
    TokenSet,
    effective_skew,
    is_expired,
    stamped,
    step,
    usable_until,
)
from ccg.testing.strategies import clock_skews, times, tokens

T0: Final = 1_700_000_000.0
POLICY: Final = Policy(
    request=TokenRequestSpec(
        token_url="https://as.example/token", client_id="i", client_secret="s"
    ),
    clock_skew=60.0,
)
FULL: Final = OAuthToken(
    access_token="AT-S3CR3T",
    token_type="Bearer",
    expires_in=3600,
    scope="read write",
    expiry=T0 + 3600,
    refresh_token="RT-S3CR3T",
)


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
    assert token.refresh_token is None


def test_repr_hides_access_and_refresh_tokens() -> None:
    assert repr(FULL) == (
        "OAuthToken(access_token='***', token_type='Bearer', expires_in=3600, "
        "scope='read write', expiry=1700003600.0, refresh_token=***)"
    )
    assert str(FULL) == repr(FULL)
    assert "refresh_token" not in repr(OAuthToken(access_token="AT-S3CR3T"))


@pytest.mark.parametrize(
    "token",
    [
        FULL,
        OAuthToken(access_token="AT-S3CR3T"),
        OAuthToken(access_token="AT-S3CR3T", refresh_token="RT-S3CR3T", scope="read"),
    ],
)
def test_repr_never_shows_the_secrets(token: OAuthToken) -> None:
    assert "S3CR3T" not in repr(token)
    assert "S3CR3T" not in repr([token, {"t": token}])


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


@given(token=tokens())
def test_to_dictionary_round_trips_also_through_json(token: OAuthToken) -> None:
    saved = token.to_dictionary()
    assert OAuthToken.from_dictionary(saved) == token
    reloaded = msgspec.json.decode(msgspec.json.encode(saved), type=dict[str, object])
    assert OAuthToken.from_dictionary(reloaded) == token


@pytest.mark.parametrize(
    "dictionary",
    [{}, {"access_token": 1}, {"access_token": "t", "expires_in": "soon"}, {"expiry": 1.0}],
)
def test_from_dictionary_rejects_malformed(dictionary: dict[str, object]) -> None:
    with pytest.raises(msgspec.ValidationError):
        OAuthToken.from_dictionary(dictionary)


# -- stamped --------------------------------------------------------------------------------


def test_stamped_sets_expiry_from_expires_in_at_receipt() -> None:
    token = OAuthToken(access_token="t", expires_in=3600, scope="read", refresh_token="r")
    assert stamped(token, T0) == OAuthToken(
        access_token="t", expires_in=3600, scope="read", refresh_token="r", expiry=T0 + 3600
    )


def test_stamped_keeps_an_existing_expiry() -> None:
    assert stamped(FULL, T0 + 10_000) is FULL


def test_stamped_leaves_a_token_without_lifetime_alone() -> None:
    token = OAuthToken(access_token="t")
    assert stamped(token, T0) is token


# -- skew and expiry ------------------------------------------------------------------------


def test_default_clock_skew() -> None:
    assert DEFAULT_CLOCK_SKEW == 60.0


@pytest.mark.parametrize(
    ("expires_in", "clock_skew", "skew"),
    [
        (3600, 60.0, 60.0),
        (120, 60.0, 60.0),
        (119, 60.0, 59.5),
        (30, 60.0, 15.0),
        (1, 60.0, 0.5),
        (0, 60.0, 0.0),
        (3600, 0.0, 0.0),
        (None, 60.0, 60.0),
        (None, 600.0, 600.0),
    ],
)
def test_effective_skew_is_capped_at_half_the_lifetime(
    expires_in: int | None, clock_skew: float, skew: float
) -> None:
    token = OAuthToken(access_token="t", expires_in=expires_in, expiry=T0)
    assert effective_skew(token, clock_skew) == skew
    assert usable_until(token, clock_skew) == T0 - skew


def test_the_boundary_instant_counts_as_expired() -> None:
    token = OAuthToken(access_token="t", expires_in=3600, expiry=T0 + 3600)
    boundary = T0 + 3600 - 60
    assert usable_until(token, 60.0) == boundary
    assert is_expired(token, boundary, 60.0)
    assert not is_expired(token, math.nextafter(boundary, -math.inf), 60.0)
    assert is_expired(token, T0 + 3600, 0.0)
    assert not is_expired(token, math.nextafter(T0 + 3600, -math.inf), 0.0)


def test_a_zero_lifetime_is_expired_at_once() -> None:
    token = stamped(OAuthToken(access_token="t", expires_in=0), T0)
    assert is_expired(token, T0, 60.0)
    assert is_expired(token, T0, 0.0)


@pytest.mark.parametrize(
    "token",
    [OAuthToken(access_token="t"), OAuthToken(access_token="t", expires_in=1)],
    ids=["no expires_in", "expires_in but never stamped"],
)
@pytest.mark.parametrize("now", [-1e300, 0.0, T0, 4e9, 1e300])
def test_a_token_without_expiry_never_expires(token: OAuthToken, now: float) -> None:
    assert usable_until(token, 600.0) == math.inf
    assert not is_expired(token, now, 600.0)


@given(token=tokens(), skew=clock_skews(), now=times(), later=times())
def test_expiry_rules_agree(token: OAuthToken, skew: float, now: float, later: float) -> None:
    """Stamping is idempotent and keeps every other field; the skew is within
    [0, clock_skew]; `is_expired` is `now >= usable_until`; `usable_until` is
    `expiry - skew`, never after the expiry."""
    once = stamped(token, now)
    assert stamped(once, later) == once
    assert msgspec.structs.replace(once, expiry=token.expiry) == token
    assert 0 <= effective_skew(token, skew) <= skew
    assert is_expired(token, now, skew) == (now >= usable_until(token, skew))
    if token.expiry is None:
        assert usable_until(token, skew) == math.inf
    else:
        assert usable_until(token, skew) == token.expiry - effective_skew(token, skew)
        assert usable_until(token, skew) <= token.expiry


def test_a_token_is_expired_once_its_expiry_has_passed_whatever_its_expires_in() -> None:
    token = OAuthToken.from_dictionary({"access_token": "t", "expires_in": -100, "expiry": T0})
    assert effective_skew(token, 60.0) >= 0
    assert is_expired(token, T0 + 40, 60.0)
    decision = step(POLICY, Holding(token=token), TokenNeeded(), T0 + 40)
    assert not isinstance(decision.state, Holding)


def test_an_absurd_hand_built_lifetime_does_not_crash_step() -> None:
    token = OAuthToken(access_token="t", expires_in=10**400)
    decision = step(POLICY, NoToken(), TokenSet(token=token), T0)
    assert isinstance(decision.state, Holding)


# -- scopes ---------------------------------------------------------------------------------


def test_scope_enum_values() -> None:
    assert issubclass(OAuthScopeEnum, StrEnum)
    assert [(s.name, s.value) for s in OAuthScopeEnum] == [
        ("READ_SCOPE", "read"),
        ("WRITE_SCOPE", "write"),
    ]
    assert str(OAuthScopeEnum.READ_SCOPE) == "read"
    assert isinstance(OAuthScopeEnum.WRITE_SCOPE, str)
    assert " ".join([OAuthScopeEnum.READ_SCOPE, OAuthScopeEnum.WRITE_SCOPE]) == "read write"
    assert OAuthScopeEnum("write") is OAuthScopeEnum.WRITE_SCOPE
