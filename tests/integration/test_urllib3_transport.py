"""`Urllib3Transport`'s own routing of a plain PoolManager, against real sockets on 127.0.0.1.

The transport remembers each URL's connection pool and request target and calls the
pool directly (ccg/interp/_urllib3.py). These tests hold it to what urllib3's own
`PoolManager.request` does: the same bytes on the wire, pools that urllib3 closed are
looked up again, a subclass (ProxyManager) keeps urllib3's routing. They run on the
urllib3 in the environment (the newest the project allows) and, through
test_urllib3_versions.py, on the oldest (2.2.0).

White-box in one place: some tests read the transport's route memory (`_routes`, and
`_seen_once` for URLs requested once, whose route is worked out on their second request).
"""
# pyright: reportPrivateUsage=false

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
import urllib3
from returns.pipeline import is_successful
from urllib3.connectionpool import HTTPConnectionPool

from ccg import HttpReply, HttpRequest, Urllib3Transport
from ccg.core import TOKEN_REQUEST_LIMITS, TransportFailureKind
from ccg.interp import _urllib3
from tests.integration._support import RecordingServer

_REPLY = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
    b"Connection: close\r\n\r\nok"
)


class ByteRecorder:
    """A socket server that keeps each request's exact bytes and answers `200 ok`."""

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(5.0)
        self._lock = threading.Lock()
        self.received: list[bytes] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._stopping = False
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def _serve(self) -> None:
        while not self._stopping:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5.0)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                while len(body) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    body += chunk
                with self._lock:
                    self.received.append(head + b"\r\n\r\n" + body)
                conn.sendall(_REPLY)

    def close(self) -> None:
        self._stopping = True
        # shutdown() wakes the accept() blocked in the server thread; close() alone does not.
        self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(5.0)


@pytest.fixture
def wire() -> Iterator[ByteRecorder]:
    recorder = ByteRecorder()
    try:
        yield recorder
    finally:
        recorder.close()


class UrllibRouted(urllib3.PoolManager):
    """A PoolManager subclass: the transport leaves its routing to urllib3."""


def _pool_manager() -> urllib3.PoolManager:
    return urllib3.PoolManager(maxsize=10, cert_reqs="CERT_REQUIRED", retries=False)


def _ok(transport: Urllib3Transport, request: HttpRequest) -> HttpReply:
    sent = transport.send(request)
    assert is_successful(sent), sent
    return sent.unwrap()


@pytest.mark.integration
@pytest.mark.parametrize(
    ("method", "path", "headers", "body"),
    [
        ("GET", "/api", (("Authorization", "Bearer t"),), b""),
        ("get", "/a/b?x=1&y=%20z", (("Accept", "application/json"),), b""),
        (
            "POST",
            "/oauth/token",
            (("Content-Type", "application/x-www-form-urlencoded"),),
            b"grant_type=client_credentials",
        ),
        ("delete", "/items/%C3%A9?", (), b""),
        ("PUT", "/p;matrix=1?q=a/b", (("X-Two", "1"), ("x-three", "3")), b"{}"),
        ("GET", "/ünïcode path", (), b""),
    ],
    ids=["get", "lowercase-query", "post-form", "escaped-empty-query", "put-params", "unicode"],
)
@pytest.mark.parametrize("limited", [False, True], ids=["api", "token"])
def test_routed_request_is_byte_identical_to_urllib3_routing(
    wire: ByteRecorder,
    method: str,
    path: str,
    headers: tuple[tuple[str, str], ...],
    body: bytes,
    limited: bool,
) -> None:
    """Your plain PoolManager and the transport's own (its connections watched) alike."""
    limits = TOKEN_REQUEST_LIMITS if limited else None
    request = HttpRequest(
        method=method, url=wire.url + path, headers=headers, body=body, limits=limits
    )
    routed = Urllib3Transport(pool_manager=_pool_manager())
    own = Urllib3Transport()
    by_urllib3 = Urllib3Transport(pool_manager=UrllibRouted(cert_reqs="CERT_REQUIRED"))

    # Twice each for ccg's transports: a URL's route is worked out on its second request.
    for transport in (routed, routed, own, own, by_urllib3):
        assert _ok(transport, request).body == b"ok"

    mine_first, mine, own_first, own_bytes, theirs = wire.received
    assert routed._routes is not None
    assert own._routes is not None
    assert routed._routes[request.url][0] is not None  # the second request was routed by ccg
    assert own._routes[request.url][0] is not None
    assert mine == own_bytes == theirs == mine_first == own_first
    assert mine.startswith(method.upper().encode() + b" ")


@pytest.mark.integration
def test_the_default_pool_manager_is_routed_by_ccg() -> None:
    assert Urllib3Transport()._routes is not None
    assert Urllib3Transport(pool_manager=UrllibRouted())._routes is None
    assert Urllib3Transport(pool_manager=urllib3.ProxyManager("http://127.0.0.1:9"))._routes is None


@pytest.mark.integration
def test_the_manager_still_evicts_and_recreates_its_pools() -> None:
    """num_pools=1: every switch of origin evicts the other origin's pool, as in urllib3."""
    manager = urllib3.PoolManager(num_pools=1, retries=False)
    transport = Urllib3Transport(pool_manager=manager)
    with RecordingServer() as first, RecordingServer() as second:
        seen: list[HTTPConnectionPool] = []
        for server in (first, second, first, second, first):
            reply = _ok(transport, HttpRequest(method="GET", url=f"{server.url}/ping"))
            assert reply.status == 200
            assert len(manager.pools) == 1
            seen.append(manager.connection_from_url(server.url))
        assert [r.path for r in first.requests()] == ["/ping"] * 3
        assert [r.path for r in second.requests()] == ["/ping"] * 2
    assert len({id(pool) for pool in seen}) == 5  # a new pool after every eviction


@pytest.mark.integration
def test_requests_share_the_pool_urllib3_would_use(recorder: RecordingServer) -> None:
    manager = _pool_manager()
    transport = Urllib3Transport(pool_manager=manager)
    for path in ("/a", "/b?x=1", "/a", "/b?x=1"):  # a route is worked out on a second request
        assert _ok(transport, HttpRequest(method="GET", url=recorder.url + path)).status == 200
    assert len(manager.pools) == 1
    urllib3_pool = manager.connection_from_url(recorder.url + "/c")
    assert transport._routes is not None
    assert len(transport._routes) == 2
    for (route,) in transport._routes.values():
        assert route is not None
        key, _context, _target = route
        assert manager.connection_from_pool_key(key, request_context={}) is urllib3_pool


@pytest.mark.integration
def test_close_closes_the_pools_and_sending_again_opens_new_ones(
    recorder: RecordingServer,
) -> None:
    manager = _pool_manager()
    transport = Urllib3Transport(pool_manager=manager)
    request = HttpRequest(method="GET", url=f"{recorder.url}/again")
    assert _ok(transport, request).status == 200
    before = manager.connection_from_url(request.url)

    transport.close()

    assert before.pool is None
    assert len(manager.pools) == 0
    assert _ok(transport, request).status == 200
    assert manager.connection_from_url(request.url) is not before
    assert len(recorder.requests()) == 2


@pytest.mark.integration
def test_a_pool_closed_outside_the_manager_fails_as_it_does_in_urllib3(
    recorder: RecordingServer,
) -> None:
    """Closing a pool the manager still holds breaks urllib3's own routing the same way."""
    manager = _pool_manager()
    transport = Urllib3Transport(pool_manager=manager)
    request = HttpRequest(method="GET", url=f"{recorder.url}/closed")
    assert _ok(transport, request).status == 200
    manager.connection_from_url(request.url).close()

    sent = transport.send(request)

    assert not is_successful(sent)
    assert sent.failure().kind == TransportFailureKind.OTHER
    assert sent.failure().reason.startswith("ClosedPoolError")
    with pytest.raises(urllib3.exceptions.ClosedPoolError):
        manager.request("GET", request.url)
    assert len(recorder.requests()) == 1


@pytest.mark.integration
def test_remembered_routes_are_bounded(
    recorder: RecordingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_urllib3, "_MAX_ROUTES", 4)
    transport = Urllib3Transport()
    for n in range(10):
        for _ in range(2):  # a route is worked out on a second request
            sent = HttpRequest(method="GET", url=f"{recorder.url}/{n}")
            assert _ok(transport, sent).status == 200
        assert transport._routes is not None
        assert 1 <= len(transport._routes) <= 4
        assert len(transport._seen_once) <= 4
    assert [r.path for r in recorder.requests()] == [f"/{n}" for n in range(10) for _ in "ab"]


@pytest.mark.integration
def test_a_proxy_manager_gets_absolute_form_requests(recorder: RecordingServer) -> None:
    """A ProxyManager keeps urllib3's routing: the proxy sees the absolute URL."""
    transport = Urllib3Transport(pool_manager=urllib3.ProxyManager(recorder.url, retries=False))

    reply = _ok(transport, HttpRequest(method="GET", url="http://api.example/v1/orders?x=1"))

    assert reply.status == 200
    [seen] = recorder.requests()
    assert seen.path == "http://api.example/v1/orders?x=1"
    assert seen.header_values("Host") == ["api.example"]


@pytest.mark.integration
@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("http://", "LocationValueError"),
        ("ftp://127.0.0.1/x", "URLSchemeUnknown"),
        ("http://[::1/x", "LocationParseError"),
    ],
)
@pytest.mark.parametrize("limited", [False, True], ids=["api", "token"])
def test_an_unroutable_url_is_a_transport_failure(url: str, error: str, limited: bool) -> None:
    limits = TOKEN_REQUEST_LIMITS if limited else None
    sent = Urllib3Transport().send(HttpRequest(method="GET", url=url, limits=limits))
    assert not is_successful(sent)
    assert sent.failure().kind == TransportFailureKind.OTHER
    assert sent.failure().reason.startswith(error)


@pytest.mark.integration
def test_a_url_whose_key_misses_urllib3s_pool_is_left_to_urllib3() -> None:
    """If the remembered key would not find the pool urllib3 picks, urllib3 routes it."""
    manager = _pool_manager()
    with RecordingServer() as asked, RecordingServer() as chosen_by_urllib3:
        elsewhere = HTTPConnectionPool("127.0.0.1", int(chosen_by_urllib3.url.rsplit(":", 1)[1]))

        def choose_elsewhere(*_args: object, **_kwargs: object) -> HTTPConnectionPool:
            return elsewhere

        manager.connection_from_host = choose_elsewhere  # type: ignore[method-assign]
        transport = Urllib3Transport(pool_manager=manager)

        for _ in range(2):
            assert _ok(transport, HttpRequest(method="GET", url=f"{asked.url}/x")).status == 200

        assert transport._routes == {f"{asked.url}/x": (None,)}
        assert asked.requests() == []
        assert [r.path for r in chosen_by_urllib3.requests()] == ["/x", "/x"]


@pytest.mark.integration
def test_a_url_without_scheme_is_left_to_urllib3(recorder: RecordingServer) -> None:
    transport = Urllib3Transport()
    url = recorder.url.removeprefix("http://") + "/bare"
    # urllib3 2.2 warns with a DeprecationWarning, later ones with a FutureWarning.
    for _ in range(2):  # a route is worked out on a second request
        with pytest.warns((FutureWarning, DeprecationWarning), match="without a scheme"):
            reply = _ok(transport, HttpRequest(method="GET", url=url))
        assert reply.status == 200
    assert transport._routes == {url: (None,)}
