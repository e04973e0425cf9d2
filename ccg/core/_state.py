"""The token states the machine moves between: the closed union `TokenState`.

A state says what is held and whether a fetch is in flight. Whether the held
token is usable is not stored: it is a condition of the state *and* `now`
(`ccg.core.step` works it out), so states never go stale by themselves.
"""

from __future__ import annotations

import msgspec

from ccg.core._token import OAuthToken

__all__ = ["Fetching", "Holding", "NoToken", "TokenState"]


class NoToken(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="no_token"):
    """No token is held and none is being fetched."""


class Holding(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="holding"):
    """A token is held (usable or not at a given `now`); nothing is in flight."""

    token: OAuthToken
    """The token last adopted."""


class Fetching(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="fetching"):
    """One fetch (or one token-provider call) is in flight; callers wait for it.

    `token` is the last token held, if any: still used while it is usable (a token
    set by hand during the fetch), and handed to the provider as the last token.
    """

    token: OAuthToken | None = None
    """The token held before the fetch began."""


TokenState = NoToken | Holding | Fetching
"""Every state of the token machine."""
