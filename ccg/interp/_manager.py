"""`ClientCredentialsAuthManager`: the threaded shell over the token machine.

It builds the machine's `Policy` from what it is given (a provider or not, a
callback or not), holds the `TokenCell`, and drives the flows of `_driver.py`,
running their work on the calling thread. A usable token is read without a lock
from the cell's snapshot.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TypeAlias, TypeVar, assert_never

from returns.result import Result, Success

from ccg._checks import (
    checked_callable,
    checked_clock_skew,
    checked_limits,
    checked_params,
    checked_with_methods,
)
from ccg._errors import InvalidTokenError
from ccg.core import (
    BEARER,
    DEFAULT_CLOCK_SKEW,
    TOKEN_REQUEST_LIMITS,
    AwaitFlight,
    CallTokenProvider,
    HttpRequest,
    InvalidToken,
    Limits,
    NotifyTokenUpdate,
    Now,
    OAuthToken,
    Policy,
    TokenRequestSpec,
    TokenSource,
    TokenState,
    current_token,
    effective_skew,
    initial_state,
)
from ccg.interp._cell import TokenCell
from ccg.interp._clock import SYSTEM_CLOCK, Clock
from ccg.interp._driver import Flow, Work, acquire, fetch, set_token
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


class ClientCredentialsAuthManager:
    """Gets, caches and renews the access token of one client; safe to share between threads.

    N threads that need a token at once cause one token request; each of them gets
    that token or that error. `ApiClient` builds one per client; share one between
    clients explicitly with `ApiClient(auth_manager=...)`.
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
    ) -> None:
        checked_with_methods(
            "transport", transport, ["send"], "see ccg.Transport (e.g. ccg.Urllib3Transport())"
        )
        checked_with_methods(
            "clock", clock, ["monotonic", "time"], "see ccg.Clock (e.g. ccg.testing.FakeClock())"
        )
        checked_callable("entropy", entropy)
        checked_callable("o_auth_token_provider", token_provider)
        checked_callable("o_auth_on_token_update", on_token_update)
        self._transport = transport
        self._clock = clock
        self._monotonic = clock.monotonic
        self._provider = token_provider
        self._on_update = on_token_update
        policy = Policy(
            request=request,
            clock_skew=checked_clock_skew(clock_skew),
            source=TokenSource.ENDPOINT if token_provider is None else TokenSource.PROVIDER,
            notify_updates=on_token_update is not None,
            limits=checked_limits("limits", limits),
            token_types=tuple(t.lower() for t in token_types),
        )
        now = Now(monotonic=clock.monotonic(), wall=clock.time(), entropy=entropy())
        started = initial_state(token, now)
        if not isinstance(started, Success):
            failure = started.failure()
            assert isinstance(failure, InvalidToken)  # the only failure of initial_state
            raise InvalidTokenError(failure)
        self._cell = TokenCell(policy, started.unwrap(), clock, entropy)

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
            until, _ = self._cell.snapshot
            return self._monotonic() >= until
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
            case _:
                assert_never(work)
