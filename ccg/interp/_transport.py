"""The transport port: the one thing an interpreter needs from an HTTP stack."""

from __future__ import annotations

from typing import Protocol

from returns.result import Result

from ccg.core import HttpReply, HttpRequest, TransportFailure

__all__ = ["Transport"]


class Transport(Protocol):
    """Sends a complete request and reports what came back.

    A reply of any status is a `Success`; only a request that got no reply at all
    (refused, timed out, TLS failure) is a `Failure`. A transport never follows
    redirects: a bearer token or client secret must not be replayed to another URL.
    """

    def send(self, request: HttpRequest, /) -> Result[HttpReply, TransportFailure]:
        """Send `request`; wait for the whole reply."""
        ...
