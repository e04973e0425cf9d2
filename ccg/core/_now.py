"""`Now`: the moment a step happens, handed to the core as a value.

The core reads no clock and draws no random number. The shell reads both clocks
and draws once per step, and passes the three numbers in. Local deadlines (when a
held token stops being usable, when waiters give up on a flight) are instants on
the monotonic clock, so setting the wall clock back or forward changes none of
them. The wall clock only stamps `OAuthToken.expiry`, which is for persistence,
callbacks and other processes.
"""

from __future__ import annotations

import msgspec

__all__ = ["Now"]


class Now(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Both clocks and one random draw, read by the shell just before a step."""

    monotonic: float
    """Seconds on a clock that never jumps (`time.monotonic()`): every local deadline."""
    wall: float
    """UTC epoch seconds (`time.time()`): only for stamping and reading `expiry`."""
    entropy: float = 0.0
    """A uniform draw from [0, 1), for jitter; the core never draws one itself."""
