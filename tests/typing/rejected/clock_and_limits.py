# ruff: noqa: E501
# fmt: off
# (An expectation comment must stay on the line it is about: no wrapping, no reformatting.)
"""A clock is an object with `monotonic()` and `time()`, not a function; `Limits` are seconds."""

import time

from ccg import (
    TOKEN_REQUEST_LIMITS,
    ApiClient,
    ClientCredentialsAuthCredentials,
    ClientCredentialsAuthManager,
    Clock,
    Limits,
)
from ccg.core import TokenRequestSpec
from ccg.testing import FakeClock, FakeTransport


class WallClockOnly:
    def time(self) -> float:
        return time.time()


class TextClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> str:
        return time.ctime()


credentials = ClientCredentialsAuthCredentials("id", "secret")
URL = "https://as.example/token"
spec = TokenRequestSpec(token_url=URL, client_id="id", client_secret="secret")

as_function: Clock = time.monotonic  # E: assignment | reportAssignmentType
wall_only: Clock = WallClockOnly()  # E: assignment | reportAssignmentType
text_clock: Clock = TextClock()  # E: assignment | reportAssignmentType
ApiClient(client_credentials_auth_credentials=credentials, token_url=URL, clock=time.time)  # E: call-overload | reportArgumentType
ApiClient(client_credentials_auth_credentials=credentials, token_url=URL, clock=FakeClock)  # E: call-overload | reportArgumentType
ApiClient(client_credentials_auth_credentials=credentials, token_url=URL, clock=WallClockOnly())  # E: call-overload | reportArgumentType
ClientCredentialsAuthManager(spec, transport=FakeTransport(), clock=time.time)  # E: arg-type | reportArgumentType
ClientCredentialsAuthManager(spec)  # E: call-arg | reportCallIssue
ClientCredentialsAuthManager(spec, FakeTransport())  # E: call-arg | reportCallIssue
ClientCredentialsAuthManager(spec, transport=FakeTransport(), token_types="bearer")  # E: arg-type | reportArgumentType
ClientCredentialsAuthManager(spec, transport=FakeTransport(), limits={"total_timeout": 5})  # E: arg-type | reportArgumentType
ClientCredentialsAuthManager(URL, transport=FakeTransport())  # E: arg-type | reportArgumentType
ticks: int = FakeClock().monotonic()  # E: assignment | reportAssignmentType
FakeClock().jump("60")  # E: arg-type | reportArgumentType
FakeClock().set(None)  # E: arg-type | reportArgumentType
FakeClock(start="2024-01-01T00:00:00Z")  # E: arg-type | reportArgumentType

Limits(connect_timeout="5", read_timeout="15", total_timeout="30")  # E: arg-type | reportArgumentType
Limits(total_timeout=30.0)  # E: call-arg | reportCallIssue
Limits(5.0, 15.0, 30.0)  # E: call-arg | reportCallIssue
Limits(connect_timeout=5, read_timeout=15, total_timeout=30, max_body_bytes=1.5)  # E: arg-type | reportArgumentType
Limits(connect_timeout=5, read_timeout=15, total_timeout=30, max_bytes=1024)  # E: call-arg | reportCallIssue
TOKEN_REQUEST_LIMITS.total_timeout = 60.0  # E: misc | reportAttributeAccessIssue
body_limit: int = TOKEN_REQUEST_LIMITS.max_body_bytes  # E: assignment | reportAssignmentType
ApiClient(client_credentials_auth_credentials=credentials, token_url=URL, token_request_limits=30.0)  # E: call-overload | reportArgumentType
ApiClient(client_credentials_auth_credentials=credentials, token_url=URL, token_request_limits={"total_timeout": 30})  # E: call-overload | reportArgumentType
