"""`HttpxAsyncTransport`: the asyncio transport, over an `httpx.AsyncClient` (`ccg[httpx]`).

The same contract as `Urllib3Transport`: TLS verified, no redirects, failures as
values with their `TransportFailureKind`, and for a request with `limits` the
stricter of its timeouts and the transport's, a total deadline (`asyncio.timeout`
around the whole exchange, so a dripping server cannot stretch it), and the body
read raw and decompressed by ccg within `max_body_bytes` (`BoundedBody`: a gzip
bomb costs at most the limit).
"""

from __future__ import annotations

import asyncio
import ssl
import weakref
import zlib
from typing import Final

import httpx
from returns.result import Failure, Result, Success

from ccg.core import HttpReply, HttpRequest, Limits, TransportFailure, TransportFailureKind
from ccg.interp._body import BodyTooLarge, BoundedBody, UnsupportedEncoding
from ccg.interp._urllib3 import DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT

__all__ = ["HttpxAsyncTransport"]

_ACCEPTED_CODINGS: Final = "gzip, deflate"  # what BoundedBody decodes


def _failure(kind: TransportFailureKind, reason: str) -> Failure[TransportFailure]:
    return Failure(TransportFailure(kind=kind, reason=reason))


def _kind(exc: httpx.HTTPError) -> TransportFailureKind:
    if isinstance(exc, httpx.TimeoutException):
        return TransportFailureKind.TIMEOUT
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLError | ssl.CertificateError):
            return TransportFailureKind.TLS
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, httpx.ConnectError | httpx.ProxyError):
        return TransportFailureKind.CONNECT
    if isinstance(exc, httpx.ProtocolError | httpx.ReadError | httpx.WriteError):
        return TransportFailureKind.PROTOCOL
    if isinstance(exc, httpx.DecodingError):
        return TransportFailureKind.PROTOCOL
    return TransportFailureKind.OTHER


class HttpxAsyncTransport:
    """Sends requests through one `httpx.AsyncClient` (its own, unless you pass one).

    Its own client verifies TLS, follows no redirects and ignores proxy environment
    variables (as `Urllib3Transport` does); pass `client` for proxies, mTLS or custom CAs
    (ccg still never follows a redirect). `aclose()` closes a client it made. At most
    `max_connections` requests are sent at once (also with a client of yours).
    """

    def __init__(
        self,
        *,
        client: httpx.AsyncClient | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        max_connections: int = 100,
    ) -> None:
        self._owned = client is None
        self._max_in_flight = max_connections
        # Requests past the pool's size wait here, not in httpcore's pool, whose bookkeeping
        # grows with the square of its queue (a herd of 1,000 starved the loop). One gate
        # per event loop: an asyncio.Semaphore belongs to the loop it is first used in.
        self._gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )
        self._client = client or httpx.AsyncClient(
            verify=True,
            follow_redirects=False,
            trust_env=False,
            limits=httpx.Limits(max_connections=max_connections),
        )
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._timeout = httpx.Timeout(
            connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout
        )
        self._timeouts: dict[Limits, httpx.Timeout] = {}

    def _gate(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        gate = self._gates.get(loop)
        if gate is None:
            gate = self._gates[loop] = asyncio.Semaphore(self._max_in_flight)
        return gate

    async def send(self, request: HttpRequest, /) -> Result[HttpReply, TransportFailure]:
        """Send `request` and read the whole reply, within `request.limits` if set.

        At most `max_connections` requests are in flight at once; the others wait their
        turn (a token request's total deadline counts from when it is sent)."""
        async with self._gate():
            return await self._send(request)

    async def _send(self, request: HttpRequest) -> Result[HttpReply, TransportFailure]:
        limits = request.limits
        headers = list(request.headers)
        if limits is not None and not any(k.lower() == "accept-encoding" for k, _ in headers):
            headers.append(("Accept-Encoding", _ACCEPTED_CODINGS))
        built = self._client.build_request(
            request.method,
            request.url,
            headers=headers,
            content=request.body or None,
            timeout=self._timeout if limits is None else self._limited(limits),
        )
        try:
            if limits is None:
                response = await self._client.send(built, follow_redirects=False)
                return Success(_reply(response, response.content))
            async with asyncio.timeout(limits.total_timeout):
                response = await self._client.send(built, stream=True, follow_redirects=False)
                try:
                    data = await _bounded(response, limits.max_body_bytes)
                finally:
                    await response.aclose()
            return Success(_reply(response, data))
        except TimeoutError:
            assert limits is not None
            return _failure(
                TransportFailureKind.TIMEOUT,
                f"no complete reply within the total {limits.total_timeout} s",
            )
        except BodyTooLarge as exc:
            return _failure(TransportFailureKind.TOO_LARGE, f"{exc}; the rest was not read")
        except UnsupportedEncoding as exc:
            return _failure(TransportFailureKind.PROTOCOL, str(exc))
        except zlib.error as exc:
            return _failure(TransportFailureKind.PROTOCOL, f"undecodable compressed body: {exc}")
        except httpx.HTTPError as exc:
            return _failure(_kind(exc), f"{type(exc).__name__}: {exc}")

    def _limited(self, limits: Limits) -> httpx.Timeout:
        """The stricter of the request's limits and the transport's own timeouts."""
        timeout = self._timeouts.get(limits)
        if timeout is None:
            total = limits.total_timeout
            connect = min(limits.connect_timeout, self._connect_timeout, total)
            read = min(limits.read_timeout, self._read_timeout, total)
            timeout = httpx.Timeout(connect=connect, read=read, write=read, pool=connect)
            if len(self._timeouts) >= 64:
                self._timeouts.clear()
            self._timeouts[limits] = timeout
        return timeout

    async def aclose(self) -> None:
        """Close the `AsyncClient` this transport made (not one passed in)."""
        if self._owned:
            await self._client.aclose()


async def _bounded(response: httpx.Response, limit: int | None) -> bytes:
    """The body of `response`, read raw and decompressed within `limit` bytes."""
    body = BoundedBody(limit, response.headers.get("Content-Encoding"))
    try:
        async for chunk in response.aiter_raw():
            body.add(chunk)
    except httpx.StreamConsumed:
        # The reply was read before it reached us (an httpx.MockTransport reply built
        # with `content=`): nothing left to bound but its size.
        data = response.content
        if limit is not None and len(data) > limit:
            raise BodyTooLarge(f"reply body passed {limit} bytes") from None
        return data
    return body.finish()


def _reply(response: httpx.Response, body: bytes) -> HttpReply:
    return HttpReply(
        status=response.status_code,
        # The raw names keep their case (multi_items() would lower them).
        headers=tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw),
        body=body,
    )
