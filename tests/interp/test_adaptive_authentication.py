"""Adaptive client authentication (`ClientSecretAuto`, the default) through a real client
over the fake transport: a server that refuses form-encoded Basic gets raw Basic once, then
the post body once if allowed; the form that worked is kept; other failures, explicit
methods and a settled form never fall back; when every form is refused the error says
which were tried. The interop suite (tests/interop/) shows the same against real servers.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Final
from urllib.parse import parse_qsl

import pytest

from ccg import (
    ApiClient,
    ClientAuthentication,
    ClientCredentialsAuthCredentials,
    ClientSecretAuto,
    ClientSecretBasic,
    ClientSecretPost,
    Event,
    OAuthProviderException,
    TokenResponseError,
)
from ccg.core import AuthenticationFallback, ErrorResponse, HttpReply, HttpRequest
from ccg.testing import FakeClock, FakeTransport, error_reply, json_reply, run_inline, token_reply

TOKEN_URL: Final = "https://as.example/token"
API: Final = "https://api.example"
SPECIAL: Final = "a%41b+c d:e/f&g=h?i#j"
"""A secret whose form-encoded and raw Basic differ (`%41` decodes to `A`)."""


def sent_as(request: HttpRequest) -> str:
    """How `request` carried the credentials: `basic`, `basic-raw` or `post`."""
    header = request.header("Authorization")
    if header is None:
        form = dict(parse_qsl(request.body.decode()))
        assert "client_secret" in form
        return "post"
    pair = base64.b64decode(header.removeprefix("Basic ")).decode()
    return "basic-raw" if pair.endswith(SPECIAL) or ":" in pair.partition(":")[2] else "basic"


def server(accepts: str | None, refusal: Callable[[], HttpReply] | None = None) -> FakeTransport:
    """A token endpoint that issues a token only to the form `accepts` (None: to none)
    and refuses the others with `refusal` (`invalid_client` by default); an API that
    answers 200."""
    issued = 0

    def handle(request: HttpRequest) -> HttpReply:
        nonlocal issued
        if request.url != TOKEN_URL:
            return json_reply(200, {})
        if sent_as(request) == accepts:
            issued += 1
            return token_reply(f"t{issued}", expires_in=3600)
        return refusal() if refusal else error_reply("invalid_client", status=401)

    return FakeTransport(handler=handle)


def client(
    transport: FakeTransport,
    *,
    client_id: str = "svc",
    secret: str = SPECIAL,
    authentication: ClientAuthentication | None = None,
    events: list[Event] | None = None,
    clock: FakeClock | None = None,
) -> ApiClient:
    return ApiClient(
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials(
            o_auth_client_id=client_id,
            o_auth_client_secret=secret,
            o_auth_client_authentication=authentication or ClientSecretAuto(),
        ),
        token_url=TOKEN_URL,
        base_url=API,
        transport=transport,
        clock=clock or FakeClock(),
        spawn=run_inline,
        on_event=None if events is None else events.append,
    )


def forms_sent(transport: FakeTransport) -> list[str]:
    return [sent_as(r) for r in transport.requests_to(TOKEN_URL)]


def test_a_refused_form_encoded_basic_falls_back_to_raw_basic_once_and_keeps_it() -> None:
    transport, clock = server("basic-raw"), FakeClock()
    events: list[Event] = []
    c = client(transport, events=events, clock=clock)
    assert c.get("/x").status == 200
    assert forms_sent(transport) == ["basic", "basic-raw"]
    assert (
        AuthenticationFallback(refused="client_secret_basic", trying="client_secret_basic (raw)")
        in events
    )
    clock.advance(3600)  # expired: the next fetch goes straight to raw Basic
    assert c.get("/x").status == 200
    assert forms_sent(transport) == ["basic", "basic-raw", "basic-raw"]


def test_the_post_body_is_tried_last_and_only_when_allowed() -> None:
    transport = server("post")
    with pytest.raises(OAuthProviderException) as caught:
        client(transport).get("/x")
    assert forms_sent(transport) == ["basic", "basic-raw"]
    assert "client authentication tried: client_secret_basic, client_secret_basic (raw)" in str(
        caught.value
    )
    transport = server("post")
    assert (
        client(transport, authentication=ClientSecretAuto(allow_post=True)).get("/x").status == 200
    )
    assert forms_sent(transport) == ["basic", "basic-raw", "post"]


def test_when_every_form_is_refused_the_error_names_them_and_the_next_try_starts_over() -> None:
    transport, clock = server(None), FakeClock()
    c = client(transport, authentication=ClientSecretAuto(allow_post=True), clock=clock)
    with pytest.raises(OAuthProviderException) as caught:
        c.get("/x")
    error = caught.value
    assert error.error == "invalid_client"
    assert error.status == 401
    assert isinstance(error.failure, ErrorResponse)
    assert error.failure.tried == (
        "client_secret_basic",
        "client_secret_basic (raw)",
        "client_secret_post",
    )
    assert forms_sent(transport) == ["basic", "basic-raw", "post"]
    with pytest.raises(OAuthProviderException):
        c.get("/x")  # the cool-down: no request at all
    assert len(transport.requests_to(TOKEN_URL)) == 3
    clock.advance(30)
    with pytest.raises(OAuthProviderException):
        c.get("/x")
    assert forms_sent(transport)[3:] == ["basic", "basic-raw", "post"]  # never more per try


def test_a_plain_secret_never_falls_back() -> None:
    # Form-encoded and raw Basic are the same bytes: a refusal of one is of both.
    transport = server(None)
    with pytest.raises(OAuthProviderException) as caught:
        client(transport, secret="plain-secret_0.9~").get("/x")
    assert len(transport.requests_to(TOKEN_URL)) == 1
    assert "tried" not in str(caught.value)


def test_an_id_with_a_colon_never_goes_raw() -> None:
    transport = server("post")
    c = client(transport, client_id="svc:one", authentication=ClientSecretAuto(allow_post=True))
    assert c.get("/x").status == 200
    assert forms_sent(transport) == ["basic", "post"]


@pytest.mark.parametrize(
    "refusal",
    [
        lambda: error_reply("invalid_scope"),
        lambda: error_reply("unauthorized_client"),
        lambda: error_reply("server_error", status=500),
        lambda: json_reply(400, {"message": "bad request"}),
    ],
    ids=["invalid_scope", "unauthorized_client", "server_error", "400-no-oauth-error"],
)
def test_other_failures_never_fall_back(refusal: Callable[[], HttpReply]) -> None:
    transport = server(None, refusal)
    c = client(transport)
    with pytest.raises(Exception):  # noqa: B017, PT011 - each its own typed error
        c.get("/x")
    assert set(forms_sent(transport)) == {"basic"}  # a 500 is retried, with the same form


@pytest.mark.parametrize("status", [401, 403])
def test_an_empty_401_or_403_falls_back_and_is_explained(status: int) -> None:
    # Glewlwyd answers a bad client with an empty 403.
    transport = server(None, lambda: HttpReply(status=status, body=b""))
    with pytest.raises(TokenResponseError) as caught:
        client(transport).get("/x")
    assert forms_sent(transport) == ["basic", "basic-raw"]
    message = str(caught.value)
    assert f"refused the client's credentials (HTTP {status} without an OAuth error" in message
    assert "tried: client_secret_basic, client_secret_basic (raw)" in message
    assert caught.value.status == status


@pytest.mark.parametrize(
    "authentication",
    [ClientSecretBasic(), ClientSecretBasic(form_encode=False), ClientSecretPost()],
    ids=["basic", "basic-raw", "post"],
)
def test_an_explicit_method_never_falls_back(authentication: ClientAuthentication) -> None:
    transport = server(None)
    with pytest.raises(OAuthProviderException):
        client(transport, authentication=authentication).get("/x")
    assert len(transport.requests_to(TOKEN_URL)) == 1


def test_a_form_that_got_a_token_is_not_given_up_on_a_later_refusal() -> None:
    accepted = ["basic-raw"]

    def handle(request: HttpRequest) -> HttpReply:
        if request.url != TOKEN_URL:
            return json_reply(200, {})
        if sent_as(request) in accepted:
            return token_reply("t", expires_in=3600)
        return error_reply("invalid_client", status=401)

    transport, clock = FakeTransport(handler=handle), FakeClock()
    c = client(transport, clock=clock)
    assert c.get("/x").status == 200
    accepted.clear()  # the secret was revoked
    clock.advance(3600)
    with pytest.raises(OAuthProviderException) as caught:
        c.get("/x")
    assert forms_sent(transport) == ["basic", "basic-raw", "basic-raw"]
    assert "tried" not in str(caught.value)


def test_fetch_token_adapts_too_without_the_client_remembering() -> None:
    transport = server("basic-raw")
    c = client(transport)
    assert c.auth_manager.fetch_token().access_token == "t1"
    assert forms_sent(transport) == ["basic", "basic-raw"]
    assert c.auth_manager.state.auth == 0  # fetch_token() holds nothing, learns nothing
