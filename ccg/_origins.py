"""The origins a bearer token may be sent to, checked once and then on every call.

A token goes to the origins its owner named and nowhere else: a protected call to
any other origin is a `ConfigurationError` naming the option that would allow it,
raised before anything is sent. Clients, the adapters and the async client share it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final
from urllib.parse import urlsplit

from ccg._errors import ConfigurationError
from ccg._urls import check_url

__all__ = ["Origin", "Origins", "origin"]

Origin = tuple[str, str, int | None]
"""Scheme, lower-case host and port (the default one made explicit)."""

_DEFAULT_PORTS: Final = {"https": 443, "http": 80}


def origin(url: str) -> Origin:
    """Scheme, host and port of `url` (the default port made explicit)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = _DEFAULT_PORTS.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


class Origins:
    """The origins (scheme, host, port) a bearer may be sent to.

    `option` is the setting that lists them, named in every refusal; `fallback`
    says what else would allow an origin (the client's `base_url`).
    """

    __slots__ = ("_allowed", "_fallback", "_option", "_prefixes", "_shown")

    def __init__(
        self,
        urls: Iterable[str],
        allow_insecure_http: bool,
        *,
        option: str = "origins",
        fallback: str | None = None,
    ) -> None:
        if isinstance(urls, str):
            urls = [urls]
        checked = [check_url(option, url, allow_insecure_http=allow_insecure_http) for url in urls]
        self._option = option
        self._fallback = fallback
        self._allowed = frozenset(origin(url) for url in checked)
        self._shown = ", ".join(
            sorted(f"{scheme}://{_netloc(host)}:{port}" for scheme, host, port in self._allowed)
        )
        # What a normalised URL on an allowed origin starts with (requests' prepared URLs
        # are normalised: scheme and host lower case, the default port left out).
        prefixes: list[str] = []
        for scheme, host, port in self._allowed:
            prefixes.append(f"{scheme}://{_netloc(host)}:{port}/")
            if port == _DEFAULT_PORTS.get(scheme):
                prefixes.append(f"{scheme}://{_netloc(host)}/")
        self._prefixes = tuple(prefixes)

    def __bool__(self) -> bool:
        return bool(self._allowed)

    def __contains__(self, url: str) -> bool:
        return url.startswith(self._prefixes) or origin(url) in self._allowed

    def check_normalised(self, url: str) -> None:
        """`check`, at the cost of one `startswith` for a normalised URL on an allowed origin."""
        if not url.startswith(self._prefixes):
            self.check(url)

    def check_parts(self, scheme: str, host: str, port: int | None, url: object) -> None:
        """`check` for a URL already parsed (httpx's), without parsing it again."""
        if port is None:
            port = _DEFAULT_PORTS.get(scheme)
        if (scheme, host.lower(), port) not in self._allowed:
            self.check(str(url))

    def check(self, url: str) -> None:
        """`ConfigurationError` unless `url` is on one of the origins, before anything is sent."""
        target = origin(url)
        if target in self._allowed:
            return
        scheme, host, port = target
        where = f"{scheme}://{_netloc(host)}:{port}"
        allowed = f"({self._shown})" if self._allowed else "(none yet)"
        also = f" or set {self._fallback}=" if self._fallback and not self._allowed else ""
        raise ConfigurationError(
            self._option,
            f"{where} is not among the origins the token is sent to {allowed}; "
            f"add it to {self._option}={also} to allow it",
        )


def _netloc(host: str) -> str:
    return f"[{host}]" if ":" in host else host
