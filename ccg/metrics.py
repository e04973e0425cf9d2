"""Token events as metrics, for `on_event=`: `EventCounts` (no dependency) and
`prometheus_counters` (needs `ccg[prometheus]`).

    counts = EventCounts()
    client = ApiClient(..., on_event=counts)
    ...
    counts["retry_scheduled"], counts.snapshot()

Events are named by their tag (`flight_started`, `flight_settled`, `retry_scheduled`,
`cool_down_started`, `breaker_opened`, `token_invalidated`, `update_callback_failed`,
...); a settled flight that failed also counts under `failure:<tag of the failure>`
(`failure:error_response`, `failure:transport`, ...). A cache hit is no event.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

from ccg.core import Event, FlightSettled, TokenFailure

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["EventCounts", "event_name", "failure_name", "prometheus_counters"]


def event_name(event: Event) -> str:
    """The event's tag, e.g. `retry_scheduled`."""
    return str(event.__struct_config__.tag)


def failure_name(failure: TokenFailure) -> str:
    """The failure's tag, e.g. `error_response` or `transport`."""
    return str(failure.__struct_config__.tag)


class EventCounts:
    """An `on_event` hook counting events by name; safe to share between clients and threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def __call__(self, event: Event) -> None:
        """Count `event` (and, for a failed flight, its failure)."""
        with self._lock:
            self._counts[event_name(event)] += 1
            if isinstance(event, FlightSettled) and event.failure is not None:
                self._counts[f"failure:{failure_name(event.failure)}"] += 1

    def __getitem__(self, name: str) -> int:
        """How many events named `name` were seen (0 if none)."""
        with self._lock:
            return self._counts[name]

    def snapshot(self) -> dict[str, int]:
        """Every count so far, by name."""
        with self._lock:
            return dict(self._counts)


def prometheus_counters(
    *, registry: CollectorRegistry | None = None, namespace: str = "ccg"
) -> Callable[[Event], None]:
    """An `on_event` hook that counts events as the Prometheus counters
    `<namespace>_token_events_total{event=...}` and
    `<namespace>_token_failures_total{failure=...}` (failed flights by failure).

    Register it once per registry (Prometheus refuses duplicate metric names) and share
    the hook between clients. Needs `pip install 'ccg[prometheus]'`.
    """
    from prometheus_client import REGISTRY, Counter  # noqa: PLC0415 - an optional extra

    target = REGISTRY if registry is None else registry
    events = Counter(
        "token_events",
        "Token events of ccg clients (fetches, renewals, retries, cool-downs, rejections).",
        ["event"],
        namespace=namespace,
        registry=target,
    )
    failures = Counter(
        "token_failures",
        "Token requests (or provider calls) that failed, by failure.",
        ["failure"],
        namespace=namespace,
        registry=target,
    )

    def hook(event: Event) -> None:
        events.labels(event=event_name(event)).inc()
        if isinstance(event, FlightSettled) and event.failure is not None:
            failures.labels(failure=failure_name(event.failure)).inc()

    return hook
