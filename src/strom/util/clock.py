"""Clock seam (L0): wall-clock milliseconds and a monotonic clock, real or fake.

Everything that reads time takes a Clock so that retention, timeouts and the
coordinators can run under a seeded simulation with a FakeClock.
"""
from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int:
        """Wall-clock time in milliseconds since the epoch (record timestamps, retention)."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin that never goes backwards (timeouts)."""


class SystemClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        return time.monotonic()


class FakeClock:
    """A clock that moves only when told to (tests and simulation)."""

    def __init__(self, now_ms: int = 1_700_000_000_000) -> None:
        self._now_ms = now_ms
        self._mono = 0.0

    def now_ms(self) -> int:
        return self._now_ms

    def monotonic(self) -> float:
        return self._mono

    def advance(self, ms: int) -> None:
        self._now_ms += ms
        self._mono += ms / 1000.0


SYSTEM_CLOCK = SystemClock()
