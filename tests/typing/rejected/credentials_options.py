# ruff: noqa: E501
# fmt: off
# (An expectation comment must stay on the line it is about: no wrapping, no reformatting.)
"""Mistyped options to ClientCredentialsAuthCredentials (each one also fails at run time)."""

from ccg import ClientCredentialsAuthCredentials, OAuthToken

ClientCredentialsAuthCredentials("id", "secret", o_auth_clock_skew="5")  # E: arg-type | reportArgumentType
ClientCredentialsAuthCredentials("id", "secret", o_auth_token={"access_token": "x"})  # E: arg-type | reportArgumentType
ClientCredentialsAuthCredentials("id", "secret", o_auth_scopes=[1, 2])  # E: list-item | reportArgumentType
ClientCredentialsAuthCredentials(None, "secret")  # E: arg-type | reportArgumentType
ClientCredentialsAuthCredentials("id")  # E: call-arg | reportCallIssue
ClientCredentialsAuthCredentials("id", "secret", o_auth_client_authentication="basic")  # E: arg-type | reportArgumentType
ClientCredentialsAuthCredentials("id", "secret", o_auth_token_request_params={"aud": 1})  # E: dict-item | reportArgumentType
ClientCredentialsAuthCredentials("id", "secret", o_auth_client_secrets="typo")  # E: call-arg | reportCallIssue
credentials = ClientCredentialsAuthCredentials("id", "secret")
credentials.o_auth_token = {"access_token": "x"}  # E: assignment | reportAttributeAccessIssue
credentials.o_auth_client_id = "other"  # E: misc | reportAttributeAccessIssue
token: OAuthToken = credentials.o_auth_token  # E: assignment | reportAssignmentType
