"""`ClientCredentialsAuthCredentials`: the seed SDK's credentials object, validated on construction.

Every option keeps the seed's name (`o_auth_client_id`, ...). Mistakes raise
`ConfigurationError` naming the option, never echoing the secret.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from enum import Enum
from typing import Final, cast

from ccg._errors import ConfigurationError
from ccg.core import (
    DEFAULT_CLOCK_SKEW,
    ClientAuthentication,
    ClientSecretBasic,
    ClientSecretPost,
    OAuthToken,
    Policy,
    TokenRequestSpec,
)
from ccg.interp import ClientCredentialsAuthManager, OnTokenUpdate, TokenProvider

__all__ = ["ClientCredentialsAuthCredentials"]

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN: Final = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")
_RESERVED_PARAMS: Final = frozenset(
    {
        "grant_type",
        "scope",
        "client_id",
        "client_secret",
        "client_assertion",
        "client_assertion_type",
    }
)


def _text(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise ConfigurationError(field, f"expected a str, got {type(value).__name__}")
    if not value:
        raise ConfigurationError(field, "must not be empty")
    return value


def _scope(value: object) -> str:
    if isinstance(value, Enum) and not isinstance(value, str):
        value = value.value
    if not isinstance(value, str):
        raise ConfigurationError(
            "o_auth_scopes", f"each scope must be a str or str Enum, got {type(value).__name__}"
        )
    if not _SCOPE_TOKEN.fullmatch(value):
        raise ConfigurationError(
            "o_auth_scopes",
            f"{value!r} is not a scope token (RFC 6749 §3.3: no spaces, quotes or backslashes)",
        )
    return str(value)


def _scopes(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ConfigurationError(
            "o_auth_scopes", f"expected a list of scopes, got {type(value).__name__}"
        )
    # Iterable of anything (user input): each element is checked by _scope.
    return tuple(_scope(v) for v in cast("Iterable[object]", value))


def _clock_skew(value: object) -> float:
    if value is None:
        return DEFAULT_CLOCK_SKEW
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationError(
            "o_auth_clock_skew", f"expected seconds as an int or float, got {type(value).__name__}"
        )
    if not math.isfinite(value) or value < 0:
        raise ConfigurationError("o_auth_clock_skew", f"must be finite and >= 0, got {value}")
    return float(value)


def _params(value: object) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            "o_auth_token_request_params", f"expected a mapping, got {type(value).__name__}"
        )
    pairs: list[tuple[str, str]] = []
    # A mapping of anything (user input): each name and value is checked below.
    for name, values in cast("Mapping[object, object]", value).items():
        if not isinstance(name, str) or not name:
            raise ConfigurationError("o_auth_token_request_params", "names must be non-empty str")
        if name in _RESERVED_PARAMS:
            raise ConfigurationError(
                "o_auth_token_request_params", f"{name!r} is set by ccg and cannot be overridden"
            )
        pairs.extend((name, v) for v in _param_values(name, values))
    return tuple(pairs)


def _param_values(name: str, values: object) -> list[str]:
    """The values of extra parameter `name`: a str, or a sequence of str."""
    if isinstance(values, str):
        return [values]
    if isinstance(values, Sequence):
        listed = cast("Sequence[object]", values)  # of anything: kept only if all are str
        texts = [v for v in listed if isinstance(v, str)]
        if len(texts) == len(listed):
            return texts
    raise ConfigurationError(
        "o_auth_token_request_params", f"{name!r} must be a str or a list of str"
    )


def _authentication(value: object, client_id: str) -> ClientAuthentication:
    if not isinstance(value, ClientSecretBasic | ClientSecretPost):
        raise ConfigurationError(
            "o_auth_client_authentication",
            f"expected ClientSecretBasic() or ClientSecretPost(), got {type(value).__name__}",
        )
    if isinstance(value, ClientSecretBasic) and not value.form_encode and ":" in client_id:
        raise ConfigurationError(
            "o_auth_client_id", "contains ':' which raw (unencoded) Basic auth cannot carry"
        )
    return value


def _token(value: object) -> OAuthToken | None:
    if value is None or isinstance(value, OAuthToken):
        return value
    raise ConfigurationError(
        "o_auth_token",
        f"expected an OAuthToken, got {type(value).__name__} (see OAuthToken.from_dictionary)",
    )


def _callback(field: str, value: object) -> None:
    if value is not None and not callable(value):
        raise ConfigurationError(field, f"expected a callable, got {type(value).__name__}")


class ClientCredentialsAuthCredentials:
    """OAuth 2 Client Credentials Grant credentials, as the seed SDK names them.

    Pass it to `ApiClient(client_credentials_auth_credentials=...)`. Once a client
    uses it, `o_auth_token` reads and sets that client's live token.
    """

    def __init__(
        self,
        o_auth_client_id: str,
        o_auth_client_secret: str,
        o_auth_scopes: Sequence[str | Enum] | None = None,
        o_auth_token: OAuthToken | None = None,
        o_auth_token_provider: TokenProvider | None = None,
        o_auth_on_token_update: OnTokenUpdate | None = None,
        o_auth_clock_skew: float | None = None,
        *,
        o_auth_client_authentication: ClientAuthentication = ClientSecretBasic(),  # noqa: B008 - frozen
        o_auth_token_request_params: Mapping[str, str | Sequence[str]] | None = None,
    ) -> None:
        self._client_id = _text("o_auth_client_id", o_auth_client_id)
        self._client_secret = _text("o_auth_client_secret", o_auth_client_secret)
        self._scopes = _scopes(o_auth_scopes)
        self._token = _token(o_auth_token)
        _callback("o_auth_token_provider", o_auth_token_provider)
        _callback("o_auth_on_token_update", o_auth_on_token_update)
        self._provider = o_auth_token_provider
        self._on_update = o_auth_on_token_update
        self._clock_skew = _clock_skew(o_auth_clock_skew)
        self._authentication = _authentication(o_auth_client_authentication, self._client_id)
        self._params = _params(o_auth_token_request_params)
        self._manager: ClientCredentialsAuthManager | None = None

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

    @property
    def o_auth_token(self) -> OAuthToken | None:
        """The token held: the live one once a client uses these credentials."""
        return self._token if self._manager is None else self._manager.o_auth_token

    @o_auth_token.setter
    def o_auth_token(self, token: OAuthToken | None) -> None:
        if self._manager is None:
            self._token = _token(token)
        else:
            self._manager.set_token(token)

    @property
    def o_auth_token_provider(self) -> TokenProvider | None:
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

    def policy(self, token_url: str) -> Policy:
        """The machine policy for these credentials at `token_url` (already validated)."""
        return Policy(
            request=TokenRequestSpec(
                token_url=token_url,
                client_id=self._client_id,
                client_secret=self._client_secret,
                scopes=self._scopes,
                extra_params=self._params,
                authentication=self._authentication,
            ),
            clock_skew=self._clock_skew,
            has_provider=self._provider is not None,
            has_update_callback=self._on_update is not None,
        )

    def bind(self, manager: ClientCredentialsAuthManager) -> ClientCredentialsAuthManager:
        """Attach the live manager of the client using these credentials (one at a time).

        A second client at the same token endpoint shares the first one's manager,
        and so its token; another endpoint is a `ConfigurationError`.
        """
        if self._manager is None:
            self._manager = manager
        elif self._manager.policy.request.token_url != manager.policy.request.token_url:
            raise ConfigurationError(
                "client_credentials_auth_credentials",
                "already used by a client of another token endpoint; create new credentials",
            )
        return self._manager

    @property
    def initial_token(self) -> OAuthToken | None:
        """The token given before any client used these credentials."""
        return self._token
