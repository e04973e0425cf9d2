# The seed's snippets are kept verbatim, comments and all: long lines and the seed's
# `lambda o_auth_token: save_token_to_database(o_auth_token)` included.
# ruff: noqa: PLW0108
# The seed's token provider is an untyped def; pyright reports what flows from its parameters.
# pyright: reportMissingParameterType=false, reportUnknownParameterType=false
# pyright: reportUnknownVariableType=false, reportUnknownMemberType=false
# pyright: reportUnknownArgumentType=false
"""The seed spec's three python snippets, run against the real loopback authorization server.

Source: the seed's "OAuth 2 Client Credentials Grant" page. Each snippet's code is
kept verbatim; only two things differ:

- the import lines: ccg's names for the seed SDK's modules (below);
- the token endpoint: `token_url=server.token_url` is added to the client constructor
  call (the seed SDK had its endpoint built in; ccg has none).

The snippets' literal credentials ('OAuthClientId' / 'OAuthClientSecret') are unchanged:
the test server registers a client with exactly those (`SNIPPET_CLIENT`).
`save_token_to_database` / `load_token_from_database` are helpers over a dict that
stands for the application's database (the token goes in as JSON, as it would in a
real one).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

# -- the snippets' imports, changed to ccg's names ------------------------------------
from ccg import ApiClient as MdnotesccgmodelpostfixClient
from ccg import ClientCredentialsAuthCredentials, OAuthScopeEnum

# -- test support ---------------------------------------------------------------------
from ccg._demo.authorization_server import AuthorizationServer
from ccg._errors import TokenProviderError
from ccg.core import OAuthToken
from tests.integration._support import SNIPPET_CLIENT, RecordingServer

pytestmark = pytest.mark.integration

# The application's "database": one row holding the saved token as JSON.
_database: dict[str, str] = {}
# Every token the on-token-update callback was asked to save, in order.
_saved_tokens: list[OAuthToken] = []


def save_token_to_database(o_auth_token: OAuthToken) -> None:
    """What the seed's on-token-update snippet calls: persist the token."""
    _saved_tokens.append(o_auth_token)
    _database["o_auth_token"] = json.dumps(o_auth_token.to_dictionary())


def load_token_from_database() -> OAuthToken | None:
    """What the seed's token-provider snippet calls: the saved token, or None."""
    saved = _database.get("o_auth_token")
    return None if saved is None else OAuthToken.from_dictionary(json.loads(saved))


@pytest.fixture(autouse=True)
def _empty_database() -> Iterator[None]:
    _database.clear()
    _saved_tokens.clear()
    yield
    _database.clear()
    _saved_tokens.clear()


# -- snippet 3's provider, verbatim (module level, as in the seed) ----------------------


def _o_auth_token_provider(last_oauth_token, auth_manager):  # type: ignore[no-untyped-def]  # the seed's untyped def
    # Add the callback handler to provide a new OAuth token
    # It will be triggered whenever the last provided o_auth_token is null or expired
    o_auth_token = load_token_from_database()
    if o_auth_token is None:
        o_auth_token = auth_manager.fetch_token()
    return o_auth_token


# -- checks shared by the snippets --------------------------------------------------------


def _assert_protected_call_works(
    client: MdnotesccgmodelpostfixClient,
    server: AuthorizationServer,
    recorder: RecordingServer,
) -> OAuthToken:
    """Call /api/me (200, as the snippet's client) and show the exact Bearer header sent."""
    # Without a token the protected endpoint refuses: the 200 below is the token's doing.
    assert client.request("GET", server.resource_url, requires_auth=False).status == 401

    reply = client.get(server.resource_url)
    assert reply.status == 200
    assert reply.json() == {"client_id": SNIPPET_CLIENT.client_id, "scope": "read write"}

    token = client.auth_manager.o_auth_token
    assert token is not None
    assert token.scope == "read write"
    assert token.expires_in == SNIPPET_CLIENT.token_ttl
    assert not client.auth_manager.is_token_expired()
    assert client.client_credentials_auth_credentials.o_auth_token == token

    # The very header on the wire: the recording server sees `Bearer <that token>`.
    assert client.get(f"{recorder.url}/whoami").status == 200
    sent = recorder.requests()[-1]
    assert sent.header_values("Authorization") == [f"Bearer {token.access_token}"]
    return token


# -- snippet 1: client initialization -----------------------------------------------------


def test_snippet_1_client_initialization(
    server: AuthorizationServer, recorder: RecordingServer
) -> None:
    client = MdnotesccgmodelpostfixClient(
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials(
            o_auth_client_id="OAuthClientId",
            o_auth_client_secret="OAuthClientSecret",
            o_auth_scopes=[OAuthScopeEnum.READ_SCOPE, OAuthScopeEnum.WRITE_SCOPE],
        ),
        token_url=server.token_url,
        base_url=server.base_url,
        origins=[recorder.url],
    )

    assert server.token_requests() == 0  # the token is fetched on first use, not before
    _assert_protected_call_works(client, server, recorder)
    assert server.token_requests() == 1
    assert server.tokens_issued() == 1
    assert server.resource_requests() == 2  # the refused call without a token, then the 200


# -- snippet 2: on-token-update callback --------------------------------------------------


def test_snippet_2_on_token_update_saves_the_token(
    server: AuthorizationServer, recorder: RecordingServer
) -> None:
    client = MdnotesccgmodelpostfixClient(
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials(
            o_auth_client_id="OAuthClientId",
            o_auth_client_secret="OAuthClientSecret",
            o_auth_scopes=[OAuthScopeEnum.READ_SCOPE, OAuthScopeEnum.WRITE_SCOPE],
            o_auth_on_token_update=(
                lambda o_auth_token: (
                    # Add the callback handler to perform operations like save to DB or file etc.
                    # It will be triggered whenever the token gets updated
                    save_token_to_database(o_auth_token)
                )
            ),
        ),
        token_url=server.token_url,
        base_url=server.base_url,
        origins=[recorder.url],
    )

    assert _saved_tokens == []
    token = _assert_protected_call_works(client, server, recorder)
    assert client.get(server.resource_url).status == 200  # the cached token: no new update

    assert server.token_requests() == 1
    assert _saved_tokens == [token]  # fired exactly once, with the token in use
    assert load_token_from_database() == token  # survives the JSON round trip, expiry included
    assert token.expiry is not None


# -- snippet 3: custom token provider -----------------------------------------------------


def test_snippet_3_provider_with_empty_database_fetches_through_auth_manager(
    server: AuthorizationServer, recorder: RecordingServer
) -> None:
    client = MdnotesccgmodelpostfixClient(
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials(
            o_auth_client_id="OAuthClientId",
            o_auth_client_secret="OAuthClientSecret",
            o_auth_scopes=[OAuthScopeEnum.READ_SCOPE, OAuthScopeEnum.WRITE_SCOPE],
            o_auth_token_provider=_o_auth_token_provider,
        ),
        token_url=server.token_url,
        base_url=server.base_url,
        origins=[recorder.url],
    )
    assert load_token_from_database() is None

    token = _assert_protected_call_works(client, server, recorder)

    # The provider fell back to auth_manager.fetch_token(): one real token request.
    assert server.token_requests() == 1
    assert server.tokens_issued() == 1
    assert token.expiry is not None  # fetch_token() stamps the expiry
    assert _database == {}  # this snippet saves nothing (it has no on-token-update)


def test_snippet_3_provider_with_a_saved_token_makes_no_token_request(
    server: AuthorizationServer, recorder: RecordingServer
) -> None:
    # A token issued by the real server earlier and saved in the database, e.g. by
    # another process running snippet 2.
    issuer = MdnotesccgmodelpostfixClient(
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials(
            o_auth_client_id="OAuthClientId",
            o_auth_client_secret="OAuthClientSecret",
            o_auth_scopes=[OAuthScopeEnum.READ_SCOPE, OAuthScopeEnum.WRITE_SCOPE],
            o_auth_on_token_update=(
                lambda o_auth_token: (
                    # Add the callback handler to perform operations like save to DB or file etc.
                    # It will be triggered whenever the token gets updated
                    save_token_to_database(o_auth_token)
                )
            ),
        ),
        token_url=server.token_url,
        base_url=server.base_url,
        origins=[recorder.url],
    )
    saved = issuer.auth_manager.token()
    assert server.token_requests() == 1
    assert load_token_from_database() == saved

    client = MdnotesccgmodelpostfixClient(
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials(
            o_auth_client_id="OAuthClientId",
            o_auth_client_secret="OAuthClientSecret",
            o_auth_scopes=[OAuthScopeEnum.READ_SCOPE, OAuthScopeEnum.WRITE_SCOPE],
            o_auth_token_provider=_o_auth_token_provider,
        ),
        token_url=server.token_url,
        base_url=server.base_url,
        origins=[recorder.url],
    )
    token = _assert_protected_call_works(client, server, recorder)

    assert token == saved  # the provider's token, as loaded from the database
    assert server.token_requests() == 1  # none by the snippet-3 client
    assert server.tokens_issued() == 1


def test_snippet_3_provider_returning_an_expired_saved_token_is_a_typed_error(
    server: AuthorizationServer, recorder: RecordingServer
) -> None:
    """The snippet returns whatever the database holds; ccg refuses an expired token.

    It does not silently fetch a new one either: the provider decides, and nothing
    protected is sent.
    """
    stale = OAuthToken(
        access_token="stale-token",
        expires_in=3600,
        scope="read write",
        expiry=time.time() - 10,
    )
    save_token_to_database(stale)
    client = MdnotesccgmodelpostfixClient(
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials(
            o_auth_client_id="OAuthClientId",
            o_auth_client_secret="OAuthClientSecret",
            o_auth_scopes=[OAuthScopeEnum.READ_SCOPE, OAuthScopeEnum.WRITE_SCOPE],
            o_auth_token_provider=_o_auth_token_provider,
        ),
        token_url=server.token_url,
        base_url=server.base_url,
        origins=[recorder.url],
    )

    with pytest.raises(TokenProviderError, match="expired"):
        client.get(server.resource_url)
    with pytest.raises(TokenProviderError):
        client.get(f"{recorder.url}/whoami")

    assert server.token_requests() == 0
    assert server.resource_requests() == 0
    assert recorder.requests() == []
    assert client.auth_manager.o_auth_token is None
