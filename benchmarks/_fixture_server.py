"""The Python fixture server: the fallback when nginx is absent, and nginx's delayed upstream.

Run as `python -m benchmarks._fixture_server --access-log FILE [--port 0] [--delay-ms 80]`;
it prints `PORT <n>` once it listens on 127.0.0.1 and serves until killed. Endpoints
(the same as the nginx config in `benchmarks._servers`):

- `POST /token`, `POST /token-short`: the fixed token JSON (`expires_in` 3600 or 2);
- `POST /slow/token`, `POST /slow/token-short`: the same after sleeping `--delay-ms`;
- `GET /api`: 200 with `Authorization: Bearer <the token>`, else 401;
- `/r/<name>/...`: the resilience families' scenarios (slow, failing, strict token
  servers; see `benchmarks._scenarios`).

Every request is appended to the access log as `METHOD PATH STATUS`, the format of
the nginx log, so token requests are counted the same way whichever server runs.
"""

from __future__ import annotations

import argparse
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar, Final, TextIO

from benchmarks._scenarios import SCENARIO_PREFIX, ScenarioRegistry

ACCESS_TOKEN: Final = "bench-access-token-0123456789abcdefghijklmnopqrstuvwxyz"
CLIENT_ID: Final = "bench-client"
CLIENT_SECRET: Final = "bench-secret"
LONG_LIFETIME: Final = 3600
SHORT_LIFETIME: Final = 2

TOKEN_PATHS: Final = {
    "/token": LONG_LIFETIME,
    "/token-short": SHORT_LIFETIME,
    "/slow/token": LONG_LIFETIME,
    "/slow/token-short": SHORT_LIFETIME,
}
API_PATH: Final = "/api"
EXPECTED_AUTHORIZATION: Final = "Bearer " + ACCESS_TOKEN


def token_json(expires_in: int) -> bytes:
    """The fixed token response body (the nginx config returns the very same bytes)."""
    return (
        f'{{"access_token":"{ACCESS_TOKEN}","token_type":"Bearer","expires_in":{expires_in}}}'
    ).encode()


OK_JSON: Final = b'{"ok":true}'
DENIED_JSON: Final = b'{"error":"invalid_token"}'


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as nginx
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server_version = "ccg-bench-fixture"
    sys_version = ""
    delay_s: ClassVar[float] = 0.0
    log_file: ClassVar[TextIO | None] = None
    log_lock: ClassVar[threading.Lock] = threading.Lock()
    scenarios: ClassVar[ScenarioRegistry] = ScenarioRegistry(ACCESS_TOKEN)

    def _reply(self, status: int, body: bytes, extra: tuple[tuple[str, str], ...] = ()) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _scenario(self, body: bytes = b"") -> None:
        status, reply, extra = self.scenarios.answer(
            self.command, self.path, self.headers.get("Authorization"), body
        )
        self._reply(status, reply, extra)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.startswith(SCENARIO_PREFIX):
            self._scenario(body)
            return
        lifetime = TOKEN_PATHS.get(self.path)
        if lifetime is None:
            self._reply(404, b'{"error":"not_found"}')
            return
        if self.path.startswith("/slow/"):
            time.sleep(self.delay_s)
        self._reply(200, token_json(lifetime))

    def do_GET(self) -> None:
        if self.path.startswith(SCENARIO_PREFIX):
            self._scenario()
        elif self.path != API_PATH:
            self._reply(404, b'{"error":"not_found"}')
        elif self.headers.get("Authorization") == EXPECTED_AUTHORIZATION:
            self._reply(200, OK_JSON)
        else:
            self._reply(401, DENIED_JSON, (("WWW-Authenticate", "Bearer"),))

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:  # noqa: ARG002
        log = self.log_file
        if log is not None:
            with self.log_lock:
                log.write(f"{self.command} {self.path} {code}\n")
                log.flush()

    def log_message(self, format: str, *args: object) -> None:
        """Silence the default stderr line per request."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default 5 drops SYNs when a herd of 32 connects at once


def main(argv: list[str] | None = None) -> None:
    """Serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay-ms", type=float, default=80.0)
    parser.add_argument("--access-log", required=True)
    args = parser.parse_args(argv)
    _Handler.delay_s = args.delay_ms / 1000
    with open(args.access_log, "a", encoding="ascii") as log:
        _Handler.log_file = log
        with _Server(("127.0.0.1", args.port), _Handler) as server:
            print(f"PORT {server.server_address[1]}", flush=True)
            server.serve_forever(poll_interval=0.5)


if __name__ == "__main__":
    main()
