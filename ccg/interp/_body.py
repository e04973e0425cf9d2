"""A reply body read within a size limit, decompressed by ccg itself.

urllib3's own decoding decompresses whatever a read returns, whatever it grows to;
a 2 MB gzip bomb becomes gigabytes. Here every decompression step is capped at the
room left under the limit (zlib's `max_length`), so memory never exceeds the limit
plus one read, whatever the compression ratio or the length of the stream. Bytes
after the end of a deflate stream are an error, not kept (zlib would keep them all
in `unused_data`); after a gzip member they must start the next member.
"""

from __future__ import annotations

import zlib
from typing import Final, Literal

__all__ = ["BodyTooLarge", "BoundedBody", "UnsupportedEncoding"]

_GZIP: Final = 16 + zlib.MAX_WBITS
_ZLIB: Final = zlib.MAX_WBITS
_RAW_DEFLATE: Final = -zlib.MAX_WBITS
_UNLIMITED_STEP: Final = 1 << 20
"""Bytes decompressed per step when there is no limit."""

_Coding = Literal["identity", "gzip", "deflate"]
_CODINGS: Final[dict[str, _Coding]] = {"gzip": "gzip", "x-gzip": "gzip", "deflate": "deflate"}


class BodyTooLarge(Exception):
    """The body passed the limit; nothing more is read."""


class UnsupportedEncoding(Exception):
    """A `Content-Encoding` ccg does not decode (it never asks for one)."""


def _coding(content_encoding: str | None) -> _Coding:
    """The one coding `content_encoding` names ("identity" and empty entries aside)."""
    named = [part.strip().lower() for part in (content_encoding or "").split(",")]
    codings = [part for part in named if part not in ("", "identity")]
    if not codings:
        return "identity"
    if len(codings) == 1 and codings[0] in _CODINGS:
        return _CODINGS[codings[0]]
    raise UnsupportedEncoding(f"unsupported Content-Encoding {(content_encoding or '')[:40]!r}")


def _zlib_wrapped(first_two: bytes) -> bool:
    """Whether a "deflate" body starts with a zlib header (RFC 1950), not raw deflate.

    Servers send both. The header is CM=8 (deflate), a window of at most 32 KiB, no
    preset dictionary, and CMF*256+FLG a multiple of 31.
    """
    cmf, flg = first_two[0], first_two[1]
    return cmf & 0x0F == 8 and cmf >> 4 <= 7 and not flg & 0x20 and (cmf << 8 | flg) % 31 == 0


class BoundedBody:
    """Collects a body's bytes, decompressed, up to `limit` bytes (None: no limit)."""

    __slots__ = ("_chunks", "_decoder", "_gzip", "_head", "_limit", "_raw", "_size", "identity")

    def __init__(self, limit: int | None, content_encoding: str | None) -> None:
        """`UnsupportedEncoding` unless `content_encoding` is absent, identity, gzip or deflate."""
        coding = _coding(content_encoding)
        self.identity: Final = coding == "identity"
        """Whether the body is sent as is (its Content-Length is its size)."""
        self._gzip = coding == "gzip"
        self._limit = limit
        self._size = 0
        self._raw = 0
        self._chunks: list[bytes] = []
        # "deflate": the first bytes wait here until two tell zlib-wrapped from raw.
        self._head: bytes | None = b"" if coding == "deflate" else None
        self._decoder = zlib.decompressobj(_GZIP) if self._gzip else None

    def add(self, raw: bytes) -> None:
        """Take the next bytes off the wire (`BodyTooLarge`, `zlib.error` if undecodable)."""
        if self.identity:
            self._keep(raw)
            return
        self._raw += len(raw)
        if self._head is not None:
            raw = self._head + raw
            if len(raw) < 2:
                self._head = raw
                return
            self._head = None
            self._decoder = zlib.decompressobj(_ZLIB if _zlib_wrapped(raw) else _RAW_DEFLATE)
        self._inflate(raw)

    def _inflate(self, data: bytes) -> None:
        decoder = self._decoder
        assert decoder is not None
        while data:
            if decoder.eof:
                if not self._gzip:
                    raise zlib.error("data after the end of the compressed body")
                decoder = self._decoder = zlib.decompressobj(_GZIP)  # the next gzip member
            room = (self._limit - self._size) if self._limit is not None else _UNLIMITED_STEP
            self._keep(decoder.decompress(data, room + 1))  # max_length 0 would mean no cap
            data = decoder.unused_data if decoder.eof else decoder.unconsumed_tail

    def _keep(self, data: bytes) -> None:
        self._size += len(data)
        if self._limit is not None and self._size > self._limit:
            raise BodyTooLarge(f"reply body passed {self._limit} bytes")
        if data:
            self._chunks.append(data)

    def finish(self) -> bytes:
        """The whole body, decompressed (`zlib.error` if the stream was cut short)."""
        if self._raw:
            decoder = self._decoder
            if decoder is None:  # "deflate" that ended within its first two bytes
                raise zlib.error("compressed body ended early")
            self._keep(decoder.flush())  # what zlib still holds: at most one match
            if not decoder.eof:
                raise zlib.error("compressed body ended early")
        return b"".join(self._chunks)
