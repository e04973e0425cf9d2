"""URLs checked at construction, as urllib3 will read them: every mistake is a
`ConfigurationError` naming the option, raised before anything is sent, never
quoting the secret; an internationalised host is converted to its A-labels."""

from __future__ import annotations

import re
from typing import Any, Final

import pytest

from ccg import ApiClient, ClientCredentialsAuthCredentials, ConfigurationError
from ccg.aio import AsyncApiClient
from ccg.testing import FakeClock, FakeTransport, json_reply, token_reply

SECRET: Final = "canary-secret-4f1e"
TOKEN_URL: Final = "https://as.example/token"


def credentials() -> ClientCredentialsAuthCredentials:
    return ClientCredentialsAuthCredentials(o_auth_client_id="id", o_auth_client_secret=SECRET)


def build(**options: Any) -> ApiClient:
    settings: dict[str, Any] = {"token_url": TOKEN_URL, "transport": FakeTransport()}
    settings.update(options)
    return ApiClient(client_credentials_auth_credentials=credentials(), **settings)


BAD_URLS: Final = {
    "port-out-of-range": ("https://as.example:99999/token", "Port out of range"),
    "port-zero": ("https://as.example:0/token", "port 0"),
    "port-not-a-number": ("https://as.example:44x/token", "not a valid URL"),
    "space-in-host": ("https://as exa.example/token", "U+0020"),
    "crlf": ("https://as.example\r\n/token", "U+000D"),
    "newline-in-loopback": ("http://local\nhost/token", "U+000A"),
    "tab": ("https://as.example/\ttoken", "U+0009"),
    "nul": ("https://as.example/tok\x00en", "U+0000"),
    "del": ("https://as.example/tok\x7fen", "U+007F"),
    "nbsp": ("https://as.example/tok\xa0en", "U+00A0"),
    "line-separator": ("https://as.example/\u2028", "U+2028"),
    "zero-width-space": ("https://as\u200b.example/token", "U+200B"),
    "bom": ("\ufeffhttps://as.example/token", "U+FEFF"),
    "no-scheme": ("as.example/token", "absolute http"),
    "ftp": ("ftp://as.example/token", "absolute http"),
    "no-host": ("https:///token", "absolute http"),
    "userinfo": ("https://user:pw@as.example/token", "credentials"),
    "fragment": ("https://as.example/token#x", "fragment"),
    "empty-fragment": ("https://as.example/token#", "fragment"),
    "bad-label": ("https://as..example/token", "not a valid host"),
    "label-hyphen": ("https://-as.example/token", "not a valid host"),
    "percent-in-host": ("https://as%2eexample/token", "not a valid host"),
    "long-label": (f"https://{'a' * 64}.example/token", "not a valid host"),
    "ipv6-zone": ("https://[fe80::1%25eth0]/token", "zone"),
    "idn-deviation": ("https://stra\u00dfe.example/token", "A-label"),
    "clear-text": ("http://as.example/token", "clear text"),
    "not-a-str": (b"https://as.example/token", "expected a str"),
}


@pytest.mark.parametrize(("url", "mentions"), BAD_URLS.values(), ids=BAD_URLS.keys())
def test_a_bad_token_url_fails_at_construction_naming_the_option(
    url: object, mentions: str
) -> None:
    with pytest.raises(ConfigurationError, match="token_url") as caught:
        build(token_url=url)
    assert mentions in str(caught.value)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(("url", "mentions"), BAD_URLS.values(), ids=BAD_URLS.keys())
def test_a_bad_base_url_fails_at_construction_naming_the_option(url: object, mentions: str) -> None:
    with pytest.raises(ConfigurationError, match="base_url") as caught:
        build(base_url=url)
    assert mentions in str(caught.value)


@pytest.mark.parametrize(("url", "mentions"), BAD_URLS.values(), ids=BAD_URLS.keys())
def test_a_bad_origin_fails_at_construction_naming_the_option(url: object, mentions: str) -> None:
    with pytest.raises(ConfigurationError, match="origins") as caught:
        build(origins=[url])
    assert mentions in str(caught.value)


@pytest.mark.parametrize(
    "base_url", ["https://api.example/v1?key=1", "https://api.example/v1?", "https://api.example?a"]
)
def test_a_base_url_with_a_query_is_refused(base_url: str) -> None:
    with pytest.raises(ConfigurationError, match=r"base_url: must not have a \?query"):
        build(base_url=base_url)


def test_a_token_url_may_have_a_query() -> None:
    # Azure AD B2C names its policy in the token URL's query.
    transport = FakeTransport([token_reply("t1"), json_reply(200, {})])
    client = build(
        token_url="https://as.example/token?p=b2c_1_flow",
        base_url="https://api.example",
        transport=transport,
        clock=FakeClock(),
    )
    assert client.get("/x").status == 200
    assert transport.requests[0].url == "https://as.example/token?p=b2c_1_flow"


def test_an_internationalised_host_is_sent_as_its_a_labels() -> None:
    transport = FakeTransport([token_reply("t1"), json_reply(200, {})])
    client = build(
        token_url="https://b\u00fccher.example/token",
        base_url="https://m\u00fcnchen.example:8443/v1",
        transport=transport,
        clock=FakeClock(),
    )
    assert client.get("/x").status == 200
    assert [r.url for r in transport.requests] == [
        "https://xn--bcher-kva.example/token",
        "https://xn--mnchen-3ya.example:8443/v1/x",
    ]


def test_a_host_in_upper_case_keeps_its_url_and_its_origin() -> None:
    transport = FakeTransport([token_reply("t1"), json_reply(200, {}), json_reply(200, {})])
    client = build(base_url="https://API.Example", transport=transport, clock=FakeClock())
    assert client.get("/x").status == 200
    assert client.get("https://api.example/y").status == 200
    assert transport.requests[1].url == "https://API.Example/x"


@pytest.mark.parametrize(
    "url",
    [
        "https://as.example:443/token",
        "https://[::1]:8443/token",
        "http://127.0.0.1:8080/token",
        "http://localhost/token",
        "http://[::1]/token",
        "https://as_internal.example/token",
        "https://as.example./token",
        "https://as.example/p%20ath?q=a%20b",
    ],
)
def test_good_urls_are_kept_as_they_are(url: str) -> None:
    transport = FakeTransport([token_reply("t1")])
    client = build(token_url=url, transport=transport, clock=FakeClock())
    client.auth_manager.token()
    assert transport.requests[0].url == url


def test_http_to_another_machine_needs_the_opt_in() -> None:
    transport = FakeTransport([token_reply("t1")])
    client = build(
        token_url="http://as.internal/token",
        transport=transport,
        clock=FakeClock(),
        allow_insecure_http=True,
    )
    client.auth_manager.token()
    assert transport.requests[0].url == "http://as.internal/token"


@pytest.mark.parametrize(
    ("url", "mentions"),
    [
        ("/x\r\nX-Injected: 1", "U+000D"),
        ("https://api.example/x y", "U+0020"),
        ("/\x00", "U+0000"),
    ],
)
def test_a_call_url_with_control_characters_is_refused_before_anything_is_sent(
    url: str, mentions: str
) -> None:
    transport = FakeTransport()
    client = build(base_url="https://api.example", transport=transport, clock=FakeClock())
    with pytest.raises(ConfigurationError, match=f"url: .*{re.escape(mentions)}"):
        client.get(url)
    assert transport.requests == []


def test_the_async_client_checks_urls_the_same_way() -> None:
    with pytest.raises(ConfigurationError, match=r"base_url: must not have a \?query"):
        AsyncApiClient(
            client_credentials_auth_credentials=credentials(),
            token_url=TOKEN_URL,
            base_url="https://api.example/v1?key=1",
        )
    with pytest.raises(ConfigurationError, match=r"token_url: .*Port out of range"):
        AsyncApiClient(
            client_credentials_auth_credentials=credentials(),
            token_url="https://as.example:70000/t",
        )
