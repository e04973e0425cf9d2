"""The resilience families: renewal under a slow token server, a soak, a 503 storm.

Each drives a client with many threads calling the protected endpoint back to back, every
call timed on `time.monotonic()`, against a scenario of `benchmarks._scenarios` (a token
endpoint of the Python fixture server, behind nginx when it runs). The scenario logs its
token requests on the same clock (Linux's CLOCK_MONOTONIC is one clock for every process),
so calls and token requests are placed on one time line.

- renewal: the token endpoint takes `renewal_delay_s` (5 s) per token request. Each
  client starts holding a valid 120 s token, placed so that its own renewal point falls
  `renewal_warmup_s + renewal_delay_s / 2` after the threads start; the worst latency is
  taken on the calls that overlap the renewal (from that point, or the first token request
  if earlier, until its last token request is answered), the steady p99 on a steady window
  exactly as long as that renewal, in the same run: the calls that ended before the renewal
  began plus those that began after it was over (the rest of the window), so drift of the
  machine's load within a run affects both sides alike. The cyclic garbage collector is off
  during each run, for every client alike (`_collector_paused`).
- soak: ccg alone, 2 s tokens that the scenario's own API accepts only until they expire;
  failed calls and token requests against duration / ccg's refresh interval.
- storm: the token endpoint answers 503 for `storm_seconds` to threads with no token;
  token requests that arrived during the storm, per second, and when calls succeed again.
"""

from __future__ import annotations

import gc
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Generator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Final

from benchmarks._clients import (
    CCG,
    AuthlibHttpx,
    AuthlibRequests,
    BenchClient,
    CcgClient,
    ClientKind,
    HandWritten,
    HttpxAuth,
    RequestsOAuthlib,
    load,
)
from benchmarks._families import FamilyResult, Settings, counting_pool_discards, rotated
from benchmarks._fixture_server import ACCESS_TOKEN, EXPECTED_AUTHORIZATION
from benchmarks._report import Table, TargetCheck, median, paired_ratio, span
from benchmarks._scenarios import ScenarioControl, ScenarioSetup, ScenarioStats
from benchmarks._servers import Server
from ccg import OAuthToken, ResiliencePolicy, Urllib3Transport

__all__ = ["ccg_refresh_offsets", "renewal", "soak", "storm"]

RENEWAL_LIFETIME: Final = 120
"""`expires_in` of the renewal family's tokens: with ccg's 60 s skew, 60 s usable and a
15 s refresh window, room for a 5 s renewal."""
SOAK_LIFETIME: Final = 2
BLOCKED_S: Final = 0.1
"""A call slower than this counts as blocked (the renewal table's last column)."""
_POLL_S: Final = 0.05
_CUT_GRACE_S: Final = 1.0
"""A renewal still running this long after the server's delay is cut short (httpx-auth
fetches once per waiting caller, one after the other: 8 x 5 s)."""
_QUIET_S: Final = 0.2
"""No token request for this long after the last answer: the renewal is over."""
_SETTLE_S: Final = 2.0
"""After a cut, how long the token requests still queued may take before the steady
window after the renewal begins anyway."""
_JOIN_S: Final = 60.0


def ccg_refresh_offsets(
    lifetime: float, clock_skew: float, policy: ResiliencePolicy
) -> tuple[float, float]:
    """(refresh_at, fresh_until) of a ccg token, in seconds after it was issued.

    The skew is capped at half the lifetime; the refresh window is the last
    `refresh_ratio` of the usable lifetime (lifetime minus skew).
    """
    usable = lifetime - min(clock_skew, lifetime / 2)
    return usable * (1 - policy.refresh_ratio), usable


# -- the load -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Calls:
    """Every call of a load: start and end (monotonic) and whether it got a 200."""

    starts: list[float]
    ends: list[float]
    ok: list[bool]
    reasons: Counter[str]

    def latencies(self, keep: Callable[[float, float], bool]) -> list[float]:
        return [e - s for s, e in zip(self.starts, self.ends, strict=True) if keep(s, e)]

    @property
    def failed(self) -> int:
        return self.ok.count(False)


class _Load:
    """`threads` threads calling `call` back to back from `go()` to `stop()`."""

    def __init__(self, call: Callable[[], int], threads: int) -> None:
        self._call = call
        self._go = threading.Event()
        self._stop = threading.Event()
        self._records: list[tuple[list[float], list[float], list[bool], Counter[str]]] = [
            ([], [], [], Counter()) for _ in range(threads)
        ]
        self.last_ok = -math.inf
        """When the latest successful call ended (written by the workers)."""
        self._threads = [
            threading.Thread(target=self._work, args=(i,), daemon=True) for i in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def _work(self, index: int) -> None:
        starts, ends, oks, reasons = self._records[index]
        call, clock, stopped = self._call, time.monotonic, self._stop.is_set
        self._go.wait()
        while not stopped():
            start = clock()
            try:
                status = call()
            except Exception as exc:  # a failed call is counted, and the thread calls again
                status = 0
                reasons[type(exc).__name__] += 1
            end = clock()
            starts.append(start)
            ends.append(end)
            oks.append(status == 200)
            if status == 200:
                self.last_ok = end
            elif status:
                reasons[f"HTTP {status}"] += 1

    def go(self) -> float:
        """Release the threads; when."""
        now = time.monotonic()
        self._go.set()
        return now

    def stop(self) -> _Calls:
        """Stop the threads (each ends its call first) and collect their calls."""
        self._go.set()
        self._stop.set()
        for thread in self._threads:
            thread.join(_JOIN_S)
            if thread.is_alive():
                raise RuntimeError("a load thread is still in a call after 60 s")
        starts: list[float] = []
        ends: list[float] = []
        oks: list[bool] = []
        reasons: Counter[str] = Counter()
        for s, e, o, r in self._records:
            starts += s
            ends += e
            oks += o
            reasons += r
        return _Calls(starts, ends, oks, reasons)


def _quantile(values: Sequence[float], q: float) -> float:
    """The `q` quantile (nearest rank); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1e3:.1f}"


def _reasons(calls: Sequence[_Calls]) -> str:
    total: Counter[str] = Counter()
    for c in calls:
        total += c.reasons
    return ", ".join(f"{name} x{count}" for name, count in total.most_common(4))


def _wait_until(deadline: float) -> None:
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, 0.5))


@contextmanager
def _collector_paused() -> Generator[None, None, None]:
    """The cyclic garbage collector off, its heap collected and frozen first.

    A collection holds the GIL and so pauses every calling thread (a full one took 15-40 ms
    here): it would land in the steady window or in the renewal at random, whatever the
    client does. Reference counting still frees memory meanwhile.
    """
    enabled = gc.isenabled()
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        if enabled:
            gc.enable()


def _runs_per_kind(kinds: Sequence[ClientKind], ccg_repeats: int, s: Settings) -> list[list[str]]:
    """The clients of each round: ccg in every round, the others in the first few."""
    rounds = max(ccg_repeats, s.resilience_peer_repeats)
    keys = [k.key for k in kinds]
    return [
        [
            key
            for key in rotated(keys, round_no)
            if round_no < (ccg_repeats if key == CCG.key else s.resilience_peer_repeats)
        ]
        for round_no in range(rounds)
    ]


# -- renewal under a slow token server ------------------------------------------------


def _seed(client: BenchClient, renew_in: float, lifetime: int) -> str:
    """Make `client` hold the fixed token, placed so that its own renewal rule fires
    `renew_in` seconds from now, through the library's own token-setting API (httpx-auth:
    its token cache). Returns a line saying what that rule is."""
    wall = time.time()
    token = {"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": lifetime}
    if isinstance(client, CcgClient):
        manager = client.client.auth_manager
        policy = manager.policy
        refresh_at, fresh_until = ccg_refresh_offsets(
            lifetime, policy.clock_skew, policy.resilience
        )
        manager.set_token(
            OAuthToken(
                access_token=ACCESS_TOKEN,
                expires_in=lifetime,
                expiry=wall + renew_in + (lifetime - refresh_at),
            )
        )
        held = manager.state.held
        opens = -math.inf if held is None else held.refresh_at - time.monotonic()
        if abs(opens - renew_in) > 0.05:
            raise RuntimeError(f"ccg's refresh window opens in {opens:.3f} s, not {renew_in} s")
        return (
            f"ccg: refresh window from {lifetime - refresh_at:g} s to "
            f"{lifetime - fresh_until:g} s before expiry (skew {policy.clock_skew:g} s, "
            f"refresh_ratio {policy.resilience.refresh_ratio:g}); one renewal in the "
            "background while callers keep the held token"
        )
    if isinstance(client, HandWritten):
        client.hold(EXPECTED_AUTHORIZATION, time.monotonic() + renew_in)
        return (
            f"hand-written: renews {min(60, lifetime / 2):g} s before expiry, inline under its "
            "lock (one token request; every caller waits for it)"
        )
    if isinstance(client, AuthlibRequests | AuthlibHttpx):
        holder = client.session if isinstance(client, AuthlibRequests) else client.client
        leeway = float(holder.leeway)
        # Authlib keeps expires_at in whole seconds: round up, the renewal may come <1 s late.
        holder.token = {**token, "expires_at": math.ceil(wall + renew_in + leeway)}
        return (
            f"Authlib: renews {leeway:g} s before expiry (leeway), inline in ensure_active_token, "
            "no lock: every caller that sees it expired fetches"
        )
    if isinstance(client, RequestsOAuthlib):
        client.session.token = {**token, "expires_at": wall + renew_in}
        return (
            "requests-oauthlib: raises TokenExpiredError at expiry; the caller fetches inline "
            "(no lock: every caller that sees it expired fetches)"
        )
    if isinstance(client, HttpxAuth):
        early = float(client.auth.early_expiry)
        cache = load("httpx_auth").OAuth2.token_cache
        cache._add_token(client.auth.state, ACCESS_TOKEN, wall + renew_in + early)
        return (
            f"httpx-auth: renews {early:g} s before expiry (early_expiry), inline under a lock; "
            "each caller queued on the lock fetches again, one after the other"
        )
    raise TypeError(f"no way to give {type(client).__name__} a token")


_WHY: Final = {
    ("authlib-httpx", "ReadTimeout"): "httpx's default timeout is 5 s: a token request "
    "answered after 5 s may time out",
    ("requests-oauthlib", "HTTP 401"): "fetch_token() sets session.token = {} while its "
    "request runs: a concurrent call goes out without a token",
}
"""Why a peer's calls failed, where the reason is known (read in the peer's source)."""


@dataclass(frozen=True)
class _Timeline:
    """One renewal, on the server's clock."""

    first: float
    """The first token request arrived."""
    end: float
    """The renewal was over: its last token request answered (or the cut)."""
    settled: float
    """Every token request answered and none for `_QUIET_S` since: `end`, unless cut short
    (then the token requests still queued at the cut are answered first)."""
    cut: bool


@dataclass(frozen=True)
class _RenewalRun:
    steady_p50: float
    steady_p99: float
    steady_max: float
    steady_calls: int
    steady_s: float
    """Length of the steady window: before the renewal plus after it."""
    worst: float
    worst_at: float
    """When the worst call began, in seconds after the renewal began."""
    during_p99: float
    during_calls: int
    during_s: float
    """Length of the renewal window (from the renewal point or the first token request)."""
    blocked: int
    token_requests: int
    failed: int
    renewal_s: float
    """From the first token request to the last answer."""
    cut: bool
    calls: _Calls

    @property
    def ratio(self) -> float:
        """The target's ratio: worst call during the renewal / steady p99."""
        return self.worst / self.steady_p99 if self.steady_p99 > 0 else math.nan

    @property
    def noise_floor(self) -> float:
        """The steady window's own max / its p99: the ratio with no renewal at all."""
        return self.steady_max / self.steady_p99 if self.steady_p99 > 0 else math.nan

    @property
    def worst_vs_max(self) -> float:
        """One statistic on both sides: worst call during the renewal / steady max."""
        return self.worst / self.steady_max if self.steady_max > 0 else math.nan


def _watch_renewal(control: ScenarioControl, name: str, opens: float, s: Settings) -> _Timeline:
    """When the renewal began and ended; cut short if it still runs `_CUT_GRACE_S` after
    the server's delay."""
    # Authlib's whole-second expiry may put its renewal up to 1 s later.
    stats = control.stats(name)
    while not stats.arrivals and time.monotonic() < opens + 3.0:
        time.sleep(_POLL_S)
        stats = control.stats(name)
    if not stats.arrivals:
        raise RuntimeError(f"no token request in scenario {name} of the renewal family")
    first = stats.arrivals[0]
    cut_at = first + s.renewal_delay_s + _CUT_GRACE_S
    cut = False
    # Over once every token request is answered and no new one came for a while (a
    # client may send the next one only when the previous is answered: httpx-auth).
    while True:
        now = time.monotonic()
        last = max((answered for _, answered, _ in stats.answers), default=math.inf)
        if not stats.pending and now - last >= _QUIET_S:
            return _Timeline(
                first, cut_at if cut else last, max(last, cut_at) if cut else last, cut
            )
        if cut and now >= cut_at + _SETTLE_S:
            return _Timeline(first, cut_at, now, cut)
        if not cut and now >= cut_at:
            control.release(name)
            cut = True
        time.sleep(_POLL_S)
        stats = control.stats(name)


def _poll_until(control: ScenarioControl, name: str, until: float) -> None:
    """Wait until `until`, polling the scenario's stats as `_watch_renewal` does, so that the
    steady window after the renewal shares the background work of the rest of the run."""
    while (left := until - time.monotonic()) > 0:
        control.stats(name)
        time.sleep(min(_POLL_S, left))


def _renewal_once(
    server: Server, control: ScenarioControl, kind: ClientKind, s: Settings, name: str
) -> tuple[_RenewalRun, str]:
    control.setup(name, ScenarioSetup(expires_in=RENEWAL_LIFETIME, delay_s=s.renewal_delay_s))
    client = kind.build(server.base_url, control.token_path(name))
    try:
        with _collector_paused():
            renew_in = s.renewal_warmup_s + s.renewal_steady_before_s
            opens = time.monotonic() + renew_in
            rule = _seed(client, renew_in, RENEWAL_LIFETIME)
            work = _Load(client.call, s.renewal_threads)
            try:
                began = work.go()
                line = _watch_renewal(control, name, opens, s)
                # The renewal runs from the client's renewal point (or the first token
                # request, if earlier) until its last token request is answered. The steady
                # window is exactly as long: the calls before the renewal, then, for the
                # rest, those after it.
                start = min(opens, line.first)
                steady_from = began + s.renewal_warmup_s
                before = start - steady_from
                after = max(0.0, (line.end - start) - before)
                _poll_until(control, name, line.settled + after)
            finally:
                calls = work.stop()
        stats = control.stats(name)
    finally:
        client.close()
    after_to = line.settled + after
    steady = calls.latencies(
        # Before: calls that ended before the renewal began. After: calls that began in the
        # window (by start time, so that a slow call is not left out for ending late).
        lambda a, b: (a >= steady_from and b < start) or line.settled < a <= after_to
    )
    during_calls = [
        (b - a, a)
        for a, b in zip(calls.starts, calls.ends, strict=True)
        if b >= start and a <= line.end
    ]
    during = [d for d, _ in during_calls]
    worst_at = max(during_calls, default=(math.nan, math.nan))[1] - start
    run = _RenewalRun(
        steady_p50=_quantile(steady, 0.5),
        steady_p99=_quantile(steady, 0.99),
        steady_max=max(steady, default=math.nan),
        steady_calls=len(steady),
        steady_s=before + after,
        worst=max(during, default=math.nan),
        worst_at=worst_at,
        during_p99=_quantile(during, 0.99),
        during_calls=len(during),
        during_s=line.end - start,
        blocked=sum(1 for d in during if d > BLOCKED_S),
        token_requests=stats.token_requests,
        failed=calls.failed,
        renewal_s=line.end - line.first,
        cut=line.cut,
        calls=calls,
    )
    return run, rule


def _ratio_cell(values: Sequence[float], mark: str = "") -> str:
    """`2.10x`, the median of per-run ratios; `2.10x (1.90-2.60)` with the range of several."""
    cell = f"{mark}{median(values):.2f}x"
    if len(values) > 1:
        cell += f" ({min(values):.2f}-{max(values):.2f})"
    return cell


def renewal(server: Server, kinds: Sequence[ClientKind], s: Settings) -> FamilyResult:
    """N threads call continuously while the client renews against a 5 s token endpoint."""
    chosen = [k for k in kinds if k.fetches_tokens]
    by_key = {k.key: k for k in chosen}
    runs: dict[str, list[_RenewalRun]] = {k.key: [] for k in chosen}
    rules: dict[str, str] = {}
    control = ScenarioControl(server.base_url)
    try:
        for round_no, keys in enumerate(_runs_per_kind(chosen, s.renewal_repeats, s)):
            for key in keys:
                run, rules[key] = _renewal_once(
                    server, control, by_key[key], s, f"renewal-{key}-{round_no}"
                )
                runs[key].append(run)
    finally:
        control.close()

    before = s.renewal_steady_before_s
    table = Table(
        f"Renewal under a slow token server: {s.renewal_threads} threads, token endpoint "
        f"answers after {s.renewal_delay_s:g} s",
        f"Each client starts holding a valid {RENEWAL_LIFETIME} s token placed so that its own "
        f"renewal point comes {s.renewal_warmup_s + before:g} s after "
        f"{s.renewal_threads} threads start calling GET /api back to back. During: calls that "
        "overlapped the renewal (from that point, or the first token request if earlier, "
        "until the last token request was answered). Steady: a window exactly as long as the "
        "renewal, in the same run, with no renewal in it: the calls after a "
        f"{s.renewal_warmup_s:g} s warm-up that ended before the renewal began "
        f"({before:g} s), then, for the rest, those that began after it was over. Noise "
        "floor: the steady window's own max / p99, what a client with no renewal at all "
        "would score on this machine. The cyclic garbage collector is off during each run, "
        "for every client alike (gc.collect(), gc.freeze(), gc.disable() before the threads "
        "start; a collection pauses every thread and would land in either window at "
        "random). ms; ratios per run, then the median over runs (runs: ccg "
        f"{s.renewal_repeats}, others {s.resilience_peer_repeats}), the range of several "
        "runs in brackets.",
        [
            "client",
            "runs",
            "token reqs",
            "failed calls",
            "steady window s",
            "steady p50 ms",
            "steady p99 ms",
            "steady max ms",
            "noise floor: steady max / p99",
            "p99 during renewal ms",
            "worst during renewal ms",
            "worst / steady p99 (target <= 2x)",
            "worst / steady max",
            f"calls > {BLOCKED_S * 1e3:g} ms",
            "renewal s",
        ],
    )
    for kind in chosen:
        mine = runs[kind.key]
        if not mine:
            continue
        cut = any(r.cut for r in mine)
        mark = ">= " if cut else ""
        table.add(
            kind.label,
            str(len(mine)),
            span([r.token_requests for r in mine]),
            str(sum(r.failed for r in mine)),
            f"{median([r.steady_s for r in mine]):.1f}",
            _ms(median([r.steady_p50 for r in mine])),
            _ms(median([r.steady_p99 for r in mine])),
            _ms(median([r.steady_max for r in mine])),
            _ratio_cell([r.noise_floor for r in mine]),
            _ms(median([r.during_p99 for r in mine])),
            mark + _ms(median([r.worst for r in mine])),
            _ratio_cell([r.ratio for r in mine], mark),
            _ratio_cell([r.worst_vs_max for r in mine], mark),
            span([r.blocked for r in mine]),
            mark + f"{median([r.renewal_s for r in mine]):.1f}",
        )
    table.footnotes.extend(
        f"- {rule}" for rule in dict.fromkeys(rules[k.key] for k in chosen if k.key in rules)
    )
    mine = runs.get(CCG.key, [])
    if mine:
        table.footnotes.append(
            "- ccg, per run: "
            + "; ".join(
                f"worst {_ms(r.worst)} ms at +{r.worst_at:.2f} s / steady p99 "
                f"{_ms(r.steady_p99)} ms = {r.ratio:.2f}x (steady max {_ms(r.steady_max)} ms = "
                f"{r.noise_floor:.2f}x p99; {r.during_calls} calls over {r.during_s:.1f} s "
                f"during, {r.steady_calls} over {r.steady_s:.1f} s steady)"
                for r in mine
            )
            + ". +x s: when the worst call began, after the renewal point (+0.00 s: the "
            "caller that starts the renewal)."
        )
    table.footnotes.append(
        "- worst / steady max: the same statistic on both sides, over windows of the same "
        "length (not the target); at or below 1x the worst call during the renewal was no "
        "slower than the worst of the steady window of the same run."
    )
    if any(r.cut for rs in runs.values() for r in rs):
        table.footnotes.append(
            f"- >=: the renewal was still running {_CUT_GRACE_S:g} s after the server's "
            f"{s.renewal_delay_s:g} s delay and was cut short (the server answered at once "
            "from then on); the real worst is larger. Its steady window after the renewal "
            "began once the token requests still queued were answered."
        )
    for kind in chosen:
        calls = [r.calls for r in runs[kind.key]]
        reasons = _reasons(calls)
        if reasons:
            seen = {name for c in calls for name in c.reasons}
            why = "; ".join(w for (k, name), w in _WHY.items() if k == kind.key and name in seen)
            table.footnotes.append(
                f"- failed calls, {kind.label}: {reasons}" + (f" ({why})" if why else "")
            )
    result = FamilyResult(table)
    if mine:
        achieved = paired_ratio([r.worst for r in mine], [r.steady_p99 for r in mine])
        ratios = [r.ratio for r in mine]
        floors = [r.noise_floor for r in mine]

        def spread(values: list[float]) -> str:
            return f" ({min(values):.2f}-{max(values):.2f}x)" if len(values) > 1 else ""

        result.checks.append(
            TargetCheck(
                f"renewal: worst call during a {s.renewal_delay_s:g} s renewal <= 2x steady p99",
                f"{achieved:.2f}x, median of {len(mine)} runs{spread(ratios)} (worst "
                f"{_ms(median([r.worst for r in mine]))} ms, steady p99 "
                f"{_ms(median([r.steady_p99 for r in mine]))} ms); noise floor, steady max / "
                f"p99 over an equally long window without a renewal: {median(floors):.2f}x"
                f"{spread(floors)}; token requests {span([r.token_requests for r in mine])}, "
                f"failed {sum(r.failed for r in mine)}",
                achieved <= 2 and all(r.failed == 0 for r in mine),
            )
        )
    return result


# -- soak ---------------------------------------------------------------------------------


def soak(server: Server, s: Settings) -> FamilyResult:
    """ccg, `soak_threads` threads for `soak_seconds` against 2 s tokens the API enforces."""
    name = "soak"
    control = ScenarioControl(server.base_url)
    control.setup(name, ScenarioSetup(expires_in=SOAK_LIFETIME, unique=True))
    # A pool as large as the thread count, as a user with that many threads would size it.
    client = CcgClient(
        server.base_url,
        control.token_path(name),
        transport=Urllib3Transport(maxsize=s.soak_threads),
    )
    api, get = control.api_path(name), client.client.get
    policy = client.client.auth_manager.policy
    refresh_at, fresh_until = ccg_refresh_offsets(
        SOAK_LIFETIME, policy.clock_skew, policy.resilience
    )
    try:
        work = _Load(lambda: get(api).status, s.soak_threads)
        began = work.go()
        _wait_until(began + s.soak_seconds)
        calls = work.stop()
        duration = max(calls.ends, default=began) - began
        stats = control.stats(name)
    finally:
        client.close()
        control.close()
    latencies = calls.latencies(lambda _a, _b: True)
    gaps = [b - a for a, b in zip(stats.arrivals, stats.arrivals[1:], strict=False)]
    interval = median(gaps)
    expected = duration / refresh_at
    table = Table(
        f"Soak: {s.soak_threads} threads, {s.soak_seconds:g} s, {SOAK_LIFETIME} s tokens",
        f"ccg ApiClient (default ResiliencePolicy, pool of {s.soak_threads}) calling the "
        "scenario's own API back to back; that API accepts a token only until it expires (the "
        f"server's {SOAK_LIFETIME} s), so a token used too late is a 401 it counts. Expected "
        f"refresh interval: skew min({policy.clock_skew:g}, {SOAK_LIFETIME}/2) = "
        f"{SOAK_LIFETIME - fresh_until:g} s, usable {fresh_until:g} s, the refresh window its "
        f"last {policy.resilience.refresh_ratio:g} -> a renewal starts {refresh_at:g} s after "
        "the previous token request began (the first caller past that point starts it): "
        "the first fetch at 0 s, then one per interval, 1 + floor(duration / interval) "
        "token requests, within 1 of duration / interval.",
        [
            "client",
            "duration s",
            "calls",
            "failed calls",
            "401s at the API",
            "token reqs",
            "duration / interval",
            "interval ms (measured median)",
            "p99 ms",
            "worst ms",
        ],
    )
    table.add(
        CCG.label,
        f"{duration:.1f}",
        str(len(latencies)),
        str(calls.failed),
        str(stats.api_denied),
        str(stats.token_requests),
        f"{expected:.1f}",
        f"{interval * 1e3:.1f}",
        _ms(_quantile(latencies, 0.99)),
        _ms(max(latencies, default=math.nan)),
    )
    reasons = _reasons([calls])
    if reasons:
        table.footnotes.append(f"failed calls: {reasons}")
    result = FamilyResult(table)
    result.checks.append(
        TargetCheck(
            "soak: 0 failed calls",
            f"{calls.failed} failed of {len(latencies)} ({stats.api_denied} 401s at the API), "
            f"{duration:.0f} s",
            calls.failed == 0 and stats.api_denied == 0,
        )
    )
    result.checks.append(
        TargetCheck(
            "soak: token requests = duration / refresh interval, +-1",
            f"{stats.token_requests} vs {duration:.1f} s / {refresh_at:g} s = {expected:.1f}",
            abs(stats.token_requests - expected) <= 1,
        )
    )
    return result


# -- 503 storm ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _StormRun:
    in_storm: int
    token_requests: int
    calls: int
    failed: int
    recovery: float
    """Seconds from the storm's end to the first successful call after it (inf: none)."""
    stats: ScenarioStats = field(repr=False)
    reasons: Counter[str] = field(repr=False)


def _storm_once(
    server: Server, control: ScenarioControl, kind: ClientKind, s: Settings, name: str
) -> _StormRun:
    client = kind.build(server.base_url, control.token_path(name))
    try:
        with counting_pool_discards():
            work = _Load(client.call, s.storm_threads)
            try:
                # The client sends nothing before go(): the storm starts with its first call.
                started = control.setup(name, ScenarioSetup(fail_for_s=s.storm_seconds))
                work.go()
                ends = started + s.storm_seconds
                _wait_until(ends)
                watch_until = ends + s.storm_recovery_s
                while work.last_ok < ends and time.monotonic() < watch_until:
                    time.sleep(0.01)
            finally:
                # Callers in a backoff finish it first: recovery may show past the watch.
                calls = work.stop()
        stats = control.stats(name)
    finally:
        client.close()
    recovered = [e for e, ok in zip(calls.ends, calls.ok, strict=True) if ok and e >= ends]
    return _StormRun(
        in_storm=sum(1 for a in stats.arrivals if a < ends),
        token_requests=stats.token_requests,
        calls=len(calls.ok),
        failed=calls.failed,
        recovery=min(recovered, default=math.inf) - ends,
        stats=stats,
        reasons=calls.reasons,
    )


def storm(server: Server, kinds: Sequence[ClientKind], s: Settings) -> FamilyResult:
    """64 threads with no token while the token endpoint answers 503 for 3 s."""
    chosen = [k for k in kinds if k.fetches_tokens and (s.storm_peers or not k.is_peer)]
    by_key = {k.key: k for k in chosen}
    runs: dict[str, list[_StormRun]] = {k.key: [] for k in chosen}
    control = ScenarioControl(server.base_url)
    try:
        for round_no, keys in enumerate(_runs_per_kind(chosen, s.storm_repeats, s)):
            for key in keys:
                runs[key].append(
                    _storm_once(server, control, by_key[key], s, f"storm-{key}-{round_no}")
                )
    finally:
        control.close()

    def recovery(values: list[float]) -> str:
        """Each run's, in order (a median hides the runs whose breaker opened)."""
        return " / ".join(
            f"> {s.storm_recovery_s * 1e3:.0f}" if math.isinf(v) else f"{v * 1e3:.0f}"
            for v in values
        )

    table = Table(
        f"503 storm: {s.storm_threads} threads, no token held, token endpoint answers 503 "
        f"for {s.storm_seconds:g} s",
        f"A fresh client; {s.storm_threads} threads call GET /api back to back (a failed call "
        "is counted and the thread calls again at once) while every token request gets 503 "
        '`{"error":"temporarily_unavailable"}` (no Retry-After). Token requests: those '
        "that arrived during the storm (server log). Recovery, per run: storm end to the "
        "first successful call (callers sleeping in a backoff when the storm ends are waited "
        f"for; callers failing at once are watched for {s.storm_recovery_s:g} s). Medians "
        f"over runs (runs: ccg {s.storm_repeats}, others {s.resilience_peer_repeats}).",
        [
            "client",
            "runs",
            "token reqs in storm",
            "token reqs / s",
            "calls",
            "failed calls",
            "recovery ms (per run)",
        ],
    )
    for kind in chosen:
        mine = runs[kind.key]
        if not mine:
            continue
        table.add(
            kind.label,
            str(len(mine)),
            span([r.in_storm for r in mine]),
            f"{median([r.in_storm / s.storm_seconds for r in mine]):.1f}",
            f"{median([r.calls for r in mine]):.0f}",
            f"{median([r.failed for r in mine]):.0f}",
            recovery([r.recovery for r in mine]),
        )
    policy = ResiliencePolicy()
    table.footnotes.append(
        f"- ccg's default ResiliencePolicy: one flight for all callers; after a transient "
        f"failure the next after a full-jitter backoff of up to {policy.backoff_base:g} s, "
        f"doubling (cap {policy.backoff_cap:g} s); {policy.breaker_threshold} in a row open "
        f"the breaker for {policy.breaker_open_for:g} s; a call goes through at most "
        f"{policy.max_attempts} token requests, then fails with retry_after. Recovery waits "
        "for the backoff (or breaker) in progress when the storm ends."
    )
    opened = sum(1 for r in runs.get(CCG.key, []) if r.in_storm >= policy.breaker_threshold)
    if opened:
        table.footnotes.append(
            f"- ccg's breaker opened in {opened} of {len(runs[CCG.key])} runs: its "
            f"{policy.breaker_threshold}th token request fell inside the storm, so it sends "
            f"none for {policy.breaker_open_for:g} s after it and its calls fail at once "
            "meanwhile, without a token request (TokenAcquisitionError with retry_after: the "
            "many failed calls); the other runs recover when the backoff in progress ends."
        )
    if any(k.key == "httpx-auth" for k in chosen):
        table.footnotes.append(
            "- httpx-auth sends its token requests one at a time (under a lock), each from a "
            "new httpx.Client (TLS context included, ~0.1 s here, see the cold fetch family): "
            "its rate is bounded by that, not by a backoff."
        )
    for kind in chosen:
        total: Counter[str] = Counter()
        for r in runs[kind.key]:
            total += r.reasons
        if total:
            table.footnotes.append(
                f"- failed calls, {kind.label}: "
                + ", ".join(f"{n} x{c}" for n, c in total.most_common(3))
            )
    result = FamilyResult(table)
    mine = runs.get(CCG.key, [])
    if mine:
        counts = [r.in_storm for r in mine]
        worst_peer = max(
            (
                (median([r.in_storm / s.storm_seconds for r in runs[k.key]]), k.label)
                for k in chosen
                if k.key != CCG.key and runs[k.key]
            ),
            default=None,
        )
        peers = (
            f"; most by another client: {worst_peer[0]:.0f}/s ({worst_peer[1]})"
            if worst_peer
            else ""
        )
        result.checks.append(
            TargetCheck(
                f"storm: <= 10 token requests in a {s.storm_seconds:g} s 503 storm "
                f"({s.storm_threads} threads)",
                f"{median([float(c) for c in counts]):.0f} (runs: {span(counts)}; "
                f"{median([c / s.storm_seconds for c in counts]):.1f}/s){peers}",
                max(counts) <= 10,
            )
        )
    return result
