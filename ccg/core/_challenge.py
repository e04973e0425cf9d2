"""`WWW-Authenticate: Bearer ...` (RFC 6750 §3): what a protected endpoint said about a token.

Only the Bearer challenge is read, leniently: auth-params as `name=token` or
`name="quoted string"`, in any order, among other schemes' challenges.
"""

from __future__ import annotations

import re
from typing import Final

import msgspec

from ccg.core._http import Headers

__all__ = ["BearerChallenge", "bearer_challenge"]

_PARAM: Final = re.compile(
    r'\s*([A-Za-z0-9_!#$%&\'*+.^`|~-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*(,|$)'
)
_SCHEME: Final = re.compile(r"(?:^|,)\s*bearer(?:\s+|$)", re.IGNORECASE)
_UNESCAPE: Final = re.compile(r"\\(.)")


class BearerChallenge(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The parameters of a `Bearer` challenge (all optional)."""

    error: str | None = None
    """`invalid_token`, `invalid_request` or `insufficient_scope` (RFC 6750 §3.1)."""
    error_description: str | None = None
    """Human-readable detail."""
    scope: str | None = None
    """The scopes the resource needs (with `insufficient_scope`)."""
    realm: str | None = None
    """The protection space."""


def _params(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    at = 0
    while at < len(text):
        m = _PARAM.match(text, at)
        if m is None or m.end() == at:
            break  # the next challenge's scheme, or junk: the Bearer params end here
        name, quoted, plain, _comma = m.groups()
        value = _UNESCAPE.sub(r"\1", quoted) if quoted is not None else plain
        found.setdefault(name.lower(), value)
        at = m.end()
    return found


def bearer_challenge(headers: Headers) -> BearerChallenge | None:
    """The first `Bearer` challenge in `headers`, or None when there is none."""
    for name, value in headers:
        if name.lower() != "www-authenticate":
            continue
        m = _SCHEME.search(value)
        if m is None:
            continue
        params = _params(value[m.end() :])
        return BearerChallenge(
            error=params.get("error"),
            error_description=params.get("error_description"),
            scope=params.get("scope"),
            realm=params.get("realm"),
        )
    return None
