"""Edges of the wire rules: where "2xx" ends, what form-encoding escapes in Basic
credentials, and how much of a hostile reply is echoed into a failure's reason.

(Found by mutation testing: see MUTATION.md.)
"""

from __future__ import annotations

import base64
from typing import Final

import msgspec
import pytest
from returns.result import Failure, Result, Success

from ccg.core import (
    ClientSecretBasic,
    HttpReply,
    MalformedResponse,
    OAuthToken,
    TokenFailure,
    TokenRequestSpec,
    build_token_request,
    decode_token_reply,
)

TOKEN_BODY: Final = b'{"access_token":"AT","expires_in":3600}'


def decode(status: int, body: bytes) -> Result[OAuthToken, TokenFailure]:
    return decode_token_reply(HttpReply(status=status, body=body))


def malformed(status: int, reason: str) -> Result[OAuthToken, TokenFailure]:
    return Failure(MalformedResponse(status=status, reason=reason))


# -- which statuses carry a token ---------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 299])
def test_a_token_in_any_2xx_reply_is_accepted(status: int) -> None:
    assert decode(status, TOKEN_BODY) == Success(OAuthToken(access_token="AT", expires_in=3600))


@pytest.mark.parametrize("status", [199, 300, 301])
def test_a_token_just_outside_2xx_is_refused_without_echoing_it(status: int) -> None:
    assert decode(status, TOKEN_BODY) == malformed(
        status, f"HTTP {status} without an OAuth error: <withheld: it mentions an access_token>"
    )


# -- client_secret_basic form-encodes everything but unreserved characters ----------------


def test_basic_credentials_escape_a_slash_in_the_client_id() -> None:
    """RFC 6749 §2.3.1: the id is form-urlencoded, so `/` (and `:`) become `%2F` (`%3A`);
    URL-shaped client ids are common."""
    spec = TokenRequestSpec(
        token_url="https://as.example/token",
        client_id="https://app.example/client",
        client_secret="s3cret",
    )
    header = build_token_request(spec).header("Authorization")
    assert header == "Basic aHR0cHMlM0ElMkYlMkZhcHAuZXhhbXBsZSUyRmNsaWVudDpzM2NyZXQ="
    assert base64.b64decode(header[len("Basic ") :]) == b"https%3A%2F%2Fapp.example%2Fclient:s3cret"


def test_basic_credentials_raw_keep_the_slash() -> None:
    spec = TokenRequestSpec(
        token_url="https://as.example/token",
        client_id="https://app.example/client",
        client_secret="s3cret",
        authentication=ClientSecretBasic(form_encode=False),
    )
    header = build_token_request(spec).header("Authorization")
    assert header == "Basic " + base64.b64encode(b"https://app.example/client:s3cret").decode()


# -- a hostile reply is quoted, but only so much of it --------------------------------------


def test_an_unparsable_expires_in_is_quoted_to_forty_characters() -> None:
    lifetime = "x" * 100
    body = msgspec.json.encode({"access_token": "AT", "expires_in": lifetime})
    assert decode(200, body) == malformed(200, f"expires_in is not a number: {'x' * 40!r}")


def test_a_foreign_token_type_is_quoted_to_forty_characters() -> None:
    token_type = "T" * 100
    body = msgspec.json.encode({"access_token": "AT", "token_type": token_type})
    assert decode(200, body) == malformed(200, f"token_type {'T' * 40!r} is not Bearer")


def test_a_non_oauth_error_body_is_quoted_to_two_hundred_bytes() -> None:
    body = b"<html>" + b"e" * 500 + b"</html>"
    expected = "<html>" + "e" * 194
    assert decode(502, body) == malformed(502, f"HTTP 502 without an OAuth error: {expected!r}")
