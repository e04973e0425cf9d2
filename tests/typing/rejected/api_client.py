# ruff: noqa: E501
# fmt: off
# (An expectation comment must stay on the line it is about: no wrapping, no reformatting.)
"""Mistakes with ApiClient, its replies and its auth manager."""

from ccg import (
    ApiClient,
    ClientCredentialsAuthCredentials,
    OAuthProviderError,
    OAuthToken,
    TokenProvider,
)
from ccg.core import TokenState
from ccg.testing import FakeClock, FakeTransport

credentials = ClientCredentialsAuthCredentials("id", "secret")
ApiClient(credentials, "https://as.example/token")  # E: call-overload | reportCallIssue
ApiClient(client_credentials_auth_credentials="id:secret", token_url="https://as/t")  # E: call-overload | reportArgumentType
ApiClient(client_credentials_auth_credentials=credentials, token_url="https://as", clock=1.0)  # E: call-overload | reportArgumentType
ApiClient(client_credentials_auth_credentials=credentials, token_url="u", transport=object())  # E: call-overload | reportArgumentType
ApiClient(client_credentials_auth_credentials=credentials, token_url="u", token_transport=FakeClock())  # E: call-overload | reportArgumentType
ApiClient(client_credentials_auth_credentials=credentials, token_url="u", entropy=0.5)  # E: call-overload | reportArgumentType
ApiClient(client_credentials_auth_credentials=credentials, token_url="u", allow_insecure_http="no")  # E: call-overload | reportArgumentType
ApiClient(auth_manager=credentials)  # E: call-overload | reportArgumentType
client = ApiClient(client_credentials_auth_credentials=credentials, token_url="https://as/t")
ApiClient(auth_manager=client)  # E: call-overload | reportArgumentType
shared = ApiClient(auth_manager=client.auth_manager, transport=FakeTransport())
ApiClient(client_credentials_auth_credentials=credentials)  # E: call-overload | reportCallIssue
ApiClient(token_url="https://as/t")  # E: call-overload | reportCallIssue
ApiClient(auth_manager=client.auth_manager, token_url="https://as/t")  # E: call-overload | reportCallIssue
ApiClient(auth_manager=client.auth_manager, clock=FakeClock())  # E: call-overload | reportCallIssue
shared.client_credentials_auth_credentials.o_auth_client_id = "other"  # E: misc | reportAttributeAccessIssue
provider: TokenProvider = client.client_credentials_auth_credentials.o_auth_token_provider  # E: assignment | reportAssignmentType
status: str = client.get("/x").status  # E: assignment | reportAssignmentType
orders = client.get("/orders").json()["orders"]  # E: index | reportIndexIssue, reportUnknownVariableType
client.get("/x", json={"a": 1})  # E: call-arg | reportCallIssue
client.request("POST", "/x", body=5)  # E: arg-type | reportArgumentType
client.request("GET")  # E: call-arg | reportCallIssue
client.post("/x", data=b"")  # E: call-arg | reportCallIssue
client.close(True)  # E: call-arg | reportCallIssue
expiry = client.auth_manager.o_auth_token.expiry  # E: union-attr | reportOptionalMemberAccess
last: OAuthToken = client.auth_manager.o_auth_token  # E: assignment | reportAssignmentType
header: bytes = client.auth_manager.authorization_header()  # E: assignment | reportAssignmentType
client.auth_manager.fetch_token({"audience": 5})  # E: dict-item | reportArgumentType
client.auth_manager.state = TokenState()  # E: misc | reportAttributeAccessIssue
client.auth_manager.policy.clock_skew = 0.0  # E: misc | reportAttributeAccessIssue
held: OAuthToken = client.auth_manager.state.held.token  # E: union-attr | reportOptionalMemberAccess
code: OAuthProviderError = OAuthProviderError("invalid_client").value  # E: assignment | reportAssignmentType
FakeTransport().send("https://api.example/x")  # E: arg-type | reportArgumentType
