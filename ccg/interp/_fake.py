"""Test doubles for users' tests: `FakeTransport` (scripted replies, recorded requests) and
`FakeClock`.

Both are thread-safe, so a test can drive one client from many threads.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import TypeAlias

import msgspec
from returns.result import Failure, Result, Success

from ccg.core import HttpReply, HttpRequest, TransportFailure

__all__ = [
    "FakeClock",
    "FakeTransport",
    "Scripted",
    "error_reply",
    "json_reply",
    "token_reply",
]

Scripted: TypeAlias = HttpReply | TransportFailure | Callable[[HttpRequest], HttpReply]
"""One scripted answer: a reply, a transport failure, or a function of the request."""


def json_reply(status: int, body: object, headers: Mapping[str, str] | None = None) -> HttpReply:
    """A reply whose body is `body` encoded as JSON."""
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    return HttpReply(
        status=status, headers=tuple(all_headers.items()), body=msgspec.json.encode(body)
    )


def token_reply(
    access_token: str = "token-1",  # noqa: S107 - a fake token for tests
    *,
    expires_in: int | None = 3600,
    token_type: str = "Bearer",  # noqa: S107 - the RFC 6750 token type
    scope: str | None = None,
) -> HttpReply:
    """A 200 RFC 6749 §5.1 token response."""
    body: dict[str, object] = {"access_token": access_token, "token_type": token_type}
    if expires_in is not None:
        body["expires_in"] = expires_in
    if scope is not None:
        body["scope"] = scope
    return json_reply(200, body, {"Cache-Control": "no-store"})


def error_reply(
    error: str, *, status: int = 400, error_description: str | None = None
) -> HttpReply:
    """An RFC 6749 §5.2 error response."""
    body = {"error": error}
    if error_description is not None:
        body["error_description"] = error_description
    return json_reply(status, body)


class FakeTransport:
    """A transport that answers from a script and records every request it was sent.

    Answers are taken in order from `script`; when it runs out, `handler` (if any)
    answers. A request with nothing left to answer it raises `AssertionError`, so a
    test that sends more than it scripted fails loudly.

    >>> t = FakeTransport([token_reply("abc")])
    >>> t.send(HttpRequest(method="POST", url="https://as.example/token")).unwrap().status
    200
    >>> len(t.requests)
    1
    """

    def __init__(
        self,
        script: Iterable[Scripted] = (),
        *,
        handler: Callable[[HttpRequest], HttpReply] | None = None,
    ) -> None:
        self._script: deque[Scripted] = deque(script)
        self._handler = handler
        self._lock = threading.Lock()
        self.requests: list[HttpRequest] = []
        """Every request sent, in order."""

    def add(self, *answers: Scripted) -> None:
        """Append answers to the script."""
        with self._lock:
            self._script.extend(answers)

    def requests_to(self, url: str) -> list[HttpRequest]:
        """The requests sent to `url` (exact match), in order."""
        with self._lock:
            return [r for r in self.requests if r.url == url]

    def send(self, request: HttpRequest, /) -> Result[HttpReply, TransportFailure]:
        """Record `request` and answer it from the script."""
        with self._lock:
            self.requests.append(request)
            answer: Scripted | None = self._script.popleft() if self._script else self._handler
        if answer is None:
            raise AssertionError(f"FakeTransport: nothing scripted for {request!r}")
        if isinstance(answer, TransportFailure):
            return Failure(answer)
        if isinstance(answer, HttpReply):
            return Success(answer)
        return Success(answer(request))


class FakeClock:
    """A clock that stands still until told to move: call it for UTC epoch seconds.

    >>> clock = FakeClock(1000.0)
    >>> clock.advance(30)
    >>> clock()
    1030.0
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        """The current fake time."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward by `seconds` (never backward)."""
        if seconds < 0:
            raise ValueError("FakeClock only moves forward")
        with self._lock:
            self._now += seconds

    def set(self, now: float) -> None:
        """Jump to `now` (for clock-jump tests, this may go backward)."""
        with self._lock:
            self._now = float(now)
