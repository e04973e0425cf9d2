"""URLs checked once, at construction, as urllib3 will read them when they are used.

A URL that passes here is absolute http(s), has an ASCII host that urllib3 parses to
the same host and port, no credentials, no control characters or spaces anywhere,
and no fragment. An internationalised host is converted to its A-labels (IDNA),
unless it holds one of the four characters on which IDNA 2003 (Python's codec) and
IDNA 2008 (what urllib3 uses when the `idna` package is installed) disagree: then
the two would name different hosts, so the URL is refused and the A-label asked for.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final
from urllib.parse import SplitResult, urlsplit

from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from ccg._errors import ConfigurationError

__all__ = ["check_url", "has_scheme", "is_loopback", "unsafe_character"]

_UNSAFE: Final = re.compile(
    r"[\x00-\x20\x7f-\xa0\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f\u3000\ufeff]"
)
"""Control characters, spaces and the invisible or space-like code points: none belongs
in a URL, and CR/LF in one is a header injection."""
_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_LABEL: Final = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
_DEVIATIONS: Final = frozenset("\u00df\u03c2\u200c\u200d")
"""ß, final sigma, ZWNJ, ZWJ: mapped away by IDNA 2003, kept by IDNA 2008."""


def is_loopback(host: str) -> bool:
    """`host` is `localhost` or a loopback address."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def has_scheme(url: str) -> bool:
    """`url` starts with a scheme (`https:`, `ftp:`, ...), so it is not a path."""
    return _SCHEME.match(url) is not None


def unsafe_character(text: str) -> str | None:
    """The first control, space or invisible character in `text`, described, or None."""
    found = _UNSAFE.search(text)
    if found is None:
        return None
    return f"U+{ord(found.group()):04X} at position {found.start()}"


def check_url(
    field: str, url: object, *, allow_insecure_http: bool = False, allow_query: bool = True
) -> str:
    """`url`, checked (its host converted to A-labels if it was internationalised), or
    `ConfigurationError` naming `field` and what is wrong.

    Credentials and bearer tokens never travel in clear text to another machine
    unless `allow_insecure_http` says so; `allow_query=False` refuses a query (a base
    URL with one would have paths appended after it).
    """
    if not isinstance(url, str):
        raise ConfigurationError(field, f"expected a str URL, got {type(url).__name__}")
    bad = unsafe_character(url)
    if bad is not None:
        raise ConfigurationError(
            field, f"contains a control, space or invisible character ({bad}); percent-encode it"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigurationError(field, f"not a valid URL: {exc}") from None
    # Credentials first, and the URL never quoted: whatever is wrong, it may hold a password.
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ConfigurationError(field, "must not carry credentials in the URL")
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigurationError(field, "must be an absolute http(s) URL with a host")
    if parts.fragment or url.endswith("#"):
        raise ConfigurationError(field, "must not have a #fragment")
    if not allow_query and (parts.query or "?" in url):
        raise ConfigurationError(
            field, "must not have a ?query: paths are appended to it (put the query on each call)"
        )
    if port == 0:
        raise ConfigurationError(field, "port 0 is not a port to connect to (1-65535)")
    host = _ascii_host(field, parts.hostname)
    if host != parts.hostname:
        url = _with_host(parts, host)
    _check_as_urllib3_reads(field, url, host, port)
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback(host):
        raise ConfigurationError(
            field,
            f"http:// to {host} would send credentials in clear text; use https "
            "(or allow_insecure_http=True)",
        )
    return url


def _ascii_host(field: str, host: str) -> str:
    """`host` (lower case, as urlsplit gives it) as ASCII: an IP address, or DNS labels."""
    if ":" in host:
        try:
            if "%" in host:
                raise ValueError(host)
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ConfigurationError(
                field, f"{host!r} is not an IPv6 address (zone ids are not supported)"
            ) from None
        return host
    if not host.isascii():
        deviation = next((c for c in host if c in _DEVIATIONS), None)
        if deviation is not None:
            raise ConfigurationError(
                field,
                f"the host holds U+{ord(deviation):04X}, which IDNA 2003 and 2008 map to "
                "different hosts; give the host's A-label (xn--...) form",
            )
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ConfigurationError(
                field, f"the internationalised host cannot be converted to IDNA: {exc}"
            ) from None
    labels = host.removesuffix(".").split(".")
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ConfigurationError(
            field,
            f"{host!r} is not a valid host name (letters, digits, '-' and '_' in labels "
            "of 1-63 characters)",
        )
    return host


def _with_host(parts: SplitResult, host: str) -> str:
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return parts._replace(netloc=netloc).geturl()


def _check_as_urllib3_reads(field: str, url: str, host: str, port: int | None) -> None:
    """urllib3 must read the same host and port, or the check above checked another URL."""
    try:
        parsed = parse_url(url)
    except LocationParseError as exc:
        raise ConfigurationError(field, f"urllib3 cannot parse it: {exc}") from None
    if (parsed.host or "").strip("[]").lower() != host or parsed.port != port:
        raise ConfigurationError(field, "urllib3 reads another host or port in it")
