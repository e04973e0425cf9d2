"""Fault injection against the real Authlib server: a switchable proxy in front of it.

Every test runs ccg's public API (`ApiClient`, the real `Urllib3Transport`, the real clock)
against the in-process Authlib authorization server through `FaultProxy`
(tests/integration/_fault_proxy.py), a real HTTP proxy on 127.0.0.1 that forwards, or
answers 503 / 429 with `Retry-After`, holds requests unanswered, closes connections,
or stops listening, and counts the token requests that reached it. The server itself is
also stopped and a new one started mid-run. `ResiliencePolicy` values are small so that
the whole file runs in well under a minute; every loop is bounded by a deadline and a
count, every thread is joined with a timeout.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final, TypeVar

import pytest

from ccg import (
    ApiClient,
    ApiTransportError,
    CcgError,
    ClientCredentialsAuthCredentials,
    Event,
    HttpReply,
    Limits,
    OAuthProviderError,
    OAuthProviderException,
    ResiliencePolicy,
    TokenAcquisitionError,
    TokenEndpointUnreachable,
    TokenRejectedError,
    TokenResponseError,
    TransportFailure,
    TransportFailureKind,
    Urllib3Transport,
)
from ccg._demo.authorization_server import AuthorizationServer, RegisteredClient
from ccg.core import (
    BreakerOpened,
    FlightSettled,
    FlightStarted,
    MalformedResponse,
    RetryScheduled,
    TokenAdopted,
    TokenInvalidated,
)
from tests.integration._fault_proxy import (
    CLOSE,
    HOLD,
    PASS_THROUGH,
    FaultProxy,
    too_many_requests,
    unavailable,
)
from tests.integration._support import (
    SERVER_CLIENTS,
    RecordedRequest,
    RecordingServer,
    Reply,
    run_herd,
    wait_until,
)

pytestmark = pytest.mark.integration

#: Tokens valid for 10 s: with o_auth_clock_skew=1 they are usable for 9 s, and with
#: refresh_ratio=0.9 their refresh window opens 0.9 s after the fetch.
RENEWING: Final = RegisteredClient("ten-seconds", "ten-seconds-secret", token_ttl=10)
FAULT_CLIENTS: Final = (*SERVER_CLIENTS, RENEWING)
_JOIN_TIMEOUT: Final = 20.0
_MAX_CALLS_PER_THREAD: Final = 100_000

E = TypeVar("E")


# -- fixtures -----------------------------------------------------------------------------


@pytest.fixture
def authlib() -> Iterator[AuthorizationServer]:
    """The real Authlib server, with a client whose tokens live 10 s."""
    with AuthorizationServer(clients=FAULT_CLIENTS) as running:
        yield running


@pytest.fixture
def proxy(authlib: AuthorizationServer) -> Iterator[FaultProxy]:
    """The fault proxy in front of `authlib`; faults apply to the token endpoint only."""
    running = FaultProxy(authlib.port).start()
    try:
        yield running
    finally:
        stuck = running.stop()
    assert stuck == [], f"proxy threads still alive: {stuck}"


ClientMaker = Callable[..., ApiClient]


@pytest.fixture
def make_client(proxy: FaultProxy) -> Iterator[ClientMaker]:
    """`make_client(...)`: an `ApiClient` whose token endpoint is the proxy's."""
    transports: list[Urllib3Transport] = []

    def make(
        client_id: str = "test-client",
        client_secret: str = "test-secret",
        *,
        clock_skew: float | None = None,
        resilience: ResiliencePolicy | None = None,
        limits: Limits | None = None,
        on_event: Callable[[Event], object] | None = None,
        base_url: str | None = None,
    ) -> ApiClient:
        # The API's own transport: bounded, so that no API call can hang a test either.
        transport = Urllib3Transport(connect_timeout=2.0, read_timeout=5.0, maxsize=16)
        transports.append(transport)
        credentials = ClientCredentialsAuthCredentials(
            o_auth_client_id=client_id,
            o_auth_client_secret=client_secret,
            o_auth_clock_skew=clock_skew,
        )
        return ApiClient(
            client_credentials_auth_credentials=credentials,
            token_url=proxy.token_url,
            base_url=base_url,
            origins=[proxy.resource_url],
            transport=transport,
            token_request_limits=limits,
            resilience=resilience,
            on_event=on_event,
        )

    yield make
    for transport in transports:
        transport.close()


class EventLog:
    """An `on_event` callback that keeps every event with when it happened (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[tuple[float, Event]] = []

    def __call__(self, event: Event) -> None:
        with self._lock:
            self._events.append((time.monotonic(), event))

    def of(self, kind: type[E]) -> list[E]:
        with self._lock:
            return [event for _, event in self._events if isinstance(event, kind)]

    def timed(self) -> list[tuple[float, Event]]:
        with self._lock:
            return list(self._events)


# -- threads calling for a while ----------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One call a worker made: when, and the reply's status or the exception raised."""

    started: float
    ended: float
    outcome: int | Exception

    @property
    def seconds(self) -> float:
        return self.ended - self.started


def hammer(
    threads: int,
    seconds: float,
    action: Callable[[], HttpReply],
    *,
    pause: float = 0.005,
) -> list[Call]:
    """`threads` real threads calling `action` until `seconds` have passed (each finishes
    its last call), pausing `pause` between calls; every call's outcome. Bounded."""
    lock = threading.Lock()
    calls: list[Call] = []
    barrier = threading.Barrier(threads, timeout=10.0)
    stop_at: list[float] = []

    def worker() -> None:
        barrier.wait()
        with lock:
            if not stop_at:
                stop_at.append(time.monotonic() + seconds)
            end = stop_at[0]
        mine: list[Call] = []
        for _ in range(_MAX_CALLS_PER_THREAD):
            started = time.monotonic()
            if started >= end:
                break
            outcome: int | Exception
            try:
                outcome = action().status
            except Exception as exc:
                outcome = exc
            mine.append(Call(started, time.monotonic(), outcome))
            time.sleep(pause)
        with lock:
            calls.extend(mine)

    workers = [threading.Thread(target=worker, name=f"hammer-{i}") for i in range(threads)]
    for thread in workers:
        thread.start()
    deadline = time.monotonic() + seconds + _JOIN_TIMEOUT
    for thread in workers:
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = [thread.name for thread in workers if thread.is_alive()]
    assert stuck == [], f"threads still calling {_JOIN_TIMEOUT} s after the run: {stuck}"
    return calls


def _report(name: str, **numbers: object) -> None:
    """Print what a test saw (shown with `pytest -s`)."""
    print(f"\n[{name}] " + ", ".join(f"{key}={value}" for key, value in numbers.items()))


def _tally(calls: list[Call]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for call in calls:
        key = str(call.outcome) if isinstance(call.outcome, int) else type(call.outcome).__name__
        counts[key] = counts.get(key, 0) + 1
    return counts


# -- 1. a storm of 503s -------------------------------------------------------------------


def test_64_threads_against_a_503ing_token_endpoint_make_a_handful_of_requests(
    authlib: AuthorizationServer, proxy: FaultProxy, make_client: ClientMaker
) -> None:
    """The issue's bar: "at most ~10, not 1,346" token requests, with the default policy."""
    proxy.set_fault(unavailable())
    client = make_client()  # ResiliencePolicy() defaults

    started = time.monotonic()
    calls = hammer(64, 3.0, lambda: client.get(proxy.resource_url))
    elapsed = time.monotonic() - started

    errors = [call.outcome for call in calls if isinstance(call.outcome, Exception)]
    assert len(errors) == len(calls)  # no token was ever had, so no call got a reply
    assert all(isinstance(error, TokenAcquisitionError) for error in errors), _tally(calls)
    assert all(isinstance(error, TokenResponseError) for error in errors)
    assert all(error.status == 503 for error in errors if isinstance(error, TokenResponseError))
    held_back = [e for e in errors if isinstance(e, TokenAcquisitionError) and e.retry_after]
    token_requests = proxy.token_requests()
    _report(
        "503 storm",
        calls=len(calls),
        token_requests=token_requests,
        failed_with_retry_after=len(held_back),
        slowest_call=f"{max(c.seconds for c in calls):.2f}s",
        elapsed=f"{elapsed:.2f}s",
    )
    assert len(calls) >= 64  # every thread's calls ended, none hung
    assert 2 <= token_requests <= 10  # retried, but a handful, not one per call
    assert held_back  # once the breaker is open, callers are told when to come back
    assert authlib.token_requests() == 0  # the proxy answered them all
    assert authlib.resource_requests() == 0  # nothing protected was sent without a token


# -- 2. renewal while the token server fails ----------------------------------------------


def test_renewal_during_a_503_outage_keeps_serving_and_backs_off(
    authlib: AuthorizationServer, proxy: FaultProxy, make_client: ClientMaker
) -> None:
    events = EventLog()
    policy = ResiliencePolicy(
        refresh_ratio=0.9,  # window opens 0.9 s after the fetch, lasts 8.1 s
        backoff_base=0.2,
        backoff_cap=0.8,
        breaker_threshold=4,
        breaker_open_for=1.0,
    )
    client = make_client(
        RENEWING.client_id,
        RENEWING.client_secret,
        clock_skew=1.0,
        resilience=policy,
        on_event=events,
    )
    assert client.get(proxy.resource_url).status == 200
    first = client.auth_manager.o_auth_token
    assert first is not None
    assert first.expires_in == 10
    proxy.set_fault(unavailable())

    outage = hammer(1, 3.5, lambda: client.get(proxy.resource_url), pause=0.02)

    assert [call.outcome for call in outage] == [200] * len(outage)
    assert client.auth_manager.o_auth_token == first  # still the one token, still usable
    times = proxy.token_request_times()[1:]  # the renewals, all answered 503
    failures = [e for e in events.of(FlightSettled) if e.failure is not None]
    assert all(e.renewal for e in failures)
    delays = [
        e.delay if isinstance(e, RetryScheduled) else e.seconds
        for _, e in events.timed()
        if isinstance(e, RetryScheduled | BreakerOpened)
    ]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    _report(
        "renewal in 503 outage",
        calls=len(outage),
        renewal_requests=len(times),
        scheduled_delays=[round(d, 3) for d in delays],
        gaps=[round(g, 3) for g in gaps],
        breaker_opened=len(events.of(BreakerOpened)),
    )
    assert 3 <= len(times) <= 10
    assert len(failures) >= len(times) - 1  # the last one may still be in flight
    # Each renewal waited for the backoff the failure before it scheduled, and not much more
    # (callers step every 20 ms; the renewal thread starts at once).
    for gap, delay in zip(gaps, delays, strict=False):
        assert delay - 0.001 <= gap <= delay + 0.3
    assert len(events.of(BreakerOpened)) >= 1  # 4 failures in a row: 1 s between probes
    assert all(e.renewal for e in events.of(FlightStarted)[1:])

    proxy.set_fault(PASS_THROUGH)
    renewed_calls: list[int] = []

    def renewed() -> bool:
        renewed_calls.append(client.get(proxy.resource_url).status)
        token = client.auth_manager.o_auth_token
        return token is not None and token.access_token != first.access_token

    waited = wait_until(renewed, timeout=3.0, interval=0.02)
    _report("renewal after outage", waited=f"{waited:.2f}s", calls=len(renewed_calls))
    assert renewed_calls == [200] * len(renewed_calls)
    assert waited <= policy.breaker_open_for + 0.5  # at the next retry, not later
    assert authlib.tokens_issued() == 2
    adopted = events.of(TokenAdopted)
    assert len(adopted) == 2
    settled_ok = [e for e in events.of(FlightSettled) if e.failure is None]
    assert settled_ok[-1].renewal  # the new token arrived while the old was still in use


# -- 3. 429 with Retry-After --------------------------------------------------------------


def test_retry_after_on_429_is_honoured(
    authlib: AuthorizationServer, proxy: FaultProxy, make_client: ClientMaker
) -> None:
    events = EventLog()
    # A backoff far shorter than Retry-After: only the header can explain a 2 s wait.
    client = make_client(
        resilience=ResiliencePolicy(backoff_base=0.05, backoff_cap=0.1), on_event=events
    )
    proxy.set_fault(too_many_requests(retry_after=2))
    results: list[int | Exception] = []
    ended: list[float] = []
    lock = threading.Lock()

    def call() -> None:
        try:
            outcome: int | Exception = client.get(proxy.resource_url).status
        except Exception as exc:
            outcome = exc
        with lock:
            results.append(outcome)
            ended.append(time.monotonic())

    callers = [threading.Thread(target=call, name=f"caller-{i}") for i in range(8)]
    for thread in callers:
        thread.start()
    proxy.wait_for_token_requests(1, timeout=5.0)
    proxy.set_fault(PASS_THROUGH)  # the one 429 was already given; the retry will pass
    deadline = time.monotonic() + 10.0
    for thread in callers:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert not any(thread.is_alive() for thread in callers)

    times = proxy.token_request_times()
    scheduled = events.of(RetryScheduled)
    _report(
        "429 Retry-After: 2",
        token_requests=len(times),
        gap=f"{times[1] - times[0]:.3f}s" if len(times) > 1 else None,
        scheduled=scheduled,
    )
    assert results == [200] * 8
    assert len(times) == 2  # one 429, then one retry for all eight callers
    assert times[1] - times[0] >= 2.0
    assert times[1] - times[0] < 2.5
    assert min(ended) >= times[0] + 2.0  # every caller waited for the retry
    assert authlib.token_requests() == 1  # the 429 came from the proxy
    assert len(scheduled) == 1
    assert scheduled[0].retry_after == 2.0
    assert scheduled[0].delay >= 2.0

    # A client that may not retry says when the next request will be made.
    proxy.set_fault(too_many_requests(retry_after=2))
    impatient = make_client(resilience=ResiliencePolicy(max_attempts=1))
    with pytest.raises(TokenResponseError) as caught:
        impatient.get(proxy.resource_url)
    assert caught.value.status == 429
    assert isinstance(caught.value.failure, MalformedResponse)
    assert caught.value.retry_after is not None
    assert 1.8 <= caught.value.retry_after <= 2.0
    assert proxy.token_requests() == 3


# -- 4. read timeouts ---------------------------------------------------------------------


def test_a_held_token_request_times_out_after_two_attempts(
    authlib: AuthorizationServer, proxy: FaultProxy, make_client: ClientMaker
) -> None:
    proxy.set_fault(HOLD)
    client = make_client(
        limits=Limits(connect_timeout=1.0, read_timeout=0.3, total_timeout=0.5),
        resilience=ResiliencePolicy(max_attempts=2, backoff_base=0.05, backoff_cap=0.05),
    )

    started = time.monotonic()
    with pytest.raises(TokenEndpointUnreachable) as caught:
        client.get(proxy.resource_url)
    elapsed = time.monotonic() - started

    _report("held token request", attempts=proxy.token_requests(), elapsed=f"{elapsed:.2f}s")
    assert caught.value.kind == TransportFailureKind.TIMEOUT
    assert proxy.token_requests() == 2
    assert 0.6 <= elapsed < 1.5  # two 0.3 s read timeouts and a short backoff
    assert authlib.token_requests() == 0
    assert authlib.resource_requests() == 0


def test_a_caller_holding_a_token_is_not_blocked_by_a_hanging_renewal(
    authlib: AuthorizationServer, proxy: FaultProxy, make_client: ClientMaker
) -> None:
    events = EventLog()
    client = make_client(
        RENEWING.client_id,
        RENEWING.client_secret,
        clock_skew=1.0,
        limits=Limits(connect_timeout=1.0, read_timeout=1.5, total_timeout=2.0),
        resilience=ResiliencePolicy(refresh_ratio=0.9, backoff_base=0.05, backoff_cap=0.1),
        on_event=events,
    )
    assert client.get(proxy.resource_url).status == 200
    first = client.auth_manager.o_auth_token
    proxy.set_fault(HOLD)

    holding: list[int] = []

    def call_and_look() -> HttpReply:
        reply = client.get(proxy.resource_url)
        holding.append(proxy.holding())
        return reply

    calls = hammer(1, 3.0, call_and_look, pause=0.02)

    timed_out = [
        e
        for e in events.of(FlightSettled)
        if isinstance(e.failure, TransportFailure)
        and e.failure.kind == TransportFailureKind.TIMEOUT
    ]
    slowest = max(call.seconds for call in calls)
    _report(
        "renewal held",
        calls=len(calls),
        slowest_call=f"{slowest:.3f}s",
        renewal_requests=proxy.token_requests() - 1,
        renewals_timed_out=len(timed_out),
    )
    assert [call.outcome for call in calls] == [200] * len(calls)
    assert slowest < 0.5  # far below the renewal's 1.5 s read timeout
    assert max(holding) >= 1  # calls went on while a renewal was held at the proxy
    assert len(timed_out) >= 1
    assert all(e.renewal for e in timed_out)
    assert client.auth_manager.o_auth_token == first
    assert 2 <= proxy.token_requests() <= 4  # one fetch, then renewals 1.5 s apart


@pytest.mark.parametrize(
    ("closed", "kind"),
    [(True, TransportFailureKind.PROTOCOL), (False, TransportFailureKind.CONNECT)],
    ids=["closed-unanswered", "refused"],
)
def test_a_token_endpoint_that_closes_or_refuses_is_retried_then_unreachable(
    authlib: AuthorizationServer,
    proxy: FaultProxy,
    make_client: ClientMaker,
    closed: bool,
    kind: TransportFailureKind,
) -> None:
    events = EventLog()
    client = make_client(
        resilience=ResiliencePolicy(max_attempts=2, backoff_base=0.05, backoff_cap=0.05),
        on_event=events,
    )
    if closed:
        proxy.set_fault(CLOSE)  # the request is read, the connection closed unanswered
    else:
        proxy.down()  # nothing listens: connection refused

    started = time.monotonic()
    with pytest.raises(TokenEndpointUnreachable) as caught:
        client.get(proxy.resource_url)
    elapsed = time.monotonic() - started

    assert caught.value.kind == kind
    assert len(events.of(FlightStarted)) == 2  # the first request and one retry
    assert proxy.token_requests() == (2 if closed else 0)
    assert elapsed < 1.0
    assert authlib.token_requests() == 0

    if not closed:
        proxy.up()
    proxy.set_fault(PASS_THROUGH)
    time.sleep(0.06)  # past the last backoff
    assert client.get(proxy.resource_url).status == 200  # and back when it is


# -- 5. the server killed and restarted ---------------------------------------------------


@dataclass
class Restart:
    """Kills the server behind the proxy and starts a new one (new port, new token store)."""

    proxy: FaultProxy
    server: AuthorizationServer
    down_after: float
    outage: float
    token_delay: float = 0.0
    down_at: float = 0.0
    up_at: float = 0.0
    replacement: AuthorizationServer | None = None

    def run(self) -> None:
        time.sleep(self.down_after)
        self.down_at = time.monotonic()
        self.proxy.down()  # connections refused, open ones cut
        self.server.stop()  # the real server is gone; requests in flight are cut
        time.sleep(self.outage)
        replacement = AuthorizationServer(clients=FAULT_CLIENTS, token_delay=self.token_delay)
        self.replacement = replacement.start()  # on a new port: the proxy follows it
        self.proxy.retarget(replacement.port)
        self.proxy.up()
        self.up_at = time.monotonic()

    def during(self, calls: Callable[[], list[Call]]) -> tuple[list[Call], AuthorizationServer]:
        """`calls()` while the restart runs on another thread; their outcomes, the new server."""
        operator = threading.Thread(target=self.run, name="operator")
        operator.start()
        try:
            made = calls()
        finally:
            operator.join(10.0)
            if self.replacement is not None:
                self.replacement.stop()
        assert not operator.is_alive()
        assert self.replacement is not None
        return made, self.replacement


def test_server_killed_and_restarted_while_16_threads_call(
    authlib: AuthorizationServer, proxy: FaultProxy, make_client: ClientMaker
) -> None:
    """Tokens of 'short-lived' are usable for 1 s, so the held one expires during the outage
    and is fetched anew from the restarted server."""
    client = make_client(
        "short-lived",
        "short-secret",
        resilience=ResiliencePolicy(
            backoff_base=0.1,
            backoff_cap=0.4,
            breaker_open_for=0.5,
            call_timeout=3.0,
        ),
    )
    restart = Restart(proxy, authlib, down_after=1.0, outage=1.5)

    calls, replacement = restart.during(
        lambda: hammer(16, 5.0, lambda: client.get(proxy.resource_url), pause=0.01)
    )

    errors = [c.outcome for c in calls if isinstance(c.outcome, Exception)]
    statuses = [c.outcome for c in calls if isinstance(c.outcome, int)]
    after = [c for c in calls if c.started >= restart.up_at + 1.0]
    last_end = max(c.ended for c in calls)
    _report(
        "kill and restart",
        calls=len(calls),
        outcomes=_tally(calls),
        slowest_call=f"{max(c.seconds for c in calls):.2f}s",
        token_requests_old=authlib.token_requests(),
        token_requests_new=replacement.token_requests(),
        proxy_token_requests=proxy.token_requests(),
        calls_after_recovery=len(after),
    )
    assert all(isinstance(e, TokenAcquisitionError | ApiTransportError) for e in errors)
    assert all(isinstance(e, CcgError) for e in errors)
    assert errors  # the outage was felt...
    assert max(c.seconds for c in calls) < 4.0  # ...but no call hung
    assert set(statuses) == {200}
    assert len(after) >= 16
    assert [c.outcome for c in after] == [200] * len(after)  # and it is over
    # One fetch after the restart, then one renewal per 0.75 s at most (single flight).
    renewals = int((last_end - restart.up_at) / 0.75) + 1
    assert 1 <= replacement.token_requests() <= 1 + renewals
    assert replacement.token_requests() == replacement.tokens_issued()


def test_server_restarted_without_its_tokens_recovers_with_one_new_token(
    authlib: AuthorizationServer, proxy: FaultProxy, make_client: ClientMaker
) -> None:
    """A restart that loses the server's in-memory tokens: the held token (valid for an hour)
    is rejected with 401 invalid_token by the new server; one new token serves everyone.

    Every caller whose request carried the old token replays with the new one (the
    deterministic version: `test_a_herd_rejected_at_once_replays_with_one_new_token`).
    """
    events = EventLog()
    client = make_client(
        resilience=ResiliencePolicy(backoff_base=0.1, backoff_cap=0.4, call_timeout=3.0),
        on_event=events,
    )
    assert client.get(proxy.resource_url).status == 200
    # The new server's token endpoint takes 0.2 s, as a loaded server would after a restart.
    restart = Restart(proxy, authlib, down_after=0.5, outage=0.5, token_delay=0.2)

    calls, replacement = restart.during(
        lambda: hammer(16, 2.5, lambda: client.get(proxy.resource_url), pause=0.01)
    )

    errors = [c.outcome for c in calls if isinstance(c.outcome, Exception)]
    adopted = [at for at, e in events.timed() if isinstance(e, TokenAdopted)]
    assert len(adopted) == 2  # the first token, then the restarted server's
    after = [c for c in calls if c.started >= adopted[-1]]
    rejected = [c for c in calls if c.outcome == 401]
    _report(
        "restart losing tokens",
        calls=len(calls),
        outcomes=_tally(calls),
        new_token_after=f"{adopted[-1] - restart.up_at:.2f}s",
        calls_after_new_token=len(after),
        handed_back_401=len(rejected),
        token_requests_new=replacement.token_requests(),
    )
    assert all(isinstance(e, TokenAcquisitionError | ApiTransportError) for e in errors)
    assert max(c.seconds for c in calls) < 4.0
    assert len(events.of(TokenInvalidated)) == 1  # the old token was let go once
    assert replacement.token_requests() == 1  # one new token for all 16 callers
    assert rejected == []  # a 401 is never handed back: each caller replays
    assert len(after) >= 16
    assert [c.outcome for c in after] == [200] * len(after)


# -- 6. a 401-ing API ---------------------------------------------------------------------


_INVALID_TOKEN: Final = (
    401,
    [
        ("WWW-Authenticate", 'Bearer error="invalid_token"'),
        ("Content-Type", "application/json"),
    ],
    b'{"error": "invalid_token"}',
)


class TokenGate:
    """A tiny API's rule: 401 invalid_token for the tokens `reject(n)` picks (n: the token's
    rank among the distinct tokens seen), 200 for the others."""

    def __init__(self, reject: Callable[[int], bool]) -> None:
        self._reject = reject
        self._lock = threading.Lock()
        self._seen: list[str] = []

    def __call__(self, request: RecordedRequest) -> Reply:
        values = request.header_values("Authorization")
        token = values[0] if values else ""
        with self._lock:
            if token not in self._seen:
                self._seen.append(token)
            rank = self._seen.index(token)
        if not token.startswith("Bearer ") or self._reject(rank):
            return _INVALID_TOKEN
        return 200, [("Content-Type", "application/json")], b'{"ok": true}'


def _bearers(api: RecordingServer) -> list[str]:
    return [r.header_values("Authorization")[0] for r in api.requests()]


def test_an_api_rejecting_the_first_token_gets_one_replay_with_a_new_one(
    authlib: AuthorizationServer, proxy: FaultProxy, make_client: ClientMaker
) -> None:
    events = EventLog()
    with RecordingServer(TokenGate(lambda rank: rank == 0)) as api:
        client = make_client(base_url=api.url, on_event=events)

        reply = client.get("/thing")

        bearers = _bearers(api)
        _report("401 once", api_saw=len(bearers), token_requests=proxy.token_requests())
        assert reply.status == 200
        assert len(bearers) == 2
        assert bearers[0] != bearers[1]  # the old token, then the new one
        assert proxy.token_requests() == 2
        assert authlib.tokens_issued() == 2
        held = client.auth_manager.o_auth_token
        assert held is not None
        assert bearers[1] == f"Bearer {held.access_token}"
        assert len(events.of(TokenInvalidated)) == 1

        assert client.get("/thing").status == 200  # the new token stays
        assert proxy.token_requests() == 2


def test_an_api_rejecting_every_token_cools_down_without_more_token_requests(
    authlib: AuthorizationServer, proxy: FaultProxy, make_client: ClientMaker
) -> None:
    """What holds however the replay's 401 is counted: one replay, no third token request,
    and before long calls fail at once with `TokenRejectedError` without reaching the API."""
    with RecordingServer(TokenGate(lambda rank: True)) as api:
        client = make_client(base_url=api.url, resilience=ResiliencePolicy(cool_down=5.0))

        first = client.get("/thing")
        assert first.status == 401  # the replay's 401 is returned
        assert len(_bearers(api)) == 2
        assert proxy.token_requests() == 2

        outcomes: list[int | Exception] = []
        for _ in range(3):
            try:
                outcomes.append(client.get("/thing").status)
            except TokenRejectedError as exc:
                outcomes.append(exc)
        api_requests = len(api.requests())
        _report(
            "401 always",
            outcomes=[o if isinstance(o, int) else type(o).__name__ for o in outcomes],
            api_requests=api_requests,
            token_requests=proxy.token_requests(),
        )
        assert proxy.token_requests() == 2  # never a third token request
        assert api_requests <= 3  # at most one more request with the rejected token
        last = outcomes[-1]
        assert isinstance(last, TokenRejectedError)
        assert last.retry_after is not None
        assert 0 < last.retry_after <= 5.0


def test_after_a_rejected_replay_the_next_call_raises_token_rejected(
    authlib: AuthorizationServer, proxy: FaultProxy, make_client: ClientMaker
) -> None:
    with RecordingServer(TokenGate(lambda rank: True)) as api:
        client = make_client(base_url=api.url, resilience=ResiliencePolicy(cool_down=5.0))

        assert client.get("/thing").status == 401
        assert len(_bearers(api)) == 2
        assert proxy.token_requests() == 2

        with pytest.raises(TokenRejectedError) as caught:
            client.get("/thing")
        assert caught.value.retry_after is not None
        assert 0 < caught.value.retry_after <= 5.0
        assert proxy.token_requests() == 2
        assert len(api.requests()) == 2  # the rejected token was not sent again


class Gathering(TokenGate):
    """Rejects the first token, answering its 401s only once `herd` requests carrying it
    have arrived (or after 5 s): the herd is rejected all at once."""

    def __init__(self, herd: int) -> None:
        super().__init__(lambda rank: rank == 0)
        self._barrier = threading.Barrier(herd, timeout=5.0)

    def __call__(self, request: RecordedRequest) -> Reply:
        reply = super().__call__(request)
        if reply[0] == 401:
            with contextlib.suppress(threading.BrokenBarrierError):
                self._barrier.wait()
        return reply


def test_a_herd_rejected_at_once_replays_with_one_new_token(
    authlib: AuthorizationServer, proxy: FaultProxy, make_client: ClientMaker
) -> None:
    """Several requests that carried one token come back 401 together: the first lets it go
    and fetches one replacement; the others wait for it and replay with it too (none gets a
    401 back, none starts a cool-down)."""
    herd = 16
    with RecordingServer(Gathering(herd)) as api:
        client = make_client(base_url=api.url)
        client.auth_manager.token()  # the token every caller will send, and have rejected
        authlib.set_token_delay(0.2)  # the replacement is in flight while the 401s are stepped

        outcome = run_herd(herd, lambda: client.get("/thing").status)

        _report(
            "herd rejected at once",
            statuses={s: outcome.values.count(s) for s in set(outcome.values)},
            errors=len(outcome.errors),
            token_requests=proxy.token_requests(),
        )
        assert outcome.errors == []
        assert proxy.token_requests() == 2  # one replacement for the whole herd
        assert outcome.values == [200] * herd  # every caller replayed with it
        assert len(api.requests()) == 2 * herd  # 16 with the old token, 16 with the new
        assert client.get("/thing").status == 200  # and no cool-down was started
        assert proxy.token_requests() == 2


# -- 7. cool-down after invalid_client ----------------------------------------------------


def test_a_wrong_secret_cools_down_without_asking_the_server_again(
    authlib: AuthorizationServer, proxy: FaultProxy, make_client: ClientMaker
) -> None:
    cool_down = 2.0
    client = make_client(
        "test-client", "not-the-secret", resilience=ResiliencePolicy(cool_down=cool_down)
    )

    with pytest.raises(OAuthProviderException) as caught:
        client.get(proxy.resource_url)
    first = caught.value
    assert first.error == OAuthProviderError.INVALID_CLIENT
    assert first.status == 401
    assert first.retry_after is not None
    assert authlib.token_requests() == 1
    assert proxy.token_requests() == 1

    retry_afters: list[float] = []
    started = time.monotonic()
    for _ in range(20):
        with pytest.raises(OAuthProviderException) as again:
            client.get(proxy.resource_url)
        assert again.value.error == first.error
        assert again.value.status == first.status
        assert again.value.error_description == first.error_description
        assert again.value.retry_after is not None
        retry_afters.append(again.value.retry_after)
    elapsed = time.monotonic() - started
    _report(
        "cool-down",
        calls=20,
        elapsed=f"{elapsed:.3f}s",
        retry_after_first=round(retry_afters[0], 3),
        retry_after_last=round(retry_afters[-1], 3),
        server_token_requests=authlib.token_requests(),
    )
    assert authlib.token_requests() == 1  # 20 calls, not one request
    assert proxy.token_requests() == 1
    assert all(0 < seconds <= cool_down for seconds in retry_afters)
    assert retry_afters == sorted(retry_afters, reverse=True)  # counting down
    assert elapsed < 0.5

    time.sleep(retry_afters[-1] + 0.05)  # the cool-down is over: one request, refused again
    with pytest.raises(OAuthProviderException):
        client.get(proxy.resource_url)
    assert authlib.token_requests() == 2
