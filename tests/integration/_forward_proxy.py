"""A forward HTTP proxy on 127.0.0.1 that records what it is asked, for the proxy tests.

It tunnels `CONNECT host:port` (https targets) and forwards absolute-form requests
(`GET http://host:port/path`, http targets) with `Connection: close`, to 127.0.0.1
targets only. Every socket has a timeout and every loop ends when the proxy stops.
"""

from __future__ import annotations

import select
import socket
import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Self
from urllib.parse import urlsplit

__all__ = ["Asked", "ForwardProxy"]

_HOST: Final = "127.0.0.1"
_TIMEOUT: Final = 5.0
_POLL: Final = 0.05


@dataclass(frozen=True)
class Asked:
    """One request the proxy was asked to carry."""

    method: str
    target: str
    proxy_authorization: str | None


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
        if len(data) > 1 << 20:
            break
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


class ForwardProxy:
    """`with ForwardProxy() as proxy:` then `proxy.url`, `proxy.asked()`."""

    def __init__(self) -> None:
        self._listener = socket.create_server((_HOST, 0))
        self._listener.settimeout(_POLL)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._asked: list[Asked] = []
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{_HOST}:{self._listener.getsockname()[1]}"

    def asked(self) -> list[Asked]:
        with self._lock:
            return list(self._asked)

    def __enter__(self) -> Self:
        self._accepting.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._accepting.join(_TIMEOUT)
        for thread in self._threads:
            thread.join(_TIMEOUT)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        with client:
            client.settimeout(_TIMEOUT)
            try:
                while not self._stop.is_set() and self._carry_one(client):
                    pass
            except OSError:
                pass

    def _carry_one(self, client: socket.socket) -> bool:
        """Carry one request; whether the client connection may carry another."""
        head, rest = _read_head(client)
        if not head:
            return False
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        headers = [line.split(":", 1) for line in lines[1:] if ":" in line]
        authorization = next(
            (v.strip() for k, v in headers if k.strip().lower() == "proxy-authorization"), None
        )
        with self._lock:
            self._asked.append(Asked(method, target, authorization))
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            if host != _HOST:
                client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return False
            with socket.create_connection((host, int(port)), timeout=_TIMEOUT) as upstream:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                if rest:
                    upstream.sendall(rest)
                self._pipe(client, upstream)
            return False
        parts = urlsplit(target)
        if parts.hostname != _HOST or parts.port is None:
            client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return False
        kept = [
            f"{k}:{v}"
            for k, v in headers
            if k.strip().lower() not in ("proxy-authorization", "proxy-connection", "connection")
        ]
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        forwarded = "\r\n".join([f"{method} {path} HTTP/1.1", *kept, "Connection: close", "", ""])
        with socket.create_connection((_HOST, parts.port), timeout=_TIMEOUT) as upstream:
            upstream.sendall(forwarded.encode("latin-1") + rest)
            self._pipe(client, upstream, until_upstream_closes=True)
        return False

    def _pipe(
        self, client: socket.socket, upstream: socket.socket, *, until_upstream_closes: bool = False
    ) -> None:
        """Copy bytes both ways until either side closes (or the proxy stops)."""
        sockets = [client, upstream]
        while not self._stop.is_set():
            readable, _, _ = select.select(sockets, [], [], _POLL)
            for source in readable:
                data = source.recv(65536)
                if not data:
                    if source is upstream or not until_upstream_closes:
                        return
                    sockets.remove(client)
                    continue
                (upstream if source is client else client).sendall(data)
