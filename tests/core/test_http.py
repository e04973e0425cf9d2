"""HTTP values: header lookup, the reply's text and JSON, and the default request limits."""

from __future__ import annotations

import msgspec
import pytest

from ccg.core import TOKEN_REQUEST_LIMITS, HttpReply, HttpRequest, Limits
from ccg.core._http import first_header


def test_header_lookup_is_case_insensitive_and_takes_the_first() -> None:
    headers = (("Retry-After", "5"), ("retry-after", "7"), ("Content-Type", "text/html"))
    reply = HttpReply(status=503, headers=headers)
    request = HttpRequest(method="GET", url="https://api.example/", headers=headers)
    for value in (reply, request):
        assert value.header("RETRY-AFTER") == "5"
        assert value.header("content-type") == "text/html"
        assert value.header("X-Missing") is None
    assert first_header((), "anything") is None


def test_reply_text_replaces_undecodable_bytes() -> None:
    assert HttpReply(status=200, body=b"caf\xc3\xa9 \xff").text == "café \ufffd"


def test_reply_json() -> None:
    assert HttpReply(status=200, body=b'{"a":[1,null]}').json() == {"a": [1, None]}
    with pytest.raises(msgspec.DecodeError):
        HttpReply(status=200, body=b"<html>").json()


def test_default_token_request_limits() -> None:
    assert (
        Limits(connect_timeout=5.0, read_timeout=15.0, total_timeout=30.0, max_body_bytes=1_048_576)
        == TOKEN_REQUEST_LIMITS
    )
    assert Limits(connect_timeout=1.0, read_timeout=1.0, total_timeout=1.0).max_body_bytes is None


def test_request_defaults() -> None:
    request = HttpRequest(method="GET", url="https://api.example/")
    assert (request.headers, request.body, request.limits) == ((), b"", None)
