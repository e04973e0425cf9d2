"""`Urllib3Transport`: the transport over urllib3, and the only module that imports it."""

from __future__ import annotations

from typing import Final

import urllib3
from returns.result import Failure, Result, Success

from ccg.core import HttpReply, HttpRequest, TransportFailure

__all__ = ["DEFAULT_CONNECT_TIMEOUT", "DEFAULT_READ_TIMEOUT", "Urllib3Transport"]

DEFAULT_CONNECT_TIMEOUT: Final = 5.0
DEFAULT_READ_TIMEOUT: Final = 30.0


class Urllib3Transport:
    """Sends requests through one shared, thread-safe `urllib3.PoolManager`.

    TLS certificates are verified; redirects and urllib3's own retries are off
    (retry policy belongs to the caller). Pass `pool_manager` to bring your own
    (proxies, client certificates for mTLS, custom CA bundles).
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

    def send(self, request: HttpRequest, /) -> Result[HttpReply, TransportFailure]:
        """Send `request` and read the whole reply."""
        try:
            response = self._pool.request(
                request.method,
                request.url,
                body=request.body or None,
                headers=dict(request.headers),
                redirect=False,
                retries=False,
                timeout=self._timeout,
                preload_content=True,
            )
        except urllib3.exceptions.HTTPError as exc:
            return Failure(TransportFailure(reason=f"{type(exc).__name__}: {exc}"))
        return Success(
            HttpReply(
                status=response.status,
                # iteritems(): tuple(items()) walks urllib3's header view twice (4x slower).
                headers=tuple(response.headers.iteritems()),
                body=response.data,
            )
        )

    def close(self) -> None:
        """Close every pooled connection."""
        self._pool.clear()
