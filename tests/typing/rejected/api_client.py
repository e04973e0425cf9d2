# ruff: noqa: E501
# fmt: off
# (An expectation comment must stay on the line it is about: no wrapping, no reformatting.)
"""Mistakes with ApiClient, its replies and its auth manager."""

from ccg import ApiClient, ClientCredentialsAuthCredentials, OAuthProviderError, OAuthToken
from ccg.testing import FakeTransport

credentials = ClientCredentialsAuthCredentials("id", "secret")
ApiClient(client_credentials_auth_credentials=credentials)  # E: call-arg | reportCallIssue
ApiClient(credentials, "https://as.example/token")  # E: call-arg | reportCallIssue
ApiClient(client_credentials_auth_credentials=credentials, token_url=None)  # E: arg-type | reportArgumentType
ApiClient(client_credentials_auth_credentials=credentials, token_url="https://as", clock=1.0)  # E: arg-type | reportArgumentType
ApiClient(client_credentials_auth_credentials=credentials, token_url="u", transport=object())  # E: arg-type | reportArgumentType
client = ApiClient(client_credentials_auth_credentials=credentials, token_url="https://as/t")
status: str = client.get("/x").status  # E: assignment | reportAssignmentType
orders = client.get("/orders").json()["orders"]  # E: index | reportIndexIssue, reportUnknownVariableType
client.get("/x", json={"a": 1})  # E: call-arg | reportCallIssue
client.request("POST", "/x", body=5)  # E: arg-type | reportArgumentType
client.request("GET")  # E: call-arg | reportCallIssue
client.post("/x", data=b"")  # E: call-arg | reportCallIssue
expiry = client.auth_manager.o_auth_token.expiry  # E: union-attr | reportOptionalMemberAccess
last: OAuthToken = client.auth_manager.o_auth_token  # E: assignment | reportAssignmentType
header: bytes = client.auth_manager.authorization_header()  # E: assignment | reportAssignmentType
client.auth_manager.fetch_token({"audience": ["a", "b"]})  # E: dict-item | reportArgumentType
code: OAuthProviderError = OAuthProviderError("invalid_client").value  # E: assignment | reportAssignmentType
FakeTransport().send("https://api.example/x")  # E: arg-type | reportArgumentType
