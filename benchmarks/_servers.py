"""The servers the benchmarks start and stop themselves, all on 127.0.0.1.

`NginxServer`: Debian's nginx as a child process (`daemon off; master_process on;`,
two workers) with its own config, pid file, error and access logs in a temp dir. The
token endpoints and the protected endpoint are answered by nginx itself (`return`);
only the delayed token endpoints (`/slow/...`, for the herd) are proxied to the Python
fixture server, whose one job there is to sleep before answering: nginx has no delay
without extra modules (echo_sleep), and `limit_rate` has whole-second granularity.

The resilience families' scenarios (`/r/...`, `benchmarks._scenarios`) are proxied to
the same Python upstream, over keep-alive connections.

`PythonServer`: the fallback, the same endpoints from `http.server`'s
`ThreadingHTTPServer` in a child process.

Both log `METHOD PATH STATUS` per request; token requests are counted from that log.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Final, Protocol

from benchmarks._fixture_server import (
    API_PATH,
    DENIED_JSON,
    EXPECTED_AUTHORIZATION,
    OK_JSON,
    TOKEN_PATHS,
    token_json,
)
from benchmarks._scenarios import SCENARIO_PREFIX

__all__ = ["NginxServer", "PythonServer", "Server", "find_nginx", "start_server"]

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
_NGINX_CANDIDATES: Final = (
    "/usr/sbin/nginx",
    "/usr/local/sbin/nginx",
    "/usr/local/nginx/sbin/nginx",
)
_TOKEN_LINE: Final = re.compile(r"^POST (/token|/token-short|/slow/token|/slow/token-short) ", re.M)


class Server(Protocol):
    """A running server: its base URL, what it is, and its token request count."""

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>`."""
        ...

    @property
    def description(self) -> str:
        """One line naming the server and how its slow endpoint is delayed."""
        ...

    def token_requests(self) -> int:
        """Token requests logged so far (reads the access log)."""
        ...

    def stop(self) -> None:
        """Stop every process this server started."""
        ...


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the child gets SIGTERM if the benchmark dies, so no server outlives it."""
    if sys.platform == "linux":
        import ctypes  # noqa: PLC0415 - only in the forked child

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_listening(port: int, alive: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError("the server process exited during startup")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def _alive(process: subprocess.Popen[bytes]) -> Callable[[], bool]:
    return lambda: process.poll() is None


def _count_token_lines(log: Path) -> int:
    try:
        text = log.read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return 0
    return len(_TOKEN_LINE.findall(text))


def _stop_process(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class _FixtureProcess:
    """The Python fixture server in a child process (its own GIL, not the benchmark's)."""

    def __init__(self, workdir: Path, delay_ms: float, log_name: str) -> None:
        self.access_log = workdir / log_name
        self.access_log.touch()
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks._fixture_server",
                "--port",
                "0",
                "--delay-ms",
                str(delay_ms),
                "--access-log",
                str(self.access_log),
            ],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - no threads yet
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline().decode("ascii", "replace").strip()
        self._process.stdout.close()
        if not line.startswith("PORT "):
            _stop_process(self._process)
            raise RuntimeError(f"the fixture server did not start: {line!r}")
        self.port = int(line.split()[1])
        _wait_listening(self.port, _alive(self._process))

    @property
    def pid(self) -> int:
        return self._process.pid

    def stop(self) -> None:
        _stop_process(self._process)


class PythonServer:
    """The fallback: `http.server.ThreadingHTTPServer` in a child process."""

    def __init__(self, *, delay_ms: float, reason: str = "") -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="ccg-bench-py-"))
        self._reason = reason
        self._delay_ms = delay_ms
        try:
            self._fixture = _FixtureProcess(self._dir, delay_ms, "access.log")
        except BaseException:
            shutil.rmtree(self._dir, ignore_errors=True)
            raise

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._fixture.port}"

    @property
    def description(self) -> str:
        why = f" ({self._reason})" if self._reason else ""
        return (
            f"Python fallback server: http.server.ThreadingHTTPServer in a child process "
            f"on {self.base_url}{why}; slow token endpoint sleeps {self._delay_ms:g} ms"
        )

    @property
    def pids(self) -> tuple[int, ...]:
        return (self._fixture.pid,)

    def token_requests(self) -> int:
        return _count_token_lines(self._fixture.access_log)

    def stop(self) -> None:
        try:
            self._fixture.stop()
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)


def find_nginx() -> str | None:
    """The nginx binary, or None."""
    found = shutil.which("nginx")
    if found:
        return found
    return next((c for c in _NGINX_CANDIDATES if os.access(c, os.X_OK)), None)


def nginx_version(binary: str) -> str:
    """`nginx/1.22.1`, as `nginx -v` prints it."""
    done = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False, timeout=10)
    return (done.stderr or done.stdout).strip().removeprefix("nginx version: ")


def _nginx_conf(workdir: Path, port: int, upstream_port: int, workers: int) -> str:
    token_locations = "\n".join(
        f"""        location = {path} {{
            {"proxy_pass http://delayed;" if path.startswith("/slow/") else ""}
            {"" if path.startswith("/slow/") else f"return 200 '{token_json(life).decode()}';"}
        }}"""
        for path, life in TOKEN_PATHS.items()
    )
    return f"""# written by benchmarks/_servers.py; removed when the benchmark stops
daemon off;
master_process on;
worker_processes {workers};
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{
    worker_connections 1024;
}}
http {{
    log_format bench '$request_method $uri $status';
    access_log {workdir}/access.log bench;
    client_body_temp_path {workdir}/client_body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    server_tokens off;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    default_type application/json;
    upstream delayed {{
        server 127.0.0.1:{upstream_port};
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port} backlog=1024;
        add_header Cache-Control no-store always;
{token_locations}
        location ^~ {SCENARIO_PREFIX} {{
            proxy_pass http://delayed;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_read_timeout 120s;
        }}
        location = {API_PATH} {{
            if ($http_authorization = "{EXPECTED_AUTHORIZATION}") {{
                return 200 '{OK_JSON.decode()}';
            }}
            add_header WWW-Authenticate Bearer always;
            return 401 '{DENIED_JSON.decode()}';
        }}
        location / {{
            return 404 '{{"error":"not_found"}}';
        }}
    }}
}}
"""


class NginxServer:
    """Debian's nginx as a child process, with a Python upstream for the delayed endpoints."""

    def __init__(self, binary: str, *, delay_ms: float, workers: int = 2) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="ccg-bench-nginx-"))
        self._version = nginx_version(binary)
        self._workers = workers
        self._delay_ms = delay_ms
        self._process: subprocess.Popen[bytes] | None = None
        self._upstream: _FixtureProcess | None = None
        try:
            self._upstream = _FixtureProcess(self._dir, delay_ms, "upstream-access.log")
            self._start(binary)
        except BaseException:
            self.stop()
            raise

    def _start(self, binary: str) -> None:
        assert self._upstream is not None
        error = ""
        for _ in range(3):  # the free port may be taken between the probe and nginx's bind
            self.port = _free_port()
            conf = self._dir / "nginx.conf"
            conf.write_text(_nginx_conf(self._dir, self.port, self._upstream.port, self._workers))
            errors = str(self._dir / "error.log")
            with open(self._dir / "stderr.log", "wb") as stderr:
                process = subprocess.Popen(
                    [binary, "-p", str(self._dir), "-c", str(conf), "-e", errors],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                    preexec_fn=_die_with_parent,  # noqa: PLW1509 - no threads yet
                )
            try:
                _wait_listening(self.port, _alive(process))
            except RuntimeError:
                _stop_process(process)
                error = self._log_tail()
                continue
            self._process = process
            return
        raise RuntimeError(f"nginx did not start: {error}")

    def _log_tail(self) -> str:
        texts: list[str] = []
        for name in ("stderr.log", "error.log"):
            with contextlib.suppress(OSError):
                texts.append((self._dir / name).read_text(errors="replace").strip())
        return " | ".join(t for t in texts if t)[-500:]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def description(self) -> str:
        return (
            f"{self._version} (master + {self._workers} workers) on {self.base_url}; "
            f"/slow/token* proxied to a Python upstream that sleeps {self._delay_ms:g} ms"
        )

    @property
    def pids(self) -> tuple[int, ...]:
        """The master's pid and the upstream's."""
        own = () if self._process is None else (self._process.pid,)
        return own + (() if self._upstream is None else (self._upstream.pid,))

    def token_requests(self) -> int:
        return _count_token_lines(self._dir / "access.log")

    def stop(self) -> None:
        try:
            if self._process is not None:
                # SIGQUIT: graceful; the master waits for its workers, then exits.
                _stop_process(self._process, signal.SIGQUIT)
                self._process = None
            if self._upstream is not None:
                self._upstream.stop()
                self._upstream = None
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)


@contextlib.contextmanager
def start_server(kind: str, *, delay_ms: float) -> Generator[Server, None, None]:
    """`kind` is `nginx`, `python` or `auto` (nginx if it is installed and starts)."""
    server: Server
    if kind == "python":
        server = PythonServer(delay_ms=delay_ms)
    else:
        binary = find_nginx()
        if binary is None:
            if kind == "nginx":
                raise RuntimeError("nginx is not installed (apt-get install -y nginx)")
            server = PythonServer(
                delay_ms=delay_ms, reason="nginx not found; apt-get install -y nginx"
            )
        else:
            try:
                server = NginxServer(binary, delay_ms=delay_ms)
            except RuntimeError as exc:
                if kind == "nginx":
                    raise
                server = PythonServer(delay_ms=delay_ms, reason=f"nginx failed: {exc}")
    try:
        yield server
    finally:
        server.stop()
