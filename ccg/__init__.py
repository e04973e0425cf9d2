"""ccg: a strictly typed OAuth 2.0 Client Credentials Grant client (RFC 6749 §4.4).

Give it a client id, a secret, scopes and a token endpoint; it fetches the access
token, caches it, sends `Authorization: Bearer ...` on every protected call,
renews it before it expires, and never lets a herd of threads fetch it twice.

The pure state machine is in `ccg.core`, the interpreters in `ccg.interp`, and
the test doubles in `ccg.testing`.
"""

from ccg._client import ApiClient
from ccg._credentials import ClientCredentialsAuthCredentials
from ccg._errors import (
    ApiTransportError,
    CcgError,
    ConfigurationError,
    OAuthProviderException,
    TokenAcquisitionError,
    TokenEndpointUnreachable,
    TokenProviderError,
    TokenResponseError,
    TokenUpdateCallbackError,
)
from ccg.core import (
    ClientSecretBasic,
    ClientSecretPost,
    HttpReply,
    HttpRequest,
    OAuthProviderError,
    OAuthScopeEnum,
    OAuthToken,
)
from ccg.interp import (
    ClientCredentialsAuthManager,
    OnTokenUpdate,
    TokenProvider,
    Transport,
    Urllib3Transport,
)

OAuth2 = ClientCredentialsAuthManager
"""The seed SDK's name for the auth manager handed to `o_auth_token_provider`."""

__version__ = "0.1.0"

__all__ = [
    "ApiClient",
    "ApiTransportError",
    "CcgError",
    "ClientCredentialsAuthCredentials",
    "ClientCredentialsAuthManager",
    "ClientSecretBasic",
    "ClientSecretPost",
    "ConfigurationError",
    "HttpReply",
    "HttpRequest",
    "OAuth2",
    "OAuthProviderError",
    "OAuthProviderException",
    "OAuthScopeEnum",
    "OAuthToken",
    "OnTokenUpdate",
    "TokenAcquisitionError",
    "TokenEndpointUnreachable",
    "TokenProvider",
    "TokenProviderError",
    "TokenResponseError",
    "TokenUpdateCallbackError",
    "Transport",
    "Urllib3Transport",
    "__version__",
]
