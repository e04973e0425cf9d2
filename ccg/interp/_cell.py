"""`TokenCell`: one client's machine state, shared by every caller (threads and tasks alike).

The cell holds the state behind a lock taken only while the pure `step` runs,
never across I/O or a callback, so threads and asyncio tasks can share it. After
every step it publishes `(reusable_until, (token, bearer))`: until that monotonic instant the
machine would answer `TokenNeeded` with that token and change nothing, so a
caller may use the token without taking the lock (the hot path).

It also keeps what the core cannot hold as values: who waits for which flight
(wake-up callables, whatever kind of waiter registered them), and the exception
that made the last flight fail, which every caller told about that flight gets
as the cause of its error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Final

from ccg.core import (
    Decision,
    Event,
    Input,
    Now,
    OAuthToken,
    Policy,
    ReleaseWaiters,
    TokenState,
    current_token,
    reusable_until,
    step,
)
from ccg.interp._clock import Clock

__all__ = ["TokenCell"]


_NOTHING_HELD: Final = (OAuthToken(access_token="-"), "")
"""The credential published while no token is held. It is never handed out: with it
the snapshot's instant is `-inf`, before any `now`."""


def _snapshot(policy: Policy, state: TokenState) -> tuple[float, tuple[OAuthToken, str]]:
    token = current_token(state)
    if token is None:
        return reusable_until(policy, state), _NOTHING_HELD
    return reusable_until(policy, state), (token, "Bearer " + token.access_token)


class TokenCell:
    """The state of one client's token machine, stepped under a lock."""

    __slots__ = (
        "_cause",
        "_clock",
        "_emit",
        "_entropy",
        "_lock",
        "_state",
        "_waiters",
        "policy",
        "snapshot",
    )

    def __init__(
        self,
        policy: Policy,
        state: TokenState,
        clock: Clock,
        entropy: Callable[[], float],
        emit: Callable[[tuple[Event, ...]], object] | None = None,
    ) -> None:
        self.policy = policy
        """The machine's fixed settings."""
        self._state = state
        self._clock = clock
        self._entropy = entropy
        self._emit = emit
        self._lock = threading.Lock()
        self._waiters: dict[int, list[Callable[[], object]]] = {}
        self._cause: tuple[int, BaseException] | None = None
        self.snapshot: tuple[float, tuple[OAuthToken, str]] = _snapshot(policy, state)
        """`(reusable_until, (token, bearer))`, replaced whole after every step. `bearer` is
        the token's `Bearer` header value, made once per token rather than per request; the
        pair is made once too, for callers that want both."""

    @property
    def state(self) -> TokenState:
        """The current state (a frozen value)."""
        return self._state

    def now(self) -> Now:
        """Both clocks and a random draw, read now."""
        return Now(
            monotonic=self._clock.monotonic(), wall=self._clock.time(), entropy=self._entropy()
        )

    def step(self, event: Input, cause: BaseException | None = None) -> Decision:
        """Step `event`, publish the new state, and wake the waiters the step releases.

        `cause` is the exception behind `event` (a provider's, a transport's): callers
        told about the failure of `event`'s flight get it as the cause of their error.
        The step's events go to the cell's `emit` (logs, metrics) after the lock is let go.
        """
        with self._lock:
            decision = step(self.policy, self._state, event, self.now())
            state = decision.state
            before = self._state
            if state is not before:
                self._state = state
                if state.held is before.held:  # same token: only the instant may move
                    self.snapshot = (reusable_until(self.policy, state), self.snapshot[1])
                else:
                    self.snapshot = _snapshot(self.policy, state)
            if cause is not None:
                flight = getattr(event, "flight", None)
                if isinstance(flight, int):
                    self._cause = (flight, cause)
            woken = (
                [
                    wake
                    for effect in decision.work
                    if isinstance(effect, ReleaseWaiters)
                    for wake in self._waiters.pop(effect.flight, ())
                ]
                if self._waiters
                else ()
            )
        for wake in woken:
            wake()
        if decision.events and self._emit is not None:
            self._emit(decision.events)
        return decision

    def monotonic(self) -> float:
        """The monotonic clock, read now."""
        return self._clock.monotonic()

    def watch(self, flight: int, wake: Callable[[], object]) -> bool:
        """Call `wake` when flight `flight` is released; False if it already was (don't wait)."""
        with self._lock:
            current = self._state.flight
            if current is None or current.id != flight:
                return False
            self._waiters.setdefault(flight, []).append(wake)
            return True

    def cause(self, flight: int | None) -> BaseException | None:
        """The exception that failed flight `flight`, if that was the last failed flight."""
        kept = self._cause
        return kept[1] if kept is not None and kept[0] == flight else None
