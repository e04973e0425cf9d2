"""`AsyncClientCredentialsAuthManager`: the asyncio shell over the token machine.

The same `TokenCell` and the same flows as the threaded manager (`_driver.py`);
only `_drive` and `_perform` differ, by `await`. Flights run as tasks of their own
(`detach`): the caller that starts one waits for it like every other caller, so
cancelling any caller cancels its wait, never the fetch the others wait on.

One cell may be shared by a threaded manager and an async one
(`AsyncClientCredentialsAuthManager.sharing(manager, transport=...)`): threads and
tasks then see one token and one flight; whoever starts a flight runs it with its
own transport, threads wait on an `Event`, tasks on a future woken from any thread.
Callbacks of a shared pair must be plain functions (a thread cannot await).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeAlias, TypeVar, assert_never

from returns.result import Result

from ccg._checks import (
    checked_callable,
    checked_params,
    checked_with_methods,
)
from ccg._errors import ConfigurationError
from ccg.core import (
    BEARER,
    DEFAULT_CLOCK_SKEW,
    TOKEN_REQUEST_LIMITS,
    AwaitFlight,
    AwaitRetry,
    CallTokenProvider,
    Event,
    HttpRequest,
    Limits,
    NotifyTokenUpdate,
    OAuthToken,
    Policy,
    ResiliencePolicy,
    TokenAccepted,
    TokenRequestSpec,
    TokenState,
    current_token,
    effective_skew,
)
from ccg.interp._cell import TokenCell
from ccg.interp._clock import SYSTEM_CLOCK, Clock, SystemClock
from ccg.interp._driver import (
    Background,
    Flow,
    Work,
    acquire,
    fetch,
    reacquire,
    reported,
    set_token,
)
from ccg.interp._event_log import LOGGER, event_sink
from ccg.interp._manager import ClientCredentialsAuthManager
from ccg.interp._setup import new_cell
from ccg.interp._transport import AsyncTransport

__all__ = ["AsyncClientCredentialsAuthManager", "AsyncOnTokenUpdate", "AsyncTokenProvider"]

AsyncTokenProvider: TypeAlias = Callable[
    [OAuthToken | None, "AsyncClientCredentialsAuthManager"],
    Awaitable[OAuthToken | None] | OAuthToken | None,
]
"""`o_auth_token_provider(last_token_or_None, auth_manager)`: a coroutine function, or a
plain function, returning the token."""
AsyncOnTokenUpdate: TypeAlias = Callable[[OAuthToken], object]
"""`o_auth_on_token_update(token)`: a coroutine function or a plain one (awaited if it
returns an awaitable)."""

T = TypeVar("T")

_PAST_DEADLINE = 0.001  # a waiter re-asks a hair after the deadline


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class AsyncClientCredentialsAuthManager:
    """Gets, caches and renews the access token of one client, for asyncio.

    N tasks that need a token at once cause one token request. Its provider is handed
    this manager (`await auth_manager.fetch_token()`), not a threaded one: a provider
    written for `ApiClient` does not fit. Give it an
    `AsyncTransport` (`ccg.aio.HttpxAsyncTransport()`, `ccg.testing.FakeAsyncTransport`).
    The provider and the on-update callback may be coroutine functions or plain ones.
    """

    def __init__(
        self,
        request: TokenRequestSpec,
        *,
        transport: AsyncTransport,
        clock: Clock = SYSTEM_CLOCK,
        entropy: Callable[[], float] = random.random,
        clock_skew: float = DEFAULT_CLOCK_SKEW,
        token_provider: AsyncTokenProvider | None = None,
        on_token_update: AsyncOnTokenUpdate | None = None,
        token: OAuthToken | None = None,
        limits: Limits = TOKEN_REQUEST_LIMITS,
        token_types: tuple[str, ...] = BEARER,
        resilience: ResiliencePolicy = ResiliencePolicy(),  # noqa: B008 - frozen
        on_event: Callable[[Event], object] | None = None,
    ) -> None:
        checked_callable("on_event", on_event)
        emit = event_sink(on_event)
        self._setup(
            new_cell(
                request,
                clock=clock,
                entropy=entropy,
                clock_skew=clock_skew,
                provider=token_provider,
                on_update=on_token_update,
                token=token,
                limits=limits,
                token_types=token_types,
                resilience=resilience,
                emit=emit,
            ),
            transport,
            clock,
            emit,
            token_provider,
            on_token_update,
        )

    def _setup(
        self,
        cell: TokenCell,
        transport: AsyncTransport,
        clock: Clock,
        emit: Callable[[tuple[Event, ...]], None],
        provider: AsyncTokenProvider | None,
        on_update: AsyncOnTokenUpdate | None,
    ) -> None:
        checked_with_methods(
            "transport",
            transport,
            ["send"],
            "see ccg.aio.AsyncTransport (e.g. ccg.aio.HttpxAsyncTransport)",
        )
        if not inspect.iscoroutinefunction(transport.send):
            raise ConfigurationError(
                "transport", "its send() must be a coroutine function (async def)"
            )
        self._cell = cell
        self._transport = transport
        self._clock = clock
        self._monotonic = clock.monotonic
        sleep = getattr(clock, "sleep", None)
        # The system clock waits with asyncio; a test clock's sleep lets time pass at once.
        self._sleep: Callable[[float], object] | None = (
            None if isinstance(clock, SystemClock) or not callable(sleep) else sleep
        )
        self._emit = emit
        self._provider = provider
        self._on_update = on_update
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    def sharing(
        cls, manager: ClientCredentialsAuthManager, *, transport: AsyncTransport
    ) -> AsyncClientCredentialsAuthManager:
        """An async manager over `manager`'s own state: one token and one flight for its
        threads and these tasks. Token requests started here go through `transport`.

        `manager` must have no token provider (it would be handed either manager); its
        on-update callback must be a plain function (a thread cannot await)."""
        parts = manager._shared_parts()  # pyright: ignore[reportPrivateUsage]
        cell, clock, emit, has_provider, on_update = parts
        if has_provider:
            raise ConfigurationError(
                "manager",
                "has an o_auth_token_provider, which is called with the manager that runs "
                "the flight: share a manager without one (or give each its own)",
            )
        shared = cls.__new__(cls)
        shared._setup(cell, transport, clock, emit, None, on_update)
        return shared

    # -- reading ------------------------------------------------------------------

    async def token(self) -> OAuthToken:
        """A usable token, fetching one first if needed."""
        until, credential = self._cell.snapshot
        if self._monotonic() < until:
            return credential[0]
        return await self._drive(acquire(self._cell, detach=True))

    async def bearer(self) -> tuple[OAuthToken, str]:
        """A usable token and its `Bearer <token>` header value."""
        until, credential = self._cell.snapshot
        if self._monotonic() < until:
            return credential
        token = await self._drive(acquire(self._cell, detach=True))
        return token, "Bearer " + token.access_token

    async def authorization_header(self) -> str:
        """`Bearer <token>` for a usable token, fetching one first if needed."""
        until, credential = self._cell.snapshot
        if self._monotonic() < until:
            return credential[1]
        return "Bearer " + (await self._drive(acquire(self._cell, detach=True))).access_token

    @property
    def o_auth_token(self) -> OAuthToken | None:
        """The token held now, usable or not (None before the first fetch)."""
        return current_token(self._cell.state)

    def is_token_expired(self, token: OAuthToken | None = None) -> bool:
        """As `ClientCredentialsAuthManager.is_token_expired`."""
        if token is None:
            held = self._cell.state.held
            return held is None or self._monotonic() >= held.fresh_until
        if token.expiry is None:
            return False
        skew = effective_skew(token, self._cell.policy.clock_skew)
        return self._clock.time() >= token.expiry - skew

    @property
    def policy(self) -> Policy:
        """The machine's policy."""
        return self._cell.policy

    @property
    def state(self) -> TokenState:
        """The machine's current state (a frozen value)."""
        return self._cell.state

    # -- writing ------------------------------------------------------------------

    async def set_token(self, token: OAuthToken | None) -> None:
        """Hold `token` (None drops the held one); tells on-token-update if it is new."""
        await self._drive(set_token(self._cell, token))

    def set_token_now(self, token: OAuthToken | None) -> None:
        """`set_token` from plain code (the credentials' `o_auth_token` setter): the token
        is held at once; an async on-update callback is scheduled on the running loop
        (run to its end when no loop runs in this thread)."""
        flow = set_token(self._cell, token)
        try:
            work = next(flow)
            while True:
                assert isinstance(work, NotifyTokenUpdate)  # all a set_token flow asks for
                assert self._on_update is not None
                try:
                    outcome = self._on_update(work.token)
                    if inspect.isawaitable(outcome):
                        self._settle_callback(outcome)
                except Exception as exc:  # the flow turns it into the typed error
                    work = flow.throw(exc)
                else:
                    work = flow.send(None)
        except StopIteration:
            return

    def _settle_callback(self, awaitable: Awaitable[object]) -> None:
        """Run an async callback's awaitable from plain code: to its end when no loop runs
        in this thread (its exception raised here), else as a task (its exception logged)."""

        async def run() -> object:
            return await awaitable

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(run())
            return

        async def logged() -> None:
            try:
                await awaitable
            except Exception:  # nobody awaits it: log it, as a background renewal's failure
                LOGGER.exception("o_auth_on_token_update raised")

        task = loop.create_task(logged())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def fetch_token(
        self, additional_params: Mapping[str, str | Sequence[str]] | None = None
    ) -> OAuthToken:
        """Request a new token now, bypassing the cache (for use inside a token provider).

        As `ClientCredentialsAuthManager.fetch_token`: returned, neither held nor announced.
        """
        extra = checked_params("additional_params", additional_params)
        return await self._drive(fetch(self._cell, extra))

    async def token_rejected(
        self, token: OAuthToken, *, reason: str = "HTTP 401"
    ) -> OAuthToken | None:
        """As `ClientCredentialsAuthManager.token_rejected`: the token to replay with once,
        or None (do not replay)."""
        return await self._drive(reacquire(self._cell, token, reason, detach=True))

    def token_accepted(self, token: OAuthToken) -> None:
        """A request replayed with `token` after a 401 was not rejected: so a later 401 is a
        first rejection again (a new token and a replay), not a second in a row (a cool-down)."""
        self._cell.step(TokenAccepted(token=token))

    def report(self, *events: Event) -> None:
        """Log `events` and pass them to `on_event`."""
        self._emit(reported(self._cell, events))

    async def aclose(self) -> None:
        """Wait for the background renewals and fetches this manager started."""
        tasks = list(self._tasks)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- the shell ----------------------------------------------------------------

    async def _drive(self, flow: Flow[T]) -> T:
        """Run `flow` to its end in this task."""
        try:
            work = next(flow)
            while True:
                try:
                    outcome = await self._perform(work)
                except BaseException as exc:  # the flow decides what each failure means
                    work = flow.throw(exc)
                else:
                    work = flow.send(outcome)
        except StopIteration as stop:
            result: T = stop.value
            return result

    async def _drive_quietly(self, flow: Flow[object]) -> None:
        try:
            await self._drive(flow)
        except BaseException:  # settled in the cell already; nobody awaits this task
            LOGGER.debug("background token flight ended with an exception", exc_info=True)

    async def _perform(self, work: Work) -> object:
        match work:
            case HttpRequest():
                sent: Result[object, object] = await self._transport.send(work)
                return sent
            case CallTokenProvider(last=last):
                assert self._provider is not None  # the policy asks only if there is one
                provided = self._provider(last, self)
                return await provided if inspect.isawaitable(provided) else provided
            case NotifyTokenUpdate(token=token):
                assert self._on_update is not None  # the policy asks only if there is one
                notified = self._on_update(token)
                return await notified if inspect.isawaitable(notified) else notified
            case AwaitFlight(flight=flight, until=until):
                loop = asyncio.get_running_loop()
                released: asyncio.Future[None] = loop.create_future()
                if self._cell.watch(flight, lambda: loop.call_soon_threadsafe(_resolve, released)):
                    timeout = max(0.0, until - self._monotonic()) + _PAST_DEADLINE
                    # At the deadline, the machine decides what it means.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(released, timeout)
                return None
            case AwaitRetry(until=until):
                delay = max(0.0, until - self._monotonic())
                if self._sleep is not None:
                    self._sleep(delay)
                    await asyncio.sleep(0)
                else:
                    await asyncio.sleep(delay)
                return None
            case Background(flow=flow):
                task = asyncio.get_running_loop().create_task(self._drive_quietly(flow))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                return None
            case _:
                assert_never(work)
