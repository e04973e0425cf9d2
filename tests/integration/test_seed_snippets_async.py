# The seed's snippets in async form, as README shows them ("asyncio"), comments and all.
# The seed's token provider is an untyped def; pyright reports what flows from its parameters.
# pyright: reportMissingParameterType=false, reportUnknownParameterType=false
# pyright: reportUnknownVariableType=false, reportUnknownMemberType=false
# pyright: reportUnknownArgumentType=false
"""The seed's three snippets in async form, run against the real loopback authorization server.

Each is README's async snippet with the token endpoint pointed at the test server. The
callbacks are coroutine functions here (plain functions work too): the application's
"database" is a dict, reached with an `await`, as a real async driver would be.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

from ccg import ClientCredentialsAuthCredentials, OAuthScopeEnum, OAuthToken
from ccg._demo.authorization_server import AuthorizationServer
from ccg.aio import AsyncApiClient
from tests.integration._support import SNIPPET_CLIENT

pytestmark = pytest.mark.integration

_database: dict[str, str] = {}
_saved_tokens: list[OAuthToken] = []


async def save_token_to_database(o_auth_token: OAuthToken) -> None:
    """The async on-token-update callback: persist the token."""
    await asyncio.sleep(0)  # a real driver would await its database here
    _saved_tokens.append(o_auth_token)
    _database["o_auth_token"] = json.dumps(o_auth_token.to_dictionary())


async def load_token_from_database() -> OAuthToken | None:
    """The async token provider's loader: the saved token, or None."""
    await asyncio.sleep(0)
    saved = _database.get("o_auth_token")
    return None if saved is None else OAuthToken.from_dictionary(json.loads(saved))


@pytest.fixture(autouse=True)
def _empty_database() -> Iterator[None]:
    _database.clear()
    _saved_tokens.clear()
    yield
    _database.clear()
    _saved_tokens.clear()


async def _o_auth_token_provider(last_oauth_token, auth_manager):  # type: ignore[no-untyped-def]  # the seed's untyped def
    # Add the callback handler to provide a new OAuth token
    # It will be triggered whenever the last provided o_auth_token is null or expired
    o_auth_token = await load_token_from_database()
    if o_auth_token is None:
        o_auth_token = await auth_manager.fetch_token()
    return o_auth_token


def test_async_snippet_1_client_initialization(server: AuthorizationServer) -> None:
    async def main() -> tuple[int, int]:
        async with AsyncApiClient(
            client_credentials_auth_credentials=ClientCredentialsAuthCredentials(
                o_auth_client_id="OAuthClientId",
                o_auth_client_secret="OAuthClientSecret",
                o_auth_scopes=[OAuthScopeEnum.READ_SCOPE, OAuthScopeEnum.WRITE_SCOPE],
            ),
            token_url=server.token_url,
            base_url=server.base_url,
        ) as client:
            first = await client.get(server.resource_url)
            second = await client.get(server.resource_url)
            return first.status, second.status

    assert server.token_requests() == 0
    assert asyncio.run(main()) == (200, 200)
    assert server.token_requests() == 1


def test_async_snippet_2_on_token_update_saves_the_token(server: AuthorizationServer) -> None:
    async def main() -> OAuthToken | None:
        async with AsyncApiClient(
            client_credentials_auth_credentials=ClientCredentialsAuthCredentials(
                o_auth_client_id="OAuthClientId",
                o_auth_client_secret="OAuthClientSecret",
                o_auth_scopes=[OAuthScopeEnum.READ_SCOPE, OAuthScopeEnum.WRITE_SCOPE],
                o_auth_on_token_update=save_token_to_database,
            ),
            token_url=server.token_url,
            base_url=server.base_url,
        ) as client:
            assert (await client.get(server.resource_url)).status == 200
            return client.auth_manager.o_auth_token

    held = asyncio.run(main())
    assert held is not None
    assert _saved_tokens == [held]  # awaited once, with the token held
    assert json.loads(_database["o_auth_token"])["access_token"] == held.access_token
    assert held.expires_in == SNIPPET_CLIENT.token_ttl


def test_async_snippet_3_token_provider_loads_then_fetches(server: AuthorizationServer) -> None:
    def client() -> AsyncApiClient:
        return AsyncApiClient(
            client_credentials_auth_credentials=ClientCredentialsAuthCredentials(
                o_auth_client_id="OAuthClientId",
                o_auth_client_secret="OAuthClientSecret",
                o_auth_scopes=[OAuthScopeEnum.READ_SCOPE, OAuthScopeEnum.WRITE_SCOPE],
                o_auth_token_provider=_o_auth_token_provider,
                o_auth_on_token_update=save_token_to_database,
            ),
            token_url=server.token_url,
            base_url=server.base_url,
        )

    async def twice() -> tuple[int, int]:
        async with client() as first:  # nothing saved: the provider fetches
            one = (await first.get(server.resource_url)).status
        async with client() as second:  # a new process, say: the provider loads the saved one
            two = (await second.get(server.resource_url)).status
        return one, two

    assert asyncio.run(twice()) == (200, 200)
    assert server.token_requests() == 1  # the second client used the saved token
    assert len(_saved_tokens) == 2  # each client announced the token it adopted
    assert _saved_tokens[0].access_token == _saved_tokens[1].access_token
