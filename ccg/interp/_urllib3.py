"""`Urllib3Transport`: the transport over urllib3, and the only module that imports it.

Routing. `PoolManager.request` parses the URL, builds a pool key out of a dozen
settings and re-creates a `Retry` on every call, though none of that changes
between two requests to the same URL. For a plain `PoolManager` the transport
remembers, per URL, the pool key and the request target (a bounded dict), and each
request asks the manager for that key's pool (`connection_from_pool_key`, as
`PoolManager.urlopen` itself does in the end: the manager still evicts, re-creates
and counts its pools) and calls the pool's `urlopen` with the arguments
`PoolManager` would give it. A URL whose remembered key would not give the pool
urllib3 itself picks (checked once per URL), and anything that is not a plain
`PoolManager` (a `ProxyManager`, a subclass), keeps urllib3's routing. The tests
run over the oldest and the newest urllib3 the project allows
(tests/integration/test_urllib3_versions.py runs them on 2.2.0).

Limits. A request with `limits` is streamed: the body is read in small pieces,
decompressed by ccg within the size limit (`_body.py`), and abandoned (connection
closed) at the first byte past it; a declared Content-Length over the limit is
refused before any of the body is read. The total deadline is kept by a watchdog
thread (one per process, started on first use) that shuts the request's socket down
when the deadline passes: a read blocked on a server that drips one byte at a time
(each byte would restart a socket timeout), or kept busy inside http.client (endless
`100 Continue` replies, endless chunk trailers), then ends at once, and the request
fails with `TIMEOUT`. The socket is watched from the moment it exists (connect, TLS
handshake, headers) when the transport built the `PoolManager` itself: its pools
make connections that tell the watchdog. With a `pool_manager` of yours it is watched
from the body on; before that each socket read waits at most the time left when the
reply was first awaited (urllib3's `Timeout(total=...)`), but a server that keeps
dripping the status line and headers can hold the request longer.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import math
import os
import socket
import sys
import threading
import time
import zlib
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Final, Self

import urllib3
from returns.result import Failure, Result, Success
from urllib3 import exceptions as errors
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool, port_by_scheme
from urllib3.poolmanager import PoolKey
from urllib3.response import HTTPResponse
from urllib3.util import Retry, parse_url

from ccg._errors import ConfigurationError
from ccg.core import HttpReply, HttpRequest, Limits, TransportFailure, TransportFailureKind
from ccg.interp._body import BodyTooLarge, BoundedBody, UnsupportedEncoding
from ccg.interp._proxy import note_ignored_proxy_variables, proxy_settings

__all__ = ["DEFAULT_CONNECT_TIMEOUT", "DEFAULT_READ_TIMEOUT", "Urllib3Transport"]

DEFAULT_CONNECT_TIMEOUT: Final = 5.0
DEFAULT_READ_TIMEOUT: Final = 30.0
_READ_PIECE: Final = 64 * 1024
"""Bytes of a limited body read (still compressed) between two looks at its size and time."""
_MAX_ALARMS: Final = 1024
"""Alarms the watchdog holds before it drops the disarmed ones early (they go at their
deadline otherwise)."""
_MAX_ROUTES: Final = 256
"""URLs whose route is remembered; past that the memory starts afresh (a client that calls
ever-new URLs, ids in the path, must not grow it without bound)."""

# `Retry.from_int(False, redirect=False)`, what urllib3 builds per call from `retries=False,
# redirect=False`: no retries, redirects returned as replies. A Retry is never mutated
# (increment() returns a new one), so one instance serves every request and thread.
_NO_RETRIES: Final = Retry(total=False, redirect=False)

_Route = tuple[PoolKey, dict[str, Any], str]
"""A URL's pool key, the request context urllib3 makes its pool from, and the request
target (path and query)."""


def _pool_route(manager: urllib3.PoolManager, url: str) -> _Route | None:
    """`url`'s route, built as `PoolManager.connection_from_host` builds it, or None.

    None, and urllib3 routes that URL as usual, when the URL has no scheme (urllib3 warns
    about those, so it shall) or when the key made here does not lead to the pool urllib3
    chose itself (a urllib3 that keys its pools differently).
    """
    parts = parse_url(url)
    if parts.scheme is None or parts.host is None:
        return None
    chosen = manager.connection_from_host(parts.host, port=parts.port, scheme=parts.scheme)
    context = dict(manager.connection_pool_kw)
    scheme = parts.scheme.lower()
    context.update(
        scheme=parts.scheme,
        host=parts.host,
        port=parts.port if parts.port is not None else port_by_scheme.get(scheme, 80),
    )
    key = manager.key_fn_by_scheme[scheme](context)  # a scheme without one raised above
    if manager.connection_from_pool_key(key, request_context=dict(context)) is not chosen:
        return None
    return key, context, parts.request_uri


def _kind(exc: errors.HTTPError) -> TransportFailureKind:
    """The failure kind of a urllib3 error (order matters: urllib3 2.x makes
    `NewConnectionError` a subclass of `ConnectTimeoutError`)."""
    if isinstance(exc, errors.MaxRetryError) and isinstance(exc.reason, errors.HTTPError):
        return _kind(exc.reason)
    if isinstance(exc, errors.NewConnectionError | errors.ProxyError):
        return TransportFailureKind.CONNECT
    if isinstance(exc, errors.TimeoutError):
        return TransportFailureKind.TIMEOUT
    if isinstance(exc, errors.SSLError):
        return TransportFailureKind.TLS
    if isinstance(
        exc,
        # InvalidHeader: urllib3 raises it for a reply's headers (Content-Length) only.
        errors.ProtocolError | errors.DecodeError | errors.ResponseError | errors.InvalidHeader,
    ):
        return TransportFailureKind.PROTOCOL
    return TransportFailureKind.OTHER


def _account(exc: errors.HTTPError) -> str:
    """`Type: message` of `exc`, unless the message quotes a reply that mentions an
    access token (http.client quotes a bad status line whole: a bare JSON token)."""
    text = f"{type(exc).__name__}: {exc}"
    if "access_token" in text:
        return f"{type(exc).__name__}: <withheld: it quotes a reply that mentions an access_token>"
    return text


def _failure(kind: TransportFailureKind, reason: str) -> Failure[TransportFailure]:
    return Failure(TransportFailure(kind=kind, reason=reason))


def _overdue(total: float) -> Failure[TransportFailure]:
    return _failure(TransportFailureKind.TIMEOUT, f"no complete reply within the total {total} s")


class _Overdue(Exception):
    """The total deadline passed while reading the body."""


# -- the deadline watchdog ------------------------------------------------------------------


class _Alarm:
    """Shuts a connection's socket down at a deadline, unless disarmed first.

    It holds a duplicate of the socket's descriptor: shutdown() acts on the connection
    whatever object reads it (a TLS wrapper made later, http.client's file), the
    connection's own descriptor may be closed and reused meanwhile without the alarm
    ever touching another socket, and the duplicate is closed when the alarm fires or
    is disarmed. It is a plain descriptor until it fires: a socket object for it would
    cost each request more than the rest of the alarm.
    """

    __slots__ = ("_fd", "_lock", "fired")

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd
        self._lock = threading.Lock()
        self.fired = False
        """Whether the deadline passed and the socket was shut down."""

    @property
    def live(self) -> bool:
        """Neither fired nor disarmed yet."""
        return self._fd is not None

    def fire(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, None
            if fd is None:
                return
            self.fired = True
        try:
            sock = socket.socket(fileno=fd)
        except OSError:  # not a socket after all: nothing to shut down
            os.close(fd)
            return
        with sock, contextlib.suppress(OSError):  # OSError: the peer closed it already
            sock.shutdown(socket.SHUT_RDWR)

    def disarm(self) -> bool:
        """Stop the alarm (if it has not fired); whether it had fired."""
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
        return self.fired

    def abandon(self) -> None:
        """Close the duplicate without touching the connection (in a forked child)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


class _Watchdog:
    """One daemon thread that fires the alarms of limited requests at their deadlines."""

    def __init__(self) -> None:
        self._forget()
        if sys.platform != "win32":  # no fork() there
            os.register_at_fork(after_in_child=self._forget_in_child)

    def _forget(self) -> None:
        self._cond = threading.Condition()
        self._due: list[tuple[float, int, _Alarm]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        # When the thread will wake by itself (inf: only when told). An alarm due later
        # needs no wake-up: the thread sleeps until the earliest live alarm, which is due
        # before it, so each request need not cost a thread switch.
        self._wakes_at = math.inf

    def _forget_in_child(self) -> None:
        # The parent's thread is not in the child, and its lock may be held there.
        for _deadline, _order, alarm in self._due:
            alarm.abandon()
        self._forget()

    def arm(self, deadline: float, fd: int) -> _Alarm | None:
        """An alarm that shuts socket `fd` down at `deadline` (monotonic); None if `fd`
        cannot be duplicated."""
        try:
            duplicate = os.dup(fd)  # Windows cannot duplicate a socket this way: unwatched
        except OSError:
            return None
        alarm = _Alarm(duplicate)
        with self._cond:
            due = self._due
            if len(due) >= _MAX_ALARMS:
                due[:] = [entry for entry in due if entry[2].live]
                heapq.heapify(due)
            heapq.heappush(due, (deadline, next(self._order), alarm))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ccg-deadlines", daemon=True)
                self._thread.start()
            elif deadline < self._wakes_at:
                self._cond.notify()  # sooner than the thread would wake
        return alarm

    def _run(self) -> None:
        while True:
            with self._cond:
                alarm = self._next_due()
            alarm.fire()

    def _next_due(self) -> _Alarm:
        due = self._due
        while True:
            if not due:
                self._wakes_at = math.inf
                self._cond.wait()
                continue
            deadline, _order, alarm = due[0]
            if not alarm.live:
                # Dropped now, not at its deadline: under a steady stream of requests the
                # thread would otherwise wake once for each of them, half a minute later.
                heapq.heappop(due)
                continue
            wait = deadline - time.monotonic()
            if wait <= 0:
                heapq.heappop(due)
                return alarm
            self._wakes_at = deadline
            self._cond.wait(wait)


_WATCHDOG: Final = _Watchdog()


class _Watch:
    """The deadline of one limited request, enforced once its socket is known."""

    __slots__ = ("_alarm", "deadline")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self._alarm: _Alarm | None = None

    def socket(self, fd: int) -> None:
        """Watch socket `fd`, unless a socket is watched already."""
        if self._alarm is None:
            self._alarm = _WATCHDOG.arm(self.deadline, fd)

    def socket_of(self, response: urllib3.BaseHTTPResponse) -> None:
        """Watch the socket `response` is read from, if there is one and none is watched."""
        if self._alarm is None:
            try:
                fd = response.fileno()
            except (OSError, AttributeError, ValueError):  # no body left to read
                return
            self.socket(fd)

    def end(self) -> bool:
        """Stop watching; whether the deadline passed and the socket was shut down."""
        return self._alarm is not None and self._alarm.disarm()


class _Watching(threading.local):
    """The limited request this thread is sending, for its connection to report its socket to."""

    request: _Watch | None = None


_WATCHING: Final = _Watching()


def _watch(sock: socket.socket | None) -> None:
    watch = _WATCHING.request
    if watch is not None and sock is not None:
        watch.socket(sock.fileno())


class _WatchedHTTPConnection(HTTPConnection):
    """urllib3's connection, whose socket a limited request of this thread watches from its
    creation (connect) or, reused, from the request on."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch(sock)
        return sock

    def getresponse(self) -> HTTPResponse:  # type: ignore[override]  # as urllib3's
        _watch(self.sock)
        return super().getresponse()


class _WatchedHTTPSConnection(_WatchedHTTPConnection, HTTPSConnection):
    """`_WatchedHTTPConnection` over TLS (its `super()` is then HTTPSConnection): the
    handshake is watched too."""


# pyright finds urllib3's own connection classes unfit for these (a Final class attribute
# against the protocol's mutable one); mypy, which urllib3 is checked with, accepts them.
class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection  # pyright: ignore[reportAssignmentType]


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection  # pyright: ignore[reportAssignmentType]


_WATCHED_POOLS: Final[dict[str, type[HTTPConnectionPool] | type[HTTPSConnectionPool]]] = {
    "http": _WatchedHTTPPool,
    "https": _WatchedHTTPSPool,
}


def _read_bounded(response: urllib3.BaseHTTPResponse, body: BoundedBody, watch: _Watch) -> bytes:
    """The body of `response`, decompressed by `body` within its limit and `watch`'s deadline."""
    # read(), not read1(): a body of 1-byte chunks costs a Python round per chunk with
    # read1. The watchdog ends a read that waits or loops past the deadline; the check
    # below, one whose bytes keep flowing.
    while piece := response.read(_READ_PIECE, decode_content=False):
        body.add(piece)
        if time.monotonic() > watch.deadline:
            raise _Overdue
        if response.length_remaining == 0:
            break  # the whole declared body: no read for the end of it
    return body.finish()


class Urllib3Transport:
    """Sends requests through one shared, thread-safe `urllib3.PoolManager`.

    TLS certificates are verified; redirects and urllib3's own retries are off
    (retry policy belongs to the caller). `proxy_url` sends every request through
    that HTTP(S) proxy (https targets through a CONNECT tunnel, so TLS stays end to
    end); credentials in it become a `Proxy-Authorization` header. Proxy environment
    variables are not read (see `ccg.interp._proxy`). Pass `pool_manager` to bring
    your own (client certificates for mTLS, custom CA bundles). `connect_timeout` and
    `read_timeout` bound every request; a request's `limits` may only make them stricter,
    and add a total deadline and a body limit (requests without limits read the whole body).
    """

    def __init__(
        self,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        maxsize: int = 10,
        pool_manager: urllib3.PoolManager | None = None,
        proxy_url: str | None = None,
        proxy_headers: Mapping[str, str] | None = None,
    ) -> None:
        self._timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._timeouts: dict[Limits, urllib3.Timeout] = {}
        if pool_manager is not None and (proxy_url is not None or proxy_headers is not None):
            raise ConfigurationError(
                "proxy_url", "give either a pool_manager or a proxy_url, not both"
            )
        if pool_manager is None:
            if proxy_url is None:
                if proxy_headers is not None:
                    raise ConfigurationError("proxy_headers", "given without a proxy_url")
                note_ignored_proxy_variables()
                pool_manager = urllib3.PoolManager(
                    maxsize=maxsize, cert_reqs="CERT_REQUIRED", retries=False
                )
            else:
                url, headers = proxy_settings(proxy_url, proxy_headers)
                pool_manager = urllib3.ProxyManager(
                    url,
                    proxy_headers=headers,
                    maxsize=maxsize,
                    cert_reqs="CERT_REQUIRED",
                    retries=False,
                )
            # Pools whose connections report their sockets to a limited request's watch.
            pool_manager.pool_classes_by_scheme = dict(_WATCHED_POOLS)
        self._pool = pool_manager
        # Exactly PoolManager: a subclass may route differently (ProxyManager does).
        # Values are 1-tuples so that "left to urllib3" (None) differs from "not seen yet".
        self._routes: dict[str, tuple[_Route | None]] | None = (
            {} if type(self._pool) is urllib3.PoolManager else None
        )
        self._seen_once: set[str] = set()  # URLs requested once, whose route is not known yet

    def send(self, request: HttpRequest, /) -> Result[HttpReply, TransportFailure]:
        """Send `request` and read the whole reply, within `request.limits` if set."""
        limits = request.limits
        if limits is not None:
            return self._send_limited(request, limits)
        try:
            response = self._urlopen(request, self._timeout, preload=True)
        except errors.HTTPError as exc:
            return _failure(_kind(exc), _account(exc))
        return Success(
            HttpReply(
                status=response.status,
                # iteritems(): tuple(items()) would walk urllib3's header view twice.
                headers=tuple(response.headers.iteritems()),
                body=response.data,
            )
        )

    def _send_limited(
        self, request: HttpRequest, limits: Limits
    ) -> Result[HttpReply, TransportFailure]:
        total = limits.total_timeout
        watch = _Watch(time.monotonic() + total)
        timeout = self._timeouts.get(limits)
        if timeout is None:
            # The request's limits and the transport's own timeouts both apply: the stricter
            # wins. A Timeout is never changed by urllib3 (it clones it), so one per Limits
            # serves every request; nearly all requests carry the same few Limits.
            timeout = urllib3.Timeout(
                connect=min(limits.connect_timeout, self._connect_timeout, total),
                read=min(limits.read_timeout, self._read_timeout, total),
                total=total,
            )
            if len(self._timeouts) >= _MAX_ROUTES:
                self._timeouts.clear()
            self._timeouts[limits] = timeout
        outer, _WATCHING.request = _WATCHING.request, watch
        try:
            response = self._urlopen(request, timeout, preload=False)
            watch.socket_of(response)  # unless its connection reported it already
            return self._read_limited(response, limits.max_body_bytes, watch)
        except errors.HTTPError as exc:
            if watch.end():  # the failure is the watchdog's shutdown
                return _overdue(total)
            return _failure(_kind(exc), _account(exc))
        except _Overdue:
            return _overdue(total)
        finally:
            _WATCHING.request = outer
            watch.end()

    @staticmethod
    def _read_limited(
        response: urllib3.BaseHTTPResponse, size: int | None, watch: _Watch
    ) -> Result[HttpReply, TransportFailure]:
        """Read `response`'s body within `size` bytes (decompressed) and `watch`'s deadline.

        `_Overdue` or a urllib3 error out; the connection goes back to the pool only
        after a whole body was read in time, closed otherwise.
        """
        clean = False
        try:
            headers = response.headers
            encoding = headers.get("Content-Encoding")
            declared = headers.get("Content-Length", "")
            if encoding is None and declared.isdigit():
                # The usual token reply: plain, its length declared. One read of that many
                # bytes; no decoder to run.
                length = int(declared)
                if size is not None and length > size:
                    return _failure(
                        TransportFailureKind.TOO_LARGE,
                        f"reply declares {declared} bytes, over the limit of {size}",
                    )
                data = response.read(length, decode_content=False)
                if len(data) != length and not watch.end():
                    return _failure(
                        TransportFailureKind.PROTOCOL,
                        f"reply body cut short: {len(data)} of {length} bytes",
                    )
            else:
                data = _read_bounded(response, BoundedBody(size, encoding), watch)
            if watch.end():  # the body ended because the watchdog shut the socket down
                raise _Overdue
            reply = HttpReply(status=response.status, headers=tuple(headers.iteritems()), body=data)
            clean = True
            return Success(reply)
        except BodyTooLarge as exc:
            return _failure(TransportFailureKind.TOO_LARGE, f"{exc}; the rest was not read")
        except UnsupportedEncoding as exc:
            return _failure(TransportFailureKind.PROTOCOL, str(exc))
        except zlib.error as exc:
            return _failure(TransportFailureKind.PROTOCOL, f"undecodable compressed body: {exc}")
        finally:
            if not clean:
                response.close()  # unread bytes would poison the connection for its next use
            response.release_conn()

    def _urlopen(
        self, request: HttpRequest, timeout: urllib3.Timeout, *, preload: bool
    ) -> urllib3.BaseHTTPResponse:
        routes, url = self._routes, request.url
        if routes is None:
            route = None
        else:
            # One get(), no `in` then `[]`: another thread may clear the dict in between.
            remembered = routes.get(url)
            if remembered is not None:
                route = remembered[0]
            elif url in self._seen_once:
                remembered = (_pool_route(self._pool, url),)
                if len(routes) >= _MAX_ROUTES:
                    routes.clear()
                routes[url] = remembered
                route = remembered[0]
            else:
                # A first request to a URL goes through urllib3's routing: working its route
                # out pays off from the second one (and a URL called once never pays).
                if len(self._seen_once) >= _MAX_ROUTES:
                    self._seen_once.clear()
                self._seen_once.add(url)
                route = None
        if route is None:
            return self._pool.request(
                request.method,
                url,
                body=request.body or None,
                headers=dict(request.headers),
                redirect=False,
                retries=False,
                timeout=timeout,
                preload_content=preload,
                decode_content=preload,
            )
        key, context, target = route
        # What PoolManager.request -> urlopen hands the pool, minus the work per call.
        # The context is copied: urllib3 consumes it when it has to make a new pool.
        pool = self._pool.connection_from_pool_key(key, request_context=dict(context))
        return pool.urlopen(
            request.method.upper(),
            target,
            body=request.body or None,
            headers=dict(request.headers),
            retries=_NO_RETRIES,
            redirect=False,
            assert_same_host=False,
            timeout=timeout,
            preload_content=preload,
            decode_content=preload,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close every pool of the `PoolManager` (yours too, if you passed one) and forget them.

        `PoolManager.clear()` alone only forgets them (urllib3 2.x): their idle sockets
        would stay open until garbage collection. A request still in flight finishes; its
        connection is closed when it comes back.
        """
        pools = self._pool.pools
        for key in pools.keys():  # noqa: SIM118 - the container is not iterable
            pool = pools.get(key)
            if pool is not None:
                pool.close()
        self._pool.clear()
