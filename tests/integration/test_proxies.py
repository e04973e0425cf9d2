"""Proxies: `Urllib3Transport(proxy_url=...)` through a real forward proxy on 127.0.0.1,
and the proxy environment variables, which ccg does not read (it says so, once).

http targets are forwarded (absolute-form requests); https targets go through a
CONNECT tunnel, so TLS is verified end to end, against the target's certificate.
Credentials in the proxy URL become `Proxy-Authorization` and appear nowhere else.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ccg import (
    ApiClient,
    ClientCredentialsAuthCredentials,
    ConfigurationError,
    Urllib3Transport,
)
from ccg._demo.authorization_server import AuthorizationServer
from ccg.core import TOKEN_REQUEST_LIMITS, HttpRequest, TransportFailureKind
from ccg.interp import _proxy
from tests.integration._forward_proxy import ForwardProxy

pytestmark = pytest.mark.integration


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    with ForwardProxy() as running:
        yield running


def _client(server: AuthorizationServer, transport: Urllib3Transport) -> ApiClient:
    return ApiClient(
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials(
            o_auth_client_id="test-client", o_auth_client_secret="test-secret"
        ),
        token_url=server.token_url,
        base_url=server.base_url,
        transport=transport,
    )


def test_token_and_api_requests_go_through_the_proxy(
    server: AuthorizationServer, proxy: ForwardProxy
) -> None:
    with Urllib3Transport(proxy_url=proxy.url) as transport:
        client = _client(server, transport)
        assert client.get(server.resource_url).status == 200
    asked = proxy.asked()
    assert [(a.method, a.target) for a in asked] == [
        ("POST", server.token_url),
        ("GET", server.resource_url),
    ]
    assert server.token_requests() == 1


def test_credentials_in_the_proxy_url_become_proxy_authorization_only(
    server: AuthorizationServer, proxy: ForwardProxy
) -> None:
    proxy_url = proxy.url.replace("http://", "http://proxy%20user:p%40ss-canary@")
    with Urllib3Transport(proxy_url=proxy_url) as transport:
        client = _client(server, transport)
        assert client.get(server.resource_url).status == 200
        shown = repr(transport) + repr(client) + str(vars(transport))
    expected = "Basic " + base64.b64encode(b"proxy user:p@ss-canary").decode()
    assert {a.proxy_authorization for a in proxy.asked()} == {expected}
    assert "p%40ss-canary" not in shown
    assert "p@ss-canary" not in shown


def test_explicit_proxy_headers_win_over_url_credentials(
    server: AuthorizationServer, proxy: ForwardProxy
) -> None:
    proxy_url = proxy.url.replace("http://", "http://u:p@")
    headers = {"Proxy-Authorization": "Bearer proxy-token"}
    with Urllib3Transport(proxy_url=proxy_url, proxy_headers=headers) as transport:
        assert _client(server, transport).get(server.resource_url).status == 200
    assert {a.proxy_authorization for a in proxy.asked()} == {"Bearer proxy-token"}


def test_https_goes_through_a_connect_tunnel_verified_end_to_end(
    tls_server: str,
    certificate: tuple[Path, Path],
    proxy: ForwardProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    request = HttpRequest(method="POST", url=tls_server, body=b"x", limits=TOKEN_REQUEST_LIMITS)
    with Urllib3Transport(proxy_url=proxy.url) as transport:
        reply = transport.send(request).unwrap()
    assert reply.status == 200
    host_port = tls_server.removeprefix("https://").removesuffix("/token")
    assert [(a.method, a.target) for a in proxy.asked()] == [("CONNECT", host_port)]


def test_an_untrusted_certificate_behind_the_tunnel_is_still_a_tls_failure(
    tls_server: str, proxy: ForwardProxy
) -> None:
    request = HttpRequest(method="POST", url=tls_server, body=b"x", limits=TOKEN_REQUEST_LIMITS)
    with Urllib3Transport(proxy_url=proxy.url) as transport:
        failure = transport.send(request).failure()
    assert failure.kind is TransportFailureKind.TLS
    assert [a.method for a in proxy.asked()] == ["CONNECT"]


def test_the_proxy_variables_are_not_read_and_that_is_logged_once(
    server: AuthorizationServer,
    proxy: ForwardProxy,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for name in _proxy.PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("all_proxy", proxy.url)
    monkeypatch.setattr(_proxy, "_noted", threading.Event())
    with caplog.at_level(logging.INFO, logger="ccg"):
        with Urllib3Transport() as transport:
            assert _client(server, transport).get(server.resource_url).status == 200
        with Urllib3Transport():
            pass
    assert proxy.asked() == []  # straight to the server
    notes = [r.getMessage() for r in caplog.records if "proxy_url" in r.getMessage()]
    assert notes == [
        "ccg ignores HTTP_PROXY, all_proxy: pass Urllib3Transport(proxy_url=...) to use a proxy"
    ]


def test_without_proxy_variables_nothing_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for name in _proxy.PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(_proxy, "_noted", threading.Event())
    with caplog.at_level(logging.DEBUG, logger="ccg"), Urllib3Transport():
        pass
    assert caplog.records == []


@pytest.mark.parametrize(
    ("options", "mentions"),
    [
        ({"proxy_url": "ftp://127.0.0.1:3128"}, "proxy_url: must be an absolute http(s) URL"),
        ({"proxy_url": "http://127.0.0.1:99999"}, "proxy_url: not a valid URL"),
        (
            {"proxy_url": "http://127.0.0.1:3128/path"},
            "proxy_url: a proxy URL is scheme://host:port",
        ),
        ({"proxy_url": "http://proxy\r\n.example:3128"}, "proxy_url: contains a control"),
        ({"proxy_url": 3128}, "proxy_url: expected a str URL, got int"),
        ({"proxy_headers": {"X": "1"}}, "proxy_headers: given without a proxy_url"),
    ],
)
def test_a_bad_proxy_setting_fails_at_construction(options: dict[str, Any], mentions: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Urllib3Transport(**options)
    assert str(caught.value).startswith(mentions)


def test_a_proxy_and_a_pool_manager_of_your_own_do_not_mix() -> None:
    import urllib3  # noqa: PLC0415

    with pytest.raises(ConfigurationError, match="proxy_url: give either a pool_manager"):
        Urllib3Transport(pool_manager=urllib3.PoolManager(), proxy_url="http://127.0.0.1:3128")
