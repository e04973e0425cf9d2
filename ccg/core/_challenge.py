"""`WWW-Authenticate: Bearer ...` (RFC 6750 §3): what a protected endpoint said about a token.

A header holds one or more challenges (RFC 9110 §11.6.1), each a scheme followed by
auth-params or a token68, all separated by commas, and a quoted-string may hold
commas and scheme names of its own. The value is first cut at the commas outside
quotes; an element that starts with a name not followed by `=` begins a challenge.
Only the Bearer challenge's params are kept, leniently.
"""

from __future__ import annotations

import re
from typing import Final

import msgspec

from ccg.core._http import Headers

__all__ = ["BearerChallenge", "bearer_challenge"]

_TOKEN: Final = r"[A-Za-z0-9_!#$%&'*+.^`|~-]+"
_SCHEME_START: Final = re.compile(rf"({_TOKEN})(?:\s+(.*))?", re.S)
_PARAM: Final = re.compile(rf'({_TOKEN})\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*', re.S)
_UNESCAPE: Final = re.compile(r"\\(.)", re.S)


class BearerChallenge(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The parameters of a `Bearer` challenge (all optional)."""

    error: str | None = None
    """`invalid_token`, `invalid_request` or `insufficient_scope` (RFC 6750 §3.1)."""
    error_description: str | None = None
    """Human-readable detail."""
    scope: str | None = None
    """The scopes the resource needs (with `insufficient_scope`)."""
    realm: str | None = None
    """The protection space."""


def _elements(value: str) -> list[str]:
    """`value` cut at the commas outside quoted strings, each element stripped."""
    elements: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in value:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            elements.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    elements.append("".join(current).strip())
    return [element for element in elements if element]


def _challenges(value: str) -> list[tuple[str, list[str]]]:
    """Each challenge in `value`: its scheme (lower case) and its param elements."""
    found: list[tuple[str, list[str]]] = []
    for element in _elements(value):
        start = _SCHEME_START.fullmatch(element)
        if start is not None and not (start.group(2) or "").startswith("="):
            scheme, rest = start.group(1), start.group(2)
            found.append((scheme.lower(), [rest] if rest else []))
        elif found:
            found[-1][1].append(element)
    return found


def _params(elements: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for element in elements:
        m = _PARAM.fullmatch(element)
        if m is None:
            continue  # a token68, or junk: no param
        name, quoted, plain = m.groups()
        value = _UNESCAPE.sub(r"\1", quoted) if quoted is not None else plain
        params.setdefault(name.lower(), value)
    return params


def bearer_challenge(headers: Headers) -> BearerChallenge | None:
    """The first `Bearer` challenge in `headers`, or None when there is none."""
    for name, value in headers:
        if name.lower() != "www-authenticate":
            continue
        for scheme, elements in _challenges(value):
            if scheme == "bearer":
                params = _params(elements)
                return BearerChallenge(
                    error=params.get("error"),
                    error_description=params.get("error_description"),
                    scope=params.get("scope"),
                    realm=params.get("realm"),
                )
    return None
