"""A hostile HTTP server on 127.0.0.1 for the bounded-read tests, and a memory probe.

`HostileServer` accepts connections on 127.0.0.1:<ephemeral>, reads each request's
head (and body, by Content-Length) and hands the connection to a script: endless
chunked bodies, compression bombs made while they are sent, bytes dripped one at a
time, resets. Every loop and every wait is bounded: a script's sends and pauses give
up when the client has gone, when the server stops, or when the script's time budget
(`budget`, 20 s by default) is spent.

`python -m tests.integration._hostile_server URL ...` is the memory probe: a fresh
process that sends one request through the real `Urllib3Transport` and prints, as
JSON, the outcome and how far its resident memory rose meanwhile (see `probe`); with
`--token` it asks a whole `ApiClient` for a token there instead (see `probe_token`).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import socket
import struct
import sys
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Final, Literal, Self

__all__ = [
    "MIB",
    "HostileServer",
    "Peer",
    "Script",
    "Wrapper",
    "bomb",
    "chunk",
    "compressed",
    "head",
    "reply",
]

MIB: Final = 1 << 20
_HOST: Final = "127.0.0.1"
_POLL: Final = 0.05
"""Seconds a blocked server call waits before it looks at the stop flag and its budget."""
_MAX_HEAD: Final = 64 * 1024
_ZEROS: Final = bytes(MIB)

Wrapper = Literal["gzip", "zlib", "raw"]
"""How a deflate stream is framed: gzip (RFC 1952), zlib (RFC 1950), or raw (RFC 1951)."""


# -- what a script sends ------------------------------------------------------------------


def head(status: int = 200, headers: Iterable[tuple[str, str]] = ()) -> bytes:
    """A status line and header section."""
    lines = [f"HTTP/1.1 {status} {'OK' if status == 200 else 'Other'}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def reply(body: bytes, headers: Iterable[tuple[str, str]] = (), *, close: bool = True) -> bytes:
    """A complete 200 reply with a Content-Length."""
    extra = [("Connection", "close")] if close else []
    return head(200, [*headers, ("Content-Length", str(len(body))), *extra]) + body


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body (b"" gives the last chunk)."""
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def compressed(data: bytes, wrapper: Wrapper) -> bytes:
    """`data` deflated and framed as `wrapper` says."""
    wbits = {"gzip": 16 + zlib.MAX_WBITS, "zlib": zlib.MAX_WBITS, "raw": -zlib.MAX_WBITS}
    compressor = zlib.compressobj(6, zlib.DEFLATED, wbits[wrapper])
    return compressor.compress(data) + compressor.flush()


def bomb(expanded_mib: int, wrapper: Wrapper) -> tuple[int, Iterator[bytes]]:
    """A compression bomb: `expanded_mib` MiB of zeros, deflated; (its length, its pieces).

    Made as it is sent, never stored: zlib compresses one MiB of zeros and ends it with
    a full flush, which resets the compressor's history, so what it emits for every
    further MiB is that same segment (`test_the_bomb_is_what_zlib_streams` checks it).
    The pieces are the header, the segment `expanded_mib` times, the final block and
    the trailer, whose checksum is updated as each MiB goes out. The length is known
    up front: a server can declare it, and the ratio shows (about 1000 to 1).
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    segment = compressor.compress(_ZEROS) + compressor.flush(zlib.Z_FULL_FLUSH)
    end = compressor.flush(zlib.Z_FINISH)
    header = {
        "gzip": b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff",
        "zlib": b"\x78\xda",
        "raw": b"",
    }[wrapper]
    trailer_size = {"gzip": 8, "zlib": 4, "raw": 0}[wrapper]
    length = len(header) + expanded_mib * len(segment) + len(end) + trailer_size

    def pieces() -> Iterator[bytes]:
        crc, adler = 0, 1
        yield header
        for _ in range(expanded_mib):
            if wrapper == "gzip":
                crc = zlib.crc32(_ZEROS, crc)
            elif wrapper == "zlib":
                adler = zlib.adler32(_ZEROS, adler)
            yield segment
        yield end
        if wrapper == "gzip":
            yield struct.pack("<II", crc, (expanded_mib * MIB) & 0xFFFFFFFF)
        elif wrapper == "zlib":
            yield struct.pack(">I", adler)

    return length, pieces()


# -- the server -------------------------------------------------------------------------------


class Peer:
    """One request on an accepted connection, as a script sees it. Every call is bounded."""

    def __init__(
        self,
        conn: socket.socket,
        *,
        number: int,
        request: bytes,
        stop: threading.Event,
        deadline: float,
    ) -> None:
        self._conn = conn
        self._stop = stop
        self._deadline = deadline
        self.number = number
        """Which connection of the server this is (1 for the first accepted)."""
        self.request = request
        """The request's head, as received."""
        self.path = request.split(b" ", 2)[1].decode("latin-1") if b" " in request else ""
        """The request target."""
        self.keep_alive = False
        """Set by a script to read another request on this connection after it returns."""
        self.sent = 0
        """Bytes sent to the client so far on this connection."""

    def _usable(self) -> bool:
        return not self._stop.is_set() and time.monotonic() < self._deadline

    def send(self, data: bytes) -> bool:
        """Send all of `data`; False if the client is gone, the server stopping, time up."""
        view = memoryview(data)
        while view:
            if not self._usable():
                return False
            try:
                sent = self._conn.send(view)
            except TimeoutError:
                continue  # the client is not reading; look at the stop flag and budget again
            except OSError:
                return False
            view = view[sent:]
            self.sent += sent
        return True

    def send_all(self, pieces: Iterable[bytes]) -> bool:
        """Send each piece in turn (pieces may be endless); False as `send` says."""
        return all(self.send(piece) for piece in pieces)

    def pause(self, seconds: float) -> bool:
        """Wait `seconds`; False if the server stops or the budget ends first."""
        left = self._deadline - time.monotonic()
        if left <= 0:
            return False
        return not self._stop.wait(min(seconds, left)) and seconds <= left

    def hold(self) -> None:
        """Say nothing until the client goes (or the server stops, or time is up)."""
        while self._usable():
            try:
                if not self._conn.recv(65536):
                    return
            except TimeoutError:
                continue
            except OSError:
                return

    def reset(self) -> None:
        """Abort the connection: the client sees a TCP RST, not an orderly end."""
        with contextlib.suppress(OSError):
            self._conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._conn.close()


Script = Callable[[Peer], object]
"""What the server does with each request; its return value is ignored."""


class HostileServer:
    """A raw-socket HTTP/1.1 server on 127.0.0.1 that answers every request with `script`."""

    def __init__(self, script: Script, *, budget: float = 20.0) -> None:
        self._script = script
        self._budget = budget
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind((_HOST, 0))
        self._listener.listen(64)
        self._listener.settimeout(_POLL)
        self._threads: list[threading.Thread] = []
        self._accepted = 0
        self._seen: list[tuple[int, str]] = []
        self._sent = 0
        self._acceptor = threading.Thread(target=self._accept, name="hostile-accept", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{_HOST}:{self._listener.getsockname()[1]}"

    def requests(self) -> list[tuple[int, str]]:
        """(connection number, path) of every request received, in order."""
        with self._lock:
            return list(self._seen)

    def bytes_sent(self) -> int:
        """Bytes the scripts have sent so far (into the kernel's buffers, at least)."""
        with self._lock:
            return self._sent

    def __enter__(self) -> Self:
        self._acceptor.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._acceptor.join(5.0)
        self._listener.close()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(5.0)
        stuck = [thread.name for thread in threads if thread.is_alive()]
        assert not stuck, f"hostile server threads still running: {stuck}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._accepted += 1
                number = self._accepted
                thread = threading.Thread(
                    target=self._serve, args=(conn, number), name=f"hostile-{number}", daemon=True
                )
                self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket, number: int) -> None:
        deadline = time.monotonic() + self._budget
        conn.settimeout(_POLL)
        try:
            while True:
                request = self._read_request(conn, deadline)
                if request is None:
                    return
                peer = Peer(
                    conn, number=number, request=request, stop=self._stop, deadline=deadline
                )
                with self._lock:
                    self._seen.append((number, peer.path))
                try:
                    self._script(peer)
                finally:
                    with self._lock:
                        self._sent += peer.sent
                if not peer.keep_alive:
                    return
        finally:
            conn.close()

    def _read_request(self, conn: socket.socket, deadline: float) -> bytes | None:
        """The next request's head (its body read and dropped), or None if the client went."""
        data = b""
        while b"\r\n\r\n" not in data:
            if self._stop.is_set() or time.monotonic() >= deadline or len(data) > _MAX_HEAD:
                return None
            try:
                received = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return None
            if not received:
                return None
            data += received
        request, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in request.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(body) < length:
            if self._stop.is_set() or time.monotonic() >= deadline:
                return None
            try:
                received = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return None
            if not received:
                return None
            body += received
        return request


# -- the memory probe -------------------------------------------------------------------------

_PROC_STATUS: Final = Path("/proc/self/status")
_CLEAR_REFS: Final = Path("/proc/self/clear_refs")


def _status_kib(field: str) -> int:
    for line in _PROC_STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def _reset_peak() -> bool:
    """Reset the kernel's high-water mark of this process's RSS (Linux >= 4.0), if allowed."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def probe(url: str, *, limited: bool, warm_url: str | None) -> dict[str, object]:
    """GET `url` through a real `Urllib3Transport`, twice; the outcome and memory growth.

    The first request is measured by the kernel, so it covers everything the request
    made the process hold: Python objects, zlib's windows and output buffers, what
    urllib3, http.client and the socket layer allocate in C. After the imports and a
    warm-up request (to `warm_url`, through the same code), the kernel's peak-RSS mark
    is reset (`/proc/self/clear_refs`) and the current RSS taken as the base; the
    growth is the peak (`VmHWM`) after the request minus that base. If the mark cannot
    be reset, the peak may be an earlier one: the growth can only be over-stated.
    Memory freed earlier and still resident can be reused without growth, so the
    second request is measured by tracemalloc instead: the peak of what Python's
    allocators (zlib's state included, CPython gives it PyMem_RawMalloc) held at once.
    """
    import urllib3  # noqa: PLC0415 - the probe alone needs them
    from returns.pipeline import is_successful  # noqa: PLC0415

    from ccg import HttpRequest, Urllib3Transport  # noqa: PLC0415
    from ccg.core import TOKEN_REQUEST_LIMITS  # noqa: PLC0415

    transport = Urllib3Transport()
    request = HttpRequest(method="GET", url=url, limits=TOKEN_REQUEST_LIMITS if limited else None)
    if warm_url is not None:
        warm = transport.send(HttpRequest(method="GET", url=warm_url, limits=request.limits))
        assert warm.unwrap().status == 200, warm
    gc.collect()
    reset = _reset_peak()
    base = _status_kib("VmRSS")
    started = time.monotonic()
    sent = transport.send(request)
    elapsed = time.monotonic() - started
    peak = _status_kib("VmHWM")
    failure = None if is_successful(sent) else sent.failure()
    body_bytes = None if failure is not None else len(sent.unwrap().body)
    del sent
    gc.collect()
    tracemalloc.start()
    again = transport.send(request)
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    again_failure = None if is_successful(again) else again.failure()
    return {
        "urllib3": str(vars(urllib3)["__version__"]),
        "kind": None if failure is None else str(failure.kind),
        "reason": None if failure is None else failure.reason,
        "body_bytes": body_bytes,
        "seconds": elapsed,
        "base_kib": base,
        "peak_kib": peak,
        "growth_kib": peak - base,
        "peak_was_reset": reset,
        "again_kind": None if again_failure is None else str(again_failure.kind),
        "traced_peak_kib": traced_peak // 1024,
    }


def _token_attempt(token_url: str, max_body_bytes: int | None) -> tuple[str | None, str]:
    """Ask a fresh `ApiClient` (real `Urllib3Transport`, one attempt) for a token at `token_url`:
    (the name of the `CcgError` raised, its message), or (None, "") if a token came."""
    from ccg import (  # noqa: PLC0415 - the probe alone needs them
        TOKEN_REQUEST_LIMITS,
        ApiClient,
        CcgError,
        ClientCredentialsAuthCredentials,
        Limits,
        ResiliencePolicy,
    )

    limits = TOKEN_REQUEST_LIMITS
    if max_body_bytes is not None:
        limits = Limits(
            connect_timeout=limits.connect_timeout,
            read_timeout=limits.read_timeout,
            total_timeout=limits.total_timeout,
            max_body_bytes=max_body_bytes,
        )

    with ApiClient(
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials(
            o_auth_client_id="probe", o_auth_client_secret="probe-secret"
        ),
        token_url=token_url,
        token_request_limits=limits,
        resilience=ResiliencePolicy(max_attempts=1),
    ) as client:
        try:
            client.auth_manager.token()
        except CcgError as exc:
            return type(exc).__name__, str(exc)
    return None, ""


def probe_token(
    token_url: str, *, warm_token_url: str, max_body_bytes: int | None = None
) -> dict[str, object]:
    """Fetch a token from `token_url` through a whole `ApiClient`, twice; error and memory.

    As `probe`, one level up: each attempt builds an `ApiClient` (its own
    `Urllib3Transport`, the default token request limits, one attempt) and asks its
    manager for a token, so the decoding, the core and the typed error are measured
    too. The warm-up fetches a good token from `warm_token_url` the same way. The first
    attempt is measured by the kernel (peak RSS minus RSS before), the second by
    tracemalloc, as in `probe`.
    """
    warm_error, warm_message = _token_attempt(warm_token_url, max_body_bytes)
    assert warm_error is None, warm_message
    gc.collect()
    reset = _reset_peak()
    base = _status_kib("VmRSS")
    started = time.monotonic()
    error, message = _token_attempt(token_url, max_body_bytes)
    elapsed = time.monotonic() - started
    peak = _status_kib("VmHWM")
    gc.collect()
    tracemalloc.start()
    again_error, _ = _token_attempt(token_url, max_body_bytes)
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "error": error,
        "message": message,
        "seconds": elapsed,
        "base_kib": base,
        "peak_kib": peak,
        "growth_kib": peak - base,
        "peak_was_reset": reset,
        "again_error": again_error,
        "traced_peak_kib": traced_peak // 1024,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=probe.__doc__)
    parser.add_argument("url")
    parser.add_argument("--warm-url")
    parser.add_argument("--unlimited", action="store_true", help="send without Limits")
    parser.add_argument(
        "--token",
        action="store_true",
        help="URL and --warm-url are token endpoints: fetch through ApiClient (probe_token)",
    )
    parser.add_argument("--max-body-bytes", type=int, help="with --token: the token body limit")
    args = parser.parse_args(argv)
    if args.token:
        if args.warm_url is None:
            parser.error("--token needs --warm-url")
        result = probe_token(
            args.url, warm_token_url=args.warm_url, max_body_bytes=args.max_body_bytes
        )
    else:
        result = probe(args.url, limited=not args.unlimited, warm_url=args.warm_url)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
