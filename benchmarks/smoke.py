"""A smoke run of the whole harness, for the test suite: `run_smoke()`.

Every family once, with tiny repeat counts, against the Python fallback server only
(nginx is not needed); peers that are not installed are skipped, and installed ones are
left out of the subprocess families (import time, memory), and the herd has 8 threads;
the resilience families run shortened (a 0.3 s slow token server, a 3 s soak, a 0.5 s
storm of ccg and the hand-written floor only), and the async families with 1 and 4 tasks
and a herd of 50. It checks that the harness works (every client got 200s with its token,
every table has its rows, ccg's herds, threads and tasks, fresh and expired, made exactly
one token request each, ccg renewed with one token request and no failed call, soaked
without a failed call or a 401, and sent at most 10 token requests in the storm), not how
fast anything is.
"""

from __future__ import annotations

import io
import time
from typing import Final

from benchmarks._clients import CCG
from benchmarks._families import Settings
from benchmarks.suite import FAMILIES, Report, run

__all__ = ["SMOKE", "run_smoke"]

SMOKE: Final = Settings(
    steady_rounds=1,
    steady_requests=5,
    steady_warmup=2,
    auth_rounds=1,
    auth_seconds_per_timing=0.002,
    herd_repeats=1,
    herd_threads=8,
    token_delay_ms=20.0,
    cold_rounds=1,
    cold_fetches=2,
    import_repeats=1,
    memory_repeats=1,
    subprocess_peers=False,
    renewal_threads=4,
    renewal_delay_s=0.3,
    renewal_warmup_s=0.1,
    renewal_repeats=1,
    soak_seconds=3.0,
    storm_seconds=0.5,
    storm_threads=16,
    storm_repeats=1,
    storm_recovery_s=0.5,
    storm_peers=False,
    async_steady_rounds=1,
    async_steady_requests=4,
    async_steady_warmup=2,
    async_concurrency=(1, 4),
    async_herd_tasks=50,
    async_herd_repeats=1,
)


def _ccg_cells(report: Report, family: str, *columns: str) -> list[str] | None:
    """ccg's row of `family`'s table, the cells of `columns`; None without that row."""
    result = report.results.get(family)
    if result is None:
        return None
    table = result.table
    row = next((r for r in table.rows if r[0] == CCG.label), None)
    return None if row is None else [row[table.columns.index(c)] for c in columns]


def _resilience_problems(report: Report) -> list[str]:
    """ccg renewed once without a failed call, soaked without one, and held back in the storm
    (counts and failures only: timings are not judged here)."""
    problems: list[str] = []
    renewal = _ccg_cells(report, "renewal", "token reqs", "failed calls")
    if renewal != ["1", "0"]:
        problems.append(f"ccg renewal: token requests, failed calls = {renewal}")
    soak = _ccg_cells(report, "soak", "failed calls", "401s at the API")
    if soak != ["0", "0"]:
        problems.append(f"ccg soak: failed calls, 401s = {soak}")
    storm = _ccg_cells(report, "storm", "token reqs in storm")
    if storm is None or not all(int(n) <= 10 for n in storm[0].split("-")):
        problems.append(f"ccg storm: token requests = {storm}")
    return problems


def _async_problems(report: Report) -> list[str]:
    """Every async client got 200s, and ccg's async herds made one token request each."""
    problems: list[str] = []
    steady = report.results.get("async-steady")
    if steady is not None:
        column = steady.table.columns.index("non-200")
        problems.extend(
            f"async steady state: {row[0]} got {row[column]} non-200 replies"
            for row in steady.table.rows
            if row[column] != "0"
        )
    herds = [c for c in report.checks if c.target.startswith("async herd")]
    if len(herds) != 2 or not all(c.passed for c in herds):
        problems.append(f"ccg async herd: {[c.achieved for c in herds] or 'not run'}")
    herd = report.results.get("async-herd")
    if herd is not None:  # AsyncApiClient and the httpx adapter, fresh and expired
        table = herd.table
        columns = ["token reqs fresh", "failed fresh", "token reqs expired", "failed expired"]
        tasks = SMOKE.async_herd_tasks
        for row in table.rows:
            if row[0].startswith("ccg "):
                cells = [row[table.columns.index(c)] for c in columns]
                if cells != ["1", f"0/{tasks}", "1", f"0/{tasks}"]:
                    problems.append(
                        f"async herd, {row[0]}: {dict(zip(columns, cells, strict=True))}"
                    )
    return problems


class SmokeFailure(AssertionError):
    """The harness did not run as it should; the message has the whole output."""


def run_smoke() -> None:
    """Run every family once against the Python fallback server; raise `SmokeFailure` if broken."""
    out = io.StringIO()
    started = time.perf_counter()
    report = run(SMOKE, server_kind="python", out=out)
    elapsed = time.perf_counter() - started
    text = out.getvalue()
    problems: list[str] = []
    if "Python fallback server" not in report.server:
        problems.append(f"not the fallback server: {report.server}")
    for name in FAMILIES:
        result = report.results.get(name)
        if result is None or not result.table.rows:
            problems.append(f"family {name!r} produced no rows")
    steady = report.results.get("steady")
    if steady is not None:
        column = steady.table.columns.index("non-200")
        problems.extend(
            f"steady state: {row[0]} got {row[column]} non-200 replies"
            for row in steady.table.rows
            if row[column] != "0"
        )
    herd_checks = [c for c in report.checks if c.target.startswith("herd: exactly")]
    if not herd_checks or not herd_checks[0].passed:
        problems.append(f"ccg herd: {herd_checks[0].achieved if herd_checks else 'not run'}")
    problems.extend(_async_problems(report))
    problems.extend(_resilience_problems(report))
    if problems:
        raise SmokeFailure("; ".join(problems) + f"\n\n{text}")
    print(text)
    print(f"smoke run: {elapsed:.1f} s")


if __name__ == "__main__":
    run_smoke()
