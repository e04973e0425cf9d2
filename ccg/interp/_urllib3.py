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
run over the oldest and the newest urllib3 the project allows.

Limits. A request with `limits` is streamed: the body is read in small pieces,
each read waiting at most the time left before the total deadline, decompressed
by ccg within the size limit (`_body.py`), and abandoned (connection closed) at
the first byte past it.
"""

from __future__ import annotations

import time
import zlib
from typing import Any, Final

import urllib3
from returns.result import Failure, Result, Success
from urllib3 import exceptions as errors
from urllib3.connectionpool import port_by_scheme
from urllib3.poolmanager import PoolKey
from urllib3.util import Retry, parse_url

from ccg.core import HttpReply, HttpRequest, Limits, TransportFailure, TransportFailureKind
from ccg.interp._body import BodyTooLarge, BoundedBody, UnsupportedEncoding

__all__ = ["DEFAULT_CONNECT_TIMEOUT", "DEFAULT_READ_TIMEOUT", "Urllib3Transport"]

DEFAULT_CONNECT_TIMEOUT: Final = 5.0
DEFAULT_READ_TIMEOUT: Final = 30.0
_READ_PIECE: Final = 16 * 1024
"""Bytes asked of the socket per read of a limited body."""
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
    if isinstance(exc, errors.ProtocolError | errors.DecodeError | errors.ResponseError):
        return TransportFailureKind.PROTOCOL
    return TransportFailureKind.OTHER


def _failure(kind: TransportFailureKind, reason: str) -> Failure[TransportFailure]:
    return Failure(TransportFailure(kind=kind, reason=reason))


class _Overdue(Exception):
    """The total deadline passed while reading the body."""


class Urllib3Transport:
    """Sends requests through one shared, thread-safe `urllib3.PoolManager`.

    TLS certificates are verified; redirects and urllib3's own retries are off
    (retry policy belongs to the caller). Pass `pool_manager` to bring your own
    (proxies, client certificates for mTLS, custom CA bundles). Requests without
    `limits` use `connect_timeout` and `read_timeout` and read the whole body.
    """

    def __init__(
        self,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        maxsize: int = 10,
        pool_manager: urllib3.PoolManager | None = None,
    ) -> None:
        self._timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        self._pool = pool_manager or urllib3.PoolManager(
            maxsize=maxsize, cert_reqs="CERT_REQUIRED", retries=False
        )
        # Exactly PoolManager: a subclass may route differently (ProxyManager does).
        # Values are 1-tuples so that "left to urllib3" (None) differs from "not seen yet".
        self._routes: dict[str, tuple[_Route | None]] | None = (
            {} if type(self._pool) is urllib3.PoolManager else None
        )

    def send(self, request: HttpRequest, /) -> Result[HttpReply, TransportFailure]:
        """Send `request` and read the whole reply, within `request.limits` if set."""
        limits = request.limits
        try:
            if limits is not None:
                return self._send_limited(request, limits)
            response = self._urlopen(request, self._timeout, preload=True)
        except errors.HTTPError as exc:
            return _failure(_kind(exc), f"{type(exc).__name__}: {exc}")
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
        deadline = time.monotonic() + total
        timeout = urllib3.Timeout(
            connect=min(limits.connect_timeout, total),
            read=min(limits.read_timeout, total),
            total=total,
        )
        response = self._urlopen(request, timeout, preload=False)
        size = limits.max_body_bytes
        clean = False
        try:
            declared = response.headers.get("Content-Length", "")
            encoding = response.headers.get("Content-Encoding")
            if size is not None and declared.isdigit() and int(declared) > size and not encoding:
                return _failure(
                    TransportFailureKind.TOO_LARGE,
                    f"reply declares {declared} bytes, over the limit of {size}",
                )
            body = BoundedBody(size, encoding)
            while piece := self._read_piece(response, limits.read_timeout, deadline):
                body.add(piece)
            reply = HttpReply(
                status=response.status,
                headers=tuple(response.headers.iteritems()),
                body=body.finish(),
            )
            clean = True
            return Success(reply)
        except BodyTooLarge as exc:
            return _failure(TransportFailureKind.TOO_LARGE, f"{exc}; the rest was not read")
        except UnsupportedEncoding as exc:
            return _failure(TransportFailureKind.PROTOCOL, str(exc))
        except zlib.error as exc:
            return _failure(TransportFailureKind.PROTOCOL, f"undecodable compressed body: {exc}")
        except _Overdue:
            return _failure(
                TransportFailureKind.TIMEOUT, f"no complete reply within the total {total} s"
            )
        finally:
            if not clean:
                response.close()  # unread bytes would poison the connection for its next use
            response.release_conn()

    @staticmethod
    def _read_piece(
        response: urllib3.BaseHTTPResponse, read_timeout: float, deadline: float
    ) -> bytes:
        """The next bytes of the body (b"" at its end), waiting no later than `deadline`.

        Each read is one `read1` (at most one socket read for a plain body), with the
        socket's timeout cut to the time left, so a server dripping bytes cannot stretch
        the request past its deadline by restarting the read timeout.
        """
        left = deadline - time.monotonic()
        if left <= 0:
            raise _Overdue
        sock = getattr(response.connection, "sock", None)
        if sock is not None:
            sock.settimeout(min(read_timeout, left))
        try:
            return response.read1(_READ_PIECE, decode_content=False)
        except errors.ReadTimeoutError:
            if time.monotonic() >= deadline:
                raise _Overdue from None
            raise

    def _urlopen(
        self, request: HttpRequest, timeout: urllib3.Timeout, *, preload: bool
    ) -> urllib3.BaseHTTPResponse:
        routes, url = self._routes, request.url
        if routes is None:
            route = None
        else:
            # One get(), no `in` then `[]`: another thread may clear the dict in between.
            remembered = routes.get(url)
            if remembered is None:
                remembered = (_pool_route(self._pool, url),)
                if len(routes) >= _MAX_ROUTES:
                    routes.clear()
                routes[url] = remembered
            route = remembered[0]
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
