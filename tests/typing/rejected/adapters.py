# ruff: noqa: E501
# fmt: off
# (An expectation comment must stay on the line it is about: no wrapping, no reformatting.)
"""Mistakes with ccg.adapters: the auths are bound to `origins` (keyword-only, required, an
iterable of URLs; a single `str` is one too, so it is accepted), and run over the manager of
their kind."""

import httpx
import requests

from ccg import ClientCredentialsAuthManager
from ccg.adapters.httpx import ClientCredentialsAuth as HttpxAuth
from ccg.adapters.requests import ClientCredentialsAuth
from ccg.aio import AsyncClientCredentialsAuthManager
from ccg.core import TokenRequestSpec
from ccg.testing import FakeAsyncTransport, FakeTransport

API = "https://api.example"
spec = TokenRequestSpec(token_url="https://as.example/token", client_id="id", client_secret="secret")
manager = ClientCredentialsAuthManager(spec, transport=FakeTransport())
tasks = AsyncClientCredentialsAuthManager.sharing(manager, transport=FakeAsyncTransport())

# -- requests ------------------------------------------------------------------------------
ClientCredentialsAuth(manager)  # E: call-arg | reportCallIssue
ClientCredentialsAuth(manager, [API])  # E: call-arg | reportCallIssue
ClientCredentialsAuth(manager, origins=None)  # E: arg-type | reportArgumentType
ClientCredentialsAuth(manager, origins=[b"https://api.example"])  # E: list-item | reportArgumentType
ClientCredentialsAuth(manager, origins=[("https", "api.example", 443)])  # E: list-item | reportArgumentType
ClientCredentialsAuth(manager, origins=API, allow_insecure_http="yes")  # E: arg-type | reportArgumentType
ClientCredentialsAuth(tasks, origins=[API])  # E: arg-type | reportArgumentType
ClientCredentialsAuth(origins=[API])  # E: call-arg | reportCallIssue
ClientCredentialsAuth(manager, origins=[API], async_auth_manager=tasks)  # E: call-arg | reportCallIssue
auth = ClientCredentialsAuth(manager, origins=[API])
async_view: AsyncClientCredentialsAuthManager = auth.auth_manager  # E: assignment | reportAssignmentType
sent: requests.Response = auth(requests.Request("GET", API).prepare())  # E: assignment | reportAssignmentType
auth(requests.Request("GET", API))  # E: arg-type | reportArgumentType

# -- httpx ---------------------------------------------------------------------------------
HttpxAuth(manager)  # E: call-arg | reportCallIssue
HttpxAuth(manager, [API])  # E: call-arg | reportCallIssue
HttpxAuth(manager, origins=None)  # E: arg-type | reportArgumentType
HttpxAuth(manager, origins=[httpx.URL(API)])  # E: list-item | reportArgumentType
HttpxAuth(tasks, origins=[API])  # E: arg-type | reportArgumentType
HttpxAuth(manager, origins=[API], async_auth_manager=manager)  # E: arg-type | reportArgumentType
HttpxAuth(manager, origins=[API], async_auth_manager=FakeAsyncTransport())  # E: arg-type | reportArgumentType
HttpxAuth(manager, origins=[API], allow_insecure_http=None)  # E: arg-type | reportArgumentType
httpx_auth = HttpxAuth(manager, origins=API)  # one origin, as a str: accepted
threads_view: ClientCredentialsAuthManager = httpx_auth.async_auth_manager  # E: assignment | reportAssignmentType
httpx_auth.async_auth_manager = tasks  # E: misc | reportAttributeAccessIssue
