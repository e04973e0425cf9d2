"""What the interop suite knows about each real authorization server: pure data, no I/O.

Every server gets the same registered clients (`CLIENTS`). Where servers differ (how they
read client_secret_basic, what they grant when no scope is asked, which error code they use),
the difference is a field of its `ServerSpec`, so the tests read one table instead of
branching on server names.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from ccg import ClientAuthentication, ClientSecretAuto, ClientSecretBasic, ClientSecretPost

__all__ = [
    "CLIENTS",
    "COLON_ID",
    "FORM_DECODING",
    "INTROSPECTOR",
    "KNOWN_SCOPES",
    "NO_GRANT",
    "PLAIN",
    "RAW_DECODING",
    "READ_ONLY",
    "RENEWING",
    "SERVERS",
    "SPECIAL_SECRET",
    "TOKEN_TTL",
    "AuthOutcome",
    "BasicDecoding",
    "Credential",
    "Method",
    "RegisteredClient",
    "Runtime",
    "ServerSpec",
    "server_named",
]

# -- registered clients -----------------------------------------------------------------


@dataclass(frozen=True)
class RegisteredClient:
    """A client registered on every server."""

    client_id: str
    client_secret: str
    scope: str
    """The scopes it may ask for (space-separated); also what it gets when it asks for none."""
    grants: tuple[str, ...] = ("client_credentials",)

    def as_json(self) -> dict[str, object]:
        """How the server programs read it (`INTEROP_CLIENTS`)."""
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "scope": self.scope,
            "grants": list(self.grants),
        }


PLAIN: Final = RegisteredClient("plain-client", "plain-secret-0123", "read write")
"""Id and secret of unreserved characters only: raw and form-encoded Basic are the same bytes."""
SPECIAL_SECRET: Final = RegisteredClient("special-client", "a%41b+c d:e/f&g=h?i#j", "read write")
"""A secret with `% + : space / & = ? #`; `%41` is a valid escape, so a server that decodes a
raw secret gets `A` instead of `%41` (a wrong secret, not a malformed header)."""
COLON_ID: Final = RegisteredClient("svc:colon-client", "colon-secret", "read write")
"""A client id with `:`, which raw Basic (RFC 2617) cannot carry."""
NO_GRANT: Final = RegisteredClient("no-grant-client", "no-grant-secret", "read write", grants=())
"""A client that may not use the client_credentials grant."""
READ_ONLY: Final = RegisteredClient("read-only-client", "read-only-secret", "read")
"""A client restricted to the `read` scope."""
RENEWING: Final = RegisteredClient("renewing-client", "renewing-secret", "read write")
"""The client of the renewal case (its token requests are told apart by its id)."""
CLIENTS: Final = (PLAIN, SPECIAL_SECRET, COLON_ID, NO_GRANT, READ_ONLY, RENEWING)
INTROSPECTOR: Final = RegisteredClient("resource-server", "resource-server-secret", "", grants=())
"""oidc-provider's resource server: calls the introspection endpoint for /api/me."""

TOKEN_TTL: Final = 2
"""Seconds every server's access tokens live (`INTEROP_TOKEN_TTL`): short enough for renewal."""
KNOWN_SCOPES: Final = ("read", "write", "admin")
"""The scopes every server knows (`INTEROP_SCOPES`; `admin` is granted to no client)."""


# -- client authentication ----------------------------------------------------------------


class Method(enum.Enum):
    """How ccg authenticates to the token endpoint in a case."""

    DEFAULT = "default"
    """No `o_auth_client_authentication`: ccg's default."""
    BASIC = "basic"
    """`ClientSecretBasic()`: id and secret form-urlencoded, then Basic (RFC 6749 §2.3.1)."""
    BASIC_RAW = "basic-raw"
    """`ClientSecretBasic(form_encode=False)`: raw Basic (RFC 2617)."""
    POST = "post"
    """`ClientSecretPost()`: `client_id` and `client_secret` in the form body."""
    AUTO_POST = "auto-post"
    """`ClientSecretAuto(allow_post=True)`: the default, with the post body as a last resort."""

    def authentication(self) -> ClientAuthentication | None:
        """The `o_auth_client_authentication` to pass, or None to pass nothing."""
        match self:
            case Method.DEFAULT:
                return None
            case Method.BASIC:
                return ClientSecretBasic()
            case Method.BASIC_RAW:
                return ClientSecretBasic(form_encode=False)
            case Method.POST:
                return ClientSecretPost()
            case Method.AUTO_POST:
                return ClientSecretAuto(allow_post=True)


class Credential(enum.Enum):
    """The clients of the authentication matrix."""

    PLAIN = "plain"
    SPECIAL_SECRET = "special-secret"
    COLON_ID = "colon-id"

    @property
    def client(self) -> RegisteredClient:
        match self:
            case Credential.PLAIN:
                return PLAIN
            case Credential.SPECIAL_SECRET:
                return SPECIAL_SECRET
            case Credential.COLON_ID:
                return COLON_ID


class AuthOutcome(enum.Enum):
    """What a (method, client) pair gets from a server."""

    TOKEN = "token"
    """A token, which the server's protected endpoint accepts."""
    INVALID_CLIENT = "invalid_client"
    """The server refuses the credentials (they reach it garbled): `invalid_client`."""
    CCG_REFUSES = "ccg refuses"
    """ccg refuses the configuration (`ConfigurationError`): raw Basic cannot carry a `:` id."""
    TOKEN_AFTER_FALLBACK = "token after a fallback"
    """A token, after the server refused form-encoded Basic: the adaptive authentication
    moved on to raw Basic or the post body, and the client keeps that form."""


class BasicDecoding(enum.Enum):
    """How a server reads the id and secret of client_secret_basic."""

    FORM = "form-urldecodes them (RFC 6749 §2.3.1)"
    RAW = "takes them raw (RFC 2617)"


_EVERY_METHOD_WORKS: Final = {(Method.POST, c): AuthOutcome.TOKEN for c in Credential}
_FIRST_FORM_WORKS: Final = {(Method.AUTO_POST, c): AuthOutcome.TOKEN for c in Credential}

FORM_DECODING: Final[Mapping[tuple[Method, Credential], AuthOutcome]] = MappingProxyType(
    {
        **{(Method.DEFAULT, c): AuthOutcome.TOKEN for c in Credential},
        **{(Method.BASIC, c): AuthOutcome.TOKEN for c in Credential},
        (Method.BASIC_RAW, Credential.PLAIN): AuthOutcome.TOKEN,
        # The server decodes `%41` (and `+`) in the raw secret: a different secret.
        (Method.BASIC_RAW, Credential.SPECIAL_SECRET): AuthOutcome.INVALID_CLIENT,
        (Method.BASIC_RAW, Credential.COLON_ID): AuthOutcome.CCG_REFUSES,
        **_EVERY_METHOD_WORKS,
        **_FIRST_FORM_WORKS,
    }
)
"""Outcomes on a server that form-urldecodes Basic credentials."""

RAW_DECODING: Final[Mapping[tuple[Method, Credential], AuthOutcome]] = MappingProxyType(
    {
        (Method.DEFAULT, Credential.PLAIN): AuthOutcome.TOKEN,
        # Form-encoded Basic first, which such a server takes literally; the adaptive
        # default then tries raw Basic (special secret). A `:` id cannot go raw: only the
        # post body, which the default tries only when allowed, carries it.
        (Method.DEFAULT, Credential.SPECIAL_SECRET): AuthOutcome.TOKEN_AFTER_FALLBACK,
        (Method.DEFAULT, Credential.COLON_ID): AuthOutcome.INVALID_CLIENT,
        (Method.AUTO_POST, Credential.PLAIN): AuthOutcome.TOKEN,
        (Method.AUTO_POST, Credential.SPECIAL_SECRET): AuthOutcome.TOKEN_AFTER_FALLBACK,
        (Method.AUTO_POST, Credential.COLON_ID): AuthOutcome.TOKEN_AFTER_FALLBACK,
        (Method.BASIC, Credential.PLAIN): AuthOutcome.TOKEN,
        (Method.BASIC, Credential.SPECIAL_SECRET): AuthOutcome.INVALID_CLIENT,
        (Method.BASIC, Credential.COLON_ID): AuthOutcome.INVALID_CLIENT,
        (Method.BASIC_RAW, Credential.PLAIN): AuthOutcome.TOKEN,
        (Method.BASIC_RAW, Credential.SPECIAL_SECRET): AuthOutcome.TOKEN,
        (Method.BASIC_RAW, Credential.COLON_ID): AuthOutcome.CCG_REFUSES,
        **_EVERY_METHOD_WORKS,
    }
)
"""Outcomes on a server that takes Basic credentials raw."""


# -- the servers ------------------------------------------------------------------------


class Runtime(enum.Enum):
    PYTHON = "python"
    NODE = "node"


def _frozen(mapping: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class ServerSpec:
    """One server program and its quirks. `{base_url}` in a value is the running server's URL."""

    name: str
    """The test id."""
    label: str
    """The product and version."""
    runtime: Runtime
    program: str
    """The file in tests/interop/servers/."""
    token_path: str
    basic_decoding: BasicDecoding
    scope_without_request: str | None
    """The scope a token gets when none is asked for (None: no scope at all)."""
    disallowed_scope_error: str
    """The error for a known scope the client may not have (`write` for READ_ONLY)."""
    unknown_scope_error: str | None
    """The error for a scope the server does not know (None: it drops it and issues a token)."""
    no_grant_error: str
    """The error for a client that may not use the client_credentials grant."""
    wrong_secret_status: Mapping[Method, int]
    """The HTTP status of `invalid_client` for a wrong secret, by method."""
    unknown_client_status: Mapping[Method, int]
    """The HTTP status of `invalid_client` for an unknown client id, by method."""
    target_params: Mapping[str, str]
    """The `audience`/`resource` parameters ccg sends on every token request in the renewal case."""
    audience: str | None
    """What the protected endpoint reports as the token's audience when `target_params` were
    sent (None: the server does not bind tokens to an audience; the sent parameters are
    only recorded)."""
    python_modules: tuple[str, ...] = ()
    """Modules the server program imports (Python servers): missing ones skip its cases."""
    min_node: tuple[int, int] = (0, 0)
    """The oldest Node.js (major, minor) the program runs on (Node servers)."""
    env: Mapping[str, str] = field(default_factory=lambda: _frozen({}))
    """Further environment for the program."""

    @property
    def auth_outcomes(self) -> Mapping[tuple[Method, Credential], AuthOutcome]:
        """The authentication matrix for this server."""
        return FORM_DECODING if self.basic_decoding is BasicDecoding.FORM else RAW_DECODING


_API: Final = "urn:interop:api"
_OIDC_PROVIDER_NODE: Final = (20, 18)
"""oidc-provider 9 calls `URL.parse`, which Node.js has from 20.18 on."""


def _statuses(basic: int, post: int) -> Mapping[Method, int]:
    return MappingProxyType({Method.BASIC: basic, Method.POST: post})


SERVERS: Final[tuple[ServerSpec, ...]] = (
    ServerSpec(
        name="authlib",
        label="Authlib 1.9.10 (Flask 3.1.3)",
        runtime=Runtime.PYTHON,
        program="authlib_server.py",
        token_path="/oauth/token",
        basic_decoding=BasicDecoding.FORM,
        scope_without_request="read write",
        disallowed_scope_error="invalid_scope",
        unknown_scope_error="invalid_scope",
        no_grant_error="unauthorized_client",
        wrong_secret_status=_statuses(basic=401, post=401),
        # Authlib answers an unknown client over the post body with 400.
        unknown_client_status=_statuses(basic=401, post=400),
        target_params=_frozen({"audience": _API, "resource": _API}),
        audience=None,
        python_modules=("authlib", "flask"),
    ),
    ServerSpec(
        name="oidc-provider-opaque",
        label="oidc-provider 9.13.3, opaque tokens, resource indicators (introspection)",
        runtime=Runtime.NODE,
        program="oidc_provider.mjs",
        token_path="/token",
        basic_decoding=BasicDecoding.FORM,
        scope_without_request=None,
        disallowed_scope_error="invalid_scope",
        unknown_scope_error=None,
        no_grant_error="invalid_request",
        wrong_secret_status=_statuses(basic=401, post=401),
        unknown_client_status=_statuses(basic=401, post=401),
        # One resource indicator only; `audience` is not a parameter it knows (ignored).
        target_params=_frozen({"resource": _API}),
        audience=_API,
        env=_frozen({"INTEROP_TOKEN_FORMAT": "opaque"}),
        min_node=_OIDC_PROVIDER_NODE,
    ),
    ServerSpec(
        name="oidc-provider-jwt",
        label="oidc-provider 9.13.3, JWT access tokens, resource indicators (JWKS)",
        runtime=Runtime.NODE,
        program="oidc_provider.mjs",
        token_path="/token",
        basic_decoding=BasicDecoding.FORM,
        scope_without_request=None,
        disallowed_scope_error="invalid_scope",
        unknown_scope_error=None,
        no_grant_error="invalid_request",
        wrong_secret_status=_statuses(basic=401, post=401),
        unknown_client_status=_statuses(basic=401, post=401),
        target_params=_frozen({"resource": _API}),
        audience=_API,
        env=_frozen({"INTEROP_TOKEN_FORMAT": "jwt"}),
        min_node=_OIDC_PROVIDER_NODE,
    ),
    ServerSpec(
        name="django-oauth-toolkit",
        label="django-oauth-toolkit 3.4.1 (Django 5.2.19, oauthlib 4.0.1)",
        runtime=Runtime.PYTHON,
        program="dot_server.py",
        token_path="/o/token/",
        basic_decoding=BasicDecoding.FORM,
        scope_without_request="read write",
        disallowed_scope_error="invalid_scope",
        unknown_scope_error="invalid_scope",
        no_grant_error="unauthorized_client",
        wrong_secret_status=_statuses(basic=401, post=401),
        unknown_client_status=_statuses(basic=401, post=401),
        # RFC 8707 with http(s) URLs only (a URN is invalid_target); the token is then
        # valid only for URLs under it, which /api/me checks. `audience` is ignored.
        target_params=_frozen({"resource": "{base_url}/api", "audience": _API}),
        audience="{base_url}/api",
        python_modules=("django", "oauth2_provider"),
    ),
    ServerSpec(
        name="node-oauth2-server",
        label="@node-oauth/oauth2-server 5.3.0 (node:http)",
        runtime=Runtime.NODE,
        program="node_oauth2_server.mjs",
        token_path="/oauth/token",
        basic_decoding=BasicDecoding.RAW,
        # The model (ours) grants the client's whole scope when none is asked for.
        scope_without_request="read write",
        disallowed_scope_error="invalid_scope",
        unknown_scope_error="invalid_scope",
        no_grant_error="unauthorized_client",
        # 401 when the request had an Authorization header, else 400.
        wrong_secret_status=_statuses(basic=401, post=400),
        unknown_client_status=_statuses(basic=401, post=400),
        target_params=_frozen({"audience": _API, "resource": _API}),
        audience=None,
        min_node=(16, 0),
    ),
)


def server_named(name: str) -> ServerSpec:
    """The spec called `name`."""
    for spec in SERVERS:
        if spec.name == name:
            return spec
    raise KeyError(name)
