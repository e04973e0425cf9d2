"""The benchmark suite: `python -m benchmarks` runs every family and prints one table each.

Speed families: steady, auth, herd, cold, import, memory. Resilience families
(benchmarks/_resilience_families.py): renewal (under a 5 s token server), soak (60 s of
2 s tokens), storm (a 3 s 503 storm); `--only resilience` runs just those three. Async and
adapter families (benchmarks/_async_families.py, they need httpx and requests):
async-steady, httpx-step, requests-step, async-herd; `--only async` runs just those four.

It starts its own server on 127.0.0.1 (Debian's nginx when installed, else the Python
fallback, named in the output), runs the families, prints the issue-4 targets with what
this run achieved, and stops everything it started. Peers (the `bench` extra) that are
not installed are skipped and listed.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Final, TextIO

from benchmarks import _families as families
from benchmarks import _resilience_families as resilience
from benchmarks._clients import (
    ALL_KINDS,
    ClientKind,
    available,
    available_modules,
    insecure_loopback_env,
    versions,
)
from benchmarks._families import FamilyResult, Settings
from benchmarks._report import Table, TargetCheck
from benchmarks._servers import Server, start_server

__all__ = ["ASYNC_FAMILIES", "FAMILIES", "GROUPS", "QUICK", "Report", "main", "run"]

ASYNC_FAMILIES: Final = ("async-steady", "httpx-step", "requests-step", "async-herd")
"""benchmarks/_async_families.py, imported only when one of them runs (httpx, requests)."""
FAMILIES: Final = (
    "steady",
    "auth",
    "herd",
    "cold",
    "import",
    "memory",
    "renewal",
    "soak",
    "storm",
    *ASYNC_FAMILIES,
)
GROUPS: Final = {
    "speed": ("steady", "auth", "herd", "cold", "import", "memory"),
    "resilience": ("renewal", "soak", "storm"),
    "async": ASYNC_FAMILIES,
}
"""Names `--only` also takes, for several families at once."""

QUICK: Final = Settings(
    steady_rounds=11,
    steady_requests=50,
    steady_warmup=20,
    auth_rounds=5,
    auth_seconds_per_timing=0.01,
    herd_repeats=2,
    cold_rounds=5,
    cold_fetches=10,
    import_repeats=3,
    memory_repeats=1,
    renewal_repeats=1,
    soak_seconds=10.0,
    storm_repeats=1,
    async_steady_rounds=9,
    async_steady_warmup=10,
)


@dataclass
class Report:
    """What a run produced."""

    server: str = ""
    skipped: list[str] = field(default_factory=list[str])
    results: dict[str, FamilyResult] = field(default_factory=dict[str, FamilyResult])

    @property
    def checks(self) -> list[TargetCheck]:
        """Every target judged, in family order."""
        return [c for r in self.results.values() for c in r.checks]

    def targets_table(self) -> Table:
        """The issue-4 targets and what this run achieved."""
        table = Table(
            "Targets (issue 4)",
            "Every ratio measured in this run.",
            ["target", "achieved", "verdict"],
        )
        for check in self.checks:
            table.add(check.target, check.achieved, check.verdict)
        return table


def _header(server: Server, kinds: Sequence[ClientKind], skipped: Sequence[str]) -> str:
    lines = [
        "# ccg benchmarks",
        "",
        f"- Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        f"- server: {server.description}",
        "- versions: " + ", ".join(f"{n} {v}" for n, v in versions(tuple(kinds))),
    ]
    if skipped:
        lines.append(
            "- skipped (not installed; `pip install -e '.[bench]'`): " + ", ".join(skipped)
        )
    return "\n".join(lines)


def _async_steps(
    server: Server, settings: Settings, include_peers: bool
) -> dict[str, Callable[[], FamilyResult]]:
    """The async families' steps; each says it was skipped when httpx or requests is missing."""
    if not available_modules(("httpx", "requests")):

        def skipped(name: str) -> Callable[[], FamilyResult]:
            table = Table(
                name, "skipped: needs httpx and requests (`pip install -e '.[bench]'`)", ["-"]
            )
            return lambda: FamilyResult(table)

        return {name: skipped(name) for name in ASYNC_FAMILIES}
    from benchmarks import _async_families as aio  # noqa: PLC0415 - needs httpx and requests

    peers = include_peers
    return {
        "async-steady": lambda: aio.async_steady(server, settings, include_peers=peers),
        "httpx-step": lambda: aio.httpx_step(server, settings, include_peers=peers),
        "requests-step": lambda: aio.requests_step(server, settings, include_peers=peers),
        "async-herd": lambda: aio.async_herd(server, settings, include_peers=peers),
    }


def run(
    settings: Settings,
    *,
    server_kind: str = "auto",
    only: Sequence[str] = FAMILIES,
    include_peers: bool = True,
    out: TextIO | None = None,
) -> Report:
    """Run the chosen families against a server this call starts and stops."""
    stream = out or sys.stdout
    report = Report()
    kinds: list[ClientKind] = []
    for kind in ALL_KINDS:
        if kind.is_peer and not include_peers:
            continue
        if available(kind):
            kinds.append(kind)
        else:
            report.skipped.append(kind.label)

    def emit(text: str) -> None:
        print(text, file=stream, flush=True)

    started = time.perf_counter()
    with (
        insecure_loopback_env(),
        start_server(server_kind, delay_ms=settings.token_delay_ms) as server,
    ):
        report.server = server.description
        emit(_header(server, kinds, report.skipped))
        steps: dict[str, Callable[[], FamilyResult]] = {
            "steady": lambda: families.steady_state(server, kinds, settings),
            "auth": lambda: families.auth_step(server, kinds, settings),
            "herd": lambda: families.herd(server, kinds, settings),
            "cold": lambda: families.cold_fetch(server, kinds, settings),
            "import": lambda: families.import_time(kinds, settings),
            "memory": lambda: families.memory(server, kinds, settings),
            "renewal": lambda: resilience.renewal(server, kinds, settings),
            "soak": lambda: resilience.soak(server, settings),
            "storm": lambda: resilience.storm(server, kinds, settings),
        }
        if any(name in only for name in ASYNC_FAMILIES):
            steps |= _async_steps(server, settings, include_peers)
        for name in FAMILIES:
            if name not in only:
                continue
            family_start = time.perf_counter()
            result = steps[name]()
            report.results[name] = result
            emit("")
            emit(result.table.render())
            emit(f"\n({name}: {time.perf_counter() - family_start:.1f} s)")
        emit("")
        emit(report.targets_table().render())
        emit(f"\ntotal {time.perf_counter() - started:.1f} s")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m benchmarks [--quick] [--server auto|nginx|python] [--only FAMILY ...]`."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--server",
        choices=("auto", "nginx", "python"),
        default="auto",
        help="nginx if installed (default), or force one",
    )
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a rough look)")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=[*FAMILIES, *GROUPS],
        default=list(FAMILIES),
        metavar="FAMILY",
        help=f"families to run: {', '.join(FAMILIES)}; or a group: "
        + "; ".join(f"{g} = {' '.join(members)}" for g, members in GROUPS.items())
        + " (default: all)",
    )
    parser.add_argument("--no-peers", action="store_true", help="ccg and the raw floors only")
    parser.add_argument(
        "--delay-ms", type=float, default=None, help="delay of the herd's token endpoint"
    )
    parser.add_argument(
        "--soak-seconds",
        type=float,
        default=None,
        help="length of the soak family (default 60; --quick 10)",
    )
    parser.add_argument(
        "--storm-seconds",
        type=float,
        default=None,
        help="length of the 503 storm (default 3)",
    )
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else Settings()
    if args.delay_ms is not None:
        settings = replace(settings, token_delay_ms=args.delay_ms)
    if args.soak_seconds is not None:
        settings = replace(settings, soak_seconds=args.soak_seconds)
    if args.storm_seconds is not None:
        settings = replace(settings, storm_seconds=args.storm_seconds)
    only = [f for name in args.only for f in GROUPS.get(name, (name,))]
    run(settings, server_kind=args.server, only=only, include_peers=not args.no_peers)
    return 0
