"""A fault-injecting HTTP/1.1 proxy on 127.0.0.1, switched at runtime, in front of a real server.

`FaultProxy(upstream_port)` listens on 127.0.0.1:<ephemeral> and forwards every request to
the server on `upstream_port` (the real Authlib server), one upstream connection per
request. Requests to the *faulted paths* (default: the token endpoint) get the current
`Fault` instead:

    PASS_THROUGH         forwarded (an upstream that is gone: the client's connection closes)
    unavailable(...)     503, optionally with `Retry-After`, like a load balancer's error page
    too_many_requests()  429 with `Retry-After`
    HOLD                 the request is read and never answered (the client's read timeout)
    CLOSE                the request is read and the connection closed unanswered

`down()` closes the listening socket (connections are refused) and cuts the open ones;
`up()` listens on the same port again. `retarget(port)` points it at another upstream (a
restarted server). Every request that reached the proxy is recorded (`hits()`,
`token_requests()`, `token_request_times()`), with the fault it got.

Threads: one accepting, one per client connection; every loop polls a stop flag and is
bounded by a deadline or a count, and `stop()` joins them all with a timeout.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from types import TracebackType
from typing import Final, Self

__all__ = [
    "CLOSE",
    "HOLD",
    "PASS_THROUGH",
    "Fault",
    "FaultProxy",
    "Hit",
    "Mode",
    "too_many_requests",
    "unavailable",
]

_HOST: Final = "127.0.0.1"  # never bind or connect anything else
_TOKEN_PATH: Final = "/oauth/token"
_POLL: Final = 0.05  # seconds every blocking socket call waits before looking at the flags
_MAX_HEAD: Final = 64 * 1024
_MAX_BODY: Final = 1 << 20
_MAX_REQUESTS_PER_CONNECTION: Final = 10_000
_IDLE_LIMIT: Final = 30.0  # a keep-alive connection idle this long is closed
_HOLD_LIMIT: Final = 30.0  # a held request is let go (closed unanswered) after this long
_UPSTREAM_TIMEOUT: Final = 10.0
_SWITCH_TIMEOUT: Final = 2.0  # down()/up() wait this long for the accepting thread
_JOIN_TIMEOUT: Final = 5.0
_HOP_BY_HOP: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "content-length",
    }
)


class Mode(Enum):
    """What the proxy does with a request to a faulted path."""

    PASS = "pass"
    STATUS = "status"
    HOLD = "hold"
    CLOSE = "close"


@dataclass(frozen=True)
class Fault:
    """One behaviour of the proxy for requests to the faulted paths."""

    mode: Mode
    status: int = 503
    retry_after: str | None = None
    body: bytes = b""
    content_type: str = "text/html"


PASS_THROUGH: Final = Fault(Mode.PASS)
HOLD: Final = Fault(Mode.HOLD)
CLOSE: Final = Fault(Mode.CLOSE)


def _seconds(value: float | None) -> str | None:
    return None if value is None else f"{value:g}"


def unavailable(retry_after: float | None = None) -> Fault:
    """503 with a load balancer's HTML page (and `Retry-After: <seconds>` if given)."""
    page = b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"
    return Fault(Mode.STATUS, status=503, retry_after=_seconds(retry_after), body=page)


def too_many_requests(retry_after: float) -> Fault:
    """429 with `Retry-After: <seconds>`."""
    page = b"<html><body><h1>429 Too Many Requests</h1></body></html>"
    return Fault(Mode.STATUS, status=429, retry_after=_seconds(retry_after), body=page)


@dataclass(frozen=True)
class Hit:
    """One request that reached the proxy (fully read), and what it got."""

    at: float  # time.monotonic() when the request had been read
    method: str
    path: str
    mode: Mode
    authorization: str | None


@dataclass(frozen=True)
class _Request:
    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)


class _ConnectionGone(Exception):
    """The client closed the connection, it broke, or the proxy is stopping."""


class FaultProxy:
    """A switchable HTTP/1.1 proxy on 127.0.0.1 in front of the server on `upstream_port`."""

    def __init__(
        self, upstream_port: int, *, faulted_paths: Sequence[str] = (_TOKEN_PATH,)
    ) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._upstream_port = upstream_port
        self._faulted = frozenset(faulted_paths)
        self._fault = PASS_THROUGH
        self._hits: list[Hit] = []
        self._holding = 0
        self._stopping = threading.Event()
        self._want_listening = True
        self._listening = False
        self._listener_error: OSError | None = None
        self._port: int | None = None
        self._accepter: threading.Thread | None = None
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._finished: list[threading.Thread] = []

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> Self:
        if self._accepter is not None:
            raise RuntimeError("proxy already started")
        listener = self._bind(0)
        self._port = listener.getsockname()[1]
        self._listening = True
        self._accepter = threading.Thread(
            target=self._accept_loop, args=(listener,), name=f"fault-proxy-{self._port}"
        )
        self._accepter.start()
        return self

    def stop(self) -> list[str]:
        """Stop accepting, cut every connection, join every thread (bounded).

        Returns the names of threads still alive after the timeout (none, normally)."""
        self._stopping.set()
        with self._changed:
            self._changed.notify_all()
        deadline = time.monotonic() + _JOIN_TIMEOUT
        accepter = self._accepter
        if accepter is not None:
            accepter.join(max(0.0, deadline - time.monotonic()))
        threads = self._cut_connections()
        with self._lock:
            threads += self._finished
            self._finished = []
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        stuck = [t.name for t in threads if t.is_alive()]
        if accepter is not None and accepter.is_alive():
            stuck.append(accepter.name)
        return stuck

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses ---------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("proxy not started")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{_HOST}:{self.port}"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}{_TOKEN_PATH}"

    @property
    def resource_url(self) -> str:
        return f"{self.base_url}/api/me"

    # -- switches ------------------------------------------------------------------------

    def set_fault(self, fault: Fault) -> None:
        """What requests to the faulted paths get from now on (those already read keep theirs)."""
        with self._changed:
            self._fault = fault
            self._changed.notify_all()

    def retarget(self, upstream_port: int) -> None:
        """Forward to the server on `upstream_port` from now on."""
        with self._lock:
            self._upstream_port = upstream_port

    def down(self) -> None:
        """Close the listening socket (new connections are refused) and cut open connections."""
        self._switch(listening=False)
        for thread in self._cut_connections():
            thread.join(_JOIN_TIMEOUT)

    def up(self) -> None:
        """Listen on the same port again."""
        self._switch(listening=True)

    def _switch(self, *, listening: bool) -> None:
        with self._changed:
            self._want_listening = listening
            self._listener_error = None
            self._changed.notify_all()
            if not self._changed.wait_for(
                lambda: self._listening == listening or self._listener_error is not None,
                timeout=_SWITCH_TIMEOUT,
            ):
                raise RuntimeError(f"proxy did not switch to listening={listening}")
            if self._listener_error is not None:
                raise self._listener_error

    # -- records ---------------------------------------------------------------------------

    def hits(self) -> list[Hit]:
        with self._lock:
            return list(self._hits)

    def token_request_times(self) -> list[float]:
        """When each token request reached the proxy (monotonic), in order."""
        with self._lock:
            return [hit.at for hit in self._hits if hit.path == _TOKEN_PATH]

    def token_requests(self) -> int:
        """Token requests that reached the proxy, whatever they got."""
        return len(self.token_request_times())

    def holding(self) -> int:
        """Requests being held unanswered right now."""
        with self._lock:
            return self._holding

    def wait_for_token_requests(self, count: int, *, timeout: float) -> float:
        """Wait until `count` token requests have reached the proxy; the seconds waited."""
        started = time.monotonic()
        with self._changed:
            if not self._changed.wait_for(
                lambda: sum(1 for h in self._hits if h.path == _TOKEN_PATH) >= count,
                timeout=timeout,
            ):
                raise AssertionError(f"{count} token requests did not arrive within {timeout} s")
        return time.monotonic() - started

    # -- accepting -------------------------------------------------------------------------

    def _bind(self, port: int) -> socket.socket:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((_HOST, port))
            listener.listen(128)
            listener.settimeout(_POLL)
        except OSError:
            listener.close()
            raise
        return listener

    def _accept_loop(self, first: socket.socket) -> None:
        """The only code that opens or closes the listening socket after `start()`."""
        listener: socket.socket | None = first
        try:
            while not self._stopping.is_set():
                with self._changed:
                    want = self._want_listening
                if want and listener is None:
                    try:
                        listener = self._bind(self.port)
                    except OSError as error:
                        with self._changed:
                            self._listener_error = error
                            self._want_listening = False
                            self._changed.notify_all()
                        continue
                    self._set_listening(True)
                elif not want and listener is not None:
                    listener.close()
                    listener = None
                    self._set_listening(False)
                if listener is None:
                    with self._changed:
                        self._changed.wait(_POLL)
                    continue
                try:
                    conn, _address = listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    continue
                self._serve_in_thread(conn)
        finally:
            if listener is not None:
                listener.close()
            self._set_listening(False)

    def _set_listening(self, listening: bool) -> None:
        with self._changed:
            self._listening = listening
            self._changed.notify_all()

    def _serve_in_thread(self, conn: socket.socket) -> None:
        thread = threading.Thread(
            target=self._serve, args=(conn,), name=f"fault-proxy-conn-{self.port}"
        )
        with self._lock:
            if self._stopping.is_set() or not self._want_listening:
                conn.close()
                return
            self._connections[conn] = thread
            # Keep the record bounded: threads already done need no join.
            self._finished = [t for t in self._finished if t.is_alive()]
        thread.start()

    def _cut_connections(self) -> list[threading.Thread]:
        with self._lock:
            open_connections = list(self._connections.items())
        for conn, _ in open_connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        return [thread for _, thread in open_connections]

    # -- one client connection -------------------------------------------------------------

    def _serve(self, conn: socket.socket) -> None:
        buffer = bytearray()
        try:
            conn.settimeout(_POLL)
            for _ in range(_MAX_REQUESTS_PER_CONNECTION):
                request = self._read_request(conn, buffer)
                fault = self._record(request)
                if not self._answer(conn, request, fault):
                    return
        except (_ConnectionGone, OSError):
            return
        finally:
            with self._lock:
                thread = self._connections.pop(conn, None)
                if thread is not None:
                    self._finished.append(thread)
            with contextlib.suppress(OSError):
                conn.close()

    def _receive(self, conn: socket.socket, buffer: bytearray, deadline: float) -> None:
        """Append what arrives next to `buffer`; `_ConnectionGone` at EOF, error or deadline."""
        while True:
            if self._stopping.is_set() or time.monotonic() >= deadline:
                raise _ConnectionGone
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                raise _ConnectionGone
            buffer += chunk
            return

    def _read_request(self, conn: socket.socket, buffer: bytearray) -> _Request:
        deadline = time.monotonic() + _IDLE_LIMIT
        while (end := buffer.find(b"\r\n\r\n")) < 0:
            if len(buffer) > _MAX_HEAD:
                raise _ConnectionGone
            self._receive(conn, buffer, deadline)
        head = bytes(buffer[:end]).decode("latin-1")
        del buffer[: end + 4]
        request_line, *lines = head.split("\r\n")
        parts = request_line.split(" ")
        if len(parts) != 3:
            raise _ConnectionGone
        method, target, _version = parts
        headers: list[tuple[str, str]] = []
        for line in lines:
            name, sep, value = line.partition(":")
            if not sep:
                raise _ConnectionGone
            headers.append((name.strip(), value.strip()))
        request = _Request(method=method, target=target, headers=tuple(headers), body=b"")
        if request.header("Transfer-Encoding") is not None:
            raise _ConnectionGone  # urllib3 sends bytes bodies with Content-Length
        length = int(request.header("Content-Length") or "0")
        if not 0 <= length <= _MAX_BODY:
            raise _ConnectionGone
        while len(buffer) < length:
            self._receive(conn, buffer, deadline)
        body = bytes(buffer[:length])
        del buffer[:length]
        return _Request(method=method, target=target, headers=tuple(headers), body=body)

    def _record(self, request: _Request) -> Fault:
        """Record `request` and pick its fault, at one instant (a switch after the hit is
        recorded does not change what this request gets)."""
        with self._changed:
            fault = self._fault if request.path in self._faulted else PASS_THROUGH
            self._hits.append(
                Hit(
                    at=time.monotonic(),
                    method=request.method,
                    path=request.path,
                    mode=fault.mode,
                    authorization=request.header("Authorization"),
                )
            )
            self._changed.notify_all()
        return fault

    def _answer(self, conn: socket.socket, request: _Request, fault: Fault) -> bool:
        """Answer `request` per `fault`; whether the connection may serve another request."""
        match fault.mode:
            case Mode.PASS:
                reply = self._forward(request)
                if reply is None:
                    return False  # the upstream is gone: so is this connection
                conn.sendall(reply)
                return True
            case Mode.STATUS:
                extra = [] if fault.retry_after is None else [("Retry-After", fault.retry_after)]
                reason = http.client.responses.get(fault.status, "Error")
                headers = [("Content-Type", fault.content_type), *extra]
                conn.sendall(_response(fault.status, reason, headers, fault.body))
                return True
            case Mode.HOLD:
                self._hold(conn)
                return False
            case Mode.CLOSE:
                return False

    def _hold(self, conn: socket.socket) -> None:
        """Answer nothing until the client gives up, the proxy stops, or `_HOLD_LIMIT`."""
        with self._lock:
            self._holding += 1
        try:
            deadline = time.monotonic() + _HOLD_LIMIT
            ignored = bytearray()
            for _ in range(int(_HOLD_LIMIT / _POLL) + 1):
                self._receive(conn, ignored, deadline)  # _ConnectionGone when it closes
                ignored.clear()
        except (_ConnectionGone, OSError):
            return
        finally:
            with self._lock:
                self._holding -= 1

    def _forward(self, request: _Request) -> bytes | None:
        with self._lock:
            port = self._upstream_port
        upstream = http.client.HTTPConnection(_HOST, port, timeout=_UPSTREAM_TIMEOUT)
        try:
            headers = {k: v for k, v in request.headers if k.lower() not in _HOP_BY_HOP}
            body = request.body if request.body or request.method not in ("GET", "HEAD") else None
            upstream.request(request.method, request.target, body=body, headers=headers)
            response = upstream.getresponse()
            data = response.read(_MAX_BODY)
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
            return _response(response.status, response.reason, kept, data)
        except (OSError, http.client.HTTPException):
            return None
        finally:
            upstream.close()


def _response(status: int, reason: str, headers: Sequence[tuple[str, str]], body: bytes) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{name}: {value}" for name, value in headers]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
