"""`BoundedBody`, the transport's decoder of limited bodies, on its own (no sockets).

A property: whatever the body, coding, limit and the way the wire splits it, the
result is the body when it fits the limit and `BodyTooLarge` when it does not.
"""

from __future__ import annotations

import itertools
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccg.interp._body import BodyTooLarge, BoundedBody, UnsupportedEncoding

_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "zlib": zlib.MAX_WBITS, "raw": -zlib.MAX_WBITS}
_HEADER = {"identity": None, "gzip": "gzip", "zlib": "deflate", "raw": " Deflate "}


def _encode(data: bytes, coding: str, members: int) -> bytes:
    if coding == "identity":
        return data
    if coding != "gzip":
        compressor = zlib.compressobj(6, zlib.DEFLATED, _WBITS[coding])
        return compressor.compress(data) + compressor.flush()
    # gzip may come in several members; their bodies are concatenated.
    cuts = [len(data) * i // members for i in range(members + 1)]
    out = b""
    for start, end in itertools.pairwise(cuts):
        compressor = zlib.compressobj(6, zlib.DEFLATED, _WBITS["gzip"])
        out += compressor.compress(data[start:end]) + compressor.flush()
    return out


@given(
    data=st.binary(max_size=3000) | st.builds(bytes, st.integers(0, 20_000)),
    coding=st.sampled_from(["identity", "gzip", "zlib", "raw"]),
    limit=st.none() | st.integers(0, 4000),
    members=st.integers(1, 3),
    cuts=st.lists(st.integers(0, 20_000), max_size=8),
)
def test_the_body_comes_back_whole_or_too_large(
    data: bytes, coding: str, limit: int | None, members: int, cuts: list[int]
) -> None:
    wire = _encode(data, coding, members)
    bounds = sorted({0, len(wire), *(cut % (len(wire) + 1) for cut in cuts)})
    body = BoundedBody(limit, _HEADER[coding])
    try:
        for start, end in itertools.pairwise(bounds):
            body.add(wire[start:end])
        result = body.finish()
    except BodyTooLarge:
        assert limit is not None
        assert len(data) > limit
    else:
        assert result == data
        assert limit is None or len(data) <= limit


@pytest.mark.parametrize("header", [None, "", " ", "identity", "IDENTITY", "identity, identity"])
def test_no_coding_is_identity(header: str | None) -> None:
    assert BoundedBody(10, header).identity


@pytest.mark.parametrize("header", ["br", "gzip, br", "gzip, deflate", "compress", "x-gzip;q=1"])
def test_other_codings_are_refused(header: str) -> None:
    with pytest.raises(UnsupportedEncoding):
        BoundedBody(10, header)


@pytest.mark.parametrize("coding", ["gzip", "zlib", "raw"])
def test_bytes_after_the_stream_are_an_error(coding: str) -> None:
    body = BoundedBody(None, _HEADER[coding])
    with pytest.raises(zlib.error):
        body.add(_encode(b"{}", coding, 1) + b"\x00" * 100)


@pytest.mark.parametrize("coding", ["gzip", "zlib", "raw"])
@pytest.mark.parametrize("keep", [1, 2, 10, -1])
def test_a_stream_cut_short_is_an_error(coding: str, keep: int) -> None:
    stream = _encode(bytes(range(256)) * 4, coding, 1)
    assert len(stream) > 10
    body = BoundedBody(None, _HEADER[coding])
    body.add(stream[:keep])
    with pytest.raises(zlib.error, match="ended early"):
        body.finish()


def test_a_bomb_fed_at_once_stops_one_byte_past_the_limit() -> None:
    bomb = zlib.compress(bytes(64 << 20), 9)  # 64 MiB of zeros in about 64 KiB
    body = BoundedBody(1000, "deflate")
    with pytest.raises(BodyTooLarge, match="passed 1000 bytes"):
        body.add(bomb)
