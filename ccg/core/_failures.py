"""Why a token could not be had, as values: the closed union `TokenFailure`.

The core answers `Fail(failure)`; the shell turns each failure into its typed
exception in one place (`ccg._errors.exception_for`). Nothing here holds a client
secret or an access token.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

from ccg.core._http import Headers, TransportFailure

__all__ = [
    "Abandoned",
    "CallTimedOut",
    "ErrorResponse",
    "FlightTimedOut",
    "InvalidToken",
    "MalformedResponse",
    "NoUsableToken",
    "OAuthProviderError",
    "ProviderRaised",
    "ProviderReturnedExpired",
    "ProviderReturnedNone",
    "RejectedByApi",
    "TokenExpiredOnArrival",
    "TokenFailure",
    "TokenOrigin",
    "UpdateCallbackRaised",
]


class OAuthProviderError(StrEnum):
    """The error codes RFC 6749 §5.2 defines for the token endpoint."""

    INVALID_REQUEST = "invalid_request"
    """The request is missing a parameter, repeats one, or is otherwise malformed."""
    INVALID_CLIENT = "invalid_client"
    """Client authentication failed (unknown client, bad secret, unsupported method)."""
    INVALID_GRANT = "invalid_grant"
    """The grant is invalid, expired or revoked."""
    UNAUTHORIZED_CLIENT = "unauthorized_client"
    """The client may not use this grant type."""
    UNSUPPORTED_GRANT_TYPE = "unsupported_grant_type"
    """The server does not support the client credentials grant."""
    INVALID_SCOPE = "invalid_scope"
    """A requested scope is invalid, unknown, or exceeds what the client may have."""


class TokenOrigin(StrEnum):
    """Where a token came from. Tokens from every origin pass the same checks."""

    ENDPOINT = "endpoint"
    """The token endpoint's reply to a fetch."""
    PROVIDER = "provider"
    """`o_auth_token_provider`'s return value."""
    SETTER = "setter"
    """The `o_auth_token` setter (`set_token`)."""
    INITIAL = "initial"
    """The `o_auth_token` given at construction."""


class ErrorResponse(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="error_response"):
    """The token endpoint answered with an RFC 6749 §5.2 error."""

    status: int
    """HTTP status of the reply (400 or 401 per the RFC; kept whatever it was)."""
    error: OAuthProviderError | str
    """The error code: an `OAuthProviderError` for the RFC's six codes, else the text sent."""
    error_description: str | None = None
    """Human-readable detail from the server."""
    error_uri: str | None = None
    """A page about the error, from the server."""
    headers: Headers = ()
    """The reply's headers (`Retry-After`, `WWW-Authenticate`, ...)."""
    tried: tuple[str, ...] = ()
    """The client authentication forms tried, in order, when every one was refused."""


class MalformedResponse(
    msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="malformed_response"
):
    """The token endpoint's reply was neither a usable token (§5.1) nor an error (§5.2)."""

    status: int
    """HTTP status of the reply."""
    reason: str
    """What was wrong with it, e.g. `access_token is missing`."""
    headers: Headers = ()
    """The reply's headers (`Retry-After`, ...)."""
    tried: tuple[str, ...] = ()
    """The client authentication forms tried, in order, when every one was refused."""


class TokenExpiredOnArrival(
    msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="token_expired_on_arrival"
):
    """The token arrived already past its expiry (a reply slower than the lifetime it gave).

    A token that arrives inside the clock skew but before its expiry is used, not refused."""

    expires_in: int | None
    """The lifetime the server gave."""


class ProviderRaised(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="provider_raised"):
    """`o_auth_token_provider` raised; the exception itself travels as the error's cause."""

    reason: str
    """`ExceptionType: message` of what it raised."""


class ProviderReturnedNone(
    msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="provider_returned_none"
):
    """`o_auth_token_provider` returned None instead of a token."""


class ProviderReturnedExpired(
    msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="provider_returned_expired"
):
    """`o_auth_token_provider` returned a token that is already expired."""

    expiry: float | None
    """The expiry of the token it returned."""


class InvalidToken(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="invalid_token"):
    """A token from a provider, the setter or the constructor failed the token checks."""

    origin: TokenOrigin
    """Where it came from."""
    reason: str
    """What was wrong with it (the token itself is never quoted)."""


class UpdateCallbackRaised(
    msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="update_callback_raised"
):
    """`o_auth_on_token_update` raised; the token itself was kept."""

    reason: str
    """`ExceptionType: message` of what it raised."""


class FlightTimedOut(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="flight_timed_out"):
    """The fetch (or provider call) in flight passed its deadline; its callers stopped waiting.

    Whatever it produces later is ignored: it is no longer the current flight.
    """

    seconds: float
    """How long it had been running when it was given up."""


class Abandoned(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="abandoned"):
    """The caller running the fetch (or provider call) stopped with an unexpected exception.

    The exception (a transport bug, an interrupt, a cancellation) travels as the cause.
    """

    reason: str
    """`ExceptionType: message` of the exception."""


class CallTimedOut(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="call_timed_out"):
    """The call spent its whole `call_timeout` waiting for a token (flights, retries)."""

    seconds: float
    """How long it had been trying."""


class RejectedByApi(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="rejected_by_api"):
    """A protected endpoint rejected a freshly obtained token too (a 401 after a 401).

    Fetching yet another one would most likely be rejected the same way (a wrong
    audience, a revoked client): calls cool down instead.
    """

    reason: str
    """What the endpoint said, e.g. `HTTP 401 invalid_token: audience mismatch`."""


class NoUsableToken(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="no_usable_token"):
    """Every token obtained for this call was unusable by the time the call could use it."""

    attempts: int
    """How many times the call asked the machine."""


TokenFailure = (
    ErrorResponse
    | MalformedResponse
    | TransportFailure
    | TokenExpiredOnArrival
    | ProviderRaised
    | ProviderReturnedNone
    | ProviderReturnedExpired
    | InvalidToken
    | UpdateCallbackRaised
    | FlightTimedOut
    | Abandoned
    | NoUsableToken
    | CallTimedOut
    | RejectedByApi
)
"""Every reason a caller can be given for not getting a token."""
