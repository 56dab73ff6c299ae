"""Partition appends are leader appends: the leader epoch is stamped, and the checkpoint of a new
epoch is written on a worker thread, never on the event loop."""
from __future__ import annotations

import asyncio
import os
import threading
import uuid

import pytest

from strom.records.batch import NewRecord, build_batch, validate_batches
from strom.replication.replica_manager import ReplicaManager
from strom.storage.files import OsFileSystem
from strom.storage.leader_epoch import LEADER_EPOCH_CHECKPOINT, EpochEntry
from strom.storage.log_config import LogConfig
from strom.storage.log_manager import LogManager
from strom.util.clock import FakeClock

pytestmark = pytest.mark.timeout(20)


class ThreadRecordingFileSystem(OsFileSystem):
    """Records the thread of every rename."""

    def __init__(self) -> None:
        self.replace_threads: list[int] = []

    def replace(self, src, dst):
        self.replace_threads.append(threading.get_ident())
        os.replace(src, dst)


class Stop(Exception):
    pass


def test_a_new_leader_epoch_is_stamped_and_checkpointed_on_a_worker(tmp_path):
    fs = ThreadRecordingFileSystem()
    clock = FakeClock()

    async def main() -> None:
        logs = LogManager([tmp_path], LogConfig(), clock=clock, fs=fs)
        logs.load()
        replicas = ReplicaManager(logs, 1, clock)
        part = replicas.ensure_partition("t", uuid.uuid4(), 0, LogConfig(), leader_id=1, leader_epoch=4)
        cache = part.log.leader_epoch_cache
        try:
            async with asyncio.TaskGroup() as tg:
                replicas.start(tg)
                for epoch in (4, 4, 6):
                    part.leader_epoch = epoch  # as the metadata image would change it
                    data = build_batch([NewRecord(None, b"v")], timestamp_ms=clock.now_ms())
                    part.append(data, validate_batches(data), clock.now_ms())
                    replicas.after_append(part)
                    async with asyncio.timeout(10):
                        while cache.dirty:  # the worker's write, awaited with a deadline
                            await asyncio.sleep(0.01)
                raise Stop
        except* Stop:
            pass
        assert cache.entries == (EpochEntry(4, 0), EpochEntry(6, 2))
        assert [part.epoch_for_offset(o) for o in range(3)] == [4, 4, 6]
        assert (part.log.dir / LEADER_EPOCH_CHECKPOINT).read_text() == "0\n2\n4 0\n6 2\n"
        assert fs.replace_threads and threading.get_ident() not in fs.replace_threads

    asyncio.run(main(), debug=True)
