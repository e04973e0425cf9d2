"""What the machine's events look like in the `ccg` logger, and how they reach a hook.

INFO for renewals and everything that went wrong; DEBUG for the rest. A message
names flights, delays and failures; never a secret, a token or a header. A
cache hit steps nothing and logs nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final, assert_never

from ccg._errors import exception_for
from ccg.core import (
    AuthenticationFallback,
    BreakerOpened,
    CoolDownStarted,
    Event,
    FlightSettled,
    FlightStarted,
    FlightSuperseded,
    InsufficientScope,
    RetryScheduled,
    StaleOutcomeIgnored,
    StaleRejectionIgnored,
    TokenAdopted,
    TokenDropped,
    TokenFailure,
    TokenInvalidated,
    UpdateCallbackFailed,
)

__all__ = ["LOGGER", "EventSink", "describe", "event_sink"]

LOGGER: Final = logging.getLogger("ccg")
"""The logger every client reports its token events to."""

EventSink = Callable[[tuple[Event, ...]], None]
"""Where a cell sends each step's events."""


def _failure(failure: TokenFailure) -> str:
    return str(exception_for(failure))


def describe(event: Event) -> tuple[int, str]:
    """The log level and message for `event`."""
    match event:
        case FlightStarted(flight=flight, source=source, renewal=renewal):
            if renewal:
                return logging.INFO, f"renewing the token (flight {flight}, {source})"
            return logging.DEBUG, f"getting a token (flight {flight}, {source})"
        case FlightSettled(flight=flight, failure=None, renewal=renewal):
            level = logging.INFO if renewal else logging.DEBUG
            return level, f"flight {flight} got a token"
        case FlightSettled(flight=flight, failure=failure, renewal=renewal):
            assert failure is not None
            what = "renewal" if renewal else "token request"
            kept = "; the held token is still used" if renewal else ""
            return logging.INFO, f"{what} failed (flight {flight}): {_failure(failure)}{kept}"
        case RetryScheduled(delay=delay, streak=streak, retry_after=asked):
            header = "" if asked is None else f", Retry-After {asked:.0f} s"
            return logging.INFO, f"next token request in {delay:.2f} s ({streak} failed{header})"
        case BreakerOpened(seconds=seconds, streak=streak):
            return logging.INFO, f"{streak} failures in a row: no token request for {seconds:.1f} s"
        case CoolDownStarted(seconds=seconds, failure=failure):
            return logging.INFO, (
                f"cooling down for {seconds:.1f} s, calls fail at once: {_failure(failure)}"
            )
        case TokenInvalidated(reason=reason):
            return logging.INFO, f"the API rejected the token ({reason}); getting a new one"
        case UpdateCallbackFailed(reason=reason):
            return logging.INFO, f"o_auth_on_token_update raised {reason}; the token is kept"
        case AuthenticationFallback(refused=refused, trying=trying):
            return logging.INFO, f"the token endpoint refused {refused}; trying {trying}"
        case InsufficientScope(status=status, scope=scope):
            needed = "" if scope is None else f"; it needs scope {scope!r}"
            return logging.INFO, f"the API answered {status} insufficient_scope{needed}"
        case TokenAdopted(origin=origin, expires_at=expires_at, refresh_at=refresh_at):
            return logging.DEBUG, (
                f"holding a token from the {origin} (monotonic expiry {expires_at:.1f}, "
                f"renewal from {refresh_at:.1f})"
            )
        case FlightSuperseded(flight=flight):
            return logging.DEBUG, f"flight {flight} superseded by a token set by hand"
        case StaleOutcomeIgnored(flight=flight):
            return logging.DEBUG, f"ignored the late outcome of flight {flight}"
        case StaleRejectionIgnored(reason=reason):
            return logging.DEBUG, f"ignored a rejection of a token already replaced ({reason})"
        case TokenDropped():
            return logging.DEBUG, "dropped the held token"
        case _:
            assert_never(event)


def event_sink(hook: Callable[[Event], object] | None) -> EventSink:
    """Send events to the `ccg` logger, then to `hook` (whose errors are logged, not raised)."""

    def sink(events: tuple[Event, ...]) -> None:
        for event in events:
            level, message = describe(event)
            if LOGGER.isEnabledFor(level):
                LOGGER.log(level, message)
            if hook is not None:
                try:
                    hook(event)
                except Exception:
                    LOGGER.exception("the on_event hook raised on %s", type(event).__name__)

    return sink
