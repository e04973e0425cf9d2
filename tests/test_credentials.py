"""`ClientCredentialsAuthCredentials`: the seed's options, validated at construction."""

from __future__ import annotations

import math
from enum import Enum
from typing import Any

import pytest

from ccg import (
    ApiClient,
    ClientCredentialsAuthCredentials,
    ClientSecretAuto,
    ClientSecretBasic,
    ClientSecretPost,
    ConfigurationError,
    InvalidTokenError,
    OAuthScopeEnum,
    OAuthToken,
)
from ccg.testing import FakeClock, FakeTransport, token_reply

SECRET = "very-secret-value"


def creds(**overrides: Any) -> ClientCredentialsAuthCredentials:
    options: dict[str, Any] = {"o_auth_client_id": "id", "o_auth_client_secret": SECRET}
    options.update(overrides)
    return ClientCredentialsAuthCredentials(**options)


class Plain(Enum):
    ADMIN = "admin"


def test_getters_return_what_was_given_with_the_seed_names() -> None:
    def provider(last: OAuthToken | None, auth: object) -> OAuthToken | None:
        return last

    def update(token: OAuthToken) -> None:
        pass

    token = OAuthToken(access_token="a")
    c = creds(
        o_auth_scopes=[OAuthScopeEnum.READ_SCOPE, "write", Plain.ADMIN],
        o_auth_token=token,
        o_auth_token_provider=provider,
        o_auth_on_token_update=update,
        o_auth_clock_skew=5,
    )
    assert c.o_auth_client_id == "id"
    assert c.o_auth_client_secret == SECRET
    assert c.o_auth_scopes == ["read", "write", "admin"]
    assert c.o_auth_token is token
    assert c.o_auth_token_provider is provider
    assert c.o_auth_on_token_update is update
    assert c.o_auth_clock_skew == 5.0
    assert c.o_auth_client_authentication == ClientSecretAuto()
    assert c.o_auth_token_request_params == {}


def test_defaults() -> None:
    c = creds()
    assert c.o_auth_scopes == []
    assert c.o_auth_token is None
    assert c.o_auth_clock_skew == 60.0


def test_positional_arguments_follow_the_seed_order() -> None:
    c = ClientCredentialsAuthCredentials("id", SECRET, ["read"], None, None, None, 10)
    assert (c.o_auth_scopes, c.o_auth_clock_skew) == (["read"], 10.0)


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"o_auth_client_id": ""}, "o_auth_client_id", "must not be empty"),
        ({"o_auth_client_id": 42}, "o_auth_client_id", "expected a str, got int"),
        ({"o_auth_client_secret": ""}, "o_auth_client_secret", "must not be empty"),
        ({"o_auth_client_secret": None}, "o_auth_client_secret", "got NoneType"),
        ({"o_auth_scopes": "read write"}, "o_auth_scopes", "expected a list of scopes, got str"),
        ({"o_auth_scopes": ["read write"]}, "o_auth_scopes", "is not a scope token"),
        ({"o_auth_scopes": [""]}, "o_auth_scopes", "is not a scope token"),
        ({"o_auth_scopes": ['a"b']}, "o_auth_scopes", "is not a scope token"),
        ({"o_auth_scopes": [3]}, "o_auth_scopes", "got int"),
        ({"o_auth_clock_skew": "5"}, "o_auth_clock_skew", "got str"),
        ({"o_auth_clock_skew": True}, "o_auth_clock_skew", "got bool"),
        ({"o_auth_clock_skew": -1}, "o_auth_clock_skew", ">= 0"),
        ({"o_auth_clock_skew": math.nan}, "o_auth_clock_skew", "finite"),
        ({"o_auth_token": {"access_token": "x"}}, "o_auth_token", "from_dictionary"),
        ({"o_auth_token_provider": "f"}, "o_auth_token_provider", "callable"),
        ({"o_auth_on_token_update": 1}, "o_auth_on_token_update", "callable"),
        ({"o_auth_client_authentication": "basic"}, "o_auth_client_authentication", "got str"),
        (
            {
                "o_auth_client_id": "a:b",
                "o_auth_client_authentication": ClientSecretBasic(form_encode=False),
            },
            "o_auth_client_id",
            r"raw \(unencoded\) Basic",
        ),
        ({"o_auth_token_request_params": [("a", "b")]}, "o_auth_token_request_params", "mapping"),
        (
            {"o_auth_token_request_params": {"scope": "x"}},
            "o_auth_token_request_params",
            "set by ccg",
        ),
        (
            {"o_auth_token_request_params": {"grant_type": "x"}},
            "o_auth_token_request_params",
            "set by ccg",
        ),
        ({"o_auth_token_request_params": {"a": 1}}, "o_auth_token_request_params", "str or a list"),
        ({"o_auth_token_request_params": {"": "x"}}, "o_auth_token_request_params", "non-empty"),
    ],
)
def test_mistakes_fail_at_construction_naming_the_option(
    overrides: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        creds(**overrides)
    assert caught.value.field == field
    assert str(caught.value).startswith(field)
    assert isinstance(caught.value, ValueError)


def test_the_secret_is_never_echoed() -> None:
    c = creds()
    assert SECRET not in repr(c)
    spec = c.token_request("https://as.example/token")
    assert SECRET not in repr(spec)
    with pytest.raises(ConfigurationError) as caught:
        creds(o_auth_clock_skew=SECRET)
    assert SECRET not in str(caught.value)


def test_extra_params_are_kept_in_order_on_every_fetch() -> None:
    c = creds(
        o_auth_token_request_params={"audience": "api", "resource": ["https://a", "https://b"]},
        o_auth_client_authentication=ClientSecretPost(),
    )
    assert c.o_auth_token_request_params == {
        "audience": ["api"],
        "resource": ["https://a", "https://b"],
    }
    body = c.token_request("https://as/token").extra_params
    assert body == (("audience", "api"), ("resource", "https://a"), ("resource", "https://b"))


def test_token_setter_before_and_after_a_client_uses_the_credentials() -> None:
    c = creds()
    early = OAuthToken(access_token="early", expires_in=3600)
    c.o_auth_token = early
    transport = FakeTransport([token_reply("fetched")])
    client = ApiClient(
        client_credentials_auth_credentials=c,
        token_url="https://as.example/token",
        transport=transport,
        clock=FakeClock(),
    )
    assert client.auth_manager.authorization_header() == "Bearer early"
    late = OAuthToken(access_token="late", expires_in=3600)
    c.o_auth_token = late
    assert client.auth_manager.authorization_header() == "Bearer late"
    assert c.o_auth_token.access_token == "late"  # read back from the live manager
    assert transport.requests == []


def test_the_setter_reaches_every_live_client_and_the_getter_reads_the_newest() -> None:
    c = creds()
    first = ApiClient(
        client_credentials_auth_credentials=c,
        token_url="https://as/token",
        transport=FakeTransport(),
    )
    second = ApiClient(
        client_credentials_auth_credentials=c,
        token_url="https://as/token",
        transport=FakeTransport(),
    )
    set_by_hand = OAuthToken(access_token="by-hand", expires_in=3600)
    c.o_auth_token = set_by_hand
    assert first.auth_manager.token().access_token == "by-hand"
    assert second.auth_manager.token().access_token == "by-hand"
    second.auth_manager.set_token(OAuthToken(access_token="second-only", expires_in=3600))
    assert _access_token(c) == "second-only"  # the newest client's token
    del second
    assert _access_token(c) == "by-hand"  # the newest live one
    assert first.auth_manager.token().access_token == "by-hand"


def _access_token(credentials: ClientCredentialsAuthCredentials) -> str | None:
    token = credentials.o_auth_token
    return None if token is None else token.access_token


def test_the_setter_checks_the_token_like_every_other_source() -> None:
    c = creds()
    with pytest.raises(InvalidTokenError, match="access_token cannot be sent in a header"):
        c.o_auth_token = OAuthToken(access_token="abc\n")
    assert c.o_auth_token is None
