"""The asyncio clients compared (the async families), each set up the way its users write it.

Every client calls `GET /api` with `await call()` (fetching a token first if it has none),
and runs over an `httpx.AsyncHTTPTransport` the harness builds the way ccg's
`HttpxAsyncTransport` builds its own client's (TLS verified, proxy variables ignored, up to
100 connections, no keep-alive cap, its timeouts): the clients differ in their auth alone, and
`reconnect()` can drop a client's connections (`AsyncHTTPTransport.aclose()` leaves the
transport usable) so that no client keeps one lucky nginx worker for a whole run.

httpx is imported here (ccg's `httpx` extra); the peers (the `bench` extra) are loaded
with `importlib`, as in `benchmarks._clients`, and a missing peer is skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

import httpx

from benchmarks._clients import available_modules, load
from benchmarks._fixture_server import API_PATH, CLIENT_ID, CLIENT_SECRET, EXPECTED_AUTHORIZATION
from ccg import ClientCredentialsAuthCredentials, Clock, Urllib3Transport
from ccg.adapters.httpx import ClientCredentialsAuth as CcgHttpxAuth
from ccg.aio import AsyncApiClient, AsyncClientCredentialsAuthManager, HttpxAsyncTransport
from ccg.interp import SYSTEM_CLOCK
from ccg.interp._urllib3 import DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT

__all__ = [
    "ASYNC_CCG",
    "ASYNC_CCG_HTTPX",
    "ASYNC_KINDS",
    "ASYNC_RAW",
    "AsyncBenchClient",
    "AsyncKind",
    "ccg_credentials",
    "pool_transport",
]

MAX_CONNECTIONS: Final = 100
"""`HttpxAsyncTransport`'s default; every client here gets the same."""
TIMEOUT: Final = httpx.Timeout(
    connect=DEFAULT_CONNECT_TIMEOUT,
    read=DEFAULT_READ_TIMEOUT,
    write=DEFAULT_READ_TIMEOUT,
    pool=DEFAULT_CONNECT_TIMEOUT,
)
"""`HttpxAsyncTransport`'s timeouts (httpx's default is 5 s for all four); every client
here gets the same, so a herd that queues for connections fails alike or not at all."""


def pool_transport() -> httpx.AsyncHTTPTransport:
    """The connection pool `HttpxAsyncTransport()` would build for its own `AsyncClient`."""
    return httpx.AsyncHTTPTransport(
        verify=True, trust_env=False, limits=httpx.Limits(max_connections=MAX_CONNECTIONS)
    )


def ccg_credentials() -> ClientCredentialsAuthCredentials:
    """The fixture's client id and secret."""
    return ClientCredentialsAuthCredentials(
        o_auth_client_id=CLIENT_ID, o_auth_client_secret=CLIENT_SECRET
    )


class AsyncBenchClient(Protocol):
    """One asyncio client under test."""

    async def call(self) -> int:
        """One authenticated `GET /api`; the HTTP status."""
        ...

    async def reconnect(self) -> None:
        """Drop its pooled connections; the next call opens a new one."""
        ...

    async def open_connection(self) -> None:
        """One request without a token (a 401), so its pool holds an open connection."""
        ...

    async def aclose(self) -> None:
        """Close everything it opened."""
        ...


@dataclass(frozen=True)
class AsyncKind:
    """A way of calling the API from asyncio: ccg, the raw floor, or a peer."""

    key: str
    label: str
    modules: tuple[str, ...]
    """Modules it needs; the kind is skipped when one is missing."""
    build: Callable[[str, str], AsyncBenchClient]
    """`build(base_url, token_path)`: a fresh client with no token (call it on the loop)."""
    fetches_tokens: bool = True
    is_floor: bool = False
    is_peer: bool = False

    @property
    def available(self) -> bool:
        """True when every module it needs is installed."""
        return available_modules(self.modules)


class RawHttpx:
    """The floor: an `httpx.AsyncClient` sending a fixed `Authorization` header."""

    def __init__(self, base_url: str, token_path: str) -> None:
        del token_path  # the floor fetches no token
        self.pool = pool_transport()
        self.client = httpx.AsyncClient(
            transport=self.pool, timeout=TIMEOUT, follow_redirects=False, trust_env=False
        )
        self.url = base_url + API_PATH
        self.headers = {"Authorization": EXPECTED_AUTHORIZATION}

    async def call(self) -> int:
        return (await self.client.get(self.url, headers=self.headers)).status_code

    async def open_connection(self) -> None:
        await self.client.get(self.url)

    async def reconnect(self) -> None:
        await self.pool.aclose()

    async def aclose(self) -> None:
        await self.client.aclose()


class CcgAsync:
    """`AsyncApiClient` over an `HttpxAsyncTransport` (its own default, on the harness's pool)."""

    def __init__(self, base_url: str, token_path: str, clock: Clock = SYSTEM_CLOCK) -> None:
        self.pool = pool_transport()
        self.httpx_client = httpx.AsyncClient(
            transport=self.pool, timeout=TIMEOUT, follow_redirects=False, trust_env=False
        )
        self.client = AsyncApiClient(
            client_credentials_auth_credentials=ccg_credentials(),
            token_url=base_url + token_path,
            base_url=base_url,
            transport=HttpxAsyncTransport(client=self.httpx_client),
            clock=clock,
        )

    async def call(self) -> int:
        return (await self.client.get(API_PATH)).status

    async def open_connection(self) -> None:
        await self.client.request("GET", API_PATH, requires_auth=False)

    async def reconnect(self) -> None:
        await self.pool.aclose()

    async def aclose(self) -> None:
        await self.httpx_client.aclose()


class CcgHttpxAdapter:
    """`httpx.AsyncClient(auth=ccg.adapters.httpx.ClientCredentialsAuth(manager, origins=...))`.

    As the README writes it: a threaded manager over a `Urllib3Transport`, whose async
    flow runs over `AsyncClientCredentialsAuthManager.sharing(manager, transport=
    HttpxAsyncTransport())` (made here, as the adapter would make it, so it can be closed).
    """

    def __init__(self, base_url: str, token_path: str, clock: Clock = SYSTEM_CLOCK) -> None:
        self.token_transport = HttpxAsyncTransport()
        self.sync_transport = Urllib3Transport()
        self.manager = ccg_credentials().create_auth_manager(
            base_url + token_path, transport=self.sync_transport, clock=clock
        )
        self.auth = CcgHttpxAuth(
            self.manager,
            origins=[base_url],
            async_auth_manager=AsyncClientCredentialsAuthManager.sharing(
                self.manager, transport=self.token_transport
            ),
        )
        self.pool = pool_transport()
        self.client = httpx.AsyncClient(
            auth=self.auth,
            transport=self.pool,
            timeout=TIMEOUT,
            follow_redirects=False,
            trust_env=False,
        )
        self.url = base_url + API_PATH

    async def call(self) -> int:
        return (await self.client.get(self.url)).status_code

    async def open_connection(self) -> None:
        await self.client.get(self.url, auth=None)

    async def reconnect(self) -> None:
        await self.pool.aclose()

    async def aclose(self) -> None:
        await self.client.aclose()
        await self.token_transport.aclose()
        self.sync_transport.close()


class AuthlibAsync:
    """Authlib's `AsyncOAuth2Client`, renewing through `ensure_active_token`.

    Authlib sends nothing without a token (`MissingTokenError`), so `call` has the usual
    guard `if not client.token: await client.fetch_token()`.
    """

    def __init__(self, base_url: str, token_path: str) -> None:
        module = load("authlib.integrations.httpx_client")
        self.pool = pool_transport()
        self.client: Any = module.AsyncOAuth2Client(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            token_endpoint=base_url + token_path,
            grant_type="client_credentials",
            transport=self.pool,
            timeout=TIMEOUT,
            trust_env=False,
        )
        self.url = base_url + API_PATH

    async def call(self) -> int:
        if not self.client.token:
            await self.client.fetch_token()
        return int((await self.client.get(self.url)).status_code)

    async def open_connection(self) -> None:
        await self.client.request("GET", self.url, withhold_token=True)

    async def reconnect(self) -> None:
        await self.pool.aclose()

    async def aclose(self) -> None:
        await self.client.aclose()


class HttpxAuthAsync:
    """httpx-auth `OAuth2ClientCredentials` as the `auth` of an `httpx.AsyncClient`.

    httpx-auth has no async flow of its own: httpx runs its `auth_flow` in the event loop,
    and a token request on a cache miss is a blocking `httpx.Client` POST. Its token cache
    is process-wide, so a fresh client first drops its entry, as a fresh process would.
    """

    def __init__(self, base_url: str, token_path: str) -> None:
        module = load("httpx_auth")
        self.auth: Any = module.OAuth2ClientCredentials(
            base_url + token_path, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
        )
        cache = module.OAuth2.token_cache
        with cache._forbid_concurrent_cache_access:
            cache.tokens.pop(self.auth.state, None)
        self.pool = pool_transport()
        self.client = httpx.AsyncClient(
            auth=self.auth,
            transport=self.pool,
            timeout=TIMEOUT,
            follow_redirects=False,
            trust_env=False,
        )
        self.url = base_url + API_PATH

    async def call(self) -> int:
        return (await self.client.get(self.url)).status_code

    async def open_connection(self) -> None:
        await self.client.get(self.url, auth=None)

    async def reconnect(self) -> None:
        await self.pool.aclose()

    async def aclose(self) -> None:
        await self.client.aclose()


ASYNC_RAW: Final = AsyncKind(
    key="raw-httpx",
    label="raw httpx.AsyncClient, fixed header (floor)",
    modules=("httpx",),
    build=RawHttpx,
    fetches_tokens=False,
    is_floor=True,
)
ASYNC_CCG: Final = AsyncKind(
    key="ccg-async",
    label="ccg AsyncApiClient (HttpxAsyncTransport)",
    modules=("httpx",),
    build=CcgAsync,
)
ASYNC_CCG_HTTPX: Final = AsyncKind(
    key="ccg-httpx-auth",
    label="ccg httpx adapter: AsyncClient(auth=ClientCredentialsAuth)",
    modules=("httpx",),
    build=CcgHttpxAdapter,
)
ASYNC_PEERS: Final = (
    AsyncKind(
        key="authlib-async",
        label="Authlib AsyncOAuth2Client (httpx)",
        modules=("authlib", "httpx"),
        build=AuthlibAsync,
        is_peer=True,
    ),
    AsyncKind(
        key="httpx-auth-async",
        label="httpx-auth OAuth2ClientCredentials (AsyncClient)",
        modules=("httpx_auth", "httpx"),
        build=HttpxAuthAsync,
        is_peer=True,
    ),
)
ASYNC_KINDS: Final = (ASYNC_RAW, ASYNC_CCG, ASYNC_CCG_HTTPX, *ASYNC_PEERS)
