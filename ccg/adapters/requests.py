"""`ClientCredentialsAuth`: ccg as a `requests` auth (`pip install 'ccg[requests]'`).

    session.auth = ClientCredentialsAuth(manager, origins=["https://api.example"])

Every request to a bound origin gets `Authorization: Bearer <token>` from the manager
(one cache, one flight, the manager's callbacks and typed errors). A 401 lets the token
go and replays the request once with a new one, the way `HTTPDigestAuth` replays: a
file body is rewound; a generator body cannot be sent twice and is not replayed. (Unlike
`HTTPDigestAuth`, cookies the 401 set are not added to the replay: that takes requests'
private `_cookies`.)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any, Protocol, cast

import requests
from requests.auth import AuthBase

from ccg._api_calls import insufficient_scope, rejection
from ccg._errors import TokenAcquisitionError
from ccg.adapters._binding import adapter_origins, reply_of
from ccg.core import OAuthToken
from ccg.interp import ClientCredentialsAuthManager

__all__ = ["ClientCredentialsAuth"]


class ClientCredentialsAuth(AuthBase):
    """A `requests` auth over a ccg token manager, bound to `origins`.

    A request to any other origin raises `ConfigurationError` before it is sent, so the
    token never follows a URL somewhere else; plain http only to loopback unless
    `allow_insecure_http`.
    """

    def __init__(
        self,
        auth_manager: ClientCredentialsAuthManager,
        *,
        origins: Iterable[str],
        allow_insecure_http: bool = False,
    ) -> None:
        self.auth_manager = auth_manager
        """The token manager (share it with an `ApiClient` or an httpx auth: one token)."""
        self._origins = adapter_origins(origins, allow_insecure_http)

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        self._origins.check_normalised(r.url or "")
        token, header = self.auth_manager.bearer()
        r.headers["Authorization"] = header
        position: int | None = None
        if r.body is not None and not isinstance(r.body, bytes | str):
            body = _seekable(r.body)
            if body is not None:
                with contextlib.suppress(OSError, ValueError):
                    position = body.tell()
        # What register_hook does, without its per-call checks: ours is a callable.
        r.hooks["response"].append(_Replay(self, token, position))
        return r


class _Seekable(Protocol):
    def seek(self, offset: int, /) -> object: ...
    def tell(self) -> int: ...


def _seekable(body: object) -> _Seekable | None:
    """`body` if it can be rewound (a file), else None (bytes need no rewinding)."""
    if callable(getattr(body, "seek", None)) and callable(getattr(body, "tell", None)):
        return cast("_Seekable", body)
    return None


class _Replay:
    """The response hook of one request: a 401 replayed once, a 403 scope reported."""

    def __init__(
        self, auth: ClientCredentialsAuth, token: OAuthToken, position: int | None
    ) -> None:
        self._auth = auth
        self._token = token
        self._position = position

    # `kwargs` are send()'s own (timeout, verify, ...), passed back to send() for the replay.
    def __call__(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        manager = self._auth.auth_manager
        status = response.status_code
        if status == 403:
            reply = reply_of(403, tuple(response.headers.items()), response.content)
            scope = insufficient_scope(reply)
            if scope is not None:
                manager.report(scope)
            return response
        if status != 401:
            return response
        reason = rejection(reply_of(401, tuple(response.headers.items())))
        if reason is None:
            return response
        # The token is let go whether or not this request can be sent again.
        replacement = manager.token_rejected(self._token, reason=reason)
        if replacement is None:
            return response
        request = response.request
        if request.body is not None and not isinstance(request.body, bytes | str):
            body = _seekable(request.body)
            if body is None or self._position is None:
                return response  # a generator or a stream that cannot be rewound: no replay
            body.seek(self._position)
        _ = response.content  # read it, so its connection can be reused
        response.close()
        again = request.copy()
        again.deregister_hook("response", self)
        again.headers["Authorization"] = "Bearer " + replacement.access_token
        replayed = response.connection.send(again, **kwargs)
        replayed.history.append(response)
        replayed.request = again
        once_more = (
            rejection(reply_of(401, tuple(replayed.headers.items())))
            if replayed.status_code == 401
            else None
        )
        if once_more is None:
            manager.token_accepted(replacement)
        else:  # never a second replay; the manager cools down
            with contextlib.suppress(TokenAcquisitionError):
                manager.token_rejected(replacement, reason=once_more)
        return replayed
