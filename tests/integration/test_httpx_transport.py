"""`HttpxAsyncTransport` against real sockets on 127.0.0.1.

The hostile cases reuse `_hostile_server.HostileServer` (raw HTTP/1.1 scripts: huge and
endless bodies, a gzip bomb made as it is sent, drips); TLS uses a self-signed certificate
made per module with `cryptography`, as `test_urllib3_tls.py` does. Each case asserts the
exact `TransportFailureKind` (or the reply), and how long and how much it took.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import socket
import ssl
import threading
import time
import tracemalloc
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, Final, TypeVar

import httpx
import pytest
from returns.pipeline import is_successful
from returns.result import Result

from ccg import ClientCredentialsAuthCredentials, HttpReply, HttpRequest
from ccg.aio import AsyncApiClient, HttpxAsyncTransport
from ccg.core import TOKEN_REQUEST_LIMITS, Limits, TransportFailure, TransportFailureKind
from tests.integration._hostile_server import (
    MIB,
    HostileServer,
    Peer,
    Script,
    bomb,
    chunk,
    head,
    reply,
)

pytestmark = pytest.mark.integration

T = TypeVar("T")
Sent = Result[HttpReply, TransportFailure]

_LIMIT: Final = TOKEN_REQUEST_LIMITS.max_body_bytes or 0
_BLOCK: Final = b"x" * (64 * 1024)
_TOKEN: Final = json.dumps({"access_token": "a" * 40, "token_type": "Bearer"}).encode()
_ONE_SECOND: Final = Limits(
    connect_timeout=1.0, read_timeout=5.0, total_timeout=1.0, max_body_bytes=_LIMIT
)
_BOMB_MIB: Final = 4096  # 4 GiB of zeros, about 4 MiB on the wire
_BOUND: Final = 20.0


def run(main: Coroutine[Any, Any, T]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(main, _BOUND)

    return asyncio.run(bounded())


def send(url: str, limits: Limits | None = TOKEN_REQUEST_LIMITS) -> tuple[Sent, float]:
    """One GET through a fresh transport (closed after); its outcome and seconds taken."""

    async def main() -> tuple[Sent, float]:
        transport = HttpxAsyncTransport()
        try:
            started = time.monotonic()
            sent = await transport.send(HttpRequest(method="GET", url=url, limits=limits))
            return sent, time.monotonic() - started
        finally:
            await transport.aclose()

    return run(main())


def kind(sent: Sent) -> TransportFailureKind:
    assert not is_successful(sent), f"expected a failure, got {sent}"
    return sent.failure().kind


def big_body(size: int = 200_000_000) -> Script:
    def script(peer: Peer) -> None:
        peer.send(head(200, [("Content-Type", "application/json"), ("Content-Length", str(size))]))
        blocks, rest = divmod(size, len(_BLOCK))
        peer.send_all(itertools.chain(itertools.repeat(_BLOCK, blocks), [_BLOCK[:rest]]))

    return script


def endless_chunked(peer: Peer) -> None:
    peer.send(head(200, [("Transfer-Encoding", "chunked")]))
    peer.send_all(itertools.repeat(chunk(_BLOCK)))


def gzip_bomb(peer: Peer) -> None:
    length, pieces = bomb(_BOMB_MIB, "gzip")
    peer.send(head(200, [("Content-Encoding", "gzip"), ("Content-Length", str(length))]))
    peer.send_all(pieces)


def drip(prefix: bytes, pieces: list[bytes], every: float = 0.3) -> Script:
    """Send `prefix`, then each piece `every` seconds (100 of them: 30 s)."""

    def script(peer: Peer) -> None:
        if not peer.send(prefix):
            return
        for piece in pieces:
            if not peer.pause(every) or not peer.send(piece):
                return

    return script


# -- size ------------------------------------------------------------------------------------


def test_a_body_over_the_limit_is_too_large_without_being_read_whole() -> None:
    with HostileServer(big_body()) as server:
        sent, seconds = send(server.url + "/token")
    sent_by_server = server.bytes_sent()  # final once the server's threads are joined
    assert kind(sent) is TransportFailureKind.TOO_LARGE
    assert f"passed {_LIMIT} bytes" in sent.failure().reason
    assert sent_by_server < 50_000_000, sent_by_server  # of 200 MB: the loopback buffers
    assert seconds < 10


def test_an_endless_chunked_body_is_too_large() -> None:
    with HostileServer(endless_chunked) as server:
        sent, seconds = send(server.url + "/token")
    assert kind(sent) is TransportFailureKind.TOO_LARGE
    assert seconds < 10


def test_a_body_exactly_at_the_limit_is_read_whole() -> None:
    body = bytes(range(256)) * (_LIMIT // 256)
    with HostileServer(lambda peer: peer.send(reply(body))) as server:
        sent, _ = send(server.url + "/token")
    assert is_successful(sent), sent
    assert sent.unwrap().body == body


def test_a_gzip_bomb_is_too_large_in_bounded_memory() -> None:
    """4 GiB of zeros in about 4 MiB: the read stops one byte past 1 MiB decompressed, and
    the peak of what Python's allocators held (tracemalloc; zlib's state included) stays a
    few MiB: far under the bomb, and under 8 x the limit."""
    compressed_length, _ = bomb(_BOMB_MIB, "gzip")
    with HostileServer(gzip_bomb) as server:
        tracemalloc.start()
        try:
            sent, _ = send(server.url + "/token")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    sent_by_server = server.bytes_sent()  # final once the server's threads are joined
    assert kind(sent) is TransportFailureKind.TOO_LARGE
    assert f"passed {_LIMIT} bytes" in sent.failure().reason
    assert peak < 8 * MIB, f"tracemalloc peak {peak / MIB:.1f} MiB"
    assert sent_by_server < compressed_length  # the client hung up long before the end


def test_a_gzipped_token_is_asked_for_and_decoded() -> None:
    seen: list[bytes] = []

    def script(peer: Peer) -> None:
        seen.append(peer.request)
        peer.send(reply(gzip.compress(_TOKEN), [("Content-Encoding", "gzip")]))

    with HostileServer(script) as server:
        sent, _ = send(server.url + "/token")
    assert is_successful(sent), sent
    assert sent.unwrap().body == _TOKEN
    assert b"accept-encoding: gzip, deflate" in seen[0].lower()


# -- time ------------------------------------------------------------------------------------

_DRIPS: Final[dict[str, Script]] = {
    "body": drip(head(200, [("Content-Length", "100")]), [b"x"] * 100),
    "status-line": drip(b"", [bytes([byte]) for byte in reply(_TOKEN)]),
    "chunks": drip(head(200, [("Transfer-Encoding", "chunked")]), [chunk(b"x")] * 100),
}


@pytest.mark.parametrize("case", list(_DRIPS))
def test_a_drip_past_the_total_deadline_times_out_at_it(case: str) -> None:
    """total_timeout 1 s, a byte every 0.3 s (each restarting httpx's read timeout of 1 s):
    TIMEOUT at 1 s, not after the 30 s the drip would take."""
    with HostileServer(_DRIPS[case]) as server:
        sent, seconds = send(server.url + "/token", _ONE_SECOND)
    assert kind(sent) is TransportFailureKind.TIMEOUT
    assert "within the total 1.0 s" in sent.failure().reason
    assert 0.9 <= seconds < 2.0, seconds


def test_a_refused_connection_is_a_connect_failure() -> None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    sent, seconds = send(f"http://127.0.0.1:{port}/token")
    assert kind(sent) is TransportFailureKind.CONNECT
    assert seconds < 2


# -- redirects -------------------------------------------------------------------------------


@pytest.mark.parametrize("limited", [True, False], ids=["limited", "unlimited"])
def test_a_redirect_is_returned_as_a_reply_not_followed(limited: bool) -> None:
    def script(peer: Peer) -> None:
        location = ("Location", "/elsewhere")
        peer.send(head(302, [location, ("Content-Length", "0"), ("Connection", "close")]))

    with HostileServer(script) as server:
        sent, _ = send(server.url + "/token", TOKEN_REQUEST_LIMITS if limited else None)
        requests = server.requests()
    assert is_successful(sent), sent
    answer = sent.unwrap()
    assert answer.status == 302
    assert answer.header("Location") == "/elsewhere"
    assert [path for _, path in requests] == ["/token"]  # /elsewhere never asked for


# -- TLS -------------------------------------------------------------------------------------


def _serve_tls(listener: socket.socket, context: ssl.SSLContext, stop: threading.Event) -> None:
    """Answer each connection with one token reply over TLS (bounded by `stop`)."""
    listener.settimeout(0.1)
    while not stop.is_set():
        try:
            raw, _ = listener.accept()
        except TimeoutError:
            continue
        except OSError:
            return
        with raw:
            raw.settimeout(5)
            try:
                with context.wrap_socket(raw, server_side=True) as tls:
                    data = b""
                    while b"\r\n\r\n" not in data:
                        received = tls.recv(65536)
                        if not received:
                            break
                        data += received
                    tls.sendall(reply(_TOKEN))
            except (ssl.SSLError, OSError):
                pass  # a client that refused the certificate


@pytest.fixture
def tls_url(certificate: tuple[Path, Path]) -> Iterator[str]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    thread = threading.Thread(target=_serve_tls, args=(listener, context, stop), daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{listener.getsockname()[1]}/token"
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def test_a_self_signed_certificate_is_a_tls_failure(tls_url: str) -> None:
    sent, seconds = send(tls_url)
    assert kind(sent) is TransportFailureKind.TLS
    assert "CERTIFICATE_VERIFY_FAILED" in sent.failure().reason
    assert seconds < 5


def test_a_client_passed_in_carries_its_own_trust_and_is_not_closed(
    tls_url: str, certificate: tuple[Path, Path]
) -> None:
    async def main() -> tuple[Sent, bool]:
        trusting = ssl.create_default_context(cafile=str(certificate[0]))
        async with httpx.AsyncClient(verify=trusting) as own:
            transport = HttpxAsyncTransport(client=own)
            sent = await transport.send(
                HttpRequest(method="GET", url=tls_url, limits=TOKEN_REQUEST_LIMITS)
            )
            await transport.aclose()
            return sent, own.is_closed

    sent, closed = run(main())
    assert is_successful(sent), sent
    assert sent.unwrap().body == _TOKEN
    assert closed is False  # the transport's aclose() left the caller's client open


# -- closing ---------------------------------------------------------------------------------


def test_aclose_closes_the_client_the_transport_made_and_not_one_passed_in() -> None:
    async def main() -> tuple[bool, bool, bool, bool]:
        passed = httpx.AsyncClient()
        given = HttpxAsyncTransport(client=passed)
        owned = HttpxAsyncTransport()
        made = owned._client  # pyright: ignore[reportPrivateUsage]
        open_before = not made.is_closed
        await given.aclose()
        await owned.aclose()
        passed_closed, made_closed = passed.is_closed, made.is_closed
        await passed.aclose()
        return open_before, passed_closed, made_closed, passed.is_closed

    open_before, passed_closed, made_closed, passed_closed_by_owner = run(main())
    assert open_before
    assert passed_closed is False
    assert made_closed is True
    assert passed_closed_by_owner is True  # closing it is its owner's call


def test_an_api_client_leaves_a_transport_passed_in_open() -> None:
    credentials = ClientCredentialsAuthCredentials(
        o_auth_client_id="id", o_auth_client_secret="secret"
    )

    async def main() -> tuple[bool, bool]:
        async with httpx.AsyncClient() as passed:
            async with AsyncApiClient(
                client_credentials_auth_credentials=credentials,
                token_url="https://as.example/token",
                transport=HttpxAsyncTransport(client=passed),
            ):
                pass
            left_open = not passed.is_closed
            api = AsyncApiClient(
                client_credentials_auth_credentials=credentials,
                token_url="https://as.example/token",
            )
            own = api._owned_transport  # pyright: ignore[reportPrivateUsage]
            assert own is not None
            await api.aclose()
            made = own._client  # pyright: ignore[reportPrivateUsage]
            return left_open, made.is_closed

    left_open, own_closed = run(main())
    assert left_open
    assert own_closed
