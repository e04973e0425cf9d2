# ruff: noqa: E501
# fmt: off
# (An expectation comment must stay on the line it is about: no wrapping, no reformatting.)
"""Token providers of the wrong shape: `(last_token_or_None, auth_manager) -> OAuthToken | None`."""

from ccg import ClientCredentialsAuthCredentials, ClientCredentialsAuthManager, OAuthToken


def one_parameter(last: OAuthToken | None) -> OAuthToken | None:
    return last


def returns_str(last: OAuthToken | None, manager: ClientCredentialsAuthManager) -> str:
    return "token"


def wants_a_token(last: OAuthToken, manager: ClientCredentialsAuthManager) -> OAuthToken:
    return last


def swapped(manager: ClientCredentialsAuthManager, last: OAuthToken | None) -> OAuthToken:
    return manager.fetch_token()


ClientCredentialsAuthCredentials("id", "secret", o_auth_token_provider=one_parameter)  # E: arg-type | reportArgumentType
ClientCredentialsAuthCredentials("id", "secret", o_auth_token_provider=returns_str)  # E: arg-type | reportArgumentType
ClientCredentialsAuthCredentials("id", "secret", o_auth_token_provider=wants_a_token)  # E: arg-type | reportArgumentType
ClientCredentialsAuthCredentials("id", "secret", o_auth_token_provider=swapped)  # E: arg-type | reportArgumentType
ClientCredentialsAuthCredentials("id", "secret", o_auth_token_provider=lambda last: last)  # E: arg-type | reportArgumentType
ClientCredentialsAuthCredentials("id", "secret", o_auth_token_provider="load_token")  # E: arg-type | reportArgumentType
