"""Single flight under threads: one fetch per need, whatever its outcome, and no one waits forever.

Real threads over the fake transport. Each test that pins a defect of 0.1.0 says so;
how each was seen failing on 0.1.0 is in README ("Regression tests").
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any, Final

import msgspec

from ccg import (
    ClientCredentialsAuthManager,
    Limits,
    OAuthToken,
    ResiliencePolicy,
    TokenAcquisitionError,
    TokenAcquisitionTimeout,
    TokenFetchAbandoned,
    TokenProviderError,
    TokenResponseError,
    TokenUpdateCallbackError,
)
from ccg.core import HttpReply, HttpRequest, TokenRequestSpec
from ccg.interp import SYSTEM_CLOCK, Clock, OnTokenUpdate, TokenProvider
from ccg.testing import FakeClock, FakeTransport, token_reply

SPEC: Final = TokenRequestSpec(
    token_url="https://as.example/token", client_id="id", client_secret="s3cr3t"
)
HERD: Final = 64
_BOUND: Final = 15.0  # seconds any thread of a test may take


def manager(
    transport: FakeTransport,
    *,
    provider: TokenProvider | None = None,
    on_update: OnTokenUpdate | None = None,
    clock: Clock | None = None,
    limits: Limits | None = None,
    resilience: ResiliencePolicy | None = None,
) -> ClientCredentialsAuthManager:
    options: dict[str, Any] = {} if limits is None else {"limits": limits}
    if resilience is not None:
        options["resilience"] = resilience
    return ClientCredentialsAuthManager(
        SPEC,
        transport=transport,
        clock=clock or FakeClock(),
        token_provider=provider,
        on_token_update=on_update,
        **options,
    )


def quietly(action: Callable[[], object]) -> Callable[[], None]:
    """`action` for a thread whose own outcome the test does not look at (a typed error
    included), so that it does not end as an unhandled thread exception."""

    def run() -> None:
        with contextlib.suppress(TokenAcquisitionError):
            action()

    return run


def herd(size: int, action: Callable[[], object]) -> list[object]:
    """What each of `size` threads released together got: a value or the exception it raised."""
    gate = threading.Barrier(size, timeout=_BOUND)
    results: list[object] = []
    lock = threading.Lock()

    def run() -> None:
        gate.wait()
        try:
            result: object = action()
        except BaseException as exc:  # collected for the assertions
            result = exc
        with lock:
            results.append(result)

    threads = [threading.Thread(target=run, daemon=True) for _ in range(size)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(_BOUND)
    assert not any(t.is_alive() for t in threads), "a thread is stuck"
    return results


def slow(
    answer: Callable[[HttpRequest], HttpReply], seconds: float = 0.3
) -> Callable[[HttpRequest], HttpReply]:
    """`answer`, after a pause long enough for a whole herd to queue behind it."""

    def handler(request: HttpRequest) -> HttpReply:
        time.sleep(seconds)
        return answer(request)

    return handler


# -- one request, and every caller gets a typed error with the cause ---------------------------


def test_a_token_body_nested_too_deep_fails_every_caller_after_one_request() -> None:
    """Regression (defect 2): msgspec's RecursionError escaped the "total" step; 64 threads
    made 4 requests and got raw exceptions and bare CcgErrors."""
    nested = b'{"access_token":"t","x":' + b"[" * 1000 + b"]" * 1000 + b"}"
    transport = FakeTransport(handler=slow(lambda _: HttpReply(status=200, body=nested)))
    m = manager(transport)
    results = herd(HERD, m.token)
    assert len(transport.requests) == 1
    assert all(isinstance(r, TokenResponseError) for r in results), {type(r) for r in results}
    assert "RecursionError" in str(results[0])
    assert m.state.flight is None


def test_a_transport_that_raises_fails_every_caller_with_its_exception_as_cause() -> None:
    """Regression (defect 2): a transport raising anything but urllib3's HTTPError broke
    single flight (several requests, raw exceptions, causeless CcgErrors)."""
    boom = RuntimeError("socket library bug")

    def raising(_: HttpRequest) -> HttpReply:
        time.sleep(0.3)
        raise boom

    transport = FakeTransport(handler=raising)
    m = manager(transport)
    results = herd(HERD, m.token)
    assert len(transport.requests) == 1
    assert all(isinstance(r, TokenFetchAbandoned) for r in results), {type(r) for r in results}
    assert all(isinstance(r, BaseException) and r.__cause__ is boom for r in results)


def test_a_provider_returning_a_mistyped_token_fails_every_caller_after_one_call() -> None:
    """Regression (defect 2): a provider's token with wrong-typed fields raised raw errors."""
    calls: list[OAuthToken | None] = []
    mistyped = msgspec.structs.replace(OAuthToken(access_token="x"), access_token=12345)

    def provider(last: OAuthToken | None, _: ClientCredentialsAuthManager) -> OAuthToken:
        calls.append(last)
        time.sleep(0.3)
        return mistyped

    m = manager(FakeTransport(), provider=provider)
    results = herd(HERD, m.token)
    assert len(calls) == 1
    assert all(isinstance(r, TokenProviderError) for r in results), {type(r) for r in results}
    assert "access_token must be a str, got int" in str(results[0])


def test_an_interrupted_owner_settles_its_flight_for_the_waiters() -> None:
    """The owner's KeyboardInterrupt (or an asyncio cancellation) goes on up its own stack;
    its waiters get a typed error with it as the cause, and the next call fetches again."""
    interrupt = KeyboardInterrupt()
    first = threading.Event()

    def answer(_: HttpRequest) -> HttpReply:
        if not first.is_set():
            first.set()
            time.sleep(0.3)
            raise interrupt
        return token_reply("after")

    transport = FakeTransport(handler=answer)
    m = manager(transport)
    results = herd(16, m.token)
    assert len(transport.requests) == 1
    assert sum(r is interrupt for r in results) == 1  # the owner
    waiters = [r for r in results if r is not interrupt]
    assert all(isinstance(r, TokenFetchAbandoned) for r in waiters)
    assert all(isinstance(r, BaseException) and r.__cause__ is interrupt for r in waiters)
    assert m.token().access_token == "after"


# -- stale outcomes -----------------------------------------------------------------------------


def test_an_interrupt_in_an_old_flights_callback_does_not_end_the_next_flight() -> None:
    """Regression (defect 3): a BaseException escaping flight 1's on-update callback was
    stepped as a failure into flight 2, and a third caller started a second concurrent fetch."""
    in_callback, raise_now = threading.Event(), threading.Event()
    second_sent, release_second = threading.Event(), threading.Event()
    in_flight = [0]
    most_in_flight = [0]
    lock = threading.Lock()

    def answer(request: HttpRequest) -> HttpReply:
        with lock:
            in_flight[0] += 1
            most_in_flight[0] = max(most_in_flight[0], in_flight[0])
            number = len(transport.requests)
        try:
            if number == 2:
                second_sent.set()
                assert release_second.wait(_BOUND)
            return token_reply(f"t{number}")
        finally:
            with lock:
                in_flight[0] -= 1

    def on_update(token: OAuthToken) -> None:
        if token.access_token == "t1":
            in_callback.set()
            assert raise_now.wait(_BOUND)
            raise KeyboardInterrupt

    transport = FakeTransport(handler=answer)
    m = manager(transport, on_update=on_update)
    outcomes: dict[str, object] = {}

    def call(name: str) -> None:
        try:
            outcomes[name] = m.token().access_token
        except BaseException as exc:  # collected for the assertions
            outcomes[name] = exc

    first = threading.Thread(target=call, args=("first",), daemon=True)
    first.start()
    assert in_callback.wait(_BOUND)
    m.set_token(None)  # the token is dropped while its callback runs
    second = threading.Thread(target=call, args=("second",), daemon=True)
    second.start()
    assert second_sent.wait(_BOUND)  # flight 2 is in flight
    raise_now.set()  # flight 1's callback now raises
    first.join(_BOUND)
    third = threading.Thread(target=call, args=("third",), daemon=True)
    third.start()
    time.sleep(0.2)  # room for a wrong second fetch to start
    assert len(transport.requests) == 2
    release_second.set()
    for thread in (second, third):
        thread.join(_BOUND)
    assert isinstance(outcomes["first"], KeyboardInterrupt)
    assert outcomes["second"] == outcomes["third"] == "t2"
    assert most_in_flight[0] == 1
    assert len(transport.requests) == 2


def test_a_token_dropped_during_its_callback_is_not_handed_out() -> None:
    """Regression (defect 3): TokenUpdateNotified answered with a token the machine no longer
    held (dropped with `o_auth_token = None` inside the callback)."""
    transport = FakeTransport([token_reply("t1"), token_reply("t2")])
    holder: list[ClientCredentialsAuthManager] = []

    def on_update(token: OAuthToken) -> None:
        if token.access_token == "t1":
            holder[0].o_auth_token = None

    m = manager(transport, on_update=on_update)
    holder.append(m)
    assert m.token().access_token == "t2"
    assert len(transport.requests) == 2


# -- deadlines -----------------------------------------------------------------------------------


def test_waiters_stop_waiting_at_the_flights_deadline() -> None:
    """Regression (defect 5): waiters waited for the owner with no timeout at all, for as
    long as a dripping token endpoint held it."""
    limits = Limits(connect_timeout=0.2, read_timeout=0.2, total_timeout=0.2)
    stuck, done = threading.Event(), threading.Event()

    def hanging(_: HttpRequest) -> HttpReply:
        if not stuck.is_set():
            stuck.set()
            done.wait(_BOUND)  # a transport that ignores its limits
        return token_reply("late")

    transport = FakeTransport(handler=hanging)
    once = ResiliencePolicy(max_attempts=1)  # no retry: the waiters are told at the deadline
    m = manager(transport, clock=SYSTEM_CLOCK, limits=limits, resilience=once)
    owner = threading.Thread(target=quietly(m.token), daemon=True)
    owner.start()
    assert stuck.wait(_BOUND)
    started = time.monotonic()
    results = herd(8, m.token)
    waited = time.monotonic() - started
    done.set()
    owner.join(_BOUND)
    # The flight's deadline is the total timeout plus a grace for the owner to report first.
    assert all(isinstance(r, TokenAcquisitionTimeout) for r in results), results
    assert all(isinstance(r, TimeoutError) for r in results)
    assert waited < 0.2 + 2.0 + 1.5
    assert m.token().access_token == "late"  # the owner's stale reply was ignored; a new fetch


def test_waiters_of_a_hung_flight_retry_with_a_new_one() -> None:
    limits = Limits(connect_timeout=0.2, read_timeout=0.2, total_timeout=0.2)
    stuck, done = threading.Event(), threading.Event()

    def hanging_once(_: HttpRequest) -> HttpReply:
        if not stuck.is_set():
            stuck.set()
            done.wait(_BOUND)
            return token_reply("late")
        return token_reply("retried")

    transport = FakeTransport(handler=hanging_once)
    m = manager(transport, clock=SYSTEM_CLOCK, limits=limits)
    owner = threading.Thread(target=m.token, daemon=True)
    owner.start()
    assert stuck.wait(_BOUND)
    results = herd(8, m.token)
    done.set()
    owner.join(_BOUND)
    assert [getattr(r, "access_token", r) for r in results] == ["retried"] * 8
    assert len(transport.requests) == 2  # the hung one, and one retry for all eight


def test_waiters_stop_waiting_for_a_provider_that_hangs() -> None:
    limits = Limits(connect_timeout=0.1, read_timeout=0.1, total_timeout=0.1)
    entered, leave = threading.Event(), threading.Event()

    def provider(last: OAuthToken | None, _: ClientCredentialsAuthManager) -> OAuthToken:
        entered.set()
        leave.wait(_BOUND)
        return OAuthToken(access_token="slow", expires_in=3600)

    once = ResiliencePolicy(max_attempts=1)
    m = manager(
        FakeTransport(), provider=provider, clock=SYSTEM_CLOCK, limits=limits, resilience=once
    )
    owner = threading.Thread(target=quietly(m.token), daemon=True)
    owner.start()
    assert entered.wait(_BOUND)
    results = herd(4, m.token)
    leave.set()
    owner.join(_BOUND)
    assert all(isinstance(r, TokenAcquisitionTimeout) for r in results), results


# -- stress --------------------------------------------------------------------------------------


def test_stress_renewals_set_tokens_and_failing_callbacks_keep_every_invariant() -> None:
    """Many threads, a fast fake clock, short-lived tokens, random `set_token`, slow and
    failing callbacks, a flaky token endpoint: count every invariant violation."""
    clock = FakeClock()
    lock = threading.Lock()
    issued: dict[str, float] = {}  # token -> monotonic instant from which it is unusable
    violations: list[str] = []
    in_flight = [0]
    stop = threading.Event()

    def endpoint(request: HttpRequest) -> HttpReply:
        with lock:
            in_flight[0] += 1
            if in_flight[0] > 1:
                violations.append("two token requests at once")
            number = len(issued) + 1
            now = clock.monotonic()
            lifetime = 4 + number % 5
            # Never used at or past its expiry, counted from the request's send (a token
            # arriving inside the skew is used until then rather than fetched again).
            issued[f"f{number}"] = now + lifetime
        try:
            time.sleep(0.001 * (number % 3))
            if number % 7 == 0:
                return HttpReply(status=503, body=b"busy")
            return token_reply(f"f{number}", expires_in=lifetime)
        finally:
            with lock:
                in_flight[0] -= 1

    def on_update(token: OAuthToken) -> None:
        if token.access_token.endswith("3"):  # f3, f13, ..., and some set by hand
            raise OSError("disk full")
        time.sleep(0.0005)

    m = manager(FakeTransport(handler=endpoint), clock=clock, on_update=on_update)
    set_by_hand = 0

    def caller(seed: int) -> None:
        nonlocal set_by_hand
        for i in range(300):
            if stop.is_set():
                return
            time.sleep(0.0003)  # let the clock move between calls
            begun = clock.monotonic()
            if (seed + i) % 97 == 0:
                with lock:
                    set_by_hand += 1
                    name = f"s{seed}-{i}"
                    issued[name] = begun + 5 - 2.5
                with contextlib.suppress(TokenUpdateCallbackError):  # held all the same
                    m.set_token(OAuthToken(access_token=name, expires_in=5))
                continue
            try:
                token = m.token()
            except TokenAcquisitionError:
                continue  # 503s and the failing callback: typed, expected
            except BaseException as exc:  # anything else is a violation
                violations.append(f"untyped {type(exc).__name__}: {exc}")
                continue
            with lock:
                if token.access_token not in issued:
                    violations.append(f"unknown token {token.access_token}")
                elif begun >= issued[token.access_token]:
                    violations.append(f"{token.access_token} used after it expired")

    def ticker() -> None:
        while not stop.is_set():
            clock.advance(0.25)
            time.sleep(0.0002)

    threads = [threading.Thread(target=caller, args=(n,), daemon=True) for n in range(16)]
    tick = threading.Thread(target=ticker, daemon=True)
    tick.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    stop.set()
    tick.join(_BOUND)
    assert not any(t.is_alive() for t in threads), "deadlock"
    assert violations == []
    assert len(issued) - set_by_hand >= 5  # the clock moved enough to force renewals
    assert m.state.flights >= len(issued) - set_by_hand
