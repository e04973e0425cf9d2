"""Fixtures for the integration tests: the real Authlib server on 127.0.0.1 and clients of it.

Each test gets a fresh `AuthorizationServer` (it starts in ~10 ms), so its counters
(`token_requests()`, `tokens_issued()`, `resource_requests()`) count that test alone.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ccg._demo.authorization_server import AuthorizationServer
from tests.integration._support import SERVER_CLIENTS, ClientFactory, RecordingServer


@pytest.fixture
def server() -> Iterator[AuthorizationServer]:
    """A running authorization server with the default clients plus the seed snippets' one."""
    with AuthorizationServer(clients=SERVER_CLIENTS) as running:
        yield running


@pytest.fixture
def make_client(server: AuthorizationServer) -> ClientFactory:
    """`make_client(client_id, client_secret, ...)`: an `ApiClient` of `server`."""
    return ClientFactory(server)


@pytest.fixture
def recorder() -> Iterator[RecordingServer]:
    """A plain HTTP server that records every request and answers 200 JSON."""
    with RecordingServer() as running:
        yield running
