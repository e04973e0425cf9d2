"""`ccg demo`: the seed's flow through ccg against a real Authlib server on 127.0.0.1.

Shows a first fetch, cached calls, on-token-update, a herd of threads sharing
one fetch, a renewal at the clock skew with a short-lived token, and a bad
secret reported with its RFC 6749 error code. Finishes in a few seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ccg import (
    ApiClient,
    ClientCredentialsAuthCredentials,
    OAuthProviderException,
    OAuthScopeEnum,
    OAuthToken,
)
from ccg._demo.authorization_server import AuthorizationServer

__all__ = ["run"]

_HERD = 32


def _tail(token: OAuthToken) -> str:
    return "..." + token.access_token[-6:]


def _client(
    server: AuthorizationServer,
    client_id: str,
    secret: str,
    on_update: Callable[[OAuthToken], object] | None = None,
) -> ApiClient:
    return ApiClient(
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials(
            o_auth_client_id=client_id,
            o_auth_client_secret=secret,
            o_auth_scopes=[OAuthScopeEnum.READ_SCOPE, OAuthScopeEnum.WRITE_SCOPE],
            o_auth_on_token_update=on_update,
        ),
        token_url=server.token_url,
    )


def _herd(client: ApiClient, url: str) -> list[int]:
    gate = threading.Barrier(_HERD)
    statuses: list[int] = []

    def call() -> None:
        gate.wait()
        statuses.append(client.get(url).status)

    threads = [threading.Thread(target=call) for _ in range(_HERD)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return statuses


def run(say: Callable[[str], None] = print) -> int:
    """Run the walkthrough; return the process exit code."""
    started = time.monotonic()
    with AuthorizationServer() as server:
        say(f"Authlib authorization server on {server.base_url} (token endpoint /oauth/token)")
        saved: list[OAuthToken] = []

        def save_token_to_database(token: OAuthToken) -> None:
            saved.append(token)
            say(f"   on_token_update: saved token {_tail(token)} (expires_in {token.expires_in} s)")

        client = _client(server, "test-client", "test-secret", save_token_to_database)
        reply = client.get(server.resource_url)
        say(f"1. first call    GET /api/me -> {reply.status} {reply.text.strip()}")
        for _ in range(4):
            client.get(server.resource_url)
        say(
            f"2. cached calls  4 more GET /api/me; token requests so far: {server.token_requests()}"
        )

        server.set_token_delay(0.2)
        herd_client = _client(server, "test-client", "test-secret")
        before = server.token_requests()
        statuses = _herd(herd_client, server.resource_url)
        server.set_token_delay(0.0)
        say(
            f"3. herd          {_HERD} threads at once on a fresh client: "
            f"{statuses.count(200)} x 200, {server.token_requests() - before} token request"
        )

        renewed: list[OAuthToken] = []
        short = _client(server, "short-lived", "short-secret", renewed.append)
        fetched_at = time.monotonic()
        short.get(server.resource_url)
        first = short.auth_manager.token()
        say(
            f"4. renewal       short-lived token {_tail(first)}: expires_in {first.expires_in} s, "
            f"skew 60 s capped to {first.expires_in / 2 if first.expires_in else 0:g} s"
        )
        while not short.auth_manager.is_token_expired():
            time.sleep(0.05)
        waited = time.monotonic() - fetched_at
        reply = short.get(server.resource_url)
        second = short.auth_manager.token()
        say(
            f"                 after {waited:.1f} s it counts as expired; next call -> "
            f"{reply.status} with renewed token {_tail(second)}; "
            f"on_token_update fired {len(renewed)}x"
        )

        bad = _client(server, "test-client", "not-the-secret")
        try:
            bad.get(server.resource_url)
        except OAuthProviderException as error:
            say(
                f"5. bad secret    {type(error).__name__}: error={error.error} "
                f"(HTTP {error.status}): {error.error_description}"
            )
        else:
            say("5. bad secret    UNEXPECTED: the call succeeded")
            return 1
        say(f"done in {time.monotonic() - started:.1f} s")
    return 0
