"""The asyncio shell over the fake transport and fake clock: `AsyncClientCredentialsAuthManager`
and `AsyncApiClient`.

No pytest-asyncio: each test runs its coroutine with `asyncio.run` (`run`, which also bounds
it). Replies are held back on an `asyncio.Event` in a coroutine handler (`Gate`) where a
test needs a flight in progress. With the default policy and `entropy=half`, a retry after
the n-th failure in a row waits 0.5 x min(30, 0.5 x 2^(n-1)) s: 0.25, 0.5, ...; a token
with `expires_in=3600` is renewed from 2655 s and is expired (skew 60 s) from 3540 s.

The last section runs one token machine under threads and tasks at once (`.sharing`).
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Final, TypeVar, cast

import pytest

from ccg import (
    ApiClient,
    ClientCredentialsAuthCredentials,
    ClientCredentialsAuthManager,
    ConfigurationError,
    Event,
    HttpReply,
    HttpRequest,
    Limits,
    OAuthProviderError,
    OAuthProviderException,
    OAuthToken,
    ResiliencePolicy,
    TokenAcquisitionTimeout,
    TokenProviderError,
    TokenRequestSpec,
    TokenUpdateCallbackError,
)
from ccg.aio import AsyncApiClient, AsyncClientCredentialsAuthManager
from ccg.core import FlightStarted, TokenSource, UpdateCallbackFailed
from ccg.interp import SYSTEM_CLOCK, AsyncOnTokenUpdate, AsyncTokenProvider, Clock, TokenProvider
from ccg.testing import (
    FakeAsyncTransport,
    FakeClock,
    FakeTransport,
    error_reply,
    json_reply,
    token_reply,
)

TOKEN_URL: Final = "https://as.example/token"
API: Final = "https://api.example"
SECRET: Final = "s3cr3t-Value-42"
T1: Final = "tok-AAAA1111"
T2: Final = "tok-BBBB2222"
SPEC: Final = TokenRequestSpec(token_url=TOKEN_URL, client_id="id", client_secret=SECRET)
UNAVAILABLE: Final = error_reply("temporarily_unavailable", status=503)
HERD: Final = 1000
_BOUND: Final = 15.0  # seconds any test's coroutine (or thread) may take

T = TypeVar("T")


def half() -> float:
    return 0.5


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)`, bounded."""

    async def bounded() -> T:
        return await asyncio.wait_for(main, _BOUND)

    return asyncio.run(bounded())


def manager(
    transport: FakeAsyncTransport,
    clock: Clock | None = None,
    *,
    provider: AsyncTokenProvider | None = None,
    on_update: AsyncOnTokenUpdate | None = None,
    limits: Limits | None = None,
    resilience: ResiliencePolicy | None = None,
    on_event: Callable[[Event], object] | None = None,
) -> AsyncClientCredentialsAuthManager:
    options: dict[str, Any] = {} if limits is None else {"limits": limits}
    return AsyncClientCredentialsAuthManager(
        SPEC,
        transport=transport,
        clock=FakeClock() if clock is None else clock,
        entropy=half,
        token_provider=provider,
        on_token_update=on_update,
        resilience=resilience or ResiliencePolicy(),
        on_event=on_event,
        **options,
    )


def credentials(
    *,
    provider: AsyncTokenProvider | None = None,
    on_update: Callable[[OAuthToken], object] | None = None,
) -> ClientCredentialsAuthCredentials:
    return ClientCredentialsAuthCredentials(
        o_auth_client_id="id",
        o_auth_client_secret=SECRET,
        o_auth_token_provider=provider,
        # The credentials' type is the threaded one's; an async callback is fine for
        # create_async_auth_manager (what this test is about).
        o_auth_on_token_update=cast("Callable[[OAuthToken], None] | None", on_update),
    )


def client(transport: FakeAsyncTransport, clock: FakeClock) -> AsyncApiClient:
    return AsyncApiClient(
        client_credentials_auth_credentials=credentials(),
        token_url=TOKEN_URL,
        base_url=API,
        transport=transport,
        clock=clock,
        entropy=half,
    )


class Issuer:
    """A handler for one fake transport: the token endpoint issues tok-1, tok-2, ...; every
    other URL answers 200. `gate`, when set, holds each token reply until it is opened."""

    def __init__(self, *, held: bool = False) -> None:
        self._numbers = itertools.count(1)
        self.held = held
        self.entered: asyncio.Event | None = None
        self.release: asyncio.Event | None = None

    async def __call__(self, request: HttpRequest) -> HttpReply:
        if request.url != TOKEN_URL:
            return json_reply(200, {"ok": True})
        number = next(self._numbers)
        if self.held:
            assert self.entered is not None
            assert self.release is not None
            self.entered.set()
            await self.release.wait()
        return token_reply(f"tok-{number}", expires_in=3600)

    def arm(self) -> tuple[asyncio.Event, asyncio.Event]:
        """Hold the next token replies: (entered, release), made on the running loop."""
        self.held = True
        self.entered, self.release = asyncio.Event(), asyncio.Event()
        return self.entered, self.release


def held_name(m: AsyncClientCredentialsAuthManager | ClientCredentialsAuthManager) -> str | None:
    """The access token held now, or None (read afresh each time, so checks before and
    after an await say what they mean)."""
    token = m.o_auth_token
    return None if token is None else token.access_token


def in_flight(m: AsyncClientCredentialsAuthManager) -> int | None:
    """The number of the flight in progress, or None."""
    flight = m.state.flight
    return None if flight is None else flight.id


def authorizations(transport: FakeAsyncTransport, url: str) -> list[str | None]:
    return [request.header("Authorization") for request in transport.requests_to(url)]


def unauthorized() -> HttpReply:
    challenge = 'Bearer error="invalid_token", error_description="expired"'
    return json_reply(401, {"message": "unauthorized"}, {"WWW-Authenticate": challenge})


# -- herds -----------------------------------------------------------------------------------


def test_a_thousand_tasks_on_a_fresh_client_make_one_token_request() -> None:
    issuer = Issuer()
    transport, clock = FakeAsyncTransport(handler=issuer), FakeClock()
    api = client(transport, clock)

    async def main() -> list[HttpReply]:
        return await asyncio.gather(*(api.get("/me") for _ in range(HERD)))

    replies = run(main())
    assert [reply.status for reply in replies] == [200] * HERD
    assert len(transport.requests_to(TOKEN_URL)) == 1
    assert authorizations(transport, API + "/me") == ["Bearer tok-1"] * HERD


def test_a_thousand_tasks_after_expiry_make_one_token_request() -> None:
    issuer = Issuer()
    transport, clock = FakeAsyncTransport(handler=issuer), FakeClock()
    api = client(transport, clock)

    async def main() -> tuple[list[HttpReply], list[HttpReply]]:
        first = await asyncio.gather(*(api.get("/me") for _ in range(HERD)))
        clock.advance(3540.0)  # expires_at - skew: expired, no token usable
        assert api.auth_manager.is_token_expired()
        second = await asyncio.gather(*(api.get("/me") for _ in range(HERD)))
        return first, second

    first, second = run(main())
    assert [r.status for r in first + second] == [200] * (2 * HERD)
    assert len(transport.requests_to(TOKEN_URL)) == 2
    sent = authorizations(transport, API + "/me")
    assert sent == ["Bearer tok-1"] * HERD + ["Bearer tok-2"] * HERD
    held = api.auth_manager.o_auth_token
    assert held is not None
    assert held.access_token == "tok-2"


# -- cancellation ------------------------------------------------------------------------------


def test_cancelling_the_task_that_started_the_flight_cancels_only_its_wait() -> None:
    issuer = Issuer()
    transport = FakeAsyncTransport(handler=issuer)
    m = manager(transport)

    async def main() -> None:
        entered, release = issuer.arm()
        owner = asyncio.create_task(m.token())
        await asyncio.wait_for(entered.wait(), 5)  # the owner's flight is in the transport
        others = [asyncio.create_task(m.token()) for _ in range(200)]
        await asyncio.sleep(0)  # each other task steps once and waits for the flight
        flight = in_flight(m)
        assert flight == 1
        assert not any(task.done() for task in others)

        owner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await owner
        assert in_flight(m) == flight  # cancelling the owner left the flight running
        assert held_name(m) is None

        release.set()
        tokens = await asyncio.wait_for(asyncio.gather(*others), 5)
        assert {t.access_token for t in tokens} == {"tok-1"}
        assert len(tokens) == 200

        assert in_flight(m) is None
        assert m.state.failure is None
        assert m.state.streak == 0
        assert held_name(m) == "tok-1"
        issuer.held = False
        assert (await m.token()).access_token == "tok-1"  # the cache, no new request
        assert await m.authorization_header() == "Bearer tok-1"
        await m.aclose()

    run(main())
    assert len(transport.requests) == 1


def test_when_every_waiting_task_is_cancelled_the_fetch_still_completes() -> None:
    issuer = Issuer()
    transport = FakeAsyncTransport(handler=issuer)
    m = manager(transport)

    async def main() -> None:
        entered, release = issuer.arm()
        tasks = [asyncio.create_task(m.token()) for _ in range(50)]
        await asyncio.wait_for(entered.wait(), 5)
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, asyncio.CancelledError) for r in results)
        assert in_flight(m) == 1  # nobody waits, the fetch goes on
        assert held_name(m) is None

        release.set()
        await asyncio.wait_for(m.aclose(), 5)  # waits for the detached flight
        assert in_flight(m) is None
        assert held_name(m) == "tok-1"
        assert (await m.token()).access_token == "tok-1"

    run(main())
    assert len(transport.requests) == 1


def test_waiters_time_out_when_the_flight_hangs_past_its_deadline() -> None:
    """Total timeout 0.2 s: the flight's deadline is 0.2 + 2.0 (FLIGHT_GRACE) s after it
    started; with max_attempts=1 every waiter, its starter included, then fails."""
    limits = Limits(connect_timeout=0.2, read_timeout=0.2, total_timeout=0.2)
    once = ResiliencePolicy(max_attempts=1)
    replies = iter(["stale", "fresh"])

    async def main() -> None:
        entered, release = asyncio.Event(), asyncio.Event()

        async def hanging(_: HttpRequest) -> HttpReply:
            name = next(replies)
            if name == "stale":  # a transport that ignores its limits
                entered.set()
                await release.wait()
            return token_reply(name, expires_in=3600)

        transport = FakeAsyncTransport(handler=hanging)
        m = manager(transport, SYSTEM_CLOCK, limits=limits, resilience=once)
        started = time.monotonic()
        tasks = [asyncio.create_task(m.token()) for _ in range(20)]
        await asyncio.wait_for(entered.wait(), 5)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        waited = time.monotonic() - started
        assert all(isinstance(r, TokenAcquisitionTimeout) for r in results), results
        assert all(isinstance(r, TimeoutError) for r in results)
        assert 2.2 <= waited < 4.5, waited

        release.set()
        await asyncio.wait_for(m.aclose(), 5)
        held = m.o_auth_token
        assert held is None  # the reply of the flight given up is not adopted
        assert (await m.token()).access_token == "fresh"
        assert len(transport.requests) == 2

    run(main())


# -- callbacks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("provider_kind", ["coroutine", "plain"])
@pytest.mark.parametrize("update_kind", ["coroutine", "plain"])
def test_providers_and_update_callbacks_may_be_coroutine_functions_or_plain(
    provider_kind: str, update_kind: str
) -> None:
    calls: list[OAuthToken | None] = []
    updates: list[str] = []
    seen_managers: list[AsyncClientCredentialsAuthManager] = []

    def make(last: OAuthToken | None) -> OAuthToken:
        calls.append(last)
        return OAuthToken(access_token=f"p{len(calls)}", expires_in=3600)

    async def async_provider(
        last: OAuthToken | None, auth: AsyncClientCredentialsAuthManager
    ) -> OAuthToken:
        seen_managers.append(auth)
        await asyncio.sleep(0.01)  # the herd piles up behind it
        return make(last)

    def plain_provider(
        last: OAuthToken | None, auth: AsyncClientCredentialsAuthManager
    ) -> OAuthToken:
        seen_managers.append(auth)
        return make(last)

    async def async_update(token: OAuthToken) -> None:
        await asyncio.sleep(0)
        updates.append(token.access_token)

    def plain_update(token: OAuthToken) -> None:
        updates.append(token.access_token)

    provider: AsyncTokenProvider = (
        async_provider if provider_kind == "coroutine" else plain_provider
    )
    on_update: AsyncOnTokenUpdate = async_update if update_kind == "coroutine" else plain_update
    transport, clock = FakeAsyncTransport(), FakeClock()
    m = manager(transport, clock, provider=provider, on_update=on_update)

    async def main() -> None:
        tokens = await asyncio.gather(*(m.token() for _ in range(100)))
        assert {t.access_token for t in tokens} == {"p1"}
        clock.advance(3540.0)  # expired: the provider is asked again, given the last token
        assert (await m.token()).access_token == "p2"

    run(main())
    assert len(calls) == 2
    assert calls[0] is None
    assert calls[1] is not None
    assert calls[1].access_token == "p1"
    assert seen_managers == [m, m]
    assert updates == ["p1", "p2"]
    assert transport.requests == []  # a provider, never the endpoint


def test_a_coroutine_provider_of_the_credentials_reaches_the_async_client() -> None:
    async def provider(
        last: OAuthToken | None, auth: AsyncClientCredentialsAuthManager
    ) -> OAuthToken:
        await asyncio.sleep(0)
        return OAuthToken(access_token="from-provider", expires_in=3600)

    updates: list[str] = []

    async def on_update(token: OAuthToken) -> None:
        await asyncio.sleep(0)
        updates.append(token.access_token)

    transport = FakeAsyncTransport(handler=lambda _: json_reply(200, {"ok": True}))
    api = AsyncApiClient(
        client_credentials_auth_credentials=credentials(provider=provider, on_update=on_update),
        token_url=TOKEN_URL,
        base_url=API,
        transport=transport,
        clock=FakeClock(),
    )

    async def main() -> list[HttpReply]:
        return await asyncio.gather(*(api.get("/me") for _ in range(50)))

    assert [r.status for r in run(main())] == [200] * 50
    assert authorizations(transport, API + "/me") == ["Bearer from-provider"] * 50
    assert updates == ["from-provider"]


def test_a_coroutine_provider_that_raises_fails_every_waiter_with_the_cause() -> None:
    boom = LookupError("vault sealed")
    calls: list[int] = []

    async def provider(
        last: OAuthToken | None, auth: AsyncClientCredentialsAuthManager
    ) -> OAuthToken:
        calls.append(1)
        await asyncio.sleep(0.01)
        raise boom

    m = manager(FakeAsyncTransport(), provider=provider)

    async def main() -> list[BaseException | OAuthToken]:
        return await asyncio.gather(*(m.token() for _ in range(30)), return_exceptions=True)

    results = run(main())
    assert len(calls) == 1
    for result in results:
        assert isinstance(result, TokenProviderError), result
        assert result.__cause__ is boom
    assert in_flight(m) is None
    assert held_name(m) is None


async def _failing_update(token: OAuthToken) -> None:
    await asyncio.sleep(0)
    raise RuntimeError("disk full")


def test_an_async_update_callback_that_raises_keeps_the_token_and_is_not_retried() -> None:
    events: list[Event] = []
    fired: list[str] = []

    async def on_update(token: OAuthToken) -> None:
        fired.append(token.access_token)
        await _failing_update(token)

    transport = FakeAsyncTransport([token_reply(T1)])
    m = manager(transport, on_update=on_update, on_event=events.append)

    async def main() -> None:
        results = await asyncio.gather(*(m.token() for _ in range(20)), return_exceptions=True)
        # No caller ran the callback (the flight's own task did): each got the token; the
        # failure is an UpdateCallbackFailed event and a log line, as README says.
        assert [getattr(r, "access_token", r) for r in results] == [T1] * 20
        held = m.o_auth_token
        assert held is not None
        assert held.access_token == T1
        assert (await m.token()).access_token == T1  # kept; the callback is not retried

    run(main())
    assert fired == [T1]
    assert [e for e in events if isinstance(e, UpdateCallbackFailed)] != []
    assert len(transport.requests) == 1


def test_the_threaded_manager_refuses_coroutine_functions_at_construction() -> None:
    async def provider(last: OAuthToken | None, auth: object) -> OAuthToken:
        return OAuthToken(access_token="never")

    async def on_update(token: OAuthToken) -> None:
        return None

    with pytest.raises(ConfigurationError, match="o_auth_token_provider") as raised:
        ClientCredentialsAuthManager(
            SPEC, transport=FakeTransport(), token_provider=cast("TokenProvider", provider)
        )
    assert "coroutine function" in str(raised.value)
    with pytest.raises(ConfigurationError, match="o_auth_on_token_update"):
        ClientCredentialsAuthManager(
            SPEC,
            transport=FakeTransport(),
            on_token_update=cast("Callable[[OAuthToken], None]", on_update),
        )
    # Through the credentials and the threaded ApiClient too.
    with pytest.raises(ConfigurationError, match="o_auth_token_provider"):
        ApiClient(
            client_credentials_auth_credentials=credentials(provider=provider),
            token_url=TOKEN_URL,
            transport=FakeTransport(),
        )


# -- resilience --------------------------------------------------------------------------------


def test_transient_failures_are_retried_after_the_backoff_slept_on_the_fake_clock() -> None:
    transport = FakeAsyncTransport([UNAVAILABLE, UNAVAILABLE, token_reply(T1)])
    clock = FakeClock()
    m = manager(transport, clock)
    assert run(m.token()).access_token == T1
    assert clock.slept == [0.25, 0.5]
    assert clock.monotonic() == 0.75
    assert len(transport.requests_to(TOKEN_URL)) == 3


def test_a_herd_rides_out_the_retries_with_the_same_requests() -> None:
    transport = FakeAsyncTransport([UNAVAILABLE, UNAVAILABLE, token_reply(T1)])
    clock = FakeClock()
    m = manager(transport, clock)

    async def main() -> list[OAuthToken]:
        return await asyncio.gather(*(m.token() for _ in range(100)))

    assert {t.access_token for t in run(main())} == {T1}
    assert len(transport.requests_to(TOKEN_URL)) == 3
    # The first task to wait lets the time pass; the others find it passed.
    assert [s for s in clock.slept if s > 0] == [0.25, 0.5]


def test_in_the_cool_down_calls_fail_at_once_without_a_token_request() -> None:
    bad = error_reply("invalid_client", status=401, error_description="unknown client")
    transport = FakeAsyncTransport([bad])
    clock = FakeClock()
    m = manager(transport, clock)

    async def main() -> None:
        with pytest.raises(OAuthProviderException) as first:
            await m.token()
        assert first.value.error is OAuthProviderError.INVALID_CLIENT
        assert first.value.retry_after == 30.0

        clock.advance(10.0)
        results = await asyncio.gather(*(m.token() for _ in range(100)), return_exceptions=True)
        for result in results:
            assert isinstance(result, OAuthProviderException)
            assert result.error is OAuthProviderError.INVALID_CLIENT
            assert result.retry_after == pytest.approx(20.0)
        assert len(transport.requests_to(TOKEN_URL)) == 1
        assert clock.slept == []

        clock.advance(20.0)  # 30 s after the failure: one new request
        transport.add(token_reply(T1))
        tokens = await asyncio.gather(*(m.token() for _ in range(100)))
        assert {t.access_token for t in tokens} == {T1}

    run(main())
    assert len(transport.requests_to(TOKEN_URL)) == 2


def test_in_the_refresh_window_callers_get_the_held_token_while_a_task_renews() -> None:
    events: list[Event] = []
    issuer = Issuer()
    transport, clock = FakeAsyncTransport(handler=issuer), FakeClock()
    m = manager(transport, clock, on_event=events.append)

    async def main() -> None:
        assert (await m.token()).access_token == "tok-1"
        clock.advance(2655.0)  # the window opens
        entered, release = issuer.arm()
        first = await asyncio.wait_for(m.token(), 1)  # at once, while the renewal is held
        assert first.access_token == "tok-1"
        await asyncio.wait_for(entered.wait(), 5)  # the renewal runs in a task of its own
        assert in_flight(m) == 2
        tokens = await asyncio.gather(*(m.token() for _ in range(100)))
        assert {t.access_token for t in tokens} == {"tok-1"}
        assert len(transport.requests_to(TOKEN_URL)) == 2  # one renewal for them all

        release.set()
        await asyncio.wait_for(m.aclose(), 5)
        assert held_name(m) == "tok-2"
        assert in_flight(m) is None
        assert (await m.token()).access_token == "tok-2"

    run(main())
    assert FlightStarted(flight=2, source=TokenSource.ENDPOINT, renewal=True) in events
    assert len(transport.requests_to(TOKEN_URL)) == 2


def test_a_401_is_replayed_once_with_a_new_token() -> None:
    transport = FakeAsyncTransport(
        [
            token_reply(T1),
            unauthorized(),
            token_reply(T2),
            json_reply(200, {"ok": 1}),
            json_reply(200, {"ok": 2}),
        ]
    )
    api = client(transport, FakeClock())

    async def main() -> tuple[HttpReply, HttpReply]:
        return await api.get("/me"), await api.get("/me")

    replayed, later = run(main())
    assert replayed.status == 200
    assert replayed.json() == {"ok": 1}
    assert later.json() == {"ok": 2}
    assert authorizations(transport, API + "/me") == [
        "Bearer " + T1,
        "Bearer " + T2,
        "Bearer " + T2,
    ]
    assert len(transport.requests_to(TOKEN_URL)) == 2


# -- the credentials' setter -------------------------------------------------------------------


def test_the_credentials_setter_reaches_an_async_manager_inside_a_running_loop() -> None:
    updates: list[str] = []

    async def on_update(token: OAuthToken) -> None:
        await asyncio.sleep(0)
        updates.append(token.access_token)

    creds = credentials(on_update=on_update)
    transport = FakeAsyncTransport([json_reply(200, {"ok": True})])
    api = AsyncApiClient(
        client_credentials_auth_credentials=creds,
        token_url=TOKEN_URL,
        base_url=API,
        transport=transport,
        clock=FakeClock(),
    )
    by_hand = OAuthToken(access_token="by-hand", expires_in=3600)

    async def main() -> HttpReply:
        creds.o_auth_token = by_hand  # plain code, in a task: no await
        held = api.auth_manager.o_auth_token
        assert held is not None
        assert held.access_token == "by-hand"  # held at once
        assert creds.o_auth_token == held
        await asyncio.wait_for(api.auth_manager.aclose(), 5)  # the scheduled callback
        assert updates == ["by-hand"]
        return await api.get("/me")

    assert run(main()).status == 200
    assert authorizations(transport, API + "/me") == ["Bearer by-hand"]
    assert transport.requests_to(TOKEN_URL) == []
    assert updates == ["by-hand"]


def test_the_credentials_setter_runs_an_async_callback_to_its_end_without_a_loop() -> None:
    updates: list[str] = []

    async def on_update(token: OAuthToken) -> None:
        await asyncio.sleep(0)
        updates.append(token.access_token)

    creds = credentials(on_update=on_update)
    api = AsyncApiClient(
        client_credentials_auth_credentials=creds,
        token_url=TOKEN_URL,
        transport=FakeAsyncTransport(),
        clock=FakeClock(),
    )
    creds.o_auth_token = OAuthToken(access_token="no-loop", expires_in=3600)
    assert updates == ["no-loop"]
    held = api.auth_manager.o_auth_token
    assert held is not None
    assert held.access_token == "no-loop"
    assert run(api.auth_manager.token()).access_token == "no-loop"


# -- one machine, threads and tasks --------------------------------------------------------------


def shared(
    sync_handler: Callable[[HttpRequest], HttpReply],
    async_handler: Callable[[HttpRequest], HttpReply | Awaitable[HttpReply]],
) -> tuple[
    ClientCredentialsAuthManager,
    AsyncClientCredentialsAuthManager,
    FakeTransport,
    FakeAsyncTransport,
]:
    sync_transport = FakeTransport(handler=sync_handler)
    async_transport = FakeAsyncTransport(handler=async_handler)
    threaded = ClientCredentialsAuthManager(SPEC, transport=sync_transport, clock=FakeClock())
    tasks = AsyncClientCredentialsAuthManager.sharing(threaded, transport=async_transport)
    return threaded, tasks, sync_transport, async_transport


def start_threads(
    count: int, action: Callable[[], object], results: list[object]
) -> list[threading.Thread]:
    lock = threading.Lock()

    def body() -> None:
        try:
            value: object = action()
        except BaseException as exc:  # collected for the assertions
            value = exc
        with lock:
            results.append(value)

    threads = [threading.Thread(target=body, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads


def join(threads: list[threading.Thread]) -> None:
    deadline = time.monotonic() + _BOUND
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "a thread is stuck"


@pytest.mark.parametrize("round_", range(3))
def test_sixteen_threads_and_two_hundred_tasks_make_one_token_request(round_: int) -> None:
    def slow_sync(_: HttpRequest) -> HttpReply:
        time.sleep(0.2)
        return token_reply("from-a-thread")

    async def slow_async(_: HttpRequest) -> HttpReply:
        await asyncio.sleep(0.2)
        return token_reply("from-a-task")

    threaded, tasks, sync_transport, async_transport = shared(slow_sync, slow_async)
    gate = threading.Barrier(17, timeout=_BOUND)
    thread_results: list[object] = []

    def in_a_thread() -> OAuthToken:
        gate.wait()
        return threaded.token()

    threads = start_threads(16, in_a_thread, thread_results)

    async def main() -> list[OAuthToken]:
        gate.wait()  # all 16 threads and this loop are released together
        return await asyncio.gather(*(tasks.token() for _ in range(200)))

    try:
        task_results = run(main())
    finally:
        join(threads)
    requests = len(sync_transport.requests) + len(async_transport.requests)
    assert requests == 1, (len(sync_transport.requests), len(async_transport.requests))
    assert all(isinstance(r, OAuthToken) for r in thread_results), thread_results
    got = {cast("OAuthToken", r).access_token for r in thread_results} | {
        t.access_token for t in task_results
    }
    assert len(got) == 1, got
    assert len(thread_results) == 16
    assert len(task_results) == 200
    assert threaded.o_auth_token == tasks.o_auth_token


def test_a_flight_started_by_a_thread_is_awaited_by_tasks() -> None:
    entered, release = threading.Event(), threading.Event()

    def held(_: HttpRequest) -> HttpReply:
        entered.set()
        release.wait(_BOUND)
        return token_reply("from-a-thread")

    async def never(_: HttpRequest) -> HttpReply:
        raise AssertionError("the tasks must wait for the thread's flight")

    threaded, tasks, sync_transport, async_transport = shared(held, never)
    owner_result: list[object] = []
    owner = start_threads(1, threaded.token, owner_result)
    assert entered.wait(_BOUND)

    async def main() -> list[OAuthToken]:
        waiting = [asyncio.create_task(tasks.token()) for _ in range(50)]
        await asyncio.sleep(0.1)
        assert not any(task.done() for task in waiting)  # they wait for the thread
        assert tasks.state.flight is not None
        release.set()  # from the loop's thread: the owner thread finishes, tasks wake
        return await asyncio.wait_for(asyncio.gather(*waiting), 5)

    try:
        results = run(main())
    finally:
        release.set()
        join(owner)
    assert {t.access_token for t in results} == {"from-a-thread"}
    assert [getattr(r, "access_token", r) for r in owner_result] == ["from-a-thread"]
    assert len(sync_transport.requests) == 1
    assert async_transport.requests == []


def test_a_flight_started_by_a_task_is_awaited_by_threads() -> None:
    def never(_: HttpRequest) -> HttpReply:
        raise AssertionError("the threads must wait for the task's flight")

    state: dict[str, asyncio.Event] = {}

    async def held(_: HttpRequest) -> HttpReply:
        state["entered"].set()
        await state["release"].wait()
        return token_reply("from-a-task")

    threaded, tasks, sync_transport, async_transport = shared(never, held)
    thread_results: list[object] = []
    threads: list[threading.Thread] = []

    async def main() -> OAuthToken:
        state["entered"], state["release"] = asyncio.Event(), asyncio.Event()
        owner = asyncio.create_task(tasks.token())
        await asyncio.wait_for(state["entered"].wait(), 5)
        threads.extend(start_threads(8, threaded.token, thread_results))
        await asyncio.sleep(0.1)  # the threads block on the task's flight
        assert thread_results == []
        state["release"].set()
        return await owner

    try:
        token = run(main())
    finally:
        join(threads)
    assert token.access_token == "from-a-task"
    assert [getattr(r, "access_token", r) for r in thread_results] == ["from-a-task"] * 8
    assert sync_transport.requests == []
    assert len(async_transport.requests) == 1


def test_sharing_a_manager_that_has_a_token_provider_is_refused() -> None:
    def provider(last: OAuthToken | None, auth: ClientCredentialsAuthManager) -> OAuthToken:
        return OAuthToken(access_token="p", expires_in=3600)

    threaded = ClientCredentialsAuthManager(
        SPEC, transport=FakeTransport(), clock=FakeClock(), token_provider=provider
    )
    with pytest.raises(ConfigurationError, match="o_auth_token_provider"):
        AsyncClientCredentialsAuthManager.sharing(threaded, transport=FakeAsyncTransport())


def _plain_failing_update(token: OAuthToken) -> None:
    raise RuntimeError("disk full")


@pytest.mark.parametrize(
    "on_update",
    [
        pytest.param(_plain_failing_update, id="plain"),
        pytest.param(
            _failing_update,
            id="coroutine",
        ),
    ],
)
def test_the_setter_without_a_loop_raises_when_the_update_callback_raises(
    on_update: Callable[[OAuthToken], object],
) -> None:
    creds = credentials(on_update=on_update)
    api = AsyncApiClient(
        client_credentials_auth_credentials=creds,
        token_url=TOKEN_URL,
        transport=FakeAsyncTransport(),
        clock=FakeClock(),
    )
    with pytest.raises(TokenUpdateCallbackError):
        creds.o_auth_token = OAuthToken(access_token="by-hand", expires_in=3600)
    assert held_name(api.auth_manager) == "by-hand"  # the token is kept either way
