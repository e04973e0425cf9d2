"""ccg's imperative shell: the interpreters that run the core's effects.

`ClientCredentialsAuthManager` drives the token machine for one client on the
calling thread (`AsyncClientCredentialsAuthManager` in asyncio tasks), over a
`Transport` (`Urllib3Transport` in production; the fakes for tests are in
`ccg.testing`) and a `Clock`. The loop it runs is written once,
I/O-free, in `_driver.py`.
"""

from ccg.interp._async_manager import (
    AsyncClientCredentialsAuthManager,
    AsyncOnTokenUpdate,
    AsyncTokenProvider,
)
from ccg.interp._cell import TokenCell
from ccg.interp._clock import SYSTEM_CLOCK, Clock, SystemClock
from ccg.interp._manager import ClientCredentialsAuthManager, OnTokenUpdate, TokenProvider
from ccg.interp._presenter import BearerPresenter, TokenPresenter
from ccg.interp._transport import AsyncTransport, Transport
from ccg.interp._urllib3 import Urllib3Transport

__all__ = [
    "SYSTEM_CLOCK",
    "AsyncClientCredentialsAuthManager",
    "AsyncOnTokenUpdate",
    "AsyncTokenProvider",
    "AsyncTransport",
    "BearerPresenter",
    "ClientCredentialsAuthManager",
    "Clock",
    "OnTokenUpdate",
    "SystemClock",
    "TokenCell",
    "TokenPresenter",
    "TokenProvider",
    "Transport",
    "Urllib3Transport",
]
