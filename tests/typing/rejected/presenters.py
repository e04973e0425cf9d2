# ruff: noqa: E501
# fmt: off
# (An expectation comment must stay on the line it is about: no wrapping, no reformatting.)
"""A presenter has `authorization(token, method, url) -> str`."""

from ccg import (
    ApiClient,
    BearerPresenter,
    ClientCredentialsAuthCredentials,
    OAuthToken,
    TokenPresenter,
)


class NoAuthorization:
    def header(self, token: OAuthToken, method: str, url: str) -> str:
        return "Bearer " + token.access_token


class TokenOnly:
    def authorization(self, token: OAuthToken) -> str:
        return "Bearer " + token.access_token


class ReturnsBytes:
    def authorization(self, token: OAuthToken, method: str, url: str) -> bytes:
        return b"Bearer " + token.access_token.encode()


class TakesTheAccessToken:
    def authorization(self, token: str, method: str, url: str) -> str:
        return "Bearer " + token


credentials = ClientCredentialsAuthCredentials("id", "secret")
URL = "https://as.example/token"
token = OAuthToken(access_token="t1")

no_method: TokenPresenter = NoAuthorization()  # E: assignment | reportAssignmentType
ApiClient(client_credentials_auth_credentials=credentials, token_url=URL, presenter=NoAuthorization())  # E: call-overload | reportArgumentType
ApiClient(client_credentials_auth_credentials=credentials, token_url=URL, presenter=TokenOnly())  # E: call-overload | reportArgumentType
ApiClient(client_credentials_auth_credentials=credentials, token_url=URL, presenter=ReturnsBytes())  # E: call-overload | reportArgumentType
ApiClient(client_credentials_auth_credentials=credentials, token_url=URL, presenter=TakesTheAccessToken())  # E: call-overload | reportArgumentType
ApiClient(client_credentials_auth_credentials=credentials, token_url=URL, presenter=BearerPresenter)  # E: call-overload | reportArgumentType
ApiClient(client_credentials_auth_credentials=credentials, token_url=URL, presenter="Bearer")  # E: call-overload | reportArgumentType
header: bytes = BearerPresenter().authorization(token, "GET", "https://api.example/x")  # E: assignment | reportAssignmentType
BearerPresenter().authorization(token)  # E: call-arg | reportCallIssue
BearerPresenter().authorization("t1", "GET", "https://api.example/x")  # E: arg-type | reportArgumentType
