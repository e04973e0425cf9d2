"""ccg against the real Authlib server on 127.0.0.1, and against tiny misbehaving servers.

Covers client authentication (Basic, form-encoded or raw, and POST), the RFC 6749 §5.2
errors, expiry and renewal with the real clock, request bodies, unauthenticated calls,
and transport failures: connection refused, redirects, connect and read timeouts.
"""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs

import pytest

from ccg import (
    ApiTransportError,
    ClientCredentialsAuthCredentials,
    ClientSecretBasic,
    ClientSecretPost,
    ConfigurationError,
    OAuthProviderError,
    OAuthProviderException,
    ResiliencePolicy,
    TokenAcquisitionError,
    TokenEndpointUnreachable,
    TokenResponseError,
    Urllib3Transport,
)
from ccg._demo.authorization_server import AuthorizationServer
from ccg.core import ErrorResponse, MalformedResponse, TransportFailure, TransportFailureKind
from tests.integration._support import (
    PERCENT_CLIENT,
    ClientFactory,
    RecordedRequest,
    RecordingServer,
    RecordingTransport,
    Reply,
    TokenUpdates,
    silent_endpoint,
    unconnectable_endpoint,
    wait_until,
)

pytestmark = pytest.mark.integration

SPECIAL_ID = "special:client"
SPECIAL_SECRET = "s&c ret:+%/=ä"


def _echo_url(server: AuthorizationServer) -> str:
    return f"{server.base_url}/api/echo"


def _public_url(server: AuthorizationServer) -> str:
    return f"{server.base_url}/api/public"


# -- client authentication --------------------------------------------------------------


def test_client_secret_basic_form_encoded_is_the_default(
    server: AuthorizationServer, make_client: ClientFactory
) -> None:
    transport = RecordingTransport()
    client = make_client(transport=transport)

    reply = client.get(server.resource_url)

    assert reply.status == 200
    assert reply.json() == {"client_id": "test-client", "scope": "read write"}
    token_request = transport.requests[0]
    assert token_request.url == server.token_url
    assert token_request.method == "POST"
    authorization = token_request.header("Authorization")
    assert authorization is not None
    assert authorization.startswith("Basic ")
    form = parse_qs(token_request.body.decode("ascii"))
    assert form == {"grant_type": ["client_credentials"]}  # no secret, no scope in the body
    assert server.token_requests() == 1


def test_client_secret_post_sends_the_credentials_in_the_body(
    server: AuthorizationServer, make_client: ClientFactory
) -> None:
    transport = RecordingTransport()
    client = make_client(authentication=ClientSecretPost(), transport=transport, scopes=["read"])

    reply = client.get(server.resource_url)

    assert reply.status == 200
    assert reply.json() == {"client_id": "test-client", "scope": "read"}
    token_request = transport.requests[0]
    assert token_request.header("Authorization") is None
    assert parse_qs(token_request.body.decode("ascii")) == {
        "grant_type": ["client_credentials"],
        "scope": ["read"],
        "client_id": ["test-client"],
        "client_secret": ["test-secret"],
    }
    assert server.token_requests() == 1


@pytest.mark.parametrize(
    "authentication",
    [ClientSecretBasic(), ClientSecretPost()],
    ids=["basic-form-encoded", "post"],
)
def test_special_characters_in_id_and_secret(
    server: AuthorizationServer,
    make_client: ClientFactory,
    authentication: ClientSecretBasic | ClientSecretPost,
) -> None:
    client = make_client(SPECIAL_ID, SPECIAL_SECRET, authentication=authentication)

    reply = client.get(server.resource_url)

    assert reply.status == 200
    assert reply.json() == {"client_id": SPECIAL_ID, "scope": "read write"}
    assert server.token_requests() == 1


def test_raw_basic_cannot_carry_a_colon_in_the_client_id() -> None:
    """RFC 7617: the user-id of Basic auth cannot contain ':'; refused at construction."""
    with pytest.raises(ConfigurationError) as caught:
        ClientCredentialsAuthCredentials(
            o_auth_client_id=SPECIAL_ID,
            o_auth_client_secret=SPECIAL_SECRET,
            o_auth_client_authentication=ClientSecretBasic(form_encode=False),
        )
    assert caught.value.field == "o_auth_client_id"
    assert "':'" in caught.value.problem
    assert SPECIAL_SECRET not in str(caught.value)


def test_raw_basic_mangles_a_secret_with_a_percent_escape(
    server: AuthorizationServer, make_client: ClientFactory
) -> None:
    """Authlib percent-decodes Basic credentials (RFC 6749 §2.3.1), so raw 'a%41b' arrives
    as 'aAb' and is refused; the default form-encoded Basic sends it intact."""
    raw = make_client(
        PERCENT_CLIENT.client_id,
        PERCENT_CLIENT.client_secret,
        authentication=ClientSecretBasic(form_encode=False),
    )
    with pytest.raises(OAuthProviderException) as caught:
        raw.get(server.resource_url)
    assert caught.value.error == OAuthProviderError.INVALID_CLIENT

    encoded = make_client(PERCENT_CLIENT.client_id, PERCENT_CLIENT.client_secret)
    assert encoded.get(server.resource_url).status == 200
    assert server.token_requests() == 2


# -- RFC 6749 §5.2 errors -----------------------------------------------------------------


@pytest.mark.parametrize(
    "authentication",
    [ClientSecretBasic(), ClientSecretPost()],
    ids=["basic", "post"],
)
def test_bad_secret_is_invalid_client_and_never_leaks_the_secret(
    server: AuthorizationServer,
    make_client: ClientFactory,
    authentication: ClientSecretBasic | ClientSecretPost,
) -> None:
    secret = "wrong-secret-7f3a9c"
    client = make_client("test-client", secret, authentication=authentication)

    with pytest.raises(OAuthProviderException) as caught:
        client.get(server.resource_url)

    error = caught.value
    assert isinstance(error, TokenAcquisitionError)
    assert error.error is OAuthProviderError.INVALID_CLIENT
    assert error.status == 401
    assert isinstance(error.failure, ErrorResponse)
    assert error.failure.status == 401
    for text in (str(error), repr(error), repr(error.failure), repr(error.__cause__)):
        assert secret not in text
    assert "invalid_client" in str(error)
    assert server.token_requests() == 1
    assert server.resource_requests() == 0
    assert client.auth_manager.o_auth_token is None


def test_unknown_scope_is_invalid_scope(
    server: AuthorizationServer, make_client: ClientFactory
) -> None:
    client = make_client(scopes=["bogus"])

    with pytest.raises(OAuthProviderException) as caught:
        client.get(server.resource_url)

    assert caught.value.error is OAuthProviderError.INVALID_SCOPE
    assert caught.value.status == 400
    assert server.token_requests() == 1
    assert server.resource_requests() == 0


def test_insufficient_scope_at_the_api_is_a_reply_not_a_token_error(
    server: AuthorizationServer, make_client: ClientFactory
) -> None:
    """'write-only' gets a token, but /api/me needs 'read': the 403 comes back as is."""
    client = make_client("write-only", "write-secret")

    reply = client.get(server.resource_url)

    assert reply.status == 403
    body = reply.json()
    assert isinstance(body, dict)
    assert body["error"] == "insufficient_scope"
    assert server.token_requests() == 1


# -- expiry and renewal with the real clock ------------------------------------------------


def test_token_without_expires_in_is_never_renewed_proactively(
    server: AuthorizationServer, make_client: ClientFactory
) -> None:
    """No expires_in: no expiry. Even ten years on (by the client's clock) it is reused."""

    class Clock:
        """The real clocks, plus an offset."""

        offset = 0.0

        def monotonic(self) -> float:
            return time.monotonic() + self.offset

        def time(self) -> float:
            return time.time() + self.offset

    clock = Clock()
    updates = TokenUpdates()
    client = make_client("no-expires-in", "no-expires-secret", clock=clock, on_token_update=updates)

    assert client.get(server.resource_url).status == 200
    token = client.auth_manager.o_auth_token
    assert token is not None
    assert token.expires_in is None
    assert token.expiry is None

    clock.offset = 10 * 365 * 24 * 3600.0
    assert not client.auth_manager.is_token_expired()
    for _ in range(3):
        assert client.get(server.resource_url).status == 200  # the server still honours it

    assert server.token_requests() == 1
    assert client.auth_manager.o_auth_token == token
    assert updates.tokens == [token]


def test_short_lived_token_is_renewed_at_the_capped_clock_skew(
    server: AuthorizationServer, make_client: ClientFactory
) -> None:
    """expires_in=2 with the default 60 s skew: the skew is capped at 1 s (half the life)."""
    updates = TokenUpdates()
    client = make_client("short-lived", "short-secret", on_token_update=updates)

    before = time.time()
    assert client.get(server.resource_url).status == 200
    first = client.auth_manager.o_auth_token
    assert first is not None
    assert first.expires_in == 2
    assert first.expiry is not None
    assert before + 2 <= first.expiry <= time.time() + 2  # stamped at receipt

    assert client.get(server.resource_url).status == 200  # still usable: reused
    assert server.token_requests() == 1

    waited = wait_until(client.auth_manager.is_token_expired, timeout=3.0)
    assert waited < 1.5
    renewed_at = time.time()
    assert renewed_at >= first.expiry - 1.0  # not a moment before the skew
    assert renewed_at < first.expiry  # ...but before the server's own expiry: proactive

    assert client.get(server.resource_url).status == 200
    second = client.auth_manager.o_auth_token
    assert second is not None
    assert second.access_token != first.access_token
    assert server.token_requests() == 2
    assert updates.tokens == [first, second]


# -- request bodies, relative URLs and unauthenticated calls ----------------------------


def test_post_json_reaches_the_echo_endpoint_intact(
    server: AuthorizationServer, make_client: ClientFactory
) -> None:
    payload = {"name": "ünïcødé ✓", "items": [1, 2.5, None, True], "nested": {"a": "b"}}
    client = make_client()

    reply = client.post(_echo_url(server), json=payload)

    assert reply.status == 200
    echoed = reply.json()
    assert isinstance(echoed, dict)
    assert echoed["client_id"] == "test-client"
    assert echoed["content_type"] == "application/json"
    assert isinstance(echoed["body"], str)
    assert json.loads(echoed["body"]) == payload


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b"raw \x01 bytes \xc3\xa9", "application/octet-stream", "raw \x01 bytes é"),
        ("héllo wörld ✓", "text/plain; charset=utf-8", "héllo wörld ✓"),
        ("a=1&b=%20x&c=+", "application/x-www-form-urlencoded", "a=1&b=%20x&c=+"),
        (b"", None, ""),
    ],
    ids=["bytes", "str", "form", "empty"],
)
def test_post_body_reaches_the_echo_endpoint_intact(
    server: AuthorizationServer,
    make_client: ClientFactory,
    body: bytes | str,
    content_type: str | None,
    expected: str,
) -> None:
    client = make_client()
    headers = None if content_type is None else {"Content-Type": content_type}

    reply = client.post(_echo_url(server), body=body, headers=headers)

    assert reply.status == 200
    assert reply.json() == {
        "client_id": "test-client",
        "body": expected,
        "content_type": content_type,
    }


def test_relative_urls_resolve_against_base_url(
    server: AuthorizationServer, make_client: ClientFactory
) -> None:
    client = make_client(base_url=server.base_url + "/")

    assert client.get("/api/me").json() == {"client_id": "test-client", "scope": "read write"}
    assert client.get("api/me").status == 200
    assert server.token_requests() == 1


def test_requires_auth_false_sends_no_authorization_and_fetches_no_token(
    server: AuthorizationServer, make_client: ClientFactory
) -> None:
    client = make_client()

    reply = client.request("GET", _public_url(server), requires_auth=False)

    assert reply.status == 200
    assert reply.json() == {"public": True, "authorization_sent": False}
    assert server.token_requests() == 0
    assert client.auth_manager.o_auth_token is None

    # The default (requires_auth=True) does send it, even to a public endpoint.
    assert client.get(_public_url(server)).json() == {"public": True, "authorization_sent": True}
    assert server.token_requests() == 1


# -- transport failures -----------------------------------------------------------------


def test_stopped_token_server_is_token_endpoint_unreachable(
    server: AuthorizationServer, make_client: ClientFactory
) -> None:
    client = make_client("test-client", "secret-never-shown")
    server.stop()

    with pytest.raises(TokenEndpointUnreachable) as caught:
        client.get(server.resource_url)

    assert isinstance(caught.value.failure, TransportFailure)
    assert caught.value.kind is TransportFailureKind.CONNECT
    assert "refused" in str(caught.value).lower()
    assert "secret-never-shown" not in str(caught.value)
    assert client.auth_manager.o_auth_token is None


def test_stopped_api_server_is_api_transport_error(
    server: AuthorizationServer, make_client: ClientFactory
) -> None:
    client = make_client()
    public_url = _public_url(server)
    server.stop()

    with pytest.raises(ApiTransportError, match="refused"):
        client.request("GET", public_url, requires_auth=False)


def _redirect_to(location: str, status: int = 302) -> RecordingServer:
    def answer(_request: RecordedRequest) -> Reply:
        return status, [("Location", location), ("Content-Type", "text/html")], b"<a>moved</a>"

    return RecordingServer(answer)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_api_redirects_are_returned_not_followed(
    server: AuthorizationServer,
    make_client: ClientFactory,
    recorder: RecordingServer,
    status: int,
) -> None:
    target = f"{recorder.url}/landing"
    with _redirect_to(target, status) as redirector:
        client = make_client(origins=[redirector.url])

        reply = client.get(f"{redirector.url}/start")

        assert reply.status == status
        assert reply.header("Location") == target
        assert reply.body == b"<a>moved</a>"
        [seen] = redirector.requests()
        token = client.auth_manager.o_auth_token
        assert token is not None
        assert seen.header_values("Authorization") == [f"Bearer {token.access_token}"]
    assert recorder.requests() == []  # the bearer token never reached the target


def test_token_endpoint_redirect_is_a_typed_token_response_error(
    server: AuthorizationServer, make_client: ClientFactory
) -> None:
    """A 302 from the token endpoint is neither a token nor an OAuth error; not followed."""
    with _redirect_to(server.token_url) as redirector:
        client = make_client(token_url=f"{redirector.url}/oauth/token")

        with pytest.raises(TokenResponseError) as caught:
            client.get(server.resource_url)

        [seen] = redirector.requests()
        assert seen.method == "POST"
    error = caught.value
    assert not isinstance(error, OAuthProviderException)
    assert isinstance(error.failure, MalformedResponse)
    assert error.failure.status == 302
    assert "302" in str(error)
    assert "test-secret" not in str(error)
    assert server.token_requests() == 0  # the redirect to the real endpoint was not followed
    assert server.resource_requests() == 0


def test_read_timeout_is_honoured(server: AuthorizationServer, make_client: ClientFactory) -> None:
    with silent_endpoint() as token_url:
        client = make_client(
            token_url=token_url,
            transport=Urllib3Transport(read_timeout=0.5),
            resilience=ResiliencePolicy(max_attempts=1),  # one request, not its retries
        )
        started = time.monotonic()
        with pytest.raises(TokenEndpointUnreachable) as caught:
            client.get(server.resource_url)
        elapsed = time.monotonic() - started

    assert 0.4 <= elapsed < 2.0
    assert "ReadTimeoutError" in str(caught.value)
    assert server.resource_requests() == 0


def test_api_read_timeout_is_api_transport_error(
    server: AuthorizationServer, make_client: ClientFactory
) -> None:
    with silent_endpoint() as url:
        client = make_client(transport=Urllib3Transport(read_timeout=0.5), origins=[url])
        assert client.auth_manager.token().access_token  # a token first, from the real server
        started = time.monotonic()
        with pytest.raises(ApiTransportError, match="ReadTimeoutError"):
            client.get(url)
        elapsed = time.monotonic() - started

    assert 0.4 <= elapsed < 2.0


def test_connect_timeout_is_honoured(
    server: AuthorizationServer, make_client: ClientFactory
) -> None:
    with unconnectable_endpoint() as token_url:
        client = make_client(
            token_url=token_url,
            transport=Urllib3Transport(connect_timeout=0.5),
            resilience=ResiliencePolicy(max_attempts=1),  # one attempt, not its retries
        )
        started = time.monotonic()
        with pytest.raises(TokenEndpointUnreachable) as caught:
            client.get(server.resource_url)
        elapsed = time.monotonic() - started

    assert 0.4 <= elapsed < 2.0
    assert "ConnectTimeoutError" in str(caught.value)
    assert server.resource_requests() == 0


# -- misbehaving token endpoints ---------------------------------------------------------

_JSON = "application/json"


def _token_endpoint_answering(status: int, content_type: str, body: bytes) -> RecordingServer:
    def answer(_request: RecordedRequest) -> Reply:
        return status, [("Content-Type", content_type)], body

    return RecordingServer(answer)


@pytest.mark.parametrize(
    ("status", "content_type", "body", "expected"),
    [
        (200, "text/html", b"<html>login</html>", TokenResponseError),
        (503, "text/html", b"<h1>Service Unavailable</h1>", TokenResponseError),
        (200, _JSON, b'{"token_type": "Bearer"}', TokenResponseError),
        (200, _JSON, b'{"access_token": "t", "token_type": "mac"}', TokenResponseError),
        (200, _JSON, b'{"access_token": "t", "expires_in": -5}', TokenResponseError),
        (500, _JSON, b'{"error": "server_error"}', OAuthProviderException),
        (200, _JSON, b'{"error": "invalid_grant"}', OAuthProviderException),
    ],
    ids=[
        "html-200",
        "html-503",
        "no-access-token",
        "not-bearer",
        "negative-lifetime",
        "server-error",
        "error-with-200",
    ],
)
def test_unusable_token_replies_are_typed_errors(
    server: AuthorizationServer,
    make_client: ClientFactory,
    status: int,
    content_type: str,
    body: bytes,
    expected: type[TokenAcquisitionError],
) -> None:
    with _token_endpoint_answering(status, content_type, body) as endpoint:
        client = make_client(token_url=f"{endpoint.url}/oauth/token")

        with pytest.raises(expected) as caught:
            client.get(server.resource_url)

        # A 5xx is retried (max_attempts in all); anything else is not.
        assert len(endpoint.requests()) == (3 if status >= 500 else 1)
    assert type(caught.value) is expected
    if isinstance(caught.value, OAuthProviderException):
        assert caught.value.status == status
        assert caught.value.error in ("server_error", OAuthProviderError.INVALID_GRANT)
    assert client.auth_manager.o_auth_token is None
    assert server.resource_requests() == 0


@pytest.mark.parametrize(
    "access_token", ["abc\r\nX-Injected: 1", "tok\n", "tök€n"], ids=["crlf", "lf", "non-latin-1"]
)
def test_token_that_cannot_be_sent_in_a_header_is_a_token_response_error(
    make_client: ClientFactory, recorder: RecordingServer, access_token: str
) -> None:
    reply = json.dumps({"access_token": access_token, "token_type": "Bearer", "expires_in": 3600})
    with _token_endpoint_answering(200, "application/json", reply.encode()) as endpoint:
        client = make_client(token_url=f"{endpoint.url}/oauth/token", origins=[recorder.url])

        with pytest.raises(TokenResponseError):
            client.get(f"{recorder.url}/api")

    assert recorder.requests() == []


# -- header names are case-insensitive (RFC 9110 §5.1) ------------------------------------


def test_json_keeps_a_callers_content_type_whatever_its_case(
    make_client: ClientFactory, recorder: RecordingServer
) -> None:
    client = make_client(origins=[recorder.url])

    client.post(
        f"{recorder.url}/patch",
        json={"op": "replace"},
        headers={"content-type": "application/merge-patch+json"},
    )

    [sent] = recorder.requests()
    assert sent.header_values("Content-Type") == ["application/merge-patch+json"]


def test_json_keeps_a_callers_content_type_in_canonical_case(
    make_client: ClientFactory, recorder: RecordingServer
) -> None:
    client = make_client(origins=[recorder.url])

    client.post(
        f"{recorder.url}/patch",
        json={"op": "replace"},
        headers={"Content-Type": "application/merge-patch+json"},
    )

    [sent] = recorder.requests()
    assert sent.header_values("Content-Type") == ["application/merge-patch+json"]
    assert sent.body == b'{"op":"replace"}'


def test_bearer_replaces_a_callers_authorization_header_whatever_its_case(
    server: AuthorizationServer, make_client: ClientFactory, recorder: RecordingServer
) -> None:
    client = make_client(origins=[recorder.url])

    reply = client.get(server.resource_url, headers={"authorization": "Bearer stale"})
    client.get(f"{recorder.url}/me", headers={"authorization": "Bearer stale"})

    token = client.auth_manager.o_auth_token
    assert token is not None
    [sent] = recorder.requests()
    assert sent.header_values("Authorization") == [f"Bearer {token.access_token}"]
    assert reply.status == 200


def test_bearer_replaces_a_callers_authorization_header_in_canonical_case(
    server: AuthorizationServer, make_client: ClientFactory
) -> None:
    client = make_client()

    reply = client.get(server.resource_url, headers={"Authorization": "Bearer stale"})

    assert reply.status == 200
    assert reply.json() == {"client_id": "test-client", "scope": "read write"}
