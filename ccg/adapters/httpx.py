"""`ClientCredentialsAuth`: ccg as an `httpx.Auth`, for `httpx.Client` and `httpx.AsyncClient`
(`pip install 'ccg[httpx]'`).

    auth = ClientCredentialsAuth(manager, origins=["https://api.example"])
    httpx.Client(auth=auth)        # sync_auth_flow: the threaded manager
    httpx.AsyncClient(auth=auth)   # async_auth_flow: an async manager over the same state

Both flows read one token cache and share one flight (see
`AsyncClientCredentialsAuthManager.sharing`). A 401 lets the token go and replays the
request once with a new one (the body is read first and kept, so even a generator body
can be sent again).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Generator, Iterable

import httpx

from ccg._api_calls import insufficient_scope, rejection
from ccg._errors import TokenAcquisitionError
from ccg.adapters._binding import adapter_origins, reply_of
from ccg.interp import AsyncClientCredentialsAuthManager, ClientCredentialsAuthManager
from ccg.interp._httpx import HttpxAsyncTransport

__all__ = ["ClientCredentialsAuth"]


def _headers(response: httpx.Response) -> tuple[tuple[str, str], ...]:
    return tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw)


class ClientCredentialsAuth(httpx.Auth):
    """An `httpx.Auth` over a ccg token manager, bound to `origins`.

    `auth_manager` serves `httpx.Client`; `httpx.AsyncClient` is served by
    `async_auth_manager`, by default an async manager over `auth_manager`'s own state
    (made on first use, with an `HttpxAsyncTransport` for its token requests). A request
    to any other origin raises `ConfigurationError` before it is sent.
    """

    requires_request_body = True

    def __init__(
        self,
        auth_manager: ClientCredentialsAuthManager,
        *,
        origins: Iterable[str],
        async_auth_manager: AsyncClientCredentialsAuthManager | None = None,
        allow_insecure_http: bool = False,
    ) -> None:
        self.auth_manager = auth_manager
        """The threaded token manager (the sync flow's)."""
        self._async_manager = async_auth_manager
        self._own_transport: HttpxAsyncTransport | None = None
        self._origins = adapter_origins(origins, allow_insecure_http)

    @property
    def async_auth_manager(self) -> AsyncClientCredentialsAuthManager:
        """The async flow's manager (over `auth_manager`'s state unless one was given)."""
        if self._async_manager is None:
            self._own_transport = HttpxAsyncTransport()
            self._async_manager = AsyncClientCredentialsAuthManager.sharing(
                self.auth_manager, transport=self._own_transport
            )
        return self._async_manager

    async def aclose(self) -> None:
        """Close the transport this auth made for the async flow's token requests."""
        if self._own_transport is not None:
            await self._own_transport.aclose()

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        url = request.url
        self._origins.check_parts(url.scheme, url.host, url.port, url)
        request.read()  # kept, so that a 401 can be replayed with the same body
        manager = self.auth_manager
        token, header = manager.bearer()
        request.headers["Authorization"] = header
        response = yield request
        if response.status_code == 403:
            response.read()
        reason = self._rejected(response)
        if reason is None:
            return
        replacement = manager.token_rejected(token, reason=reason)
        if replacement is None:
            return
        request.headers["Authorization"] = "Bearer " + replacement.access_token
        replayed = yield request
        again = self._rejected(replayed, report=False)
        if again is None:
            manager.token_accepted(replacement)
        else:  # never a second replay; the manager cools down
            with contextlib.suppress(TokenAcquisitionError):
                manager.token_rejected(replacement, reason=again)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        url = request.url
        self._origins.check_parts(url.scheme, url.host, url.port, url)
        await request.aread()  # kept, so that a 401 can be replayed with the same body
        manager = self.async_auth_manager
        token, header = await manager.bearer()
        request.headers["Authorization"] = header
        response = yield request
        if response.status_code == 403:
            await response.aread()
        reason = self._rejected(response)
        if reason is None:
            return
        replacement = await manager.token_rejected(token, reason=reason)
        if replacement is None:
            return
        request.headers["Authorization"] = "Bearer " + replacement.access_token
        replayed = yield request
        again = self._rejected(replayed, report=False)
        if again is None:
            manager.token_accepted(replacement)
        else:
            with contextlib.suppress(TokenAcquisitionError):
                await manager.token_rejected(replacement, reason=again)

    def _rejected(self, response: httpx.Response, *, report: bool = True) -> str | None:
        """Why a 401 `response` means the token was rejected (None: it does not); a 403
        `insufficient_scope` is reported to the manager's log and hook."""
        if response.status_code not in (401, 403):
            return None
        # A 403's body was read by the flow: insufficient_scope may be only there.
        body = response.content if response.status_code == 403 else b""
        reply = reply_of(response.status_code, _headers(response), body)
        if response.status_code == 403:
            scope = insufficient_scope(reply)
            if scope is not None and report:
                self.auth_manager.report(scope)
            return None
        return rejection(reply)
