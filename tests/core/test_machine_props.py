"""Properties of `ccg.core.step` over the whole `policy x state x input x now` space.

Each invariant is a function `(policy, state, event, now, decision) -> None` that
asserts one promise of `_machine.py` or `_effects.py`. All of them are checked on
single steps over the whole space and at every step of two random walks (one of
arbitrary inputs, one of a well-behaved shell); a few promises that random inputs
rarely reach (`reusable_until`, the same token again, expiry monotonicity) have
targeted properties of their own.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from ccg.core import (
    AwaitFetch,
    CallTokenProvider,
    Decision,
    Effect,
    Fail,
    Fetching,
    FetchToken,
    Holding,
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
    TokenSet,
    TokenState,
    TokenUpdateNotified,
    TokenUpdateRaised,
    UseToken,
    current_token,
    is_expired,
    reusable_until,
    stamped,
    step,
    use,
)
from ccg.testing.strategies import (
    DAY,
    EPOCH,
    answers,
    clock_skews,
    inputs,
    inputs_about,
    outcome_inputs,
    policies,
    reply_with,
    situations,
    states,
    time_advances,
    times,
    tokens,
)

PRODUCING: Final = (FetchToken, CallTokenProvider, NotifyTokenUpdate)
"""Effects whose outcome is stepped next: they must come last."""
TERMINAL: Final = (UseToken, AwaitFetch, Fail)
"""Effects that end a caller's run."""
OUTCOMES: Final = (TokenReplyReceived, TokenRequestFailed, TokenProvided, TokenProviderRaised)
"""Inputs that end a fetch or a provider call."""

Invariant = Callable[[Policy, TokenState, Input, float, Decision], None]


def _settled(state: TokenState) -> TokenState:
    """Where a failed fetch goes back to, written independently of the machine."""
    if isinstance(state, Fetching):
        return NoToken() if state.token is None else Holding(token=state.token)
    return state


def _starts_fetch(decision: Decision) -> bool:
    return any(isinstance(e, FetchToken | CallTokenProvider) for e in decision.effects)


# -- invariants -------------------------------------------------------------------------


def uses_only_usable_tokens(
    policy: Policy, state: TokenState, event: Input, now: float, decision: Decision
) -> None:
    """No `UseToken` carries a token that is expired at `now`; its header is `Bearer <token>`."""
    for effect in decision.effects:
        if isinstance(effect, UseToken):
            assert not is_expired(effect.token, now, policy.clock_skew)
            assert effect.authorization == "Bearer " + effect.token.access_token


def respects_effect_contract(
    policy: Policy, state: TokenState, event: Input, now: float, decision: Decision
) -> None:
    """`_effects.py`: at most one input-producing effect, and only last; likewise for
    terminal effects; `FetchToken` xor `CallTokenProvider` according to the policy."""
    effects = decision.effects
    producing = [i for i, e in enumerate(effects) if isinstance(e, PRODUCING)]
    terminal = [i for i, e in enumerate(effects) if isinstance(e, TERMINAL)]
    assert producing in ([], [len(effects) - 1])
    assert terminal in ([], [len(effects) - 1])
    if any(isinstance(e, FetchToken) for e in effects):
        assert not policy.has_provider
    if any(isinstance(e, CallTokenProvider) for e in effects):
        assert policy.has_provider


def keeps_single_flight(
    policy: Policy, state: TokenState, event: Input, now: float, decision: Decision
) -> None:
    """A fetch starts only on `TokenNeeded`, only from a non-`Fetching` state, and moves to
    `Fetching` holding what was held; `Fetching` is entered in no other way."""
    if _starts_fetch(decision):
        assert isinstance(event, TokenNeeded)
        assert not isinstance(state, Fetching)
        assert decision.state == Fetching(token=current_token(state))
        for effect in decision.effects:
            if isinstance(effect, CallTokenProvider):
                assert effect.last == current_token(state)
    elif isinstance(decision.state, Fetching):
        assert isinstance(state, Fetching)
    if isinstance(state, Fetching) and isinstance(event, TokenNeeded):
        token = state.token
        assert decision.state == state
        if token is None or is_expired(token, now, policy.clock_skew):
            assert decision.effects == (AwaitFetch(),)
        else:
            assert decision.effects == (use(token),)


def answers_every_token_needed(
    policy: Policy, state: TokenState, event: Input, now: float, decision: Decision
) -> None:
    """`TokenNeeded` always gets exactly one effect: fetch, provider call, use, or await
    (the shell reads `effects[0]`)."""
    if isinstance(event, TokenNeeded):
        (effect,) = decision.effects
        assert isinstance(effect, FetchToken | CallTokenProvider | UseToken | AwaitFetch)


def notifies_exactly_new_tokens(
    policy: Policy, state: TokenState, event: Input, now: float, decision: Decision
) -> None:
    """`NotifyTokenUpdate` only with a callback, only for the token just adopted, only when it
    is new; and with a callback, every newly held token is announced."""
    before, after = current_token(state), current_token(decision.state)
    notified = [e.token for e in decision.effects if isinstance(e, NotifyTokenUpdate)]
    for token in notified:
        assert policy.has_update_callback
        assert isinstance(token, OAuthToken)  # never None
        assert token == after
        assert token != before
    if policy.has_update_callback and after is not None and after != before:
        assert notified == [after]


def settles_failed_fetches(
    policy: Policy, state: TokenState, event: Input, now: float, decision: Decision
) -> None:
    """An outcome always leaves `Fetching`; a failed outcome goes back to what was held."""
    if isinstance(event, OUTCOMES):
        assert not isinstance(decision.state, Fetching)
        if any(isinstance(e, Fail) for e in decision.effects):
            assert decision.state == _settled(state)


def changes_state_only_as_documented(
    policy: Policy, state: TokenState, event: Input, now: float, decision: Decision
) -> None:
    """Callback answers never change the state; `TokenSet` replaces the token and keeps a
    fetch in flight; an outcome either adopts a token (and uses or announces it) or fails."""
    match event:
        case TokenUpdateNotified() | TokenUpdateRaised():
            assert decision.state == state
        case TokenSet(token=token):
            held = None if token is None else stamped(token, now)
            assert current_token(decision.state) == held
            assert isinstance(decision.state, Fetching) == isinstance(state, Fetching)
        case TokenNeeded():
            assert current_token(decision.state) == current_token(state)
        case _:
            (effect,) = decision.effects
            if isinstance(effect, Fail):
                assert decision.state == _settled(state)
            else:
                assert isinstance(decision.state, Holding)
                adopted = decision.state.token
                assert effect in (use(adopted), NotifyTokenUpdate(token=adopted))


INVARIANTS: Final[tuple[Invariant, ...]] = (
    uses_only_usable_tokens,
    respects_effect_contract,
    keeps_single_flight,
    answers_every_token_needed,
    notifies_exactly_new_tokens,
    settles_failed_fetches,
    changes_state_only_as_documented,
)


def check_all(
    policy: Policy, state: TokenState, event: Input, now: float, decision: Decision
) -> None:
    for invariant in INVARIANTS:
        invariant(policy, state, event, now, decision)


# -- one step -------------------------------------------------------------------------


@given(
    policy=policies(),
    situation=situations(),
    now=times(),
    any_now=st.floats(allow_nan=True, allow_infinity=True),
)
def test_step_is_total_deterministic_and_keeps_every_invariant(
    policy: Policy, situation: tuple[TokenState, Input], now: float, any_now: float
) -> None:
    """The whole space: `step` returns (never raises, even for a NaN or infinite `now`),
    returns the same value twice, and each invariant above holds at a realistic `now`; a
    failure names the invariant in its traceback."""
    state, event = situation
    assert isinstance(step(policy, state, event, any_now), Decision)
    decision = step(policy, state, event, now)
    assert isinstance(decision, Decision)
    assert step(policy, state, event, now) == decision
    for invariant in INVARIANTS:
        invariant(policy, state, event, now, decision)


@given(
    policy=policies(),
    state=st.builds(Fetching, token=st.none() | tokens()),
    event=outcome_inputs(),
    now=times(),
)
def test_an_outcome_always_settles_out_of_fetching(
    policy: Policy, state: TokenState, event: Input, now: float
) -> None:
    """Every fetch or provider outcome (against any policy: a provider's answer to a
    direct fetch too) leaves `Fetching`, back to what was held if it failed."""
    decision = step(policy, state, event, now)
    settles_failed_fetches(policy, state, event, now, decision)
    changes_state_only_as_documented(policy, state, event, now, decision)


@given(
    policy=policies(),
    token=tokens(),
    fetching=st.booleans(),
    now=times(),
    again=st.sampled_from(["set", "provided", "received"]),
)
def test_the_held_token_again_is_never_announced(
    policy: Policy, token: OAuthToken, fetching: bool, now: float, again: str
) -> None:
    """Setting, being provided or receiving the very token already held (same value, same
    expiry) is not an update: no `NotifyTokenUpdate`, whatever the policy."""
    event: Input
    if again == "received":
        wire = msgspec.structs.replace(token, expiry=None)  # the wire carries no expiry
        event = TokenReplyReceived(reply=reply_with(wire))
        held = stamped(wire, now)
    else:
        held = stamped(token, now)
        event = TokenSet(token=held) if again == "set" else TokenProvided(token=held)
    state: TokenState = Fetching(token=held) if fetching else Holding(token=held)
    decision = step(policy, state, event, now)
    assert not any(isinstance(e, NotifyTokenUpdate) for e in decision.effects)
    assert current_token(decision.state) == held


# -- expiry --------------------------------------------------------------------------------


@given(
    token=tokens(),
    skews=st.lists(clock_skews(), min_size=2, max_size=2),
    instants=st.lists(times(), min_size=2, max_size=2),
)
def test_expiry_is_monotone_in_time_and_in_skew(
    token: OAuthToken, skews: list[float], instants: list[float]
) -> None:
    """Once expired, later instants and larger skews are expired too."""
    early, late = sorted(instants)
    small, large = sorted(skews)
    for skew in skews:
        if is_expired(token, early, skew):
            assert is_expired(token, late, skew)
    for now in instants:
        if is_expired(token, now, small):
            assert is_expired(token, now, large)


@given(policy=policies(), state=states(), data=st.data())
def test_reusable_until_is_sound(policy: Policy, state: TokenState, data: st.DataObject) -> None:
    """Before `reusable_until` the answer is `UseToken` with the state unchanged (the shell's
    lock-free hot path); from it on, nothing is used."""
    token = current_token(state)
    until = reusable_until(policy, state)
    if token is None:
        assert until == -math.inf
    elif until == math.inf:
        now = data.draw(times(), label="before")
        assert step(policy, state, TokenNeeded(), now) == Decision(
            state=state, effects=(use(token),)
        )
    else:
        before = data.draw(
            st.just(math.nextafter(until, -math.inf))
            | st.floats(until - 2 * DAY, until, exclude_max=True),
            label="before",
        )
        assert step(policy, state, TokenNeeded(), before) == Decision(
            state=state, effects=(use(token),)
        )
    if until != math.inf:
        after = data.draw(
            times() if until == -math.inf else st.just(until) | st.floats(until, until + 2 * DAY),
            label="after",
        )
        decision = step(policy, state, TokenNeeded(), after)
        assert not any(isinstance(e, UseToken) for e in decision.effects)


# -- walks ---------------------------------------------------------------------------------

WALK_STEPS: Final = 16
"""Longest walk."""
WALK_EXAMPLES: Final = max(50, settings().max_examples // 2)
"""A walk checks up to `WALK_STEPS` transitions, so walks run half the profile's examples."""

_SETS: Final = st.builds(TokenSet, token=st.none() | tokens())
_ACTIONS: Final = ("need", "set", "answer fetch", "answer notify")
"""What happens next; an answer with nothing to answer is one more caller's `TokenNeeded`."""


@settings(max_examples=WALK_EXAMPLES)
@given(
    policy=policies(),
    state=states(),
    start=times(),
    walk=st.lists(st.tuples(st.none() | inputs(), time_advances()), max_size=WALK_STEPS),
    data=st.data(),
)
def test_random_walk_keeps_every_invariant(
    policy: Policy,
    state: TokenState,
    start: float,
    walk: list[tuple[Input | None, float]],
    data: st.DataObject,
) -> None:
    """Arbitrary inputs in arbitrary order (strays and duplicates included) from any state;
    None in the walk stands for an input about the token held at that point."""
    now = start
    for drawn, advance in walk:
        event = drawn
        if event is None:
            token = current_token(state)
            event = TokenNeeded() if token is None else data.draw(inputs_about(token))
        now += advance
        decision = step(policy, state, event, now)
        check_all(policy, state, event, now, decision)
        state = decision.state


@settings(max_examples=WALK_EXAMPLES)
@given(
    policy=policies(),
    start=st.integers(-3_600, 3_600).map(lambda s: EPOCH + s),
    plan=st.lists(
        st.tuples(st.sampled_from(_ACTIONS), time_advances()), min_size=1, max_size=WALK_STEPS
    ),
    data=st.data(),
)
def test_well_behaved_shell_walk_keeps_one_fetch_in_flight(
    policy: Policy, start: float, plan: list[tuple[str, float]], data: st.DataObject
) -> None:
    """Callers ask for tokens and set them at any moment; the shell answers each effect
    exactly once, in any order. `Fetching` holds exactly while a fetch is unanswered."""
    state: TokenState = NoToken()
    now = start
    fetch: Effect | None = None
    notifies: list[Effect] = []
    for action, advance in plan:
        event: Input
        if action == "answer fetch" and fetch is not None:
            event = data.draw(answers(fetch), label="fetch outcome")
            fetch = None
        elif action == "answer notify" and notifies:
            event = data.draw(answers(notifies.pop()), label="notify outcome")
        elif action == "set":
            event = data.draw(_SETS, label="set")
        else:
            event = TokenNeeded()
        now += advance
        decision = step(policy, state, event, now)
        check_all(policy, state, event, now, decision)
        for effect in decision.effects:
            if isinstance(effect, FetchToken | CallTokenProvider):
                assert fetch is None, "a second fetch while one is in flight"
                fetch = effect
            elif isinstance(effect, NotifyTokenUpdate):
                notifies.insert(0, effect)  # answered oldest first, or not at all
        state = decision.state
        assert isinstance(state, Fetching) == (fetch is not None)
