"""`ClientCredentialsAuthCredentials`: the seed SDK's credentials object, validated on construction.

Every option keeps the seed's name (`o_auth_client_id`, ...). Mistakes raise
`ConfigurationError` naming the option, never echoing the secret. The credentials
are a description: every client built from them gets its own token manager.
"""

from __future__ import annotations

import random
import weakref
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from typing import cast

from ccg._checks import (
    checked_callable,
    checked_clock_skew,
    checked_flag,
    checked_params,
    checked_scopes,
    checked_text,
)
from ccg._errors import ConfigurationError, InvalidTokenError
from ccg.core import (
    TOKEN_REQUEST_LIMITS,
    ClientAuthentication,
    ClientSecretAuto,
    ClientSecretBasic,
    ClientSecretPost,
    Event,
    InvalidToken,
    Limits,
    OAuthToken,
    ResiliencePolicy,
    TokenOrigin,
    TokenRequestSpec,
    token_problem,
)
from ccg.interp import (
    SYSTEM_CLOCK,
    AsyncClientCredentialsAuthManager,
    AsyncTokenProvider,
    AsyncTransport,
    ClientCredentialsAuthManager,
    Clock,
    OnTokenUpdate,
    TokenProvider,
    Transport,
)

__all__ = ["ClientCredentialsAuthCredentials"]


def _authentication(value: object, client_id: str) -> ClientAuthentication:
    if not isinstance(value, ClientSecretAuto | ClientSecretBasic | ClientSecretPost):
        raise ConfigurationError(
            "o_auth_client_authentication",
            "expected ClientSecretAuto(), ClientSecretBasic() or ClientSecretPost(), "
            f"got {type(value).__name__}",
        )
    if isinstance(value, ClientSecretAuto):
        checked_flag("o_auth_client_authentication.allow_post", value.allow_post)
    if isinstance(value, ClientSecretBasic) and not value.form_encode and ":" in client_id:
        raise ConfigurationError(
            "o_auth_client_id", "contains ':' which raw (unencoded) Basic auth cannot carry"
        )
    return value


def _token(value: object, origin: TokenOrigin) -> OAuthToken | None:
    """`value` if it is None or a token that passes the checks every token passes."""
    if value is None:
        return None
    problem = token_problem(value)
    if problem is not None:
        if not isinstance(value, OAuthToken):
            problem += " (see OAuthToken.from_dictionary)"
        raise InvalidTokenError(InvalidToken(origin=origin, reason=problem))
    assert isinstance(value, OAuthToken)
    return value


class ClientCredentialsAuthCredentials:
    """OAuth 2 Client Credentials Grant credentials, as the seed SDK names them.

    Pass them to `ApiClient(client_credentials_auth_credentials=...)`. Each client
    built from them has its own token manager (its own transport, clock and token
    endpoint); to share one token between clients, share the manager:
    `ApiClient(auth_manager=first.auth_manager, ...)`.

    `o_auth_token` reads the token of the newest live client built from these
    credentials (the one given here before any client exists); setting it sets the
    token of every live client built from them, and of those built later.
    """

    def __init__(
        self,
        o_auth_client_id: str,
        o_auth_client_secret: str,
        o_auth_scopes: Sequence[str | Enum] | None = None,
        o_auth_token: OAuthToken | None = None,
        o_auth_token_provider: TokenProvider | AsyncTokenProvider | None = None,
        o_auth_on_token_update: OnTokenUpdate | None = None,
        o_auth_clock_skew: float | None = None,
        *,
        o_auth_client_authentication: ClientAuthentication = ClientSecretAuto(),  # noqa: B008 - frozen
        o_auth_token_request_params: Mapping[str, str | Sequence[str]] | None = None,
    ) -> None:
        self._client_id = checked_text("o_auth_client_id", o_auth_client_id)
        self._client_secret = checked_text("o_auth_client_secret", o_auth_client_secret)
        self._scopes = checked_scopes(o_auth_scopes)
        self._token = _token(o_auth_token, TokenOrigin.INITIAL)
        checked_callable("o_auth_token_provider", o_auth_token_provider)
        checked_callable("o_auth_on_token_update", o_auth_on_token_update)
        self._provider = o_auth_token_provider
        self._on_update = o_auth_on_token_update
        self._clock_skew = checked_clock_skew(o_auth_clock_skew)
        self._authentication = _authentication(o_auth_client_authentication, self._client_id)
        self._params = checked_params("o_auth_token_request_params", o_auth_token_request_params)
        self._managers: list[
            weakref.ref[ClientCredentialsAuthManager | AsyncClientCredentialsAuthManager]
        ] = []

    def __repr__(self) -> str:
        return (
            f"ClientCredentialsAuthCredentials(o_auth_client_id={self._client_id!r}, "
            f"o_auth_client_secret='***', o_auth_scopes={list(self._scopes)!r}, "
            f"o_auth_clock_skew={self._clock_skew!r})"
        )

    @property
    def o_auth_client_id(self) -> str:
        """The OAuth 2 client id."""
        return self._client_id

    @property
    def o_auth_client_secret(self) -> str:
        """The OAuth 2 client secret."""
        return self._client_secret

    @property
    def o_auth_scopes(self) -> list[str]:
        """The scopes requested, in order."""
        return list(self._scopes)

    def _live_managers(
        self,
    ) -> list[ClientCredentialsAuthManager | AsyncClientCredentialsAuthManager]:
        return [m for m in (ref() for ref in self._managers) if m is not None]

    @property
    def o_auth_token(self) -> OAuthToken | None:
        """The newest live client's token; before any client, the one given here."""
        live = self._live_managers()
        return live[-1].o_auth_token if live else self._token

    @o_auth_token.setter
    def o_auth_token(self, token: OAuthToken | None) -> None:
        self._token = _token(token, TokenOrigin.SETTER)
        for manager in self._live_managers():
            if isinstance(manager, ClientCredentialsAuthManager):
                manager.set_token(self._token)
            else:  # an async manager: its cell takes the token at once, without awaiting
                manager.set_token_now(self._token)

    @property
    def o_auth_token_provider(self) -> TokenProvider | AsyncTokenProvider | None:
        """The token provider callback, if any."""
        return self._provider

    @property
    def o_auth_on_token_update(self) -> OnTokenUpdate | None:
        """The on-token-update callback, if any."""
        return self._on_update

    @property
    def o_auth_clock_skew(self) -> float:
        """Seconds before expiry at which a token is renewed (default 60; capped per token)."""
        return self._clock_skew

    @property
    def o_auth_client_authentication(self) -> ClientAuthentication:
        """How the client authenticates to the token endpoint."""
        return self._authentication

    @property
    def o_auth_token_request_params(self) -> dict[str, list[str]]:
        """Extra form parameters sent with every token request."""
        params: dict[str, list[str]] = {}
        for name, value in self._params:
            params.setdefault(name, []).append(value)
        return params

    def token_request(self, token_url: str) -> TokenRequestSpec:
        """The token request these credentials make at `token_url` (already checked)."""
        return TokenRequestSpec(
            token_url=token_url,
            client_id=self._client_id,
            client_secret=self._client_secret,
            scopes=self._scopes,
            extra_params=self._params,
            authentication=self._authentication,
        )

    def create_auth_manager(
        self,
        token_url: str,
        *,
        transport: Transport,
        clock: Clock = SYSTEM_CLOCK,
        entropy: Callable[[], float] = random.random,
        limits: Limits = TOKEN_REQUEST_LIMITS,
        resilience: ResiliencePolicy = ResiliencePolicy(),  # noqa: B008 - frozen
        on_event: Callable[[Event], object] | None = None,
        spawn: Callable[[Callable[[], None]], object] | None = None,
    ) -> ClientCredentialsAuthManager:
        """A new token manager for these credentials at `token_url` (already checked).

        It starts with the token these credentials hold, and `o_auth_token` follows it
        while it lives. `ApiClient` makes one per client this way.
        """
        manager = ClientCredentialsAuthManager(
            self.token_request(token_url),
            transport=transport,
            clock=clock,
            entropy=entropy,
            clock_skew=self._clock_skew,
            # A coroutine function is refused there, with the option named; any other
            # callable is called as a plain provider.
            token_provider=cast("TokenProvider | None", self._provider),
            on_token_update=self._on_update,
            token=self._token,
            limits=limits,
            resilience=resilience,
            on_event=on_event,
            spawn=spawn,
        )
        self._track(manager)
        return manager

    def create_async_auth_manager(
        self,
        token_url: str,
        *,
        transport: AsyncTransport,
        clock: Clock = SYSTEM_CLOCK,
        entropy: Callable[[], float] = random.random,
        limits: Limits = TOKEN_REQUEST_LIMITS,
        resilience: ResiliencePolicy = ResiliencePolicy(),  # noqa: B008 - frozen
        on_event: Callable[[Event], object] | None = None,
    ) -> AsyncClientCredentialsAuthManager:
        """A new asyncio token manager for these credentials at `token_url` (already
        checked); `AsyncApiClient` makes one per client this way. The provider and the
        on-update callback may be coroutine functions."""
        manager = AsyncClientCredentialsAuthManager(
            self.token_request(token_url),
            transport=transport,
            clock=clock,
            entropy=entropy,
            clock_skew=self._clock_skew,
            token_provider=cast("AsyncTokenProvider | None", self._provider),
            on_token_update=self._on_update,
            token=self._token,
            limits=limits,
            resilience=resilience,
            on_event=on_event,
        )
        self._track(manager)
        return manager

    def _track(
        self, manager: ClientCredentialsAuthManager | AsyncClientCredentialsAuthManager
    ) -> None:
        self._managers = [weakref.ref(m) for m in self._live_managers()]
        self._managers.append(weakref.ref(manager))
