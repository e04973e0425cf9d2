"""User code that must type-check cleanly under mypy --strict and pyright strict.

Every value a user of ccg touches is pinned with `typing.assert_type`, so a change that
widens a public type (to `Any`, to an Optional, to a bare `object`, ...) or narrows what
a callback may be fails the project's normal mypy and pyright runs, which include this
file. Importing it only defines things; `tests/typing/test_typing.py` also runs each
`use_*` function against the fakes (`assert_type` is a no-op at run time), so the code
here is not just well-typed but works.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import assert_type

import pytest
from hypothesis import given, settings
from hypothesis.strategies import SearchStrategy
from returns.result import Result

import ccg
from ccg import (
    ApiClient,
    ApiTransportError,
    CcgError,
    ClientCredentialsAuthCredentials,
    ClientCredentialsAuthManager,
    ClientSecretBasic,
    ClientSecretPost,
    ConfigurationError,
    HttpReply,
    HttpRequest,
    OAuth2,
    OAuthProviderError,
    OAuthProviderException,
    OAuthScopeEnum,
    OAuthToken,
    OnTokenUpdate,
    TokenAcquisitionError,
    TokenEndpointUnreachable,
    TokenProvider,
    TokenProviderError,
    TokenResponseError,
    TokenUpdateCallbackError,
    Transport,
    Urllib3Transport,
)
from ccg.core import (
    ClientAuthentication,
    Effect,
    FetchToken,
    Input,
    Policy,
    TokenFailure,
    TokenRequestSpec,
    TokenState,
    TransportFailure,
)
from ccg.testing import (
    FakeClock,
    FakeTransport,
    Scripted,
    error_reply,
    json_reply,
    strategies,
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
    client = ApiClient(
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials(
            o_auth_client_id="OAuthClientId",
            o_auth_client_secret="OAuthClientSecret",
            o_auth_scopes=[OAuthScopeEnum.READ_SCOPE, OAuthScopeEnum.WRITE_SCOPE],
        ),
        token_url=TOKEN_URL,
        base_url=API,
        transport=transport,
        clock=clock,
    )
    assert_type(client.client_credentials_auth_credentials, ClientCredentialsAuthCredentials)
    assert_type(client.auth_manager, ClientCredentialsAuthManager)
    assert_type(client.auth_manager, OAuth2)  # the seed's name for the manager

    reply = client.get("/v1/orders")
    assert_type(reply, HttpReply)
    assert_type(reply.status, int)
    assert_type(reply.headers, tuple[tuple[str, str], ...])
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
    assert_type(credentials.o_auth_token_provider, TokenProvider | None)
    client = ApiClient(
        client_credentials_auth_credentials=credentials,
        token_url=TOKEN_URL,
        transport=transport,
        clock=clock,
    )
    assert client.get(f"{API}/me").status == 200
    assert transport.requests[1].header("Authorization") == "Bearer t1"


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
    manager.set_token(None)
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


# -- errors ------------------------------------------------------------------------------


def use_errors() -> None:
    transport, clock = _fakes(
        error_reply("invalid_client", status=401, error_description="bad secret"),
        error_reply("slow_down"),
        TransportFailure(reason="ConnectionRefusedError: refused"),
    )
    client = ApiClient(
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials("id", "secret"),
        token_url=TOKEN_URL,
        transport=transport,
        clock=clock,
    )
    for expected in (OAuthProviderError.INVALID_CLIENT, "slow_down"):
        with pytest.raises(OAuthProviderException) as provider_error:
            client.get(f"{API}/me")
        error = provider_error.value
        assert_type(error.error, OAuthProviderError | str)
        assert_type(error.error_description, str | None)
        assert_type(error.error_uri, str | None)
        assert_type(error.status, int)
        assert_type(error.failure, TokenFailure)
        assert error.error == expected
        if isinstance(error.error, OAuthProviderError):
            assert_type(error.error, OAuthProviderError)
    with pytest.raises(TokenAcquisitionError) as acquisition_error:
        client.get(f"{API}/me")
    assert_type(acquisition_error.value.failure, TokenFailure)
    assert isinstance(acquisition_error.value, TokenEndpointUnreachable)
    with pytest.raises(ConfigurationError) as configuration_error:
        ClientCredentialsAuthCredentials("id", "secret", o_auth_scopes=["no spaces"])
    assert_type(configuration_error.value.field, str)
    assert_type(configuration_error.value.problem, str)
    assert configuration_error.value.field == "o_auth_scopes"
    caught: tuple[type[CcgError], ...] = (
        ApiTransportError,
        TokenProviderError,
        TokenResponseError,
        TokenUpdateCallbackError,
    )
    assert all(issubclass(kind, CcgError) for kind in caught)
    assert issubclass(ConfigurationError, ValueError)


# -- transports: the fakes, urllib3 and a user's own -------------------------------------


class LoggingTransport:
    """A user's transport: anything with this `send` is a `Transport`."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.urls: list[str] = []

    def send(self, request: HttpRequest, /) -> Result[HttpReply, TransportFailure]:
        self.urls.append(request.url)
        return self.inner.send(request)


def use_transports_and_clock() -> None:
    fake = FakeTransport(
        [token_reply("t1")],
        handler=lambda request: json_reply(200, {"url": request.url}),
    )
    fake.add(json_reply(200, {}), TransportFailure(reason="timeout"))
    transport: Transport = LoggingTransport(fake)
    clock = FakeClock(1_700_000_000)
    assert_type(clock(), float)
    clock.advance(30)
    clock.set(1_700_000_000.5)
    client = ApiClient(
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials("id", "secret"),
        token_url=TOKEN_URL,
        transport=transport,
        clock=clock,
    )
    assert client.get(f"{API}/a").status == 200
    sent = fake.send(HttpRequest(method="GET", url=f"{API}/b"))
    assert_type(sent, Result[HttpReply, TransportFailure])
    assert_type(fake.requests, list[HttpRequest])
    assert_type(fake.requests_to(TOKEN_URL), list[HttpRequest])
    request = fake.requests[0]
    assert_type(request.method, str)
    assert_type(request.url, str)
    assert_type(request.headers, tuple[tuple[str, str], ...])
    assert_type(request.body, bytes)
    assert_type(request.header("Authorization"), str | None)
    assert_type(token_reply("t", expires_in=None, token_type="bearer", scope="read"), HttpReply)
    assert_type(json_reply(500, ["x"]), HttpReply)
    assert_type(error_reply("invalid_scope", status=400), HttpReply)
    real = Urllib3Transport(connect_timeout=1.0, read_timeout=5.0, maxsize=2)
    urllib3_transport: Transport = real
    assert urllib3_transport is real
    real.close()
    assert_type(ccg.__version__, str)


# -- ccg.testing.strategies --------------------------------------------------------------


def use_strategies() -> None:
    assert_type(strategies.times(), SearchStrategy[float])
    assert_type(strategies.time_advances(), SearchStrategy[float])
    assert_type(strategies.clock_schedules(), SearchStrategy[list[float]])
    assert_type(strategies.clock_schedules(max_size=3), SearchStrategy[list[float]])
    assert_type(strategies.clock_skews(), SearchStrategy[float])
    assert_type(strategies.lifetimes(), SearchStrategy[int])
    assert_type(strategies.access_tokens(), SearchStrategy[str])
    assert_type(strategies.tokens(), SearchStrategy[OAuthToken])
    assert_type(strategies.states(), SearchStrategy[TokenState])
    assert_type(strategies.client_authentications(), SearchStrategy[ClientAuthentication])
    assert_type(strategies.request_specs(), SearchStrategy[TokenRequestSpec])
    assert_type(strategies.policies(), SearchStrategy[Policy])
    assert_type(strategies.expires_in_values(), SearchStrategy[int | float | str | bool | None])
    assert_type(strategies.token_replies(), SearchStrategy[HttpReply])
    assert_type(strategies.error_replies(), SearchStrategy[HttpReply])
    assert_type(strategies.hostile_replies(), SearchStrategy[HttpReply])
    assert_type(strategies.http_replies(), SearchStrategy[HttpReply])
    assert_type(strategies.outcome_inputs(), SearchStrategy[Input])
    assert_type(strategies.inputs(), SearchStrategy[Input])
    token = OAuthToken(access_token="t", expires_in=60)
    assert_type(strategies.reply_with(token), HttpReply)
    assert_type(strategies.inputs_about(token), SearchStrategy[Input])
    effect: Effect = FetchToken(request=HttpRequest(method="POST", url=TOKEN_URL))
    assert_type(strategies.answers(effect), SearchStrategy[Input])
    assert_type(strategies.situations(), SearchStrategy[tuple[TokenState, Input]])
    epoch: float = strategies.EPOCH
    day: int = strategies.DAY
    assert epoch > day


@settings(max_examples=5, database=None)
@given(strategies.tokens(), strategies.clock_schedules(max_size=3))
def use_strategies_in_a_property(token: OAuthToken, schedule: list[float]) -> None:
    """A user's own Hypothesis test, driven by ccg's strategies."""
    clock = FakeClock()
    for step in schedule:
        clock.advance(step)
    client = ApiClient(
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials(
            "id", "secret", o_auth_token=token
        ),
        token_url=TOKEN_URL,
        transport=FakeTransport(handler=lambda _: token_reply("fresh")),
        clock=clock,
    )
    assert_type(client.auth_manager.token(), OAuthToken)
