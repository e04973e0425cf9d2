"""`Urllib3Transport` over TLS on 127.0.0.1: verified, refused when untrusted, and a handshake
that never ends is bounded by the token request's total deadline.

A self-signed certificate for 127.0.0.1 is made per test session with `cryptography` (it
comes with Authlib, in the dev extra) and trusted through `SSL_CERT_FILE`, which OpenSSL's
default verify paths read: the transport's own `PoolManager` (and its watched HTTPS pools)
is what is tested, not one built with a custom CA.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ccg import Urllib3Transport
from ccg.core import TOKEN_REQUEST_LIMITS, HttpRequest, Limits, TransportFailureKind

pytestmark = pytest.mark.integration


def _token_request(url: str, limits: Limits = TOKEN_REQUEST_LIMITS) -> HttpRequest:
    return HttpRequest(method="POST", url=url, body=b"grant_type=client_credentials", limits=limits)


def test_a_trusted_certificate_carries_a_limited_request(
    tls_server: str, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    transport = Urllib3Transport()
    try:
        reply = transport.send(_token_request(tls_server)).unwrap()
    finally:
        transport.close()
    assert reply.status == 200
    assert reply.body == b'{"access_token":"t","expires_in":60}'


def test_an_untrusted_certificate_is_a_tls_failure(tls_server: str) -> None:
    transport = Urllib3Transport()
    try:
        failure = transport.send(_token_request(tls_server)).failure()
    finally:
        transport.close()
    assert failure.kind is TransportFailureKind.TLS


def test_a_handshake_that_never_ends_is_bounded_by_the_total_deadline(
    silent_tls_port: str,
) -> None:
    limits = Limits(connect_timeout=5.0, read_timeout=5.0, total_timeout=0.5)
    transport = Urllib3Transport()
    started = time.monotonic()
    try:
        failure = transport.send(_token_request(silent_tls_port, limits)).failure()
    finally:
        transport.close()
    elapsed = time.monotonic() - started
    assert failure.kind is TransportFailureKind.TIMEOUT
    assert elapsed < 2.0
