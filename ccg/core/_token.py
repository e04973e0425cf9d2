"""The access token value, the checks every token passes, and the clock-skew rule.

Holds `OAuthToken` (the seed SDK's token model, as a frozen msgspec Struct) and the
pure rules about it. Reads no clock: whoever needs `now` takes it as an argument.
"""

from __future__ import annotations

import math
import re
from typing import Final

import msgspec

__all__ = [
    "DEFAULT_CLOCK_SKEW",
    "MAX_LIFETIME",
    "OAuthToken",
    "clamped_lifetime",
    "effective_skew",
    "header_problem",
    "token_problem",
]

DEFAULT_CLOCK_SKEW: Final = 60.0
"""Seconds before expiry at which a token counts as expired (the modal choice of peers)."""

MAX_LIFETIME: Final = 10 * 365 * 24 * 3600
"""The longest lifetime ccg believes (ten years); longer or negative ones are clamped."""

# Printable ASCII without space: what RFC 6749 A.12 allows that can also travel in an
# `Authorization: Bearer` header (RFC 6750 §2.1) without breaking or injecting into it.
_HEADER_SAFE: Final = re.compile(r"[\x21-\x7E]+")
_UNSAFE_CHAR: Final = re.compile(r"[^\x21-\x7E]")
_LARGEST_FLOAT: Final = 1.7976931348623157e308


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
    """When the token expires, in UTC epoch seconds (wall clock), for saving and for other
    processes. ccg stamps it on arrival; None means the token never expires proactively."""
    refresh_token: str | None = None
    """Not used by the client credentials grant; kept so nothing the server sent is lost."""
    refresh_in: int | None = None
    """Seconds after issue from which the server advises renewing (Azure AD's `refresh_in`);
    ccg's soft refresh window opens then."""

    def __repr__(self) -> str:
        return (
            f"OAuthToken(access_token='***', token_type={self.token_type!r}, "
            f"expires_in={self.expires_in!r}, scope={self.scope!r}, expiry={self.expiry!r}"
            f"{f', refresh_in={self.refresh_in!r}' if self.refresh_in is not None else ''}"
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
        if self.refresh_in is not None:
            shown.append(("refresh_in", self.refresh_in))
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


def clamped_lifetime(expires_in: int) -> int:
    """`expires_in` clamped to [0, MAX_LIFETIME], so arithmetic on it never overflows."""
    return min(max(expires_in, 0), MAX_LIFETIME)


def effective_skew(token: OAuthToken, clock_skew: float) -> float:
    """The skew applied to this token: `clock_skew`, capped at half the token's lifetime.

    The cap keeps a short-lived token (say `expires_in=30` with a 60 s skew) usable
    for half its life instead of re-fetching it on every call.
    """
    if not token.expires_in:  # none, or 0: no lifetime known, as everywhere else
        return clock_skew
    return min(clock_skew, clamped_lifetime(token.expires_in) / 2)


def header_problem(field: str, text: str) -> str | None:
    """Why `text` cannot be a header credential, or None. Never quotes the text itself.

    >>> header_problem("access_token", "abc\\n")
    "access_token cannot be sent in a header: character 4 of 4 is '\\\\n'"
    """
    if not text:
        return f"{field} is empty"
    if _HEADER_SAFE.fullmatch(text):
        return None
    bad = _UNSAFE_CHAR.search(text)
    assert bad is not None  # the text is not all safe characters, so one is unsafe
    char = bad.group()
    shown = repr(char) if char.isspace() or not char.isprintable() else "a non-ASCII character"
    return (
        f"{field} cannot be sent in a header: character {bad.start() + 1} of {len(text)} is {shown}"
    )


def _optional(value: object, kind: type | tuple[type, ...]) -> bool:
    return value is None or (isinstance(value, kind) and not isinstance(value, bool))


def token_problem(token: object) -> str | None:
    """Why `token` cannot be held and sent, or None when it can.

    Every token is checked the same way wherever it comes from (a token endpoint, a
    provider, the setter, the constructor): an `OAuthToken` whose fields have their
    declared types (msgspec does not check them on construction), a non-empty
    header-safe `access_token`, a whole non-negative `expires_in` (and `refresh_in`) and
    a finite `expiry`. The token itself is never quoted.
    """
    if not isinstance(token, OAuthToken):
        return f"expected an OAuthToken, got {type(token).__name__}"
    # Read as plain objects: an untyped caller may have put anything in them.
    fields: dict[str, object] = msgspec.structs.asdict(token)
    access_token = fields["access_token"]
    if not isinstance(access_token, str):
        return f"access_token must be a str, got {type(access_token).__name__}"
    unsafe = header_problem("access_token", access_token)
    if unsafe is not None:
        return unsafe
    if not isinstance(fields["token_type"], str):
        return f"token_type must be a str, got {type(fields['token_type']).__name__}"
    for name in ("scope", "refresh_token"):
        if not _optional(fields[name], str):
            return f"{name} must be a str or None, got {type(fields[name]).__name__}"
    for name in ("expires_in", "refresh_in"):
        seconds = fields[name]
        if not _optional(seconds, int):
            return f"{name} must be whole seconds, got {type(seconds).__name__}"
        if isinstance(seconds, int) and seconds < 0:
            return f"{name} is negative: {seconds}"
    expiry = fields["expiry"]
    if not _optional(expiry, (int, float)):
        return f"expiry must be epoch seconds, got {type(expiry).__name__}"
    if isinstance(expiry, int) and abs(expiry) > _LARGEST_FLOAT:
        return "expiry is out of range"  # math.isfinite itself would overflow on it
    if isinstance(expiry, float) and not math.isfinite(expiry):
        return f"expiry must be a finite number, got {expiry}"
    return None
