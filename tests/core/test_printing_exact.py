"""What the core's values print, exactly, under `repr()` and rich's `__rich_repr__`.

`test_values.py` checks that no secret leaks; these pin the whole printed form, so a
label a user reads in a log or a rich console cannot silently change or go missing.
(Found by mutation testing: see MUTATION.md.)
"""

from __future__ import annotations

from typing import Final

from ccg.core import ClientSecretPost, OAuthToken, TokenRequestSpec, UseToken, use

BARE: Final = OAuthToken(access_token="AT-S3CR3T", expires_in=3600, expiry=1700003600.0)
"""A token as the client credentials grant issues it: no refresh token."""
WITH_REFRESH: Final = OAuthToken(
    access_token="AT-S3CR3T", scope="read", expires_in=60, refresh_token="RT-S3CR3T"
)


def test_token_repr_without_a_refresh_token_ends_after_expiry() -> None:
    assert repr(BARE) == (
        "OAuthToken(access_token='***', token_type='Bearer', expires_in=3600, "
        "scope=None, expiry=1700003600.0)"
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


def test_use_token_rich_repr_labels_the_token_and_a_masked_header() -> None:
    effect = use(BARE)
    assert effect == UseToken(token=BARE, authorization="Bearer AT-S3CR3T")
    assert effect.__rich_repr__() == [("token", BARE), ("authorization", "Bearer ***")]
    assert repr(effect) == f"UseToken(token={BARE!r}, authorization='Bearer ***')"


def test_spec_rich_repr_shows_every_field_but_the_secret() -> None:
    spec = TokenRequestSpec(
        token_url="https://as.example/token",
        client_id="my-client",
        client_secret="hunter2",
        scopes=("read", "write"),
        extra_params=(("audience", "https://api.example"),),
        authentication=ClientSecretPost(),
    )
    assert spec.__rich_repr__() == [
        ("token_url", "https://as.example/token"),
        ("client_id", "my-client"),
        ("client_secret", "***"),
        ("scopes", ("read", "write")),
        ("extra_params", (("audience", "https://api.example"),)),
        ("authentication", ClientSecretPost()),
    ]
    assert repr(spec) == (
        "TokenRequestSpec(token_url='https://as.example/token', client_id='my-client', "
        "client_secret='***', scopes=('read', 'write'), "
        "extra_params=(('audience', 'https://api.example'),), "
        "authentication=ClientSecretPost())"
    )
