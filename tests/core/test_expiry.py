"""No expired token is ever used, whatever the two clocks do.

Local deadlines live on the monotonic clock; the wall clock only stamps `expiry`. So:

- a token fetched by flight n with lifetime L counts from the flight's start on the
  monotonic clock: `UseToken` hands it out exactly while
  `now.monotonic < started + L - min(skew, L / 2)` (never at or after it), however the
  wall clock jumps, back or forward, by seconds or by days;
- under any interleaving of callers, outcomes, setters and clock moves (the model
  shell), every `UseToken` is before the bound the shell itself computed for that token
  from what it sent;
- the wall clock alone never changes a `TokenNeeded` decision.
"""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from ccg.core import (
    Decision,
    Fail,
    FetchToken,
    Now,
    OAuthToken,
    Policy,
    TokenExpiredOnArrival,
    TokenNeeded,
    TokenReplyReceived,
    TokenRequestSpec,
    TokenState,
    UseToken,
    step,
)
from ccg.testing.strategies import (
    clock_skews,
    flight_ids,
    lifetimes,
    now_schedules,
    policies,
    reply_with,
    states,
    times,
    wall_jumps,
)
from tests.core._invariants import check_step
from tests.core._shell import Action, Shell, plans, shell_policies

SPEC = TokenRequestSpec(token_url="https://as.example/token", client_id="id", client_secret="s")


@given(
    skew=clock_skews(),
    lifetime=lifetimes(),
    schedule=now_schedules(max_size=12, min_size=2),
)
def test_a_fetched_token_is_used_exactly_while_its_lifetime_from_the_flight_start_lasts(
    skew: float, lifetime: int, schedule: list[Now]
) -> None:
    """Flight 1 starts at `schedule[0]`, its reply arrives at `schedule[1]`, and callers ask
    at every later instant. The boundary is computed here by hand, on the monotonic clock
    only; the wall clock jumps freely between instants (`now_schedules`)."""
    policy = Policy(request=SPEC, clock_skew=skew)
    first, arrival, *later = schedule
    started = step(policy, TokenState(), TokenNeeded(), first)
    (fetch,) = started.work
    assert isinstance(fetch, FetchToken)
    event = TokenReplyReceived(
        flight=fetch.flight, reply=reply_with(OAuthToken(access_token="t", expires_in=lifetime))
    )
    settled = step(policy, started.state, event, arrival)
    check_step(policy, started.state, event, arrival, settled)
    last_usable = first.monotonic + lifetime - min(skew, lifetime / 2)
    if arrival.monotonic >= last_usable:
        assert settled.answer == Fail(
            failure=TokenExpiredOnArrival(expires_in=lifetime), flight=fetch.flight
        )
        return
    assert isinstance(settled.answer, UseToken)
    state = settled.state
    # Every later instant of the schedule, and the boundary itself and the float before it
    # (with whatever the wall clock reads by then).
    wall = schedule[-1].wall
    probes = [
        *later,
        Now(monotonic=math.nextafter(last_usable, -math.inf), wall=wall),
        Now(monotonic=last_usable, wall=wall),
    ]
    for now in probes:
        decision = step(policy, state, TokenNeeded(), now)
        check_step(policy, state, TokenNeeded(), now, decision)
        if now.monotonic < last_usable:
            assert decision == Decision(state=state, answer=settled.answer)
        else:
            assert not isinstance(decision.answer, UseToken), "an expired token was used"


@given(policy=shell_policies(), plan=plans())
def test_no_expired_token_is_used_under_any_interleaving(
    policy: Policy, plan: list[Action]
) -> None:
    """Every `UseToken` of the model, at its `now`, is before the bound the shell computed
    for that token when the machine last adopted it (a fetched token: its flight's start
    plus its lifetime, minus the capped skew; a token handed in: its wall-clock expiry as
    read when it was accepted, minus the skew)."""
    shell = Shell(policy)
    shell.run(plan)
    for now, bound in shell.uses:
        assert now < bound, f"used at {now}, expired from {bound}"


@given(
    policy=policies(),
    state=states(),
    data=st.data(),
    monotonic=st.floats(0, 1e7),
    wall=times(),
    jump=wall_jumps(),
)
def test_the_wall_clock_alone_never_changes_a_token_needed_decision(
    policy: Policy,
    state: TokenState,
    data: st.DataObject,
    monotonic: float,
    wall: float,
    jump: float,
) -> None:
    waited = data.draw(st.none() | flight_ids(state), label="waited_for")
    event = TokenNeeded(waited_for=waited)
    here = step(policy, state, event, Now(monotonic=monotonic, wall=wall))
    there = step(policy, state, event, Now(monotonic=monotonic, wall=wall + jump, entropy=0.5))
    assert here == there
