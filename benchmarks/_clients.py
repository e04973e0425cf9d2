"""The clients compared, each set up the way its users write it.

Every client is built fresh (no token) for one token endpoint and offers:
`call()` one authenticated `GET /api` (fetching a token first if it has none),
`auth_step()` the per-request auth work with a cached token and no network,
`fetch_token()` one token request through the library's own API, and `close()`.

Peers are optional (the `bench` extra): they are loaded with `importlib`, so this
module imports and type-checks whether or not they are installed, and a missing
peer is reported as skipped.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import importlib.util
import json
import math
import os
import threading
import time
import warnings
from collections.abc import Callable, Generator
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Final, Protocol

import urllib3

import ccg
from benchmarks._fixture_server import API_PATH, CLIENT_ID, CLIENT_SECRET, EXPECTED_AUTHORIZATION
from benchmarks.hot_path import LockedFloor
from ccg import (
    TOKEN_REQUEST_LIMITS,
    ApiClient,
    ClientCredentialsAuthCredentials,
    HttpRequest,
    Urllib3Transport,
)
from ccg.core import build_token_request
from ccg.interp._urllib3 import DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT

__all__ = [
    "ALL_KINDS",
    "RAW_POOL",
    "BenchClient",
    "ClientKind",
    "available",
    "available_modules",
    "ccg_token_request",
    "insecure_loopback_env",
    "load",
    "versions",
]


class BenchClient(Protocol):
    """One client under test."""

    def call(self) -> int:
        """One authenticated `GET /api`; the HTTP status."""
        ...

    def auth_step(self) -> Callable[[], object]:
        """The library's per-request auth work, for a token it already holds."""
        ...

    def fetch_token(self) -> object:
        """One token request through the library's own API."""
        ...

    def reconnect(self) -> None:
        """Drop its pooled connections; the next call opens a new one."""
        ...

    def close(self) -> None:
        """Close its connections."""
        ...


@dataclass(frozen=True)
class ClientKind:
    """A way of calling the API: ccg, the raw floors, or a peer library."""

    key: str
    label: str
    modules: tuple[str, ...]
    """Modules it needs; the kind is skipped when one is missing."""
    distributions: tuple[str, ...]
    """Distributions whose versions the report names."""
    build: Callable[[str, str], BenchClient]
    """`build(base_url, token_path)`: a fresh client with no token."""
    entry_modules: tuple[str, ...] = ()
    """What a user imports to use it (import time and memory families)."""
    fetches_tokens: bool = True
    """False for the raw floor, which holds a fixed header."""
    is_floor: bool = False
    is_peer: bool = False


def load(name: str) -> ModuleType:
    """Import `name` quietly (Authlib warns when it falls back to httpx)."""
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("ignore")
        return importlib.import_module(name)


def available_modules(modules: tuple[str, ...]) -> bool:
    """True when every one of `modules` is installed."""
    try:
        return all(importlib.util.find_spec(m) is not None for m in modules)
    except (ImportError, ValueError):
        return False


def available(kind: ClientKind) -> bool:
    """True when every module the kind needs is installed."""
    return available_modules(kind.modules)


def versions(kinds: tuple[ClientKind, ...]) -> list[tuple[str, str]]:
    """(distribution, version) for ccg's stack and every available kind."""
    names = ["ccg", "urllib3", "msgspec", "returns"]
    for kind in kinds:
        if available(kind):
            names.extend(d for d in kind.distributions if d not in names)
    found: list[tuple[str, str]] = []
    for name in names:
        if name == "ccg":
            # The code measured: an editable install's metadata keeps the version it was
            # installed at, however the source has moved on since.
            found.append((name, ccg.__version__))
            continue
        try:
            found.append((name, importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            found.append((name, "not installed"))
    return found


@contextlib.contextmanager
def insecure_loopback_env() -> Generator[None, None, None]:
    """oauthlib refuses http:// unless OAUTHLIB_INSECURE_TRANSPORT is set; ours is 127.0.0.1."""
    names = ("OAUTHLIB_INSECURE_TRANSPORT", "AUTHLIB_INSECURE_TRANSPORT")
    saved = {n: os.environ.get(n) for n in names}
    os.environ.update(dict.fromkeys(names, "1"))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


_TIMEOUT: Final = urllib3.Timeout(connect=DEFAULT_CONNECT_TIMEOUT, read=DEFAULT_READ_TIMEOUT)


def raw_pool() -> urllib3.PoolManager:
    """A PoolManager configured exactly as ccg's `Urllib3Transport` configures its own."""
    return urllib3.PoolManager(maxsize=10, cert_reqs="CERT_REQUIRED", retries=False)


def close_pool_manager(manager: urllib3.PoolManager) -> None:
    """Close every pool of `manager`, then forget them: what ccg's transports do on close.

    urllib3 2.x's `clear()` alone forgets the pools and closes nothing; a floor that
    leaves its sockets to the garbage collector would not pay for closing them, while
    ccg, which closes its own, would pay for it in the next sample.
    """
    pools = manager.pools
    for key in pools.keys():  # noqa: SIM118 - the container is not iterable
        pool = pools.get(key)
        if pool is not None:
            pool.close()
    manager.clear()


def raw_request(
    pool: urllib3.PoolManager,
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes | None = None,
) -> urllib3.BaseHTTPResponse:
    """The urllib3 call ccg's transport makes (no retries, no redirects, same timeouts)."""
    return pool.request(
        method,
        url,
        body=body,
        headers=headers,
        redirect=False,
        retries=False,
        timeout=_TIMEOUT,
        preload_content=True,
    )


def ccg_token_request(base_url: str, token_path: str) -> HttpRequest:
    """The exact token request ccg sends (method, URL, headers, body, default limits)."""
    return build_token_request(
        _ccg_credentials().token_request(base_url + token_path), limits=TOKEN_REQUEST_LIMITS
    )


def _ccg_credentials() -> ClientCredentialsAuthCredentials:
    return ClientCredentialsAuthCredentials(
        o_auth_client_id=CLIENT_ID, o_auth_client_secret=CLIENT_SECRET
    )


# -- ccg ------------------------------------------------------------------------------


class CcgClient:
    """`ApiClient` with the default `Urllib3Transport` (passed in only so it can be closed)."""

    def __init__(
        self, base_url: str, token_path: str, transport: Urllib3Transport | None = None
    ) -> None:
        self.transport = transport or Urllib3Transport()
        self.url = base_url + API_PATH
        self.client = ApiClient(
            client_credentials_auth_credentials=_ccg_credentials(),
            token_url=base_url + token_path,
            base_url=base_url,
            transport=self.transport,
        )

    def call(self) -> int:
        return self.client.get(API_PATH).status

    def auth_step(self) -> Callable[[], object]:
        return self.client.auth_manager.authorization_header

    def request_auth_step(self) -> tuple[str, dict[str, object]]:
        """What `ApiClient.request` does for auth per request, as a timeit statement.

        With its default presenter it takes the token and its `Bearer` header together
        from `auth_manager.bearer()`. It is a statement with its namespace, not a
        function, because ApiClient runs it inline (in `_exchange`): a wrapper would add a
        call ApiClient does not make.
        """
        namespace: dict[str, object] = {"bearer": self.client.auth_manager.bearer}
        return "token, header = bearer()", namespace

    def fetch_token(self) -> object:
        return self.client.auth_manager.fetch_token()

    def reconnect(self) -> None:
        self.transport.close()

    def close(self) -> None:
        self.transport.close()


# -- the floors -----------------------------------------------------------------------


class RawUrllib3:
    """The floor for requests: a PoolManager and a fixed `Authorization` header."""

    def __init__(self, base_url: str, token_path: str) -> None:
        del token_path  # the floor fetches no token
        self.pool = raw_pool()
        self.url = base_url + API_PATH
        self.headers = {"Authorization": EXPECTED_AUTHORIZATION}
        self.floor = LockedFloor(EXPECTED_AUTHORIZATION, time.monotonic() + 3600)

    def call(self) -> int:
        return raw_request(self.pool, "GET", self.url, self.headers).status

    def auth_step(self) -> Callable[[], object]:
        return self.floor.header

    def fetch_token(self) -> object:
        raise NotImplementedError("the raw floor holds a fixed header")

    def reconnect(self) -> None:
        self.pool.clear()

    def close(self) -> None:
        self.pool.clear()


class RawConnectionPool:
    """The lowest urllib3 floor: one `HTTPConnectionPool.urlopen` per request, fixed header.

    What `PoolManager.request` does before it reaches the pool (parse the URL, build the
    pool key, look the pool up, make a `Retry`) is done once here, at construction: this
    is what urllib3 costs when nothing but the request itself is left. ccg's transport
    routes a plain `PoolManager` this way too (`ccg/interp/_urllib3.py`), so the gap
    between ccg and this row is what ccg adds on top of urllib3.
    """

    def __init__(self, base_url: str, token_path: str) -> None:
        del token_path  # the floor fetches no token
        self.manager = raw_pool()
        self.url = base_url + API_PATH
        self.pool = self.manager.connection_from_url(self.url)
        self.headers = {"Authorization": EXPECTED_AUTHORIZATION}
        self.retries = urllib3.Retry(total=False, redirect=False)

    def call(self) -> int:
        return self.pool.urlopen(
            "GET",
            API_PATH,
            headers=self.headers,
            retries=self.retries,
            redirect=False,
            assert_same_host=False,
            timeout=_TIMEOUT,
            preload_content=True,
        ).status

    def auth_step(self) -> Callable[[], object]:
        raise NotImplementedError("the connection-pool floor is for the steady state only")

    def fetch_token(self) -> object:
        raise NotImplementedError("the connection-pool floor holds a fixed header")

    def reconnect(self) -> None:
        self.close()  # the manager makes a new pool, hence a new connection
        self.pool = self.manager.connection_from_url(self.url)

    def close(self) -> None:
        self.pool.close()  # urllib3 2.x: clear() alone forgets the pool, closes nothing
        self.manager.clear()


class HandWritten:
    """The hand-written floor: raw urllib3 and a lock-guarded token cache that fetches itself.

    The cache is `LockedFloor`'s (a lock, a clock check, a prebuilt header); when the
    token is missing or expired it fetches under the lock (single flight, the simplest
    way): a raw POST of ccg's exact token request, `json.loads`, and ccg's renewal rule
    (`min(60 s, expires_in / 2)` before expiry).
    """

    def __init__(self, base_url: str, token_path: str) -> None:
        self.pool = raw_pool()
        self.url = base_url + API_PATH
        token_request = ccg_token_request(base_url, token_path)
        self.token_url = token_request.url
        self.token_headers = dict(token_request.headers)
        self.token_body = token_request.body
        self._lock = threading.Lock()
        self._header = ""
        self._until = -math.inf

    def header(self) -> str:
        with self._lock:
            if time.monotonic() < self._until:
                return self._header
            token = self.fetch_token()
            lifetime = float(token["expires_in"])
            self._header = "Bearer " + str(token["access_token"])
            self._until = time.monotonic() + lifetime - min(60.0, lifetime / 2)
            return self._header

    def hold(self, header: str, until: float) -> None:
        """Hold `header` until `until` (monotonic), as if fetched earlier (resilience families)."""
        with self._lock:
            self._header = header
            self._until = until

    def call(self) -> int:
        return raw_request(self.pool, "GET", self.url, {"Authorization": self.header()}).status

    def auth_step(self) -> Callable[[], object]:
        return self.header

    def fetch_token(self) -> dict[str, Any]:
        reply = raw_request(self.pool, "POST", self.token_url, self.token_headers, self.token_body)
        if reply.status != 200:
            raise RuntimeError(f"token endpoint returned {reply.status}")
        token: dict[str, Any] = json.loads(reply.data)
        return token

    def reconnect(self) -> None:
        self.pool.clear()

    def close(self) -> None:
        self.pool.clear()


# -- peers ----------------------------------------------------------------------------


class AuthlibRequests:
    """Authlib `OAuth2Session` (requests), renewing through `ensure_active_token`.

    Authlib sends nothing without a token (`MissingTokenError`), so `call` has the
    usual guard `if not session.token: session.fetch_token()`.
    """

    def __init__(self, base_url: str, token_path: str) -> None:
        module = load("authlib.integrations.requests_client")
        self.requests = load("requests")
        self.session: Any = module.OAuth2Session(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            token_endpoint=base_url + token_path,
            grant_type="client_credentials",
        )
        self.url = base_url + API_PATH

    def call(self) -> int:
        if not self.session.token:
            self.session.fetch_token()
        return int(self.session.get(self.url).status_code)

    def auth_step(self) -> Callable[[], object]:
        request = self.requests.Request("GET", self.url).prepare()
        auth = self.session.token_auth  # OAuth2Auth: ensure_active_token + bearer header

        def step() -> object:
            return auth(request)

        return step

    def fetch_token(self) -> object:
        return self.session.fetch_token()

    def reconnect(self) -> None:
        self.session.close()  # closes the adapters' pools; the session stays usable

    def close(self) -> None:
        self.session.close()


class AuthlibHttpx:
    """Authlib's httpx `OAuth2Client`, renewing through `ensure_active_token`."""

    def __init__(self, base_url: str, token_path: str) -> None:
        module = load("authlib.integrations.httpx_client")
        self.httpx = load("httpx")
        self.client: Any = module.OAuth2Client(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            token_endpoint=base_url + token_path,
            grant_type="client_credentials",
        )
        self.url = base_url + API_PATH

    def call(self) -> int:
        if not self.client.token:
            self.client.fetch_token()
        return int(self.client.get(self.url).status_code)

    def auth_step(self) -> Callable[[], object]:
        client = self.client
        request = self.httpx.Request("GET", self.url)
        auth = client.token_auth

        def step() -> object:
            # What OAuth2Client.request and httpx do per request before sending.
            if not client.ensure_active_token(client.token):
                raise RuntimeError("inactive token")
            return next(auth.sync_auth_flow(request))

        return step

    def fetch_token(self) -> object:
        return self.client.fetch_token()

    def reconnect(self) -> None:
        self.client._transport.close()  # closes the httpcore pool; the client stays usable

    def close(self) -> None:
        self.client.close()


class RequestsOAuthlib:
    """requests-oauthlib `OAuth2Session(client=BackendApplicationClient(...))`.

    It renews only with a refresh token, which client credentials do not get; users
    catch `TokenExpiredError` and fetch again, as `call` does.
    """

    def __init__(self, base_url: str, token_path: str) -> None:
        module = load("requests_oauthlib")
        oauth2 = load("oauthlib.oauth2")
        self.expired: type[Exception] = oauth2.TokenExpiredError
        self.session: Any = module.OAuth2Session(
            client=oauth2.BackendApplicationClient(client_id=CLIENT_ID)
        )
        self.token_url = base_url + token_path
        self.url = base_url + API_PATH

    def fetch_token(self) -> object:
        return self.session.fetch_token(
            token_url=self.token_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
        )

    def call(self) -> int:
        if not self.session.token:
            self.fetch_token()
        try:
            reply = self.session.get(self.url)
        except self.expired:
            self.fetch_token()
            reply = self.session.get(self.url)
        return int(reply.status_code)

    def auth_step(self) -> Callable[[], object]:
        client = self.session._client  # the oauthlib client that OAuth2Session.request calls
        url = self.url
        headers: dict[str, str] = {}

        def step() -> object:
            return client.add_token(url, http_method="GET", body=None, headers=headers)

        return step

    def reconnect(self) -> None:
        self.session.close()  # closes the adapters' pools; the session stays usable

    def close(self) -> None:
        self.session.close()


class HttpxAuth:
    """httpx-auth `OAuth2ClientCredentials` as the `auth` of an `httpx.Client`.

    Its token cache is process-wide (`OAuth2.token_cache`), so a fresh client first
    drops this client's entry, as a fresh process would start without it.
    """

    def __init__(self, base_url: str, token_path: str) -> None:
        module = load("httpx_auth")
        self.httpx = load("httpx")
        self.auth: Any = module.OAuth2ClientCredentials(
            base_url + token_path, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
        )
        cache = module.OAuth2.token_cache
        with cache._forbid_concurrent_cache_access:
            cache.tokens.pop(self.auth.state, None)
        self.client: Any = self.httpx.Client(auth=self.auth)
        self.url = base_url + API_PATH

    def call(self) -> int:
        return int(self.client.get(self.url).status_code)

    def auth_step(self) -> Callable[[], object]:
        request = self.httpx.Request("GET", self.url)
        auth = self.auth

        def step() -> object:
            return next(auth.sync_auth_flow(request))

        return step

    def fetch_token(self) -> object:
        # What it runs on a cache miss: a new httpx.Client per token request.
        return self.auth.request_new_token()

    def reconnect(self) -> None:
        self.client._transport.close()  # closes the httpcore pool; the client stays usable

    def close(self) -> None:
        self.client.close()


CCG: Final = ClientKind(
    key="ccg",
    label="ccg ApiClient (Urllib3Transport)",
    modules=("ccg",),
    distributions=("ccg",),
    build=CcgClient,
    entry_modules=("ccg",),
)
RAW: Final = ClientKind(
    key="raw",
    label="raw urllib3, fixed header (floor)",
    modules=("urllib3",),
    distributions=("urllib3",),
    build=RawUrllib3,
    entry_modules=("urllib3",),
    fetches_tokens=False,
    is_floor=True,
)
RAW_POOL: Final = ClientKind(
    key="raw-pool",
    label="raw urllib3 HTTPConnectionPool.urlopen, fixed header",
    modules=("urllib3",),
    distributions=("urllib3",),
    build=RawConnectionPool,
    entry_modules=("urllib3",),
    fetches_tokens=False,
    is_floor=True,
)
"""Steady state only: the other families have no use for a second fixed-header floor."""
HAND_WRITTEN: Final = ClientKind(
    key="hand-written",
    label="hand-written: raw urllib3 + locked cache",
    modules=("urllib3",),
    distributions=("urllib3",),
    build=HandWritten,
    entry_modules=("urllib3",),
    is_floor=True,
)
PEERS: Final = (
    ClientKind(
        key="authlib-requests",
        label="Authlib OAuth2Session (requests)",
        modules=("authlib", "requests"),
        distributions=("authlib", "requests"),
        build=AuthlibRequests,
        entry_modules=("authlib.integrations.requests_client",),
        is_peer=True,
    ),
    ClientKind(
        key="authlib-httpx",
        label="Authlib OAuth2Client (httpx)",
        modules=("authlib", "httpx"),
        distributions=("authlib", "httpx"),
        build=AuthlibHttpx,
        entry_modules=("authlib.integrations.httpx_client",),
        is_peer=True,
    ),
    ClientKind(
        key="requests-oauthlib",
        label="requests-oauthlib OAuth2Session",
        modules=("requests_oauthlib", "oauthlib"),
        distributions=("requests-oauthlib", "oauthlib", "requests"),
        build=RequestsOAuthlib,
        entry_modules=("requests_oauthlib",),
        is_peer=True,
    ),
    ClientKind(
        key="httpx-auth",
        label="httpx-auth OAuth2ClientCredentials",
        modules=("httpx_auth", "httpx"),
        distributions=("httpx-auth", "httpx"),
        build=HttpxAuth,
        entry_modules=("httpx_auth",),
        is_peer=True,
    ),
)
ALL_KINDS: Final = (RAW, HAND_WRITTEN, CCG, *PEERS)
