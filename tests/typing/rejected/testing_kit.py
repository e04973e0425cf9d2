# ruff: noqa: E501
# fmt: off
# (An expectation comment must stay on the line it is about: no wrapping, no reformatting.)
"""Misuse of ccg.testing (the fakes and the Hypothesis strategies) and of error attributes."""

from hypothesis.strategies import SearchStrategy

from ccg import OAuthProviderException, OAuthToken
from ccg.testing import FakeClock, FakeTransport, json_reply, token_reply
from ccg.testing.strategies import clock_schedules, http_replies, lifetimes, tokens

FakeTransport(["not a reply"])  # E: list-item | reportArgumentType
FakeTransport(handler=lambda request: {"status": 200})  # E: arg-type, return-value | reportArgumentType
FakeClock().advance("1")  # E: arg-type | reportArgumentType
FakeClock().jump(None)  # E: arg-type | reportArgumentType
now: int = FakeClock()()  # E: assignment | reportAssignmentType
token_reply(expires_in="3600")  # E: arg-type | reportArgumentType
json_reply("200", {})  # E: arg-type | reportArgumentType
strings: SearchStrategy[str] = tokens()  # E: assignment | reportAssignmentType
tokens(5)  # E: call-arg | reportCallIssue
schedules: SearchStrategy[list[int]] = clock_schedules()  # E: assignment | reportAssignmentType
clock_schedules(max_size="3")  # E: arg-type | reportArgumentType
lifetime_strings: SearchStrategy[str] = lifetimes()  # E: assignment | reportAssignmentType
replies: SearchStrategy[OAuthToken] = http_replies()  # E: assignment | reportAssignmentType


def describe(error: OAuthProviderException) -> str:
    status: str = error.status  # E: assignment | reportAssignmentType
    return error.error_description.upper() + status  # E: union-attr | reportOptionalMemberAccess
