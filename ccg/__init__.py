"""ccg: a strictly typed OAuth 2.0 Client Credentials Grant client (RFC 6749 §4.4).

Give it a client id, a secret, scopes and a token endpoint; it fetches the access
token, caches it, sends `Authorization: Bearer ...` on every protected call,
renews it before it expires, and never lets a herd of threads fetch it twice.

The pure state machine is in `ccg.core`, the shell in `ccg.interp`, and the test
doubles in `ccg.testing`.
"""

from ccg._client import ApiClient
from ccg._credentials import ClientCredentialsAuthCredentials
from ccg._errors import (
    ApiTransportError,
    CcgError,
    ConfigurationError,
    InvalidTokenError,
    OAuthProviderException,
    ReentrantTokenRequest,
    TokenAcquisitionError,
    TokenAcquisitionTimeout,
    TokenEndpointUnreachable,
    TokenFetchAbandoned,
    TokenProviderError,
    TokenRejectedError,
    TokenResponseError,
    TokenUpdateCallbackError,
)
from ccg._scopes import OAuthScopeEnum
from ccg.core import (
    TOKEN_REQUEST_LIMITS,
    ClientAuthentication,
    ClientSecretAuto,
    ClientSecretBasic,
    ClientSecretPost,
    Event,
    HttpReply,
    HttpRequest,
    Limits,
    OAuthProviderError,
    OAuthToken,
    ResiliencePolicy,
    TokenFailure,
    TokenRequestSpec,
    TransportFailure,
    TransportFailureKind,
)
from ccg.interp import (
    BearerPresenter,
    ClientCredentialsAuthManager,
    Clock,
    OnTokenUpdate,
    SystemClock,
    TokenPresenter,
    TokenProvider,
    Transport,
    Urllib3Transport,
)

OAuth2 = ClientCredentialsAuthManager
"""The seed SDK's name for the auth manager handed to `o_auth_token_provider`."""

__version__ = "0.2.0"

__all__ = [
    "TOKEN_REQUEST_LIMITS",
    "ApiClient",
    "ApiTransportError",
    "BearerPresenter",
    "CcgError",
    "ClientAuthentication",
    "ClientCredentialsAuthCredentials",
    "ClientCredentialsAuthManager",
    "ClientSecretAuto",
    "ClientSecretBasic",
    "ClientSecretPost",
    "Clock",
    "ConfigurationError",
    "Event",
    "HttpReply",
    "HttpRequest",
    "InvalidTokenError",
    "Limits",
    "OAuth2",
    "OAuthProviderError",
    "OAuthProviderException",
    "OAuthScopeEnum",
    "OAuthToken",
    "OnTokenUpdate",
    "ReentrantTokenRequest",
    "ResiliencePolicy",
    "SystemClock",
    "TokenAcquisitionError",
    "TokenAcquisitionTimeout",
    "TokenEndpointUnreachable",
    "TokenFailure",
    "TokenFetchAbandoned",
    "TokenPresenter",
    "TokenProvider",
    "TokenProviderError",
    "TokenRejectedError",
    "TokenRequestSpec",
    "TokenResponseError",
    "TokenUpdateCallbackError",
    "Transport",
    "TransportFailure",
    "TransportFailureKind",
    "Urllib3Transport",
    "__version__",
]
