"""What happened in a step: past-tense facts for logs and metrics, the closed union `Event`.

Events change nothing and ask for nothing; a shell may drop them. A step that
only hands out the held token (a cache hit) reports none.
"""

from __future__ import annotations

import msgspec

from ccg.core._failures import TokenFailure, TokenOrigin
from ccg.core._policy import TokenSource

__all__ = [
    "AuthenticationFallback",
    "BreakerOpened",
    "CoolDownStarted",
    "Event",
    "FlightSettled",
    "FlightStarted",
    "FlightSuperseded",
    "InsufficientScope",
    "RetryScheduled",
    "StaleOutcomeIgnored",
    "StaleRejectionIgnored",
    "TokenAdopted",
    "TokenDropped",
    "TokenInvalidated",
    "UpdateCallbackFailed",
]


class FlightStarted(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="flight_started"):
    """A flight began."""

    flight: int
    """Its number."""
    source: TokenSource
    """A token request or a provider call."""
    renewal: bool = False
    """True for a soft refresh: callers keep using the held token meanwhile."""


class FlightSettled(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="flight_settled"):
    """A flight ended with a token (`failure` None) or with a failure."""

    flight: int
    """Its number."""
    failure: TokenFailure | None
    """Why it failed, or None when it produced a token."""
    renewal: bool = False
    """True when a usable token was held all along (a soft refresh)."""


class RetryScheduled(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="retry_scheduled"):
    """A transient failure: the next token request waits `delay` seconds."""

    delay: float
    """Seconds until the next request may be made."""
    streak: int
    """Transient failures in a row, this one included."""
    retry_after: float | None
    """The server's `Retry-After` in seconds, if it sent one (before the cap)."""


class BreakerOpened(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="breaker_opened"):
    """Too many transient failures in a row: no token request for `seconds`, then one probe."""

    seconds: float
    """How long it stays open."""
    streak: int
    """Transient failures in a row."""


class CoolDownStarted(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="cool_down_started"):
    """A failure retrying cannot fix: calls get it at once for `seconds`, without a request."""

    seconds: float
    """How long the cool-down lasts."""
    failure: TokenFailure
    """The failure every call in the cool-down gets."""


class FlightSuperseded(
    msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="flight_superseded"
):
    """A usable token was set by hand while a flight was in progress; the flight was let go."""

    flight: int
    """Its number; whatever it produces later is ignored."""


class StaleOutcomeIgnored(
    msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="stale_outcome_ignored"
):
    """An outcome arrived for a flight that is no longer current, and changed nothing."""

    flight: int
    """The flight it belonged to."""


class TokenAdopted(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="token_adopted"):
    """The machine now holds a new token."""

    origin: TokenOrigin
    """Where it came from."""
    expires_at: float
    """When it expires on the monotonic clock (`inf`: never)."""
    refresh_at: float = float("inf")
    """When its soft refresh window opens on the monotonic clock."""


class TokenDropped(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="token_dropped"):
    """The held token was dropped (`o_auth_token = None`)."""


class TokenInvalidated(
    msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="token_invalidated"
):
    """A protected endpoint rejected the held token; it is no longer used."""

    reason: str
    """What the endpoint said."""


class StaleRejectionIgnored(
    msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="stale_rejection_ignored"
):
    """A 401 came back for a token that is no longer held: the newer one is kept."""

    reason: str
    """What the endpoint said."""


class UpdateCallbackFailed(
    msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="update_callback_failed"
):
    """`o_auth_on_token_update` raised; the token was kept."""

    reason: str
    """`ExceptionType: message` of what it raised."""


class AuthenticationFallback(
    msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="authentication_fallback"
):
    """The token endpoint refused one form of client authentication; the next is tried."""

    refused: str
    """The form refused, e.g. `client_secret_basic`."""
    trying: str
    """The form tried next, e.g. `client_secret_basic (raw)`."""


class InsufficientScope(
    msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="insufficient_scope"
):
    """A protected endpoint answered 403 `insufficient_scope`: reported, never retried.

    Reported by the client that saw the reply; no step produces it."""

    status: int
    """The reply's status (403)."""
    scope: str | None
    """The scopes the endpoint says it needs, if it said."""


Event = (
    FlightStarted
    | FlightSettled
    | RetryScheduled
    | BreakerOpened
    | CoolDownStarted
    | FlightSuperseded
    | StaleOutcomeIgnored
    | TokenAdopted
    | TokenDropped
    | TokenInvalidated
    | StaleRejectionIgnored
    | UpdateCallbackFailed
    | InsufficientScope
    | AuthenticationFallback
)
"""Every fact ccg reports."""
