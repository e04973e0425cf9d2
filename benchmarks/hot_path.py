"""The hot path: a valid cached token -> decision -> `Authorization` header, in ns per call.

Run: `.venv/bin/python -m benchmarks.hot_path`. Every figure is the median of
repeats in this one run, and every ratio compares figures from this run.

Rows: `auth_manager.authorization_header()`; what `ApiClient` does per request
with its default presenter (`auth_manager.bearer()`: the token and its header);
the hand-written floor; the clock ccg reads on the hot path alone; and the
slow path, one `ccg.core.step` with the `Now` the shell reads before each step.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
import timeit
from collections.abc import Callable

from ccg.core import (
    Held,
    Now,
    OAuthToken,
    Policy,
    TokenNeeded,
    TokenRequestSpec,
    TokenState,
    step,
)
from ccg.interp import SYSTEM_CLOCK, ClientCredentialsAuthManager
from ccg.testing import FakeTransport, token_reply

__all__ = ["LockedFloor", "main"]

_REPEATS = 15
_NUMBER = 200_000
_API_URL = "https://api.example/v1/things"
_FLOOR = "hand-written floor: lock + expiry check + cached header"


class LockedFloor:
    """The hand-written floor: a lock, an expiry check against the clock, a prebuilt header.

    The clock is the monotonic one, the clock ccg checks a held token against.
    """

    def __init__(self, header: str, expiry: float) -> None:
        self._lock = threading.Lock()
        self._header = header
        self._expiry = expiry

    def header(self) -> str:
        with self._lock:
            if time.monotonic() < self._expiry:
                return self._header
            raise RuntimeError("expired")  # never reached in the benchmark


def _ns_per_call(
    fn: Callable[[], object] | str, namespace: dict[str, object] | None = None
) -> float:
    """ns per call of `fn`, or of the statement `fn` run inline in `namespace`."""
    timer = timeit.Timer(fn, globals=namespace)
    runs = timer.repeat(repeat=_REPEATS, number=_NUMBER)
    return statistics.median(runs) / _NUMBER * 1e9


def main() -> None:
    """Measure and print the table."""
    spec = TokenRequestSpec(
        token_url="https://as.example/token", client_id="id", client_secret="secret"
    )
    manager = ClientCredentialsAuthManager(
        spec, transport=FakeTransport([token_reply("t" * 40)]), clock=SYSTEM_CLOCK
    )
    header = manager.authorization_header()  # first call fetches; the rest are cached
    # ApiClient._exchange's auth work with its default presenter, inline as there (a
    # wrapper function would add a call ApiClient does not make).
    api_client_step = "token, header = bearer()"
    api_client_names: dict[str, object] = {"bearer": manager.bearer}

    floor = LockedFloor(header, time.monotonic() + 3600)
    policy = Policy(request=spec, clock_skew=60.0)
    token = OAuthToken(access_token="t" * 40, expires_in=3600, expiry=time.time() + 3600)
    start = time.monotonic()  # a 3600 s token: skew 60 s, renewal window the last 885 s
    state = TokenState(
        held=Held(
            token=token,
            expires_at=start + 3600,
            fresh_until=start + 3540,
            refresh_at=start + 2655,
        )
    )
    needed = TokenNeeded()
    monotonic, wall, entropy = time.monotonic, time.time, random.random

    def full_step() -> object:
        # The shell's slow path: read both clocks and draw (TokenCell.now), then step.
        return step(
            policy, state, needed, Now(monotonic=monotonic(), wall=wall(), entropy=entropy())
        )

    rows = [
        (
            "ccg ClientCredentialsAuthManager.authorization_header()",
            _ns_per_call(manager.authorization_header),
        ),
        (
            "ccg ApiClient per request: auth_manager.bearer()",
            _ns_per_call(api_client_step, api_client_names),
        ),
        (_FLOOR, _ns_per_call(floor.header)),
        ("time.monotonic() alone", _ns_per_call(time.monotonic)),
        ("ccg.core.step(held token, TokenNeeded, Now) (slow path)", _ns_per_call(full_step)),
    ]
    floor_ns = dict(rows)[_FLOOR]
    print(f"hot path, median of {_REPEATS} x {_NUMBER:,} calls")
    print(f"{'what':58} {'ns/call':>9} {'vs floor':>9}")
    for name, ns in rows:
        print(f"{name:58} {ns:9.1f} {ns / floor_ns:8.2f}x")


if __name__ == "__main__":
    main()
