"""`ClientCredentialsAuthManager`: the thread-safe interpreter of the token machine.

It owns the machine's state behind a lock held only while `step` runs (never
across I/O or a user callback), runs the effects `step` asks for, and feeds
their outcomes back. A usable token is read without any lock: after every step
it publishes `(reusable_until, header, token)`, and `step` guarantees that
`TokenNeeded` before that instant is answered `UseToken` with nothing changed.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from typing import Final, TypeAlias, assert_never

from returns.pipeline import is_successful

from ccg._errors import CcgError, exception_for
from ccg.core import (
    AwaitFetch,
    CallTokenProvider,
    Effect,
    EndpointUnreachable,
    Fail,
    FetchToken,
    Holding,
    HttpRequest,
    Input,
    NotifyTokenUpdate,
    NoToken,
    OAuthToken,
    Policy,
    TokenNeeded,
    TokenProvided,
    TokenProviderRaised,
    TokenReplyReceived,
    TokenRequestFailed,
    TokenRequestSpec,
    TokenSet,
    TokenState,
    TokenUpdateNotified,
    TokenUpdateRaised,
    UseToken,
    build_token_request,
    current_token,
    decode_token_reply,
    is_expired,
    reusable_until,
    stamped,
    step,
)
from ccg.interp._transport import Transport

__all__ = ["ClientCredentialsAuthManager", "OnTokenUpdate", "TokenProvider"]

TokenProvider: TypeAlias = Callable[
    [OAuthToken | None, "ClientCredentialsAuthManager"], OAuthToken | None
]
"""`o_auth_token_provider(last_token_or_None, auth_manager) -> token`."""
OnTokenUpdate: TypeAlias = Callable[[OAuthToken], object]
"""`o_auth_on_token_update(token)`; its return value is ignored."""

_MAX_ROUNDS: Final = 4
_Outcome: TypeAlias = tuple[UseToken | Fail | None, BaseException | None]


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _checked_token(value: object) -> OAuthToken | None:
    """`value` if it is a token or None (callers without a type checker may pass anything)."""
    if value is not None and not isinstance(value, OAuthToken):
        raise TypeError(f"o_auth_token must be an OAuthToken, not {type(value).__name__}")
    return value


def _provided(returned: object) -> Input:
    """What a token provider's return value means (an untyped provider may return anything)."""
    if returned is None or isinstance(returned, OAuthToken):
        return TokenProvided(token=returned)
    return TokenProviderRaised(reason=f"returned a {type(returned).__name__}, not an OAuthToken")


class _Flight:
    """One in-flight fetch: its owner settles it once; every waiter reads the outcome.

    The Event is made only when a first waiter shows up (most fetches have none, and an
    Event costs a tenth of a first fetch's own work). `watch` and `settle` are called
    with the manager's lock held, so a waiter never misses the settling.
    """

    __slots__ = ("_done", "outcome", "owner", "settled")

    def __init__(self) -> None:
        self._done: threading.Event | None = None
        self.outcome: _Outcome = (None, None)
        self.owner = threading.get_ident()
        self.settled = False

    def watch(self) -> threading.Event | None:
        """The Event to wait on, or None if the flight has already settled (lock held)."""
        if self.settled:
            return None
        if self._done is None:
            # One Event for every waiter: set() wakes them all at once, where a chain of
            # lock hand-offs would make a herd wait for the GIL in turn.
            self._done = threading.Event()
        return self._done

    def settle(self, outcome: _Outcome) -> None:
        """Record the outcome and wake the waiters (lock held)."""
        self.outcome = outcome
        self.settled = True
        if self._done is not None:
            self._done.set()


class ClientCredentialsAuthManager:
    """Gets, caches and renews the access token of one client; safe to share between threads.

    N threads that need a token at once cause one token request; each of them gets
    that token or that error. Build one through `ApiClient` (or directly, for tests).
    """

    def __init__(
        self,
        policy: Policy,
        *,
        transport: Transport,
        clock: Callable[[], float],
        token_provider: TokenProvider | None = None,
        on_token_update: OnTokenUpdate | None = None,
        token: OAuthToken | None = None,
    ) -> None:
        self._policy = policy
        self._transport = transport
        self._clock = clock
        self._provider = token_provider
        self._on_update = on_token_update
        self._lock = threading.Lock()
        self._state: TokenState = (
            NoToken() if token is None else Holding(token=stamped(token, clock()))
        )
        self._flight = _Flight()
        self._hot: tuple[float, str, OAuthToken | None] = (-math.inf, "", None)
        self._publish()

    # -- reading ------------------------------------------------------------------

    def authorization_header(self) -> str:
        """`Bearer <token>` for a usable token, fetching one first if needed (the hot path)."""
        until, header, _ = self._hot
        if self._clock() < until:
            return header
        return self._acquire().authorization

    def token(self) -> OAuthToken:
        """A usable token, fetching one first if needed."""
        until, _, token = self._hot
        if token is not None and self._clock() < until:
            return token
        return self._acquire().token

    @property
    def o_auth_token(self) -> OAuthToken | None:
        """The token held now, usable or not (None before the first fetch)."""
        return current_token(self._state)

    @o_auth_token.setter
    def o_auth_token(self, token: OAuthToken | None) -> None:
        self.set_token(token)

    def is_token_expired(self, token: OAuthToken | None = None) -> bool:
        """True if `token` (default: the one held) is missing or within the clock skew of expiry."""
        token = self.o_auth_token if token is None else token
        return token is None or is_expired(token, self._clock(), self._policy.clock_skew)

    @property
    def policy(self) -> Policy:
        """The machine's policy (token request and clock skew)."""
        return self._policy

    @property
    def state(self) -> TokenState:
        """The machine's current state (a frozen value)."""
        return self._state

    # -- writing ------------------------------------------------------------------

    def set_token(self, token: OAuthToken | None) -> None:
        """Adopt `token` (set by hand; None forgets the held token); fires on-token-update."""
        token = _checked_token(token)
        with self._lock:
            effects = self._step(TokenSet(token=token))
        result, cause = self._run(effects)
        if isinstance(result, Fail):
            raise exception_for(result.failure) from cause

    def fetch_token(self, additional_params: Mapping[str, str] | None = None) -> OAuthToken:
        """Request a new token now, bypassing the cache; for use inside a token provider.

        The token is returned with its `expiry` stamped, but not stored and not
        announced: the provider's return value is what the manager adopts.
        Raises `OAuthProviderException` and the other `TokenAcquisitionError`s.
        """
        spec = self._policy.request
        if additional_params:
            spec = TokenRequestSpec(
                token_url=spec.token_url,
                client_id=spec.client_id,
                client_secret=spec.client_secret,
                scopes=spec.scopes,
                extra_params=(*spec.extra_params, *additional_params.items()),
                authentication=spec.authentication,
            )
        sent = self._transport.send(build_token_request(spec))
        if not is_successful(sent):
            raise exception_for(EndpointUnreachable(reason=sent.failure().reason))
        decoded = decode_token_reply(sent.unwrap())
        if not is_successful(decoded):
            raise exception_for(decoded.failure())
        return stamped(decoded.unwrap(), self._clock())

    # -- the interpreter ----------------------------------------------------------

    def _publish(self) -> None:
        token = current_token(self._state)
        header = "" if token is None else "Bearer " + token.access_token
        self._hot = (reusable_until(self._policy, self._state), header, token)

    def _step(self, event: Input) -> tuple[Effect, ...]:
        """One transition; the caller holds the lock."""
        decision = step(self._policy, self._state, event, self._clock())
        self._state = decision.state
        self._publish()
        return decision.effects

    def _acquire(self) -> UseToken:
        cause: BaseException | None = None
        for _ in range(_MAX_ROUNDS):
            with self._lock:
                effects = self._step(TokenNeeded())
                starts_flight = isinstance(effects[0], FetchToken | CallTokenProvider)
                if starts_flight:
                    self._flight = _Flight()
                flight = self._flight
                awaits = isinstance(effects[0], AwaitFetch)
                if awaits and flight.owner == threading.get_ident():
                    # A provider (or transport) asking for the token it is fetching would
                    # wait for itself forever.
                    raise CcgError(
                        "the token is being fetched by this very thread: inside "
                        "o_auth_token_provider use auth_manager.fetch_token()"
                    )
                done = flight.watch() if awaits else None
            if starts_flight:
                result, cause = self._fly(flight, effects)
            elif awaits:
                if done is not None:
                    done.wait()
                result, cause = flight.outcome
            else:
                result, cause = self._run(effects)
            if isinstance(result, UseToken):
                return result
            if isinstance(result, Fail):
                raise exception_for(result.failure) from cause
        raise CcgError(f"no usable token after {_MAX_ROUNDS} attempts") from cause

    def _fly(self, flight: _Flight, effects: tuple[Effect, ...]) -> _Outcome:
        """Run a flight's effects as its owner, and settle it for the waiters whatever happens."""
        outcome: _Outcome = (None, None)
        try:
            outcome = self._run(effects)
        except BaseException as exc:
            # A transport or callback escaped with something we do not catch: leave
            # `Fetching` so the next caller can try again, and wake the waiters.
            with self._lock:
                self._step(TokenRequestFailed(reason=_describe(exc)))
            raise
        finally:
            with self._lock:
                flight.settle(outcome)
        return outcome

    def _run(self, effects: tuple[Effect, ...]) -> _Outcome:
        """Run effects until a terminal one; step each produced input in between."""
        cause: BaseException | None = None
        while True:
            produced: Input | None = None
            for effect in effects:
                match effect:
                    case UseToken() | Fail():
                        return effect, cause
                    case AwaitFetch():
                        return None, cause
                    case FetchToken(request=request):
                        produced = self._send(request)
                    case CallTokenProvider(last=last):
                        produced, cause = self._call_provider(last)
                    case NotifyTokenUpdate(token=token):
                        produced, cause = self._notify(token)
                    case _:
                        assert_never(effect)
            if produced is None:
                return None, cause
            with self._lock:
                effects = self._step(produced)

    def _send(self, request: HttpRequest) -> Input:
        sent = self._transport.send(request)
        if is_successful(sent):
            return TokenReplyReceived(reply=sent.unwrap())
        return TokenRequestFailed(reason=sent.failure().reason)

    def _call_provider(self, last: OAuthToken | None) -> tuple[Input, BaseException | None]:
        assert self._provider is not None
        try:
            returned = self._provider(last, self)
        except Exception as exc:  # any provider failure becomes a typed error
            return TokenProviderRaised(reason=_describe(exc)), exc
        return _provided(returned), None

    def _notify(self, token: OAuthToken) -> tuple[Input, BaseException | None]:
        assert self._on_update is not None
        try:
            self._on_update(token)
        except Exception as exc:  # the callback's failure reaches the caller
            return TokenUpdateRaised(token=token, reason=_describe(exc)), exc
        return TokenUpdateNotified(token=token), None
