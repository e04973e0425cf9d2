"""What an API call needs before and after it is sent, whichever client sends it: URLs
checked and resolved, the body and headers merged, and what a 401 or 403 says about the
token. Shared by `ApiClient` and `AsyncApiClient`, so both behave the same.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from urllib.parse import urlsplit

import msgspec

from ccg._errors import ConfigurationError
from ccg.core import Headers, HttpReply, InsufficientScope, bearer_challenge

__all__ = [
    "check_url",
    "insufficient_scope",
    "merged",
    "origin",
    "rejection",
    "resolved_url",
]


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


def origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port of `url` (the default port made explicit)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = {"https": 443, "http": 80}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def merged(
    headers: Mapping[str, str] | None, body: bytes | str | None, json: object
) -> tuple[Headers, bytes | str | None]:
    """The caller's headers, with Content-Type for `json`, and the body."""
    all_headers = dict(headers) if headers else {}
    if json is not None:
        if body is not None:
            raise ConfigurationError("json", "give either body or json, not both")
        body = msgspec.json.encode(json)
        if not any(name.lower() == "content-type" for name in all_headers):
            all_headers["Content-Type"] = "application/json"
    return tuple(all_headers.items()), body


def resolved_url(
    base_url: str | None, url: str, requires_auth: bool, allow_insecure_http: bool
) -> str:
    """`url` if absolute (an `http://` one checked when it will carry a token), else under
    `base_url` (`ConfigurationError` without one)."""
    if url.startswith("https://"):
        return url
    if url.startswith("http://"):
        if requires_auth:
            check_url("url", url, allow_insecure_http=allow_insecure_http)
        return url
    if base_url is None:
        raise ConfigurationError("url", f"{url!r} is relative and the client has no base_url")
    return f"{base_url}/{url.lstrip('/')}"


def rejection(
    api_origin: tuple[str, str, int | None] | None, target: str, reply: HttpReply
) -> str | None:
    """Why the 401 `reply` from `target` means the token was rejected, or None when it
    says nothing about the token (another origin than `api_origin`, or a challenge such
    as `invalid_request` that is about the request)."""
    if api_origin is not None and origin(target) != api_origin:
        return None
    challenge = bearer_challenge(reply.headers)
    if challenge is None or challenge.error is None:
        return "HTTP 401"
    if challenge.error != "invalid_token":
        return None
    detail = f": {challenge.error_description[:200]}" if challenge.error_description else ""
    return f"HTTP 401 invalid_token{detail}"


class _ErrorBody(msgspec.Struct, gc=False):
    error: str | None = None
    scope: str | None = None


_ERROR_BODY = msgspec.json.Decoder(_ErrorBody)
_LONGEST_ERROR_BODY = 4096  # an error body longer than this is not read for its code


def insufficient_scope(reply: HttpReply) -> InsufficientScope | None:
    """The event for a 403 `insufficient_scope` `reply`, or None.

    RFC 6750 puts the code in the `WWW-Authenticate: Bearer` challenge; some servers
    (Authlib's resource protector) send it only in a JSON body: both are read.
    """
    challenge = bearer_challenge(reply.headers)
    if challenge is not None and challenge.error is not None:
        if challenge.error != "insufficient_scope":
            return None
        return InsufficientScope(status=reply.status, scope=challenge.scope)
    if not reply.body or len(reply.body) > _LONGEST_ERROR_BODY:
        return None
    try:
        body = _ERROR_BODY.decode(reply.body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None
    if body.error != "insufficient_scope":
        return None
    return InsufficientScope(status=reply.status, scope=body.scope)
