"""`WWW-Authenticate: Bearer ...` (RFC 6750 §3): `bearer_challenge`.

Rows give the header as a protected endpoint would send it and the parameters the
client must read from it; each expected value is written out by hand.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccg.core import BearerChallenge, Headers, bearer_challenge


def _challenge(value: str) -> BearerChallenge | None:
    return bearer_challenge((("WWW-Authenticate", value),))


def test_reads_an_invalid_token_challenge() -> None:
    value = 'Bearer realm="example", error="invalid_token", error_description="The token expired"'
    assert _challenge(value) == BearerChallenge(
        error="invalid_token", error_description="The token expired", realm="example"
    )


def test_reads_token_form_values() -> None:
    assert _challenge("Bearer error=invalid_token, scope=read, realm=api") == BearerChallenge(
        error="invalid_token", scope="read", realm="api"
    )


def test_reads_mixed_quoted_and_token_values_without_spaces_after_commas() -> None:
    assert _challenge('Bearer error=invalid_token,error_description="no"') == BearerChallenge(
        error="invalid_token", error_description="no"
    )


def test_unescapes_quoted_pairs() -> None:
    value = r'Bearer error_description="say \"hi\" and \\ back\slash"'
    assert _challenge(value) == BearerChallenge(error_description='say "hi" and \\ backslash')


def test_a_quoted_value_may_hold_commas_and_equals_signs() -> None:
    value = 'Bearer error_description="a, b=c", error="invalid_request"'
    assert _challenge(value) == BearerChallenge(error="invalid_request", error_description="a, b=c")


@pytest.mark.parametrize(
    "value",
    [
        'Bearer error="insufficient_scope", scope="read write", realm="api"',
        'Bearer scope="read write", realm="api", error="insufficient_scope"',
        'Bearer realm="api", error="insufficient_scope", scope="read write"',
        'Bearer realm = "api" ,  scope="read write",error="insufficient_scope"',
    ],
)
def test_params_are_read_in_any_order(value: str) -> None:
    assert _challenge(value) == BearerChallenge(
        error="insufficient_scope", scope="read write", realm="api"
    )


def test_insufficient_scope_carries_the_scope_needed() -> None:
    challenge = _challenge('Bearer error="insufficient_scope", scope="admin:write"')
    assert challenge is not None
    assert (challenge.error, challenge.scope) == ("insufficient_scope", "admin:write")


def test_param_names_and_the_scheme_are_case_insensitive() -> None:
    assert _challenge('bEaReR ERROR="invalid_token", Scope=read') == BearerChallenge(
        error="invalid_token", scope="read"
    )


def test_the_first_of_a_repeated_param_wins() -> None:
    assert _challenge('Bearer error="invalid_token", error="invalid_request"') == BearerChallenge(
        error="invalid_token"
    )


def test_unknown_params_are_skipped() -> None:
    value = 'Bearer resource_metadata="https://api.example/.well-known", error="invalid_token"'
    assert _challenge(value) == BearerChallenge(error="invalid_token")


def test_bearer_after_a_basic_challenge_in_the_same_header() -> None:
    value = 'Basic realm="legacy", charset="UTF-8", Bearer error="invalid_token", scope="read"'
    assert _challenge(value) == BearerChallenge(error="invalid_token", scope="read")


def test_the_bearer_params_end_at_the_next_challenge() -> None:
    value = 'Bearer realm="api", error="invalid_token", Basic realm="legacy"'
    assert _challenge(value) == BearerChallenge(error="invalid_token", realm="api")


def test_bearer_in_a_separate_header() -> None:
    headers: Headers = (
        ("Content-Type", "application/json"),
        ("WWW-Authenticate", 'Basic realm="legacy"'),
        ("www-authenticate", 'Bearer error="invalid_token"'),
    )
    assert bearer_challenge(headers) == BearerChallenge(error="invalid_token")


def test_the_first_bearer_challenge_wins() -> None:
    headers: Headers = (
        ("WWW-Authenticate", 'Bearer error="invalid_token"'),
        ("WWW-Authenticate", 'Bearer error="insufficient_scope"'),
    )
    assert bearer_challenge(headers) == BearerChallenge(error="invalid_token")


@pytest.mark.parametrize(
    "headers",
    [
        (),
        (("Content-Type", "text/plain"),),
        (("WWW-Authenticate", 'Basic realm="legacy"'),),
        (("WWW-Authenticate", 'DPoP algs="ES256"'), ("WWW-Authenticate", "Negotiate")),
        (("WWW-Authenticate", 'Bearerish error="invalid_token"'),),
        (("X-WWW-Authenticate", 'Bearer error="invalid_token"'),),
        (("WWW-Authenticate", ""),),
    ],
)
def test_no_bearer_challenge_is_none(headers: Headers) -> None:
    assert bearer_challenge(headers) is None


def test_bearer_inside_another_schemes_quoted_value_is_not_a_challenge() -> None:
    assert _challenge('Basic realm="tokens, bearer or basic"') is None


@pytest.mark.parametrize("value", ["Bearer", "bearer", "  Bearer  ", "Basic realm=x, Bearer"])
def test_a_bare_bearer_challenge_has_no_params(value: str) -> None:
    assert _challenge(value) == BearerChallenge()
    assert BearerChallenge() == BearerChallenge(
        error=None, error_description=None, scope=None, realm=None
    )


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["WWW-Authenticate", "www-authenticate"]) | st.text(max_size=10),
            st.text(max_size=80)
            | st.text(max_size=60).map(lambda tail: "Bearer " + tail)
            | st.text(alphabet='Bearer ,="\\ aerorscp_', max_size=60),
        ),
        max_size=4,
    )
)
def test_never_raises_on_arbitrary_text(pairs: list[tuple[str, str]]) -> None:
    challenge = bearer_challenge(tuple(pairs))
    assert challenge is None or isinstance(challenge, BearerChallenge)


# -- escapes, spacing and junk: what the mutation run asked for ---------------------------


def test_an_escaped_quote_does_not_end_a_value_and_what_follows_is_still_read() -> None:
    parsed = _challenge('Bearer error_description="say \\"hi\\"", error="invalid_token"')
    assert parsed == BearerChallenge(error="invalid_token", error_description='say "hi"')


def test_a_comma_after_an_escaped_quote_stays_inside_the_value() -> None:
    parsed = _challenge('Bearer realm="a\\", b", error="invalid_token"')
    assert parsed == BearerChallenge(realm='a", b', error="invalid_token")


def test_spaces_around_the_equals_sign_keep_a_param_a_param() -> None:
    assert _challenge('Bearer error = "invalid_token"') == BearerChallenge(error="invalid_token")


def test_a_token68_before_the_params_is_skipped_not_the_end() -> None:
    parsed = _challenge('Bearer x-token68, error="insufficient_scope", scope="read"')
    assert parsed == BearerChallenge(error="insufficient_scope", scope="read")


def test_a_bare_token_after_a_comma_starts_another_challenge() -> None:
    # RFC 9110 §11.6.1: `junk` is a scheme of its own; its params are not Bearer's.
    parsed = _challenge('Bearer realm="api", junk, error="insufficient_scope"')
    assert parsed == BearerChallenge(realm="api")
