"""Secrets scrubbed from failures: `secret_forms`, `scrubbed_text`, `scrubbed`, and the
machine scrubbing every failure before it is recorded, answered or reported.

A hostile or careless token endpoint repeats the request: the form of a
`client_secret_post` request in its 400 page, the secret in `error_description`, the
Basic value in a header. None of it may reach a failure, an event or a message.
"""

from __future__ import annotations

import base64
from typing import Final
from urllib.parse import quote, quote_plus, urlencode

import msgspec
import pytest

from ccg.core import (
    ClientSecretPost,
    ErrorResponse,
    Fail,
    FlightSettled,
    HttpReply,
    MalformedResponse,
    Now,
    OAuthProviderError,
    OAuthToken,
    Policy,
    ProviderRaised,
    TokenFailure,
    TokenNeeded,
    TokenReplyReceived,
    TokenRequestFailed,
    TokenRequestSpec,
    TokenState,
    TokenUpdateRaised,
    TransportFailure,
    TransportFailureKind,
    UpdateCallbackFailed,
    UpdateCallbackRaised,
    step,
)
from ccg.core._redaction import REDACTED, scrubbed, scrubbed_text, secret_forms

CLIENT_ID: Final = "svc:one"
SECRET: Final = "s3cr:et/+%&= #Zq9'\"\\"
FORMS: Final = secret_forms(CLIENT_ID, SECRET)
NOW: Final = Now(monotonic=100.0, wall=1.7e9)


def leaks(text: str) -> list[str]:
    """The ways `text` still carries the secret."""
    basic_form = base64.b64encode(
        f"{quote(CLIENT_ID, safe='')}:{quote(SECRET, safe='')}".encode()
    ).decode()
    basic_raw = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
    escaped = (repr(SECRET)[1:-1], msgspec.json.encode(SECRET).decode()[1:-1])
    candidates = (
        SECRET,
        quote(SECRET, safe=""),
        quote_plus(SECRET),
        basic_form,
        basic_raw,
        *escaped,
    )
    return [c for c in candidates if c in text]


def test_the_forms_are_the_secret_as_sent_and_as_echoed_longest_first() -> None:
    assert SECRET in FORMS
    assert quote_plus(SECRET, safe="") in FORMS  # the client_secret_post form
    assert quote(SECRET, safe="") in FORMS  # the form-encoded Basic part
    assert repr(SECRET)[1:-1] in FORMS  # a repr-quoted snippet
    assert msgspec.json.encode(SECRET).decode()[1:-1] in FORMS  # a JSON echo
    assert base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode() in FORMS
    assert [len(f) for f in FORMS] == sorted((len(f) for f in FORMS), reverse=True)


def test_forms_shorter_than_four_characters_are_left_alone() -> None:
    forms = secret_forms("id", "abc")
    assert "abc" not in forms
    assert scrubbed_text("abcabc", forms) == "abcabc"
    assert all(len(f) >= 4 for f in forms)


@pytest.mark.parametrize(
    "echo",
    [
        urlencode(
            {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": SECRET}
        ),
        f"<p>bad secret {SECRET}</p>",
        repr(SECRET),
        msgspec.json.encode({"client_secret": SECRET}).decode(),
        f"Authorization: Basic {base64.b64encode(f'{CLIENT_ID}:{SECRET}'.encode()).decode()}",
    ],
    ids=["form", "raw", "repr", "json", "basic"],
)
def test_every_echo_of_the_secret_is_scrubbed(echo: str) -> None:
    assert leaks(echo)  # the case carries the secret...
    clean = scrubbed_text(echo, FORMS)
    assert leaks(clean) == []  # ...and nothing of it survives
    assert REDACTED in clean


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("client_id=a&client_secret=other&x=1", f"client_id=a&client_secret={REDACTED}&x=1"),
        ('{"client_secret": "other"}', f'{{"client_secret": "{REDACTED}"}}'),
        ("CLIENT_SECRET%3Dother", f"CLIENT_SECRET%3D{REDACTED}"),
        ("client_secret: other, next", f"client_secret: {REDACTED}, next"),
        ("no secrets here", "no secrets here"),
    ],
)
def test_any_client_secret_field_value_is_scrubbed_whatever_it_holds(
    text: str, expected: str
) -> None:
    # A server may echo a secret in a form ccg never sent (a typo'd one, re-encoded).
    assert scrubbed_text(text, FORMS) == expected


def test_a_field_already_scrubbed_is_not_scrubbed_twice() -> None:
    text = f"client_secret={quote_plus(SECRET, safe='')}&a=1"
    assert scrubbed_text(text, FORMS) == f"client_secret={REDACTED}&a=1"


ECHOING_FAILURES: Final[list[TokenFailure]] = [
    MalformedResponse(status=400, reason=f"page: client_secret={quote_plus(SECRET)}"),
    ErrorResponse(
        status=400,
        error=f"bad_{SECRET}",
        error_description=f"secret {SECRET} is wrong",
        error_uri=f"https://as.example/e?s={quote(SECRET, safe='')}",
        headers=(("X-Echo", SECRET), ("Retry-After", "3")),
    ),
    TransportFailure(kind=TransportFailureKind.OTHER, reason=f"sent {SECRET}"),
    ProviderRaised(reason=f"ValueError: {SECRET}"),
    UpdateCallbackRaised(reason=f"OSError: {SECRET}"),
]


@pytest.mark.parametrize("failure", ECHOING_FAILURES, ids=lambda f: type(f).__name__)
def test_scrubbed_failures_keep_their_type_and_lose_the_secret(failure: TokenFailure) -> None:
    assert leaks(repr(failure))
    clean = scrubbed(failure, FORMS)
    assert type(clean) is type(failure)
    assert leaks(repr(clean)) == []


def test_a_failure_without_the_secret_is_returned_as_it_is() -> None:
    failure = ErrorResponse(
        status=400,
        error=OAuthProviderError.INVALID_SCOPE,
        error_description="scope admin is not allowed",
        headers=(("Retry-After", "3"),),
    )
    assert scrubbed(failure, FORMS) is failure


def test_the_rfc_error_codes_stay_enum_members() -> None:
    failure = ErrorResponse(
        status=401, error=OAuthProviderError.INVALID_CLIENT, error_description=SECRET
    )
    clean = scrubbed(failure, FORMS)
    assert isinstance(clean, ErrorResponse)
    assert clean.error is OAuthProviderError.INVALID_CLIENT


# -- the machine scrubs before it records, answers or reports ---------------------------------


def post_policy() -> Policy:
    return Policy(
        request=TokenRequestSpec(
            token_url="https://as.example/token",
            client_id=CLIENT_ID,
            client_secret=SECRET,
            authentication=ClientSecretPost(),
        )
    )


def in_flight(policy: Policy) -> TokenState:
    return step(policy, TokenState(), TokenNeeded(), NOW).state


def test_a_400_page_echoing_the_post_form_is_scrubbed_everywhere() -> None:
    policy = post_policy()
    form = policy.token_request.body.decode()
    assert quote_plus(SECRET, safe="") in form  # the echo really is the request's form
    page = HttpReply(status=400, headers=(("Content-Type", "text/html"),), body=form.encode())
    decision = step(policy, in_flight(policy), TokenReplyReceived(flight=1, reply=page), NOW)
    assert decision.state.failure is not None
    recorded = decision.state.failure.failure
    assert isinstance(recorded, MalformedResponse)
    # Not quoted at all: an error snippet never echoes the request's form.
    assert (
        recorded.reason
        == "HTTP 400 without an OAuth error: <withheld: it echoes the token request>"
    )
    settled = [e for e in decision.events if isinstance(e, FlightSettled)]
    assert settled
    assert settled[0].failure == recorded
    assert leaks(repr(decision)) == []


def test_an_error_description_and_header_echoing_the_secret_are_scrubbed() -> None:
    policy = post_policy()
    body = msgspec.json.encode({"error": "invalid_client", "error_description": f"got {SECRET}"})
    reply = HttpReply(status=401, headers=(("X-Echo", quote(SECRET, safe="")),), body=body)
    decision = step(policy, in_flight(policy), TokenReplyReceived(flight=1, reply=reply), NOW)
    assert decision.state.failure is not None
    assert isinstance(decision.state.failure.failure, ErrorResponse)
    assert leaks(repr(decision)) == []


def test_a_transport_failure_echoing_the_secret_is_scrubbed() -> None:
    policy = post_policy()
    failure = TransportFailure(kind=TransportFailureKind.PROTOCOL, reason=f"bad reply {SECRET}")
    decision = step(policy, in_flight(policy), TokenRequestFailed(flight=1, failure=failure), NOW)
    assert decision.state.failure is not None
    assert leaks(repr(decision)) == []


def test_an_update_callback_failure_echoing_the_secret_is_scrubbed() -> None:
    policy = post_policy()
    decision = step(
        policy,
        TokenState(),
        TokenUpdateRaised(token=OAuthToken(access_token="t1"), reason=f"OSError: {SECRET}"),
        NOW,
    )
    assert isinstance(decision.answer, Fail)
    assert isinstance(decision.answer.failure, UpdateCallbackRaised)
    assert any(isinstance(e, UpdateCallbackFailed) for e in decision.events)
    assert leaks(repr(decision)) == []
