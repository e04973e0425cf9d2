"""The token request and response on the wire: `build_token_request` and `decode_token_reply`.

Requests are checked byte for byte against hand-computed values (base64 included).
Responses are checked against golden samples in `tests/samples/`, each a JSON
envelope `{"source", "status", "headers", "json" | "text"}` holding a real-shaped
reply, and against Hypothesis-generated hostile replies.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Final, NamedTuple
from urllib.parse import parse_qsl

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from returns.pipeline import is_successful
from returns.result import Failure, Result, Success

from ccg.core import (
    MAX_TOKEN_RESPONSE_BYTES,
    ClientAuthentication,
    ClientSecretBasic,
    ClientSecretPost,
    Decision,
    ErrorResponse,
    Fetching,
    FetchToken,
    HttpReply,
    MalformedResponse,
    NoToken,
    OAuthProviderError,
    OAuthToken,
    Policy,
    TokenFailure,
    TokenNeeded,
    TokenRequestSpec,
    UseToken,
    build_token_request,
    decode_token_reply,
    step,
)
from ccg.testing.strategies import client_authentications, http_replies

SAMPLES: Final = Path(__file__).parent.parent / "samples"

URL: Final = "https://as.example/token"
FORM: Final = ("Content-Type", "application/x-www-form-urlencoded")
ACCEPT: Final = ("Accept", "application/json")

HARD_ID: Final = "my:client"
"""A client id with the ':' that separates id from secret in Basic credentials."""
HARD_SECRET: Final = "a&b c+d%e/f=g\u20ac"
"""A secret with every character form-encoding treats specially, and a euro sign."""
HARD_BASIC: Final = "Basic bXklM0FjbGllbnQ6YSUyNmIlMjBjJTJCZCUyNWUlMkZmJTNEZyVFMiU4MiVBQw=="
"""RFC 6749 §2.3.1: base64("my%3Aclient:a%26b%20c%2Bd%25e%2Ff%3Dg%E2%82%AC")."""
HARD_BASIC_RAW: Final = "Basic bXk6Y2xpZW50OmEmYiBjK2QlZS9mPWfigqw="
"""RFC 7617 style: base64(UTF-8 "my:client:a&b c+d%e/f=g€")."""


def spec(**changes: object) -> TokenRequestSpec:
    base = TokenRequestSpec(token_url=URL, client_id="client", client_secret="s3cret")
    return msgspec.structs.replace(base, **changes)


# -- building the request ----------------------------------------------------------------


def test_minimal_request_is_a_basic_authenticated_form_post() -> None:
    request = build_token_request(spec())
    assert request.method == "POST"
    assert request.url == URL
    assert request.headers == (FORM, ACCEPT, ("Authorization", "Basic Y2xpZW50OnMzY3JldA=="))
    assert request.body == b"grant_type=client_credentials"


def test_scopes_are_sent_space_joined() -> None:
    request = build_token_request(spec(scopes=("read", "write", "api:admin")))
    assert request.body == b"grant_type=client_credentials&scope=read+write+api%3Aadmin"
    assert parse_qsl(request.body.decode()) == [
        ("grant_type", "client_credentials"),
        ("scope", "read write api:admin"),
    ]


def test_no_scope_parameter_without_scopes() -> None:
    body = build_token_request(spec(scopes=())).body.decode()
    assert "scope" not in dict(parse_qsl(body))


def test_extra_params_are_kept_in_order_repeats_included() -> None:
    extra = (
        ("resource", "https://a.example/"),
        ("audience", "api"),
        ("resource", "https://b.example/"),
    )
    request = build_token_request(spec(scopes=("read",), extra_params=extra))
    assert request.body == (
        b"grant_type=client_credentials&scope=read"
        b"&resource=https%3A%2F%2Fa.example%2F&audience=api&resource=https%3A%2F%2Fb.example%2F"
    )
    assert parse_qsl(request.body.decode()) == [
        ("grant_type", "client_credentials"),
        ("scope", "read"),
        *extra,
    ]


def test_client_secret_basic_form_encodes_id_and_secret() -> None:
    request = build_token_request(spec(client_id=HARD_ID, client_secret=HARD_SECRET))
    assert request.header("Authorization") == HARD_BASIC
    credentials = base64.b64decode(HARD_BASIC.removeprefix("Basic ")).decode("ascii")
    assert credentials == "my%3Aclient:a%26b%20c%2Bd%25e%2Ff%3Dg%E2%82%AC"
    assert "+" not in credentials.replace("%2B", "")  # a space is %20, never '+'
    assert request.body == b"grant_type=client_credentials"


def test_client_secret_basic_raw_when_asked() -> None:
    request = build_token_request(
        spec(
            client_id=HARD_ID,
            client_secret=HARD_SECRET,
            authentication=ClientSecretBasic(form_encode=False),
        )
    )
    assert request.headers == (FORM, ACCEPT, ("Authorization", HARD_BASIC_RAW))
    assert base64.b64decode(HARD_BASIC_RAW[6:]).decode() == f"{HARD_ID}:{HARD_SECRET}"


def test_client_secret_post_puts_credentials_in_the_body_only() -> None:
    request = build_token_request(
        spec(
            client_id=HARD_ID,
            client_secret=HARD_SECRET,
            scopes=("read",),
            extra_params=(("audience", "api"),),
            authentication=ClientSecretPost(),
        )
    )
    assert request.headers == (FORM, ACCEPT)
    assert request.header("Authorization") is None
    assert request.body == (
        b"grant_type=client_credentials&scope=read&audience=api"
        b"&client_id=my%3Aclient&client_secret=a%26b+c%2Bd%25e%2Ff%3Dg%E2%82%AC"
    )
    assert parse_qsl(request.body.decode())[-2:] == [
        ("client_id", HARD_ID),
        ("client_secret", HARD_SECRET),
    ]


def test_request_header_lookup_is_case_insensitive() -> None:
    request = build_token_request(spec())
    assert request.header("content-type") == "application/x-www-form-urlencoded"
    assert request.header("AUTHORIZATION") == "Basic Y2xpZW50OnMzY3JldA=="
    assert request.header("X-Missing") is None


@given(
    secret=st.text(min_size=4, max_size=20).map(lambda s: "S3CR3T-" + s),
    authentication=client_authentications(),
)
def test_secret_never_appears_in_any_repr(
    secret: str, authentication: ClientAuthentication
) -> None:
    the_spec = spec(client_id=HARD_ID, client_secret=secret, authentication=authentication)
    request = build_token_request(the_spec)
    policy = Policy(request=the_spec, clock_skew=60.0)
    decision = step(policy, NoToken(), TokenNeeded(), 1_700_000_000.0)
    assert decision == Decision(state=Fetching(), effects=(FetchToken(request=request),))
    shown = [the_spec, request, policy, decision, *decision.effects]
    texts = [f(value) for value in shown for f in (repr, str)]
    for text in texts:
        assert "S3CR3T" not in text  # nor its form-encoding, which keeps "S3CR3T" intact
    authorization = request.header("Authorization")
    if authorization is not None:
        assert all(authorization[6:] not in text for text in texts)


@pytest.mark.parametrize(
    "value",
    [
        spec(client_secret="S3CR3T"),
        OAuthToken(access_token="AT-S3CR3T", refresh_token="RT-S3CR3T"),
        UseToken(token=OAuthToken(access_token="t"), authorization="Bearer S3CR3T"),
    ],
    ids=["TokenRequestSpec", "OAuthToken", "UseToken"],
)
def test_secret_never_appears_in_rich_repr(
    value: TokenRequestSpec | OAuthToken | UseToken,
) -> None:
    assert "S3CR3T" not in repr(list(value.__rich_repr__()))


# -- decoding the reply: golden samples --------------------------------------------------


class Sample(msgspec.Struct, frozen=True, kw_only=True):
    """A recorded reply: `json` is re-encoded as the body, `text` is the body verbatim."""

    source: str
    status: int
    headers: dict[str, str]
    json: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    text: str | msgspec.UnsetType = msgspec.UNSET

    def reply(self) -> HttpReply:
        match self.json, self.text:
            case msgspec.Raw() as raw, msgspec.UnsetType():
                body = bytes(raw)
            case msgspec.UnsetType(), str() as text:
                body = text.encode()
            case _:
                raise AssertionError(f"a sample has json or text, not both: {self.source}")
        return HttpReply(status=self.status, headers=tuple(self.headers.items()), body=body)


def load(name: str) -> HttpReply:
    return msgspec.json.decode((SAMPLES / name).read_bytes(), type=Sample).reply()


class Malformed(NamedTuple):
    """Expect a `MalformedResponse` with this status whose reason contains `says`."""

    status: int
    says: str


Expected = OAuthToken | ErrorResponse | Malformed

GOLDEN: Final[dict[str, Expected]] = {
    "authlib_client_credentials.json": OAuthToken(
        access_token="Z2f7rEcz1vwkDxW3Xn0Ek8zHk1tYd0pWq7y9TmR8aLsB3",
        expires_in=864000,
        scope="read write",
    ),
    "oidc_provider_client_credentials.json": OAuthToken(
        access_token="Kx3Vq9yQm8T6kq2mZl0nB7hY1rE5wA4uC9dF2gH6jJ0",
        expires_in=600,
        scope="api:read",
    ),
    "azure_ad_v1_client_credentials.json": OAuthToken(
        access_token="eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9"
        ".eyJhdWQiOiJodHRwczovL21hbmFnZW1lbnQuYXp1cmUuY29tLyJ9.c2lnbmF0dXJl",
        expires_in=3599,
    ),
    "okta_client_credentials_extra_fields.json": OAuthToken(
        access_token="eyJraWQiOiJzaWcta2V5IiwiYWxnIjoiUlMyNTYifQ"
        ".eyJzY3AiOlsiY3VzdG9tU2NvcGUiXX0.c2ln",
        expires_in=3600,
        scope="customScope",
    ),
    "keycloak_client_credentials_lowercase_bearer.json": OAuthToken(
        access_token="eyJhbGciOiJSUzI1NiIsInR5cCIgOiAiSldUIn0.eyJhenAiOiJjY2cifQ.c2ln",
        token_type="bearer",
        expires_in=300,
        scope="profile email",
    ),
    "error_invalid_request.json": ErrorResponse(
        status=400,
        error=OAuthProviderError.INVALID_REQUEST,
        error_description='Missing "grant_type" in request.',
    ),
    "error_invalid_client.json": ErrorResponse(
        status=401,
        error=OAuthProviderError.INVALID_CLIENT,
        error_description="Client authentication failed.",
    ),
    "error_invalid_grant.json": ErrorResponse(status=400, error=OAuthProviderError.INVALID_GRANT),
    "error_unauthorized_client.json": ErrorResponse(
        status=400,
        error=OAuthProviderError.UNAUTHORIZED_CLIENT,
        error_description="The client is not authorized to use this grant type.",
    ),
    "error_unsupported_grant_type.json": ErrorResponse(
        status=400,
        error=OAuthProviderError.UNSUPPORTED_GRANT_TYPE,
        error_description="client_credentials is not enabled",
    ),
    "error_invalid_scope.json": ErrorResponse(
        status=400,
        error=OAuthProviderError.INVALID_SCOPE,
        error_description="The requested scope is invalid, unknown, or malformed.",
        error_uri="https://as.example/docs/errors#invalid_scope",
    ),
    "error_unknown_code.json": ErrorResponse(
        status=503,
        error="temporarily_unavailable",
        error_description="The server is overloaded.",
    ),
    "error_azure_ad_invalid_client.json": ErrorResponse(
        status=401,
        error=OAuthProviderError.INVALID_CLIENT,
        error_description="AADSTS7000215: Invalid client secret provided.",
        error_uri="https://login.microsoftonline.com/error?code=7000215",
    ),
    "error_with_status_200.json": ErrorResponse(
        status=200,
        error=OAuthProviderError.INVALID_CLIENT,
        error_description="unknown client",
    ),
    "html_502_bad_gateway.json": Malformed(502, "<title>502 Bad Gateway</title>"),
}


def test_every_sample_has_an_expectation() -> None:
    assert sorted(p.name for p in SAMPLES.glob("*.json")) == sorted(GOLDEN)


@pytest.mark.parametrize(("name", "expected"), sorted(GOLDEN.items()), ids=sorted(GOLDEN))
def test_golden_sample(name: str, expected: Expected) -> None:
    result = decode_token_reply(load(name))
    match expected:
        case OAuthToken():
            assert result == Success(expected)
        case ErrorResponse():
            assert result == Failure(expected)
            failure = result.failure()
            assert isinstance(failure, ErrorResponse)
            assert type(failure.error) is type(expected.error)  # enum member, or plain text
        case Malformed(status=status, says=says):
            failure = result.failure()
            assert isinstance(failure, MalformedResponse)
            assert failure.status == status
            assert says in failure.reason


# -- decoding the reply: rules -----------------------------------------------------------


def decode(status: int, body: bytes) -> Result[OAuthToken, TokenFailure]:
    return decode_token_reply(HttpReply(status=status, body=body))


def malformed(status: int, reason: str) -> Result[OAuthToken, TokenFailure]:
    return Failure(MalformedResponse(status=status, reason=reason))


@pytest.mark.parametrize("token_type", ["Bearer", "bearer", "BEARER", "BeArEr"])
def test_bearer_is_case_insensitive_and_kept_as_sent(token_type: str) -> None:
    body = msgspec.json.encode({"access_token": "t", "token_type": token_type})
    assert decode(200, body) == Success(OAuthToken(access_token="t", token_type=token_type))


def test_missing_token_type_means_bearer() -> None:
    assert decode(200, b'{"access_token":"t"}') == Success(OAuthToken(access_token="t"))


@pytest.mark.parametrize("token_type", ["mac", "DPoP", "N_A", ""])
def test_non_bearer_token_type_is_rejected(token_type: str) -> None:
    body = msgspec.json.encode({"access_token": "t", "token_type": token_type})
    assert decode(200, body) == malformed(200, f"token_type {token_type!r} is not Bearer")


def test_empty_access_token_is_rejected() -> None:
    assert decode(200, b'{"access_token":"","expires_in":60}') == malformed(
        200, "access_token is empty"
    )


@pytest.mark.parametrize(
    "body",
    [
        b'{"token_type":"Bearer","expires_in":3600}',
        b'{"access_token":null}',
        b'{"access_token":42}',
        b"[]",
        b'"token"',
        b"",
        b"<html></html>",
    ],
)
def test_missing_or_mistyped_access_token_is_rejected(body: bytes) -> None:
    failure = decode(200, body).failure()
    assert isinstance(failure, MalformedResponse)
    assert failure.status == 200
    assert failure.reason.startswith("not a token: ")


@pytest.mark.parametrize(
    ("expires_in", "expected"),
    [
        (b"3600", 3600),
        (b'"3600"', 3600),
        (b'" 3600 "', 3600),
        (b'"3600.0"', 3600),
        (b"3600.9", 3600),
        (b"0", 0),
        (b"0.5", 0),
        (b"null", None),
        (b"315360000", 315_360_000),  # ten years: the largest accepted
    ],
)
def test_expires_in_accepted(expires_in: bytes, expected: int | None) -> None:
    body = b'{"access_token":"t","expires_in":' + expires_in + b"}"
    assert decode(200, body) == Success(OAuthToken(access_token="t", expires_in=expected))


@pytest.mark.parametrize(
    ("expires_in", "reason"),
    [
        (b'"abc"', "expires_in is not a number: 'abc'"),
        (b'""', "expires_in is not a number: ''"),
        (b'"-5"', "expires_in is not a number: '-5'"),
        (b"-1", "expires_in is negative: -1"),
        (b"-0.5", "expires_in is negative: -0.5"),
        (b"315360001", "expires_in is absurdly large: 315360001"),
        (b"1e300", "expires_in is absurdly large: 1e+300"),
        (b'"99999999999999999999"', "expires_in is absurdly large: 99999999999999999999"),
        (b'"999999999999999999999"', "expires_in is not a number: '999999999999999999999'"),
    ],
)
def test_expires_in_rejected(expires_in: bytes, reason: str) -> None:
    body = b'{"access_token":"t","expires_in":' + expires_in + b"}"
    assert decode(200, body) == malformed(200, reason)


@pytest.mark.parametrize("expires_in", [b"true", b"[3600]", b"{}", b"1e400"])
def test_expires_in_of_the_wrong_json_type_is_rejected(expires_in: bytes) -> None:
    body = b'{"access_token":"t","expires_in":' + expires_in + b"}"
    failure = decode(200, body).failure()
    assert isinstance(failure, MalformedResponse)
    assert failure.reason.startswith("not a token: ")


def test_a_token_with_a_non_2xx_status_is_not_adopted() -> None:
    failure = decode(302, b'{"access_token":"t"}').failure()
    assert isinstance(failure, MalformedResponse)
    assert failure.status == 302


def test_a_200_error_body_is_an_error_response() -> None:
    assert decode(200, b'{"error":"invalid_scope"}') == Failure(
        ErrorResponse(status=200, error=OAuthProviderError.INVALID_SCOPE)
    )


@pytest.mark.parametrize("code", list(OAuthProviderError))
def test_rfc_codes_become_enum_members(code: OAuthProviderError) -> None:
    failure = decode(400, msgspec.json.encode({"error": code.value})).failure()
    assert isinstance(failure, ErrorResponse)
    assert failure.error is code


@pytest.mark.parametrize("code", ["temporarily_unavailable", "slow_down", "Invalid_Client", ""])
def test_unknown_codes_are_kept_as_text(code: str) -> None:
    failure = decode(400, msgspec.json.encode({"error": code})).failure()
    assert failure == ErrorResponse(status=400, error=code)
    assert isinstance(failure, ErrorResponse)
    assert type(failure.error) is str


def test_an_error_status_without_an_oauth_error_is_malformed() -> None:
    assert decode(500, b"Internal Server Error") == malformed(
        500, "HTTP 500 without an OAuth error: 'Internal Server Error'"
    )


def test_a_body_over_one_mebibyte_is_refused_unread() -> None:
    prefix = b'{"access_token":"t","expires_in":3600,"padding":"'
    body = prefix + b"x" * (MAX_TOKEN_RESPONSE_BYTES + 1 - len(prefix) - 2) + b'"}'
    assert len(body) == MAX_TOKEN_RESPONSE_BYTES + 1
    too_large = f"response of {MAX_TOKEN_RESPONSE_BYTES + 1} bytes is too large"
    assert decode(200, body) == malformed(200, too_large)
    assert decode(400, body) == malformed(400, too_large)


def test_a_body_of_exactly_one_mebibyte_is_read() -> None:
    prefix = b'{"access_token":"t","expires_in":3600,"padding":"'
    body = prefix + b"x" * (MAX_TOKEN_RESPONSE_BYTES - len(prefix) - 2) + b'"}'
    assert len(body) == MAX_TOKEN_RESPONSE_BYTES
    assert decode(200, body) == Success(OAuthToken(access_token="t", expires_in=3600))


# -- decoding the reply: hostile input ---------------------------------------------------


@given(status=st.integers(0, 999), body=st.binary(max_size=300))
def test_decode_never_raises_for_arbitrary_bytes(status: int, body: bytes) -> None:
    result = decode(status, body)
    if is_successful(result):
        assert 200 <= status < 300


@given(reply=http_replies())
def test_decode_never_raises_and_only_yields_sound_tokens(reply: HttpReply) -> None:
    result = decode_token_reply(reply)
    if is_successful(result):
        token = result.unwrap()
        assert 200 <= reply.status < 300
        assert token.access_token
        assert token.token_type.lower() == "bearer"
        assert token.expires_in is None or 0 <= token.expires_in <= 10 * 365 * 86_400
        assert token.expiry is None  # stamped by the machine, not the decoder
    else:
        assert isinstance(result.failure(), ErrorResponse | MalformedResponse)


def test_non_ascii_digit_expires_in_is_malformed_not_a_crash() -> None:
    result = decode(200, '{"access_token":"t","expires_in":"\u00b2"}'.encode())
    assert isinstance(result.failure(), MalformedResponse)


def test_very_long_digit_string_expires_in_is_malformed_not_a_crash() -> None:
    body = b'{"access_token":"t","expires_in":"' + b"1" * 5000 + b'"}'
    assert isinstance(decode(200, body).failure(), MalformedResponse)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, b'{"access_token":"t\xff"}'),
        (200, b'{"access_token":"t","scope":"\xff"}'),
        (400, b'{"error":"invalid_client","error_description":"\xff"}'),
    ],
    ids=["token", "scope", "error"],
)
def test_invalid_utf8_in_a_json_string_is_malformed_not_a_crash(status: int, body: bytes) -> None:
    result = decode(status, body)
    assert isinstance(result.failure(), MalformedResponse)


@pytest.mark.parametrize("access_token", ["abc\r\nX-Injected: 1", "tok\n", "t k", "tök€n", "\x00"])
def test_a_token_that_cannot_travel_in_a_header_is_malformed(access_token: str) -> None:
    body = msgspec.json.encode({"access_token": access_token, "token_type": "Bearer"})
    assert decode(200, body) == malformed(
        200, "access_token has characters that cannot be sent in a header"
    )


def test_an_unexpected_status_does_not_echo_a_token_in_its_reason() -> None:
    failure = decode(302, b'{"access_token":"SECRETTOKEN"}').failure()
    assert isinstance(failure, MalformedResponse)
    assert "SECRETTOKEN" not in failure.reason
    assert (
        failure.reason == "HTTP 302 without an OAuth error: <withheld: it mentions an access_token>"
    )


@given(pairs=st.lists(st.tuples(st.text(max_size=12), st.text(max_size=12)), max_size=5))
def test_the_form_body_is_exactly_what_urlencode_makes(pairs: list[tuple[str, str]]) -> None:
    from urllib.parse import urlencode  # noqa: PLC0415 - the reference, for this test only

    spec = TokenRequestSpec(
        token_url="https://as.example/token",
        client_id="id",
        client_secret="s",
        extra_params=tuple(pairs),
    )
    expected = [("grant_type", "client_credentials"), *pairs]
    assert build_token_request(spec).body == urlencode(expected).encode("ascii")


@given(client_id=st.text(min_size=1, max_size=12), secret=st.text(min_size=1, max_size=12))
def test_basic_credentials_are_percent_encoded_exactly_like_quote(
    client_id: str, secret: str
) -> None:
    import base64  # noqa: PLC0415
    from urllib.parse import quote  # noqa: PLC0415 - the reference, for this test only

    spec = TokenRequestSpec(
        token_url="https://as.example/token", client_id=client_id, client_secret=secret
    )
    header = build_token_request(spec).header("Authorization")
    assert header is not None
    decoded = base64.b64decode(header.removeprefix("Basic ")).decode()
    assert decoded == f"{quote(client_id, safe='')}:{quote(secret, safe='')}"
