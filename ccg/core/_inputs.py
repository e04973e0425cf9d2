"""What the shell tells the machine: past-tense facts, the closed union `Input`.

Each effect that does work (`FetchToken`, `CallTokenProvider`,
`NotifyTokenUpdate`) is answered by exactly one of these.
"""

from __future__ import annotations

import msgspec

from ccg.core._http import HttpReply
from ccg.core._token import OAuthToken

__all__ = [
    "Input",
    "TokenNeeded",
    "TokenProvided",
    "TokenProviderRaised",
    "TokenReplyReceived",
    "TokenRequestFailed",
    "TokenSet",
    "TokenUpdateNotified",
    "TokenUpdateRaised",
]


class TokenNeeded(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="token_needed"):
    """A caller is about to call a protected endpoint and needs a usable token."""


class TokenReplyReceived(
    msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="token_reply_received"
):
    """The token endpoint answered the `FetchToken` request (any status)."""

    reply: HttpReply
    """Status, headers and body as received."""


class TokenRequestFailed(
    msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="token_request_failed"
):
    """The `FetchToken` request got no reply at all."""

    reason: str
    """The transport's account of what happened."""


class TokenProvided(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="token_provided"):
    """`o_auth_token_provider` returned (a token, or None)."""

    token: OAuthToken | None
    """What it returned."""


class TokenProviderRaised(
    msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="token_provider_raised"
):
    """`o_auth_token_provider` raised instead of returning."""

    reason: str
    """`ExceptionType: message` of what it raised."""


class TokenSet(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="token_set"):
    """The application set `o_auth_token` by hand (None forgets the token)."""

    token: OAuthToken | None
    """The token it set."""


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
    | TokenSet
    | TokenUpdateNotified
    | TokenUpdateRaised
)
"""Every fact the machine accepts."""
