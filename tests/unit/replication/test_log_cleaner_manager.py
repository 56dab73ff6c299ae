"""LogCleanerManager: picks the dirtiest compacted log, cleans it on a worker thread, swaps on the loop."""
from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from pathlib import Path

from strom.records.batch import NewRecord, build_batch, validate_batches
from strom.replication.log_cleaner import LogCleanerManager
from strom.replication.replica_manager import ReplicaManager
from strom.storage import cleaner
from strom.storage.log_config import LogConfig
from strom.storage.log_manager import LogManager
from strom.util.clock import VirtualScheduler

COMPACT = LogConfig(cleanup_policy="compact", segment_bytes=400, min_cleanable_dirty_ratio=0.0, retention_ms=-1,
                    file_delete_delay_ms=0, segment_ms=10_000)


def setup(tmp_path: Path):
    clock = VirtualScheduler()
    replicas = ReplicaManager(LogManager([tmp_path], LogConfig(), clock=clock), 1, clock)
    mgr = LogCleanerManager(replicas, clock, threads=1, dedupe_buffer_size=1 << 20, backoff_ms=100)
    return clock, replicas, mgr


def fill(part, clock, n: int, keys: int = 3) -> None:
    for i in range(n):
        data = build_batch([NewRecord(b"k%d" % (i % keys), b"v%d" % i)], timestamp_ms=clock.now_ms())
        part.log.append(data, validate_batches(data))


def test_the_dirtiest_compacted_log_is_cleaned_on_a_worker_and_swapped_on_the_loop(tmp_path: Path, caplog):
    caplog.set_level(logging.INFO, logger="strom.replication.log_cleaner")
    clock, replicas, mgr = setup(tmp_path)
    compacted = replicas.ensure_partition("c", uuid.uuid4(), 0, COMPACT, leader_id=1, leader_epoch=0)
    plain = replicas.ensure_partition("d", uuid.uuid4(), 0, LogConfig(segment_bytes=400), leader_id=1,
                                      leader_epoch=0)
    fill(compacted, clock, 40)
    fill(plain, clock, 40)
    assert mgr.pick() is compacted.log  # never a delete-only log
    [before] = mgr.describe("c")
    assert before.dirty_ratio == 1.0 and before.last_clean is None
    threads = []
    real_clean = cleaner.clean

    def spy(plan, cancel):
        threads.append(threading.current_thread())
        return real_clean(plan, cancel)

    async def main() -> None:
        cleaner_clean, cleaner.clean = cleaner.clean, spy
        try:
            async with asyncio.TaskGroup() as tg:
                mgr._tg = tg
                result = await mgr.clean_log(compacted.log)
                assert result is not None
                await clock.run_for(1)  # the old files are unlinked (file.delete.delay.ms 0)
        finally:
            cleaner.clean = cleaner_clean

    asyncio.run(main())
    assert threads and threads[0] is not threading.main_thread()
    [after] = mgr.describe("c")
    assert after.dirty_ratio == 0.0 and after.last_clean.startswith("cleaned c-0 offsets [0, ")
    assert mgr.pick() is None and mgr.cleans == 1
    [line] = [r for r in caplog.records if getattr(r, "event", None) == "compaction"]  # one line per clean
    assert line.getMessage() == after.last_clean and (line.topic, line.partition, line.start_offset) == ("c", 0, 0)
    assert line.records_read == line.end_offset == 35  # the active segment is never cleaned
    assert line.records_kept == 3 and line.bytes_written < line.bytes_read  # the three keys' latest values
    assert line.segments_in >= line.segments_out >= 1 and line.duration_ms >= 0
    assert not list((tmp_path / "c-0").glob("*.deleted"))


def test_an_idle_active_segment_is_rolled_after_segment_ms(tmp_path: Path):
    clock, replicas, mgr = setup(tmp_path)
    part = replicas.ensure_partition("c", uuid.uuid4(), 0, COMPACT, leader_id=1, leader_epoch=0)
    fill(part, clock, 2)
    assert len(part.log.segments) == 1 and mgr.pick() is None
    clock.advance(10_001)
    assert mgr.pick() is part.log  # rolled: its records are cleanable now
    assert part.log.active.size == 0


def test_a_topic_deleted_during_the_clean_discards_the_result(tmp_path: Path):
    clock, replicas, mgr = setup(tmp_path)
    part = replicas.ensure_partition("c", uuid.uuid4(), 0, COMPACT, leader_id=1, leader_epoch=0)
    fill(part, clock, 40)
    real_clean = cleaner.clean

    def delete_meanwhile(plan, cancel):
        result = real_clean(plan, cancel)
        cleaned.set()
        assert go.wait(10)  # the worker returns only after the topic is gone
        return result

    cleaned, go = threading.Event(), threading.Event()

    async def main() -> None:
        cleaner_clean, cleaner.clean = cleaner.clean, delete_meanwhile
        try:
            task = asyncio.create_task(mgr.clean_log(part.log))
            while not cleaned.is_set():
                await asyncio.sleep(0.01)
            replicas.remove_topic("c")
            go.set()
            assert await task is None
        finally:
            cleaner.clean = cleaner_clean

    asyncio.run(main())
    assert mgr.cleans == 0
    assert not (tmp_path / "c-0").exists()  # renamed *-delete, with whatever the clean wrote in it
    assert not [p for p in tmp_path.rglob("*.cleaned") if not p.parent.name.endswith("-delete")]


def test_a_failing_cleaner_backs_off_instead_of_stopping_the_node(tmp_path: Path):
    clock, replicas, mgr = setup(tmp_path)
    calls = []

    def broken_pick():
        calls.append(clock.monotonic())
        raise OSError("disk gone")

    mgr.pick = broken_pick  # type: ignore[method-assign]

    async def main() -> None:
        task = asyncio.create_task(mgr._run())
        await clock.run_for(350)  # backoff 100 ms
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass

    asyncio.run(main())
    assert len(calls) >= 3  # it kept trying, once per backoff
