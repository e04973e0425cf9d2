# ruff: noqa: E501
# fmt: off
# (An expectation comment must stay on the line it is about: no wrapping, no reformatting.)
"""A user's transport must have `send(request, /) -> Result[HttpReply, TransportFailure]`."""

from returns.result import Result, Success

from ccg import ApiClient, ClientCredentialsAuthCredentials, HttpReply, HttpRequest, Transport
from ccg.core import TransportFailure


class ReturnsTheReply:
    def send(self, request: HttpRequest, /) -> HttpReply:
        return HttpReply(status=200)


class TakesAUrl:
    def send(self, url: str, /) -> Result[HttpReply, TransportFailure]:
        return Success(HttpReply(status=200))


class NoSend:
    def post(self, request: HttpRequest, /) -> Result[HttpReply, TransportFailure]:
        return Success(HttpReply(status=200))


reply_transport: Transport = ReturnsTheReply()  # E: assignment | reportAssignmentType
url_transport: Transport = TakesAUrl()  # E: assignment | reportAssignmentType
credentials = ClientCredentialsAuthCredentials("id", "secret")
ApiClient(client_credentials_auth_credentials=credentials, token_url="https://as/t", transport=NoSend())  # E: call-overload | reportArgumentType
