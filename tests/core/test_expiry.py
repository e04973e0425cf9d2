"""No expired token is ever used, whatever the two clocks do.

Local deadlines live on the monotonic clock; the wall clock only stamps `expiry`. So:

- a token fetched by flight n with lifetime L counts from the flight's start on the
  monotonic clock: `UseToken` hands it out exactly while
  `now.monotonic < started + L - min(skew, L / 2)` (never at or after it), or, when it
  arrived inside that skew, until `started + L`; however the wall clock jumps, back or
  forward, by seconds or by days; one that arrives at or after `started + L` is refused;
  one with `expires_in` 0 lasts the default lifetime (none: it never expires);
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
    FetchToken,
    Now,
    OAuthToken,
    Policy,
    ResiliencePolicy,
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
    ratio=st.sampled_from([0.0, 0.25, 0.5]),
    default=st.none() | st.sampled_from([30.0, 3600.0]),
    schedule=now_schedules(max_size=12, min_size=2),
)
def test_a_fetched_token_is_used_exactly_while_its_lifetime_from_the_flight_start_lasts(
    skew: float, lifetime: int, ratio: float, default: float | None, schedule: list[Now]
) -> None:
    """Flight 1 starts at `schedule[0]`, its reply arrives at `schedule[1]`, and callers ask
    at every later instant. The boundary is computed here by hand, on the monotonic clock
    only; the wall clock jumps freely between instants (`now_schedules`). Inside its soft
    refresh window the token is still handed out (a renewal starts beside it)."""
    resilience = ResiliencePolicy(refresh_ratio=ratio, default_lifetime=default)
    policy = Policy(request=SPEC, clock_skew=skew, resilience=resilience)
    first, arrival, *later = schedule
    started = step(policy, TokenState(), TokenNeeded(), first)
    (fetch,) = started.work
    assert isinstance(fetch, FetchToken)
    event = TokenReplyReceived(
        flight=fetch.flight, reply=reply_with(OAuthToken(access_token="t", expires_in=lifetime))
    )
    settled = step(policy, started.state, event, arrival)
    check_step(policy, started.state, event, arrival, settled)
    counted = float(lifetime) if lifetime else default
    if counted is None:
        expires_at = last_usable = math.inf
    else:
        expires_at = first.monotonic + counted
        last_usable = expires_at - min(skew, counted / 2)
        if arrival.monotonic >= expires_at:
            # Refused; the caller that ran the flight asks again and learns why.
            record = settled.state.failure
            assert settled.answer is None
            assert record is not None
            failure = TokenExpiredOnArrival(expires_in=lifetime)
            assert (record.flight, record.failure, record.at) == (
                fetch.flight,
                failure,
                arrival.monotonic,
            )
            return
        if last_usable <= arrival.monotonic:
            last_usable = expires_at  # arrived inside the skew: used until it expires
    held = settled.state.held
    assert held is not None
    assert settled.answer == UseToken(token=held.token)
    assert (held.expires_at, held.fresh_until) == (expires_at, last_usable)
    state = settled.state
    # Every later instant of the schedule, and the boundary itself and the float before it
    # (with whatever the wall clock reads by then).
    wall = schedule[-1].wall
    probes = [*later]
    if math.isfinite(last_usable):
        probes += [
            Now(monotonic=math.nextafter(last_usable, -math.inf), wall=wall),
            Now(monotonic=last_usable, wall=wall),
        ]
    for now in probes:
        decision = step(policy, state, TokenNeeded(), now)
        check_step(policy, state, TokenNeeded(), now, decision)
        if now.monotonic < last_usable:
            assert decision.answer == settled.answer
        else:
            assert not isinstance(decision.answer, UseToken), "an expired token was used"


@given(policy=shell_policies(), plan=plans())
def test_no_expired_token_is_used_under_any_interleaving(
    policy: Policy, plan: list[Action]
) -> None:
    """Every `UseToken` of the model, at its `now`, is before the bound the shell computed
    for that token when the machine last adopted it (a fetched token: its flight's start
    plus its lifetime, minus the capped skew, or its expiry when it arrived inside the
    skew; a token handed in: its wall-clock expiry as read when it was accepted, minus the
    skew), or before the moment the API rejected it."""
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
    entropy=st.floats(0, 1, exclude_max=True),
)
def test_the_wall_clock_alone_never_changes_a_token_needed_decision(
    policy: Policy,
    state: TokenState,
    data: st.DataObject,
    monotonic: float,
    wall: float,
    jump: float,
    entropy: float,
) -> None:
    """`TokenNeeded` reads only the monotonic clock (and the draw, for the backoff of an
    overdue flight it gives up): the wall clock may read anything."""
    waited = data.draw(st.none() | flight_ids(state), label="waited_for")
    attempts = data.draw(st.integers(0, 5), label="attempts")
    since = data.draw(st.none() | st.floats(monotonic - 120, monotonic), label="since")
    event = TokenNeeded(waited_for=waited, attempts=attempts, since=since)
    here = step(policy, state, event, Now(monotonic=monotonic, wall=wall, entropy=entropy))
    there = step(policy, state, event, Now(monotonic=monotonic, wall=wall + jump, entropy=entropy))
    assert here == there
