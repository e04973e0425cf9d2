"""A model shell: many callers, an authorization server, a provider and a setter, all
driving one `TokenState` through `step`, in an order a Hypothesis plan decides.

A plan is a list of `Action`s. Before each action both clocks move: the monotonic clock
forward, the wall clock with it plus a jump either way (seconds to days). Then one of:

- `NEED`: a new caller steps `TokenNeeded()`; told to wait, it joins the waiters.
- `WAKE`: a waiter wakes (released, timed out, or spuriously) and steps
  `TokenNeeded(waited_for=n)`.
- `ANSWER`: one outstanding producing effect, in any order, is answered, even long after
  its flight was given up or superseded (its outcome is then stale).
- `REPLAY`: an outcome already stepped arrives again (a duplicate, always stale).
- `SET`: the application sets a token (None, fresh, expired, junk, the held one again).
- `STRAY`: an outcome for a flight that is not outstanding (old, never started, nonsense).

Every step is checked against `_invariants.check_step` as it happens and recorded in
`Shell.trace`, with the shell's own account of every token it handed over:
`Shell.bounds[access_token]` is the monotonic instant from which that token must not be
used, computed here from what the shell itself sent, and `Shell.uses` pairs every
`UseToken` with the bound in force at that moment. A fetched token's lifetime counts
from its flight's start (the `Now` of the step that emitted `FetchToken(n)`), never from
any wall-clock reading. A token handed in (provider, setter) carries its expiry on the
wall clock, read at the moment it was accepted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final, NamedTuple

import msgspec
from hypothesis import strategies as st

from ccg.core import (
    AwaitFlight,
    CallTokenProvider,
    Decision,
    Effect,
    FetchToken,
    FlightAbandoned,
    HttpReply,
    Input,
    Limits,
    NotifyTokenUpdate,
    Now,
    OAuthToken,
    Policy,
    TokenAdopted,
    TokenNeeded,
    TokenOrigin,
    TokenProvided,
    TokenProviderRaised,
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
ADVANCES: Final = (0.0, 0.0, 1.0, 5.0, 10.0, 15.0, 29.0, 30.0, 31.0, 32.0, 33.0, 45.0, 59.0)
ADVANCES_LONG: Final = (60.0, 61.0, 120.0, 600.0, 1_770.0, 3_540.0, 3_600.0, float(DAY))


class Kind(IntEnum):
    NEED = 0
    WAKE = 1
    ANSWER = 2
    REPLAY = 3
    SET = 4
    STRAY = 5


KIND_WEIGHTS: Final = (
    *[Kind.NEED] * 3,
    Kind.WAKE,
    Kind.WAKE,
    *[Kind.ANSWER] * 4,
    Kind.REPLAY,
    Kind.SET,
    Kind.STRAY,
)
"""Answers are the most common action, so that flights often settle with a token."""


class Action(NamedTuple):
    kind: Kind
    pick: int
    """Which waiter, outstanding effect or past outcome."""
    payload: int
    """Which answer, token or id (see `Shell.answer_for`, `Shell.token_set`)."""
    advance: float
    """Seconds both clocks move forward first."""
    jump: float
    """Seconds the wall clock alone moves first, either way."""


def actions() -> st.SearchStrategy[Action]:
    """One action; cheap to draw (a handful of small integers), so plans can be long."""
    return st.builds(
        Action,
        kind=st.sampled_from(KIND_WEIGHTS),
        pick=st.integers(0, 7),
        payload=st.integers(0, 15),
        advance=st.one_of(
            st.sampled_from(ADVANCES), st.sampled_from(ADVANCES), st.sampled_from(ADVANCES_LONG)
        ),
        jump=st.just(0.0) | wall_jumps(),
    )


def shell_policies() -> st.SearchStrategy[Policy]:
    """Policies for the model: either source, callback or not, the usual skews, and a
    total timeout of 30 s (deadline 32 s), 1 s or none."""
    return st.builds(
        Policy,
        request=st.just(SPEC),
        clock_skew=st.sampled_from([0.0, 1.0, 30.0, 60.0, 300.0]),
        source=st.sampled_from(list(TokenSource)),
        notify_updates=st.booleans(),
        limits=st.sampled_from([30.0, 30.0, 1.0, 0.0]).map(
            lambda total: Limits(connect_timeout=5.0, read_timeout=15.0, total_timeout=total)
        ),
    )


def plans(max_size: int = 60) -> st.SearchStrategy[list[Action]]:
    return st.lists(actions(), min_size=8, max_size=max_size)


class Step(NamedTuple):
    before: TokenState
    event: Input
    now: Now
    decision: Decision


def _reply(status: int, body: object) -> HttpReply:
    return HttpReply(
        status=status,
        headers=(("Content-Type", "application/json"),),
        body=msgspec.json.encode(body),
    )


DEEP: Final = HttpReply(status=200, body=b'{"access_token":' + b"[" * 20_000)


@dataclass
class Shell:
    """The model. `run(plan)` steps the machine through `plan`, checking every step."""

    policy: Policy
    now: Now = field(default_factory=lambda: Now(monotonic=UPTIME, wall=EPOCH))
    state: TokenState = field(default_factory=TokenState)
    waiters: list[int] = field(default_factory=list[int])
    outstanding: list[Effect] = field(default_factory=list[Effect])
    answered: list[Input] = field(default_factory=list[Input])
    started: dict[int, float] = field(default_factory=dict[int, float])
    """Flight id -> the monotonic instant of the step that emitted its effect."""
    lifetimes: dict[int, int] = field(default_factory=dict[int, int])
    """Flight id -> the `expires_in` the server put in the token it sent for it."""
    bounds: dict[str, float] = field(default_factory=dict[str, float])
    """Access token -> the monotonic instant from which it must not be used."""
    uses: list[tuple[float, float]] = field(default_factory=list[tuple[float, float]])
    """For every `UseToken` answered: the monotonic `now`, and the token's bound at that moment
    (a token set or provided again is placed anew, so its bound may change)."""
    trace: list[Step] = field(default_factory=list[Step])
    serial: int = 0

    def run(self, plan: list[Action]) -> None:
        for action in plan:
            self.now = Now(
                monotonic=self.now.monotonic + action.advance,
                wall=self.now.wall + action.advance + action.jump,
            )
            self.act(action)

    def act(self, action: Action) -> None:
        match action.kind:
            case Kind.WAKE if self.waiters:
                flight = self.waiters.pop(action.pick % len(self.waiters))
                self.step(TokenNeeded(waited_for=flight))
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
            case _:
                self.step(TokenNeeded())

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
        if isinstance(decision.answer, AwaitFlight):
            self.waiters.append(decision.answer.flight)
        for adopted in decision.events:
            if isinstance(adopted, TokenAdopted):
                self.record_bound(before, event, adopted.origin)
        if isinstance(decision.answer, UseToken):
            self.uses.append((now.monotonic, self.bounds[decision.answer.token.access_token]))
        return decision

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
                body = {"access_token": self.fresh_name(f"f{flight}."), "token_type": "Bearer"}
                return TokenReplyReceived(flight=flight, reply=_reply(200, body))
            case 9:
                return TokenReplyReceived(
                    flight=flight, reply=_reply(400, {"error": "invalid_client"})
                )
            case 10:
                reply = HttpReply(status=502, body=b"<html>bad gateway</html>")
                return TokenReplyReceived(flight=flight, reply=reply)
            case 11:
                return TokenRequestFailed(flight=flight, failure=self.failure())
            case 12:
                return FlightAbandoned(flight=flight, reason="KeyboardInterrupt: ")
            case 13:
                return TokenReplyReceived(flight=flight, reply=DEEP)
            case 14:
                body = {"access_token": "a b", "expires_in": 3600}
                return TokenReplyReceived(flight=flight, reply=_reply(200, body))
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

    def record_bound(self, before: TokenState, event: Input, origin: TokenOrigin) -> None:
        """The shell's own account of when the token just adopted stops being usable.

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
            return
        skew = expected_skew(token, self.policy.clock_skew)
        match event:
            case TokenReplyReceived(flight=flight):
                assert origin is TokenOrigin.ENDPOINT
                if token.expires_in is None:
                    bound = math.inf
                else:
                    lifetime = min(self.lifetimes[flight], TEN_YEARS)
                    bound = self.started[flight] + lifetime - skew
            case TokenProvided(flight=flight, token=OAuthToken() as sent):
                # A provider's token counts from when it was asked for, as a fetched one.
                if sent.expiry is not None:
                    bound = self.now.monotonic + (sent.expiry - self.now.wall) - skew
                elif sent.expires_in is not None:
                    bound = self.started[flight] + min(sent.expires_in, TEN_YEARS) - skew
                else:
                    bound = math.inf
            case TokenSet(token=OAuthToken() as sent):
                if sent.expiry is not None:
                    bound = self.now.monotonic + (sent.expiry - self.now.wall) - skew
                elif sent.expires_in is not None:
                    bound = self.now.monotonic + min(sent.expires_in, TEN_YEARS) - skew
                else:
                    bound = math.inf
            case _:
                raise AssertionError(f"a token adopted on {event!r}")
        self.bounds[token.access_token] = bound
