"""The transition table of `ccg.core.step`, by example: one row per documented transition.

Each row is `(policy, state, input, now) -> Decision` and compares the whole
`Decision` (state and effects), as h11's `test_state.py` compares whole states.
Expected values are written out by hand: the token request is spelt out
literally, not built with `build_token_request`.
"""

from __future__ import annotations

import math
from typing import Final, NamedTuple

import pytest

from ccg.core import (
    AwaitFetch,
    CallTokenProvider,
    Decision,
    EndpointUnreachable,
    ErrorResponse,
    Fail,
    Fetching,
    FetchToken,
    Holding,
    HttpReply,
    HttpRequest,
    Input,
    MalformedResponse,
    NotifyTokenUpdate,
    NoToken,
    OAuthProviderError,
    OAuthToken,
    Policy,
    ProviderRaised,
    ProviderReturnedExpired,
    ProviderReturnedNone,
    TokenExpiredOnArrival,
    TokenFailure,
    TokenNeeded,
    TokenProvided,
    TokenProviderRaised,
    TokenReplyReceived,
    TokenRequestFailed,
    TokenRequestSpec,
    TokenSet,
    TokenState,
    TokenUpdateNotified,
    TokenUpdateRaised,
    UpdateCallbackRaised,
    UseToken,
    step,
)

T0: Final = 1_700_000_000.0
"""`now` in most rows."""

SPEC: Final = TokenRequestSpec(
    token_url="https://as.example/token",
    client_id="client",
    client_secret="s3cret",
    scopes=("read",),
)
PLAIN: Final = Policy(request=SPEC, clock_skew=60.0)
NO_SKEW: Final = Policy(request=SPEC, clock_skew=0.0)
PROVIDER: Final = Policy(request=SPEC, clock_skew=60.0, has_provider=True)
CALLBACK: Final = Policy(request=SPEC, clock_skew=60.0, has_update_callback=True)
PROVIDER_CALLBACK: Final = Policy(
    request=SPEC, clock_skew=60.0, has_provider=True, has_update_callback=True
)

FETCH: Final = FetchToken(
    request=HttpRequest(
        method="POST",
        url="https://as.example/token",
        headers=(
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Accept", "application/json"),
            ("Authorization", "Basic Y2xpZW50OnMzY3JldA=="),  # base64("client:s3cret")
        ),
        body=b"grant_type=client_credentials&scope=read",
    )
)

FRESH: Final = OAuthToken(access_token="fresh", expires_in=3600, expiry=T0 + 1800)
"""Usable at T0 (until T0 + 1740)."""
STALE: Final = OAuthToken(access_token="stale", expires_in=3600, expiry=T0 + 30)
"""Expired at T0: inside the 60 s skew."""
FOREVER: Final = OAuthToken(access_token="forever")
"""No `expires_in`, no `expiry`: never expires."""
EDGE: Final = OAuthToken(access_token="edge", expires_in=3600, expiry=T0 + 3600)
"""Expires (skew included) at exactly T0 + 3540."""
SHORT: Final = OAuthToken(access_token="short", expires_in=30, expiry=T0 + 30)
"""A 30 s token: the 60 s skew is capped at 15 s, so it is usable until T0 + 15."""
RESTORED: Final = OAuthToken(access_token="restored", expiry=T0 + 100)
"""Only an `expiry` (restored from storage): the skew is not capped; usable until T0 + 40."""
NEW: Final = OAuthToken(access_token="new", expires_in=3600, expiry=T0 + 3600)
"""What `NEW_REPLY` (or `UNSTAMPED`) becomes when received at T0."""
UNSTAMPED: Final = OAuthToken(access_token="new", expires_in=3600)
"""`NEW` as a provider builds it or an application sets it: no `expiry` yet."""


def _reply(status: int, body: bytes) -> HttpReply:
    return HttpReply(status=status, headers=(("Content-Type", "application/json"),), body=body)


NEW_REPLY: Final = _reply(200, b'{"access_token":"new","token_type":"Bearer","expires_in":3600}')
INVALID_CLIENT: Final = _reply(401, b'{"error":"invalid_client","error_description":"bad secret"}')
INVALID_CLIENT_FAILURE: Final = ErrorResponse(
    status=401, error=OAuthProviderError.INVALID_CLIENT, error_description="bad secret"
)
UNREACHABLE: Final = EndpointUnreachable(reason="ConnectTimeoutError: timed out")
PROVIDER_BOOM: Final = ProviderRaised(reason="RuntimeError: boom")
CALLBACK_BOOM: Final = UpdateCallbackRaised(reason="OSError: disk full")


def bearer(token: OAuthToken) -> UseToken:
    """The expected `UseToken` for `token`, spelt out."""
    return UseToken(token=token, authorization=f"Bearer {token.access_token}")


def fail(failure: TokenFailure) -> Fail:
    """The expected `Fail` effect for `failure`."""
    return Fail(failure=failure)


class Row(NamedTuple):
    """One transition: `step(policy, state, event, now) == expected`."""

    policy: Policy
    state: TokenState
    event: Input
    expected: Decision
    id: str
    now: float


def row(
    policy: Policy,
    state: TokenState,
    event: Input,
    expected: Decision,
    *,
    id: str,
    now: float = T0,
) -> Row:
    return Row(policy, state, event, expected, id, now)


NEEDED: Final = TokenNeeded()

TABLE: Final[list[Row]] = [
    # -- TokenNeeded -------------------------------------------------------------------
    row(PLAIN, NoToken(), NEEDED, Decision(state=Fetching(), effects=(FETCH,)),
        id="NoToken+Needed: start a fetch"),
    row(PROVIDER, NoToken(), NEEDED,
        Decision(state=Fetching(), effects=(CallTokenProvider(last=None),)),
        id="NoToken+Needed, provider: call it with no last token"),
    row(PLAIN, Holding(token=FRESH), NEEDED,
        Decision(state=Holding(token=FRESH), effects=(bearer(FRESH),)),
        id="Holding+Needed, usable: use it"),
    row(PLAIN, Holding(token=STALE), NEEDED,
        Decision(state=Fetching(token=STALE), effects=(FETCH,)),
        id="Holding+Needed, expired: fetch, keeping the old token"),
    row(PROVIDER, Holding(token=STALE), NEEDED,
        Decision(state=Fetching(token=STALE), effects=(CallTokenProvider(last=STALE),)),
        id="Holding+Needed, expired, provider: hand it the last token"),
    row(PLAIN, Holding(token=FOREVER), NEEDED,
        Decision(state=Holding(token=FOREVER), effects=(bearer(FOREVER),)),
        now=T0 + 100 * 365 * 86_400,
        id="Holding+Needed, no expires_in: usable a century later"),
    row(PLAIN, Holding(token=EDGE), NEEDED,
        Decision(state=Holding(token=EDGE), effects=(bearer(EDGE),)),
        now=math.nextafter(T0 + 3540, -math.inf),
        id="Holding+Needed, one ulp before expiry-skew: use it"),
    row(PLAIN, Holding(token=EDGE), NEEDED,
        Decision(state=Fetching(token=EDGE), effects=(FETCH,)),
        now=T0 + 3540,
        id="Holding+Needed, exactly at expiry-skew: expired"),
    row(PLAIN, Holding(token=SHORT), NEEDED,
        Decision(state=Holding(token=SHORT), effects=(bearer(SHORT),)),
        now=T0 + 14.5,
        id="Holding+Needed, 30s token, 60s skew capped at 15s: usable at +14.5"),
    row(PLAIN, Holding(token=SHORT), NEEDED,
        Decision(state=Fetching(token=SHORT), effects=(FETCH,)),
        now=T0 + 15,
        id="Holding+Needed, 30s token, 60s skew capped at 15s: expired at +15"),
    row(PLAIN, Holding(token=RESTORED), NEEDED,
        Decision(state=Fetching(token=RESTORED), effects=(FETCH,)),
        now=T0 + 40,
        id="Holding+Needed, expiry without expires_in: full skew, expired at +40"),
    row(NO_SKEW, Holding(token=FRESH), NEEDED,
        Decision(state=Holding(token=FRESH), effects=(bearer(FRESH),)),
        now=T0 + 1799.5,
        id="Holding+Needed, zero skew: usable until the expiry itself"),
    row(NO_SKEW, Holding(token=FRESH), NEEDED,
        Decision(state=Fetching(token=FRESH), effects=(FETCH,)),
        now=T0 + 1800,
        id="Holding+Needed, zero skew: expired at the expiry itself"),
    row(PLAIN, Fetching(), NEEDED, Decision(state=Fetching(), effects=(AwaitFetch(),)),
        id="Fetching+Needed, nothing held: await the fetch in flight"),
    row(PLAIN, Fetching(token=STALE), NEEDED,
        Decision(state=Fetching(token=STALE), effects=(AwaitFetch(),)),
        id="Fetching+Needed, held token expired: await, never a second fetch"),
    row(PLAIN, Fetching(token=FRESH), NEEDED,
        Decision(state=Fetching(token=FRESH), effects=(bearer(FRESH),)),
        id="Fetching+Needed, usable token set by hand during the fetch: use it"),
    # -- TokenReplyReceived ------------------------------------------------------------
    row(PLAIN, Fetching(), TokenReplyReceived(reply=NEW_REPLY),
        Decision(state=Holding(token=NEW), effects=(bearer(NEW),)),
        id="Fetching+Reply, token: stamp it, hold it, use it"),
    row(CALLBACK, Fetching(token=STALE), TokenReplyReceived(reply=NEW_REPLY),
        Decision(state=Holding(token=NEW), effects=(NotifyTokenUpdate(token=NEW),)),
        id="Fetching+Reply, token, callback: hold it and notify"),
    row(CALLBACK, Fetching(token=NEW), TokenReplyReceived(reply=NEW_REPLY),
        Decision(state=Holding(token=NEW), effects=(bearer(NEW),)),
        id="Fetching+Reply, same token as held, callback: not new, no notify"),
    row(PLAIN, Fetching(), TokenReplyReceived(reply=_reply(200, b'{"access_token":"new"}')),
        Decision(state=Holding(token=OAuthToken(access_token="new")),
                 effects=(bearer(OAuthToken(access_token="new")),)),
        id="Fetching+Reply, no expires_in: held with no expiry"),
    row(PLAIN, Fetching(),
        TokenReplyReceived(reply=_reply(200, b'{"access_token":"new","expires_in":"3600"}')),
        Decision(state=Holding(token=NEW), effects=(bearer(NEW),)),
        id="Fetching+Reply, expires_in as a string (Azure AD v1): accepted"),
    row(PLAIN, Fetching(),
        TokenReplyReceived(reply=_reply(200, b'{"access_token":"new","expires_in":1}')),
        Decision(state=Holding(token=OAuthToken(access_token="new", expires_in=1,
                                                expiry=T0 + 1)),
                 effects=(bearer(OAuthToken(access_token="new", expires_in=1,
                                            expiry=T0 + 1)),)),
        id="Fetching+Reply, expires_in 1 under 60s skew: capped, usable for 0.5s"),
    row(PLAIN, Fetching(token=STALE),
        TokenReplyReceived(reply=_reply(200, b'{"access_token":"new","expires_in":0}')),
        Decision(state=Holding(token=STALE),
                 effects=(fail(TokenExpiredOnArrival(expires_in=0)),)),
        id="Fetching+Reply, expires_in 0: expired on arrival, old token kept"),
    row(PLAIN, Fetching(), TokenReplyReceived(reply=INVALID_CLIENT),
        Decision(state=NoToken(), effects=(fail(INVALID_CLIENT_FAILURE),)),
        id="Fetching+Reply, RFC 6749 5.2 error: back to NoToken, fail"),
    row(PLAIN, Fetching(token=STALE), TokenReplyReceived(reply=INVALID_CLIENT),
        Decision(state=Holding(token=STALE), effects=(fail(INVALID_CLIENT_FAILURE),)),
        id="Fetching+Reply, error: back to the expired token, fail"),
    row(PLAIN, Fetching(),
        TokenReplyReceived(reply=HttpReply(status=502, body=b"<html>Bad Gateway</html>")),
        Decision(state=NoToken(), effects=(fail(MalformedResponse(
            status=502, reason="HTTP 502 without an OAuth error: '<html>Bad Gateway</html>'")),)),
        id="Fetching+Reply, HTML 502: malformed, fail"),
    row(PLAIN, NoToken(), TokenReplyReceived(reply=NEW_REPLY),
        Decision(state=Holding(token=NEW), effects=(bearer(NEW),)),
        id="NoToken+Reply (no fetch in flight): adopted anyway"),
    row(CALLBACK, Holding(token=FRESH), TokenReplyReceived(reply=NEW_REPLY),
        Decision(state=Holding(token=NEW), effects=(NotifyTokenUpdate(token=NEW),)),
        id="Holding+Reply (no fetch in flight), callback: replaces the token, notifies"),
    row(PLAIN, Holding(token=FRESH), TokenReplyReceived(reply=INVALID_CLIENT),
        Decision(state=Holding(token=FRESH), effects=(fail(INVALID_CLIENT_FAILURE),)),
        id="Holding+Reply (no fetch in flight), error: token kept, fail"),
    # -- TokenRequestFailed ------------------------------------------------------------
    row(PLAIN, Fetching(), TokenRequestFailed(reason=UNREACHABLE.reason),
        Decision(state=NoToken(), effects=(fail(UNREACHABLE),)),
        id="Fetching+RequestFailed: back to NoToken, fail"),
    row(PLAIN, Fetching(token=STALE), TokenRequestFailed(reason=UNREACHABLE.reason),
        Decision(state=Holding(token=STALE), effects=(fail(UNREACHABLE),)),
        id="Fetching+RequestFailed: back to the expired token, fail (no retry)"),
    row(PLAIN, Fetching(token=FRESH), TokenRequestFailed(reason=UNREACHABLE.reason),
        Decision(state=Holding(token=FRESH), effects=(fail(UNREACHABLE),)),
        id="Fetching+RequestFailed: keeps a token set by hand during the fetch"),
    row(PLAIN, NoToken(), TokenRequestFailed(reason=UNREACHABLE.reason),
        Decision(state=NoToken(), effects=(fail(UNREACHABLE),)),
        id="NoToken+RequestFailed (no fetch in flight): state unchanged, fail"),
    row(PLAIN, Holding(token=FRESH), TokenRequestFailed(reason=UNREACHABLE.reason),
        Decision(state=Holding(token=FRESH), effects=(fail(UNREACHABLE),)),
        id="Holding+RequestFailed (no fetch in flight): state unchanged, fail"),
    # -- TokenProvided -----------------------------------------------------------------
    row(PROVIDER, Fetching(token=STALE), TokenProvided(token=UNSTAMPED),
        Decision(state=Holding(token=NEW), effects=(bearer(NEW),)),
        id="Fetching+Provided, token: stamp it, hold it, use it"),
    row(PROVIDER_CALLBACK, Fetching(token=STALE), TokenProvided(token=UNSTAMPED),
        Decision(state=Holding(token=NEW), effects=(NotifyTokenUpdate(token=NEW),)),
        id="Fetching+Provided, token, callback: hold it and notify"),
    row(PROVIDER_CALLBACK, Fetching(token=FRESH), TokenProvided(token=FRESH),
        Decision(state=Holding(token=FRESH), effects=(bearer(FRESH),)),
        id="Fetching+Provided, the last token again, callback: not new, no notify"),
    row(PROVIDER, Fetching(), TokenProvided(token=FOREVER),
        Decision(state=Holding(token=FOREVER), effects=(bearer(FOREVER),)),
        id="Fetching+Provided, token without expiry: held, never expires"),
    row(PROVIDER, Fetching(), TokenProvided(token=None),
        Decision(state=NoToken(), effects=(fail(ProviderReturnedNone()),)),
        id="Fetching+Provided None: back to NoToken, fail"),
    row(PROVIDER, Fetching(token=STALE), TokenProvided(token=None),
        Decision(state=Holding(token=STALE), effects=(fail(ProviderReturnedNone()),)),
        id="Fetching+Provided None: back to the expired token, fail"),
    row(PROVIDER, Fetching(token=STALE), TokenProvided(token=STALE),
        Decision(state=Holding(token=STALE),
                 effects=(fail(ProviderReturnedExpired(expiry=T0 + 30)),)),
        id="Fetching+Provided, the expired last token: fail"),
    row(PROVIDER, Fetching(), TokenProvided(token=OAuthToken(access_token="x", expires_in=0)),
        Decision(state=NoToken(), effects=(fail(ProviderReturnedExpired(expiry=T0)),)),
        id="Fetching+Provided, expires_in 0: stamped, expired, fail"),
    row(PROVIDER, NoToken(), TokenProvided(token=UNSTAMPED),
        Decision(state=Holding(token=NEW), effects=(bearer(NEW),)),
        id="NoToken+Provided (no call in flight): adopted anyway"),
    row(PROVIDER, Holding(token=FRESH), TokenProvided(token=None),
        Decision(state=Holding(token=FRESH), effects=(fail(ProviderReturnedNone()),)),
        id="Holding+Provided None (no call in flight): token kept, fail"),
    # -- TokenProviderRaised -----------------------------------------------------------
    row(PROVIDER, Fetching(), TokenProviderRaised(reason=PROVIDER_BOOM.reason),
        Decision(state=NoToken(), effects=(fail(PROVIDER_BOOM),)),
        id="Fetching+ProviderRaised: back to NoToken, fail"),
    row(PROVIDER, Fetching(token=STALE), TokenProviderRaised(reason=PROVIDER_BOOM.reason),
        Decision(state=Holding(token=STALE), effects=(fail(PROVIDER_BOOM),)),
        id="Fetching+ProviderRaised: back to the expired token, fail"),
    row(PROVIDER, NoToken(), TokenProviderRaised(reason=PROVIDER_BOOM.reason),
        Decision(state=NoToken(), effects=(fail(PROVIDER_BOOM),)),
        id="NoToken+ProviderRaised (no call in flight): state unchanged, fail"),
    row(PROVIDER, Holding(token=FRESH), TokenProviderRaised(reason=PROVIDER_BOOM.reason),
        Decision(state=Holding(token=FRESH), effects=(fail(PROVIDER_BOOM),)),
        id="Holding+ProviderRaised (no call in flight): state unchanged, fail"),
    # -- TokenSet ----------------------------------------------------------------------
    row(PLAIN, NoToken(), TokenSet(token=FRESH), Decision(state=Holding(token=FRESH)),
        id="NoToken+Set: hold it, nothing to do"),
    row(CALLBACK, NoToken(), TokenSet(token=FRESH),
        Decision(state=Holding(token=FRESH), effects=(NotifyTokenUpdate(token=FRESH),)),
        id="NoToken+Set, callback: hold it and notify"),
    row(PLAIN, NoToken(), TokenSet(token=UNSTAMPED), Decision(state=Holding(token=NEW)),
        id="NoToken+Set, token without expiry: stamped at now"),
    row(CALLBACK, NoToken(), TokenSet(token=STALE),
        Decision(state=Holding(token=STALE), effects=(NotifyTokenUpdate(token=STALE),)),
        id="NoToken+Set, an expired token, callback: held and notified all the same"),
    row(CALLBACK, NoToken(), TokenSet(token=None), Decision(state=NoToken()),
        id="NoToken+Set None: nothing"),
    row(CALLBACK, Holding(token=FRESH), TokenSet(token=FRESH),
        Decision(state=Holding(token=FRESH)),
        id="Holding+Set the same token, callback: not new, no notify"),
    row(CALLBACK, Holding(token=STALE), TokenSet(token=FRESH),
        Decision(state=Holding(token=FRESH), effects=(NotifyTokenUpdate(token=FRESH),)),
        id="Holding+Set another token, callback: replace and notify"),
    row(CALLBACK, Holding(token=FRESH), TokenSet(token=None), Decision(state=NoToken()),
        id="Holding+Set None, callback: forget it, never notify None"),
    row(PLAIN, Fetching(), TokenSet(token=FRESH), Decision(state=Fetching(token=FRESH)),
        id="Fetching+Set: the fetch stays in flight, the token is held beside it"),
    row(CALLBACK, Fetching(), TokenSet(token=FRESH),
        Decision(state=Fetching(token=FRESH), effects=(NotifyTokenUpdate(token=FRESH),)),
        id="Fetching+Set, callback: notify, the fetch stays in flight"),
    row(PLAIN, Fetching(token=STALE), TokenSet(token=None), Decision(state=Fetching()),
        id="Fetching+Set None: forget the token, the fetch stays in flight"),
    # -- TokenUpdateNotified -----------------------------------------------------------
    row(CALLBACK, Holding(token=NEW), TokenUpdateNotified(token=NEW),
        Decision(state=Holding(token=NEW), effects=(bearer(NEW),)),
        id="Holding+Notified: use the new token"),
    row(CALLBACK, Holding(token=NEW), TokenUpdateNotified(token=NEW),
        Decision(state=Holding(token=NEW)),
        now=T0 + 3540,
        id="Holding+Notified after the token expired: nothing, the caller asks again"),
    row(CALLBACK, Fetching(token=FRESH), TokenUpdateNotified(token=FRESH),
        Decision(state=Fetching(token=FRESH), effects=(bearer(FRESH),)),
        id="Fetching+Notified (token set during a fetch): use it"),
    row(CALLBACK, NoToken(), TokenUpdateNotified(token=FRESH),
        Decision(state=NoToken(), effects=(bearer(FRESH),)),
        id="NoToken+Notified (token forgotten meanwhile): still used by this caller"),
    # -- TokenUpdateRaised -------------------------------------------------------------
    row(CALLBACK, Holding(token=NEW), TokenUpdateRaised(token=NEW, reason=CALLBACK_BOOM.reason),
        Decision(state=Holding(token=NEW), effects=(fail(CALLBACK_BOOM),)),
        id="Holding+UpdateRaised: token kept, fail"),
    row(CALLBACK, Fetching(token=FRESH),
        TokenUpdateRaised(token=FRESH, reason=CALLBACK_BOOM.reason),
        Decision(state=Fetching(token=FRESH), effects=(fail(CALLBACK_BOOM),)),
        id="Fetching+UpdateRaised: the fetch stays in flight, fail"),
    row(CALLBACK, NoToken(), TokenUpdateRaised(token=FRESH, reason=CALLBACK_BOOM.reason),
        Decision(state=NoToken(), effects=(fail(CALLBACK_BOOM),)),
        id="NoToken+UpdateRaised: state unchanged, fail"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("policy", "state", "event", "now", "expected"),
    [pytest.param(r.policy, r.state, r.event, r.now, r.expected, id=r.id) for r in TABLE],
)
def test_transition(
    policy: Policy, state: TokenState, event: Input, now: float, expected: Decision
) -> None:
    assert step(policy, state, event, now) == expected


STATE_KINDS: Final = (NoToken, Holding, Fetching)
INPUT_KINDS: Final = (
    TokenNeeded,
    TokenReplyReceived,
    TokenRequestFailed,
    TokenProvided,
    TokenProviderRaised,
    TokenSet,
    TokenUpdateNotified,
    TokenUpdateRaised,
)


def test_table_covers_every_state_input_pair() -> None:
    covered = {(type(r.state), type(r.event)) for r in TABLE}
    wanted = {(s, i) for s in STATE_KINDS for i in INPUT_KINDS}
    assert wanted - covered == set()


def test_table_ids_are_unique() -> None:
    assert len({r.id for r in TABLE}) == len(TABLE)


def test_documented_cycle() -> None:
    """The diagram, walked once: fetch, adopt, notify, use, expire, fail, keep, refetch."""
    policy = CALLBACK
    d = step(policy, NoToken(), NEEDED, T0)
    assert d == Decision(state=Fetching(), effects=(FETCH,))
    d = step(policy, d.state, NEEDED, T0)  # a second caller meanwhile
    assert d == Decision(state=Fetching(), effects=(AwaitFetch(),))
    d = step(policy, d.state, TokenReplyReceived(reply=NEW_REPLY), T0)
    assert d == Decision(state=Holding(token=NEW), effects=(NotifyTokenUpdate(token=NEW),))
    d = step(policy, d.state, TokenUpdateNotified(token=NEW), T0)
    assert d == Decision(state=Holding(token=NEW), effects=(bearer(NEW),))
    d = step(policy, d.state, NEEDED, T0 + 3539)
    assert d == Decision(state=Holding(token=NEW), effects=(bearer(NEW),))
    d = step(policy, d.state, NEEDED, T0 + 3540)
    assert d == Decision(state=Fetching(token=NEW), effects=(FETCH,))
    d = step(policy, d.state, TokenRequestFailed(reason=UNREACHABLE.reason), T0 + 3541)
    assert d == Decision(state=Holding(token=NEW), effects=(fail(UNREACHABLE),))
    d = step(policy, d.state, NEEDED, T0 + 3542)  # nothing retried until asked again
    assert d == Decision(state=Fetching(token=NEW), effects=(FETCH,))
