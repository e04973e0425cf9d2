"""The asyncio and adapter families: `python -m benchmarks --only async`.

- async-steady: authenticated `GET /api` with a cached token from asyncio, with 1 task and
  with 16, through `AsyncApiClient`, a raw `httpx.AsyncClient` with a fixed header (the
  floor), ccg's httpx adapter and the peers, all on one event loop against one server.
- httpx-step: `ccg.adapters.httpx.ClientCredentialsAuth`'s per-request work with a cached
  token and no network, driven as httpx drives an `httpx.Auth` (its sync and its async
  flow), against a hand-written `httpx.Auth` that sets a fixed header; then whole httpx
  requests over a `MockTransport`, to show that work inside a request.
- requests-step: `ccg.adapters.requests.ClientCredentialsAuth.__call__` on a
  `PreparedRequest`, against a hand-written `AuthBase` that sets a fixed header.
- async-herd: `async_herd_tasks` (1,000) tasks released together on a fresh client
  against the real server (a token endpoint delayed `token_delay_ms`): token requests
  and wall time; again on ccg's clients just after their token expired.

As in `benchmarks._families`: every figure is a median of rounds, every ratio the median
of per-round ratios, both sides from the same round of this run, measured back to back
in an order that alternates (ABBA) from round to round.
"""

from __future__ import annotations

import asyncio
import importlib.util
import math
import time
import timeit
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import httpx
import requests
from requests.auth import AuthBase

from benchmarks._async_clients import (
    ASYNC_CCG,
    ASYNC_CCG_HTTPX,
    ASYNC_KINDS,
    ASYNC_RAW,
    AsyncBenchClient,
    AsyncKind,
    AuthlibAsync,
    CcgAsync,
    CcgHttpxAdapter,
    ccg_credentials,
)
from benchmarks._clients import (
    AuthlibHttpx,
    AuthlibRequests,
    HttpxAuth,
    RequestsOAuthlib,
    available_modules,
    load,
)
from benchmarks._families import (
    SLOW_TOKEN_PATH,
    TOKEN_PATH,
    FamilyResult,
    Settings,
    gc_off,
    round_order,
)
from benchmarks._fixture_server import API_PATH, EXPECTED_AUTHORIZATION, LONG_LIFETIME
from benchmarks._report import (
    Table,
    TargetCheck,
    median,
    paired_ratio,
    paired_ratio_ci,
    ratio,
    span,
)
from benchmarks._servers import Server
from ccg import Clock, Urllib3Transport
from ccg.adapters.httpx import ClientCredentialsAuth as CcgHttpxAuth
from ccg.adapters.requests import ClientCredentialsAuth as CcgRequestsAuth
from ccg.aio import AsyncClientCredentialsAuthManager, HttpxAsyncTransport

__all__ = [
    "async_herd",
    "async_steady",
    "httpx_step",
    "requests_step",
]

STEADY_TARGET: Final = 1.05
STEP_TARGET: Final = 1.5


def _chosen(include_peers: bool) -> tuple[list[AsyncKind], list[str]]:
    """(kinds to run, labels of the peers skipped because they are not installed)."""
    kinds: list[AsyncKind] = []
    skipped: list[str] = []
    for kind in ASYNC_KINDS:
        if kind.is_peer and not include_peers:
            continue
        if kind.available:
            kinds.append(kind)
        else:
            skipped.append(kind.label)
    return kinds, skipped


def _skipped_note(table: Table, skipped: Sequence[str]) -> None:
    if skipped:
        table.footnotes.append("skipped (not installed): " + ", ".join(skipped))


async def _build_all(
    kinds: Sequence[AsyncKind], base_url: str, path: str
) -> dict[str, AsyncBenchClient]:
    built: dict[str, AsyncBenchClient] = {}
    try:
        for kind in kinds:
            built[kind.key] = kind.build(base_url, path)
    except BaseException:
        await _close_all(built)
        raise
    return built


async def _close_all(clients: dict[str, AsyncBenchClient]) -> None:
    for client in clients.values():
        await client.aclose()


_NO_SNIFFIO: Final = (
    "sniffio is not installed (anyio >= 4.12 no longer requires it): httpcore 1.0 then "
    "retries `import sniffio` each time it sets up a lock or an event, several times per "
    "request (encode/httpcore#1103), which every httpx client here pays alike; it inflates "
    "the floor, so ratios to it read lower than with sniffio installed (see +µs)."
)


def _paired_difference(values: Sequence[float], floors: Sequence[float]) -> float:
    """Median of the per-round differences (both sides from the same round)."""
    return median([v - f for v, f in zip(values, floors, strict=True)])


def _repeats(count: int) -> str:
    return "One repeat" if count == 1 else f"Median of {count} repeats"


def _tasks(count: int) -> str:
    return f"{count} task" if count == 1 else f"{count} tasks"


# -- async steady state -------------------------------------------------------------------


async def _time_batch(
    call: Callable[[], Awaitable[int]], tasks: int, per_task: int
) -> tuple[float, float, int]:
    """`tasks` tasks making `per_task` calls each, back to back: (wall µs per request, this
    process's CPU µs per request, calls that did not return 200)."""

    async def worker() -> int:
        bad = 0
        for _ in range(per_task):
            if await call() != 200:
                bad += 1
        return bad

    with gc_off():
        start = time.perf_counter()
        cpu_start = time.process_time()
        failed = await asyncio.gather(*(worker() for _ in range(tasks)))
        cpu = time.process_time() - cpu_start
        elapsed = time.perf_counter() - start
    count = tasks * per_task
    return elapsed / count * 1e6, cpu / count * 1e6, sum(failed)


async def _steady_runs(
    server: Server, kinds: Sequence[AsyncKind], s: Settings
) -> tuple[dict[tuple[int, str], list[float]], dict[tuple[int, str], list[float]], dict[str, int]]:
    """(wall µs samples, CPU µs samples) per (tasks, kind), and non-200 replies per kind."""
    keys = [k.key for k in kinds]
    samples: dict[tuple[int, str], list[float]] = {
        (c, k): [] for c in s.async_concurrency for k in keys
    }
    cpu: dict[tuple[int, str], list[float]] = {key: [] for key in samples}
    bad = dict.fromkeys(keys, 0)
    clients = await _build_all(kinds, server.base_url, TOKEN_PATH)
    group = [ASYNC_RAW.key, ASYNC_CCG.key, ASYNC_CCG_HTTPX.key]
    try:
        for key in keys:  # token fetched, connections open, code warm
            for _ in range(s.async_steady_warmup):
                await clients[key].call()
            await asyncio.gather(*(clients[key].call() for _ in range(max(s.async_concurrency))))
        widest = max(s.async_concurrency)
        for round_no in range(s.async_steady_rounds):
            counts = s.async_concurrency if round_no % 2 == 0 else s.async_concurrency[::-1]
            for key in round_order(keys, round_no, [group]):
                client = clients[key]
                # New connections each round, so no client keeps one lucky (or unlucky)
                # nginx worker for the whole run; opened by untimed concurrent calls.
                await client.reconnect()
                await asyncio.gather(*(client.call() for _ in range(widest)))
                for tasks in counts:
                    per_task = max(1, s.async_steady_requests // tasks)
                    us, cpu_us, failed = await _time_batch(client.call, tasks, per_task)
                    samples[tasks, key].append(us)
                    cpu[tasks, key].append(cpu_us)
                    bad[key] += failed
    finally:
        await _close_all(clients)
    return samples, cpu, bad


def async_steady(server: Server, s: Settings, *, include_peers: bool = True) -> FamilyResult:
    """Authenticated GETs with a cached token from asyncio: µs per request, per task count."""
    kinds, skipped = _chosen(include_peers)
    samples, cpu, bad = asyncio.run(_steady_runs(server, kinds, s))
    table = Table(
        "Async steady state: authenticated GET /api with a cached token (asyncio)",
        "All clients on one event loop, keep-alive, each over an httpx.AsyncHTTPTransport "
        "configured as HttpxAsyncTransport's own (max 100 connections, its timeouts). Each "
        "round every client drops its connections, opens new ones with untimed concurrent "
        f"calls, then runs a batch of {s.async_steady_requests} requests per task count, split "
        "over that many tasks (asyncio.gather). µs per request (wall clock) and this "
        f"process's CPU µs per request, medians of {s.async_steady_rounds} rounds; raw httpx, "
        "AsyncApiClient and ccg's httpx adapter always back to back (ABBA). Ratios: median of "
        "per-round ratios; +µs: median of per-round differences.",
        [
            "client",
            "tasks",
            "µs/request",
            "vs raw httpx",
            "+µs vs raw",
            "CPU µs/request",
            "CPU vs raw",
            "peer / ccg",
            "non-200",
        ],
    )
    for tasks in s.async_concurrency:
        raw = samples[tasks, ASYNC_RAW.key]
        raw_cpu = cpu[tasks, ASYNC_RAW.key]
        ccg = samples.get((tasks, ASYNC_CCG.key), [])
        for kind in kinds:
            mine = samples[tasks, kind.key]
            table.add(
                kind.label,
                str(tasks),
                f"{median(mine):.1f}",
                ratio(paired_ratio(mine, raw)),
                "-" if kind.is_floor else f"{_paired_difference(mine, raw):+.1f}",
                f"{median(cpu[tasks, kind.key]):.1f}",
                ratio(paired_ratio(cpu[tasks, kind.key], raw_cpu)),
                ratio(paired_ratio(mine, ccg)) if kind.is_peer and ccg else "-",
                str(bad[kind.key]),
            )
    table.footnotes.append("non-200: over the whole run, every task count.")
    if importlib.util.find_spec("sniffio") is None:
        table.footnotes.append(_NO_SNIFFIO)
    _skipped_note(table, skipped)
    result = FamilyResult(table)
    if any(k.key == ASYNC_CCG.key for k in kinds):
        for tasks in s.async_concurrency:
            raw = samples[tasks, ASYNC_RAW.key]
            ccg = samples[tasks, ASYNC_CCG.key]
            achieved = paired_ratio(ccg, raw)
            low, high = paired_ratio_ci(ccg, raw)
            achieved_cpu = paired_ratio(cpu[tasks, ASYNC_CCG.key], cpu[tasks, ASYNC_RAW.key])
            extra = _paired_difference(ccg, raw)
            adapter = paired_ratio(samples[tasks, ASYNC_CCG_HTTPX.key], raw)
            result.checks.append(
                TargetCheck(
                    f"async steady state <= {STEADY_TARGET}x raw httpx.AsyncClient "
                    f"({_tasks(tasks)})",
                    f"{achieved:.3f}x wall{_ci(low, high, 3)}, {extra:+.1f} µs/request, client "
                    f"CPU {achieved_cpu:.3f}x; httpx adapter {adapter:.3f}x",
                    achieved <= STEADY_TARGET and bad[ASYNC_CCG.key] == 0,
                )
            )
    return result


# -- per-request auth work (no network) ---------------------------------------------------

Timing = Callable[[int], float]
"""`timing(n)`: seconds for `n` calls of one auth step, the cyclic collector off."""


def _calibrate(timing: Timing, seconds: float) -> int:
    probe = 200
    per_call = max(timing(probe) / probe, 1e-9)
    return max(50, int(seconds / per_call))


@dataclass(frozen=True)
class _Row:
    key: str
    label: str
    floor: str
    """The row this one is divided by ("vs floor")."""
    ccg: str | None = None
    """For a peer: ccg's row of the same kind ("peer / ccg")."""


def _run_steps(
    rows: Sequence[_Row], timings: dict[str, Timing], s: Settings
) -> dict[str, list[float]]:
    """ns per call of every row, per round; each ccg row and its floor back to back."""
    keys = [row.key for row in rows]
    for key in keys:
        timings[key](1)
    numbers = {key: _calibrate(timings[key], s.auth_seconds_per_timing) for key in keys}
    # Each floor with the rows judged against it (ccg's, the lower floor), back to back.
    groups: dict[str, list[str]] = {}
    for row in rows:
        if row.ccg is None:
            groups.setdefault(row.floor, [row.floor])
            if row.key != row.floor:
                groups[row.floor].append(row.key)
    samples: dict[str, list[float]] = {key: [] for key in keys}
    for round_no in range(s.auth_rounds):
        for key in round_order(keys, round_no, list(groups.values())):
            samples[key].append(timings[key](numbers[key]) / numbers[key] * 1e9)
    return samples


def _step_table(
    title: str, note: str, rows: Sequence[_Row], samples: dict[str, list[float]]
) -> Table:
    table = Table(title, note, ["auth step", "ns/call", "vs floor", "peer / ccg"])
    for row in rows:
        mine = samples[row.key]
        table.add(
            row.label,
            f"{median(mine):.0f}",
            "-" if row.floor == row.key else ratio(paired_ratio(mine, samples[row.floor])),
            "-" if row.ccg is None else ratio(paired_ratio(mine, samples[row.ccg])),
        )
    return table


def _ci(low: float, high: float, digits: int = 2) -> str:
    """` (95% CI 1.20-1.25)`; nothing below 6 rounds (no interval)."""
    if math.isnan(low) or math.isnan(high):
        return ""
    return f" (95% CI {low:.{digits}f}-{high:.{digits}f})"


def _versus(samples: dict[str, list[float]], key: str, floor: str) -> tuple[float, str]:
    """(paired ratio of `key` over `floor`, `1.23x (95% CI 1.20-1.25)`)."""
    value = paired_ratio(samples[key], samples[floor])
    return value, f"{value:.2f}x" + _ci(*paired_ratio_ci(samples[key], samples[floor]))


# -- httpx Auth step ------------------------------------------------------------------------


class FixedHeaderAuth(httpx.Auth):
    """The floor: a hand-written `httpx.Auth` as httpx documents one (`auth_flow`)."""

    def __init__(self, header: str) -> None:
        self.header = header

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self.header
        yield request


class FixedHeaderFlows(httpx.Auth):
    """A lower floor: both flows written out (as ccg's adapter writes its own), so httpx's
    `Auth.sync_auth_flow` / `async_auth_flow` wrapper around `auth_flow` is not run."""

    def __init__(self, header: str) -> None:
        self.header = header

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self.header
        yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = self.header
        yield request


def _sync_flow(auth: httpx.Auth, request: httpx.Request, response: httpx.Response) -> Timing:
    """What `httpx.Client._send_handling_auth` does around one request, the send left out."""

    def step() -> None:
        flow = auth.sync_auth_flow(request)
        try:
            next(flow)
            try:
                flow.send(response)
            except StopIteration:
                return  # as httpx returns the response
        finally:
            flow.close()

    return timeit.Timer(step).timeit


def _authlib_sync_flow(client: Any, request: httpx.Request, response: httpx.Response) -> Timing:
    """`OAuth2Client.request`'s `ensure_active_token`, then its `token_auth` as httpx runs it."""
    auth = client.token_auth

    def step() -> None:
        client.ensure_active_token(client.token)
        flow = auth.sync_auth_flow(request)
        try:
            next(flow)
            try:
                flow.send(response)
            except StopIteration:
                return  # as httpx returns the response
        finally:
            flow.close()

    return timeit.Timer(step).timeit


def _async_timing(runner: asyncio.Runner, step: Callable[[], Awaitable[None]]) -> Timing:
    async def run(count: int) -> float:
        start = time.perf_counter()
        for _ in range(count):
            await step()
        return time.perf_counter() - start

    def timing(count: int) -> float:
        with gc_off():
            return runner.run(run(count))

    return timing


def _async_flow(
    runner: asyncio.Runner, auth: httpx.Auth, request: httpx.Request, response: httpx.Response
) -> Timing:
    """What `httpx.AsyncClient._send_handling_auth` does around one request, the send left out."""

    async def step() -> None:
        flow = auth.async_auth_flow(request)
        try:
            await flow.__anext__()
            try:
                await flow.asend(response)
            except StopAsyncIteration:
                return  # as httpx returns the response
        finally:
            await flow.aclose()

    return _async_timing(runner, step)


def _authlib_async_flow(
    runner: asyncio.Runner, client: Any, request: httpx.Request, response: httpx.Response
) -> Timing:
    """`AsyncOAuth2Client.request`'s `ensure_active_token`, then its `token_auth`'s flow."""
    auth = client.token_auth

    async def step() -> None:
        await client.ensure_active_token(client.token)
        flow = auth.async_auth_flow(request)
        try:
            await flow.__anext__()
            try:
                await flow.asend(response)
            except StopAsyncIteration:
                return  # as httpx returns the response
        finally:
            await flow.aclose()

    return _async_timing(runner, step)


def _ok(request: httpx.Request) -> httpx.Response:
    del request
    return httpx.Response(200, content=b'{"ok":true}')


def httpx_step(server: Server, s: Settings, *, include_peers: bool = True) -> FamilyResult:
    """ns per request of httpx auth work with a cached token, no network."""
    url = server.base_url + API_PATH
    request = httpx.Request("GET", url)
    response = httpx.Response(200, request=request)
    floor = FixedHeaderAuth(EXPECTED_AUTHORIZATION)
    flows = FixedHeaderFlows(EXPECTED_AUTHORIZATION)
    sync_transport = Urllib3Transport()
    token_transport = HttpxAsyncTransport()
    manager = ccg_credentials().create_auth_manager(
        server.base_url + TOKEN_PATH, transport=sync_transport
    )
    ccg = CcgHttpxAuth(
        manager,
        origins=[server.base_url],
        async_auth_manager=AsyncClientCredentialsAuthManager.sharing(
            manager, transport=token_transport
        ),
    )
    mock = httpx.MockTransport(_ok)
    sync_clients = {
        "floor-mock-sync": httpx.Client(auth=floor, transport=mock),
        "ccg-mock-sync": httpx.Client(auth=ccg, transport=mock),
    }
    async_clients = {
        "floor-mock-async": httpx.AsyncClient(auth=floor, transport=mock),
        "ccg-mock-async": httpx.AsyncClient(auth=ccg, transport=mock),
    }
    peers = include_peers
    authlib = peers and available_modules(("authlib", "httpx"))
    httpx_auth = peers and available_modules(("httpx_auth", "httpx"))
    skipped = [
        name
        for name, present in (("Authlib", authlib), ("httpx-auth", httpx_auth))
        if peers and not present
    ]
    closers: list[Callable[[], object]] = []
    rows: list[_Row] = [
        _Row("floor-sync", "floor: hand-written httpx.Auth (auth_flow), sync flow", "floor-sync"),
        _Row("flows-sync", "lower floor: sync_auth_flow written out", "floor-sync"),
        _Row("ccg-sync", "ccg ClientCredentialsAuth.sync_auth_flow", "floor-sync"),
    ]
    with asyncio.Runner() as runner:
        try:
            manager.authorization_header()  # the one network call: fetch and hold the token
            timings: dict[str, Timing] = {
                "floor-sync": _sync_flow(floor, request, response),
                "flows-sync": _sync_flow(flows, request, response),
                "ccg-sync": _sync_flow(ccg, request, response),
                "floor-async": _async_flow(runner, floor, request, response),
                "flows-async": _async_flow(runner, flows, request, response),
                "ccg-async": _async_flow(runner, ccg, request, response),
            }
            if authlib:
                authlib_sync = AuthlibHttpx(server.base_url, TOKEN_PATH)
                closers.append(authlib_sync.close)
                authlib_sync.call()
                timings["authlib-sync"] = _authlib_sync_flow(authlib_sync.client, request, response)
                rows.append(
                    _Row(
                        "authlib-sync",
                        "Authlib OAuth2Client: ensure_active_token + OAuth2Auth flow",
                        "floor-sync",
                        "ccg-sync",
                    )
                )
            if httpx_auth:
                peer = HttpxAuth(server.base_url, TOKEN_PATH)
                closers.append(peer.close)
                peer.call()
                timings["httpx-auth-sync"] = _sync_flow(peer.auth, request, response)
                timings["httpx-auth-async"] = _async_flow(runner, peer.auth, request, response)
                rows.append(
                    _Row(
                        "httpx-auth-sync",
                        "httpx-auth OAuth2ClientCredentials.sync_auth_flow",
                        "floor-sync",
                        "ccg-sync",
                    )
                )
            rows += [
                _Row(
                    "floor-async",
                    "floor: hand-written httpx.Auth (auth_flow), async flow",
                    "floor-async",
                ),
                _Row("flows-async", "lower floor: async_auth_flow written out", "floor-async"),
                _Row("ccg-async", "ccg ClientCredentialsAuth.async_auth_flow", "floor-async"),
            ]
            if authlib:
                authlib_async = AuthlibAsync(server.base_url, TOKEN_PATH)
                closers.append(lambda: runner.run(authlib_async.aclose()))
                runner.run(authlib_async.call())
                timings["authlib-async"] = _authlib_async_flow(
                    runner, authlib_async.client, request, response
                )
                rows.append(
                    _Row(
                        "authlib-async",
                        "Authlib AsyncOAuth2Client: ensure_active_token + OAuth2Auth flow",
                        "floor-async",
                        "ccg-async",
                    )
                )
            if httpx_auth:
                rows.append(
                    _Row(
                        "httpx-auth-async",
                        "httpx-auth OAuth2ClientCredentials.async_auth_flow",
                        "floor-async",
                        "ccg-async",
                    )
                )
            for key, sync_client in sync_clients.items():
                timings[key] = _mock_get(sync_client, url)
            for key, async_client in async_clients.items():
                timings[key] = _async_mock_get(runner, async_client, url)
            rows += [
                _Row(
                    "floor-mock-sync",
                    "whole request: httpx.Client(auth=floor, MockTransport).get",
                    "floor-mock-sync",
                ),
                _Row(
                    "ccg-mock-sync",
                    "whole request: httpx.Client(auth=ccg, MockTransport).get",
                    "floor-mock-sync",
                ),
                _Row(
                    "floor-mock-async",
                    "whole request: httpx.AsyncClient(auth=floor, MockTransport).get",
                    "floor-mock-async",
                ),
                _Row(
                    "ccg-mock-async",
                    "whole request: httpx.AsyncClient(auth=ccg, MockTransport).get",
                    "floor-mock-async",
                ),
            ]
            samples = _run_steps(rows, timings, s)
        finally:
            for closer in closers:
                closer()
            for sync_client in sync_clients.values():
                sync_client.close()
            for async_client in async_clients.values():
                runner.run(async_client.aclose())
            runner.run(token_transport.aclose())
            sync_transport.close()

    table = _step_table(
        "httpx Auth step: per-request auth work with a cached token, no network",
        f"ns per request, median of {s.auth_rounds} rounds (each ~{s.auth_seconds_per_timing:g} "
        "s of calls, gc off). Each flow is driven as httpx's _send_handling_auth drives it: "
        "make the flow, take the request, send the 200 response in, close the flow (async: "
        "__anext__, asend, aclose, awaited in one task). The floor is the hand-written "
        "httpx.Auth httpx documents (auth_flow, run through httpx's own sync/async wrapper); "
        "the lower floor writes the flows out, as ccg does. The last rows are whole requests "
        "over httpx.MockTransport. ccg rows run back to back with their floor (ABBA). "
        "Ratios: median of per-round ratios.",
        rows,
        samples,
    )
    if skipped:
        table.footnotes.append("skipped (not installed): " + ", ".join(skipped))
    result = FamilyResult(table)
    sync_ratio, sync_text = _versus(samples, "ccg-sync", "floor-sync")
    async_ratio, async_text = _versus(samples, "ccg-async", "floor-async")
    lower_sync = paired_ratio(samples["ccg-sync"], samples["flows-sync"])
    lower_async = paired_ratio(samples["ccg-async"], samples["flows-async"])
    _, mock_sync = _versus(samples, "ccg-mock-sync", "floor-mock-sync")
    _, mock_async = _versus(samples, "ccg-mock-async", "floor-mock-async")
    result.checks.append(
        TargetCheck(
            f"httpx adapter auth step <= {STEP_TARGET}x hand-written httpx.Auth",
            f"sync {sync_text}, async {async_text}; vs the flows written out "
            f"{lower_sync:.2f}x sync, {lower_async:.2f}x async; whole MockTransport request "
            f"{mock_sync} sync, {mock_async} async",
            max(sync_ratio, async_ratio) <= STEP_TARGET,
        )
    )
    return result


def _mock_get(client: httpx.Client, url: str) -> Timing:
    def step() -> None:
        client.get(url)

    return timeit.Timer(step).timeit


def _async_mock_get(runner: asyncio.Runner, client: httpx.AsyncClient, url: str) -> Timing:
    async def step() -> None:
        await client.get(url)

    return _async_timing(runner, step)


# -- requests adapter step ----------------------------------------------------------------


class FixedHeaderAuthBase(AuthBase):
    """The floor: a hand-written `requests` auth that sets a fixed header."""

    def __init__(self, header: str) -> None:
        self.header = header

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = self.header
        return r


def _auth_timing(auth: Callable[[requests.PreparedRequest], object], url: str) -> Timing:
    """`auth(r)` inline on a `PreparedRequest` of `GET url`; the response hooks an auth
    registers are dropped after each timing (requests prepares every request anew)."""
    prepared = requests.Request("GET", url).prepare()
    timer = timeit.Timer("auth(r)", globals={"auth": auth, "r": prepared})

    def timing(count: int) -> float:
        elapsed = timer.timeit(count)
        prepared.hooks["response"].clear()
        return elapsed

    return timing


def requests_step(server: Server, s: Settings, *, include_peers: bool = True) -> FamilyResult:
    """ns per `auth(prepared_request)` with a cached token, no network."""
    url = server.base_url + API_PATH
    transport = Urllib3Transport()
    manager = ccg_credentials().create_auth_manager(
        server.base_url + TOKEN_PATH, transport=transport
    )
    ccg = CcgRequestsAuth(manager, origins=[server.base_url])
    rows = [
        _Row("floor", "floor: hand-written AuthBase, fixed header", "floor"),
        _Row("ccg", "ccg ClientCredentialsAuth.__call__", "floor"),
    ]
    closers: list[Callable[[], object]] = [transport.close]
    skipped: list[str] = []
    try:
        manager.authorization_header()  # the one network call: fetch and hold the token
        timings: dict[str, Timing] = {
            "floor": _auth_timing(FixedHeaderAuthBase(EXPECTED_AUTHORIZATION), url),
            "ccg": _auth_timing(ccg, url),
        }
        if include_peers and available_modules(("authlib", "requests")):
            authlib = AuthlibRequests(server.base_url, TOKEN_PATH)
            closers.append(authlib.close)
            authlib.call()
            timings["authlib"] = _auth_timing(authlib.session.token_auth, url)
            rows.append(
                _Row(
                    "authlib",
                    "Authlib OAuth2Auth.__call__ (ensure_active_token + header)",
                    "floor",
                    "ccg",
                )
            )
        elif include_peers:
            skipped.append("Authlib")
        if include_peers and available_modules(("requests_oauthlib", "oauthlib")):
            oauthlib = RequestsOAuthlib(server.base_url, TOKEN_PATH)
            closers.append(oauthlib.close)
            oauthlib.call()
            module = load("requests_oauthlib")
            peer_auth: Any = module.OAuth2(client=oauthlib.session._client)
            timings["requests-oauthlib"] = _auth_timing(peer_auth, url)
            rows.append(
                _Row(
                    "requests-oauthlib",
                    "requests-oauthlib OAuth2.__call__ (add_token)",
                    "floor",
                    "ccg",
                )
            )
        elif include_peers:
            skipped.append("requests-oauthlib")
        samples = _run_steps(rows, timings, s)
    finally:
        for closer in closers:
            closer()
    table = _step_table(
        "requests adapter step: auth(prepared_request) with a cached token, no network",
        f"ns per call, median of {s.auth_rounds} rounds (each ~{s.auth_seconds_per_timing:g} s "
        "of calls, gc off), each auth called inline on a PreparedRequest (the response hooks "
        "it registers dropped between timings); ccg's row back to back with the floor "
        "(ABBA). Ratios: median of per-round ratios.",
        rows,
        samples,
    )
    if skipped:
        table.footnotes.append("skipped (not installed): " + ", ".join(skipped))
    result = FamilyResult(table)
    value, text = _versus(samples, "ccg", "floor")
    result.checks.append(
        TargetCheck(
            f"requests adapter auth step <= {STEP_TARGET}x hand-written AuthBase",
            text,
            value <= STEP_TARGET,
        )
    )
    return result


# -- async herd -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Herd:
    wall_s: float
    failures: int
    token_requests: int
    failure_reasons: tuple[str, ...] = ()


class JumpClock:
    """The system clocks plus an offset `jump()` moves forward: a held token expires at once."""

    def __init__(self) -> None:
        self.offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def time(self) -> float:
        return time.time() + self.offset

    def jump(self, seconds: float) -> None:
        self.offset += seconds


_EXPIRING: Final[dict[str, Callable[[str, str, Clock], AsyncBenchClient]]] = {
    ASYNC_CCG.key: CcgAsync,
    ASYNC_CCG_HTTPX.key: CcgHttpxAdapter,
}
"""ccg's clients, built with a clock the expired herd moves past their token's lifetime."""


async def _settled_count(server: Server, before: int) -> int:
    """Token requests since `before`, once the access log stops growing."""
    last = -1
    count = server.token_requests()
    deadline = time.monotonic() + 2.0
    while count != last and time.monotonic() < deadline:
        last = count
        await asyncio.sleep(0.05)
        count = server.token_requests()
    return count - before


async def _run_herd(server: Server, call: Callable[[], Awaitable[int]], tasks: int) -> _Herd:
    """`tasks` tasks, all waiting on one event, released together; each makes one call."""
    gate = asyncio.Event()
    starts = [math.inf] * tasks
    ends = [0.0] * tasks
    outcomes: list[int | BaseException] = [0] * tasks

    async def worker(index: int) -> None:
        await gate.wait()
        starts[index] = time.perf_counter()
        try:
            outcomes[index] = await call()
        except Exception as exc:  # a failed call is counted, not raised
            outcomes[index] = exc
        ends[index] = time.perf_counter()

    before = server.token_requests()
    workers = [asyncio.create_task(worker(i)) for i in range(tasks)]
    await asyncio.sleep(0)  # every task now waits at the gate
    gate.set()
    with gc_off():
        await asyncio.gather(*workers)
    reasons = tuple(
        f"HTTP {o}"
        if isinstance(o, int)
        else f"{type(o).__name__}: {' '.join(str(o).split())}"[:160]
        for o in outcomes
        if o != 200
    )
    return _Herd(
        wall_s=max(ends) - min(starts),
        failures=len(reasons),
        token_requests=await _settled_count(server, before),
        failure_reasons=reasons,
    )


async def _one_call(kind: AsyncKind, server: Server) -> float:
    client = kind.build(server.base_url, SLOW_TOKEN_PATH)
    try:
        await client.open_connection()
        start = time.perf_counter()
        status = await client.call()
        elapsed = time.perf_counter() - start
    finally:
        await client.aclose()
    if status != 200:
        raise RuntimeError(f"{kind.label}: first call returned {status}")
    return elapsed


_HerdRuns = tuple[dict[str, list[_Herd]], dict[str, list[_Herd]], dict[str, list[float]]]


async def _herd_runs(server: Server, chosen: Sequence[AsyncKind], s: Settings) -> _HerdRuns:
    """(fresh herds, herds after expiry (ccg's clients), first calls) per kind."""
    fresh: dict[str, list[_Herd]] = {k.key: [] for k in chosen}
    expiring = [k for k in chosen if k.key in _EXPIRING]
    expired: dict[str, list[_Herd]] = {k.key: [] for k in expiring}
    single: dict[str, list[float]] = {k.key: [] for k in chosen if k.fetches_tokens}
    waker = ASYNC_RAW.build(server.base_url, TOKEN_PATH)

    async def wake() -> None:
        # A few quick requests first, so no herd meets an idle CPU and nginx.
        for _ in range(20):
            await waker.call()

    try:
        for repeat in range(s.async_herd_repeats):
            for kind in _rotated_kinds(chosen, repeat):
                client = kind.build(server.base_url, SLOW_TOKEN_PATH)
                try:
                    await client.open_connection()
                    await wake()
                    fresh[kind.key].append(await _run_herd(server, client.call, s.async_herd_tasks))
                finally:
                    await client.aclose()
                if kind.fetches_tokens:
                    await wake()
                    single[kind.key].append(await _one_call(kind, server))
            for kind in expiring:
                clock = JumpClock()
                client = _EXPIRING[kind.key](server.base_url, SLOW_TOKEN_PATH, clock)
                try:
                    if await client.call() != 200:
                        raise RuntimeError(f"{kind.label}: priming call failed")
                    clock.jump(LONG_LIFETIME + 1.0)  # its 3600 s token has just expired
                    await wake()
                    expired[kind.key].append(
                        await _run_herd(server, client.call, s.async_herd_tasks)
                    )
                finally:
                    await client.aclose()
    finally:
        await waker.aclose()
    return fresh, expired, single


def _rotated_kinds(kinds: Sequence[AsyncKind], shift: int) -> list[AsyncKind]:
    """`kinds` starting at `shift` (mod their number): who goes first changes by repeat."""
    shift %= max(len(kinds), 1)
    return [*kinds[shift:], *kinds[:shift]]


def async_herd(server: Server, s: Settings, *, include_peers: bool = True) -> FamilyResult:
    """`async_herd_tasks` tasks released together on a fresh client (and on ccg's clients
    just after their token expired)."""
    chosen, skipped = _chosen(include_peers)
    fresh, expired, single = asyncio.run(_herd_runs(server, chosen, s))
    tasks = s.async_herd_tasks
    raw = [h.wall_s for h in fresh[ASYNC_RAW.key]]
    table = Table(
        f"Async herd: {tasks} tasks released together (one asyncio.Event)",
        f"Each task makes one GET /api; token endpoint delayed {s.token_delay_ms:g} ms; every "
        "client over up to 100 connections, with HttpxAsyncTransport's timeouts, and one "
        "connection already open (an untimed request without a token: a fresh httpx pool "
        "meeting 1000 requests at once opens 100 connections amid them, and on this "
        "machine their connects time out). 'fresh': a new client with no token (the floor: "
        "the same herd with a fixed header); 'expired': "
        "ccg's clients holding a 3600 s token when their clock (a Clock given to ccg) is "
        "moved past its lifetime. Token requests counted from the server's access log. Herd "
        "time: first task released to last call done, gc off; 'vs floor herd': median of "
        "per-repeat ratios to the floor's herd; 'one call': a fresh client's first call "
        f"alone. {_repeats(s.async_herd_repeats)}.",
        [
            "client",
            "token reqs fresh",
            "failed fresh",
            "herd ms fresh",
            "vs floor herd",
            "token reqs expired",
            "failed expired",
            "herd ms expired",
            "one call ms",
        ],
    )
    for kind in chosen:
        f = fresh[kind.key]
        e = expired.get(kind.key)
        one = single.get(kind.key)
        table.add(
            kind.label,
            "-" if not kind.fetches_tokens else span([h.token_requests for h in f]),
            f"{sum(h.failures for h in f)}/{len(f) * tasks}",
            f"{median([h.wall_s * 1e3 for h in f]):.1f}",
            "-" if kind.is_floor else ratio(paired_ratio([h.wall_s for h in f], raw)),
            "-" if e is None else span([h.token_requests for h in e]),
            "-" if e is None else f"{sum(h.failures for h in e)}/{len(e) * tasks}",
            "-" if e is None else f"{median([h.wall_s * 1e3 for h in e]):.1f}",
            "-" if one is None else f"{median(one) * 1e3:.1f}",
        )
    table.footnotes.append(
        "The peers are not run expired: their clocks are not ccg's to move. httpx-auth has "
        "no async flow: on a cache miss its auth_flow makes a blocking httpx.Client token "
        "request inside the event loop, so the other tasks wait for it with the loop stopped."
    )
    for kind in chosen:
        reasons = sorted(
            {r for h in [*fresh[kind.key], *expired.get(kind.key, [])] for r in h.failure_reasons}
        )
        if reasons:
            table.footnotes.append(f"failed calls, {kind.label}: " + "; ".join(reasons)[:600])
    _skipped_note(table, skipped)
    result = FamilyResult(table)

    def counts(herds: Sequence[_Herd]) -> str:
        return (
            f"{span([h.token_requests for h in herds])} token request(s), "
            f"{sum(h.failures for h in herds)} failures"
        )

    if ASYNC_CCG.key in fresh:
        f, e = fresh[ASYNC_CCG.key], expired[ASYNC_CCG.key]
        adapter_fresh = adapter_expired = ""
        if ASYNC_CCG_HTTPX.key in fresh:
            adapter_fresh = f"; httpx adapter: {counts(fresh[ASYNC_CCG_HTTPX.key])}"
            adapter_expired = f"; httpx adapter: {counts(expired[ASYNC_CCG_HTTPX.key])}"
        result.checks.append(
            TargetCheck(
                f"async herd: exactly 1 token request, 0 failures ({tasks} tasks, fresh "
                "AsyncApiClient)",
                f"{counts(f)} over {len(f)} herds; herd "
                f"{median([h.wall_s * 1e3 for h in f]):.0f} ms, "
                f"{paired_ratio([h.wall_s for h in f], raw):.2f}x the fixed-header floor's"
                + adapter_fresh,
                all(h.token_requests == 1 and h.failures == 0 for h in f),
            )
        )
        result.checks.append(
            TargetCheck(
                f"async herd after expiry: exactly 1 token request, 0 failures ({tasks} tasks)",
                f"{counts(e)} over {len(e)} herds; herd "
                f"{median([h.wall_s * 1e3 for h in e]):.0f} ms" + adapter_expired,
                all(h.token_requests == 1 and h.failures == 0 for h in e),
            )
        )
    return result
