"""`Urllib3Transport` over TLS on 127.0.0.1: verified, refused when untrusted, and a handshake
that never ends is bounded by the token request's total deadline.

A self-signed certificate for 127.0.0.1 is made per test session with `cryptography` (it
comes with Authlib, in the dev extra) and trusted through `SSL_CERT_FILE`, which OpenSSL's
default verify paths read: the transport's own `PoolManager` (and its watched HTTPS pools)
is what is tested, not one built with a custom CA.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ccg import Urllib3Transport
from ccg.core import TOKEN_REQUEST_LIMITS, HttpRequest, Limits, TransportFailureKind

pytestmark = pytest.mark.integration

_REPLY = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 36\r\n\r\n"
    b'{"access_token":"t","expires_in":60}'
)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def _read_request(sock: ssl.SSLSocket) -> bytes:
    """A whole request: headers, then as many body bytes as Content-Length says."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def _serve(listener: socket.socket, context: ssl.SSLContext | None, stop: threading.Event) -> None:
    """Answer each connection with one reply over TLS; with no context, say nothing at all."""
    listener.settimeout(0.1)
    while not stop.is_set():
        try:
            raw, _ = listener.accept()
        except TimeoutError:
            continue
        with raw:
            if context is None:  # accept the TCP connection, never start the handshake
                stop.wait(10)
                continue
            raw.settimeout(5)
            try:
                with context.wrap_socket(raw, server_side=True) as tls:
                    _read_request(tls)  # whole: unread bytes would make close() a reset
                    tls.sendall(_REPLY)
            except (ssl.SSLError, OSError):
                pass  # a client that refused the certificate


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[str]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    yield from _server(context)


@pytest.fixture
def silent_tls_port() -> Iterator[str]:
    yield from _server(None)


def _server(context: ssl.SSLContext | None) -> Iterator[str]:
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    thread = threading.Thread(target=_serve, args=(listener, context, stop), daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{listener.getsockname()[1]}/token"
    finally:
        stop.set()
        thread.join(5)
        listener.close()


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
