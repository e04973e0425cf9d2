"""Installing, starting and stopping the interop servers; reading what they recorded.

Every server is a child process listening on an ephemeral port of 127.0.0.1, which it
prints as `LISTENING <port>`. Every wait here is bounded and polls; nothing sleeps to
"wait for" a server.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import msgspec
import urllib3

from tests.interop._catalogue import (
    CLIENTS,
    INTROSPECTOR,
    KNOWN_SCOPES,
    TOKEN_TTL,
    Runtime,
    ServerSpec,
)

__all__ = [
    "MIN_NODE",
    "NODE_DIR",
    "SERVERS_DIR",
    "ApiAnswer",
    "NodeRuntime",
    "RunningServer",
    "ServerPool",
    "TokenRequestRecord",
    "Unavailable",
    "close_connections",
    "prepare_node",
    "start_server",
]

SERVERS_DIR: Final = Path(__file__).resolve().parent / "servers"
REPO_ROOT: Final = Path(__file__).resolve().parents[2]
NODE_DIR: Final = REPO_ROOT / ".interop" / "node"
"""Where the pinned Node packages are installed (git-ignored)."""
MIN_NODE: Final = (16, 0)
"""The oldest Node.js the harness tries (servers may want newer: `ServerSpec.min_node`)."""
NPM_TIMEOUT: Final = 300.0
START_TIMEOUT: Final = 60.0
STOP_TIMEOUT: Final = 10.0
_POLL: Final = 0.05
_LISTENING: Final = re.compile(rb"^LISTENING (\d+)\s*$", re.MULTILINE)
_HTTP: Final = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2.0, read=5.0))


def _pinned_packages() -> dict[str, str]:
    manifest = json.loads((SERVERS_DIR / "package.json").read_text(encoding="utf-8"))
    return {str(name): str(version) for name, version in manifest["dependencies"].items()}


PINNED: Final = _pinned_packages()
"""The Node packages and exact versions of tests/interop/servers/package.json."""


# -- Node.js and the pinned packages ------------------------------------------------------


@dataclass(frozen=True)
class NodeRuntime:
    """A usable `node` and the folder holding the pinned packages and the server scripts."""

    node: str
    version: tuple[int, int]
    directory: Path


@dataclass(frozen=True)
class Unavailable:
    """Why a server cannot run here: its cases skip with this reason."""

    reason: str


def _installed_version(directory: Path, package: str) -> str | None:
    manifest = directory / "node_modules" / package / "package.json"
    try:
        return str(json.loads(manifest.read_text(encoding="utf-8"))["version"])
    except (OSError, ValueError, KeyError):
        return None


def _missing_packages(directory: Path) -> list[str]:
    return [
        f"{name}@{version}"
        for name, version in PINNED.items()
        if _installed_version(directory, name) != version
    ]


def _node_version(node: str) -> tuple[int, int] | Unavailable:
    try:
        done = subprocess.run([node, "--version"], capture_output=True, timeout=15, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Unavailable(f"`{node} --version` failed: {exc}")
    found = re.match(rb"v(\d+)\.(\d+)", done.stdout.strip())
    if done.returncode != 0 or found is None:
        return Unavailable(f"`{node} --version` printed {done.stdout[:60]!r}")
    return int(found[1]), int(found[2])


def _tail(text: bytes, lines: int = 6) -> str:
    return " | ".join(text.decode("utf-8", "replace").strip().splitlines()[-lines:])


def prepare_node(
    directory: Path = NODE_DIR,
    *,
    which: Callable[[str], str | None] = shutil.which,
    npm_timeout: float = NPM_TIMEOUT,
) -> NodeRuntime | Unavailable:
    """Node.js and the pinned packages in `directory`, installed once and reused.

    Runs `npm install --no-audit --no-fund --prefix <directory>` with the pinned manifest
    and lock file when a package is missing or at another version. Anything that goes
    wrong comes back as `Unavailable` with the reason, for the cases to skip with.
    """
    node = which("node")
    if node is None:
        return Unavailable("Node.js is not installed (no `node` on PATH)")
    version = _node_version(node)
    if isinstance(version, Unavailable):
        return version
    if version < MIN_NODE:
        wanted = ".".join(map(str, MIN_NODE))
        return Unavailable(f"Node.js {version[0]}.{version[1]} is older than {wanted}")
    if _missing_packages(directory):
        npm = which("npm")
        if npm is None:
            return Unavailable("npm is not installed (no `npm` on PATH)")
        directory.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(SERVERS_DIR / name, directory / name)
        command = [npm, "install", "--no-audit", "--no-fund", "--prefix", str(directory)]
        try:
            done = subprocess.run(
                command, capture_output=True, timeout=npm_timeout, check=False, cwd=directory
            )
        except subprocess.TimeoutExpired:
            return Unavailable(f"npm install did not finish within {npm_timeout:g} s")
        except OSError as exc:
            return Unavailable(f"npm install could not run: {exc}")
        if done.returncode != 0:
            return Unavailable(
                f"npm install failed (exit {done.returncode}): {_tail(done.stderr or done.stdout)}"
            )
        missing = _missing_packages(directory)
        if missing:
            return Unavailable(f"npm install left out {', '.join(missing)}")
    # Bare imports in an ES module resolve from the module's own folder up: the scripts
    # must sit beside node_modules, so each session copies the current ones there.
    scripts = directory / "servers"
    scripts.mkdir(exist_ok=True)
    for script in SERVERS_DIR.glob("*.mjs"):
        shutil.copyfile(script, scripts / script.name)
    return NodeRuntime(node=node, version=version, directory=directory)


# -- a running server -------------------------------------------------------------------


class TokenRequestRecord(msgspec.Struct, frozen=True):
    """One successful token request, as the server recorded it (the secret left out)."""

    client_id: str
    params: dict[str, list[str]]


class ApiAnswer(msgspec.Struct, frozen=True):
    """What every /api/me answers a valid token with (servers add `aud` when they bind one)."""

    client_id: str
    scope: str | None = None
    aud: str | list[str] | None = None

    @property
    def scopes(self) -> set[str]:
        return set((self.scope or "").split())

    @property
    def audiences(self) -> list[str]:
        if self.aud is None:
            return []
        return [self.aud] if isinstance(self.aud, str) else list(self.aud)


_RECORDS: Final = msgspec.json.Decoder(list[TokenRequestRecord])
_ANSWER: Final = msgspec.json.Decoder(ApiAnswer)


@dataclass
class RunningServer:
    """A server process started by `start_server`; `stop()` ends it and waits for its exit."""

    spec: ServerSpec
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def token_url(self) -> str:
        return self.base_url + self.spec.token_path

    @property
    def api_url(self) -> str:
        return self.base_url + "/api/me"

    def resolve(self, template: str) -> str:
        """`template` with `{base_url}` replaced by this server's URL."""
        return template.replace("{base_url}", self.base_url)

    def target_params(self) -> dict[str, str]:
        """The spec's `audience`/`resource` parameters for this server."""
        return {name: self.resolve(value) for name, value in self.spec.target_params.items()}

    def expected_audience(self) -> str | None:
        return None if self.spec.audience is None else self.resolve(self.spec.audience)

    def token_requests(self, client_id: str | None = None) -> list[TokenRequestRecord]:
        """The successful token requests the server recorded, of `client_id` if given."""
        reply = _HTTP.request("GET", self.base_url + "/_interop/token-requests")
        assert reply.status == 200, f"{self.spec.name}: token-requests answered {reply.status}"
        records = _RECORDS.decode(reply.data)
        return [r for r in records if client_id is None or r.client_id == client_id]

    def call_api(self, authorization: str) -> tuple[int, ApiAnswer | None]:
        """GET /api/me with this `Authorization` value, outside ccg."""
        reply = _HTTP.request("GET", self.api_url, headers={"Authorization": authorization})
        return reply.status, _ANSWER.decode(reply.data) if reply.status == 200 else None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text("utf-8", "replace").splitlines()[-lines:])
        except OSError:
            return "<no log>"

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, wait for the exit (SIGKILL after `timeout`); the exit status."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                return self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait(timeout)


def close_connections() -> None:
    """Close the pooled connections the harness opened to the servers."""
    _HTTP.clear()


def _child_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("COV_CORE_", "COVERAGE_", "PYTEST_"))
    }
    env.update(extra)
    return env


def _listening_port(log_path: Path) -> int | None:
    found = _LISTENING.search(log_path.read_bytes())
    return int(found[1]) if found else None


def _healthy(url: str) -> bool:
    try:
        return _HTTP.request("GET", url + "/healthz").status == 200
    except urllib3.exceptions.HTTPError:
        return False


def start_server(
    spec: ServerSpec,
    command: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log_path: Path,
    timeout: float = START_TIMEOUT,
) -> RunningServer:
    """Start `command`, wait until it listens and answers /healthz; RuntimeError if it doesn't."""
    with log_path.open("wb") as log:
        try:
            process = subprocess.Popen(
                list(command),
                cwd=cwd,
                env=_child_env(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        except OSError as exc:
            raise RuntimeError(f"{spec.label}: could not start {command[0]}: {exc}") from exc
    server = RunningServer(spec=spec, base_url="", process=process, log_path=log_path)
    deadline = time.monotonic() + timeout
    try:
        while (port := _listening_port(log_path)) is None:
            if process.poll() is not None:
                raise RuntimeError(f"exited with status {process.returncode} before listening")
            if time.monotonic() > deadline:
                raise RuntimeError(f"did not listen within {timeout:g} s")
            time.sleep(_POLL)
        server.base_url = f"http://127.0.0.1:{port}"
        while not _healthy(server.base_url):
            if process.poll() is not None:
                raise RuntimeError(f"exited with status {process.returncode} after listening")
            if time.monotonic() > deadline:
                raise RuntimeError(f"did not answer /healthz within {timeout:g} s")
            time.sleep(_POLL)
    except RuntimeError as exc:
        server.stop()
        raise RuntimeError(f"{spec.label}: {exc}; its log ends:\n{server.log_tail()}") from None
    return server


# -- the servers of a session ---------------------------------------------------------


def _server_env(spec: ServerSpec, state_dir: Path) -> dict[str, str]:
    env = {
        "INTEROP_CLIENTS": json.dumps([client.as_json() for client in CLIENTS]),
        "INTEROP_SCOPES": " ".join(KNOWN_SCOPES),
        "INTEROP_TOKEN_TTL": str(TOKEN_TTL),
        "INTEROP_STATE_DIR": str(state_dir),
        "INTEROP_INTROSPECTOR": json.dumps(INTROSPECTOR.as_json()),
        "INTEROP_RESOURCES": json.dumps(sorted(set(spec.target_params.values()))),
    }
    env.update(spec.env)
    return env


class ServerPool:
    """Starts each server the first time a case asks for it; stops them all at the end.

    A server that cannot run here is remembered as `Unavailable` (its cases skip), one
    that failed to start as its error (its cases fail at once, without a second try).
    """

    def __init__(
        self,
        make_dir: Callable[[str], Path],
        *,
        node: Callable[[], NodeRuntime | Unavailable] = prepare_node,
    ) -> None:
        self._make_dir = make_dir
        self._prepare_node = node
        self._node: NodeRuntime | Unavailable | None = None
        self._started: dict[str, RunningServer | Unavailable | RuntimeError] = {}

    def _node_runtime(self) -> NodeRuntime | Unavailable:
        if self._node is None:
            self._node = self._prepare_node()
        return self._node

    def _start(self, spec: ServerSpec) -> RunningServer | Unavailable:
        state_dir = self._make_dir(spec.name)
        if spec.runtime is Runtime.NODE:
            runtime = self._node_runtime()
            if isinstance(runtime, Unavailable):
                return runtime
            if runtime.version < spec.min_node:
                found, wanted = (".".join(map(str, v)) for v in (runtime.version, spec.min_node))
                return Unavailable(f"Node.js {found} is older than {wanted}")
            command = [runtime.node, str(runtime.directory / "servers" / spec.program)]
            cwd = runtime.directory
        else:
            missing = [m for m in spec.python_modules if importlib.util.find_spec(m) is None]
            if missing:
                return Unavailable(
                    f"{', '.join(missing)} not installed (pip install -e '.[interop]')"
                )
            command = [sys.executable, "-I", str(SERVERS_DIR / spec.program)]
            cwd = state_dir
        return start_server(
            spec,
            command,
            cwd=cwd,
            env=_server_env(spec, state_dir),
            log_path=state_dir / "server.log",
        )

    def get(self, spec: ServerSpec) -> RunningServer | Unavailable:
        if spec.name not in self._started:
            try:
                self._started[spec.name] = self._start(spec)
            except RuntimeError as exc:
                self._started[spec.name] = exc
        started = self._started[spec.name]
        if isinstance(started, RuntimeError):
            raise started
        return started

    def stop_all(self) -> dict[str, int]:
        """Stop every running server and wait for each to exit; their exit statuses."""
        running = [s for s in self._started.values() if isinstance(s, RunningServer)]
        for server in running:
            if server.process.poll() is None:
                server.process.terminate()
        statuses = {server.spec.name: server.stop() for server in running}
        close_connections()
        return statuses
