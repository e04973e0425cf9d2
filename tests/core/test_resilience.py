"""Resilience of the pure core: failure classes, backoff, and the machine's soft refresh,
retries, breaker, cool-downs and 401 handling, with no threads and no real time.

Three parts:

- `classify` and `retry_delay` against the documented table and formula (the
  expected class and ceiling are computed here by hand);
- properties of one `step` over the whole `policy x state x input x now` space
  (`strategies.step_cases()`);
- scenarios that drive `step` by hand with a tiny loop (`Loop`): the caller's
  answer, the work and the events of each step, with every instant written as
  arithmetic on `M0` (monotonic) and `W0` (wall).

The policy of the scenarios: skew 60 s, total timeout 30 s (a flight's deadline is
its start + 32 s), and the default `ResiliencePolicy` unless a row says otherwise
(refresh ratio 0.25, 3 attempts, call timeout 60 s, backoff base 0.5 s and cap 30 s,
`Retry-After` cap 300 s, cool-down 30 s, breaker after 5 failures for 30 s). A token
fetched at `M0` with `expires_in=3600` is then usable until M0 + 3540 and due for
renewal from M0 + 3540 - 0.25 x 3540 = M0 + 2655.
"""

from __future__ import annotations

import calendar
import math
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Final

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccg.core import (
    Abandoned,
    AwaitFlight,
    AwaitRetry,
    BreakerOpened,
    CallTimedOut,
    CallTokenProvider,
    CoolDownStarted,
    Decision,
    ErrorResponse,
    Fail,
    FailureClass,
    FailureRecord,
    FetchToken,
    Flight,
    FlightSettled,
    FlightStarted,
    FlightTimedOut,
    Held,
    HttpReply,
    Input,
    InvalidToken,
    MalformedResponse,
    NoUsableToken,
    Now,
    OAuthProviderError,
    OAuthToken,
    Policy,
    ProviderRaised,
    ProviderReturnedExpired,
    ProviderReturnedNone,
    RejectedByApi,
    ResiliencePolicy,
    RetryScheduled,
    StaleRejectionIgnored,
    TokenAccepted,
    TokenExpiredOnArrival,
    TokenFailure,
    TokenInvalidated,
    TokenNeeded,
    TokenOrigin,
    TokenProvided,
    TokenRejected,
    TokenReplyReceived,
    TokenRequestSpec,
    TokenSource,
    TokenState,
    TransportFailure,
    TransportFailureKind,
    UpdateCallbackRaised,
    UseToken,
    backoff_ceiling,
    classify,
    not_before,
    retry_delay,
    reusable_until,
    step,
)
from ccg.testing import error_reply, json_reply, token_reply
from ccg.testing import strategies as cs

M0: Final = 1_000.0
"""The monotonic clock at the start of every scenario."""
W0: Final = 1_700_000_000.0
"""The wall clock at the start of every scenario."""

SPEC: Final = TokenRequestSpec(
    token_url="https://as.example/token", client_id="client", client_secret="s3cret"
)
DEFAULTS: Final = ResiliencePolicy()

RFC_CODES: Final = (
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
)
"""The six error codes of RFC 6749 §5.2, written out."""

UNAVAILABLE: Final = error_reply("temporarily_unavailable", status=503)
"""A transient failure of the token endpoint."""


def policy(
    resilience: ResiliencePolicy = DEFAULTS, *, source: TokenSource = TokenSource.ENDPOINT
) -> Policy:
    return Policy(request=SPEC, clock_skew=60.0, source=source, resilience=resilience)


def producing(decision: Decision) -> list[FetchToken | CallTokenProvider]:
    """The flights a decision starts (their token request or provider call)."""
    return [e for e in decision.work if isinstance(e, FetchToken | CallTokenProvider)]


# -- classify ----------------------------------------------------------------------------


def documented_class(failure: TokenFailure) -> FailureClass:
    """The class `_resilience.py` documents for `failure`, by hand."""
    match failure:
        case ErrorResponse(status=status, error=error):
            if str(error) in RFC_CODES:
                return FailureClass.PERMANENT
            if str(error) in ("server_error", "temporarily_unavailable"):
                return FailureClass.TRANSIENT
            return (
                FailureClass.TRANSIENT if status == 429 or status >= 500 else FailureClass.PERMANENT
            )
        case MalformedResponse(status=status):
            return (
                FailureClass.TRANSIENT if status == 429 or status >= 500 else FailureClass.PERMANENT
            )
        case TransportFailure(kind=kind):
            transient = kind in ("connect", "timeout", "protocol")
            return FailureClass.TRANSIENT if transient else FailureClass.PERMANENT
        case FlightTimedOut() | TokenExpiredOnArrival():
            return FailureClass.TRANSIENT
        case RejectedByApi():
            return FailureClass.PERMANENT
        case _:
            return FailureClass.LOCAL


_ERROR_RESPONSES: Final = st.builds(
    ErrorResponse,
    status=st.integers(100, 599),
    error=st.sampled_from(
        [*OAuthProviderError, *RFC_CODES, "server_error", "temporarily_unavailable", "slow_down"]
    )
    | st.text(max_size=12),
)


@given(cs.token_failures() | _ERROR_RESPONSES)
def test_every_failure_lands_in_its_documented_class(failure: TokenFailure) -> None:
    assert classify(failure) is documented_class(failure)


@pytest.mark.parametrize("code", RFC_CODES)
@pytest.mark.parametrize("status", [400, 401, 403, 429, 500, 502, 503])
def test_the_six_rfc_codes_are_never_transient(code: str, status: int) -> None:
    assert classify(ErrorResponse(status=status, error=code)) is FailureClass.PERMANENT
    assert classify(ErrorResponse(status=status, error=OAuthProviderError(code))) is (
        FailureClass.PERMANENT
    )


def test_tls_and_the_other_unretried_transport_failures_are_never_transient() -> None:
    for kind in (
        TransportFailureKind.TLS,
        TransportFailureKind.TOO_LARGE,
        TransportFailureKind.OTHER,
    ):
        assert classify(TransportFailure(kind=kind, reason="x")) is FailureClass.PERMANENT


@pytest.mark.parametrize(
    "failure",
    [
        ErrorResponse(status=400, error="server_error"),
        ErrorResponse(status=400, error="temporarily_unavailable"),
        ErrorResponse(status=503, error="temporarily_unavailable"),
        ErrorResponse(status=429, error="slow_down"),
        ErrorResponse(status=429, error=""),
        ErrorResponse(status=500, error="whatever"),
        ErrorResponse(status=599, error="whatever"),
        MalformedResponse(status=502, reason="HTML"),
        MalformedResponse(status=429, reason="empty"),
        MalformedResponse(status=500, reason="empty"),
        TransportFailure(kind=TransportFailureKind.CONNECT, reason="refused"),
        TransportFailure(kind=TransportFailureKind.TIMEOUT, reason="late"),
        TransportFailure(kind=TransportFailureKind.PROTOCOL, reason="cut off"),
        FlightTimedOut(seconds=32.0),
        TokenExpiredOnArrival(expires_in=1),
    ],
)
def test_server_errors_429_5xx_timeouts_and_dropped_connections_are_transient(
    failure: TokenFailure,
) -> None:
    assert classify(failure) is FailureClass.TRANSIENT


@pytest.mark.parametrize(
    "failure",
    [
        ErrorResponse(status=400, error="slow_down"),
        ErrorResponse(status=404, error="not_found"),
        MalformedResponse(status=200, reason="not a token"),
        MalformedResponse(status=404, reason="HTML"),
        RejectedByApi(reason="HTTP 401"),
    ],
)
def test_other_4xx_and_unusable_replies_are_permanent(failure: TokenFailure) -> None:
    assert classify(failure) is FailureClass.PERMANENT


@pytest.mark.parametrize(
    "failure",
    [
        ProviderRaised(reason="RuntimeError: boom"),
        ProviderReturnedNone(),
        ProviderReturnedExpired(expiry=None),
        InvalidToken(origin=TokenOrigin.PROVIDER, reason="empty"),
        UpdateCallbackRaised(reason="OSError"),
        Abandoned(reason="KeyboardInterrupt"),
        CallTimedOut(seconds=60.0),
        NoUsableToken(attempts=3),
    ],
)
def test_the_applications_own_failures_are_local(failure: TokenFailure) -> None:
    assert classify(failure) is FailureClass.LOCAL


# -- backoff -----------------------------------------------------------------------------


def ceiling_by_hand(resilience: ResiliencePolicy, streak: int) -> float:
    """min(cap, base x 2^(streak - 1)), without the code's exponent limit."""
    try:
        grown = math.ldexp(resilience.backoff_base, streak - 1)
    except OverflowError:
        grown = math.inf
    return min(resilience.backoff_cap, grown)


STREAKS: Final = st.integers(1, 70) | st.integers(71, 100_000)
ODD_DRAWS: Final = st.sampled_from(
    [math.nan, math.inf, -math.inf, -0.5, -5e-324, 1.0 + 2**-52, 1.5, 1e300, 1.0, -0.0]
)
DRAWS: Final = st.floats(0, 1, exclude_max=True) | ODD_DRAWS


def test_the_default_backoff_ceilings_double_from_half_a_second_up_to_thirty() -> None:
    ceilings = [backoff_ceiling(DEFAULTS, streak) for streak in range(1, 10)]
    assert ceilings == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert [retry_delay(DEFAULTS, streak, 0.5, None) for streak in (1, 2, 3, 7)] == [
        0.25,
        0.5,
        1.0,
        15.0,
    ]


@given(cs.resilience_policies(), STREAKS)
def test_the_ceiling_grows_exponentially_until_the_cap(
    resilience: ResiliencePolicy, streak: int
) -> None:
    ceiling = backoff_ceiling(resilience, streak)
    assert ceiling == ceiling_by_hand(resilience, streak)
    assert backoff_ceiling(resilience, streak + 1) == min(resilience.backoff_cap, 2 * ceiling)


@given(cs.resilience_policies(), STREAKS, DRAWS)
def test_the_delay_stays_within_zero_and_the_ceiling(
    resilience: ResiliencePolicy, streak: int, draw: float
) -> None:
    ceiling = ceiling_by_hand(resilience, streak)
    delay = retry_delay(resilience, streak, draw, None)
    assert 0.0 <= delay <= ceiling
    if 0.0 <= draw < 1.0:
        assert delay == pytest.approx(draw * ceiling, rel=1e-12, abs=0.0)


@given(
    cs.resilience_policies(),
    STREAKS,
    DRAWS,
    st.floats(1e-9, 1e12) | st.sampled_from([1e12, 1.0, 300.0, 301.0]),
)
def test_retry_after_is_a_floor_cut_to_its_cap(
    resilience: ResiliencePolicy, streak: int, draw: float, asked: float
) -> None:
    ceiling = ceiling_by_hand(resilience, streak)
    delay = retry_delay(resilience, streak, draw, asked)
    assert delay >= min(asked, resilience.retry_after_cap)
    assert delay <= max(ceiling, resilience.retry_after_cap)
    if 0.0 <= draw < 1.0:
        expected = max(draw * ceiling, min(asked, resilience.retry_after_cap))
        assert delay == pytest.approx(expected, rel=1e-12, abs=0.0)


@given(
    cs.resilience_policies(),
    STREAKS,
    DRAWS,
    st.floats(-1e12, 0.0) | st.sampled_from([-0.0, -1e12, math.nan]),
)
def test_a_retry_after_in_the_past_counts_as_absent(
    resilience: ResiliencePolicy, streak: int, draw: float, asked: float
) -> None:
    assert retry_delay(resilience, streak, draw, asked) == retry_delay(
        resilience, streak, draw, None
    )


def test_a_huge_retry_after_is_cut_to_the_cap() -> None:
    assert retry_delay(DEFAULTS, 1, 0.5, 1e12) == 300.0
    assert retry_delay(DEFAULTS, 1, 0.5, 299.0) == 299.0
    assert retry_delay(ResiliencePolicy(retry_after_cap=0.0), 1, 0.5, 1e12) == 0.25


# -- properties of one step --------------------------------------------------------------

Case = tuple[Policy, TokenState, Input, Now]


def _usable(state: TokenState, now: Now) -> bool:
    return state.held is not None and now.monotonic < state.held.fresh_until


def _own(event: TokenNeeded, record: FailureRecord) -> bool:
    return event.waited_for is not None and event.waited_for == record.flight


def no_caller_is_failed_while_the_held_token_is_usable(case: Case, decision: Decision) -> None:
    _, state, event, now = case
    if isinstance(event, TokenNeeded) and state.held is not None and _usable(state, now):
        assert decision.answer == UseToken(token=state.held.token)


def no_flight_starts_while_held_back(case: Case, decision: Decision) -> None:
    """While `now < not_before(state)` no TokenNeeded starts a flight, except where the
    machine documents otherwise: the record is a local failure and the caller a newcomer
    (no cool-down: the next caller asks the provider again), or an overdue flight is given
    up first (its `FlightTimedOut` replaces the record)."""
    _, state, event, now = case
    record = state.failure
    if not isinstance(event, TokenNeeded) or record is None:
        return
    assert not_before(state) == record.retry_at
    if now.monotonic >= not_before(state):
        return
    overdue = state.flight is not None and now.monotonic >= state.flight.deadline
    local_newcomer = classify(record.failure) is FailureClass.LOCAL and not _own(event, record)
    if _usable(state, now) or not (overdue or local_newcomer):
        assert producing(decision) == []
        assert decision.state.flight in (state.flight, None)


def a_local_failure_holds_no_newcomer_back(case: Case, decision: Decision) -> None:
    p, state, event, now = case
    record = state.failure
    if (
        not isinstance(event, TokenNeeded)
        or record is None
        or state.flight is not None
        or _usable(state, now)
        or classify(record.failure) is not FailureClass.LOCAL
        or _own(event, record)
    ):
        return
    since = event.since
    if event.attempts >= p.resilience.max_attempts:
        # The call has been through all its flights: it fails, whatever the record.
        assert decision.answer == Fail(failure=NoUsableToken(attempts=event.attempts))
    elif since is not None and now.monotonic >= since + p.resilience.call_timeout:
        assert decision.answer == Fail(failure=CallTimedOut(seconds=now.monotonic - since))
    else:
        assert decision.answer is None
        assert [e.flight for e in producing(decision)] == [state.flights + 1]


def await_retry_is_only_for_a_transient_failure_and_ends_at_its_retry(
    case: Case, decision: Decision
) -> None:
    _, _, _, now = case
    if isinstance(decision.answer, AwaitRetry):
        record = decision.state.failure
        assert record is not None
        assert classify(record.failure) is FailureClass.TRANSIENT
        assert decision.answer.until == record.retry_at > now.monotonic
        assert producing(decision) == []


def a_non_retryable_failure_of_the_callers_own_flight_fails_the_call(
    case: Case, decision: Decision
) -> None:
    """Never AwaitRetry: the same Fail the record holds, saying how long it holds back."""
    _, state, event, now = case
    record = state.failure
    if (
        not isinstance(event, TokenNeeded)
        or record is None
        or record.flight is None
        or not _own(event, record)
        or state.flight is not None
        or _usable(state, now)
        or classify(record.failure) is FailureClass.TRANSIENT
    ):
        return
    held_back = now.monotonic < record.retry_at
    assert decision == Decision(
        state=state,
        answer=Fail(
            failure=record.failure,
            flight=record.flight,
            retry_after=record.retry_at - now.monotonic if held_back else None,
        ),
    )


PROMISES: Final = (
    no_caller_is_failed_while_the_held_token_is_usable,
    no_flight_starts_while_held_back,
    a_local_failure_holds_no_newcomer_back,
    await_retry_is_only_for_a_transient_failure_and_ends_at_its_retry,
    a_non_retryable_failure_of_the_callers_own_flight_fails_the_call,
)


def check_promises(case: Case) -> None:
    p, state, event, now = case
    decision = step(p, state, event, now)
    for promise in PROMISES:
        promise(case, decision)


@given(cs.step_cases())
def test_resilience_promises_hold_over_the_whole_state_and_input_space(case: Case) -> None:
    check_promises(case)


_POLICIES: Final = st.builds(
    Policy,
    request=st.just(SPEC),
    clock_skew=cs.clock_skews(),
    source=st.sampled_from(list(TokenSource)),
    limits=cs.request_limits(),
    resilience=cs.resilience_policies(),
)


_TRANSIENT: Final[tuple[TokenFailure, ...]] = (
    ErrorResponse(status=503, error="temporarily_unavailable"),
    MalformedResponse(status=502, reason="HTML"),
    TransportFailure(kind=TransportFailureKind.CONNECT, reason="refused"),
    FlightTimedOut(seconds=32.0),
)
_TRANSIENT_FAILURES: Final = st.sampled_from(_TRANSIENT)


@st.composite
def _after_a_failure(draw: st.DrawFn) -> Case:
    """A caller asking in a state that remembers a failure (of any class, from its own
    flight, another, or a rejection), with or without a token, a flight, the call's
    deadline passed or not; `now` often exactly at, or just before, an instant that
    matters."""
    p = draw(_POLICIES)
    settled = draw(st.integers(1, 4))
    at = draw(cs.monotonic_times())
    retry_at = at + draw(st.sampled_from([0.0, 0.5, 30.0]) | st.floats(0, 600))
    record = FailureRecord(
        flight=draw(st.sampled_from([settled, settled - 1, None])),
        failure=draw(cs.token_failures() | _TRANSIENT_FAILURES),
        at=at,
        retry_at=retry_at,
    )
    flight = None
    if draw(st.integers(0, 3)) == 0:
        patience = draw(st.sampled_from([32.0, 0.0]) | st.floats(0, 600))
        flight = Flight(id=settled + 1, source=p.source, started=at, deadline=at + patience)
    held = draw(st.none() | cs.held_tokens())
    state = TokenState(
        held=held,
        flight=flight,
        failure=record,
        flights=settled + (flight is not None),
        streak=draw(st.sampled_from([0, 0, 1, 4]) | st.integers(0, 8)),
        rejected_at=draw(st.just(-math.inf) | cs.monotonic_times()),
    )
    instants = [at, retry_at, math.nextafter(retry_at, -math.inf)]
    if held is not None:
        instants += [held.refresh_at, held.fresh_until]
    if flight is not None:
        instants += [flight.deadline, math.nextafter(flight.deadline, -math.inf)]
    finite = [t for t in instants if math.isfinite(t)]
    now = Now(
        monotonic=draw(st.sampled_from(finite) | cs.monotonic_times()),
        wall=draw(cs.times()),
        entropy=draw(st.floats(0, 1, exclude_max=True)),
    )
    ask = TokenNeeded(
        waited_for=draw(st.sampled_from([None, record.flight, settled, settled + 1])),
        attempts=draw(st.sampled_from([0, 0, 1, 2]) | st.integers(0, 6)),
        since=draw(st.sampled_from([None, None, now.monotonic, at]) | cs.monotonic_times()),
    )
    return p, state, ask, now


@given(_after_a_failure())
def test_resilience_promises_hold_for_callers_after_a_failure(case: Case) -> None:
    check_promises(case)


# -- the scenario loop -------------------------------------------------------------------


@dataclass
class Loop:
    """One machine driven by hand: both clocks, a fixed random draw, and every step taken."""

    policy: Policy
    state: TokenState = field(default_factory=TokenState)
    monotonic: float = M0
    wall: float = W0
    entropy: float = 0.0
    trace: list[tuple[Input, Now, Decision]] = field(
        default_factory=list[tuple[Input, Now, Decision]]
    )

    def now(self) -> Now:
        return Now(monotonic=self.monotonic, wall=self.wall, entropy=self.entropy)

    def at(self, instant: float) -> None:
        """Move both clocks to the monotonic `instant` (never back)."""
        assert instant >= self.monotonic
        self.wall += instant - self.monotonic
        self.monotonic = instant

    def step(self, event: Input) -> Decision:
        decision = step(self.policy, self.state, event, self.now())
        self.trace.append((event, self.now(), decision))
        self.state = decision.state
        return decision

    def need(
        self, waited_for: int | None = None, attempts: int = 0, since: float | None = None
    ) -> Decision:
        return self.step(TokenNeeded(waited_for=waited_for, attempts=attempts, since=since))

    def reply(self, decision: Decision, reply: HttpReply) -> Decision:
        """The token endpoint's `reply` to the token request `decision` started."""
        (fetch,) = producing(decision)
        assert isinstance(fetch, FetchToken)
        return self.step(TokenReplyReceived(flight=fetch.flight, reply=reply))

    def fetched(self, access_token: str, **fields: object) -> OAuthToken:
        """A caller that gets a token fetched now; the token as held."""
        decision = self.need()
        assert decision.answer is None
        settled = self.reply(decision, json_reply(200, {"access_token": access_token, **fields}))
        assert isinstance(settled.answer, UseToken)
        return settled.answer.token

    def flights_started(self) -> list[tuple[float, int]]:
        """(monotonic instant, flight) of every flight started so far."""
        return [(now.monotonic, e.flight) for _, now, d in self.trace for e in producing(d)]


def _stamped(access_token: str, expires_in: int | None, expiry: float) -> OAuthToken:
    return OAuthToken(access_token=access_token, expires_in=expires_in, expiry=expiry)


# -- soft refresh ------------------------------------------------------------------------


def test_a_fetched_token_is_placed_with_its_refresh_window() -> None:
    loop = Loop(policy())
    token = loop.fetched("t1", token_type="Bearer", expires_in=3600)
    assert token == OAuthToken(access_token="t1", expires_in=3600, expiry=W0 + 3600)
    assert loop.state.held == Held(
        token=token, expires_at=M0 + 3600, fresh_until=M0 + 3540, refresh_at=M0 + 2655
    )
    assert reusable_until(loop.policy, loop.state) == M0 + 2655


def test_renewal_starts_exactly_at_refresh_at_not_before() -> None:
    loop = Loop(policy())
    token = loop.fetched("t1", token_type="Bearer", expires_in=3600)
    before = loop.state
    loop.at(math.nextafter(M0 + 2655, 0.0))
    assert loop.need() == Decision(state=before, answer=UseToken(token=token))

    loop.at(M0 + 2655)
    renewal = loop.need()
    assert renewal.answer == UseToken(token=token)
    assert renewal.work == (FetchToken(flight=2, request=loop.policy.token_request),)
    assert renewal.events == (FlightStarted(flight=2, source=TokenSource.ENDPOINT, renewal=True),)
    assert renewal.state.flight == Flight(
        id=2, source=TokenSource.ENDPOINT, started=M0 + 2655, deadline=M0 + 2655 + 32
    )
    # While it runs, callers keep the held token and start nothing.
    assert reusable_until(loop.policy, loop.state) == M0 + 2655 + 32
    loop.at(M0 + 2660)
    during = loop.need()
    assert (during.answer, during.work) == (UseToken(token=token), ())
    settled = loop.reply(renewal, token_reply("t2", expires_in=3600))
    assert settled.events[0] == FlightSettled(flight=2, failure=None, renewal=True)
    assert loop.need().answer == UseToken(token=_stamped("t2", 3600, W0 + 2655 + 3600))


def test_at_fresh_until_a_caller_must_wait_for_a_new_token() -> None:
    loop = Loop(policy())
    token = loop.fetched("t1", token_type="Bearer", expires_in=3600)
    loop.at(math.nextafter(M0 + 3540, 0.0))
    last = loop.step(TokenNeeded(waited_for=None))
    assert last.answer == UseToken(token=token)  # still usable, and renewing
    (renewal,) = producing(last)

    flight = last.state.flight
    assert flight is not None
    assert flight.id == renewal.flight

    loop.at(M0 + 3540)
    waiting = loop.need()
    assert waiting.answer == AwaitFlight(flight=flight.id, until=flight.deadline)
    assert producing(waiting) == []


def test_at_fresh_until_without_a_renewal_the_caller_runs_the_fetch_and_others_wait() -> None:
    loop = Loop(policy())
    loop.fetched("t1", token_type="Bearer", expires_in=3600)
    loop.at(M0 + 3540)
    first = loop.need()
    assert first.answer is None
    assert first.work == (FetchToken(flight=2, request=loop.policy.token_request),)
    assert first.events == (FlightStarted(flight=2, source=TokenSource.ENDPOINT, renewal=False),)
    second = loop.need()
    assert second == Decision(state=first.state, answer=AwaitFlight(flight=2, until=M0 + 3540 + 32))


def test_a_renewal_failing_in_the_window_never_fails_a_caller_and_backs_off() -> None:
    loop = Loop(policy(), entropy=0.5)
    token = loop.fetched("t1", token_type="Bearer", expires_in=3600)
    failed_at: list[tuple[float, float]] = []  # (when, the delay it scheduled)
    answers: list[object] = []
    for tick in range(int((3540 - 2655) / 0.1)):
        loop.at(M0 + 2655 + tick * 0.1)
        decision = loop.need()
        answers.append(decision.answer)
        for _ in producing(decision):
            outcome = loop.reply(decision, UNAVAILABLE)
            assert outcome.answer is None
            settled, scheduled = outcome.events
            assert isinstance(settled, FlightSettled)
            assert settled.renewal is True
            assert isinstance(scheduled, RetryScheduled | BreakerOpened)
            delay = scheduled.delay if isinstance(scheduled, RetryScheduled) else scheduled.seconds
            failed_at.append((loop.monotonic, delay))
    assert all(answer == UseToken(token=token) for answer in answers)

    # Delays by hand: 0.5 x min(30, 0.5 x 2^(n-1)), then the breaker (5 in a row) holds 30 s.
    expected_delays = [0.25, 0.5, 1.0, 2.0] + [30.0] * (len(failed_at) - 4)
    assert [delay for _, delay in failed_at] == pytest.approx(expected_delays)
    starts = [when for when, _ in loop.flights_started()][1:]  # the renewals
    for (failed, delay), started in zip(failed_at, starts[1:], strict=False):
        assert failed + delay - 1e-6 <= started < failed + delay + 0.1 + 1e-6
    # 3.75 s for the first four, then one every 30 s (and a tick) to the end of the window.
    assert len(starts) == len(failed_at)
    assert 4 + (885 - 3.75) // 30.1 <= len(starts) <= 5 + (885 - 3.75) // 30


def test_the_same_nearly_expired_token_from_the_provider_is_not_renewed_on_every_call() -> None:
    loop = Loop(policy(source=TokenSource.PROVIDER))
    first = loop.need()
    (call,) = producing(first)
    loop.step(
        TokenProvided(flight=call.flight, token=OAuthToken(access_token="t1", expires_in=3600))
    )
    held = loop.state.held
    assert held is not None
    assert (held.refresh_at, held.fresh_until) == (M0 + 2655, M0 + 3540)
    window, calls = 3540 - 2655, 1000
    for i in range(calls):
        loop.at(M0 + 2655 + i * window / calls)
        decision = loop.need()
        assert decision.answer == UseToken(token=held.token)
        for effect in producing(decision):
            assert isinstance(effect, CallTokenProvider)
            assert effect.last == held.token
            loop.step(TokenProvided(flight=effect.flight, token=effect.last))  # the same again
    renewals = len(loop.flights_started()) - 1
    # Each renewal waits half the time left (at least backoff_base): about log2(885 / 0.5).
    assert 2 <= renewals <= math.ceil(math.log2(window / 0.5)) + 2


def test_the_same_token_from_the_endpoint_with_less_time_left_is_not_renewed_on_every_call() -> (
    None
):
    # A server that hands out its cached token with the seconds it has left.
    loop = Loop(policy())
    loop.fetched("t1", token_type="Bearer", expires_in=3600)
    server_expiry = W0 + 3600
    window, calls = 3540 - 2655, 1000
    for i in range(calls):
        loop.at(M0 + 2655 + i * window / calls)
        decision = loop.need()
        assert isinstance(decision.answer, UseToken)
        if producing(decision):
            left = math.floor(server_expiry - loop.wall)
            loop.reply(decision, token_reply("t1", expires_in=left))
    renewals = len(loop.flights_started()) - 1
    assert 1 <= renewals <= math.ceil(math.log2(window / 0.5)) + 2


# -- Retry-After -------------------------------------------------------------------------


def test_a_retry_after_in_the_past_is_ignored() -> None:
    loop = Loop(policy(), entropy=0.0)
    first = loop.need()
    reply = error_reply(
        "temporarily_unavailable",
        status=503,
        headers={"Retry-After": "Sun, 06 Nov 1994 08:49:37 GMT"},
    )
    failed = loop.reply(first, reply)
    past = calendar.timegm((1994, 11, 6, 8, 49, 37, 0, 0, 0)) - W0
    assert failed.events[1] == RetryScheduled(delay=0.0, streak=1, retry_after=past)
    assert failed.state.failure is not None
    assert failed.state.failure.retry_at == M0
    again = loop.need(waited_for=1, attempts=1, since=M0)
    assert [e.flight for e in producing(again)] == [2]


@pytest.mark.parametrize(
    "header", ["999999999999", "Fri, 31 Dec 9999 23:59:59 GMT", "301", "86400"]
)
def test_a_huge_retry_after_is_capped(header: str) -> None:
    loop = Loop(policy(), entropy=0.5)
    first = loop.need()
    failed = loop.reply(
        first, error_reply("temporarily_unavailable", status=503, headers={"Retry-After": header})
    )
    scheduled = failed.events[1]
    assert isinstance(scheduled, RetryScheduled)
    assert scheduled.delay == 300.0
    assert failed.state.failure is not None
    assert failed.state.failure.retry_at == M0 + 300
    # 300 s is past the call's 60 s call_timeout: the call fails at once, saying when.
    own = loop.need(waited_for=1, attempts=1, since=M0)
    assert isinstance(own.answer, Fail)
    assert own.answer.retry_after == 300.0
    loop.at(M0 + 100)
    newcomer = loop.need()
    assert isinstance(newcomer.answer, Fail)
    assert newcomer.answer.retry_after == 200.0
    assert producing(newcomer) == []


def test_a_retry_after_within_the_call_timeout_is_waited_for() -> None:
    loop = Loop(policy(), entropy=0.5)
    first = loop.need()
    loop.reply(
        first, error_reply("temporarily_unavailable", status=503, headers={"Retry-After": "7"})
    )
    own = loop.need(waited_for=1, attempts=1, since=M0)
    assert own.answer == AwaitRetry(until=M0 + 7)
    loop.at(M0 + 7)
    assert [e.flight for e in producing(loop.need(attempts=1, since=M0))] == [2]


# -- the breaker -------------------------------------------------------------------------


def test_the_breaker_opens_after_the_threshold_then_lets_exactly_one_probe_through() -> None:
    loop = Loop(
        policy(ResiliencePolicy(breaker_threshold=3, breaker_open_for=30.0, max_attempts=10))
    )
    decision = loop.need()
    for attempt in range(1, 4):
        assert [e.flight for e in producing(decision)] == [attempt]
        failed = loop.reply(decision, UNAVAILABLE)
        if attempt < 3:
            assert failed.events[1] == RetryScheduled(delay=0.0, streak=attempt, retry_after=None)
        else:
            assert failed.events[1] == BreakerOpened(seconds=30.0, streak=3)
        decision = loop.need(waited_for=attempt, attempts=attempt, since=M0)
    assert isinstance(decision.answer, Fail)
    assert decision.answer.retry_after == 30.0
    assert decision.answer.flight == 3

    for elapsed in (1.0, 15.0, 29.999):
        loop.at(M0 + elapsed)
        held_back = loop.need()
        assert isinstance(held_back.answer, Fail)
        assert held_back.answer.retry_after == pytest.approx(30.0 - elapsed)
        assert producing(held_back) == []

    loop.at(M0 + 30)
    probe = loop.need()
    assert probe.answer is None
    assert [e.flight for e in producing(probe)] == [4]
    others = [loop.need() for _ in range(5)]
    assert all(d.answer == AwaitFlight(flight=4, until=M0 + 30 + 32) for d in others)
    assert all(producing(d) == [] for d in others)

    # The probe fails: open again, for the whole time, at once.
    failed = loop.reply(probe, UNAVAILABLE)
    assert failed.events[1] == BreakerOpened(seconds=30.0, streak=4)
    loop.at(M0 + 60)
    probe = loop.need()
    assert [e.flight for e in producing(probe)] == [5]
    loop.reply(probe, token_reply("t1"))
    assert (loop.state.streak, loop.state.failure) == (0, None)


# -- cool-down ---------------------------------------------------------------------------


def test_after_invalid_client_calls_in_the_cool_down_fail_at_once_without_a_request() -> None:
    loop = Loop(policy())
    first = loop.need()
    reply = error_reply("invalid_client", status=401)
    failed = loop.reply(first, reply)
    failure = ErrorResponse(
        status=401, error=OAuthProviderError.INVALID_CLIENT, headers=reply.headers
    )
    assert failed.events[1] == CoolDownStarted(seconds=30.0, failure=failure)
    own = loop.need(waited_for=1, attempts=1, since=M0)
    assert own.answer == Fail(failure=failure, flight=1, retry_after=30.0)
    for elapsed in (0.5, 10.0, 29.5):
        loop.at(M0 + elapsed)
        again = loop.need()
        assert again == Decision(
            state=failed.state, answer=Fail(failure=failure, flight=1, retry_after=30.0 - elapsed)
        )
    loop.at(M0 + 30)
    assert [e.flight for e in producing(loop.need())] == [2]


def test_a_retry_after_longer_than_the_cool_down_lengthens_it() -> None:
    loop = Loop(policy())
    failed = loop.reply(
        loop.need(), error_reply("invalid_client", status=401, headers={"Retry-After": "120"})
    )
    assert isinstance(failed.events[1], CoolDownStarted)
    assert failed.events[1].seconds == 120.0
    loop.at(M0 + 119)
    assert producing(loop.need()) == []
    loop.at(M0 + 120)
    assert len(producing(loop.need())) == 1


# -- 401 from a protected endpoint -------------------------------------------------------


def test_a_rejection_of_a_token_already_replaced_keeps_the_newer_one() -> None:
    loop = Loop(policy())
    t1 = loop.fetched("t1", token_type="Bearer", expires_in=3600)
    loop.at(M0 + 10)
    rejected = loop.step(TokenRejected(token=t1, reason="HTTP 401"))
    assert rejected.events[0] == TokenInvalidated(reason="HTTP 401")
    loop.reply(rejected, token_reply("t2"))
    t2 = _stamped("t2", 3600, W0 + 10 + 3600)
    # A request sent with t1 before it was replaced comes back 401 too.
    loop.at(M0 + 11)
    before = loop.state
    late = loop.step(TokenRejected(token=t1, reason="HTTP 401"))
    assert late == Decision(
        state=before, answer=UseToken(token=t2), events=(StaleRejectionIgnored(reason="HTTP 401"),)
    )


def test_two_rejections_in_a_row_cool_down_with_rejected_by_api() -> None:
    loop = Loop(policy())
    t1 = loop.fetched("t1", token_type="Bearer", expires_in=3600)
    loop.at(M0 + 10)
    rejected = loop.step(TokenRejected(token=t1, reason="HTTP 401"))
    assert rejected.answer is None
    assert [e.flight for e in producing(rejected)] == [2]
    settled = loop.reply(rejected, token_reply("t2"))
    assert isinstance(settled.answer, UseToken)
    t2 = settled.answer.token

    loop.at(M0 + 11)
    again = loop.step(TokenRejected(token=t2, reason="HTTP 401 invalid_token: audience"))
    failure = RejectedByApi(reason="HTTP 401 invalid_token: audience")
    assert again.answer == Fail(failure=failure, retry_after=30.0)
    assert again.events == (
        TokenInvalidated(reason="HTTP 401 invalid_token: audience"),
        CoolDownStarted(seconds=30.0, failure=failure),
    )
    assert producing(again) == []
    loop.at(M0 + 21)
    during = loop.need()
    assert during.answer == Fail(failure=failure, flight=None, retry_after=20.0)
    assert producing(during) == []
    loop.at(M0 + 41)
    assert [e.flight for e in producing(loop.need())] == [3]


def test_a_second_401_for_the_same_token_waits_for_its_replacement() -> None:
    loop = Loop(policy())
    t1 = loop.fetched("t1", token_type="Bearer", expires_in=3600)
    loop.at(M0 + 10)
    first = loop.step(TokenRejected(token=t1, reason="HTTP 401"))
    assert [e.flight for e in producing(first)] == [2]
    # A second request carrying t1, sent before the first 401 came back, gets its 401 now.
    second = loop.step(TokenRejected(token=t1, reason="HTTP 401"))
    assert not any(isinstance(event, CoolDownStarted) for event in second.events)
    assert second.answer == AwaitFlight(flight=2, until=M0 + 10 + 32)


def test_a_rejection_after_the_cool_down_has_passed_fetches_again() -> None:
    loop = Loop(policy())
    t1 = loop.fetched("t1", token_type="Bearer", expires_in=3600)
    rejected = loop.step(TokenRejected(token=t1, reason="HTTP 401"))
    settled = loop.reply(rejected, token_reply("t2"))
    assert isinstance(settled.answer, UseToken)
    loop.at(M0 + 30)  # exactly cool_down after the first rejection
    again = loop.step(TokenRejected(token=settled.answer.token, reason="HTTP 401"))
    assert again.answer is None
    assert [e.flight for e in producing(again)] == [3]


# -- lifetimes ---------------------------------------------------------------------------


def test_refresh_in_opens_the_window_when_the_server_says() -> None:
    loop = Loop(policy())
    loop.fetched("t1", token_type="Bearer", expires_in=3600, refresh_in=600)
    held = loop.state.held
    assert held is not None
    assert (held.refresh_at, held.fresh_until) == (M0 + 600, M0 + 3540)
    loop.at(M0 + 599.5)
    assert producing(loop.need()) == []
    loop.at(M0 + 600)
    assert [e.flight for e in producing(loop.need())] == [2]


def test_a_refresh_in_past_the_usable_lifetime_is_cut_to_it() -> None:
    loop = Loop(policy())
    loop.fetched("t1", token_type="Bearer", expires_in=3600, refresh_in=3590)
    held = loop.state.held
    assert held is not None
    assert held.refresh_at == held.fresh_until == M0 + 3540


@pytest.mark.parametrize("body", [{}, {"expires_in": 0}])
def test_default_lifetime_applies_to_a_token_without_a_lifetime(body: dict[str, int]) -> None:
    loop = Loop(policy(ResiliencePolicy(default_lifetime=600.0)))
    token = loop.fetched("t1", token_type="Bearer", **body)
    assert token.expiry == W0 + 600
    assert loop.state.held == Held(
        token=token, expires_at=M0 + 600, fresh_until=M0 + 540, refresh_at=M0 + 405
    )
    loop.at(M0 + 540)
    assert loop.need().answer is None  # expired: this caller fetches


def test_without_default_lifetime_a_token_without_a_lifetime_never_expires() -> None:
    loop = Loop(policy())
    token = loop.fetched("t1", token_type="Bearer")
    assert loop.state.held == Held(
        token=token, expires_at=math.inf, fresh_until=math.inf, refresh_at=math.inf
    )
    loop.at(M0 + 10 * 365 * 86_400)
    assert loop.need() == Decision(state=loop.state, answer=UseToken(token=token))


def test_a_lifetime_shorter_than_the_skew_is_used_not_refetched_on_every_call() -> None:
    loop = Loop(policy())
    calls = 300
    answers: list[object] = []
    for tick in range(calls):  # a call every 0.1 s for 30 s
        loop.at(M0 + tick * 0.1)
        decision = loop.need()
        for effect in producing(decision):
            settled = loop.step(
                TokenReplyReceived(
                    flight=effect.flight, reply=token_reply(f"t{effect.flight}", expires_in=30)
                )
            )
            if decision.answer is None:
                decision = settled
        answers.append(decision.answer)
    assert all(isinstance(answer, UseToken) for answer in answers)
    # Usable for 15 s (half the lifetime), renewed from 11.25 s: three fetches in 30 s.
    assert [round(when - M0, 1) for when, _ in loop.flights_started()] == [0.0, 11.3, 22.6]


def test_a_token_arriving_inside_the_skew_is_used_until_it_expires() -> None:
    loop = Loop(policy())
    first = loop.need()
    loop.at(M0 + 20)  # a slow server: 20 s of a 30 s lifetime gone on arrival
    settled = loop.reply(first, token_reply("t1", expires_in=30))
    assert isinstance(settled.answer, UseToken)
    held = loop.state.held
    assert held is not None
    assert (held.expires_at, held.fresh_until) == (M0 + 30, M0 + 30)
    loop.at(M0 + 29.9)
    assert loop.need().answer == settled.answer


# -- clocks ------------------------------------------------------------------------------


@pytest.mark.parametrize("jump", [-86_400.0, -3_600.0, 3_600.0, 86_400.0])
def test_a_wall_clock_jump_during_a_backoff_does_not_move_the_retry(jump: float) -> None:
    loop = Loop(policy(), entropy=0.5)
    first = loop.need()
    loop.reply(
        first,
        error_reply(
            "temporarily_unavailable",
            status=503,
            headers={"Retry-After": "Tue, 14 Nov 2023 22:13:30 GMT"},  # W0 + 10
        ),
    )
    assert calendar.timegm((2023, 11, 14, 22, 13, 30, 0, 0, 0)) == W0 + 10
    record = loop.state.failure
    assert record is not None
    assert record.retry_at == M0 + 10

    loop.at(M0 + 5)
    loop.wall += jump
    waiting = loop.need()
    assert waiting.answer == AwaitRetry(until=M0 + 10)
    assert loop.state.failure == record
    loop.at(math.nextafter(M0 + 10, 0.0))
    assert producing(loop.need()) == []
    loop.at(M0 + 10)
    assert [e.flight for e in producing(loop.need())] == [2]


# -- a replay that worked ------------------------------------------------------------------


def test_a_replay_that_worked_makes_the_next_401_a_first_rejection_again() -> None:
    loop = Loop(policy())
    t1 = loop.fetched("t1", token_type="Bearer", expires_in=3600)
    loop.at(M0 + 1)
    settled = loop.reply(loop.step(TokenRejected(token=t1, reason="HTTP 401")), token_reply("t2"))
    assert isinstance(settled.answer, UseToken)
    t2 = settled.answer.token
    accepted = loop.step(TokenAccepted(token=t2))
    assert accepted.state.rejected_at == -math.inf
    assert accepted.answer is None
    assert accepted.work == ()
    assert accepted.events == ()
    loop.at(M0 + 5)  # well within the cool-down of the first rejection
    again = loop.step(TokenRejected(token=t2, reason="HTTP 401"))
    assert not any(isinstance(event, CoolDownStarted) for event in again.events)
    assert [e.flight for e in producing(again)] == [3]


def test_a_replay_that_worked_with_another_token_changes_nothing() -> None:
    loop = Loop(policy())
    t1 = loop.fetched("t1", token_type="Bearer", expires_in=3600)
    loop.at(M0 + 1)
    rejected = loop.step(TokenRejected(token=t1, reason="HTTP 401"))
    loop.reply(rejected, token_reply("t2"))
    before = loop.state
    stale = loop.step(TokenAccepted(token=t1))  # t1 is no longer held
    assert stale.state is before
    assert stale.answer is None
    fresh = Loop(policy())
    t0 = fresh.fetched("t0", token_type="Bearer", expires_in=3600)
    untouched = fresh.state
    assert fresh.step(TokenAccepted(token=t0)).state is untouched  # nothing was rejected


# -- exact values at the edges of the draw and of Retry-After ----------------------------


@pytest.mark.parametrize(
    ("draw", "delay"),
    [(1.0, 0.5), (0.0, 0.0), (0.5, 0.25), (2.0, 0.0), (-0.1, 0.0), (math.nan, 0.0)],
)
def test_the_draw_is_used_within_zero_to_one_inclusive_and_zero_outside(
    draw: float, delay: float
) -> None:
    assert retry_delay(DEFAULTS, 1, draw, None) == delay


def test_a_retry_after_of_one_second_outlasts_a_zero_cool_down() -> None:
    quick = ResiliencePolicy(cool_down=0.0)
    loop = Loop(policy(quick))
    decision = loop.need()
    [fetch] = producing(decision)
    refused = HttpReply(
        status=400,
        headers=(("Content-Type", "application/json"), ("Retry-After", "1")),
        body=b'{"error": "invalid_client"}',
    )
    failed = loop.step(TokenReplyReceived(flight=fetch.flight, reply=refused))
    record = failed.state.failure
    assert record is not None
    assert record.retry_at == M0 + 1.0  # the server's second, not the zero cool-down


def test_a_cool_down_honours_a_retry_after_date() -> None:
    loop = Loop(policy())
    decision = loop.need()
    [fetch] = producing(decision)
    when = formatdate(loop.now().wall + 120, usegmt=True)
    refused = HttpReply(
        status=401,
        headers=(("Content-Type", "application/json"), ("Retry-After", when)),
        body=b'{"error": "invalid_client"}',
    )
    failed = loop.step(TokenReplyReceived(flight=fetch.flight, reply=refused))
    record = failed.state.failure
    assert record is not None
    assert record.retry_at == pytest.approx(M0 + 120, abs=1.0)  # longer than the 30 s cool-down
