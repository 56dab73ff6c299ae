"""ReplicaManager's timers (long-poll timeout, flush and retention loops) run on the injected scheduler."""
from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from strom.replication.replica_manager import ReplicaManager
from strom.storage.log_config import LogConfig
from strom.storage.log_manager import LogManager
from strom.util.clock import VirtualScheduler


class _Stop(Exception):
    pass


def manager(tmp_path: Path, **kw: int) -> tuple[VirtualScheduler, ReplicaManager]:
    clock = VirtualScheduler()
    return clock, ReplicaManager(LogManager([tmp_path], LogConfig(), clock=clock), 1, clock, **kw)


def test_long_poll_ends_at_its_timeout_or_at_an_append(tmp_path: Path):
    clock, replicas = manager(tmp_path)
    part = replicas.ensure_partition("t", uuid.uuid4(), 0, LogConfig(), leader_id=1, leader_epoch=0)

    async def main() -> None:
        for parts in ([], [part]):  # nothing to watch: it just waits
            waiting = asyncio.create_task(replicas.wait_for_data(parts, 0.5))
            await clock.run_for(499)
            assert not waiting.done()
            await clock.run_for(1)
            assert waiting.done()
        waiting = asyncio.create_task(replicas.wait_for_data([part], 0.5))
        await clock.run_for(100)
        part._wake()  # what an append does
        await clock.run_for(0)
        assert waiting.done() and clock.pending() == 0  # the timeout timer is disarmed

    asyncio.run(main())


def test_retention_and_flush_checks_tick_on_virtual_time(tmp_path: Path):
    clock, replicas = manager(tmp_path, retention_check_interval_ms=1000, flush_check_interval_ms=400)
    retention_checks: list[float] = []
    replicas.enforce_retention = lambda: retention_checks.append(clock.monotonic())  # type: ignore[method-assign]

    async def main() -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                replicas.start(tg)
                await clock.run_for(3000)
                assert retention_checks == [1.0, 2.0, 3.0]
                assert clock.next_deadline() == 3.2  # the flush loop's next tick
                raise _Stop
        except* _Stop:
            pass

    asyncio.run(main())
