"""What happened in a step: past-tense facts for logs and metrics, the closed union `Event`.

Events change nothing and ask for nothing; a shell may drop them.
"""

from __future__ import annotations

import msgspec

from ccg.core._failures import TokenFailure, TokenOrigin
from ccg.core._policy import TokenSource

__all__ = [
    "Event",
    "FlightSettled",
    "FlightStarted",
    "FlightSuperseded",
    "StaleOutcomeIgnored",
    "TokenAdopted",
    "TokenDropped",
]


class FlightStarted(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="flight_started"):
    """A flight began."""

    flight: int
    """Its number."""
    source: TokenSource
    """A token request or a provider call."""


class FlightSettled(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="flight_settled"):
    """A flight ended with a token (`failure` None) or with a failure."""

    flight: int
    """Its number."""
    failure: TokenFailure | None
    """Why it failed, or None when it produced a token."""


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


class TokenDropped(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="token_dropped"):
    """The held token was dropped (`o_auth_token = None`)."""


Event = (
    FlightStarted
    | FlightSettled
    | FlightSuperseded
    | StaleOutcomeIgnored
    | TokenAdopted
    | TokenDropped
)
"""Every fact a step can report."""
