"""The benchmark families. Each returns its table and the issue-4 targets it can judge.

Every figure is a median of repeats; every ratio is the median of per-round ratios,
both sides measured in the same round of the same run. Within a round the clients take
turns in an order that rotates from round to round, and the two sides of each target's
ratio run back to back (ABBA), so the machine's other jobs and slow drift cancel out.
"""

from __future__ import annotations

import gc
import json
import logging
import math
import re
import statistics
import subprocess
import sys
import threading
import time
import timeit
from collections.abc import Callable, Generator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from benchmarks._clients import (
    CCG,
    HAND_WRITTEN,
    RAW,
    RAW_POOL,
    BenchClient,
    CcgClient,
    ClientKind,
    ccg_token_request,
    close_pool_manager,
    raw_pool,
    raw_request,
)
from benchmarks._report import (
    Table,
    TargetCheck,
    median,
    paired_ratio,
    paired_ratio_ci,
    ratio,
    span,
)
from benchmarks._servers import REPO_ROOT, Server
from ccg import Urllib3Transport

__all__ = [
    "FamilyResult",
    "Settings",
    "auth_step",
    "cold_fetch",
    "herd",
    "import_time",
    "memory",
    "steady_state",
]

TOKEN_PATH = "/token"
SLOW_TOKEN_PATH = "/slow/token"
SLOW_SHORT_TOKEN_PATH = "/slow/token-short"
SHORT_LIFETIME_S = 2.0


@dataclass(frozen=True)
class Settings:
    """Repeat counts. The defaults keep the whole suite to a few minutes on 2 cores (the
    three resilience families take about 3 of them: their 5 s renewals, each with 5 s of
    steady state, 60 s soak and 3 s storms are wall-clock time)."""

    steady_rounds: int = 121
    steady_requests: int = 50
    steady_warmup: int = 100
    auth_rounds: int = 15
    auth_seconds_per_timing: float = 0.04
    herd_repeats: int = 5
    herd_threads: int = 32
    token_delay_ms: float = 80.0
    cold_rounds: int = 41
    cold_fetches: int = 12
    import_repeats: int = 11
    memory_repeats: int = 3
    subprocess_peers: bool = True
    """False: the import and memory families measure ccg and urllib3 only (the smoke run)."""
    # The resilience families (benchmarks/_resilience_families.py).
    renewal_threads: int = 8
    renewal_delay_s: float = 5.0
    """How long the slow token server takes to answer each token request."""
    renewal_warmup_s: float = 0.2
    renewal_repeats: int = 3
    soak_seconds: float = 60.0
    soak_threads: int = 16
    storm_seconds: float = 3.0
    storm_threads: int = 64
    storm_repeats: int = 3
    storm_recovery_s: float = 1.0
    """How long after the storm a client is watched for its first successful call."""
    resilience_peer_repeats: int = 1
    """Repeats of each peer (and the hand-written floor) in the renewal and storm families;
    ccg runs `renewal_repeats` / `storm_repeats` times (its targets are medians)."""
    storm_peers: bool = True
    """False: the storm family runs ccg and the hand-written floor only (the smoke run)."""
    # The asyncio and adapter families (benchmarks/_async_families.py); their auth steps
    # use `auth_rounds` and `auth_seconds_per_timing` above.
    async_steady_rounds: int = 31
    async_steady_requests: int = 48
    """Requests per timed batch, split evenly over the batch's tasks."""
    async_steady_warmup: int = 30
    async_concurrency: tuple[int, ...] = (1, 16)
    async_herd_tasks: int = 1000
    async_herd_repeats: int = 1
    """One herd per client: a 1000-task herd takes seconds (httpx's connection pool), and
    Authlib's, one token request per task, half a minute on 2 cores."""

    @property
    def renewal_steady_before_s(self) -> float:
        """Seconds of steady state measured before the client's renewal point: half of a
        steady window as long as the renewal (the other half is measured after it)."""
        return self.renewal_delay_s / 2


@dataclass
class FamilyResult:
    """A family's table and the targets it judged."""

    table: Table
    checks: list[TargetCheck] = field(default_factory=list[TargetCheck])


def rotated(items: Sequence[str], shift: int) -> list[str]:
    shift %= max(len(items), 1)
    return [*items[shift:], *items[:shift]]


def round_order(
    keys: Sequence[str], round_no: int, groups: Sequence[Sequence[str]] = ()
) -> list[str]:
    """The turns in one round: rotating, with each group's members back to back.

    A target's two sides form a group (ccg and raw urllib3, say), so the ratio it is
    judged on compares batches a few milliseconds apart, whatever the machine's other
    jobs do meanwhile; a group runs in reverse order in odd rounds (ABBA), so neither
    side always goes first.
    """
    grouped = [[k for k in group if k in keys] for group in groups]
    units = [g for g in grouped if g]
    units += [[k] for k in keys if not any(k in g for g in grouped)]
    shift = round_no % len(units)
    flat: list[str] = []
    for unit in units[shift:] + units[:shift]:
        flat.extend(reversed(unit) if round_no % 2 else unit)
    return flat


@contextmanager
def gc_off() -> Generator[None, None, None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _build_all(kinds: Sequence[ClientKind], base_url: str, path: str) -> dict[str, BenchClient]:
    built: dict[str, BenchClient] = {}
    try:
        for kind in kinds:
            built[kind.key] = kind.build(base_url, path)
    except BaseException:
        _close_all(built)
        raise
    return built


def _close_all(clients: dict[str, BenchClient]) -> None:
    for client in clients.values():
        client.close()


# -- steady state -----------------------------------------------------------------------


def _time_calls(call: Callable[[], int], count: int) -> tuple[float, float, int]:
    """(wall µs per call, this process's CPU µs per call, calls that did not return 200)."""
    bad = 0
    with gc_off():
        start = time.perf_counter()
        cpu_start = time.process_time()
        for _ in range(count):
            if call() != 200:
                bad += 1
        cpu = time.process_time() - cpu_start
        elapsed = time.perf_counter() - start
    return elapsed / count * 1e6, cpu / count * 1e6, bad


def steady_state(server: Server, kinds: Sequence[ClientKind], s: Settings) -> FamilyResult:
    """Sequential authenticated GETs with a cached token: µs per request."""
    # urllib3's connection-pool floor sits right under the PoolManager floor.
    kinds = [*kinds]
    if RAW in kinds:
        kinds.insert(kinds.index(RAW) + 1, RAW_POOL)
    clients = _build_all(kinds, server.base_url, TOKEN_PATH)
    keys = [k.key for k in kinds]
    samples: dict[str, list[float]] = {k: [] for k in keys}
    cpu: dict[str, list[float]] = {k: [] for k in keys}
    bad = dict.fromkeys(keys, 0)
    try:
        for key in keys:
            for _ in range(s.steady_warmup):  # token fetched, connection open, code warm
                clients[key].call()
        for round_no in range(s.steady_rounds):
            for key in round_order(keys, round_no, [(RAW.key, CCG.key, RAW_POOL.key)]):
                # A new connection each round, so no client keeps a lucky (or unlucky)
                # nginx worker for the whole run; opened by an untimed call.
                clients[key].reconnect()
                clients[key].call()
                us, cpu_us, failed = _time_calls(clients[key].call, s.steady_requests)
                samples[key].append(us)
                cpu[key].append(cpu_us)
                bad[key] += failed
    finally:
        _close_all(clients)

    table = Table(
        "Steady state: authenticated GET /api with a cached token",
        f"Sequential, one thread, keep-alive. µs per request (wall clock) and this process's "
        f"CPU µs per request, medians of {s.steady_rounds} rounds x {s.steady_requests} "
        "requests; the clients take turns within each round (rotating order, ccg and both "
        "raw urllib3 floors always back to back, a new connection each round). Ratios: "
        "median of per-round ratios.",
        [
            "client",
            "µs/request",
            "vs raw urllib3",
            "CPU µs/request",
            "CPU vs raw",
            "peer / ccg",
            "non-200",
        ],
    )
    raw = samples[RAW.key]
    for kind in kinds:
        mine = samples[kind.key]
        versus_ccg = (
            ratio(paired_ratio(mine, samples[CCG.key]))
            if kind.is_peer and CCG.key in samples
            else "-"
        )
        table.add(
            kind.label,
            f"{median(mine):.1f}",
            ratio(paired_ratio(mine, raw)),
            f"{median(cpu[kind.key]):.1f}",
            ratio(paired_ratio(cpu[kind.key], cpu[RAW.key])),
            versus_ccg,
            str(bad[kind.key]),
        )
    result = FamilyResult(table)
    if CCG.key in samples:
        achieved = paired_ratio(samples[CCG.key], raw)
        low, high = paired_ratio_ci(samples[CCG.key], raw)
        achieved_cpu = paired_ratio(cpu[CCG.key], cpu[RAW.key])
        over_pool = ""
        if RAW_POOL.key in samples:
            pool_low, pool_high = paired_ratio_ci(samples[CCG.key], samples[RAW_POOL.key])
            over_pool = (
                f"; vs urllib3's connection-pool floor "
                f"{paired_ratio(samples[CCG.key], samples[RAW_POOL.key]):.3f}x "
                f"(CI {pool_low:.3f}-{pool_high:.3f})"
            )
        result.checks.append(
            TargetCheck(
                "steady state <= 1.03x raw urllib3",
                f"{achieved:.3f}x wall (95% CI {low:.3f}-{high:.3f}; "
                f"client CPU {achieved_cpu:.3f}x){over_pool}",
                achieved <= 1.03 and bad[CCG.key] == 0,
            )
        )
    if any(bad.values()):
        table.footnotes.append("non-200 replies mean a client sent a wrong or no token.")
    return result


# -- auth step --------------------------------------------------------------------------

_HOOKS = {
    "raw": "hand-written floor: lock + clock check + prebuilt header",
    "ccg": "ccg auth_manager.authorization_header()",
    "authlib-requests": "Authlib OAuth2Auth.__call__ (ensure_active_token + header)",
    "authlib-httpx": "Authlib httpx ensure_active_token + next(auth_flow)",
    "requests-oauthlib": "requests-oauthlib client.add_token(...)",
    "httpx-auth": "httpx-auth next(auth_flow) (token cache lookup)",
}
_CCG_REQUEST = "ccg-request"
"""ccg's second row: what `ApiClient.request` does per request (`auth_manager.bearer()`)."""
_CCG_REQUEST_HOOK = "ccg ApiClient per request: auth_manager.bearer()"
_CCG_ROW_NAMES = {CCG.key: "authorization_header()", _CCG_REQUEST: "ApiClient path"}


def _calibrate(timer: timeit.Timer, seconds: float) -> int:
    probe = 200
    elapsed = timer.timeit(probe)
    per_call = max(elapsed / probe, 1e-9)
    return max(50, int(seconds / per_call))


def auth_step(server: Server, kinds: Sequence[ClientKind], s: Settings) -> FamilyResult:
    """ns per call of each library's per-request auth work, token cached, no network."""
    # The floor is RAW's `LockedFloor.header` (benchmarks/hot_path.py); the hand-written
    # client's cache read is the same code, so it is not shown twice.
    chosen = [k for k in kinds if k.key != HAND_WRITTEN.key]
    clients = _build_all(chosen, server.base_url, TOKEN_PATH)
    # (key, label, is_peer); ccg has two rows: its manager's header and ApiClient's path.
    rows: list[tuple[str, str, bool]] = []
    for kind in chosen:
        rows.append((kind.key, _HOOKS.get(kind.key, kind.label), kind.is_peer))
        if kind.key == CCG.key:
            rows.append((_CCG_REQUEST, _CCG_REQUEST_HOOK, False))
    keys = [key for key, _, _ in rows]
    samples: dict[str, list[float]] = {k: [] for k in keys}
    try:
        timers: dict[str, timeit.Timer] = {}
        for kind in chosen:
            client = clients[kind.key]
            client.call()  # the one network call: fetch and hold the token
            timers[kind.key] = timeit.Timer(client.auth_step())
            if isinstance(client, CcgClient):
                statement, namespace = client.request_auth_step()
                timers[_CCG_REQUEST] = timeit.Timer(statement, globals=namespace)
        for key in keys:
            timers[key].timeit(1)
        numbers = {key: _calibrate(timers[key], s.auth_seconds_per_timing) for key in keys}
        for round_no in range(s.auth_rounds):
            for key in rotated(keys, round_no):
                elapsed = timers[key].timeit(numbers[key])
                samples[key].append(elapsed / numbers[key] * 1e9)
    finally:
        _close_all(clients)

    table = Table(
        "Auth step alone: per-request auth work with a cached token, no network",
        f"ns per call, median of {s.auth_rounds} rounds (each ~{s.auth_seconds_per_timing:g} s "
        "of calls, gc off). ApiClient's path is timed as the inline code it is (no wrapper "
        "call). Ratios: median of per-round ratios.",
        ["auth step", "ns/call", "vs floor", "peer / ccg"],
    )
    floor = samples[RAW.key]
    for key, label, is_peer in rows:
        mine = samples[key]
        versus_ccg = (
            ratio(paired_ratio(mine, samples[CCG.key])) if is_peer and CCG.key in samples else "-"
        )
        table.add(label, f"{median(mine):.0f}", ratio(paired_ratio(mine, floor)), versus_ccg)
    result = FamilyResult(table)
    if CCG.key in samples:
        # Both of ccg's rows are judged: the header from the manager, and ApiClient's path.
        ccg_keys = [k for k in (CCG.key, _CCG_REQUEST) if k in samples]
        vs_floor = {k: paired_ratio(samples[k], floor) for k in ccg_keys}
        result.checks.append(
            TargetCheck(
                "auth step <= 2x hand-written floor",
                ", ".join(f"{v:.2f}x {_CCG_ROW_NAMES[k]}" for k, v in vs_floor.items()),
                max(vs_floor.values()) <= 2,
            )
        )
        peers = [k for k in chosen if k.is_peer]
        if peers:
            # The fastest peer is the one with the smallest per-round ratio to ccg's header.
            speedups = {k.label: paired_ratio(samples[k.key], samples[CCG.key]) for k in peers}
            fastest = min(speedups, key=lambda label: speedups[label])
            fastest_key = next(k.key for k in peers if k.label == fastest)
            over = {k: paired_ratio(samples[fastest_key], samples[k]) for k in ccg_keys}
            result.checks.append(
                TargetCheck(
                    "auth step >= 7x faster than the fastest peer",
                    ", ".join(f"{v:.1f}x {_CCG_ROW_NAMES[k]}" for k, v in over.items())
                    + f" ({fastest})",
                    min(over.values()) >= 7,
                )
            )
        else:
            result.checks.append(
                TargetCheck("auth step >= 7x faster than the fastest peer", "no peer", None)
            )
    return result


# -- herd -------------------------------------------------------------------------------


class _PoolDiscards(logging.Handler):
    """Counts urllib3's 'Connection pool is full, discarding connection' warnings."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "pool is full" in record.getMessage():
            self.count += 1


@contextmanager
def counting_pool_discards() -> Generator[_PoolDiscards, None, None]:
    logger = logging.getLogger("urllib3.connectionpool")
    handler = _PoolDiscards()
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False  # counted here instead of printed by logging's last resort
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


@dataclass(frozen=True)
class _Herd:
    wall_s: float
    failures: int
    token_requests: int
    discards: int
    failure_reasons: tuple[str, ...] = ()


def settled_count(server: Server, before: int) -> int:
    """Token requests since `before`, once the access log stops growing."""
    last = -1
    count = server.token_requests()
    deadline = time.monotonic() + 2.0
    while count != last and time.monotonic() < deadline:
        last = count
        time.sleep(0.05)
        count = server.token_requests()
    return count - before


def _run_herd(server: Server, call: Callable[[], int], threads: int) -> _Herd:
    barrier = threading.Barrier(threads)
    starts = [math.inf] * threads
    ends = [0.0] * threads
    outcomes: list[int | BaseException] = [0] * threads

    def worker(index: int) -> None:
        barrier.wait()
        starts[index] = time.perf_counter()
        try:
            outcomes[index] = call()
        except Exception as exc:  # a failed call is counted, not raised
            outcomes[index] = exc
        ends[index] = time.perf_counter()

    before = server.token_requests()
    with counting_pool_discards() as discards:
        workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()
    reasons = tuple(
        f"HTTP {o}" if isinstance(o, int) else f"{type(o).__name__}: {o}"[:160]
        for o in outcomes
        if o != 200
    )
    return _Herd(
        wall_s=max(ends) - min(starts),
        failures=len(reasons),
        token_requests=settled_count(server, before),
        discards=discards.count,
        failure_reasons=reasons,
    )


def _one_call(kind: ClientKind, server: Server) -> float:
    client = kind.build(server.base_url, SLOW_TOKEN_PATH)
    try:
        start = time.perf_counter()
        status = client.call()
        elapsed = time.perf_counter() - start
    finally:
        client.close()
    if status != 200:
        raise RuntimeError(f"{kind.label}: first call returned {status}")
    return elapsed


_HerdRuns = tuple[dict[str, list[_Herd]], dict[str, list[_Herd]], dict[str, list[float]]]


def _herd_runs(server: Server, chosen: Sequence[ClientKind], s: Settings) -> _HerdRuns:
    """(fresh herds, herds after expiry, single first calls) per kind, over the repeats."""
    fresh: dict[str, list[_Herd]] = {k.key: [] for k in chosen}
    expired: dict[str, list[_Herd]] = {k.key: [] for k in chosen}
    single: dict[str, list[float]] = {k.key: [] for k in chosen}
    waker = RAW.build(server.base_url, TOKEN_PATH)

    def wake() -> None:
        # A few quick requests first, so no herd meets a CPU and an nginx just back from
        # idling (as after the expiry wait below) while the 'one call' it is compared to
        # ran warm.
        for _ in range(20):
            waker.call()

    try:
        for _ in range(s.herd_repeats):
            for kind in chosen:
                client = kind.build(server.base_url, SLOW_TOKEN_PATH)
                try:
                    wake()
                    fresh[kind.key].append(_run_herd(server, client.call, s.herd_threads))
                finally:
                    client.close()
                wake()
                single[kind.key].append(_one_call(kind, server))
            # Prime a client per kind with the 2 s token, wait once until all have expired
            # (ccg counts it expired after 1 s: skew capped at half the lifetime), then herd.
            primed = _build_all(chosen, server.base_url, SLOW_SHORT_TOKEN_PATH)
            try:
                for key, client in primed.items():
                    if not _primed(client.call):
                        raise RuntimeError(f"{key}: priming call failed three times")
                time.sleep(SHORT_LIFETIME_S + 0.1)
                for kind in chosen:
                    wake()
                    expired[kind.key].append(
                        _run_herd(server, primed[kind.key].call, s.herd_threads)
                    )
            finally:
                _close_all(primed)
    finally:
        waker.close()
    return fresh, expired, single


def _primed(call: Callable[[], int]) -> bool:
    """Whether one of three calls got a 200: a peer that raises on a proxy's passing 502
    (the slow upstream behind nginx, on a loaded machine) gets two more tries, not a
    crashed suite."""
    for _ in range(3):
        try:
            if call() == 200:
                return True
        except Exception:  # a peer's own error type: try again
            continue
    return False


def herd(server: Server, kinds: Sequence[ClientKind], s: Settings) -> FamilyResult:
    """32 threads released together on a fresh client, and again just after expiry."""
    chosen = [k for k in kinds if k.fetches_tokens]
    fresh, expired, single = _herd_runs(server, chosen, s)
    table = Table(
        f"Herd: {s.herd_threads} threads released together (threading.Barrier)",
        f"Token endpoint delayed {s.token_delay_ms:g} ms. 'fresh': a new client with no token; "
        f"'expired': a client whose {SHORT_LIFETIME_S:g} s token has just expired. Token "
        "requests counted from the server's access log. Herd time: first thread released "
        f"to last call done; 'one call': one thread, fresh client, first call. Median of "
        f"{s.herd_repeats} repeats; herd/one: median of per-repeat ratios.",
        [
            "client",
            "token reqs fresh",
            "failed fresh",
            "herd ms fresh",
            "token reqs expired",
            "failed expired",
            "herd ms expired",
            "one call ms",
            "herd/one fresh",
            "herd/one expired",
            "pool discards",
        ],
    )
    for kind in chosen:
        f, e, one = fresh[kind.key], expired[kind.key], single[kind.key]
        table.add(
            kind.label,
            span([h.token_requests for h in f]),
            f"{sum(h.failures for h in f)}/{len(f) * s.herd_threads}",
            f"{median([h.wall_s * 1e3 for h in f]):.1f}",
            span([h.token_requests for h in e]),
            f"{sum(h.failures for h in e)}/{len(e) * s.herd_threads}",
            f"{median([h.wall_s * 1e3 for h in e]):.1f}",
            f"{median(one) * 1e3:.1f}",
            ratio(paired_ratio([h.wall_s for h in f], one)),
            ratio(paired_ratio([h.wall_s for h in e], one)),
            str(sum(h.discards for h in [*f, *e])),
        )
    table.footnotes.append(
        "pool discards: urllib3 'Connection pool is full' warnings (pool maxsize 10 < "
        f"{s.herd_threads} threads), counted instead of printed."
    )
    for kind in chosen:
        reasons = sorted(
            {r for h in [*fresh[kind.key], *expired[kind.key]] for r in h.failure_reasons}
        )
        if reasons:
            table.footnotes.append(f"failed calls, {kind.label}: " + "; ".join(reasons))
    result = FamilyResult(table)
    if CCG.key in fresh:
        f, e, one = fresh[CCG.key], expired[CCG.key], single[CCG.key]
        exact = all(h.token_requests == 1 and h.failures == 0 for h in [*f, *e])
        result.checks.append(
            TargetCheck(
                "herd: exactly 1 token request and 0 failures, fresh and after expiry",
                f"token requests fresh {span([h.token_requests for h in f])}, expired "
                f"{span([h.token_requests for h in e])}; failures "
                f"{sum(h.failures for h in [*f, *e])}",
                exact,
            )
        )
        worst = max(
            paired_ratio([h.wall_s for h in f], one), paired_ratio([h.wall_s for h in e], one)
        )
        floor = ""
        if HAND_WRITTEN.key in fresh:
            hf, he, hone = (
                fresh[HAND_WRITTEN.key],
                expired[HAND_WRITTEN.key],
                single[HAND_WRITTEN.key],
            )
            floor = (
                f" (hand-written floor: {paired_ratio([h.wall_s for h in hf], hone):.2f}x, "
                f"{paired_ratio([h.wall_s for h in he], hone):.2f}x)"
            )
        result.checks.append(
            TargetCheck(
                "herd time <= 1.5x one fetch (fresh and expired)",
                f"{paired_ratio([h.wall_s for h in f], one):.2f}x fresh, "
                f"{paired_ratio([h.wall_s for h in e], one):.2f}x expired{floor}",
                worst <= 1.5,
            )
        )
    return result


# -- cold token fetch -------------------------------------------------------------------


def cold_fetch(server: Server, kinds: Sequence[ClientKind], s: Settings) -> FamilyResult:
    """One token fetch with no token cached, against a raw urllib3 POST of the same bytes."""
    request = ccg_token_request(server.base_url, TOKEN_PATH)
    headers = dict(request.headers)
    warm_pool = raw_pool()
    warm_transport = Urllib3Transport()
    own: list[BenchClient] = []

    def raw_warm() -> float:
        start = time.perf_counter()
        reply = raw_request(warm_pool, "POST", request.url, headers, request.body)
        elapsed = time.perf_counter() - start
        if reply.status != 200:
            raise RuntimeError(f"raw POST returned {reply.status}")
        return elapsed

    def raw_new_connection() -> float:
        pool = raw_pool()
        try:
            start = time.perf_counter()
            raw_request(pool, "POST", request.url, headers, request.body)
            return time.perf_counter() - start
        finally:
            close_pool_manager(pool)  # as ccg's row closes its client's connections

    def ccg_first_token_warm() -> float:
        client = CcgClient(server.base_url, TOKEN_PATH, transport=warm_transport)
        start = time.perf_counter()
        client.client.auth_manager.authorization_header()
        return time.perf_counter() - start

    def ccg_first_token_new_connection() -> float:
        client = CcgClient(server.base_url, TOKEN_PATH)
        try:
            start = time.perf_counter()
            client.client.auth_manager.authorization_header()
            return time.perf_counter() - start
        finally:
            client.close()

    def library_fetch(client: BenchClient) -> Callable[[], float]:
        def sample() -> float:
            start = time.perf_counter()
            client.fetch_token()
            return time.perf_counter() - start

        return sample

    rows: list[tuple[str, str, Callable[[], float], str]] = [
        ("W", "raw urllib3 POST, same request, warm connection", raw_warm, "W"),
    ]
    if any(k.key == CCG.key for k in kinds):
        ccg_warm = CcgClient(server.base_url, TOKEN_PATH)
        own.append(ccg_warm)
        rows += [
            (
                "ccg-first",
                "ccg first token: new ApiClient, warm transport",
                ccg_first_token_warm,
                "W",
            ),
            ("ccg-fetch", "ccg auth_manager.fetch_token(), warm", library_fetch(ccg_warm), "W"),
        ]
    for kind in kinds:
        if kind.is_peer or kind.key == HAND_WRITTEN.key:
            client = kind.build(server.base_url, TOKEN_PATH)
            own.append(client)
            label = (
                "hand-written: raw POST + json.loads, warm"
                if kind.key == HAND_WRITTEN.key
                else f"{kind.label} fetch_token(), warm"
            )
            rows.append((kind.key, label, library_fetch(client), "W"))
    rows += [
        ("C", "raw urllib3 POST, new PoolManager (new connection)", raw_new_connection, "C"),
    ]
    if any(k.key == CCG.key for k in kinds):
        rows.append(
            (
                "ccg-cold",
                "ccg first token: new ApiClient, new transport",
                ccg_first_token_new_connection,
                "C",
            )
        )
    keys = [r[0] for r in rows]
    samplers = {r[0]: r[2] for r in rows}
    samples: dict[str, list[float]] = {k: [] for k in keys}
    try:
        for key in keys:  # warm up: connections open, code paths run
            for _ in range(3):
                samplers[key]()
        groups = [("W", "ccg-first", "ccg-fetch", HAND_WRITTEN.key), ("C", "ccg-cold")]
        for round_no in range(s.cold_rounds):
            for key in round_order(keys, round_no, groups):
                with gc_off():
                    per_fetch = [samplers[key]() for _ in range(s.cold_fetches)]
                samples[key].append(statistics.median(per_fetch))
    finally:
        warm_pool.clear()
        warm_transport.close()
        for client in own:
            client.close()

    table = Table(
        "Cold token fetch: no token cached, one token request",
        f"µs per fetch: per round the median of {s.cold_fetches} fetches, then the median of "
        f"{s.cold_rounds} rounds; ccg's rows run right next to their raw POST. 'vs raw' "
        "divides by the raw POST of the same request (same URL, headers and body as ccg "
        "sends) on the same kind of connection; median of per-round ratios.",
        ["fetch", "µs/fetch", "vs raw POST"],
    )
    for key, label, _, base in rows:
        table.add(
            label,
            f"{median(samples[key]) * 1e6:.1f}",
            ratio(paired_ratio(samples[key], samples[base])),
        )
    table.footnotes.append(
        "ccg's first token runs the whole path: lock, state machine step, request build, "
        "POST with the reply streamed through a bounded read (its default token-request "
        "limits), JSON decode and checks, step again, publish. httpx-auth's fetch opens a new "
        "httpx.Client per token request (its default)."
    )
    result = FamilyResult(table)
    if "ccg-first" in samples:
        warm = paired_ratio(samples["ccg-first"], samples["W"])
        warm_ci = paired_ratio_ci(samples["ccg-first"], samples["W"])
        cold = paired_ratio(samples["ccg-cold"], samples["C"])
        cold_ci = paired_ratio_ci(samples["ccg-cold"], samples["C"])
        result.checks.append(
            TargetCheck(
                "cold fetch <= 1.2x raw urllib3 POST",
                f"{warm:.2f}x warm connection (95% CI {warm_ci[0]:.2f}-{warm_ci[1]:.2f}), "
                f"{cold:.2f}x new connection ({cold_ci[0]:.2f}-{cold_ci[1]:.2f})",
                max(warm, cold) <= 1.2,
            )
        )
    return result


# -- import time and memory -------------------------------------------------------------

_IMPORTTIME = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|( *)(\S+)\s*$")


def _import_run(statement: str) -> tuple[float, dict[str, int]]:
    """(wall seconds of the interpreter, {top-level module: cumulative µs})."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{statement!r} failed: {done.stderr[-500:]}")
    top: dict[str, int] = {}
    for line in done.stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if match and len(match.group(3)) <= 1:  # depth 0: imported by the statement or site
            top[match.group(4)] = int(match.group(2))
    return wall, top


def import_time(kinds: Sequence[ClientKind], s: Settings) -> FamilyResult:
    """Import time in a fresh interpreter: `-X importtime` and wall clock minus `pass`."""
    chosen = [
        k for k in kinds if k.key != HAND_WRITTEN.key and (s.subprocess_peers or not k.is_peer)
    ]
    statements = {k.key: "; ".join(f"import {m}" for m in k.entry_modules) for k in chosen}
    baseline_modules = set(_import_run("pass")[1])
    walls: dict[str, list[float]] = {k: [] for k in [*statements, "pass"]}
    cumulative: dict[str, list[float]] = {k: [] for k in statements}
    keys = list(walls)
    for round_no in range(s.import_repeats):
        for key in rotated(keys, round_no):
            wall, top = _import_run(statements.get(key, "pass"))
            walls[key].append(wall)
            if key in cumulative:
                new = [us for name, us in top.items() if name not in baseline_modules]
                cumulative[key].append(sum(new) / 1e3)
    table = Table(
        "Import time in a fresh interpreter",
        f"Median of {s.import_repeats} subprocesses each. importtime: the cumulative µs "
        "`-X importtime` reports for the top-level modules the statement adds; wall: the "
        'whole `python -X importtime -c "import ..."` minus `python -X importtime -c pass`, '
        "paired per round.",
        ["import", "importtime ms", "wall minus pass ms", "vs ccg (importtime)"],
    )
    for kind in chosen:
        key = kind.key
        extra = [a - b for a, b in zip(walls[key], walls["pass"], strict=True)]
        versus = (
            ratio(paired_ratio(cumulative[key], cumulative[CCG.key]))
            if CCG.key in cumulative and key != CCG.key
            else "-"
        )
        table.add(
            statements[key],
            f"{median(cumulative[key]):.1f}",
            f"{median(extra) * 1e3:.1f}",
            versus,
        )
    table.footnotes.append(
        f"python -c pass itself: {median(walls['pass']) * 1e3:.1f} ms wall (interpreter start)."
    )
    return FamilyResult(table)


def memory(server: Server, kinds: Sequence[ClientKind], s: Settings) -> FamilyResult:
    """tracemalloc in a fresh interpreter: the imports, then a client holding a token."""
    chosen = [k for k in kinds if k.fetches_tokens and (s.subprocess_peers or not k.is_peer)]
    found: dict[str, list[dict[str, float]]] = {k.key: [] for k in chosen}
    for _ in range(s.memory_repeats):
        for kind in chosen:
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "benchmarks._probe",
                    kind.key,
                    server.base_url,
                    *kind.entry_modules,
                ],
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                check=False,
                timeout=120,
            )
            if done.returncode != 0:
                raise RuntimeError(f"memory probe for {kind.key} failed: {done.stderr[-800:]}")
            values: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
            if values["status"] != 200:
                raise RuntimeError(f"memory probe for {kind.key}: call returned {values['status']}")
            found[kind.key].append(values)
    table = Table(
        "Memory (tracemalloc, fresh interpreter)",
        f"KiB, median of {s.memory_repeats} runs. imports: still allocated after importing "
        "the library; first client: still allocated after building a client and making one "
        "authenticated call (it now holds a token), including what that first request "
        "imports lazily (urllib3's first request imports the idna codec, which requests "
        "imports up front); peak: the peak during that, above the level before it; next "
        "client: the same for a second client, the cost of each further one.",
        ["client", "imports KiB", "first client + token KiB", "peak KiB", "next client KiB"],
    )
    for kind in chosen:
        runs = found[kind.key]
        table.add(
            kind.label,
            f"{median([r['import_kib'] for r in runs]):.0f}",
            f"{median([r['client_kib'] for r in runs]):.1f}",
            f"{median([r['client_peak_kib'] for r in runs]):.1f}",
            f"{median([r['next_client_kib'] for r in runs]):.1f}",
        )
    return FamilyResult(table)
