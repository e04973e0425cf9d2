"""The origins an adapter sends its bearer to, and what a reply says about the token."""

from __future__ import annotations

from collections.abc import Iterable

from ccg._api_calls import check_url, origin
from ccg._checks import checked_flag
from ccg._errors import ConfigurationError
from ccg.core import Headers, HttpReply

__all__ = ["Origins", "reply_of"]

_DEFAULT_PORTS = {"https": 443, "http": 80}


class Origins:
    """The origins (scheme, host, port) a bearer may be sent to, checked once."""

    __slots__ = ("_allowed", "_prefixes", "_shown")

    def __init__(self, origins: Iterable[str], allow_insecure_http: bool) -> None:
        insecure = checked_flag("allow_insecure_http", allow_insecure_http)
        if isinstance(origins, str):
            origins = [origins]
        checked = [check_url("origins", url, allow_insecure_http=insecure) for url in list(origins)]
        if not checked:
            raise ConfigurationError("origins", "name at least one origin to send the token to")
        self._allowed = frozenset(origin(url) for url in checked)
        self._shown = ", ".join(sorted({url.rstrip("/") for url in checked}))
        # What a normalised URL on an allowed origin starts with (requests' prepared URLs
        # are normalised: scheme and host lower case, the default port left out).
        prefixes: list[str] = []
        for scheme, host, port in self._allowed:
            netloc = f"[{host}]" if ":" in host else host
            prefixes.append(f"{scheme}://{netloc}:{port}/")
            if port == _DEFAULT_PORTS.get(scheme):
                prefixes.append(f"{scheme}://{netloc}/")
        self._prefixes = tuple(prefixes)

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
        if target not in self._allowed:
            scheme, host, port = target
            raise ConfigurationError(
                "origins",
                f"{scheme}://{host}:{port} is not among the origins this auth sends its token "
                f"to ({self._shown}); add it to origins= to allow it",
            )


def reply_of(status: int, headers: Headers, body: bytes = b"") -> HttpReply:
    """An `HttpReply` with `status` and `headers` (and the body of a 403), for
    `rejection` and `insufficient_scope` to read."""
    return HttpReply(status=status, headers=headers, body=body)
