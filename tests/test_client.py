"""`ApiClient` over the fake transport: URLs, bodies, auth and errors."""

from __future__ import annotations

from typing import Any

import pytest

from ccg import (
    ApiClient,
    ApiTransportError,
    ClientCredentialsAuthCredentials,
    ConfigurationError,
    OAuthProviderException,
)
from ccg.core import TransportFailure
from ccg.testing import FakeClock, FakeTransport, error_reply, json_reply, token_reply

TOKEN_URL = "https://as.example/token"


def client(transport: FakeTransport, *, base_url: str | None = None) -> ApiClient:
    return ApiClient(
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials(
            o_auth_client_id="id", o_auth_client_secret="secret"
        ),
        token_url=TOKEN_URL,
        transport=transport,
        clock=FakeClock(),
        base_url=base_url,
    )


def test_paths_resolve_under_base_url_and_json_is_encoded() -> None:
    transport = FakeTransport([token_reply("t"), json_reply(201, {"id": 7})])
    c = client(transport, base_url="https://api.example/v1/")
    reply = c.post("/items", json={"name": "x"}, headers={"X-Trace": "1"})
    assert reply.status == 201
    assert reply.json() == {"id": 7}
    sent = transport.requests[1]
    assert sent.url == "https://api.example/v1/items"
    assert sent.body == b'{"name":"x"}'
    assert sent.header("content-type") == "application/json"
    assert sent.header("X-Trace") == "1"
    assert sent.header("Authorization") == "Bearer t"


def test_requires_auth_false_sends_no_token_and_fetches_none() -> None:
    transport = FakeTransport([json_reply(200, {})])
    reply = client(transport).request(
        "GET", "http://127.0.0.1:9/public", requires_auth=False, body="hi"
    )
    assert reply.status == 200
    assert len(transport.requests) == 1
    assert transport.requests[0].header("Authorization") is None
    assert transport.requests[0].body == b"hi"


def test_non_2xx_replies_are_returned_not_raised() -> None:
    transport = FakeTransport([token_reply("t"), json_reply(404, {"error": "nope"})])
    reply = client(transport).get("https://api.example/missing")
    assert (reply.status, reply.text) == (404, '{"error":"nope"}')


def test_token_failure_stops_the_call_before_anything_is_sent() -> None:
    transport = FakeTransport([error_reply("invalid_client", status=401)])
    with pytest.raises(OAuthProviderException):
        client(transport).get("https://api.example/x")
    assert [r.url for r in transport.requests] == [TOKEN_URL]


def test_transport_failure_on_the_api_call_is_typed() -> None:
    transport = FakeTransport([token_reply("t"), TransportFailure(reason="ReadTimeoutError: x")])
    with pytest.raises(ApiTransportError, match=r"GET https://api\.example/x: ReadTimeoutError"):
        client(transport).get("https://api.example/x")


@pytest.mark.parametrize(
    ("options", "field", "message"),
    [
        ({"token_url": "ftp://as/token"}, "token_url", "absolute http"),
        ({"token_url": "/token"}, "token_url", "absolute http"),
        ({"token_url": "http://as.example/token"}, "token_url", "clear text"),
        ({"token_url": "https://u:p@as/token"}, "token_url", "credentials in the URL"),
        ({"token_url": "https://as/token#x"}, "token_url", "fragment"),
        ({"token_url": 5}, "token_url", "got int"),
        ({"token_url": "https://[::1/token"}, "token_url", "not a valid URL"),
        ({"base_url": "http://api.example"}, "base_url", "clear text"),
        (
            {"client_credentials_auth_credentials": {}},
            "client_credentials_auth_credentials",
            "got dict",
        ),
    ],
)
def test_client_configuration_mistakes_fail_at_construction(
    options: dict[str, object], field: str, message: str
) -> None:
    arguments: dict[str, Any] = {  # Any: what a caller without a type checker passes
        "client_credentials_auth_credentials": ClientCredentialsAuthCredentials(
            o_auth_client_id="id", o_auth_client_secret="secret"
        ),
        "token_url": TOKEN_URL,
        **options,
    }
    with pytest.raises(ConfigurationError, match=message) as caught:
        ApiClient(**arguments)
    assert caught.value.field == field


def test_loopback_http_is_allowed_and_insecure_http_needs_opting_in() -> None:
    c = ClientCredentialsAuthCredentials(o_auth_client_id="id", o_auth_client_secret="s")
    for url in ("http://127.0.0.1:8080/token", "http://localhost/token", "http://[::1]/t"):
        ApiClient(client_credentials_auth_credentials=c, token_url=url)
        c = ClientCredentialsAuthCredentials(o_auth_client_id="id", o_auth_client_secret="s")
    ApiClient(
        client_credentials_auth_credentials=c,
        token_url="http://as.internal/token",
        allow_insecure_http=True,
    )


def test_bearer_token_is_not_sent_over_clear_text_to_another_host() -> None:
    transport = FakeTransport([token_reply("t")])
    with pytest.raises(ConfigurationError, match="clear text"):
        client(transport).get("http://api.example/x")
    assert transport.requests == []


def test_relative_url_without_base_url_and_body_with_json_are_refused() -> None:
    transport = FakeTransport()
    with pytest.raises(ConfigurationError, match="no base_url"):
        client(transport).get("/x")
    with pytest.raises(ConfigurationError, match="either body or json"):
        client(transport).post("https://api.example/x", body=b"a", json={})
    assert transport.requests == []
