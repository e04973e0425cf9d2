"""The token request and response on the wire (RFC 6749 §2.3.1, §4.4.2, §5.1, §5.2), pure.

`build_token_request` turns a `TokenRequestSpec` into the exact `HttpRequest` to
POST; `decode_token_reply` turns whatever came back into an `OAuthToken` or a
`TokenFailure`. No I/O: the bytes come in and go out as values.
"""

from __future__ import annotations

import base64
import re
from typing import Final
from urllib.parse import quote, quote_plus

import msgspec
from returns.result import Failure, Result, Success

from ccg.core._failures import (
    ErrorResponse,
    MalformedResponse,
    OAuthProviderError,
    TokenFailure,
)
from ccg.core._http import HttpReply, HttpRequest, Limits
from ccg.core._redaction import scrubbed_text
from ccg.core._token import MAX_LIFETIME, OAuthToken, header_problem

__all__ = [
    "BEARER",
    "MAX_TOKEN_RESPONSE_BYTES",
    "AuthenticationForm",
    "ClientAuthentication",
    "ClientSecretAuto",
    "ClientSecretBasic",
    "ClientSecretPost",
    "TokenRequestSpec",
    "basic_credentials",
    "build_token_request",
    "decode_token_reply",
]

MAX_TOKEN_RESPONSE_BYTES: Final = 1 << 20
"""The default largest token response body (1 MiB, as Go's x/oauth2)."""

BEARER: Final = ("bearer",)
"""The token types a client accepts by default (lower case): RFC 6750 bearer tokens."""


class ClientSecretBasic(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="basic"):
    """`client_secret_basic`: id and secret in an HTTP Basic `Authorization` header.

    By default both are form-urlencoded before base64, as RFC 6749 §2.3.1 requires
    (`urllib.parse.quote(x, safe="")`, so a space is `%20`, which every server
    decodes). `form_encode=False` sends them raw, for servers that want RFC 2617.
    """

    form_encode: bool = True
    """False: base64 of the raw `id:secret` (UTF-8), as the seed SDK and Authlib send it."""


class ClientSecretPost(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="post"):
    """`client_secret_post`: `client_id` and `client_secret` in the form body."""


class ClientSecretAuto(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="auto"):
    """`client_secret_basic` that adapts to the server (the default).

    Servers split on RFC 6749 §2.3.1: some decode the form-encoded id and secret in the
    Basic header, others read them raw. The two differ only for ids and secrets with
    characters outside `[A-Za-z0-9_.~-]`. Form-encoded Basic goes first; when it is
    refused (`invalid_client`, or a 401/403 without an OAuth error body) raw Basic is
    tried once if it differs, then `client_secret_post` once if `allow_post` (the
    server's metadata lists it, or you allow it). What worked is kept for the client's
    later fetches; when every form is refused, the error lists the forms tried.
    """

    allow_post: bool = False
    """Also try `client_secret_post` (once, last)."""


ClientAuthentication = ClientSecretAuto | ClientSecretBasic | ClientSecretPost
"""How the client proves who it is to the token endpoint."""

AuthenticationForm = ClientSecretBasic | ClientSecretPost
"""One concrete way of sending the credentials, as a request carries them."""


class TokenRequestSpec(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Everything needed to build the token request. Validated by whoever builds it.

    `repr()` never shows `client_secret`.
    """

    token_url: str
    """The token endpoint."""
    client_id: str
    """The OAuth 2 client id."""
    client_secret: str
    """The OAuth 2 client secret."""
    scopes: tuple[str, ...] = ()
    """Scopes to ask for; `scope` is sent space-joined, and only when there are some."""
    extra_params: tuple[tuple[str, str], ...] = ()
    """Further form parameters sent on every fetch (`audience`, `resource`, ...), in order."""
    authentication: ClientAuthentication = ClientSecretAuto()
    """Adaptive `client_secret_basic` (form-encoded first) unless told otherwise."""

    def __rich_repr__(self) -> list[tuple[str, object]]:
        """What `rich` shows: the fields, with the secret redacted."""
        return [
            ("token_url", self.token_url),
            ("client_id", self.client_id),
            ("client_secret", "***"),
            ("scopes", self.scopes),
            ("extra_params", self.extra_params),
            ("authentication", self.authentication),
        ]

    def __repr__(self) -> str:
        return (
            f"TokenRequestSpec(token_url={self.token_url!r}, client_id={self.client_id!r}, "
            f"client_secret='***', scopes={self.scopes!r}, extra_params={self.extra_params!r}, "
            f"authentication={self.authentication!r})"
        )


# Characters that percent-encoding (`quote`/`quote_plus` with safe="") leaves as they are.
# Ids, secrets and parameters are usually made of them only, and matching them is much
# cheaper than quoting them (see benchmarks/): this is a first fetch's main core work.
_UNRESERVED: Final = re.compile(r"[A-Za-z0-9_.~-]*")


def _quoted(value: str) -> str:
    return value if _UNRESERVED.fullmatch(value) else quote(value, safe="")


def _form_encoded(pairs: list[tuple[str, str]]) -> bytes:
    """`urllib.parse.urlencode(pairs)`, byte for byte (space as `+`), faster."""
    return "&".join(
        f"{k if _UNRESERVED.fullmatch(k) else quote_plus(k, safe='')}="
        f"{v if _UNRESERVED.fullmatch(v) else quote_plus(v, safe='')}"
        for k, v in pairs
    ).encode("ascii")


def basic_credentials(client_id: str, client_secret: str, *, form_encode: bool) -> str:
    """The `Authorization` value of `client_secret_basic`: `Basic base64(id:secret)`, the
    two form-urlencoded first (RFC 6749 §2.3.1) unless `form_encode` is False."""
    if form_encode:
        client_id, client_secret = _quoted(client_id), _quoted(client_secret)
    raw = f"{client_id}:{client_secret}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def build_token_request(
    spec: TokenRequestSpec,
    *,
    extra_params: tuple[tuple[str, str], ...] = (),
    limits: Limits | None = None,
    form: AuthenticationForm | None = None,
) -> HttpRequest:
    """The RFC 6749 §4.4.2 access token request for `spec`, plus `extra_params` for this one.

    >>> r = build_token_request(TokenRequestSpec(
    ...     token_url="https://as.example/token", client_id="id", client_secret="s",
    ...     scopes=("read", "write")))
    >>> r.method, r.body
    ('POST', b'grant_type=client_credentials&scope=read+write')
    """
    fields: list[tuple[str, str]] = [("grant_type", "client_credentials")]
    if spec.scopes:
        fields.append(("scope", " ".join(spec.scopes)))
    fields.extend(spec.extra_params)
    fields.extend(extra_params)
    headers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Accept", "application/json"),
    ]
    auth = spec.authentication if form is None else form
    if isinstance(auth, ClientSecretAuto):
        auth = ClientSecretBasic()
    if isinstance(auth, ClientSecretBasic):
        basic = basic_credentials(spec.client_id, spec.client_secret, form_encode=auth.form_encode)
        headers.append(("Authorization", basic))
    else:
        fields.extend((("client_id", spec.client_id), ("client_secret", spec.client_secret)))
    return HttpRequest(
        method="POST",
        url=spec.token_url,
        headers=tuple(headers),
        body=_form_encoded(fields),
        limits=limits,
    )


class _TokenBody(msgspec.Struct, kw_only=True, gc=False):
    # Lenient on purpose: servers send extra fields, string lifetimes, or omit token_type.
    access_token: str
    token_type: str = "Bearer"
    expires_in: int | float | str | None = None
    scope: str | None = None
    refresh_token: str | None = None
    refresh_in: int | float | str | None = None
    error: object = None


class _ErrorBody(msgspec.Struct, kw_only=True, gc=False):
    error: str
    error_description: str | None = None
    error_uri: str | None = None


# msgspec reports invalid UTF-8 inside a JSON string as UnicodeDecodeError, and JSON
# nested deeper than the interpreter's stack as RecursionError (a 2 KB body is enough).
# A body that passed the size limit may still decode into more than memory allows.
_UNDECODABLE: Final = (msgspec.DecodeError, UnicodeDecodeError, RecursionError, MemoryError)
_TOKEN_DECODER: Final = msgspec.json.Decoder(_TokenBody)
_ERROR_DECODER: Final = msgspec.json.Decoder(_ErrorBody)
_KNOWN_ERRORS: Final = {e.value: e for e in OAuthProviderError}
_LIFETIME_TEXT: Final = re.compile(r"[0-9]{1,20}(?:\.[0-9]{1,9})?")


def _clipped(text: str, limit: int, forms: tuple[str, ...]) -> str:
    """At most `limit` characters of `text`, scrubbed of the secret's `forms` first (so
    that no form is cut in two and left half visible)."""
    longest = len(forms[0]) if forms else 0
    return scrubbed_text(text[: limit + longest], forms)[:limit]


def _number(value: int | float) -> str:
    """`value` as text, a huge one cut to its first digits and its length."""
    text = str(value)
    return text if len(text) <= 40 else f"{text[:20]}... ({len(text)} characters)"


def _lifetime(raw: int | float | str | None, forms: tuple[str, ...] = ()) -> int | str | None:
    """`expires_in` as whole seconds, None if absent, or a string saying why it is unusable."""
    if raw is None:
        return None
    if isinstance(raw, str):
        text = raw.strip()
        if not _LIFETIME_TEXT.fullmatch(text):
            return f"expires_in is not a number: {_clipped(raw, 40, forms)!r}"
        raw = float(text) if "." in text else int(text)
    if raw < 0:
        return f"expires_in is negative: {_number(raw)}"
    if raw > MAX_LIFETIME:
        return f"expires_in is absurdly large: {_number(raw)}"
    if 0 < raw < 1:
        # Truncated it would be 0, which means "unknown": a token used until a 401.
        return f"expires_in is under a second: {raw}"
    return int(raw)


def _decode_token(
    reply: HttpReply, token_types: tuple[str, ...], forms: tuple[str, ...]
) -> Result[OAuthToken, TokenFailure]:
    def malformed(reason: str) -> Failure[TokenFailure]:
        return Failure(MalformedResponse(status=reply.status, reason=reason, headers=reply.headers))

    try:
        body = _TOKEN_DECODER.decode(reply.body)
    except _UNDECODABLE as exc:
        # Some servers report errors with a 200; an error body is still an error.
        error = _decode_error(reply, forms)
        if isinstance(error, ErrorResponse):
            return Failure(error)
        return malformed(f"not a token: {type(exc).__name__}: {str(exc)[:200]}")
    if body.error is not None:
        # A token that comes with an error is not trusted: the error wins (as in oauthlib).
        return Failure(_decode_error(reply, forms))
    unsafe = header_problem("access_token", body.access_token)
    if unsafe is not None:
        return malformed(unsafe)
    if body.token_type.lower() not in token_types:
        token_type = _clipped(body.token_type, 40, forms)
        return malformed(f"token_type {token_type!r} is not one of {token_types}")
    lifetime = _lifetime(body.expires_in, forms)
    if isinstance(lifetime, str):
        return malformed(lifetime)
    # Advice only (Azure AD's `refresh_in`): an unusable one is ignored, not fatal.
    refresh_in = _lifetime(body.refresh_in)
    return Success(
        OAuthToken(
            access_token=body.access_token,
            token_type=body.token_type,
            expires_in=lifetime,
            scope=body.scope,
            refresh_token=body.refresh_token,
            refresh_in=refresh_in if isinstance(refresh_in, int) else None,
        )
    )


def _decode_error(reply: HttpReply, forms: tuple[str, ...]) -> TokenFailure:
    try:
        body = _ERROR_DECODER.decode(reply.body)
    except _UNDECODABLE:
        if b"access_token" in reply.body:
            snippet = "<withheld: it mentions an access_token>"
        elif b"\\u" in reply.body:
            # A JSON escape (`acc\\u0065ss_token`) may spell the same member.
            snippet = "<withheld: it has \\u escapes, which may spell an access_token>"
        elif b"grant_type" in reply.body or b"client_secret" in reply.body:
            snippet = "<withheld: it echoes the token request>"
        else:
            snippet = repr(_clipped(reply.body.decode("utf-8", "replace"), 200, forms))
        return MalformedResponse(
            status=reply.status,
            reason=f"HTTP {reply.status} without an OAuth error: {snippet}",
            headers=reply.headers,
        )
    return ErrorResponse(
        status=reply.status,
        error=_KNOWN_ERRORS.get(body.error, body.error),
        error_description=body.error_description,
        error_uri=body.error_uri,
        headers=reply.headers,
    )


def decode_token_reply(
    reply: HttpReply,
    *,
    token_types: tuple[str, ...] = BEARER,
    max_body_bytes: int | None = MAX_TOKEN_RESPONSE_BYTES,
    secret_forms: tuple[str, ...] = (),
) -> Result[OAuthToken, TokenFailure]:
    """The token in a 2xx reply (§5.1), or why there is none (§5.2 error or malformed).

    `token_types` are the accepted `token_type`s in lower case. A body over
    `max_body_bytes` is refused undecoded (a transport should not have read it).
    Text quoted from the reply is scrubbed of `secret_forms` (see `secret_forms()`)
    before it is cut short; a body that echoes the token request is not quoted.
    The token has no `expiry` yet: whoever receives it stamps it.
    """
    if max_body_bytes is not None and len(reply.body) > max_body_bytes:
        return Failure(
            MalformedResponse(
                status=reply.status,
                reason=f"response of {len(reply.body)} bytes is larger than {max_body_bytes}",
                headers=reply.headers,
            )
        )
    if 200 <= reply.status < 300:
        return _decode_token(reply, token_types, secret_forms)
    return Failure(_decode_error(reply, secret_forms))
