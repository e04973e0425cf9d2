"""`ApiClient`: the seed SDK's client, able to call any endpoint with an automatic bearer token.

The composition root: a client builds its own transport (unless given one), its
own token manager from the credentials, and its presenter. Nothing is shared
with another client unless the user passes it in (`auth_manager=`, `transport=`).
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
    BearerPresenter,
    ClientCredentialsAuthManager,
    Clock,
    TokenPresenter,
    Transport,
    Urllib3Transport,
)

__all__ = ["ApiClient"]


def _credentials(value: object) -> ClientCredentialsAuthCredentials:
    """`value` if it is credentials (callers without a type checker may pass anything)."""
    if not isinstance(value, ClientCredentialsAuthCredentials):
        raise ConfigurationError(
            "client_credentials_auth_credentials",
            f"expected ClientCredentialsAuthCredentials, got {type(value).__name__}",
        )
    return value


class ApiClient:
    """Calls any HTTP endpoint; endpoints that need auth get `Authorization: Bearer <token>`.

    The token is fetched on the first call that needs it, cached, and renewed
    `o_auth_clock_skew` seconds before it expires. One client is safe to share
    between threads.

    Give either `client_credentials_auth_credentials` and `token_url` (the client
    builds its own token manager), or `auth_manager` (the client shares that one
    manager, and its token, with whoever else uses it). `transport` carries the API
    calls, `token_transport` the token requests (default: the same transport), so
    an mTLS pool can serve the token endpoint alone, or a proxy the API alone.
    `resilience` tunes renewal and retries (`ResiliencePolicy`); `on_event` receives
    every token event (for metrics; they are logged to the `ccg` logger anyway).
    `clock`, `entropy` and `spawn` are for tests (`ccg.testing.FakeClock`,
    `ccg.testing.run_inline`).

    The bearer goes only to the origin of `base_url` and to the `origins` listed
    (e.g. `["https://files.example:8443"]`): a call that needs auth to any other
    origin is a `ConfigurationError` naming `origins`, raised before anything is sent.

    A 401 to a request that carried a token lets that token go, gets a new one and
    sends the request once more; a second 401 in a row starts a cool-down instead.
    """

    @overload
    def __init__(
        self,
        *,
        client_credentials_auth_credentials: ClientCredentialsAuthCredentials,
        token_url: str,
        base_url: str | None = None,
        origins: Iterable[str] = (),
        transport: Transport | None = None,
        token_transport: Transport | None = None,
        clock: Clock | None = None,
        entropy: Callable[[], float] | None = None,
        token_request_limits: Limits | None = None,
        resilience: ResiliencePolicy | None = None,
        on_event: Callable[[Event], object] | None = None,
        spawn: Callable[[Callable[[], None]], object] | None = None,
        presenter: TokenPresenter | None = None,
        allow_insecure_http: bool = False,
    ) -> None: ...

    @overload
    def __init__(
        self,
        *,
        auth_manager: ClientCredentialsAuthManager,
        base_url: str | None = None,
        origins: Iterable[str] = (),
        transport: Transport | None = None,
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
        transport: Transport | None = None,
        token_transport: Transport | None = None,
        clock: Clock | None = None,
        entropy: Callable[[], float] | None = None,
        token_request_limits: Limits | None = None,
        resilience: ResiliencePolicy | None = None,
        on_event: Callable[[Event], object] | None = None,
        spawn: Callable[[Callable[[], None]], object] | None = None,
        auth_manager: ClientCredentialsAuthManager | None = None,
        presenter: TokenPresenter | None = None,
        allow_insecure_http: bool = False,
    ) -> None:
        self._allow_insecure_http = checked_flag("allow_insecure_http", allow_insecure_http)
        self._base_url, self._origins = token_origins(base_url, origins, self._allow_insecure_http)
        for field, port in (("transport", transport), ("token_transport", token_transport)):
            if port is not None:
                checked_with_methods(field, port, ["send"], "see ccg.Transport")
        self._owned_transport: Urllib3Transport | None = None
        if transport is None:
            transport = self._owned_transport = Urllib3Transport()
        self._transport = transport
        self._presenter: TokenPresenter = presenter or BearerPresenter()
        # The default presenter's header depends on the token alone: the manager keeps it.
        self._bearer = presenter is None
        if presenter is not None:
            checked_with_methods(
                "presenter", presenter, ["authorization"], "see ccg.TokenPresenter"
            )
        self._credentials: ClientCredentialsAuthCredentials | None
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
                "spawn": spawn,
            }
            self._auth = self._shared(auth_manager, own_settings)
            self._credentials = None
            return
        if client_credentials_auth_credentials is None or token_url is None:
            raise ConfigurationError(
                "client_credentials_auth_credentials",
                "give the credentials and token_url, or an auth_manager to share",
            )
        credentials = _credentials(client_credentials_auth_credentials)
        token_url = check_url("token_url", token_url, allow_insecure_http=self._allow_insecure_http)
        self._credentials = credentials
        checked_callable("on_event", on_event)
        self._auth = credentials.create_auth_manager(
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
            spawn=spawn,
        )

    @staticmethod
    def _shared(
        manager: object, own_settings: Mapping[str, object]
    ) -> ClientCredentialsAuthManager:
        """`manager`, to share, if no setting of its own was also given to the client."""
        if not isinstance(manager, ClientCredentialsAuthManager):
            raise ConfigurationError(
                "auth_manager",
                f"expected ClientCredentialsAuthManager, got {type(manager).__name__}",
            )
        for field, value in own_settings.items():
            if value is not None:
                raise ConfigurationError(
                    field, "belongs to the shared auth_manager; give it there, not to this client"
                )
        return manager

    @property
    def client_credentials_auth_credentials(self) -> ClientCredentialsAuthCredentials:
        """The credentials this client was built with.

        A client built with `auth_manager=` has none of its own: reading them raises
        `ConfigurationError`.
        """
        if self._credentials is None:
            raise ConfigurationError(
                "client_credentials_auth_credentials",
                "this client shares another client's auth_manager, without credentials of its own",
            )
        return self._credentials

    @property
    def auth_manager(self) -> ClientCredentialsAuthManager:
        """The token manager: `fetch_token()`, `token()`, `o_auth_token`, ..."""
        return self._auth

    def close(self) -> None:
        """Close the connections of the transport this client made (not one passed in)."""
        if self._owned_transport is not None:
            self._owned_transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _url(self, url: str, requires_auth: bool) -> str:
        return resolved_url(
            self._base_url, url, self._origins if requires_auth else None, self._allow_insecure_http
        )

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | str | None = None,
        json: object = None,
        requires_auth: bool = True,
    ) -> HttpReply:
        """Send one request and return its reply, whatever its status.

        `url` is absolute, or a path under `base_url`. With `requires_auth` (the
        default) a usable token is obtained first; if none can be had, the typed
        `TokenAcquisitionError` is raised and nothing is sent. No redirects are
        followed, so the token never reaches another URL. A 401 is recovered from
        once (see the class); a 403 `insufficient_scope` is reported, not retried.
        """
        target = self._url(url, requires_auth)
        pairs: Headers = ()
        if headers is not None or json is not None:
            pairs, body = merged(headers, body, json)
        payload = body.encode() if isinstance(body, str) else (body or b"")
        reply, token = self._exchange(method, target, pairs, payload, requires_auth, None)
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
        # The body is bytes, so it can be sent again: once, with the token now held.
        replacement = self._auth.token_rejected(token, reason=reason)
        if replacement is None:
            return reply
        replayed, _ = self._exchange(method, target, pairs, payload, True, replacement)
        again = rejection(replayed) if replayed.status == 401 else None
        if again is None:
            self._auth.token_accepted(replacement)
        else:
            # Never a second replay; but the manager must know the new token was rejected
            # too (it cools down), or the next call would send it again.
            with contextlib.suppress(TokenAcquisitionError):
                self._auth.token_rejected(replacement, reason=again)
        return replayed

    def _exchange(
        self,
        method: str,
        target: str,
        pairs: Headers,
        body: bytes,
        requires_auth: bool,
        token: OAuthToken | None,
    ) -> tuple[HttpReply, OAuthToken | None]:
        """Send one request (with `token`, or the one held); its reply, and the token it
        carried (for a 401 to name)."""
        if requires_auth:
            if token is not None:
                header = (
                    "Bearer " + token.access_token
                    if self._bearer
                    else self._presenter.authorization(token, method, target)
                )
            elif self._bearer:
                token, header = self._auth.bearer()
            else:
                token = self._auth.token()
                header = self._presenter.authorization(token, method, target)
            if pairs:
                # Header names are case-insensitive (RFC 9110 §5.1): ours replaces the caller's.
                pairs = (
                    *[p for p in pairs if p[0].lower() != "authorization"],
                    ("Authorization", header),
                )
            else:
                pairs = (("Authorization", header),)
        sent = self._transport.send(
            HttpRequest(method=method, url=target, headers=pairs, body=body)
        )
        if not isinstance(sent, Success):
            raise ApiTransportError(f"{method} {target}: {sent.failure().reason}")
        return sent.unwrap(), token

    def get(self, url: str, *, headers: Mapping[str, str] | None = None) -> HttpReply:
        """`request("GET", url)`."""
        return self.request("GET", url, headers=headers)

    def post(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | str | None = None,
        json: object = None,
    ) -> HttpReply:
        """`request("POST", url, body=... or json=...)`."""
        return self.request("POST", url, headers=headers, body=body, json=json)
