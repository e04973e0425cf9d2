"""How a token becomes held: the one path every token takes, fetched or handed in.

`token_request` builds the request a fetch sends (the machine's `FetchToken` and
`auth_manager.fetch_token()` alike); `accept_reply` turns the endpoint's reply into
a `Held` token or a failure; `accept_token` does the same for a token from a
provider, the setter or the constructor. Both check the token the same way
(`token_problem`), stamp its wall-clock `expiry`, and place its expiry on the
monotonic clock.
"""

from __future__ import annotations

import math

import msgspec
from returns.result import Failure, Result, Success

from ccg.core._failures import InvalidToken, TokenExpiredOnArrival, TokenFailure, TokenOrigin
from ccg.core._http import HttpReply, HttpRequest
from ccg.core._now import Now
from ccg.core._policy import Policy
from ccg.core._state import Held, usable_until
from ccg.core._token import OAuthToken, clamped_lifetime, token_problem
from ccg.core._wire import build_token_request, decode_token_reply

__all__ = ["accept_reply", "accept_token", "token_request"]


def token_request(policy: Policy, extra_params: tuple[tuple[str, str], ...] = ()) -> HttpRequest:
    """The token request of `policy`, with `extra_params` added for this request only."""
    if not extra_params:
        return policy.token_request
    return build_token_request(policy.request, extra_params=extra_params, limits=policy.limits)


def accept_reply(
    policy: Policy, reply: HttpReply, started: float, now: Now
) -> Result[Held, TokenFailure]:
    """The token in the endpoint's `reply` to a request sent at `started` (monotonic).

    Its lifetime counts from `started`, not from receipt: the server issued it
    somewhere in between, and erring early is the safe side. A token already
    within the clock skew of its expiry is refused (`TokenExpiredOnArrival`).
    """
    decoded = decode_token_reply(
        reply, token_types=policy.token_types, max_body_bytes=policy.limits.max_body_bytes
    )
    if not isinstance(decoded, Success):
        return Failure(decoded.failure())
    token: OAuthToken = decoded.unwrap()
    if token.expires_in is None:
        return Success(Held(token=token, expires_at=math.inf))
    lifetime = clamped_lifetime(token.expires_in)
    held = Held(token=_stamped(token, now, started, lifetime), expires_at=started + lifetime)
    if now.monotonic >= usable_until(held, policy.clock_skew):
        return Failure(TokenExpiredOnArrival(expires_in=token.expires_in))
    return Success(held)


def accept_token(
    token: object, origin: TokenOrigin, now: Now, since: float | None = None
) -> Result[Held, TokenFailure]:
    """`token` from `origin` checked and held, or `InvalidToken` saying what is wrong with it.

    A token with an `expiry` keeps it, and the wall clock of this one moment places it
    on the monotonic clock. One with only `expires_in` counts its lifetime from `since`
    (monotonic: when the provider was asked) or, without it, from now, and is stamped
    accordingly. Being expired is not a fault here: the caller decides what an expired
    token means.
    """
    problem = token_problem(token)
    if problem is not None:
        return Failure(InvalidToken(origin=origin, reason=problem))
    assert isinstance(token, OAuthToken)  # token_problem checked it
    if token.expiry is not None:
        expires_at = now.monotonic + (token.expiry - now.wall)
        # NaN only from infinite clock readings, which no real clock gives: expired, then.
        return Success(
            Held(token=token, expires_at=-math.inf if math.isnan(expires_at) else expires_at)
        )
    if token.expires_in is not None:
        lifetime = clamped_lifetime(token.expires_in)
        start = now.monotonic if since is None else since
        return Success(
            Held(token=_stamped(token, now, start, lifetime), expires_at=start + lifetime)
        )
    return Success(Held(token=token, expires_at=math.inf))


def _stamped(token: OAuthToken, now: Now, start: float, lifetime: int) -> OAuthToken:
    """`token` with `expiry` = the wall clock at `start` (monotonic) + `lifetime`.

    Left unstamped when that is not a finite number (an infinite wall clock reading): the
    token still expires here, on the monotonic clock.
    """
    expiry = now.wall - (now.monotonic - start) + lifetime
    return msgspec.structs.replace(token, expiry=expiry if math.isfinite(expiry) else None)
