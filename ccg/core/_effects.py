"""What the machine asks the shell to do: imperative effects, and the `Decision` that carries them.

Effects are descriptions, not actions. An interpreter runs them in order; an
effect that produces an input (`FetchToken`, `CallTokenProvider`,
`NotifyTokenUpdate`) is always the last one of its decision, and the input it
produces is stepped next.
"""

from __future__ import annotations

import msgspec

from ccg.core._failures import TokenFailure
from ccg.core._http import HttpRequest
from ccg.core._state import TokenState
from ccg.core._token import OAuthToken

__all__ = [
    "AwaitFetch",
    "CallTokenProvider",
    "Decision",
    "Effect",
    "Fail",
    "FetchToken",
    "NotifyTokenUpdate",
    "UseToken",
]


class FetchToken(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="fetch_token"):
    """Send this token request; answer with `TokenReplyReceived` or `TokenRequestFailed`."""

    request: HttpRequest
    """The complete request, client authentication included."""


class CallTokenProvider(
    msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="call_token_provider"
):
    """Call `o_auth_token_provider(last, auth_manager)`; answer with `TokenProvided`
    or `TokenProviderRaised`."""

    last: OAuthToken | None
    """The last token held (expired or not), or None."""


class NotifyTokenUpdate(
    msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="notify_token_update"
):
    """Call `o_auth_on_token_update(token)`; answer with `TokenUpdateNotified` or
    `TokenUpdateRaised`."""

    token: OAuthToken
    """The token just adopted (never None)."""


class UseToken(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="use_token"):
    """Send the protected request with this `Authorization` header. Terminal."""

    token: OAuthToken
    """The usable token."""
    authorization: str
    """The header value: `Bearer <access_token>`."""

    def __rich_repr__(self) -> list[tuple[str, object]]:
        """What `rich` shows: the token (itself redacted) and a redacted header."""
        return [("token", self.token), ("authorization", "Bearer ***")]

    def __repr__(self) -> str:
        return f"UseToken(token={self.token!r}, authorization='Bearer ***')"


class AwaitFetch(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="await_fetch"):
    """A fetch is already in flight: wait for its outcome and take it as yours. Terminal."""


class Fail(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="fail"):
    """No token can be had for this call: raise the typed error for `failure`. Terminal."""

    failure: TokenFailure
    """Why."""


Effect = FetchToken | CallTokenProvider | NotifyTokenUpdate | UseToken | AwaitFetch | Fail
"""Every effect the machine can ask for."""


class Decision(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The outcome of one step: the next state and the effects to run, in order."""

    state: TokenState
    """The state after the step."""
    effects: tuple[Effect, ...] = ()
    """Effects to run in order; empty means nothing to do."""
