"""How a token becomes held: the one path every token takes, fetched or handed in.

`token_request` builds the request a fetch sends (the machine's `FetchToken` and
`auth_manager.fetch_token()` alike); `accept_reply` turns the endpoint's reply into
a `Held` token or a failure; `accept_token` does the same for a token from a
provider, the setter or the constructor. Both check the token the same way
(`token_problem`), stamp its wall-clock `expiry`, and place it on the monotonic
clock: when it expires, when it stops being used (the skew), and when its soft
refresh window opens.

A fetched token without `expires_in` (or with 0) that is a JWT gets its lifetime from
its own claims (`_jwt.py`: `exp - iat`, else `exp` against the wall clock; read, never
verified). A token with no lifetime at all lasts the policy's `default_lifetime`, or
until an API rejects it. A token *arriving* from a
flight inside the skew but before its expiry is used until its expiry rather than
refused, so a server issuing lifetimes shorter than the skew does not make every
call fetch.
"""

from __future__ import annotations

import math

import msgspec
from returns.result import Failure, Result, Success

from ccg.core._failures import InvalidToken, TokenExpiredOnArrival, TokenFailure, TokenOrigin
from ccg.core._http import HttpReply, HttpRequest
from ccg.core._jwt import jwt_lifetime
from ccg.core._now import Now
from ccg.core._policy import Policy
from ccg.core._state import Held
from ccg.core._token import MAX_LIFETIME, OAuthToken, clamped_lifetime, token_problem
from ccg.core._wire import build_token_request, decode_token_reply

__all__ = ["accept_reply", "accept_token", "placed", "token_request"]


def token_request(
    policy: Policy, extra_params: tuple[tuple[str, str], ...] = (), form: int = 0
) -> HttpRequest:
    """The token request of `policy` with its authentication form number `form`, and
    `extra_params` added for this request only."""
    last = len(policy.auth_forms) - 1
    form = last if form > last else max(form, 0)  # a state made for another policy
    if not extra_params:
        return policy.token_requests[form]
    return build_token_request(
        policy.request,
        extra_params=extra_params,
        limits=policy.limits,
        form=policy.auth_forms[form],
    )


def placed(
    policy: Policy,
    token: OAuthToken,
    expires_at: float,
    lifetime: float | None,
    now: Now,
    *,
    arriving: bool = False,
) -> Held:
    """`token`, expiring at `expires_at` after a `lifetime` (None: unknown), as held.

    The skew is `clock_skew`, capped at half the lifetime. The refresh window is the
    last `refresh_ratio` of the usable lifetime, or opens at the server's
    `refresh_in`. `arriving` (fresh from a flight) uses a token inside the skew
    until its expiry.
    """
    if math.isinf(expires_at):  # never expires, or (from infinite clock readings) long ago
        return Held(
            token=token, expires_at=expires_at, fresh_until=expires_at, refresh_at=expires_at
        )
    skew = policy.clock_skew if lifetime is None else min(policy.clock_skew, lifetime / 2)
    fresh_until = expires_at - skew
    if arriving and fresh_until <= now.monotonic < expires_at:
        fresh_until = expires_at
    start = now.monotonic if lifetime is None else expires_at - lifetime
    usable = max(fresh_until - start, 0.0)
    refresh_at = fresh_until - policy.resilience.refresh_ratio * usable
    if token.refresh_in is not None and lifetime is not None:
        refresh_at = start + clamped_lifetime(token.refresh_in)
    refresh_at = min(refresh_at, fresh_until)
    return Held(token=token, expires_at=expires_at, fresh_until=fresh_until, refresh_at=refresh_at)


def _lifetime(policy: Policy, token: OAuthToken) -> float | None:
    """The lifetime to count for `token`: its `expires_in`, else the policy's default."""
    if token.expires_in:  # 0 says nothing usable: the server's default applies
        return float(clamped_lifetime(token.expires_in))
    default = policy.resilience.default_lifetime
    return None if default is None else min(max(default, 0.0), float(MAX_LIFETIME))


def accept_reply(
    policy: Policy, reply: HttpReply, started: float, now: Now
) -> Result[Held, TokenFailure]:
    """The token in the endpoint's `reply` to a request sent at `started` (monotonic).

    Its lifetime counts from `started`, not from receipt: the server issued it
    somewhere in between, and erring early is the safe side. A token already past
    its expiry on arrival is refused (`TokenExpiredOnArrival`).
    """
    decoded = decode_token_reply(
        reply,
        token_types=policy.token_types,
        max_body_bytes=policy.limits.max_body_bytes,
        secret_forms=policy.secret_forms,
    )
    if not isinstance(decoded, Success):
        return Failure(decoded.failure())
    token: OAuthToken = decoded.unwrap()
    if not token.expires_in:
        # No lifetime given: a JWT's own claims say it (read, not verified).
        stated = jwt_lifetime(token.access_token, now.wall)
        if stated is not None:
            if stated < 1:
                return Failure(TokenExpiredOnArrival(expires_in=token.expires_in))
            token = msgspec.structs.replace(token, expires_in=int(min(stated, MAX_LIFETIME)))
    lifetime = _lifetime(policy, token)
    if lifetime is None:
        return Success(placed(policy, token, math.inf, None, now))
    stamped = _stamped(token, now, started, lifetime)
    if now.monotonic >= started + lifetime:
        return Failure(TokenExpiredOnArrival(expires_in=token.expires_in))
    return Success(placed(policy, stamped, started + lifetime, lifetime, now, arriving=True))


def accept_token(
    policy: Policy,
    token: object,
    origin: TokenOrigin,
    now: Now,
    since: float | None = None,
) -> Result[Held, TokenFailure]:
    """`token` from `origin` checked and held, or `InvalidToken` saying what is wrong with it.

    A token with an `expiry` keeps it, and the wall clock of this one moment places it
    on the monotonic clock. One with only a lifetime counts it from `since`
    (monotonic: when the provider was asked) or, without it, from now, and is stamped
    accordingly. Being expired is not a fault here: the caller decides what an expired
    token means. A provider's token (`since` given) is arriving.
    """
    problem = token_problem(token)
    if problem is not None:
        return Failure(InvalidToken(origin=origin, reason=problem))
    assert isinstance(token, OAuthToken)  # token_problem checked it
    arriving = since is not None
    known = float(clamped_lifetime(token.expires_in)) if token.expires_in else None
    if token.expiry is not None:
        expires_at = now.monotonic + (token.expiry - now.wall)
        # NaN only from infinite clock readings, which no real clock gives: expired, then.
        if math.isnan(expires_at):
            expires_at = -math.inf
        return Success(placed(policy, token, expires_at, known, now, arriving=arriving))
    lifetime = _lifetime(policy, token)
    if lifetime is None:
        return Success(placed(policy, token, math.inf, None, now))
    start = now.monotonic if since is None else since
    return Success(
        placed(
            policy,
            _stamped(token, now, start, lifetime),
            start + lifetime,
            lifetime,
            now,
            arriving=arriving,
        )
    )


def _stamped(token: OAuthToken, now: Now, start: float, lifetime: float) -> OAuthToken:
    """`token` with `expiry` = the wall clock at `start` (monotonic) + `lifetime`.

    Left unstamped when that is not a finite number (an infinite wall clock reading): the
    token still expires here, on the monotonic clock.
    """
    expiry = now.wall - (now.monotonic - start) + lifetime
    return msgspec.structs.replace(token, expiry=expiry if math.isfinite(expiry) else None)
