"""What the shell tells the machine: past-tense facts, the closed union `Input`.

Each effect that does work is answered by exactly one of these, carrying the same
flight number when it belongs to a flight: `FetchToken(flight=n)` by
`TokenReplyReceived`, `TokenRequestFailed` or `FlightAbandoned` with `flight=n`;
`CallTokenProvider(flight=n)` by `TokenProvided`, `TokenProviderRaised` or
`FlightAbandoned`; `NotifyTokenUpdate(token)` by `TokenUpdateNotified` or
`TokenUpdateRaised` for that token.
"""

from __future__ import annotations

import msgspec

from ccg.core._http import HttpReply, TransportFailure
from ccg.core._token import OAuthToken

__all__ = [
    "FlightAbandoned",
    "Input",
    "TokenAccepted",
    "TokenNeeded",
    "TokenProvided",
    "TokenProviderRaised",
    "TokenRejected",
    "TokenReplyReceived",
    "TokenRequestFailed",
    "TokenSet",
    "TokenUpdateNotified",
    "TokenUpdateRaised",
]


class TokenNeeded(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="token_needed"):
    """A caller is about to call a protected endpoint and needs a usable token."""

    waited_for: int | None = None
    """The flight this caller ran, or was told to wait for and has stopped waiting for
    (it settled, or its deadline passed); None for a caller asking afresh."""
    attempts: int = 0
    """How many flights this call has been through (run or waited for)."""
    since: float | None = None
    """When this call first asked (monotonic): its `call_timeout` counts from here.
    None: now, a call asking for the first time."""


class TokenReplyReceived(
    msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="token_reply_received"
):
    """The token endpoint answered flight `flight`'s request (any status)."""

    flight: int
    """The flight whose `FetchToken` this answers."""
    reply: HttpReply
    """Status, headers and body as received."""


class TokenRequestFailed(
    msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="token_request_failed"
):
    """Flight `flight`'s token request got no usable reply."""

    flight: int
    """The flight whose `FetchToken` this answers."""
    failure: TransportFailure
    """What the transport reported."""


class TokenProvided(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="token_provided"):
    """`o_auth_token_provider` returned, for flight `flight`."""

    flight: int
    """The flight whose `CallTokenProvider` this answers."""
    token: object
    """What it returned, unchecked: a token, None, or anything an untyped provider returns."""


class TokenProviderRaised(
    msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="token_provider_raised"
):
    """`o_auth_token_provider` raised instead of returning, for flight `flight`."""

    flight: int
    """The flight whose `CallTokenProvider` this answers."""
    reason: str
    """`ExceptionType: message` of what it raised."""


class FlightAbandoned(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="flight_abandoned"):
    """The caller running flight `flight` stopped with an unexpected exception.

    A transport that raised instead of returning a failure, an interrupt, a
    cancellation: the flight will produce nothing else.
    """

    flight: int
    """The flight it was running."""
    reason: str
    """`ExceptionType: message` of the exception."""


class TokenSet(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="token_set"):
    """The application set `o_auth_token` by hand (None drops the held token)."""

    token: object
    """What it set, unchecked: a token, None, or anything an untyped caller passes."""


class TokenRejected(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="token_rejected"):
    """A protected endpoint answered 401 to a request that carried `token`."""

    token: OAuthToken
    """The token the rejected request carried (maybe no longer the one held)."""
    reason: str
    """What the endpoint said, e.g. `HTTP 401 invalid_token: token expired`."""


class TokenAccepted(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="token_accepted"):
    """A request replayed with `token` after a 401 was not rejected: the new token works.

    Only a replay reports this (a cache hit steps nothing), so that a later 401 counts as a
    first rejection again, not as a second in a row."""

    token: OAuthToken
    """The token the replay carried."""


class TokenUpdateNotified(
    msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="token_update_notified"
):
    """`o_auth_on_token_update` returned normally."""

    token: OAuthToken
    """The token it was told about."""


class TokenUpdateRaised(
    msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="token_update_raised"
):
    """`o_auth_on_token_update` raised."""

    token: OAuthToken
    """The token it was told about."""
    reason: str
    """`ExceptionType: message` of what it raised."""


Input = (
    TokenNeeded
    | TokenReplyReceived
    | TokenRequestFailed
    | TokenProvided
    | TokenProviderRaised
    | FlightAbandoned
    | TokenSet
    | TokenRejected
    | TokenAccepted
    | TokenUpdateNotified
    | TokenUpdateRaised
)
"""Every fact the machine accepts."""
