"""The machine's state: one frozen value with a field per dimension.

`TokenState` says what is held (`Held`), what is in flight (`Flight`), how the
last flight failed and when the next may start (`FailureRecord`), how many
transient failures came in a row (the backoff and the breaker), and when a
protected endpoint last rejected a token. New dimensions become new fields, not
new variants multiplied by the old ones.

Whether the held token is usable is not stored: it is a `Condition` of the state
*and* `now`, so a state never goes stale by itself. `Held` keeps the instants
that condition turns on, computed once when the token is taken.
"""

from __future__ import annotations

import math
from enum import StrEnum

import msgspec

from ccg.core._failures import TokenFailure
from ccg.core._policy import TokenSource
from ccg.core._token import OAuthToken

__all__ = ["Condition", "FailureRecord", "Flight", "Held", "TokenState", "usable_until"]


class Held(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A token the machine holds, and the monotonic instants its condition turns on.

    `refresh_at <= fresh_until <= expires_at` always holds.
    """

    token: OAuthToken
    """The token as handed out (its `expiry` stamped on the wall clock)."""
    expires_at: float
    """When the token expires (`inf`: never). Skew not applied."""
    fresh_until: float
    """When it stops being used: `expires_at` less the clock skew (capped per token)."""
    refresh_at: float
    """When its soft refresh window opens: from here one renewal runs while callers
    keep using it. Equal to `fresh_until` when there is no window."""


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
    """How the last attempt failed, and when the next token request may be made."""

    flight: int | None
    """The flight that failed; None for a cool-down after a token was rejected twice."""
    failure: TokenFailure
    """Why."""
    at: float
    """When (monotonic)."""
    retry_at: float
    """No new flight starts before this instant (backoff, `Retry-After`, cool-down, open
    breaker); `at` when nothing holds the next one back."""


class TokenState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Everything the machine remembers. `TokenState()` is a client that has nothing yet."""

    held: Held | None = None
    """The token held, usable or not; None before the first one (or after it is dropped)."""
    flight: Flight | None = None
    """The flight in progress, if any: there is never more than one."""
    failure: FailureRecord | None = None
    """The last failure, until a token is adopted."""
    flights: int = 0
    """How many flights have started; the next one is numbered `flights + 1`."""
    streak: int = 0
    """Transient failures in a row since the last token: sets the backoff and the breaker."""
    rejected_at: float = -math.inf
    """When a protected endpoint last rejected the held token and it was let go."""
    auth: int = 0
    """The client authentication form (an index into `Policy.auth_forms`) the next token
    request uses."""
    auth_settled: bool = False
    """A token request with that form got a token: no other form is tried again."""


class Condition(StrEnum):
    """The held token's condition at some `now`, derived from the state, never stored."""

    EMPTY = "empty"
    """No token is held."""
    FRESH = "fresh"
    """The held token is usable and not yet due for renewal: `now < refresh_at`."""
    EXPIRING = "expiring"
    """The held token is usable, and its soft refresh window is open."""
    EXPIRED = "expired"
    """The held token is within the skew of its expiry, past it, or was rejected."""


def usable_until(held: Held | None) -> float:
    """The monotonic instant from which the held token is no longer used (`-inf`: none held).

    The boundary belongs to "expired": at `now == fresh_until` the token is not used.
    """
    return -math.inf if held is None else held.fresh_until
