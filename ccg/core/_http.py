"""HTTP requests, replies and transport failures as plain values.

The core builds complete `HttpRequest`s (limits included); a transport sends them
and reports an `HttpReply` or a `TransportFailure` back. Interpreters need to know
nothing about OAuth. `repr()` redacts credentials.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

import msgspec

__all__ = [
    "TOKEN_REQUEST_LIMITS",
    "Headers",
    "HttpReply",
    "HttpRequest",
    "Limits",
    "TransportFailure",
    "TransportFailureKind",
    "first_header",
]

Headers = tuple[tuple[str, str], ...]
"""Header name/value pairs, in order, names as sent or received."""

_SECRET_HEADERS: Final = frozenset({"authorization", "proxy-authorization", "cookie", "dpop"})


def first_header(headers: Headers, name: str) -> str | None:
    """The first value of header `name` in `headers` (case-insensitive), or None."""
    wanted = name.lower()
    for key, value in headers:
        if key.lower() == wanted:
            return value
    return None


class Limits(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """How long a request may take and how much of its reply may be read.

    A transport enforces them: a reply body over `max_body_bytes` (counted after
    decompression) is a `TOO_LARGE` failure, read no further than the limit; a
    request still unanswered `total_timeout` seconds after it began is a `TIMEOUT`.
    """

    connect_timeout: float
    """Seconds to establish the connection (TCP and TLS)."""
    read_timeout: float
    """Seconds any single read may wait for data."""
    total_timeout: float
    """Seconds from the start of the request to the last byte of the reply."""
    max_body_bytes: int | None = None
    """The largest reply body accepted, decompressed; None for no limit."""


TOKEN_REQUEST_LIMITS: Final = Limits(
    connect_timeout=5.0, read_timeout=15.0, total_timeout=30.0, max_body_bytes=1 << 20
)
"""The default limits of a token request: a token response is small (1 MiB is Go's
x/oauth2 limit too), and every caller waiting for it waits at most about 30 s."""


class HttpRequest(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A complete HTTP request: what a transport sends, byte for byte."""

    method: str
    """`GET`, `POST`, ..."""
    url: str
    """Absolute URL."""
    headers: Headers = ()
    """Header name/value pairs, in order."""
    body: bytes = b""
    """The request body (form-encoded for token requests)."""
    limits: Limits | None = None
    """Timeouts and the reply size limit; None leaves them to the transport's defaults."""

    def header(self, name: str) -> str | None:
        """The first value of header `name` (case-insensitive), or None."""
        return first_header(self.headers, name)

    def _shown_headers(self) -> Headers:
        return tuple((k, "***" if k.lower() in _SECRET_HEADERS else v) for k, v in self.headers)

    def __rich_repr__(self) -> list[tuple[str, object]]:
        """What `rich` shows: credentials redacted, the body (it may hold a secret) as a size."""
        return [
            ("method", self.method),
            ("url", self.url),
            ("headers", self._shown_headers()),
            ("body", f"<{len(self.body)} bytes>"),
            ("limits", self.limits),
        ]

    def __repr__(self) -> str:
        return (
            f"HttpRequest(method={self.method!r}, url={self.url!r}, "
            f"headers={self._shown_headers()!r}, body=<{len(self.body)} bytes>, "
            f"limits={self.limits!r})"
        )


class HttpReply(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What came back: status, headers and the whole body."""

    status: int
    """The HTTP status code."""
    headers: Headers = ()
    """Header name/value pairs, in order."""
    body: bytes = b""
    """The response body, decompressed."""

    def header(self, name: str) -> str | None:
        """The first value of header `name` (case-insensitive), or None."""
        return first_header(self.headers, name)

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (undecodable bytes replaced)."""
        return self.body.decode("utf-8", "replace")

    def json(self) -> object:
        """The body decoded as JSON (`msgspec.DecodeError` if it is not JSON)."""
        return msgspec.json.decode(self.body)

    def __rich_repr__(self) -> list[tuple[str, object]]:
        """What `rich` shows: as `repr`, the status and the body's size (a reply may echo
        a secret or carry a token)."""
        return [("status", self.status), ("body", f"<{len(self.body)} bytes>")]

    def __repr__(self) -> str:
        return f"HttpReply(status={self.status!r}, body=<{len(self.body)} bytes>)"


class TransportFailureKind(StrEnum):
    """Why a request got no usable reply, as far as the transport can tell."""

    CONNECT = "connect"
    """No connection: refused, unresolvable host, unreachable network, proxy refused."""
    TIMEOUT = "timeout"
    """A connect, read or total timeout passed."""
    TLS = "tls"
    """The TLS handshake failed: bad certificate, hostname mismatch, protocol error."""
    PROTOCOL = "protocol"
    """The reply was not valid HTTP, was cut off, or had an unsupported encoding."""
    TOO_LARGE = "too_large"
    """The reply body passed `Limits.max_body_bytes`; the rest was not read."""
    OTHER = "other"
    """Anything else the transport reported."""


class TransportFailure(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="transport"):
    """A request that got no usable reply. Also a `TokenFailure` when it was a token request."""

    kind: TransportFailureKind
    """What class of failure it was."""
    reason: str
    """The transport's account of it, e.g. `ReadTimeoutError: Read timed out.`."""
