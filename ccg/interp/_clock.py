"""The clock port: the two clocks a shell reads before each step, and how it waits.

A clock may also have `sleep(seconds)`, which the shell uses to wait out a backoff
(`ccg.testing.FakeClock` lets the time pass at once); without one, `time.sleep`.
"""

from __future__ import annotations

import time
from typing import Final, Protocol

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock"]


class Clock(Protocol):
    """Both clocks: `monotonic()` for every local deadline, `time()` to stamp `expiry`."""

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps."""
        ...

    def time(self) -> float:
        """UTC epoch seconds."""
        ...


class SystemClock:
    """The process's clocks: `time.monotonic` and `time.time`; waits with `time.sleep`."""

    monotonic = staticmethod(time.monotonic)
    sleep = staticmethod(time.sleep)
    time = staticmethod(time.time)


SYSTEM_CLOCK: Final = SystemClock()
"""The clock every client uses unless given another (`ccg.testing.FakeClock` in tests)."""
