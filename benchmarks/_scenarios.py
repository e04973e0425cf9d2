"""Token servers that misbehave on cue, for the resilience families: slow, failing, strict.

Served by the Python fixture server under `/r/<name>/...` (nginx proxies `/r/` to it, with
keep-alive); each `<name>` is an independent scenario, so every run starts from a clean
count. The protected endpoint of a scenario may stay nginx's `GET /api` (the fixed token),
or be the scenario's own `GET /r/<name>/api`, which accepts only tokens it issued and
only until they expire.

- `POST /r/<name>/setup` (JSON `ScenarioSetup` fields): (re)start the scenario now;
  `fail_for_s` > 0 starts a storm: token requests get `fail_status` until then.
- `POST /r/<name>/token`: a token (after `delay_s`), or the storm's error reply.
- `POST /r/<name>/release`: cut every delay short, now and from now on.
- `GET /r/<name>/api`: 200 for a token of this scenario, else 401 (`unique` scenarios), or
  for the fixed token (the others).
- `GET /r/<name>/stats`: JSON `ScenarioStats`.

Every time is the server's `time.monotonic()`: on Linux that is CLOCK_MONOTONIC, one clock
for every process of the machine, so the benchmark compares it with its own readings.
`ScenarioControl` is the benchmark's side of this protocol.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Final

import msgspec
import urllib3

__all__ = [
    "SCENARIO_PREFIX",
    "ScenarioControl",
    "ScenarioRegistry",
    "ScenarioSetup",
    "ScenarioStats",
]

SCENARIO_PREFIX: Final = "/r/"
_PATH: Final = re.compile(r"^/r/([A-Za-z0-9_.-]{1,80})/(setup|token|release|api|stats)$")
_STORM_BODY: Final = b'{"error":"temporarily_unavailable"}'
_DENIED_BODY: Final = b'{"error":"invalid_token"}'

Reply = tuple[int, bytes, tuple[tuple[str, str], ...]]


@dataclass(frozen=True)
class ScenarioSetup:
    """How a scenario's token endpoint behaves."""

    expires_in: int = 3600
    """`expires_in` of every token issued."""
    delay_s: float = 0.0
    """Seconds each token request waits before it is answered (until released)."""
    unique: bool = False
    """Issue a new token per request, accepted by `/r/<name>/api` until it expires
    (else the fixed token, which nginx's `/api` accepts too)."""
    fail_status: int = 503
    """The storm's status (JSON `temporarily_unavailable`, no `Retry-After`)."""
    fail_for_s: float = 0.0
    """Seconds from setup during which every token request gets `fail_status`."""


@dataclass(frozen=True)
class ScenarioStats:
    """What a scenario saw, on the server's monotonic clock."""

    now: float
    arrivals: list[float]
    """When each token request arrived, in order."""
    answers: list[tuple[float, float, int]]
    """(arrived, answered, status) of each token request answered."""
    pending: int
    """Token requests arrived and not answered yet."""
    api_ok: int
    api_denied: int
    fail_until: float | None
    """When the storm ends (None: no storm)."""

    @property
    def token_requests(self) -> int:
        return len(self.arrivals)


@dataclass(frozen=True)
class _SetupAnswer:
    now: float


@dataclass
class _Scenario:
    setup: ScenarioSetup
    fail_until: float
    fixed_token: str
    name: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    released: threading.Event = field(default_factory=threading.Event)
    arrivals: list[float] = field(default_factory=list[float])
    answers: list[tuple[float, float, int]] = field(default_factory=list[tuple[float, float, int]])
    pending: int = 0
    issued: dict[str, float] = field(default_factory=dict[str, float])
    api_ok: int = 0
    api_denied: int = 0

    def token(self) -> Reply:
        arrived = time.monotonic()
        with self.lock:
            self.arrivals.append(arrived)
            self.pending += 1
        status = 500  # if answering raises
        try:
            if arrived < self.fail_until:
                status, body = self.setup.fail_status, _STORM_BODY
            else:
                if self.setup.delay_s > 0:
                    self.released.wait(self.setup.delay_s)
                status, body = 200, self._issue()
        finally:
            with self.lock:
                self.pending -= 1
                self.answers.append((arrived, time.monotonic(), status))
        return status, body, ()

    def _issue(self) -> bytes:
        lifetime = self.setup.expires_in
        access_token = self.fixed_token
        if self.setup.unique:
            with self.lock:
                access_token = f"bench-{self.name}-{len(self.issued) + 1}"
                self.issued[access_token] = time.monotonic() + lifetime
        return json.dumps(
            {"access_token": access_token, "token_type": "Bearer", "expires_in": lifetime},
            separators=(",", ":"),
        ).encode()

    def api(self, authorization: str | None) -> Reply:
        token = (authorization or "").removeprefix("Bearer ")
        if self.setup.unique:
            with self.lock:
                good = time.monotonic() < self.issued.get(token, -math.inf)
        else:
            good = token == self.fixed_token
        with self.lock:
            if good:
                self.api_ok += 1
            else:
                self.api_denied += 1
        if good:
            return 200, b'{"ok":true}', ()
        return 401, _DENIED_BODY, (("WWW-Authenticate", 'Bearer error="invalid_token"'),)

    def stats(self) -> Reply:
        with self.lock:
            body = {
                "now": time.monotonic(),
                "arrivals": list(self.arrivals),
                "answers": list(self.answers),
                "pending": self.pending,
                "api_ok": self.api_ok,
                "api_denied": self.api_denied,
                "fail_until": self.fail_until if math.isfinite(self.fail_until) else None,
            }
        return 200, json.dumps(body).encode(), ()


class ScenarioRegistry:
    """The server side: every scenario by name (thread-safe)."""

    def __init__(self, fixed_token: str) -> None:
        self._fixed_token = fixed_token
        self._lock = threading.Lock()
        self._scenarios: dict[str, _Scenario] = {}

    def answer(self, method: str, path: str, authorization: str | None, body: bytes) -> Reply:
        """The reply to one request under `SCENARIO_PREFIX`."""
        match = _PATH.match(path)
        if match is None:
            return 404, b'{"error":"not_found"}', ()
        name, action = match.group(1), match.group(2)
        expected = "GET" if action in ("api", "stats") else "POST"
        if method != expected:
            return 405, b'{"error":"method_not_allowed"}', ()
        if action == "setup":
            setup = msgspec.json.decode(body or b"{}", type=ScenarioSetup)
            now = time.monotonic()
            fail_until = now + setup.fail_for_s if setup.fail_for_s > 0 else -math.inf
            old = None
            with self._lock:
                old = self._scenarios.get(name)
                self._scenarios[name] = _Scenario(setup, fail_until, self._fixed_token, name)
            if old is not None:
                old.released.set()  # nothing waits on a scenario that was replaced
            return 200, json.dumps({"now": now}).encode(), ()
        with self._lock:
            scenario = self._scenarios.get(name)
        if scenario is None:
            return 404, b'{"error":"no_such_scenario"}', ()
        if action == "token":
            return scenario.token()
        if action == "api":
            return scenario.api(authorization)
        if action == "release":
            scenario.setup = replace(scenario.setup, delay_s=0.0)
            scenario.released.set()
            return 200, b"{}", ()
        return scenario.stats()


class ScenarioControl:
    """The benchmark's side: set scenarios up, cut their delays, read what they saw."""

    def __init__(self, base_url: str) -> None:
        self._base_url = base_url
        self._pool = urllib3.PoolManager(maxsize=2, retries=False)

    @staticmethod
    def token_path(name: str) -> str:
        return f"{SCENARIO_PREFIX}{name}/token"

    @staticmethod
    def api_path(name: str) -> str:
        return f"{SCENARIO_PREFIX}{name}/api"

    def _send(self, method: str, name: str, action: str, body: bytes = b"") -> bytes:
        reply = self._pool.request(
            method,
            f"{self._base_url}{SCENARIO_PREFIX}{name}/{action}",
            body=body or None,
            headers={"Content-Type": "application/json"} if body else None,
            timeout=urllib3.Timeout(connect=5.0, read=30.0),
        )
        if reply.status != 200:
            raise RuntimeError(
                f"scenario {name} {action}: HTTP {reply.status} {reply.data[:200]!r}"
            )
        return reply.data

    def setup(self, name: str, setup: ScenarioSetup) -> float:
        """Start scenario `name` afresh; the server's clock at that moment."""
        answer = self._send("POST", name, "setup", msgspec.json.encode(setup))
        return msgspec.json.decode(answer, type=_SetupAnswer).now

    def release(self, name: str) -> None:
        """Answer every waiting (and later) token request of `name` at once."""
        self._send("POST", name, "release")

    def stats(self, name: str) -> ScenarioStats:
        """What scenario `name` saw so far."""
        return msgspec.json.decode(self._send("GET", name, "stats"), type=ScenarioStats)

    def close(self) -> None:
        self._pool.clear()
