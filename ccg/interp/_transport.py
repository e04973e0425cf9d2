"""The transport port: the one thing an interpreter needs from an HTTP stack."""

from __future__ import annotations

from typing import Protocol

from returns.result import Result

from ccg.core import HttpReply, HttpRequest, TransportFailure

__all__ = ["AsyncTransport", "Transport"]


class Transport(Protocol):
    """Sends a complete request and reports what came back, as a value.

    A reply of any status is a `Success`; a request that got no usable reply
    (refused, timed out, TLS failure, cut off, too large) is a `Failure` with its
    `TransportFailureKind`. It honours `request.limits` when set: the connect, read
    and total timeouts, and the body limit counted after decompression, reading no
    further than the limit. It never follows redirects (a bearer token or client
    secret must not be replayed to another URL), and it reports failures as values:
    an exception out of `send` abandons the fetch it belonged to.
    """

    def send(self, request: HttpRequest, /) -> Result[HttpReply, TransportFailure]:
        """Send `request`; wait for the whole reply (within its limits)."""
        ...


class AsyncTransport(Protocol):
    """`Transport` for asyncio: the same contract, with `send` a coroutine.

    Cancelling `send` may leave the connection unusable, but never a half-read reply
    reported as a whole one.
    """

    async def send(self, request: HttpRequest, /) -> Result[HttpReply, TransportFailure]:
        """Send `request`; wait for the whole reply (within its limits)."""
        ...
