"""A reply body read within a size limit, decompressed by ccg itself.

urllib3's own decoding decompresses whatever a read returns, whatever it grows to;
a 2 MB gzip bomb becomes gigabytes. Here every decompression step is capped at the
room left under the limit (zlib's `max_length`), so memory never exceeds the limit
plus one read, whatever the compression ratio or the length of the stream.
"""

from __future__ import annotations

import zlib
from typing import Final

__all__ = ["BodyTooLarge", "BoundedBody", "UnsupportedEncoding"]

_GZIP: Final = 16 + zlib.MAX_WBITS
_ZLIB: Final = zlib.MAX_WBITS
_RAW_DEFLATE: Final = -zlib.MAX_WBITS


class BodyTooLarge(Exception):
    """The body passed the limit; nothing more is read."""


class UnsupportedEncoding(Exception):
    """A `Content-Encoding` ccg does not decode (it never asks for one)."""


class BoundedBody:
    """Collects a body's bytes, decompressed, up to `limit` bytes (None: no limit)."""

    __slots__ = ("_chunks", "_decoder", "_encoding", "_limit", "_size", "_started")

    def __init__(self, limit: int | None, content_encoding: str | None) -> None:
        encoding = (content_encoding or "identity").strip().lower()
        if encoding not in ("identity", "gzip", "x-gzip", "deflate"):
            raise UnsupportedEncoding(f"unsupported Content-Encoding {encoding[:40]!r}")
        self._encoding = encoding
        self._limit = limit
        self._size = 0
        self._chunks: list[bytes] = []
        self._started = False
        self._decoder: zlib._Decompress | None = (
            None
            if encoding == "identity"
            else zlib.decompressobj(_GZIP if "gzip" in encoding else _ZLIB)
        )

    def add(self, raw: bytes) -> None:
        """Take the next bytes off the wire (`BodyTooLarge`, `zlib.error` if undecodable)."""
        if self._decoder is None:
            self._keep(raw)
            return
        if self._encoding == "deflate" and not self._started:
            # Servers send "deflate" both zlib-wrapped (RFC 9110) and raw; try the first.
            self._started = True
            try:
                self._inflate(raw)
            except zlib.error:
                self._decoder = zlib.decompressobj(_RAW_DEFLATE)
                self._size, self._chunks = 0, []
                self._inflate(raw)
            return
        self._inflate(raw)

    def _inflate(self, data: bytes) -> None:
        decoder = self._decoder
        assert decoder is not None
        while data:
            room = (self._limit - self._size) if self._limit is not None else 1 << 20
            self._keep(decoder.decompress(data, room + 1))  # max_length 0 would mean no cap
            data = decoder.unconsumed_tail
            if not data and decoder.eof and decoder.unused_data and "gzip" in self._encoding:
                data = decoder.unused_data  # the next gzip member
                decoder = self._decoder = zlib.decompressobj(_GZIP)

    def _keep(self, data: bytes) -> None:
        self._size += len(data)
        if self._limit is not None and self._size > self._limit:
            raise BodyTooLarge(f"reply body passed {self._limit} bytes")
        if data:
            self._chunks.append(data)

    def finish(self) -> bytes:
        """The whole body, decompressed (`zlib.error` if the stream was cut short)."""
        decoder = self._decoder
        if decoder is not None:
            self._keep(decoder.flush())
            if not decoder.eof and self._size:
                raise zlib.error("compressed body ended early")
        return b"".join(self._chunks)
