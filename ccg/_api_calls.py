"""What an API call needs before and after it is sent, whichever client sends it: URLs
checked and resolved, the body and headers merged, and what a 401 or 403 says about the
token. Shared by `ApiClient` and `AsyncApiClient`, so both behave the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import msgspec

from ccg._errors import ConfigurationError
from ccg._origins import Origins
from ccg._urls import check_url, has_scheme, unsafe_character
from ccg.core import Headers, HttpReply, InsufficientScope, bearer_challenge

__all__ = [
    "insufficient_scope",
    "merged",
    "rejection",
    "resolved_url",
    "token_origins",
]


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


def token_origins(
    base_url: object, origins: Iterable[str], allow_insecure_http: bool
) -> tuple[str | None, Origins]:
    """`base_url` checked (no query: paths go after it) and without its trailing slash,
    and the origins a client's token may go to: that of `base_url` and `origins`."""
    if base_url is not None:
        base_url = check_url(
            "base_url", base_url, allow_insecure_http=allow_insecure_http, allow_query=False
        ).rstrip("/")
    if isinstance(origins, str):
        origins = [origins]
    listed = [base_url] if isinstance(base_url, str) else []
    listed.extend(origins)
    return base_url if isinstance(base_url, str) else None, Origins(
        listed, allow_insecure_http, fallback="base_url"
    )


def resolved_url(
    base_url: str | None, url: object, origins: Origins | None, allow_insecure_http: bool
) -> str:
    """`url` if absolute, else under `base_url` (`ConfigurationError` without one).

    `origins` (given when the request will carry a token) must hold the URL's origin;
    a URL with control characters or spaces is refused before anything is sent.
    """
    if not isinstance(url, str):
        raise ConfigurationError("url", f"expected a str URL, got {type(url).__name__}")
    bad = unsafe_character(url)
    if bad is not None:
        raise ConfigurationError(
            "url", f"contains a control, space or invisible character ({bad}); percent-encode it"
        )
    if has_scheme(url):
        if origins is not None and url not in origins:
            check_url("url", url, allow_insecure_http=allow_insecure_http)
            origins.check(url)
        return url
    if base_url is None:
        raise ConfigurationError("url", f"{url!r} is relative and the client has no base_url")
    return f"{base_url}/{url.lstrip('/')}"


def rejection(reply: HttpReply) -> str | None:
    """Why the 401 `reply` means the token was rejected, or None when it says nothing
    about the token (a challenge such as `invalid_request` that is about the request).
    Only origins the token may go to ever see it, so any of them may reject it."""
    challenge = bearer_challenge(reply.headers)
    if challenge is None or challenge.error is None:
        return "HTTP 401"
    if challenge.error != "invalid_token":
        return None
    # Cut short (and scrubbed of the token it may echo) by the manager it is reported to.
    detail = f": {challenge.error_description}" if challenge.error_description else ""
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
