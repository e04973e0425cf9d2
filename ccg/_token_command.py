"""`ccg token`: get one access token with the client credentials grant and print it.

The client secret comes from the `CCG_CLIENT_SECRET` environment variable or from
stdin, never from the command line (argv shows in `ps` and in shell history). The
token endpoint is `--token-url`, or is read from the metadata of `--issuer`
(RFC 8414, then OpenID Connect discovery). Every failure is one line on stderr,
never a traceback or a secret, and its exit code says what kind it was.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Final, NoReturn
from urllib.parse import urlsplit, urlunsplit

import msgspec
from returns.result import Success

from ccg._client import ApiClient
from ccg._credentials import ClientCredentialsAuthCredentials
from ccg._errors import (
    ConfigurationError,
    OAuthProviderException,
    TokenAcquisitionError,
    TokenFetchAbandoned,
)
from ccg._urls import check_url
from ccg.core import (
    TOKEN_REQUEST_LIMITS,
    ClientAuthentication,
    ClientSecretAuto,
    ClientSecretBasic,
    ClientSecretPost,
    ErrorResponse,
    HttpRequest,
    OAuthToken,
    scrubbed_text,
    secret_forms,
)
from ccg.interp import Transport, Urllib3Transport

__all__ = [
    "DESCRIPTION",
    "EPILOG",
    "EXIT_NETWORK",
    "EXIT_OAUTH",
    "EXIT_OK",
    "EXIT_UNEXPECTED",
    "EXIT_USAGE",
    "SECRET_VARIABLE",
    "configure",
    "metadata_urls",
    "run",
]

EXIT_OK: Final = 0
EXIT_UNEXPECTED: Final = 1
EXIT_USAGE: Final = 2
EXIT_OAUTH: Final = 3
EXIT_NETWORK: Final = 4

SECRET_VARIABLE: Final = "CCG_CLIENT_SECRET"
_MAX_SECRET_BYTES: Final = 64 * 1024
_MAX_SHOWN: Final = 200
"""Characters of a server-supplied value (an issuer, a URL) shown in a message."""
_AUTH_CHOICES: Final = ("auto", "basic", "basic-raw", "post")
_OPTION_OF_FIELD: Final = {
    "token_url": "--token-url",
    "o_auth_client_id": "--client-id",
    "o_auth_client_secret": "the client secret",
    "o_auth_scopes": "--scope",
    "o_auth_token_request_params": "--param",
    "o_auth_client_authentication": "--auth",
}
_RFC8414: Final = "/.well-known/oauth-authorization-server"
_OIDC: Final = "/.well-known/openid-configuration"

DESCRIPTION: Final = f"""\
Get an access token from an OAuth 2.0 token endpoint with the client credentials grant
(RFC 6749 §4.4) and print it. The client secret is read from the {SECRET_VARIABLE}
environment variable or, when that is not set (or with --client-secret-stdin), from the
first line of stdin; it is never taken as an argument."""
EPILOG: Final = f"""\
examples:
  export {SECRET_VARIABLE}=...   # or: ... < secret-file
  ccg token --token-url https://auth.example/oauth/token --client-id my-app --scope read
  curl -H "Authorization: Bearer $(ccg token --raw --issuer https://auth.example \\
      --client-id my-app --auth post --param audience=https://api.example)" https://api.example/

output:
  JSON (sorted keys): access_token, token_type, expires_in, expiry (UTC epoch seconds),
  expires_at (ISO 8601 UTC) and scope, those the server sent; --raw prints the access token alone.

exit codes:
  {EXIT_OK}  a token was printed
  {EXIT_UNEXPECTED}  an unexpected error (a bug: please report it)
  {EXIT_USAGE}  usage or configuration error (bad option, no secret, http:// to another host)
  {EXIT_OAUTH}  the token endpoint refused: an OAuth error (its code is shown) or a bare 401/403
  {EXIT_NETWORK}  network or server error: unreachable, timed out, TLS, a malformed reply,
     or no usable metadata at --issuer
  130  interrupted (Ctrl-C)
"""


class CommandError(Exception):
    """A failure with its exit code and its one-line message (already safe to show)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _RefuseSecretArgument(argparse.Action):
    """`--client-secret` exists only to refuse it, without echoing what followed it."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,  # noqa: ARG002 - argparse's signature
        values: str | Sequence[object] | None,  # noqa: ARG002 - never looked at
        option_string: str | None = None,
    ) -> NoReturn:
        parser.error(
            f"{option_string}: the client secret is never taken from the command line "
            f"(ps and shell history would show it); set {SECRET_VARIABLE} or pipe it on stdin"
        )


def configure(parser: argparse.ArgumentParser) -> None:
    """Add `ccg token`'s options to `parser` (its description and epilog are set by the caller)."""
    endpoint = parser.add_mutually_exclusive_group(required=True)
    endpoint.add_argument(
        "--token-url", metavar="URL", help="the token endpoint (https, or http to loopback)"
    )
    endpoint.add_argument(
        "--issuer",
        metavar="URL",
        help="the authorization server's issuer: the token endpoint (and, with --auth auto, "
        "the client authentication it takes) is read from its RFC 8414 or OpenID Connect "
        "metadata",
    )
    parser.add_argument("--client-id", required=True, metavar="ID", help="the OAuth client id")
    parser.add_argument(
        "--scope",
        action="append",
        default=[],
        metavar="SCOPE",
        help="a scope to request; repeat it (or give several separated by spaces)",
    )
    parser.add_argument(
        "--auth",
        choices=_AUTH_CHOICES,
        default="auto",
        help="client authentication: auto (default: HTTP Basic, form-encoded first, then raw "
        "if refused; with --issuer also client_secret_post when the metadata lists it), "
        "basic (client_secret_basic, form-encoded as RFC 6749 §2.3.1 says), basic-raw "
        "(Basic without form-encoding), post (client_secret_post: id and secret in the body)",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an extra token request parameter, e.g. audience=https://api.example; repeatable",
    )
    parser.add_argument(
        "--client-secret-stdin",
        action="store_true",
        help=f"read the secret from stdin even if {SECRET_VARIABLE} is set "
        "(prompted for without echo when stdin is a terminal)",
    )
    parser.add_argument(
        "--raw", action="store_true", help="print only the access token (for $(...) in a header)"
    )
    parser.add_argument(
        "--allow-insecure-http",
        action="store_true",
        help="allow http:// to hosts other than loopback (sends the secret in clear text)",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log ccg's token events to stderr"
    )
    parser.add_argument(
        "--client-secret",
        "--secret",
        nargs="?",
        action=_RefuseSecretArgument,
        help=argparse.SUPPRESS,
    )


@dataclass(frozen=True)
class _Options:
    token_url: str | None
    issuer: str | None
    client_id: str
    scopes: tuple[str, ...]
    auth: str
    params: tuple[str, ...]
    secret_from_stdin: bool
    raw: bool
    allow_insecure_http: bool
    verbose: bool

    @classmethod
    def of(cls, args: argparse.Namespace) -> _Options:
        return cls(
            token_url=args.token_url,
            issuer=args.issuer,
            client_id=args.client_id,
            scopes=tuple(scope for value in args.scope for scope in value.split()),
            auth=args.auth,
            params=tuple(args.param),
            secret_from_stdin=args.client_secret_stdin,
            raw=args.raw,
            allow_insecure_http=args.allow_insecure_http,
            verbose=args.verbose,
        )


def run(
    args: argparse.Namespace,
    *,
    environ: Mapping[str, str],
    stdin: IO[str] | None,
    stdout: IO[str],
    stderr: IO[str],
) -> int:
    """Run `ccg token` with the parsed `args`; return its exit code.

    Whatever goes wrong is reported as one line on `stderr`: every form of the secret
    that ccg knows of is scrubbed from it, and control characters are escaped.
    """
    options = _Options.of(args)
    secret: str | None = None
    logger = logging.getLogger("ccg")
    level = logger.level
    handler = _log_handler(stderr) if options.verbose else None
    if handler is not None:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    try:
        params = _params(options.params)
        secret = _secret(options, environ, stdin)
        token = _fetch(options, secret, params)
        stdout.write((token.access_token if options.raw else _token_json(token)) + "\n")
        stdout.flush()
    except (Exception, KeyboardInterrupt) as error:  # the one line, never a traceback
        code, message = _outcome(error)
        if secret:
            message = scrubbed_text(message, secret_forms(options.client_id, secret))
        stderr.write(f"ccg token: error: {_one_line(message)}\n")
        stderr.flush()
        return code
    finally:
        if handler is not None:
            logger.removeHandler(handler)
            logger.setLevel(level)
    return EXIT_OK


def _outcome(error: BaseException) -> tuple[int, str]:
    """The exit code for `error` and the message that tells what went wrong."""
    match error:
        case CommandError(code=code, message=message):
            return code, message
        case ConfigurationError():
            option = _OPTION_OF_FIELD.get(error.field, error.field)
            return EXIT_USAGE, f"{option}: {_options_named(error.problem)}"
        case OAuthProviderException():
            detail = f": {error.error_description}" if error.error_description else ""
            return EXIT_OAUTH, f"{error.error} (HTTP {error.status}){detail}{_tried(error)}"
        case TokenFetchAbandoned():
            return EXIT_UNEXPECTED, f"unexpected: {error}"
        case TokenAcquisitionError(status=401 | 403):
            return EXIT_OAUTH, _without_retry_note(error)
        case TokenAcquisitionError():
            return EXIT_NETWORK, _without_retry_note(error)
        case KeyboardInterrupt():
            return 130, "interrupted"
        case _:
            return EXIT_UNEXPECTED, f"unexpected {type(error).__name__}: {error}"


# -- input ---------------------------------------------------------------------------


def _params(given: Sequence[str]) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for item in given:
        name, equals, value = item.partition("=")
        if not equals or not name:  # the value is not repeated: it may be anything
            missing = "no '='" if not equals else "an empty NAME"
            raise CommandError(EXIT_USAGE, f"--param: expected NAME=VALUE, got one with {missing}")
        params.setdefault(name, []).append(value)
    return params


def _secret(options: _Options, environ: Mapping[str, str], stdin: IO[str] | None) -> str:
    if not options.secret_from_stdin and SECRET_VARIABLE in environ:
        secret = environ[SECRET_VARIABLE]
        where = SECRET_VARIABLE
    elif stdin is not None and not stdin.isatty():
        secret = _read_line(stdin)
        where = "the first line of stdin"
    elif options.secret_from_stdin and stdin is not None:
        secret = getpass.getpass(f"client secret for {options.client_id}: ")
        where = "the prompt"
    else:
        raise CommandError(
            EXIT_USAGE,
            f"no client secret: set {SECRET_VARIABLE} or pipe the secret on stdin "
            "(use --client-secret-stdin to be prompted for it)",
        )
    if not secret:
        raise CommandError(EXIT_USAGE, f"no client secret: {where} is empty")
    try:
        secret.encode("utf-8")
    except UnicodeEncodeError:
        raise CommandError(EXIT_USAGE, f"the client secret in {where} is not UTF-8") from None
    return secret


def _read_line(stdin: IO[str]) -> str:
    """The first line of `stdin` without its line ending, read as UTF-8 bytes if it can."""
    buffer: IO[bytes] | None = getattr(stdin, "buffer", None)
    if buffer is None:
        line = stdin.readline(_MAX_SECRET_BYTES + 1)
    else:
        raw = buffer.readline(_MAX_SECRET_BYTES + 1)
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise CommandError(EXIT_USAGE, "the client secret on stdin is not UTF-8") from None
    if len(line) > _MAX_SECRET_BYTES:
        raise CommandError(
            EXIT_USAGE, f"the first line of stdin is over {_MAX_SECRET_BYTES} bytes: no secret"
        )
    return line.removesuffix("\n").removesuffix("\r")


# -- the token -----------------------------------------------------------------------


def _fetch(options: _Options, secret: str, params: dict[str, list[str]]) -> OAuthToken:
    transport = Urllib3Transport()
    try:
        authentication = _authentication(options.auth)
        if options.token_url is not None:
            token_url = options.token_url
        else:
            assert options.issuer is not None  # argparse requires one of the two
            metadata = discover(
                options.issuer, transport, allow_insecure_http=options.allow_insecure_http
            )
            token_url = metadata.token_endpoint
            if options.auth == "auto":
                authentication = _authentication_from(metadata.token_endpoint_auth_methods)
        credentials = ClientCredentialsAuthCredentials(
            o_auth_client_id=options.client_id,
            o_auth_client_secret=secret,
            o_auth_scopes=list(options.scopes),
            o_auth_client_authentication=authentication,
            o_auth_token_request_params=params,
        )
        client = ApiClient(
            client_credentials_auth_credentials=credentials,
            token_url=token_url,
            transport=transport,
            allow_insecure_http=options.allow_insecure_http,
        )
        return client.auth_manager.token()
    finally:
        transport.close()


def _authentication(auth: str) -> ClientAuthentication:
    match auth:
        case "basic":
            return ClientSecretBasic()
        case "basic-raw":
            return ClientSecretBasic(form_encode=False)
        case "post":
            return ClientSecretPost()
        case _:
            return ClientSecretAuto()


def _authentication_from(methods: Sequence[str] | None) -> ClientAuthentication:
    """`auto` refined by the metadata's `token_endpoint_auth_methods_supported` (whose
    default, when it is absent, is `client_secret_basic`: RFC 8414 §2)."""
    if methods is None or "client_secret_post" not in methods:
        return ClientSecretAuto()
    if "client_secret_basic" in methods:
        return ClientSecretAuto(allow_post=True)
    return ClientSecretPost()


def _token_json(token: OAuthToken) -> str:
    """The token's fields that a caller needs, as JSON: never a refresh token or secret."""
    shown: dict[str, object] = {"access_token": token.access_token, "token_type": token.token_type}
    if token.expires_in is not None:
        shown["expires_in"] = token.expires_in
    if token.expiry is not None:
        shown["expiry"] = token.expiry
        moment = datetime.fromtimestamp(token.expiry, UTC)
        shown["expires_at"] = moment.isoformat(timespec="seconds").replace("+00:00", "Z")
    if token.scope:
        shown["scope"] = token.scope
    return json.dumps(shown, sort_keys=True, indent=2)


# -- discovery -------------------------------------------------------------------------


class _Metadata(msgspec.Struct, frozen=True):
    """The fields of RFC 8414 §2 authorization server metadata that `ccg token` reads."""

    issuer: str
    token_endpoint: str | None = None
    token_endpoint_auth_methods_supported: list[str] | None = None


@dataclass(frozen=True)
class Discovered:
    """What the issuer's metadata said: its checked token endpoint and auth methods."""

    token_endpoint: str
    token_endpoint_auth_methods: tuple[str, ...] | None


def metadata_urls(issuer: str) -> tuple[str, str]:
    """Where `issuer`'s metadata is: RFC 8414 §3.1 (the well-known segment between the host
    and the issuer's path) and OpenID Connect Discovery 1.0 §4 (appended to the issuer)."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    return (
        urlunsplit((parts.scheme, parts.netloc, _RFC8414 + path, "", "")),
        urlunsplit((parts.scheme, parts.netloc, path + _OIDC, "", "")),
    )


def discover(issuer: str, transport: Transport, *, allow_insecure_http: bool) -> Discovered:
    """Read `issuer`'s metadata (RFC 8414, then OpenID Connect) and check it.

    A URL that answers anything but 200 with JSON is passed over for the next; the first
    metadata found must name `issuer` exactly (RFC 8414 §3.3) and a usable token endpoint.
    Failures are `CommandError`s: usage for a bad `issuer`, network for the rest.
    """
    if "?" in issuer or "#" in issuer:
        raise CommandError(
            EXIT_USAGE, "--issuer: an issuer has no ?query or #fragment (RFC 8414 §2)"
        )
    checked = check_url("--issuer", issuer, allow_insecure_http=allow_insecure_http)
    misses: list[str] = []
    for url in metadata_urls(checked):
        sent = transport.send(
            HttpRequest(
                method="GET",
                url=url,
                headers=(("Accept", "application/json"),),
                limits=TOKEN_REQUEST_LIMITS,
            )
        )
        if not isinstance(sent, Success):
            failure = sent.failure()
            raise CommandError(
                EXIT_NETWORK,
                f"cannot read the issuer's metadata at {url} ({failure.kind}): {failure.reason}",
            )
        reply = sent.unwrap()
        if reply.status != 200:
            misses.append(f"{url} answered HTTP {reply.status}")
            continue
        try:
            metadata = msgspec.json.decode(reply.body, type=_Metadata)
        except msgspec.ValidationError as exc:
            raise CommandError(
                EXIT_NETWORK, f"the issuer's metadata at {url} is malformed: {exc}"
            ) from None
        except msgspec.DecodeError:
            misses.append(f"{url} answered HTTP 200 without JSON")
            continue
        return _checked_metadata(metadata, url, issuer, checked, allow_insecure_http)
    raise CommandError(
        EXIT_NETWORK, f"no authorization server metadata for {issuer}: {'; '.join(misses)}"
    )


def _checked_metadata(
    metadata: _Metadata, url: str, issuer: str, checked: str, allow_insecure_http: bool
) -> Discovered:
    if metadata.issuer not in (issuer, checked):
        raise CommandError(
            EXIT_NETWORK,
            f"the metadata at {url} is for issuer {_shown(metadata.issuer)}, not {issuer} "
            "(RFC 8414 §3.3: they must be identical)",
        )
    if metadata.token_endpoint is None:
        raise CommandError(EXIT_NETWORK, f"the metadata at {url} has no token_endpoint")
    try:
        token_endpoint = check_url(
            "token_endpoint", metadata.token_endpoint, allow_insecure_http=allow_insecure_http
        )
    except ConfigurationError as error:
        raise CommandError(
            EXIT_NETWORK,
            f"the metadata at {url} has an unusable token_endpoint "
            f"{_shown(metadata.token_endpoint)}: {_options_named(error.problem)}",
        ) from None
    methods = metadata.token_endpoint_auth_methods_supported
    return Discovered(
        token_endpoint=token_endpoint,
        token_endpoint_auth_methods=None if methods is None else tuple(methods),
    )


# -- output ----------------------------------------------------------------------------


def _one_line(text: str) -> str:
    """`text` with every control, format or line-separating character escaped: one line,
    no terminal escape sequences, no bidi overrides."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _shown(value: str) -> str:
    """A value from outside, quoted and cut short."""
    cut = value if len(value) <= _MAX_SHOWN else value[:_MAX_SHOWN] + "..."
    return repr(cut)


def _options_named(text: str) -> str:
    return text.replace("allow_insecure_http=True", "--allow-insecure-http")


def _without_retry_note(error: TokenAcquisitionError) -> str:
    """ccg's message without its note of when the next token request may go: this
    process makes none."""
    message = str(error)
    if error.retry_after is None:
        return message
    return message.removesuffix(f" (next token request in {error.retry_after:.1f} s)")


def _tried(error: OAuthProviderException) -> str:
    """Which client authentication forms were tried, when `auto` tried more than one."""
    failure = error.failure
    if isinstance(failure, ErrorResponse) and len(failure.tried) > 1:
        return f" (client authentication tried: {', '.join(failure.tried)})"
    return ""


def _log_handler(stderr: IO[str]) -> logging.Handler:
    handler = logging.StreamHandler(stderr)
    handler.setFormatter(logging.Formatter("ccg: %(message)s"))
    return handler
