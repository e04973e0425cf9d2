# ruff: noqa: E501
# fmt: off
# (An expectation comment must stay on the line it is about: no wrapping, no reformatting.)
"""Misuse of the resilience features: `ResiliencePolicy` is a frozen, keyword-only value
given to a client that builds its own manager (a shared manager has its own); `on_event`
takes an `Event`, `spawn` a task; `token_rejected` needs the token the API rejected; and
the new answers, failures and events are part of closed unions."""

from typing import assert_never

from ccg import (
    ApiClient,
    ClientCredentialsAuthCredentials,
    ClientCredentialsAuthManager,
    OAuthToken,
    ResiliencePolicy,
    TokenAcquisitionError,
)
from ccg.core import (
    Answer,
    AwaitFlight,
    AwaitRetry,
    Event,
    Fail,
    FailureClass,
    FailureRecord,
    FlightSettled,
    FlightStarted,
    FlightSuperseded,
    Now,
    StaleOutcomeIgnored,
    TokenAdopted,
    TokenDropped,
    TokenNeeded,
    TokenRejected,
    TokenRequestSpec,
    UseToken,
    classify,
    retry_after,
    retry_delay,
)
from ccg.testing import FakeClock, FakeTransport

URL = "https://as.example/token"
credentials = ClientCredentialsAuthCredentials("id", "secret")
spec = TokenRequestSpec(token_url=URL, client_id="id", client_secret="secret")
token = OAuthToken(access_token="t1")


def takes_a_string(event: str) -> None:
    print(event)


def takes_nothing() -> None:
    print("event")


def runs_a_coroutine(task: int) -> None:
    print(task)


# -- ResiliencePolicy: frozen, keyword-only, typed fields ----------------------------------
policy = ResiliencePolicy()
policy.max_attempts = 5  # E: misc | reportAttributeAccessIssue
policy.cool_down += 30.0  # E: misc | reportAttributeAccessIssue
ResiliencePolicy(max_attempts="3")  # E: arg-type | reportArgumentType
ResiliencePolicy(breaker_threshold=2.5)  # E: arg-type | reportArgumentType
ResiliencePolicy(default_lifetime="1h")  # E: arg-type | reportArgumentType
ResiliencePolicy(0.25)  # E: call-arg | reportCallIssue
ResiliencePolicy(max_retries=3)  # E: call-arg | reportCallIssue
attempts: str = policy.max_attempts  # E: assignment | reportAssignmentType
lifetime: float = policy.default_lifetime  # E: assignment | reportAssignmentType

# -- the clients' options --------------------------------------------------------------
client = ApiClient(client_credentials_auth_credentials=credentials, token_url=URL)
ApiClient(auth_manager=client.auth_manager, resilience=ResiliencePolicy())  # E: call-overload | reportCallIssue
ApiClient(auth_manager=client.auth_manager, on_event=print)  # E: call-overload | reportCallIssue
ApiClient(auth_manager=client.auth_manager, spawn=print)  # E: call-overload | reportCallIssue
ApiClient(client_credentials_auth_credentials=credentials, token_url=URL, resilience={"max_attempts": 5})  # E: call-overload | reportArgumentType
ApiClient(client_credentials_auth_credentials=credentials, token_url=URL, on_event=takes_a_string)  # E: arg-type | reportArgumentType
ApiClient(client_credentials_auth_credentials=credentials, token_url=URL, on_event=takes_nothing)  # E: arg-type | reportArgumentType
ClientCredentialsAuthManager(spec, transport=FakeTransport(), resilience=None)  # E: arg-type | reportArgumentType
ClientCredentialsAuthManager(spec, transport=FakeTransport(), on_event=takes_a_string)  # E: arg-type | reportArgumentType
ClientCredentialsAuthManager(spec, transport=FakeTransport(), spawn=takes_nothing)  # E: arg-type | reportArgumentType
ClientCredentialsAuthManager(spec, transport=FakeTransport(), spawn=runs_a_coroutine)  # E: arg-type | reportArgumentType

# -- the manager's new calls -----------------------------------------------------------
manager = client.auth_manager
manager.token_rejected()  # E: call-arg | reportCallIssue
manager.token_rejected("t1")  # E: arg-type | reportArgumentType
manager.token_rejected(token, "HTTP 401")  # E: call-arg | reportCallIssue
replay: OAuthToken = manager.token_rejected(token)  # E: assignment | reportAssignmentType
manager.report("insufficient_scope")  # E: arg-type | reportArgumentType
manager.report([TokenDropped()])  # E: arg-type | reportArgumentType


def wait_of(error: TokenAcquisitionError) -> float:
    return error.retry_after  # E: return-value | reportReturnType


# -- the core's new values -------------------------------------------------------------
def next_flight(record: FailureRecord) -> int:
    return record.flight  # E: return-value | reportReturnType


TokenNeeded(attempts=None)  # E: arg-type | reportArgumentType
TokenNeeded(since="now")  # E: arg-type | reportArgumentType
TokenRejected(token=token)  # E: call-arg | reportCallIssue
TokenRejected(token="t1", reason="HTTP 401")  # E: arg-type | reportArgumentType
AwaitRetry()  # E: call-arg | reportCallIssue
kind: FailureClass = classify("server_error")  # E: arg-type | reportArgumentType
retry_delay(policy, 1, 0.5)  # E: call-arg | reportCallIssue
retry_after({"Retry-After": "5"}, 0.0)  # E: arg-type | reportArgumentType
delay: float = retry_after((), Now(monotonic=0.0, wall=0.0).wall)  # E: assignment | reportAssignmentType
FakeClock().sleep("1")  # E: arg-type | reportArgumentType
slept: list[int] = FakeClock().slept  # E: assignment | reportAssignmentType


def answer_before_v3(answer: Answer) -> OAuthToken:
    match answer:
        case UseToken(token=held):
            return held
        case AwaitFlight() | Fail():
            raise TimeoutError
        case _:
            assert_never(answer)  # E: arg-type | reportArgumentType


def event_before_v3(event: Event) -> str:
    match event:
        case FlightStarted() | FlightSettled() | FlightSuperseded() | StaleOutcomeIgnored():
            return "flight"
        case TokenAdopted() | TokenDropped():
            return "token"
        case _:
            assert_never(event)  # E: arg-type | reportArgumentType
