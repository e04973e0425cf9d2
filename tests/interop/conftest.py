"""Fixtures of the interop suite: real authorization servers as child processes on 127.0.0.1.

Cases take `interop_server`, parametrised indirectly by server name. Each server is
started once, by the first case that needs it, and all are stopped (and waited for) at
the end of the session. A server that cannot run here (Node.js or a package missing, a
Python package missing) skips its cases with the reason; the summary at the end counts
the cases per server.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from tests.interop._catalogue import SERVERS, server_named
from tests.interop._processes import RunningServer, ServerPool, Unavailable

SERVER_PARAM = "interop_server"


@pytest.fixture(scope="session")
def server_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerPool]:
    pool = ServerPool(tmp_path_factory.mktemp)
    yield pool
    statuses = pool.stop_all()
    # SIGTERM: Python's default handler ends with -15; the Node servers exit 0.
    unclean = {name: status for name, status in statuses.items() if status not in (0, -15)}
    assert not unclean, f"servers exited uncleanly: {unclean}"


@pytest.fixture
def interop_server(request: pytest.FixtureRequest, server_pool: ServerPool) -> RunningServer:
    """The running server named by the indirect parameter (its cases skip if it can't run)."""
    name: str = request.param
    spec = server_named(name)
    started = server_pool.get(spec)
    if isinstance(started, Unavailable):
        pytest.skip(f"{spec.label}: {started.reason}")
    assert started.process.poll() is None, f"{spec.name} died:\n{started.log_tail()}"
    return started


# -- the per-server summary ------------------------------------------------------------

_OUTCOMES: dict[str, dict[str, str]] = {}
"""Server name -> test id -> its outcome."""
_SKIP_REASONS: dict[str, set[str]] = {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and SERVER_PARAM in callspec.params:
            item.user_properties.append((SERVER_PARAM, str(callspec.params[SERVER_PARAM])))


def _outcome(report: pytest.TestReport) -> str | None:
    if report.failed:
        return "failed"
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "xpassed"
    if report.skipped:
        return "skipped"
    return "passed" if report.when == "call" else None


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    server = dict(report.user_properties).get(SERVER_PARAM)
    outcome = _outcome(report)
    if not isinstance(server, str) or outcome is None:
        return
    outcomes = _OUTCOMES.setdefault(server, {})
    if outcomes.get(report.nodeid) != "failed":
        outcomes[report.nodeid] = outcome
    if outcome == "skipped" and isinstance(report.longrepr, tuple):
        _SKIP_REASONS.setdefault(server, set()).add(str(report.longrepr[2]))


def _counts(outcomes: Counter[str]) -> str:
    text = ", ".join(f"{outcomes[k]} {k}" for k in ("passed", "failed", "skipped", "xfailed"))
    return text + (f", {outcomes['xpassed']} xpassed" if outcomes["xpassed"] else "")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line per server, then `interop: N servers ran of K, M cases: ...`."""
    if not _OUTCOMES:
        return
    total: Counter[str] = Counter()
    ran = 0
    terminalreporter.section("interop servers")
    for spec in SERVERS:
        outcomes = Counter(_OUTCOMES.get(spec.name, {}).values())
        if not outcomes:
            continue
        total += outcomes
        ran += outcomes.total() > outcomes["skipped"]
        why = "; ".join(
            sorted(
                reason.removeprefix("Skipped: ").removeprefix(f"{spec.label}: ")
                for reason in _SKIP_REASONS.get(spec.name, ())
            )
        )
        terminalreporter.write_line(
            f"interop: {spec.name} ({spec.label}): {outcomes.total()} cases: {_counts(outcomes)}"
            + (f" (skipped: {why})" if why else "")
        )
    terminalreporter.write_line(
        f"interop: {ran} servers ran of {len(_OUTCOMES)}, {total.total()} cases: {_counts(total)}"
    )
