"""`ApiClient` over the fake transport: composition, URLs, bodies, auth and errors."""

from __future__ import annotations

from typing import Any

import pytest

from ccg import (
    ApiClient,
    ApiTransportError,
    ClientCredentialsAuthCredentials,
    ConfigurationError,
    OAuthProviderException,
    OAuthToken,
    Urllib3Transport,
)
from ccg.core import TransportFailure, TransportFailureKind
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
        origins=["https://api.example"],
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
    transport = FakeTransport(
        [
            token_reply("t"),
            TransportFailure(kind=TransportFailureKind.TIMEOUT, reason="ReadTimeoutError: x"),
        ]
    )
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
        ({"transport": object()}, "transport", "no send"),
        ({"token_transport": "urllib3"}, "token_transport", "no send"),
        ({"clock": "time"}, "clock", "no monotonic, time"),
        ({"allow_insecure_http": "false"}, "allow_insecure_http", "True or False"),
        ({"token_url": None}, "client_credentials_auth_credentials", "or an auth_manager"),
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
        origins=["https://api.example"],
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


# -- composition: each client owns its parts; sharing is explicit -------------------------


def _credentials() -> ClientCredentialsAuthCredentials:
    return ClientCredentialsAuthCredentials(o_auth_client_id="id", o_auth_client_secret="secret")


def test_two_clients_built_from_one_credentials_object_each_use_their_own_parts() -> None:
    """Regression (core v2, defect 7): the second client's transport, clock and token URL
    were silently ignored, because the credentials handed it the first client's manager."""
    shared = _credentials()
    first_transport = FakeTransport([token_reply("first"), json_reply(200, {})])
    second_transport = FakeTransport([token_reply("second"), json_reply(200, {})])
    first = ApiClient(
        origins=["https://api.example"],
        client_credentials_auth_credentials=shared,
        token_url="https://as-one.example/token",
        transport=first_transport,
        clock=FakeClock(),
    )
    second = ApiClient(
        origins=["https://api.example"],
        client_credentials_auth_credentials=shared,
        token_url="https://as-two.example/token",
        transport=second_transport,
        clock=FakeClock(2_000_000_000.0),
    )
    assert second.auth_manager is not first.auth_manager
    second.get("https://api.example/x")
    assert [r.url for r in second_transport.requests] == [
        "https://as-two.example/token",
        "https://api.example/x",
    ]
    assert second_transport.requests[1].header("Authorization") == "Bearer second"
    assert first_transport.requests == []
    held = second.auth_manager.o_auth_token
    assert held is not None
    assert held.expiry == 2_000_000_000.0 + 3600  # the second client's own clock
    first.get("https://api.example/x")
    assert first_transport.requests[1].header("Authorization") == "Bearer first"


def test_sharing_a_manager_is_explicit_and_shares_its_token() -> None:
    token_transport = FakeTransport([token_reply("shared")])
    owner = ApiClient(
        origins=["https://api.example"],
        client_credentials_auth_credentials=_credentials(),
        token_url=TOKEN_URL,
        transport=token_transport,
        clock=FakeClock(),
    )
    api = FakeTransport([json_reply(200, {})])
    sharer = ApiClient(auth_manager=owner.auth_manager, transport=api, base_url="https://b.example")
    sharer.get("/x")
    assert api.requests[0].header("Authorization") == "Bearer shared"
    assert sharer.auth_manager is owner.auth_manager
    with pytest.raises(ConfigurationError, match="without credentials of its own"):
        _ = sharer.client_credentials_auth_credentials
    with pytest.raises(ConfigurationError, match="token_url: belongs to the shared auth_manager"):
        ApiClient(auth_manager=owner.auth_manager, token_url=TOKEN_URL)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue]
    with pytest.raises(ConfigurationError, match="auth_manager: expected"):
        ApiClient(auth_manager=object())  # type: ignore[call-overload]  # pyright: ignore[reportArgumentType]


def test_token_requests_can_go_through_their_own_transport() -> None:
    token_transport = FakeTransport([token_reply("t")])  # e.g. an mTLS pool
    api_transport = FakeTransport([json_reply(200, {})])  # e.g. behind a proxy
    c = ApiClient(
        origins=["https://api.example"],
        client_credentials_auth_credentials=_credentials(),
        token_url=TOKEN_URL,
        transport=api_transport,
        token_transport=token_transport,
        clock=FakeClock(),
    )
    c.get("https://api.example/x")
    assert [r.url for r in token_transport.requests] == [TOKEN_URL]
    assert [r.url for r in api_transport.requests] == ["https://api.example/x"]


def test_the_client_closes_only_the_transport_it_made(monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[object] = []

    class Closable(FakeTransport):
        def close(self) -> None:
            closed.append(self)

    def record(self: Urllib3Transport) -> None:
        closed.append(self)

    monkeypatch.setattr(Urllib3Transport, "close", record)
    given = Closable()
    with ApiClient(
        origins=["https://api.example"],
        client_credentials_auth_credentials=_credentials(),
        token_url=TOKEN_URL,
        transport=given,
    ):
        pass
    assert closed == []
    with ApiClient(
        origins=["https://api.example"],
        client_credentials_auth_credentials=_credentials(),
        token_url=TOKEN_URL,
    ) as c:
        made = c._owned_transport  # pyright: ignore[reportPrivateUsage]
    assert isinstance(made, Urllib3Transport)
    assert closed == [made]


def test_the_presenter_makes_the_header_from_the_token_it_is_given() -> None:
    seen: list[tuple[str, str, str]] = []

    class Tagged:
        def authorization(self, token: OAuthToken, method: str, url: str) -> str:
            seen.append((token.access_token, method, url))
            return f"Tagged {token.access_token}"

    transport = FakeTransport([token_reply("t"), json_reply(200, {})])
    c = ApiClient(
        origins=["https://api.example"],
        client_credentials_auth_credentials=_credentials(),
        token_url=TOKEN_URL,
        transport=transport,
        clock=FakeClock(),
        presenter=Tagged(),
    )
    c.post("https://api.example/orders", json={})
    assert transport.requests[1].header("Authorization") == "Tagged t"
    assert seen == [("t", "POST", "https://api.example/orders")]


def test_the_caller_authorization_header_is_replaced_whatever_its_case() -> None:
    transport = FakeTransport([token_reply("t"), json_reply(200, {})])
    client(transport).request(
        "GET", "https://api.example/x", headers={"authorization": "Basic x", "X-A": "1"}
    )
    assert transport.requests[1].headers == (("X-A", "1"), ("Authorization", "Bearer t"))
