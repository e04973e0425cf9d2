"""A model shell: many callers, an authorization server, a provider, a setter and a
protected API, all driving one `TokenState` through `step`, in an order a Hypothesis plan
decides, by the driver's protocol (`ccg/interp/_driver.py`).

A call asks with `TokenNeeded()` and, until it is answered `UseToken` or `Fail`, asks
again with `TokenNeeded(waited_for=n, attempts, since)`: after waiting for flight n
(`AwaitFlight`), after running flight n itself (no answer, the flight's effect to run),
or after a backoff (`AwaitRetry`, `waited_for=None`). `attempts` counts the flights the
call went through, `since` is when it first asked. A token handed out while a renewal
starts (`UseToken` plus the flight's effect) ends the call; the renewal runs in the
background.

A plan is a list of `Action`s. Before each action both clocks move: the monotonic clock
forward, the wall clock with it plus a jump either way (seconds to days); and a new
random draw is made (`Now.entropy`). Then one of:

- `NEED`: a new call asks `TokenNeeded()`.
- `WAKE`: a waiting call (released, timed out, backed off, or woken spuriously) asks again.
- `ANSWER`: one outstanding producing effect, in any order, is answered, even long after
  its flight was given up or superseded (its outcome is then stale).
- `REPLAY`: an outcome already stepped arrives again (a duplicate, always stale).
- `SET`: the application sets a token (None, fresh, expired, junk, the held one again).
- `STRAY`: an outcome for a flight that is not outstanding (old, never started, nonsense).
- `REJECT`: the API answers 401 to a request that carried a token handed out earlier (the
  held one, or an older one), and a new call asks with `TokenRejected`; when it gets a
  token, the replay with it may go through (`TokenAccepted`).

Every step is checked against `_invariants.check_step` as it happens and recorded in
`Shell.trace`, with the shell's own account of every token it handed over:
`Shell.bounds[access_token]` is the monotonic instant from which that token must not be
used, computed here from what the shell itself sent, and `Shell.uses` pairs every
`UseToken` with the bound in force at that moment. A fetched token's lifetime (its own,
or the policy's default) counts from its flight's start (the `Now` of the step that
emitted `FetchToken(n)`), never from any wall-clock reading, and one that arrives inside
the skew is used until it expires. A token handed in (provider, setter) carries its
expiry on the wall clock, read at the moment it was accepted. The held token the API
rejected is not used from that moment on (unless a provider hands it in again).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final, NamedTuple

import msgspec
from hypothesis import strategies as st

from ccg.core import (
    Answer,
    AwaitFlight,
    AwaitRetry,
    CallTokenProvider,
    Decision,
    Effect,
    Fail,
    FetchToken,
    FlightAbandoned,
    HttpReply,
    Input,
    Limits,
    NotifyTokenUpdate,
    Now,
    OAuthToken,
    Policy,
    ResiliencePolicy,
    TokenAccepted,
    TokenAdopted,
    TokenInvalidated,
    TokenNeeded,
    TokenOrigin,
    TokenProvided,
    TokenProviderRaised,
    TokenRejected,
    TokenReplyReceived,
    TokenRequestFailed,
    TokenRequestSpec,
    TokenSet,
    TokenSource,
    TokenState,
    TokenUpdateNotified,
    TokenUpdateRaised,
    TransportFailure,
    TransportFailureKind,
    UseToken,
    step,
)
from ccg.testing.strategies import DAY, EPOCH, UPTIME, wall_jumps
from tests.core._invariants import OUTCOMES, TEN_YEARS, check_step, expected_skew

SPEC: Final = TokenRequestSpec(
    token_url="https://as.example/token", client_id="id", client_secret="s"
)
LIFETIMES: Final = (3600, 60, 1, 0, 120, 7200, 30, DAY)
"""Lifetimes the server and the provider hand out, by payload."""
ADVANCES: Final = (0.0, 0.0, 0.25, 1.0, 5.0, 10.0, 15.0, 29.0, 30.0, 31.0, 32.0, 33.0, 45.0, 59.0)
ADVANCES_LONG: Final = (60.0, 61.0, 120.0, 600.0, 1_770.0, 2_700.0, 3_540.0, 3_600.0, float(DAY))
RESILIENCE: Final = (
    ResiliencePolicy(),
    ResiliencePolicy(refresh_ratio=0.0),
    ResiliencePolicy(
        refresh_ratio=0.5,
        default_lifetime=60.0,
        max_attempts=1,
        call_timeout=30.0,
        cool_down=5.0,
        breaker_threshold=2,
        breaker_open_for=10.0,
    ),
    ResiliencePolicy(
        default_lifetime=3600.0,
        max_attempts=5,
        backoff_base=0.001,
        backoff_cap=0.01,
        cool_down=0.0,
        breaker_threshold=1,
        breaker_open_for=0.0,
    ),
)
"""The defaults; no soft refresh; a short default lifetime, one attempt, a breaker that opens
after two failures; no waiting at all, and a breaker open for no time."""


class Kind(IntEnum):
    NEED = 0
    WAKE = 1
    ANSWER = 2
    REPLAY = 3
    SET = 4
    STRAY = 5
    REJECT = 6


KIND_WEIGHTS: Final = (
    *[Kind.NEED] * 3,
    Kind.WAKE,
    Kind.WAKE,
    *[Kind.ANSWER] * 4,
    Kind.REPLAY,
    Kind.SET,
    Kind.STRAY,
    Kind.REJECT,
    Kind.REJECT,
)
"""Answers are the most common action, so that flights often settle with a token."""


class Action(NamedTuple):
    kind: Kind
    pick: int
    """Which waiter, outstanding effect, past outcome or token handed out."""
    payload: int
    """Which answer, token or id (see `Shell.answer_for`, `Shell.token_set`)."""
    advance: float
    """Seconds both clocks move forward first."""
    jump: float
    """Seconds the wall clock alone moves first, either way."""
    entropy: float
    """The random draw of the step (`Now.entropy`)."""


class Call(NamedTuple):
    """A call that has not been answered yet: what it says when it asks again."""

    waited_for: int | None
    """The flight it waited for or ran; None after a backoff."""
    attempts: int
    """The flights it went through."""
    since: float
    """When it first asked (monotonic)."""


def actions() -> st.SearchStrategy[Action]:
    """One action; cheap to draw (a handful of small numbers), so plans can be long."""
    return st.builds(
        Action,
        kind=st.sampled_from(KIND_WEIGHTS),
        pick=st.integers(0, 7),
        payload=st.integers(0, 15),
        advance=st.one_of(
            st.sampled_from(ADVANCES), st.sampled_from(ADVANCES), st.sampled_from(ADVANCES_LONG)
        ),
        jump=st.just(0.0) | wall_jumps(),
        entropy=st.sampled_from([0.0, 0.5, 0.999]) | st.floats(0, 1, exclude_max=True),
    )


def shell_policies() -> st.SearchStrategy[Policy]:
    """Policies for the model: either source, callback or not, the usual skews, a total
    timeout of 30 s (deadline 32 s), 1 s or none, and one of the `RESILIENCE` settings."""
    return st.builds(
        Policy,
        request=st.just(SPEC),
        clock_skew=st.sampled_from([0.0, 1.0, 30.0, 60.0, 300.0]),
        source=st.sampled_from(list(TokenSource)),
        notify_updates=st.booleans(),
        limits=st.sampled_from([30.0, 30.0, 1.0, 0.0]).map(
            lambda total: Limits(connect_timeout=5.0, read_timeout=15.0, total_timeout=total)
        ),
        resilience=st.sampled_from(RESILIENCE),
    )


def plans(max_size: int = 60) -> st.SearchStrategy[list[Action]]:
    return st.lists(actions(), min_size=8, max_size=max_size)


class Step(NamedTuple):
    before: TokenState
    event: Input
    now: Now
    decision: Decision


def _reply(status: int, body: object, headers: tuple[tuple[str, str], ...] = ()) -> HttpReply:
    return HttpReply(
        status=status,
        headers=(("Content-Type", "application/json"), *headers),
        body=msgspec.json.encode(body),
    )


DEEP: Final = HttpReply(status=200, body=b'{"access_token":' + b"[" * 20_000)


@dataclass
class Shell:
    """The model. `run(plan)` steps the machine through `plan`, checking every step."""

    policy: Policy
    now: Now = field(default_factory=lambda: Now(monotonic=UPTIME, wall=EPOCH))
    state: TokenState = field(default_factory=TokenState)
    waiters: list[Call] = field(default_factory=list[Call])
    """Calls that will ask again."""
    outstanding: list[Effect] = field(default_factory=list[Effect])
    answered: list[Input] = field(default_factory=list[Input])
    started: dict[int, float] = field(default_factory=dict[int, float])
    """Flight id -> the monotonic instant of the step that emitted its effect."""
    lifetimes: dict[int, int | None] = field(default_factory=dict[int, int | None])
    """Flight id -> the `expires_in` the server put in the token it sent for it (None: none)."""
    bounds: dict[str, float] = field(default_factory=dict[str, float])
    """Access token -> the monotonic instant from which it must not be used."""
    uses: list[tuple[float, float]] = field(default_factory=list[tuple[float, float]])
    """For every `UseToken` answered: the monotonic `now`, and the token's bound at that moment
    (a token set or provided again is placed anew, so its bound may change)."""
    handed_out: list[OAuthToken] = field(default_factory=list[OAuthToken])
    """Every token a call was answered with, in order (what the API may reject)."""
    finished: list[tuple[Answer, Call, float]] = field(
        default_factory=list[tuple[Answer, Call, float]]
    )
    """How each call ended (`UseToken` or `Fail`), what it said last, and when (monotonic)."""
    trace: list[Step] = field(default_factory=list[Step])
    serial: int = 0

    def run(self, plan: list[Action]) -> None:
        for action in plan:
            self.now = Now(
                monotonic=self.now.monotonic + action.advance,
                wall=self.now.wall + action.advance + action.jump,
                entropy=action.entropy,
            )
            self.act(action)

    def act(self, action: Action) -> None:
        match action.kind:
            case Kind.WAKE if self.waiters:
                call = self.waiters.pop(action.pick % len(self.waiters))
                asked = TokenNeeded(
                    waited_for=call.waited_for, attempts=call.attempts, since=call.since
                )
                self.ask(asked, call)
            case Kind.ANSWER if self.outstanding:
                effect = self.outstanding.pop(action.pick % len(self.outstanding))
                event = self.answer_for(effect, action.payload)
                if isinstance(event, OUTCOMES):
                    self.answered.append(event)
                self.step(event)
            case Kind.REPLAY if self.answered:
                self.step(self.answered[action.pick % len(self.answered)])
            case Kind.SET:
                self.step(TokenSet(token=self.token_set(action.payload)))
            case Kind.STRAY:
                ids = (self.state.flights + 1, 0, -1, self.state.flights - 1, action.pick)
                flight = ids[action.payload % len(ids)]
                flying = [
                    e.flight
                    for e in self.outstanding
                    if isinstance(e, FetchToken | CallTokenProvider)
                ]
                if flight not in flying:
                    self.step(TokenRequestFailed(flight=flight, failure=self.failure()))
            case Kind.REJECT if self.handed_out:
                held = self.state.held
                if held is not None and action.payload % 2 == 0:
                    token = held.token
                else:
                    token = self.handed_out[-1 - action.pick % len(self.handed_out)]
                rejected = TokenRejected(token=token, reason="HTTP 401 invalid_token")
                call = Call(waited_for=None, attempts=0, since=self.now.monotonic)
                replay = self.ask(rejected, call).answer
                if isinstance(replay, UseToken) and action.payload % 4 < 2:
                    self.step(TokenAccepted(token=replay.token))  # the replay went through
            case _:
                self.ask(TokenNeeded(), Call(None, attempts=0, since=self.now.monotonic))

    def ask(self, event: TokenNeeded | TokenRejected, call: Call) -> Decision:
        """Step a call's ask, and follow the driver's protocol with the answer."""
        decision = self.step(event)
        answer = decision.answer
        ran = [e.flight for e in decision.work if isinstance(e, FetchToken | CallTokenProvider)]
        match answer:
            case UseToken() | Fail():
                # Done; a renewal it started runs in the background.
                self.finished.append((answer, call, self.now.monotonic))
            case AwaitFlight(flight=flight):
                self.waiters.append(Call(flight, call.attempts + 1, call.since))
            case AwaitRetry():
                self.waiters.append(Call(None, call.attempts, call.since))
            case None if ran:
                # It runs the flight; its outcome tells it nothing: it asks again.
                self.waiters.append(Call(ran[0], call.attempts + 1, call.since))
            case None:
                self.waiters.append(Call(None, call.attempts, call.since))
        return decision

    def step(self, event: Input) -> Decision:
        before, now = self.state, self.now
        decision = step(self.policy, before, event, now)
        check_step(self.policy, before, event, now, decision)
        self.trace.append(Step(before, event, now, decision))
        self.state = decision.state
        for effect in decision.work:
            match effect:
                case FetchToken(flight=flight) | CallTokenProvider(flight=flight):
                    self.started[flight] = now.monotonic
                    self.outstanding.append(effect)
                case NotifyTokenUpdate():
                    self.outstanding.append(effect)
                case _:
                    pass
        for happened in decision.events:
            match happened:
                case TokenAdopted(origin=origin):
                    self.record_bound(before, event, origin)
                case TokenInvalidated():
                    # Rejected by the API: not used from now on.
                    assert before.held is not None
                    rejected = before.held.token.access_token
                    self.bounds[rejected] = min(self.bounds[rejected], now.monotonic)
                    assert self.state.held is not None
                    assert self.bounds[rejected] == self.state.held.fresh_until
                case _:
                    pass
        if isinstance(decision.answer, UseToken):
            token = decision.answer.token
            self.handed_out.append(token)
            self.uses.append((now.monotonic, self.bounds[token.access_token]))
        return decision

    def drain(self, rounds: int, seconds: float) -> None:
        """From now on the token endpoint and the provider fail (transiently): every
        `seconds`, every outstanding effect is answered and every waiting call asks again,
        `rounds` times."""
        for _ in range(rounds):
            self.now = Now(
                monotonic=self.now.monotonic + seconds,
                wall=self.now.wall + seconds,
                entropy=self.now.entropy,
            )
            while self.outstanding:
                effect = self.outstanding.pop(0)
                self.step(self.answer_for(effect, 11 if isinstance(effect, FetchToken) else 13))
            waiting, self.waiters = self.waiters, []
            for call in waiting:
                asked = TokenNeeded(
                    waited_for=call.waited_for, attempts=call.attempts, since=call.since
                )
                self.ask(asked, call)

    # -- what the shell sends, and what it knows about it --------------------------------

    def fresh_name(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}{self.serial}"

    def failure(self) -> TransportFailure:
        return TransportFailure(kind=TransportFailureKind.TIMEOUT, reason="TimeoutError: late")

    def answer_for(self, effect: Effect, payload: int) -> Input:
        match effect:
            case FetchToken(flight=flight):
                return self.server(flight, payload)
            case CallTokenProvider(flight=flight, last=last):
                return self.provider(flight, payload, last)
            case NotifyTokenUpdate(token=token):
                if payload % 4 == 3:
                    return TokenUpdateRaised(token=token, reason="OSError: disk full")
                return TokenUpdateNotified(token=token)
            case _:  # ReleaseWaiters is never outstanding
                raise AssertionError(effect)

    def server(self, flight: int, payload: int) -> Input:
        """The authorization server's answer to flight `flight`'s request."""
        if payload < len(LIFETIMES):
            lifetime = LIFETIMES[payload]
            self.lifetimes[flight] = lifetime
            body = {
                "access_token": self.fresh_name(f"f{flight}."),
                "token_type": "Bearer",
                "expires_in": lifetime,
            }
            return TokenReplyReceived(flight=flight, reply=_reply(200, body))
        match payload:
            case 8:
                self.lifetimes[flight] = None
                body = {"access_token": self.fresh_name(f"f{flight}."), "token_type": "Bearer"}
                return TokenReplyReceived(flight=flight, reply=_reply(200, body))
            case 9:
                return TokenReplyReceived(
                    flight=flight, reply=_reply(400, {"error": "invalid_client"})
                )
            case 10:
                reply = HttpReply(
                    status=502, headers=(("Retry-After", "3"),), body=b"<html>bad gateway</html>"
                )
                return TokenReplyReceived(flight=flight, reply=reply)
            case 11:
                return TokenRequestFailed(flight=flight, failure=self.failure())
            case 12:
                return FlightAbandoned(flight=flight, reason="KeyboardInterrupt: ")
            case 13:
                return TokenReplyReceived(flight=flight, reply=DEEP)
            case 14:
                busy = _reply(503, {"error": "temporarily_unavailable"}, (("Retry-After", "40"),))
                return TokenReplyReceived(flight=flight, reply=busy)
            case _:
                body = {"access_token": self.fresh_name("mac"), "token_type": "mac"}
                return TokenReplyReceived(flight=flight, reply=_reply(200, body))

    def provider(self, flight: int, payload: int, last: OAuthToken | None) -> Input:
        """The token provider's answer to flight `flight`'s call."""
        wall = self.now.wall
        if payload < len(LIFETIMES):
            token = OAuthToken(access_token=self.fresh_name("p"), expires_in=LIFETIMES[payload])
            return TokenProvided(flight=flight, token=token)
        match payload:
            case 8:
                token = OAuthToken(access_token=self.fresh_name("p"), expiry=wall + 3600)
                return TokenProvided(flight=flight, token=token)
            case 9:
                token = OAuthToken(access_token=self.fresh_name("p"), expiry=wall - 10)
                return TokenProvided(flight=flight, token=token)
            case 10:
                return TokenProvided(flight=flight, token=None)
            case 11:
                return TokenProvided(flight=flight, token=last)
            case 12:
                return TokenProvided(flight=flight, token=42)
            case 13:
                return TokenProviderRaised(flight=flight, reason="RuntimeError: boom")
            case 14:
                return FlightAbandoned(flight=flight, reason="CancelledError: ")
            case _:
                return TokenProvided(
                    flight=flight, token=OAuthToken(access_token=self.fresh_name("p"))
                )

    def token_set(self, payload: int) -> object:
        """What the application sets."""
        wall = self.now.wall
        held = self.state.held
        match payload % 8:
            case 0:
                return None
            case 1:
                return OAuthToken(
                    access_token=self.fresh_name("s"), expires_in=3600, expiry=wall + 3600
                )
            case 2:
                return OAuthToken(access_token=self.fresh_name("s"), expiry=wall - 5)
            case 3:
                return "junk"
            case 4:
                return None if held is None else held.token
            case 5:
                return OAuthToken(access_token=self.fresh_name("s"))
            case 6:
                return OAuthToken(
                    access_token=self.fresh_name("s"), expires_in=30, expiry=wall + 30
                )
            case _:
                return OAuthToken(access_token=self.fresh_name("s"), expires_in=600)

    # -- the shell's own account of when a token stops being usable ------------------------

    def lifetime(self, expires_in: int | None) -> float | None:
        """The lifetime counted for a token without `expiry`: its `expires_in` (0 says
        nothing), else the policy's default lifetime, else None (never expires)."""
        if expires_in:
            return float(min(expires_in, TEN_YEARS))
        default = self.policy.resilience.default_lifetime
        return None if default is None else min(max(default, 0.0), float(TEN_YEARS))

    def bound(self, expires_at: float, lifetime: float | None, *, arriving: bool) -> float:
        """Its expiry less the skew (capped at half its lifetime); a token fresh from a
        flight that arrives inside the skew is used until its expiry instead."""
        if math.isinf(expires_at):
            return expires_at
        bound = expires_at - expected_skew(lifetime, self.policy.clock_skew)
        if arriving and bound <= self.now.monotonic < expires_at:
            return expires_at
        return bound

    def handed_in(self, sent: OAuthToken, start: float, *, arriving: bool) -> float:
        """The bound of a token a provider or the setter handed in, asked for at `start`."""
        if sent.expiry is not None:
            expires_at = self.now.monotonic + (sent.expiry - self.now.wall)
            stated = float(min(sent.expires_in, TEN_YEARS)) if sent.expires_in else None
            return self.bound(expires_at, stated, arriving=arriving)
        lifetime = self.lifetime(sent.expires_in)
        if lifetime is None:
            return math.inf
        return self.bound(start + lifetime, lifetime, arriving=arriving)

    def record_bound(self, before: TokenState, event: Input, origin: TokenOrigin) -> None:
        """The shell's own account of when the token just adopted stops being usable: the
        machine's `fresh_until` for it must agree.

        The held token handed in again keeps the bound it had: it is the same token, and
        the wall clock may have moved meanwhile."""
        held = self.state.held
        assert held is not None
        token = held.token
        if (
            before.held is not None
            and before.held.token == token
            and token.access_token in self.bounds
        ):
            assert self.bounds[token.access_token] == held.fresh_until
            return
        match event:
            case TokenReplyReceived(flight=flight):
                assert origin is TokenOrigin.ENDPOINT
                lifetime = self.lifetime(self.lifetimes[flight])
                if lifetime is None:
                    bound = math.inf
                else:
                    bound = self.bound(self.started[flight] + lifetime, lifetime, arriving=True)
            case TokenProvided(flight=flight, token=OAuthToken() as sent):
                # A provider's token counts from when it was asked for, as a fetched one.
                assert origin is TokenOrigin.PROVIDER
                bound = self.handed_in(sent, self.started[flight], arriving=True)
            case TokenSet(token=OAuthToken() as sent):
                assert origin is TokenOrigin.SETTER
                bound = self.handed_in(sent, self.now.monotonic, arriving=False)
            case _:
                raise AssertionError(f"a token adopted on {event!r}")
        assert bound == held.fresh_until, (bound, held)
        self.bounds[token.access_token] = bound
