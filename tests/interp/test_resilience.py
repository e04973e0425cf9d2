"""Resilience through the public API: retries and backoff, cool-downs, `Retry-After`, soft
refresh (inline and on a real background thread), the `ApiClient`'s 401 and 403
handling, logging, and the `on_event` hook.

Deterministic where it matters: `FakeTransport` scripts the token endpoint and the API
(one script, answered in order), `FakeClock` lets backoffs pass at once and records them
(`slept`), `entropy=lambda: 0.5` fixes the jitter, and `spawn=run_inline` runs renewals
on the calling thread. With the default policy a retry after the n-th failure in a row
waits 0.5 x min(30, 0.5 x 2^(n-1)) s: 0.25, 0.5, 1.0, ...; a token with
`expires_in=3600` is renewed from 2655 s (skew 60 s, the last quarter of 3540 s).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Final

import pytest

from ccg import (
    ApiClient,
    ClientCredentialsAuthCredentials,
    ClientCredentialsAuthManager,
    ConfigurationError,
    Event,
    HttpReply,
    HttpRequest,
    OAuthProviderError,
    OAuthProviderException,
    OAuthToken,
    ResiliencePolicy,
    TokenRejectedError,
    TokenRequestSpec,
)
from ccg.core import (
    FlightStarted,
    InsufficientScope,
    StaleRejectionIgnored,
    TokenInvalidated,
)
from ccg.testing import FakeClock, FakeTransport, error_reply, json_reply, run_inline, token_reply

TOKEN_URL: Final = "https://as.example/token"
API: Final = "https://api.example"
SECRET: Final = "s3cr3t-Value-42"
T1: Final = "tok-AAAA1111"
T2: Final = "tok-BBBB2222"
SPEC: Final = TokenRequestSpec(token_url=TOKEN_URL, client_id="id", client_secret=SECRET)

UNAVAILABLE: Final = error_reply("temporarily_unavailable", status=503)


def half() -> float:
    return 0.5


def manager(
    transport: FakeTransport,
    clock: FakeClock,
    *,
    resilience: ResiliencePolicy | None = None,
    on_event: Callable[[Event], object] | None = None,
    spawn: Callable[[Callable[[], None]], object] | None = run_inline,
) -> ClientCredentialsAuthManager:
    return ClientCredentialsAuthManager(
        SPEC,
        transport=transport,
        clock=clock,
        entropy=half,
        resilience=resilience or ResiliencePolicy(),
        on_event=on_event,
        spawn=spawn,
    )


def client(
    transport: FakeTransport,
    clock: FakeClock,
    *,
    on_event: Callable[[Event], object] | None = None,
) -> ApiClient:
    return ApiClient(
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials(
            o_auth_client_id="id", o_auth_client_secret=SECRET
        ),
        token_url=TOKEN_URL,
        base_url=API,
        transport=transport,
        clock=clock,
        entropy=half,
        on_event=on_event,
        spawn=run_inline,
    )


def authorizations(transport: FakeTransport, url: str) -> list[str | None]:
    return [request.header("Authorization") for request in transport.requests_to(url)]


def unauthorized(challenge: str | None = None) -> HttpReply:
    headers = None if challenge is None else {"WWW-Authenticate": challenge}
    return json_reply(401, {"message": "unauthorized"}, headers)


# -- retries -----------------------------------------------------------------------------


def test_transient_failures_are_retried_after_the_jittered_backoff() -> None:
    transport = FakeTransport([UNAVAILABLE, UNAVAILABLE, token_reply(T1)])
    clock = FakeClock()
    m = manager(transport, clock)
    assert m.token().access_token == T1
    assert clock.slept == [0.25, 0.5]
    assert len(transport.requests_to(TOKEN_URL)) == 3


def test_when_the_attempts_run_out_the_error_says_when_the_next_request_is_made() -> None:
    transport = FakeTransport([UNAVAILABLE, UNAVAILABLE, UNAVAILABLE])
    clock = FakeClock()
    m = manager(transport, clock)
    with pytest.raises(OAuthProviderException) as raised:
        m.token()
    error = raised.value
    assert error.status == 503
    assert error.error == "temporarily_unavailable"
    assert error.retry_after == 1.0  # the third failure in a row: 0.5 x 2
    assert "(next token request in 1.0 s)" in str(error)
    assert clock.slept == [0.25, 0.5]
    assert len(transport.requests_to(TOKEN_URL)) == 3

    # The backoff outlives the call: the next one waits it out before asking.
    transport.add(token_reply(T1))
    assert m.token().access_token == T1
    assert clock.slept == [0.25, 0.5, 1.0]
    assert len(transport.requests_to(TOKEN_URL)) == 4


def test_a_429_with_retry_after_waits_at_least_that_long() -> None:
    throttled = error_reply("slow_down", status=429, headers={"Retry-After": "7"})
    transport = FakeTransport([throttled, token_reply(T1)])
    clock = FakeClock()
    m = manager(transport, clock)
    assert m.token().access_token == T1
    assert clock.slept == [7.0]
    assert clock.slept[0] >= 7


# -- cool-down ---------------------------------------------------------------------------


def test_calls_in_the_cool_down_after_invalid_client_make_no_token_request() -> None:
    bad = error_reply("invalid_client", status=401, error_description="unknown client")
    transport = FakeTransport([bad])
    clock = FakeClock()
    m = manager(transport, clock)
    with pytest.raises(OAuthProviderException) as first:
        m.token()
    assert first.value.error is OAuthProviderError.INVALID_CLIENT
    assert first.value.retry_after == 30.0
    assert "(next token request in 30.0 s)" in str(first.value)

    for call in range(1, 11):
        clock.advance(2.5)
        with pytest.raises(OAuthProviderException) as again:
            m.token()
        assert again.value.error is OAuthProviderError.INVALID_CLIENT
        assert again.value.retry_after == pytest.approx(30.0 - 2.5 * call)
    assert len(transport.requests_to(TOKEN_URL)) == 1
    assert clock.slept == []

    clock.advance(5.0)  # 30 s after the failure
    transport.add(token_reply(T1))
    assert m.token().access_token == T1
    assert len(transport.requests_to(TOKEN_URL)) == 2


# -- soft refresh ------------------------------------------------------------------------


def test_in_the_refresh_window_the_caller_gets_the_held_token_and_one_renewal_runs() -> None:
    events: list[Event] = []
    transport = FakeTransport([token_reply(T1), token_reply(T2)])
    clock = FakeClock()
    m = manager(transport, clock, on_event=events.append)
    assert m.token().access_token == T1
    clock.advance(2654.5)
    assert m.token().access_token == T1
    assert len(transport.requests_to(TOKEN_URL)) == 1

    clock.advance(0.5)  # exactly 2655 s: the window opens
    assert m.token().access_token == T1  # the caller keeps the old token...
    held = m.o_auth_token
    assert held is not None
    assert held.access_token == T2  # ...and the renewal (run inline) replaced it
    assert FlightStarted(flight=2, source=m.policy.source, renewal=True) in events
    for _ in range(10):
        assert m.token().access_token == T2
    assert len(transport.requests_to(TOKEN_URL)) == 2


def test_a_renewal_on_a_background_thread_does_not_block_the_caller() -> None:
    entered, release = threading.Event(), threading.Event()
    block = 10.0

    def slow_server(request: HttpRequest) -> HttpReply:
        entered.set()
        release.wait(block)
        return token_reply(T2)

    transport = FakeTransport([token_reply(T1)], handler=slow_server)
    clock = FakeClock()
    m = manager(transport, clock, spawn=None)  # the default: a daemon thread per renewal
    try:
        assert m.token().access_token == T1
        clock.advance(2655)
        started = time.monotonic()
        token = m.token()
        waited = time.monotonic() - started
        assert token.access_token == T1
        assert waited < 1.0, f"the caller waited {waited:.2f} s for a background renewal"
        assert entered.wait(5.0), "the renewal never reached the token endpoint"
        # Other callers keep the held token while the renewal hangs.
        started = time.monotonic()
        assert [m.token().access_token for _ in range(5)] == [T1] * 5
        assert time.monotonic() - started < 1.0
    finally:
        release.set()
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        held = m.o_auth_token
        if held is not None and held.access_token == T2:
            break
        time.sleep(0.005)
    held = m.o_auth_token
    assert held is not None
    assert held.access_token == T2
    assert len(transport.requests_to(TOKEN_URL)) == 2


# -- the ApiClient's 401 and 403 ---------------------------------------------------------


def test_a_401_lets_the_token_go_and_replays_once_with_a_new_one() -> None:
    events: list[Event] = []
    transport = FakeTransport(
        [
            token_reply(T1),
            unauthorized('Bearer error="invalid_token", error_description="expired"'),
            token_reply(T2),
            json_reply(200, {"ok": True}),
        ]
    )
    c = client(transport, FakeClock(), on_event=events.append)
    reply = c.get("/me")
    assert reply.status == 200
    assert authorizations(transport, API + "/me") == [f"Bearer {T1}", f"Bearer {T2}"]
    assert len(transport.requests_to(TOKEN_URL)) == 2
    assert TokenInvalidated(reason="HTTP 401 invalid_token: expired") in events


def test_a_401_for_a_token_already_replaced_replays_with_the_new_one_without_a_fetch() -> None:
    events: list[Event] = []
    transport = FakeTransport()
    clock = FakeClock()
    c = client(transport, clock, on_event=events.append)

    def replaced_meanwhile(request: HttpRequest) -> HttpReply:
        # Another thread got a new token while this request was on its way.
        c.auth_manager.o_auth_token = OAuthToken(access_token=T2, expires_in=3600)
        return unauthorized()

    transport.add(token_reply(T1), replaced_meanwhile, json_reply(200, {"ok": True}))
    reply = c.get("/me")
    assert reply.status == 200
    assert authorizations(transport, API + "/me") == [f"Bearer {T1}", f"Bearer {T2}"]
    assert len(transport.requests_to(TOKEN_URL)) == 1
    assert StaleRejectionIgnored(reason="HTTP 401") in events


def test_a_protected_call_to_another_origin_is_refused_before_anything_is_sent() -> None:
    transport = FakeTransport([json_reply(200, {}), token_reply(T1), json_reply(200, {})])
    c = client(transport, FakeClock())
    with pytest.raises(ConfigurationError, match=r"https://other\.example:443 .* origins="):
        c.get("https://other.example/x")
    assert transport.requests == []
    assert c.request("GET", "https://other.example/x", requires_auth=False).status == 200
    assert transport.requests[0].header("Authorization") is None
    assert c.get("/me").status == 200
    assert len(transport.requests_to(TOKEN_URL)) == 1


def test_a_401_from_a_listed_origin_rejects_the_token_like_one_from_the_api() -> None:
    transport = FakeTransport(
        [token_reply(T1), unauthorized(), token_reply(T2), json_reply(200, {})]
    )
    c = ApiClient(
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials(
            o_auth_client_id="id", o_auth_client_secret=SECRET
        ),
        token_url=TOKEN_URL,
        base_url=API,
        origins=["https://files.example:8443"],
        transport=transport,
        clock=FakeClock(),
        spawn=run_inline,
    )
    other = "https://files.example:8443/x"
    assert c.get(other).status == 200
    assert authorizations(transport, other) == [f"Bearer {T1}", f"Bearer {T2}"]


def test_a_403_insufficient_scope_is_returned_and_reported_never_retried() -> None:
    events: list[Event] = []
    forbidden = json_reply(
        403, {}, {"WWW-Authenticate": 'Bearer error="insufficient_scope", scope="admin:write"'}
    )
    transport = FakeTransport([token_reply(T1), forbidden])
    c = client(transport, FakeClock(), on_event=events.append)
    reply = c.post("/admin", json={"x": 1})
    assert reply.status == 403
    assert len(transport.requests_to(API + "/admin")) == 1
    assert len(transport.requests_to(TOKEN_URL)) == 1
    assert InsufficientScope(status=403, scope="admin:write") in events


def test_two_401s_in_a_row_return_the_reply_then_calls_fail_with_token_rejected() -> None:
    transport = FakeTransport([token_reply(T1), unauthorized(), token_reply(T2), unauthorized()])
    clock = FakeClock()
    c = client(transport, clock)
    # The first call: 401, a new token, the replay: 401 again, returned as it is; the
    # new token rejected right after the first starts the cool-down.
    assert c.get("/me").status == 401
    assert authorizations(transport, API + "/me") == [f"Bearer {T1}", f"Bearer {T2}"]
    assert len(transport.requests_to(TOKEN_URL)) == 2
    # The next calls fail at once, saying when ccg asks again; nothing is sent.
    clock.advance(10.0)
    with pytest.raises(TokenRejectedError) as raised:
        c.get("/me")
    assert raised.value.retry_after == 20.0
    assert "(next token request in 20.0 s)" in str(raised.value)
    assert len(transport.requests) == 4


# -- logging and the hook ----------------------------------------------------------------


def test_renewals_log_at_info_cache_hits_log_nothing_and_no_secret_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="ccg")
    bad = error_reply("invalid_client", status=401, error_description="bad credentials")
    transport = FakeTransport([UNAVAILABLE, token_reply(T1)])
    clock = FakeClock()
    m = manager(transport, clock)
    assert m.token().access_token == T1

    caplog.clear()
    for _ in range(3):
        m.token()
        m.authorization_header()
    assert caplog.records == []

    clock.advance(2655)
    transport.add(token_reply(T2))
    assert m.token().access_token == T1
    renewing = [r for r in caplog.records if r.getMessage().startswith("renewing the token")]
    assert [r.levelno for r in renewing] == [logging.INFO]

    # A rejection, and a failing fetch that starts a cool-down, are logged too.
    transport.add(bad)
    held = m.o_auth_token
    assert held is not None
    with pytest.raises(OAuthProviderException):
        m.token_rejected(held, reason="HTTP 401")
    caplog_text = caplog.text
    assert "the API rejected the token" in caplog_text
    assert "cooling down" in caplog_text
    for record in caplog.records:
        message = record.getMessage()
        for secret in (SECRET, T1, T2, "Basic "):
            assert secret not in message, (secret, message)
    for secret in (SECRET, T1, T2, "Basic "):
        assert secret not in caplog_text


def test_an_on_event_hook_that_raises_does_not_break_token_acquisition(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[Event] = []

    def broken(event: Event) -> None:
        calls.append(event)
        raise RuntimeError("metrics backend down")

    transport = FakeTransport([UNAVAILABLE, token_reply(T1), token_reply(T2)])
    clock = FakeClock()
    m = manager(transport, clock, on_event=broken)
    with caplog.at_level(logging.ERROR, logger="ccg"):
        assert m.token().access_token == T1
        clock.advance(2655)
        assert m.token().access_token == T1
        assert m.token().access_token == T2
    assert calls  # it was called, and raised, every time
    assert any("on_event hook raised" in r.getMessage() for r in caplog.records)
