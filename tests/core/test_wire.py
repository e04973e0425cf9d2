"""The token request and response on the wire: `build_token_request` and `decode_token_reply`.

Requests are checked byte for byte against hand-computed values (base64 included), and
against `urlencode`/`quote` as references. Responses are checked against golden samples
in `tests/samples/`, each a JSON envelope `{"source", "status", "headers", "json" |
"text"}` holding a real-shaped reply; against the edges of the rules (where 2xx ends,
the size limit, the accepted token types, how much of a hostile reply is quoted); and
against hostile replies: invalid UTF-8, byte-order marks, duplicate keys, JSON nested
deeper than the interpreter's stack, and Hypothesis-generated junk.
"""

from __future__ import annotations

import base64
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Final, NamedTuple
from urllib.parse import parse_qsl, quote, urlencode

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from returns.pipeline import is_successful
from returns.result import Failure, Result, Success

from ccg.core import (
    BEARER,
    MAX_TOKEN_RESPONSE_BYTES,
    ClientAuthentication,
    ClientSecretBasic,
    ClientSecretPost,
    ErrorResponse,
    FetchToken,
    HttpReply,
    Limits,
    MalformedResponse,
    Now,
    OAuthProviderError,
    OAuthToken,
    Policy,
    TokenFailure,
    TokenNeeded,
    TokenRequestSpec,
    TokenState,
    build_token_request,
    decode_token_reply,
    step,
    token_problem,
)
from ccg.testing.strategies import (
    access_tokens,
    client_authentications,
    deep_json_bodies,
    hostile_replies,
    http_replies,
    lifetimes,
    reply_with,
    token_replies,
)

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
    policy = Policy(request=the_spec)
    request = build_token_request(the_spec, limits=policy.limits)
    decision = step(policy, TokenState(), TokenNeeded(), Now(monotonic=0.0, wall=1.7e9))
    assert decision.work == (FetchToken(flight=1, request=request),)
    shown = [the_spec, request, policy, decision, *decision.work]
    texts = [f(value) for value in shown for f in (repr, str)]
    for text in texts:
        assert "S3CR3T" not in text  # nor its form-encoding, which keeps "S3CR3T" intact
    authorization = request.header("Authorization")
    if authorization is not None:
        assert all(authorization[6:] not in text for text in texts)


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
    reply = load(name)
    result = decode_token_reply(reply)
    match expected:
        case OAuthToken():
            assert result == Success(expected)
        case ErrorResponse():
            # The reply's headers (Retry-After, WWW-Authenticate, ...) travel with the error.
            assert result == Failure(msgspec.structs.replace(expected, headers=reply.headers))
            failure = result.failure()
            assert isinstance(failure, ErrorResponse)
            assert type(failure.error) is type(expected.error)  # enum member, or plain text
        case Malformed(status=status, says=says):
            failure = result.failure()
            assert isinstance(failure, MalformedResponse)
            assert failure.status == status
            assert failure.headers == reply.headers
            assert says in failure.reason


# -- decoding the reply: rules -----------------------------------------------------------


def decode(status: int, body: bytes) -> Result[OAuthToken, TokenFailure]:
    return decode_token_reply(HttpReply(status=status, body=body))


def malformed(status: int, reason: str) -> Result[OAuthToken, TokenFailure]:
    return Failure(MalformedResponse(status=status, reason=reason))


def not_a_token(result: Result[OAuthToken, TokenFailure]) -> str:
    """The reason of a `MalformedResponse` for a 200 that is not a token (its prefix cut)."""
    failure = result.failure()
    assert isinstance(failure, MalformedResponse)
    assert failure.reason.startswith("not a token: "), failure.reason
    return failure.reason.removeprefix("not a token: ")


@pytest.mark.parametrize("token_type", ["Bearer", "bearer", "BEARER", "BeArEr"])
def test_bearer_is_case_insensitive_and_kept_as_sent(token_type: str) -> None:
    body = msgspec.json.encode({"access_token": "t", "token_type": token_type})
    assert decode(200, body) == Success(OAuthToken(access_token="t", token_type=token_type))


def test_missing_token_type_means_bearer() -> None:
    assert decode(200, b'{"access_token":"t"}') == Success(OAuthToken(access_token="t"))


@pytest.mark.parametrize("token_type", ["mac", "DPoP", "N_A", ""])
def test_non_bearer_token_type_is_rejected(token_type: str) -> None:
    body = msgspec.json.encode({"access_token": "t", "token_type": token_type})
    assert decode(200, body) == malformed(
        200, f"token_type {token_type!r} is not one of ('bearer',)"
    )


def test_empty_access_token_is_rejected() -> None:
    assert decode(200, b'{"access_token":"","expires_in":60}') == malformed(
        200, "access_token is empty"
    )


@pytest.mark.parametrize(
    ("token_types", "token_type", "accepted"),
    [
        (BEARER, "Bearer", True),
        (("bearer", "dpop"), "DPoP", True),
        (("bearer", "dpop"), "bearer", True),
        (("dpop",), "Bearer", False),
        ((), "Bearer", False),
        (("Bearer",), "Bearer", False),  # the accepted types are given in lower case
    ],
)
def test_the_accepted_token_types_are_a_parameter(
    token_types: tuple[str, ...], token_type: str, accepted: bool
) -> None:
    body = msgspec.json.encode({"access_token": "t", "token_type": token_type})
    result = decode_token_reply(HttpReply(status=200, body=body), token_types=token_types)
    if accepted:
        assert result == Success(OAuthToken(access_token="t", token_type=token_type))
    else:
        assert result == malformed(200, f"token_type {token_type!r} is not one of {token_types}")


def test_a_missing_token_type_means_bearer_even_when_bearer_is_not_accepted() -> None:
    """Documents the current rule: an absent `token_type` decodes as "Bearer", so a client
    accepting only DPoP refuses it rather than guessing."""
    result = decode_token_reply(
        HttpReply(status=200, body=b'{"access_token":"t"}'), token_types=("dpop",)
    )
    assert result == malformed(200, "token_type 'Bearer' is not one of ('dpop',)")


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
        (b"1.0", 1),
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
        (b"0.5", "expires_in is under a second: 0.5"),
        (b'"0.999"', "expires_in is under a second: 0.999"),
        (b"315360001", "expires_in is absurdly large: 315360001"),
        (b"1e300", "expires_in is absurdly large: 1e+300"),
        (b'"99999999999999999999"', "expires_in is absurdly large: 99999999999999999999"),
        (b'"999999999999999999999"', "expires_in is not a number: '999999999999999999999'"),
    ],
)
def test_expires_in_rejected(expires_in: bytes, reason: str) -> None:
    body = b'{"access_token":"t","expires_in":' + expires_in + b"}"
    assert decode(200, body) == malformed(200, reason)


@pytest.mark.parametrize(
    ("refresh_in", "expected"),
    [
        (b"1800", 1800),
        (b'"1800"', 1800),
        (b"1800.7", 1800),
        (b"0", 0),
        (b"null", None),
        (b'"soon"', None),
        (b"-5", None),
        (b"315360001", None),
    ],
    ids=["int", "digits", "float", "zero", "null", "junk", "negative", "absurd"],
)
def test_refresh_in_is_advice_kept_when_usable_and_dropped_when_not(
    refresh_in: bytes, expected: int | None
) -> None:
    """Azure AD's `refresh_in`: a bad one is ignored (the token is still good), never fatal."""
    body = b'{"access_token":"t","expires_in":3600,"refresh_in":' + refresh_in + b"}"
    assert decode(200, body) == Success(
        OAuthToken(access_token="t", expires_in=3600, refresh_in=expected)
    )


@pytest.mark.parametrize("refresh_in", [b"true", b"[1800]", b"{}"])
def test_refresh_in_of_the_wrong_json_type_is_not_a_token(refresh_in: bytes) -> None:
    body = b'{"access_token":"t","expires_in":3600,"refresh_in":' + refresh_in + b"}"
    failure = decode(200, body).failure()
    assert isinstance(failure, MalformedResponse)
    assert failure.reason.startswith("not a token: ")


@pytest.mark.parametrize(
    "body",
    [
        b'{"error":"invalid_client","access_token":"t","token_type":"Bearer"}',
        b'{"access_token":"t","error":"server_error","error_description":"try later"}',
    ],
)
def test_a_token_that_comes_with_an_error_is_the_error(body: bytes) -> None:
    failure = decode(200, body).failure()
    assert isinstance(failure, ErrorResponse)
    assert failure.status == 200


def test_a_token_with_a_non_string_error_is_malformed() -> None:
    failure = decode(200, b'{"access_token":"t","error":7}').failure()
    assert isinstance(failure, MalformedResponse)


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
    too_large = "response of 1048577 bytes is larger than 1048576"
    assert decode(200, body) == malformed(200, too_large)
    assert decode(400, body) == malformed(400, too_large)


def test_a_body_of_exactly_one_mebibyte_is_read() -> None:
    prefix = b'{"access_token":"t","expires_in":3600,"padding":"'
    body = prefix + b"x" * (MAX_TOKEN_RESPONSE_BYTES - len(prefix) - 2) + b'"}'
    assert len(body) == MAX_TOKEN_RESPONSE_BYTES
    assert decode(200, body) == Success(OAuthToken(access_token="t", expires_in=3600))


@pytest.mark.parametrize(
    ("limit", "size", "refused"),
    [(10, 11, True), (10, 10, False), (0, 1, True), (0, 0, False), (None, 3 << 20, False)],
)
def test_the_size_limit_is_a_parameter(limit: int | None, size: int, refused: bool) -> None:
    reply = HttpReply(status=200, headers=(("Retry-After", "1"),), body=b" " * size)
    result = decode_token_reply(reply, max_body_bytes=limit)
    failure = result.failure()
    assert isinstance(failure, MalformedResponse)
    assert failure.headers == (("Retry-After", "1"),)
    if refused:
        assert failure.reason == f"response of {size} bytes is larger than {limit}"
    else:
        assert failure.reason.startswith("not a token: ")


# -- the reply's headers travel with its failure ---------------------------------------------

HEADERS: Final = (
    ("Content-Type", "application/json"),
    ("Retry-After", "30"),
    ("WWW-Authenticate", 'Basic realm="as"'),
)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            401,
            b'{"error":"invalid_client"}',
            ErrorResponse(status=401, error=OAuthProviderError.INVALID_CLIENT, headers=HEADERS),
        ),
        (
            200,
            b'{"error":"slow_down","error_uri":"https://as.example/e"}',
            ErrorResponse(
                status=200, error="slow_down", error_uri="https://as.example/e", headers=HEADERS
            ),
        ),
        (
            503,
            b"busy",
            MalformedResponse(
                status=503, reason="HTTP 503 without an OAuth error: 'busy'", headers=HEADERS
            ),
        ),
        (
            200,
            b'{"access_token":"t","expires_in":"soon"}',
            MalformedResponse(
                status=200, reason="expires_in is not a number: 'soon'", headers=HEADERS
            ),
        ),
        (
            200,
            b'{"access_token":"t t"}',
            MalformedResponse(
                status=200,
                reason="access_token cannot be sent in a header: character 2 of 3 is ' '",
                headers=HEADERS,
            ),
        ),
        (
            200,
            b'{"access_token":"t","token_type":"mac"}',
            MalformedResponse(
                status=200, reason="token_type 'mac' is not one of ('bearer',)", headers=HEADERS
            ),
        ),
        (
            200,
            b"[]",
            MalformedResponse(
                status=200,
                reason="not a token: ValidationError: Expected `object`, got `array`",
                headers=HEADERS,
            ),
        ),
    ],
    ids=["error", "error with a 200", "not OAuth", "bad lifetime", "unsafe", "type", "not JSON"],
)
def test_every_failure_carries_the_replys_headers(
    status: int, body: bytes, expected: TokenFailure
) -> None:
    assert decode_token_reply(HttpReply(status=status, headers=HEADERS, body=body)) == Failure(
        expected
    )


# -- where "2xx" ends ------------------------------------------------------------------------

TOKEN_BODY: Final = b'{"access_token":"AT","expires_in":3600}'


@pytest.mark.parametrize("status", [200, 201, 299])
def test_a_token_in_any_2xx_reply_is_accepted(status: int) -> None:
    assert decode(status, TOKEN_BODY) == Success(OAuthToken(access_token="AT", expires_in=3600))


@pytest.mark.parametrize("status", [199, 300, 301])
def test_a_token_just_outside_2xx_is_refused_without_echoing_it(status: int) -> None:
    assert decode(status, TOKEN_BODY) == malformed(
        status, f"HTTP {status} without an OAuth error: <withheld: it mentions an access_token>"
    )


# -- client_secret_basic form-encodes everything but unreserved characters ----------------


def test_basic_credentials_escape_a_slash_in_the_client_id() -> None:
    """RFC 6749 §2.3.1: the id is form-urlencoded, so `/` (and `:`) become `%2F` (`%3A`);
    URL-shaped client ids are common."""
    the_spec = spec(client_id="https://app.example/client")
    header = build_token_request(the_spec).header("Authorization")
    assert header == "Basic aHR0cHMlM0ElMkYlMkZhcHAuZXhhbXBsZSUyRmNsaWVudDpzM2NyZXQ="
    assert base64.b64decode(header[len("Basic ") :]) == b"https%3A%2F%2Fapp.example%2Fclient:s3cret"


def test_basic_credentials_raw_keep_the_slash() -> None:
    the_spec = spec(
        client_id="https://app.example/client", authentication=ClientSecretBasic(form_encode=False)
    )
    header = build_token_request(the_spec).header("Authorization")
    assert header == "Basic " + base64.b64encode(b"https://app.example/client:s3cret").decode()


def test_the_request_carries_the_limits_it_is_given() -> None:
    limits = Limits(connect_timeout=1.0, read_timeout=2.0, total_timeout=3.0, max_body_bytes=4)
    assert build_token_request(spec(), limits=limits).limits == limits
    assert build_token_request(spec()).limits is None


# -- a hostile reply is quoted, but only so much of it --------------------------------------


def test_an_unparsable_expires_in_is_quoted_to_forty_characters() -> None:
    lifetime = "x" * 100
    body = msgspec.json.encode({"access_token": "AT", "expires_in": lifetime})
    assert decode(200, body) == malformed(200, f"expires_in is not a number: {'x' * 40!r}")


def test_a_foreign_token_type_is_quoted_to_forty_characters() -> None:
    token_type = "T" * 100
    body = msgspec.json.encode({"access_token": "AT", "token_type": token_type})
    assert decode(200, body) == malformed(200, f"token_type {'T' * 40!r} is not one of ('bearer',)")


def test_a_non_oauth_error_body_is_quoted_to_two_hundred_bytes() -> None:
    body = b"<html>" + b"e" * 500 + b"</html>"
    expected = "<html>" + "e" * 194
    assert decode(502, body) == malformed(502, f"HTTP 502 without an OAuth error: {expected!r}")


def test_a_decoder_error_is_quoted_to_two_hundred_characters() -> None:
    body = b'{"access_token":"t","' + b"k" * 300 + b'":'
    reason = not_a_token(decode(200, body))
    assert len(reason) <= 200


# -- decoding the reply: hostile input ---------------------------------------------------


@given(status=st.integers(0, 999), body=st.binary(max_size=300))
def test_decode_never_raises_for_arbitrary_bytes(status: int, body: bytes) -> None:
    result = decode(status, body)
    if is_successful(result):
        assert 200 <= status < 300


@given(
    reply=http_replies(),
    token_types=st.sampled_from([BEARER, ("bearer", "dpop"), ()]),
    limit=st.none() | st.integers(0, 300) | st.just(MAX_TOKEN_RESPONSE_BYTES),
)
def test_decode_never_raises_and_only_yields_sound_tokens(
    reply: HttpReply, token_types: tuple[str, ...], limit: int | None
) -> None:
    result = decode_token_reply(reply, token_types=token_types, max_body_bytes=limit)
    if is_successful(result):
        token = result.unwrap()
        assert 200 <= reply.status < 300
        assert limit is None or len(reply.body) <= limit
        assert token_problem(token) is None
        assert token.token_type.lower() in token_types
        assert token.expires_in is None or 0 <= token.expires_in <= 10 * 365 * 86_400
        assert token.expiry is None  # stamped by whoever receives it, not the decoder
    else:
        failure = result.failure()
        assert isinstance(failure, ErrorResponse | MalformedResponse)
        assert failure.headers == reply.headers
        assert failure.status == reply.status


@given(reply=hostile_replies())
def test_a_hostile_reply_is_rarely_a_token(reply: HttpReply) -> None:
    """Hostile replies decode to a failure, but for the few valid despite their looks."""
    result = decode_token_reply(reply)
    if is_successful(result):
        assert token_problem(result.unwrap()) is None
        assert 200 <= reply.status < 300


@given(
    access_token=access_tokens(),
    expires_in=st.none() | lifetimes(),
    scope=st.none() | st.sampled_from(["read", ""]),
)
def test_reply_with_decodes_to_its_token(
    access_token: str, expires_in: int | None, scope: str | None
) -> None:
    token = OAuthToken(access_token=access_token, expires_in=expires_in, scope=scope)
    assert decode_token_reply(reply_with(token)) == Success(token)


@given(
    reply=token_replies(),
    secret=st.text(alphabet="0123456789abcdef", min_size=4, max_size=8),
)
def test_a_failure_never_quotes_the_access_token(reply: HttpReply, secret: str) -> None:
    """Whatever else is wrong with a token reply (any status), its access token is not in
    the failure's reason: only the other members are quoted, and only in part."""
    body: dict[str, object] = msgspec.json.decode(reply.body)
    body["access_token"] = f"S3CR3T{secret}\n"  # unsafe, so never a token either
    for status in (200, 400, 302):
        marked = HttpReply(status=status, body=msgspec.json.encode(body))
        failure = decode_token_reply(marked).failure()
        assert isinstance(failure, MalformedResponse | ErrorResponse)
        assert "S3CR3T" not in repr(failure)


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


@pytest.mark.parametrize(
    ("access_token", "reason"),
    [
        ("abc\r\nX-Injected: 1", "character 4 of 18 is '\\r'"),
        ("tok\n", "character 4 of 4 is '\\n'"),
        ("a\r\n b", "character 2 of 5 is '\\r'"),
        ("t k", "character 2 of 3 is ' '"),
        ("tök€n", "character 2 of 5 is a non-ASCII character"),
        ("\x00", "character 1 of 1 is '\\x00'"),
    ],
)
def test_a_token_that_cannot_travel_in_a_header_is_malformed(
    access_token: str, reason: str
) -> None:
    body = msgspec.json.encode({"access_token": access_token, "token_type": "Bearer"})
    assert decode(200, body) == malformed(200, f"access_token cannot be sent in a header: {reason}")


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, b'\xef\xbb\xbf{"access_token":"t","expires_in":60}'),
        (400, b'\xef\xbb\xbf{"error":"invalid_client"}'),
        (200, b'\xff{"access_token":"t"}'),
        (200, b'{"access_token":"\\ud800"}'),
        (200, b'{"access_token":"t\xc0\xaf"}'),
        (200, b'{"access_token":"t\xed\xa0\x80"}'),
        (200, b'{"access_token":"t"} trailing'),
        (200, b'{"access_token":"t","expires_in":NaN}'),
    ],
    ids=[
        "BOM token",
        "BOM error",
        "stray byte",
        "lone surrogate",
        "overlong",
        "surrogate",
        "trailing",
        "NaN",
    ],
)
def test_undecodable_json_is_malformed(status: int, body: bytes) -> None:
    failure = decode(status, body).failure()
    assert isinstance(failure, MalformedResponse)
    assert failure.status == status


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"access_token":"t1","access_token":"t2"}', Success(OAuthToken(access_token="t2"))),
        (
            b'{"access_token":"t1","access_token":""}',
            malformed(200, "access_token is empty"),
        ),
        (
            b'{"access_token":"t1","expires_in":60,"expires_in":"soon"}',
            malformed(200, "expires_in is not a number: 'soon'"),
        ),
        (
            b'{"access_token":"t1","expires_in":"soon","expires_in":60}',
            Success(OAuthToken(access_token="t1", expires_in=60)),
        ),
        (
            b'{"error":"invalid_client","error":"invalid_grant"}',
            Failure(ErrorResponse(status=200, error=OAuthProviderError.INVALID_GRANT)),
        ),
    ],
    ids=["token", "token then empty", "lifetime then junk", "junk then lifetime", "error"],
)
def test_with_duplicate_keys_the_last_one_wins(
    body: bytes, expected: Result[OAuthToken, TokenFailure]
) -> None:
    """RFC 8259 leaves duplicate names to the parser; msgspec keeps the last, and every
    check is made on what is kept, so a valid first value cannot smuggle a bad last one."""
    assert decode(200, body) == expected


@pytest.fixture
def recursion_limit() -> Iterator[int]:
    """The interpreter's default limit, whatever a test runner set it to."""
    saved = sys.getrecursionlimit()
    sys.setrecursionlimit(1_000)
    yield 1_000
    sys.setrecursionlimit(saved)


def nested(depth: int, shape: str) -> bytes:
    match shape:
        case "array":
            return b"[" * depth + b"]" * depth
        case "object":
            return b'{"a":' * depth + b"1" + b"}" * depth
        case "in a token":
            return b'{"access_token":"t","x":' + b"[" * depth + b"]" * depth + b"}"
        case _:
            return b'{"error":"invalid_client","x":' + b'{"a":' * depth + b"1" + b"}" * depth + b"}"


@pytest.mark.parametrize("depth", [1_000, 10_000, 100_000])
@pytest.mark.parametrize("status", [200, 400])
def test_json_nested_beyond_the_stack_is_malformed_not_a_crash(
    recursion_limit: int, depth: int, status: int
) -> None:
    """msgspec raises RecursionError on these (a 2 KB body is enough); the decoder turns it
    into a `MalformedResponse`, whether the nesting is the whole body, inside a token or
    inside an error."""
    for shape in ("object", "in a token", "in an error"):
        body = nested(depth, shape)
        with pytest.raises(RecursionError):
            msgspec.json.decode(body)
        failure = decode(status, body).failure()
        assert isinstance(failure, MalformedResponse), (shape, failure)
        assert failure.status == status
        if status == 200:
            assert failure.reason == (
                "not a token: RecursionError: maximum recursion depth exceeded while "
                "deserializing an object"
            )
        else:
            assert failure.reason.startswith(f"HTTP {status} without an OAuth error: ")


def test_a_deeply_nested_array_is_refused_at_its_first_byte(recursion_limit: int) -> None:
    """A token must be an object: msgspec stops at the first `[` without recursing."""
    assert not_a_token(decode(200, nested(100_000, "array"))) == (
        "ValidationError: Expected `object`, got `array`"
    )


@given(body=deep_json_bodies(), status=st.sampled_from([200, 201, 400, 401, 500]))
def test_deep_json_bodies_never_raise(body: bytes, status: int) -> None:
    result = decode(status, body)
    if isinstance(result, Success):  # nested in an unknown member, within the stack
        assert token_problem(result.unwrap()) is None
    else:
        assert isinstance(result.failure(), MalformedResponse | ErrorResponse)


def test_an_unexpected_status_does_not_echo_a_token_in_its_reason() -> None:
    failure = decode(302, b'{"access_token":"SECRETTOKEN"}').failure()
    assert isinstance(failure, MalformedResponse)
    assert "SECRETTOKEN" not in failure.reason
    assert (
        failure.reason == "HTTP 302 without an OAuth error: <withheld: it mentions an access_token>"
    )


@given(pairs=st.lists(st.tuples(st.text(max_size=12), st.text(max_size=12)), max_size=5))
def test_the_form_body_is_exactly_what_urlencode_makes(pairs: list[tuple[str, str]]) -> None:
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
    spec = TokenRequestSpec(
        token_url="https://as.example/token", client_id=client_id, client_secret=secret
    )
    header = build_token_request(spec).header("Authorization")
    assert header is not None
    decoded = base64.b64decode(header.removeprefix("Basic ")).decode()
    assert decoded == f"{quote(client_id, safe='')}:{quote(secret, safe='')}"


def test_every_field_the_server_sent_is_kept() -> None:
    body = (
        b'{"access_token":"t","token_type":"bearer","expires_in":60,'
        b'"scope":"read","refresh_token":"r1","refresh_in":30}'
    )
    decoded = decode_token_reply(HttpReply(status=200, body=body))
    assert decoded.unwrap() == OAuthToken(
        access_token="t",
        token_type="bearer",
        expires_in=60,
        scope="read",
        refresh_token="r1",
        refresh_in=30,
    )
