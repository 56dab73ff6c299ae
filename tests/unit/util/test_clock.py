"""The time seam: the virtual scheduler's ordering and driving contract, and the real one over asyncio."""
from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strom.util.clock import Scheduler, SystemScheduler, VirtualScheduler


def test_timers_fire_in_deadline_order_ties_in_arming_order_each_at_its_deadline():
    clock = VirtualScheduler(now_ms=1000)
    fired: list[tuple[str, float, int]] = []

    def note(name: str) -> None:
        fired.append((name, clock.monotonic(), clock.now_ms()))

    clock.call_later(0.2, note, "b")
    clock.call_later(0.1, note, "a")
    clock.call_later(0.2, note, "c")  # ties with b, armed after it
    cancelled = clock.call_later(0.15, note, "never")
    cancelled.cancel()
    assert clock.pending() == 3 and clock.next_deadline() == pytest.approx(0.1)
    clock.advance(99)
    assert fired == []
    clock.advance(101)
    assert fired == [("a", 0.1, 1100), ("b", 0.2, 1200), ("c", 0.2, 1200)]
    assert (clock.monotonic(), clock.now_ms(), clock.pending()) == (0.2, 1200, 0)


def test_a_timer_armed_by_a_callback_fires_within_the_same_advance():
    clock = VirtualScheduler()
    fired: list[float] = []

    def tick() -> None:
        fired.append(clock.monotonic())
        if len(fired) < 5:
            clock.call_later(0.03, tick)

    clock.call_later(0.03, tick)
    clock.advance(100)
    assert fired == pytest.approx([0.03, 0.06, 0.09])
    clock.advance(100)
    assert fired == pytest.approx([0.03, 0.06, 0.09, 0.12, 0.15]) and clock.pending() == 0


def test_zero_and_negative_delays_fire_at_the_next_advance_and_time_never_goes_back():
    clock = VirtualScheduler()
    fired: list[str] = []
    clock.call_later(0, fired.append, "zero")
    clock.call_later(-5, fired.append, "negative")
    assert fired == []
    clock.advance(0)
    assert fired == ["zero", "negative"] and clock.monotonic() == 0
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_cancel_after_firing_is_a_no_op():
    clock = VirtualScheduler()
    fired: list[int] = []
    handle = clock.call_later(0.01, fired.append, 1)
    clock.advance(10)
    handle.cancel()
    assert fired == [1] and clock.pending() == 0


@given(st.lists(st.integers(min_value=0, max_value=1000), max_size=30))
def test_any_set_of_timers_fires_sorted_by_deadline_then_arming_order(delays_ms: list[int]):
    clock = VirtualScheduler()
    fired: list[int] = []
    for i, delay in enumerate(delays_ms):
        clock.call_later(delay / 1000, fired.append, i)
    clock.advance(1000)
    assert fired == sorted(range(len(delays_ms)), key=lambda i: (delays_ms[i], i))


def test_sleep_completes_only_when_virtual_time_reaches_it():
    async def main() -> None:
        clock = VirtualScheduler()
        woke: list[float] = []

        async def sleeper(delay: float) -> None:
            await clock.sleep(delay)
            woke.append(clock.monotonic())

        tasks = [asyncio.create_task(sleeper(d)) for d in (1.0, 0.5, 0.0)]
        await clock.run_for(0)
        assert woke == [0.0]  # sleep(0) just yields
        await clock.run_for(499)
        assert woke == [0.0]
        await clock.run_for(1)
        assert woke == [0.0, 0.5]
        await clock.run_for(500)
        assert woke == [0.0, 0.5, 1.0]
        await asyncio.gather(*tasks)
        assert clock.pending() == 0

    asyncio.run(main())


def test_a_cancelled_sleep_disarms_its_timer():
    async def main() -> None:
        clock = VirtualScheduler()
        task = asyncio.create_task(clock.sleep(10))
        await clock.run_for(0)
        assert clock.pending() == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert clock.pending() == 0

    asyncio.run(main())


def test_run_until_moves_time_only_as_far_as_the_condition_needs():
    async def main() -> None:
        clock = VirtualScheduler()

        async def two_steps() -> None:  # each wake-up arms the next timer: run_until lets the task run between
            await clock.sleep(0.3)
            await clock.sleep(0.4)

        task = asyncio.create_task(two_steps())
        clock.call_later(5, lambda: None)  # a later timer must not be fired
        await clock.run_until(task.done)
        assert clock.monotonic() == pytest.approx(0.7) and clock.pending() == 1
        with pytest.raises(TimeoutError):
            await clock.run_until(lambda: False, timeout_ms=10_000)
        assert clock.monotonic() == pytest.approx(10.7) and clock.pending() == 0

    asyncio.run(main())


def test_system_scheduler_uses_the_running_loop():
    clock: Scheduler = SystemScheduler()
    with pytest.raises(RuntimeError):
        clock.call_later(0, lambda: None)  # no running loop

    async def main() -> None:
        fired = asyncio.Event()
        before = clock.monotonic()
        clock.call_later(0, fired.set)
        await asyncio.wait_for(fired.wait(), 5)
        await clock.sleep(0)
        cancelled = clock.call_later(0, pytest.fail, "cancelled timer fired")
        cancelled.cancel()
        await asyncio.sleep(0)
        assert clock.monotonic() >= before and clock.now_ms() > 1_700_000_000_000

    asyncio.run(main())
