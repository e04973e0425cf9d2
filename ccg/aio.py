"""ccg for asyncio (`pip install 'ccg[httpx]'`): `AsyncApiClient`, its token manager and
transports, over the same core as the threaded client.

    async with AsyncApiClient(
        client_credentials_auth_credentials=credentials, token_url=TOKEN_URL
    ) as client:
        reply = await client.get("https://api.example/me")
"""

from ccg._async_client import AsyncApiClient
from ccg.interp import (
    AsyncClientCredentialsAuthManager,
    AsyncOnTokenUpdate,
    AsyncTokenProvider,
    AsyncTransport,
)
from ccg.interp._httpx import HttpxAsyncTransport

__all__ = [
    "AsyncApiClient",
    "AsyncClientCredentialsAuthManager",
    "AsyncOnTokenUpdate",
    "AsyncTokenProvider",
    "AsyncTransport",
    "HttpxAsyncTransport",
]
