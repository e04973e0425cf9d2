"""`Policy`: what the machine knows about one client, fixed for the client's lifetime.

A shell builds it from what it was given: `source` and `notify_updates` are derived
from the callables the shell holds (a provider or not, a callback or not), never
set by hand, so they cannot disagree with them.
"""

from __future__ import annotations

import functools
from enum import StrEnum
from typing import Final

import msgspec

from ccg.core._client_auth import authentication_forms
from ccg.core._http import TOKEN_REQUEST_LIMITS, HttpRequest, Limits
from ccg.core._redaction import secret_forms
from ccg.core._resilience import ResiliencePolicy
from ccg.core._token import DEFAULT_CLOCK_SKEW
from ccg.core._wire import BEARER, AuthenticationForm, TokenRequestSpec, build_token_request

__all__ = ["FLIGHT_GRACE", "Policy", "TokenSource"]

FLIGHT_GRACE: Final = 2.0
"""Seconds waiters allow a flight beyond the token request's total timeout: the owner's
own transport gives up first and reports why, which says more than a bare timeout."""


class TokenSource(StrEnum):
    """Where new tokens come from."""

    ENDPOINT = "endpoint"
    """Fetched from the token endpoint (`FetchToken`)."""
    PROVIDER = "provider"
    """Asked of `o_auth_token_provider` (`CallTokenProvider`)."""


class Policy(msgspec.Struct, frozen=True, kw_only=True, dict=True):
    """The client's fixed settings, as the machine needs them.

    (`dict=True` only lets `token_request` keep the request it built: every fetch of a
    client sends the same one.)"""

    request: TokenRequestSpec
    """How to build the token request."""
    clock_skew: float = DEFAULT_CLOCK_SKEW
    """Seconds before expiry at which a token counts as expired (capped per token)."""
    source: TokenSource = TokenSource.ENDPOINT
    """Fetch tokens, or ask the provider for them."""
    notify_updates: bool = False
    """Emit `NotifyTokenUpdate` for every new token (an on-update callback is set)."""
    limits: Limits = TOKEN_REQUEST_LIMITS
    """Timeouts and size limit of a token request; waiters give up on a flight after
    `limits.total_timeout + FLIGHT_GRACE` seconds."""
    token_types: tuple[str, ...] = BEARER
    """The `token_type`s accepted from the token endpoint, in lower case."""
    resilience: ResiliencePolicy = ResiliencePolicy()
    """Soft refresh, retries, backoff, cool-down and breaker settings."""

    @functools.cached_property
    def secret_forms(self) -> tuple[str, ...]:
        """The forms of the client secret scrubbed from every failure's texts."""
        return secret_forms(self.request.client_id, self.request.client_secret)

    @functools.cached_property
    def auth_forms(self) -> tuple[AuthenticationForm, ...]:
        """The client authentication forms tried in order (one unless `ClientSecretAuto`)."""
        return authentication_forms(self.request)

    @functools.cached_property
    def token_requests(self) -> tuple[HttpRequest, ...]:
        """The token request of each form in `auth_forms` (built once: the settings never
        change)."""
        return tuple(
            build_token_request(self.request, limits=self.limits, form=form)
            for form in self.auth_forms
        )

    @property
    def token_request(self) -> HttpRequest:
        """The token request of the first form."""
        return self.token_requests[0]
