"""HTTP requests and replies as plain values, so interpreters need to know nothing about OAuth.

The core builds complete `HttpRequest`s; a transport sends them and reports an
`HttpReply` (or a `TransportFailure`) back. `repr()` redacts credentials.
"""

from __future__ import annotations

import msgspec

__all__ = ["HttpReply", "HttpRequest", "TransportFailure", "first_header"]

_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "dpop"})


def first_header(headers: tuple[tuple[str, str], ...], name: str) -> str | None:
    """The first value of header `name` in `headers` (case-insensitive), or None."""
    wanted = name.lower()
    for key, value in headers:
        if key.lower() == wanted:
            return value
    return None


class HttpRequest(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A complete HTTP request: what a transport sends, byte for byte."""

    method: str
    """`GET`, `POST`, ..."""
    url: str
    """Absolute URL."""
    headers: tuple[tuple[str, str], ...] = ()
    """Header name/value pairs, in order."""
    body: bytes = b""
    """The request body (form-encoded for token requests)."""

    def header(self, name: str) -> str | None:
        """The first value of header `name` (case-insensitive), or None."""
        return first_header(self.headers, name)

    def _shown_headers(self) -> tuple[tuple[str, str], ...]:
        return tuple((k, "***" if k.lower() in _SECRET_HEADERS else v) for k, v in self.headers)

    def __rich_repr__(self) -> list[tuple[str, object]]:
        """What `rich` shows: credentials redacted, the body (it may hold a secret) as a size."""
        return [
            ("method", self.method),
            ("url", self.url),
            ("headers", self._shown_headers()),
            ("body", f"<{len(self.body)} bytes>"),
        ]

    def __repr__(self) -> str:
        return (
            f"HttpRequest(method={self.method!r}, url={self.url!r}, "
            f"headers={self._shown_headers()!r}, body=<{len(self.body)} bytes>)"
        )


class HttpReply(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What came back: status, headers and the whole body."""

    status: int
    """The HTTP status code."""
    headers: tuple[tuple[str, str], ...] = ()
    """Header name/value pairs, in order."""
    body: bytes = b""
    """The response body."""

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

    def __repr__(self) -> str:
        return f"HttpReply(status={self.status!r}, body=<{len(self.body)} bytes>)"


class TransportFailure(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The request never got a reply: connection refused, timeout, TLS failure, ..."""

    reason: str
    """What went wrong, e.g. `ConnectTimeoutError: ...`."""
