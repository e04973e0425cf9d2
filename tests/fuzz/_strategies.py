"""Strategies the fuzz tests add to `ccg.testing.strategies`: text with every code point
(lone surrogates included), JSON-ish values with duplicate keys, NaN and huge numbers,
byte-level mutations of valid bodies, and arbitrary statuses and headers.

They are built to reach what the library's own strategies do not: bodies that are
*almost* a token or an error (one byte flipped, cut short, a key escaped), text no real
server sends, and numbers at the edges of every type msgspec decodes into.
"""

from __future__ import annotations

import json
import string
from collections.abc import Sequence
from functools import cache
from typing import Final

from hypothesis import strategies as st

from ccg.core import Headers
from ccg.testing.strategies import expires_in_values

TOKEN_KEYS: Final = (
    "access_token",
    "token_type",
    "expires_in",
    "refresh_in",
    "scope",
    "refresh_token",
    "error",
    "error_description",
    "error_uri",
)
"""The members `decode_token_reply` reads, in a token body (RFC 6749 §5.1) or an error (§5.2)."""

FRAGMENTS: Final = (
    b'"',
    b"\\",
    b"\\u0000",
    b"\\ud800",
    b"\\udc00",
    b"\\u00e9",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"null",
    b"true",
    b"-",
    b"0",
    b"1e999",
    b"-0.0",
    b"9" * 40,
    b"\xff",
    b"\xc0\xaf",
    b"\xed\xa0\x80",
    b"\xef\xbb\xbf",
    b" ",
    b"\r\n",
    b"\t",
    b"\x00",
    b"\x7f",
    b'"access_token":"x",',
    b'"access_token":',
    b'"expires_in":',
    b'"token_type":"Bearer",',
    b'"error":"invalid_client",',
    b"NaN",
    b"Infinity",
)
"""Bytes a mutation splices in: JSON's structural characters, escapes (lone surrogates
included), invalid and overlong UTF-8, a byte-order mark, controls, members a decoder
looks for, numbers out of every range."""

_OPERATIONS: Final = ("flip", "insert", "delete", "truncate", "replace", "swap_case")


def any_text(max_size: int = 20) -> st.SearchStrategy[str]:
    """Text of any code points, lone surrogates and controls included."""
    return st.text(st.characters(exclude_categories=()), max_size=max_size)


@cache
def _scalars() -> st.SearchStrategy[object]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.sampled_from([0, -1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**400]),
        st.floats(),  # NaN and the infinities: json.dumps writes them as NaN, Infinity
        st.sampled_from([-0.0, 1e-320, 1.7976931348623157e308, 0.5]),
        any_text(),
        st.text(string.digits + ".-+eE ", max_size=25),
        expires_in_values(),
    )


@cache
def json_values() -> st.SearchStrategy[object]:
    """Any JSON-ish value: scalars of every kind (NaN, infinities, huge integers, lone
    surrogates in strings) nested in lists and objects, objects often keyed by the
    members a token or error body has."""
    keys = st.sampled_from(TOKEN_KEYS) | any_text(8)
    return st.recursive(
        _scalars(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
        max_leaves=12,
    )


@cache
def member_lists() -> st.SearchStrategy[list[tuple[str, object]]]:
    """The members of a top-level object, in order, repeats allowed (duplicate keys)."""
    member = st.tuples(st.sampled_from(TOKEN_KEYS) | any_text(10), json_values())
    return st.lists(member, max_size=8)


def _dumped(value: object, ensure_ascii: bool) -> str:
    return json.dumps(value, ensure_ascii=ensure_ascii, allow_nan=True)


def encode_members(
    members: Sequence[tuple[str, object]], *, ensure_ascii: bool = True, spaced: bool = False
) -> bytes:
    """`members` as a JSON object, in order and with repeats (which `json.dumps` of a dict
    cannot write), UTF-8; lone surrogates become invalid UTF-8 when not escaped."""
    separator = ", " if spaced else ","
    colon = ": " if spaced else ":"
    text = (
        "{"
        + separator.join(
            f"{_dumped(key, ensure_ascii)}{colon}{_dumped(value, ensure_ascii)}"
            for key, value in members
        )
        + "}"
    )
    return text.encode("utf-8", "surrogatepass")


@st.composite
def _json_bodies(draw: st.DrawFn) -> bytes:
    ensure_ascii = draw(st.booleans())
    if draw(st.booleans()):
        return encode_members(
            draw(member_lists()), ensure_ascii=ensure_ascii, spaced=draw(st.booleans())
        )
    return _dumped(draw(json_values()), ensure_ascii).encode("utf-8", "surrogatepass")


@cache
def json_bodies() -> st.SearchStrategy[bytes]:
    """A body that is JSON or JSON-ish (NaN, Infinity, invalid UTF-8 from lone
    surrogates): any value, or an object with any members, repeated ones included."""
    return _json_bodies()


@st.composite
def _mutated(draw: st.DrawFn, base: bytes, max_operations: int) -> bytes:
    data = bytearray(base)
    for _ in range(draw(st.integers(1, max_operations))):
        operation = draw(st.sampled_from(_OPERATIONS))
        at = draw(st.integers(0, len(data)))
        match operation:
            case "flip" if at < len(data):
                data[at] ^= 1 << draw(st.integers(0, 7))
            case "insert":
                data[at:at] = draw(st.sampled_from(FRAGMENTS) | st.binary(min_size=1, max_size=4))
            case "delete":
                del data[at : at + draw(st.integers(1, 8))]
            case "truncate":
                del data[at:]
            case "replace" if at < len(data):
                data[at] = draw(st.integers(0, 255))
            case "swap_case":
                data[at:] = data[at:].swapcase()
            case _:
                pass
    return bytes(data)


def mutations(base: bytes, max_operations: int = 4) -> st.SearchStrategy[bytes]:
    """`base` with 1 to `max_operations` byte-level mutations: a bit flipped, a fragment
    (`FRAGMENTS`) or random bytes inserted, bytes deleted, the rest cut off, a byte
    replaced, the case of the rest swapped."""
    return _mutated(base, max_operations)


@cache
def statuses() -> st.SearchStrategy[int]:
    """Any HTTP status, and numbers no server sends: 2xx edges, 0, negatives, huge."""
    return st.one_of(
        st.sampled_from([200, 201, 204, 299, 300, 199, 400, 401, 429, 500, 503]),
        st.integers(100, 599),
        st.integers(-(2**64), 2**64),
    )


@cache
def header_lists() -> st.SearchStrategy[Headers]:
    """Any headers: the names ccg reads, in any case, or any text, with any values."""
    names = st.sampled_from(
        ["Retry-After", "retry-after", "RETRY-AFTER", "WWW-Authenticate", "Content-Type"]
    ) | any_text(12)
    return st.lists(st.tuples(names, any_text(40)), max_size=4).map(tuple)
