"""What the machine tells the caller who stepped an input: the closed union `Answer`.

An answer is for that caller only; the work a step asks for is separate
(`Decision.work`). A decision with no answer leaves the caller to learn its
answer from the outcome of the work it runs, or to ask again.
"""

from __future__ import annotations

import msgspec

from ccg.core._failures import TokenFailure
from ccg.core._token import OAuthToken

__all__ = ["Answer", "AwaitFlight", "AwaitRetry", "Fail", "UseToken"]


class UseToken(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="use_token"):
    """Send the protected request with this token (a presenter makes the header)."""

    token: OAuthToken
    """A token usable at the `now` of the step."""


class AwaitFlight(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="await_flight"):
    """Flight `flight` is getting a token: wait until it is released or until `until`,
    then ask again with `TokenNeeded(waited_for=flight)`."""

    flight: int
    """The flight to wait for."""
    until: float
    """The monotonic instant to stop waiting at: the flight's deadline."""


class AwaitRetry(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="await_retry"):
    """The last token request failed and is retried at `until` (backoff, `Retry-After`):
    wait until then, then ask again with `TokenNeeded`."""

    until: float
    """The monotonic instant to ask again at."""


class Fail(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="fail"):
    """No token for this caller: raise the typed error for `failure`."""

    failure: TokenFailure
    """Why."""
    flight: int | None = None
    """The flight that failed, if it was one: its cause (an exception the shell kept)
    belongs to every caller told about it."""
    retry_after: float | None = None
    """Seconds until the next token request may be made, when something holds it back
    (a backoff, a cool-down, an open breaker); None when the next call may ask at once."""


Answer = UseToken | AwaitFlight | AwaitRetry | Fail
"""Every answer the machine can give a caller."""
