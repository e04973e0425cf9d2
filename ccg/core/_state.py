"""The machine's state: one frozen value with a field per dimension.

`TokenState` says what is held (`Held`), what is in flight (`Flight`) and how the
last flight failed (`FailureRecord`). New dimensions (a refresh window, backoff, a
store lease) become new fields, not new variants multiplied by the old ones.

Whether the held token is usable is not stored: it is a `Condition` of the state
*and* `now`, so a state never goes stale by itself.
"""

from __future__ import annotations

import math
from enum import StrEnum

import msgspec

from ccg.core._failures import TokenFailure
from ccg.core._policy import TokenSource
from ccg.core._token import OAuthToken, effective_skew

__all__ = ["Condition", "FailureRecord", "Flight", "Held", "TokenState", "usable_until"]


class Held(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A token the machine holds, and when it expires on the monotonic clock."""

    token: OAuthToken
    """The token as handed out (its `expiry` stamped on the wall clock)."""
    expires_at: float
    """The monotonic instant the token expires (`inf`: never). Skew not applied."""


class Flight(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The one fetch (or provider call) in progress."""

    id: int
    """Its number: every effect it needs and every outcome it produces carry it."""
    source: TokenSource
    """A token request or a provider call."""
    started: float
    """When it began (monotonic); a fetched token's lifetime counts from here."""
    deadline: float
    """When its waiters stop waiting (monotonic); after it, the flight is given up."""


class FailureRecord(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """How the last flight failed: what its waiters are told when they wake."""

    flight: int
    """The flight that failed."""
    failure: TokenFailure
    """Why."""
    at: float
    """When (monotonic)."""


class TokenState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Everything the machine remembers. `TokenState()` is a client that has nothing yet."""

    held: Held | None = None
    """The token held, usable or not; None before the first one (or after it is dropped)."""
    flight: Flight | None = None
    """The flight in progress, if any: there is never more than one."""
    failure: FailureRecord | None = None
    """The last flight's failure, until a token is adopted."""
    flights: int = 0
    """How many flights have started; the next one is numbered `flights + 1`."""


class Condition(StrEnum):
    """The held token's condition at some `now`, derived from the state, never stored."""

    EMPTY = "empty"
    """No token is held."""
    FRESH = "fresh"
    """The held token is usable: `now < expires_at - skew`."""
    EXPIRED = "expired"
    """The held token is within the skew of its expiry, or past it."""


def usable_until(held: Held | None, clock_skew: float) -> float:
    """The monotonic instant from which the held token counts as expired (`-inf`: none held).

    The boundary belongs to "expired": at `now == expires_at - skew` the token is expired.
    """
    if held is None:
        return -math.inf
    return held.expires_at - effective_skew(held.token, clock_skew)
