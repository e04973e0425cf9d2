"""Helpers for test_adapters.py: one way to call an API through each adapter, with the real
client of each kind (`requests.Session`, `httpx.Client`, `httpx.AsyncClient`), plus tiny
API answers and an event recorder.

Everything talks to 127.0.0.1 only, and every wait is bounded: requests by the clients'
timeouts, coroutines by `asyncio.wait_for`.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import threading
from collections.abc import AsyncIterator, Coroutine, Generator, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import IO, Any, Final, Self, TypeVar

import httpx
import msgspec
import requests

from ccg import (
    ClientCredentialsAuthCredentials,
    ClientCredentialsAuthManager,
    Event,
    Urllib3Transport,
)
from ccg.adapters.httpx import ClientCredentialsAuth as HttpxAuth
from ccg.adapters.requests import ClientCredentialsAuth as RequestsAuth
from tests.integration._support import RecordedRequest, Reply, wait_until

__all__ = [
    "BOUND",
    "AdapterClient",
    "Body",
    "EventLog",
    "GatedTransport",
    "Kind",
    "Sent",
    "bounded",
    "new_manager",
    "rejects_every_token",
    "servers_settled",
    "wants_scope_read",
]

T = TypeVar("T")

#: Seconds any one request, or one coroutine run, may take before the test fails.
BOUND: Final = 20.0
_TIMEOUT: Final = 10.0  # the clients' own connect/read timeouts


class Kind(enum.Enum):
    """Which real HTTP client carries the adapter."""

    REQUESTS = "requests.Session"
    HTTPX = "httpx.Client"
    HTTPX_ASYNC = "httpx.AsyncClient"


Body = bytes | IO[bytes] | Iterator[bytes] | AsyncIterator[bytes] | None


@dataclass(frozen=True)
class Sent:
    """What a call through an adapter got back."""

    status: int
    history: tuple[int, ...]  # statuses of the responses before this one (a replayed 401)
    content: bytes

    def json(self) -> dict[str, object]:
        return msgspec.json.decode(self.content, type=dict[str, object])


def new_manager(
    token_url: str,
    client_id: str = "test-client",
    secret: str = "test-secret",
    *,
    on_event: EventLog | None = None,
) -> ClientCredentialsAuthManager:
    """A fresh manager, built the way an application builds one for an adapter."""
    return ClientCredentialsAuthCredentials(client_id, secret).create_auth_manager(
        token_url, transport=Urllib3Transport(), on_event=on_event
    )


async def bounded(main: Coroutine[Any, Any, T], seconds: float = BOUND) -> T:
    """`main`, cancelled (TimeoutError) if it runs longer than `seconds`."""
    return await asyncio.wait_for(main, seconds)


class AdapterClient:
    """One adapter over `manager`, bound to `origins`, inside one real client of `kind`.

    The async kind keeps one event loop (an `asyncio.Runner`) for its whole life, as an
    application does, so the adapter's async manager (made on first use) lives in one loop.
    """

    def __init__(
        self, kind: Kind, manager: ClientCredentialsAuthManager, origins: list[str]
    ) -> None:
        self.kind = kind
        self.auth: RequestsAuth | HttpxAuth
        self._session: requests.Session | None = None
        self._client: httpx.Client | None = None
        self._async_client: httpx.AsyncClient | None = None
        self._runner: asyncio.Runner | None = None
        match kind:
            case Kind.REQUESTS:
                self.auth = RequestsAuth(manager, origins=origins)
                self._session = requests.Session()
                self._session.auth = self.auth
            case Kind.HTTPX:
                self.auth = HttpxAuth(manager, origins=origins)
                self._client = httpx.Client(auth=self.auth, timeout=_TIMEOUT)
            case Kind.HTTPX_ASYNC:
                self.auth = HttpxAuth(manager, origins=origins)
                self._runner = asyncio.Runner()
                self._async_client = httpx.AsyncClient(auth=self.auth, timeout=_TIMEOUT)

    def get(self, url: str) -> Sent:
        return self.request("GET", url)

    def post(self, url: str, body: Body) -> Sent:
        return self.request("POST", url, body)

    def request(self, method: str, url: str, body: Body = None) -> Sent:
        """Send one request through the adapter; the adapter's errors propagate."""
        if self._session is not None:
            assert not isinstance(body, AsyncIterator), "requests sends sync bodies only"
            response = self._session.request(method, url, data=body, timeout=_TIMEOUT)
            history = tuple(r.status_code for r in response.history)
            return Sent(response.status_code, history, response.content)
        if self._client is not None:
            assert not isinstance(body, AsyncIterator), "httpx.Client sends sync bodies only"
            reply = self._client.request(method, url, content=body)
            return Sent(
                reply.status_code, tuple(r.status_code for r in reply.history), reply.content
            )
        assert self._runner is not None
        assert self._async_client is not None
        assert body is None or isinstance(body, bytes | AsyncIterator), (
            "httpx.AsyncClient sends bytes or async iterators"
        )
        reply = self._runner.run(bounded(self._async_client.request(method, url, content=body)))
        return Sent(reply.status_code, tuple(r.status_code for r in reply.history), reply.content)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
        if self._client is not None:
            self._client.close()
        if self._runner is not None:
            if self._async_client is not None:
                self._runner.run(bounded(self._async_client.aclose()))
            self._runner.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _handling_requests() -> bool:
    """True while a socketserver thread (werkzeug's or http.server's) handles a request."""
    return any(
        thread.is_alive() and "process_request_thread" in thread.name
        for thread in threading.enumerate()
    )


@contextlib.contextmanager
def servers_settled(timeout: float = 5.0) -> Generator[None]:
    """On the way out, wait (bounded) until no server thread is still handling a request.

    A request cut off mid-body (a failed replay) makes Flask log a traceback from the
    server's thread; on Python 3.11.7 formatting a traceback runs `ast.parse`, which is
    not thread-safe there (CPython gh-106905: "AST constructor recursion depth mismatch"),
    so it must not overlap pytest formatting the test's own exception.
    """
    try:
        yield
    finally:
        with contextlib.suppress(AssertionError):  # still busy after `timeout`: go on
            wait_until(lambda: not _handling_requests(), timeout=timeout)


class GatedTransport(httpx.AsyncBaseTransport):
    """httpx's own `AsyncHTTPTransport`, entered by at most `limit` requests at a time.

    A thousand requests queued inside one httpcore pool cost time quadratic in the
    queue (each release rescans it), enough to time the herd out; an asyncio
    semaphore queues them in O(1) instead. The auth flow (the token) runs before the
    transport, so every task still asks the adapter for its token at once.
    """

    def __init__(self, limit: int) -> None:
        self._inner = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=limit))
        self._gate = asyncio.Semaphore(limit)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        async with self._gate:
            response = await self._inner.handle_async_request(request)
            await response.aread()  # release the connection before the next request enters
            return response

    async def aclose(self) -> None:
        await self._inner.aclose()


class EventLog:
    """An `on_event` hook that records every event (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[Event] = []

    def __call__(self, event: Event) -> None:
        with self._lock:
            self._events.append(event)

    @property
    def events(self) -> list[Event]:
        with self._lock:
            return list(self._events)


def rejects_every_token(_request: RecordedRequest) -> Reply:
    """An API that answers every request 401 `invalid_token`, whatever the bearer."""
    return (
        401,
        [
            ("WWW-Authenticate", 'Bearer error="invalid_token"'),
            ("Content-Type", "application/json"),
        ],
        b'{"error": "invalid_token"}',
    )


def wants_scope_read(_request: RecordedRequest) -> Reply:
    """An API that answers 403 with the RFC 6750 §3.1 challenge for a missing `read` scope."""
    return (
        403,
        [
            ("WWW-Authenticate", 'Bearer error="insufficient_scope", scope="read"'),
            ("Content-Type", "application/json"),
        ],
        b'{"error": "insufficient_scope"}',
    )
