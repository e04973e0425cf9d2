"""`ccg.metrics`: the ready `on_event` hooks count what a client's token machine did."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from ccg import (
    ApiClient,
    ClientCredentialsAuthCredentials,
    OAuthProviderException,
    ResiliencePolicy,
)
from ccg.core import FlightStarted, TokenSource
from ccg.metrics import EventCounts, event_name, prometheus_counters
from ccg.testing import FakeClock, FakeTransport, error_reply, json_reply, run_inline, token_reply


def _client(transport: FakeTransport, hook: EventCounts | None = None) -> ApiClient:
    return ApiClient(
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials("id", "secret"),
        token_url="https://as.example/token",
        base_url="https://api.example",
        transport=transport,
        clock=FakeClock(),
        entropy=lambda: 0.5,
        spawn=run_inline,
        resilience=ResiliencePolicy(max_attempts=2),
        on_event=hook,
    )


def test_event_counts_count_fetches_failures_and_retries_but_not_cache_hits() -> None:
    counts = EventCounts()
    transport = FakeTransport(
        [error_reply("server_error", status=503), token_reply("t1"), *[json_reply(200, {})] * 5]
    )
    client = _client(transport, counts)
    for _ in range(5):
        assert client.get("/x").status == 200
    assert counts["flight_started"] == 2
    assert counts["flight_settled"] == 2
    assert counts["failure:error_response"] == 1
    assert counts["retry_scheduled"] == 1
    assert counts["token_adopted"] == 1
    assert counts["never_seen"] == 0
    assert sum(counts.snapshot().values()) == 7  # and nothing for the 4 cache hits


def test_event_names_are_the_tags() -> None:
    assert event_name(FlightStarted(flight=1, source=TokenSource.ENDPOINT)) == "flight_started"


def test_prometheus_counters_count_events_and_failures_by_kind() -> None:
    registry = CollectorRegistry()
    hook = prometheus_counters(registry=registry, namespace="svc")
    transport = FakeTransport([error_reply("invalid_client", status=401)])
    client = ApiClient(
        origins=["https://api.example"],
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials("id", "bad"),
        token_url="https://as.example/token",
        transport=transport,
        clock=FakeClock(),
        on_event=hook,
    )
    for _ in range(3):
        with pytest.raises(OAuthProviderException):
            client.get("https://api.example/x")

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert sample("svc_token_events_total", event="flight_started") == 1.0
    assert sample("svc_token_events_total", event="cool_down_started") == 1.0
    assert sample("svc_token_failures_total", failure="error_response") == 1.0
    assert len(transport.requests) == 1  # the two calls in the cool-down sent nothing
