"""Why a token could not be had, as values: the closed union `TokenFailure`.

The core decides `Fail(failure)`; the shell turns each failure into its typed
exception (`ccg._errors`). Nothing here holds a client secret.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

__all__ = [
    "EndpointUnreachable",
    "ErrorResponse",
    "MalformedResponse",
    "OAuthProviderError",
    "ProviderRaised",
    "ProviderReturnedExpired",
    "ProviderReturnedNone",
    "TokenExpiredOnArrival",
    "TokenFailure",
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


class MalformedResponse(
    msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="malformed_response"
):
    """The token endpoint's reply was neither a token (§5.1) nor an error (§5.2)."""

    status: int
    """HTTP status of the reply."""
    reason: str
    """What was wrong with it, e.g. `access_token is missing`."""


class EndpointUnreachable(
    msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="endpoint_unreachable"
):
    """The token request got no reply (connection refused, timeout, TLS failure)."""

    reason: str
    """The transport's account of what happened."""


class TokenExpiredOnArrival(
    msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="token_expired_on_arrival"
):
    """The server issued a token that is already inside the clock skew (e.g. `expires_in: 0`)."""

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


class UpdateCallbackRaised(
    msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="update_callback_raised"
):
    """`o_auth_on_token_update` raised; the token itself was kept."""

    reason: str
    """`ExceptionType: message` of what it raised."""


TokenFailure = (
    ErrorResponse
    | MalformedResponse
    | EndpointUnreachable
    | TokenExpiredOnArrival
    | ProviderRaised
    | ProviderReturnedNone
    | ProviderReturnedExpired
    | UpdateCallbackRaised
)
"""Every reason the core can give for `Fail`."""
