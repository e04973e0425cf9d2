# ruff: noqa: E501
# fmt: off
# (An expectation comment must stay on the line it is about: no wrapping, no reformatting.)
"""On-token-update callbacks of the wrong shape: `(OAuthToken) -> object`."""

from ccg import ClientCredentialsAuthCredentials, OAuthToken


def takes_int(expires_in: int) -> None:
    print(expires_in)


def takes_two(token: OAuthToken, previous: OAuthToken) -> None:
    print(token, previous)


def takes_nothing() -> None:
    print("updated")


ClientCredentialsAuthCredentials("id", "secret", o_auth_on_token_update=takes_int)  # E: arg-type | reportArgumentType
ClientCredentialsAuthCredentials("id", "secret", o_auth_on_token_update=takes_two)  # E: arg-type | reportArgumentType
ClientCredentialsAuthCredentials("id", "secret", o_auth_on_token_update=takes_nothing)  # E: arg-type | reportArgumentType
ClientCredentialsAuthCredentials("id", "secret", o_auth_on_token_update=lambda t: t.expires_in.bit_length())  # E: union-attr | reportOptionalMemberAccess
