"""Fuzzing the wire decoders: `decode_token_reply`, `retry_after`, `epoch_of_http_date` and
`bearer_challenge`, over arbitrary bytes, JSON-ish bodies, mutations of valid bodies,
dates and challenges, and any status and headers.

Every decoder is total: it returns, never raises. `decode_token_reply` always answers a
`Result`; a `Success` holds a token that can go into an `Authorization` header as it is
(checked here by hand, not only with `token_problem`) and that says what the body said
(checked against the standard library's JSON parser); a `Failure` is a typed
`TokenFailure` about this reply, whose text is bounded and never repeats the token.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Final, cast

from hypothesis import given
from hypothesis import strategies as st
from returns.result import Failure, Result, Success

from ccg.core import (
    BEARER,
    MAX_LIFETIME,
    MAX_TOKEN_RESPONSE_BYTES,
    BearerChallenge,
    ErrorResponse,
    Headers,
    HttpReply,
    MalformedResponse,
    OAuthProviderError,
    OAuthToken,
    TokenFailure,
    bearer_challenge,
    decode_token_reply,
    epoch_of_http_date,
    header_problem,
    retry_after,
    token_problem,
)
from ccg.testing.strategies import (
    access_tokens,
    error_replies,
    hostile_replies,
    http_replies,
    lifetimes,
    token_replies,
    unsafe_access_tokens,
)
from tests.fuzz._budget import DECODER_SHARE, fuzz_settings
from tests.fuzz._strategies import (
    any_text,
    encode_members,
    header_lists,
    json_bodies,
    json_values,
    mutations,
    statuses,
)

DECODER: Final = fuzz_settings(DECODER_SHARE)
HEADER_SAFE: Final = re.compile(r"[\x21-\x7E]+")
"""RFC 6750 §2.1 `b64token` is narrower; this is what can follow `Bearer ` in a header
without ending it, folding it or smuggling another one in: visible ASCII, no space."""
LONGEST_REASON: Final = 2_500
"""A failure quotes at most a bounded part of a reply, however large the reply: 200
characters of a body, `repr`'d (up to 10 characters each), and a sentence around them.
(A number is quoted whole: see `test_fuzz_findings.py`; no number here is that long.)"""
SECRET_HEAD: Final = "SeCrEt"
SECRET_TAIL: Final = "tErCeS"
_BEFORE: Final = ("token_type", "expires_in", "x", "error")
_AFTER: Final = ("error", "scope", "refresh_in", "error_description")


def _bodies_of(replies: st.SearchStrategy[HttpReply]) -> st.SearchStrategy[bytes]:
    return replies.map(lambda reply: reply.body)


def _mutated_bodies() -> st.SearchStrategy[bytes]:
    """Valid token and error bodies with a few bytes damaged."""
    valid = _bodies_of(token_replies()) | _bodies_of(error_replies())
    return valid.flatmap(mutations)


def _bodies() -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=300),
        json_bodies(),
        _mutated_bodies(),
        _bodies_of(http_replies()),
        _bodies_of(hostile_replies()),
    )


@st.composite
def _near_tokens(draw: st.DrawFn) -> bytes:
    """A 2xx token body whose every member is right but one: an access token with one
    character no header may carry (`unsafe_access_tokens`), or a member of another type."""
    members: list[tuple[str, object]] = [
        ("access_token", draw(unsafe_access_tokens() | access_tokens())),
        ("token_type", draw(st.sampled_from(["Bearer", "bearer", "DPoP"]))),
        ("expires_in", draw(lifetimes())),
    ]
    if draw(st.booleans()):
        at = draw(st.integers(0, len(members) - 1))
        members[at] = (members[at][0], draw(json_values()))
    return encode_members(members, ensure_ascii=draw(st.booleans()))


def _replies() -> st.SearchStrategy[HttpReply]:
    return st.one_of(
        st.builds(HttpReply, status=st.sampled_from([200, 201, 299]), body=_near_tokens()),
        st.builds(HttpReply, status=statuses(), headers=header_lists(), body=_bodies()),
        # As generated, with the statuses they were made for.
        http_replies(),
        st.builds(HttpReply, status=st.integers(200, 299), body=_mutated_bodies()),
    )


def _token_types() -> st.SearchStrategy[tuple[str, ...]]:
    return st.one_of(
        st.sampled_from([BEARER, ("bearer", "dpop"), ("dpop",), ()]),
        st.lists(any_text(8).map(str.lower), max_size=3).map(tuple),
    )


def _body_limits() -> st.SearchStrategy[int | None]:
    return st.one_of(st.none(), st.just(MAX_TOKEN_RESPONSE_BYTES), st.integers(0, 400))


def _object(body: bytes) -> dict[str, object] | None:
    """The body as the standard library reads JSON, for a second opinion on msgspec; None
    when it cannot read it. (msgspec skips unknown members without reading them through:
    invalid UTF-8 or nesting too deep there is no reason to refuse a token; the standard
    library refuses the whole body.)"""
    try:
        parsed: object = json.loads(body)
    except (ValueError, RecursionError):
        return None
    assert isinstance(parsed, dict), "msgspec read an object where json reads none"
    return cast("dict[str, object]", parsed)


def check_token(reply: HttpReply, token_types: tuple[str, ...], token: OAuthToken) -> None:
    """A decoded token can be sent as it is, and is what the body said."""
    assert type(token) is OAuthToken
    assert token_problem(token) is None
    assert header_problem("access_token", token.access_token) is None
    # By hand: the header value is ASCII, visible characters only, nothing to end it.
    assert HEADER_SAFE.fullmatch(token.access_token), "an access token unsafe in a header"
    assert ("Bearer " + token.access_token).encode("ascii").isascii()
    assert token.expiry is None, "the wire carries no expiry: whoever receives it stamps it"
    for seconds in (token.expires_in, token.refresh_in):
        assert seconds is None or (type(seconds) is int and 0 <= seconds <= MAX_LIFETIME)
    assert type(token.token_type) is str
    assert token.token_type.lower() in token_types
    assert 200 <= reply.status < 300
    body = _object(reply.body)
    if body is not None:
        assert body["access_token"] == token.access_token
        assert body.get("token_type", "Bearer") == token.token_type
        assert body.get("scope") == token.scope
        assert body.get("refresh_token") == token.refresh_token


def check_failure(reply: HttpReply, failure: TokenFailure) -> None:
    """A decoding failure is about this reply, typed, and bounded."""
    assert isinstance(failure, ErrorResponse | MalformedResponse), failure
    assert failure.status == reply.status
    assert failure.headers == reply.headers
    match failure:
        case ErrorResponse(error=error, error_description=description, error_uri=uri):
            assert isinstance(error, str)
            assert isinstance(error, OAuthProviderError) == (
                error in {code.value for code in OAuthProviderError}
            )
            assert description is None or isinstance(description, str)
            assert uri is None or isinstance(uri, str)
            body = _object(reply.body)
            assert body is None or body["error"] == error
        case MalformedResponse(reason=reason):
            assert isinstance(reason, str)
            assert reason
            assert len(reason) <= LONGEST_REASON, len(reason)


def check_decoded(
    reply: HttpReply,
    token_types: tuple[str, ...],
    max_body_bytes: int | None,
    result: Result[OAuthToken, TokenFailure],
) -> None:
    assert isinstance(result, Success | Failure), result
    if isinstance(result, Success):
        assert max_body_bytes is None or len(reply.body) <= max_body_bytes
        check_token(reply, token_types, result.unwrap())
    else:
        check_failure(reply, result.failure())


@DECODER
@given(reply=_replies(), token_types=_token_types(), max_body_bytes=_body_limits())
def test_decode_token_reply_is_total_and_typed(
    reply: HttpReply, token_types: tuple[str, ...], max_body_bytes: int | None
) -> None:
    result = decode_token_reply(reply, token_types=token_types, max_body_bytes=max_body_bytes)
    check_decoded(reply, token_types, max_body_bytes, result)
    # The same reply decodes the same way: nothing is kept between calls.
    again = decode_token_reply(reply, token_types=token_types, max_body_bytes=max_body_bytes)
    assert repr(again) == repr(result)


@DECODER
@given(
    access_token=st.one_of(
        access_tokens(),
        unsafe_access_tokens(),
        st.text(st.characters(min_codepoint=0x09, max_codepoint=0x7F), min_size=1, max_size=12),
        any_text(12),
    ),
    status=st.integers(200, 299),
    ensure_ascii=st.booleans(),
)
def test_an_access_token_is_taken_exactly_when_a_header_can_carry_it(
    access_token: str, status: int, ensure_ascii: bool
) -> None:
    """In an otherwise valid token body, the access token decides alone: taken exactly when
    it is visible ASCII without spaces (`HEADER_SAFE`, written here by hand), refused as
    malformed otherwise (empty, spaces, CR/LF, controls, DEL, non-ASCII, lone surrogates)."""
    body = encode_members(
        [("access_token", access_token), ("token_type", "Bearer"), ("expires_in", 60)],
        ensure_ascii=ensure_ascii,
    )
    reply = HttpReply(status=status, body=body)
    result = decode_token_reply(reply)
    check_decoded(reply, BEARER, MAX_TOKEN_RESPONSE_BYTES, result)
    if HEADER_SAFE.fullmatch(access_token):
        assert isinstance(result, Success)
        assert result.unwrap() == OAuthToken(access_token=access_token, expires_in=60)
    else:
        assert isinstance(result, Failure)
        assert isinstance(result.failure(), MalformedResponse)


@st.composite
def _secret_bodies(draw: st.DrawFn) -> bytes:
    """A body that holds an access token (`SeCrEt...tErCeS`) once, intact, under the key
    `access_token` written as is, among any other members, with the bytes around it
    damaged. (Written with a `\\u` escape, the key is not recognised: see
    `test_fuzz_findings.py`.)"""
    secret = SECRET_HEAD + draw(st.text("abcdefXYZ0123456789-._~", max_size=12)) + SECRET_TAIL
    before = draw(st.lists(st.tuples(st.sampled_from(_BEFORE), json_values()), max_size=3))
    after = draw(st.lists(st.tuples(st.sampled_from(_AFTER), json_values()), max_size=3))
    # `{...,"access_token":"` + the secret + `"}` or `",...}`
    head = encode_members([*before, ("access_token", "")])[: -len(b'"}')]
    tail = b'",' + encode_members(after)[1:] if after else b'"}'
    if draw(st.booleans()):
        head = draw(mutations(head, 2))
    if draw(st.booleans()):
        tail = draw(mutations(tail, 2))
    return head + secret.encode() + tail


@DECODER
@given(
    body=_secret_bodies(),
    status=statuses(),
    headers=header_lists(),
    token_types=_token_types(),
)
def test_a_failure_never_repeats_the_access_token_of_a_body_that_names_one(
    body: bytes, status: int, headers: Headers, token_types: tuple[str, ...]
) -> None:
    """A reply that carries an access token but is refused (a non-2xx status, a wrong
    token type, damaged JSON around it) is reported without the token: failures are
    logged and raised, and must not leak a credential."""
    reply = HttpReply(status=status, headers=headers, body=body)
    result = decode_token_reply(reply, token_types=token_types)
    check_decoded(reply, token_types, MAX_TOKEN_RESPONSE_BYTES, result)
    if isinstance(result, Failure) and b'"access_token"' in body:
        shown = repr(result.failure())
        assert SECRET_HEAD not in shown
        assert SECRET_TAIL not in shown


# -- Retry-After and HTTP dates ---------------------------------------------------------

_MOMENTS: Final = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)).map(
    lambda moment: moment.replace(microsecond=0, tzinfo=UTC)
)


_DAYS: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)


def imf_fixdate(moment: datetime) -> str:
    """`Sun, 06 Nov 1994 08:49:37 GMT` (by hand: `strftime` depends on the locale, and on
    glibc writes the year 1 as `1`)."""
    return (
        f"{_DAYS[moment.weekday()][:3]}, {moment.day:02} {_MONTHS[moment.month - 1]} "
        f"{moment.year:04} {moment:%H:%M:%S} GMT"
    )


def rfc850_date(moment: datetime) -> str:
    """`Sunday, 06-Nov-94 08:49:37 GMT`."""
    return (
        f"{_DAYS[moment.weekday()]}, {moment.day:02}-{_MONTHS[moment.month - 1]}-"
        f"{moment.year % 100:02} {moment:%H:%M:%S} GMT"
    )


def asctime_date(moment: datetime) -> str:
    """`Sun Nov  6 08:49:37 1994`."""
    return (
        f"{_DAYS[moment.weekday()][:3]} {_MONTHS[moment.month - 1]} {moment.day:2} "
        f"{moment:%H:%M:%S} {moment.year:04}"
    )


def _http_dates(moment: datetime) -> st.SearchStrategy[str]:
    """`moment` in each format RFC 9110 §5.6.7 asks a recipient to read."""
    return st.sampled_from([imf_fixdate(moment), rfc850_date(moment), asctime_date(moment)])


def _date_texts() -> st.SearchStrategy[str]:
    """HTTP dates, as sent and with a few bytes damaged, and any text at all."""
    dates = _MOMENTS.flatmap(_http_dates)
    damaged = dates.flatmap(
        lambda text: mutations(text.encode(), 3).map(lambda b: b.decode("latin-1"))
    )
    return st.one_of(
        dates,
        damaged,
        any_text(40),
        st.text("0123456789 ,:-GMTgmtSunMonDec", max_size=40),
        st.integers(-(10**20), 10**20).map(str),
    )


def _walls() -> st.SearchStrategy[float]:
    """Any wall clock reading, NaN and the infinities included."""
    return st.one_of(
        st.floats(),
        st.floats(-1e16, 1e16),
        st.sampled_from([0.0, 1_700_000_000.0, 1e15, -1e15, math.inf, -math.inf, math.nan]),
    )


def _retry_after_headers() -> st.SearchStrategy[Headers]:
    named = st.tuples(st.sampled_from(["Retry-After", "retry-after", "RETRY-after"]), _date_texts())
    return st.one_of(
        header_lists(),
        st.lists(named | st.tuples(any_text(12), any_text(20)), max_size=4).map(tuple),
    )


def _same(first: float | None, second: float | None) -> bool:
    if first is None or second is None:
        return first is second
    return first == second or (math.isnan(first) and math.isnan(second))


@DECODER
@given(headers=_retry_after_headers(), wall=_walls())
def test_retry_after_is_total_and_reads_only_its_header(headers: Headers, wall: float) -> None:
    """`retry_after` returns None or a float for any headers at any wall clock; only the
    `Retry-After` headers matter; delay-seconds are read exactly (cut at 10^12); a date
    read against a wall clock in range is a finite number of seconds."""
    seconds = retry_after(headers, wall)
    assert seconds is None or type(seconds) is float
    named = tuple((k, v) for k, v in headers if k.lower() == "retry-after")
    assert _same(retry_after(named, wall), seconds)
    if not named:
        assert seconds is None
        return
    text = named[0][1].strip()
    if re.fullmatch(r"[0-9]+", text, re.ASCII):
        assert seconds == float(min(int(text), 10**12))
    elif seconds is not None and math.isfinite(wall) and abs(wall) < 1e15:
        assert math.isfinite(seconds)


@DECODER
@given(text=_date_texts(), wall=st.none() | _walls())
def test_epoch_of_http_date_is_total_and_finite(text: str, wall: float | None) -> None:
    epoch = epoch_of_http_date(text, wall)
    assert epoch is None or (type(epoch) is float and math.isfinite(epoch))


@DECODER
@given(moment=_MOMENTS, wall=_walls())
def test_a_date_is_read_whatever_the_wall_clock_in_two_of_three_formats(
    moment: datetime, wall: float
) -> None:
    """IMF-fixdate and asctime name their century: the wall clock plays no part."""
    expected = (moment - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(seconds=1)
    for text in (imf_fixdate(moment), asctime_date(moment)):
        assert epoch_of_http_date(text, wall) == expected, text


# -- WWW-Authenticate -------------------------------------------------------------------

_TOKEN_CHARS: Final = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+.^_`|~-"
)
_PARAM_NAMES: Final = (
    "realm",
    "error",
    "error_description",
    "scope",
    "REALM",
    "Error",
    "x",
    "charset",
)
_QUOTABLE: Final = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=30
)


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@st.composite
def _param(draw: st.DrawFn) -> tuple[str, str, str]:
    """A param: its name, its value, and how it is written (quoted or as a token)."""
    name = draw(st.sampled_from(_PARAM_NAMES) | st.text(_TOKEN_CHARS, min_size=1, max_size=8))
    if draw(st.booleans()):
        value = draw(_QUOTABLE)
        written = _quoted(value)
    else:
        value = draw(st.text(_TOKEN_CHARS + "/:@", max_size=12))
        written = value
    spaces = draw(st.sampled_from(["", " ", "  ", "\t"]))
    return name, value, f"{name}{spaces}={spaces}{written}"


def _challenge(scheme: str, params: list[tuple[str, str, str]], separator: str) -> str:
    if not params:
        return scheme
    return scheme + " " + separator.join(written for _, _, written in params)


@st.composite
def _challenge_headers(draw: st.DrawFn) -> tuple[Headers, BearerChallenge]:
    """`WWW-Authenticate` headers with one Bearer challenge among others (before and after,
    in the same header or not), and the challenge they hold."""
    separator = draw(st.sampled_from([", ", ",", " , ", ",  "]))
    params = draw(st.lists(_param(), max_size=6))
    scheme = draw(st.sampled_from(["Bearer", "bearer", "BEARER", "bEaReR"]))
    bearer = _challenge(scheme, params, separator)
    others = st.builds(
        _challenge,
        st.sampled_from(["Basic", "Digest", "Negotiate", "DPoP", "Newauth"])
        | st.text(_TOKEN_CHARS, min_size=1, max_size=8).filter(lambda s: s.lower() != "bearer"),
        st.lists(_param(), max_size=3),
        st.just(separator),
    )
    before = draw(st.lists(others, max_size=2))
    after = draw(st.lists(others, max_size=2))
    noise = draw(
        st.lists(st.tuples(st.sampled_from(["Content-Type", "X-Id"]), any_text(20)), max_size=2)
    )
    challenges: Headers
    if draw(st.booleans()):
        challenges = (("WWW-Authenticate", separator.join([*before, bearer, *after])),)
    else:
        challenges = tuple(("WWW-Authenticate", c) for c in [*before, bearer, *after])
    found: dict[str, str] = {}
    for name, value, _ in params:
        found.setdefault(name.lower(), value)
    expected = BearerChallenge(
        error=found.get("error"),
        error_description=found.get("error_description"),
        scope=found.get("scope"),
        realm=found.get("realm"),
    )
    return (*noise, *challenges), expected


@DECODER
@given(case=_challenge_headers())
def test_a_bearer_challenge_among_others_is_read_back_exactly(
    case: tuple[Headers, BearerChallenge],
) -> None:
    """Whatever the quoted values hold (commas, quotes, backslashes, `=`, other schemes'
    names), the Bearer challenge's params come back as they were written; the first of a
    repeated param wins, unknown ones are skipped, other challenges are not read."""
    headers, expected = case
    assert bearer_challenge(headers) == expected


def _challenge_texts() -> st.SearchStrategy[Headers]:
    damaged = _challenge_headers().flatmap(
        lambda case: st.tuples(
            *[
                st.tuples(st.just(name), mutations(value.encode("utf-8", "surrogatepass"), 3)).map(
                    lambda pair: (pair[0], pair[1].decode("latin-1"))
                )
                for name, value in case[0]
            ]
        )
    )
    return st.one_of(header_lists(), damaged)


@DECODER
@given(headers=_challenge_texts())
def test_bearer_challenge_is_total_and_reads_only_its_header(headers: Headers) -> None:
    challenge = bearer_challenge(headers)
    assert challenge is None or type(challenge) is BearerChallenge
    named = tuple((k, v) for k, v in headers if k.lower() == "www-authenticate")
    assert bearer_challenge(named) == challenge
    if challenge is None:
        return
    assert any("bearer" in value.lower() for _, value in named)
    for value in (challenge.error, challenge.error_description, challenge.scope, challenge.realm):
        assert value is None or type(value) is str
