"""Helpers for the integration tests: client factory, recorders, tiny servers, bounded waits.

Everything here talks to real sockets on 127.0.0.1 only. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Generic, Self, TypeVar

from returns.result import Result

from ccg import (
    ApiClient,
    ClientCredentialsAuthCredentials,
    ClientSecretBasic,
    ClientSecretPost,
    HttpReply,
    HttpRequest,
    OAuthToken,
    OnTokenUpdate,
    ResiliencePolicy,
    TokenProvider,
    Transport,
    Urllib3Transport,
)
from ccg._demo.authorization_server import (
    DEFAULT_CLIENTS,
    AuthorizationServer,
    RegisteredClient,
)
from ccg.core import TransportFailure
from ccg.interp import SYSTEM_CLOCK, Clock

__all__ = [
    "HERD_SIZE",
    "PERCENT_CLIENT",
    "SERVER_CLIENTS",
    "SNIPPET_CLIENT",
    "ClientFactory",
    "HerdOutcome",
    "RecordedRequest",
    "RecordingServer",
    "RecordingTransport",
    "Reply",
    "TokenUpdates",
    "run_herd",
    "silent_endpoint",
    "unconnectable_endpoint",
    "wait_until",
]

_HOST: Final = "127.0.0.1"
HERD_SIZE: Final = 64
_HERD_TIMEOUT: Final = 15.0  # seconds; a herd normally finishes in well under 1 s

#: The seed snippets' literal credentials, registered so the snippets run unchanged.
SNIPPET_CLIENT: Final = RegisteredClient("OAuthClientId", "OAuthClientSecret")
#: A secret holding a valid percent-escape: raw Basic and form-encoded Basic disagree on it.
PERCENT_CLIENT: Final = RegisteredClient("percent-client", "a%41b")
SERVER_CLIENTS: Final[tuple[RegisteredClient, ...]] = (
    *DEFAULT_CLIENTS,
    SNIPPET_CLIENT,
    PERCENT_CLIENT,
)

T = TypeVar("T")


def wait_until(predicate: Callable[[], bool], *, timeout: float, interval: float = 0.01) -> float:
    """Poll `predicate` until it is true; return the seconds waited. AssertionError on timeout."""
    start = time.monotonic()
    deadline = start + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)
    return time.monotonic() - start


class TokenUpdates:
    """An `o_auth_on_token_update` callback that records every token it is given (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: list[OAuthToken] = []

    def __call__(self, token: OAuthToken) -> None:
        with self._lock:
            self._tokens.append(token)

    @property
    def tokens(self) -> list[OAuthToken]:
        with self._lock:
            return list(self._tokens)


class RecordingTransport:
    """A `Transport` that records each request, then sends it through the real urllib3 one."""

    def __init__(self, inner: Transport | None = None) -> None:
        self._inner: Transport = inner or Urllib3Transport()
        self._lock = threading.Lock()
        self._sent: list[HttpRequest] = []

    def send(self, request: HttpRequest, /) -> Result[HttpReply, TransportFailure]:
        with self._lock:
            self._sent.append(request)
        return self._inner.send(request)

    @property
    def requests(self) -> list[HttpRequest]:
        with self._lock:
            return list(self._sent)


class ClientFactory:
    """Builds `ApiClient`s against one authorization server (urllib3 transport, real clock)."""

    def __init__(self, server: AuthorizationServer) -> None:
        self.server = server

    def __call__(
        self,
        client_id: str = "test-client",
        client_secret: str = "test-secret",
        *,
        scopes: Sequence[str] | None = None,
        authentication: ClientSecretBasic | ClientSecretPost = ClientSecretBasic(),  # noqa: B008
        on_token_update: OnTokenUpdate | None = None,
        token_provider: TokenProvider | None = None,
        transport: Transport | None = None,
        clock: Clock = SYSTEM_CLOCK,
        token_url: str | None = None,
        base_url: str | None = None,
        origins: Sequence[str] = (),
        resilience: ResiliencePolicy | None = None,
    ) -> ApiClient:
        credentials = ClientCredentialsAuthCredentials(
            o_auth_client_id=client_id,
            o_auth_client_secret=client_secret,
            o_auth_scopes=scopes,
            o_auth_on_token_update=on_token_update,
            o_auth_token_provider=token_provider,
            o_auth_client_authentication=authentication,
        )
        return ApiClient(
            client_credentials_auth_credentials=credentials,
            token_url=self.server.token_url if token_url is None else token_url,
            base_url=base_url,
            origins=[self.server.base_url, *origins],
            transport=transport,
            clock=clock,
            resilience=resilience,
        )


@dataclass(frozen=True)
class HerdOutcome(Generic[T]):
    """What each thread of a herd got: a value or the exception it raised."""

    values: list[T]
    errors: list[Exception]


def run_herd(size: int, action: Callable[[], T]) -> HerdOutcome[T]:
    """Run `action` in `size` real threads released together by a Barrier; bounded wait."""
    barrier = threading.Barrier(size, timeout=_HERD_TIMEOUT)
    lock = threading.Lock()
    values: list[T] = []
    errors: list[Exception] = []

    def worker() -> None:
        try:
            barrier.wait()
            value = action()
        except Exception as exc:
            with lock:
                errors.append(exc)
        else:
            with lock:
                values.append(value)

    threads = [threading.Thread(target=worker, name=f"herd-{i}", daemon=True) for i in range(size)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + _HERD_TIMEOUT
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = [t.name for t in threads if t.is_alive()]
    assert not stuck, f"herd threads still running after {_HERD_TIMEOUT} s: {stuck}"
    assert len(values) + len(errors) == size
    return HerdOutcome(values=values, errors=errors)


# -- a tiny recording HTTP server -----------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the recording server received it."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header_values(self, name: str) -> list[str]:
        """Every value of header `name` (case-insensitive), in the order received."""
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]


Reply = tuple[int, Sequence[tuple[str, str]], bytes]
Responder = Callable[[RecordedRequest], Reply]


def ok_json(_request: RecordedRequest) -> Reply:
    """The default answer: 200 with a small JSON body."""
    return 200, [("Content-Type", "application/json")], b'{"recorded": true}'


class RecordingServer:
    """A stdlib HTTP server on 127.0.0.1:<ephemeral> that records requests and answers by rule."""

    def __init__(self, responder: Responder = ok_json) -> None:
        self._responder = responder
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        owner = self

        class _Handler(http.server.BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                recorded = RecordedRequest(
                    method=self.command,
                    path=self.path,
                    headers=tuple((k, str(v)) for k, v in self.headers.items()),
                    body=self.rfile.read(length) if length else b"",
                )
                owner._record(recorded)
                status, headers, body = owner._responder(recorded)
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer((_HOST, 0), _Handler)
        server.daemon_threads = True
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._server, self._thread = server, thread
        thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()
        server.server_close()
        thread.join(5.0)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("recording server is not running")
        return f"http://{_HOST}:{self._server.server_address[1]}"

    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)


# -- endpoints that never answer --------------------------------------------------------


@contextlib.contextmanager
def silent_endpoint() -> Generator[str, None, None]:
    """A URL whose server accepts the TCP connection (kernel backlog) but never answers."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind((_HOST, 0))
        listener.listen(64)
        yield f"http://{_HOST}:{listener.getsockname()[1]}/oauth/token"
    finally:
        listener.close()


@contextlib.contextmanager
def unconnectable_endpoint() -> Generator[str, None, None]:
    """A URL whose TCP handshake never completes: a listener whose accept queue is full.

    Linux drops SYNs to a listener with a full accept queue, so `connect()` hangs until
    the client's connect timeout.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    fillers: list[socket.socket] = []
    try:
        listener.bind((_HOST, 0))
        listener.listen(0)
        address = listener.getsockname()
        for _ in range(16):
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            probe.settimeout(0.2)
            try:
                probe.connect(address)
            except TimeoutError:
                probe.close()
                break
            fillers.append(probe)
        else:
            raise RuntimeError("could not fill the accept queue of the test listener")
        yield f"http://{_HOST}:{address[1]}/oauth/token"
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
