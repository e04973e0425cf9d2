"""The work the machine asks the shell to do: imperative effects, the closed union `Effect`.

Effects are descriptions, not actions. A shell runs a decision's effects in order.
At most one of them produces an input (`FetchToken`, `CallTokenProvider`,
`NotifyTokenUpdate`), and it comes last; the shell steps that input next.
"""

from __future__ import annotations

import msgspec

from ccg.core._http import HttpRequest
from ccg.core._token import OAuthToken

__all__ = ["CallTokenProvider", "Effect", "FetchToken", "NotifyTokenUpdate", "ReleaseWaiters"]


class FetchToken(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="fetch_token"):
    """Send this token request for flight `flight`; answer with `TokenReplyReceived`,
    `TokenRequestFailed` or `FlightAbandoned` carrying the same flight."""

    flight: int
    """The flight this request belongs to."""
    request: HttpRequest
    """The complete request: client authentication and limits included."""


class CallTokenProvider(
    msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="call_token_provider"
):
    """Call `o_auth_token_provider(last, auth_manager)` for flight `flight`; answer with
    `TokenProvided`, `TokenProviderRaised` or `FlightAbandoned` carrying the same flight."""

    flight: int
    """The flight this call belongs to."""
    last: OAuthToken | None
    """The last token held (expired or not), or None."""


class NotifyTokenUpdate(
    msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="notify_token_update"
):
    """Call `o_auth_on_token_update(token)`; answer with `TokenUpdateNotified` or
    `TokenUpdateRaised`."""

    token: OAuthToken
    """The token just adopted (never None)."""


class ReleaseWaiters(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="release_waiters"):
    """Wake every caller waiting for flight `flight`: it is over. Each asks again."""

    flight: int
    """The flight that ended (settled, given up, or superseded)."""


Effect = FetchToken | CallTokenProvider | NotifyTokenUpdate | ReleaseWaiters
"""Every piece of work the machine can ask for."""
