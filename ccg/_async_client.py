"""`AsyncApiClient`: `ApiClient` for asyncio, over the same core, with the same rules.

The composition root of an async client: its own `HttpxAsyncTransport` (unless given
one) and its own `AsyncClientCredentialsAuthManager` from the credentials. URLs,
bodies, the 401 replay and the 403 report follow `ccg._api_calls`, as `ApiClient`'s do.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Self, overload

from returns.result import Success

from ccg._api_calls import (
    insufficient_scope,
    merged,
    rejection,
    resolved_url,
    token_origins,
)
from ccg._checks import (
    checked_callable,
    checked_flag,
    checked_limits,
    checked_resilience,
    checked_with_methods,
)
from ccg._credentials import ClientCredentialsAuthCredentials
from ccg._errors import ApiTransportError, ConfigurationError, TokenAcquisitionError
from ccg._urls import check_url
from ccg.core import (
    TOKEN_REQUEST_LIMITS,
    Event,
    Headers,
    HttpReply,
    HttpRequest,
    Limits,
    OAuthToken,
    ResiliencePolicy,
)
from ccg.interp import (
    SYSTEM_CLOCK,
    AsyncClientCredentialsAuthManager,
    AsyncTransport,
    BearerPresenter,
    Clock,
    TokenPresenter,
)
from ccg.interp._httpx import HttpxAsyncTransport

__all__ = ["AsyncApiClient"]


def _manager(value: object) -> AsyncClientCredentialsAuthManager:
    """`value` if it is an async manager (an untyped caller may pass anything)."""
    if not isinstance(value, AsyncClientCredentialsAuthManager):
        raise ConfigurationError(
            "auth_manager",
            f"expected AsyncClientCredentialsAuthManager, got {type(value).__name__}",
        )
    return value


def _credentials(value: object) -> ClientCredentialsAuthCredentials:
    """`value` if it is credentials (an untyped caller may pass anything)."""
    if not isinstance(value, ClientCredentialsAuthCredentials):
        raise ConfigurationError(
            "client_credentials_auth_credentials",
            f"expected ClientCredentialsAuthCredentials, got {type(value).__name__}",
        )
    return value


class AsyncApiClient:
    """Calls any HTTP endpoint from asyncio; endpoints that need auth get a bearer token.

    As `ApiClient`, with `await`: `await client.get(...)`, `async with AsyncApiClient(...)`.
    N tasks that need a token at once cause one token request; cancelling any of them
    (the one that started the request included) never cancels the request the others
    wait for. The provider and the on-update callback may be coroutine functions.
    """

    @overload
    def __init__(
        self,
        *,
        client_credentials_auth_credentials: ClientCredentialsAuthCredentials,
        token_url: str,
        base_url: str | None = None,
        origins: Iterable[str] = (),
        transport: AsyncTransport | None = None,
        token_transport: AsyncTransport | None = None,
        clock: Clock | None = None,
        entropy: Callable[[], float] | None = None,
        token_request_limits: Limits | None = None,
        resilience: ResiliencePolicy | None = None,
        on_event: Callable[[Event], object] | None = None,
        presenter: TokenPresenter | None = None,
        allow_insecure_http: bool = False,
    ) -> None: ...

    @overload
    def __init__(
        self,
        *,
        auth_manager: AsyncClientCredentialsAuthManager,
        base_url: str | None = None,
        origins: Iterable[str] = (),
        transport: AsyncTransport | None = None,
        presenter: TokenPresenter | None = None,
        allow_insecure_http: bool = False,
    ) -> None: ...

    def __init__(
        self,
        *,
        client_credentials_auth_credentials: ClientCredentialsAuthCredentials | None = None,
        token_url: str | None = None,
        base_url: str | None = None,
        origins: Iterable[str] = (),
        transport: AsyncTransport | None = None,
        token_transport: AsyncTransport | None = None,
        clock: Clock | None = None,
        entropy: Callable[[], float] | None = None,
        token_request_limits: Limits | None = None,
        resilience: ResiliencePolicy | None = None,
        on_event: Callable[[Event], object] | None = None,
        auth_manager: AsyncClientCredentialsAuthManager | None = None,
        presenter: TokenPresenter | None = None,
        allow_insecure_http: bool = False,
    ) -> None:
        self._allow_insecure_http = checked_flag("allow_insecure_http", allow_insecure_http)
        self._base_url, self._origins = token_origins(base_url, origins, self._allow_insecure_http)
        for field, port in (("transport", transport), ("token_transport", token_transport)):
            if port is not None:
                checked_with_methods(field, port, ["send"], "see ccg.aio.AsyncTransport")
        self._owned_transport: HttpxAsyncTransport | None = None
        if transport is None:
            transport = self._owned_transport = HttpxAsyncTransport()
        self._transport = transport
        self._presenter: TokenPresenter = presenter or BearerPresenter()
        self._bearer = presenter is None
        if presenter is not None:
            checked_with_methods(
                "presenter", presenter, ["authorization"], "see ccg.TokenPresenter"
            )
        self._credentials: ClientCredentialsAuthCredentials | None = None
        if auth_manager is not None:
            own_settings = {
                "client_credentials_auth_credentials": client_credentials_auth_credentials,
                "token_url": token_url,
                "token_transport": token_transport,
                "clock": clock,
                "entropy": entropy,
                "token_request_limits": token_request_limits,
                "resilience": resilience,
                "on_event": on_event,
            }
            auth_manager = _manager(auth_manager)
            for field, value in own_settings.items():
                if value is not None:
                    raise ConfigurationError(
                        field, "belongs to the shared auth_manager; give it there, not here"
                    )
            self._auth = auth_manager
            return
        if client_credentials_auth_credentials is None or token_url is None:
            raise ConfigurationError(
                "client_credentials_auth_credentials",
                "give the credentials and token_url, or an auth_manager to share",
            )
        client_credentials_auth_credentials = _credentials(client_credentials_auth_credentials)
        token_url = check_url("token_url", token_url, allow_insecure_http=self._allow_insecure_http)
        self._credentials = client_credentials_auth_credentials
        checked_callable("on_event", on_event)
        self._auth = client_credentials_auth_credentials.create_async_auth_manager(
            token_url,
            transport=token_transport or self._transport,
            clock=SYSTEM_CLOCK if clock is None else clock,
            entropy=random.random if entropy is None else entropy,
            limits=checked_limits(
                "token_request_limits",
                TOKEN_REQUEST_LIMITS if token_request_limits is None else token_request_limits,
            ),
            resilience=checked_resilience(
                "resilience", ResiliencePolicy() if resilience is None else resilience
            ),
            on_event=on_event,
        )

    @property
    def client_credentials_auth_credentials(self) -> ClientCredentialsAuthCredentials:
        """The credentials this client was built with (`ConfigurationError` when it shares
        another's `auth_manager`)."""
        if self._credentials is None:
            raise ConfigurationError(
                "client_credentials_auth_credentials",
                "this client shares another client's auth_manager, without credentials of its own",
            )
        return self._credentials

    @property
    def auth_manager(self) -> AsyncClientCredentialsAuthManager:
        """The token manager: `await token()`, `await fetch_token()`, `o_auth_token`, ..."""
        return self._auth

    async def aclose(self) -> None:
        """Close the transport this client made (not one passed in)."""
        if self._owned_transport is not None:
            await self._owned_transport.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | str | None = None,
        json: object = None,
        requires_auth: bool = True,
    ) -> HttpReply:
        """As `ApiClient.request`: one request, its reply whatever its status; a 401
        recovered from once, a 403 `insufficient_scope` reported."""
        target = resolved_url(
            self._base_url, url, self._origins if requires_auth else None, self._allow_insecure_http
        )
        pairs: Headers = ()
        if headers is not None or json is not None:
            pairs, body = merged(headers, body, json)
        payload = body.encode() if isinstance(body, str) else (body or b"")
        reply, token = await self._exchange(method, target, pairs, payload, requires_auth, None)
        if token is None or reply.status not in (401, 403):
            return reply
        if reply.status == 403:
            scope = insufficient_scope(reply)
            if scope is not None:
                self._auth.report(scope)
            return reply
        reason = rejection(reply)
        if reason is None:
            return reply
        replacement = await self._auth.token_rejected(token, reason=reason)
        if replacement is None:
            return reply
        replayed, _ = await self._exchange(method, target, pairs, payload, True, replacement)
        again = rejection(replayed) if replayed.status == 401 else None
        if again is None:
            self._auth.token_accepted(replacement)
        else:
            with contextlib.suppress(TokenAcquisitionError):
                await self._auth.token_rejected(replacement, reason=again)
        return replayed

    async def _exchange(
        self,
        method: str,
        target: str,
        pairs: Headers,
        body: bytes,
        requires_auth: bool,
        token: OAuthToken | None,
    ) -> tuple[HttpReply, OAuthToken | None]:
        if requires_auth:
            if token is not None:
                header = (
                    "Bearer " + token.access_token
                    if self._bearer
                    else self._presenter.authorization(token, method, target)
                )
            elif self._bearer:
                token, header = await self._auth.bearer()
            else:
                token = await self._auth.token()
                header = self._presenter.authorization(token, method, target)
            if pairs:
                pairs = (
                    *[p for p in pairs if p[0].lower() != "authorization"],
                    ("Authorization", header),
                )
            else:
                pairs = (("Authorization", header),)
        sent = await self._transport.send(
            HttpRequest(method=method, url=target, headers=pairs, body=body)
        )
        if not isinstance(sent, Success):
            raise ApiTransportError(f"{method} {target}: {sent.failure().reason}")
        return sent.unwrap(), token

    async def get(self, url: str, *, headers: Mapping[str, str] | None = None) -> HttpReply:
        """`await request("GET", url)`."""
        return await self.request("GET", url, headers=headers)

    async def post(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | str | None = None,
        json: object = None,
    ) -> HttpReply:
        """`await request("POST", url, body=... or json=...)`."""
        return await self.request("POST", url, headers=headers, body=body, json=json)
