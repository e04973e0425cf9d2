"""ccg's imperative shell: the interpreters that run the core's effects.

`ClientCredentialsAuthManager` runs the token machine for one client over a
`Transport`: `Urllib3Transport` in production, `ccg.testing.FakeTransport` in tests.
"""

from ccg.interp._fake import FakeClock, FakeTransport
from ccg.interp._manager import ClientCredentialsAuthManager, OnTokenUpdate, TokenProvider
from ccg.interp._transport import Transport
from ccg.interp._urllib3 import Urllib3Transport

__all__ = [
    "ClientCredentialsAuthManager",
    "FakeClock",
    "FakeTransport",
    "OnTokenUpdate",
    "TokenProvider",
    "Transport",
    "Urllib3Transport",
]
