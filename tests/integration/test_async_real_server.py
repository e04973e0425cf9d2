"""`AsyncApiClient` with its default `HttpxAsyncTransport` against the real Authlib server.

Everything on 127.0.0.1 (the `server` fixture of conftest.py: a fresh server per test, so
its counters count that test alone). Herds are tasks of one event loop, gathered; every
coroutine is bounded by `run`.

A herd of 1,000 API calls at once would not get through a bare httpx pool: httpcore
(1.0.9) rescans every queued request against every connection each time a request joins
or leaves it, so 1,000 requests queued on 100 connections starve the event loop.
`HttpxAsyncTransport` therefore admits at most `max_connections` requests into the pool
at a time. The default-transport herd runs in a fresh process with a watchdog (`python -m
tests.integration.test_async_real_server SIZE SECONDS`), since a starved loop could not
bound itself.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, Final, TypeVar

import pytest
from returns.result import Result

from ccg import (
    ClientCredentialsAuthCredentials,
    HttpReply,
    HttpRequest,
    OAuthProviderError,
    OAuthProviderException,
    TransportFailure,
)
from ccg._demo.authorization_server import AuthorizationServer
from ccg.aio import AsyncApiClient, AsyncTransport, HttpxAsyncTransport

pytestmark = pytest.mark.integration

HERD: Final = 1000
_BOUND: Final = 40.0  # a hang guard only: a loaded machine runs the 1,000-call herd in ~12 s
_ROOT: Final = Path(__file__).resolve().parents[2]
_WATCHDOG: Final = 45.0  # seconds the default-transport herd may take (a loaded CI box: ~10 s)
_ME: Final = {"client_id": "test-client", "scope": "read write"}

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(main, _BOUND)

    return asyncio.run(bounded())


class Admitted:
    """An `AsyncTransport` that lets at most `limit` requests into `inner` at once."""

    def __init__(self, inner: HttpxAsyncTransport, limit: int) -> None:
        self.inner = inner
        self._limit = limit
        self._gate: asyncio.Semaphore | None = None

    async def send(self, request: HttpRequest, /) -> Result[HttpReply, TransportFailure]:
        if self._gate is None:
            self._gate = asyncio.Semaphore(self._limit)
        async with self._gate:
            return await self.inner.send(request)


def client(
    server: AuthorizationServer,
    client_id: str = "test-client",
    secret: str = "test-secret",
    *,
    transport: AsyncTransport | None = None,
) -> AsyncApiClient:
    return AsyncApiClient(
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials(
            o_auth_client_id=client_id, o_auth_client_secret=secret
        ),
        token_url=server.token_url,
        base_url=server.base_url,
        transport=transport,
    )


async def herd(api: AsyncApiClient, url: str, size: int) -> list[HttpReply]:
    return await asyncio.gather(*(api.get(url) for _ in range(size)))


def test_a_thousand_tasks_make_one_token_request_and_get_a_thousand_200s(
    server: AuthorizationServer,
) -> None:
    """Through `HttpxAsyncTransport`, admitted ten at a time (see the module docstring)."""
    transport = HttpxAsyncTransport()

    async def main() -> list[HttpReply]:
        try:
            async with client(server, transport=Admitted(transport, 10)) as api:
                return await herd(api, server.resource_url, HERD)
        finally:
            await transport.aclose()

    replies = run(main())
    assert [reply.status for reply in replies] == [200] * HERD
    assert all(reply.json() == _ME for reply in replies)
    assert server.token_requests() == 1
    assert server.tokens_issued() == 1
    assert server.resource_requests() == HERD


def test_a_thousand_tasks_through_the_default_transport_get_a_thousand_200s() -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("COV_CORE_")}
    command = [sys.executable, "-m", "tests.integration.test_async_real_server"]
    done = subprocess.run(
        [*command, str(HERD), str(_WATCHDOG)],
        cwd=_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=_WATCHDOG + 20,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    outcome = json.loads(done.stdout.splitlines()[-1])
    sys.stdout.write(f"default-transport herd: {outcome}\n")
    assert outcome["token_requests"] == 1  # ccg's single flight holds either way
    assert outcome["finished"], outcome
    assert outcome["ok"] == HERD, outcome
    assert outcome["resource_requests"] == HERD, outcome


def test_after_expiry_a_herd_makes_one_more_token_request(server: AuthorizationServer) -> None:
    """'short-lived' tokens last 2 s; the skew is capped at half that: expired after 1 s."""

    async def main() -> tuple[list[HttpReply], list[HttpReply], float]:
        async with client(server, "short-lived", "short-secret") as api:
            first = await herd(api, server.resource_url, 50)
            assert server.token_requests() == 1
            held = api.auth_manager.o_auth_token
            assert held is not None
            assert held.expires_in == 2
            waited = time.monotonic()
            for _ in range(300):  # bounded: 3 s
                if api.auth_manager.is_token_expired():
                    break
                await asyncio.sleep(0.01)
            waited = time.monotonic() - waited
            assert api.auth_manager.is_token_expired()
            assert server.token_requests() == 1  # expiry alone fetches nothing
            second = await herd(api, server.resource_url, 50)
            renewed = api.auth_manager.o_auth_token
            assert renewed is not None
            assert renewed.access_token != held.access_token
            return first, second, waited

    first, second, waited = run(main())
    assert [r.status for r in first + second] == [200] * 100
    assert waited < 1.5
    assert server.token_requests() == 2
    assert server.tokens_issued() == 2
    assert server.resource_requests() == 100


def test_cancelling_the_task_that_started_the_fetch_leaves_the_others_their_200s(
    server: AuthorizationServer,
) -> None:
    server.set_token_delay(1.0)

    async def main() -> tuple[list[HttpReply], float]:
        async with client(server) as api:
            started = time.monotonic()
            owner = asyncio.create_task(api.get(server.resource_url))
            await asyncio.sleep(0)  # the owner starts the flight
            others = [asyncio.create_task(api.get(server.resource_url)) for _ in range(100)]
            await asyncio.sleep(0.2)
            for _ in range(500):  # bounded (5 s): a loaded machine may be slower to send it
                if server.token_requests():
                    break
                await asyncio.sleep(0.01)
            assert server.token_requests() == 1  # the fetch is in the server's 1 s delay
            assert not owner.done()
            owner.cancel()
            with pytest.raises(asyncio.CancelledError):
                await owner
            replies = await asyncio.gather(*others)
            elapsed = time.monotonic() - started
            assert api.auth_manager.state.flight is None
            assert api.auth_manager.o_auth_token is not None
            # The cache serves the next call.
            assert (await api.get(server.resource_url)).status == 200
            return replies, elapsed

    replies, elapsed = run(main())
    assert [r.status for r in replies] == [200] * 100
    assert elapsed >= 1.0  # they really waited for the slow fetch the owner started
    assert server.token_requests() == 1
    assert server.tokens_issued() == 1
    assert server.resource_requests() == 101


def test_revoked_tokens_cost_one_401_replay_per_call_and_one_new_token(
    server: AuthorizationServer,
) -> None:
    size = 100

    async def main() -> tuple[list[HttpReply], list[HttpReply], str, str]:
        async with client(server) as api:
            first = await herd(api, server.resource_url, size)
            old = api.auth_manager.o_auth_token
            assert old is not None
            assert server.revoke_tokens() == 1
            second = await herd(api, server.resource_url, size)
            new = api.auth_manager.o_auth_token
            assert new is not None
            return first, second, old.access_token, new.access_token

    first, second, old, new = run(main())
    assert [r.status for r in first + second] == [200] * (2 * size)
    assert old != new
    assert server.token_requests() == 2
    assert server.tokens_issued() == 2
    # Each call of the second herd: one 401 with the revoked token, one replay (at most one
    # replay per call, so 2 x size requests means exactly one each).
    assert server.resource_requests() == size + 2 * size


def test_a_bad_secret_is_invalid_client_then_a_cool_down_without_a_second_request(
    server: AuthorizationServer,
) -> None:
    server.set_token_delay(0.1)

    async def main() -> tuple[list[BaseException | HttpReply], BaseException | HttpReply]:
        async with client(server, "test-client", "not-the-secret") as api:
            first = await asyncio.gather(
                *(api.get(server.resource_url) for _ in range(50)), return_exceptions=True
            )
            later = await asyncio.gather(api.get(server.resource_url), return_exceptions=True)
            return first, later[0]

    first, later = run(main())
    for error in first:
        assert isinstance(error, OAuthProviderException), error
        assert error.error is OAuthProviderError.INVALID_CLIENT
        assert error.status == 401
        assert error.retry_after == pytest.approx(30.0, abs=0.5)
    assert isinstance(later, OAuthProviderException), later
    assert later.error is OAuthProviderError.INVALID_CLIENT
    assert later.retry_after is not None
    assert 25.0 < later.retry_after < 30.0
    assert "(next token request in" in str(later)
    assert server.token_requests() == 1
    assert server.tokens_issued() == 0
    assert server.resource_requests() == 0


def _herd_in_this_process(size: int, budget: float) -> None:
    """`size` calls at once through the default transport against a fresh server; one
    JSON line on stdout. A watchdog thread reports and ends the process at `budget`
    seconds, since a starved event loop cannot time itself out."""
    with AuthorizationServer() as server:
        started = time.monotonic()

        def report(outcome: dict[str, object]) -> None:
            outcome["token_requests"] = server.token_requests()
            outcome["resource_requests"] = server.resource_requests()
            outcome["seconds"] = round(time.monotonic() - started, 2)
            sys.stdout.write(json.dumps(outcome) + "\n")
            sys.stdout.flush()

        def give_up() -> None:
            report({"finished": False, "ok": 0})
            os._exit(0)

        watchdog = threading.Timer(budget, give_up)
        watchdog.daemon = True
        watchdog.start()

        async def main() -> list[HttpReply | BaseException]:
            async with client(server) as api:
                calls = (api.get(server.resource_url) for _ in range(size))
                return await asyncio.gather(*calls, return_exceptions=True)

        results = asyncio.run(main())
        watchdog.cancel()
        kinds = collections.Counter(
            str(r.status) if isinstance(r, HttpReply) else type(r).__name__ for r in results
        )
        report({"finished": True, "ok": kinds["200"], "outcomes": dict(kinds)})


if __name__ == "__main__":
    _herd_in_this_process(int(sys.argv[1]), float(sys.argv[2]))
