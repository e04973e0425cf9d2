"""`ApiClient`: the seed SDK's client, able to call any endpoint with an automatic bearer token."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

import msgspec
from returns.pipeline import is_successful

from ccg._credentials import ClientCredentialsAuthCredentials
from ccg._errors import ApiTransportError, ConfigurationError
from ccg.core import HttpReply, HttpRequest
from ccg.interp import ClientCredentialsAuthManager, Transport, Urllib3Transport

__all__ = ["ApiClient", "check_url"]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(field: str, url: object, *, allow_insecure_http: bool = False) -> str:
    """`url` if it is an absolute https URL (or http to a loopback host), else `ConfigurationError`.

    Credentials and bearer tokens never travel in clear text to another machine
    unless `allow_insecure_http` says so.
    """
    if not isinstance(url, str):
        raise ConfigurationError(field, f"expected a str URL, got {type(url).__name__}")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        raise ConfigurationError(field, f"not a valid URL: {exc}") from None
    if parts.scheme not in ("https", "http") or not host:
        raise ConfigurationError(field, f"must be an absolute http(s) URL, got {url!r}")
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError(field, "must not carry credentials in the URL")
    if parts.fragment:
        raise ConfigurationError(field, "must not have a #fragment")
    if parts.scheme == "http" and not allow_insecure_http and not _is_loopback(host):
        raise ConfigurationError(
            field,
            f"http:// to {host} would send credentials in clear text; use https "
            "(or allow_insecure_http=True)",
        )
    return url


def _credentials(value: object) -> ClientCredentialsAuthCredentials:
    """`value` if it is credentials (callers without a type checker may pass anything)."""
    if not isinstance(value, ClientCredentialsAuthCredentials):
        raise ConfigurationError(
            "client_credentials_auth_credentials",
            f"expected ClientCredentialsAuthCredentials, got {type(value).__name__}",
        )
    return value


class ApiClient:
    """Calls any HTTP endpoint; endpoints that need auth get `Authorization: Bearer <token>`.

    The token is fetched on the first call that needs it, cached, and renewed
    `o_auth_clock_skew` seconds before it expires. One client is safe to share
    between threads. `transport` and `clock` are for tests (`ccg.testing`).
    """

    def __init__(
        self,
        *,
        client_credentials_auth_credentials: ClientCredentialsAuthCredentials,
        token_url: str,
        base_url: str | None = None,
        transport: Transport | None = None,
        clock: Callable[[], float] = time.time,
        allow_insecure_http: bool = False,
    ) -> None:
        credentials = _credentials(client_credentials_auth_credentials)
        token_url = check_url("token_url", token_url, allow_insecure_http=allow_insecure_http)
        self._base_url = (
            None
            if base_url is None
            else check_url("base_url", base_url, allow_insecure_http=allow_insecure_http).rstrip(
                "/"
            )
        )
        self._allow_insecure_http = allow_insecure_http
        self._transport: Transport = transport or Urllib3Transport()
        self._credentials = credentials
        self._auth_manager = credentials.bind(
            ClientCredentialsAuthManager(
                credentials.policy(token_url),
                transport=self._transport,
                clock=clock,
                token_provider=credentials.o_auth_token_provider,
                on_token_update=credentials.o_auth_on_token_update,
                token=credentials.initial_token,
            )
        )

    @property
    def client_credentials_auth_credentials(self) -> ClientCredentialsAuthCredentials:
        """The credentials this client was built with."""
        return self._credentials

    @property
    def auth_manager(self) -> ClientCredentialsAuthManager:
        """The token manager: `fetch_token()`, `token()`, `o_auth_token`, ..."""
        return self._auth_manager

    def _url(self, url: str, requires_auth: bool) -> str:
        if url.startswith("https://"):
            return url
        if url.startswith("http://"):
            if requires_auth:
                check_url("url", url, allow_insecure_http=self._allow_insecure_http)
            return url
        if self._base_url is None:
            raise ConfigurationError("url", f"{url!r} is relative and the client has no base_url")
        return f"{self._base_url}/{url.lstrip('/')}"

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | str | None = None,
        json: object = None,
        requires_auth: bool = True,
    ) -> HttpReply:
        """Send one request and return its reply, whatever its status.

        `url` is absolute, or a path under `base_url`. With `requires_auth` (the
        default) a usable token is obtained first; if none can be had, the typed
        `TokenAcquisitionError` is raised and nothing is sent. No redirects are
        followed, so the token never reaches another URL.
        """
        target = self._url(url, requires_auth)
        pairs: tuple[tuple[str, str], ...]
        if headers is None and json is None:
            # The common case (no caller headers) skips merging them: it is the hot path.
            pairs = (
                (("Authorization", self._auth_manager.authorization_header()),)
                if requires_auth
                else ()
            )
        else:
            pairs, body = self._merge(headers, body, json, requires_auth)
        sent = self._transport.send(
            HttpRequest(
                method=method,
                url=target,
                headers=pairs,
                body=body.encode() if isinstance(body, str) else (body or b""),
            )
        )
        if not is_successful(sent):
            raise ApiTransportError(f"{method} {url}: {sent.failure().reason}")
        return sent.unwrap()

    def _merge(
        self,
        headers: Mapping[str, str] | None,
        body: bytes | str | None,
        json: object,
        requires_auth: bool,
    ) -> tuple[tuple[tuple[str, str], ...], bytes | str | None]:
        """The caller's headers with Content-Type for `json` and our Authorization, and the body."""
        all_headers = dict(headers) if headers else {}
        if json is not None:
            if body is not None:
                raise ConfigurationError("json", "give either body or json, not both")
            body = msgspec.json.encode(json)
            if not any(name.lower() == "content-type" for name in all_headers):
                all_headers["Content-Type"] = "application/json"
        if requires_auth:
            for name in [n for n in all_headers if n.lower() == "authorization"]:
                del all_headers[name]  # header names are case-insensitive (RFC 9110 §5.1)
            all_headers["Authorization"] = self._auth_manager.authorization_header()
        return tuple(all_headers.items()), body

    def get(self, url: str, *, headers: Mapping[str, str] | None = None) -> HttpReply:
        """`request("GET", url)`."""
        return self.request("GET", url, headers=headers)

    def post(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | str | None = None,
        json: object = None,
    ) -> HttpReply:
        """`request("POST", url, body=... or json=...)`."""
        return self.request("POST", url, headers=headers, body=body, json=json)
