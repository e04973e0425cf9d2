"""The exceptions ccg raises, and the one place a core `TokenFailure` becomes one.

Every message names what was wrong and never contains a client secret or a token.
"""

from __future__ import annotations

from typing import assert_never

from ccg.core import (
    EndpointUnreachable,
    ErrorResponse,
    MalformedResponse,
    OAuthProviderError,
    ProviderRaised,
    ProviderReturnedExpired,
    ProviderReturnedNone,
    TokenExpiredOnArrival,
    TokenFailure,
    UpdateCallbackRaised,
)

__all__ = [
    "ApiTransportError",
    "CcgError",
    "ConfigurationError",
    "OAuthProviderException",
    "TokenAcquisitionError",
    "TokenEndpointUnreachable",
    "TokenProviderError",
    "TokenResponseError",
    "TokenUpdateCallbackError",
    "exception_for",
]


class CcgError(Exception):
    """Base of every error ccg raises."""


class ConfigurationError(CcgError, ValueError):
    """A credential or client option is wrong; raised at construction time."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        """The option that was wrong, e.g. `o_auth_clock_skew`."""
        self.problem = problem
        """What was wrong with it."""


class TokenAcquisitionError(CcgError):
    """No usable access token could be had; no protected request was sent."""

    def __init__(self, message: str, failure: TokenFailure) -> None:
        super().__init__(message)
        self.failure = failure
        """The core's account of the failure (a `TokenFailure` value)."""


class OAuthProviderException(TokenAcquisitionError):
    """The token endpoint answered with an RFC 6749 §5.2 error (`invalid_client`, ...)."""

    def __init__(self, failure: ErrorResponse) -> None:
        detail = f": {failure.error_description}" if failure.error_description else ""
        super().__init__(
            f"token endpoint answered HTTP {failure.status} {failure.error}{detail}", failure
        )
        self.error: OAuthProviderError | str = failure.error
        """The §5.2 error code: an `OAuthProviderError` for the RFC's six, else the text sent."""
        self.error_description = failure.error_description
        """The server's description, if any."""
        self.error_uri = failure.error_uri
        """The server's error page, if any."""
        self.status = failure.status
        """The HTTP status of the error reply."""


class TokenResponseError(TokenAcquisitionError):
    """The token endpoint's reply was not a usable token (malformed, or already expired)."""


class TokenEndpointUnreachable(TokenAcquisitionError):
    """The token request got no reply (connection refused, timeout, TLS failure)."""


class TokenProviderError(TokenAcquisitionError):
    """`o_auth_token_provider` raised, returned None, or returned an expired token."""


class TokenUpdateCallbackError(TokenAcquisitionError):
    """`o_auth_on_token_update` raised. The new token is kept; the callback is not retried."""


class ApiTransportError(CcgError):
    """A request to the API itself got no reply (connection refused, timeout, ...)."""


def exception_for(failure: TokenFailure) -> TokenAcquisitionError:
    """The typed exception for a core failure (the shell chains any user exception as cause)."""
    match failure:
        case ErrorResponse():
            return OAuthProviderException(failure)
        case MalformedResponse(status=status, reason=reason):
            return TokenResponseError(
                f"token endpoint reply (HTTP {status}) is not a token: {reason}", failure
            )
        case TokenExpiredOnArrival(expires_in=expires_in):
            return TokenResponseError(
                f"token endpoint issued a token that is already expired (expires_in={expires_in})",
                failure,
            )
        case EndpointUnreachable(reason=reason):
            return TokenEndpointUnreachable(f"token endpoint unreachable: {reason}", failure)
        case ProviderRaised(reason=reason):
            return TokenProviderError(f"o_auth_token_provider raised {reason}", failure)
        case ProviderReturnedNone():
            return TokenProviderError("o_auth_token_provider returned None", failure)
        case ProviderReturnedExpired(expiry=expiry):
            return TokenProviderError(
                f"o_auth_token_provider returned an expired token (expiry={expiry})", failure
            )
        case UpdateCallbackRaised(reason=reason):
            return TokenUpdateCallbackError(f"o_auth_on_token_update raised {reason}", failure)
        case _:
            assert_never(failure)
