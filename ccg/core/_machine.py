"""The token state machine: every transition of ccg lives in this file.

Theory of operation
-------------------
`step(policy, state, event, now)` is the whole machine. It is total (every
state x input pair has an outcome, nothing raises) and pure (no clock, no I/O:
`now` is UTC epoch seconds handed in by the caller). It returns a `Decision`:
the next state plus effects for an interpreter to run.

Three states say what is held and whether a fetch is in flight; the token's
*condition* at `now` is derived, never stored:

    usable   now <  expiry - skew      (or the token has no expiry)
    expired  now >= expiry - skew      (the boundary instant counts as expired)

where skew = min(clock_skew, expires_in / 2): a short-lived token is not
re-fetched on every call.

Single flight is a property of the states: only `NoToken` and `Holding` can
start a fetch, and starting one moves to `Fetching`, where every further
`TokenNeeded` is answered `AwaitFetch` (or `UseToken` if the token held during
the fetch is still usable). So at most one `FetchToken`/`CallTokenProvider` is
ever outstanding, and the interpreter hands its outcome to every waiter.

A fetch (or provider call) ends in exactly one of:
  - a usable token: adopt it (`Holding`), then `NotifyTokenUpdate` if it is new
    and a callback is set, then `UseToken`;
  - a failure: go back to what was held before, and `Fail` with a typed reason.
    Nothing is retried here: the next `TokenNeeded` starts a new fetch.

                    TokenSet(t)
        +---------+ ----------------------------> +------------+
        | NoToken |                               | Holding(t) | --TokenNeeded, usable--> UseToken
        +---------+ <------------- TokenSet(None) +------------+
             |                                          |
             | TokenNeeded                              | TokenNeeded, expired
             v                                          v
        +--------------------------------------------------------+
        | Fetching(last)    --TokenNeeded--> AwaitFetch           |
        |                   (UseToken if `last` is usable)        |
        +--------------------------------------------------------+
             |  token received / provided, usable      |  failure, or token already expired
             v                                          v
        Holding(new) + NotifyTokenUpdate(new)      back to Holding(last) / NoToken + Fail
          ...TokenUpdateNotified --> UseToken(new)
          ...TokenUpdateRaised   --> Fail (token kept)

Interpreters may skip `step` for `TokenNeeded` while `now < reusable_until(...)`:
the machine guarantees the answer there is `UseToken` with the state unchanged.
That is the lock-free hot path.
"""

from __future__ import annotations

import math
from typing import assert_never

import msgspec
from returns.pipeline import is_successful

from ccg.core._effects import (
    AwaitFetch,
    CallTokenProvider,
    Decision,
    Effect,
    Fail,
    FetchToken,
    NotifyTokenUpdate,
    UseToken,
)
from ccg.core._failures import (
    EndpointUnreachable,
    ProviderRaised,
    ProviderReturnedExpired,
    ProviderReturnedNone,
    TokenExpiredOnArrival,
    TokenFailure,
    UpdateCallbackRaised,
)
from ccg.core._inputs import (
    Input,
    TokenNeeded,
    TokenProvided,
    TokenProviderRaised,
    TokenReplyReceived,
    TokenRequestFailed,
    TokenSet,
    TokenUpdateNotified,
    TokenUpdateRaised,
)
from ccg.core._state import Fetching, Holding, NoToken, TokenState
from ccg.core._token import OAuthToken, is_expired, stamped, usable_until
from ccg.core._wire import TokenRequestSpec, build_token_request, decode_token_reply

__all__ = ["Policy", "current_token", "reusable_until", "step", "use"]


class Policy(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What the machine needs to know about the client; fixed for a client's lifetime."""

    request: TokenRequestSpec
    """How to build the token request."""
    clock_skew: float
    """Seconds before expiry at which a token counts as expired (capped per token)."""
    has_provider: bool = False
    """True: call `o_auth_token_provider` instead of fetching directly."""
    has_update_callback: bool = False
    """True: emit `NotifyTokenUpdate` for every new token."""


def current_token(state: TokenState) -> OAuthToken | None:
    """The token the state holds, usable or not.

    >>> current_token(NoToken()) is None
    True
    """
    match state:
        case NoToken():
            return None
        case Holding(token=token):
            return token
        case Fetching(token=token):
            return token
        case _:
            assert_never(state)


def reusable_until(policy: Policy, state: TokenState) -> float:
    """The instant before which `TokenNeeded` is answered `UseToken` with the state unchanged.

    `-inf` when no token is usable at any time; `inf` for a token without expiry.
    """
    token = current_token(state)
    if token is None:
        return -math.inf
    return usable_until(token, policy.clock_skew)


def use(token: OAuthToken) -> UseToken:
    """The `UseToken` effect for `token`."""
    return UseToken(token=token, authorization="Bearer " + token.access_token)


def step(policy: Policy, state: TokenState, event: Input, now: float) -> Decision:
    """Decide what follows `event` in `state` at `now`. Total and pure.

    >>> from ccg.core import TokenRequestSpec
    >>> policy = Policy(request=TokenRequestSpec(
    ...     token_url="https://as.example/token", client_id="id", client_secret="s"),
    ...     clock_skew=60.0)
    >>> d = step(policy, NoToken(), TokenNeeded(), now=1000.0)
    >>> type(d.state).__name__, type(d.effects[0]).__name__
    ('Fetching', 'FetchToken')
    """
    match event:
        case TokenNeeded():
            return _on_needed(policy, state, now)
        case TokenReplyReceived(reply=reply):
            result = decode_token_reply(reply)
            if is_successful(result):
                return _on_token(policy, state, result.unwrap(), now, provided=False)
            return _fail(state, result.failure())
        case TokenRequestFailed(reason=reason):
            return _fail(state, EndpointUnreachable(reason=reason))
        case TokenProvided(token=provided):
            if provided is None:
                return _fail(state, ProviderReturnedNone())
            return _on_token(policy, state, provided, now, provided=True)
        case TokenProviderRaised(reason=reason):
            return _fail(state, ProviderRaised(reason=reason))
        case TokenSet(token=token):
            return _on_set(policy, state, token, now)
        case TokenUpdateNotified(token=token):
            if is_expired(token, now, policy.clock_skew):
                return Decision(state=state)  # the callback outlived the token: ask again
            return Decision(state=state, effects=(use(token),))
        case TokenUpdateRaised(reason=reason):
            failure = UpdateCallbackRaised(reason=reason)
            return Decision(state=state, effects=(Fail(failure=failure),))
        case _:
            assert_never(event)


def _start_fetch(policy: Policy, last: OAuthToken | None) -> Decision:
    effect: Effect = (
        CallTokenProvider(last=last)
        if policy.has_provider
        else FetchToken(request=build_token_request(policy.request))
    )
    return Decision(state=Fetching(token=last), effects=(effect,))


def _on_needed(policy: Policy, state: TokenState, now: float) -> Decision:
    match state:
        case NoToken():
            return _start_fetch(policy, None)
        case Holding(token=token):
            if is_expired(token, now, policy.clock_skew):
                return _start_fetch(policy, token)
            return Decision(state=state, effects=(use(token),))
        case Fetching(token=token):
            if token is None or is_expired(token, now, policy.clock_skew):
                return Decision(state=state, effects=(AwaitFetch(),))
            return Decision(state=state, effects=(use(token),))
        case _:
            assert_never(state)


def _settled(state: TokenState) -> TokenState:
    """The state a failed fetch goes back to: what was held before it began."""
    match state:
        case Fetching(token=token):
            return NoToken() if token is None else Holding(token=token)
        case NoToken() | Holding():
            return state
        case _:
            assert_never(state)


def _fail(state: TokenState, failure: TokenFailure) -> Decision:
    return Decision(state=_settled(state), effects=(Fail(failure=failure),))


def _adopt(policy: Policy, state: TokenState, token: OAuthToken) -> Decision:
    """Hold `token`; tell the callback if it is new, else hand it straight to the caller."""
    if policy.has_update_callback and token != current_token(state):
        return Decision(state=Holding(token=token), effects=(NotifyTokenUpdate(token=token),))
    return Decision(state=Holding(token=token), effects=(use(token),))


def _on_token(
    policy: Policy, state: TokenState, token: OAuthToken, now: float, *, provided: bool
) -> Decision:
    token = stamped(token, now)
    if is_expired(token, now, policy.clock_skew):
        failure: TokenFailure = (
            ProviderReturnedExpired(expiry=token.expiry)
            if provided
            else TokenExpiredOnArrival(expires_in=token.expires_in)
        )
        return _fail(state, failure)
    return _adopt(policy, state, token)


def _on_set(policy: Policy, state: TokenState, token: OAuthToken | None, now: float) -> Decision:
    previous = current_token(state)
    if token is not None:
        token = stamped(token, now)
    next_state: TokenState
    if isinstance(state, Fetching):
        next_state = Fetching(token=token)
    elif token is None:
        next_state = NoToken()
    else:
        next_state = Holding(token=token)
    if token is not None and token != previous and policy.has_update_callback:
        return Decision(state=next_state, effects=(NotifyTokenUpdate(token=token),))
    return Decision(state=next_state)
