"""The access token value and the pure rules that say when it has expired.

Holds `OAuthToken` (the seed SDK's token model, as a frozen msgspec Struct),
`OAuthScopeEnum`, and the expiry arithmetic. Reads no clock: every rule takes
`now` (UTC epoch seconds) from its caller.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Final

import msgspec

__all__ = [
    "DEFAULT_CLOCK_SKEW",
    "MAX_LIFETIME",
    "OAuthScopeEnum",
    "OAuthToken",
    "effective_skew",
    "is_expired",
    "stamped",
    "usable_until",
]

DEFAULT_CLOCK_SKEW: Final = 60.0
"""Seconds before `expiry` at which a token counts as expired (the modal choice of peers)."""

MAX_LIFETIME: Final = 10 * 365 * 24 * 3600
"""The longest lifetime ccg believes (ten years); longer or negative ones are clamped."""


def _lifetime(expires_in: int) -> int:
    """`expires_in` clamped to [0, MAX_LIFETIME], so arithmetic on it never overflows."""
    return min(max(expires_in, 0), MAX_LIFETIME)


class OAuthScopeEnum(StrEnum):
    """The scopes of the seed SDK's API. Any `str` (or str-valued Enum) is accepted as a scope."""

    READ_SCOPE = "read"
    """Read scope."""
    WRITE_SCOPE = "write"
    """Write scope."""


class OAuthToken(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """An access token and what the authorization server said about it (RFC 6749 §5.1).

    `repr()` never shows `access_token` or `refresh_token`.
    """

    access_token: str
    """The bearer credential sent as `Authorization: Bearer <access_token>`."""
    token_type: str = "Bearer"
    """The token type from the server (`Bearer`, compared case-insensitively)."""
    expires_in: int | None = None
    """Lifetime in seconds as the server stated it, or None when it did not say."""
    scope: str | None = None
    """Space-delimited scopes granted, when the server said."""
    expiry: float | None = None
    """When the token expires, in UTC epoch seconds: receipt time + `expires_in`.
    None means it never expires proactively."""
    refresh_token: str | None = None
    """Not used by the client credentials grant; kept so nothing the server sent is lost."""

    def __repr__(self) -> str:
        return (
            f"OAuthToken(access_token='***', token_type={self.token_type!r}, "
            f"expires_in={self.expires_in!r}, scope={self.scope!r}, expiry={self.expiry!r}"
            f"{', refresh_token=***' if self.refresh_token is not None else ''})"
        )

    def __rich_repr__(self) -> list[tuple[str, object]]:
        """What `rich` shows: the fields, with the credentials redacted."""
        shown: list[tuple[str, object]] = [
            ("access_token", "***"),
            ("token_type", self.token_type),
            ("expires_in", self.expires_in),
            ("scope", self.scope),
            ("expiry", self.expiry),
        ]
        if self.refresh_token is not None:
            shown.append(("refresh_token", "***"))
        return shown

    def to_dictionary(self) -> dict[str, object]:
        """The token as a JSON-ready dict without None fields, for saving in on-token-update."""
        return {k: v for k, v in msgspec.structs.asdict(self).items() if v is not None}

    @classmethod
    def from_dictionary(cls, dictionary: dict[str, object]) -> OAuthToken:
        """Rebuild a token saved with `to_dictionary` (`msgspec.ValidationError` if malformed)."""
        return msgspec.convert(dictionary, cls)


def stamped(token: OAuthToken, now: float) -> OAuthToken:
    """The token with `expiry` set from `expires_in` at receipt time `now`, if it lacks one.

    A token that already has `expiry` (saved earlier, or from another process) keeps it.
    """
    if token.expiry is not None or token.expires_in is None:
        return token
    return OAuthToken(
        access_token=token.access_token,
        token_type=token.token_type,
        expires_in=token.expires_in,
        scope=token.scope,
        expiry=now + _lifetime(token.expires_in),
        refresh_token=token.refresh_token,
    )


def effective_skew(token: OAuthToken, clock_skew: float) -> float:
    """The skew applied to this token: `clock_skew`, capped at half the token's lifetime.

    The cap keeps a short-lived token (say `expires_in=30` with a 60 s skew) usable
    for half its life instead of re-fetching it on every call.
    """
    if token.expires_in is None:
        return clock_skew
    return min(clock_skew, _lifetime(token.expires_in) / 2)


def usable_until(token: OAuthToken, clock_skew: float) -> float:
    """The first instant at which the token counts as expired (`inf` if it never expires).

    The boundary belongs to "expired": at `now == expiry - skew` the token is expired.
    """
    if token.expiry is None:
        return math.inf
    return token.expiry - effective_skew(token, clock_skew)


def is_expired(token: OAuthToken, now: float, clock_skew: float) -> bool:
    """True when `now` is within the (capped) clock skew of the token's expiry, or past it."""
    return now >= usable_until(token, clock_skew)
