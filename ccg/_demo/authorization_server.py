"""A real OAuth 2.0 authorization server (Authlib + Flask) running in-process on 127.0.0.1.

It is not a mock: client authentication, scope checks, token issuing and bearer-token
validation are Authlib's own code. ccg's demo command and test fixtures start it on an
ephemeral port in a background thread::

    with AuthorizationServer() as server:
        ...  # POST server.token_url, GET server.resource_url

Endpoints:

- ``POST /oauth/token``: client_credentials grant; client_secret_basic or client_secret_post.
  Each registered client has its own ``expires_in`` (``token_ttl``) and may omit it from the
  response altogether (``include_expires_in=False``).
- ``GET /api/me``: needs a valid token with scope ``read``; answers ``client_id`` and ``scope``.
- ``POST /api/echo``: needs any valid token; echoes the body and its Content-Type.
- ``GET /api/public``: unprotected; reports whether an Authorization header was sent.
- ``GET /healthz``: ``ok``.

All state (clients, tokens, counters) lives in the instance, so several servers can run at
once in one process.
"""

from __future__ import annotations

import contextlib
import http.client
import math
import secrets
import socket
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Self

from authlib.integrations.flask_oauth2 import AuthorizationServer as _FlaskAuthorizationServer
from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator
from flask import Flask, Response, jsonify, request
from typing_extensions import override
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

__all__ = ["DEFAULT_CLIENTS", "SCOPES_SUPPORTED", "AuthorizationServer", "RegisteredClient"]

_HOST: Final = "127.0.0.1"  # never bind anything else
_GRANT_TYPE: Final = "client_credentials"
_AUTH_METHODS: Final = ("client_secret_basic", "client_secret_post")
_START_TIMEOUT: Final = 5.0
_STOP_TIMEOUT: Final = 5.0

#: Scopes the server knows; asking for any other scope gives ``400 invalid_scope``.
SCOPES_SUPPORTED: Final = ("read", "write", "admin")


@dataclass(frozen=True)
class RegisteredClient:
    """A confidential client known to the authorization server."""

    client_id: str
    client_secret: str
    scope: str = "read write"  # space-separated allowed scopes; also the default grant
    token_ttl: int = 3600  # expires_in of tokens issued to this client
    include_expires_in: bool = True  # False: the token response has no expires_in key

    def __post_init__(self) -> None:
        if not self.client_id or not self.client_secret:
            raise ValueError("client_id and client_secret must be non-empty")
        if self.token_ttl < 1:
            # Authlib drops a falsy expires_in from the response; keep the two knobs separate.
            raise ValueError(f"token_ttl must be at least 1 second, got {self.token_ttl}")


DEFAULT_CLIENTS: Final[tuple[RegisteredClient, ...]] = (
    RegisteredClient("test-client", "test-secret"),
    # ':' in the id and '&', ' ', ':', '+', '%', '/', '=', non-ASCII in the secret: Basic
    # credentials only survive if the client percent-encodes them (RFC 6749 §2.3.1).
    RegisteredClient("special:client", "s&c ret:+%/=ä"),
    RegisteredClient("short-lived", "short-secret", token_ttl=2),
    RegisteredClient("renewing", "renewing-secret", token_ttl=6),
    RegisteredClient("write-only", "write-secret", scope="write"),  # /api/me -> 403
    RegisteredClient("no-expires-in", "no-expires-secret", include_expires_in=False),
)


class _Client:
    """Authlib's ClientMixin protocol over one :class:`RegisteredClient`."""

    def __init__(self, registered: RegisteredClient) -> None:
        self.registered = registered
        self.client_id = registered.client_id
        self._allowed_scopes = frozenset(registered.scope.split())

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """The scope to grant, or None (Authlib then answers ``invalid_scope``)."""
        if not scope:
            return self.registered.scope
        requested = scope.split()
        return " ".join(requested) if self._allowed_scopes.issuperset(requested) else None

    def check_redirect_uri(self, _redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        # compare_digest only takes ASCII str, and secrets may be non-ASCII: compare bytes.
        return secrets.compare_digest(
            self.registered.client_secret.encode(), client_secret.encode()
        )

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in _AUTH_METHODS

    def check_response_type(self, _response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == _GRANT_TYPE


@dataclass(frozen=True)
class _IssuedToken:
    """Authlib's TokenMixin protocol for a server-side access token."""

    access_token: str
    client_id: str
    scope: str
    issued_at: float  # time.time()
    expires_in: int

    def check_client(self, client: _Client) -> bool:
        return self.client_id == client.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return time.time() >= self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return False


class _ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    """Authlib's grant allows only client_secret_basic by default; also allow the POST body."""

    # The base class's type; a list like Authlib's own ("cannot authenticate with methods: [...]").
    TOKEN_ENDPOINT_AUTH_METHODS: Collection[str] = list(_AUTH_METHODS)


class _BearerTokenValidator(BearerTokenValidator):  # type: ignore[misc]
    """Looks tokens up in one server's store; Authlib checks expiry, revocation and scope."""

    def __init__(self, lookup: Callable[[str], _IssuedToken | None]) -> None:
        # typeshed's Authlib stub leaves `realm` and `**extra_attributes` unannotated.
        super().__init__()  # pyright: ignore[reportUnknownMemberType]
        self._lookup = lookup

    def authenticate_token(self, token_string: str) -> _IssuedToken | None:
        return self._lookup(token_string)


def _new_access_token(**_context: object) -> str:
    return secrets.token_urlsafe(32)


def _registered(client: object) -> RegisteredClient:
    """The registration behind a client Authlib hands back (always one of ours)."""
    if not isinstance(client, _Client):
        raise TypeError(f"unexpected client object {client!r}")
    return client.registered


def _client_expires_in(client: object, _grant_type: str) -> int:
    """Authlib's ``expires_generator`` hook: the TTL is per client, not per grant type."""
    return _registered(client).token_ttl


class _TokenGenerator:
    """Authlib's BearerTokenGenerator, minus ``expires_in`` for clients that must not get it."""

    def __init__(self) -> None:
        self._bearer = BearerTokenGenerator(_new_access_token, expires_generator=_client_expires_in)

    def __call__(  # Authlib passes everything by keyword
        self,
        *,
        grant_type: str,
        client: ClientMixin,
        user: object = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, str | int]:
        token: dict[str, str | int] = self._bearer(
            grant_type=grant_type,
            client=client,
            user=user,
            scope=scope,
            expires_in=expires_in,
            include_refresh_token=include_refresh_token,
        )
        if not _registered(client).include_expires_in:
            token.pop("expires_in", None)
        return token


def _handler_class(
    connections: dict[socket.socket, threading.Thread], lock: threading.Lock
) -> type[WSGIRequestHandler]:
    """A request handler that logs nothing and records its open connection.

    Werkzeug logs every request to stderr. Its handler threads are daemon threads that
    ``shutdown()`` does not wait for; :meth:`AuthorizationServer.stop` uses the record to cut
    requests still in flight (e.g. one sleeping in the token delay) and join their threads.
    """

    class _Handler(WSGIRequestHandler):
        @override
        def setup(self) -> None:
            sock: socket.socket = self.request
            with lock:
                connections[sock] = threading.current_thread()
            super().setup()

        @override
        def finish(self) -> None:
            try:
                super().finish()
            finally:
                with lock:
                    connections.pop(self.request, None)

        @override
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            pass

    return _Handler


def _check_delay(seconds: float) -> float:
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"token delay must be a finite number >= 0, got {seconds!r}")
    return seconds


class AuthorizationServer:
    """A real Authlib authorization server plus protected resources, on 127.0.0.1:<ephemeral>."""

    def __init__(
        self, clients: Sequence[RegisteredClient] = DEFAULT_CLIENTS, *, token_delay: float = 0.0
    ) -> None:
        self._clients: dict[str, _Client] = {}
        for registered in clients:
            if registered.client_id in self._clients:
                raise ValueError(f"duplicate client_id {registered.client_id!r}")
            self._clients[registered.client_id] = _Client(registered)

        self._lock = threading.Lock()
        self._tokens: dict[str, _IssuedToken] = {}
        self._token_delay = _check_delay(token_delay)
        self._token_requests = 0
        self._faults: list[tuple[int, str, str | None]] = []  # (status, error, Retry-After)
        self._tokens_issued = 0
        self._resource_requests = 0
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._stopping = threading.Event()  # wakes token requests sleeping in the delay
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

        app = Flask(__name__)
        app.config["OAUTH2_SCOPES_SUPPORTED"] = list(SCOPES_SUPPORTED)
        self._authz = _FlaskAuthorizationServer(
            app, query_client=self._clients.get, save_token=self._save_token
        )
        self._authz.register_grant(_ClientCredentialsGrant)
        # A generator registered for the grant type wins over Flask's configured "default".
        # typeshed's Authlib stub wants a BearerTokenGenerator here; Authlib takes (and documents)
        # any callable with its keyword arguments.
        self._authz.register_token_generator(
            _GRANT_TYPE,
            _TokenGenerator(),  # pyright: ignore[reportArgumentType]
        )
        self._protector = ResourceProtector()
        # typeshed's Authlib stub leaves the return type unannotated (it returns None).
        self._protector.register_token_validator(  # pyright: ignore[reportUnknownMemberType]
            _BearerTokenValidator(self._lookup_token)
        )

        app.add_url_rule("/oauth/token", "token", self._token_endpoint, methods=["POST"])
        app.add_url_rule("/api/me", "me", self._me, methods=["GET"])
        app.add_url_rule("/api/echo", "echo", self._echo, methods=["POST"])
        app.add_url_rule("/api/public", "public", self._public, methods=["GET"])
        app.add_url_rule("/healthz", "healthz", self._healthz, methods=["GET"])
        self._app = app

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> Self:
        """Bind 127.0.0.1:0, serve in a daemon thread, and wait until /healthz answers."""
        if self._server is not None:
            raise RuntimeError("authorization server is already running")
        server = make_server(
            _HOST,
            0,
            self._app,
            threaded=True,
            request_handler=_handler_class(self._connections, self._lock),
        )
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"ccg-demo-authorization-server-{server.port}",
            daemon=True,
        )
        self._server, self._thread, self._port = server, thread, server.port
        self._stopping.clear()
        thread.start()
        try:
            self._wait_until_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop serving, cut requests in flight and join the threads (bounded). Idempotent.

        A request still in flight (e.g. sleeping in the token delay) gets no response: its
        client sees the connection close, as it would if a real server went away.
        """
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        deadline = time.monotonic() + _STOP_TIMEOUT
        if thread.is_alive():
            server.shutdown()  # returns once serve_forever has left its loop
        thread.join(max(0.0, deadline - time.monotonic()))
        server.server_close()
        with self._lock:
            open_connections = list(self._connections.items())
        for sock, _ in open_connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._stopping.set()  # only now: a woken request must find its connection gone
        for _, handler_thread in open_connections:
            handler_thread.join(max(0.0, deadline - time.monotonic()))
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _wait_until_healthy(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            connection = http.client.HTTPConnection(_HOST, self.port, timeout=0.5)
            try:
                connection.request("GET", "/healthz")
                response = connection.getresponse()
                if response.status == 200 and response.read() == b"ok":
                    return
                last_error = RuntimeError(f"/healthz answered {response.status}")
            except OSError as error:
                last_error = error
            finally:
                connection.close()
            time.sleep(0.02)
        raise RuntimeError(
            f"authorization server at {self.base_url} did not answer /healthz "
            f"within {_START_TIMEOUT:g} s"
        ) from last_error

    # -- addresses ---------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (kept after :meth:`stop`, so tests can aim at a dead server)."""
        if self._port is None:
            raise RuntimeError("authorization server has not been started")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{_HOST}:{self.port}"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/oauth/token"

    @property
    def resource_url(self) -> str:
        return f"{self.base_url}/api/me"

    # -- counters and knobs (thread-safe) ----------------------------------------------

    def token_requests(self) -> int:
        """POSTs received by the token endpoint, whatever their outcome."""
        with self._lock:
            return self._token_requests

    def tokens_issued(self) -> int:
        """Successful token responses."""
        with self._lock:
            return self._tokens_issued

    def resource_requests(self) -> int:
        """Requests to the protected endpoints (/api/me, /api/echo), whatever their outcome."""
        with self._lock:
            return self._resource_requests

    def set_token_delay(self, seconds: float) -> None:
        """Make the token endpoint sleep this long before answering."""
        delay = _check_delay(seconds)
        with self._lock:
            self._token_delay = delay

    def fail_token_requests(
        self,
        times: int,
        *,
        status: int = 503,
        error: str = "temporarily_unavailable",
        retry_after: str | None = None,
    ) -> None:
        """Answer the next `times` token requests with `status` and an RFC 6749 error body
        (and `Retry-After`, if given) instead of a token: a server-side fault switch."""
        if times < 0:
            raise ValueError(f"times must be >= 0, got {times}")
        with self._lock:
            self._faults.extend([(status, error, retry_after)] * times)

    def revoke_tokens(self) -> int:
        """Forget every issued token, as a revocation does: the protected endpoints answer
        401 `invalid_token` to them from now on. Returns how many were revoked."""
        with self._lock:
            revoked = len(self._tokens)
            self._tokens.clear()
            return revoked

    # -- Authlib callbacks -------------------------------------------------------------

    def _save_token(self, token: dict[str, Any], oauth2_request: Any) -> None:
        client = oauth2_request.client
        if not isinstance(client, _Client):
            raise TypeError(f"unexpected client object {client!r}")
        issued = _IssuedToken(
            access_token=token["access_token"],
            client_id=client.client_id,
            scope=token.get("scope") or "",
            issued_at=time.time(),
            # Valid for token_ttl even when the response leaves expires_in out.
            expires_in=client.registered.token_ttl,
        )
        with self._lock:
            self._tokens[issued.access_token] = issued
            self._tokens_issued += 1

    def _lookup_token(self, token_string: str) -> _IssuedToken | None:
        with self._lock:
            return self._tokens.get(token_string)

    def _require_token(self, scope: str | None) -> _IssuedToken:
        """Authlib's bearer check; an OAuth2Error becomes its own 401/403 JSON response."""
        # typeshed's Authlib stub leaves `scopes` unannotated and the token type Incomplete.
        with self._protector.acquire(scope) as token:  # pyright: ignore[reportUnknownMemberType]
            if not isinstance(token, _IssuedToken):
                raise TypeError(f"unexpected token object {token!r}")
            return token

    # -- views -------------------------------------------------------------------------

    def _token_endpoint(self) -> Response:
        with self._lock:
            self._token_requests += 1
            delay = self._token_delay
            fault = self._faults.pop(0) if self._faults else None
        if delay > 0:
            self._stopping.wait(delay)
        if fault is not None:
            status, error, retry_after = fault
            failed = jsonify(error=error)
            failed.status_code = status
            if retry_after is not None:
                failed.headers["Retry-After"] = retry_after
            return failed
        # typeshed's Authlib stub gives the framework-neutral server's (status, body, headers)
        # tuple; the Flask server's handle_response turns that into a Flask Response.
        response: Response = self._authz.create_token_response()  # pyright: ignore[reportUnknownMemberType, reportAssignmentType]
        return response

    def _count_resource_request(self) -> None:
        with self._lock:
            self._resource_requests += 1

    def _me(self) -> Response:
        self._count_resource_request()
        token = self._require_token("read")
        return jsonify(client_id=token.client_id, scope=token.scope)

    def _echo(self) -> Response:
        self._count_resource_request()
        token = self._require_token(None)
        return jsonify(
            client_id=token.client_id,
            body=request.get_data().decode("utf-8", errors="replace"),
            content_type=request.headers.get("Content-Type"),
        )

    def _public(self) -> Response:
        return jsonify(public=True, authorization_sent="Authorization" in request.headers)

    def _healthz(self) -> Response:
        return Response("ok", mimetype="text/plain")
