"""Thundering herds against the real server: 64 real threads, one token request.

The token endpoint is slowed down (`set_token_delay`) so that the whole herd, released
together by a `threading.Barrier`, arrives while the single fetch is still in flight.
"""

from __future__ import annotations

import threading
import time

import pytest

from ccg import (
    ApiClient,
    ClientCredentialsAuthManager,
    HttpReply,
    OAuthProviderError,
    OAuthProviderException,
    OAuthToken,
    TokenEndpointUnreachable,
    TokenUpdateCallbackError,
)
from ccg._demo.authorization_server import AuthorizationServer
from tests.integration._support import (
    HERD_SIZE,
    ClientFactory,
    TokenUpdates,
    run_herd,
    wait_until,
)

pytestmark = pytest.mark.integration

_TOKEN_DELAY = 0.3  # long enough for all 64 threads to pile up behind the one fetch


def _herd_calls(client: ApiClient, server: AuthorizationServer) -> list[HttpReply]:
    """Release a herd on the protected endpoint; every thread must get a 200."""
    outcome = run_herd(HERD_SIZE, lambda: client.get(server.resource_url))
    assert outcome.errors == []
    assert len(outcome.values) == HERD_SIZE
    assert [reply.status for reply in outcome.values] == [200] * HERD_SIZE
    return outcome.values


def test_herd_on_a_fresh_client_makes_exactly_one_token_request(
    server: AuthorizationServer, make_client: ClientFactory
) -> None:
    server.set_token_delay(_TOKEN_DELAY)
    updates = TokenUpdates()
    client = make_client(on_token_update=updates)

    started = time.monotonic()
    replies = _herd_calls(client, server)
    elapsed = time.monotonic() - started

    assert server.token_requests() == 1
    assert server.tokens_issued() == 1
    assert server.resource_requests() == HERD_SIZE
    expected = {"client_id": "test-client", "scope": "read write"}
    assert all(reply.json() == expected for reply in replies)
    assert elapsed >= _TOKEN_DELAY  # the herd really did wait for the slow fetch
    assert len(updates.tokens) == 1
    assert updates.tokens[0] == client.auth_manager.o_auth_token


def test_herd_after_expiry_renews_exactly_once(
    server: AuthorizationServer, make_client: ClientFactory
) -> None:
    """'short-lived' tokens last 2 s; the skew is capped at half that, so renewal is at 1 s."""
    server.set_token_delay(_TOKEN_DELAY)
    updates = TokenUpdates()
    client = make_client("short-lived", "short-secret", on_token_update=updates)

    _herd_calls(client, server)
    assert server.token_requests() == 1
    first = client.auth_manager.o_auth_token
    assert first is not None
    assert first.expires_in == 2
    assert first.expiry is not None
    assert not client.auth_manager.is_token_expired()

    wait_until(client.auth_manager.is_token_expired, timeout=3.0)
    assert time.time() >= first.expiry - 1.0  # expired per the capped skew, not earlier
    assert server.token_requests() == 1  # expiry alone fetches nothing

    _herd_calls(client, server)

    assert server.token_requests() == 2
    assert server.tokens_issued() == 2
    assert server.resource_requests() == 2 * HERD_SIZE
    second = client.auth_manager.o_auth_token
    assert second is not None
    assert second.access_token != first.access_token
    assert updates.tokens == [first, second]  # on_token_update fired exactly twice in total


def test_herd_rejected_by_the_token_endpoint_shares_one_error(
    server: AuthorizationServer, make_client: ClientFactory
) -> None:
    server.set_token_delay(_TOKEN_DELAY)
    updates = TokenUpdates()
    client = make_client("test-client", "not-the-secret", on_token_update=updates)

    outcome = run_herd(HERD_SIZE, lambda: client.get(server.resource_url))

    assert outcome.values == []
    assert len(outcome.errors) == HERD_SIZE
    for error in outcome.errors:  # every waiter gets the owner's error
        assert isinstance(error, OAuthProviderException)
        assert error.error == OAuthProviderError.INVALID_CLIENT
        assert error.error == "invalid_client"
        assert error.status == 401
    assert server.token_requests() == 1
    assert server.tokens_issued() == 0
    assert server.resource_requests() == 0  # nothing protected was sent without a token
    assert updates.tokens == []
    assert client.auth_manager.o_auth_token is None

    # A bad secret is not retried: callers in the cool-down get the same error at once.
    server.set_token_delay(0.0)
    with pytest.raises(OAuthProviderException) as again:
        client.get(server.resource_url)
    assert again.value.retry_after is not None
    assert 0 < again.value.retry_after <= 30.0
    assert server.token_requests() == 1


def test_herd_whose_token_server_dies_mid_fetch_all_get_unreachable(
    server: AuthorizationServer, make_client: ClientFactory
) -> None:
    """The server stops while the one fetch is in flight: every thread gets the typed error."""
    server.set_token_delay(10.0)  # the fetch would take 10 s; stopping the server cuts it
    client = make_client()

    def stop_once_the_herd_waits() -> None:
        wait_until(lambda: server.token_requests() == 1, timeout=5.0)
        time.sleep(0.2)  # let the rest of the herd reach the in-flight fetch
        server.stop()

    stopper = threading.Thread(target=stop_once_the_herd_waits, daemon=True)
    stopper.start()
    started = time.monotonic()
    outcome = run_herd(HERD_SIZE, lambda: client.get(server.resource_url))
    elapsed = time.monotonic() - started
    stopper.join(5.0)

    assert not stopper.is_alive()
    # Nobody waited out the 10 s delay. (About 1 s alone; 32 threads retrying under
    # coverage tracing on 2 cores took up to 5.6 s, hence the margin below the delay.)
    assert elapsed < 9.0
    assert outcome.values == []
    assert len(outcome.errors) == HERD_SIZE
    assert all(isinstance(error, TokenEndpointUnreachable) for error in outcome.errors)
    assert server.token_requests() == 1
    assert server.resource_requests() == 0


def test_herd_through_a_token_provider_calls_it_once(
    server: AuthorizationServer, make_client: ClientFactory
) -> None:
    """The provider (seed snippet 3's shape) is single-flight too: one call, one fetch."""
    server.set_token_delay(_TOKEN_DELAY)
    calls: list[OAuthToken | None] = []
    lock = threading.Lock()

    def provider(last: OAuthToken | None, manager: ClientCredentialsAuthManager) -> OAuthToken:
        with lock:
            calls.append(last)
        return manager.fetch_token()

    client = make_client(token_provider=provider)

    _herd_calls(client, server)

    assert calls == [None]
    assert server.token_requests() == 1
    assert server.resource_requests() == HERD_SIZE


def test_herd_whose_update_callback_raises_fails_only_the_caller_that_ran_it(
    server: AuthorizationServer, make_client: ClientFactory
) -> None:
    """The callback fails once: the caller that ran it hears of it; the rest of the herd use
    the token, which was held before the callback ran; it is neither re-fetched nor re-announced."""
    server.set_token_delay(_TOKEN_DELAY)
    seen: list[OAuthToken] = []

    def on_update(token: OAuthToken) -> None:
        seen.append(token)
        raise RuntimeError("database is down")

    client = make_client(on_token_update=on_update)

    outcome = run_herd(HERD_SIZE, lambda: client.get(server.resource_url))

    assert len(outcome.errors) == 1
    assert isinstance(outcome.errors[0], TokenUpdateCallbackError)
    assert "database is down" in str(outcome.errors[0])
    assert [reply.status for reply in outcome.values] == [200] * (HERD_SIZE - 1)
    assert len(seen) == 1
    assert client.auth_manager.o_auth_token == seen[0]  # the new token is kept
    assert server.resource_requests() == HERD_SIZE - 1

    assert client.get(server.resource_url).status == 200  # ...and used, without a new fetch
    assert server.token_requests() == 1
    assert len(seen) == 1  # the callback is not retried
