"""The clock port: the two clocks a shell reads before each step."""

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
    """The process's clocks: `time.monotonic` and `time.time`."""

    monotonic = staticmethod(time.monotonic)
    time = staticmethod(time.time)


SYSTEM_CLOCK: Final = SystemClock()
"""The clock every client uses unless given another (`ccg.testing.FakeClock` in tests)."""
