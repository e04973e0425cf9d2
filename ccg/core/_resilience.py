"""`ResiliencePolicy` and the pure rules it drives: which failures are retried, and when.

Every delay is computed here from values (the failure, how many failures in a row,
a random draw from `Now`), and returned as a value; nothing here waits.

    transient  (connection refused or reset, timeout, 5xx, 429, `server_error`,
                `temporarily_unavailable`, a flight given up):
               retried after `backoff(streak)` = draw x min(cap, base x 2^(streak-1))
               ("full jitter"), or after `Retry-After` if that is later (up to a cap).
               After `breaker_threshold` in a row the breaker opens: no request for
               `breaker_open_for` seconds, then one probe.
    permanent  (`invalid_client`, `invalid_scope`, `invalid_request`,
               `unauthorized_client`, `unsupported_grant_type`, `invalid_grant`, TLS,
               any other 4xx, an unusable reply): never retried; every call within
               `cool_down` seconds gets the same error at once, without a request.
    local      (the application's own provider or callback failed): not retried, no
               cool-down; the next call asks the provider again.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, assert_never

import msgspec

from ccg.core._failures import (
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
    UpdateCallbackRaised,
)
from ccg.core._http import TransportFailure, TransportFailureKind

__all__ = ["FailureClass", "ResiliencePolicy", "backoff_ceiling", "classify", "retry_delay"]

_RETRIED_CODES: Final = frozenset({"server_error", "temporarily_unavailable"})
_NEVER_RETRIED_CODES: Final = frozenset(e.value for e in OAuthProviderError)
_RETRIED_KINDS: Final = frozenset(
    {TransportFailureKind.CONNECT, TransportFailureKind.TIMEOUT, TransportFailureKind.PROTOCOL}
)
_MAX_EXPONENT: Final = 60  # 2**60 x any sane base is past every cap; keeps the float finite


class ResiliencePolicy(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """How ccg renews tokens and rides out a failing token server: one value, all defaults.

    Pass it as `ApiClient(..., resilience=ResiliencePolicy(...))`. The clock skew
    stays the seed's `o_auth_clock_skew`.
    """

    refresh_ratio: float = 0.25
    """The soft refresh window: the last fraction of a token's usable lifetime (its
    lifetime minus the skew) during which one background renewal runs while callers
    keep the held token. 0 turns soft refresh off. A server's `refresh_in` wins."""
    default_lifetime: float | None = None
    """Seconds a token without `expires_in` (or with `expires_in: 0`) is used for.
    None: until an API rejects it with a 401."""
    max_attempts: int = 3
    """Token requests one call may go through (its first and the retries)."""
    call_timeout: float = 60.0
    """Seconds one call may spend getting a token, waits and retries included."""
    backoff_base: float = 0.5
    """Ceiling of the first retry delay, in seconds; it doubles with each failure in a row."""
    backoff_cap: float = 30.0
    """Largest ceiling of a retry delay, in seconds."""
    retry_after_cap: float = 300.0
    """Largest `Retry-After` honoured, in seconds (a longer one is cut to this)."""
    cool_down: float = 30.0
    """Seconds after a non-retryable failure (or a second 401 in a row) during which
    calls fail at once with the same error instead of asking the server again."""
    breaker_threshold: int = 5
    """Transient failures in a row that open the circuit breaker."""
    breaker_open_for: float = 30.0
    """Seconds the open breaker sends no token request; then one probe is let through."""


class FailureClass(StrEnum):
    """What a failure means for the next token request."""

    TRANSIENT = "transient"
    """Worth retrying after a backoff."""
    PERMANENT = "permanent"
    """The same request will fail the same way: cool down, don't retry."""
    LOCAL = "local"
    """The application's own code failed: neither retried nor cooled down."""


def classify(failure: TokenFailure) -> FailureClass:
    """Whether `failure` is retried, cooled down, or neither."""
    match failure:
        case ErrorResponse(status=status, error=error):
            if error in _NEVER_RETRIED_CODES:
                return FailureClass.PERMANENT
            if error in _RETRIED_CODES or status == 429 or status >= 500:
                return FailureClass.TRANSIENT
            return FailureClass.PERMANENT
        case MalformedResponse(status=status):
            # A proxy's HTML 502 page is transient; a 200 that is not a token is not.
            retried = status == 429 or status >= 500
            return FailureClass.TRANSIENT if retried else FailureClass.PERMANENT
        case TransportFailure(kind=kind):
            return FailureClass.TRANSIENT if kind in _RETRIED_KINDS else FailureClass.PERMANENT
        case FlightTimedOut() | TokenExpiredOnArrival():
            return FailureClass.TRANSIENT
        case RejectedByApi():
            return FailureClass.PERMANENT
        case (
            ProviderRaised()
            | ProviderReturnedNone()
            | ProviderReturnedExpired()
            | InvalidToken()
            | UpdateCallbackRaised()
            | Abandoned()
            | CallTimedOut()
            | NoUsableToken()
        ):
            return FailureClass.LOCAL
        case _:
            assert_never(failure)


def backoff_ceiling(policy: ResiliencePolicy, streak: int) -> float:
    """The largest delay after `streak` transient failures in a row (streak >= 1)."""
    exponent = min(max(streak - 1, 0), _MAX_EXPONENT)
    return min(policy.backoff_cap, policy.backoff_base * 2.0**exponent)


def retry_delay(
    policy: ResiliencePolicy, streak: int, draw: float, retry_after: float | None
) -> float:
    """Seconds until the next request after `streak` transient failures in a row.

    Full jitter: `draw` (uniform in [0, 1)) times the ceiling, so a fleet that failed
    together does not retry together. A server's `Retry-After` is a floor, cut to
    `retry_after_cap`; one in the past counts as absent.
    """
    # A draw outside [0, 1] (NaN included) counts as 0: the delay stays within [0, ceiling].
    jittered = (draw if 0.0 <= draw <= 1.0 else 0.0) * backoff_ceiling(policy, streak)
    if retry_after is None or not retry_after > 0.0:
        return jittered
    return max(jittered, min(retry_after, policy.retry_after_cap))
