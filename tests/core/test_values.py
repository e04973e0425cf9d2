"""Values print without secrets, under `repr` and under rich's `__rich_repr__` alike."""

from __future__ import annotations

from ccg.core import HttpReply, HttpRequest, OAuthToken, TokenRequestSpec, UseToken


def test_http_request_redacts_credentials_and_hides_the_body() -> None:
    request = HttpRequest(
        method="POST",
        url="https://as.example/token",
        headers=(("Authorization", "Basic c2VjcmV0"), ("Accept", "application/json")),
        body=b"client_secret=hunter2",
    )
    expected = [
        ("method", "POST"),
        ("url", "https://as.example/token"),
        ("headers", (("Authorization", "***"), ("Accept", "application/json"))),
        ("body", "<21 bytes>"),
    ]
    assert request.__rich_repr__() == expected
    assert "c2VjcmV0" not in repr(request)
    assert "hunter2" not in repr(request)


def test_http_reply_repr_shows_status_and_size() -> None:
    reply = HttpReply(status=200, body=b'{"access_token":"AT"}')
    assert repr(reply) == "HttpReply(status=200, body=<21 bytes>)"


def test_token_rich_repr_redacts_both_tokens_and_omits_a_missing_refresh_token() -> None:
    with_refresh = OAuthToken(access_token="AT", refresh_token="RT", expires_in=5)
    without = OAuthToken(access_token="AT")
    assert ("refresh_token", "***") in with_refresh.__rich_repr__()
    assert [name for name, _ in without.__rich_repr__()] == [
        "access_token",
        "token_type",
        "expires_in",
        "scope",
        "expiry",
    ]
    assert "AT" not in repr(without)


def test_use_token_hides_the_header() -> None:
    effect = UseToken(token=OAuthToken(access_token="AT-VALUE"), authorization="Bearer AT-VALUE")
    assert "AT-VALUE" not in repr(effect)
    assert "AT-VALUE" not in str(effect.__rich_repr__())


def test_spec_hides_the_secret() -> None:
    spec = TokenRequestSpec(token_url="https://as/t", client_id="id", client_secret="hunter2")
    assert ("client_secret", "***") in spec.__rich_repr__()
    assert "hunter2" not in repr(spec)


def test_http_reply_helpers() -> None:
    reply = HttpReply(status=200, headers=(("Content-Type", "application/json"),), body=b'{"a":1}')
    assert reply.header("content-type") == "application/json"
    assert reply.header("X-Missing") is None
    assert reply.text == '{"a":1}'
    assert reply.json() == {"a": 1}
