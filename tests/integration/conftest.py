"""Fixtures for the integration tests: the real Authlib server on 127.0.0.1 and clients of it.

Each test gets a fresh `AuthorizationServer` (it starts in ~10 ms), so its counters
(`token_requests()`, `tokens_issued()`, `resource_requests()`) count that test alone.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from ccg._demo.authorization_server import AuthorizationServer
from tests.integration._support import SERVER_CLIENTS, ClientFactory, RecordingServer
from tests.integration._tls_server import self_signed_certificate, serve_tls


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


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[str]:
    """The URL of a TLS server (with `certificate`) that answers each request with a token."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    yield from serve_tls(context)


@pytest.fixture
def silent_tls_port() -> Iterator[str]:
    """The URL of a server that accepts the connection and never starts the handshake."""
    yield from serve_tls(None)
