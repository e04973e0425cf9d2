"""`auth_manager.fetch_token()`: the seed's raw fetch, on the very path the machine fetches by.

Regression (defect 8 of 0.1.0): it was a second fetch path that had diverged: no
expired-on-arrival check (a different error class for the same reply than the
automatic path), and `additional_params` unchecked (`grant_type` sent twice, a
non-str value a raw TypeError).
"""

from __future__ import annotations

from typing import Any, Final

import pytest

from ccg import (
    ClientCredentialsAuthManager,
    ConfigurationError,
    Limits,
    OAuthToken,
    ResiliencePolicy,
    TokenEndpointUnreachable,
    TokenFetchAbandoned,
    TokenResponseError,
)
from ccg.core import (
    HttpReply,
    HttpRequest,
    TokenRequestSpec,
    TransportFailure,
    TransportFailureKind,
)
from ccg.testing import FakeClock, FakeTransport, json_reply, token_reply

SPEC: Final = TokenRequestSpec(
    token_url="https://as.example/token", client_id="i", client_secret="s", scopes=("read",)
)


def manager(transport: FakeTransport, **options: Any) -> ClientCredentialsAuthManager:
    return ClientCredentialsAuthManager(SPEC, transport=transport, clock=FakeClock(), **options)


def test_a_token_expired_on_arrival_is_the_same_error_on_both_paths() -> None:
    clock = FakeClock()

    def slower_than_the_lifetime(_: HttpRequest) -> HttpReply:
        clock.advance(3)
        return token_reply("t", expires_in=2)

    transport = FakeTransport(handler=slower_than_the_lifetime)
    m = ClientCredentialsAuthManager(
        SPEC, transport=transport, clock=clock, resilience=ResiliencePolicy(max_attempts=1)
    )
    with pytest.raises(TokenResponseError, match="already expired") as by_hand:
        m.fetch_token()
    with pytest.raises(TokenResponseError, match="already expired") as automatic:
        m.token()
    assert by_hand.value.failure == automatic.value.failure


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"grant_type": "password"}, "'grant_type' is set by ccg"),
        ({"client_secret": "x"}, "'client_secret' is set by ccg"),
        ({"audience": 5}, "'audience' must be a str or a list of str"),
        ({"": "x"}, "names must be non-empty str"),
        (["audience"], "expected a mapping, got list"),
    ],
)
def test_additional_params_are_checked_like_the_credentials_extra_params(
    params: object, problem: str
) -> None:
    transport = FakeTransport()
    untyped: Any = params
    with pytest.raises(ConfigurationError, match=problem) as caught:
        manager(transport).fetch_token(untyped)
    assert caught.value.field == "additional_params"
    assert transport.requests == []


def test_the_request_is_the_machines_own_plus_the_additional_params() -> None:
    limits = Limits(connect_timeout=1, read_timeout=2, total_timeout=3, max_body_bytes=4096)
    transport = FakeTransport([token_reply("auto"), token_reply("by-hand")])
    m = manager(transport, limits=limits)
    m.token()
    m.fetch_token({"audience": "https://api.example", "resource": ["r1", "r2"]})
    automatic, by_hand = transport.requests
    assert by_hand.headers == automatic.headers
    assert by_hand.limits == automatic.limits == limits
    assert by_hand.body == (
        automatic.body + b"&audience=https%3A%2F%2Fapi.example&resource=r1&resource=r2"
    )


def test_the_token_is_stamped_returned_and_neither_held_nor_announced() -> None:
    announced: list[OAuthToken] = []
    clock = FakeClock(1000.0)
    m = ClientCredentialsAuthManager(
        SPEC,
        transport=FakeTransport([token_reply("t", expires_in=60)]),
        clock=clock,
        on_token_update=announced.append,
    )
    token = m.fetch_token()
    assert token.expiry == 1060.0
    assert m.o_auth_token is None
    assert announced == []


def test_transport_failures_and_surprises_are_typed() -> None:
    refused = TransportFailure(kind=TransportFailureKind.CONNECT, reason="refused")
    transport = FakeTransport([refused, json_reply(200, {"token": "x"})])
    m = manager(transport)
    with pytest.raises(TokenEndpointUnreachable, match="refused") as caught:
        m.fetch_token()
    assert caught.value.kind is TransportFailureKind.CONNECT
    with pytest.raises(TokenResponseError):
        m.fetch_token()

    boom = ValueError("bug")

    def raising(_: HttpRequest) -> HttpReply:
        raise boom

    with pytest.raises(TokenFetchAbandoned) as abandoned:
        manager(FakeTransport(handler=raising)).fetch_token()
    assert abandoned.value.__cause__ is boom


def test_a_transport_returning_junk_is_a_typed_error() -> None:
    class Junk:
        def send(self, request: HttpRequest, /) -> object:
            return "not a Result"

    untyped: Any = Junk()
    m = ClientCredentialsAuthManager(SPEC, transport=untyped, clock=FakeClock())
    with pytest.raises(TokenFetchAbandoned, match="not Result"):
        m.fetch_token()
    with pytest.raises(TokenFetchAbandoned, match="not Result"):
        m.token()
