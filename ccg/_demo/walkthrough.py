"""`ccg demo`: the seed's flow through ccg against a real Authlib server on 127.0.0.1.

Shows a first fetch, cached calls, on-token-update, a herd of threads sharing
one fetch, a renewal at the clock skew with a short-lived token, a bad secret
reported with its RFC 6749 error code, a background renewal riding out a failing
token server, a `Retry-After` honoured, and a revoked token recovered by one 401
replay. Finishes in a few seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ccg import (
    ApiClient,
    ClientCredentialsAuthCredentials,
    Event,
    OAuthProviderException,
    OAuthScopeEnum,
    OAuthToken,
    ResiliencePolicy,
)
from ccg._demo.authorization_server import AuthorizationServer
from ccg.core import TokenInvalidated

__all__ = ["run"]

_HERD = 32


def _tail(token: OAuthToken) -> str:
    return "..." + token.access_token[-6:]


def _client(
    server: AuthorizationServer,
    client_id: str,
    secret: str,
    on_update: Callable[[OAuthToken], object] | None = None,
    resilience: ResiliencePolicy | None = None,
    on_event: Callable[[Event], object] | None = None,
) -> ApiClient:
    return ApiClient(
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials(
            o_auth_client_id=client_id,
            o_auth_client_secret=secret,
            o_auth_scopes=[OAuthScopeEnum.READ_SCOPE, OAuthScopeEnum.WRITE_SCOPE],
            o_auth_on_token_update=on_update,
        ),
        token_url=server.token_url,
        base_url=server.base_url,
        resilience=resilience,
        on_event=on_event,
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
        if not _resilience(server, say):
            return 1
        say(f"done in {time.monotonic() - started:.1f} s")
    return 0


def _resilience(server: AuthorizationServer, say: Callable[[str], None]) -> bool:
    """Steps 6-8: the token server failing, rate-limiting, and revoking; True if all went well."""
    # 6 s tokens: usable for 3 s (the skew is capped at half), renewed from 1.5 s on.
    policy = ResiliencePolicy(refresh_ratio=0.5, backoff_base=0.2)
    renewing = _client(server, "renewing", "renewing-secret", resilience=policy)
    renewing.get("/api/me")
    first = renewing.auth_manager.o_auth_token
    server.fail_token_requests(2, status=503)
    before = server.token_requests()
    statuses: list[int] = []
    deadline = time.monotonic() + 5.0
    while renewing.auth_manager.o_auth_token == first and time.monotonic() < deadline:
        statuses.append(renewing.get("/api/me").status)
        time.sleep(0.02)
    renewed = renewing.auth_manager.o_auth_token != first
    say(
        f"6. renewal, 503s  the token server answered 503 to the first 2 renewals; "
        f"{len(statuses)} calls meanwhile: {statuses.count(200)} x 200; renewed "
        f"{'after' if renewed else 'NOT after'} {server.token_requests() - before} token requests"
    )

    events: list[Event] = []
    limited = _client(server, "test-client", "test-secret", on_event=events.append)
    server.fail_token_requests(1, status=429, retry_after="1")
    began = time.monotonic()
    status = limited.get("/api/me").status
    say(
        f"7. Retry-After   429 with Retry-After: 1 -> the retry waited "
        f"{time.monotonic() - began:.1f} s -> {status}"
    )

    before = server.token_requests()
    revoked = server.revoke_tokens()
    status = limited.get("/api/me").status
    rejected = [e.reason.split(":")[0] for e in events if isinstance(e, TokenInvalidated)]
    say(
        f"8. revoked token the server revoked {revoked} tokens; next call: {', '.join(rejected)}, "
        f"{server.token_requests() - before} new token, replayed once -> {status}"
    )
    return renewed and set(statuses) == {200} and status == 200 and len(rejected) == 1
