"""What the core's values print, under `repr()` and rich's `__rich_repr__`: exactly, so a
label a user reads in a log cannot silently change or go missing; and never a secret
(client secret, Basic credentials, access or refresh token), whatever a decision holds."""

from __future__ import annotations

from typing import Final

from hypothesis import given
from hypothesis import strategies as st
from msgspec.structs import replace

from ccg.core import (
    ClientAuthentication,
    ClientSecretPost,
    Decision,
    Fail,
    FetchToken,
    HttpReply,
    HttpRequest,
    InvalidToken,
    Now,
    OAuthToken,
    Policy,
    TokenOrigin,
    TokenRequestSpec,
    TokenSet,
    TokenState,
    UseToken,
    build_token_request,
    step,
)
from ccg.testing.strategies import (
    client_authentications,
    inputs_for,
    nows,
    policies,
    states,
)

BARE: Final = OAuthToken(access_token="AT-S3CR3T", expires_in=3600, expiry=1700003600.0)
"""A token as the client credentials grant issues it: no refresh token."""
WITH_REFRESH: Final = OAuthToken(
    access_token="AT-S3CR3T", scope="read", expires_in=60, refresh_token="RT-S3CR3T"
)
SPEC: Final = TokenRequestSpec(
    token_url="https://as.example/token",
    client_id="my-client",
    client_secret="hunter2",
    scopes=("read", "write"),
    extra_params=(("audience", "https://api.example"),),
    authentication=ClientSecretPost(),
)


def test_token_repr_without_a_refresh_token_ends_after_expiry() -> None:
    assert repr(BARE) == (
        "OAuthToken(access_token='***', token_type='Bearer', expires_in=3600, "
        "scope=None, expiry=1700003600.0)"
    )
    assert str(BARE) == repr(BARE)


def test_token_repr_masks_a_refresh_token() -> None:
    assert repr(WITH_REFRESH) == (
        "OAuthToken(access_token='***', token_type='Bearer', expires_in=60, "
        "scope='read', expiry=None, refresh_token=***)"
    )


def test_token_repr_shows_refresh_in_when_the_server_sent_it() -> None:
    token = OAuthToken(access_token="AT-S3CR3T", expires_in=3600, refresh_in=1800)
    assert repr(token) == (
        "OAuthToken(access_token='***', token_type='Bearer', expires_in=3600, "
        "scope=None, expiry=None, refresh_in=1800)"
    )


def test_token_rich_repr_shows_every_field_with_both_tokens_masked() -> None:
    assert BARE.__rich_repr__() == [
        ("access_token", "***"),
        ("token_type", "Bearer"),
        ("expires_in", 3600),
        ("scope", None),
        ("expiry", 1700003600.0),
    ]
    assert WITH_REFRESH.__rich_repr__() == [
        ("access_token", "***"),
        ("token_type", "Bearer"),
        ("expires_in", 60),
        ("scope", "read"),
        ("expiry", None),
        ("refresh_token", "***"),
    ]


def test_token_rich_repr_shows_refresh_in_when_the_server_sent_it() -> None:
    advised = OAuthToken(access_token="AT-S3CR3T", expires_in=3600, refresh_in=1800)
    assert advised.__rich_repr__() == [
        ("access_token", "***"),
        ("token_type", "Bearer"),
        ("expires_in", 3600),
        ("scope", None),
        ("expiry", None),
        ("refresh_in", 1800),
    ]


def test_use_token_prints_its_token_masked() -> None:
    assert repr(UseToken(token=BARE)) == f"UseToken(token={BARE!r})"
    assert "S3CR3T" not in repr([UseToken(token=WITH_REFRESH), {"t": WITH_REFRESH}])


def test_spec_rich_repr_shows_every_field_but_the_secret() -> None:
    assert SPEC.__rich_repr__() == [
        ("token_url", "https://as.example/token"),
        ("client_id", "my-client"),
        ("client_secret", "***"),
        ("scopes", ("read", "write")),
        ("extra_params", (("audience", "https://api.example"),)),
        ("authentication", ClientSecretPost()),
    ]
    assert repr(SPEC) == (
        "TokenRequestSpec(token_url='https://as.example/token', client_id='my-client', "
        "client_secret='***', scopes=('read', 'write'), "
        "extra_params=(('audience', 'https://api.example'),), "
        "authentication=ClientSecretPost())"
    )


def test_http_request_masks_credentials_and_shows_the_body_as_a_size() -> None:
    request = HttpRequest(
        method="POST",
        url="https://as.example/token",
        headers=(
            ("Authorization", "Basic c2VjcmV0"),
            ("proxy-authorization", "Basic eA=="),
            ("Cookie", "s=1"),
            ("DPoP", "eyJ"),
            ("Accept", "application/json"),
        ),
        body=b"client_secret=hunter2",
    )
    shown_headers = (
        ("Authorization", "***"),
        ("proxy-authorization", "***"),
        ("Cookie", "***"),
        ("DPoP", "***"),
        ("Accept", "application/json"),
    )
    assert request.__rich_repr__() == [
        ("method", "POST"),
        ("url", "https://as.example/token"),
        ("headers", shown_headers),
        ("body", "<21 bytes>"),
        ("limits", None),
    ]
    assert repr(request) == (
        f"HttpRequest(method='POST', url='https://as.example/token', headers={shown_headers!r}, "
        "body=<21 bytes>, limits=None)"
    )


def test_http_reply_repr_shows_status_and_size() -> None:
    reply = HttpReply(status=200, body=b'{"access_token":"AT"}')
    assert repr(reply) == "HttpReply(status=200, body=<21 bytes>)"


@given(authentication=client_authentications(), secret=st.text(min_size=1, max_size=8))
def test_a_request_never_prints_the_secret_or_the_credentials(
    authentication: ClientAuthentication, secret: str
) -> None:
    marked = replace(SPEC, client_secret="S3CR3T" + secret, authentication=authentication)
    request = build_token_request(marked)
    texts = [
        repr(marked),
        repr(request),
        repr(request.__rich_repr__()),
        repr(marked.__rich_repr__()),
    ]
    for text in texts:
        assert "S3CR3T" not in text
    authorization = request.header("Authorization")
    if authorization is not None:
        assert all(authorization.removeprefix("Basic ") not in text for text in texts)


def _marked(state: TokenState) -> TokenState:
    """`state` with its held token's secrets made recognisable."""
    if state.held is None:
        return state
    token = state.held.token
    secret = replace(
        token,
        access_token="S3CR3T" + token.access_token,
        refresh_token=None if token.refresh_token is None else "S3CR3T-refresh",
    )
    return replace(state, held=replace(state.held, token=secret))


@given(policy=policies(), state=states().map(_marked), data=st.data(), now=nows())
def test_a_decision_never_prints_a_secret(
    policy: Policy, state: TokenState, data: st.DataObject, now: Now
) -> None:
    """Whatever a step decides about a held token or inputs carrying it (requests built,
    tokens used, announced or shown to a provider, failures about refused tokens), its
    printed form holds neither the client secret nor an access or refresh token."""
    marked_policy = replace(policy, request=replace(policy.request, client_secret="S3CR3T-c"))
    event = data.draw(inputs_for(state), label="event")
    decision = step(marked_policy, state, event, now)
    assert "S3CR3T" not in repr(decision)
    assert "S3CR3T" not in repr([value.__rich_repr__() for value in _rich(decision)])


def _rich(decision: Decision) -> list[OAuthToken | HttpRequest]:
    found: list[OAuthToken | HttpRequest] = []
    if decision.state.held is not None:
        found.append(decision.state.held.token)
    for effect in decision.work:
        if isinstance(effect, FetchToken):
            found.append(effect.request)
    return found


def test_a_refused_token_is_not_quoted() -> None:
    event = TokenSet(token=OAuthToken(access_token="S3CR3T with a space"))
    decision = step(Policy(request=SPEC), TokenState(), event, Now(monotonic=0.0, wall=0.0))
    assert decision.answer == Fail(
        failure=InvalidToken(
            origin=TokenOrigin.SETTER,
            reason="access_token cannot be sent in a header: character 7 of 19 is ' '",
        )
    )
    assert "S3CR3T" not in repr(decision)
