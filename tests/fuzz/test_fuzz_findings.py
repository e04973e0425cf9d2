"""What the fuzzers found, shrunk to plain regression tests.

`test_fuzz_manager.py` with credentials drawn from any text (lone surrogates included)
found that a client id, secret or extra token parameter that is not valid Unicode (a
lone surrogate, which is what `os.environ` holds for a byte that is not UTF-8, by PEP
383) is accepted by the constructor and then makes every token request raise a bare
`UnicodeEncodeError` out of the core's `step`. With a token provider that fails, the
step that should record the failure raises instead, leaving the flight in progress: every
later caller waits for it in real time until its deadline (32 s by default), then raises
again. The constructor now refuses such text (`ConfigurationError`).

`test_fuzz_decoder.py`'s secret-leak property, with the `access_token` key written with a
JSON escape (`"acc\\u0065ss_token"`, the same member to any JSON parser), found that the
failure of a non-2xx reply quotes such a body, token and all: the check that withholds a
body mentioning an access token looked for the key's bytes, not for the member; a body
with any `\\u` escape is now withheld too.

The same test's bound on how much of a reply a failure quotes found that an
`expires_in` number is quoted whole, where a string is cut at 40 characters: a reply
with a 4,299-digit `expires_in` gives a 4,300-character reason, to every log line and
exception message that carries it; now cut to its first digits and its length.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Final

import pytest

from ccg import (
    ApiClient,
    CcgError,
    ClientCredentialsAuthCredentials,
    ConfigurationError,
    OAuthToken,
)
from ccg.core import HttpReply, MalformedResponse, decode_token_reply
from ccg.interp import ClientCredentialsAuthManager
from ccg.testing import FakeClock, FakeTransport, run_inline, token_reply

API: Final = "https://api.example"
NOT_UTF_8: Final = "\udcff"
"""How Python decodes the byte 0xFF of an environment variable (PEP 383 surrogateescape)."""


def _failing_provider(last: OAuthToken | None, manager: ClientCredentialsAuthManager) -> OAuthToken:
    raise RuntimeError("the vault is down")


@pytest.mark.parametrize(
    ("client_id", "secret", "params", "provider"),
    [
        pytest.param(NOT_UTF_8, "s", None, False, id="client-id"),
        pytest.param("id", "s" + NOT_UTF_8, None, False, id="client-secret"),
        pytest.param("id", "s", {"audience": NOT_UTF_8}, False, id="extra-param"),
        pytest.param(NOT_UTF_8, "s", None, True, id="client-id-with-a-failing-provider"),
    ],
)
def test_a_credential_that_is_not_utf_8_is_refused_or_fails_typed(
    client_id: str, secret: str, params: Mapping[str, str] | None, provider: bool
) -> None:
    """Refused at construction (`ConfigurationError`), or sent somehow: either way nothing
    but a `CcgError` escapes a call, and no flight is left for later callers to wait on."""
    try:
        credentials = ClientCredentialsAuthCredentials(
            client_id,
            secret,
            o_auth_token_provider=_failing_provider if provider else None,
            o_auth_token_request_params=params,
        )
        client = ApiClient(
            client_credentials_auth_credentials=credentials,
            token_url="https://as.example/token",
            base_url=API,
            transport=FakeTransport(handler=lambda request: token_reply("t1")),
            clock=FakeClock(),
            spawn=run_inline,
        )
    except ConfigurationError:
        return
    with contextlib.suppress(CcgError):
        client.get(API + "/me")
    assert client.auth_manager.state.flight is None, "a flight left for callers to wait on"


@pytest.mark.parametrize("status", [400, 401, 500, 302])
@pytest.mark.parametrize("key", [b"acc\\u0065ss_token", b"\\u0061ccess_token"])
def test_a_refused_reply_never_quotes_an_access_token_whatever_the_key_spelling(
    status: int, key: bytes
) -> None:
    body = b'{"' + key + b'":"SeCrEt-token-1","token_type":"Bearer","expires_in":60}'
    result = decode_token_reply(HttpReply(status=status, body=body))
    assert "SeCrEt" not in repr(result.failure())


@pytest.mark.parametrize("sign", [b"", b"-"])
def test_an_absurd_expires_in_is_quoted_in_part_only(sign: bytes) -> None:
    digits = b"1" + b"0" * 4_298  # the longest integer msgspec reads
    body = b'{"access_token":"t1","expires_in":' + sign + digits + b"}"
    result = decode_token_reply(HttpReply(status=200, body=body))
    failure = result.failure()
    assert isinstance(failure, MalformedResponse)
    assert len(failure.reason) <= 200, len(failure.reason)
