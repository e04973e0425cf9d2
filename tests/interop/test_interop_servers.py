"""ccg against real authorization servers on 127.0.0.1 (issue 10, item 2).

One case matrix, run on every server of `_catalogue.SERVERS`: Authlib, panva's
oidc-provider (opaque and JWT access tokens, resource indicators on), django-oauth-toolkit
and @node-oauth/oauth2-server (raw Basic). Where the servers differ, the expected value
is a field of the server's spec, never a branch on its name.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Final

import msgspec
import pytest

from ccg import (
    ApiClient,
    ClientCredentialsAuthCredentials,
    ConfigurationError,
    Event,
    OAuthProviderException,
    OAuthToken,
)
from ccg.core import StaleRejectionIgnored, TokenInvalidated
from tests.interop._catalogue import (
    NO_GRANT,
    PLAIN,
    READ_ONLY,
    RENEWING,
    SERVERS,
    TOKEN_TTL,
    AuthOutcome,
    Credential,
    Method,
    ServerSpec,
)
from tests.interop._processes import ApiAnswer, RunningServer

pytestmark = pytest.mark.integration

RENEWAL_SECONDS: Final = 5.0
"""How long the renewal case keeps calling the API (tokens live 2 s)."""
CALL_INTERVAL: Final = 0.1
_ANSWER: Final = msgspec.json.Decoder(ApiAnswer)

on_every_server = pytest.mark.parametrize(
    "interop_server", [spec.name for spec in SERVERS], indirect=True
)


class TokenLog:
    """An `o_auth_on_token_update` callback that keeps every token (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: list[OAuthToken] = []

    def __call__(self, token: OAuthToken) -> None:
        with self._lock:
            self._tokens.append(token)

    @property
    def tokens(self) -> list[OAuthToken]:
        with self._lock:
            return list(self._tokens)


def _credentials(
    client_id: str,
    client_secret: str,
    *,
    method: Method = Method.DEFAULT,
    scopes: Sequence[str] | None = None,
    params: Mapping[str, str] | None = None,
    on_token_update: TokenLog | None = None,
) -> ClientCredentialsAuthCredentials:
    authentication = method.authentication()
    if authentication is None:  # Method.DEFAULT: pass nothing, so ccg's default applies
        return ClientCredentialsAuthCredentials(
            o_auth_client_id=client_id,
            o_auth_client_secret=client_secret,
            o_auth_scopes=scopes,
            o_auth_on_token_update=on_token_update,
            o_auth_token_request_params=params,
        )
    return ClientCredentialsAuthCredentials(
        o_auth_client_id=client_id,
        o_auth_client_secret=client_secret,
        o_auth_scopes=scopes,
        o_auth_on_token_update=on_token_update,
        o_auth_token_request_params=params,
        o_auth_client_authentication=authentication,
    )


def _client(
    server: RunningServer,
    credentials: ClientCredentialsAuthCredentials,
    on_event: Callable[[Event], object] | None = None,
) -> ApiClient:
    return ApiClient(
        client_credentials_auth_credentials=credentials,
        token_url=server.token_url,
        base_url=server.base_url,
        on_event=on_event,
    )


def _me(client: ApiClient) -> ApiAnswer:
    """GET /api/me through ccg; the endpoint must accept the token."""
    reply = client.get("/api/me")
    assert reply.status == 200, f"/api/me answered {reply.status}: {reply.body[:200]!r}"
    return _ANSWER.decode(reply.body)


def _refused(
    server: RunningServer, credentials: ClientCredentialsAuthCredentials
) -> OAuthProviderException:
    """The error ccg raises when the server refuses the token request (it issues no token)."""
    client_id = credentials.o_auth_client_id
    before = len(server.token_requests(client_id))
    with _client(server, credentials) as client, pytest.raises(OAuthProviderException) as caught:
        client.get("/api/me")
    assert len(server.token_requests(client_id)) == before
    return caught.value


# -- client authentication: every method, plain and special-character credentials ----------


def _auth_cases(*wanted: AuthOutcome) -> list[object]:
    return list(_each_auth_case(wanted))


def _each_auth_case(wanted: tuple[AuthOutcome, ...]) -> Iterator[object]:
    for spec in SERVERS:
        for (method, credential), outcome in spec.auth_outcomes.items():
            if outcome not in wanted:
                continue
            yield pytest.param(
                spec.name,
                method,
                credential,
                id=f"{spec.name}-{method.value}-{credential.value}",
            )


@pytest.mark.parametrize(
    ("interop_server", "method", "credential"),
    _auth_cases(AuthOutcome.TOKEN, AuthOutcome.TOKEN_AFTER_FALLBACK),
    indirect=["interop_server"],
)
def test_credentials_get_a_token_the_api_accepts(
    interop_server: RunningServer, method: Method, credential: Credential
) -> None:
    registered = credential.client
    outcome = interop_server.spec.auth_outcomes[method, credential]
    before = len(interop_server.token_requests(registered.client_id))
    credentials = _credentials(registered.client_id, registered.client_secret, method=method)
    with _client(interop_server, credentials) as client:
        answer = _me(client)
        assert answer.client_id == registered.client_id
        assert len(interop_server.token_requests(registered.client_id)) == before + 1
        state = client.auth_manager.state
        # The form that got the token is kept: 0 is form-encoded Basic, later ones follow it.
        fell_back = outcome is AuthOutcome.TOKEN_AFTER_FALLBACK
        assert (state.auth > 0) is fell_back
        assert state.auth_settled
        # The next fetch goes straight to that form.
        client.auth_manager.o_auth_token = None
        assert _me(client).client_id == registered.client_id
        assert client.auth_manager.state.auth == state.auth
    assert len(interop_server.token_requests(registered.client_id)) == before + 2


@pytest.mark.parametrize(
    ("interop_server", "method", "credential"),
    _auth_cases(AuthOutcome.INVALID_CLIENT),
    indirect=["interop_server"],
)
def test_garbled_credentials_are_invalid_client(
    interop_server: RunningServer, method: Method, credential: Credential
) -> None:
    registered = credential.client
    error = _refused(
        interop_server,
        _credentials(registered.client_id, registered.client_secret, method=method),
    )
    assert error.error == "invalid_client"
    assert error.status in (400, 401)


@pytest.mark.parametrize(
    ("interop_server", "method", "credential"),
    _auth_cases(AuthOutcome.CCG_REFUSES),
    indirect=["interop_server"],
)
def test_raw_basic_with_a_colon_id_is_refused_before_sending(
    interop_server: RunningServer, method: Method, credential: Credential
) -> None:
    registered = credential.client
    assert ":" in registered.client_id
    before = len(interop_server.token_requests(registered.client_id))
    with pytest.raises(ConfigurationError, match="o_auth_client_id"):
        _credentials(registered.client_id, registered.client_secret, method=method)
    assert len(interop_server.token_requests(registered.client_id)) == before


# -- scopes -------------------------------------------------------------------------------

SCOPE_REQUESTS: Final = {"one": ("read",), "several": ("read", "write"), "none": ()}


@on_every_server
@pytest.mark.parametrize("requested", list(SCOPE_REQUESTS.values()), ids=list(SCOPE_REQUESTS))
def test_requested_scopes_are_granted(
    interop_server: RunningServer, requested: tuple[str, ...]
) -> None:
    spec: ServerSpec = interop_server.spec
    granted = set(requested) if requested else set((spec.scope_without_request or "").split())
    before = len(interop_server.token_requests(PLAIN.client_id))
    credentials = _credentials(PLAIN.client_id, PLAIN.client_secret, scopes=requested)
    with _client(interop_server, credentials) as client:
        answer = _me(client)
        token = client.auth_manager.o_auth_token
    assert answer.scopes == granted
    assert token is not None
    assert set((token.scope or "").split()) == granted
    [sent] = interop_server.token_requests(PLAIN.client_id)[before:]
    assert sent.params.get("scope") == ([" ".join(requested)] if requested else None)


@on_every_server
def test_a_scope_the_client_may_not_have_is_refused(interop_server: RunningServer) -> None:
    assert "write" not in READ_ONLY.scope.split()
    error = _refused(
        interop_server,
        _credentials(READ_ONLY.client_id, READ_ONLY.client_secret, scopes=["write"]),
    )
    assert error.error == interop_server.spec.disallowed_scope_error
    assert error.status == 400


@pytest.mark.parametrize(
    "interop_server",
    [spec.name for spec in SERVERS if spec.unknown_scope_error is not None],
    indirect=True,
)
def test_an_unknown_scope_is_refused(interop_server: RunningServer) -> None:
    error = _refused(
        interop_server,
        _credentials(PLAIN.client_id, PLAIN.client_secret, scopes=["read", "bogus"]),
    )
    assert error.error == interop_server.spec.unknown_scope_error
    assert error.status == 400


@pytest.mark.parametrize(
    "interop_server",
    [spec.name for spec in SERVERS if spec.unknown_scope_error is None],
    indirect=True,
)
def test_an_unknown_scope_is_dropped(interop_server: RunningServer) -> None:
    credentials = _credentials(PLAIN.client_id, PLAIN.client_secret, scopes=["read", "bogus"])
    with _client(interop_server, credentials) as client:
        answer = _me(client)
    assert answer.scopes == {"read"}


# -- refusals -----------------------------------------------------------------------------

EXPLICIT_METHODS: Final = (Method.BASIC, Method.POST)


@on_every_server
@pytest.mark.parametrize("method", EXPLICIT_METHODS, ids=lambda m: m.value)
def test_a_wrong_secret_is_invalid_client(interop_server: RunningServer, method: Method) -> None:
    error = _refused(
        interop_server, _credentials(PLAIN.client_id, "not-" + PLAIN.client_secret, method=method)
    )
    assert error.error == "invalid_client"
    assert error.status == interop_server.spec.wrong_secret_status[method]


@on_every_server
@pytest.mark.parametrize("method", EXPLICIT_METHODS, ids=lambda m: m.value)
def test_an_unknown_client_is_invalid_client(interop_server: RunningServer, method: Method) -> None:
    error = _refused(interop_server, _credentials("no-such-client", "whatever", method=method))
    assert error.error == "invalid_client"
    assert error.status == interop_server.spec.unknown_client_status[method]


@on_every_server
def test_a_client_without_the_grant_is_refused(interop_server: RunningServer) -> None:
    assert "client_credentials" not in NO_GRANT.grants
    error = _refused(interop_server, _credentials(NO_GRANT.client_id, NO_GRANT.client_secret))
    assert error.error == interop_server.spec.no_grant_error
    assert error.status == 400


# -- the protected endpoint, renewal, audience and resource --------------------------------


def _listening_addresses(port: int) -> set[str]:
    """The local addresses of the TCP sockets listening on `port` (Linux /proc/net)."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text("ascii").splitlines()[1:]:
            local, _remote, state = line.split()[1:4]
            address, port_hex = local.split(":")
            if state == "0A" and int(port_hex, 16) == port:
                found.add(address)
    return found


@on_every_server
def test_the_server_listens_on_loopback_only(interop_server: RunningServer) -> None:
    if not Path("/proc/net/tcp").exists():
        pytest.skip("needs Linux /proc/net/tcp")
    port = int(interop_server.base_url.rsplit(":", 1)[1])
    assert _listening_addresses(port) == {"0100007F"}  # 127.0.0.1, little-endian hex


@on_every_server
def test_the_api_validates_the_token(interop_server: RunningServer) -> None:
    with _client(interop_server, _credentials(PLAIN.client_id, PLAIN.client_secret)) as client:
        value = client.auth_manager.token().access_token
    tampered = value[:-4] + ("AAAA" if value[-4:] != "AAAA" else "BBBB")
    assert interop_server.call_api(f"Bearer {value}")[0] == 200
    assert interop_server.call_api(f"Bearer {tampered}")[0] == 401
    assert interop_server.call_api("Bearer ")[0] == 401


@on_every_server
def test_a_two_second_token_is_renewed_in_time_with_its_target(
    interop_server: RunningServer,
) -> None:
    params = interop_server.target_params()
    audience = interop_server.expected_audience()
    before = len(interop_server.token_requests(RENEWING.client_id))
    log = TokenLog()
    credentials = _credentials(
        RENEWING.client_id,
        RENEWING.client_secret,
        scopes=["read"],
        params=params,
        on_token_update=log,
    )
    answers: list[ApiAnswer] = []
    events: list[Event] = []
    with _client(interop_server, credentials, on_event=events.append) as client:
        start = time.monotonic()
        while time.monotonic() - start < RENEWAL_SECONDS:
            answers.append(_me(client))
            time.sleep(CALL_INTERVAL)  # pacing the calls, not waiting for the server
    tokens = log.tokens
    sent = interop_server.token_requests(RENEWING.client_id)[before:]

    assert len(answers) >= RENEWAL_SECONDS / (CALL_INTERVAL * 4)
    # Renewed in time: the API never had to reject a token to make ccg fetch a new one.
    assert [e for e in events if isinstance(e, TokenInvalidated | StaleRejectionIgnored)] == []
    assert {a.client_id for a in answers} == {RENEWING.client_id}
    # Servers round the lifetime they report down (a token saved at x.9 s says 1 s).
    assert all(token.expires_in in (TOKEN_TTL - 1, TOKEN_TTL) for token in tokens)
    assert len(tokens) > 1, "a 2-second token over 5 seconds of calls was never renewed"
    assert len({token.access_token for token in tokens}) == len(tokens)
    assert len(sent) >= len(tokens)
    for request in sent:
        for name, value in params.items():
            assert request.params.get(name) == [value], f"{name} missing on a renewal"
    assert {tuple(a.audiences) for a in answers} == {(audience,) if audience else ()}
    # The server does enforce the 2 seconds: the first token is refused by now.
    assert interop_server.call_api(f"Bearer {tokens[0].access_token}")[0] == 401
