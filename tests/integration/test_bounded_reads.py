"""Bounded reads: the real `Urllib3Transport` against hostile servers on 127.0.0.1.

Requests that carry `Limits` (every token request does) are streamed and read no
further than `max_body_bytes`, counted after decompression, and no longer than
`total_timeout`. Each hostile case here asserts the exact `TransportFailureKind`:
endless chunked bodies, gzip and deflate bombs, 200 MB bodies, bodies at and one
byte over the limit, drips past the deadline (in the body, the chunk framing, the
status line), resets, bad encodings, truncated streams, refused and silent servers.

Memory is measured in a fresh process per case (see `_probe`): the peak growth of
its resident set while it fetches the endless body, the bomb, the 200 MB bodies.
The end-to-end cases run `ApiClient` against the same servers.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
import socket
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final

import pytest
import urllib3
from returns.pipeline import is_successful
from returns.result import Result

from ccg import (
    ApiClient,
    ClientCredentialsAuthCredentials,
    HttpReply,
    HttpRequest,
    TokenEndpointUnreachable,
    TokenResponseError,
    Urllib3Transport,
)
from ccg.core import (
    TOKEN_REQUEST_LIMITS,
    Limits,
    TransportFailure,
    TransportFailureKind,
)
from tests.integration._hostile_server import (
    MIB,
    HostileServer,
    Peer,
    Script,
    Wrapper,
    bomb,
    chunk,
    compressed,
    head,
    reply,
)
from tests.integration._support import silent_endpoint, unconnectable_endpoint

pytestmark = pytest.mark.integration

_ROOT: Final = Path(__file__).resolve().parents[2]
_LIMIT: Final = TOKEN_REQUEST_LIMITS.max_body_bytes or 0
_BLOCK: Final = b"x" * (64 * 1024)
_TOKEN: Final = json.dumps(
    {"access_token": "a" * 40, "token_type": "Bearer", "expires_in": 3600, "scope": "read"}
).encode()
#: A total deadline of 1 s: the drip tests end about then, far before their drips would.
_ONE_SECOND: Final = Limits(
    connect_timeout=1.0, read_timeout=5.0, total_timeout=1.0, max_body_bytes=_LIMIT
)
_DRIP_EVERY: Final = 0.3
_BOMB_MIB: Final = 4096
"""The bombs expand to 4 GiB (about 4 MiB compressed)."""
_GROWTH_LIMIT_KIB: Final = 10 * 1024
_CODING: Final[dict[Wrapper, str]] = {"gzip": "gzip", "zlib": "deflate", "raw": "deflate"}

Sent = Result[HttpReply, TransportFailure]


def _send(
    url: str,
    limits: Limits | None = TOKEN_REQUEST_LIMITS,
    transport: Urllib3Transport | None = None,
) -> tuple[Sent, float]:
    started = time.monotonic()
    sent = (transport or Urllib3Transport()).send(
        HttpRequest(method="GET", url=url + "/token", limits=limits)
    )
    return sent, time.monotonic() - started


def _kind(sent: Sent) -> TransportFailureKind:
    assert not is_successful(sent), f"expected a failure, got {sent}"
    return sent.failure().kind


def _body(sent: Sent) -> bytes:
    assert is_successful(sent), sent
    return sent.unwrap().body


# -- scripts ------------------------------------------------------------------------------------


def endless_chunked(peer: Peer) -> None:
    peer.send(head(200, [("Transfer-Encoding", "chunked")]))
    peer.send_all(itertools.repeat(chunk(_BLOCK)))


def bomb_script(wrapper: Wrapper, *, coding: str | None = None, chunked: bool = False) -> Script:
    def script(peer: Peer) -> None:
        length, pieces = bomb(_BOMB_MIB, wrapper)
        framing = ("Transfer-Encoding", "chunked") if chunked else ("Content-Length", str(length))
        peer.send(head(200, [("Content-Encoding", coding or _CODING[wrapper]), framing]))
        peer.send_all((chunk(piece) for piece in pieces if piece) if chunked else pieces)

    return script


def big_body(*, declared: bool, size: int = 200_000_000) -> Script:
    def script(peer: Peer) -> None:
        framing = ("Content-Length", str(size)) if declared else ("Connection", "close")
        peer.send(head(200, [("Content-Type", "application/json"), framing]))
        blocks, rest = divmod(size, len(_BLOCK))
        peer.send_all(itertools.chain(itertools.repeat(_BLOCK, blocks), [_BLOCK[:rest]]))

    return script


def framed(body: bytes, framing: str) -> Script:
    """`body` (its Content-Encoding decided by `framing`) sent with the framing named."""
    coded = {"gzip": compressed(body, "gzip"), "deflate": compressed(body, "zlib")}

    def script(peer: Peer) -> None:
        if framing in coded:
            peer.send(reply(coded[framing], [("Content-Encoding", framing)]))
        elif framing == "content-length":
            peer.send(reply(body))
        elif framing == "chunked":
            pieces = (chunk(body[i : i + len(_BLOCK)]) for i in range(0, len(body), len(_BLOCK)))
            peer.send(head(200, [("Transfer-Encoding", "chunked")]))
            peer.send_all(itertools.chain(pieces, [chunk(b"")]))
        else:  # delimited by the end of the connection
            peer.send(head(200, [("Connection", "close")]) + body)

    return script


def drip(prefix: bytes, dripped: Iterable[bytes] = (b"x",) * 100) -> Script:
    """Send `prefix`, then each of `dripped` 0.3 s apart (a hundred of them: 30 s)."""

    def script(peer: Peer) -> None:
        if not peer.send(prefix):
            return
        for piece in dripped:
            if not peer.pause(_DRIP_EVERY) or not peer.send(piece):
                return

    return script


def _bytes(data: bytes) -> list[bytes]:
    return [bytes([byte]) for byte in data]


def endless(prefix: bytes, repeated: bytes) -> Script:
    """Send `prefix`, then `repeated` as fast as the client takes it (until it goes)."""

    def script(peer: Peer) -> None:
        if peer.send(prefix):
            peer.send_all(itertools.repeat(repeated * max(1, 65536 // len(repeated))))

    return script


# -- what each script must come to ----------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [64 * 1024, 1], ids=["64k-chunks", "1-byte-chunks"])
def test_an_endless_chunked_body_is_too_large(chunk_size: int) -> None:
    """The 1-byte chunks (6 bytes on the wire each) run against a 128 KiB limit: each costs
    http.client a round of Python, about 2 s per MiB, which only the deadline bounds."""
    limit = _LIMIT if chunk_size > 1 else 128 * 1024
    limits = Limits(
        connect_timeout=5.0, read_timeout=15.0, total_timeout=30.0, max_body_bytes=limit
    )
    with HostileServer(
        endless(head(200, [("Transfer-Encoding", "chunked")]), chunk(_BLOCK[:chunk_size]))
    ) as server:
        sent, seconds = _send(server.url, limits)
    assert _kind(sent) == TransportFailureKind.TOO_LARGE
    assert f"passed {limit} bytes" in sent.failure().reason
    assert seconds < 10


@pytest.mark.parametrize(
    ("wrapper", "coding", "chunked"),
    [
        ("gzip", "gzip", False),
        ("gzip", "x-gzip", False),
        ("gzip", "gzip", True),
        ("zlib", "deflate", False),
        ("raw", "deflate", False),
        ("raw", "deflate", True),
    ],
    ids=["gzip", "x-gzip", "gzip-chunked", "deflate-zlib", "deflate-raw", "deflate-raw-chunked"],
)
def test_a_compression_bomb_is_too_large(wrapper: Wrapper, coding: str, chunked: bool) -> None:
    """4 GiB of zeros in about 4 MiB: the read stops one byte past 1 MiB decompressed."""
    with HostileServer(bomb_script(wrapper, coding=coding, chunked=chunked)) as server:
        sent, _ = _send(server.url)
        sent_by_server = server.bytes_sent()
    assert _kind(sent) == TransportFailureKind.TOO_LARGE
    assert "passed 1048576 bytes" in sent.failure().reason
    compressed_length, _ = bomb(_BOMB_MIB, wrapper)
    assert sent_by_server < compressed_length  # the client hung up long before the end


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "until-close"])
def test_a_200_mb_body_is_too_large(declared: bool) -> None:
    with HostileServer(big_body(declared=declared)) as server:
        sent, seconds = _send(server.url)
        sent_by_server = server.bytes_sent()
    assert _kind(sent) == TransportFailureKind.TOO_LARGE
    if declared:
        assert "declares 200000000 bytes" in sent.failure().reason
    assert sent_by_server < 50_000_000  # what the loopback buffers took before the hang-up
    assert seconds < 10


_FRAMINGS: Final = ["content-length", "chunked", "until-close", "gzip", "deflate"]


@pytest.mark.parametrize("framing", _FRAMINGS)
def test_a_body_exactly_at_the_limit_is_read_whole(framing: str) -> None:
    body = bytes(range(256)) * (_LIMIT // 256)
    assert len(body) == _LIMIT
    with HostileServer(framed(body, framing)) as server:
        sent, _ = _send(server.url)
    assert _body(sent) == body


@pytest.mark.parametrize("framing", _FRAMINGS)
def test_a_body_one_byte_over_the_limit_is_too_large(framing: str) -> None:
    body = bytes(range(256)) * (_LIMIT // 256) + b"!"
    with HostileServer(framed(body, framing)) as server:
        sent, _ = _send(server.url)
    assert _kind(sent) == TransportFailureKind.TOO_LARGE


_GZIP_TOKEN: Final = compressed(_TOKEN, "gzip")
_DRIPS: Final[dict[str, Script]] = {
    "body": drip(head(200, [("Content-Length", "100")])),
    "body-until-close": drip(head(200, [("Connection", "close")])),
    "chunks": drip(head(200, [("Transfer-Encoding", "chunked")]), [chunk(b"x")] * 100),
    "chunk-size-line": drip(
        head(200, [("Transfer-Encoding", "chunked")]) + chunk(b"x"), [b"0"] * 100
    ),
    "gzip": drip(
        head(200, [("Content-Encoding", "gzip"), ("Content-Length", str(len(_GZIP_TOKEN)))]),
        _bytes(_GZIP_TOKEN),
    ),
    "status-line": drip(b"", _bytes(reply(_TOKEN))),
    "headers": drip(b"HTTP/1.1 200 OK\r\n", [b"X"] * 100),
    "endless-100-continue": endless(b"", b"HTTP/1.1 100 Continue\r\n\r\n"),
    "endless-trailers": endless(
        head(200, [("Transfer-Encoding", "chunked")]) + chunk(b"x") + b"0\r\n", b"X-T: y\r\n"
    ),
}


@pytest.mark.parametrize("case", list(_DRIPS))
def test_a_drip_past_the_total_deadline_times_out_at_it(case: str) -> None:
    """total_timeout 1 s, a byte every 0.3 s (or a flood http.client loops on): TIMEOUT at 1 s.

    Each byte restarts a socket timeout; the deadline holds only because the watchdog
    shuts the socket down at 1 s. The drips would take 30 s.
    """
    with HostileServer(_DRIPS[case]) as server:
        sent, seconds = _send(server.url, _ONE_SECOND)
    assert _kind(sent) == TransportFailureKind.TIMEOUT
    assert 0.9 <= seconds < 1.6, seconds


def test_your_own_pool_manager_is_watched_from_the_body_on() -> None:
    """A caller's PoolManager: the body drip still ends at the deadline."""
    transport = Urllib3Transport(pool_manager=urllib3.PoolManager(retries=False))
    with HostileServer(_DRIPS["chunk-size-line"]) as server:
        sent, seconds = _send(server.url, _ONE_SECOND, transport)
    assert _kind(sent) == TransportFailureKind.TIMEOUT
    assert 0.9 <= seconds < 1.6, seconds


def test_your_own_pool_manager_does_not_watch_the_headers() -> None:
    """The known gap: with a caller's PoolManager, a dripped status line outlasts the total.

    The transport learns the socket only when urllib3 returns the reply; until then a
    read waits at most the time left when the reply was first awaited, and each byte
    restarts it. Here 40 bytes at 0.03 s take about 1.2 s against a total of 0.3 s: the
    failure is still TIMEOUT, but only once the headers are in.
    """
    transport = Urllib3Transport(pool_manager=urllib3.PoolManager(retries=False))
    limits = Limits(connect_timeout=1.0, read_timeout=1.0, total_timeout=0.3, max_body_bytes=MIB)
    status = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX: 1\r\n\r\nok"

    def fast_drip(peer: Peer) -> None:
        for byte in status:
            if not peer.send(bytes([byte])) or not peer.pause(0.03):
                return

    with HostileServer(fast_drip) as server:
        sent, seconds = _send(server.url, limits, transport)
    assert _kind(sent) == TransportFailureKind.TIMEOUT
    assert seconds > 1.0


def test_a_reset_mid_body_is_a_protocol_failure() -> None:
    def script(peer: Peer) -> None:
        peer.send(head(200, [("Content-Length", "100000")]) + _BLOCK[:1000])
        peer.pause(0.1)
        peer.reset()

    with HostileServer(script) as server:
        sent, _ = _send(server.url)
    assert _kind(sent) == TransportFailureKind.PROTOCOL


def test_a_body_cut_short_of_its_length_is_a_protocol_failure() -> None:
    with HostileServer(
        lambda peer: peer.send(head(200, [("Content-Length", "5000")]) + b"{}")
    ) as server:
        sent, _ = _send(server.url)
    assert _kind(sent) == TransportFailureKind.PROTOCOL


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"xyz\r\n\r\n",
        b"",
        head(200, [("Transfer-Encoding", "chunked")]) + b"zz\r\nabc\r\n",
        b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70_000 + b"\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"X: a\r\n" * 150 + b"\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde",
    ],
    ids=[
        "bad-status",
        "not-http",
        "nothing",
        "bad-chunk-size",
        "header-line-too-long",
        "too-many-headers",
        "two-lengths",
    ],
)
def test_a_reply_that_is_not_http_is_a_protocol_failure(answer: bytes) -> None:
    with HostileServer(lambda peer: peer.send(answer)) as server:
        sent, _ = _send(server.url)
    assert _kind(sent) == TransportFailureKind.PROTOCOL


@pytest.mark.parametrize("coding", ["br", "compress", "zstd", "gzip, br", "gzip, gzip", "\x7f"])
def test_an_unsupported_content_encoding_is_a_protocol_failure(coding: str) -> None:
    with HostileServer(
        lambda peer: peer.send(reply(_TOKEN, [("Content-Encoding", coding)]))
    ) as server:
        sent, _ = _send(server.url)
    assert _kind(sent) == TransportFailureKind.PROTOCOL
    assert "unsupported Content-Encoding" in sent.failure().reason


@pytest.mark.parametrize(
    "cut", [5, 10, 12, -4], ids=["in-header", "after-header", "early", "no-trailer"]
)
@pytest.mark.parametrize("wrapper", ["gzip", "zlib", "raw"])
def test_a_truncated_compressed_body_is_a_protocol_failure(wrapper: Wrapper, cut: int) -> None:
    stream = compressed(_TOKEN, wrapper)
    if wrapper == "raw" and cut == -4:
        cut = -1  # raw deflate has no trailer: cut into the last block
    with HostileServer(
        lambda peer: peer.send(reply(stream[:cut], [("Content-Encoding", _CODING[wrapper])]))
    ) as server:
        sent, _ = _send(server.url)
    assert _kind(sent) == TransportFailureKind.PROTOCOL
    assert "ended early" in sent.failure().reason


@pytest.mark.parametrize("wrapper", ["gzip", "zlib", "raw"])
def test_garbage_after_a_compressed_body_is_a_protocol_failure(wrapper: Wrapper) -> None:
    """Endless bytes after the end of the stream: refused, not piled up in zlib's unused_data."""
    prefix = head(200, [("Content-Encoding", _CODING[wrapper]), ("Connection", "close")])
    with HostileServer(endless(prefix + compressed(_TOKEN, wrapper), b"\x00")) as server:
        sent, seconds = _send(server.url)
    assert _kind(sent) == TransportFailureKind.PROTOCOL
    assert seconds < 5


def test_a_refused_connection_is_a_connect_failure() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago, and nobody listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    sent, _ = _send(url)
    assert _kind(sent) == TransportFailureKind.CONNECT


def test_a_server_that_never_answers_times_out_within_the_limits() -> None:
    with silent_endpoint() as url:
        sent, seconds = _send(url.removesuffix("/oauth/token"), _ONE_SECOND)
    assert _kind(sent) == TransportFailureKind.TIMEOUT
    assert 0.9 <= seconds < 1.6, seconds


def test_a_connection_that_never_completes_times_out_within_the_limits() -> None:
    limits = Limits(connect_timeout=0.5, read_timeout=5.0, total_timeout=1.0, max_body_bytes=MIB)
    with unconnectable_endpoint() as url:
        sent, seconds = _send(url.removesuffix("/oauth/token"), limits)
    assert _kind(sent) == TransportFailureKind.TIMEOUT
    assert 0.4 <= seconds < 1.2, seconds


@pytest.mark.parametrize("wrapper", ["gzip", "zlib", "raw"])
@pytest.mark.parametrize("piece", [None, 1], ids=["whole", "byte-chunks"])
def test_a_small_compressed_token_reply_decodes(wrapper: Wrapper, piece: int | None) -> None:
    stream = compressed(_TOKEN, wrapper) + (compressed(b"", "gzip") if wrapper == "gzip" else b"")

    def script(peer: Peer) -> None:
        if piece is None:
            peer.send(reply(stream, [("Content-Encoding", _CODING[wrapper])]))
            return
        peer.send(
            head(200, [("Content-Encoding", _CODING[wrapper]), ("Transfer-Encoding", "chunked")])
        )
        peer.send_all(itertools.chain((chunk(bytes([b])) for b in stream), [chunk(b"")]))

    with HostileServer(script) as server:
        sent, _ = _send(server.url)
    assert json.loads(_body(sent)) == json.loads(_TOKEN)
    assert sent.unwrap().header("Content-Encoding") == _CODING[wrapper]


def test_an_empty_gzip_body_is_empty() -> None:
    with HostileServer(
        lambda peer: peer.send(reply(b"", [("Content-Encoding", "gzip")]))
    ) as server:
        sent, _ = _send(server.url)
    assert _body(sent) == b""


# -- connections after a failure, and the watchdog after a success ------------------------------


def _keep_alive_script(peer: Peer) -> None:
    if peer.path.startswith("/small"):
        peer.send(reply(_TOKEN, close=False))
        peer.keep_alive = True
    elif peer.path.startswith("/declared"):
        big_body(declared=True, size=2 * MIB)(peer)
    else:
        bomb_script("gzip", chunked=True)(peer)


def test_a_connection_is_not_reused_after_a_too_large_reply() -> None:
    with HostileServer(_keep_alive_script) as server:
        transport = Urllib3Transport()

        def send(path: str) -> Sent:
            request = HttpRequest(method="GET", url=server.url + path, limits=TOKEN_REQUEST_LIMITS)
            return transport.send(request)

        assert _body(send("/small")) == _TOKEN
        assert _body(send("/small")) == _TOKEN
        assert _kind(send("/declared")) == TransportFailureKind.TOO_LARGE
        assert _body(send("/small")) == _TOKEN
        assert _kind(send("/bomb")) == TransportFailureKind.TOO_LARGE
        assert _body(send("/small")) == _TOKEN
        seen = server.requests()
    assert seen == [
        (1, "/small"),
        (1, "/small"),  # reused while clean
        (1, "/declared"),
        (2, "/small"),  # a new connection after the refused body
        (2, "/bomb"),
        (3, "/small"),  # and after the abandoned bomb
    ]


def test_the_watchdog_leaves_a_connection_alone_after_a_reply_in_time() -> None:
    """A reply read before the deadline disarms it: the connection serves the next request."""
    limits = Limits(connect_timeout=1.0, read_timeout=1.0, total_timeout=0.3, max_body_bytes=MIB)
    with HostileServer(_keep_alive_script) as server:
        transport = Urllib3Transport()
        assert _body(_send(server.url + "/small", limits, transport)[0]) == _TOKEN
        time.sleep(0.5)  # past the first request's deadline
        assert _body(_send(server.url + "/small", limits, transport)[0]) == _TOKEN
        assert [number for number, _ in server.requests()] == [1, 1]


def test_concurrent_requests_keep_their_own_deadlines() -> None:
    """Eight threads, one transport: drips time out at their deadline, the rest succeed."""
    fast = Limits(connect_timeout=1.0, read_timeout=5.0, total_timeout=0.6, max_body_bytes=MIB)
    slow = Limits(connect_timeout=1.0, read_timeout=5.0, total_timeout=1.2, max_body_bytes=MIB)

    def script(peer: Peer) -> None:
        if "drip" in peer.path:
            _DRIPS["body"](peer)
        else:
            peer.pause(0.2)
            peer.send(reply(_TOKEN))

    jobs = [("/drip", fast), ("/drip", slow), ("/ok", fast), ("/ok", slow)] * 2
    with HostileServer(script) as server:
        transport = Urllib3Transport()
        with ThreadPoolExecutor(len(jobs)) as pool:
            futures = [
                pool.submit(_send, server.url + path, limits, transport) for path, limits in jobs
            ]
            outcomes = [future.result(timeout=10) for future in futures]
    for (path, limits), (sent, seconds) in zip(jobs, outcomes, strict=True):
        if path == "/drip":
            assert _kind(sent) == TransportFailureKind.TIMEOUT
            assert limits.total_timeout - 0.1 <= seconds < limits.total_timeout + 0.5
        else:
            assert _body(sent) == _TOKEN


# -- the bombs are real ---------------------------------------------------------------------------


def test_the_bomb_is_what_zlib_streams() -> None:
    """The bomb's segments are what streaming compression of zeros emits, flush by flush."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    streamed = b"".join(
        compressor.compress(bytes(MIB)) + compressor.flush(zlib.Z_FULL_FLUSH) for _ in range(3)
    ) + compressor.flush(zlib.Z_FINISH)
    length, pieces = bomb(3, "raw")
    assert b"".join(pieces) == streamed
    assert length == len(streamed)


@pytest.mark.parametrize("wrapper", ["gzip", "zlib", "raw"])
def test_the_bomb_is_a_valid_stream(wrapper: Wrapper) -> None:
    length, pieces = bomb(8, wrapper)
    data = b"".join(pieces)
    assert len(data) == length
    decode: dict[Wrapper, Callable[[bytes], bytes]] = {
        "gzip": gzip.decompress,
        "zlib": zlib.decompress,
        "raw": lambda raw: zlib.decompress(raw, -zlib.MAX_WBITS),
    }
    assert decode[wrapper](data) == bytes(8 * MIB)
    assert bomb(_BOMB_MIB, wrapper)[0] < 5 * MIB  # 4 GiB in under 5 MiB


# -- memory -------------------------------------------------------------------------------------


def _with_warm_up(script: Script) -> Script:
    """`script`, but /warm gets a small gzip token reply (the probe's warm-up request)."""

    def serve(peer: Peer) -> None:
        if peer.path == "/warm":
            peer.send(reply(compressed(_TOKEN, "gzip"), [("Content-Encoding", "gzip")]))
        else:
            script(peer)

    return serve


def _probe(script: Script, *, limited: bool = True) -> dict[str, object]:
    """Fetch from `script` in a fresh process; what `_hostile_server.probe` measured.

    Why a fresh process and its resident set: the kernel counts every byte the request
    makes the process hold, C allocations included (zlib's window and output, OpenSSL,
    socket buffers), and a test process would carry what earlier tests left. The probe
    imports, warms up through the same code path (a small gzip reply), resets the
    kernel's peak-RSS mark, and reports the peak after the request minus the RSS before
    it (Linux /proc). Freed memory still resident could hide growth, so the probe also
    sends the request a second time under tracemalloc and reports its peak. Both must
    stay under 10 MB; the control (`test_the_memory_probe_sees_growth`) shows both see
    a 64 MiB body.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("COV_CORE_")}
    with HostileServer(_with_warm_up(script)) as server:
        command = [
            sys.executable,
            "-m",
            "tests.integration._hostile_server",
            server.url + "/token",
            "--warm-url",
            server.url + "/warm",
        ]
        if not limited:
            command.append("--unlimited")
        done = subprocess.run(
            command, cwd=_ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
        )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    assert result["urllib3"] == vars(urllib3)["__version__"]  # the probe ran on ours
    sys.stdout.write(f"memory probe: {result}\n")
    return result


_needs_proc: Final = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="the probe reads /proc/self/status (Linux)"
)

_MEMORY_CASES: Final[dict[str, Script]] = {
    "endless-chunked": endless_chunked,
    "gzip-bomb": bomb_script("gzip"),
    "deflate-bomb": bomb_script("raw", chunked=True),
    "200mb-content-length": big_body(declared=True),
    "200mb-until-close": big_body(declared=False),
}


@_needs_proc
@pytest.mark.parametrize("case", list(_MEMORY_CASES))
def test_peak_memory_growth_stays_under_10_mb(case: str) -> None:
    result = _probe(_MEMORY_CASES[case])
    assert result["kind"] == result["again_kind"] == "too_large", result
    for measure in ("growth_kib", "traced_peak_kib"):
        kib = result[measure]
        assert isinstance(kib, int)
        assert kib < _GROWTH_LIMIT_KIB, result


@_needs_proc
def test_the_memory_probe_sees_growth() -> None:
    """The control: a 64 MiB body read whole (a request without limits) shows as >= 64 MiB."""
    result = _probe(big_body(declared=True, size=64 * MIB), limited=False)
    assert result["kind"] is None, result
    assert result["body_bytes"] == 64 * MIB
    for measure in ("growth_kib", "traced_peak_kib"):
        kib = result[measure]
        assert isinstance(kib, int)
        assert kib >= 64 * 1024, result


# -- end to end: ApiClient -------------------------------------------------------------------


def _client(server: HostileServer, limits: Limits) -> ApiClient:
    return ApiClient(
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials(
            o_auth_client_id="client", o_auth_client_secret="secret"
        ),
        token_url=server.url + "/oauth/token",
        base_url=server.url,
        token_request_limits=limits,
    )


def test_a_gzip_bomb_from_the_token_endpoint_is_a_token_response_error() -> None:
    with (
        HostileServer(bomb_script("gzip")) as server,
        _client(server, TOKEN_REQUEST_LIMITS) as client,
    ):
        with pytest.raises(TokenResponseError, match="too large") as raised:
            client.request("GET", "/api/orders")
        paths = [path for _, path in server.requests()]
    assert isinstance(raised.value.failure, TransportFailure)
    assert raised.value.failure.kind == TransportFailureKind.TOO_LARGE
    assert paths == ["/oauth/token"]  # no API request without a token


def test_a_dripping_token_endpoint_times_out_within_the_token_request_limits() -> None:
    limits = Limits(connect_timeout=1.0, read_timeout=5.0, total_timeout=1.0, max_body_bytes=MIB)
    with HostileServer(_DRIPS["body"]) as server, _client(server, limits) as client:
        started = time.monotonic()
        with pytest.raises(TokenEndpointUnreachable) as raised:
            client.auth_manager.fetch_token()
        seconds = time.monotonic() - started
    assert raised.value.kind == TransportFailureKind.TIMEOUT
    assert 0.9 <= seconds < 1.6, seconds


def test_the_default_token_limits_are_a_mebibyte_and_thirty_seconds() -> None:
    assert (
        Limits(connect_timeout=5.0, read_timeout=15.0, total_timeout=30.0, max_body_bytes=MIB)
        == TOKEN_REQUEST_LIMITS
    )


# -- helpers' own bounds -------------------------------------------------------------------------


def test_a_stopped_server_ends_its_endless_scripts() -> None:
    """The hostile server's endless loops end when it stops, even with a client that stalls."""
    server = HostileServer(endless_chunked).__enter__()
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=2) as stalled:
        stalled.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert stalled.recv(10)
        started = time.monotonic()
        server.__exit__(None, None, None)  # its script is blocked on a client that reads no more
        assert time.monotonic() - started < 1.0
