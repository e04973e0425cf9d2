"""Public test kit: swap these in to test code that uses ccg, with no network and no real time.

`FakeTransport` scripts the token endpoint and the API and records what was sent
(`FakeAsyncTransport` for asyncio code);
`FakeClock` is a pair of clocks you move by hand (backoffs let time pass at once);
`run_inline` runs background renewals on the calling thread, deterministically.
Hypothesis strategies for tokens, token responses and clock schedules are in
`ccg.testing.strategies` (`ccg[testing]`).

>>> from ccg import ApiClient, ClientCredentialsAuthCredentials
>>> transport = FakeTransport([token_reply("t1", expires_in=3600), json_reply(200, {"ok": True})])
>>> client = ApiClient(
...     client_credentials_auth_credentials=ClientCredentialsAuthCredentials(
...         o_auth_client_id="id", o_auth_client_secret="secret"),
...     token_url="https://as.example/token", base_url="https://api.example",
...     transport=transport, clock=FakeClock())
>>> client.get("/me").json()
{'ok': True}
>>> transport.requests[1].header("Authorization")
'Bearer t1'
"""

from ccg.testing._fakes import (
    AsyncScripted,
    FakeAsyncTransport,
    FakeClock,
    FakeTransport,
    Scripted,
    error_reply,
    json_reply,
    run_inline,
    token_reply,
)

__all__ = [
    "AsyncScripted",
    "FakeAsyncTransport",
    "FakeClock",
    "FakeTransport",
    "Scripted",
    "error_reply",
    "json_reply",
    "run_inline",
    "token_reply",
]
