"""Proxy settings for the urllib3 transport: given explicitly, never read from the
environment.

Why not `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY`: a token request
carries the client secret, and a variable set for another tool (or injected into a
container) would silently route it through an intermediary; tools disagree on what
`NO_PROXY` matches (suffixes, wildcards, CIDR ranges, ports), so honouring it would
mean picking one tool's bugs; and urllib3 itself reads none of them. Whoever wants
the environment's proxy says so: `Urllib3Transport(proxy_url=os.environ["HTTPS_PROXY"])`.
So that ignoring them is never silent, the first transport built without a proxy
while one of them is set logs that once, at INFO, on the `ccg` logger.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
from collections.abc import Mapping
from typing import Final
from urllib.parse import unquote, urlsplit

from ccg._errors import ConfigurationError
from ccg._urls import check_url

__all__ = ["PROXY_VARIABLES", "note_ignored_proxy_variables", "proxy_settings"]

PROXY_VARIABLES: Final = (
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
)
_logger: Final = logging.getLogger("ccg")
_noted = threading.Event()


def note_ignored_proxy_variables() -> None:
    """Log once per process which proxy variables are set and ignored."""
    if _noted.is_set():
        return
    found = [name for name in PROXY_VARIABLES if os.environ.get(name)]
    if found and not _noted.is_set():
        _noted.set()
        _logger.info(
            "ccg ignores %s: pass Urllib3Transport(proxy_url=...) to use a proxy",
            ", ".join(found),
        )


def proxy_settings(
    proxy_url: object, proxy_headers: Mapping[str, str] | None
) -> tuple[str, dict[str, str]]:
    """`proxy_url` checked and without credentials, and the headers for the proxy (the
    credentials it held as `Proxy-Authorization`, unless `proxy_headers` has one)."""
    if not isinstance(proxy_url, str):
        raise ConfigurationError("proxy_url", f"expected a str URL, got {type(proxy_url).__name__}")
    headers = dict(proxy_headers or {})
    try:
        parts = urlsplit(proxy_url)
    except ValueError as exc:
        raise ConfigurationError("proxy_url", f"not a valid URL: {exc}") from None
    if parts.username is not None or parts.password is not None:
        if not any(name.lower() == "proxy-authorization" for name in headers):
            pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
            headers["Proxy-Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        proxy_url = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
    if parts.path not in ("", "/") or parts.query:
        raise ConfigurationError("proxy_url", "a proxy URL is scheme://host:port, with no path")
    # Clear text to the proxy itself is its owner's choice; https targets tunnel through it.
    return check_url("proxy_url", proxy_url, allow_insecure_http=True), headers
