"""`ClientCredentialsAuthManager`: the threaded shell over the token machine.

It builds the machine's `Policy` from what it is given (a provider or not, a
callback or not), holds the `TokenCell`, and drives the flows of `_driver.py`,
running their work on the calling thread. A usable token is read without a lock
from the cell's snapshot.
"""

from __future__ import annotations

import inspect
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
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
from ccg.interp._clock import SYSTEM_CLOCK, Clock
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
from ccg.interp._setup import new_cell
from ccg.interp._transport import Transport

__all__ = ["ClientCredentialsAuthManager", "OnTokenUpdate", "TokenProvider"]

TokenProvider: TypeAlias = Callable[
    [OAuthToken | None, "ClientCredentialsAuthManager"], OAuthToken | None
]
"""`o_auth_token_provider(last_token_or_None, auth_manager) -> token`."""
OnTokenUpdate: TypeAlias = Callable[[OAuthToken], object]
"""`o_auth_on_token_update(token)`; its return value is ignored."""

T = TypeVar("T")

# A waiter re-asks a hair after the deadline, so that the machine sees it passed.
_PAST_DEADLINE = 0.001


def _daemon_thread(task: Callable[[], None]) -> None:
    """Run `task` on a new daemon thread (a renewal must not keep the process alive)."""
    threading.Thread(target=task, name="ccg-renewal", daemon=True).start()


class ClientCredentialsAuthManager:
    """Gets, caches and renews the access token of one client; safe to share between threads.

    N threads that need a token at once cause one token request; each of them gets
    that token or that error. `ApiClient` builds one per client; share one between
    clients explicitly with `ApiClient(auth_manager=...)`.

    `resilience` sets the soft refresh, retries, backoff, cool-down and breaker.
    Renewals in the refresh window run through `spawn(task)` (default: a daemon
    thread per renewal); `ccg.testing.run_inline` runs them on the calling thread,
    for deterministic tests. Every step's events go to the `ccg` logger and to
    `on_event(event)`.
    """

    def __init__(
        self,
        request: TokenRequestSpec,
        *,
        transport: Transport,
        clock: Clock = SYSTEM_CLOCK,
        entropy: Callable[[], float] = random.random,
        clock_skew: float = DEFAULT_CLOCK_SKEW,
        token_provider: TokenProvider | None = None,
        on_token_update: OnTokenUpdate | None = None,
        token: OAuthToken | None = None,
        limits: Limits = TOKEN_REQUEST_LIMITS,
        token_types: tuple[str, ...] = BEARER,
        resilience: ResiliencePolicy = ResiliencePolicy(),  # noqa: B008 - frozen
        on_event: Callable[[Event], object] | None = None,
        spawn: Callable[[Callable[[], None]], object] | None = None,
    ) -> None:
        checked_with_methods(
            "transport", transport, ["send"], "see ccg.Transport (e.g. ccg.Urllib3Transport())"
        )
        for field, callback in (
            ("o_auth_token_provider", token_provider),
            ("o_auth_on_token_update", on_token_update),
        ):
            if inspect.iscoroutinefunction(callback):
                raise ConfigurationError(
                    field, "is a coroutine function: use AsyncApiClient (a thread cannot await)"
                )
        checked_callable("on_event", on_event)
        checked_callable("spawn", spawn)
        self._emit = event_sink(on_event)
        self._cell = new_cell(
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
            emit=self._emit,
        )
        self._spawn: Callable[[Callable[[], None]], object] = spawn or _daemon_thread
        self._transport = transport
        self._clock = clock
        self._monotonic = clock.monotonic
        sleep = getattr(clock, "sleep", None)
        self._sleep: Callable[[float], object] = sleep if callable(sleep) else time.sleep
        self._provider = token_provider
        self._on_update = on_token_update

    # -- reading ------------------------------------------------------------------

    def token(self) -> OAuthToken:
        """A usable token, fetching one first if needed (the hot path: one read, one clock)."""
        until, credential = self._cell.snapshot
        if self._monotonic() < until:
            return credential[0]
        return self._drive(acquire(self._cell))

    def bearer(self) -> tuple[OAuthToken, str]:
        """A usable token and its `Bearer <token>` header value, fetching one first if needed."""
        until, credential = self._cell.snapshot
        if self._monotonic() < until:
            return credential
        token = self._drive(acquire(self._cell))
        return token, "Bearer " + token.access_token

    def authorization_header(self) -> str:
        """`Bearer <token>` for a usable token, fetching one first if needed."""
        until, credential = self._cell.snapshot
        if self._monotonic() < until:
            return credential[1]
        return "Bearer " + self._drive(acquire(self._cell)).access_token

    @property
    def o_auth_token(self) -> OAuthToken | None:
        """The token held now, usable or not (None before the first fetch)."""
        return current_token(self._cell.state)

    @o_auth_token.setter
    def o_auth_token(self, token: OAuthToken | None) -> None:
        self.set_token(token)

    def is_token_expired(self, token: OAuthToken | None = None) -> bool:
        """True if `token` (default: the one held) is missing or within the clock skew of expiry.

        The held token is judged on the monotonic clock; a token passed in, by its
        wall-clock `expiry` against the wall clock now.
        """
        if token is None:
            held = self._cell.state.held
            return held is None or self._monotonic() >= held.fresh_until
        if token.expiry is None:
            return False
        skew = effective_skew(token, self._cell.policy.clock_skew)
        return self._clock.time() >= token.expiry - skew

    @property
    def policy(self) -> Policy:
        """The machine's policy, derived from this manager's settings and callables."""
        return self._cell.policy

    @property
    def state(self) -> TokenState:
        """The machine's current state (a frozen value)."""
        return self._cell.state

    # -- writing ------------------------------------------------------------------

    def set_token(self, token: OAuthToken | None) -> None:
        """Hold `token` (None drops the held one); tells on-token-update if it is new.

        A token that fails the checks raises `InvalidTokenError` and changes nothing.
        """
        self._drive(set_token(self._cell, token))

    def fetch_token(
        self, additional_params: Mapping[str, str | Sequence[str]] | None = None
    ) -> OAuthToken:
        """Request a new token now, bypassing the cache; for use inside a token provider.

        The same request, checks and stamping as every fetch, plus `additional_params`
        (checked like `o_auth_token_request_params`) for this request only. The token
        is returned, not held and not announced: the provider's return value is what
        the manager holds. Raises `OAuthProviderException` and the other
        `TokenAcquisitionError`s.
        """
        extra = checked_params("additional_params", additional_params)
        return self._drive(fetch(self._cell, extra))

    def token_rejected(self, token: OAuthToken, *, reason: str = "HTTP 401") -> OAuthToken | None:
        """A protected endpoint answered 401 to a request that carried `token`.

        If `token` is still the one held, it is let go and a new one obtained (one
        fetch for every caller, as always); if a newer one is already held, that one.
        Returns the token to replay the request with once, or None when it should not
        be replayed: the token obtained after the previous 401 was rejected too, and
        calls cool down (`TokenRejectedError`) instead of fetching one per call.
        Failing to get a new token raises its typed error.
        """
        return self._drive(reacquire(self._cell, token, reason))

    def token_accepted(self, token: OAuthToken) -> None:
        """A request replayed with `token` after a 401 was not rejected: so a later 401 is a
        first rejection again (a new token and a replay), not a second in a row (a cool-down)."""
        self._cell.step(TokenAccepted(token=token))

    def _shared_parts(
        self,
    ) -> tuple[TokenCell, Clock, Callable[[tuple[Event, ...]], None], bool, OnTokenUpdate | None]:
        """What an async manager sharing this one's state needs (`.sharing`)."""
        return self._cell, self._clock, self._emit, self._provider is not None, self._on_update

    def report(self, *events: Event) -> None:
        """Log `events` and pass them to `on_event`, as the manager's own are (an
        `ApiClient` reports an API's 403 `insufficient_scope` this way)."""
        self._emit(reported(self._cell, events))

    # -- the shell ----------------------------------------------------------------

    def _drive(self, flow: Flow[T]) -> T:
        """Run `flow` to its end on this thread."""
        try:
            work = next(flow)
            while True:
                try:
                    outcome = self._perform(work)
                except BaseException as exc:  # the flow decides what each failure means
                    work = flow.throw(exc)
                else:
                    work = flow.send(outcome)
        except StopIteration as stop:
            result: T = stop.value
            return result

    def _drive_quietly(self, flow: Flow[object]) -> None:
        """Run a background flow; what it met is in the cell (and the log), not raised."""
        try:
            self._drive(flow)
        except BaseException:  # a renewal nobody waits for: its failure is already stepped
            LOGGER.debug("background renewal ended with an exception", exc_info=True)

    def _perform(self, work: Work) -> object:
        match work:
            case HttpRequest():
                sent: Result[object, object] = self._transport.send(work)
                return sent
            case CallTokenProvider(last=last):
                assert self._provider is not None  # the policy asks only if there is one
                return self._provider(last, self)
            case NotifyTokenUpdate(token=token):
                assert self._on_update is not None  # the policy asks only if there is one
                return self._on_update(token)
            case AwaitFlight(flight=flight, until=until):
                released = threading.Event()
                if self._cell.watch(flight, released.set):
                    released.wait(max(0.0, until - self._monotonic()) + _PAST_DEADLINE)
                return None
            case AwaitRetry(until=until):
                self._sleep(max(0.0, until - self._monotonic()))
                return None
            case Background(flow=flow):
                self._spawn(lambda: self._drive_quietly(flow))
                return None
            case _:
                assert_never(work)
