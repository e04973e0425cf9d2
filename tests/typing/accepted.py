"""User code that must type-check cleanly under mypy --strict and pyright strict.

Every value a user of ccg touches is pinned with `typing.assert_type`, so a change that
widens a public type (to `Any`, to an Optional, to a bare `object`, ...) or narrows what
a callback may be fails the project's normal mypy and pyright runs, which include this
file. Importing it only defines things; `tests/typing/test_typing.py` also runs each
`use_*` function against the fakes (`assert_type` is a no-op at run time), so the code
here is not just well-typed but works.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import assert_never, assert_type

import pytest
import urllib3
from returns.result import Result, Success

import ccg
import ccg.interp
from ccg import (
    TOKEN_REQUEST_LIMITS,
    ApiClient,
    ApiTransportError,
    BearerPresenter,
    CcgError,
    ClientCredentialsAuthCredentials,
    ClientCredentialsAuthManager,
    ClientSecretBasic,
    ClientSecretPost,
    Clock,
    ConfigurationError,
    HttpReply,
    HttpRequest,
    InvalidTokenError,
    Limits,
    OAuth2,
    OAuthProviderError,
    OAuthProviderException,
    OAuthScopeEnum,
    OAuthToken,
    OnTokenUpdate,
    ReentrantTokenRequest,
    ResiliencePolicy,
    SystemClock,
    TokenAcquisitionError,
    TokenAcquisitionTimeout,
    TokenEndpointUnreachable,
    TokenFetchAbandoned,
    TokenPresenter,
    TokenProvider,
    TokenProviderError,
    TokenRejectedError,
    TokenResponseError,
    TokenUpdateCallbackError,
    Transport,
    TransportFailure,
    TransportFailureKind,
    Urllib3Transport,
)
from ccg.core import (
    BEARER,
    DEFAULT_CLOCK_SKEW,
    FLIGHT_GRACE,
    MAX_LIFETIME,
    MAX_TOKEN_RESPONSE_BYTES,
    Abandoned,
    Answer,
    AuthenticationFallback,
    AwaitFlight,
    AwaitRetry,
    BearerChallenge,
    BreakerOpened,
    CallTimedOut,
    CallTokenProvider,
    ClientAuthentication,
    Condition,
    CoolDownStarted,
    Decision,
    Effect,
    ErrorResponse,
    Event,
    Fail,
    FailureClass,
    FailureRecord,
    FetchToken,
    Flight,
    FlightAbandoned,
    FlightSettled,
    FlightStarted,
    FlightSuperseded,
    FlightTimedOut,
    Headers,
    Held,
    Input,
    InsufficientScope,
    InvalidToken,
    MalformedResponse,
    NotifyTokenUpdate,
    NoUsableToken,
    Now,
    Policy,
    ProviderRaised,
    ProviderReturnedExpired,
    ProviderReturnedNone,
    RejectedByApi,
    ReleaseWaiters,
    RetryScheduled,
    StaleOutcomeIgnored,
    StaleRejectionIgnored,
    TokenAdopted,
    TokenDropped,
    TokenExpiredOnArrival,
    TokenFailure,
    TokenInvalidated,
    TokenNeeded,
    TokenOrigin,
    TokenProvided,
    TokenProviderRaised,
    TokenRejected,
    TokenReplyReceived,
    TokenRequestFailed,
    TokenRequestSpec,
    TokenSet,
    TokenSource,
    TokenState,
    TokenUpdateNotified,
    TokenUpdateRaised,
    UpdateCallbackFailed,
    UpdateCallbackRaised,
    UseToken,
    accept_reply,
    accept_token,
    backoff_ceiling,
    bearer_challenge,
    build_token_request,
    classify,
    condition,
    current_token,
    decode_token_reply,
    effective_skew,
    epoch_of_http_date,
    header_problem,
    initial_state,
    not_before,
    placed,
    retry_after,
    retry_delay,
    reusable_until,
    step,
    token_problem,
    token_request,
    usable_until,
)
from ccg.interp import (
    SYSTEM_CLOCK,
    AsyncClientCredentialsAuthManager,
    AsyncOnTokenUpdate,
    AsyncTokenProvider,
    AsyncTransport,
    TokenCell,
)
from ccg.metrics import EventCounts, event_name, failure_name
from ccg.testing import (
    AsyncScripted,
    FakeAsyncTransport,
    FakeClock,
    FakeTransport,
    Scripted,
    error_reply,
    json_reply,
    run_inline,
    token_reply,
)

TOKEN_URL = "https://auth.example.com/oauth/token"
API = "https://api.example.com"

# -- the application's side of the seed snippets: a "database" for one token -------------

_database: dict[str, str] = {}


def save_token_to_database(o_auth_token: OAuthToken) -> None:
    _database["o_auth_token"] = json.dumps(o_auth_token.to_dictionary())


def load_token_from_database() -> OAuthToken | None:
    saved = _database.get("o_auth_token")
    return None if saved is None else OAuthToken.from_dictionary(json.loads(saved))


def _fakes(*script: Scripted) -> tuple[FakeTransport, FakeClock]:
    return FakeTransport(script), FakeClock()


# -- seed snippet 1: client initialisation; the calls a user makes -----------------------


def use_client_and_replies() -> None:
    transport, clock = _fakes(
        token_reply("t1", expires_in=3600, scope="read write"),
        json_reply(200, {"orders": []}),
        json_reply(201, {"sku": "A1"}, headers={"Location": "/v1/orders/1"}),
        HttpReply(status=204),
        HttpReply(status=200, body=b"hi"),
    )
    credentials = ClientCredentialsAuthCredentials(
        o_auth_client_id="OAuthClientId",
        o_auth_client_secret="OAuthClientSecret",
        o_auth_scopes=[OAuthScopeEnum.READ_SCOPE, OAuthScopeEnum.WRITE_SCOPE],
    )
    client = ApiClient(
        client_credentials_auth_credentials=credentials,
        token_url=TOKEN_URL,
        base_url=API,
        transport=transport,
        clock=clock,
    )
    # None when the client shares another client's manager (`auth_manager=`).
    assert_type(client.client_credentials_auth_credentials, ClientCredentialsAuthCredentials)
    assert client.client_credentials_auth_credentials is credentials
    assert_type(client.auth_manager, ClientCredentialsAuthManager)
    assert_type(client.auth_manager, OAuth2)  # the seed's name for the manager

    reply = client.get("/v1/orders")
    assert_type(reply, HttpReply)
    assert_type(reply.status, int)
    assert_type(reply.headers, tuple[tuple[str, str], ...])
    assert_type(reply.headers, Headers)
    assert_type(reply.body, bytes)
    assert_type(reply.text, str)
    assert_type(reply.json(), object)  # not Any: narrow it before use
    assert_type(reply.header("Content-Type"), str | None)
    body = reply.json()
    assert isinstance(body, dict)
    assert body == {"orders": []}

    created = client.post("/v1/orders", json={"sku": "A1"}, headers={"X-Request-Id": "1"})
    assert_type(created, HttpReply)
    assert created.header("Location") == "/v1/orders/1"
    assert_type(client.post("/v1/orders", body=b"raw"), HttpReply)
    public = client.request("GET", f"{API}/health", body="", requires_auth=False)
    assert_type(public, HttpReply)
    assert public.text == "hi"
    assert_type(client.close(), None)  # closes nothing here: the transport was passed in


def use_client_as_a_context_manager() -> None:
    # With no transport the client makes (and on exit closes) its own Urllib3Transport.
    with ApiClient(
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials("id", "secret"),
        token_url=TOKEN_URL,
        base_url=API,
    ) as client:
        assert_type(client, ApiClient)
    with ApiClient(
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials("id", "secret"),
        token_url="http://127.0.0.1:8080/token",  # loopback http is allowed
        transport=FakeTransport([token_reply("t1"), json_reply(200, {})]),
        clock=FakeClock(),
        origins=["http://10.0.0.1"],
        allow_insecure_http=True,
    ) as client:
        assert client.get("http://10.0.0.1/me").status == 200


# -- seed snippet 2: on-token-update callback --------------------------------------------


def use_on_token_update_callbacks() -> None:
    transport, clock = _fakes(token_reply("t1"), json_reply(200, {}))
    saved: list[OAuthToken] = []
    callbacks: list[OnTokenUpdate] = [
        # The seed's lambda: its parameter is inferred as OAuthToken.
        (lambda o_auth_token: save_token_to_database(o_auth_token)),  # noqa: PLW0108
        saved.append,  # a bound method returning None
        lambda token: len(token.access_token),  # any return value is ignored
    ]
    for callback in callbacks:
        ClientCredentialsAuthCredentials("id", "secret", o_auth_on_token_update=callback)
    client = ApiClient(
        origins=[API],
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials(
            o_auth_client_id="OAuthClientId",
            o_auth_client_secret="OAuthClientSecret",
            o_auth_scopes=[OAuthScopeEnum.READ_SCOPE, OAuthScopeEnum.WRITE_SCOPE],
            o_auth_on_token_update=(lambda o_auth_token: save_token_to_database(o_auth_token)),  # noqa: PLW0108
        ),
        token_url=TOKEN_URL,
        transport=transport,
        clock=clock,
    )
    assert client.get(f"{API}/me").status == 200
    assert load_token_from_database() == client.auth_manager.o_auth_token


# -- seed snippet 3: a token provider ----------------------------------------------------


def _o_auth_token_provider(last_oauth_token: OAuthToken | None, auth_manager: OAuth2) -> OAuthToken:
    assert_type(last_oauth_token, OAuthToken | None)
    o_auth_token = load_token_from_database()
    if o_auth_token is None:
        o_auth_token = auth_manager.fetch_token()
    return o_auth_token


def _provider_with_the_exact_type(
    last: OAuthToken | None, manager: ClientCredentialsAuthManager
) -> OAuthToken | None:
    return last if last is not None else manager.fetch_token({"audience": "api"})


def use_token_provider() -> None:
    _database.clear()
    transport, clock = _fakes(token_reply("t1"), json_reply(200, {}))
    providers: list[TokenProvider] = [
        _o_auth_token_provider,  # returns OAuthToken: narrower than allowed
        _provider_with_the_exact_type,
        lambda last, manager: last or manager.fetch_token(),
    ]
    assert len(providers) == 3
    credentials = ClientCredentialsAuthCredentials(
        o_auth_client_id="OAuthClientId",
        o_auth_client_secret="OAuthClientSecret",
        o_auth_scopes=[OAuthScopeEnum.READ_SCOPE, OAuthScopeEnum.WRITE_SCOPE],
        o_auth_token_provider=_o_auth_token_provider,
    )
    # Widened in 0.3.0: the credentials also serve AsyncApiClient, whose provider may be async.
    assert_type(credentials.o_auth_token_provider, TokenProvider | AsyncTokenProvider | None)
    client = ApiClient(
        origins=[API],
        client_credentials_auth_credentials=credentials,
        token_url=TOKEN_URL,
        transport=transport,
        clock=clock,
    )
    assert client.get(f"{API}/me").status == 200
    assert transport.requests[1].header("Authorization") == "Bearer t1"
    assert client.auth_manager.policy.source is TokenSource.PROVIDER


# -- every option of the credentials, and their getters ----------------------------------


def use_credentials_options() -> None:
    scopes: list[str] = ["read", "api:admin"]  # plain str scopes (a list[str] is accepted)
    params: dict[str, str] = {"audience": "api"}
    options: Mapping[str, str | Sequence[str]] = {"resource": ["a", "b"], **params}
    token = OAuthToken(access_token="t0", expires_in=3600)
    credentials = ClientCredentialsAuthCredentials(
        "id",
        "secret",
        scopes,
        token,
        None,
        None,
        30,  # int seconds are fine where a float is expected
        o_auth_client_authentication=ClientSecretBasic(form_encode=False),
        o_auth_token_request_params=options,
    )
    assert_type(credentials.o_auth_client_id, str)
    assert_type(credentials.o_auth_client_secret, str)
    assert_type(credentials.o_auth_scopes, list[str])
    assert_type(credentials.o_auth_token, OAuthToken | None)  # the getter
    credentials.o_auth_token = None  # the setter
    credentials.o_auth_token = token
    assert_type(credentials.o_auth_on_token_update, OnTokenUpdate | None)
    assert_type(credentials.o_auth_clock_skew, float)
    assert_type(credentials.o_auth_client_authentication, ClientAuthentication)
    assert_type(credentials.o_auth_token_request_params, dict[str, list[str]])
    assert_type(credentials.token_request(TOKEN_URL), TokenRequestSpec)
    authentication: ClientAuthentication = ClientSecretPost()
    ClientCredentialsAuthCredentials(
        o_auth_client_id="id",
        o_auth_client_secret="secret",
        o_auth_clock_skew=0.5,
        o_auth_client_authentication=authentication,
    )


# -- the auth manager --------------------------------------------------------------------


def use_auth_manager() -> None:
    transport, clock = _fakes(token_reply("t1"), token_reply("t2"), token_reply("t3"))
    client = ApiClient(
        origins=[API],
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials("id", "secret"),
        token_url=TOKEN_URL,
        transport=transport,
        clock=clock,
    )
    manager = client.auth_manager
    assert_type(manager.o_auth_token, OAuthToken | None)  # None before the first fetch
    assert_type(manager.token(), OAuthToken)
    assert_type(manager.authorization_header(), str)
    assert_type(manager.is_token_expired(), bool)
    assert_type(manager.is_token_expired(OAuthToken(access_token="x")), bool)
    fetched = manager.fetch_token({"resource": "https://api.example.com"})
    assert_type(fetched, OAuthToken)
    manager.o_auth_token = fetched
    assert_type(manager.set_token(None), None)
    token = client.auth_manager.token()
    assert_type(token.access_token, str)
    assert_type(token.token_type, str)
    assert_type(token.expires_in, int | None)
    assert_type(token.scope, str | None)
    assert_type(token.expiry, float | None)
    assert_type(token.refresh_token, str | None)
    saved = token.to_dictionary()
    assert_type(saved, dict[str, object])
    assert_type(OAuthToken.from_dictionary(saved), OAuthToken)

    # The machine's view: its fixed policy and its current (frozen) state.
    policy = manager.policy
    assert_type(policy, Policy)
    assert_type(policy.request, TokenRequestSpec)
    assert_type(policy.clock_skew, float)
    assert_type(policy.source, TokenSource)
    assert_type(policy.notify_updates, bool)
    assert_type(policy.limits, Limits)
    assert_type(policy.token_types, tuple[str, ...])
    assert policy.source is TokenSource.ENDPOINT
    assert policy.limits == TOKEN_REQUEST_LIMITS
    state = manager.state
    assert_type(state, TokenState)
    assert_type(state.held, Held | None)
    assert_type(state.flight, Flight | None)
    assert_type(state.failure, FailureRecord | None)
    assert_type(state.flights, int)
    assert state.held is not None
    assert state.held.token == token
    assert state.flight is None
    assert state.flights == 2  # fetch_token() is outside any flight


def use_auth_manager_built_by_hand() -> None:
    """A manager without an ApiClient, with every option, shared by two clients."""
    token_transport = FakeTransport([token_reply("t1", token_type="DPoP")])
    clock = FakeClock(1_700_000_000.0)
    updates: list[OAuthToken] = []
    spec = TokenRequestSpec(
        token_url=TOKEN_URL,
        client_id="id",
        client_secret="secret",
        scopes=("read", "write"),
        extra_params=(("audience", "api"),),
        authentication=ClientSecretPost(),
    )
    manager = ClientCredentialsAuthManager(
        spec,
        transport=token_transport,
        clock=clock,
        entropy=lambda: 0.5,
        clock_skew=10,
        token_provider=None,
        on_token_update=updates.append,
        token=None,
        limits=Limits(connect_timeout=1, read_timeout=2, total_timeout=3, max_body_bytes=4096),
        token_types=("Bearer", "DPoP"),
    )
    assert manager.policy.token_types == ("bearer", "dpop")
    assert manager.policy.notify_updates
    api = FakeTransport(handler=lambda request: json_reply(200, {"url": request.url}))
    first = ApiClient(auth_manager=manager, base_url=API, transport=api)
    second = ApiClient(origins=[API], auth_manager=first.auth_manager, transport=api)
    with pytest.raises(ConfigurationError):  # a sharing client has no credentials of its own
        assert_type(second.client_credentials_auth_credentials, ClientCredentialsAuthCredentials)
    assert second.auth_manager is first.auth_manager is manager
    assert first.get("/a").status == 200
    assert second.get(f"{API}/b").status == 200
    assert len(token_transport.requests) == 1  # one token for both clients
    assert [t.access_token for t in updates] == ["t1"]
    assert_type(token_transport.requests[0].limits, Limits | None)
    assert token_transport.requests[0].limits == manager.policy.limits
    # The defaults: the system clock and the default limits.
    default = ClientCredentialsAuthManager(spec, transport=FakeTransport())
    assert default.policy.limits is TOKEN_REQUEST_LIMITS
    assert default.policy.clock_skew == DEFAULT_CLOCK_SKEW


def use_resilience_options() -> None:
    """`resilience`, `on_event` and `spawn`: soft refresh, a 401 replayed once, a second
    401 in a row cooling down, and a 403 `insufficient_scope` reported."""
    events: list[Event] = []
    sinks: list[Callable[[Event], object]] = [events.append, _describe_event]
    spawns: list[Callable[[Callable[[], None]], object]] = [
        run_inline,
        lambda task: threading.Thread(target=task, daemon=True).start(),
    ]
    assert len(sinks) + len(spawns) == 4
    scope_challenge = {"WWW-Authenticate": 'Bearer error="insufficient_scope", scope="admin"'}
    transport, clock = _fakes(
        token_reply("t1", expires_in=3600),
        json_reply(200, {}),  # call 1, with t1
        token_reply("t2", expires_in=3600),  # call 2 renews t1 in its refresh window...
        json_reply(200, {}),  # ...and is sent with t1
        HttpReply(status=401),  # call 3, with t2: rejected
        token_reply("t3", expires_in=3600),
        json_reply(200, {}),  # call 3 replayed with t3
        HttpReply(status=401),  # call 4, with t3 (which worked): a first rejection again
        token_reply("t4", expires_in=3600),
        HttpReply(status=401),  # call 4 replayed with t4: rejected too, cool-down
        token_reply("t5", expires_in=3600),  # (call 5 fails at once; after the cool-down:)
        json_reply(403, {}, headers=scope_challenge),  # call 6, with t5
    )
    resilience = ResiliencePolicy(refresh_ratio=0.25, cool_down=30.0)
    client = ApiClient(
        origins=[API],
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials("id", "secret"),
        token_url=TOKEN_URL,
        transport=transport,
        clock=clock,
        resilience=resilience,
        on_event=events.append,
        spawn=run_inline,
    )
    assert client.auth_manager.policy.resilience is resilience
    assert client.get(f"{API}/1").status == 200
    clock.advance(2700)  # t1's refresh window opened at 2655 s (3540 s usable, last 25%)
    assert client.get(f"{API}/2").status == 200
    assert transport.requests[-1].header("Authorization") == "Bearer t1"
    assert client.auth_manager.o_auth_token is not None
    assert client.auth_manager.o_auth_token.access_token == "t2"  # renewed, inline
    assert client.get(f"{API}/3").status == 200
    assert transport.requests[-1].header("Authorization") == "Bearer t3"
    assert client.get(f"{API}/4").status == 401  # the replay's 401, returned as it is
    assert transport.requests[-1].header("Authorization") == "Bearer t4"
    with pytest.raises(TokenRejectedError) as cooling:
        client.get(f"{API}/5")
    assert isinstance(cooling.value, TokenAcquisitionError)
    assert_type(cooling.value.retry_after, float | None)
    assert cooling.value.retry_after == 30.0
    assert isinstance(cooling.value.failure, RejectedByApi)
    clock.advance(30)
    assert client.get(f"{API}/6").status == 403
    assert events[-1] == InsufficientScope(status=403, scope="admin")
    described = [_describe_event(e) for e in events]
    assert "renewal started 2 (endpoint)" in described
    assert described.count("invalidated: HTTP 401") == 3
    assert "cool down for 30.0 s: rejected: HTTP 401" in described


def use_auth_manager_resilience() -> None:
    """The manager's own resilience options, `token_rejected` and `report`."""
    events: list[Event] = []
    spawned: list[Callable[[], None]] = []
    clock = FakeClock()
    manager = ClientCredentialsAuthManager(
        TokenRequestSpec(token_url=TOKEN_URL, client_id="id", client_secret="s"),
        transport=FakeTransport([token_reply("t1", expires_in=None), token_reply("t2")]),
        clock=clock,
        resilience=ResiliencePolicy(max_attempts=1, default_lifetime=600.0),
        on_event=events.append,
        spawn=spawned.append,  # keeps renewals to run later (here: none is due)
    )
    assert_type(manager.policy.resilience, ResiliencePolicy)
    token = manager.token()
    held = manager.state.held
    assert held is not None
    assert held.expires_at == 600.0  # no expires_in: the default_lifetime
    assert_type(manager.bearer(), tuple[OAuthToken, str])
    replacement = manager.token_rejected(token, reason="HTTP 401 invalid_token")
    assert_type(replacement, OAuthToken | None)
    assert replacement is not None
    assert replacement.access_token == "t2"
    assert manager.token_rejected(token) == replacement  # t1 is no longer held: keep t2
    assert [_describe_event(e) for e in events[-1:]] == ["ignored: HTTP 401"]
    assert_type(manager.report(InsufficientScope(status=403, scope=None)), None)
    assert_type(manager.report(), None)
    assert events[-1] == InsufficientScope(status=403, scope=None)
    assert spawned == []


# -- errors ------------------------------------------------------------------------------


def use_errors() -> None:
    refused = TransportFailure(
        kind=TransportFailureKind.CONNECT, reason="ConnectionRefusedError: refused"
    )
    transport, clock = _fakes(
        error_reply("invalid_client", status=401, error_description="bad secret"),
        error_reply("slow_down"),
        refused,  # a transient failure: retried (max_attempts=3) after a backoff
        refused,
        refused,
    )
    client = ApiClient(
        origins=[API],
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials("id", "secret"),
        token_url=TOKEN_URL,
        transport=transport,
        clock=clock,
        entropy=lambda: 0.5,
    )
    for expected, status in ((OAuthProviderError.INVALID_CLIENT, 401), ("slow_down", 400)):
        with pytest.raises(OAuthProviderException) as provider_error:
            client.get(f"{API}/me")
        error = provider_error.value
        assert_type(error.error, OAuthProviderError | str)
        assert_type(error.error_description, str | None)
        assert_type(error.error_uri, str | None)
        assert_type(error.status, int)
        assert_type(error.failure, TokenFailure)
        assert_type(error.retry_after, float | None)
        assert error.error == expected
        assert error.status == status
        assert error.retry_after == ResiliencePolicy().cool_down  # not retried: cooled down
        assert isinstance(error.failure, ErrorResponse)
        if isinstance(error.error, OAuthProviderError):
            assert_type(error.error, OAuthProviderError)
        # Within the cool-down every call gets the same error at once, with no request.
        sent = len(transport.requests)
        with pytest.raises(OAuthProviderException) as again:
            client.get(f"{API}/me")
        assert again.value.error == expected
        assert len(transport.requests) == sent
        clock.advance(ResiliencePolicy().cool_down)
    with pytest.raises(TokenAcquisitionError) as acquisition_error:
        client.get(f"{API}/me")
    assert_type(acquisition_error.value.failure, TokenFailure)
    assert_type(acquisition_error.value.status, int | None)
    assert_type(acquisition_error.value.retry_after, float | None)
    assert acquisition_error.value.status is None  # no reply at all
    unreachable = acquisition_error.value
    assert isinstance(unreachable, TokenEndpointUnreachable)
    assert_type(unreachable.kind, TransportFailureKind | None)
    assert unreachable.kind is TransportFailureKind.CONNECT
    assert_type(clock.slept, list[float])
    assert clock.slept == [0.25, 0.5]  # the backoffs before the 2nd and 3rd request
    assert unreachable.retry_after == 1.0  # the third backoff, not waited for: no attempt left
    with pytest.raises(ConfigurationError) as configuration_error:
        ClientCredentialsAuthCredentials("id", "secret", o_auth_scopes=["no spaces"])
    assert_type(configuration_error.value.field, str)
    assert_type(configuration_error.value.problem, str)
    assert configuration_error.value.field == "o_auth_scopes"
    caught: tuple[type[CcgError], ...] = (
        ApiTransportError,
        InvalidTokenError,
        ReentrantTokenRequest,
        TokenAcquisitionTimeout,
        TokenFetchAbandoned,
        TokenProviderError,
        TokenResponseError,
        TokenUpdateCallbackError,
    )
    assert all(issubclass(kind, CcgError) for kind in caught)
    assert issubclass(ConfigurationError, ValueError)
    assert issubclass(InvalidTokenError, ConfigurationError)
    assert issubclass(ReentrantTokenRequest, RuntimeError)
    assert issubclass(TokenAcquisitionTimeout, TokenAcquisitionError)
    assert issubclass(TokenAcquisitionTimeout, TimeoutError)


def use_invalid_token_error() -> None:
    with pytest.raises(InvalidTokenError) as caught:
        ClientCredentialsAuthCredentials(
            "id", "secret", o_auth_token=OAuthToken(access_token="has a space")
        )
    error = caught.value
    assert_type(error.failure, InvalidToken)
    assert_type(error.failure.origin, TokenOrigin)
    assert_type(error.failure.reason, str)
    assert_type(error.field, str)
    assert error.failure.origin is TokenOrigin.INITIAL
    assert error.field == "o_auth_token"
    client = ApiClient(
        origins=[API],
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials("id", "secret"),
        token_url=TOKEN_URL,
        transport=FakeTransport(),
        clock=FakeClock(),
    )
    with pytest.raises(ConfigurationError) as by_hand:  # an InvalidTokenError is one
        client.auth_manager.o_auth_token = OAuthToken(access_token="")
    assert isinstance(by_hand.value, InvalidTokenError)
    assert by_hand.value.failure.origin is TokenOrigin.SETTER


def use_token_response_errors_and_limits() -> None:
    tiny = Limits(connect_timeout=1.0, read_timeout=1.0, total_timeout=2.0, max_body_bytes=10)
    client = ApiClient(
        origins=[API],
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials("id", "secret"),
        token_url=TOKEN_URL,
        transport=FakeTransport([token_reply("a-token-longer-than-ten-bytes")]),
        clock=FakeClock(),
        token_request_limits=tiny,
    )
    with pytest.raises(TokenResponseError) as too_large:
        client.auth_manager.token()
    failure = too_large.value.failure
    assert isinstance(failure, TransportFailure)
    assert_type(failure, TransportFailure)  # a TransportFailure is also a TokenFailure
    assert failure.kind is TransportFailureKind.TOO_LARGE


def use_reentrant_token_request() -> None:
    refused: list[ReentrantTokenRequest] = []

    def provider(last: OAuthToken | None, manager: ClientCredentialsAuthManager) -> OAuthToken:
        # Asking for the token this very provider is fetching would wait for itself.
        with pytest.raises(ReentrantTokenRequest) as caught:
            manager.token()
        refused.append(caught.value)
        return manager.fetch_token()

    client = ApiClient(
        origins=[API],
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials(
            "id", "secret", o_auth_token_provider=provider
        ),
        token_url=TOKEN_URL,
        transport=FakeTransport([token_reply("t1")]),
        clock=FakeClock(),
    )
    assert client.auth_manager.token().access_token == "t1"
    assert len(refused) == 1


def use_token_fetch_abandoned() -> None:
    # Nothing scripted: the fake transport raises, which abandons the fetch.
    client = ApiClient(
        origins=[API],
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials("id", "secret"),
        token_url=TOKEN_URL,
        transport=FakeTransport(),
        clock=FakeClock(),
    )
    with pytest.raises(TokenFetchAbandoned) as caught:
        client.get(f"{API}/me")
    assert_type(caught.value.failure, TokenFailure)
    assert isinstance(caught.value.failure, Abandoned)
    assert isinstance(caught.value.__cause__, AssertionError)


class TickingClock:
    """A user's own `Clock`: every `monotonic()` read lets `tick` seconds pass."""

    def __init__(self, tick: float) -> None:
        self._tick = tick
        self._now = 0.0
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            self._now += self._tick
            return self._now

    def time(self) -> float:
        return 1_700_000_000.0 + self._now


def use_token_acquisition_timeout() -> None:
    """A caller waiting for another thread's fetch gives up at the flight's deadline.

    With `max_attempts=1` the flight given up is not retried for the calls that went
    through it; the next call starts a new one.
    """
    started, release = threading.Event(), threading.Event()
    calls: list[OAuthToken | None] = []

    def slow_provider(last: OAuthToken | None, manager: OAuth2) -> OAuthToken:
        calls.append(last)
        if len(calls) == 1:
            started.set()
            release.wait(5)
        return OAuthToken(access_token=f"t{len(calls)}", expires_in=3600)

    # The waiter waits (in real time) until the flight's deadline as its clock says then,
    # total_timeout + FLIGHT_GRACE after the flight began; meanwhile its clock is moved past
    # that deadline, so when it asks again it gives up.
    clock = FakeClock()
    client = ApiClient(
        origins=[API],
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials(
            "id", "secret", o_auth_token_provider=slow_provider
        ),
        token_url=TOKEN_URL,
        transport=FakeTransport(),
        clock=clock,
        token_request_limits=Limits(connect_timeout=0.1, read_timeout=0.1, total_timeout=0.1),
        resilience=ResiliencePolicy(max_attempts=1),
    )
    owner_got: list[OAuthToken | TokenAcquisitionError] = []

    def run_the_flight() -> None:
        try:
            owner_got.append(client.auth_manager.token())
        except TokenAcquisitionError as exc:
            owner_got.append(exc)

    owner = threading.Thread(target=run_the_flight)
    owner.start()
    try:
        assert started.wait(5)
        waiter_got: list[BaseException] = []

        def wait_for_the_token() -> None:
            try:
                client.auth_manager.token()
            except TimeoutError as exc:  # also a TokenAcquisitionError
                waiter_got.append(exc)

        waiter = threading.Thread(target=wait_for_the_token)
        waiter.start()
        time.sleep(0.2)  # the waiter is waiting for the flight...
        clock.advance(10)  # ...which its clock now says is overdue
        waiter.join(10)
    finally:
        release.set()
        owner.join(5)
    assert len(waiter_got) == 1
    timeout = waiter_got[0]
    assert isinstance(timeout, TokenAcquisitionTimeout)
    assert_type(timeout.failure, TokenFailure)
    assert isinstance(timeout.failure, FlightTimedOut)
    assert_type(timeout.failure.seconds, float)
    assert timeout.failure.seconds > FLIGHT_GRACE
    assert_type(timeout.retry_after, float | None)
    # The owner's late token was ignored, and its call, through that one flight, failed too.
    assert len(owner_got) == 1
    assert isinstance(owner_got[0], TokenAcquisitionTimeout)
    assert client.auth_manager.token().access_token == "t2"  # a new flight, a new call


# -- transports: the fakes, urllib3 and a user's own -------------------------------------


class LoggingTransport:
    """A user's transport: anything with this `send` is a `Transport`."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.urls: list[str] = []

    def send(self, request: HttpRequest, /) -> Result[HttpReply, TransportFailure]:
        self.urls.append(request.url)
        return self.inner.send(request)


def use_transports() -> None:
    fake = FakeTransport(
        [token_reply("t1")],
        handler=lambda request: json_reply(200, {"url": request.url}),
    )
    fake.add(
        json_reply(200, {}),
        TransportFailure(kind=TransportFailureKind.TIMEOUT, reason="timeout"),
    )
    transport: Transport = LoggingTransport(fake)
    client = ApiClient(
        origins=[API],
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials("id", "secret"),
        token_url=TOKEN_URL,
        transport=transport,
        clock=FakeClock(),
    )
    assert client.get(f"{API}/a").status == 200
    with pytest.raises(ApiTransportError):
        client.get(f"{API}/b")
    sent = fake.send(HttpRequest(method="GET", url=f"{API}/c"))
    assert_type(sent, Result[HttpReply, TransportFailure])
    assert isinstance(sent, Success)
    assert_type(fake.requests, list[HttpRequest])
    assert_type(fake.requests_to(TOKEN_URL), list[HttpRequest])
    request = fake.requests[0]
    assert_type(request.method, str)
    assert_type(request.url, str)
    assert_type(request.headers, tuple[tuple[str, str], ...])
    assert_type(request.body, bytes)
    assert_type(request.limits, Limits | None)
    assert_type(request.header("Authorization"), str | None)
    assert_type(token_reply("t", expires_in=None, token_type="bearer", scope="read"), HttpReply)
    assert_type(json_reply(500, ["x"]), HttpReply)
    assert_type(error_reply("invalid_scope", status=400), HttpReply)
    failure = TransportFailure(kind=TransportFailureKind.TLS, reason="bad certificate")
    assert_type(failure.kind, TransportFailureKind)
    assert_type(failure.reason, str)
    real = Urllib3Transport(connect_timeout=1.0, read_timeout=5.0, maxsize=2)
    urllib3_transport: Transport = real
    assert urllib3_transport is real
    real.close()
    with urllib3.PoolManager() as pool:
        assert isinstance(Urllib3Transport(pool_manager=pool), Urllib3Transport)
    assert_type(ccg.__version__, str)


def use_token_transport() -> None:
    """Token requests through one transport (an mTLS pool, say), API calls through another."""
    tokens = FakeTransport([token_reply("t1")])
    api = FakeTransport([json_reply(200, {}), json_reply(200, {})])
    client = ApiClient(
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials("id", "secret"),
        token_url=TOKEN_URL,
        base_url=API,
        transport=api,
        token_transport=tokens,
        clock=FakeClock(),
    )
    assert client.get("/a").status == 200
    assert client.get("/b").status == 200
    assert [r.url for r in tokens.requests] == [TOKEN_URL]
    assert [r.url for r in api.requests] == [f"{API}/a", f"{API}/b"]


# -- clocks ------------------------------------------------------------------------------


def use_clocks() -> None:
    fake = FakeClock(1_700_000_000)
    assert_type(fake.monotonic(), float)
    assert_type(fake.time(), float)
    assert_type(fake(), float)
    assert_type(fake.advance(30), None)
    assert_type(fake.jump(-3600), None)
    assert_type(fake.set(1_700_000_000.5), None)
    assert (fake.monotonic(), fake()) == (30.0, 1_700_000_000.5)
    assert_type(fake.sleep(2.5), None)  # a backoff's wait: it passes at once
    assert_type(fake.slept, list[float])
    assert (fake.monotonic(), fake.slept) == (32.5, [2.5])
    assert_type(SystemClock().sleep(0), None)
    clocks: list[Clock] = [fake, SystemClock(), SYSTEM_CLOCK, ccg.interp.SYSTEM_CLOCK]
    clocks.append(TickingClock(tick=1.0))
    for clock in clocks:
        assert_type(clock.monotonic(), float)
        assert_type(clock.time(), float)
    assert_type(SYSTEM_CLOCK, SystemClock)
    assert_type(SystemClock().monotonic(), float)
    assert_type(SystemClock().time(), float)
    assert abs(SYSTEM_CLOCK.time() - time.time()) < 60
    # The wall clock jumping back does not make a held token expire early, or late.
    transport = FakeTransport([token_reply("t1", expires_in=3600), token_reply("t2")])
    client = ApiClient(
        origins=[API],
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials("id", "secret"),
        token_url=TOKEN_URL,
        transport=transport,
        clock=fake,
        entropy=random.random,
    )
    assert client.auth_manager.token().access_token == "t1"
    fake.jump(-86_400)
    assert client.auth_manager.token().access_token == "t1"
    fake.advance(3600)
    assert client.auth_manager.token().access_token == "t2"


# -- presenters --------------------------------------------------------------------------


class RequestBoundPresenter:
    """A user's presenter: a header per request (as a proof-of-possession scheme makes)."""

    def __init__(self) -> None:
        self.presented: list[tuple[str, str]] = []

    def authorization(self, token: OAuthToken, method: str, url: str) -> str:
        self.presented.append((method, url))
        return f"{token.token_type} {token.access_token}"


def use_presenters() -> None:
    bearer = BearerPresenter()
    presenters: list[TokenPresenter] = [bearer, RequestBoundPresenter()]
    token = OAuthToken(access_token="t1", token_type="DPoP")
    for each in presenters:
        assert_type(each.authorization(token, "GET", f"{API}/me"), str)
    assert bearer.authorization(token, "GET", f"{API}/me") == "Bearer t1"
    presenter = RequestBoundPresenter()
    transport = FakeTransport([token_reply("t2", token_type="DPoP")])
    client = ApiClient(
        origins=[API],
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials("id", "secret"),
        token_url=TOKEN_URL,
        transport=transport,
        clock=FakeClock(),
        presenter=presenter,
    )
    with pytest.raises(TokenResponseError):  # only bearer tokens are accepted by default
        client.get(f"{API}/me")
    assert presenter.presented == []  # nothing was sent
    manager = ClientCredentialsAuthManager(
        ClientCredentialsAuthCredentials("id", "secret").token_request(TOKEN_URL),
        transport=transport,
        token_types=("dpop",),
    )
    transport.add(token_reply("t3", token_type="DPoP"), json_reply(200, {}))
    client = ApiClient(
        origins=[API], auth_manager=manager, transport=transport, presenter=presenter
    )
    assert client.get(f"{API}/me", headers={"authorization": "replaced"}).status == 200
    assert transport.requests[-1].header("Authorization") == "DPoP t3"
    assert presenter.presented == [("GET", f"{API}/me")]


# -- the functional core: driving the state machine by hand ------------------------------


def _describe_failure(failure: TokenFailure) -> str:
    """Every `TokenFailure`, with each variant's fields (a closed union)."""
    match failure:
        case ErrorResponse(status=status, error=error, error_description=description):
            assert_type(failure.error_uri, str | None)
            assert_type(failure.headers, Headers)
            return f"{status} {error} {description}"
        case MalformedResponse(status=status, reason=reason, headers=headers):
            return f"{status} {reason} {len(headers)}"
        case TransportFailure(kind=kind, reason=reason):
            assert_type(kind, TransportFailureKind)
            return f"{kind}: {reason}"
        case TokenExpiredOnArrival(expires_in=expires_in):
            assert_type(expires_in, int | None)
            return f"expired on arrival {expires_in}"
        case ProviderRaised(reason=reason) | UpdateCallbackRaised(reason=reason):
            return reason
        case Abandoned(reason=reason):
            return reason
        case ProviderReturnedNone():
            return "None"
        case ProviderReturnedExpired(expiry=expiry):
            assert_type(expiry, float | None)
            return f"expired {expiry}"
        case InvalidToken(origin=origin, reason=reason):
            return f"{origin}: {reason}"
        case FlightTimedOut(seconds=seconds):
            return f"{seconds} s"
        case NoUsableToken(attempts=attempts):
            assert_type(attempts, int)
            return f"{attempts} attempts"
        case CallTimedOut(seconds=seconds):
            assert_type(seconds, float)
            return f"call timed out after {seconds} s"
        case RejectedByApi(reason=reason):
            assert_type(reason, str)
            return f"rejected: {reason}"
        case _:
            assert_never(failure)


def _describe_event(event: Event) -> str:
    """Every `Event` (a closed union)."""
    match event:
        case FlightStarted(flight=flight, source=source, renewal=renewal):
            assert_type(source, TokenSource)
            assert_type(renewal, bool)
            return f"{'renewal ' if renewal else ''}started {flight} ({source})"
        case FlightSettled(flight=flight, failure=failure, renewal=renewal):
            assert_type(failure, TokenFailure | None)
            assert_type(renewal, bool)
            return f"settled {flight}: {'ok' if failure is None else _describe_failure(failure)}"
        case RetryScheduled(delay=delay, streak=streak, retry_after=asked):
            assert_type(delay, float)
            assert_type(streak, int)
            assert_type(asked, float | None)
            return f"retry in {delay} s ({streak} in a row)"
        case BreakerOpened(seconds=seconds, streak=streak):
            assert_type(seconds, float)
            assert_type(streak, int)
            return f"breaker open for {seconds} s ({streak} in a row)"
        case CoolDownStarted(seconds=seconds, failure=failure):
            assert_type(seconds, float)
            assert_type(failure, TokenFailure)
            return f"cool down for {seconds} s: {_describe_failure(failure)}"
        case FlightSuperseded(flight=flight) | StaleOutcomeIgnored(flight=flight):
            assert_type(flight, int)
            return f"let go {flight}"
        case TokenAdopted(origin=origin, expires_at=expires_at, refresh_at=refresh_at):
            assert_type(origin, TokenOrigin)
            assert_type(expires_at, float)
            assert_type(refresh_at, float)
            return f"adopted from {origin}"
        case TokenDropped():
            return "dropped"
        case TokenInvalidated(reason=reason):
            assert_type(reason, str)
            return f"invalidated: {reason}"
        case StaleRejectionIgnored(reason=reason) | UpdateCallbackFailed(reason=reason):
            assert_type(reason, str)
            return f"ignored: {reason}"
        case InsufficientScope(status=status, scope=scope):
            assert_type(status, int)
            assert_type(scope, str | None)
            return f"{status} insufficient_scope {scope}"
        case AuthenticationFallback(refused=refused, trying=trying):
            assert_type(refused, str)
            assert_type(trying, str)
            return f"{refused} refused; trying {trying}"
        case _:
            assert_never(event)


def _describe_answer(answer: Answer | None) -> str:
    """Every `Answer` (a closed union), or none: the caller runs the work, then asks again."""
    match answer:
        case UseToken(token=token):
            return f"use {token.token_type}"
        case AwaitFlight(flight=flight, until=until):
            assert_type(flight, int)
            assert_type(until, float)
            return f"await flight {flight} until {until}"
        case AwaitRetry(until=until):
            assert_type(until, float)
            return f"await retry until {until}"
        case Fail(failure=failure, flight=flight, retry_after=wait):
            assert_type(flight, int | None)
            assert_type(wait, float | None)
            return f"fail: {_describe_failure(failure)} (retry after {wait})"
        case None:
            return "ask again"
        case _:
            assert_never(answer)


def _run_work(
    policy: Policy, decision: Decision, transport: Transport, clock: FakeClock
) -> Decision:
    """A minimal shell: run each piece of work, step what it produced, until none is left."""
    while True:
        produced: Input | None = None
        for effect in decision.work:
            match effect:
                case FetchToken(flight=flight, request=request):
                    assert_type(request, HttpRequest)
                    sent = transport.send(request)
                    produced = (
                        TokenReplyReceived(flight=flight, reply=sent.unwrap())
                        if isinstance(sent, Success)
                        else TokenRequestFailed(flight=flight, failure=sent.failure())
                    )
                case CallTokenProvider(flight=flight, last=last):
                    assert_type(last, OAuthToken | None)
                    produced = TokenProvided(flight=flight, token=last)
                case NotifyTokenUpdate(token=token):
                    produced = TokenUpdateNotified(token=token)
                case ReleaseWaiters(flight=flight):
                    assert_type(flight, int)
                case _:
                    assert_never(effect)
        if produced is None:
            return decision
        now = Now(monotonic=clock.monotonic(), wall=clock.time())
        decision = step(policy, decision.state, produced, now)


def use_core_machine() -> None:
    clock = FakeClock(1_700_000_000.0)
    spec = TokenRequestSpec(token_url=TOKEN_URL, client_id="id", client_secret="secret")
    policy = Policy(
        request=spec,
        clock_skew=30,
        source=TokenSource.ENDPOINT,
        notify_updates=True,
        limits=TOKEN_REQUEST_LIMITS,
        token_types=BEARER,
        resilience=ResiliencePolicy(refresh_ratio=0.5),
    )
    assert_type(policy.resilience, ResiliencePolicy)
    now = Now(monotonic=clock.monotonic(), wall=clock.time(), entropy=0.25)
    assert_type(now.monotonic, float)
    assert_type(now.wall, float)
    assert_type(now.entropy, float)
    assert Now(monotonic=0, wall=0).entropy == 0.0
    started = initial_state(policy, None, now)
    assert_type(started, Result[TokenState, TokenFailure])
    state = started.unwrap()
    assert state == TokenState()
    assert_type(state.streak, int)
    assert_type(state.rejected_at, float)
    assert_type(condition(policy, state, now), Condition)
    assert condition(policy, state, now) is Condition.EMPTY
    assert_type(current_token(state), OAuthToken | None)
    assert_type(reusable_until(policy, state), float)
    assert_type(usable_until(state.held), float)
    assert_type(not_before(state), float)
    assert not_before(state) == usable_until(state.held) == float("-inf")

    decision = step(policy, state, TokenNeeded(), now)
    assert_type(decision, Decision)
    assert_type(decision.state, TokenState)
    assert_type(decision.answer, Answer | None)
    assert_type(decision.answer, UseToken | AwaitFlight | AwaitRetry | Fail | None)
    assert_type(decision.work, tuple[Effect, ...])
    assert_type(decision.events, tuple[Event, ...])
    assert decision.answer is None  # this caller runs the flight
    flight = decision.state.flight
    assert flight is not None
    assert_type(flight.id, int)
    assert_type(flight.source, TokenSource)
    assert_type(flight.started, float)
    assert_type(flight.deadline, float)
    assert [_describe_event(e) for e in decision.events] == ["started 1 (endpoint)"]

    # Another caller meanwhile is told to wait for flight 1.
    waiting = step(policy, decision.state, TokenNeeded(), now)
    match waiting.answer:
        case AwaitFlight(flight=number, until=until):
            assert_type(number, int)
            assert_type(until, float)
            assert (number, until) == (flight.id, flight.deadline)
        case UseToken() | AwaitRetry() | Fail() | None:
            raise AssertionError(waiting.answer)

    transport = FakeTransport([token_reply("t1", expires_in=3600)])
    settled = _run_work(policy, decision, transport, clock)
    match settled.answer:
        case UseToken(token=token):
            assert_type(token, OAuthToken)
            assert token.access_token == "t1"
        case AwaitFlight() | AwaitRetry() | Fail() | None:
            raise AssertionError(settled.answer)
    held = settled.state.held
    assert held is not None
    assert_type(held.token, OAuthToken)
    assert_type(held.expires_at, float)
    assert_type(held.fresh_until, float)
    assert_type(held.refresh_at, float)
    assert held.refresh_at <= held.fresh_until <= held.expires_at
    assert condition(policy, settled.state, now) is Condition.FRESH
    late = Now(monotonic=held.refresh_at, wall=now.wall + held.refresh_at - now.monotonic)
    assert condition(policy, settled.state, late) is Condition.EXPIRING
    # In the refresh window the held token is handed out *and* one renewal is started.
    renewing = step(policy, settled.state, TokenNeeded(), late)
    assert isinstance(renewing.answer, UseToken)
    assert isinstance(renewing.work[0], FetchToken)
    assert [_describe_event(e) for e in renewing.events] == ["renewal started 2 (endpoint)"]

    # A token set by hand is checked like every other: `TokenSet.token` is any object.
    assert_type(TokenSet(token="not a token").token, object)
    refused = step(policy, settled.state, TokenSet(token="not a token"), now)
    match refused.answer:
        case Fail(failure=failure, flight=failed_flight):
            assert_type(failure, TokenFailure)
            assert_type(failed_flight, int | None)
            assert isinstance(failure, InvalidToken)
            assert failure.origin is TokenOrigin.SETTER
        case UseToken() | AwaitFlight() | AwaitRetry() | None:
            raise AssertionError(refused.answer)
    dropped = step(policy, settled.state, TokenSet(token=None), now)
    assert [_describe_event(e) for e in dropped.events] == ["dropped"]
    assert current_token(dropped.state) is None


def use_core_flight_timeout_and_stale_outcomes() -> None:
    policy = Policy(
        request=TokenRequestSpec(token_url=TOKEN_URL, client_id="id", client_secret="s"),
        source=TokenSource.PROVIDER,
        resilience=ResiliencePolicy(max_attempts=1),  # a flight given up is not retried
    )
    start = Now(monotonic=100.0, wall=1_700_000_000.0)
    first = step(policy, TokenState(), TokenNeeded(), start)
    assert isinstance(first.work[0], CallTokenProvider)
    flight = first.state.flight
    assert flight is not None
    late = Now(monotonic=flight.deadline, wall=start.wall + flight.deadline - start.monotonic)
    asked_again = TokenNeeded(waited_for=flight.id, attempts=1, since=start.monotonic)
    assert_type(asked_again.waited_for, int | None)
    assert_type(asked_again.attempts, int)
    assert_type(asked_again.since, float | None)
    given_up = step(policy, first.state, asked_again, late)
    match given_up.answer:
        case Fail(failure=FlightTimedOut(seconds=seconds), flight=failed):
            assert seconds == policy.limits.total_timeout + FLIGHT_GRACE
            assert failed == flight.id
        case _:
            raise AssertionError(given_up.answer)
    record = given_up.state.failure
    assert record is not None
    assert_type(record.flight, int | None)  # None: a cool-down after a token was rejected
    assert_type(record.failure, TokenFailure)
    assert_type(record.at, float)
    assert_type(record.retry_at, float)
    assert record.flight == flight.id
    assert record.retry_at == record.at  # entropy 0.0: no backoff
    assert given_up.state.streak == 1  # FlightTimedOut is transient
    # The given-up flight's outcome arrives late, and changes nothing.
    token = OAuthToken(access_token="t1", expires_in=3600)
    outcomes: list[Input] = [
        TokenProvided(flight=flight.id, token=token),
        TokenProviderRaised(flight=flight.id, reason="RuntimeError: boom"),
        FlightAbandoned(flight=flight.id, reason="KeyboardInterrupt: "),
        TokenReplyReceived(flight=flight.id, reply=token_reply("t1")),
        TokenRequestFailed(
            flight=flight.id,
            failure=TransportFailure(kind=TransportFailureKind.OTHER, reason="?"),
        ),
    ]
    for outcome in outcomes:
        ignored = step(policy, given_up.state, outcome, late)
        assert ignored.state == given_up.state
        assert [_describe_event(e) for e in ignored.events] == [f"let go {flight.id}"]
    assert_type(TokenProvided(flight=1, token=None).token, object)  # unchecked until stepped
    notified = step(policy, given_up.state, TokenUpdateNotified(token=token), late)
    assert notified.answer is None  # not the token held: ask again
    raised = step(policy, given_up.state, TokenUpdateRaised(token=token, reason="E: x"), late)
    assert isinstance(raised.answer, Fail)
    assert _describe_failure(raised.answer.failure) == "E: x"
    assert [_describe_event(e) for e in raised.events] == ["ignored: E: x"]


def use_core_values_and_rules() -> None:
    now = Now(monotonic=0.0, wall=1_700_000_000.0)
    policy = Policy(
        request=TokenRequestSpec(token_url=TOKEN_URL, client_id="id", client_secret="s")
    )
    request = token_request(policy, (("resource", "r"),))
    assert_type(request, HttpRequest)
    assert request.limits == policy.limits
    built = build_token_request(policy.request, extra_params=(), limits=None)
    assert_type(built, HttpRequest)
    assert built.limits is None
    decoded = decode_token_reply(token_reply("t1"), token_types=BEARER, max_body_bytes=None)
    assert_type(decoded, Result[OAuthToken, TokenFailure])
    reply = accept_reply(policy, token_reply("t1", expires_in=600), 0.0, now)
    assert_type(reply, Result[Held, TokenFailure])
    accepted = accept_token(policy, OAuthToken(access_token="t"), TokenOrigin.PROVIDER, now)
    assert_type(accepted, Result[Held, TokenFailure])
    assert accepted.unwrap().expires_at == float("inf")  # no lifetime, no default_lifetime
    provided = accept_token(
        policy, OAuthToken(access_token="t", expires_in=600), TokenOrigin.PROVIDER, now, since=-5
    )
    assert_type(provided, Result[Held, TokenFailure])
    assert provided.unwrap().expires_at == 595.0  # counted from when the provider was asked
    assert_type(OAuthToken(access_token="t", refresh_in=300).refresh_in, int | None)
    held = placed(policy, OAuthToken(access_token="t"), 600.0, 600.0, now, arriving=True)
    assert_type(held, Held)
    assert (held.fresh_until, held.refresh_at) == (540.0, 405.0)  # skew 60, ratio 0.25
    assert_type(token_problem("not a token"), str | None)
    assert_type(header_problem("access_token", "t"), str | None)
    assert_type(effective_skew(OAuthToken(access_token="t", expires_in=30), 60), float)
    types: tuple[str, ...] = BEARER
    skew: float = DEFAULT_CLOCK_SKEW
    grace: float = FLIGHT_GRACE
    longest: int = MAX_LIFETIME
    largest: int = MAX_TOKEN_RESPONSE_BYTES
    assert (types, skew, grace, longest > 0, largest) == (("bearer",), 60.0, 2.0, True, 1 << 20)
    limits = TOKEN_REQUEST_LIMITS
    assert_type(limits, Limits)
    assert_type(limits.connect_timeout, float)
    assert_type(limits.read_timeout, float)
    assert_type(limits.total_timeout, float)
    assert_type(limits.max_body_bytes, int | None)
    no_limit = Limits(connect_timeout=1, read_timeout=1, total_timeout=1)
    assert no_limit.max_body_bytes is None
    failures: list[TokenFailure] = [
        TransportFailure(kind=TransportFailureKind.PROTOCOL, reason="cut off"),
        ErrorResponse(status=400, error=OAuthProviderError.INVALID_SCOPE),
        NoUsableToken(attempts=6),
        ProviderReturnedNone(),
    ]
    assert _describe_failure(failures[0]) == "protocol: cut off"
    answers: list[Answer] = [
        UseToken(token=OAuthToken(access_token="t")),
        AwaitFlight(flight=1, until=32.0),
        Fail(failure=failures[1], flight=1),
    ]
    effects: list[Effect] = [
        FetchToken(flight=1, request=request),
        CallTokenProvider(flight=2, last=None),
        NotifyTokenUpdate(token=OAuthToken(access_token="t")),
        ReleaseWaiters(flight=1),
    ]
    assert len(answers) + len(effects) == 7


def use_core_retries_breaker_and_cool_down() -> None:
    """A failed flight's own step answers nothing; the caller that ran it asks again
    (`waited_for`) and is told to wait for the retry (transient) or fails (permanent)."""
    policy = Policy(
        request=TokenRequestSpec(token_url=TOKEN_URL, client_id="id", client_secret="s"),
        resilience=ResiliencePolicy(backoff_base=1.0, cool_down=60.0),
    )
    start = Now(monotonic=0.0, wall=1_700_000_000.0, entropy=0.5)
    first = step(policy, TokenState(), TokenNeeded(), start)
    assert _describe_answer(first.answer) == "ask again"  # this caller runs flight 1
    refused = TransportFailure(kind=TransportFailureKind.CONNECT, reason="refused")
    failed = step(policy, first.state, TokenRequestFailed(flight=1, failure=refused), start)
    assert failed.answer is None
    assert failed.work == (ReleaseWaiters(flight=1),)
    assert [_describe_event(e) for e in failed.events] == [
        "settled 1: connect: refused",
        "retry in 0.5 s (1 in a row)",
    ]
    backoff = step(policy, failed.state, TokenNeeded(waited_for=1, attempts=1, since=0.0), start)
    match backoff.answer:
        case AwaitRetry(until=until):
            assert until == not_before(failed.state) == 0.5
        case UseToken() | AwaitFlight() | Fail() | None:
            raise AssertionError(backoff.answer)
    later = Now(monotonic=0.5, wall=start.wall + 0.5, entropy=0.5)
    second = step(policy, backoff.state, TokenNeeded(attempts=1, since=0.0), later)
    assert isinstance(second.work[0], FetchToken)
    reply = error_reply("invalid_client", status=401, headers={"Retry-After": "120"})
    rejected = step(policy, second.state, TokenReplyReceived(flight=2, reply=reply), later)
    assert rejected.answer is None
    assert _describe_event(rejected.events[-1]) == "cool down for 120.0 s: 401 invalid_client None"
    told = step(policy, rejected.state, TokenNeeded(waited_for=2, attempts=2, since=0.0), later)
    assert _describe_answer(told.answer) == "fail: 401 invalid_client None (retry after 120.0)"

    breaker = Policy(request=policy.request, resilience=ResiliencePolicy(breaker_threshold=1))
    flying = step(breaker, TokenState(), TokenNeeded(), start)
    opened = step(breaker, flying.state, TokenRequestFailed(flight=1, failure=refused), start)
    assert _describe_event(opened.events[-1]) == "breaker open for 30.0 s (1 in a row)"
    after = step(breaker, opened.state, TokenNeeded(waited_for=1, attempts=1), start)
    assert _describe_answer(after.answer) == "fail: connect: refused (retry after 30.0)"


def use_core_token_rejected() -> None:
    """A protected endpoint's 401 (`TokenRejected`): let the token go and get another;
    a second in a row cools down; one for a token no longer held is ignored."""
    policy = Policy(
        request=TokenRequestSpec(token_url=TOKEN_URL, client_id="id", client_secret="s")
    )
    now = Now(monotonic=0.0, wall=1_700_000_000.0)
    state = initial_state(policy, OAuthToken(access_token="t1", expires_in=3600), now).unwrap()
    first_token = current_token(state)
    assert first_token is not None
    rejection = TokenRejected(token=first_token, reason="HTTP 401")
    assert_type(rejection.token, OAuthToken)
    assert_type(rejection.reason, str)
    first = step(policy, state, rejection, now)
    assert first.answer is None
    assert isinstance(first.work[0], FetchToken)
    assert [_describe_event(e) for e in first.events] == [
        "invalidated: HTTP 401",
        "started 1 (endpoint)",
    ]
    assert first.state.rejected_at == now.monotonic
    reply = token_reply("t2", expires_in=3600)
    settled = step(policy, first.state, TokenReplyReceived(flight=1, reply=reply), now)
    second_token = current_token(settled.state)
    assert second_token is not None
    assert second_token.access_token == "t2"
    stale = step(policy, settled.state, rejection, now)  # about t1: t2 is kept
    assert stale.answer == UseToken(token=second_token)
    assert [_describe_event(e) for e in stale.events] == ["ignored: HTTP 401"]
    soon = Now(monotonic=10.0, wall=now.wall + 10)
    again = step(policy, settled.state, TokenRejected(token=second_token, reason="HTTP 401"), soon)
    match again.answer:
        case Fail(failure=RejectedByApi(reason=reason), retry_after=wait):
            assert (reason, wait) == ("HTTP 401", policy.resilience.cool_down)
        case _:
            raise AssertionError(again.answer)
    record = again.state.failure
    assert record is not None
    assert record.flight is None  # no flight failed: the cool-down follows a rejection
    assert record.retry_at == soon.monotonic + policy.resilience.cool_down


def use_resilience_policy_and_rules() -> None:
    resilience = ResiliencePolicy(
        refresh_ratio=0.5,
        default_lifetime=3600,
        max_attempts=5,
        call_timeout=30,
        backoff_base=1,
        backoff_cap=8,
        retry_after_cap=120,
        cool_down=10,
        breaker_threshold=3,
        breaker_open_for=60,
    )
    assert_type(resilience.refresh_ratio, float)
    assert_type(resilience.default_lifetime, float | None)
    assert_type(resilience.max_attempts, int)
    assert_type(resilience.call_timeout, float)
    assert_type(resilience.backoff_base, float)
    assert_type(resilience.backoff_cap, float)
    assert_type(resilience.retry_after_cap, float)
    assert_type(resilience.cool_down, float)
    assert_type(resilience.breaker_threshold, int)
    assert_type(resilience.breaker_open_for, float)
    default = ResiliencePolicy()
    assert (default.max_attempts, default.default_lifetime, default.refresh_ratio) == (
        3,
        None,
        0.25,
    )
    assert ResiliencePolicy(max_attempts=5) != default  # a value: compared by its fields
    failures: list[TokenFailure] = [
        ErrorResponse(status=503, error="temporarily_unavailable"),
        ErrorResponse(status=400, error=OAuthProviderError.INVALID_CLIENT),
        ProviderReturnedNone(),
    ]
    kinds = [classify(failure) for failure in failures]
    assert_type(kinds, list[FailureClass])
    assert kinds == [FailureClass.TRANSIENT, FailureClass.PERMANENT, FailureClass.LOCAL]
    assert_type(backoff_ceiling(resilience, 3), float)
    assert backoff_ceiling(resilience, 3) == 4.0
    assert backoff_ceiling(resilience, 10) == 8.0  # the cap
    assert_type(retry_delay(resilience, 3, 0.5, None), float)
    assert retry_delay(resilience, 3, 0.5, None) == 2.0  # full jitter: draw x ceiling
    assert retry_delay(resilience, 1, 0.0, 500.0) == 120.0  # Retry-After, cut to its cap


def use_reply_headers() -> None:
    """`Retry-After` (seconds or an HTTP-date) and a `WWW-Authenticate: Bearer` challenge."""
    challenge_text = 'Bearer realm="api", error="insufficient_scope", scope="read write"'
    headers: Headers = (("Retry-After", "120"), ("WWW-Authenticate", challenge_text))
    assert_type(retry_after(headers, 1_700_000_000.0), float | None)
    assert retry_after(headers, 1_700_000_000.0) == 120.0
    date = "Sun, 06 Nov 1994 08:49:37 GMT"
    assert_type(epoch_of_http_date(date), float | None)
    assert epoch_of_http_date(date) == 784_111_777.0
    assert retry_after((("Retry-After", date),), 784_111_777.0 - 30) == 30.0
    assert retry_after((), 0.0) is None
    challenge = bearer_challenge(headers)
    assert_type(challenge, BearerChallenge | None)
    assert challenge is not None
    assert_type(challenge.error, str | None)
    assert_type(challenge.error_description, str | None)
    assert_type(challenge.scope, str | None)
    assert_type(challenge.realm, str | None)
    assert challenge == BearerChallenge(error="insufficient_scope", scope="read write", realm="api")
    assert bearer_challenge((("WWW-Authenticate", 'Basic realm="x"'),)) is None


def use_token_cell() -> None:
    """`ccg.interp.TokenCell`: the shared state a shell (threaded or asyncio) steps."""
    clock = FakeClock()
    policy = Policy(
        request=TokenRequestSpec(token_url=TOKEN_URL, client_id="id", client_secret="s")
    )
    emitted: list[tuple[Event, ...]] = []
    cell = TokenCell(policy, TokenState(), clock, random.random, emitted.append)
    assert_type(cell.policy, Policy)
    assert_type(cell.state, TokenState)
    assert_type(cell.snapshot, tuple[float, tuple[OAuthToken, str]])
    assert_type(cell.now(), Now)
    assert_type(cell.monotonic(), float)
    decision = cell.step(TokenSet(token=OAuthToken(access_token="t", expires_in=60)))
    assert_type(decision, Decision)
    assert emitted == [decision.events]  # each step's events, once the lock is let go
    assert cell.snapshot[1][0] == current_token(cell.state)
    woken: list[int] = []
    assert_type(cell.watch(1, lambda: woken.append(1)), bool)
    assert_type(cell.cause(None), BaseException | None)


# -- ccg.testing.strategies --------------------------------------------------------------
# Imported where used: the module is optional (`ccg[testing]`). Only `lifetimes`,
# `clock_schedules`, `tokens`, `http_replies` and `resilience_policies` are relied on here.


def use_strategies() -> None:
    from hypothesis.strategies import SearchStrategy  # noqa: PLC0415

    from ccg.testing import strategies  # noqa: PLC0415

    assert_type(strategies.lifetimes(), SearchStrategy[int])
    assert_type(strategies.clock_schedules(), SearchStrategy[list[float]])
    assert_type(strategies.clock_schedules(max_size=3), SearchStrategy[list[float]])
    assert_type(strategies.tokens(), SearchStrategy[OAuthToken])
    assert_type(strategies.http_replies(), SearchStrategy[HttpReply])
    assert_type(strategies.resilience_policies(), SearchStrategy[ResiliencePolicy])


def use_strategies_in_a_property() -> None:
    """A user's own Hypothesis test, driven by ccg's strategies."""
    from hypothesis import given, settings  # noqa: PLC0415

    from ccg.testing import strategies  # noqa: PLC0415

    @settings(max_examples=10, database=None, deadline=None)
    @given(strategies.tokens(), strategies.clock_schedules(max_size=3), strategies.lifetimes())
    def held_or_fetched(token: OAuthToken, schedule: list[float], lifetime: int) -> None:
        clock = FakeClock()
        client = ApiClient(
            origins=[API],
            client_credentials_auth_credentials=ClientCredentialsAuthCredentials("id", "secret"),
            token_url=TOKEN_URL,
            transport=FakeTransport(handler=lambda _: token_reply("fresh", expires_in=lifetime)),
            clock=clock,
        )
        try:
            client.auth_manager.o_auth_token = token
        except InvalidTokenError:
            assert token_problem(token) is not None
            return
        for advance in schedule:
            clock.advance(advance)
            try:
                used = client.auth_manager.token()
            except TokenResponseError:  # a lifetime within the clock skew: expired on arrival
                continue
            assert_type(used, OAuthToken)
            assert used.access_token in (token.access_token, "fresh")

    held_or_fetched()


# -- asyncio: ccg.aio ----------------------------------------------------------------------
# `ccg.aio` needs `ccg[httpx]` (its default transport), so it is imported where used, as are
# httpx, requests and prometheus_client (the extras of the adapters and of the Prometheus
# hook). The async manager, its aliases and the `AsyncTransport` port are also in
# `ccg.interp`, which needs no extra: those are imported at the top.


def _invalid_token_reply() -> HttpReply:
    challenge = 'Bearer error="invalid_token", error_description="expired"'
    return json_reply(401, {}, headers={"WWW-Authenticate": challenge})


async def _load_token_from_database_async() -> OAuthToken | None:
    await asyncio.sleep(0)  # a real driver would await its database here
    return load_token_from_database()


async def _save_token_to_database_async(o_auth_token: OAuthToken) -> None:
    await asyncio.sleep(0)
    save_token_to_database(o_auth_token)


async def _async_o_auth_token_provider(
    last_oauth_token: OAuthToken | None, auth_manager: AsyncClientCredentialsAuthManager
) -> OAuthToken:
    """The seed's provider in async form: its manager's `fetch_token` is awaited."""
    assert_type(last_oauth_token, OAuthToken | None)
    o_auth_token = await _load_token_from_database_async()
    if o_auth_token is None:
        o_auth_token = await auth_manager.fetch_token()
    return o_auth_token


def _plain_provider_for_tasks(
    last: OAuthToken | None, manager: AsyncClientCredentialsAuthManager
) -> OAuthToken | None:
    return last if last is not None else manager.o_auth_token


def use_async_client_and_replies() -> None:
    from ccg.aio import AsyncApiClient  # noqa: PLC0415

    transport = FakeAsyncTransport(
        [
            token_reply("t1", expires_in=3600, scope="read write"),
            json_reply(200, {"orders": []}),
            json_reply(201, {"sku": "A1"}, headers={"Location": "/v1/orders/1"}),
            HttpReply(status=200, body=b"hi"),
            _invalid_token_reply(),  # t1 rejected: the call is replayed once, with t2
            token_reply("t2", expires_in=3600),
            json_reply(200, {}),
        ]
    )
    events: list[Event] = []
    credentials = ClientCredentialsAuthCredentials(
        o_auth_client_id="OAuthClientId",
        o_auth_client_secret="OAuthClientSecret",
        o_auth_scopes=[OAuthScopeEnum.READ_SCOPE, OAuthScopeEnum.WRITE_SCOPE],
    )
    client = AsyncApiClient(
        client_credentials_auth_credentials=credentials,
        token_url=TOKEN_URL,
        base_url=API,
        transport=transport,
        token_transport=None,  # token requests go through `transport` too
        clock=FakeClock(),
        entropy=lambda: 0.5,
        token_request_limits=TOKEN_REQUEST_LIMITS,
        resilience=ResiliencePolicy(),
        on_event=events.append,
        presenter=None,
        allow_insecure_http=False,
    )
    assert_type(client.client_credentials_auth_credentials, ClientCredentialsAuthCredentials)
    assert client.client_credentials_auth_credentials is credentials
    assert_type(client.auth_manager, AsyncClientCredentialsAuthManager)

    async def main() -> None:
        async with client as entered:
            assert_type(entered, AsyncApiClient)
            assert entered is client
            reply = await client.get("/v1/orders", headers={"X-Request-Id": "1"})
            assert_type(reply, HttpReply)
            assert_type(reply.json(), object)
            assert reply.json() == {"orders": []}
            created = await client.post("/v1/orders", json={"sku": "A1"})
            assert_type(created, HttpReply)
            assert created.header("Location") == "/v1/orders/1"
            public = await client.request("GET", f"{API}/health", body="", requires_auth=False)
            assert_type(public, HttpReply)
            assert public.text == "hi"
            replayed = await client.post("/v1/orders", body=b"raw")
            assert replayed.status == 200
        assert_type(await client.aclose(), None)  # closes nothing: the transport was passed in

    asyncio.run(main())
    sent = [r.header("Authorization") for r in transport.requests_to(f"{API}/v1/orders")]
    assert sent == ["Bearer t1", "Bearer t1", "Bearer t1", "Bearer t2"]
    assert transport.requests_to(f"{API}/health")[0].header("Authorization") is None
    assert "invalidated: HTTP 401 invalid_token: expired" in [_describe_event(e) for e in events]


def use_async_client_context_and_shared_manager() -> None:
    from ccg.aio import AsyncApiClient  # noqa: PLC0415

    api = FakeAsyncTransport(handler=lambda request: json_reply(200, {"url": request.url}))
    token_transport = FakeAsyncTransport([token_reply("t1")])
    first = AsyncApiClient(
        origins=[API],
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials("id", "secret"),
        token_url=TOKEN_URL,
        transport=api,
        token_transport=token_transport,
        clock=FakeClock(),
    )
    second = AsyncApiClient(
        auth_manager=first.auth_manager,
        base_url=API,
        transport=api,
        presenter=BearerPresenter(),
        allow_insecure_http=False,
    )
    assert second.auth_manager is first.auth_manager
    with pytest.raises(ConfigurationError):  # a sharing client has no credentials of its own
        assert_type(second.client_credentials_auth_credentials, ClientCredentialsAuthCredentials)

    async def main() -> None:
        # With no transport the client makes (and on exit closes) its own HttpxAsyncTransport.
        async with AsyncApiClient(
            client_credentials_auth_credentials=ClientCredentialsAuthCredentials("id", "secret"),
            token_url=TOKEN_URL,
            base_url=API,
        ) as own:
            assert_type(own, AsyncApiClient)
        assert (await first.get(f"{API}/a")).status == 200
        assert (await second.get("/b")).status == 200

    asyncio.run(main())
    assert len(token_transport.requests) == 1  # one token for both clients
    assert [r.header("Authorization") for r in api.requests] == ["Bearer t1", "Bearer t1"]


def use_async_auth_manager() -> None:
    """A manager built by hand with every option; each of its calls, awaited or not."""
    updates: list[str] = []

    async def on_update(token: OAuthToken) -> None:
        await asyncio.sleep(0)
        updates.append(token.access_token)

    events: list[Event] = []
    transport = FakeAsyncTransport([token_reply("t1"), token_reply("t2"), token_reply("t3")])
    manager = AsyncClientCredentialsAuthManager(
        TokenRequestSpec(token_url=TOKEN_URL, client_id="id", client_secret="secret"),
        transport=transport,
        clock=FakeClock(),
        entropy=lambda: 0.5,
        clock_skew=10,
        token_provider=None,
        on_token_update=on_update,
        token=None,
        limits=Limits(connect_timeout=1, read_timeout=2, total_timeout=3),
        token_types=BEARER,
        resilience=ResiliencePolicy(max_attempts=2),
        on_event=events.append,
    )
    assert_type(manager.o_auth_token, OAuthToken | None)  # plain reads: no await
    assert manager.o_auth_token is None
    assert_type(manager.is_token_expired(), bool)
    assert manager.is_token_expired()  # nothing held
    assert_type(manager.is_token_expired(OAuthToken(access_token="x")), bool)
    assert_type(manager.policy, Policy)
    assert_type(manager.state, TokenState)
    assert manager.policy.clock_skew == 10.0

    def held() -> str | None:
        # Read afresh after each await (an inline `manager.o_auth_token` would stay narrowed).
        token = manager.o_auth_token
        return None if token is None else token.access_token

    async def main() -> None:
        token = await manager.token()
        assert_type(token, OAuthToken)
        assert_type(await manager.bearer(), tuple[OAuthToken, str])
        header = await manager.authorization_header()
        assert_type(header, str)
        assert header == "Bearer t1"
        fetched = await manager.fetch_token({"resource": "https://api.example.com"})
        assert_type(fetched, OAuthToken)
        assert held() == "t1"  # t2 was fetched by hand: neither held nor announced
        assert_type(await manager.set_token(fetched), None)
        assert held() == "t2"
        replacement = await manager.token_rejected(fetched, reason="HTTP 401")
        assert_type(replacement, OAuthToken | None)
        assert replacement is not None
        assert replacement.access_token == "t3"
        # From plain code: held at once; the async callback is scheduled on this loop...
        assert_type(manager.set_token_now(OAuthToken(access_token="t4", expires_in=60)), None)
        assert held() == "t4"
        assert_type(await manager.aclose(), None)  # ...and has run once this returns
        manager.set_token_now(None)
        assert_type(manager.report(InsufficientScope(status=403, scope="admin")), None)

    asyncio.run(main())
    assert updates == ["t1", "t2", "t3", "t4"]
    assert held() is None
    assert events[-1] == InsufficientScope(status=403, scope="admin")
    assert [r.url for r in transport.requests] == [TOKEN_URL] * 3


def use_async_token_provider_and_callbacks() -> None:
    from ccg.aio import AsyncApiClient  # noqa: PLC0415

    _database.clear()
    providers: list[AsyncTokenProvider] = [
        _async_o_auth_token_provider,  # a coroutine function
        _plain_provider_for_tasks,  # or a plain one
        lambda last, manager: last or manager.fetch_token(),  # an awaitable is awaited
    ]
    callbacks: list[AsyncOnTokenUpdate] = [
        _save_token_to_database_async,
        save_token_to_database,
        lambda token: len(token.access_token),  # any return value is ignored
    ]
    assert len(providers) + len(callbacks) == 6
    credentials = ClientCredentialsAuthCredentials(
        o_auth_client_id="OAuthClientId",
        o_auth_client_secret="OAuthClientSecret",
        o_auth_scopes=[OAuthScopeEnum.READ_SCOPE, OAuthScopeEnum.WRITE_SCOPE],
        o_auth_token_provider=_async_o_auth_token_provider,
        o_auth_on_token_update=_save_token_to_database_async,
    )
    assert_type(credentials.o_auth_token_provider, TokenProvider | AsyncTokenProvider | None)
    assert_type(credentials.o_auth_on_token_update, OnTokenUpdate | None)
    transport = FakeAsyncTransport([token_reply("t1"), json_reply(200, {})])
    client = AsyncApiClient(
        origins=[API],
        client_credentials_auth_credentials=credentials,
        token_url=TOKEN_URL,
        transport=transport,
        clock=FakeClock(),
    )
    assert client.auth_manager.policy.source is TokenSource.PROVIDER

    async def call() -> HttpReply:
        return await client.get(f"{API}/me")

    assert asyncio.run(call()).status == 200
    assert transport.requests[1].header("Authorization") == "Bearer t1"
    assert load_token_from_database() == client.auth_manager.o_auth_token
    # The credentials' setter, from plain code with no loop running: the token is held at
    # once and the async callback is run to its end.
    credentials.o_auth_token = OAuthToken(access_token="by-hand", expires_in=3600)
    assert client.auth_manager.o_auth_token == load_token_from_database()
    manager = credentials.create_async_auth_manager(
        TOKEN_URL,
        transport=FakeAsyncTransport(),
        clock=FakeClock(),
        entropy=random.random,
        limits=TOKEN_REQUEST_LIMITS,
        resilience=ResiliencePolicy(),
        on_event=None,
    )
    assert_type(manager, AsyncClientCredentialsAuthManager)
    assert manager.o_auth_token is not None
    assert manager.o_auth_token.access_token == "by-hand"  # it starts with the credentials'
    assert credentials.o_auth_token == manager.o_auth_token


def use_one_manager_for_threads_and_tasks() -> None:
    """`AsyncClientCredentialsAuthManager.sharing`: one token and one flight for both."""
    from ccg.aio import AsyncClientCredentialsAuthManager as AioManager  # noqa: PLC0415

    assert AioManager is AsyncClientCredentialsAuthManager  # ccg.aio re-exports ccg.interp's
    spec = TokenRequestSpec(token_url=TOKEN_URL, client_id="id", client_secret="secret")
    updates: list[OAuthToken] = []
    threads_transport = FakeTransport()  # nothing scripted: the tasks' flight fetches
    threaded = ClientCredentialsAuthManager(
        spec, transport=threads_transport, clock=FakeClock(), on_token_update=updates.append
    )
    tasks_transport = FakeAsyncTransport([token_reply("t1")])
    tasks = AioManager.sharing(threaded, transport=tasks_transport)
    assert_type(tasks, AsyncClientCredentialsAuthManager)
    token = asyncio.run(tasks.token())
    assert threaded.token() == token
    assert threaded.o_auth_token == tasks.o_auth_token == token
    assert tasks.state == threaded.state
    assert updates == [token]
    assert threads_transport.requests == []
    assert len(tasks_transport.requests) == 1
    with_provider = ClientCredentialsAuthManager(
        spec, transport=FakeTransport(), token_provider=_provider_with_the_exact_type
    )
    with pytest.raises(ConfigurationError):  # it would be handed either manager
        AioManager.sharing(with_provider, transport=FakeAsyncTransport())


class _OwnAsyncTransport:
    """A user's own `AsyncTransport`: `async def send(request, /) -> Result[...]`."""

    def __init__(self) -> None:
        self.sent: list[HttpRequest] = []

    async def send(self, request: HttpRequest, /) -> Result[HttpReply, TransportFailure]:
        self.sent.append(request)
        await asyncio.sleep(0)
        if request.url == TOKEN_URL:
            return Success(token_reply("own"))
        return Success(json_reply(200, {"url": request.url}))


def use_async_transports() -> None:
    import httpx  # noqa: PLC0415

    from ccg.aio import AsyncApiClient, HttpxAsyncTransport  # noqa: PLC0415
    from ccg.aio import AsyncTransport as AioTransport  # noqa: PLC0415

    assert AioTransport is AsyncTransport
    own = _OwnAsyncTransport()
    default = HttpxAsyncTransport()

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.dumps({"path": request.url.path, "id": request.headers["X-Id"]}).encode()
        # A stream, not `json=`: a reply built from content is read already, and a request
        # with limits is streamed (`aiter_raw`), which a read reply refuses (StreamConsumed).
        return httpx.Response(200, stream=httpx.ByteStream(body))

    http_client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    mocked = HttpxAsyncTransport(
        client=http_client, connect_timeout=1.0, read_timeout=2.0, max_connections=4
    )
    transports: list[AsyncTransport] = [own, default, mocked, FakeAsyncTransport()]
    assert len(transports) == 4

    async def main() -> None:
        sent = await mocked.send(
            HttpRequest(method="GET", url=f"{API}/me", headers=(("X-Id", "1"),))
        )
        assert_type(sent, Result[HttpReply, TransportFailure])
        assert sent.unwrap().json() == {"path": "/me", "id": "1"}
        limited = await mocked.send(
            HttpRequest(
                method="POST",
                url=TOKEN_URL,
                headers=(("X-Id", "2"),),
                body=b"grant_type=client_credentials",
                limits=TOKEN_REQUEST_LIMITS,  # read within the limits, as a token reply is
            )
        )
        assert limited.unwrap().status == 200
        client = AsyncApiClient(
            origins=[API],
            client_credentials_auth_credentials=ClientCredentialsAuthCredentials("id", "secret"),
            token_url=TOKEN_URL,
            transport=own,
            clock=FakeClock(),
        )
        assert (await client.get(f"{API}/x")).status == 200
        assert_type(await mocked.aclose(), None)  # leaves the client it was given open
        assert not http_client.is_closed
        await http_client.aclose()
        await default.aclose()  # closes the client it made

    asyncio.run(main())
    assert [r.url for r in own.sent] == [TOKEN_URL, f"{API}/x"]
    assert own.sent[1].header("Authorization") == "Bearer own"


def use_fake_async_transport() -> None:
    async def held_back(request: HttpRequest) -> HttpReply:
        await asyncio.sleep(0)
        return json_reply(200, {"url": request.url})

    script: list[AsyncScripted] = [
        token_reply("t1"),
        TransportFailure(kind=TransportFailureKind.CONNECT, reason="refused"),
        lambda request: json_reply(202, {"url": request.url}),
        held_back,  # a coroutine function too
    ]
    handlers: list[Callable[[HttpRequest], HttpReply | Awaitable[HttpReply]]] = [held_back]
    transport = FakeAsyncTransport(script, handler=handlers[0], delay=0.0)
    assert_type(transport.delay, float)
    transport.add(HttpReply(status=204))

    async def main() -> list[Result[HttpReply, TransportFailure]]:
        return [await transport.send(HttpRequest(method="GET", url=f"{API}/{n}")) for n in range(6)]

    results = asyncio.run(main())
    statuses = [sent.map(lambda reply: reply.status).value_or(0) for sent in results]
    assert statuses == [200, 0, 202, 200, 204, 200]  # the last one by the handler
    assert_type(transport.requests, list[HttpRequest])
    assert_type(transport.requests_to(f"{API}/1"), list[HttpRequest])
    assert len(transport.requests) == 6
    assert len(transport.requests_to(f"{API}/1")) == 1


# -- ccg.adapters: requests and httpx ------------------------------------------------------


def use_requests_adapter() -> None:
    import requests  # noqa: PLC0415
    from requests.adapters import HTTPAdapter  # noqa: PLC0415
    from requests.auth import AuthBase  # noqa: PLC0415

    from ccg.adapters.requests import ClientCredentialsAuth  # noqa: PLC0415

    class ScriptedAdapter(HTTPAdapter):
        """A requests transport adapter answering with scripted statuses: no network."""

        def __init__(self, *replies: tuple[int, dict[str, str]]) -> None:
            super().__init__()
            self.replies = list(replies)
            self.sent: list[str | bytes | None] = []

        def send(
            self, request: requests.PreparedRequest, *args: object, **kwargs: object
        ) -> requests.Response:
            self.sent.append(request.headers.get("Authorization"))
            status, headers = self.replies.pop(0)
            response = requests.Response()
            response.status_code = status
            response.headers.update(headers)
            response.url = request.url or ""
            response.request = request
            response.connection = self
            return response

    transport = FakeTransport([token_reply("t1"), token_reply("t2")])
    manager = ClientCredentialsAuthManager(
        TokenRequestSpec(token_url=TOKEN_URL, client_id="id", client_secret="secret"),
        transport=transport,
        clock=FakeClock(),
    )
    auth = ClientCredentialsAuth(manager, origins=[API], allow_insecure_http=False)
    assert_type(auth.auth_manager, ClientCredentialsAuthManager)
    assert isinstance(auth, AuthBase)
    prepared = requests.Request("GET", f"{API}/me").prepare()
    assert_type(auth(prepared), requests.PreparedRequest)
    assert prepared.headers["Authorization"] == "Bearer t1"
    with pytest.raises(ConfigurationError) as elsewhere:  # before anything is sent
        auth(requests.Request("GET", "https://elsewhere.example/me").prepare())
    assert elsewhere.value.field == "origins"
    ClientCredentialsAuth(manager, origins=API)  # one origin: a str is an Iterable[str] too
    challenge = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    adapter = ScriptedAdapter((401, challenge), (200, {}))
    with requests.Session() as session:
        session.mount(f"{API}/", adapter)
        session.auth = auth
        reply = session.get(f"{API}/me")
    assert_type(reply, requests.Response)
    assert reply.status_code == 200
    assert [r.status_code for r in reply.history] == [401]
    assert adapter.sent == ["Bearer t1", "Bearer t2"]  # the 401 replayed once, with t2


def use_httpx_adapter() -> None:
    import httpx  # noqa: PLC0415

    from ccg.adapters.httpx import ClientCredentialsAuth  # noqa: PLC0415

    threads_transport = FakeTransport([token_reply("t1"), token_reply("t2")])
    manager = ClientCredentialsAuthManager(
        TokenRequestSpec(token_url=TOKEN_URL, client_id="id", client_secret="secret"),
        transport=threads_transport,
        clock=FakeClock(),
    )
    tasks_transport = FakeAsyncTransport()  # nothing scripted: tasks use the threads' token
    tasks = AsyncClientCredentialsAuthManager.sharing(manager, transport=tasks_transport)
    auth = ClientCredentialsAuth(
        manager, origins=[API], async_auth_manager=tasks, allow_insecure_http=False
    )
    assert_type(auth.auth_manager, ClientCredentialsAuthManager)
    assert_type(auth.async_auth_manager, AsyncClientCredentialsAuthManager)
    assert auth.async_auth_manager is tasks
    assert isinstance(auth, httpx.Auth)
    assert_type(ClientCredentialsAuth(manager, origins=API), ClientCredentialsAuth)
    seen: list[str | None] = []
    statuses = [401, 200, 200]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Authorization"))
        status = statuses.pop(0)
        challenge = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if status == 401 else {}
        return httpx.Response(status, headers=challenge, json={"status": status})

    with httpx.Client(auth=auth, transport=httpx.MockTransport(handler)) as client:
        reply = client.post(f"{API}/orders", json={"sku": "A1"})
        assert reply.status_code == 200
        assert [r.status_code for r in reply.history] == [401]  # replayed once, with t2
        with pytest.raises(ConfigurationError):
            client.get("https://elsewhere.example/me")

    async def main() -> int:
        async with httpx.AsyncClient(auth=auth, transport=httpx.MockTransport(handler)) as client:
            return (await client.get(f"{API}/me")).status_code

    assert asyncio.run(main()) == 200
    assert seen == ["Bearer t1", "Bearer t2", "Bearer t2"]
    assert tasks_transport.requests == []  # one token cache for the threads and the tasks
    assert len(threads_transport.requests) == 2


# -- ccg.metrics ---------------------------------------------------------------------------


def use_metrics() -> None:
    from prometheus_client import CollectorRegistry  # noqa: PLC0415

    from ccg.aio import AsyncApiClient  # noqa: PLC0415
    from ccg.metrics import prometheus_counters  # noqa: PLC0415

    counts = EventCounts()
    registry = CollectorRegistry()
    hook = prometheus_counters(registry=registry, namespace="svc")
    assert_type(hook, Callable[[Event], None])
    hooks: list[Callable[[Event], object]] = [counts, hook]

    def both(event: Event) -> None:
        for each in hooks:
            each(event)

    transport, clock = _fakes(
        error_reply("server_error", status=503), token_reply("t1"), json_reply(200, {})
    )
    client = ApiClient(
        origins=[API],
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials("id", "secret"),
        token_url=TOKEN_URL,
        transport=transport,
        clock=clock,
        entropy=lambda: 0.5,
        on_event=both,
    )
    assert client.get(f"{API}/me").status == 200
    assert_type(counts["flight_started"], int)
    assert counts["flight_started"] == 2
    assert counts["failure:error_response"] == 1
    assert counts["never_seen"] == 0
    assert_type(counts.snapshot(), dict[str, int])
    sample = registry.get_sample_value("svc_token_events_total", {"event": "retry_scheduled"})
    assert sample == 1.0
    assert_type(event_name(FlightStarted(flight=1, source=TokenSource.ENDPOINT)), str)
    assert event_name(TokenDropped()) == "token_dropped"
    assert_type(failure_name(ProviderReturnedNone()), str)
    assert failure_name(TransportFailure(kind=TransportFailureKind.TLS, reason="x")) == "transport"

    tasks_counts = EventCounts()
    tasks_client = AsyncApiClient(
        origins=[API],
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials("id", "secret"),
        token_url=TOKEN_URL,
        transport=FakeAsyncTransport([token_reply("t1"), json_reply(200, {})]),
        clock=FakeClock(),
        on_event=tasks_counts,
    )

    async def call() -> HttpReply:
        return await tasks_client.get(f"{API}/me")

    assert asyncio.run(call()).status == 200
    assert tasks_counts.snapshot() == {"flight_started": 1, "flight_settled": 1, "token_adopted": 1}
