"""Fuzzing `ccg.core.step` with random sequences of every input, under random policies.

A Hypothesis state machine drives one `TokenState` from `TokenState()` through any
interleaving of: callers asking (afresh, after waiting for any flight, after any number of
attempts, since any instant), outcomes of the current flight answered as a well-behaved
shell would (`answers`), any input at all for the state (`inputs_for`: stale, future and
nonsense flight ids, hostile replies and tokens, the held token again, rejections,
acceptances, callbacks), and a clock that moves forward, sits still, jumps back (the
monotonic clock too, which no real one does), jumps to huge values and, in the second
test, to the infinities.

After every step: `step` returned a `Decision` (it never raises), and every promise in
`tests/core/_invariants.py` holds (`check_step`). Once the clock has read an infinity,
deadline arithmetic meets `inf - inf`, so from then on the checks that hold whatever the
numbers are kept (`check_total`): the step still returns, held tokens stay sound, effects
keep their order, stale outcomes change nothing, flights are numbered as before.
"""

from __future__ import annotations

import math
import sys
from typing import Final

from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

from ccg.core import (
    CallTokenProvider,
    Decision,
    Effect,
    FetchToken,
    HttpReply,
    Input,
    NotifyTokenUpdate,
    Now,
    OAuthToken,
    Policy,
    StaleOutcomeIgnored,
    TokenAdopted,
    TokenNeeded,
    TokenProvided,
    TokenReplyReceived,
    TokenSet,
    TokenState,
    TokenUpdateNotified,
    step,
    token_problem,
)
from ccg.testing import token_reply
from ccg.testing.strategies import (
    access_tokens,
    answers,
    flight_ids,
    inputs_for,
    lifetimes,
    nows,
    policies,
    time_advances,
    tokens,
    wall_jumps,
)
from tests.core._invariants import OUTCOMES, PRODUCING, check_step
from tests.fuzz._budget import MACHINE_SHARE, fuzz_settings

HUGE: Final = (1e15, -1e15, 1e300, -1e300, sys.float_info.max, -sys.float_info.max, 0.0, -0.0)
"""Finite clock readings no real clock gives, where additions stop changing the number."""
INFINITE: Final = (math.inf, -math.inf)
OUTSTANDING: Final = 6
"""Unanswered producing effects kept to answer later (older ones are forgotten)."""


def check_total(
    policy: Policy, before: TokenState, event: Input, now: Now, decision: Decision
) -> None:
    """What every step keeps, whatever numbers the clock reads (NaN arithmetic included)."""
    assert isinstance(decision, Decision)
    after = decision.state
    assert isinstance(after, TokenState)
    held = after.held
    if held is not None:
        assert token_problem(held.token) is None
        instants = (held.refresh_at, held.fresh_until, held.expires_at)
        assert not any(math.isnan(t) for t in instants), held
        assert held.refresh_at <= held.fresh_until <= held.expires_at, held
    producing = [i for i, e in enumerate(decision.work) if isinstance(e, PRODUCING)]
    assert producing in ([], [len(decision.work) - 1])
    assert after.flights >= before.flights
    assert after.flights - before.flights <= 1
    if after.flight is not None:
        assert after.flight.id == after.flights
    if isinstance(event, OUTCOMES) and (before.flight is None or before.flight.id != event.flight):
        assert decision.state is before
        assert decision.events == (StaleOutcomeIgnored(flight=event.flight),)


def _good_replies() -> st.SearchStrategy[HttpReply]:
    """A 200 with a well-formed bearer token, any lifetime (none, 0, seconds to ten years)."""
    return st.builds(token_reply, access_tokens(), expires_in=st.none() | lifetimes())


class MachineFuzz(RuleBasedStateMachine):
    """One client's state, stepped by anything, at any instant."""

    def __init__(self) -> None:
        super().__init__()
        self.policy: Policy | None = None
        self.state = TokenState()
        self.now = Now(monotonic=0.0, wall=0.0)
        self.outstanding: list[Effect] = []
        self.unbounded = False
        self.adopted = 0

    @initialize(policy=policies(), now=nows())
    def start(self, policy: Policy, now: Now) -> None:
        self.policy = policy
        self.now = now

    def feed(self, event: Input) -> Decision:
        policy = self.policy
        assert policy is not None
        before, now = self.state, self.now
        decision = step(policy, before, event, now)
        check_total(policy, before, event, now, decision)
        if not self.unbounded:
            check_step(policy, before, event, now, decision)
        self.state = decision.state
        produced = [e for e in decision.work if isinstance(e, PRODUCING)]
        self.outstanding = [*self.outstanding, *produced][-OUTSTANDING:]
        self.adopted += sum(isinstance(e, TokenAdopted) for e in decision.events)
        return decision

    # -- the clock --------------------------------------------------------------------

    def move(self, monotonic: float, wall: float, entropy: float) -> None:
        self.now = Now(monotonic=monotonic, wall=wall, entropy=entropy)
        if not (math.isfinite(monotonic) and math.isfinite(wall)):
            self.unbounded = True

    @rule(
        advance=time_advances(),
        jump=wall_jumps(),
        entropy=st.floats(0, 1, exclude_max=True),
    )
    def tick(self, advance: float, jump: float, entropy: float) -> None:
        """Time passes (or the wall clock alone is corrected), as on a real machine."""
        self.move(self.now.monotonic + advance, self.now.wall + advance + jump, entropy)

    @rule(back=st.floats(0, 1e6) | st.sampled_from([0.5, 30.0, 3_600.0]), jump=wall_jumps())
    def back(self, back: float, jump: float) -> None:
        """The monotonic clock goes back (a broken clock, a restored snapshot)."""
        self.move(self.now.monotonic - back, self.now.wall - back + jump, self.now.entropy)

    @rule(
        monotonic=st.sampled_from(HUGE) | st.floats(-1e300, 1e300),
        wall=st.sampled_from(HUGE) | st.floats(-1e300, 1e300),
        entropy=st.floats(allow_infinity=False) | st.sampled_from([0.0, 0.999999, 1.0]),
    )
    def huge(self, monotonic: float, wall: float, entropy: float) -> None:
        """Finite but absurd readings, and a random draw outside [0, 1) (NaN included)."""
        self.move(monotonic, wall, entropy)

    # -- callers and the shell ----------------------------------------------------------

    @rule(data=st.data())
    def ask(self, data: st.DataObject) -> None:
        """A caller asks: afresh, or after waiting for any flight, with any history."""
        waited = data.draw(st.none() | flight_ids(self.state), label="waited_for")
        attempts = data.draw(st.integers(0, 12), label="attempts")
        since = data.draw(
            st.none() | st.just(self.now.monotonic) | st.floats(allow_nan=False), label="since"
        )
        self.feed(TokenNeeded(waited_for=waited, attempts=attempts, since=since))

    @rule(data=st.data())
    def answer(self, data: st.DataObject) -> None:
        """The shell answers an outstanding effect, in any order, possibly long after (with
        none outstanding, a caller asks afresh)."""
        if not self.outstanding:
            self.feed(TokenNeeded())
            return
        index = data.draw(st.integers(0, len(self.outstanding) - 1), label="which")
        effect = self.outstanding.pop(index)
        self.feed(data.draw(answers(effect), label="outcome"))

    @rule(data=st.data())
    def serve(self, data: st.DataObject) -> None:
        """The token endpoint or the provider answers an outstanding effect with a good
        token (so that runs hold tokens, renew them and see them rejected); a callback
        returns."""
        if not self.outstanding:
            self.feed(TokenNeeded())
            return
        effect = self.outstanding.pop(data.draw(st.integers(0, len(self.outstanding) - 1)))
        match effect:
            case FetchToken(flight=flight):
                reply = data.draw(_good_replies(), label="reply")
                self.feed(TokenReplyReceived(flight=flight, reply=reply))
            case CallTokenProvider(flight=flight):
                self.feed(TokenProvided(flight=flight, token=data.draw(tokens(), label="token")))
            case NotifyTokenUpdate(token=token):
                self.feed(TokenUpdateNotified(token=token))
            case _:
                raise AssertionError(effect)

    @rule(token=tokens())
    def set_token(self, token: OAuthToken) -> None:
        """The application sets a good token by hand."""
        self.feed(TokenSet(token=token))

    @rule(data=st.data())
    def anything(self, data: st.DataObject) -> None:
        """Any input for the state: stale or unknown flights, hostile payloads, the held
        token again, rejections, acceptances, callbacks' answers."""
        self.feed(data.draw(inputs_for(self.state), label="input"))

    @invariant()
    def one_flight_at_most(self) -> None:
        flight = self.state.flight
        assert flight is None or flight.id == self.state.flights
        assert self.state.streak >= 0

    def teardown(self) -> None:
        """How far the run got, for `--hypothesis-show-statistics`."""
        event("clock read an infinity" if self.unbounded else "clock stayed finite")
        for what, count in (("flights started", self.state.flights), ("tokens held", self.adopted)):
            event(f"{what}: {'0' if count == 0 else '1-3' if count <= 3 else '4+'}")


class InfiniteMachineFuzz(MachineFuzz):
    """As `MachineFuzz`, and the clock may also read the infinities."""

    @rule(
        monotonic=st.sampled_from(INFINITE) | st.sampled_from(HUGE),
        wall=st.sampled_from(INFINITE) | st.floats(allow_nan=False),
    )
    def infinite(self, monotonic: float, wall: float) -> None:
        self.move(monotonic, wall, self.now.entropy)


TestMachine = MachineFuzz.TestCase
TestMachine.settings = fuzz_settings(MACHINE_SHARE, stateful_step_count=40)
TestInfiniteMachine = InfiniteMachineFuzz.TestCase
TestInfiniteMachine.settings = fuzz_settings(MACHINE_SHARE, stateful_step_count=40)
