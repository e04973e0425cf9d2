# ruff: noqa: E501
# fmt: off
# (An expectation comment must stay on the line it is about: no wrapping, no reformatting.)
"""Mistakes with ccg.metrics: the hooks take an `Event`; names are `str`, counts `int`."""

from prometheus_client import CollectorRegistry

from ccg import ApiClient, ClientCredentialsAuthCredentials
from ccg.core import FlightStarted, ProviderReturnedNone, TokenSource
from ccg.metrics import EventCounts, event_name, failure_name, prometheus_counters

credentials = ClientCredentialsAuthCredentials("id", "secret")
URL = "https://as.example/token"
started = FlightStarted(flight=1, source=TokenSource.ENDPOINT)
counts = EventCounts()

ApiClient(client_credentials_auth_credentials=credentials, token_url=URL, on_event=EventCounts)  # E: arg-type | reportArgumentType
ApiClient(client_credentials_auth_credentials=credentials, token_url=URL, on_event=prometheus_counters)  # E: arg-type | reportArgumentType
EventCounts(started)  # E: call-arg | reportCallIssue
counts("flight_started")  # E: arg-type | reportArgumentType
counts[started]  # E: index | reportArgumentType
seen: str = counts["flight_started"]  # E: assignment | reportAssignmentType
rates: dict[str, float] = counts.snapshot()  # E: assignment | reportAssignmentType
counts.snapshot()["flight_started"] = "1"  # E: assignment | reportArgumentType
event_name("flight_started")  # E: arg-type | reportArgumentType
event_name(ProviderReturnedNone())  # E: arg-type | reportArgumentType
failure_name(started)  # E: arg-type | reportArgumentType
tag: int = event_name(started)  # E: assignment | reportAssignmentType
prometheus_counters(CollectorRegistry())  # E: call-arg | reportCallIssue
prometheus_counters(registry="default")  # E: arg-type | reportArgumentType
prometheus_counters(namespace=None)  # E: arg-type | reportArgumentType
hook_result: int = prometheus_counters()(started)  # E: assignment | reportAssignmentType
