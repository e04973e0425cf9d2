"""Test doubles for users' tests: `FakeTransport` (scripted replies, recorded requests) and
`FakeClock` (both clocks, moved by hand).

Both are thread-safe, so a test can drive one client from many threads.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TypeAlias, cast

import msgspec
from returns.result import Failure, Result, Success

from ccg.core import HttpReply, HttpRequest, TransportFailure, TransportFailureKind

__all__ = [
    "AsyncScripted",
    "FakeAsyncTransport",
    "FakeClock",
    "FakeTransport",
    "Scripted",
    "error_reply",
    "json_reply",
    "run_inline",
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
    error: str,
    *,
    status: int = 400,
    error_description: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> HttpReply:
    """An RFC 6749 §5.2 error response (`headers`: e.g. `{"Retry-After": "5"}`)."""
    body = {"error": error}
    if error_description is not None:
        body["error_description"] = error_description
    return json_reply(status, body, headers)


class _Script:
    """Scripted answers taken in order, then the handler's; every request recorded."""

    def __init__(self, answers: Iterable[object], handler: object) -> None:
        self.answers: deque[object] = deque(answers)
        self.handler = handler
        self.lock = threading.Lock()
        self.requests: list[HttpRequest] = []

    def take(self, owner: object, request: HttpRequest) -> object:
        with self.lock:
            self.requests.append(request)
            answer = self.answers.popleft() if self.answers else self.handler
        if answer is None:
            raise AssertionError(f"{type(owner).__name__}: nothing scripted for {request!r}")
        return answer


def _within_limits(request: HttpRequest, reply: HttpReply) -> Result[HttpReply, TransportFailure]:
    """`reply`, or `TOO_LARGE` when its body is over the request's limit (as a real transport)."""
    limit = request.limits.max_body_bytes if request.limits is not None else None
    if limit is not None and len(reply.body) > limit:
        return Failure(
            TransportFailure(
                kind=TransportFailureKind.TOO_LARGE,
                reason=f"reply body of {len(reply.body)} bytes passed {limit} bytes",
            )
        )
    return Success(reply)


class FakeTransport:
    """A transport that answers from a script and records every request it was sent.

    Answers are taken in order from `script`; when it runs out, `handler` (if any)
    answers. A request with nothing left to answer it raises `AssertionError`, so a
    test that sends more than it scripted fails loudly (the fetch it belonged to is
    abandoned, with that error as the cause). Like a real transport it honours
    `request.limits.max_body_bytes`: a longer scripted body is a `TOO_LARGE` failure.

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
        self._script = _Script(script, handler)

    @property
    def requests(self) -> list[HttpRequest]:
        """Every request sent, in order."""
        return self._script.requests

    def add(self, *answers: Scripted) -> None:
        """Append answers to the script."""
        with self._script.lock:
            self._script.answers.extend(answers)

    def requests_to(self, url: str) -> list[HttpRequest]:
        """The requests sent to `url` (exact match), in order."""
        with self._script.lock:
            return [r for r in self._script.requests if r.url == url]

    def send(self, request: HttpRequest, /) -> Result[HttpReply, TransportFailure]:
        """Record `request` and answer it from the script."""
        answer = cast("Scripted", self._script.take(self, request))
        if isinstance(answer, TransportFailure):
            return Failure(answer)
        return _within_limits(request, answer if isinstance(answer, HttpReply) else answer(request))


AsyncScripted: TypeAlias = (
    HttpReply | TransportFailure | Callable[[HttpRequest], HttpReply | Awaitable[HttpReply]]
)
"""One scripted answer of `FakeAsyncTransport`: a reply, a failure, or a function of the
request (a coroutine function too)."""


class FakeAsyncTransport:
    """`FakeTransport` for asyncio: the same script and records, and `send` a coroutine.

    Each `send` first yields to the event loop (after `delay` seconds, if given), as a
    real request would, so that other tasks run meanwhile. A handler may be a coroutine
    function (wait on an `asyncio.Event` there to hold a reply back).

    >>> import asyncio
    >>> t = FakeAsyncTransport([token_reply("abc")])
    >>> reply = asyncio.run(t.send(HttpRequest(method="POST", url="https://as.example/token")))
    >>> reply.unwrap().status
    200
    """

    def __init__(
        self,
        script: Iterable[AsyncScripted] = (),
        *,
        handler: Callable[[HttpRequest], HttpReply | Awaitable[HttpReply]] | None = None,
        delay: float = 0.0,
    ) -> None:
        self._script = _Script(script, handler)
        self.delay = delay
        """Seconds each `send` waits (on the event loop) before answering."""

    @property
    def requests(self) -> list[HttpRequest]:
        """Every request sent, in order."""
        return self._script.requests

    def add(self, *answers: AsyncScripted) -> None:
        """Append answers to the script."""
        with self._script.lock:
            self._script.answers.extend(answers)

    def requests_to(self, url: str) -> list[HttpRequest]:
        """The requests sent to `url` (exact match), in order."""
        with self._script.lock:
            return [r for r in self._script.requests if r.url == url]

    async def send(self, request: HttpRequest, /) -> Result[HttpReply, TransportFailure]:
        """Record `request`, yield to the loop, and answer it from the script."""
        answer = self._script.take(self, request)
        await asyncio.sleep(self.delay)
        if isinstance(answer, TransportFailure):
            return Failure(answer)
        if not isinstance(answer, HttpReply):
            answer = cast("Callable[[HttpRequest], object]", answer)(request)
            if inspect.isawaitable(answer):
                answer = await answer
        if not isinstance(answer, HttpReply):
            raise AssertionError(f"FakeAsyncTransport: a handler returned {answer!r}")
        return _within_limits(request, answer)


def run_inline(task: Callable[[], None]) -> None:
    """A `spawn` for tests: run a background renewal at once, on the calling thread, so a
    test with a `FakeTransport` and `FakeClock` sees its outcome before the call returns."""
    task()


class FakeClock:
    """Both clocks, standing still until told to move.

    `monotonic()` only moves forward, with `advance` (or a client's `sleep`, which
    advances it at once, so backoffs cost a test no time). `time()` (the wall clock,
    UTC epoch seconds) moves with it, and can also be set or jumped either way on its
    own, as a wall clock corrected by NTP or by hand does. Calling the clock gives
    `time()`.

    >>> clock = FakeClock(1000.0)
    >>> clock.advance(30)
    >>> clock(), clock.monotonic()
    (1030.0, 30.0)
    >>> clock.jump(-3600)
    >>> clock.time(), clock.monotonic()
    (-2570.0, 30.0)
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._wall = float(start)
        self._monotonic = 0.0
        self._lock = threading.Lock()
        self.slept: list[float] = []
        """Every wait a client made with `sleep`, in seconds, in order."""

    def monotonic(self) -> float:
        """Seconds since the clock was made, moved only by `advance`."""
        return self._monotonic

    def time(self) -> float:
        """The fake wall clock, UTC epoch seconds."""
        return self._wall

    def __call__(self) -> float:
        """The fake wall clock (same as `time()`)."""
        return self._wall

    def advance(self, seconds: float) -> None:
        """Let `seconds` pass: both clocks move forward (never backward)."""
        if seconds < 0:
            raise ValueError("time only moves forward; use jump() to set the wall clock back")
        with self._lock:
            self._monotonic += seconds
            self._wall += seconds

    def sleep(self, seconds: float) -> None:
        """What a client waiting `seconds` (a backoff) does to a fake clock: let them pass
        at once. Each wait is recorded in `slept`."""
        with self._lock:
            self.slept.append(seconds)
        self.advance(max(seconds, 0.0))

    def jump(self, seconds: float) -> None:
        """Move the wall clock alone by `seconds`, either way; no time passes."""
        with self._lock:
            self._wall += seconds

    def set(self, now: float) -> None:
        """Set the wall clock alone to `now` (epoch seconds); no time passes."""
        with self._lock:
            self._wall = float(now)
