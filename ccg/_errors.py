"""The exceptions ccg raises, and the one place a core `TokenFailure` becomes one.

Every message names what was wrong and never contains a client secret or a token.
"""

from __future__ import annotations

from typing import assert_never

from ccg.core import (
    Abandoned,
    CallTimedOut,
    ErrorResponse,
    FlightTimedOut,
    InvalidToken,
    MalformedResponse,
    NoUsableToken,
    OAuthProviderError,
    ProviderRaised,
    ProviderReturnedExpired,
    ProviderReturnedNone,
    RejectedByApi,
    TokenExpiredOnArrival,
    TokenFailure,
    TokenOrigin,
    TransportFailure,
    TransportFailureKind,
    UpdateCallbackRaised,
)

__all__ = [
    "ApiTransportError",
    "CcgError",
    "ConfigurationError",
    "InvalidTokenError",
    "OAuthProviderException",
    "ReentrantTokenRequest",
    "TokenAcquisitionError",
    "TokenAcquisitionTimeout",
    "TokenEndpointUnreachable",
    "TokenFetchAbandoned",
    "TokenProviderError",
    "TokenRejectedError",
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


class InvalidTokenError(ConfigurationError):
    """A token given to the constructor or the `o_auth_token` setter failed the token checks."""

    def __init__(self, failure: InvalidToken) -> None:
        super().__init__("o_auth_token", failure.reason)
        self.failure = failure
        """The core's account of it."""


class ReentrantTokenRequest(CcgError, RuntimeError):
    """Code running a token fetch (a provider, a transport) asked the manager for that token.

    It would wait for itself; inside `o_auth_token_provider`, use `auth_manager.fetch_token()`.
    """


class TokenAcquisitionError(CcgError):
    """No usable access token could be had; no protected request was sent."""

    def __init__(self, message: str, failure: TokenFailure) -> None:
        super().__init__(message)
        self.failure = failure
        """The core's account of the failure (a `TokenFailure` value)."""
        self.retry_after: float | None = None
        """Seconds until ccg makes its next token request, when something holds it back
        (a backoff, a cool-down, an open breaker): calls before then fail at once."""

    @property
    def status(self) -> int | None:
        """The HTTP status of the token endpoint's reply, when there was one."""
        match self.failure:
            case ErrorResponse(status=status) | MalformedResponse(status=status):
                return status
            case _:
                return None


class OAuthProviderException(TokenAcquisitionError):
    """The token endpoint answered with an RFC 6749 §5.2 error (`invalid_client`, ...)."""

    def __init__(self, failure: ErrorResponse) -> None:
        detail = f": {failure.error_description}" if failure.error_description else ""
        super().__init__(
            f"token endpoint answered HTTP {failure.status} {failure.error}{detail}"
            f"{_tried(failure.tried)}",
            failure,
        )
        self.error: OAuthProviderError | str = failure.error
        """The §5.2 error code: an `OAuthProviderError` for the RFC's six, else the text sent."""
        self.error_description = failure.error_description
        """The server's description, if any."""
        self.error_uri = failure.error_uri
        """The server's error page, if any."""
        self._status = failure.status

    @property
    def status(self) -> int:
        """The HTTP status of the error reply."""
        return self._status


class TokenResponseError(TokenAcquisitionError):
    """The token endpoint's reply was not a usable token (malformed, too large, or expired)."""


class TokenEndpointUnreachable(TokenAcquisitionError):
    """The token request got no reply (refused, timed out, TLS failure, cut off)."""

    @property
    def kind(self) -> TransportFailureKind | None:
        """What class of transport failure it was."""
        return self.failure.kind if isinstance(self.failure, TransportFailure) else None


class TokenAcquisitionTimeout(TokenAcquisitionError, TimeoutError):
    """The fetch (or provider call) this call waited for passed its deadline."""


class TokenFetchAbandoned(TokenAcquisitionError):
    """The fetch (or provider call) stopped with an unexpected exception, chained as the cause."""


class TokenProviderError(TokenAcquisitionError):
    """`o_auth_token_provider` raised, or returned None, a non-token, or an expired token."""


class TokenUpdateCallbackError(TokenAcquisitionError):
    """`o_auth_on_token_update` raised. The new token is kept; the callback is not retried."""


class TokenRejectedError(TokenAcquisitionError):
    """A protected endpoint rejected a fresh token right after rejecting the one before it.

    Fetching another would likely meet the same fate (a wrong audience, a revoked
    client), so calls fail at once until the cool-down ends (`retry_after`)."""


class ApiTransportError(CcgError):
    """A request to the API itself got no reply (connection refused, timeout, ...)."""


def exception_for(
    failure: TokenFailure, retry_after: float | None = None
) -> TokenAcquisitionError | InvalidTokenError:
    """The typed exception for a core failure (the shell chains any user exception as cause).

    `retry_after`: seconds until the next token request, when the machine holds it back;
    the error keeps it and its message says it.
    """
    error = _exception_for(failure)
    if retry_after is not None and isinstance(error, TokenAcquisitionError):
        error.retry_after = retry_after
        error.args = (f"{error.args[0]} (next token request in {retry_after:.1f} s)",)
    return error


def _tried(forms: tuple[str, ...]) -> str:
    return f" (client authentication tried: {', '.join(forms)})" if forms else ""


def _exception_for(failure: TokenFailure) -> TokenAcquisitionError | InvalidTokenError:
    match failure:
        case ErrorResponse():
            return OAuthProviderException(failure)
        case MalformedResponse(status=401 | 403 as status, reason=reason, tried=tried):
            return TokenResponseError(
                f"token endpoint refused the client's credentials (HTTP {status} without an "
                "OAuth error; some servers answer a bad client id or secret, or a client "
                f"authentication method they do not take, this way): {reason}{_tried(tried)}",
                failure,
            )
        case MalformedResponse(status=status, reason=reason):
            return TokenResponseError(
                f"token endpoint reply (HTTP {status}) is unusable: {reason}", failure
            )
        case TransportFailure(kind=TransportFailureKind.TOO_LARGE, reason=reason):
            return TokenResponseError(f"token endpoint reply is too large: {reason}", failure)
        case TransportFailure(kind=kind, reason=reason):
            return TokenEndpointUnreachable(
                f"token endpoint unreachable ({kind}): {reason}", failure
            )
        case TokenExpiredOnArrival(expires_in=expires_in):
            return TokenResponseError(
                f"token endpoint issued a token that is already expired (expires_in={expires_in})",
                failure,
            )
        case ProviderRaised(reason=reason):
            return TokenProviderError(f"o_auth_token_provider raised {reason}", failure)
        case ProviderReturnedNone():
            return TokenProviderError("o_auth_token_provider returned None", failure)
        case ProviderReturnedExpired(expiry=expiry):
            return TokenProviderError(
                f"o_auth_token_provider returned an expired token (expiry={expiry})", failure
            )
        case InvalidToken(origin=TokenOrigin.PROVIDER, reason=reason):
            return TokenProviderError(
                f"o_auth_token_provider returned an unusable token: {reason}", failure
            )
        case InvalidToken(origin=TokenOrigin.ENDPOINT, reason=reason):
            return TokenResponseError(f"token endpoint issued an unusable token: {reason}", failure)
        case InvalidToken():
            return InvalidTokenError(failure)
        case UpdateCallbackRaised(reason=reason):
            return TokenUpdateCallbackError(f"o_auth_on_token_update raised {reason}", failure)
        case FlightTimedOut(seconds=seconds):
            return TokenAcquisitionTimeout(
                f"no token after {seconds:.1f} s: the token request (or provider) is still "
                "running past its deadline",
                failure,
            )
        case Abandoned(reason=reason):
            return TokenFetchAbandoned(f"the token fetch stopped with {reason}", failure)
        case CallTimedOut(seconds=seconds):
            return TokenAcquisitionTimeout(
                f"no token after {seconds:.1f} s: the call's call_timeout passed", failure
            )
        case RejectedByApi(reason=reason):
            return TokenRejectedError(
                f"the API rejected a freshly fetched token too ({reason})", failure
            )
        case NoUsableToken(attempts=attempts):
            return TokenAcquisitionError(
                f"no usable token after {attempts} attempts: each expired before it could be used",
                failure,
            )
        case _:
            assert_never(failure)
