"""The threaded manager over the fake transport and fake clock (deterministic).

Covers the callback semantics: the provider, on-token-update, the setter, errors
on the automatic path, and single flight under threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from ccg import (
    ClientCredentialsAuthManager,
    InvalidTokenError,
    OAuthProviderError,
    OAuthProviderException,
    OAuthToken,
    TokenAcquisitionError,
    TokenEndpointUnreachable,
    TokenFetchAbandoned,
    TokenProviderError,
    TokenResponseError,
    TokenUpdateCallbackError,
)
from ccg._errors import ReentrantTokenRequest
from ccg.core import (
    Abandoned,
    HttpReply,
    HttpRequest,
    TokenRequestSpec,
    TokenState,
    TransportFailure,
    TransportFailureKind,
)
from ccg.interp import OnTokenUpdate, TokenProvider
from ccg.testing import FakeClock, FakeTransport, error_reply, json_reply, token_reply

TOKEN_URL = "https://as.example/token"
SPEC = TokenRequestSpec(token_url=TOKEN_URL, client_id="id", client_secret="s3cr3t-value")


def manager(
    transport: FakeTransport,
    clock: FakeClock,
    *,
    provider: TokenProvider | None = None,
    on_update: OnTokenUpdate | None = None,
    token: OAuthToken | None = None,
    skew: float = 60.0,
) -> ClientCredentialsAuthManager:
    return ClientCredentialsAuthManager(
        SPEC,
        transport=transport,
        clock=clock,
        clock_skew=skew,
        token_provider=provider,
        on_token_update=on_update,
        token=token,
    )


def test_first_call_fetches_and_later_calls_use_the_cache() -> None:
    transport, clock = FakeTransport([token_reply("t1", expires_in=3600)]), FakeClock(1000.0)
    m = manager(transport, clock)
    assert m.state == TokenState()
    assert m.authorization_header() == "Bearer t1"
    clock.advance(2655 - 0.001)  # just before the renewal window: the last quarter of 3540 s
    assert m.authorization_header() == "Bearer t1"
    assert len(transport.requests) == 1
    token = m.o_auth_token
    assert token is not None
    assert token.expiry == 1000.0 + 3600  # stamped from the injected clock at receipt


def test_renews_at_the_clock_skew_boundary() -> None:
    transport = FakeTransport([token_reply("t1", expires_in=3600), token_reply("t2")])
    clock = FakeClock(1000.0)
    m = manager(transport, clock)
    assert m.authorization_header() == "Bearer t1"
    clock.advance(3600 - 60)  # exactly expiry - skew: counts as expired
    assert m.authorization_header() == "Bearer t2"
    assert len(transport.requests) == 2


def test_short_lived_token_keeps_half_its_life() -> None:
    transport = FakeTransport([token_reply("t1", expires_in=30), token_reply("t2")])
    clock = FakeClock(1000.0)
    m = manager(transport, clock, skew=60.0)
    assert m.authorization_header() == "Bearer t1"
    clock.advance(14.9)
    assert m.authorization_header() == "Bearer t1"
    clock.advance(0.1)
    assert m.authorization_header() == "Bearer t2"


def test_token_without_expires_in_is_never_renewed_proactively() -> None:
    transport, clock = FakeTransport([token_reply("t1", expires_in=None)]), FakeClock()
    m = manager(transport, clock)
    assert m.authorization_header() == "Bearer t1"
    clock.advance(10 * 365 * 86400)
    assert m.authorization_header() == "Bearer t1"
    assert len(transport.requests) == 1


def test_server_error_reaches_the_caller_with_its_code_and_no_secret() -> None:
    reply = error_reply("invalid_client", status=401, error_description="bad client")
    transport, clock = FakeTransport([reply]), FakeClock()
    m = manager(transport, clock)
    with pytest.raises(OAuthProviderException) as caught:
        m.authorization_header()
    assert caught.value.error is OAuthProviderError.INVALID_CLIENT
    assert caught.value.status == 401
    assert caught.value.error_description == "bad client"
    assert "s3cr3t-value" not in str(caught.value) + repr(caught.value)
    assert m.o_auth_token is None
    assert m.state.flight is None


def test_unknown_error_code_is_kept_as_text() -> None:
    transport, clock = FakeTransport([error_reply("slow_down", status=400)]), FakeClock()
    with pytest.raises(OAuthProviderException) as caught:
        manager(transport, clock).token()
    assert caught.value.error == "slow_down"


def test_malformed_reply_and_transport_failure_are_typed() -> None:
    transport = FakeTransport(
        [
            json_reply(200, {"token": "nope"}),
            # A timeout is retried: max_attempts (3) of them before the call fails.
            *[
                TransportFailure(
                    kind=TransportFailureKind.TIMEOUT, reason="ConnectTimeoutError: boom"
                )
            ]
            * 3,
        ]
    )
    clock = FakeClock()
    m = manager(transport, clock)
    with pytest.raises(TokenResponseError, match="not a token"):
        m.token()
    clock.advance(30)  # a 200 that is not a token is not retried: it cools down for 30 s
    with pytest.raises(TokenEndpointUnreachable, match="ConnectTimeoutError") as caught:
        m.token()
    assert caught.value.kind is TransportFailureKind.TIMEOUT


def test_failed_renewal_keeps_the_old_token_held() -> None:
    transport = FakeTransport([token_reply("t1", expires_in=100), error_reply("invalid_grant")])
    clock = FakeClock(1000.0)
    m = manager(transport, clock)
    first = m.token()
    clock.advance(60)
    with pytest.raises(OAuthProviderException):
        m.token()
    assert m.o_auth_token == first
    assert m.state.flight is None


def test_a_lifetime_of_zero_means_none_given_not_a_fetch_per_call() -> None:
    transport = FakeTransport([token_reply("t0", expires_in=0)])
    clock = FakeClock()
    m = manager(transport, clock)
    assert m.token().access_token == "t0"
    clock.advance(3600)
    assert m.token().access_token == "t0"  # used until an API rejects it (no default lifetime)
    assert len(transport.requests) == 1


def test_a_token_expired_on_arrival_is_an_error_not_a_loop() -> None:
    clock = FakeClock()

    def slower_than_the_lifetime(_: HttpRequest) -> HttpReply:
        clock.advance(3)
        return token_reply("t0", expires_in=2)

    transport = FakeTransport(handler=slower_than_the_lifetime)
    m = manager(transport, clock)
    with pytest.raises(TokenResponseError, match="already expired"):
        m.token()
    assert len(transport.requests) == 3  # retried as transient, within max_attempts


# -- the provider ------------------------------------------------------------------------


def test_provider_gets_none_then_the_last_token_and_the_manager() -> None:
    clock = FakeClock(1000.0)
    calls: list[tuple[OAuthToken | None, ClientCredentialsAuthManager]] = []
    issued = iter(["p1", "p2"])

    def provider(last: OAuthToken | None, auth: ClientCredentialsAuthManager) -> OAuthToken:
        calls.append((last, auth))
        return OAuthToken(access_token=next(issued), expires_in=600)

    transport = FakeTransport()
    m = manager(transport, clock, provider=provider)
    assert m.authorization_header() == "Bearer p1"
    assert m.authorization_header() == "Bearer p1"
    clock.advance(600)
    assert m.authorization_header() == "Bearer p2"
    assert [(last.access_token if last else None) for last, _ in calls] == [None, "p1"]
    assert all(auth is m for _, auth in calls)
    assert transport.requests == []


def test_provider_can_fall_back_to_fetch_token() -> None:
    transport = FakeTransport([token_reply("fetched", expires_in=3600)])
    clock = FakeClock(1000.0)

    def provider(last: OAuthToken | None, auth: ClientCredentialsAuthManager) -> OAuthToken:
        return auth.fetch_token()

    m = manager(transport, clock, provider=provider)
    assert m.authorization_header() == "Bearer fetched"
    held = m.o_auth_token
    assert held is not None
    assert held.expiry == 1000.0 + 3600


def test_fetch_token_sends_additional_params_and_raises_typed_errors() -> None:
    transport = FakeTransport([token_reply("x"), error_reply("invalid_scope")])
    m = manager(transport, FakeClock())
    m.fetch_token({"audience": "https://api.example"})
    assert transport.requests[0].body.endswith(b"&audience=https%3A%2F%2Fapi.example")
    with pytest.raises(OAuthProviderException) as caught:
        m.fetch_token()
    assert caught.value.error is OAuthProviderError.INVALID_SCOPE
    assert m.o_auth_token is None  # fetch_token neither stores nor announces


def test_provider_returning_none_is_a_typed_error_each_call_not_a_loop() -> None:
    calls: list[OAuthToken | None] = []

    def provider(last: OAuthToken | None, auth: ClientCredentialsAuthManager) -> None:
        calls.append(last)

    updates: list[OAuthToken] = []
    m = manager(FakeTransport(), FakeClock(), provider=provider, on_update=updates.append)
    for _ in range(2):
        with pytest.raises(TokenProviderError, match="returned None"):
            m.token()
    assert calls == [None, None]
    assert updates == []  # never fired with None
    assert m.o_auth_token is None


def test_provider_returning_an_expired_token_is_a_typed_error() -> None:
    clock = FakeClock(1000.0)

    def provider(last: OAuthToken | None, auth: ClientCredentialsAuthManager) -> OAuthToken:
        return OAuthToken(access_token="old", expires_in=3600, expiry=900.0)

    with pytest.raises(TokenProviderError, match="expired"):
        manager(FakeTransport(), clock, provider=provider).token()


def test_provider_returning_a_dict_is_a_typed_error() -> None:
    def provider(last: OAuthToken | None, auth: ClientCredentialsAuthManager) -> object:
        return {"access_token": "x"}

    untyped: Any = provider  # what code without a type checker can pass

    with pytest.raises(TokenProviderError, match="expected an OAuthToken, got dict"):
        manager(FakeTransport(), FakeClock(), provider=untyped).token()


def test_provider_exception_is_chained_and_state_stays_consistent() -> None:
    boom = RuntimeError("database down")
    calls: list[OAuthToken | None] = []

    def provider(last: OAuthToken | None, auth: ClientCredentialsAuthManager) -> OAuthToken:
        calls.append(last)
        if len(calls) == 1:
            raise boom
        return OAuthToken(access_token="ok", expires_in=60)

    m = manager(FakeTransport(), FakeClock(), provider=provider)
    with pytest.raises(TokenProviderError, match="RuntimeError: database down") as caught:
        m.token()
    assert caught.value.__cause__ is boom
    assert m.o_auth_token is None
    assert m.state.flight is None
    assert m.authorization_header() == "Bearer ok"


# -- on-token-update ---------------------------------------------------------------------


def test_on_token_update_fires_once_per_new_token_fetched_provided_or_set() -> None:
    updates: list[OAuthToken] = []
    transport = FakeTransport([token_reply("t1", expires_in=100), token_reply("t2")])
    clock = FakeClock(1000.0)
    m = manager(transport, clock, on_update=updates.append)
    for _ in range(3):
        m.token()
    clock.advance(60)
    m.token()
    by_hand = OAuthToken(access_token="manual", expires_in=3600)
    m.o_auth_token = by_hand
    m.o_auth_token = None  # forgetting fires nothing
    assert [t.access_token for t in updates] == ["t1", "t2", "manual"]
    assert updates[2].expiry == clock() + 3600  # a hand-set token is stamped on hand-over
    assert all(isinstance(t, OAuthToken) for t in updates)  # never None


def test_setting_the_same_token_again_does_not_fire() -> None:
    updates: list[OAuthToken] = []
    token = OAuthToken(access_token="same", expiry=5000.0)
    m = manager(FakeTransport(), FakeClock(1000.0), on_update=updates.append)
    m.set_token(token)
    m.set_token(token)
    assert updates == [token]


def test_on_token_update_exception_reaches_the_caller_and_keeps_the_token() -> None:
    boom = OSError("disk full")
    fired: list[OAuthToken] = []

    def save(token: OAuthToken) -> None:
        fired.append(token)
        raise boom

    transport = FakeTransport([token_reply("t1", expires_in=3600)])
    m = manager(transport, FakeClock(), on_update=save)
    with pytest.raises(TokenUpdateCallbackError, match="OSError: disk full") as caught:
        m.token()
    assert caught.value.__cause__ is boom
    assert m.authorization_header() == "Bearer t1"  # kept, not re-fetched, not re-announced
    assert len(transport.requests) == 1
    assert len(fired) == 1


def test_setter_raises_when_the_callback_raises() -> None:
    def save(token: OAuthToken) -> None:
        raise ValueError("nope")

    m = manager(FakeTransport(), FakeClock(), on_update=save)
    with pytest.raises(TokenUpdateCallbackError):
        m.o_auth_token = OAuthToken(access_token="x")
    assert m.authorization_header() == "Bearer x"


def test_setter_rejects_what_is_not_a_token() -> None:
    m = manager(FakeTransport(), FakeClock())
    not_a_token: Any = {"access_token": "x"}  # what code without a type checker can pass
    with pytest.raises(InvalidTokenError, match="expected an OAuthToken, got dict"):
        m.set_token(not_a_token)


def test_callback_slower_than_the_token_life_leads_to_a_fresh_fetch() -> None:
    clock = FakeClock(1000.0)
    transport = FakeTransport([token_reply("t1", expires_in=10), token_reply("t2")])

    def save(token: OAuthToken) -> None:
        if token.access_token == "t1":
            clock.advance(20)  # t1 expires while its callback runs

    m = manager(transport, clock, on_update=save)
    assert m.authorization_header() == "Bearer t2"
    assert len(transport.requests) == 2


def test_initial_token_is_used_without_fetching() -> None:
    transport = FakeTransport()
    seeded = OAuthToken(access_token="seeded", expires_in=3600)
    m = manager(transport, FakeClock(), token=seeded)
    assert m.authorization_header() == "Bearer seeded"
    assert transport.requests == []
    assert not m.is_token_expired()


# -- threads -----------------------------------------------------------------------------


def _herd(n: int, work: Callable[[], str]) -> list[str | BaseException]:
    results: list[str | BaseException] = []
    lock = threading.Lock()
    gate = threading.Barrier(n)

    def run() -> None:
        gate.wait()
        try:
            out: str | BaseException = work()
        except BaseException as exc:  # collected for the assertions
            out = exc
        with lock:
            results.append(out)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not any(thread.is_alive() for thread in threads)
    return results


def _blocking(reply: HttpReply, release: threading.Event) -> Callable[[HttpRequest], HttpReply]:
    def answer(request: HttpRequest) -> HttpReply:
        assert release.wait(timeout=5)
        return reply

    return answer


def test_a_herd_of_threads_makes_one_request_and_all_get_the_token() -> None:
    release = threading.Event()
    transport = FakeTransport([_blocking(token_reply("herd"), release)])
    updates: list[OAuthToken] = []
    m = manager(transport, FakeClock(), on_update=updates.append)
    timer = threading.Timer(0.2, release.set)
    timer.start()
    results = _herd(32, m.authorization_header)
    timer.cancel()
    assert results == ["Bearer herd"] * 32
    assert len(transport.requests) == 1
    assert len(updates) == 1


def test_a_herd_shares_one_failure_and_each_gets_its_own_exception() -> None:
    release = threading.Event()
    reply = error_reply("invalid_client", status=401)
    transport = FakeTransport([_blocking(reply, release)])
    m = manager(transport, FakeClock())
    timer = threading.Timer(0.2, release.set)
    timer.start()
    results = _herd(16, m.authorization_header)
    timer.cancel()
    assert len(transport.requests) == 1
    assert all(isinstance(r, OAuthProviderException) for r in results)
    assert len({id(r) for r in results}) == 16
    assert m.o_auth_token is None


def test_a_transport_that_raises_does_not_wedge_the_manager() -> None:
    transport = FakeTransport()  # nothing scripted: the fake raises AssertionError
    m = manager(transport, FakeClock())
    with pytest.raises(TokenFetchAbandoned, match="AssertionError") as caught:
        m.token()
    assert isinstance(caught.value.__cause__, AssertionError)
    assert m.state.flight is None
    transport.add(token_reply("recovered"))
    assert m.authorization_header() == "Bearer recovered"


def test_reading_a_valid_token_takes_no_lock() -> None:
    m = manager(FakeTransport([token_reply("t1")]), FakeClock())
    m.token()
    # Another thread holding the lock does not block readers (the test holds it itself).
    with m._cell._lock:  # pyright: ignore[reportPrivateUsage]
        assert m.authorization_header() == "Bearer t1"
        assert m.token().access_token == "t1"


def test_gives_up_after_bounded_rounds() -> None:
    clock = FakeClock(1000.0)
    transport = FakeTransport(handler=lambda request: token_reply("t", expires_in=10))

    def always_slow(token: OAuthToken) -> None:
        clock.advance(20)

    m = manager(transport, clock, on_update=always_slow)
    with pytest.raises(TokenAcquisitionError, match="no usable token after 3 attempts"):
        m.token()
    assert len(transport.requests) == 3  # max_attempts


def test_a_provider_asking_the_manager_for_a_token_fails_instead_of_deadlocking() -> None:
    def provider(last: OAuthToken | None, auth: ClientCredentialsAuthManager) -> OAuthToken:
        return auth.token()  # wrong: this waits for the fetch the provider itself is doing

    m = manager(FakeTransport(), FakeClock(), provider=provider)
    with pytest.raises(TokenProviderError, match="fetched by this very caller") as caught:
        m.token()
    assert isinstance(caught.value.__cause__, ReentrantTokenRequest)
    assert m.o_auth_token is None


def test_a_renewal_that_cannot_start_does_not_fail_the_caller() -> None:
    def no_threads(_task: Callable[[], None]) -> None:
        raise RuntimeError("can't start new thread")

    transport, clock = FakeTransport([token_reply("t1", expires_in=100)]), FakeClock()
    m = ClientCredentialsAuthManager(SPEC, transport=transport, clock=clock, spawn=no_threads)
    assert m.token().access_token == "t1"
    clock.advance(40)  # usable for 50 s (the skew capped at half): the window opens at 37.5 s
    assert m.token().access_token == "t1"
    record = m.state.failure
    assert m.state.flight is None  # the renewal was settled, not left to its deadline
    assert record is not None
    assert record.failure == Abandoned(reason="RuntimeError: can't start new thread")
    assert len(transport.requests) == 1
