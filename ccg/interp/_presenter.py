"""Presenters: how a held token becomes the `Authorization` value of one request.

The machine hands out tokens; a presenter turns one into a header per request.
`BearerPresenter` sends `Bearer <token>` (RFC 6750); a proof-of-possession scheme
(DPoP) would sign each request here, from its method and URL.
"""

from __future__ import annotations

from typing import Protocol

from ccg.core import OAuthToken

__all__ = ["BearerPresenter", "TokenPresenter"]


class TokenPresenter(Protocol):
    """Makes the `Authorization` header value for one request with `token`."""

    def authorization(self, token: OAuthToken, method: str, url: str, /) -> str:
        """The header value for `method url` sent with `token`."""
        ...


class BearerPresenter:
    """`Authorization: Bearer <access_token>`, remembered for the last token presented."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        # One tuple, read and replaced whole, so threads never see a token with another's header.
        self._last: tuple[OAuthToken | None, str] = (None, "")

    def authorization(self, token: OAuthToken, method: str, url: str, /) -> str:  # noqa: ARG002
        """`Bearer <access_token>`; the same for every request with this token."""
        last, header = self._last
        if last is token:
            return header
        header = "Bearer " + token.access_token
        self._last = (token, header)
        return header
