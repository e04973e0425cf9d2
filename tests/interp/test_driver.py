"""The driver: flows written once, I/O-free, driven here by hand and by a tiny asyncio shell.

A flow yields work (`HttpRequest`, `CallTokenProvider`, `NotifyTokenUpdate`,
`AwaitFlight`) and is sent each piece's outcome, or has the piece's exception thrown
in. These tests drive `acquire`, `set_token` and `fetch` without the threaded
manager, the way an asyncio shell will.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from typing import Final

import pytest
from returns.result import Failure, Success

from ccg import (
    ReentrantTokenRequest,
    TokenFetchAbandoned,
    TokenProviderError,
    TokenUpdateCallbackError,
)
from ccg.core import (
    Abandoned,
    AwaitFlight,
    CallTokenProvider,
    HttpRequest,
    NotifyTokenUpdate,
    OAuthToken,
    Policy,
    TokenRequestSpec,
    TokenSource,
    TokenState,
    TransportFailure,
    TransportFailureKind,
)
from ccg.interp import TokenCell
from ccg.interp._driver import Flow, Work, acquire, fetch, set_token
from ccg.testing import FakeClock, token_reply

SPEC: Final = TokenRequestSpec(
    token_url="https://as.example/token", client_id="i", client_secret="s"
)


def cell(*, source: TokenSource = TokenSource.ENDPOINT, notify: bool = False) -> TokenCell:
    policy = Policy(request=SPEC, source=source, notify_updates=notify)
    return TokenCell(policy, TokenState(), FakeClock(), lambda: 0.5)


def finish(flow: Flow[object], outcome: object) -> object:
    """Send `outcome` and expect the flow to end; its result."""
    with pytest.raises(StopIteration) as stop:
        flow.send(outcome)
    return stop.value.value


def test_acquire_yields_the_request_and_returns_the_token_from_its_reply() -> None:
    c = cell()
    flow = acquire(c)
    work = next(flow)
    assert isinstance(work, HttpRequest)
    assert work.url == SPEC.token_url
    token = finish(flow, Success(token_reply("t1")))
    assert isinstance(token, OAuthToken)
    assert token.access_token == "t1"
    assert c.snapshot[1] == (token, "Bearer t1")  # published for the lock-free path


def test_a_transport_failure_value_is_the_typed_error_of_its_kind() -> None:
    flow = acquire(cell())
    next(flow)
    failure = TransportFailure(kind=TransportFailureKind.TLS, reason="certificate verify failed")
    with pytest.raises(Exception, match=r"unreachable \(tls\)"):
        flow.send(Failure(failure))


def test_an_exception_thrown_in_abandons_the_flight_with_it_as_cause() -> None:
    c = cell()
    flow = acquire(c)
    next(flow)
    boom = OSError("bug")
    with pytest.raises(TokenFetchAbandoned) as caught:
        flow.throw(boom)
    assert caught.value.__cause__ is boom
    assert c.state.flight is None
    assert c.state.failure is not None
    assert c.state.failure.failure == Abandoned(reason="OSError: bug")


def test_a_cancellation_goes_on_and_still_settles_the_flight() -> None:
    c = cell()
    waiter_woken: list[bool] = []
    flow = acquire(c)
    next(flow)
    assert c.watch(1, lambda: waiter_woken.append(True))
    cancelled = asyncio.CancelledError()
    with pytest.raises(asyncio.CancelledError):
        flow.throw(cancelled)
    assert waiter_woken == [True]
    assert c.state.flight is None
    assert c.cause(1) is cancelled


def test_a_second_caller_is_told_to_await_the_flight_then_gets_its_token() -> None:
    c = cell()
    owner, waiter = acquire(c), acquire(c)
    assert isinstance(next(owner), HttpRequest)
    # Another thread or task: a context of its own (here the owner's says "running flight 1").
    elsewhere = contextvars.Context()
    waiting = elsewhere.run(next, waiter)
    assert isinstance(waiting, AwaitFlight)
    assert waiting.flight == 1
    token = finish(owner, Success(token_reply("shared")))
    assert elsewhere.run(finish, waiter, None) is token


def test_the_caller_running_a_flight_may_not_await_it() -> None:
    c = cell(source=TokenSource.PROVIDER)
    owner = acquire(c)
    call = next(owner)
    assert isinstance(call, CallTokenProvider)
    inner = acquire(c)  # the provider asks for the token it is providing
    with pytest.raises(ReentrantTokenRequest):
        next(inner)
    with pytest.raises(TokenProviderError):
        owner.throw(ReentrantTokenRequest("raised inside the provider"))


def test_set_token_runs_the_callback_and_raises_its_failure() -> None:
    c = cell(notify=True)
    flow = set_token(c, OAuthToken(access_token="by-hand"))
    notify = next(flow)
    assert isinstance(notify, NotifyTokenUpdate)
    boom = OSError("disk full")
    with pytest.raises(TokenUpdateCallbackError) as caught:
        flow.throw(boom)
    assert caught.value.__cause__ is boom
    assert c.snapshot[1][0] == OAuthToken(access_token="by-hand")


def test_fetch_yields_the_same_request_plus_extras_and_holds_nothing() -> None:
    c = cell()
    flow = fetch(c, (("audience", "x"),))
    request = next(flow)
    assert isinstance(request, HttpRequest)
    assert request.body.endswith(b"&audience=x")
    token = finish(flow, Success(token_reply("raw")))
    assert isinstance(token, OAuthToken)
    assert c.state == TokenState()


# -- the same flows under asyncio: a shell that differs from the threaded one by `await` ----


class AsyncShell:
    """A minimal asyncio shell, to show the flows need nothing threaded."""

    def __init__(self, c: TokenCell, send: Callable[[HttpRequest], object]) -> None:
        self.cell = c
        self.send = send
        self.requests = 0

    async def run(self, flow: Flow[OAuthToken]) -> OAuthToken:
        try:
            work = next(flow)
            while True:
                try:
                    outcome = await self.perform(work)
                except BaseException as exc:  # the flow decides
                    work = flow.throw(exc)
                else:
                    work = flow.send(outcome)
        except StopIteration as stop:
            token: OAuthToken = stop.value
            return token

    async def perform(self, work: Work) -> object:
        match work:
            case HttpRequest():
                self.requests += 1
                await asyncio.sleep(0.05)
                return self.send(work)
            case AwaitFlight(flight=flight):
                released = asyncio.Event()
                loop = asyncio.get_running_loop()
                if self.cell.watch(flight, lambda: loop.call_soon_threadsafe(released.set)):
                    await released.wait()
                return None
            case _:
                raise AssertionError(work)


def test_an_asyncio_shell_gets_one_token_for_many_tasks() -> None:
    async def main() -> list[OAuthToken]:
        shell = AsyncShell(cell(), lambda request: Success(token_reply("async")))
        tokens = await asyncio.gather(*(shell.run(acquire(shell.cell)) for _ in range(100)))
        assert shell.requests == 1
        return tokens

    tokens = asyncio.run(main())
    assert {t.access_token for t in tokens} == {"async"}


def test_a_cancelled_owner_task_does_not_strand_the_other_tasks() -> None:
    async def main() -> tuple[list[object], int]:
        shell = AsyncShell(cell(), lambda request: Success(token_reply("again")))
        owner = asyncio.create_task(shell.run(acquire(shell.cell)))
        await asyncio.sleep(0.01)  # the owner is in its request
        others = [asyncio.create_task(shell.run(acquire(shell.cell))) for _ in range(5)]
        await asyncio.sleep(0.01)
        owner.cancel()
        results: list[object] = [*await asyncio.gather(owner, *others, return_exceptions=True)]
        return results, shell.requests

    results, requests = asyncio.run(main())
    assert isinstance(results[0], asyncio.CancelledError)
    # The waiters were released with the abandonment (typed, cause chained).
    assert all(isinstance(r, TokenFetchAbandoned) for r in results[1:])
    assert requests == 1
