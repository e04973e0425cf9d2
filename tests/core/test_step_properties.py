"""Properties of `ccg.core.step` over the whole `policy x state x input x now` space.

- Totality: `step` returns a `Decision`, never raises, whatever it is given: hostile
  replies (deep nesting, invalid UTF-8, ...), hostile tokens (wrong-typed fields, NaN
  expiry, not a token at all), stale, future and nonsense flight ids, extreme clocks
  (the largest floats and the infinities).
- Determinism: the same arguments give the same decision.
- Every promise in `_invariants.py` holds after every step, at realistic instants and
  on the state's own boundaries (`step_cases`).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ccg.core import (
    Decision,
    ErrorResponse,
    Fail,
    FailureRecord,
    Flight,
    Held,
    HttpReply,
    Input,
    InvalidToken,
    MalformedResponse,
    Now,
    OAuthToken,
    Policy,
    StaleOutcomeIgnored,
    TokenAccepted,
    TokenExpiredOnArrival,
    TokenOrigin,
    TokenProvided,
    TokenReplyReceived,
    TokenSet,
    TokenState,
    TokenUpdateNotified,
    step,
    token_problem,
)
from ccg.testing.strategies import (
    deep_json_bodies,
    extreme_nows,
    held_tokens,
    hostile_replies,
    hostile_tokens,
    inputs,
    malformed_tokens,
    nows,
    policies,
    states,
    step_cases,
    tokens,
)
from tests.core._invariants import OUTCOMES, PRODUCING, check_fallback, check_step


@given(case=step_cases())
def test_every_step_keeps_every_promise(case: tuple[Policy, TokenState, Input, Now]) -> None:
    policy, state, event, now = case
    decision = step(policy, state, event, now)
    assert isinstance(decision, Decision)
    assert step(policy, state, event, now) == decision
    check_step(policy, state, event, now, decision)


@given(policy=policies(), state=states(), event=inputs(), now=extreme_nows())
def test_step_is_total_at_any_instant(
    policy: Policy, state: TokenState, event: Input, now: Now
) -> None:
    """Any input (flight ids unrelated to the state) at any instant a broken clock could
    report: a decision comes back, the state keeps sound tokens, effects keep their order,
    and stale outcomes change nothing. (Equality and the deadline arithmetic are not checked
    here: at the infinities they involve NaN.)"""
    decision = step(policy, state, event, now)
    assert isinstance(decision, Decision)
    held = decision.state.held
    assert held is None or token_problem(held.token) is None
    producing = [i for i, e in enumerate(decision.work) if isinstance(e, PRODUCING)]
    assert producing in ([], [len(decision.work) - 1])
    if isinstance(event, OUTCOMES) and (state.flight is None or state.flight.id != event.flight):
        assert decision.state is state
        assert decision.events == (StaleOutcomeIgnored(flight=event.flight),)


def _reply_of(body: bytes) -> HttpReply:
    return HttpReply(status=200, body=body)


@given(
    policy=policies(),
    held=st.none() | held_tokens(),
    flight=st.integers(1, 3),
    age=st.floats(0, 100),
    reply=hostile_replies() | deep_json_bodies().map(_reply_of),
    now=nows(),
)
def test_a_hostile_reply_fails_the_flight_it_answers(
    policy: Policy, held: Held | None, flight: int, age: float, reply: HttpReply, now: Now
) -> None:
    """Every hostile reply, deep nesting included, ends the flight it answers without an
    exception: with a wire failure, the held token kept, or with a sound token (a few
    hostile-looking replies are valid: with duplicate keys the last wins, and JSON nested
    within the interpreter's recursion limit in an unknown member is still a token). A
    refusal of the credentials under `ClientSecretAuto` ends it by starting the next
    form's flight (`check_fallback` says how)."""
    started = now.monotonic - age
    state = TokenState(
        held=held,
        flight=Flight(id=flight, source=policy.source, started=started, deadline=started + 32),
        flights=flight,
    )
    event = TokenReplyReceived(flight=flight, reply=reply)
    decision = step(policy, state, event, now)
    check_step(policy, state, event, now, decision)
    if check_fallback(policy, state, event, now, decision):
        return
    assert decision.state.flight is None
    record = decision.state.failure
    if record is not None:
        # The caller that ran it is not answered: it asks again and learns of the failure.
        wire = ErrorResponse | MalformedResponse | TokenExpiredOnArrival
        assert isinstance(record.failure, wire)
        assert decision.state.held == held
        assert decision.answer is None


@given(policy=policies(), state=states(), token=hostile_tokens(), now=nows(), data=st.data())
def test_a_hostile_token_is_refused_from_every_origin(
    policy: Policy, state: TokenState, token: object, now: Now, data: st.DataObject
) -> None:
    """Set by hand or returned by a provider, a token `token_problem` refuses is never
    held: the setter is answered `InvalidToken`, the flight fails with it."""
    problem = token_problem(token)
    assert problem is not None
    decision = step(policy, state, TokenSet(token=token), now)
    assert decision == Decision(
        state=state, answer=Fail(failure=InvalidToken(origin=TokenOrigin.SETTER, reason=problem))
    )
    if state.flight is not None:
        event = TokenProvided(flight=state.flight.id, token=token)
        decision = step(policy, state, event, now)
        check_step(policy, state, event, now, decision)
        # The application's own provider failed: recorded, neither retried nor cooled down.
        failure = InvalidToken(origin=TokenOrigin.PROVIDER, reason=problem)
        m = now.monotonic
        assert decision.answer is None
        assert decision.state.failure == FailureRecord(
            flight=state.flight.id, failure=failure, at=m, retry_at=m
        )
    # A malformed token announced back is not the held one, so it is never used. (Equal by
    # value is possible in theory: `expires_in=True == 1`; then it would be the held one.)
    notified = data.draw(malformed_tokens(), label="notified")
    if state.held is None or notified != state.held.token:
        event_notified = TokenUpdateNotified(token=notified)
        assert step(policy, state, event_notified, now) == Decision(state=state)


@given(policy=policies(), held=held_tokens(), now=nows())
def test_the_held_token_again_is_never_announced_and_keeps_its_place(
    policy: Policy, held: Held, now: Now
) -> None:
    """Setting the very token already held (same value, `expiry` included) is no update:
    nothing is announced, whatever the policy, and it keeps its instants (placed anew
    from its wall-clock `expiry`, a wall clock moved meanwhile would move them)."""
    state = TokenState(held=held)
    decision = step(policy, state, TokenSet(token=held.token), now)
    check_step(policy, state, TokenSet(token=held.token), now, decision)
    assert decision.work == ()
    assert decision.state.held == held


@given(policy=policies(), state=states(), other=tokens(), now=nows(), held=st.booleans())
def test_a_replay_that_went_through_forgets_only_the_rejection(
    policy: Policy, state: TokenState, other: OAuthToken, now: Now, held: bool
) -> None:
    """`TokenAccepted` for the held token (or any other) keeps every promise: only
    `rejected_at` may change, and only for the held token."""
    token = state.held.token if held and state.held is not None else other
    event = TokenAccepted(token=token)
    decision = step(policy, state, event, now)
    check_step(policy, state, event, now, decision)
    assert decision.state.held == state.held
