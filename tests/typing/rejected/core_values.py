# ruff: noqa: E501, B018
# fmt: off
# (An expectation comment must stay on the line it is about: no wrapping, no reformatting.)
"""Misuse of the functional core: `Now`, `TokenState`, `Policy`, `step` and its `Decision`."""

from typing import assert_never

from ccg import HttpRequest, OAuthToken, TransportFailure, TransportFailureKind
from ccg.core import (
    Answer,
    AwaitFlight,
    Effect,
    Fail,
    FetchToken,
    Held,
    Now,
    Policy,
    TokenFailure,
    TokenNeeded,
    TokenProvided,
    TokenRequestSpec,
    TokenSet,
    TokenState,
    UseToken,
    initial_state,
    step,
)

Now()  # E: call-arg | reportCallIssue
Now(monotonic=1.0)  # E: call-arg | reportCallIssue
Now(1.0, 1_700_000_000.0)  # E: call-arg | reportCallIssue
Now(monotonic="1", wall=1_700_000_000.0)  # E: arg-type | reportArgumentType
now = Now(monotonic=0.0, wall=1_700_000_000.0)
TokenState(flights="1")  # E: arg-type | reportArgumentType
TokenState(held=OAuthToken(access_token="t"))  # E: arg-type | reportArgumentType
Held(token=OAuthToken(access_token="t"))  # E: call-arg | reportCallIssue
Policy()  # E: call-arg | reportCallIssue
policy = Policy(request=TokenRequestSpec(token_url="https://as/t", client_id="id", client_secret="s"))
Policy(request=policy.request, source="provider")  # E: arg-type | reportArgumentType
state = TokenState()
step(policy, state, TokenNeeded(), 5.0)  # E: arg-type | reportArgumentType
step(policy, state, "token_needed", now)  # E: arg-type | reportArgumentType
step(policy, state, TokenNeeded)  # E: call-arg, arg-type | reportCallIssue
decision = step(policy, state, TokenNeeded(), now)
decision.answer.token  # E: union-attr | reportAttributeAccessIssue, reportOptionalMemberAccess, reportUnknownMemberType
work: list[Effect] = decision.work  # E: assignment | reportAssignmentType
decision.work[0].request  # E: union-attr | reportAttributeAccessIssue, reportUnknownMemberType
started: TokenState = initial_state(policy, None, now)  # E: assignment | reportAssignmentType
initial_state(None, now)  # E: call-arg | reportCallIssue
FetchToken(request=HttpRequest(method="POST", url="https://as/t"))  # E: call-arg | reportCallIssue
TokenProvided(token=OAuthToken(access_token="t"))  # E: call-arg | reportCallIssue
TokenSet()  # E: call-arg | reportCallIssue
TokenSet(token=OAuthToken(access_token="t")).token.access_token  # E: attr-defined | reportAttributeAccessIssue, reportUnknownMemberType
TransportFailure(reason="refused")  # E: call-arg | reportCallIssue
TransportFailure(kind="connect", reason="refused")  # E: arg-type | reportArgumentType
failure: TokenFailure = TransportFailureKind.CONNECT  # E: assignment | reportAssignmentType
Fail(failure="timed out")  # E: arg-type | reportArgumentType
UseToken(token=None)  # E: arg-type | reportArgumentType
AwaitFlight(flight=1)  # E: call-arg | reportCallIssue


def use(answer: Answer) -> OAuthToken:
    match answer:
        case UseToken(token=token):
            return token
        case AwaitFlight():
            raise TimeoutError
        case _:
            assert_never(answer)  # E: arg-type | reportArgumentType
