"""Every token passes the same checks wherever it comes from, and a bad one never reaches a header.

Sources: the token endpoint (tests/core/test_wire.py), a provider, the setter, the
constructor. Regression (defect 6 of 0.1.0): tokens from a provider, the setter or the
constructor skipped the checks fetched tokens get: an empty token went out as
`Bearer `, `a\\r\\n\\tfolded` as a folded header line, a token read from a file with its
trailing newline made every call raise a raw ValueError quoting the whole token, and
`expiry=nan` never expired.
"""

from __future__ import annotations

import re
from typing import Any, Final

import msgspec
import pytest

from ccg import (
    ApiClient,
    ClientCredentialsAuthCredentials,
    ClientCredentialsAuthManager,
    ConfigurationError,
    InvalidTokenError,
    OAuthToken,
    TokenProviderError,
)
from ccg.core import InvalidToken, TokenOrigin, TokenRequestSpec
from ccg.testing import FakeClock, FakeTransport, json_reply

SECRET_PART: Final = "Sup3rS3cretT0ken"
SPEC: Final = TokenRequestSpec(
    token_url="https://as.example/token", client_id="i", client_secret="s"
)


def _token(**fields: object) -> OAuthToken:
    """A token with `fields` set as given, unchecked (as code without a type checker builds it)."""
    return msgspec.structs.replace(OAuthToken(access_token=SECRET_PART), **fields)


BAD_TOKENS: Final = [
    pytest.param(_token(access_token=""), "access_token is empty", id="empty"),
    pytest.param(
        _token(access_token=f"{SECRET_PART}\r\n\tfolded"), "character 17 of 25 is '\\r'", id="crlf"
    ),
    pytest.param(
        _token(access_token=f"{SECRET_PART}\n"), "character 17 of 17 is '\\n'", id="newline"
    ),
    pytest.param(_token(access_token=f"{SECRET_PART} x"), "is ' '", id="space"),
    pytest.param(_token(access_token=f"{SECRET_PART}é"), "a non-ASCII character", id="non-ascii"),
    pytest.param(_token(access_token=12345), "access_token must be a str, got int", id="int"),
    pytest.param(_token(expiry=float("nan")), "expiry must be a finite number", id="nan"),
    pytest.param(_token(expiry=float("inf")), "expiry must be a finite number", id="inf"),
    pytest.param(_token(expires_in=-5), "expires_in is negative", id="negative-lifetime"),
    pytest.param(_token(expires_in="3600"), "expires_in must be whole seconds, got str", id="str"),
    pytest.param(_token(token_type=None), "token_type must be a str", id="no-type"),
    pytest.param({"access_token": SECRET_PART}, "expected an OAuthToken, got dict", id="dict"),
]


def _assert_not_quoted(error: BaseException) -> None:
    assert SECRET_PART not in str(error)
    assert SECRET_PART not in repr(error)


@pytest.mark.parametrize(("bad", "problem"), BAD_TOKENS)
def test_a_provider_token_that_fails_the_checks_is_a_typed_error_and_nothing_is_sent(
    bad: object, problem: str
) -> None:
    transport = FakeTransport([json_reply(200, {})])
    client = ApiClient(
        origins=["https://api.example"],
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials(
            o_auth_client_id="i",
            o_auth_client_secret="s",
            o_auth_token_provider=lambda last, manager: bad,  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
        ),
        token_url="https://as.example/token",
        transport=transport,
        clock=FakeClock(),
    )
    with pytest.raises(TokenProviderError, match=re.escape(problem)) as caught:
        client.get("https://api.example/x")
    assert isinstance(caught.value.failure, InvalidToken)
    assert caught.value.failure.origin is TokenOrigin.PROVIDER
    _assert_not_quoted(caught.value)
    assert transport.requests == []  # nothing reached a header
    assert client.auth_manager.o_auth_token is None


@pytest.mark.parametrize(("bad", "problem"), BAD_TOKENS)
def test_a_token_set_by_hand_that_fails_the_checks_is_refused_and_changes_nothing(
    bad: object, problem: str
) -> None:
    kept = OAuthToken(access_token="kept", expires_in=3600)
    m = ClientCredentialsAuthManager(SPEC, transport=FakeTransport(), clock=FakeClock(), token=kept)
    untyped: Any = bad
    with pytest.raises(InvalidTokenError, match=re.escape(problem)) as caught:
        m.o_auth_token = untyped
    assert isinstance(caught.value, ConfigurationError)
    assert caught.value.field == "o_auth_token"
    assert caught.value.failure.origin is TokenOrigin.SETTER
    _assert_not_quoted(caught.value)
    assert m.token().access_token == "kept"


@pytest.mark.parametrize(("bad", "problem"), BAD_TOKENS)
def test_a_token_given_at_construction_that_fails_the_checks_fails_construction(
    bad: object, problem: str
) -> None:
    untyped: Any = bad
    with pytest.raises(InvalidTokenError, match=re.escape(problem)) as caught:
        ClientCredentialsAuthCredentials(
            o_auth_client_id="i", o_auth_client_secret="s", o_auth_token=untyped
        )
    assert caught.value.failure.origin is TokenOrigin.INITIAL
    _assert_not_quoted(caught.value)
    with pytest.raises(InvalidTokenError, match=re.escape(problem)):
        ClientCredentialsAuthManager(SPEC, transport=FakeTransport(), token=untyped)


def test_a_good_token_passes_from_every_source() -> None:
    good = OAuthToken(access_token="A-z0-9._~+/=", expires_in=60, scope="read", refresh_token="r")
    credentials = ClientCredentialsAuthCredentials(
        o_auth_client_id="i", o_auth_client_secret="s", o_auth_token=good
    )
    m = ClientCredentialsAuthManager(SPEC, transport=FakeTransport(), clock=FakeClock(), token=good)
    m.set_token(good)
    assert credentials.o_auth_token == good
    assert m.token().access_token == good.access_token
