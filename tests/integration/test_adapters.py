"""ccg's adapters inside real HTTP clients, against the real Authlib server on 127.0.0.1.

`ccg.adapters.requests.ClientCredentialsAuth` in a `requests.Session`, and
`ccg.adapters.httpx.ClientCredentialsAuth` in an `httpx.Client` and an `httpx.AsyncClient`,
each over a manager built the way an application builds one:
`ClientCredentialsAuthCredentials(...).create_auth_manager(token_url,
transport=Urllib3Transport())`. Each test gets a fresh server (conftest.py), so its
counters count that test alone; APIs that misbehave on purpose are tiny stdlib servers
on 127.0.0.1 (`RecordingServer` with a rule). Every thread is joined with a timeout and
every coroutine runs under `asyncio.wait_for`.

Covered: the bearer on each request and one token for N calls, for a herd, and for an
`ApiClient` and all three adapters together; recovery from a 401 with one replay (bodies
replayed unchanged, a generator body not replayed), and the cool-down after a second
401; the origin binding; a 403 `insufficient_scope`; the manager's typed errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Final

import httpx
import pytest
import requests

from ccg import (
    ApiClient,
    ConfigurationError,
    OAuthProviderError,
    OAuthProviderException,
    TokenRejectedError,
)
from ccg._demo.authorization_server import AuthorizationServer
from ccg.adapters.httpx import ClientCredentialsAuth as HttpxAuth
from ccg.adapters.requests import ClientCredentialsAuth as RequestsAuth
from ccg.core import FlightStarted, InsufficientScope, TokenInvalidated
from tests.integration._adapter_support import (
    AdapterClient,
    Body,
    EventLog,
    GatedTransport,
    Kind,
    bounded,
    new_manager,
    rejects_every_token,
    servers_settled,
    wants_scope_read,
)
from tests.integration._support import HERD_SIZE, RecordingServer, run_herd

pytestmark = pytest.mark.integration

ME: Final = {"client_id": "test-client", "scope": "read write"}
CALLS: Final = 5
TASK_HERD: Final = 1000
#: A body small enough for the server to have read it whole before it answers 401 unread.
PAYLOAD: Final = b'{"replay": "me"} ' * 40
COOL_DOWN: Final = 30.0  # ResiliencePolicy().cool_down
AT_ONCE: Final = 1.0  # seconds: "at once", generously

ALL_KINDS: Final = list(Kind)
SYNC_KINDS: Final = [Kind.REQUESTS, Kind.HTTPX]


def _echo(server: AuthorizationServer) -> str:
    return f"{server.base_url}/api/echo"


def _chunks() -> Iterator[bytes]:
    yield PAYLOAD[:100]
    yield PAYLOAD[100:]


async def _async_chunks() -> AsyncIterator[bytes]:
    yield PAYLOAD[:100]
    yield PAYLOAD[100:]


def _kind_id(kind: Kind) -> str:
    return kind.value


# -- 1. the bearer, and one token for everyone ------------------------------------------


@pytest.mark.parametrize("kind", ALL_KINDS, ids=_kind_id)
def test_each_adapter_sends_the_bearer_and_n_calls_make_one_token_request(
    kind: Kind, server: AuthorizationServer, recorder: RecordingServer
) -> None:
    manager = new_manager(server.token_url)
    with AdapterClient(kind, manager, [server.base_url, recorder.url]) as client:
        sent = [client.get(server.resource_url) for _ in range(CALLS)]
        client.get(f"{recorder.url}/who-am-i")

    assert [s.status for s in sent] == [200] * CALLS
    assert all(s.json() == ME for s in sent)
    assert all(s.history == () for s in sent)
    assert server.token_requests() == 1
    assert server.resource_requests() == CALLS
    token = manager.o_auth_token
    assert token is not None
    (seen,) = recorder.requests()
    assert seen.header_values("Authorization") == [f"Bearer {token.access_token}"]


@pytest.mark.parametrize("kind", SYNC_KINDS, ids=_kind_id)
def test_a_herd_of_threads_on_a_fresh_manager_makes_one_token_request(
    kind: Kind, server: AuthorizationServer
) -> None:
    manager = new_manager(server.token_url)
    server.set_token_delay(0.2)  # the whole herd arrives while the one flight is out
    if kind is Kind.REQUESTS:
        requests_auth = RequestsAuth(manager, origins=[server.base_url])

        def call() -> int:
            return requests.get(server.resource_url, auth=requests_auth, timeout=10).status_code

        outcome = run_herd(HERD_SIZE, call)
    else:
        with httpx.Client(auth=HttpxAuth(manager, origins=[server.base_url]), timeout=10) as hc:
            outcome = run_herd(HERD_SIZE, lambda: hc.get(server.resource_url).status_code)

    assert outcome.errors == []
    assert outcome.values == [200] * HERD_SIZE
    assert server.token_requests() == 1
    assert server.tokens_issued() == 1
    assert server.resource_requests() == HERD_SIZE


def test_a_herd_of_a_thousand_tasks_on_httpx_async_client_makes_one_token_request(
    server: AuthorizationServer,
) -> None:
    manager = new_manager(server.token_url)
    auth = HttpxAuth(manager, origins=[server.base_url])
    server.set_token_delay(0.2)

    async def main() -> list[int]:
        async with httpx.AsyncClient(auth=auth, timeout=10, transport=GatedTransport(10)) as client:
            replies = await asyncio.gather(
                *(client.get(server.resource_url) for _ in range(TASK_HERD))
            )
        return [reply.status_code for reply in replies]

    statuses = asyncio.run(bounded(main(), 30.0))

    assert statuses == [200] * TASK_HERD
    assert server.token_requests() == 1
    assert server.resource_requests() == TASK_HERD


USERS: Final = ("ApiClient", *(kind.value for kind in Kind))


@pytest.mark.parametrize("first", USERS)
def test_an_api_client_and_all_three_adapters_share_one_token(
    first: str, server: AuthorizationServer, recorder: RecordingServer
) -> None:
    """Whoever fetches it (the async manager too), the others use that token."""
    manager = new_manager(server.token_url)
    origins = [server.base_url, recorder.url]
    api = ApiClient(auth_manager=manager, origins=origins)
    adapters = {kind.value: AdapterClient(kind, manager, origins) for kind in Kind}
    order = [first, *(user for user in USERS if user != first)]

    def status_of(user: str, url: str) -> int:
        return api.get(url).status if user == "ApiClient" else adapters[user].get(url).status

    try:
        statuses = [status_of(user, server.resource_url) for user in order]
        for user in order:
            status_of(user, f"{recorder.url}/{user}")
    finally:
        for adapter in adapters.values():
            adapter.close()
        api.close()

    assert statuses == [200, 200, 200, 200]
    assert server.token_requests() == 1
    token = manager.o_auth_token
    assert token is not None
    bearers = [seen.header_values("Authorization") for seen in recorder.requests()]
    assert bearers == [[f"Bearer {token.access_token}"]] * 4


def test_threads_and_tasks_at_once_on_a_fresh_manager_make_one_token_request(
    server: AuthorizationServer,
) -> None:
    """requests and httpx.Client threads, and httpx.AsyncClient tasks in a loop of their own,
    all during one slow flight: one token request for all of them."""
    events = EventLog()
    manager = new_manager(server.token_url, on_event=events)
    requests_auth = RequestsAuth(manager, origins=[server.base_url])
    httpx_auth = HttpxAuth(manager, origins=[server.base_url])
    server.set_token_delay(0.5)
    task_statuses: list[int] = []
    task_errors: list[BaseException] = []

    async def tasks() -> list[int]:
        async with httpx.AsyncClient(
            auth=httpx_auth, timeout=10, transport=GatedTransport(10)
        ) as client:
            replies = await asyncio.gather(*(client.get(server.resource_url) for _ in range(200)))
        return [reply.status_code for reply in replies]

    def loop() -> None:
        try:
            task_statuses.extend(asyncio.run(bounded(tasks())))
        except BaseException as exc:
            task_errors.append(exc)

    loop_thread = threading.Thread(target=loop, name="adapter-tasks", daemon=True)
    turn = itertools.count()
    with httpx.Client(auth=httpx_auth, timeout=10) as hc:

        def call() -> int:
            if next(turn) % 2:
                return requests.get(server.resource_url, auth=requests_auth, timeout=10).status_code
            return hc.get(server.resource_url).status_code

        loop_thread.start()
        outcome = run_herd(HERD_SIZE, call)
        loop_thread.join(30.0)

    assert not loop_thread.is_alive()
    assert task_errors == []
    assert task_statuses == [200] * 200
    assert outcome.errors == []
    assert outcome.values == [200] * HERD_SIZE
    assert server.token_requests() == 1
    assert sum(isinstance(event, FlightStarted) for event in events.events) == 1


# -- 2. a 401: let the token go, one new token, one replay ---------------------------------


@pytest.mark.parametrize("kind", ALL_KINDS, ids=_kind_id)
def test_after_a_revocation_the_401_is_replayed_once_with_a_new_token(
    kind: Kind, server: AuthorizationServer
) -> None:
    manager = new_manager(server.token_url)
    with AdapterClient(kind, manager, [server.base_url]) as client:
        assert client.get(server.resource_url).status == 200
        revoked = manager.o_auth_token
        assert server.revoke_tokens() == 1
        recovered = client.get(server.resource_url)
        again = client.get(server.resource_url)

    assert recovered.status == 200
    assert recovered.history == (401,)  # the API's 401, then the replay's 200
    assert recovered.json() == ME
    assert again.status == 200
    assert again.history == ()
    assert server.token_requests() == 2
    # The first call, the 401, the replay, the call after.
    assert server.resource_requests() == 4
    assert manager.o_auth_token is not None
    assert manager.o_auth_token != revoked


_HTTPX_BODY_NOT_BUFFERED: Final = (
    "ccg.adapters.httpx.ClientCredentialsAuth overrides sync_auth_flow/async_auth_flow, so "
    "httpx.Auth's own `if self.requires_request_body: request.read()` never runs: "
    "`requires_request_body = True` has no effect and a streamed body is not buffered. "
    "The replay of a file body sends 0 bytes under the first send's Content-Length "
    "(h11: 'Too little data for declared Content-Length')"
)

BODY_CASES: Final = [
    pytest.param(Kind.REQUESTS, "bytes", id="requests.Session-bytes"),
    pytest.param(Kind.REQUESTS, "BytesIO", id="requests.Session-BytesIO"),
    pytest.param(Kind.REQUESTS, "file", id="requests.Session-file"),
    pytest.param(Kind.HTTPX, "bytes", id="httpx.Client-bytes"),
    pytest.param(
        Kind.HTTPX,
        "BytesIO",
        id="httpx.Client-BytesIO",
    ),
    pytest.param(
        Kind.HTTPX,
        "file",
        id="httpx.Client-file",
    ),
    # httpx.AsyncClient takes bytes or async iterators, not sync files.
    pytest.param(Kind.HTTPX_ASYNC, "bytes", id="httpx.AsyncClient-bytes"),
]


@pytest.mark.parametrize(("kind", "body_kind"), BODY_CASES)
def test_a_post_body_is_replayed_unchanged_after_a_401(
    kind: Kind, body_kind: str, server: AuthorizationServer, tmp_path: Path
) -> None:
    manager = new_manager(server.token_url)
    path = tmp_path / "body.json"
    path.write_bytes(PAYLOAD)
    with (
        servers_settled(),
        AdapterClient(kind, manager, [server.base_url]) as client,
        contextlib.ExitStack() as stack,
    ):
        assert client.get(server.resource_url).status == 200
        server.revoke_tokens()
        body: Body
        match body_kind:
            case "bytes":
                body = PAYLOAD
            case "BytesIO":
                body = io.BytesIO(PAYLOAD)
            case _:
                body = stack.enter_context(path.open("rb"))
        echoed = client.post(_echo(server), body)

    assert echoed.status == 200
    assert echoed.history == (401,)
    assert echoed.json()["body"] == PAYLOAD.decode()
    assert server.token_requests() == 2
    assert server.resource_requests() == 3  # the GET, the POST's 401, its replay


def test_requests_does_not_replay_a_generator_body_and_returns_the_401(
    server: AuthorizationServer,
) -> None:
    manager = new_manager(server.token_url)
    with servers_settled(), AdapterClient(Kind.REQUESTS, manager, [server.base_url]) as client:
        assert client.get(server.resource_url).status == 200
        server.revoke_tokens()
        sent = client.post(_echo(server), _chunks())
        after_generator = (server.token_requests(), server.resource_requests())
        following = client.post(_echo(server), PAYLOAD)

    assert sent.status == 401
    assert sent.history == ()
    assert sent.json()["error"] == "invalid_token"
    assert after_generator == (2, 2)  # the token let go and a new one fetched, but no replay
    # The next call (bytes) recovers: one new token in all.
    assert following.status == 200
    assert following.json()["body"] == PAYLOAD.decode()
    assert server.token_requests() == 2


@pytest.mark.parametrize("kind", [Kind.HTTPX, Kind.HTTPX_ASYNC], ids=_kind_id)
def test_httpx_replays_a_generator_body_or_returns_the_401_but_never_raises(
    kind: Kind, server: AuthorizationServer
) -> None:
    manager = new_manager(server.token_url)
    with servers_settled(), AdapterClient(kind, manager, [server.base_url]) as client:
        assert client.get(server.resource_url).status == 200
        server.revoke_tokens()
        body: Body = _chunks() if kind is Kind.HTTPX else _async_chunks()
        sent = client.post(_echo(server), body)

    # Either the body was buffered and replayed (what requires_request_body promises),
    # or, as with requests, the 401 comes back unreplayed.
    assert (sent.status, sent.history) in {(200, (401,)), (401, ())}
    if sent.status == 200:
        assert sent.json()["body"] == PAYLOAD.decode()


@pytest.mark.parametrize("kind", ALL_KINDS, ids=_kind_id)
def test_an_api_that_rejects_every_token_gets_two_tokens_then_a_cool_down(
    kind: Kind, server: AuthorizationServer
) -> None:
    manager = new_manager(server.token_url)
    with (
        RecordingServer(rejects_every_token) as api,
        AdapterClient(kind, manager, [api.url]) as client,
    ):
        first = client.get(f"{api.url}/resource")
        tokens_after_first = server.token_requests()
        started = time.monotonic()
        with pytest.raises(TokenRejectedError) as caught:
            client.get(f"{api.url}/resource")
        elapsed = time.monotonic() - started
        received = api.requests()

    assert first.status == 401
    assert first.history == (401,)  # replayed once, never twice
    assert tokens_after_first == 2
    assert server.token_requests() == 2  # no third token request
    assert len(received) == 2  # the call and its replay; the next call sent nothing
    bearers = [seen.header_values("Authorization") for seen in received]
    assert bearers[0] != bearers[1]
    held = manager.o_auth_token
    assert held is not None
    assert bearers[1] == [f"Bearer {held.access_token}"]
    retry_after = caught.value.retry_after
    assert retry_after is not None
    assert COOL_DOWN - 5 < retry_after <= COOL_DOWN
    assert elapsed < AT_ONCE


# -- 3. origin binding -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ALL_KINDS, ids=_kind_id)
def test_a_request_to_another_origin_raises_before_anything_is_sent(
    kind: Kind, server: AuthorizationServer, recorder: RecordingServer
) -> None:
    manager = new_manager(server.token_url)
    elsewhere = f"{recorder.url}/collect"
    with AdapterClient(kind, manager, [server.base_url]) as client:
        with pytest.raises(ConfigurationError) as caught:
            client.get(elsewhere)
        sent_elsewhere = len(recorder.requests())
        tokens_before_bound_call = server.token_requests()
        bound = client.get(server.resource_url)

    assert caught.value.field == "origins"
    assert str(caught.value).startswith("origins: ")
    assert server.base_url in str(caught.value)  # names the origins it may go to
    assert sent_elsewhere == 0
    assert tokens_before_bound_call == 0  # not even a token was fetched
    assert bound.status == 200  # the bound origin still works


@pytest.mark.parametrize("adapter", [RequestsAuth, HttpxAuth], ids=["requests", "httpx"])
def test_the_origin_error_names_the_refused_origin_with_its_port(
    adapter: type[RequestsAuth] | type[HttpxAuth],
) -> None:
    manager = new_manager("http://127.0.0.1:9/oauth/token")  # never called
    auth = adapter(manager, origins=["http://127.0.0.1:8080"])
    other = "http://127.0.0.1:8081/other"

    def send() -> object:
        if isinstance(auth, RequestsAuth):
            return auth(requests.Request("GET", other).prepare())
        return next(auth.sync_auth_flow(httpx.Request("GET", other)))

    with pytest.raises(ConfigurationError) as caught:
        send()

    assert caught.value.field == "origins"
    assert "http://127.0.0.1:8081" in str(caught.value)


# -- 4. 403 insufficient_scope -------------------------------------------------------------


@pytest.mark.parametrize("kind", ALL_KINDS, ids=_kind_id)
def test_a_403_insufficient_scope_is_returned_without_a_token_request(
    kind: Kind, server: AuthorizationServer
) -> None:
    """'write-only' gets a token, but /api/me needs 'read': the 403 comes back, twice, and
    the token is kept (no new token request, no replay)."""
    events = EventLog()
    manager = new_manager(server.token_url, "write-only", "write-secret", on_event=events)
    with AdapterClient(kind, manager, [server.base_url]) as client:
        first = client.get(server.resource_url)
        held = manager.o_auth_token
        second = client.get(server.resource_url)

    assert (first.status, second.status) == (403, 403)
    assert first.json()["error"] == "insufficient_scope"
    assert (first.history, second.history) == ((), ())
    assert server.token_requests() == 1
    assert server.resource_requests() == 2
    assert held is not None
    assert manager.o_auth_token == held
    assert not any(isinstance(event, TokenInvalidated) for event in events.events)


@pytest.mark.parametrize("user", USERS)
def test_a_403_insufficient_scope_from_authlib_reaches_on_event(
    user: str, server: AuthorizationServer
) -> None:
    events = EventLog()
    manager = new_manager(server.token_url, "write-only", "write-secret", on_event=events)
    if user == "ApiClient":
        with ApiClient(auth_manager=manager, base_url=server.base_url) as api:
            status = api.get(server.resource_url).status
    else:
        with AdapterClient(Kind(user), manager, [server.base_url]) as client:
            status = client.get(server.resource_url).status

    assert status == 403
    scope_events = [event for event in events.events if isinstance(event, InsufficientScope)]
    assert [event.status for event in scope_events] == [403]


@pytest.mark.parametrize("kind", ALL_KINDS, ids=_kind_id)
def test_a_403_with_the_insufficient_scope_challenge_reaches_on_event(
    kind: Kind, server: AuthorizationServer
) -> None:
    """The same 403 from an API that sends RFC 6750's challenge is reported."""
    events = EventLog()
    manager = new_manager(server.token_url, "write-only", "write-secret", on_event=events)
    with (
        RecordingServer(wants_scope_read) as api,
        AdapterClient(kind, manager, [api.url]) as client,
    ):
        sent = client.get(f"{api.url}/reports")
        received = len(api.requests())

    assert sent.status == 403
    assert sent.history == ()
    assert received == 1  # not replayed
    assert server.token_requests() == 1
    scope_events = [event for event in events.events if isinstance(event, InsufficientScope)]
    assert scope_events == [InsufficientScope(status=403, scope="read")]
    assert not any(isinstance(event, TokenInvalidated) for event in events.events)


# -- 5. the manager's typed errors ---------------------------------------------------------


@pytest.mark.parametrize("first", ALL_KINDS, ids=_kind_id)
def test_a_wrong_secret_is_invalid_client_then_the_same_error_at_once_in_the_cool_down(
    first: Kind, server: AuthorizationServer
) -> None:
    manager = new_manager(server.token_url, "test-client", "not-the-secret")
    clients = {kind: AdapterClient(kind, manager, [server.base_url]) for kind in Kind}
    later: list[tuple[Kind, OAuthProviderException, float]] = []
    try:
        with pytest.raises(OAuthProviderException) as caught:
            clients[first].get(server.resource_url)
        tokens_after_first = server.token_requests()
        for kind in [first, *(kind for kind in Kind if kind is not first)]:
            started = time.monotonic()
            with pytest.raises(OAuthProviderException) as again:
                clients[kind].get(server.resource_url)
            later.append((kind, again.value, time.monotonic() - started))
    finally:
        for client in clients.values():
            client.close()

    assert caught.value.error is OAuthProviderError.INVALID_CLIENT
    assert caught.value.status == 401
    assert tokens_after_first == 1
    assert [kind for kind, _, _ in later] == [first, *(k for k in Kind if k is not first)]
    for _kind, error, seconds in later:
        assert error.error is OAuthProviderError.INVALID_CLIENT
        assert error.retry_after is not None
        assert 0 < error.retry_after <= COOL_DOWN
        assert seconds < AT_ONCE
    assert server.token_requests() == 1  # no second token request in the cool-down
    assert server.resource_requests() == 0  # and nothing reached the API
