"""Time seam (L0): read the clocks, arm timers and sleep, for real or under a virtual clock.

Domain code never calls ``time.*``, ``asyncio.sleep`` or ``loop.call_later`` itself; it takes a
``Scheduler`` (or only a ``Clock`` when it just reads time), so that retention, timeouts, the
coordinators, raft and replication can run under a seeded simulation with a ``VirtualScheduler``.
``node.py`` builds the one real ``SystemScheduler``.

Units: ``now_ms()`` is wall-clock milliseconds since the epoch (record timestamps, retention);
``monotonic()`` and every delay are seconds as floats, like asyncio's own.

``VirtualScheduler`` contract (tests and simulation):
- Time moves only by ``advance(ms)`` (synchronous: fires the due timers, no loop turn between them)
  or by the async ``run_for(ms)`` / ``run_until(predicate)``, which fire the due timers one at a time
  and let the event loop run between them, so a coroutine woken by one timer (``await sleep(...)``)
  runs and arms its next timer before time moves on.  None of them ever waits on the real clock.
- Timers fire in order of deadline; timers with the same deadline fire in the order they were
  armed.  When a timer fires, ``monotonic()`` and ``now_ms()`` read its deadline.
- ``call_later`` needs no event loop; ``sleep`` needs the running loop (it parks on a future).
- "Let the loop run" means: yield until the loop has no ready callbacks (checked through
  ``BaseEventLoop._ready``; on a loop without it, a fixed 64 yields).  Work in other threads
  (``asyncio.to_thread``) is not waited for.
"""
from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections.abc import Callable
from typing import Any, Protocol


class Clock(Protocol):
    def now_ms(self) -> int:
        """Wall-clock time in milliseconds since the epoch (record timestamps, retention)."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin that never goes backwards (timeouts)."""


class TimerHandle(Protocol):
    def cancel(self) -> None:
        """Stop the timer; a no-op if it already fired or was cancelled."""


class Scheduler(Clock, Protocol):
    """A Clock that can also run callbacks later and put a coroutine to sleep."""

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> TimerHandle:
        """Run ``callback(*args)`` once, ``delay`` seconds from now (a negative delay means now).
        The real scheduler needs a running event loop (RuntimeError otherwise)."""

    async def sleep(self, delay: float) -> None:
        """Return after ``delay`` seconds; cancellable like ``asyncio.sleep``."""


class SystemScheduler:
    """The real thing: the system clocks and the running asyncio loop's timers."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        return time.monotonic()

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> TimerHandle:
        return asyncio.get_running_loop().call_later(max(delay, 0.0), callback, *args)

    async def sleep(self, delay: float) -> None:
        await asyncio.sleep(delay)


SystemClock = SystemScheduler  # the older name; a SystemScheduler is a Clock


class VirtualTimer:
    """A timer armed on a VirtualScheduler (the TimerHandle it returns)."""

    __slots__ = ("when_ns", "seq", "callback", "args", "cancelled")

    def __init__(self, when_ns: int, seq: int, callback: Callable[..., object], args: tuple[Any, ...]) -> None:
        self.when_ns, self.seq, self.callback, self.args = when_ns, seq, callback, args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def when(self) -> float:
        """The deadline, on the scheduler's monotonic clock."""
        return self.when_ns / 1e9

    def __lt__(self, other: VirtualTimer) -> bool:
        return (self.when_ns, self.seq) < (other.when_ns, other.seq)


class VirtualScheduler:
    """A Scheduler whose time moves only when told to; see the module docstring for the contract.

    Concurrency: one thread (the event loop's, when there is one)."""

    START_MS = 1_700_000_000_000  # the default wall clock at monotonic 0

    def __init__(self, now_ms: int = START_MS) -> None:
        self._start_ms = now_ms
        self._mono_ns = 0
        self._timers: list[VirtualTimer] = []  # a heap
        self._seq = itertools.count()

    # ------------------------------------------------------------------ Clock
    def now_ms(self) -> int:
        return self._start_ms + self._mono_ns // 1_000_000

    def monotonic(self) -> float:
        return self._mono_ns / 1e9

    # ------------------------------------------------------------------ Scheduler
    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> VirtualTimer:
        # rounded up: a timer never fires before its deadline, and a tiny positive delay still moves time
        timer = VirtualTimer(self._mono_ns + max(math.ceil(delay * 1e9), 0), next(self._seq), callback, args)
        heapq.heappush(self._timers, timer)
        return timer

    async def sleep(self, delay: float) -> None:
        if delay <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        timer = self.call_later(delay, _wake, fut)
        try:
            await fut
        finally:
            timer.cancel()

    # ------------------------------------------------------------------ driving time
    def pending(self) -> int:
        """How many timers are armed and not cancelled."""
        return sum(1 for t in self._timers if not t.cancelled)

    def next_deadline(self) -> float | None:
        """The monotonic deadline of the next timer, None when none is armed."""
        self._drop_cancelled()
        return self._timers[0].when() if self._timers else None

    def advance(self, ms: float) -> None:
        """Move time ``ms`` forward, firing every timer that falls due on the way (also those armed
        by the callbacks themselves), each at its own deadline.  No loop turn between timers."""
        target = self._mono_ns + _ms_to_ns(ms)
        while self._fire_next(target):
            pass
        self._mono_ns = target

    async def run_for(self, ms: float) -> None:
        """Like ``advance`` but let the event loop run before the first timer, after each one and at the end."""
        target = self._mono_ns + _ms_to_ns(ms)
        await settle()
        while self._fire_next(target):
            await settle()
        self._mono_ns = target
        await settle()

    async def run_until(self, predicate: Callable[[], bool], timeout_ms: float = 3_600_000) -> None:
        """Fire timers one at a time (letting the loop run after each) until ``predicate()`` holds.
        Raises TimeoutError if it does not hold within ``timeout_ms`` of virtual time."""
        target = self._mono_ns + _ms_to_ns(timeout_ms)
        await settle()
        while not predicate():
            if not self._fire_next(target):
                self._mono_ns = target
                raise TimeoutError(f"condition not reached within {timeout_ms} ms of virtual time")
            await settle()

    def _drop_cancelled(self) -> None:
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)

    def _fire_next(self, limit_ns: int) -> bool:
        """Fire the next timer due at or before ``limit_ns``; False when there is none."""
        self._drop_cancelled()
        if not self._timers or self._timers[0].when_ns > limit_ns:
            return False
        timer = heapq.heappop(self._timers)
        self._mono_ns = max(self._mono_ns, timer.when_ns)
        timer.cancelled = True  # fired: a later cancel() is a no-op
        timer.callback(*timer.args)
        return True


FakeClock = VirtualScheduler  # the older name, still used by the storage tests


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _ms_to_ns(ms: float) -> int:
    if ms < 0:
        raise ValueError(f"time cannot go backwards ({ms} ms)")
    return round(ms * 1_000_000)


async def settle(max_yields: int = 10_000) -> None:
    """Yield to the running loop until it has nothing ready to run (see the module docstring)."""
    loop = asyncio.get_running_loop()
    ready = getattr(loop, "_ready", None)
    if ready is None:
        for _ in range(64):
            await asyncio.sleep(0)
        return
    await asyncio.sleep(0)
    for _ in range(max_yields):
        if not ready:
            return
        await asyncio.sleep(0)


SYSTEM_CLOCK = SystemScheduler()
