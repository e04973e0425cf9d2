"""Which clock decides what: the monotonic clock every deadline, the wall clock only `expiry`.

Each test moves the two clocks of a `FakeClock` apart. Those that pin a defect of
0.1.0 say so (README, "Regression tests", says how each was seen failing).
"""

from __future__ import annotations

from typing import Final

from ccg import (
    ApiClient,
    ClientCredentialsAuthCredentials,
    ClientCredentialsAuthManager,
    OAuthToken,
    ResiliencePolicy,
)
from ccg.core import HttpReply, HttpRequest, TokenRequestSpec
from ccg.testing import FakeClock, FakeTransport, json_reply, token_reply

HOUR: Final = 3600.0
DAY: Final = 86_400.0
SPEC: Final = TokenRequestSpec(
    token_url="https://as.example/token", client_id="i", client_secret="s"
)


def client(transport: FakeTransport, clock: FakeClock) -> ApiClient:
    return ApiClient(
        origins=["https://api.example"],
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials(
            o_auth_client_id="i", o_auth_client_secret="s"
        ),
        token_url="https://as.example/token",
        transport=transport,
        clock=clock,
    )


def sent_tokens(transport: FakeTransport) -> list[str | None]:
    return [r.header("Authorization") for r in transport.requests if "api" in r.url]


def test_setting_the_wall_clock_back_does_not_keep_an_expired_token() -> None:
    """Regression (defect 4): with the wall clock set back an hour, an expired token was
    kept for another hour (every call a 401)."""
    clock = FakeClock()
    transport = FakeTransport(
        [
            token_reply("a", expires_in=3600),
            json_reply(200, {}),
            token_reply("b"),
            json_reply(200, {}),
        ]
    )
    c = client(transport, clock)
    c.get("https://api.example/x")
    clock.advance(HOUR)  # the token's hour is over...
    clock.set(clock() - HOUR)  # ...but the wall clock is set back by as much
    c.get("https://api.example/x")
    assert sent_tokens(transport) == ["Bearer a", "Bearer b"]


def test_a_wall_clock_days_fast_during_the_fetch_does_not_stretch_the_token() -> None:
    """Regression (defect 4): a clock 3 days fast while fetching, then corrected, kept the
    token for 72 hours."""
    clock = FakeClock()
    transport = FakeTransport(
        [
            token_reply("a", expires_in=3600),
            json_reply(200, {}),
            token_reply("b"),
            json_reply(200, {}),
        ]
    )
    c = client(transport, clock)
    clock.set(clock() + 3 * DAY)
    c.get("https://api.example/x")
    clock.set(clock() - 3 * DAY)  # NTP corrects it
    clock.advance(HOUR)
    c.get("https://api.example/x")
    assert sent_tokens(transport) == ["Bearer a", "Bearer b"]


def test_a_wall_clock_jump_forward_does_not_drop_a_good_token() -> None:
    clock = FakeClock()
    transport = FakeTransport(
        [token_reply("a", expires_in=3600), json_reply(200, {}), json_reply(200, {})]
    )
    c = client(transport, clock)
    c.get("https://api.example/x")
    clock.jump(2 * DAY)
    c.get("https://api.example/x")
    assert sent_tokens(transport) == ["Bearer a", "Bearer a"]
    assert not c.auth_manager.is_token_expired()


def test_the_wall_clock_stamps_expiry_as_the_request_was_sent() -> None:
    clock = FakeClock(1_000_000.0)
    answered: list[float] = []

    def slow_server(_: HttpRequest) -> HttpReply:
        clock.advance(3)  # three seconds between sending the request and the reply
        answered.append(clock())
        return token_reply("a", expires_in=600)

    m = ClientCredentialsAuthManager(
        SPEC,
        transport=FakeTransport(handler=slow_server),
        clock=clock,
        resilience=ResiliencePolicy(refresh_ratio=0.0),  # the skew alone, no renewal window
    )
    token = m.token()
    assert token.expiry == 1_000_000.0 + 600  # counted from the send, not the receipt
    clock.advance(600 - 60 - 3 - 0.001)
    assert m.token() is token
    clock.advance(0.001)
    assert m.is_token_expired()


def test_a_token_from_storage_is_placed_by_its_expiry_once_then_follows_the_monotonic_clock() -> (
    None
):
    clock = FakeClock(5_000_000.0)
    stored = OAuthToken(access_token="stored", expiry=5_000_000.0 + 1000)
    m = ClientCredentialsAuthManager(SPEC, transport=FakeTransport(), clock=clock, token=stored)
    clock.jump(-DAY)  # wall clock back a day: the stored token still ends 940 s from now
    clock.advance(939.9)
    assert m.token() is stored
    clock.advance(0.1)
    assert m.is_token_expired()


def test_is_token_expired_judges_a_token_passed_in_by_its_wall_clock_expiry() -> None:
    clock = FakeClock(1000.0)
    m = ClientCredentialsAuthManager(SPEC, transport=FakeTransport(), clock=clock)
    assert m.is_token_expired()  # nothing held
    assert not m.is_token_expired(OAuthToken(access_token="x", expiry=1000.0 + 61))
    assert m.is_token_expired(OAuthToken(access_token="x", expiry=1000.0 + 60))
    assert not m.is_token_expired(OAuthToken(access_token="x"))  # no expiry: never
