# ruff: noqa: E501, B018
# fmt: off
# (An expectation comment must stay on the line it is about: no wrapping, no reformatting.)
"""Mistakes with ccg.aio: a threaded transport or manager where an async one is needed (and
the other way round), an async call not awaited, a plain value awaited."""

from returns.result import Result

from ccg import (
    ApiClient,
    ClientCredentialsAuthCredentials,
    ClientCredentialsAuthManager,
    HttpReply,
    HttpRequest,
    OAuthToken,
    Transport,
    TransportFailure,
    Urllib3Transport,
)
from ccg.aio import (
    AsyncApiClient,
    AsyncClientCredentialsAuthManager,
    AsyncTransport,
    HttpxAsyncTransport,
)
from ccg.core import TokenRequestSpec
from ccg.testing import FakeAsyncTransport, FakeClock, FakeTransport, run_inline

URL = "https://as.example/token"
credentials = ClientCredentialsAuthCredentials("id", "secret")
spec = TokenRequestSpec(token_url=URL, client_id="id", client_secret="secret")
threaded = ClientCredentialsAuthManager(spec, transport=FakeTransport())
manager = AsyncClientCredentialsAuthManager(spec, transport=FakeAsyncTransport())
token = OAuthToken(access_token="t1")


class SyncSend:
    def send(self, request: HttpRequest, /) -> Result[HttpReply, TransportFailure]:
        raise NotImplementedError


class ReturnsTheReply:
    async def send(self, request: HttpRequest, /) -> HttpReply:
        return HttpReply(status=200)


# -- transports: AsyncTransport has `async def send`; Transport a plain one -------------------
AsyncApiClient(client_credentials_auth_credentials=credentials, token_url=URL, transport=Urllib3Transport())  # E: call-overload | reportArgumentType
AsyncApiClient(client_credentials_auth_credentials=credentials, token_url=URL, token_transport=FakeTransport())  # E: call-overload | reportArgumentType
AsyncApiClient(auth_manager=manager, transport=Urllib3Transport())  # E: call-overload | reportArgumentType
ApiClient(client_credentials_auth_credentials=credentials, token_url=URL, transport=FakeAsyncTransport())  # E: call-overload | reportArgumentType
AsyncClientCredentialsAuthManager(spec, transport=FakeTransport())  # E: arg-type | reportArgumentType
AsyncClientCredentialsAuthManager(spec, transport=Urllib3Transport())  # E: arg-type | reportArgumentType
credentials.create_async_auth_manager(URL, transport=Urllib3Transport())  # E: arg-type | reportArgumentType
credentials.create_auth_manager(URL, transport=HttpxAsyncTransport())  # E: arg-type | reportArgumentType
sync_port: Transport = FakeAsyncTransport()  # E: assignment | reportAssignmentType
async_port: AsyncTransport = FakeTransport()  # E: assignment | reportAssignmentType
plain_send: AsyncTransport = SyncSend()  # E: assignment | reportAssignmentType
bare_reply: AsyncTransport = ReturnsTheReply()  # E: assignment | reportAssignmentType

# -- managers: each client takes its own kind ----------------------------------------------
AsyncApiClient(auth_manager=threaded)  # E: call-overload | reportArgumentType
ApiClient(auth_manager=manager)  # E: call-overload | reportArgumentType
AsyncApiClient(auth_manager=AsyncApiClient(auth_manager=manager))  # E: call-overload | reportArgumentType
AsyncApiClient(credentials, URL)  # E: call-overload | reportCallIssue
AsyncApiClient(client_credentials_auth_credentials=credentials)  # E: call-overload | reportCallIssue
AsyncApiClient(auth_manager=manager, token_url=URL)  # E: call-overload | reportCallIssue
AsyncApiClient(auth_manager=manager, clock=FakeClock())  # E: call-overload | reportCallIssue
AsyncApiClient(client_credentials_auth_credentials=credentials, token_url=URL, spawn=run_inline)  # E: call-overload | reportCallIssue
AsyncClientCredentialsAuthManager(spec)  # E: call-arg | reportCallIssue
AsyncClientCredentialsAuthManager(URL, transport=FakeAsyncTransport())  # E: arg-type | reportArgumentType

# -- providers: a threaded manager cannot await; an async one hands itself over -------------
async def async_provider(last: OAuthToken | None, auth: AsyncClientCredentialsAuthManager) -> OAuthToken:
    return last or await auth.fetch_token()


def threads_provider(last: OAuthToken | None, auth: ClientCredentialsAuthManager) -> OAuthToken:
    return last or auth.fetch_token()


async def returns_text(last: OAuthToken | None, auth: AsyncClientCredentialsAuthManager) -> str:
    return "token"


ClientCredentialsAuthManager(spec, transport=FakeTransport(), token_provider=async_provider)  # E: arg-type | reportArgumentType
AsyncClientCredentialsAuthManager(spec, transport=FakeAsyncTransport(), token_provider=threads_provider)  # E: arg-type | reportArgumentType
ClientCredentialsAuthCredentials("id", "secret", o_auth_token_provider=returns_text)  # E: arg-type | reportArgumentType

# -- sharing: an async view of a threaded manager ------------------------------------------
AsyncClientCredentialsAuthManager.sharing(manager, transport=FakeAsyncTransport())  # E: arg-type | reportArgumentType
AsyncClientCredentialsAuthManager.sharing(credentials, transport=FakeAsyncTransport())  # E: arg-type | reportArgumentType
AsyncClientCredentialsAuthManager.sharing(ApiClient(auth_manager=threaded), transport=FakeAsyncTransport())  # E: arg-type | reportArgumentType
AsyncClientCredentialsAuthManager.sharing(threaded)  # E: call-arg | reportCallIssue
AsyncClientCredentialsAuthManager.sharing(threaded, FakeAsyncTransport())  # E: call-arg | reportCallIssue
AsyncClientCredentialsAuthManager.sharing(threaded, transport=FakeTransport())  # E: arg-type | reportArgumentType
viewed: ClientCredentialsAuthManager = AsyncClientCredentialsAuthManager.sharing(threaded, transport=FakeAsyncTransport())  # E: assignment | reportAssignmentType


# -- await: an async call not awaited is a coroutine, not its result -------------------------
client = AsyncApiClient(auth_manager=manager)
held: OAuthToken = manager.token()  # E: assignment | reportAssignmentType
manager.token().access_token  # E: attr-defined | reportAttributeAccessIssue, reportUnknownMemberType
header: str = manager.authorization_header()  # E: assignment | reportAssignmentType
fetched: OAuthToken = manager.fetch_token()  # E: assignment | reportAssignmentType
replay: OAuthToken | None = manager.token_rejected(token)  # E: assignment | reportAssignmentType
pair, value = manager.bearer()  # E: misc | reportGeneralTypeIssues, reportUnknownVariableType
client.get("/x").status  # E: attr-defined | reportAttributeAccessIssue, reportUnknownMemberType
ApiClient(auth_manager=threaded).auth_manager.authorization_header().encode()  # threaded: a str, fine
client.auth_manager.authorization_header().encode()  # E: attr-defined | reportAttributeAccessIssue, reportUnknownMemberType
manager.fetch_token()  # E: unused-coroutine | reportUnusedCoroutine
manager.set_token(None)  # E: unused-coroutine | reportUnusedCoroutine
client.aclose()  # E: unused-coroutine | reportUnusedCoroutine


# -- await: a plain value or a threaded call is not awaitable ---------------------------------
async def awaited_too_much() -> None:
    await manager.o_auth_token  # E: misc | reportGeneralTypeIssues
    await manager.is_token_expired()  # E: misc | reportGeneralTypeIssues
    await manager.policy  # E: misc | reportGeneralTypeIssues
    await manager.report()  # E: misc, func-returns-value | reportGeneralTypeIssues
    await client.auth_manager.o_auth_token  # E: misc | reportGeneralTypeIssues
    await threaded.token()  # E: misc | reportGeneralTypeIssues
    with client:  # E: attr-defined | reportGeneralTypeIssues
        pass
    async with ApiClient(auth_manager=threaded):  # E: attr-defined | reportGeneralTypeIssues
        pass
    manager.o_auth_token = token  # E: misc | reportAttributeAccessIssue
